#pragma once
// Structural checks of a FHIR JSON resource against the R4 definitions: what
// a REST create or update runs before it stores anything.
//
// FHIR R4 json.html, datatypes.html (primitive formats), formats.html#choice,
// references.html#contained, narrative.html, operationoutcome.html.

#include <cstddef>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/operation_outcome.hpp>

namespace hearth::fhir {

/// What to check and how far to go.
struct check_options {
  /// A property the definitions do not know is an error by default (R4
  /// json.html: unknown properties are not valid FHIR). When set, it is a
  /// warning instead, still listed, and its content is not checked.
  bool allow_unknown_elements = false;
  /// Most issues listed. A hostile Bundle can hold millions of faults; past
  /// this many the rest are counted, not listed, and one last issue says how
  /// many were left out, with the severity of the worst of them (so
  /// has_errors() stays true when an unlisted issue is an error). 100 is more
  /// than a person reads and keeps an OperationOutcome small.
  std::size_t max_issues = 100;
  /// Deepest nesting of JSON objects and arrays looked at, the root object
  /// being 1. The check recurses once per level: the limit keeps the stack
  /// bounded for a json_value built by code, whose depth no parser limited.
  /// It equals json_read_options::max_depth, so everything parse_json
  /// accepts is checked in full; deeper content is one "too-costly" error.
  /// Raising it raises the stack the check may use.
  std::size_t max_depth = 128;
  /// The invariants the validator (hearth::profiles) evaluates itself, with
  /// the severities the profiles give them: the XHTML rules of
  /// Narrative.div, txt-1 (an error) and txt-2 (a warning here: official R4
  /// examples have empty divs), with check_narrative (narrative_check.hpp);
  /// dom-4 and dom-5 (a contained resource has no versionId, lastUpdated or
  /// security label); ext-1 (an extension has a value or extensions, not
  /// both). The validator turns them off so that none is reported twice;
  /// ele-1, dom-2 and dom-3 are always checked here (the validator leaves
  /// them to this check).
  bool validator_invariants = true;
};

/// Checks `resource`, a FHIR resource in its JSON form (as parse_json or
/// parse_fhir_xml give it), against the R4 definitions in `defs`, and returns
/// every issue found (up to opts.max_issues), each with a FHIRPath
/// expression ("Patient.name[0].given[1]") and a message that never quotes
/// the input. The resource is acceptable when has_errors() is false.
///
/// What is checked:
/// - resourceType: present, a string, a concrete R4 resource type (not
///   Resource or DomainResource);
/// - every property is an element of its parent in the definitions, through
///   data types, backbone elements, content references (Questionnaire.item.item)
///   and choice types ("valueQuantity"; not "value" or "valueFoo"), at most
///   one type per choice;
/// - a repeating element (max > 1) is an array, any other is not; no more
///   items than max; elements with min >= 1 present ("required");
/// - FHIR JSON rules for values built by code: no empty objects, arrays or
///   strings, null only in primitive arrays where `_name` has an entry
///   (R4 json.html);
/// - each primitive has its JSON kind (boolean, number, string) and the
///   lexical form of R4 datatypes.html: integer, positiveInt, unsignedInt
///   whole numbers within their 32-bit range, decimal, date, dateTime,
///   instant and time (valid dates: no 30 February), id, code, oid, uuid,
///   uri/url/canonical, base64Binary, string (at most 1,048,576 characters;
///   a warning for only whitespace or for control characters, both SHOULDs);
/// - `_name` properties (primitive ids and extensions): only for a primitive
///   element, an object, or for a repeating one an array as long as the
///   values with null where an occurrence has none (never null in both);
///   holding only id and extension; not for Element.id or Extension.url,
///   which are XML attributes;
/// - every object but a resource has more than an id (ele-1);
/// - contained resources, Bundle.entry.resource and Parameters.parameter.resource
///   are checked as resources; a contained resource holds no contained
///   resources (dom-2) and is referenced from its container or refers to it
///   with "#" (dom-3, so one without an id must refer to its container);
/// - Narrative.div is a string beginning with a <div> element.
///
/// Not checked here: the XHTML content of Narrative.div (txt-1, txt-2: allowed
/// elements and attributes) and the other invariants (ele-1 aside), terminology
/// bindings, profiles, reference targets, and whether a Reference points to an
/// allowed resource type — the profiles and terminology modules do that.
///
/// Thread-safety: a pure function; `resource` and `defs` are only read, and the
/// result refers to neither.
issue_list check_resource(const json_value& resource, const definitions& defs, const check_options& opts = {});

}  // namespace hearth::fhir
