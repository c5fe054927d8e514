// ORU^R01 unsolicited observation results (IG message map ORU_R01; segment
// maps PID[Patient], OBR[DiagnosticReport], ORC[DiagnosticReport],
// OBX[Observation], OBX[Observation-Component], NTE[Observation],
// SPM[Specimen], OBR[Specimen], PV1[Encounter]).
//
// The message is read into its segment groups first (PATIENT_RESULT,
// VISIT, ORDER_OBSERVATION, OBSERVATION, SPECIMEN), then mapped in dependency
// order: the Patient, the Encounter of the VISIT group, then per order its
// Specimens, its Observations (which refer to the Specimen) and last its
// DiagnosticReport (which lists both).
//
// The Encounter (PV1[Encounter], ORU_R01 4.1.8.1) is a conditional create on
// PV1-19 (encounter_mode::context, mapping_detail.hpp): a lab result names
// the visit, it does not rewrite what ADT recorded of it. Without PV1-19 no
// Encounter (a warning). DiagnosticReport.encounter (ORU_R01 4.2.1.1,
// ORC[DiagnosticReport]) and Observation.encounter of the order's results
// (4.2.4.3.1) refer to it; the PATIENT_OBSERVATION (4.1.7.1) and
// SPECIMEN_OBSERVATION (4.2.7.2.1) OBX, and those with OBX-29 QST or SCI
// (supporting information of the order, 4.2.4.3.1), do not: the IG links
// them to no Encounter. PV2 and PRT of the VISIT group are not mapped.

#include <algorithm>
#include <optional>
#include <tuple>

#include "families.hpp"
#include "mapping_detail.hpp"
#include "observation.hpp"

namespace hearth::mapping::detail {

namespace {

/// SPECIMEN group: SPM and its SPECIMEN_OBSERVATION OBXs.
struct specimen_group {
  segment_view spm;
  std::vector<obx_group> observations;
};

/// ORDER_OBSERVATION group: [ORC] OBR {[NTE]} {OBSERVATION} {SPECIMEN}.
struct order_group {
  segment_view obr;
  std::optional<segment_view> orc;
  std::vector<segment_view> notes;
  std::vector<obx_group> observations;
  std::vector<specimen_group> specimens;
};

/// The message's groups, and whether reading them failed.
struct oru_structure {
  std::vector<obx_group> patient_observations;  ///< PATIENT_OBSERVATION: OBX before any OBR
  std::optional<segment_view> visit;            ///< VISIT.PV1: the first PV1 of the patient, before any OBR
  std::vector<order_group> orders;
};

void not_mapped(context& ctx, const segment_view& seg, std::string text = "segment not mapped") {
  ctx.warn(error_code::message_accepted, std::move(text), at(seg, 0));
}

// Reads the ORU_R01 groups. What the IG maps to nothing here (SFT, NK1,
// patient NTE, TQ1, CTD, FT1, CTI, PRT...) is reported as not mapped.
oru_structure read_structure(context& ctx) {
  oru_structure out;
  enum class in { start, patient, order, observation, specimen, specimen_observation } state = in::start;
  std::optional<segment_view> pending_orc;
  std::size_t pids = 0;
  for (const segment_view seg : ctx.msg) {
    const std::string_view id = seg.id();
    if (id == "MSH" || id == "PD1" || (!id.empty() && id[0] == 'Z')) continue;  // map_patient() reads PD1 and Z
    if (id == "PID") {
      // Departure: ORU_R01 lets PATIENT_RESULT repeat, one patient each; a
      // Bundle here has one Patient, so a second PID is refused rather than
      // its results given to the first patient.
      if (++pids > 1) {
        ctx.fail(error_code::segment_sequence_error, "more than one patient (PID) in one message is not supported",
                 at(seg, 0));
        return out;
      }
      state = in::patient;
    } else if (id == "ORC") {
      if (pending_orc) not_mapped(ctx, *pending_orc, "order control without an observation request: not mapped");
      pending_orc = seg;
    } else if (id == "OBR") {
      order_group g{seg, pending_orc, {}, {}, {}};
      pending_orc.reset();
      out.orders.push_back(std::move(g));
      state = in::order;
    } else if (id == "OBX") {
      obx_group g{seg, {}};
      if (state == in::specimen || state == in::specimen_observation) {
        out.orders.back().specimens.back().observations.push_back(std::move(g));
        state = in::specimen_observation;
      } else if (state == in::order || state == in::observation) {
        out.orders.back().observations.push_back(std::move(g));
        state = in::observation;
      } else {
        out.patient_observations.push_back(std::move(g));
      }
    } else if (id == "NTE") {
      if (state == in::observation) {
        out.orders.back().observations.back().notes.push_back(seg);
      } else if (state == in::specimen_observation) {
        out.orders.back().specimens.back().observations.back().notes.push_back(seg);
      } else if (state == in::patient && !out.patient_observations.empty()) {
        out.patient_observations.back().notes.push_back(seg);
      } else if (state == in::order) {
        out.orders.back().notes.push_back(seg);
      } else {
        // The patient's NTE (ORU_R01 4.1.4): the IG maps it to nothing.
        not_mapped(ctx, seg);
      }
    } else if (id == "SPM") {
      if (out.orders.empty()) {
        not_mapped(ctx, seg, "specimen outside an order: not mapped");
      } else {
        out.orders.back().specimens.push_back(specimen_group{seg, {}});
        state = in::specimen;
      }
    } else if (id == "PV1" && state == in::patient && !out.visit) {
      out.visit = seg;  // PATIENT.VISIT (ORU_R01 4.1.8.1): map_oru
    } else {
      not_mapped(ctx, seg);
    }
  }
  if (pending_orc) not_mapped(ctx, *pending_orc, "order control without an observation request: not mapped");
  return out;
}

// NDL (OBR-32, -34, -35; HL7 v2.5.1 2.A.46): its first component is a CNN
// whose parts are subcomponents. Read as the XCN practitioner_reference()
// takes. A sender that puts an XCN there (components, as before v2.4) is
// read as an XCN.
hl7v2::xcn ndl_person(const element_view& rep) {
  if (rep.size() > 1) return hl7v2::read_xcn(rep);
  const element_view cnn = rep.part(1);
  hl7v2::xcn x;
  x.id_number = cnn.part(1).text();
  x.family_name.surname = cnn.part(2).text();
  x.given_name = cnn.part(3).text();
  x.further_given_names = cnn.part(4).text();
  x.suffix = cnn.part(5).text();
  x.prefix = cnn.part(6).text();
  x.degree = cnn.part(7).text();
  x.source_table = cnn.part(8).text();
  x.assigning_authority = hl7v2::hd{cnn.part(9).text(), cnn.part(10).text(), cnn.part(11).text()};
  return x;
}

// OBR-34 / OBR-35 -> DiagnosticReport.performer with the
// event-performerFunction extension (OBR[DiagnosticReport]: SPRF, TRANS).
void performers(context& ctx, json_value& dr, const segment_view& obr, std::size_t field, std::string_view function) {
  each_repetition(obr, field, [&](const element_view& rep, const position& where) {
    json_value who = practitioner_reference(ctx, ndl_person(rep), child(where, 1));
    if (is_empty(who)) return;
    json_value cc = json_value::object();
    json_value c = json_value::object();
    c.set("system", "http://terminology.hl7.org/CodeSystem/v3-ParticipationType");
    c.set("code", function);
    append(cc, "coding", std::move(c));
    json_value with_ext = json_value::object();
    append(with_ext, "extension",
           extension("http://hl7.org/fhir/StructureDefinition/event-performerFunction", "valueCodeableConcept",
                     std::move(cc)));
    for (auto& m : who.members()) with_ext.set(m.key, std::move(m.value));
    append(dr, "performer", std::move(with_ext));
  });
}

// A DTM as a FHIR instant (R4 datatypes.html#instant: seconds and an offset
// required): OBR-22. A date without a time cannot be an instant: a warning,
// left out.
std::string instant(context& ctx, const segment_view& seg, std::size_t field) {
  auto t = to_datetime(ctx, seg.field(field), at(seg, field));
  if (!t) return {};
  if (t->find('T') == std::string::npos) {
    ctx.warn(error_code::data_type_error, "date without time cannot be an instant: left out", at(seg, field));
    return {};
  }
  return *t;
}

// True for an OBX the IG links to the Encounter: not of OBX-29 type QST or
// SCI (ORU_R01 4.2.4.3.1: those are the order's supporting information).
bool about_the_visit(const segment_view& obx) {
  const std::string type = st(obx.field(29));
  return type != "QST" && type != "SCI";
}

// One ORDER_OBSERVATION group -> its Specimens, Observations and
// DiagnosticReport; `encounter_url` the VISIT's Encounter, empty when none.
void map_order(context& ctx, const order_group& order, const std::string& encounter_url) {
  const segment_view& obr = order.obr;
  const auto code = hl7v2::read_cwe(obr.field(4));
  if (code.identifier.empty() && code.text.empty() && code.alternate_identifier.empty()) {
    ctx.fail(error_code::required_field_missing, "universal service identifier missing (DiagnosticReport.code is "
             "required)", at(obr, 4));
    return;
  }
  // OBR-25 (ResultStatus[Non-Queries]): "IF OBR-25 NOT VALUED ERROR"; Y and
  // Z "IF NOT MAPPED ERROR"; codes mapped to nothing (A, M, N): "unknown"
  // after map_code's warning (status is required).
  const std::string status_code = st(obr.field(25));
  if (status_code.empty()) {
    ctx.fail(error_code::required_field_missing, "result status missing (DiagnosticReport.status is required)",
             at(obr, 25));
    return;
  }
  if (status_code == "Y" || status_code == "Z") {
    ctx.fail(error_code::table_value_not_found, "result status has no DiagnosticReport status (no order or "
             "patient on record)", at(obr, 25));
    return;
  }
  std::string status = map_code(ctx, "ResultStatus[Non-Queries]", status_code, at(obr, 25));
  if (status.empty()) status = "unknown";

  json_value dr = new_resource("DiagnosticReport");
  // OBR-2 placer (PLAC) and OBR-3 filler (FILL) order numbers, ORC-2 and
  // ORC-3 when the OBR leaves them empty (ORC[DiagnosticReport]). The
  // filler's number is the lab's own report: it identifies the report first.
  identity placer;
  identity filler;
  for (const auto& [field, type, out] :
       {std::tuple{std::size_t{2}, "PLAC", &placer}, std::tuple{std::size_t{3}, "FILL", &filler}}) {
    auto ei = hl7v2::read_ei(obr.field(field));
    if (ei.entity_identifier.empty() && order.orc) ei = hl7v2::read_ei(order.orc->field(field));
    append(dr, "identifier", typed_identifier(ei_identifier(ctx, ei, out), type));
  }
  const std::string observed = st(obr.field(7));
  identity key = filler.valid() ? filler : placer.valid() ? placer : identity{};
  if (!key.valid()) {
    // No order number: the patient, the test and its time identify the report.
    key = derived_identity("DiagnosticReport", {ctx.patient_identity.system, ctx.patient_identity.value,
                                                code.identifier, code.coding_system,
                                                code.identifier.empty() ? code.text : std::string(), observed});
  }
  dr.set("status", status);
  // OBR-24 diagnostic service section (the DiagnosticServiceSectionID map
  // maps each code to itself in table 0074).
  append(dr, "category", codeable_concept(ctx, hl7v2::read_cwe(obr.field(24)), at(obr, 24), {}, "0074"));
  dr.set("code", codeable_concept(ctx, code, at(obr, 4)));
  dr.set("subject", reference(ctx.patient_url));
  // ORC[DiagnosticReport] (ORU_R01 4.2.1.1): DiagnosticReport.encounter.
  if (!encounter_url.empty()) dr.set("encounter", reference(encounter_url));
  // OBR-7 effectiveDateTime, or effectivePeriod with OBR-8.
  const auto effective = to_datetime(ctx, observed, at(obr, 7));
  if (auto end = to_datetime(ctx, obr.field(8), at(obr, 8))) {
    json_value period = json_value::object();
    if (effective) period.set("start", *effective);
    period.set("end", *end);
    dr.set("effectivePeriod", std::move(period));
  } else if (effective) {
    dr.set("effectiveDateTime", *effective);
  }
  const std::string issued = instant(ctx, obr, 22);
  put(dr, "issued", issued);
  performers(ctx, dr, obr, 34, "SPRF");
  performers(ctx, dr, obr, 35, "TRANS");
  each_repetition(obr, 32, [&](const element_view& rep, const position& where) {
    append(dr, "resultsInterpreter", practitioner_reference(ctx, ndl_person(rep), child(where, 1)));
  });
  if (ctx.failed()) return;

  // Specimens: SPM, else the OBR's own specimen fields.
  std::vector<std::string> specimens;
  for (const auto& s : order.specimens) {
    std::string url = map_specimen(ctx, s.spm, key);
    if (ctx.failed()) return;
    if (std::find(specimens.begin(), specimens.end(), url) == specimens.end()) specimens.push_back(std::move(url));
  }
  if (order.specimens.empty()) {
    if (std::string url = map_obr_specimen(ctx, obr, key); !url.empty()) specimens.push_back(std::move(url));
    if (ctx.failed()) return;
  }

  observation_links links;
  links.parent = key;
  links.default_effective = effective;
  links.issued = issued;
  // OBR[Specimen]: every Observation of the order refers to its Specimen;
  // with several SPM we cannot tell which OBX is about which.
  if (specimens.size() == 1) links.specimen_url = specimens.front();
  std::vector<std::string> results;
  for (const auto& g : order.observations) {
    observation_links own = links;
    if (about_the_visit(g.obx)) own.encounter_url = encounter_url;  // OBX[Observation] (4.2.4.3.1)
    std::string url = map_observation(ctx, g, own);
    if (ctx.failed()) return;
    if (std::find(results.begin(), results.end(), url) == results.end()) {
      results.push_back(std::move(url));
    } else {
      // Same OBX-3, OBX-4 and OBX-1 twice in one order: one identity, and a
      // transaction touches a resource once, so the first OBX is kept.
      ctx.warn(error_code::message_accepted, "observation repeats an earlier one (OBX-3, OBX-4, OBX-1): not mapped",
               at(g.obx, 0));
    }
  }
  // SPECIMEN_OBSERVATION OBX: subject the Patient, focus the Specimen
  // (ORU_R01 4.2.7.2.1); the IG does not list them as the report's results.
  for (std::size_t i = 0; i < order.specimens.size(); ++i) {
    observation_links about = links;
    about.focus_url = specimens[std::min(i, specimens.size() - 1)];
    about.specimen_url = about.focus_url;
    for (const auto& g : order.specimens[i].observations) {
      map_observation(ctx, g, about);
      if (ctx.failed()) return;
    }
  }
  // The order's NTE (ORU_R01 4.2.3): R4 DiagnosticReport has no note and the
  // IG maps it to nothing.
  for (const auto& nte : order.notes) not_mapped(ctx, nte, "order note not mapped (DiagnosticReport has no note)");
  for (const auto& url : specimens) append(dr, "specimen", reference(url));
  for (const auto& url : results) append(dr, "result", reference(url));
  ctx.add_entry(std::move(dr), key);
}

}  // namespace

void map_oru(context& ctx) {
  const oru_structure groups = read_structure(ctx);
  if (ctx.failed()) return;
  if (groups.orders.empty()) {
    position p;
    p.segment_id = "OBR";
    ctx.fail(error_code::required_field_missing, "OBR segment missing (ORU_R01 needs an ORDER_OBSERVATION)", p);
    return;
  }
  map_patient(ctx);
  if (ctx.failed()) return;
  const std::string encounter_url = map_context_encounter(ctx, groups.visit);
  if (ctx.failed()) return;
  // PATIENT_OBSERVATION (ORU_R01 4.1.7): about the patient, in no report.
  observation_links about_patient;
  about_patient.parent = ctx.patient_identity;
  for (const auto& g : groups.patient_observations) {
    map_observation(ctx, g, about_patient);
    if (ctx.failed()) return;
  }
  for (const auto& order : groups.orders) {
    map_order(ctx, order, encounter_url);
    if (ctx.failed()) return;
  }
}

}  // namespace hearth::mapping::detail
