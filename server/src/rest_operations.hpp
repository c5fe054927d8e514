#pragma once
// FHIR R4 operations (operations.html) behind fhir_api's router: every path
// segment that starts with '$'. Private to fhir_api.
//
// Offered (R4 resource-operations.html, patient-operations.html):
// - $meta: GET or POST at [type]/[id] and [type]/[id]/_history/[vid]; at the
//   system and type levels 501 (the store has no index of the profiles,
//   tags and security labels in use, and collecting them would read every
//   resource).
// - $meta-add, $meta-delete: POST [type]/[id]/...
// - $validate: POST [type]/$validate and [type]/[id]/$validate.
// - $everything: GET (or POST without a body) Patient/[id]/$everything.
// Any other operation: 501 not-supported, as before operations existed.
//
// Thread-safety and lifetime: as rest_interactions.hpp (no state; the
// context outlives the call).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/fhir/json_value.hpp>

#include <hearth/server/http_message.hpp>

#include "rest_interactions.hpp"

namespace hearth::server::rest {

/// Answers an operation. `segments` are the routed path segments; the
/// operation is the one at index 0 ([base]/$name), 1 ([type]/$name), 2
/// ([type]/[id]/$name) or 4 ([type]/[id]/_history/[vid]/$name); the router
/// has checked the type ([type] levels) and the id ([id] levels). Any other
/// shape of path is 404.
http_response operation(const context& c, const std::vector<std::string>& segments);

// Shared by the operations (rest_operations.cpp defines them).

/// 405 with Allow.
http_response not_allowed(const context& c, std::string_view allow);
/// 400 with an OperationOutcome of one error issue.
http_response bad_request(const context& c, std::string code, std::string message);
/// A resource (Parameters, OperationOutcome, ValueSet) as the 200 of an operation.
http_response resource_200(const context& c, const fhir::json_value& r);
/// The body of a POST, read by its Content-Type (JSON or XML) into a JSON
/// object with a resourceType; nullopt and `error` set otherwise (415, 400).
std::optional<fhir::json_value> read_op_body(const context& c, http_response& error);
/// A string member, or "" when absent or not a string.
std::string_view string_at(const fhir::json_value& v, std::string_view key);

}  // namespace hearth::server::rest
