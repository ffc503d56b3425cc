// Small builders and readers for libpg_query tree nodes, shared by the rewriter and its helpers.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pg_query_pb/pg_query.pb.h"

namespace tenantwall::policy::sql {

using NodeList = google::protobuf::RepeatedPtrField<pg_query::Node>;

pg_query::Node stringNode(std::string_view value);
// A column reference such as public.customers.email, one String per name.
pg_query::Node columnRef(std::initializer_list<std::string_view> names);
// A string constant: the deparser quotes it, so values never become SQL text by pasting.
pg_query::Node stringConst(std::string_view value);

// The names of a name list (function, operator, type or column names), or nullopt when an
// element is not a String (for example the A_Star of `t.*`).
std::optional<std::vector<std::string>> stringNames(const NodeList& names);
// "a.b.c", for messages.
std::string dotted(const std::vector<std::string>& names);
// Puts schema in front of a one-part name, making it schema-qualified.
void prependName(NodeList& names, std::string_view schema);

}  // namespace tenantwall::policy::sql
