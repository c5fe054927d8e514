// ORM^O01 and OML^O21: orders (IG message maps ORM_O01, OML_O21; segment maps
// ORC[ServiceRequest], OBR[ServiceRequest], TQ1[ServiceRequest],
// NTE[ServiceRequest], SPM[Specimen], PV1[Encounter]; data type maps
// TQ[ServiceRequest], CQ[Quantity], RPT[Timing]).
//
// One ServiceRequest per ORDER group: an ORC and what follows it up to the
// next ORC (the OBR that details it, its TQ1 timing, the NTE notes of the
// order detail, OML's SPM specimens), after the Patient (map_patient) and
// the Encounter of the PATIENT_VISIT group.
//
// The Encounter (PV1[Encounter], ORM_O01 3.4.1, OML_O21 5.8.1) is a
// conditional create on PV1-19 (encounter_mode::context, mapping_detail.hpp):
// an order repeating a reduced PV1 must not rewrite the Encounter ADT keeps,
// and one is created when none is stored. Without PV1-19: no Encounter (a
// warning), no ServiceRequest.encounter. The IG's message maps create
// Encounter[1] but name no element linking the order to it;
// ServiceRequest.encounter ("the encounter during which this request was
// created", R4) is that link. The PV1 of OML's PRIOR_RESULT (6.4.10.2.1,
// mapped to nothing by the IG) is not the patient's visit: not mapped.
//
// Departures from the IG, each for a stated reason:
// - ORC -> Task and ORC -> Provenance rows: left out; the Bundle carries the
//   order itself.
// - OML's SPM: SPM[Specimen] through map_specimen() (observation.hpp), the
//   same map as ORU's; the SPM's OBX and SAC are not mapped.
// - ORC-1 / ORC-9 businessEvent extensions: left out; the IG gives a ValueSet
//   URL as their code system, which no Coding can use (as encounter.cpp for PV1-11).
// - EI[Identifier-Extension] puts EI.2-4 into "extension??" placeholders: the
//   EI's authority becomes Identifier.system instead (ei_identifier), which is
//   what lets a later message find the order again.
// - TQ1-14 -> repeat.count, not countMax (tim-8: a countMax needs a count).
// - Not mapped here, reported as "segment not mapped": the PATIENT group's
//   NK1, AL1, IN1, GT1 (ADT's maps), the order's DG1 (reasonReference), OBX
//   (supportingInfo: OBX[Observation] is the ORU family's), SAC, RXO, FT1,
//   BLG, CTI, and the NTE that follow an OBX or SPM (theirs, not the order's).
//
// The OrderStatus CSV has no empty column between its FHIR code and display,
// so lookup_code() reads its display and system one column off; only its
// codes are used here (map_code), which it reads right.

#include <cstdio>
#include <utility>

#include "families.hpp"
#include "mapping_detail.hpp"
#include "observation.hpp"  // map_specimen: SPM[Specimen], shared with ORU

namespace hearth::mapping::detail {

namespace {

// The position of a part that a data type reader reported relative to the
// element it read (read_tq: "component 4, subcomponent 1").
position inner(position base, const position& rel) {
  base.component = rel.component;
  base.subcomponent = rel.subcomponent;
  return base;
}

// NTE-3 (FT, repeating) as one text, NTE[ServiceRequest] note.text; NTE-5
// the author, NTE-6 the time. Null when NTE-3 says nothing (Annotation.text
// is required).
json_value annotation(context& ctx, const segment_view& nte) {
  std::string text;
  each_repetition(nte, 3, [&](const element_view& rep, const position&) {
    if (!text.empty()) text.push_back('\n');
    text += hl7v2::read_ft(rep);
  });
  if (text.empty()) return {};
  json_value a = json_value::object();
  put(a, "authorReference",
      practitioner_reference(ctx, hl7v2::read_xcn(nte.field(5).repetition(1)), at(nte, 5, 1)));
  if (auto t = to_datetime(ctx, nte.field(6), at(nte, 6))) a.set("time", *t);
  a.set("text", text);
  return a;
}

json_value text_note(std::string text) {
  if (text.empty()) return {};
  json_value a = json_value::object();
  a.set("text", std::move(text));
  return a;
}

// UCUM units of time (R4 valueset-units-of-time) for the unit of a duration:
// the UCUM code itself, or the letters of TQ.3 (HL7 v2.5.1 4.4.3: S seconds,
// M minutes, H hours, D days, W weeks, L months). Empty when neither.
std::string time_unit(std::string_view unit) {
  static constexpr std::pair<std::string_view, std::string_view> units[] = {
      {"s", "s"},   {"min", "min"}, {"h", "h"},   {"d", "d"},   {"wk", "wk"}, {"mo", "mo"}, {"a", "a"},
      {"S", "s"},   {"M", "min"},   {"H", "h"},   {"D", "d"},   {"W", "wk"},  {"L", "mo"}};
  for (const auto& [v2, ucum] : units) {
    if (v2 == unit) return std::string(ucum);
  }
  return {};
}

// A Duration (boundsDuration): value and a UCUM unit of time; drt-1 wants a
// code whenever there is a value.
json_value duration(const hl7v2::decimal& value, const std::string& ucum) {
  json_value d = json_value::object();
  d.set("value", json_value::number(value.fhir()));
  d.set("unit", ucum);
  d.set("system", "http://unitsofmeasure.org");
  d.set("code", ucum);
  return d;
}

// CQ[Quantity]: CQ.1 the value, CQ.2 (CWE[string]) the unit text; a UCUM unit
// (CQ.2.3 "UCUM") becomes the code too. `where` is the CQ's position.
json_value cq_quantity(context& ctx, const element_view& cq, const position& where) {
  const std::string number = st(cq.part(1));
  if (number.empty()) return {};
  auto value = hl7v2::parse_nm(number);
  if (!value) {
    ctx.fail(error_code::data_type_error, "quantity is not a number", child(where, 1));
    return {};
  }
  const auto units = hl7v2::read_cwe(cq.part(2));
  json_value q = json_value::object();
  q.set("value", json_value::number(value->fhir()));
  put(q, "unit", units.text.empty() ? units.identifier : units.text);
  if (units.coding_system == "UCUM" && !units.identifier.empty()) {
    q.set("system", "http://unitsofmeasure.org");
    put(q, "code", fhir_code(units.identifier));
  }
  return q;
}

// The order's identifiers and the identity of its ServiceRequest: the
// placer order number (ORC-2, else OBR-2: PLAC), else the filler's (ORC-3,
// else OBR-3: FILL), ORC[ServiceRequest] / OBR[ServiceRequest] rows 2 and 3.
struct order_ids {
  json_value identifiers = json_value::array();
  identity placer;
  identity filler;
};

// One ORDER group of the message.
struct order_group {
  std::size_t orc = 0;                  ///< segment index of the ORC
  std::size_t obr = 0;                  ///< segment index of its OBR; 0: none
  std::vector<std::size_t> tq1;         ///< TQ1 of the TIMING groups
  std::vector<std::size_t> notes;       ///< NTE of the order detail
  std::vector<std::size_t> specimens;   ///< SPM (OML)
};

// TQ1[ServiceRequest] -> occurrenceTiming (returned), quantity, priority and
// notes into `sr`.
json_value tq1_timing(context& ctx, const segment_view& tq1, json_value& sr, std::string& priority) {
  json_value timing = json_value::object();
  json_value repeat = json_value::object();
  // TQ1-2 quantity.
  put(sr, "quantityQuantity", cq_quantity(ctx, tq1.field(2).repetition(1), at(tq1, 2)));
  // TQ1-3 repeat pattern (RPT[Timing]): RPT.1 is Timing.code; the other RPT
  // parts (calendar alignment, phases, event offsets) are not mapped.
  each_repetition(tq1, 3, [&](const element_view& rep, const position& where) {
    const auto code = hl7v2::read_cwe(rep.part(1));
    if (timing.find("code") == nullptr) put(timing, "code", codeable_concept(ctx, code, child(where, 1), {}, "0335"));
    for (std::size_t c = 2; c <= 11; ++c) {
      if (valued(rep.part(c))) {
        ctx.warn(error_code::message_accepted, "repeat pattern component not mapped", child(where, c));
      }
    }
  });
  // TQ1-4 explicit times -> repeat.timeOfDay (FHIR time: hh:mm:ss, no offset).
  each_repetition(tq1, 4, [&](const element_view& rep, const position& where) {
    auto tm = hl7v2::parse_tm(st(rep));
    if (!tm) {
      ctx.fail(error_code::data_type_error, tm.error().message, where);
      return;
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02u:%02u:%02u", static_cast<unsigned>(tm->hour),
                  static_cast<unsigned>(tm->minute), static_cast<unsigned>(tm->second));
    std::string t = buf;
    if (!tm->fraction.empty()) t += "." + tm->fraction;
    append(repeat, "timeOfDay", t);
  });
  if (valued(tq1.field(5))) {
    // repeat.offset needs repeat.when (tim-9), which TQ1 cannot give.
    ctx.warn(error_code::message_accepted, "relative time not mapped", at(tq1, 5));
  }
  // TQ1-7 start, TQ1-8 end -> repeat.boundsPeriod; TQ1-6 service duration
  // -> repeat.boundsDuration when neither is sent.
  json_value period = json_value::object();
  if (auto s = to_datetime(ctx, tq1.field(7), at(tq1, 7))) put(period, "start", *s);
  if (auto e = to_datetime(ctx, tq1.field(8), at(tq1, 8))) put(period, "end", *e);
  if (valued(tq1.field(6))) {
    const element_view cq = tq1.field(6).repetition(1);
    auto value = hl7v2::parse_nm(st(cq.part(1)));
    const std::string unit = time_unit(hl7v2::read_cwe(cq.part(2)).identifier);
    if (!is_empty(period)) {
      // The IG computes the other end (start + duration): not done here.
      ctx.warn(error_code::message_accepted, "service duration beside start/end date: not mapped", at(tq1, 6));
    } else if (!value || unit.empty()) {
      ctx.warn(error_code::table_value_not_found, "service duration without a number and a unit of time: not mapped",
               at(tq1, 6));
    } else {
      repeat.set("boundsDuration", duration(*value, unit));
    }
  }
  put(repeat, "boundsPeriod", std::move(period));
  // TQ1-9 priority (ExtendedPriorityCodes); TQ1-9 repeats, priority does not.
  if (priority.empty()) {
    priority = map_code(ctx, "ExtendedPriorityCodes", hl7v2::read_cwe(tq1.field(9).repetition(1)).identifier,
                        at(tq1, 9, 1));
  }
  if (valued(tq1.field(10))) {
    ctx.warn(error_code::message_accepted, "condition text not mapped (no R4 element)", at(tq1, 10));
  }
  // TQ1-11 text instruction -> note.
  append(sr, "note", text_note(hl7v2::read_tx(tq1.field(11))));
  // TQ1-13 occurrence duration -> repeat.duration and durationUnit.
  if (valued(tq1.field(13))) {
    const element_view cq = tq1.field(13).repetition(1);
    auto value = hl7v2::parse_nm(st(cq.part(1)));
    const std::string unit = time_unit(hl7v2::read_cwe(cq.part(2)).identifier);
    if (!value || value->negative() || unit.empty()) {
      ctx.warn(error_code::table_value_not_found, "occurrence duration without a number and a unit of time: not mapped",
               at(tq1, 13));
    } else {
      repeat.set("duration", json_value::number(value->fhir()));
      repeat.set("durationUnit", unit);
    }
  }
  // TQ1-14 total occurrences. The IG says repeat.countMax, but countMax
  // needs a count (tim-8); a total number of occurrences is what count says.
  if (const std::string n = st(tq1.field(14)); !n.empty()) {
    bool digits = n.size() <= 9;
    for (const char c : n) digits = digits && c >= '0' && c <= '9';
    if (!digits || std::stol(n) == 0) {
      ctx.fail(error_code::data_type_error, "total occurrences is not a positive whole number", at(tq1, 14));
    } else {
      repeat.set("count", json_value::number(std::to_string(std::stol(n))));
    }
  }
  // Timing lists repeat before code.
  json_value out = json_value::object();
  put(out, "repeat", std::move(repeat));
  if (json_value* code = timing.find("code")) out.set("code", std::move(*code));
  return out;
}

// TQ[ServiceRequest] (ORC-7, else OBR-27: HL7 v2.5.1 keeps TQ for backward
// compatibility) -> occurrenceTiming (returned), quantity, priority, notes.
json_value tq_timing(context& ctx, const element_view& field, const position& where, json_value& sr,
                     std::string& priority) {
  auto tq = hl7v2::read_tq(field.repetition(1));
  if (!tq) {
    ctx.fail(error_code::data_type_error, tq.error().message, inner(where, tq.error().where));
    return {};
  }
  // TQ.1 quantity (CQ inside TQ: its parts are subcomponents).
  if (tq->quantity.quantity) {
    json_value q = json_value::object();
    q.set("value", json_value::number(tq->quantity.quantity->fhir()));
    put(q, "unit", tq->quantity.units.identifier);
    put(sr, "quantityQuantity", std::move(q));
  }
  json_value timing = json_value::object();
  json_value repeat = json_value::object();
  // TQ.3 duration ("M10": ten minutes) -> boundsDuration when it parses.
  if (!tq->interval.explicit_time_interval.empty()) {
    ctx.warn(error_code::message_accepted, "explicit time interval not mapped", child(where, 2));
  }
  if (!tq->duration.empty()) {
    const std::string unit = time_unit(tq->duration.substr(0, 1));
    auto value = hl7v2::parse_nm(tq->duration.substr(1));
    if (unit.empty() || !value || value->negative()) {
      ctx.warn(error_code::message_accepted, "duration not in the form <unit><number>: not mapped", child(where, 3));
    } else {
      repeat.set("boundsDuration", duration(*value, unit));
    }
  }
  // TQ.4 start, TQ.5 end -> repeat.boundsPeriod.
  json_value period = json_value::object();
  if (tq->start) {
    if (auto s = datetime_text(ctx, tq->start->time, child(where, 4))) period.set("start", *s);
  }
  if (tq->end) {
    if (auto e = datetime_text(ctx, tq->end->time, child(where, 5))) period.set("end", *e);
  }
  if (!is_empty(period) && repeat.find("boundsDuration") != nullptr) {
    ctx.warn(error_code::message_accepted, "duration beside start/end date: not mapped", child(where, 3));
    repeat.erase("boundsDuration");
  }
  put(repeat, "boundsPeriod", std::move(period));
  // TQ.12 total occurrences -> repeat.count (TQ[ServiceRequest]).
  if (tq->total_occurrences) {
    const auto& n = *tq->total_occurrences;
    const bool whole = n.text.find('.') == std::string::npos && !n.negative() && n.fhir() != "0" &&
                       n.fhir().size() <= 9;
    if (!whole) {
      ctx.fail(error_code::data_type_error, "total occurrences is not a positive whole number", child(where, 12));
    } else {
      repeat.set("count", json_value::number(n.fhir()));
    }
  }
  // TQ.2 interval: RI.1 repeat pattern as Timing.code (RI[Timing]).
  if (!tq->interval.repeat_pattern.empty()) {
    hl7v2::coded c;
    c.identifier = tq->interval.repeat_pattern;
    timing.set("code", codeable_concept(ctx, c, child(where, 2), {}, "0335"));
  }
  if (priority.empty()) priority = map_code(ctx, "ExtendedPriorityCodes", tq->priority, child(where, 6));
  if (!tq->condition.empty()) {
    ctx.warn(error_code::message_accepted, "condition not mapped (no R4 element)", child(where, 7));
  }
  append(sr, "note", text_note(tq->text));
  json_value out = json_value::object();
  put(out, "repeat", std::move(repeat));
  if (json_value* code = timing.find("code")) out.set("code", std::move(*code));
  return out;
}

// ORC + OBR (+ TQ1, NTE, SPM) -> the ServiceRequest entry; `encounter_url`
// the PATIENT_VISIT's Encounter, empty when none.
void map_order(context& ctx, const order_group& g, const std::string& encounter_url) {
  const segment_view orc = ctx.msg.segment(g.orc);
  const std::optional<segment_view> obr =
      g.obr != 0 ? std::optional<segment_view>(ctx.msg.segment(g.obr)) : std::nullopt;
  const std::string control = st(orc.field(1));
  if (control.empty()) {
    ctx.fail(error_code::required_field_missing, "order control missing (ServiceRequest.status)", at(orc, 1));
    return;
  }
  json_value sr = new_resource("ServiceRequest");
  // ORC-16 order control reason goes with ORC-1's status (ORC[ServiceRequest]:
  // IF ORC-5 NOT VALUED).
  if (!valued(orc.field(5))) {
    if (const auto reason = hl7v2::read_cwe(orc.field(16)); !reason.empty()) {
      append(sr, "extension",
             extension("http://hl7.org/fhir/StructureDefinition/request-statusReason", "valueCodeableConcept",
                       codeable_concept(ctx, reason, at(orc, 16))));
    }
  }

  // Identifiers: ORC-2/OBR-2 placer (PLAC), ORC-3/OBR-3 filler (FILL),
  // OBR-53/ORC-33 alternate placer numbers (PLAC), ORC-38 filler group (FGN).
  identity placer;
  identity filler;
  const auto order_number = [&](std::size_t field, std::string_view type, identity& out) {
    const segment_view* from = &orc;
    if (!valued(orc.field(field)) && obr) from = &*obr;
    append(sr, "identifier", typed_ei(ctx, hl7v2::read_ei(from->field(field)), type, &out));
  };
  order_number(2, "PLAC", placer);
  order_number(3, "FILL", filler);
  const segment_view& alternates = obr && valued(obr->field(53)) ? *obr : orc;
  each_repetition(alternates, alternates.id() == "OBR" ? 53 : 33, [&](const element_view& rep, const position& where) {
    json_value id = cx_identifier(ctx, hl7v2::read_cx(rep), where);
    if (is_empty(id)) return;
    if (id.find("type") == nullptr) id.set("type", fixed_concept(v2_table_uri("0203"), "PLAC"));
    append(sr, "identifier", std::move(id));
  });
  append(sr, "identifier", typed_ei(ctx, hl7v2::read_ei(orc.field(38)), "FGN"));
  // Identity: the placer's number names the order from its creation (convert.hpp).
  identity key = placer.valid() ? placer : filler;
  const auto service = obr ? hl7v2::read_cwe(obr->field(4)) : hl7v2::coded{};
  if (!key.valid()) {
    // Neither number: the patient, the placer group and the service.
    const std::string group = hl7v2::read_ei(orc.field(4)).entity_identifier;
    key = derived_identity("ServiceRequest", {ctx.patient_identity.system, ctx.patient_identity.value, group,
                                              service.identifier, service.coding_system,
                                              service.identifier.empty() ? service.text : std::string()});
  }

  // ORC-4 placer group number -> requisition (PGN).
  put(sr, "requisition", typed_ei(ctx, hl7v2::read_ei(orc.field(4)), "PGN"));

  // Status: ORC-5 order status when sent (OrderStatus), else ORC-1 order
  // control (OrderControlCode[ServiceRequest.status]). Either unmapped:
  // "unknown" (status is required), after map_code's warning.
  std::string status;
  if (const std::string order_status = st(orc.field(5)); !order_status.empty()) {
    status = map_code(ctx, "OrderStatus", order_status, at(orc, 5));
  } else {
    status = map_code(ctx, "OrderControlCode[ServiceRequest.status]", control, at(orc, 1));
  }
  sr.set("status", status.empty() ? "unknown" : status);
  // Intent: "order"; OBR-11 G (generated) is a reflex order (OBR[ServiceRequest]).
  sr.set("intent", obr && st(obr->field(11)) == "G" ? "reflex-order" : "order");

  // Timing, quantity and priority: the first TQ1 (v2.5+), else ORC-7, else
  // OBR-27 (TQ); priority also from OBR-5 (deprecated) when nothing else says.
  std::string priority;
  json_value timing;
  json_value from_timing = json_value::object();  // quantity and text notes of the timing
  if (!g.tq1.empty()) {
    timing = tq1_timing(ctx, ctx.msg.segment(g.tq1.front()), from_timing, priority);
    for (std::size_t i = 1; i < g.tq1.size(); ++i) {
      ctx.warn(error_code::message_accepted, "further timing not mapped (one occurrence per ServiceRequest)",
               at(ctx.msg.segment(g.tq1[i]), 0));
    }
  } else if (valued(orc.field(7))) {
    timing = tq_timing(ctx, orc.field(7), at(orc, 7, 1), from_timing, priority);
  } else if (obr && valued(obr->field(27))) {
    timing = tq_timing(ctx, obr->field(27), at(*obr, 27, 1), from_timing, priority);
  }
  if (priority.empty() && obr) priority = map_code(ctx, "ExtendedPriorityCodes", st(obr->field(5)), at(*obr, 5));
  put(sr, "priority", priority);

  // OBR-4 universal service id -> code; OBR-46/47 -> orderDetail.
  if (obr) {
    put(sr, "code", codeable_concept(ctx, service, at(*obr, 4)));
    for (const std::size_t f : {std::size_t{46}, std::size_t{47}}) {
      each_repetition(*obr, f, [&](const element_view& rep, const position& where) {
        append(sr, "orderDetail", codeable_concept(ctx, hl7v2::read_cwe(rep), where));
      });
    }
  }
  if (json_value* q = from_timing.find("quantityQuantity")) sr.set("quantityQuantity", std::move(*q));
  sr.set("subject", reference(ctx.patient_url));
  if (!encounter_url.empty()) sr.set("encounter", reference(encounter_url));

  // occurrence[x]: the timing; else OBR-6 requested date/time.
  std::optional<std::string> requested;
  if (obr) requested = to_datetime(ctx, obr->field(6), at(*obr, 6));
  if (!is_empty(timing)) {
    sr.set("occurrenceTiming", std::move(timing));
    if (requested) {
      ctx.warn(error_code::message_accepted, "requested date/time beside timing: not mapped", at(*obr, 6));
    }
  } else if (requested) {
    sr.set("occurrenceDateTime", *requested);
  }
  // ORC-9 -> authoredOn when the order is new (ORC[ServiceRequest]: IF ORC-1
  // IS "NW"); read in any case, so that a malformed date is reported.
  if (auto authored = to_datetime(ctx, orc.field(9), at(orc, 9)); authored && control == "NW") {
    sr.set("authoredOn", *authored);
  }
  // Requester: ORC-12, else OBR-16 (both XCN[Practitioner]; requester is 0..1).
  if (valued(orc.field(12))) {
    put(sr, "requester", practitioner_reference(ctx, hl7v2::read_xcn(orc.field(12).repetition(1)), at(orc, 12, 1)));
  } else if (obr && valued(obr->field(16))) {
    put(sr, "requester",
        practitioner_reference(ctx, hl7v2::read_xcn(obr->field(16).repetition(1)), at(*obr, 16, 1)));
  }
  // OBR-31 reason for study -> reasonCode.
  if (obr) {
    each_repetition(*obr, 31, [&](const element_view& rep, const position& where) {
      append(sr, "reasonCode", codeable_concept(ctx, hl7v2::read_cwe(rep), where));
    });
  }
  // SPM -> Specimen entries (before the ServiceRequest that names them),
  // by the SPM[Specimen] map ORU uses too, so that the specimen of an order
  // and of its result is one resource; its derived identity is scoped by
  // this order's.
  for (const std::size_t i : g.specimens) {
    const std::string url = map_specimen(ctx, ctx.msg.segment(i), key);
    if (!url.empty()) append(sr, "specimen", reference(url));
  }
  // NTE of the order detail -> note (NTE[ServiceRequest]), then TQ text.
  for (const std::size_t i : g.notes) append(sr, "note", annotation(ctx, ctx.msg.segment(i)));
  if (json_value* n = from_timing.find("note")) {
    for (auto& a : n->items()) append(sr, "note", std::move(a));
  }
  ctx.add_entry(std::move(sr), key);
}

// Splits the message into ORDER groups. Segments of a group that are not
// mapped are reported; an OBR, TQ1 or SPM before any ORC is an error (101:
// ORDER.ORC is required in ORM_O01 and OML_O21).
std::vector<order_group> order_groups(context& ctx) {
  std::vector<order_group> groups;
  // Where an NTE belongs: to the order detail right after an OBR (or TCD),
  // to an observation or specimen after OBX / SPM / SAC.
  bool in_detail = false;
  for (const segment_view seg : ctx.msg) {
    const std::string_view id = seg.id();
    if (id == "ORC") {
      groups.emplace_back();
      groups.back().orc = seg.index();
      in_detail = false;
      continue;
    }
    if (groups.empty()) {
      if (id == "OBR" || id == "TQ1" || id == "SPM") {
        ctx.fail(error_code::required_field_missing, "order segment before any ORC (ORC is required)", at(seg, 0));
        return {};
      }
      continue;  // the header and PATIENT groups: map_order_message
    }
    order_group& g = groups.back();
    if (id == "OBR") {
      if (g.obr != 0) {
        ctx.fail(error_code::segment_sequence_error, "second OBR in one order group", at(seg, 0));
        return {};
      }
      g.obr = seg.index();
      in_detail = true;
    } else if (id == "TQ1") {
      g.tq1.push_back(seg.index());
    } else if (id == "NTE") {
      if (in_detail) {
        g.notes.push_back(seg.index());
      } else {
        ctx.warn(error_code::message_accepted, "segment not mapped", at(seg, 0));
      }
    } else if (id == "SPM") {
      g.specimens.push_back(seg.index());
      in_detail = false;
    } else if (id == "TCD" || id == "PRT" || id == "TQ2") {
      // Within the order detail (OML's OBSERVATION_REQUEST): notes still follow.
      ctx.warn(error_code::message_accepted, "segment not mapped", at(seg, 0));
    } else if (id.empty() || id[0] != 'Z') {
      // OBX (the ORU family maps OBX -> Observation), SAC, DG1, FT1, BLG, CTI,
      // RXO...: not mapped here; the NTE after them are theirs.
      ctx.warn(error_code::message_accepted, "segment not mapped", at(seg, 0));
      in_detail = false;
    }
  }
  if (groups.empty()) {
    position p;
    p.segment_id = "ORC";
    ctx.fail(error_code::required_field_missing, "no ORC segment: an order message needs one per order", p);
  }
  return groups;
}

}  // namespace

void map_orders(context& ctx) {
  map_patient(ctx);
  if (ctx.failed()) return;
  // Before the first ORC: the header and PATIENT groups. PID and PD1 make the
  // Patient, the patient's PV1 the Encounter; the rest is not mapped here.
  const std::optional<segment_view> visit = patient_visit(ctx.msg, {"ORC", "OBR", "TQ1", "SPM"});
  for (const segment_view seg : ctx.msg) {
    const std::string_view id = seg.id();
    if (id == "ORC") break;
    if (id == "MSH" || id == "PID" || id == "PD1" || (visit && seg.index() == visit->index()) || id == "OBR" ||
        id == "TQ1" || id == "SPM" || (!id.empty() && id[0] == 'Z')) {
      continue;
    }
    ctx.warn(error_code::message_accepted, "segment not mapped", at(seg, 0));
  }
  const std::vector<order_group> groups = order_groups(ctx);
  if (ctx.failed()) return;
  const std::string encounter_url = map_context_encounter(ctx, visit);
  if (ctx.failed()) return;
  for (const auto& g : groups) {
    map_order(ctx, g, encounter_url);
    if (ctx.failed()) return;
  }
}

}  // namespace hearth::mapping::detail
