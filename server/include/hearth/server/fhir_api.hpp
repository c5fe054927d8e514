#pragma once
// The FHIR R4 RESTful API (http.html) over the store: one request in, one
// response out. No sockets here: the listener (http_listener.hpp) reads and
// writes HTTP, the request pipeline (request_pipeline.hpp) runs the stages
// every request passes (request id, limits, authorisation, audit), and
// fhir_api answers the FHIR interactions themselves.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <hearth/fhir/definitions.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/store/resource_store.hpp>
#include <hearth/store/search_request.hpp>

namespace hearth::server {

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
