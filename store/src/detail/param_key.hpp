#pragma once
// The `param` column of the index tables (migrations.cpp, version 2): which
// search parameter of which resource type a row belongs to, as a number.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hearth::store::detail {

/// FNV-1a, 64-bit: a fast, stable hash for keys and fingerprints (not for
/// anything an attacker could exploit: it is not collision-resistant).
struct fnv1a {
  std::uint64_t value = 14695981039346656037ull;
  constexpr void mix(std::string_view s) noexcept {
    for (const char c : s) {
      value ^= static_cast<unsigned char>(c);
      value *= 1099511628211ull;
    }
  }
  /// Mixes `s` and a separator byte, so that ("ab", "c") and ("a", "bc") differ.
  constexpr void field(std::string_view s) noexcept {
    mix(s);
    mix(std::string_view("\xff", 1));
  }
};

/// FNV-1a (64-bit) of "type.code", the top bit cleared so that both engines
/// store it as a positive 64-bit integer. Keys of "code$i" name the i-th
/// component of a composite. The R4 definitions give about 3,000 distinct
/// (type, code) pairs: the chance of two sharing a key is about 2.5e-13.
constexpr std::int64_t param_key(std::string_view type, std::string_view code, std::string_view suffix = {}) noexcept {
  fnv1a h;
  h.mix(type);
  h.mix(".");
  h.mix(code);
  h.mix(suffix);
  return static_cast<std::int64_t>(h.value & 0x7fffffffffffffffull);
}

/// The key of component `i` (0-based, below 10: R4 composites have 2 or 3)
/// of composite parameter `code`: param_key(type, code + "$" + i).
constexpr std::int64_t component_key(std::string_view type, std::string_view code, std::size_t i) noexcept {
  const char suffix[2] = {'$', static_cast<char>('0' + i % 10)};
  return param_key(type, code, std::string_view(suffix, 2));
}

}  // namespace hearth::store::detail
