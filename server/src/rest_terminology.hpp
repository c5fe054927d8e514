#pragma once
// The FHIR R4 terminology operations behind rest_operations' router (issue 8):
// ValueSet/$expand, ValueSet/$validate-code, CodeSystem/$lookup,
// CodeSystem/$validate-code, CodeSystem/$subsumes, ConceptMap/$translate,
// at the type level (GET with the parameters in the URL, or POST with a
// Parameters body) and at the instance level on a stored resource
// ([type]/[id]/$op). Answered by the terminology registry
// (api_options::validation); private to fhir_api.
//
// Which code systems, value sets and concept maps are used: the official R4
// ones (the registry), then those stored through the API, found by their
// canonical URL (a search `[type]?url=...`) when the token may search or
// read that type without restriction (rest_auth.hpp: a patient-level or
// granular grant does not open stored terminology resources to canonical
// lookups, which cannot be filtered; the registry's own content is public
// reference data, as /metadata is). The instance level reads the resource
// as a read does (404 for what the token may not read).
//
// The same resolver also answers for stored StructureDefinitions (profiles
// for $validate, meta.profile and write validation; validation_support.hpp),
// and $expand's `context` is resolved to the value set bound at that element.
//
// Errors: a malformed request 400 (OperationOutcome "invalid"), as is any
// error located at an in-parameter (an unsupported `date`, a
// check-system-version mismatch: "business-rule"); an unknown value set,
// code system or concept map 404 ("not-found"); content Hearth does not hold
// or an expansion beyond the limits 422 ("not-supported", "too-costly"). The
// terminology registry not configured: 501.
//
// Thread-safety and lifetime: as rest_interactions.hpp.

#include <optional>
#include <string_view>

#include <hearth/core/result.hpp>

#include <hearth/server/http_message.hpp>
#include <hearth/terminology/resolver.hpp>

#include "rest_interactions.hpp"

namespace hearth::server::rest {

/// The stored CodeSystems, ValueSets and ConceptMaps, by canonical URL, as
/// the token may see them (above): for the operations, and for the bindings
/// $validate and write validation check. Refers to `c`, which must outlive it.
terminology::resolver terminology_resolver(const context& c);

/// The token search modifiers that need terminology (R4 search.html#token):
/// `name:in=VS` and `name:not-in=VS` (a value set's canonical, registry or
/// stored), `name:below=system|code` and `name:above=system|code`
/// (subsumption in the code system's hierarchy: the code and its
/// descendants, or the code and its ancestors). Each is rewritten in
/// `params` into what the store searches by: `name=s|c1,s|c2,...` (one
/// criterion, an OR) for :in, :below, :above, and one `name:not=s|c` per
/// code for :not-in (an AND of negations). A comma list of value sets or
/// codes is their union. Other parameters are left as they are. Errors
/// ("invalid" 400, "too-costly"): an unknown value set or code system, a
/// :below/:above value without a system, an expansion larger than a
/// criterion may hold (store::search_request::max_values codes), the
/// terminology registry not configured ("not-supported").
hearth::result<void> resolve_terminology_modifiers(const context& c, std::string_view type, param_list& params);

/// True for the six operations on their types: ("ValueSet", "expand"), ...
bool is_terminology_operation(std::string_view type, std::string_view name) noexcept;

/// Answers one of them. `id` is empty at the type level.
http_response terminology_operation(const context& c, std::string_view type, std::string_view id,
                                    std::string_view name);

}  // namespace hearth::server::rest
