#pragma once
// UTF-8 validation and conversion helpers shared by the parsers.
// Pure functions; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>

namespace hearth::utf8 {

inline constexpr std::size_t npos = static_cast<std::size_t>(-1);

/// Offset of the first byte that does not start a well-formed UTF-8 sequence
/// (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF), or npos when
/// `s` is valid UTF-8 throughout.
std::size_t find_invalid(std::string_view s) noexcept;

/// Offset of the first byte >= 0x80, or npos when `s` is 7-bit ASCII.
std::size_t find_non_ascii(std::string_view s) noexcept;

/// Appends code point `cp` (<= U+10FFFF, not a surrogate) to `out` as UTF-8.
void append(std::string& out, char32_t cp);

/// Appends ISO 8859-1 text converted to UTF-8 (every byte is a code point).
void append_latin1(std::string& out, std::string_view latin1);

}  // namespace hearth::utf8
