#include "policy/literal_shape.h"

namespace tenantwall::policy {
namespace {

bool isIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (static_cast<unsigned char>(c) >= 0x80);
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

std::string intProbe(std::size_t i) { return std::to_string(intProbeValue(i)); }
std::string stringProbe(std::size_t i) { return "'" + stringProbeValue(i) + "'"; }

}  // namespace

std::int32_t intProbeValue(std::size_t i) { return 917360000 + static_cast<std::int32_t>(i); }
std::string stringProbeValue(std::size_t i) { return "twprb" + std::to_string(i) + "q"; }

std::optional<LiteralShape> literalShape(std::string_view sql) {
  LiteralShape out;
  out.shape.reserve(sql.size());
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '$' || c == '\\' || c == '\x01' || c == '\0') return std::nullopt;
    if ((c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') ||
        (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*'))
      return std::nullopt;
    if (c == '"') {  // quoted identifier, kept as written
      const std::size_t start = i++;
      for (;; ++i) {
        if (i >= sql.size()) return std::nullopt;
        if (sql[i] == '\\' || sql[i] == '\x01' || sql[i] == '\0') return std::nullopt;
        if (sql[i] == '"') {
          if (i + 1 < sql.size() && sql[i + 1] == '"') {
            ++i;
            continue;
          }
          ++i;
          break;
        }
      }
      out.shape.append(sql.substr(start, i - start));
      continue;
    }
    if (c == '\'') {
      // A prefix (E'', B'', X'', N'', U&'') or a string right after another: not plain.
      if (i > 0 && (isIdentChar(sql[i - 1]) || sql[i - 1] == '&' || sql[i - 1] == '\''))
        return std::nullopt;
      const std::size_t start = i++;
      for (;; ++i) {
        if (i >= sql.size()) return std::nullopt;
        if (sql[i] == '\\' || sql[i] == '\x01' || sql[i] == '\0') return std::nullopt;
        if (sql[i] == '\'') {
          if (i + 1 < sql.size() && sql[i + 1] == '\'') {
            ++i;
            continue;
          }
          ++i;
          break;
        }
      }
      // Two strings separated only by whitespace with a newline are one string in SQL.
      std::size_t next = i;
      bool newline = false;
      while (next < sql.size() && (sql[next] == ' ' || sql[next] == '\t' || sql[next] == '\n' ||
                                   sql[next] == '\r' || sql[next] == '\f')) {
        newline = newline || sql[next] == '\n' || sql[next] == '\r';
        ++next;
      }
      if (newline && next < sql.size() && sql[next] == '\'') return std::nullopt;
      out.literals.push_back(sql.substr(start, i - start));
      out.kinds.push_back('S');
      out.shape.append("\x01S");
      continue;
    }
    if (isDigit(c) && (i == 0 || (!isIdentChar(sql[i - 1]) && sql[i - 1] != '.'))) {
      std::size_t end = i;
      while (end < sql.size() && isDigit(sql[end])) ++end;
      const bool plain =
          end - i <= 9 && (end >= sql.size() || (!isIdentChar(sql[end]) && sql[end] != '.'));
      if (plain) {
        out.literals.push_back(sql.substr(i, end - i));
        out.kinds.push_back('I');
        out.shape.append("\x01I");
      } else {
        out.shape.append(sql.substr(i, end - i));
      }
      i = end;
      continue;
    }
    if (isIdentChar(c)) {
      const std::size_t start = i;
      while (i < sql.size() && isIdentChar(sql[i])) ++i;
      out.shape.append(sql.substr(start, i - start));
      continue;
    }
    out.shape.push_back(c);
    ++i;
  }
  if (out.literals.empty() || out.literals.size() > 1000) return std::nullopt;
  return out;
}

std::optional<std::string> probeText(std::string_view sql, const LiteralShape& shape) {
  if (sql.find("91736") != std::string_view::npos || sql.find("twprb") != std::string_view::npos)
    return std::nullopt;
  std::string out;
  out.reserve(shape.shape.size() + 16 * shape.literals.size());
  std::size_t index = 0;
  for (std::size_t i = 0; i < shape.shape.size(); ++i) {
    if (shape.shape[i] != '\x01') {
      out.push_back(shape.shape[i]);
      continue;
    }
    const char kind = shape.shape[++i];
    out.append(kind == 'I' ? intProbe(index) : stringProbe(index));
    ++index;
  }
  return out;
}

std::optional<RewriteTemplate> rewriteTemplate(std::string_view rewritten,
                                               const LiteralShape& shape) {
  RewriteTemplate out;
  std::vector<bool> seen(shape.literals.size(), false);
  std::string piece;
  std::size_t i = 0;
  while (i < rewritten.size()) {
    // Integer probes: 9 digits starting 91736, not part of a longer number or name.
    if (rewritten.compare(i, 5, "91736") == 0 && i + 9 <= rewritten.size() &&
        (i == 0 || (!isIdentChar(rewritten[i - 1]) && rewritten[i - 1] != '.')) &&
        (i + 9 == rewritten.size() ||
         (!isIdentChar(rewritten[i + 9]) && rewritten[i + 9] != '.'))) {
      const std::string digits(rewritten.substr(i, 9));
      bool all = true;
      for (char d : digits) all = all && isDigit(d);
      if (!all) return std::nullopt;
      const std::size_t index = static_cast<std::size_t>(std::stoul(digits)) - 917360000;
      if (index >= shape.literals.size() || shape.kinds[index] != 'I') return std::nullopt;
      out.pieces.push_back(std::move(piece));
      piece.clear();
      out.holes.push_back(index);
      seen[index] = true;
      i += 9;
      continue;
    }
    if (rewritten.compare(i, 6, "'twprb") == 0) {
      std::size_t end = i + 6;
      while (end < rewritten.size() && isDigit(rewritten[end])) ++end;
      if (end == i + 6 || rewritten.compare(end, 2, "q'") != 0) return std::nullopt;
      if (i > 0 && (isIdentChar(rewritten[i - 1]) || rewritten[i - 1] == '\'')) return std::nullopt;
      const std::size_t index = std::stoul(std::string(rewritten.substr(i + 6, end - i - 6)));
      if (index >= shape.literals.size() || shape.kinds[index] != 'S') return std::nullopt;
      out.pieces.push_back(std::move(piece));
      piece.clear();
      out.holes.push_back(index);
      seen[index] = true;
      i = end + 2;
      continue;
    }
    if (rewritten.compare(i, 5, "twprb") == 0) return std::nullopt;  // a probe not in quotes
    piece.push_back(rewritten[i]);
    ++i;
  }
  out.pieces.push_back(std::move(piece));
  for (bool s : seen)
    if (!s) return std::nullopt;
  return out;
}

std::string fillTemplate(const RewriteTemplate& rewrite,
                         const std::vector<std::string_view>& literals) {
  std::string out;
  std::size_t size = 0;
  for (const auto& p : rewrite.pieces) size += p.size();
  for (std::size_t h : rewrite.holes) size += literals[h].size();
  out.reserve(size);
  for (std::size_t i = 0; i < rewrite.holes.size(); ++i) {
    out.append(rewrite.pieces[i]);
    out.append(literals[rewrite.holes[i]]);
  }
  out.append(rewrite.pieces.back());
  return out;
}

}  // namespace tenantwall::policy
