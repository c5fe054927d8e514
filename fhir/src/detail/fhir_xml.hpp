#pragma once
// What the FHIR XML reader and writer share (R4 xml.html): the namespaces and
// the OperationOutcome issue types (R4 valueset-issue-type.html) their errors use.

#include <string_view>

namespace hearth::fhir::detail {

inline constexpr std::string_view fhir_ns = "http://hl7.org/fhir";
inline constexpr std::string_view xhtml_ns = "http://www.w3.org/1999/xhtml";

inline constexpr std::string_view code_structure = "structure";
inline constexpr std::string_view code_invalid = "invalid";
inline constexpr std::string_view code_too_costly = "too-costly";

}  // namespace hearth::fhir::detail
