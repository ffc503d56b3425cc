// The allowlist tables themselves: one readable place to review what tenants may call.
#include "policy/sql/allowlists.h"

#include <algorithm>
#include <array>
#include <utility>

namespace tenantwall::policy::sql {
namespace {

using enum FunctionUse;

// Pure built-ins only: nothing that sleeps, reads or writes settings, files, large objects or
// sequences, opens connections, runs SQL text, takes locks, or reports on the server, other
// sessions or the catalog. Functions reached through SQL syntax (EXTRACT, SUBSTRING ... FROM,
// TRIM, POSITION, OVERLAY, AT TIME ZONE, LIKE ... ESCAPE, SIMILAR TO, OVERLAPS) are listed too,
// because the parser turns that syntax into pg_catalog calls.
constexpr std::pair<std::string_view, FunctionUse> kFunctions[] = {
    // aggregates
    {"count", kAggregate},
    {"sum", kAggregate},
    {"avg", kAggregate},
    {"min", kAggregate},
    {"max", kAggregate},
    {"bool_and", kAggregate},
    {"bool_or", kAggregate},
    {"every", kAggregate},
    {"string_agg", kAggregate},
    {"array_agg", kAggregate},
    {"json_agg", kAggregate},
    {"jsonb_agg", kAggregate},
    {"json_object_agg", kAggregate},
    {"jsonb_object_agg", kAggregate},
    {"stddev", kAggregate},
    {"stddev_pop", kAggregate},
    {"stddev_samp", kAggregate},
    {"variance", kAggregate},
    {"var_pop", kAggregate},
    {"var_samp", kAggregate},
    {"corr", kAggregate},
    {"covar_pop", kAggregate},
    {"covar_samp", kAggregate},
    {"percentile_cont", kAggregate},
    {"percentile_disc", kAggregate},
    {"mode", kAggregate},
    // window functions
    {"row_number", kWindow},
    {"rank", kWindow},
    {"dense_rank", kWindow},
    {"percent_rank", kWindow},
    {"cume_dist", kWindow},
    {"ntile", kWindow},
    {"lag", kWindow},
    {"lead", kWindow},
    {"first_value", kWindow},
    {"last_value", kWindow},
    {"nth_value", kWindow},
    // set-returning
    {"generate_series", kSetReturning},
    {"generate_subscripts", kSetReturning},
    {"unnest", kSetReturning},
    {"json_array_elements", kSetReturning},
    {"jsonb_array_elements", kSetReturning},
    {"json_array_elements_text", kSetReturning},
    {"jsonb_array_elements_text", kSetReturning},
    {"json_each", kSetReturning},
    {"jsonb_each", kSetReturning},
    {"json_each_text", kSetReturning},
    {"jsonb_each_text", kSetReturning},
    {"json_object_keys", kSetReturning},
    {"jsonb_object_keys", kSetReturning},
    {"regexp_matches", kSetReturning},
    {"regexp_split_to_table", kSetReturning},
    {"string_to_table", kSetReturning},
    // strings
    {"lower", kScalar},
    {"upper", kScalar},
    {"initcap", kScalar},
    {"length", kScalar},
    {"char_length", kScalar},
    {"character_length", kScalar},
    {"octet_length", kScalar},
    {"bit_length", kScalar},
    {"substr", kScalar},
    {"substring", kScalar},
    {"btrim", kScalar},
    {"ltrim", kScalar},
    {"rtrim", kScalar},
    {"concat", kScalar},
    {"concat_ws", kScalar},
    {"replace", kScalar},
    {"left", kScalar},
    {"right", kScalar},
    {"lpad", kScalar},
    {"rpad", kScalar},
    {"split_part", kScalar},
    {"position", kScalar},
    {"strpos", kScalar},
    {"starts_with", kScalar},
    {"reverse", kScalar},
    {"translate", kScalar},
    {"overlay", kScalar},
    {"md5", kScalar},
    {"format", kScalar},
    {"to_hex", kScalar},
    {"ascii", kScalar},
    {"chr", kScalar},
    {"regexp_replace", kScalar},
    {"regexp_match", kScalar},
    {"regexp_like", kScalar},
    {"regexp_count", kScalar},
    {"regexp_substr", kScalar},
    {"regexp_split_to_array", kScalar},
    {"string_to_array", kScalar},
    {"array_to_string", kScalar},
    {"like_escape", kScalar},
    {"similar_to_escape", kScalar},
    {"encode", kScalar},
    {"convert_to", kScalar},
    {"sha256", kScalar},
    {"sha512", kScalar},
    // numbers
    {"abs", kScalar},
    {"round", kScalar},
    {"ceil", kScalar},
    {"ceiling", kScalar},
    {"floor", kScalar},
    {"trunc", kScalar},
    {"sign", kScalar},
    {"mod", kScalar},
    {"div", kScalar},
    {"power", kScalar},
    {"sqrt", kScalar},
    {"cbrt", kScalar},
    {"exp", kScalar},
    {"ln", kScalar},
    {"log", kScalar},
    {"log10", kScalar},
    {"pi", kScalar},
    {"gcd", kScalar},
    {"lcm", kScalar},
    {"width_bucket", kScalar},
    {"random", kScalar},
    // dates and times
    {"now", kScalar},
    {"clock_timestamp", kScalar},
    {"statement_timestamp", kScalar},
    {"transaction_timestamp", kScalar},
    {"date_trunc", kScalar},
    {"date_part", kScalar},
    {"date_bin", kScalar},
    {"extract", kScalar},
    {"age", kScalar},
    {"to_char", kScalar},
    {"to_date", kScalar},
    {"to_timestamp", kScalar},
    {"to_number", kScalar},
    {"make_date", kScalar},
    {"make_time", kScalar},
    {"make_timestamp", kScalar},
    {"make_timestamptz", kScalar},
    {"make_interval", kScalar},
    {"justify_days", kScalar},
    {"justify_hours", kScalar},
    {"justify_interval", kScalar},
    {"isfinite", kScalar},
    {"timezone", kScalar},
    {"overlaps", kScalar},
    // arrays
    {"array_length", kScalar},
    {"cardinality", kScalar},
    {"array_position", kScalar},
    {"array_positions", kScalar},
    {"array_append", kScalar},
    {"array_prepend", kScalar},
    {"array_cat", kScalar},
    {"array_remove", kScalar},
    {"array_replace", kScalar},
    {"array_lower", kScalar},
    {"array_upper", kScalar},
    {"array_ndims", kScalar},
    // json
    {"to_json", kScalar},
    {"to_jsonb", kScalar},
    {"row_to_json", kScalar},
    {"json_build_object", kScalar},
    {"jsonb_build_object", kScalar},
    {"json_build_array", kScalar},
    {"jsonb_build_array", kScalar},
    {"json_typeof", kScalar},
    {"jsonb_typeof", kScalar},
    {"json_array_length", kScalar},
    {"jsonb_array_length", kScalar},
    {"json_extract_path", kScalar},
    {"jsonb_extract_path", kScalar},
    {"json_extract_path_text", kScalar},
    {"jsonb_extract_path_text", kScalar},
    {"jsonb_strip_nulls", kScalar},
    {"jsonb_pretty", kScalar},
    // null handling that is not syntax (COALESCE, NULLIF, GREATEST, LEAST are)
    {"num_nulls", kScalar},
    {"num_nonnulls", kScalar},
    // session facts that name nothing outside the pinned session
    {"current_database", kScalar},
    {"current_schemas", kScalar},
    {"version", kScalar},
    {"pg_typeof", kScalar},
    {"repeat", kScalar},
    {"quote_ident", kScalar},
    {"quote_literal", kScalar},
    {"quote_nullable", kScalar},
    // catalog formatting for BI tools; the ones that print an object by its oid are wrapped in
    // a guard (catalog_rewriter.cc) so they answer only for objects the secured catalogs show
    {"format_type", kScalar},
    {"pg_get_expr", kScalar},
    {"pg_get_indexdef", kScalar},
    {"pg_get_constraintdef", kScalar},
    {"pg_get_triggerdef", kScalar},
    {"pg_get_statisticsobjdef_columns", kScalar},
    {"pg_get_viewdef", kScalar},
    {"pg_get_ruledef", kScalar},
    {"pg_get_userbyid", kScalar},
    {"pg_get_serial_sequence", kScalar},
    {"obj_description", kScalar},
    {"col_description", kScalar},
    {"pg_table_is_visible", kScalar},
    {"pg_type_is_visible", kScalar},
    {"pg_encoding_to_char", kScalar},
    {"pg_relation_is_publishable", kScalar},
    {"to_regclass", kScalar},
    // psql's \df (pg_proc is empty to tenants, so these answer NULL, catalog_rewriter.cc)
    {"pg_get_function_result", kScalar},
    {"pg_get_function_arguments", kScalar},
    {"pg_get_function_identity_arguments", kScalar},
    {"pg_function_is_visible", kScalar},
    // privileges on relations the catalogs show; a hidden relation reads as missing
    // (catalog_rewriter.cc, guardPrivilegeCall)
    {"has_table_privilege", kScalar},
    {"has_any_column_privilege", kScalar},
    {"has_column_privilege", kScalar},
    {"pg_partition_ancestors", kSetReturning},
    {"pg_get_keywords", kSetReturning},
};

// Types whose input and cast functions are plain conversions, and the catalog look-up types BI
// tools cast oids with (regclass, regtype, ...): these print or resolve object names, which
// can tell whether a relation or type outside the policy exists (its name, never its rows).
constexpr std::string_view kTypes[] = {
    "bool",        "int2",     "int4",         "int8",    "float4",     "float8", "numeric",
    "text",        "varchar",  "bpchar",       "date",    "time",       "timetz", "timestamp",
    "timestamptz", "interval", "uuid",         "json",    "jsonb",      "bytea",  "inet",
    "cidr",        "macaddr",  "bit",          "varbit",  "money",      "name",   "oid",
    "regclass",    "regtype",  "regnamespace", "regproc", "int2vector", "char",
};

constexpr std::string_view kTablesampleMethods[] = {"bernoulli", "system"};

}  // namespace

const FunctionUse* findAllowedFunction(std::string_view name) {
  const auto* it =
      std::ranges::find(kFunctions, name, &std::pair<std::string_view, FunctionUse>::first);
  return it == std::end(kFunctions) ? nullptr : &it->second;
}

bool isAllowedType(std::string_view name) {
  return std::ranges::find(kTypes, name) != std::end(kTypes);
}

bool isAllowedTablesampleMethod(std::string_view name) {
  return std::ranges::find(kTablesampleMethods, name) != std::end(kTablesampleMethods);
}

}  // namespace tenantwall::policy::sql
