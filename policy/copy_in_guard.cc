// COPY FROM STDIN row checking.
#include "policy/copy_in_guard.h"

#include <algorithm>
#include <optional>

#include "protocol/sqlstate.h"

namespace tenantwall::policy {
namespace {

namespace sqlstate = protocol::sqlstate;

protocol::PgError rowError(std::size_t row, const std::string& what) {
  return protocol::makeError(sqlstate::kInsufficientPrivilege,
                             "COPY row " + std::to_string(row) + ": " + what,
                             "every row must belong to your tenant; nothing was copied");
}

// Text format: the de-escaped value of a field, or nullopt for the NULL marker.
std::optional<std::string> textValue(std::string_view field, const std::string& null_string) {
  if (field == null_string) return std::nullopt;
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] != '\\' || i + 1 == field.size()) {
      out.push_back(field[i]);
      continue;
    }
    const char c = field[++i];
    switch (c) {
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      default:
        // Octal and hex escapes could spell the tenant differently; a tenant field must be
        // written plainly, so keep the backslash and the value will not match.
        if ((c >= '0' && c <= '7') || c == 'x') out.push_back('\\');
        out.push_back(c);
    }
  }
  return out;
}

// Text format: the tenant id escaped for a field.
std::string textEscape(std::string_view value, char delimiter) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == delimiter || c == '\n' || c == '\r') out.push_back('\\');
    out.push_back(c == '\n' ? 'n' : c == '\r' ? 'r' : c);
  }
  return out;
}

}  // namespace

std::size_t CopyInGuard::rowEnd(std::string_view input, std::size_t from) const {
  if (!spec_.csv) {
    // In text format a data newline is always escaped as \n, so a raw '\n' ends the row;
    // but "\<newline>" is a backslash-escaped newline, which PostgreSQL also accepts.
    const std::size_t newline = input.find('\n', from);
    if (newline == std::string_view::npos) return newline;
    if (input.substr(from, newline - from).find('\\') == std::string_view::npos) return newline;
    for (std::size_t i = from; i < input.size(); ++i) {
      if (input[i] == '\\') {
        ++i;
        continue;
      }
      if (input[i] == '\n') return i;
    }
    return std::string::npos;
  }
  bool quoted = false;  // a row always starts outside quotes
  for (std::size_t i = from; i < input.size(); ++i) {
    const char c = input[i];
    if (quoted) {
      if (c == spec_.escape && spec_.escape != spec_.quote && i + 1 < input.size() &&
          (input[i + 1] == spec_.quote || input[i + 1] == spec_.escape)) {
        ++i;
      } else if (c == spec_.quote) {
        quoted = false;
      }
    } else if (c == spec_.quote) {
      quoted = true;
    } else if (c == '\n') {
      return i;
    }
  }
  return std::string::npos;
}

std::expected<void, protocol::PgError> CopyInGuard::row(std::string_view line, std::string& out) {
  std::string_view body = line;
  if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
  if (body == "\\.") {
    ended_ = true;
    if (appending()) out.append(line).push_back('\n');
    return {};
  }
  if (spec_.header && !header_done_) {
    header_done_ = true;
    if (appending()) out.append(line).push_back('\n');
    return {};
  }
  ++rows_;
  // Split into fields (respecting quotes in CSV); only the tenant field is kept.
  std::size_t fields = 0;
  std::string_view tenant_field;
  bool tenant_quoted = false;
  std::size_t start = 0;
  bool quoted = false, field_quoted = false;
  // A text row without backslashes: every delimiter separates fields.
  const bool plain = !spec_.csv && body.find('\\') == std::string_view::npos;
  if (plain) {
    for (std::size_t i = 0;;) {
      const std::size_t end = std::min(body.find(spec_.delimiter, i), body.size());
      if (fields == spec_.tenant_index) tenant_field = body.substr(i, end - i);
      ++fields;
      if (end == body.size()) break;
      i = end + 1;
    }
    start = body.size() + 1;  // nothing left for the split below
  }
  for (std::size_t i = start; i <= body.size(); ++i) {
    if (i == body.size() || (!quoted && body[i] == spec_.delimiter)) {
      if (spec_.csv && quoted) return std::unexpected(rowError(rows_, "unterminated quoted field"));
      if (fields == spec_.tenant_index) {
        tenant_field = body.substr(start, i - start);
        tenant_quoted = field_quoted;
      }
      ++fields;
      start = i + 1;
      field_quoted = false;
      continue;
    }
    if (!spec_.csv) {
      if (body[i] == '\\') ++i;
      continue;
    }
    if (quoted && body[i] == spec_.escape && spec_.escape != spec_.quote && i + 1 < body.size() &&
        (body[i + 1] == spec_.quote || body[i + 1] == spec_.escape)) {
      ++i;
    } else if (body[i] == spec_.quote) {
      quoted = !quoted;
      field_quoted = true;
    }
  }
  if (fields != spec_.column_count)
    return std::unexpected(rowError(rows_, "expected " + std::to_string(spec_.column_count) +
                                               " columns, got " + std::to_string(fields)));

  if (appending()) {
    out.append(body);
    out.push_back(spec_.delimiter);
    if (spec_.csv) {
      out.push_back(spec_.quote);
      for (char c : spec_.tenant) {
        if (c == spec_.quote || c == spec_.escape) out.push_back(spec_.escape);
        out.push_back(c);
      }
      out.push_back(spec_.quote);
    } else {
      out.append(textEscape(spec_.tenant, spec_.delimiter));
    }
    out.push_back('\n');
    return {};
  }

  const std::string_view field = tenant_field;
  if (!spec_.csv && field != spec_.null_string && field.find('\\') == std::string_view::npos) {
    // The common text row: the field is its value, no copy needed.
    if (field != spec_.tenant)
      return std::unexpected(
          rowError(rows_, "tenant '" + std::string(field) + "' is outside your tenant"));
    return {};
  }
  std::optional<std::string> value;
  if (spec_.csv) {
    if (!tenant_quoted && field == spec_.null_string) {
      value = std::nullopt;
    } else if (tenant_quoted) {
      // A quoted tenant value must be exactly "<tenant>" without embedded quotes.
      if (field.size() < 2 || field.front() != spec_.quote || field.back() != spec_.quote)
        return std::unexpected(rowError(rows_, "the tenant column must be a plain value"));
      value = std::string(field.substr(1, field.size() - 2));
    } else {
      value = std::string(field);
    }
  } else {
    value = textValue(field, spec_.null_string);
  }
  if (!value) return std::unexpected(rowError(rows_, "the tenant column cannot be NULL"));
  if (*value != spec_.tenant)
    return std::unexpected(rowError(rows_, "tenant '" + *value + "' is outside your tenant"));
  return {};
}

std::expected<std::string, protocol::PgError> CopyInGuard::feed(std::string_view data) {
  std::string out;
  if (ended_) return out;  // PostgreSQL ignores everything after the end marker
  // Rows are read where they are: from the message itself unless a partial row waits.
  const bool joined = !pending_.empty();
  if (joined) pending_.append(data);
  const std::string_view input = joined ? std::string_view(pending_) : data;
  std::size_t consumed = 0;
  for (;;) {
    const std::size_t end = rowEnd(input, consumed);
    if (end == std::string::npos) break;
    if (auto ok = row(input.substr(consumed, end - consumed), out); !ok)
      return std::unexpected(ok.error());
    consumed = end + 1;
    if (ended_) break;
  }
  // Checked rows that pass unchanged leave as they came, in one piece.
  if (!appending()) out.assign(input.substr(0, consumed));
  // A partial row stays for the next message; it is rescanned from its start then.
  if (ended_)
    pending_.clear();
  else if (joined)
    pending_.erase(0, consumed);
  else
    pending_.assign(input.substr(consumed));
  return out;
}

std::expected<std::string, protocol::PgError> CopyInGuard::finish() {
  std::string out;
  if (ended_ || pending_.empty()) return out;
  if (auto ok = row(pending_, out); !ok) return std::unexpected(ok.error());
  // The last row had no newline; it gets one, as PostgreSQL reads it.
  if (!appending()) out.append(pending_).push_back('\n');
  pending_.clear();
  return out;
}

}  // namespace tenantwall::policy
