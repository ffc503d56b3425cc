// UTF-8 validity, as PostgreSQL's server encoding UTF8 defines it: overlong forms, UTF-16
// surrogates and code points past U+10FFFF are invalid.
#pragma once

#include <cstddef>
#include <string_view>

namespace tenantwall::protocol {

// Length of the valid UTF-8 sequence starting at s[i] (i < s.size()), or 0 when the bytes there
// are not one (including a sequence cut short by the end of s).
std::size_t utf8SequenceLength(std::string_view s, std::size_t i);

// Offset of the first byte that does not start a valid sequence, or npos when all of s is valid.
std::size_t invalidUtf8At(std::string_view s);

}  // namespace tenantwall::protocol
