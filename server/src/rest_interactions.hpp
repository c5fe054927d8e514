#pragma once
// The FHIR R4 interactions (http.html) behind fhir_api's router: one
// function per interaction, each taking the routed request and answering it.
// Private to fhir_api.
//
// Thread-safety: every function may run on many threads at once; they hold
// no state of their own. Lifetime: a context refers to the request, the
// store, the definitions and the options, all of which outlive the call.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <hearth/core/error.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/server/fhir_api.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/store/resource_store.hpp>
#include <hearth/store/search_request.hpp>

#include "rest_format.hpp"
#include "rest_target.hpp"

namespace hearth::server::rest {

class indexer_source;  // rest_auth.hpp

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
  /// The indexer of the authorisation checks (rest_auth.hpp); never null.
  const indexer_source* indexer = nullptr;
};

// R4 http.html#read, #vread.
http_response read(const context& c, const std::string& type, const std::string& id);
http_response vread(const context& c, const std::string& type, const std::string& id, const std::string& vid);
// R4 http.html#create (and #ccreate: If-None-Exist), #update, #delete.
http_response create(const context& c, const std::string& type);
http_response update(const context& c, const std::string& type, const std::string& id);
http_response remove(const context& c, const std::string& type, const std::string& id);
// R4 http.html#cond-update and #cdelete: PUT and DELETE [type]?[search]
// (rest_conditional.cpp).
http_response conditional_update(const context& c, const std::string& type);
http_response conditional_delete(const context& c, const std::string& type);
// R4 http.html#search: GET [type]?..., POST [type]/_search (`form` true), and
// the Patient compartment (`compartment` set).
http_response search(const context& c, const std::string& type, bool form,
                     const std::optional<store::search_compartment>& compartment);
// R4 http.html#history: instance (type and id), type (id empty), system (both empty).
http_response history(const context& c, const std::string& type, const std::string& id);

// Shared by the interactions (rest_read_write.cpp defines them).

/// ETag and Last-Modified of a version (R4 http.html#read).
void set_version_headers(http_response& res, const store::resource_version& v);
/// `base/Type/id/_history/vid`: the Location of a create (R4 http.html#create).
std::string location_of(const context& c, const store::resource_version& v);
/// A version with its body in the negotiated format, ETag and Last-Modified.
http_response resource_response(const context& c, int status, const store::resource_version& v);
/// The same with the body written already (a subset of the version, say):
/// 500 when writing it failed.
http_response versioned_response(const context& c, int status, const store::resource_version& v,
                                 hearth::result<std::string> body);
/// The answer to a create, update or patch as Prefer: return asks (R4
/// http.html#ops): the resource, nothing, or an OperationOutcome saying
/// `what`; Location when `status` is 201.
http_response write_response(const context& c, int status, const store::resource_version& v,
                             std::string_view what);
/// The answer to a delete that succeeded (R4 http.html#delete): 204, or 200
/// with an OperationOutcome when Prefer: return=OperationOutcome; the ETag of
/// the tombstone.
http_response delete_response(const context& c, const store::write_outcome& w);
/// The If-Match version; `bad` set when the header is there but malformed.
std::optional<std::int64_t> if_match_of(const context& c, bool& bad);

/// The body of a create or update, read (by Content-Type), typed against
/// `type` and checked (fhir::check_resource), then validated as the policy
/// of api_options::validation asks (validate_write): the resource, or the
/// error response to send (415, 400, 422).
struct body_or_error {
  std::optional<fhir::json_value> resource;
  http_response error;
  /// The counts validate_write gives a write that goes on (warn mode), for
  /// the answer's Hearth-Validation header; empty when not validated.
  std::string validation_note;
};
body_or_error read_resource_body(const context& c, const std::string& type);

/// The validation of a resource about to be written (create, update, patch),
/// as api_options::validation's policy asks for its type (issue 8): off,
/// nothing; warn and enforce, the profile validator with bindings
/// (validation_support::validate). Enforce: errors refuse the write with 422
/// and the OperationOutcome (R4 http.html#update "422 Unprocessable Entity:
/// the proposed resource violated applicable FHIR profiles"), returned in
/// `refusal`. Otherwise the result is a note for the Hearth-Validation
/// header ("errors=1, warnings=2"), empty when not validated. Counts only:
/// the issues themselves come from $validate.
struct write_validation {
  std::optional<http_response> refusal;
  std::string note;
  /// With a refusal: the first error found (a transaction entry's answer
  /// names it, as one entry's OperationOutcome cannot hold them all).
  std::optional<fhir::issue> first_error;
};
write_validation validate_write(const context& c, const fhir::json_value& resource);

/// `res` with the Hearth-Validation header when `note` is not empty.
http_response with_validation_note(http_response res, const std::string& note);

/// A write the store refused: "invalid"/"not-supported" are 422 (the body
/// passed the structural checks, so it is a business rule), the rest as
/// store_failure.
http_response write_failure(const context& c, const hearth::error& e, bool if_match);

/// What a conditional interaction's search found (R4 http.html#cond-update,
/// #ccreate, #cdelete): how many matches (0, 1, or 2 meaning "more than
/// one"), and the match when there is exactly one.
struct conditional_match {
  std::size_t count = 0;
  std::optional<store::resource_version> match;
};
/// The search of a conditional interaction, ready to run: `query` is the
/// part after '?' of a URL or an If-None-Exist value (a leading "Type?" is
/// skipped), parsed strictly (a criterion Hearth does not know is an error:
/// ignoring it would widen the match); _format and _pretty are not criteria.
/// It is a search with the token's grants (rest_auth.hpp): it needs s, and is
/// restricted to what the token can see (restrict_search). Errors: "invalid"
/// (nothing to search by, a bad parameter), "forbidden", parse_search's.
hearth::result<store::search_request> conditional_search(const context& c, const std::string& type,
                                                         std::string_view query);
/// Runs a conditional_search on the reader pool: what it finds now (a write
/// that follows must check again, or name the version found). Errors: the
/// store's.
hearth::result<conditional_match> run_conditional(const context& c, store::search_request req);
/// conditional_search, then run_conditional.
hearth::result<conditional_match> resolve_conditional(const context& c, const std::string& type,
                                                      std::string_view query);

/// The answer to a store (or parse_search) error: its status by
/// status_of_store_error, 412 for a conflict when the request carried
/// If-Match, and the 500 of internal_error for anything unexpected.
http_response store_failure(const context& c, const hearth::error& e, bool if_match = false);

}  // namespace hearth::server::rest
