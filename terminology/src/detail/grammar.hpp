#pragma once
// Code systems defined by a grammar rather than a list of concepts: their
// codes are checked by syntax, never enumerated.

#include <string_view>

#include "detail/model.hpp"

namespace hearth::terminology::detail {

inline constexpr std::string_view ucum_system = "http://unitsofmeasure.org";
inline constexpr std::string_view mime_system = "urn:ietf:bcp:13";
inline constexpr std::string_view language_system = "urn:ietf:bcp:47";

/// One of the three systems above.
bool is_grammar_system(std::string_view system) noexcept;

/// `code` is a valid code of the grammar system `system` (which must be one):
/// UCUM by fhir::ucum::parse(); MIME types by RFC 6838 section 4.2 (type "/"
/// subtype, restricted-name characters) with optional RFC 2045 parameters
/// (`; charset=UTF-8`); language tags by the RFC 5646 section 2.1 ABNF
/// (syntax only: subtags are not checked against the IANA registry).
bool grammar_accepts(std::string_view system, std::string_view code);

/// Codes of `system` compare case-insensitively: its CodeSystem says so
/// (caseSensitive false), or it is a grammar whose codes are (language tags,
/// RFC 5646 section 2.1.1; MIME types, RFC 2045 section 5.1). `cs` may be null.
bool codes_case_insensitive(const code_system* cs, std::string_view system) noexcept;

/// A short name for messages and $lookup: "UCUM", "MIME types", "Tags for the
/// Identification of Languages".
std::string_view grammar_name(std::string_view system) noexcept;

}  // namespace hearth::terminology::detail
