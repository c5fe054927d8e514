#pragma once
// SHA-1 (FIPS 180-4), for name-based UUIDs (RFC 4122 4.3, version 5) and the
// values of derived identifiers. Not used for security: only as a stable,
// well-spread digest of names. Pure functions; thread-safe.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::mapping::detail {

/// The 20-byte digest of `data`.
std::array<std::uint8_t, 20> sha1(std::string_view data);

/// The digest as 40 lowercase hex digits.
std::string sha1_hex(std::string_view data);

/// RFC 4122 version 5 UUID of `name` in namespace `ns` (16 bytes), as
/// "xxxxxxxx-xxxx-5xxx-yxxx-xxxxxxxxxxxx" in lowercase.
std::string uuid_v5(const std::array<std::uint8_t, 16>& ns, std::string_view name);

}  // namespace hearth::mapping::detail
