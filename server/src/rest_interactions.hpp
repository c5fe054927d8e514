#pragma once
// The FHIR R4 interactions (http.html) behind fhir_api's router: one
// function per interaction, each taking the routed request and answering it.
// Private to fhir_api.
//
// Thread-safety: every function may run on many threads at once; they hold
// no state of their own. Lifetime: a context refers to the request, the
// store, the definitions and the options, all of which outlive the call.

#include <optional>
#include <string>
#include <string_view>

#include <hearth/core/error.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/server/fhir_api.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/store/resource_store.hpp>
#include <hearth/store/search_request.hpp>

#include "rest_format.hpp"
#include "rest_target.hpp"

namespace hearth::server::rest {

/// Prefer: return=... (R4 http.html#ops): what a create or update answers with.
enum class return_preference : unsigned char { representation, minimal, outcome };

/// Everything an interaction needs to know about its request.
struct context {
  const http_request& req;
  store::resource_store& store;
  const fhir::definitions& defs;
  const api_options& opts;
  /// The query parameters of the URL, decoded, in order.
  const param_list& params;
  /// The negotiated response format (_format, Accept, _pretty).
  response_format fmt;
  /// Prefer: handling=..., or the configured default.
  store::search_handling handling = store::search_handling::lenient;
  return_preference return_pref = return_preference::representation;
};

// R4 http.html#read, #vread.
http_response read(const context& c, const std::string& type, const std::string& id);
http_response vread(const context& c, const std::string& type, const std::string& id, const std::string& vid);
// R4 http.html#create (and #ccreate: If-None-Exist), #update, #delete.
http_response create(const context& c, const std::string& type);
http_response update(const context& c, const std::string& type, const std::string& id);
http_response remove(const context& c, const std::string& type, const std::string& id);
// R4 http.html#search: GET [type]?..., POST [type]/_search (`form` true), and
// the Patient compartment (`compartment` set).
http_response search(const context& c, const std::string& type, bool form,
                     const std::optional<store::search_compartment>& compartment);
// R4 http.html#history: instance (type and id), type (id empty), system (both empty).
http_response history(const context& c, const std::string& type, const std::string& id);

/// The answer to a store (or parse_search) error: its status by
/// status_of_store_error, 412 for a conflict when the request carried
/// If-Match, and the 500 of internal_error for anything unexpected.
http_response store_failure(const context& c, const hearth::error& e, bool if_match = false);

}  // namespace hearth::server::rest
