// PV1[Encounter] (IG segment map), for every message family that carries a
// PV1. The IG creates Encounter[1] from the PV1 of ADT_A01..A17, ORU_R01
// (4.1.8.1), SIU_S12 (4.2), MDM_T02 (6), ORM_O01 (3.4.1), OML_O21 (5.8.1) and
// VXU_V04 (8.1, "only if the system wants to know about the encounter"). ADT
// writes it as the account of the visit; the others name it as their
// context and never rewrite it (encounter_mode, mapping_detail.hpp).
//
// Not mapped here, as before: PV1-11's "temporary" classification extension
// (see below), PV1[Basic-EncounterHistory], PV1[Patient] and PV1[Coverage].

#include <algorithm>

#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

bool encounter_worthy(const segment_view& pv1) {
  const std::string cls = st(pv1.field(2));
  return !hl7v2::read_cx(pv1.field(19)).id_number.empty() || (!cls.empty() && cls != "N");
}

std::string map_encounter(context& ctx, const segment_view& pv1, encounter_mode mode,
                          const std::vector<std::string>& conditions) {
  const bool visit = mode == encounter_mode::visit;
  const std::string cls = st(pv1.field(2));
  if (!visit) {
    // Context: PV1-19 or nothing (see encounter_mode::context), and a class
    // that maps, checked before anything is added for the Encounter.
    if (hl7v2::read_cx(pv1.field(19)).id_number.empty()) {
      ctx.warn(error_code::required_field_missing, "visit without visit number: no Encounter", at(pv1, 19));
      return {};
    }
    if (cls.empty()) {
      ctx.warn(error_code::required_field_missing, "patient class missing: no Encounter (Encounter.class is required)",
               at(pv1, 2));
      return {};
    }
    if (const auto* t = lookup_code("PatientClass[EncounterClass]", cls); t == nullptr || t->code.empty()) {
      ctx.warn(error_code::table_value_not_found,
               "patient class not in table 0004: no Encounter (Encounter.class is required)", at(pv1, 2));
      return {};
    }
  }
  json_value enc = new_resource("Encounter");
  const std::string event = ctx.msg.trigger_event();
  // PV1-19 visit number (type VN), PV1-50 alternate visit ids.
  identity key;
  if (const auto cx = hl7v2::read_cx(pv1.field(19)); !cx.id_number.empty()) {
    json_value id = cx_identifier(ctx, cx, at(pv1, 19), &key);
    if (id.find("type") == nullptr) {
      id.set("type", fixed_concept(v2_table_uri("0203"), "VN", "visit number"));
    }
    append(enc, "identifier", std::move(id));
  }
  each_repetition(pv1, 50, [&](const element_view& rep, const position& where) {
    append(enc, "identifier", cx_identifier(ctx, hl7v2::read_cx(rep), where));
  });
  if (cls.empty()) {
    ctx.fail(error_code::required_field_missing, "patient class missing (Encounter.class is required)", at(pv1, 2));
    return {};
  }
  const concept_map_target* cls_map = lookup_code("PatientClass[EncounterClass]", cls);
  if (cls_map == nullptr || cls_map->code.empty()) {
    ctx.fail(error_code::table_value_not_found, "patient class not in table 0004 (Encounter.class is required)",
             at(pv1, 2));
    return {};
  }
  if (!key.valid()) {
    if (!visit) {
      // PV1-19 without a system (a message that names no sender at all).
      ctx.warn(error_code::required_field_missing, "visit number without a system: no Encounter", at(pv1, 19));
      return {};
    }
    // No visit number: the patient, class and admit time identify the visit,
    // so that a resent message updates it.
    key = derived_identity("Encounter",
                           {ctx.patient_identity.system, ctx.patient_identity.value, cls, st(pv1.field(44))});
  }
  // Status: the event's (Event[EncounterStatus]) where the event says it; for
  // events that do not (A08 update, A28/A31 person information, and every
  // event of the other families) PV1-45 (discharged: finished), then the
  // class (PatientClass[EncounterStatus]).
  std::string status;
  if (const auto* t = lookup_code("Event[EncounterStatus]", event); t != nullptr && event != "A08") status = t->code;
  if (status.empty() && !st(pv1.field(45)).empty()) status = "finished";
  if (status.empty()) {
    if (const auto* t = lookup_code("PatientClass[EncounterStatus]", cls); t != nullptr) status = t->code;
  }
  if (status.empty()) status = "unknown";
  enc.set("status", status);
  json_value class_coding = json_value::object();
  class_coding.set("system", cls_map->system);
  class_coding.set("code", cls_map->code);
  put(class_coding, "display", cls_map->display);
  enc.set("class", std::move(class_coding));
  append(enc, "type", codeable_concept(ctx, hl7v2::read_cwe(pv1.field(4)), at(pv1, 4), {}, "0007"));
  put(enc, "serviceType", codeable_concept(ctx, hl7v2::read_cwe(pv1.field(10)), at(pv1, 10), {}, "0069"));
  enc.set("subject", reference(ctx.patient_url));
  // Participants: PV1-7 ATND, PV1-8 REF, PV1-9 CON, PV1-17 ADM, PV1-52 PART.
  const struct {
    std::size_t field;
    std::string_view code;
    std::string_view display;
  } roles[] = {{7, "ATND", "attender"},
               {8, "REF", "referrer"},
               {9, "CON", "consultant"},
               {17, "ADM", "admitter"},
               {52, "PART", "Participation"}};
  for (const auto& role : roles) {
    each_repetition(pv1, role.field, [&](const element_view& rep, const position& where) {
      json_value who = practitioner_reference(ctx, hl7v2::read_xcn(rep), where);
      if (is_empty(who)) return;
      json_value p = json_value::object();
      append(p, "type",
             fixed_concept("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", role.code, role.display));
      p.set("individual", std::move(who));
      append(enc, "participant", std::move(p));
    });
  }
  json_value period = json_value::object();
  if (auto s = to_datetime(ctx, pv1.field(44), at(pv1, 44))) put(period, "start", *s);
  if (auto e = to_datetime(ctx, pv1.field(45), at(pv1, 45))) put(period, "end", *e);
  put(enc, "period", std::move(period));
  for (const auto& url : conditions) {
    json_value d = json_value::object();
    d.set("condition", reference(url));
    append(enc, "diagnosis", std::move(d));
  }
  json_value hosp = json_value::object();
  put(hosp, "preAdmissionIdentifier", cx_identifier(ctx, hl7v2::read_cx(pv1.field(5)), at(pv1, 5)));
  put(hosp, "reAdmission", codeable_concept(ctx, hl7v2::read_cwe(pv1.field(13)), at(pv1, 13), {}, "0092"));
  put(hosp, "admitSource", codeable_concept(ctx, hl7v2::read_cwe(pv1.field(14)), at(pv1, 14), {}, "0023"));
  each_repetition(pv1, 15, [&](const element_view& rep, const position& where) {
    append(hosp, "specialArrangement", codeable_concept(ctx, hl7v2::read_cwe(rep), where, {}, "0009"));
  });
  append(hosp, "specialCourtesy", codeable_concept(ctx, hl7v2::read_cwe(pv1.field(16)), at(pv1, 16), {}, "0099"));
  put(hosp, "dischargeDisposition", codeable_concept(ctx, hl7v2::read_cwe(pv1.field(36)), at(pv1, 36), {}, "0112"));
  append(hosp, "dietPreference", codeable_concept(ctx, hl7v2::read_cwe(pv1.field(38)), at(pv1, 38), {}, "0114"));
  put(enc, "hospitalization", std::move(hosp));
  // Locations: PV1-3 assigned (planned for a preadmit), PV1-6 prior
  // (completed), PV1-11 temporary (active), PV1-42 pending (reserved).
  const struct {
    std::size_t field;
    std::string_view status;
  } places[] = {{3, cls == "P" ? "planned" : "active"}, {6, "completed"}, {11, "active"}, {42, "reserved"}};
  for (const auto& place : places) {
    json_value where = location_reference(ctx, hl7v2::read_pl(pv1.field(place.field)), at(pv1, place.field));
    if (is_empty(where)) continue;
    json_value l = json_value::object();
    l.set("location", std::move(where));
    l.set("status", place.status);
    // Departure: PV1-11's "temporary" classification extension is left out;
    // the IG names a ValueSet URL as its code system, which no Coding can use.
    append(enc, "location", std::move(l));
  }
  if (!visit) return ctx.add_entry_if_none_exist(std::move(enc), key);
  return ctx.add_entry(std::move(enc), key);
}

std::optional<segment_view> patient_visit(const hl7v2::message& msg, std::initializer_list<std::string_view> stop) {
  bool in_patient = false;
  for (const segment_view seg : msg) {
    const std::string_view id = seg.id();
    if (id == "PID") {
      if (in_patient) return std::nullopt;
      in_patient = true;
    } else if (std::find(stop.begin(), stop.end(), id) != stop.end()) {
      return std::nullopt;
    } else if (id == "PV1" && in_patient) {
      return seg;
    }
  }
  return std::nullopt;
}

std::string map_context_encounter(context& ctx, const std::optional<segment_view>& pv1) {
  if (!pv1 || !encounter_worthy(*pv1)) return {};
  return map_encounter(ctx, *pv1, encounter_mode::context);
}

}  // namespace hearth::mapping::detail
