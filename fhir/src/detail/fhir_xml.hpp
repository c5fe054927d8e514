#pragma once
// What the FHIR XML reader and writer share (R4 xml.html): the namespaces and
// the OperationOutcome issue types (R4 valueset-issue-type.html) their errors use.

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>

namespace hearth::fhir::detail {

inline constexpr std::string_view fhir_ns = "http://hl7.org/fhir";
inline constexpr std::string_view xhtml_ns = "http://www.w3.org/1999/xhtml";

inline constexpr std::string_view code_structure = "structure";
inline constexpr std::string_view code_invalid = "invalid";
inline constexpr std::string_view code_too_costly = "too-costly";

/// A number value the FHIR JSON reader (parse_json) accepts: the JSON grammar
/// (RFC 8259 section 6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?)
/// and a magnitude a double can hold (RapidJSON refuses larger ones), so that
/// XML and JSON accept the same numbers.
inline bool is_fhir_json_number(std::string_view s) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  if (i != s.size()) return false;
  const std::string text(s);
  errno = 0;
  const double d = std::strtod(text.c_str(), nullptr);
  return !(errno == ERANGE && std::isinf(d));
}

}  // namespace hearth::fhir::detail
