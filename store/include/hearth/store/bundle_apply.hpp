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
//       {"method":"POST","url":"<Type>"}                      create,
//       {"method":"POST","url":"<Type>",
//        "ifNoneExist":"identifier=<system>|<value>"}           conditional create, or
//       {"method":"PUT","url":"<Type>?identifier=<system>|<value>"}
//     a conditional update (R4 http.html#cond-update): no match creates the
//     resource with a new id (resource_store::new_id()); one match replaces
//     that resource (an identical content writes no new version, as the
//     store does for any update); several matches fail "multiple-matches"
//     (412 semantics). <Type> must be the resource's resourceType.
//   - A conditional create (R4 http.html#ccreate) with the same query
//     encoding: no match creates the resource with a new id; one match
//     writes nothing and is the entry's result (references to its fullUrl
//     point at the match; created and changed false); several matches fail
//     "multiple-matches". An earlier entry with the same identifier (either
//     kind) is that resource: its content stands. A later PUT with the same
//     identifier writes over it, as for two PUTs.
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
//   - A patient merge (ADT^A40, mapping/src/merge.cpp), with the semantics
//     of R5 patient-operation-merge.html and R4 patient.html#links:
//       {"method":"POST","url":"Patient/$merge"} whose resource is
//       {"resourceType":"Parameters","parameter":[
//         {"name":"source-patient-identifier","valueIdentifier":{"system":..,"value":..}}, (one or more)
//         {"name":"target-patient","valueReference":{"reference":"urn:uuid:<an earlier Patient entry>"}}]}
//     No other parameter. Resolved with the other entries: the target is
//     that entry's Patient; the source is the one current Patient that
//     every source-patient-identifier locates (an earlier entry's
//     conditional identifier names that entry's Patient, any other is
//     looked up as for a conditional update): none fails "not-found" (with
//     error::location "Bundle.entry[<i>]"), several or different ones
//     "multiple-matches", the target itself "invalid". At the entry's
//     position in the write order:
//       - the target gets the link {other: Patient/<source>, type:
//         "replaces"}; when the Bundle writes the target (its PUT), that
//         content is written with the link and with the links the stored
//         target has, so that a merge does not drop an earlier one and a
//         resent message writes the same content (no new version);
//       - the source gets active false and {other: Patient/<target>,
//         type: "replaced-by"};
//       - every current resource with an indexed reference to the source
//         (the reference index, any reference search parameter of any type)
//         has each "reference": "Patient/<source>" in it rewritten to
//         "Patient/<target>" (unindexed references such as one in an
//         extension included, once the resource is found). Not moved: the
//         records of what happened (AuditEvent, Provenance), Patients
//         (whose Patient references are links), versioned and absolute
//         references, and a resource whose only reference to the source is
//         unindexed (it is not found). More than max_merge_moves resources
//         fail "too-costly".
//     A link or an `active` already as wanted writes nothing: a merge sent
//     again writes no version. The target must not be written again by a
//     later entry ("invalid"). The entry's fullUrl names the source Patient.
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
#include <memory>
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

/// Most resources one merge moves to the surviving Patient: a patient's
/// record holds hundreds to a few thousand resources; 10000 bounds the reads
/// and writes one message may cause inside one transaction.
inline constexpr std::size_t max_merge_moves = 10000;

/// Applies the Bundle inside `tx` (see above). Returns one element per
/// entry, in entry order (a merge entry's: the source Patient), then one
/// per resource a merge moved that is no entry of the Bundle, in the order
/// written. Each element's version is the resource's after the whole Bundle
/// (a merge writing an entry's resource again raises it). Errors: "invalid"
/// (contract broken, with the entry index in the message; also a Bundle
/// above max_bundle_entries), "multiple-matches", "not-found" (a merge's
/// unknown source), "too-costly" (a merge moving too much), and the store's
/// own write errors (their message prefixed with the entry index). Writer
/// thread only, under resource_tx's rules.
hearth::result<std::vector<applied_resource>> apply_transaction_bundle(resource_tx& tx,
                                                                       const fhir::json_value& bundle);

/// A Bundle planned before its transaction, so that the one writer thread
/// only writes (prepare_transaction_bundle). Move-only; refers to the Bundle
/// it was made from, which must outlive it.
class prepared_bundle {
 public:
  prepared_bundle(prepared_bundle&&) noexcept;
  prepared_bundle& operator=(prepared_bundle&&) noexcept;
  ~prepared_bundle();

  struct impl;  ///< private (src/ only)
  explicit prepared_bundle(std::unique_ptr<impl> i) noexcept;

 private:
  friend hearth::result<std::vector<applied_resource>> apply_transaction_bundle(resource_tx& tx,
                                                                                prepared_bundle&& prepared);
  std::unique_ptr<impl> impl_;
};

/// The work of apply_transaction_bundle that needs no transaction, done
/// before it on the caller's thread: the identifier lookups (on the reader
/// pool), the ids, the references between entries, and each written
/// resource's check, hash and search index (resource_store::prepare). Never
/// fails: what it cannot settle (a Patient/$merge entry, or an entry outside
/// the contract) is left to the transaction, which then reports it.
prepared_bundle prepare_transaction_bundle(const resource_store& rs, const fhir::json_value& bundle);

/// apply_transaction_bundle of a prepared Bundle: the same result and
/// errors. Inside the transaction every lookup is made again; when one finds
/// something else than it found at planning (another write landed in
/// between), the Bundle is planned again inside the transaction, so the
/// outcome is always that of planning in the transaction.
hearth::result<std::vector<applied_resource>> apply_transaction_bundle(resource_tx& tx,
                                                                       prepared_bundle&& prepared);

/// "Type/id/_history/vid" of each element: what message_log::complete
/// records as the resources a message produced (a merge's moved resources
/// included).
std::vector<std::string> versioned_references(const std::vector<applied_resource>& applied);

}  // namespace hearth::store
