#include <hearth/fhir/operation_outcome.hpp>

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/resource_check.hpp>

#include "fhir/test_support.hpp"

using namespace hearth::fhir;

namespace {

json_value json(std::string_view text) {
  auto r = parse_json(text);
  REQUIRE_MESSAGE(r, "bad test JSON");
  return std::move(r).value();
}

/// The outcome must itself be a valid R4 OperationOutcome.
void check_valid(const json_value& outcome) {
  const issue_list found = check_resource(outcome, hearth::fhir::test::registry());
  for (const issue& i : found) INFO(i.code << " at " << i.expression << ": " << i.diagnostics);
  CHECK(found.empty());
}

}  // namespace

TEST_CASE("outcome: severities and issue types (R4 valueset-issue-severity, valueset-issue-type)") {
  for (issue_severity s : {issue_severity::fatal, issue_severity::error, issue_severity::warning,
                           issue_severity::information}) {
    CHECK(parse_issue_severity(to_string(s)) == s);
  }
  CHECK(to_string(issue_severity::information) == "information");
  CHECK_FALSE(parse_issue_severity("Error").has_value());
  CHECK_FALSE(parse_issue_severity("").has_value());

  for (const char* code : {"invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
                           "expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate",
                           "multiple-matches", "not-found", "deleted", "too-long", "code-invalid", "extension",
                           "too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store",
                           "exception", "timeout", "incomplete", "throttled", "informational"}) {
    CHECK_MESSAGE(is_issue_type(code), code);
  }
  CHECK_FALSE(is_issue_type("102"));
  CHECK_FALSE(is_issue_type("Invalid"));
  CHECK_FALSE(is_issue_type(""));
}

TEST_CASE("outcome: has_errors is true for fatal and error only") {
  std::vector<issue> list{{issue_severity::warning, "value", "w", ""},
                          {issue_severity::information, "informational", "i", ""}};
  CHECK_FALSE(has_errors(list));
  CHECK_FALSE(has_errors({}));
  list.push_back({issue_severity::error, "required", "e", "Patient.name"});
  CHECK(has_errors(list));
  CHECK(has_errors(std::vector<issue>{{issue_severity::fatal, "exception", "f", ""}}));
}

TEST_CASE("outcome: issues become OperationOutcome.issue in order (R4 operationoutcome.html)") {
  const std::vector<issue> list{
      {issue_severity::error, "required", "missing required element 'status'", "Observation.status"},
      {issue_severity::warning, "value", "only white space", "Observation.note[0].text"},
  };
  const json_value outcome = to_operation_outcome(list);
  CHECK(outcome == json(R"({"resourceType":"OperationOutcome","issue":[
      {"severity":"error","code":"required","diagnostics":"missing required element 'status'",
       "expression":["Observation.status"]},
      {"severity":"warning","code":"value","diagnostics":"only white space",
       "expression":["Observation.note[0].text"]}]})"));
  check_valid(outcome);
}

TEST_CASE("outcome: no empty strings or arrays, and only IssueType codes (R4 json.html)") {
  // An issue without diagnostics or expression: both left out, not empty.
  const std::vector<issue> bare{{issue_severity::fatal, "exception", "", ""}};
  CHECK(to_json(to_operation_outcome(bare)) ==
        R"({"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception"}]})");
  // A code outside the value set (a programmer's slip) is written as processing.
  const std::vector<issue> odd{{issue_severity::error, "102", "bad", ""}, {issue_severity::error, "", "x", ""}};
  const json_value o = to_operation_outcome(odd);
  CHECK(o.find("issue")->items()[0].find("code")->str() == "processing");
  CHECK(o.find("issue")->items()[1].find("code")->str() == "processing");
  check_valid(o);
}

TEST_CASE("outcome: an empty list still has one issue (issue is 1..*)") {
  const json_value o = to_operation_outcome(std::vector<issue>{});
  CHECK(o == json(R"({"resourceType":"OperationOutcome","issue":[
      {"severity":"information","code":"informational","diagnostics":"no issues found"}]})"));
  check_valid(o);
}

TEST_CASE("outcome: a parser error with a FHIRPath location keeps it as the expression") {
  const hearth::error e{"invalid", "empty value attribute", "Patient.name[1].given[0]", 120};
  const issue i = to_issue(e);
  CHECK(i.severity == issue_severity::error);
  CHECK(i.code == "invalid");
  CHECK(i.expression == "Patient.name[1].given[0]");
  CHECK(i.diagnostics == "empty value attribute (byte offset 120)");
  check_valid(to_operation_outcome(e));
}

TEST_CASE("outcome: other locations go to the diagnostics, not the expression") {
  // A JSON path from parse_json is not FHIRPath.
  const issue j = to_issue(hearth::error{"structure", "duplicate key", "$.name[0].given", 42});
  CHECK(j.expression.empty());
  CHECK(j.diagnostics == "duplicate key (at $.name[0].given, byte offset 42)");
  // An HL7 v2 error: its code is not an IssueType code.
  const issue v = to_issue(hearth::error{"102", "data type error", "PID-7.1", hearth::error::npos},
                           issue_severity::warning);
  CHECK(v.severity == issue_severity::warning);
  CHECK(v.code == "processing");
  CHECK(v.expression.empty());
  CHECK(v.diagnostics == "data type error (at PID-7.1)");
  // Nothing known about where.
  const issue n = to_issue(hearth::error{"too-costly", "the document is too large", "", hearth::error::npos});
  CHECK(n.diagnostics == "the document is too large");
  CHECK(n.expression.empty());
  // No message either: diagnostics hold only the place.
  CHECK(to_issue(hearth::error{"invalid", "", "", 7}).diagnostics == "(byte offset 7)");
}

TEST_CASE("outcome: a real parse failure becomes a valid OperationOutcome") {
  const auto r = parse_json(R"({"resourceType":"Patient","name":[{"given":["a","a"],"given":["b"]}]})");
  REQUIRE_FALSE(r);
  const json_value o = to_operation_outcome(r.error());
  const json_value& first = o.find("issue")->items()[0];
  CHECK(first.find("severity")->str() == "error");
  CHECK(first.find("code")->str() == r.error().code);
  CHECK(first.find("expression") == nullptr);
  check_valid(o);
}
