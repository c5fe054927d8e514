#pragma once
// Reading a FHIR resource in its XML form (R4 xml.html) into its JSON form
// (R4 json.html), driven by the definitions registry, with limits for
// untrusted input.

#include <cstddef>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>

namespace hearth::fhir {

/// Limits for one XML document. Each bounds the memory or time one document
/// may take; exceeding one is an error, never a truncation or a crash.
struct xml_read_options {
  /// Largest document. 64 MiB, as for JSON (json_read_options::max_bytes): a
  /// Bundle of a few thousand resources fits; the REST layer sets its own,
  /// smaller, body limit.
  std::size_t max_bytes = 64u << 20;
  /// Deepest nesting of XML elements, XHTML inside Narrative.div included.
  /// The conversion recurses once per element: the limit keeps the stack
  /// bounded. XML nests deeper than JSON (a primitive is an element of its
  /// own, a narrative table adds 4 to 6 levels); the official R4 examples stay
  /// well under 40, so 256 leaves room for deep Questionnaires and contained
  /// resources.
  std::size_t max_depth = 256;
};

/// Converts one FHIR XML resource to FHIR JSON: an object with
/// "resourceType" first, then the elements in document order, each repeating
/// element (max > 1) an array, primitives as JSON numbers, booleans or strings
/// as their type requires (numbers keep their text), primitive ids and
/// extensions as `_name` properties (arrays aligned with the values, null
/// where a repetition has none), contained resources as objects with their
/// resourceType and Narrative.div kept verbatim as a string.
///
/// The root must be a resource type in the namespace http://hl7.org/fhir;
/// every element is resolved through `defs`. A DOCTYPE or ENTITY declaration
/// is always rejected (no DTD is ever processed), and so is any entity
/// reference other than the five predefined ones and character references.
///
/// Errors carry an OperationOutcome issue type as code ("structure" for XML
/// that is not well formed or not FHIR XML, "invalid" for a value that breaks
/// its type, "too-costly" for a limit), a message that never quotes the
/// input, the element path as location ("Patient.name[1].given[0]") and a
/// byte offset where known.
///
/// Thread-safety: a pure function; `defs` is only read.
hearth::result<json_value> parse_fhir_xml(std::string_view xml, const definitions& defs,
                                          const xml_read_options& opts = {});

}  // namespace hearth::fhir
