// The names a tenant's SELECT may use beyond tables: built-in functions, types and TABLESAMPLE
// methods, all from pg_catalog. Allowlists, never denylists (DESIGN 5a): a name absent here is
// refused, so new or dangerous built-ins (pg_sleep, set_config, dblink, lo_*) stay out.
#pragma once

#include <string_view>

namespace tenantwall::policy::sql {

// How a function may be used; every allowed function may be called in expressions, and only
// set-returning ones may also stand in FROM.
enum class FunctionUse { kScalar, kAggregate, kWindow, kSetReturning };

// The use of an allowed pg_catalog function, or nullptr when it is not allowed. name is the
// unqualified, already case-folded name as the parser produced it.
const FunctionUse* findAllowedFunction(std::string_view name);

// Whether a pg_catalog type may be named in a cast or a typed literal.
bool isAllowedType(std::string_view name);

// Whether a TABLESAMPLE method (a handler function) may be used.
bool isAllowedTablesampleMethod(std::string_view name);

}  // namespace tenantwall::policy::sql
