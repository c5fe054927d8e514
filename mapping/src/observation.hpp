#pragma once
// OBX -> Observation (IG segment maps OBX[Observation], OBX[Observation-Component],
// NTE[Observation]) and SPM / OBR -> Specimen (SPM[Specimen], OBR[Specimen]):
// shared by every message family that carries results. ORU^R01 (oru.cpp) is
// the first user; MDM and VXU carry OBX too and call map_observation() the
// same way.
//
// Errors and warnings as everywhere in the mapping (mapping_detail.hpp): the
// first error goes to ctx.fail() with its position, what cannot be mapped to
// ctx.warn(); neither quotes message content.
//
// Thread-safety: as the rest of the mapping, one context per convert() call.

#include <optional>
#include <string>
#include <vector>

#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

/// What an Observation refers to beyond the OBX itself, given by the message
/// family that owns the segment group. Plain value type.
struct observation_links {
  /// Scopes the Observation's derived identity: the DiagnosticReport's
  /// identity for an OBX of an ORU order (so that one report's results never
  /// collide with another's), the Patient's for an OBX that belongs to no
  /// order. Must be valid.
  identity parent;
  /// Observation.effectiveDateTime when OBX-14 is empty: OBR-7, already a
  /// FHIR dateTime (ORU_R01 message map: the order's observation time).
  std::optional<std::string> default_effective;
  /// Observation.issued: OBR-22 as a FHIR instant; empty: left out.
  std::string issued;
  /// Observation.specimen (OBR[Specimen]: "one Specimen resource that all
  /// Observations generated for the same OBR need to reference"); empty: none.
  std::string specimen_url;
  /// Observation.focus: the Specimen an OBX of the SPECIMEN_OBSERVATION group
  /// describes (ORU_R01 message map 4.2.7.2.1); empty: none.
  std::string focus_url;
  /// Observation.encounter; empty: none.
  std::string encounter_url;
};

/// One OBX with the NTE segments that follow it (its NOTE group).
struct obx_group {
  segment_view obx;
  std::vector<segment_view> notes;
};

/// Maps one OBX (and its NTEs: Observation.note, NTE[Observation]) to an
/// Observation entry, after the entries it refers to (Practitioner, Device,
/// Organization), and returns its fullUrl; empty when it failed.
///
/// Identity (convert.hpp): a derived identifier from links.parent, the OBX-3
/// code (CWE.1 and CWE.3, or CWE.2 without a code), OBX-4 (sub-id) and OBX-1
/// (set id), so that a corrected result (OBX-11 "C") resent later updates
/// the same Observation. OBX-21, when sent, is kept as another identifier.
///
/// Value (OBX-2 / OBX-5, OBX[Observation] rows "IF OBX-2 EQUALS ..."): NM ->
/// valueQuantity, ST/TX/FT -> valueString, CWE/CE/CNE/IS ->
/// valueCodeableConcept, SN -> valueQuantity (with comparator), valueRange,
/// valueRatio or valueString, DT/DTM/TS -> valueDateTime, TM -> valueTime,
/// NR -> valueRange, DR -> valuePeriod, VR -> valueString, ED and RP -> the
/// R5 cross-version extension Observation.valueAttachment. Another OBX-2: a
/// warning at OBX-2, no value. A repeating OBX-5 becomes one
/// Observation.component per repetition (OBX[Observation-Component]).
///
/// Errors: 101 OBX-3 missing, OBX-11 missing, OBX-2 missing while OBX-5 is
/// valued; 102 an OBX-5 that does not parse as its OBX-2 type (position of
/// the repetition or component), a bad OBX-14 or NTE-6.
std::string map_observation(context& ctx, const obx_group& group, const observation_links& links);

/// SPM -> a Specimen entry (SPM[Specimen]); returns its fullUrl. Identity:
/// SPM-2 (filler assigned EI, else placer assigned), else a derived
/// identifier from `parent` (the DiagnosticReport's identity), SPM-1 and SPM-4.
std::string map_specimen(context& ctx, const segment_view& spm, const identity& parent);

/// OBR -> a Specimen entry (OBR[Specimen]) for an order sent without SPM,
/// when the OBR carries specimen data (OBR-9, -10, -14, -15; v2.5.1 keeps
/// OBR-15 for backward compatibility only). Returns its fullUrl, empty when
/// the OBR has none of these. Identity: derived from `parent` (the
/// DiagnosticReport's identity): one legacy specimen per order.
std::string map_obr_specimen(context& ctx, const segment_view& obr, const identity& parent);

/// OBX-6 / CWE[Quantity] units applied to a number: {value, unit, system,
/// code}. `comparator` ("<", ">=", ...) is set when not empty. The code and
/// system http://unitsofmeasure.org are set when CWE.3 says "UCUM" or, CWE.3
/// naming no other known system, CWE.1 parses as a UCUM expression
/// (fhir/ucum.hpp); with CWE.3 another known coding system, that system and
/// CWE.1; otherwise only `unit` (CWE.2, else CWE.1).
json_value quantity(context& ctx, const hl7v2::decimal& value, const hl7v2::coded& units,
                    std::string_view comparator = {});

}  // namespace hearth::mapping::detail
