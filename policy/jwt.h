// Bearer tokens as a principal source: a compact JWS (RFC 7515, RFC 7519) sent as the password
// is verified against the policy's key set (RS256, ES256, HS256), its issuer, audience and
// validity period checked, and its claims mapped to a principal by the policy's `jwt` section.
// Pure: the clock is a parameter, the keys were loaded with the policy.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "policy/model.h"
#include "policy/principal.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy {

// Longer passwords are refused before any decoding: no honest token comes near it.
inline constexpr std::size_t kMaxTokenBytes = 16384;

// Why a token was refused. error.sqlstate is 28P01 when the token itself is not acceptable
// (malformed, forged, expired, not yet valid, another issuer's or audience's) and 28000 when a
// genuine token does not make a principal this policy admits (no tenant, a tenant the policy
// does not know, no role for its groups). The message says why and never quotes the token.
struct TokenRefusal {
  protocol::PgError error;
  std::string user;  // the token's user claim, once the signature is known good
};

// A token that verified, and the principal it maps to.
struct TokenIdentity {
  Principal principal;
  std::string kid;              // of the key that verified it; empty when the key has none
  std::int64_t expires_at = 0;  // exp, seconds since the epoch
};

// now: seconds since the epoch. The principal's tenant is a tenant of `policy`, its role comes
// from config.roles (first group that matches), never from a default.
std::expected<TokenIdentity, TokenRefusal> authenticateToken(std::string_view token,
                                                             const JwtConfig& config,
                                                             const Policy& policy,
                                                             std::int64_t now);

// "2026-01-31T12:00:00Z": how token times appear in messages.
std::string tokenTime(std::int64_t seconds);

}  // namespace tenantwall::policy
