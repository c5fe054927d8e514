#pragma once
// R4 `Parameters` resources in and out of the terminology operations, named
// exactly as the R4 OperationDefinitions name their parameters, so that the
// REST layer only moves JSON.
//
// Reading: a GET request's query string can be turned into a Parameters
// resource with one `valueString` per query parameter; every reader here
// accepts any primitive value[x] (valueString, valueUri, valueCode,
// valueInteger, valueBoolean...) for a primitive in-parameter, so that works.
// The requests they return point into the Parameters resource given (for
// `valueSet`, `codeSystem`, `conceptMap` given as `resource`): it must outlive
// the request. Unknown parameters are ignored; a malformed one is an error
// with code "invalid" and location "Parameters.parameter[i]", one Hearth
// cannot honour (see each reader) an error "not-supported" with that location.
//
// Pure functions; no shared state.

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/terminology/operations.hpp>

namespace hearth::terminology {

// --- in: Parameters -> request ---------------------------------------------

/// ValueSet/$expand: url, valueSet, valueSetVersion, filter, offset, count,
/// activeOnly, includeDesignations, excludeNested, includeDefinition,
/// exclude-system, system-version, check-system-version,
/// force-system-version (each "system|version"; the version required but for
/// exclude-system), displayLanguage, designation (tokens), context,
/// contextDirection ("incoming" / "outgoing", only with a context). `date`
/// is an error "not-supported" at its parameter: R4 asks for the definitions
/// as they were on that date "or an error if this is not possible", and
/// Hearth holds the current ones only.
hearth::result<expand_request> parse_expand_parameters(const fhir::json_value& parameters);
/// ValueSet/$validate-code: url, valueSet, valueSetVersion, code, system,
/// systemVersion, display, coding, codeableConcept, abstract.
hearth::result<validate_request> parse_value_set_validate_parameters(const fhir::json_value& parameters);
/// CodeSystem/$validate-code: url, codeSystem, code, version, display,
/// coding, codeableConcept, abstract (and `system`, which clients send for url).
hearth::result<validate_request> parse_code_system_validate_parameters(const fhir::json_value& parameters);
/// CodeSystem/$lookup: code, system, version, coding, property.
hearth::result<lookup_request> parse_lookup_parameters(const fhir::json_value& parameters);
/// CodeSystem/$subsumes: codeA, codeB, system, version, codingA, codingB.
hearth::result<subsumes_request> parse_subsumes_parameters(const fhir::json_value& parameters);
/// ConceptMap/$translate: url, conceptMap, conceptMapVersion (appended to
/// url as "|version"), code, system, version, source, coding,
/// codeableConcept, target, targetsystem, reverse. `dependency` is not read
/// (dependsOn conditions are not evaluated: every target is a match).
hearth::result<translate_request> parse_translate_parameters(const fhir::json_value& parameters);

// --- out: result -> Parameters -----------------------------------------------
// ($expand returns the ValueSet itself: no Parameters.)

/// $validate-code: result (boolean), message (string, when any finding),
/// display (string, when known).
fhir::json_value to_parameters(const validate_result& r);
/// $lookup: name, version, display, designation (language, use, value),
/// property (code, value[x], description). `definition` is reported as a
/// property "definition" (valueString) when present, as HAPI does.
fhir::json_value to_parameters(const lookup_result& r);
/// $subsumes: outcome (code).
fhir::json_value to_parameters(subsumption s);
/// $translate: result (boolean), message (string, when any), match (part:
/// equivalence (code), concept (Coding), source (uri)).
fhir::json_value to_parameters(const translate_result& r);

// --- helpers -------------------------------------------------------------------

/// A FHIR Coding JSON object -> coding (system, version, code, display).
/// Errors: "invalid" when it is not an object or a member has the wrong type.
hearth::result<coding> coding_from_json(const fhir::json_value& coding_json);
/// A FHIR CodeableConcept JSON object -> its codings (possibly none).
hearth::result<std::vector<coding>> codings_from_codeable_concept(const fhir::json_value& cc_json);
/// coding -> a FHIR Coding JSON object (empty members left out).
fhir::json_value to_json(const coding& c);

}  // namespace hearth::terminology
