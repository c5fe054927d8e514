#pragma once
// Subsetting of returned resources: _summary and _elements (R4
// search.html#summary, #elements), for read and vread (http.html#read), and
// for the resources of search, history and $everything Bundles. Private to
// fhir_api. Pure functions over their arguments; thread-safe.
//
// What each mode keeps:
// - _summary=true: the elements marked isSummary in the definitions (and any
//   with min >= 1) of the resource and of its backbone elements; the value
//   of a kept data type element whole, except Attachment.data
//   (ElementDefinition.isSummary: "Other than Attachment.data, all data
//   type properties are included in the summary form"). Resources inside a
//   kept element (Bundle.entry.resource...) are kept whole.
// - _summary=text: text, id, meta and the top-level elements with min >= 1.
// - _summary=data: everything but the top-level text.
// - _elements=a,b: those top-level elements, with id, meta and the
//   top-level elements with min >= 1 (search.html#elements: "Servers SHOULD
//   always return mandatory elements"). A choice element is named with or
//   without [x] ("value", "value[x]") or by its JSON name ("valueQuantity").
// resourceType is always kept, and a primitive's `_name` companion goes
// with its value.
//
// A resource from which something was removed gets the SUBSETTED tag in
// meta.tag (search.html#summary), next to the tags it has; one from which
// nothing was removed is complete and is returned as stored, untagged.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/store/resource_version.hpp>
#include <hearth/store/search_request.hpp>

#include "rest_bundle.hpp"
#include "rest_interactions.hpp"
#include "rest_target.hpp"

namespace hearth::server::rest {

/// meta.tag of a subsetted resource (R4 search.html#summary; v3
/// ObservationValue SUBSETTED).
inline constexpr std::string_view subsetted_system = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
inline constexpr std::string_view subsetted_code = "SUBSETTED";

/// What a request asks to be left out.
enum class subset_mode : unsigned char {
  none,          ///< no _summary (or _summary=false) and no _elements
  summary_true,  ///< _summary=true
  summary_text,  ///< _summary=text
  summary_data,  ///< _summary=data
  count,         ///< _summary=count: no resources at all (search only)
  elements,      ///< _elements
};

/// _summary and _elements of one request, checked.
struct subset_spec {
  subset_mode mode = subset_mode::none;
  /// The names of _elements (mode == elements), as given.
  std::vector<std::string> elements;

  /// True when resources are subsetted (count has none to subset).
  bool subsets() const noexcept { return mode != subset_mode::none && mode != subset_mode::count; }
};

/// Most names one _elements may list, and the longest name: the limits of
/// parse_search (search_request::max_values; no R4 element name comes near
/// 128 bytes), so that a read and a search accept the same _elements.
inline constexpr std::size_t max_element_names = store::search_request::max_values;
inline constexpr std::size_t max_element_name_bytes = 128;

/// Reads _summary and _elements from the parameters of a read, vread,
/// history or $everything (everything else is left alone). Errors
/// ("invalid"): a _summary value other than true, text, data, count or
/// false; either parameter repeated; an empty element name; _summary
/// true/text/data together with _elements (two contradictory subsets);
/// "too-costly" beyond max_element_names or max_element_name_bytes.
hearth::result<subset_spec> subset_of_params(const param_list& params);

/// subset_of_params for a read or vread of `type`, with the element names
/// checked (check_element_names under the request's handling). Errors also
/// "invalid" for _summary=count, which search.html#summary defines for
/// search only.
hearth::result<subset_spec> subset_of_read(const context& c, std::string_view type);

/// The same for a search, from what parse_search read.
hearth::result<subset_spec> subset_of_search(const store::search_request& req);

/// Checks the names of an _elements against `type`: under strict handling a
/// name `type` has no element for is an error ("invalid"); under lenient
/// handling it is ignored, and each one adds an entry to `ignored` (when not
/// null) for the searchset's OperationOutcome.
hearth::result<void> check_element_names(const subset_spec& spec, std::string_view type,
                                         const fhir::definitions& defs, store::search_handling handling,
                                         std::vector<store::ignored_parameter>* ignored = nullptr);

/// `resource` (a resource's JSON) subsetted as `spec` asks, with the
/// SUBSETTED tag; nullopt when nothing had to be removed (the resource is
/// returned as it is). Errors: a resource of a type the definitions do not
/// know ("exception": stored resources were checked when written).
hearth::result<std::optional<fhir::json_value>> subset_resource(const fhir::json_value& resource,
                                                                const subset_spec& spec,
                                                                const fhir::definitions& defs);

/// The same for stored JSON text: parsed only when `spec` subsets. Errors:
/// the text does not parse, and those of the overload above.
hearth::result<std::optional<fhir::json_value>> subset_stored(const std::string& json, const subset_spec& spec,
                                                              const fhir::definitions& defs);

/// Applies `spec` to every entry of `b` that holds a stored, live version:
/// a subsetted one is replaced by its tree (bundle_entry::built), the
/// others stay stored (copied as they are). Errors: those of subset_stored.
hearth::result<void> subset_entries(bundle& b, const subset_spec& spec, const fhir::definitions& defs);

/// The answer to a read or vread of `v` with `spec` applied: resource_response
/// when nothing is subsetted (the stored text verbatim for compact JSON),
/// otherwise the subsetted resource in the negotiated format, with the same
/// ETag and Last-Modified (R4 http.html#read).
http_response subset_response(const context& c, int status, const store::resource_version& v,
                              const subset_spec& spec);

}  // namespace hearth::server::rest
