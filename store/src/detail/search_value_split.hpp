#pragma once
// Splitting a search value at its separators and resolving its escapes (FHIR
// R4 search.html#escaping), for parse_search(). Private to the store. Pure;
// thread-safe.
//
// R4 defines four escapes: `\,` `\|` `\$` and `\\`. A backslash before any
// other character, or at the very end of a value, is kept as it is, the
// backslash included: R4 gives it no meaning, and identifiers, paths and
// free text carry backslashes that a client did not write as escapes.
// Refusing them would turn an unambiguous value into an error; dropping the
// backslash would search for text the client did not send.
//
// Splitting keeps the escapes in the pieces, so a value is split in stages
// (at ',' into OR values, then at '$' into composite components, then at '|'
// into parts) and each final part is unescaped once.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::store::detail {

/// The characters R4 lets a backslash escape.
constexpr bool is_escapable(char c) noexcept { return c == ',' || c == '|' || c == '$' || c == '\\'; }

/// `text` split at every `sep` that no backslash escapes; the pieces keep
/// their escapes. Stops after max_pieces + 1 pieces, leaving the rest
/// unsplit: a result longer than max_pieces means "too many", and a hostile
/// value of a million separators costs no more than the limit.
inline std::vector<std::string_view> split_unescaped(std::string_view text, char sep, std::size_t max_pieces) {
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && is_escapable(text[i + 1])) {
      ++i;  // the escaped character is text, never a separator
      continue;
    }
    if (text[i] == sep) {
      pieces.push_back(text.substr(start, i - start));
      if (pieces.size() > max_pieces) return pieces;
      start = i + 1;
    }
  }
  pieces.push_back(text.substr(start));
  return pieces;
}

/// `text` with its four escapes resolved; any other backslash stays.
inline std::string unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && is_escapable(text[i + 1])) ++i;
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace hearth::store::detail
