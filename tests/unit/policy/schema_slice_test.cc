// The schema slice: live rows to LiveSchema, the intersection with a role's view of the policy,
// foreign keys only between visible columns, and the JSON and text forms.
#include "policy/schema_slice.h"

#include <gtest/gtest.h>

#include <string>

#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

const std::string kPolicy = R"(
tenants: [{id: acme}, {id: globex}]
protected_tables:
  - table: public.customers
    tenant_column: tenant_id
    columns:
      - id
      - tenant_id
      - { name: email, mask: email, roles: { owner: allow } }
      - { name: ssn, mask: ssn, roles: { viewer: hide } }
  - table: public.orders
    tenant_column: tenant_id
    columns: [id, tenant_id, customer_id, note_id]
  - table: public.missing
    tenant_column: tenant_id
    columns: [id]
reference_tables: [public.countries]
shared_datasets:
  - table: public.spend
    tenant_column: tenant_id
    opt_in: [acme]
    dimensions: [vendor]
    measures: [{ column: amount, aggregates: [sum] }]
)";

LiveRow row(std::initializer_list<const char*> values) {
  LiveRow out;
  for (const char* v : values) out.push_back(v ? std::optional<std::string>(v) : std::nullopt);
  return out;
}

LiveSchema live() {
  return liveSchemaFromRows({
      row({"t", "public", "customers", "people who buy", nullptr, nullptr, nullptr, nullptr,
           nullptr}),
      row({"c", "public", "customers", "ssn", "text", "f", nullptr, "5", nullptr}),
      row({"c", "public", "customers", "id", "integer", "t", "the key", "1", nullptr}),
      row({"c", "public", "customers", "tenant_id", "text", "t", nullptr, "2", nullptr}),
      row({"c", "public", "customers", "email", "text", "f", nullptr, "3", nullptr}),
      row({"c", "public", "customers", "notes", "text", "f", nullptr, "4", nullptr}),
      row({"t", "public", "orders", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr}),
      row({"c", "public", "orders", "id", "integer", "t", nullptr, "1", nullptr}),
      row({"c", "public", "orders", "tenant_id", "text", "t", nullptr, "2", nullptr}),
      row({"c", "public", "orders", "customer_id", "integer", "t", nullptr, "3", nullptr}),
      row({"c", "public", "orders", "note_id", "integer", "f", nullptr, "4", nullptr}),
      row({"k", "public", "orders", "orders_customer_fk", "public", "customers", "customer_id",
           "id", "1"}),
      row({"k", "public", "orders", "orders_note_fk", "public", "customers", "note_id", "notes",
           "1"}),
      row({"t", "public", "countries", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr}),
      row({"c", "public", "countries", "code", "text", "t", nullptr, "1", nullptr}),
      row({"t", "public", "spend", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr}),
      row({"c", "public", "spend", "vendor", "text", "t", nullptr, "1", nullptr}),
      row({"c", "public", "spend", "amount", "numeric", "t", nullptr, "2", nullptr}),
      row({"c", "public", "spend", "tenant_id", "text", "t", nullptr, "3", nullptr}),
      row({"t", "public", "internal", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr}),
  });
}

SchemaSlice slice(const std::string& tenant, const std::string& role, bool with_live = true) {
  static const auto policy = loadPolicyText(kPolicy, "p.yaml");
  static const LiveSchema schema = live();
  return sliceSchema(*policy, Principal{tenant, "u", role, {}, {}}, with_live ? &schema : nullptr);
}

std::vector<std::string> names(const SliceTable& table) {
  std::vector<std::string> out;
  for (const auto& c : table.columns) out.push_back(c.name);
  return out;
}

TEST(SchemaSliceTest, LiveRowsAreOrderedByColumnNumber) {
  const auto schema = live();
  const auto& customers = schema.tables.at("public.customers");
  ASSERT_EQ(customers.columns.size(), 5u);
  EXPECT_EQ(customers.columns[0].name, "id");
  EXPECT_EQ(customers.columns[4].name, "ssn");
  EXPECT_EQ(customers.comment, "people who buy");
  EXPECT_EQ(schema.tables.at("public.orders").foreign_keys.size(), 2u);
}

TEST(SchemaSliceTest, RolesDecideColumnsAndMasks) {
  const auto viewer = slice("acme", "viewer");
  ASSERT_EQ(viewer.tables.size(), 4u);  // countries, customers, orders, spend; never missing
  EXPECT_EQ(viewer.tables[0].name, "countries");
  EXPECT_EQ(viewer.tables[1].name, "customers");
  EXPECT_EQ(names(viewer.tables[1]), (std::vector<std::string>{"id", "tenant_id", "email"}));
  EXPECT_EQ(viewer.tables[1].columns[2].mask, MaskKind::kEmail);
  EXPECT_EQ(viewer.tables[1].columns[0].type, "integer");
  EXPECT_TRUE(viewer.tables[1].columns[0].not_null);
  EXPECT_EQ(viewer.tables[1].columns[0].comment, "the key");
  EXPECT_TRUE(viewer.tables[1].columns[1].tenant_column);
  const auto owner = slice("acme", "owner");
  EXPECT_EQ(names(owner.tables[1]), (std::vector<std::string>{"id", "tenant_id", "email", "ssn"}));
  EXPECT_FALSE(owner.tables[1].columns[2].mask.has_value());
  EXPECT_EQ(owner.tables[1].columns[3].mask, MaskKind::kSsn);
  EXPECT_TRUE(slice("acme", "no-such-role").tables.empty());
}

TEST(SchemaSliceTest, ForeignKeysOnlyBetweenVisibleColumns) {
  const auto s = slice("acme", "viewer");
  const SliceTable& orders = s.tables[2];
  ASSERT_EQ(orders.name, "orders");
  ASSERT_EQ(orders.foreign_keys.size(), 1u);  // the key to the hidden notes column is absent
  EXPECT_EQ(orders.foreign_keys[0].name, "orders_customer_fk");
}

TEST(SchemaSliceTest, SharedDatasetsOnlyForOptedInTenants) {
  const auto acme = slice("acme", "viewer");
  const SliceTable& spend = acme.tables[3];
  EXPECT_EQ(spend.kind, SliceTableKind::kSharedAggregate);
  EXPECT_EQ(names(spend), (std::vector<std::string>{"vendor", "amount"}));  // no tenant column
  EXPECT_EQ(spend.columns[1].aggregates, std::vector<std::string>{"sum"});
  const auto globex = slice("globex", "viewer");
  EXPECT_EQ(globex.tables.size(), 3u);
}

TEST(SchemaSliceTest, OfflineListsPolicyNames) {
  const auto s = slice("acme", "viewer", false);
  EXPECT_FALSE(s.live);
  EXPECT_EQ(s.tables.size(), 5u);  // missing too: nothing says it is missing
  EXPECT_TRUE(s.tables[1].columns[0].type.empty());
}

TEST(SchemaSliceTest, JsonAndText) {
  const auto s = slice("acme", "viewer");
  const std::string json = sliceJson(s);
  EXPECT_NE(json.find(R"({"name":"email","type":"text","not_null":false,"masked":"email")"),
            std::string::npos);
  EXPECT_EQ(json.find("ssn"), std::string::npos);
  EXPECT_EQ(json.find("notes"), std::string::npos);
  const std::string text = sliceText(s);
  EXPECT_NE(text.find("TABLE public.customers -- tenant-scoped (tenant_id); people who buy\n"
                      "  id integer NOT NULL -- the key\n"
                      "  tenant_id text NOT NULL -- tenant id, always 'acme'\n"
                      "  email text -- masked (email)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  FOREIGN KEY (customer_id) REFERENCES public.customers (id)\n"),
            std::string::npos);
  EXPECT_NE(text.find("  amount numeric NOT NULL -- measure: sum\n"), std::string::npos);
}

}  // namespace
}  // namespace tenantwall::policy
