#pragma once
// hearth::store::apply_transaction_bundle — writes the transaction Bundle the
// mapping module makes of an HL7 v2 message (issue 7) inside a store
// transaction, with the AuditEvent and the message log's completion
// (message_log.hpp) beside it.
//
// It executes the narrow contract the mapping module keeps, not every R4
// transaction (the REST layer has its own):
//   - Bundle.type "transaction"; every entry has fullUrl "urn:uuid:<uuid>"
//     (unique in the Bundle), a resource (a JSON object with resourceType),
//     and a request that is either
//       {"method":"POST","url":"<Type>"}                      create, or
//       {"method":"PUT","url":"<Type>?identifier=<system>|<value>"}
//     a conditional update (R4 http.html#cond-update): no match creates the
//     resource with a new id (resource_store::new_id()); one match replaces
//     that resource (an identical content writes no new version, as the
//     store does for any update); several matches fail "multiple-matches"
//     (412 semantics). <Type> must be the resource's resourceType.
//   - The query value is percent-encoded (RFC 3986 2.1; '+' is a plus, not a
//     space) and, inside it, '\', '|', ',' and '$' are escaped with '\' (R4
//     search.html#escaping): both are decoded, and system|value split at the
//     first unescaped '|'. The '|' is required (an empty system: identifiers
//     without one); an unescaped ',' (a list of values) or '$' (a composite)
//     is refused. Exactly one parameter, `identifier`.
//   - {"reference":"urn:uuid:..."} anywhere inside a resource (nested
//     objects and arrays included) names another entry's fullUrl, and is
//     rewritten to "<Type>/<id>" of that entry before writing.
//   - A resource's own id: replaced for POST (the server assigns ids, R4
//     http.html#create); for PUT it must be absent or the id the condition
//     resolved to (R4 http.html#cond-update).
// Order (R4 http.html#trules): every entry's target id is resolved first
// (the lookups), then references are rewritten, then entries are written in
// entry order.
//
// Two entries with the same conditional URL name one resource: both resolve
// to the same id (references to either fullUrl point at it), the LATER
// entry's content is written — once, at the later entry's position — and the
// earlier entry's result is that write's. (The mapping may meet one
// Practitioner in several segments of a message; it must not become two
// resources, nor two versions in one message.)
//
// Anything outside the contract fails "invalid" with the entry's index
// (0-based) in the message, never its content (SECURITY.md: no PHI in
// errors). Errors leave `tx` to be rolled back by the caller's function
// returning the error: nothing of the Bundle is kept.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/store/resource_store.hpp>

namespace hearth::store {

namespace error_codes {
/// 412: a conditional update whose criteria match several resources (R4
/// http.html#cond-update "Multiple matches: The server returns a 412
/// Precondition Failed error"); R4 valueset-issue-type `multiple-matches`.
inline constexpr std::string_view multiple_matches = "multiple-matches";
}  // namespace error_codes

/// What one entry did. Plain value.
struct applied_resource {
  std::string type, id;
  /// The version the resource is at after the Bundle: the one written, or
  /// for an identical update the unchanged current one.
  std::int64_t version_id = 0;
  bool created = false;  ///< the resource came into existence (no match, or POST)
  bool changed = false;  ///< a new version was written
};

/// Most entries one Bundle may hold: a v2 message maps to tens of resources
/// (an ORU with many OBX to a few hundred); 10000 refuses what no message
/// produces while bounding the lookups and writes of one transaction.
inline constexpr std::size_t max_bundle_entries = 10000;

/// Applies the Bundle inside `tx` (see above). Returns one element per
/// entry, in entry order. Errors: "invalid" (contract broken, with the entry
/// index in the message; also a Bundle above max_bundle_entries),
/// "multiple-matches", and the store's own write errors (their message
/// prefixed with the entry index). Writer thread only, under resource_tx's
/// rules.
hearth::result<std::vector<applied_resource>> apply_transaction_bundle(resource_tx& tx,
                                                                       const fhir::json_value& bundle);

/// "Type/id/_history/vid" of each element: what message_log::complete
/// records as the resources a message produced.
std::vector<std::string> versioned_references(const std::vector<applied_resource>& applied);

}  // namespace hearth::store
