// Statements that differ only in their literals (`... WHERE id = 41`, `... WHERE id = 42`), as
// clients of the simple query protocol send them, share one rewrite: the statement's shape is
// its text with each plain literal replaced by a hole. Conservative on purpose: text with
// anything that makes tokens hard to tell apart without the real scanner (comments, dollar or
// escape strings, backslashes, parameters) has no shape and is always decided in full.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tenantwall::policy {

struct LiteralShape {
  std::string shape;                       // the text, each literal replaced by \x01 + kind
  std::vector<std::string_view> literals;  // each literal as written (strings with quotes)
  std::vector<char> kinds;                 // 'I' (integer up to 9 digits) or 'S' (string)
};

// nullopt when the text has no literal to abstract or is not plain enough (see above).
std::optional<LiteralShape> literalShape(std::string_view sql);

// The text with literal i replaced by a probe value no statement contains: an integer
// 9173600ii or a string 'twprb<i>q'. nullopt when sql already contains a probe's spelling.
std::optional<std::string> probeText(std::string_view sql, const LiteralShape& shape);

// Literal i of a probe text, as the parser reads it: an integer constant, or a string
// constant's value (without quotes).
std::int32_t intProbeValue(std::size_t i);
std::string stringProbeValue(std::size_t i);

// A rewrite with holes where the probes were, filled with a statement's own literals.
struct RewriteTemplate {
  std::vector<std::string> pieces;  // pieces.size() == holes.size() + 1
  std::vector<std::size_t> holes;   // literal index for each hole
};

// nullopt unless every probe occurs in rewritten as a whole token, at least once.
std::optional<RewriteTemplate> rewriteTemplate(std::string_view rewritten,
                                               const LiteralShape& shape);

std::string fillTemplate(const RewriteTemplate& rewrite,
                         const std::vector<std::string_view>& literals);

}  // namespace tenantwall::policy
