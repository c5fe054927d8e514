#pragma once
// The results of a `hearth conformance` run (issue 9), and the reports made
// from them: the summary table and failure details printed at the end, JUnit
// XML for CI systems, a self-contained HTML page for people, and JSON.
//
// The runners (testscript.hpp for FHIR TestScripts, mllp_suite.hpp for MLLP
// exchanges) each produce one suite_result per suite file; the command line
// (app/src/conformance_command.cpp) gathers them into a run_result.

#include <cstddef>
#include <string>
#include <vector>

namespace hearth::server::conformance {

enum class outcome { passed, failed, skipped };

/// "passed", "failed", "skipped".
const char* to_string(outcome o) noexcept;

/// One test of a suite: a TestScript `test`, or one MLLP case.
struct case_result {
  std::string name;
  std::string description;
  outcome status = outcome::passed;
  /// Failed: what went wrong in one line ("assert 3 (response code): ...").
  /// Skipped: why ("needs --client-id and --key").
  std::string message;
  /// Failed: what the failing check expected, and what it found.
  std::string expected, actual;
  /// The exchange the failing check looked at, as text: for HTTP the request
  /// line, headers (Authorization redacted to "Bearer ...") and body, and the
  /// status line, headers and body of the response; for MLLP the message
  /// sent and the ACK received (segments on lines of their own). Bodies
  /// longer than 8 KiB are cut, saying so. Empty when there was none.
  std::string request, response;
  double seconds = 0;
};

/// One suite: a TestScript or an MLLP suite file.
struct suite_result {
  std::string name;         ///< TestScript.name / the MLLP suite's name
  std::string description;  ///< one line
  std::string source;       ///< the file it came from, as given
  std::vector<case_result> cases;
  double seconds = 0;
  /// A suite that could not run at all (its file unreadable or malformed, its
  /// setup failing): why. Its cases are then reported failed or skipped.
  std::string error;

  std::size_t count(outcome o) const noexcept;
};

/// A whole run.
struct run_result {
  std::string fhir_base;  ///< --fhir, empty when not given
  std::string mllp;       ///< --mllp HOST:PORT, empty when not given
  std::string started;    ///< UTC instant, RFC 3339
  double seconds = 0;
  std::vector<suite_result> suites;

  std::size_t count(outcome o) const noexcept;
  /// True when any case failed or any suite has an error: the exit status is then 1.
  bool failed() const noexcept;
};

/// A fixed-width table, one row per suite (passed, failed, skipped, seconds)
/// and a total row, for the terminal.
std::string summary_table(const run_result& run);

/// Every failed case: suite, name, message, expected, actual, request and
/// response; empty when nothing failed.
std::string failure_details(const run_result& run);

/// JUnit XML (the de-facto schema Jenkins, GitLab and GitHub read): one
/// <testsuite> per suite, one <testcase> per case with <failure> or
/// <skipped>; the request and response in <system-out>. XML-escaped, and
/// characters XML 1.0 cannot hold replaced.
std::string to_junit_xml(const run_result& run);

/// One self-contained HTML page (inline CSS, no scripts, no external
/// resources): the summary, then every suite with its cases, failures open.
/// Everything from the run is HTML-escaped.
std::string to_html(const run_result& run);

/// The run as JSON: {"fhirBase", "mllp", "started", "seconds", "passed",
/// "failed", "skipped", "suites": [{"name", "description", "source",
/// "error", "seconds", "cases": [{"name", "description", "status",
/// "message", "expected", "actual", "request", "response", "seconds"}]}]}.
std::string to_json(const run_result& run);

}  // namespace hearth::server::conformance
