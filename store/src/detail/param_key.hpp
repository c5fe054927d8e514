#pragma once
// The `param` column of the index tables (migrations.cpp, version 2): which
// search parameter of which resource type a row belongs to, as a number.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hearth::store::detail {

/// FNV-1a (64-bit) of "type.code", the top bit cleared so that both engines
/// store it as a positive 64-bit integer. Keys of "code$i" name the i-th
/// component of a composite. The R4 definitions give about 3,000 distinct
/// (type, code) pairs: the chance of two sharing a key is about 2.5e-13.
constexpr std::int64_t param_key(std::string_view type, std::string_view code, std::string_view suffix = {}) noexcept {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view s) {
    for (const char c : s) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ull;
    }
  };
  mix(type);
  mix(".");
  mix(code);
  mix(suffix);
  return static_cast<std::int64_t>(h & 0x7fffffffffffffffull);
}

/// The key of component `i` (0-based, below 10: R4 composites have 2 or 3)
/// of composite parameter `code`: param_key(type, code + "$" + i).
constexpr std::int64_t component_key(std::string_view type, std::string_view code, std::size_t i) noexcept {
  const char suffix[2] = {'$', static_cast<char>('0' + i % 10)};
  return param_key(type, code, std::string_view(suffix, 2));
}

}  // namespace hearth::store::detail
