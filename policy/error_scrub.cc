// Scrubbing relayed errors: an allowlist of fields, and data-exception messages without values.
#include "policy/error_scrub.h"

#include <string_view>

#include "policy/sql/foreign_key_guard.h"

namespace tenantwall::policy {
namespace {

// Severity, non-localized severity, SQLSTATE, message. Everything else (detail, hint, context,
// internal query and position, schema/table/column/type/constraint names, source location,
// and the position, which refers to the rewritten SQL) is dropped.
bool keptField(char code) { return code == 'S' || code == 'V' || code == 'C' || code == 'M'; }

}  // namespace

std::vector<protocol::ErrorField> scrubServerError(
    const std::vector<protocol::ErrorField>& fields) {
  std::string_view sqlstate;
  for (const auto& [code, value] : fields)
    if (code == 'C') sqlstate = value;
  // Class 22 (data exception) messages quote the offending value, e.g.
  // invalid input syntax for type integer: "123-45-6789"; keep only the part before the value.
  const bool data_exception = sqlstate.starts_with("22");
  std::vector<protocol::ErrorField> out;
  // A foreign key guard found the referenced row outside the tenant (policy/sql/
  // foreign_key_guard.h): answer exactly as PostgreSQL does for a row that does not exist.
  if (sqlstate == "22P02") {
    for (const auto& [code, value] : fields) {
      if (code != 'M') continue;
      const auto marker = sql::readForeignKeyMarker(value);
      if (!marker) break;
      for (const auto& [kept_code, kept_value] : fields) {
        if (kept_code == 'S' || kept_code == 'V') out.emplace_back(kept_code, kept_value);
      }
      out.emplace_back('C', "23503");
      out.emplace_back('M', "insert or update on table \"" + marker->first +
                                "\" violates foreign key constraint \"" + marker->second + "\"");
      return out;
    }
  }
  for (const auto& [code, value] : fields) {
    if (!keptField(code)) continue;
    std::string kept = value;
    if (code == 'M' && data_exception) {
      if (auto cut = kept.find(": "); cut != std::string::npos) kept.resize(cut);
      if (auto quote = kept.find('"'); quote != std::string::npos) kept.resize(quote);
      while (!kept.empty() && kept.back() == ' ') kept.pop_back();
      if (kept.empty()) kept = "invalid data value";
    }
    out.emplace_back(code, std::move(kept));
  }
  return out;
}

}  // namespace tenantwall::policy
