#pragma once
// Issues found in FHIR input, and the OperationOutcome resource that reports
// them (FHIR R4 operationoutcome.html).
//
// Checks that do not stop at the first problem (resource_check.hpp) collect
// issues; the REST layer turns the list, or a single hearth::error from a
// parser, into an OperationOutcome. An issue says what is wrong and where
// (a FHIRPath expression), never what the input held: it may be PHI.
// Every function here is pure and thread-safe; results own their data.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/error.hpp>
#include <hearth/fhir/json_value.hpp>

namespace hearth::fhir {

/// OperationOutcome.issue.severity (R4 valueset-issue-severity.html), most
/// severe first.
enum class issue_severity : std::uint8_t {
  fatal,        ///< processing stopped: nothing after it was looked at
  error,        ///< the input is not acceptable
  warning,      ///< acceptable, but probably not what was meant (a SHOULD broken)
  information,  ///< for the record; nothing wrong
};

/// "fatal", "error", "warning", "information".
std::string_view to_string(issue_severity s) noexcept;
/// The severity a code names; nullopt for anything else.
std::optional<issue_severity> parse_issue_severity(std::string_view code) noexcept;

/// One finding. Plain value type; copyable; no thread-safety concerns.
struct issue {
  issue_severity severity = issue_severity::error;
  /// An OperationOutcome issue type (R4 valueset-issue-type.html): "structure",
  /// "required", "value", "invariant", "invalid", "not-supported", "too-costly"...
  std::string code;
  /// What is wrong, for people. Never contains the offending input itself.
  std::string diagnostics;
  /// Where: a FHIRPath path to the element ("Patient.name[0].given[1]");
  /// empty when the issue is about the input as a whole.
  std::string expression;

  friend bool operator==(const issue&, const issue&) = default;
};

/// Issues in the order they were found.
using issue_list = std::vector<issue>;

/// True for the codes of the R4 IssueType value set ("invalid", "structure",
/// ..., "informational"; R4 valueset-issue-type.html).
bool is_issue_type(std::string_view code) noexcept;

/// True when some issue is fatal or an error: the input must be rejected.
bool has_errors(std::span<const issue> issues) noexcept;

/// An issue for an error a parser returned. Its code is kept when it is an
/// IssueType code, "processing" otherwise (an HL7 v2 table 0357 code...).
/// Its location becomes the expression when it is a FHIRPath path
/// ("Patient.name[1]"); any other location (a JSON path "$.name[0]", "PID-5")
/// and a byte offset are appended to the diagnostics instead, as
/// OperationOutcome.issue.expression holds FHIRPath only.
issue to_issue(const hearth::error& e, issue_severity severity = issue_severity::error);

/// An OperationOutcome resource (R4 JSON) listing `issues` in order: each with
/// severity, code, diagnostics when not empty, and expression as an array of
/// one when not empty, so the result never holds an empty string or array
/// (R4 json.html). A code that is not an IssueType code is written as
/// "processing". OperationOutcome.issue is 1..*: an empty list gives one
/// issue, severity information, code "informational". No narrative is
/// generated (dom-6 is a guideline only).
json_value to_operation_outcome(std::span<const issue> issues);

/// An OperationOutcome with the one issue to_issue(e, severity) makes.
json_value to_operation_outcome(const hearth::error& e, issue_severity severity = issue_severity::error);

}  // namespace hearth::fhir
