// Writes the seed corpora of tests/fuzz/corpus/: protocol messages built with protocol/encoder.h,
// a real SCRAM exchange, COPY rows, policies, and SQL statements taken from the rewrite cases.
// Run by hand when a format changes (the output is checked in):
//   build-fuzz/tests/fuzz/fuzz_make_corpus tests/fuzz/corpus .
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/encoder.h"
#include "protocol/extended.h"
#include "protocol/pg_error.h"
#include "protocol/scram.h"

namespace p = tenantwall::protocol;
namespace fs = std::filesystem;

namespace {

fs::path g_corpus;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  const auto dir = g_corpus / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

template <typename F>
std::string build(F&& f) {
  std::string out;
  f(out);
  return out;
}

std::string int16(int v) {
  return {static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}
std::string int32(std::int64_t v) {
  return {static_cast<char>((v >> 24) & 0xff), static_cast<char>((v >> 16) & 0xff),
          static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}
std::string cstr(std::string_view s) { return std::string(s) + '\0'; }
// An untagged startup-phase packet: length, then the version or request code, then the body.
std::string untagged(std::int64_t code, const std::string& body) {
  return int32(static_cast<std::int64_t>(8 + body.size())) + int32(code) + body;
}

// Bind portal to statement with text parameters (nullopt: NULL) and the given result formats.
void bind(std::string& out, std::string_view portal, std::string_view statement,
          const std::vector<std::optional<std::string>>& params, const std::vector<int>& formats) {
  std::string body =
      cstr(portal) + cstr(statement) + int16(0) + int16(static_cast<int>(params.size()));
  for (const auto& v : params)
    body += v ? int32(static_cast<std::int64_t>(v->size())) + *v : int32(-1);
  body += int16(static_cast<int>(formats.size()));
  for (int f : formats) body += int16(f);
  p::appendMessage(out, 'B', body);
}

void frontend() {
  const std::string t = "fuzz_frontend_decoder";
  write(t, "query", build([](auto& o) { p::appendQuery(o, "SELECT * FROM customers"); }));
  write(t, "query_multi", build([](auto& o) {
          p::appendQuery(o, "BEGIN; SELECT 1; COMMIT");
          p::appendQuery(o, "");
        }));
  write(t, "extended", build([](auto& o) {
          p::appendParse(o, "s1", "SELECT name FROM customers WHERE id = $1", {23});
          bind(o, "", "s1", {std::string("42")}, {0});
          p::appendMessage(o, 'D', cstr("P"));
          p::appendMessage(o, 'E', cstr("") + int32(0));
          p::appendMessage(o, 'C', cstr("Ss1"));
          p::appendMessage(o, 'S', "");
        }));
  write(t, "parse_types", build([](auto& o) {
          p::appendParse(o, "", "INSERT INTO orders (id, amount, status) VALUES ($1, $2, $3)",
                         {20, 1700, 25});
          p::appendMessage(o, 'D', cstr("S"));
          p::appendMessage(o, 'H', "");
        }));
  write(t, "bind_binary_null", build([](auto& o) {
          std::string body = cstr("p1") + cstr("s2") + int16(1) + int16(1) + int16(2) + int32(4) +
                             int32(7) + int32(-1) + int16(1) + int16(1);
          p::appendMessage(o, 'B', body);
          p::appendMessage(o, 'E', cstr("p1") + int32(10));
          p::appendMessage(o, 'C', cstr("Pp1"));
          p::appendMessage(o, 'S', "");
        }));
  write(t, "sasl_initial", build([](auto& o) {
          p::appendSaslInitialResponse(o, "SCRAM-SHA-256", "n,,n=,r=abcdefghijkl");
        }));
  write(t, "sasl_initial_no_data",
        build([](auto& o) { p::appendMessage(o, 'p', cstr("SCRAM-SHA-256") + int32(-1)); }));
  write(t, "password_terminate", build([](auto& o) {
          p::appendPasswordMessage(o, "md5abcdef0123456789abcdef0123456789");
          p::appendTerminate(o);
        }));
  write(t, "copy_in", build([](auto& o) {
          p::appendQuery(o, "COPY orders (id, amount) FROM STDIN");
          p::appendMessage(o, 'd', "1\t10.5\n2\t");
          p::appendMessage(o, 'd', "20\n");
          p::appendMessage(o, 'c', "");
        }));
  write(t, "copy_fail", build([](auto& o) {
          p::appendMessage(o, 'd', "1,acme\n");
          p::appendMessage(o, 'f', cstr("client gave up"));
        }));
  write(t, "function_call", build([](auto& o) {
          p::appendMessage(o, 'F', int32(1598) + int16(0) + int16(1) + int32(2) + "42" + int16(0));
        }));
  write(t, "length_too_small", std::string("Q") + int32(3) + "x");
  write(t, "length_huge", std::string("Q") + int32(0x7fffffff) + "SELECT 1");
  write(t, "truncated", build([](auto& o) { p::appendQuery(o, "SELECT 1"); }).substr(0, 9));
}

void backend() {
  const std::string t = "fuzz_backend_decoder";
  write(t, "auth_sasl", build([](auto& o) {
          p::appendAuthenticationSasl(o, {"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"});
          p::appendAuthenticationSaslContinue(o, "r=abc,s=c2FsdA==,i=4096");
          p::appendAuthenticationSaslFinal(o, "v=c2lnbmF0dXJl");
          p::appendAuthenticationOk(o);
        }));
  write(t, "auth_md5", build([](auto& o) { p::appendMessage(o, 'R', int32(5) + "salt"); }));
  write(t, "auth_cleartext", build([](auto& o) { p::appendMessage(o, 'R', int32(3)); }));
  write(t, "startup_reply", build([](auto& o) {
          p::appendParameterStatus(o, "server_version", "15.5");
          p::appendParameterStatus(o, "client_encoding", "UTF8");
          p::appendBackendKeyData(o, 4242, 123456789);
          p::appendReadyForQuery(o, 'I');
        }));
  write(t, "rows", build([](auto& o) {
          p::FieldDescription id{
              .name = "id", .table_oid = 16384, .column_attr = 1, .type_oid = 23, .type_size = 4};
          p::FieldDescription name{.name = "name", .table_oid = 16384, .column_attr = 3};
          p::appendRowDescription(o, {id, name});
          p::appendDataRow(o, {std::string("1"), std::string("Alice")});
          p::appendDataRow(o, {std::string("2"), std::nullopt});
          p::appendCommandComplete(o, "SELECT 2");
          p::appendReadyForQuery(o, 'T');
        }));
  write(t, "rows_binary", build([](auto& o) {
          p::FieldDescription n{.name = "n", .type_oid = 20, .type_size = 8, .format = 1};
          p::appendRowDescription(o, {n});
          p::appendDataRow(o, {std::string("\0\0\0\0\0\0\0\x2a", 8)});
          p::appendDataRow(o, {});
          p::appendCommandComplete(o, "SELECT 2");
        }));
  write(t, "error_notice", build([](auto& o) {
          p::PgError e = p::makeError("42501", "permission denied for table customers",
                                      "ask the administrator");
          e.detail = "detail text";
          p::appendErrorResponse(o, e);
          p::appendNoticeResponse(o, p::PgError{"NOTICE", "00000", "just a notice", {}, {}});
          p::appendEmptyQueryResponse(o);
        }));
  // Every field code PostgreSQL sends (documentation 55.8), the ones scrubbing drops included.
  write(t, "error_all_fields", build([](auto& o) {
          p::appendErrorFields(o, 'E',
                               {{'S', "ERROR"},
                                {'V', "ERROR"},
                                {'C', "22P02"},
                                {'M', "invalid input syntax for type integer: \"secret-42\""},
                                {'D', "Key (id)=(7) already exists."},
                                {'H', "a hint"},
                                {'P', "15"},
                                {'p', "3"},
                                {'q', "SELECT internal"},
                                {'W', "PL/pgSQL function f() line 3"},
                                {'s', "public"},
                                {'t', "customers"},
                                {'c', "ssn"},
                                {'d', "text"},
                                {'n', "customers_pkey"},
                                {'F', "numutils.c"},
                                {'L', "323"},
                                {'R', "pg_strtoint32"}});
        }));
  write(t, "copy_out", build([](auto& o) {
          p::appendMessage(o, 'H', std::string(1, '\0') + int16(2) + int16(0) + int16(0));
          p::appendMessage(o, 'd', "1\tacme\n");
          p::appendMessage(o, 'c', "");
          p::appendCommandComplete(o, "COPY 1");
        }));
  write(t, "copy_in_response", build([](auto& o) {
          p::appendMessage(o, 'G',
                           std::string(1, '\0') + int16(3) + int16(0) + int16(0) + int16(0));
        }));
  write(t, "extended_replies", build([](auto& o) {
          p::appendMessage(o, '1', "");
          p::appendMessage(o, 't', int16(2) + int32(23) + int32(25));
          p::appendMessage(o, 'n', "");
          p::appendMessage(o, '2', "");
          p::appendMessage(o, 's', "");
          p::appendMessage(o, '3', "");
          p::appendReadyForQuery(o, 'E');
        }));
  write(t, "notification", build([](auto& o) {
          p::appendMessage(o, 'A', int32(4242) + cstr("channel") + cstr("payload"));
          p::appendMessage(o, 'v', int32(0) + int32(1) + cstr("_pq_.x"));
        }));
}

void startup() {
  const std::string t = "fuzz_startup";
  write(
      t, "startup", build([](auto& o) {
        p::appendStartup(o, {{"user", "alice"}, {"database", "app"}, {"application_name", "psql"}});
      }));
  write(t, "startup_settings", build([](auto& o) {
          p::appendStartup(o, {{"user", "alice"},
                               {"database", "app"},
                               {"client_encoding", "UTF8"},
                               {"DateStyle", "ISO, MDY"},
                               {"TimeZone", "UTC"},
                               {"extra_float_digits", "3"},
                               {"IntervalStyle", "iso_8601"}});
        }));
  write(t, "startup_options", build([](auto& o) {
          p::appendStartup(o, {{"user", "alice"}, {"options", "-c search_path=evil"}});
        }));
  write(
      t, "startup_wrong_db", build([](auto& o) {
        p::appendStartup(o, {{"user", "alice"}, {"database", "postgres"}, {"replication", "true"}});
      }));
  write(t, "startup_no_user", build([](auto& o) { p::appendStartup(o, {{"database", "app"}}); }));
  write(t, "protocol_2", untagged(0x00020000, ""));
  write(t, "protocol_3_2", untagged(0x00030002, cstr("user") + cstr("a") + '\0'));
  write(t, "cancel", build([](auto& o) { p::appendCancelRequest(o, 4242, 123456789); }));
  write(t, "ssl_request", untagged(80877103, ""));
  write(t, "gssenc_request", untagged(80877104, ""));
  write(t, "length_huge", int32(0x7fffffff) + int32(0x00030000));
}

void scram() {
  const std::string t = "fuzz_scram";
  // One whole successful exchange with the fixed values of fuzz_scram.cc.
  const std::string verifier_text = p::makeScramVerifier("fuzz-password", "fuzz-salt-16byte", 4096);
  p::ScramServer server(*p::parseScramVerifier(verifier_text), "fuzzservernonce");
  p::ScramClient client("fuzz-password", "fuzzclientnonce");
  const std::string client_first = client.clientFirst();
  const std::string server_first = *server.handleClientFirst(client_first);
  const std::string client_final = *client.handleServerFirst(server_first);
  const std::string server_final = *server.handleClientFinal(client_final);
  if (!client.handleServerFinal(server_final)) {
    std::fprintf(stderr, "SCRAM exchange failed\n");
    std::exit(1);
  }
  const std::string side_server(1, '\0'), side_client(1, '\1');
  write(t, "server_side", side_server + client_first + '\0' + client_final);
  write(t, "client_side", side_client + server_first + '\0' + server_final);
  write(
      t, "server_side_user",
      std::string(1, '\2') + p::ScramClient("x", "fuzzclientnonce").clientFirst("al=2Cice") + '\0');
  std::string wrong_proof = client_final;
  wrong_proof[wrong_proof.size() - 2] ^= 1;
  write(t, "server_side_wrong_proof", side_server + client_first + '\0' + wrong_proof);
  write(t, "server_side_channel_binding",
        side_server + "p=tls-server-end-point,,n=,r=fuzzclientnonce" + '\0' +
            "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=fuzzclientnoncefuzzservernonce,p=AAAA");
  write(t, "server_side_y", side_server + "y,,n=,r=fuzzclientnonce" + '\0');
  write(t, "server_side_extensions", side_server + "n,a=authzid,n=u,r=fuzzclientnonce,x=1" + '\0');
  write(t, "client_side_low_iterations",
        side_client + "r=fuzzclientnonceXYZ,s=c2FsdA==,i=1" + '\0' + "e=invalid-proof");
  write(t, "client_side_foreign_nonce", side_client + "r=othernonce,s=c2FsdA==,i=4096" + '\0');
  write(t, "client_side_mandatory_ext",
        side_client + "m=ext,r=fuzzclientnonceXYZ,s=c2FsdA==,i=4096" + '\0' + "v=AAAA");
  write(t, "verifier", verifier_text);
  write(t, "base64", p::base64Encode("any raw bytes \x01\x02\xff"));
}

// The first four bytes of a fuzz_copy_in input: flags (bit 0 csv, 1 header, 2-3 delimiter
// \t , | ;, 4 quote " ', 5 backslash escape, 6-7 null string), columns - 1, tenant index,
// CopyData chunk size - 1 (see fuzz_copy_in.cc).
std::string copySpec(int flags, int columns, int tenant_index, int chunk) {
  return {static_cast<char>(flags), static_cast<char>(columns - 1), static_cast<char>(tenant_index),
          static_cast<char>(chunk - 1)};
}

void copyIn() {
  const std::string t = "fuzz_copy_in";
  write(t, "text_tenant_first",
        copySpec(0x00, 3, 0, 16) + "acme\tAnn\tann@acme.example\nacme\tBob\t\\N\n\\.\n");
  write(t, "text_appended", copySpec(0x00, 3, 2, 7) + "Ann\tann@acme.example\nBob\tbob\\tx\n");
  write(t, "text_pipe_null", copySpec(0x88, 2, 1, 3) + "NULL|acme\nx|acme");
  write(t, "text_wrong_tenant", copySpec(0x00, 2, 1, 64) + "1\tglobex\n");
  write(t, "csv_header",
        copySpec(0x07, 3, 1, 10) +
            "id,tenant_id,name\n1,acme,\"Ann, Jr.\"\n2,acme,\"say \"\"hi\"\"\nthere\"\r\n");
  write(t, "csv_wrong_tenant", copySpec(0x05, 2, 0, 64) + "globex,Gus\n");
  write(t, "csv_quoted_tenant", copySpec(0x09, 2, 1, 2) + "7|\"acme\"\n8|\"ac\"\"me\"\n");
  write(t, "csv_backslash_escape", copySpec(0x35, 2, 0, 5) + "'acme','a\\'b'\n");
}

// Policies: the reference policy without its comment lines, and small ones that reach each
// section of the loader.
void policies(const fs::path& repo) {
  const std::string t = "fuzz_policy_loader";
  std::ifstream in(repo / "conf/policy.yaml");
  std::string line, reference;
  while (std::getline(in, line))
    if (!line.starts_with("#") && !line.empty()) reference += line + "\n";
  write(t, "reference.yaml", reference);
  const std::string verifier =
      "SCRAM-SHA-256$4096:K9gGyX8OAK8aH8Myj6djqQ==$FLJE5BoJ/U+twjfcFVvxz4GOJ7izjZTMwyVl7iyjcoU=:"
      "9ZOyGsv3Lr6EybtxWvt8RuR+rQ6YU4rq6kSKY9F4Vlg=";
  write(t, "masks.yaml",
        "tenants:\n  - id: t1\n    name: T One\nusers:\n  - name: u1\n    tenant: t1\n"
        "    role: analyst\n    scram: \"" +
            verifier +
            "\"\n"
            "protected_tables:\n  - table: public.items\n    tenant_column: tenant_id\n"
            "    columns: [id, tenant_id, { name: secret, mask: redact }, { name: code, mask: hash "
            "},\n"
            "              { name: mail, mask: email }, { name: tel, mask: phone }, { name: s, "
            "mask: ssn }]\n"
            "reference_tables:\n  - public.countries\n");
  write(t, "flow.yaml",
        "author: alice@example.com\ntenants: [{id: a}, {id: b, name: B}]\n"
        "protected_tables: [{table: s.t, tenant_column: tid, columns: [tid, x]}]\n"
        "reference_tables: [s.r, public.countries]\n");
  write(
      t, "jwt.yaml",
      "tenants: [{id: acme}]\njwt:\n  startup_user: jwt\n  jwks_file: jwks.json\n"
      "  issuer: https://idp.example.com/\n  audience: [tenantwall, reporting]\n"
      "  algorithms: [RS256, ES256, HS256]\n  leeway_seconds: 30\n  claims:\n    tenant: org_id\n"
      "    user: sub\n    groups: groups\n    attributes:\n      region: region\n"
      "  roles:\n    - { group: analysts, role: analyst }\n    - { group: admins, role: admin }\n");
  write(t, "shared_datasets.yaml",
        "tenants: [{id: acme}, {id: globex}]\nshared_datasets:\n  - table: public.orders\n"
        "    tenant_column: tenant_id\n    opt_in: [acme, globex]\n    min_tenants: 2\n"
        "    min_rows: 10\n    dimensions: [status]\n    measures: [{column: amount, aggregates: "
        "[count, sum, avg, min, max]}]\n    comment: benchmarks\n");
  write(t, "duplicate_user.yaml",
        "tenants: [{id: a}]\nusers:\n  - {name: u, tenant: a, role: r, "
        "scram: \"" +
            verifier +
            "\"}\n  - {name: u, tenant: a, role: r, "
            "scram: \"" +
            verifier + "\"}\n");
  write(t, "anchors.yaml",
        "tenants:\n  - &t {id: a}\n  - *t\nreference_tables: !!seq [public.x]\n");
  write(t, "broken.yaml", "tenants: [\n  {id: a, name: \"unterminated\n");
}

// SQL seeds: up to four statements of each rewrite case file, spread over the file.
void sql(const fs::path& repo) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(repo / "tests/unit/policy/rewrite_cases"))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::ifstream in(file);
    std::vector<std::string> statements;
    std::string line;
    bool in_sql = false;
    while (std::getline(in, line)) {
      if (line.starts_with("sql: ")) {
        statements.push_back(line.substr(5));
        in_sql = true;
      } else if (in_sql && line.starts_with("| ")) {
        statements.back() += "\n" + line.substr(2);
      } else {
        in_sql = false;
      }
    }
    const std::size_t take = std::min<std::size_t>(4, statements.size());
    for (std::size_t k = 0; k < take; ++k) {
      const std::size_t at = k * statements.size() / take;
      write("fuzz_sql", file.stem().string() + "_" + std::to_string(at) + ".sql", statements[at]);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fuzz_make_corpus <corpus dir> <repository root>\n");
    return 2;
  }
  g_corpus = argv[1];
  const fs::path repo = argv[2];
  frontend();
  backend();
  startup();
  scram();
  copyIn();
  policies(repo);
  sql(repo);
  return 0;
}
