#pragma once
// Error answers of the FHIR REST API: an OperationOutcome with the status
// R4 http.html gives the failure. Private to fhir_api. Pure; thread-safe.

#include <span>
#include <string>
#include <string_view>

#include <hearth/core/error.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/server/http_message.hpp>

#include "rest_format.hpp"

namespace hearth::server::rest {

/// The HTTP status of a store error code (store/error_codes.hpp), for a
/// request that carried no If-Match: not-found 404, deleted 410, conflict
/// 409, invalid / too-costly / not-supported 400, forbidden (the
/// authorisation checks' own, rest_auth.hpp) 403, anything else 500.
int status_of_store_error(std::string_view code) noexcept;

/// A response carrying `issues` as an OperationOutcome in `fmt` (JSON when
/// writing XML fails: an outcome must always get out).
http_response outcome_response(int status, std::span<const fhir::issue> issues, const response_format& fmt,
                               const fhir::definitions& defs);

/// One error issue: `code` an IssueType code, `diagnostics` a message that
/// quotes no input.
http_response error_response(int status, std::string code, std::string diagnostics, const response_format& fmt,
                             const fhir::definitions& defs);

/// A parser's or the store's error with the given status. The error's
/// message is kept (messages never quote input, core/error.hpp), except for
/// 500, whose details stay inside (internal_error).
http_response error_response(int status, const hearth::error& e, const response_format& fmt,
                             const fhir::definitions& defs);

/// 500: "internal error" and the request's correlation id, nothing else
/// (CONVENTIONS.md: details go to the log, never to the client).
http_response internal_error(std::string_view request_id, const response_format& fmt,
                             const fhir::definitions& defs);

}  // namespace hearth::server::rest
