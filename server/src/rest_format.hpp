#pragma once
// Formats of the FHIR REST API (R4 http.html#mime-type, #parameters): which
// format a request body is in, which one the response is written in, and the
// conversions between the stored JSON and what goes on the wire. Private to
// fhir_api. Pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/store/resource_version.hpp>

namespace hearth::server::rest {

enum class wire_format : unsigned char { json, xml };

/// How a response is written.
struct response_format {
  wire_format format = wire_format::json;
  bool pretty = false;  ///< _pretty=true
};

/// "application/fhir+json; charset=utf-8" or "application/fhir+xml; charset=utf-8".
std::string content_type(wire_format f);

/// The format a `_format` value names (R4 http.html#parameters: json, xml,
/// and the MIME types; a '+' that arrived as a space, as form encoding turns
/// it, is read as '+'). nullopt for anything else (html, ttl: not served).
std::optional<wire_format> format_of_format_param(std::string_view value);

/// The format an Accept header asks for: the first media range Hearth serves,
/// in the order written (q-values are not weighed; a range with q=0 is
/// skipped), `*/*` and `application/*` meaning JSON. An absent or empty header
/// means JSON. nullopt when nothing in it is served (406).
std::optional<wire_format> format_of_accept(std::optional<std::string_view> accept);

/// The format of a request body by its Content-Type (application/fhir+json,
/// application/json, application/fhir+xml, application/xml, text/xml and the
/// DSTU2 forms application/json+fhir, application/xml+fhir; parameters such
/// as charset ignored). nullopt for anything else, or no header (415).
std::optional<wire_format> format_of_content_type(std::optional<std::string_view> content_type);

/// True when `content_type` is application/x-www-form-urlencoded (the body of
/// POST [type]/_search, R4 http.html#search).
bool is_form_content_type(std::optional<std::string_view> content_type);

/// Reads a request body in `f` into FHIR JSON. Errors: those of parse_json /
/// parse_fhir_xml (codes "structure", "invalid", "too-costly").
hearth::result<fhir::json_value> read_body(std::string_view body, wire_format f, const fhir::definitions& defs);

/// Writes a resource held as a JSON tree in format `fmt`. Errors: those of
/// write_fhir_xml (a stored resource should never fail; the caller answers
/// 500 if it does).
hearth::result<std::string> write_resource(const fhir::json_value& resource, const response_format& fmt,
                                           const fhir::definitions& defs);

/// Writes a resource held as stored JSON text: as is for compact JSON
/// (DESIGN.md "returned without re-serialising where possible"), through a
/// tree otherwise. Errors: the stored text does not parse, or XML fails.
hearth::result<std::string> write_stored(const std::string& json, const response_format& fmt,
                                         const fhir::definitions& defs);

/// `t` as an RFC 7231 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), for
/// Last-Modified (R4 http.html#read).
std::string http_date(store::instant t);

/// An IMF-fixdate (RFC 9110 5.6.7), as http_date writes it; nullopt for
/// anything else (the obsolete RFC 850 and asctime forms included: a
/// recipient ignores a date it cannot read, RFC 9110 13.1.3).
std::optional<store::instant> parse_http_date(std::string_view value);

/// The weak ETag of a version: W/"3" (R4 http.html#versioning).
std::string etag(std::int64_t version_id);

/// The version in an If-Match (or If-None-Match) value: W/"3", "3" or 3.
/// nullopt when it is none of these.
std::optional<std::int64_t> parse_etag(std::string_view value);

}  // namespace hearth::server::rest
