#pragma once
// The FHIR R4 RESTful API (http.html) over the store: one request in, one
// response out. No sockets here: the listener (http_listener.hpp) reads and
// writes HTTP, the request pipeline (request_pipeline.hpp) runs the stages
// every request passes (request id, limits, authorisation, audit), and
// fhir_api answers the FHIR interactions themselves.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <hearth/fhir/definitions.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/store/audit_log.hpp>
#include <hearth/store/indexer.hpp>
#include <hearth/store/resource_store.hpp>
#include <hearth/store/search_request.hpp>

namespace hearth::server {

class validation_support;  // validation_support.hpp

struct api_options {
  /// The server's base URL, no trailing slash ("http://127.0.0.1:8080"):
  /// Location headers, Bundle.entry.fullUrl and Bundle links start with it.
  /// Configured (or derived from the bound address), never taken from the
  /// request's Host header.
  std::string base_url = "http://localhost:8080";
  /// Search handling when the request has no Prefer: handling=... (R4
  /// search.html#errors leaves the default to the server).
  store::search_handling default_handling = store::search_handling::lenient;
  /// GET /metadata (R4 http.html#capabilities): the CapabilityStatement
  /// (capability.hpp) as JSON text, built once at start-up; served in the
  /// negotiated format like any resource. Empty: /metadata is 404.
  std::string capability_json;
  /// The 32-byte key that seals the cursors of next links (rest_cursor.hpp):
  /// `hearth serve` passes the database's shared secret
  /// (store::database::shared_secret), so that a next link opens after a
  /// restart and on every process sharing the database. Empty (or any other
  /// size): a key drawn once per process.
  std::string cursor_key;
  /// SMART on FHIR scope enforcement (issue 6; SMART App Launch 2.2
  /// scopes-and-launch-context; SECURITY.md): every interaction is checked
  /// against http_request::principal, and a request without one is refused
  /// (401, OperationOutcome "login"; GET /metadata excepted). The pipeline
  /// normally stops such a request earlier: this is the fail-closed
  /// backstop. false (`--insecure-no-auth`): nothing is checked, except that
  /// AuditEvents are never written through the API.
  bool enforce_authorization = true;
  /// Work committed with every REST write (create, update, update-as-create,
  /// patch, delete, their conditional forms, $meta-add/$meta-delete, each
  /// write of a transaction Bundle), inside the write's transaction, after
  /// it (store::write_hook): the AuditEvent that records it. Called once per
  /// request that writes (once per transaction Bundle, whose hook then runs
  /// after each entry's write with that entry's outcome), on a worker
  /// thread: must be thread-safe. An error from the hook rolls the write
  /// back and fails the request. Empty, or returning an empty hook: none.
  std::function<store::write_hook(const http_request&)> make_write_hook;
  /// The indexer the checks evaluate a resource's compartment membership
  /// and granular filters with: the store's (it must be built from the same
  /// definitions). Null: fhir_api builds one the first time a check needs it.
  const store::indexer* indexer = nullptr;
  /// Name, in each read and vread answer (http_response::audit_patient_ids),
  /// the patients whose compartment the resource is in, for the AuditEvent
  /// (IHE BALP PatientRead). Needs `indexer`. Off: the reads cost nothing
  /// more (no trail to tell).
  bool audit_patients = false;
  /// The AuditEvent trail (audit_trail::log()): GET [base]/AuditEvent/[id],
  /// GET [base]/AuditEvent?... and POST [base]/AuditEvent/_search are
  /// answered from it (rest_audit.hpp), after the scope check (only an
  /// explicit AuditEvent scope reads it, rest_auth.hpp). Its history and
  /// vread are 404 "not-supported" (an AuditEvent has one version, read
  /// answers ETag W/"1"; the CapabilityStatement offers read and
  /// search-type only). Null: AuditEvent is served from the resource tables
  /// like any type (tests and tools without a trail). Must outlive the API.
  const store::audit_log* audit_log = nullptr;
  /// Called before a read or search of `audit_log` is answered: appends the
  /// events still waiting in the trail's batch window (audit_trail::flush),
  /// so that the trail shows every request answered before this one. May
  /// be empty (nothing waits).
  std::function<void()> audit_catch_up;
  /// The terminology registry and the profile validator (issue 8): the
  /// terminology operations (rest_terminology.hpp), $validate against
  /// profiles and bindings, and the validation of writes its policy asks
  /// for (validation_support.hpp). Null: the terminology operations are 501,
  /// $validate runs the structural check only, writes are not validated
  /// beyond it. Must outlive the API.
  const validation_support* validation = nullptr;
};

/// The path of a base URL, no trailing slash ("http://h:8080/fhir" ->
/// "/fhir", "http://h:8080" -> ""): a request target starting with it has it
/// removed before routing.
std::string base_path_of(std::string_view base_url);

/// Thread-safety: handle() may be called from many threads at once (the
/// worker pool); it holds no mutable state of its own.
class fhir_api {
 public:
  fhir_api(store::resource_store& store, const fhir::definitions& defs, api_options opts);
  ~fhir_api();
  fhir_api(const fhir_api&) = delete;
  fhir_api& operator=(const fhir_api&) = delete;

  /// Answers one FHIR request. Never throws; every failure is an
  /// OperationOutcome with the status http.html gives it.
  http_response handle(const http_request& req) const;

  const api_options& options() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::server
