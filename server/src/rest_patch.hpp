#pragma once
// PATCH (FHIR R4 http.html#patch): the two patch formats applied to a
// resource's JSON form — JSON Patch (RFC 6902, with JSON Pointer, RFC 6901)
// and FHIRPath Patch (R4 fhirpatch.html) — and the patch and conditional
// patch interactions that read, patch, check and store. Private to fhir_api.
//
// Thread-safety: the apply functions are pure (they change only the resource
// they are given) and the interactions hold no state: any number may run at
// once. Lifetime: nothing returned refers to the arguments.

#include <cstddef>
#include <string>

#include <hearth/core/error.hpp>
#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/server/http_message.hpp>

#include "rest_interactions.hpp"

namespace hearth::server::rest {

/// Most operations in one JSON Patch document. Each costs a walk along its
/// pointers (copy and test more, counted in max_patch_work); 10,000 is far
/// more than a generated diff of a real resource holds and bounds the loop.
inline constexpr std::size_t max_json_patch_operations = 10'000;

/// Most operations in one FHIRPath Patch document. Each evaluates a FHIRPath
/// expression (up to fhirpath_patch_max_items items) and walks the whole
/// resource to find what it selected; the fhirpatch.html examples use one
/// operation per document, and 100 bounds the work of a hostile one.
inline constexpr std::size_t max_fhirpath_patch_operations = 100;

/// Most items one FHIRPath Patch path may produce while it is evaluated
/// (fhirpath::context::max_items). A path selects one element; 100,000 leaves
/// room for where() over large lists while bounding the evaluation.
inline constexpr std::size_t fhirpath_patch_max_items = 100'000;

/// Largest result, in bytes of compact JSON (estimated while patching): the
/// default document limit of parse_json (json_read_options::max_bytes), so
/// that whatever a patch stores can be read back. JSON Patch `copy` could
/// otherwise double a resource with every operation.
inline constexpr std::size_t max_patched_bytes = 64u << 20;

/// Deepest nesting of objects and arrays in the result, the resource itself
/// being 1: json_read_options::max_depth and check_options::max_depth, so the
/// result can be checked and read back, and so that the recursive walks here
/// (and the json_value destructor) have bounded stack use.
inline constexpr std::size_t max_patched_depth = 128;

/// Most work one patch document may do, in bytes of JSON copied, compared or
/// walked (JSON Patch copy and test; one pass over the resource per FHIRPath
/// Patch operation). 1 GiB is about a second of memory traffic: it stops a
/// document that copies the largest resource thousands of times.
inline constexpr std::size_t max_patch_work = std::size_t{1} << 30;

/// Why a patch document was not applied (RFC 5789 section 2.2).
struct patch_error {
  /// The document itself is wrong (400): not a JSON Patch array, an unknown
  /// operation, a missing member or part, a JSON Pointer or FHIRPath that
  /// does not parse. Otherwise it is well formed but cannot be applied to
  /// this resource (422): a path that selects nothing or too much, a failed
  /// `test`, a value of the wrong type, a limit.
  bool malformed = false;
  /// An OperationOutcome issue type as code; a message that quotes neither
  /// the patch nor the resource; location: where in the patch document, as
  /// a JSON path (`$[2].path`) or a FHIRPath (`Parameters.parameter[0]`).
  hearth::error error;
};

/// Applies a JSON Patch document (RFC 6902: an array of operations add,
/// remove, replace, move, copy, test, with RFC 6901 pointers) to `resource`,
/// operation by operation. `patch` is plain JSON (null, empty objects and
/// arrays are allowed as values). Nothing here knows FHIR: the caller checks
/// the result. On error `resource` holds the operations before the failing
/// one: the caller must discard it (a patch is all or nothing, RFC 6902
/// section 5).
hearth::result<void, patch_error> apply_json_patch(fhir::json_value& resource, const fhir::json_value& patch);

/// Applies a FHIRPath Patch document (R4 fhirpatch.html: a Parameters
/// resource whose `operation` parameters have the parts type, path, name,
/// value, index, source, destination) to `resource`, a FHIR resource in its
/// JSON form, operation by operation. Paths are evaluated with the FHIRPath
/// engine and what they select is found in the JSON tree; a primitive's `_name`
/// companion (id, extensions) moves, goes and stays aligned with its value;
/// objects and arrays a delete leaves empty are removed (R4 json.html allows
/// none). The result is not checked against the definitions: the caller does
/// that. On error `resource` must be discarded, as for apply_json_patch.
hearth::result<void, patch_error> apply_fhirpath_patch(fhir::json_value& resource, const fhir::json_value& parameters,
                                                       const fhir::definitions& defs);

/// PATCH [base]/[type]/[id] (R4 http.html#patch): the body is a JSON Patch
/// (Content-Type application/json-patch+json) or a FHIRPath Patch (a
/// Parameters resource, application/fhir+json or application/fhir+xml). The
/// current version is read, patched, checked (same type and id,
/// fhir::check_resource) and stored as a new version only if it is still the
/// current one; without If-Match a concurrent write is retried a few times
/// before answering 409. Answers as update does (200, ETag, Last-Modified,
/// Prefer: return).
http_response patch(const context& c, const std::string& type, const std::string& id);

/// PATCH [base]/[type]?[criteria] (R4 http.html#patch, conditional): no
/// match 404, several 412, one is patched as by patch(). 400 when the URL has
/// no search parameters (besides _format and _pretty).
http_response conditional_patch(const context& c, const std::string& type);

}  // namespace hearth::server::rest
