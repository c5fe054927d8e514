#pragma once
// What a reference's text points at, split for the reference index and for
// reference search values (FHIR R4 references.html, search.html#reference).
//
// Forms (R4 references.html#literal, #canonical, #contained):
// - relative "Patient/123", "Patient/123/_history/2": a known resource type
//   and an id ([A-Za-z0-9\-\.]{1,64}, datatypes.html#id), with a version;
// - absolute "http://example.org/fhir/Patient/123", "urn:uuid:...": the URL
//   as written; when it ends in Type/id[/_history/v] with a known type (a
//   RESTful URL) the type, id and version as well, so that the query side can
//   compare its own base URL and match it like a relative reference;
// - contained "#p1": the local id (never a resource of its own on the
//   server: ordinary reference searches must not match it);
// - canonical "http://hl7.org/fhir/ValueSet/x|4.0.1": url and version split
//   at the last '|' (search.html#versions); type and id stay empty, because a
//   canonical names a resource by its `url` element, not by its id;
// - anything else (a bare "123", a conditional "Patient?identifier=..."
//   left unresolved): kind other, url = the text.
//
// Pure; thread-safe. The definitions are read only to know resource types.

#include <cstdint>
#include <string>
#include <string_view>

#include <hearth/fhir/definitions.hpp>

namespace hearth::store {

/// The form of a reference (see above).
enum class reference_kind : std::uint8_t {
  relative,    ///< "Type/id[/_history/v]": type, id, version
  absolute,    ///< absolute URL or URN: url; type, id, version when RESTful
  contained,   ///< "#id": id; the indexer sets type from the contained resource
  canonical,   ///< canonical or uri: url, version (after '|')
  identifier,  ///< Reference.identifier only (a logical reference); see reference_entry
  other,       ///< none of the above: url = the text
};

/// "relative", "absolute", "contained", "canonical", "identifier", "other".
std::string_view to_string(reference_kind k) noexcept;

/// The parts of a reference. Fields a form does not have are empty. Value type.
struct reference_target {
  reference_kind kind = reference_kind::other;
  std::string type;     ///< resource type: "Patient"
  std::string id;       ///< logical id: "123"; for contained, the local id "p1"
  std::string version;  ///< "2" of ".../_history/2", "4.0.1" of "url|4.0.1"
  std::string url;      ///< absolute URL / canonical URL without version / "#p1" / other text
};

/// Splits Reference.reference text (relative, absolute, contained, other).
reference_target parse_reference(std::string_view text, const fhir::definitions& defs);

/// Splits a canonical (or a uri used as a reference) into url and version.
reference_target parse_canonical(std::string_view text);

}  // namespace hearth::store
