#pragma once
// hearth::mapping::convert — one HL7 v2 message to one FHIR R4 transaction
// Bundle, following the HL7 v2-to-FHIR Implementation Guide v1.0.0 (its
// message, segment, data type and code system maps).
//
// Bundle contract (the store executes the Bundle inside one database
// transaction; keep to it exactly):
//
// - resourceType "Bundle", type "transaction", entries in dependency order
//   (Patient first, then what refers to it).
// - Each entry has fullUrl "urn:uuid:<uuid>" (a name-based UUID, version 5,
//   from the sender (MSH-3, MSH-4), MSH-10 and the entry index: the same
//   message always converts to the same bytes), resource and request.
// - request is {"method":"PUT","url":"Type?identifier=<system>|<value>"}, a
//   conditional update, for every resource that has an identity; system and
//   value have `\`, `|`, `,` and `$` escaped with `\` (R4 search.html#escaping)
//   and are then percent-encoded (RFC 3986 unreserved characters kept). The
//   resource carries that identifier among its identifiers. A resource with no
//   identity is {"method":"POST","url":"Type"}.
// - The Encounter of a message that is not ADT (ORU, SIU, MDM, ORM/OML, VXU)
//   is a conditional create, {"method":"POST","url":"Encounter",
//   "ifNoneExist":"identifier=<system>|<value>"} with the same encoding
//   (R4 http.html#ccreate): it creates the visit when none exists and never
//   overwrites the fuller Encounter ADT keeps, which its references then
//   name. ADT A40 adds {"method":"POST","url":"Patient/$merge"} (below).
// - References between entries are {"reference":"urn:uuid:..."}; the executor
//   rewrites them to Type/id.
//
// Identity rules ("a later message updates the same resources, never
// duplicates them"):
// - Patient: the first PID-3 repetition whose assigning authority resolves to
//   a system (sender_config::identifier_systems, else the IG's HD[uri] rules),
//   else the first PID-3 with sender_config::default_identifier_system; none:
//   error 101 at PID-3.
// - Encounter: PV1-19 (visit number, same rules); without one, ADT uses a
//   derived identifier from the patient's identity, PV1-2 and PV1-44, and the
//   other families make no Encounter (a warning at PV1-19).
// - Practitioner (XCN with XCN.1): by that identifier (same rules, XCN.9);
//   when XCN.9 does not resolve, a derived identifier from the sender (MSH-3,
//   MSH-4), XCN.9 and XCN.1. An XCN with a name only is a display, no entry.
// - RelatedPerson (NK1), Condition (DG1), Location (PL): by their identifier
//   fields when sent and resolvable (NK1-33 then NK1-12, DG1-20, PL.10),
//   otherwise by a derived identifier. AllergyIntolerance (AL1) and Coverage
//   (IN1) always by a derived identifier: AL1 has no identifier field, and
//   IN1-2 names a health plan shared by many patients (IN1-2 and IN1-36 are
//   still carried as identifiers).
//
// A derived identifier has system "urn:hearth:v2-derived:<Type>"
// (derived_identifier_system_prefix + the resource type) and as value the
// lowercase hex SHA-1 of the patient's identity (system and value) and the
// segment's identifying content: AL1-3 (allergen code and coding system),
// DG1-3 (diagnosis code and coding system), NK1-2 (name) with NK1-3
// (relationship), IN1-2 (plan) with IN1-3 (company id) and IN1-36 (policy
// number), PV1-2 with PV1-44 (an Encounter without PV1-19), the PL's
// components (its facility, else the sender). Neither MSH-10 nor MSH-7 take part,
// so a resent or later A08 updates what an A01 created. Derived identifiers
// are added to the resource's identifiers like any other.
//
// Thread-safety: convert() and supports() are pure functions of their
// arguments (the embedded code tables are built once, thread-safely).

#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/hl7v2/ack.hpp>
#include <hearth/hl7v2/error.hpp>
#include <hearth/hl7v2/message.hpp>
#include <hearth/terminology/registry.hpp>
#include <hearth/mapping/config.hpp>

namespace hearth::mapping {

/// Identifier.system prefix of derived identifiers: + "Patient", "Condition"...
inline constexpr std::string_view derived_identifier_system_prefix = "urn:hearth:v2-derived:";

/// What a conversion may consult besides the message and the sender's settings.
struct convert_options {
  /// The R4 terminology (ConceptMaps), or nullptr. Only read; must outlive the call.
  const terminology::registry* terminology = nullptr;
};

/// The result of converting one message. Plain value type.
struct conversion {
  fhir::json_value bundle;                 ///< a transaction Bundle, see the contract above
  std::vector<hl7v2::ack_issue> warnings;  ///< severity warning: what was sent but could not be mapped
};

/// Converts one parsed message. Errors (hl7v2::error with a table 0357 code
/// and the position of the offending element): 200 unsupported message type,
/// 201 unsupported event, 101 required field missing (no PID, no PID-3 that
/// can identify the patient, ...), 102 data type error (a bad date, a time
/// without offset and no default_offset, ...), 103 table value not found where
/// the IG requires a mapped code (PV1-2 for Encounter.class).
///
/// Supported now: ADT A01, A02, A03, A04, A05, A08, A11, A13, A28, A31
/// (Patient, Encounter, RelatedPerson, AllergyIntolerance, Condition,
/// Coverage); ORU^R01 (DiagnosticReport, Observation, Specimen); SIU S12,
/// S13, S14, S15, S26 (Appointment); MDM T01, T02 (DocumentReference); ORM^O01
/// and OML^O21 (ServiceRequest); VXU^V04 (Immunization); ADT A40 (merge
/// patient, see below). Each resource is identified as the identity rules
/// above say, by its own identifiers (placer/filler numbers, SCH-1/2,
/// TXA-12, ...) or by a derived identity.
///
/// ADT A40 (HL7 v2.5.1 3.3.40, ADT_A39: {PID [PD1] MRG [PV1]}; the IG has no
/// map for it, see mapping/src/merge.cpp): per PID/MRG pair, the surviving
/// Patient from PID/PD1 as ADT maps it (a conditional update on PID-3), then
/// an entry {"method":"POST","url":"Patient/$merge"} whose resource is a
/// Parameters with a `source-patient-identifier` (valueIdentifier) for each
/// MRG-1 repetition (mapped as PID-3 is: the same identifier systems) and
/// `target-patient` (valueReference to the survivor's entry), as R5
/// patient-operation-merge.html names them; the store executes it
/// (hearth/store/bundle_apply.hpp). Errors: no PID or no MRG after a PID,
/// no MRG-1: 101; MRG-1 naming one of the survivor's own PID-3 identifiers:
/// 205 (duplicate key identifier); PD1/MRG/PV1 out of place: 100. PV1 and
/// MRG-2..6 are reported as not mapped.
///
/// With `opts.terminology`, codes of v2 tables for which the R4 definitions
/// publish a ConceptMap gain the codings it maps them to (the terminology
/// module's $translate, "equivalent" and "equal" matches only), beside the
/// v2 coding: SPM-4 specimen type (table 0487) gets its SNOMED CT code from
/// http://hl7.org/fhir/ConceptMap/102. Without it, only the v2 codings.
hearth::result<conversion, hl7v2::error> convert(const hl7v2::message& msg, const sender_config& cfg,
                                                 const convert_options& opts = {});

/// True when convert() knows this MSH-9 message code and trigger event.
bool supports(std::string_view message_code, std::string_view trigger_event) noexcept;

}  // namespace hearth::mapping
