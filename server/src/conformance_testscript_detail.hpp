#pragma once
// Private to the TestScript engine (conformance_testscript*.cpp): the
// TestScript as the engine holds it after loading and checking it, and the
// helpers the loader and the runner share. Plain values; no thread-safety
// concerns (one run owns its script).

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/server/conformance/http_client.hpp>

namespace hearth::server::conformance::detail {

/// What a script or a test needs from the run (the conformance-requires
/// extension, tests/conformance/TESTSCRIPT.md).
enum class requirement { none, credentials, client_credentials, audit };

/// FHIR R4 valueset-assert-operator-codes.
enum class assert_operator {
  equals,
  not_equals,
  in,
  not_in,
  greater_than,
  less_than,
  empty,
  not_empty,
  contains,
  not_contains,
  eval
};

/// The one thing an assert checks (R4 TestScript invariants tst-5/tst-6:
/// one of them per assert).
enum class assert_kind { response, response_code, content_type, header_field, resource, expression, navigation_links };

/// TestScript.fixture.
struct fixture_def {
  std::string id;
  bool autocreate = false;
  bool autodelete = false;
  /// The resource as written (JSON, or XML when `xml`), before ${...} substitution.
  std::string text;
  bool xml = false;
};

/// TestScript.variable.
struct variable_def {
  std::string name;
  std::optional<std::string> default_value;
  std::string expression;    ///< FHIRPath; empty when not given
  std::string header_field;  ///< empty when not given
  std::string source_id;     ///< empty: the last response
  std::string hint;
};

/// TestScript.setup.action.operation (and test, teardown).
struct operation_def {
  std::string type;  ///< testscript-operation-codes code; empty when not given
  std::string resource, label, description;
  std::string accept, content_type;  ///< as written; empty when not given
  bool encode_url = true;
  std::string method;  ///< lower case; empty: from `type`
  std::string params, url;
  std::vector<std::pair<std::string, std::string>> request_headers;
  std::string request_id, response_id, source_id, target_id;
  /// The conformance-retry extension (TESTSCRIPT.md): for this long, an
  /// assert after this operation that fails sends the operation again and
  /// checks the asserts after it again, for servers that make some results
  /// visible a moment after answering (an audit trail written
  /// asynchronously). 0: no retry.
  unsigned retry_seconds = 0;
};

/// TestScript.setup.action.assert (and test).
struct assert_def {
  std::string label, description;
  assert_kind kind = assert_kind::response;
  std::string response;          ///< kind response: the code name ("okay")
  unsigned response_status = 0;  ///< kind response: its status
  std::string response_code;     ///< kind response_code
  std::string content_type;      ///< kind content_type
  std::string header_field;      ///< kind header_field
  std::string resource;          ///< kind resource
  std::string expression;        ///< kind expression
  bool navigation_links = true;  ///< kind navigation_links
  std::string compare_source_id, compare_source_expression;
  std::optional<assert_operator> op;  ///< as written; nullopt: not given
  std::optional<std::string> value;
  std::string source_id;  ///< empty: the last response
  bool warning_only = false;
};

/// One action: an operation or an assert (R4 tst-1/tst-2: not both).
struct action_def {
  bool is_operation = true;
  operation_def operation;
  assert_def assertion;
};

/// TestScript.test.
struct test_def {
  std::string name, description;
  std::vector<requirement> requires_;
  std::vector<action_def> actions;
};

/// A TestScript ready to run: everything the engine does not support has
/// been refused while loading it.
struct script {
  std::string name, title, description;
  std::vector<requirement> requires_;
  std::vector<fixture_def> fixtures;
  std::vector<variable_def> variables;
  std::vector<action_def> setup;
  std::vector<test_def> tests;
  std::vector<action_def> teardown;
};

/// The outcome of loading a script: the script, or why it cannot run, with
/// the names of the tests that could be read (reported failed).
struct load_outcome {
  std::optional<script> loaded;
  std::string error;
  std::string name;  ///< TestScript.name when known
  std::string description;
  std::vector<std::pair<std::string, std::string>> test_names;  ///< (name, description)
};

/// Parses and checks a TestScript given as JSON text; `folder` is where
/// fixture files are read from.
load_outcome load_script(std::string_view json_text, const std::filesystem::path& folder);

/// "okay" -> 200, ... (R4 valueset-assert-response-code-types); 0 when unknown.
unsigned response_code_status(std::string_view name) noexcept;

/// "equals", ... as written in FHIR.
const char* to_string(assert_operator op) noexcept;

/// The ${name} references in `text`, in order (without the ${ }); a `${`
/// with no closing brace is not a reference.
std::vector<std::string> references_in(std::string_view text);

/// The request as text for a report: request line, headers (Authorization
/// credentials redacted), a blank line and the body (cut past 8 KiB).
std::string render_request(const client_request& req);
/// The response as text for a report, likewise.
std::string render_response(const client_response& resp);

/// A media type without parameters, lower case, trimmed ("application/fhir+json").
std::string media_type(std::string_view content_type);

}  // namespace hearth::server::conformance::detail
