// Checks every row of a COPY ... FROM STDIN stream before PostgreSQL sees it: the tenant
// column must hold the principal's tenant, or is appended by the proxy when the client's
// column list left it out. Rows may span CopyData messages; text and CSV formats.
// See PostgreSQL documentation, COPY, "File Formats".
#pragma once

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>

#include "protocol/pg_error.h"

namespace tenantwall::policy {

struct CopyInSpec {
  bool csv = false;
  char delimiter = '\t';            // text default; CSV default ','
  char quote = '"';                 // CSV only
  char escape = '"';                // CSV only
  bool header = false;              // the first line is a header, passed through unchecked
  std::string null_string = "\\N";  // text default; CSV default ""
  std::size_t column_count = 0;     // columns the client sends per row
  // Position of the tenant column among the client's columns, or column_count when the proxy
  // appends it to every row.
  std::size_t tenant_index = 0;
  std::string tenant;
};

class CopyInGuard {
 public:
  explicit CopyInGuard(CopyInSpec spec) : spec_(std::move(spec)) {}

  // Takes the payload of one CopyData message and returns the bytes to forward (whole rows
  // only; a partial row waits for the next call), or the refusal for the first bad row.
  std::expected<std::string, protocol::PgError> feed(std::string_view data);
  // At CopyDone: the rest (a last row without newline), or a refusal.
  std::expected<std::string, protocol::PgError> finish();
  std::size_t rows() const { return rows_; }

 private:
  // Checks one row; appends it to out only when it changes (appending()): rows that pass
  // unchanged are forwarded by feed in one piece.
  std::expected<void, protocol::PgError> row(std::string_view line, std::string& out);
  // Position of the '\n' ending the row that starts at from in input, or npos.
  std::size_t rowEnd(std::string_view input, std::size_t from) const;
  bool appending() const { return spec_.tenant_index == spec_.column_count; }

  CopyInSpec spec_;
  std::string pending_;
  bool header_done_ = false;
  bool ended_ = false;  // saw the end-of-data marker \.
  std::size_t rows_ = 0;
};

}  // namespace tenantwall::policy
