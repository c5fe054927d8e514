// VXU^V04: immunizations (IG message map VXU_V04; segment maps
// ORC[Immunization], RXA[Immunization], RXR[Immunization], PV1[Encounter]).
//
// One Immunization per ORDER group: an ORC, its RXA and the RXR after it.
// An RXA sent without an ORC of its own (ORC was optional before v2.5) is a
// group too. What the IG sends elsewhere is not mapped here and is reported
// as "segment not mapped": NK1 (RelatedPerson, ADT's map), the OBX of the
// PERSON_OBSERVATION and ORDER.OBSERVATION groups (OBX[Observation] belongs to
// the ORU family; the IG itself defers the immunization-specific OBX, "funding
// source, patient eligibility ... will be provided separately"), their NTE,
// TQ1/TQ2, PRT, IN1, GT1, PV2, a PV1 outside the PATIENT_VISIT group.
//
// The Encounter (PV1[Encounter], VXU_V04 8.1: "only if the system wants to
// know about the encounter related to the immunization event") is a
// conditional create on PV1-19 (encounter_mode::context, mapping_detail.hpp):
// an immunization message repeating a reduced PV1 must not rewrite the
// Encounter ADT keeps, and one is created when none is stored. Without
// PV1-19: no Encounter (a warning), no Immunization.encounter. The IG's
// message map creates Encounter[1] but names no element linking the
// immunization to it; Immunization.encounter ("encounter immunization was
// part of", R4) is that link.

#include <string>
#include <utility>
#include <vector>

#include "families.hpp"
#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

namespace {

// One ORDER group: segment indexes (1-based), 0 when absent.
struct immunization_group {
  std::size_t orc = 0;
  std::size_t rxa = 0;
  std::size_t rxr = 0;
};

// RXA-17 manufacturer (CWE[Organization]): an Organization named by the code
// (identifier value CWE.1, system from CWE.3, "MVX" -> the CDC's MVX code
// system) and its text (name CWE.9, else CWE.2). A name without a code
// cannot be found again: a display only.
json_value manufacturer(context& ctx, const hl7v2::coded& v, const position& where) {
  if (v.empty()) return {};
  const std::string name = v.original_text.empty() ? v.text : v.original_text;
  if (v.identifier.empty()) {
    if (name.empty()) return {};
    json_value r = json_value::object();
    r.set("display", name);
    return r;
  }
  json_value org = new_resource("Organization");
  json_value id = json_value::object();
  std::string system;
  if (!v.coding_system.empty()) {
    system = coding_system_uri(v.coding_system, ctx.cfg);
    if (system.empty()) {
      ctx.warn(error_code::table_value_not_found, "coding system name not known: Identifier.system left out",
               child(where, 3));
    }
  }
  put(id, "system", system);
  id.set("value", v.identifier);
  append(org, "identifier", std::move(id));
  put(org, "name", name);
  // Without a system the code is the sender's own (as an XCN without XCN.9,
  // convert.hpp): the identity is derived from the sender and the code.
  const identity key = !system.empty() ? identity{system, v.identifier}
                                       : derived_identity("Organization", {ctx.msg.text("MSH-3.1"),
                                                                           ctx.msg.text("MSH-4.1"), v.coding_system,
                                                                           v.identifier});
  return reference(ctx.add_entry(std::move(org), key));
}

// RXA-6 administered amount and RXA-7 units (CWE[Quantity]) -> doseQuantity.
// CWE[Quantity]: code CWE.1 and system CWE.3 when both are valued, unit CWE.2
// (else CWE.1). A code needs a system (SimpleQuantity qty-3): a coding system
// we cannot name leaves the unit as text only.
json_value dose_quantity(context& ctx, const segment_view& rxa) {
  const std::string amount = st(rxa.field(6));
  if (amount.empty()) return {};
  // CDC IG for immunization messaging (v2.5.1, RXA-6): "999" when the amount
  // is unknown, which is no dose to record.
  if (amount == "999") return {};
  auto value = hl7v2::parse_nm(amount);
  if (!value) {
    ctx.fail(error_code::data_type_error, "administered amount is not a number", at(rxa, 6));
    return {};
  }
  json_value q = json_value::object();
  q.set("value", json_value::number(value->fhir()));
  const auto units = hl7v2::read_cwe(rxa.field(7));
  put(q, "unit", units.text.empty() ? units.identifier : units.text);
  if (!units.identifier.empty() && !units.coding_system.empty()) {
    const std::string system = coding_system_uri(units.coding_system, ctx.cfg);
    if (system.empty()) {
      ctx.warn(error_code::table_value_not_found, "units coding system not known: unit kept as text",
               at(rxa, 7, 0, 3));
    } else {
      q.set("system", system);
      put(q, "code", fhir_code(units.identifier));
    }
  }
  return q;
}

// RXA-9 administration notes, the CDC's NIP001 information source: "00" new
// record (the sender administered it: primarySource true), "01".."08" a
// historical record (primarySource false, the source as reportOrigin).
// Departure: RXA[Immunization] leaves RXA-9 unmapped; this follows the CDC IG
// for immunization messaging (RXA-9), which every VXU sender follows.
void information_source(context& ctx, const segment_view& rxa, json_value& imm) {
  each_repetition(rxa, 9, [&](const element_view& rep, const position& where) {
    if (imm.find("primarySource") != nullptr) return;
    const auto note = hl7v2::read_cwe(rep);
    const bool nip001 = note.coding_system == "NIP001" ||
                        (note.coding_system.empty() && note.identifier.size() == 2 && note.identifier[0] == '0' &&
                         note.identifier[1] >= '0' && note.identifier[1] <= '8');
    if (!nip001) return;
    if (note.identifier == "00") {
      imm.set("primarySource", true);
    } else if (!note.identifier.empty()) {
      imm.set("primarySource", false);
      put(imm, "reportOrigin", codeable_concept(ctx, note, where));
    }
  });
}

// RXR-2 administration site: the IG names BodyParts (table 0550); VXU senders
// send table 0163 (body site: LD, RA...), which BodySite maps.
json_value site(context& ctx, const segment_view& rxr) {
  const auto v = hl7v2::read_cwe(rxr.field(2));
  if (v.empty()) return {};
  const bool table_0163 = v.coding_system == "HL70163" ||
                          (v.coding_system.empty() && lookup_code("BodyParts", v.identifier) == nullptr &&
                           lookup_code("BodySite", v.identifier) != nullptr);
  return table_0163 ? codeable_concept(ctx, v, at(rxr, 2), "BodySite", "0163")
                    : codeable_concept(ctx, v, at(rxr, 2), "BodyParts", "0550");
}

json_value performer(std::string_view function, std::string_view display, json_value actor) {
  if (is_empty(actor)) return {};
  json_value p = json_value::object();
  p.set("function", fixed_concept(v2_table_uri("0443"), function, display));
  p.set("actor", std::move(actor));
  return p;
}

// ORC + RXA + RXR -> the Immunization entry; `encounter_url` the
// PATIENT_VISIT's Encounter, empty when none.
void map_immunization(context& ctx, const immunization_group& g, const std::string& encounter_url) {
  const segment_view rxa = ctx.msg.segment(g.rxa);
  const std::optional<segment_view> orc =
      g.orc != 0 ? std::optional<segment_view>(ctx.msg.segment(g.orc)) : std::nullopt;
  const std::optional<segment_view> rxr =
      g.rxr != 0 ? std::optional<segment_view>(ctx.msg.segment(g.rxr)) : std::nullopt;
  json_value imm = new_resource("Immunization");

  // Identifiers ORC-2 (PLAC) and ORC-3 (FILL). Identity: the filler order
  // number, the sender's id of the immunization record; else the placer's;
  // else derived from the patient, the vaccine and the administration time
  // (the same dose cannot be given twice at one time).
  identity placer;
  identity filler;
  if (orc) {
    append(imm, "identifier", typed_ei(ctx, hl7v2::read_ei(orc->field(2)), "PLAC", &placer));
    append(imm, "identifier", typed_ei(ctx, hl7v2::read_ei(orc->field(3)), "FILL", &filler));
  }
  const auto vaccine = hl7v2::read_cwe(rxa.field(5));
  const std::string administered = st(rxa.field(3));
  identity key = filler.valid() ? filler : placer;
  if (!key.valid()) {
    key = derived_identity("Immunization", {ctx.patient_identity.system, ctx.patient_identity.value,
                                            vaccine.identifier, vaccine.coding_system,
                                            vaccine.identifier.empty() ? vaccine.text : std::string(), administered});
  }

  // Status: RXA-21 D (delete) -> entered-in-error; else RXA-20 through
  // CompletionStatus, "completed" when not sent (RXA[Immunization] rows 20, 21).
  const std::string completion = st(rxa.field(20));
  std::string status;
  if (st(rxa.field(21)) == "D") {
    status = "entered-in-error";
  } else if (completion.empty()) {
    status = "completed";
  } else {
    const concept_map_target* t = lookup_code("CompletionStatus", completion);
    if (t == nullptr || t->code.empty()) {
      // Immunization.status is required: no guess.
      ctx.fail(error_code::table_value_not_found, "completion status not in table 0322", at(rxa, 20));
      return;
    }
    status = t->code;
  }
  imm.set("status", status);
  // RXA-18 refusal reason -> statusReason (0..1: the first).
  put(imm, "statusReason",
      codeable_concept(ctx, hl7v2::read_cwe(rxa.field(18).repetition(1)), at(rxa, 18, 1)));
  // RXA-5 -> vaccineCode (required; CVX -> http://hl7.org/fhir/sid/cvx).
  json_value code = codeable_concept(ctx, vaccine, at(rxa, 5));
  if (is_empty(code)) {
    ctx.fail(error_code::required_field_missing, "administered code missing (Immunization.vaccineCode)", at(rxa, 5));
    return;
  }
  imm.set("vaccineCode", std::move(code));
  imm.set("patient", reference(ctx.patient_url));
  if (!encounter_url.empty()) imm.set("encounter", reference(encounter_url));
  // RXA-3 -> occurrenceDateTime (required).
  auto when = to_datetime(ctx, administered, at(rxa, 3));
  if (!when) {
    if (!ctx.failed()) {
      ctx.fail(error_code::required_field_missing, "administration date missing (Immunization.occurrence)",
               at(rxa, 3));
    }
    return;
  }
  imm.set("occurrenceDateTime", *when);
  // recorded: ORC-9 (ORC[Immunization]), else RXA-22 when RXA-21 is A (add).
  std::optional<std::string> recorded;
  if (orc) recorded = to_datetime(ctx, orc->field(9), at(*orc, 9));
  auto entered = to_datetime(ctx, rxa.field(22), at(rxa, 22));
  if (!recorded && st(rxa.field(21)) == "A") recorded = entered;
  if (recorded) imm.set("recorded", *recorded);
  information_source(ctx, rxa, imm);
  // RXA-27 administer-at -> location (PL[Location]).
  put(imm, "location", location_reference(ctx, hl7v2::read_pl(rxa.field(27)), at(rxa, 27)));
  // RXA-17 manufacturer, RXA-15 lot, RXA-16 expiration: the first of each
  // (the Immunization has one of each).
  put(imm, "manufacturer", manufacturer(ctx, hl7v2::read_cwe(rxa.field(17).repetition(1)), at(rxa, 17, 1)));
  put(imm, "lotNumber", st(rxa.field(15).repetition(1)));
  if (auto d = to_date(ctx, rxa.field(16).repetition(1), at(rxa, 16, 1))) imm.set("expirationDate", *d);
  // RXR-1 route (RouteOfAdministration), RXR-2 site.
  if (rxr) {
    put(imm, "site", site(ctx, *rxr));
    put(imm, "route",
        codeable_concept(ctx, hl7v2::read_cwe(rxr->field(1)), at(*rxr, 1), "RouteOfAdministration", "0162"));
  }
  put(imm, "doseQuantity", dose_quantity(ctx, rxa));
  // Performers: RXA-10 administering (AP), ORC-12 ordering (OP) providers
  // (RXA[Immunization] row 10, ORC[Immunization] row 12; the IG's
  // PractitionerRole for ORC-12 is a Practitioner here, as XCN maps
  // everywhere else).
  each_repetition(rxa, 10, [&](const element_view& rep, const position& where) {
    append(imm, "performer",
           performer("AP", "Administering Provider", practitioner_reference(ctx, hl7v2::read_xcn(rep), where)));
  });
  if (orc) {
    append(imm, "performer",
           performer("OP", "Ordering Provider",
                     practitioner_reference(ctx, hl7v2::read_xcn(orc->field(12).repetition(1)), at(*orc, 12, 1))));
  }
  // RXA-19 indication -> reasonCode.
  each_repetition(rxa, 19, [&](const element_view& rep, const position& where) {
    append(imm, "reasonCode", codeable_concept(ctx, hl7v2::read_cwe(rep), where));
  });
  // RXA-20 PA (partially administered): completed, and a subpotent dose
  // (R4 Immunization.isSubpotent: "e.g. ... a partial dose").
  if (completion == "PA" && status == "completed") imm.set("isSubpotent", true);
  if (ctx.failed()) return;
  ctx.add_entry(std::move(imm), key);
}

}  // namespace

void map_vxu(context& ctx) {
  map_patient(ctx);
  if (ctx.failed()) return;
  const std::optional<segment_view> visit = patient_visit(ctx.msg, {"ORC", "RXA"});
  std::vector<immunization_group> groups;
  for (const segment_view seg : ctx.msg) {
    const std::string_view id = seg.id();
    if (id == "ORC") {
      groups.push_back({seg.index(), 0, 0});
    } else if (id == "RXA") {
      // A second RXA without an ORC of its own starts a group (ORC optional before v2.5).
      if (groups.empty() || groups.back().rxa != 0) groups.push_back({0, 0, 0});
      groups.back().rxa = seg.index();
    } else if (id == "RXR" && !groups.empty() && groups.back().rxa != 0 && groups.back().rxr == 0) {
      groups.back().rxr = seg.index();
    } else if (id == "MSH" || id == "PID" || id == "PD1" || (visit && seg.index() == visit->index()) ||
               (!id.empty() && id[0] == 'Z')) {
      // PID, PD1 and Z segments: map_patient; the patient's PV1: the Encounter.
    } else {
      ctx.warn(error_code::message_accepted, "segment not mapped", at(seg, 0));
    }
  }
  if (groups.empty()) {
    position p;
    p.segment_id = "RXA";
    ctx.fail(error_code::required_field_missing, "no RXA segment: a VXU needs one per immunization", p);
    return;
  }
  for (const auto& g : groups) {
    if (g.rxa == 0) {
      ctx.fail(error_code::required_field_missing, "order group without RXA", at(ctx.msg.segment(g.orc), 0));
      return;
    }
  }
  const std::string encounter_url = map_context_encounter(ctx, visit);
  if (ctx.failed()) return;
  for (const auto& g : groups) {
    map_immunization(ctx, g, encounter_url);
    if (ctx.failed()) return;
  }
}

}  // namespace hearth::mapping::detail
