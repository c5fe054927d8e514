// See detail/fhirpath_regex.hpp.

#include "detail/fhirpath_regex.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>

namespace hearth::fhir::fhirpath::detail {

std::optional<bool> regex_matches(const std::string& text, const std::string& pattern, bool full) {
  try {
    std::regex re(pattern, std::regex::ECMAScript);
    return full ? std::regex_match(text, re) : std::regex_search(text, re);
  } catch (const std::regex_error&) {
    return std::nullopt;
  }
}

std::optional<std::string> regex_replace_all(const std::string& text, const std::string& pattern,
                                             const std::string& substitution) {
  try {
    std::regex re(pattern, std::regex::ECMAScript);
    return std::regex_replace(text, re, substitution);
  } catch (const std::regex_error&) {
    return std::nullopt;
  }
}

}  // namespace hearth::fhir::fhirpath::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
