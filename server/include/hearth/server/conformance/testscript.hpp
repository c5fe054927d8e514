#pragma once
// The FHIR TestScript engine of `hearth conformance` (issue 9): loads one
// TestScript resource (FHIR R4 testscript.html) from a JSON file and runs it
// against one FHIR server, giving one case_result per TestScript.test.
//
// The subset it runs is documented for suite authors in
// tests/conformance/TESTSCRIPT.md: fixtures (contained or files; autocreate
// and autodelete), variables (defaultValue, FHIRPath expression, headerField;
// ${runId} and ${token:SCOPES} predefined), the operations of
// testscript-operation-codes, and the asserts on responses (response,
// responseCode, contentType, headerField, resource, expression with
// compareToSourceId, navigationLinks; every operator; warningOnly). What it
// does not implement (XPath/JSONPath `path`, minimumId, validateProfileId,
// requestURL, requestMethod, request-direction asserts, modifier extensions)
// makes the script an error: never a silent pass.
//
// The network is behind `http_transport` (http_exchange in production, a
// fake in tests): this file and its sources see no Beast or Asio.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/server/conformance/http_client.hpp>
#include <hearth/server/conformance/report.hpp>

namespace hearth::fhir {
class definitions;
}

namespace hearth::server::conformance {

/// Sends one request and returns the response, or an error when no HTTP
/// response came back at all (connection refused, timeout, ...).
using http_transport = std::function<hearth::result<client_response>(const client_request&)>;

/// How one TestScript is run. Plain value; the callables are called from the
/// thread calling run_testscript only.
struct testscript_options {
  std::string fhir_base;  ///< e.g. "http://127.0.0.1:8080/fhir" (a trailing slash is ignored)
  http_transport http;    ///< how requests are sent (http_exchange in production, a fake in tests)
  std::string token;      ///< the run's bearer token; empty: none
  /// Tokens of chosen scopes (client_credentials grant); null when the run
  /// has no client credentials. Called once per distinct SCOPES of a
  /// ${token:SCOPES} per script.
  std::function<hearth::result<std::string>(std::string_view scopes)> token_for_scopes;
  /// Whether the server claims to audit (see the `audit` requirement); the
  /// CLI computes it once per run (capability_claims_audit).
  bool server_audits = false;
  std::string run_id;  ///< ${runId}
  /// Called before each test runs (or is skipped): suite name, test name,
  /// index (0-based), count.
  std::function<void(std::string_view, std::string_view, std::size_t, std::size_t)> progress;
  /// The FHIR R4 definitions: FHIRPath (assert and variable expressions)
  /// needs the types, and XML bodies are converted with them. Not owned; must
  /// outlive the call. Null: an action that needs them fails, saying so.
  const hearth::fhir::definitions* definitions = nullptr;
};

/// Loads and runs one TestScript file. Never throws for bad input: a file
/// that cannot be read or is not a usable TestScript gives a suite_result
/// whose `error` says why (name = the file stem), with every test it could
/// name reported failed. Fixture files named by a relative path are read
/// from the TestScript's folder.
suite_result run_testscript(const std::filesystem::path& file, const testscript_options& opts);

/// run_testscript on a TestScript given as JSON text; `file` is reported as
/// the source, and its folder is where fixture files are looked for.
suite_result run_testscript_text(std::string_view json_text, const std::filesystem::path& file,
                                 const testscript_options& opts);

/// Whether a CapabilityStatement (FHIR R4 JSON) lists, in a `rest` of mode
/// "server", the resource AuditEvent with the interaction `search-type`
/// (capabilitystatement.html, rest.resource.interaction). False for
/// anything else, malformed text included.
bool capability_claims_audit(std::string_view capability_statement_json);

}  // namespace hearth::server::conformance
