// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it, server side towards clients and
// client side towards PostgreSQL, plus PostgreSQL's md5 password hash. No sockets: each side is
// a small state machine fed with the peer's messages.
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include "protocol/pg_error.h"

namespace tenantwall::protocol {

// A stored verifier "SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>",
// the format of pg_authid.rolpassword. Keys and salt are raw bytes here.
struct ScramVerifier {
  int iterations = 4096;
  std::string salt;
  std::string stored_key;
  std::string server_key;
};

std::expected<ScramVerifier, std::string> parseScramVerifier(std::string_view text);
// Builds a verifier string for a password; salt empty means 16 random bytes.
std::string makeScramVerifier(std::string_view password, std::string_view salt = {},
                              int iterations = 4096);
// A verifier no password matches, used for unknown users so they fail like wrong passwords.
ScramVerifier impossibleScramVerifier();
// The same, with a salt derived from the user name and a per-process secret, so asking twice
// for one unknown user shows the same salt, as a real user's verifier would (PostgreSQL's
// mock authentication does the same).
ScramVerifier impossibleScramVerifier(std::string_view user);

// Server side of one exchange. Usage: handleClientFirst -> send server-first in
// AuthenticationSASLContinue; handleClientFinal -> on success send server-final in
// AuthenticationSASLFinal. Errors are 28P01 (wrong proof) or 08P01 (malformed messages);
// channel binding is refused (only "n,," and "y,," gs2 headers are accepted).
class ScramServer {
 public:
  // nonce_for_tests fixes the server nonce part (RFC vectors); empty means random.
  explicit ScramServer(ScramVerifier verifier, std::string nonce_for_tests = {});
  std::expected<std::string, PgError> handleClientFirst(std::string_view client_first);
  std::expected<std::string, PgError> handleClientFinal(std::string_view client_final);

 private:
  ScramVerifier verifier_;
  std::string server_nonce_part_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;
  int state_ = 0;
};

// Client side of one exchange towards PostgreSQL.
class ScramClient {
 public:
  explicit ScramClient(std::string password, std::string nonce_for_tests = {});
  // "n,,n=,r=<nonce>" (PostgreSQL ignores the user name in SCRAM).
  std::string clientFirst();
  // The same with a user name in "n=" (escaped as RFC 5802 saslname), for peers that want one
  // and for the RFC 7677 test vector.
  std::string clientFirst(std::string_view user);
  std::expected<std::string, std::string> handleServerFirst(std::string_view server_first);
  // Verifies the server signature: a server that does not know the password is refused.
  std::expected<void, std::string> handleServerFinal(std::string_view server_final);

 private:
  std::string password_;
  std::string nonce_;
  std::string client_first_bare_;
  std::string server_signature_;
  int state_ = 0;
};

// "md5" + md5hex(md5hex(password + user) + salt), the PasswordMessage for AuthenticationMD5.
std::string md5PasswordResponse(std::string_view user, std::string_view password,
                                std::string_view salt4);

std::string base64Encode(std::string_view raw);
std::expected<std::string, std::string> base64Decode(std::string_view text);

}  // namespace tenantwall::protocol
