#include "rest_outcome.hpp"

#include <hearth/fhir/json_writer.hpp>
#include <hearth/store/error_codes.hpp>

namespace hearth::server::rest {

int status_of_store_error(std::string_view code) noexcept {
  namespace ec = store::error_codes;
  if (code == ec::not_found) return 404;
  if (code == ec::deleted) return 410;  // R4 http.html#delete
  if (code == ec::conflict) return 409;  // R4 http.html#concurrency; 412 when If-Match was sent
  if (code == ec::invalid || code == ec::too_costly || code == ec::not_supported) return 400;
  if (code == "forbidden") return 403;  // an authorisation check (rest_auth.hpp)
  return 500;  // "exception" and anything unforeseen
}

http_response outcome_response(int status, std::span<const fhir::issue> issues, const response_format& fmt,
                               const fhir::definitions& defs) {
  http_response res;
  res.status = status;
  const fhir::json_value oo = fhir::to_operation_outcome(issues);
  auto body = write_resource(oo, fmt, defs);
  wire_format f = fmt.format;
  if (!body) {
    f = wire_format::json;
    body = fhir::to_json(oo);
  }
  res.body = std::move(*body);
  res.set_header("Content-Type", content_type(f));
  return res;
}

http_response error_response(int status, std::string code, std::string diagnostics, const response_format& fmt,
                             const fhir::definitions& defs) {
  const fhir::issue i{fhir::issue_severity::error, std::move(code), std::move(diagnostics), {}};
  return outcome_response(status, std::span<const fhir::issue>(&i, 1), fmt, defs);
}

http_response error_response(int status, const hearth::error& e, const response_format& fmt,
                             const fhir::definitions& defs) {
  const fhir::issue i = fhir::to_issue(e);
  return outcome_response(status, std::span<const fhir::issue>(&i, 1), fmt, defs);
}

http_response internal_error(std::string_view request_id, const response_format& fmt,
                             const fhir::definitions& defs) {
  std::string msg = "internal error";
  if (!request_id.empty()) msg += " (correlation id " + std::string(request_id) + ")";
  return error_response(500, "exception", std::move(msg), fmt, defs);
}

}  // namespace hearth::server::rest
