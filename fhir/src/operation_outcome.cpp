// Issues and OperationOutcome (FHIR R4 operationoutcome.html).

#include <hearth/fhir/operation_outcome.hpp>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

namespace hearth::fhir {
namespace {

// R4 valueset-issue-type.html (http://hl7.org/fhir/issue-type), all levels.
constexpr std::array<std::string_view, 31> issue_types{
    "invalid",  "structure", "required",         "value",     "invariant",   "security",      "login",
    "unknown",  "expired",   "forbidden",        "suppressed", "processing", "not-supported", "duplicate",
    "multiple-matches", "not-found", "deleted",   "too-long",  "code-invalid", "extension",   "too-costly",
    "business-rule", "conflict", "transient",    "lock-error", "no-store",   "exception",     "timeout",
    "incomplete", "throttled", "informational",
};

// A FHIRPath path as the readers write locations: a name, then names,
// [index] and '.', nothing else ("Patient.name[1].given[0]"). A JSON path
// ("$.name[0]") or an HL7 v2 location ("PID-5.1") is not one.
bool is_fhirpath_path(std::string_view s) noexcept {
  if (s.empty() || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z'))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '[' || c == ']';
  });
}

}  // namespace

std::string_view to_string(issue_severity s) noexcept {
  switch (s) {
    case issue_severity::fatal: return "fatal";
    case issue_severity::error: return "error";
    case issue_severity::warning: return "warning";
    case issue_severity::information: return "information";
  }
  return "error";
}

std::optional<issue_severity> parse_issue_severity(std::string_view code) noexcept {
  for (issue_severity s : {issue_severity::fatal, issue_severity::error, issue_severity::warning,
                           issue_severity::information}) {
    if (to_string(s) == code) return s;
  }
  return std::nullopt;
}

bool is_issue_type(std::string_view code) noexcept {
  return std::find(issue_types.begin(), issue_types.end(), code) != issue_types.end();
}

bool has_errors(std::span<const issue> issues) noexcept {
  return std::any_of(issues.begin(), issues.end(), [](const issue& i) {
    return i.severity == issue_severity::fatal || i.severity == issue_severity::error;
  });
}

issue to_issue(const hearth::error& e, issue_severity severity) {
  issue out;
  out.severity = severity;
  out.code = is_issue_type(e.code) ? e.code : "processing";
  out.diagnostics = e.message;
  const bool fhirpath = is_fhirpath_path(e.location);
  if (fhirpath) out.expression = e.location;
  std::string where;
  if (!fhirpath && !e.location.empty()) where = "at " + e.location;
  if (e.offset != hearth::error::npos) {
    if (!where.empty()) where += ", ";
    where += "byte offset " + std::to_string(e.offset);
  }
  if (!where.empty()) {
    if (!out.diagnostics.empty()) out.diagnostics += ' ';
    out.diagnostics += '(' + where + ')';
  }
  return out;
}

json_value to_operation_outcome(std::span<const issue> issues) {
  json_value list = json_value::array();
  for (const issue& i : issues) {
    json_value entry = json_value::object();
    entry.set("severity", to_string(i.severity));
    entry.set("code", is_issue_type(i.code) ? std::string_view(i.code) : std::string_view("processing"));
    if (!i.diagnostics.empty()) entry.set("diagnostics", i.diagnostics);
    if (!i.expression.empty()) {
      json_value expressions = json_value::array();
      expressions.push_back(json_value(i.expression));
      entry.set("expression", std::move(expressions));
    }
    list.push_back(std::move(entry));
  }
  if (list.size() == 0) {
    // OperationOutcome.issue is 1..* (R4 operationoutcome.html).
    json_value entry = json_value::object();
    entry.set("severity", to_string(issue_severity::information));
    entry.set("code", "informational");
    entry.set("diagnostics", "no issues found");
    list.push_back(std::move(entry));
  }
  json_value outcome = json_value::object();
  outcome.set("resourceType", "OperationOutcome");
  outcome.set("issue", std::move(list));
  return outcome;
}

json_value to_operation_outcome(const hearth::error& e, issue_severity severity) {
  const issue one = to_issue(e, severity);
  return to_operation_outcome(std::span<const issue>(&one, 1));
}

}  // namespace hearth::fhir
