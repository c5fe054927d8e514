#pragma once
// Writing a FHIR resource held in its JSON form (R4 json.html) in its XML form
// (R4 xml.html), driven by the definitions registry: the inverse of
// parse_fhir_xml.

#include <cstddef>
#include <string>

#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>

namespace hearth::fhir {

/// How to write.
struct xml_write_options {
  /// One element per line, nested elements indented (FHIR `_pretty=true`);
  /// everything on one line otherwise. The narrative div is written as it is
  /// either way: its whitespace is content.
  bool pretty = false;
  /// Spaces per nesting level when `pretty`.
  std::size_t indent = 2;
  /// Start with `<?xml version="1.0" encoding="UTF-8"?>` (and a line break
  /// when `pretty`).
  bool declaration = true;
  /// Deepest nesting of XML elements, counted as xml_read_options::max_depth
  /// counts it (the root is 1; the XHTML inside Narrative.div included). The
  /// writer recurses once per element, so the limit bounds the stack even
  /// for a json_value built by code (parse_json limits JSON nesting, but
  /// nothing else does). 256, the reader's default, so that whatever this
  /// writes parse_fhir_xml reads back with its default options.
  std::size_t max_depth = 256;
};

/// Writes one FHIR JSON resource as FHIR XML: the root element named after
/// `resourceType` in the namespace http://hl7.org/fhir; elements in the order
/// of the definitions (a choice element under its JSON name, valueQuantity);
/// primitives as `value` attributes (numbers as their exact text, booleans as
/// true/false, text XML-escaped, tab, line feed and carriage return as
/// character references); a primitive's `_name` object (or array, aligned by
/// index with the values, null where an occurrence has none) as its `id`
/// attribute and `extension` children; Element.id and Extension.url as
/// attributes; resources inside resources (contained, Bundle.entry.resource,
/// Parameters.parameter.resource, any element of type Resource) wrapped in
/// their element; Narrative.div inserted verbatim once it has been checked to
/// be a well-formed XHTML `div` element (namespace
/// http://www.w3.org/1999/xhtml, no DTD, only the predefined entities).
///
/// For every resource parse_fhir_xml accepts, parse_fhir_xml(write_fhir_xml(j))
/// == j, except that member order follows the definitions, a Narrative.div
/// comes back as pugixml serialises it, and the nulls that only pad a value
/// array or its `_name` array come back as the reader aligns them (a value
/// array and its `_name` array may differ in length: missing items count as
/// null; an array of nulls only is dropped). Whatever this writes,
/// parse_fhir_xml reads back (within its size limit): every value is checked
/// as the reader checks it. An element whose type is a single resource type
/// (Bundle.entry.response.outcome: OperationOutcome in the registry's bundle,
/// Resource in the R4 text) is written wrapped, as R4 xml.html requires.
///
/// Errors (nothing is written then) carry an OperationOutcome issue type as
/// code: "structure" for JSON that does not match the definitions (no or an
/// unknown resourceType, an unknown property, an array where one value is
/// allowed or the reverse, an object where a primitive belongs, two types of
/// one choice element, a resource of a type its element does not allow),
/// "invalid" for a value that breaks its type or cannot be XML (wrong JSON
/// kind of a primitive, an empty string, array or object, a number that is
/// not an integer where one is needed, a character XML 1.0 does not allow,
/// invalid UTF-8, a narrative div that is not well-formed XHTML, a primitive
/// with neither value nor extension, an extension without url),
/// "too-costly" for the depth limit (and a narrative div declaring more than
/// 32 namespaces); a message that never quotes the input; and the element
/// path as location ("Patient.name[1].given[0]"). The offset is always npos.
///
/// Thread-safety: a pure function; `resource` and `defs` are only read.
hearth::result<std::string> write_fhir_xml(const json_value& resource, const definitions& defs,
                                           const xml_write_options& opts = {});

}  // namespace hearth::fhir
