// Hex encoding and SHA-256 digests: the one place tenantwall turns bytes into hex.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tenantwall::policy {

std::string toHex(const unsigned char* data, std::size_t size);
// Lowercase hex of SHA-256(text), as policy hashes, rewritten-SQL hashes and audit chains use.
std::string sha256Hex(std::string_view text);

}  // namespace tenantwall::policy
