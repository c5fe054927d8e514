// convert(): SIU S12/S13/S14/S15/S26 -> Appointment, field by field against
// the IG (SCH[Appointment], AIS/AIG/AIL/AIP[Appointment], TQ[Appointment],
// NTE[Appointment-Comment], FillerStatusCodes[Appointment]), identities and
// errors with their positions.
#include <hearth/mapping/convert.hpp>

#include <set>

#include <doctest/doctest.h>

#include "mapping/test_support.hpp"

using namespace hearth::mapping;
using namespace hearth::mapping::test;
using hearth::hl7v2::error_code;

namespace {

const char* const appointment_url =
    "Appointment?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.56|APT9001";

const char* const patient_mrn =
    "PID|1||12345^^^GOODHOSP&1.2.36.1.2001.1003.0.8003602346556&ISO^MR||Everyman^Adam||19610615|M\r";

// An SCH with the filler id APT9001 in SCH-2 and `fields` by number.
std::string sch(std::initializer_list<std::pair<std::size_t, std::string_view>> fields = {}) {
  std::vector<std::string> values(3);
  values[2] = "APT9001^SCHEDAPP^1.2.36.1.2001.1003.0.56^ISO";
  for (const auto& f : fields) {
    if (values.size() <= f.first) values.resize(f.first + 1);
    values[f.first] = f.second;
  }
  std::string out = "SCH";
  for (std::size_t i = 1; i < values.size(); ++i) out += "|" + values[i];
  return out + "\r";
}

const char* const times = "^^^202612040930+0100^202612041000+0100";

// S12 text with MSH-9 and MSH-10 replaced.
std::string with_header(std::string text, std::string_view type, std::string_view control_id) {
  const std::string from = "SIU^S12^SIU_S12|SIU0001|";
  const auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  text.replace(pos, from.size(), std::string(type) + "|" + std::string(control_id) + "|");
  return text;
}

// The participant of `appt` whose actor is `actor_url`; null when none.
const json_value& participant_of(const json_value& appt, const std::string& actor_url) {
  static const json_value none;
  for (const auto& p : get(appt, "participant").items()) {
    if (str(p, "actor.reference") == actor_url) return p;
  }
  return none;
}

std::set<std::string> warning_positions(const conversion& out) {
  std::set<std::string> where;
  for (const auto& w : out.warnings) where.insert(w.where.to_string());
  return where;
}

}  // namespace

TEST_CASE("SIU^S12: the Appointment, field by field (SCH, AIS, AIG, AIL, AIP, NTE)") {
  const auto out = must_convert(must_parse(read_data("siu_s12.hl7")));
  const auto& b = out.bundle;
  CHECK(str(b, "type") == "transaction");
  // Dependency order: the Patient, what the Appointment refers to, the Appointment last.
  CHECK(str(b, "entry[0].resource.resourceType") == "Patient");
  const auto& entries = get(b, "entry");
  REQUIRE(entries.size() == 5);  // Patient, Practitioner x2 (SCH-16/AIP-3 one, SCH-20), Location, Appointment
  CHECK(str(entries.items().back(), "resource.resourceType") == "Appointment");
  CHECK(entries_of(b, "Practitioner").size() == 2);
  const auto& e = entry(b, "Appointment");
  CHECK(str(e, "request.method") == "PUT");
  CHECK(str(e, "request.url") == appointment_url);
  const auto& appt = get(e, "resource");
  const std::string patient_url = str(entry(b, "Patient"), "fullUrl");

  // SCH-1 placer, SCH-2 filler (EI[Identifier-Extension]), typed PLAC / FILL.
  CHECK(str(appt, "identifier[0].type.coding[0].code") == "PLAC");
  CHECK(str(appt, "identifier[0].system") == "urn:oid:1.2.36.1.2001.1003.0.55");
  CHECK(str(appt, "identifier[0].value") == "PLC778");
  CHECK(str(appt, "identifier[1].type.coding[0].code") == "FILL");
  CHECK(str(appt, "identifier[1].system") == "urn:oid:1.2.36.1.2001.1003.0.56");
  CHECK(str(appt, "identifier[1].value") == "APT9001");
  CHECK(get(appt, "identifier").size() == 2);  // the identity is one of them, not added again
  // SCH-25 Booked (FillerStatusCodes[Appointment]).
  CHECK(str(appt, "status") == "booked");
  CHECK(get(appt, "cancelationReason").is_null());  // app-4
  // PID[Appointment]: the R5 subject extension.
  CHECK(str(appt, "extension[0].url") == "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.subject");
  CHECK(str(appt, "extension[0].valueReference.reference") == patient_url);
  // AIS-3 -> serviceType (C4 is CPT).
  CHECK(str(appt, "serviceType[0].coding[0].system") == "http://www.ama-assn.org/go/cpt");
  CHECK(str(appt, "serviceType[0].coding[0].code") == "99214");
  // SCH-7 HL70276 -> reasonCode, the IG's SNOMED code first (AppointmentReasonCodes).
  CHECK(str(appt, "reasonCode[0].coding[0].system") == "http://snomed.info/sct");
  CHECK(str(appt, "reasonCode[0].coding[0].code") == "185389009");
  CHECK(str(appt, "reasonCode[0].coding[1].system") == "http://terminology.hl7.org/CodeSystem/v2-0276");
  CHECK(str(appt, "reasonCode[0].coding[1].code") == "FOLLOWUP");
  // SCH-8 HL70277 -> appointmentType.
  CHECK(str(appt, "appointmentType.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0277");
  CHECK(str(appt, "appointmentType.coding[0].code") == "Normal");
  // SCH-11 TQ.4/TQ.5 (instants: minute precision padded), SCH-9 with SCH-10 minutes.
  CHECK(str(appt, "start") == "2026-12-04T09:30:00+01:00");
  CHECK(str(appt, "end") == "2026-12-04T10:00:00+01:00");
  CHECK(get(appt, "minutesDuration").number_text() == "30");
  // NTE after SCH and after AIS, joined by line feeds; escapes decoded; the
  // NTE after AIL is not the Appointment's (a warning).
  CHECK(str(appt, "comment") ==
        "Bring the glucose log & all medication bottles.\nFasting labs one hour before.\nInterpreter not required.");

  // Participants: the Patient, SCH-16 filler contact, SCH-20 enterer, AIG, AIL, AIP.
  const auto& parts = get(appt, "participant");
  REQUIRE(parts.size() == 6);
  CHECK(str(parts, "[0].actor.reference") == patient_url);
  CHECK(str(parts, "[0].status") == "accepted");
  CHECK(str(parts, "[1].type[0].text") == "filler contact");
  CHECK(str(parts, "[1].status") == "accepted");
  CHECK(str(parts, "[2].type[0].coding[0].system") ==
        "http://terminology.hl7.org/CodeSystem/provenance-participant-type");
  CHECK(str(parts, "[2].type[0].coding[0].code") == "enterer");
  // AIG: type AIG-4, actor by AIG-3 (logical), period AIG-8 + AIG-11 minutes.
  CHECK(str(parts, "[3].type[0].coding[0].code") == "EQUIP");
  CHECK(str(parts, "[3].type[0].coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0182");
  CHECK(str(parts, "[3].actor.identifier.value") == "ECG-3");
  CHECK(str(parts, "[3].actor.display") == "ECG cart 3");
  CHECK(str(parts, "[3].period.start") == "2026-12-04T09:45:00+01:00");
  CHECK(str(parts, "[3].period.end") == "2026-12-04T10:00:00+01:00");
  CHECK(str(parts, "[3].status") == "accepted");  // AIG-14 "Booked"
  // AIL: the Location (PL[Location]).
  const std::string location_url = str(entry(b, "Location"), "fullUrl");
  CHECK(str(parts, "[4].actor.reference") == location_url);
  CHECK(str(entry(b, "Location"), "resource.name") == "GOODHOSP CLIN1 ROOM7");
  CHECK(str(parts, "[4].period.start") == "2026-12-04T09:30:00+01:00");
  CHECK(str(parts, "[4].period.end") == "2026-12-04T10:00:00+01:00");
  CHECK(str(parts, "[4].status") == "accepted");
  // AIP: the Practitioner (the same one as SCH-16: one entry), type AIP-4.
  CHECK(str(parts, "[5].actor.reference") == str(parts, "[1].actor.reference"));
  CHECK(str(parts, "[5].type[0].coding[0].code") == "ATND");
  CHECK(str(parts, "[5].status") == "accepted");
  CHECK(str(parts, "[5].period.end") == "2026-12-04T10:00:00+01:00");
  const std::string filler_url = str(parts, "[5].actor.reference");
  bool found = false;
  for (const auto* p : entries_of(b, "Practitioner")) {
    if (str(*p, "fullUrl") != filler_url) continue;
    found = true;
    CHECK(str(*p, "resource.name[0].family") == "Filler");
    CHECK(str(*p, "request.url") == "Practitioner?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.1|4711");
  }
  CHECK(found);

  // Warnings: the PV1 without a visit number (no Encounter), the AIL's note,
  // the local coding systems nobody configured.
  const auto where = warning_positions(out);
  CHECK(where.count("PV1-19") == 1);
  CHECK(where.count("PV1") == 0);
  CHECK(entries_of(b, "Encounter").empty());
  CHECK(where.count("NTE") == 1);
  // Reproducible: the same message converts to the same bytes.
  CHECK(hearth::fhir::to_json(must_convert(must_parse(read_data("siu_s12.hl7"))).bundle) == hearth::fhir::to_json(b));
}

TEST_CASE("SIU PV1 with PV1-19: the Encounter as a conditional create; the Appointment does not refer to it") {
  const std::string body = sch({{11, times}}) + patient_mrn +
                           seg("PV1", {{1, "1"}, {2, "P"}, {3, "CLIN1^^^GOODHOSP"}, {19, "V3^^^H&1.2.7&ISO^VN"}}) +
                           "RGS|1|A\r" + seg("PV1", {{1, "1"}, {2, "I"}, {19, "V4^^^H&1.2.7&ISO^VN"}});
  const auto out = must_convert(adt("SIU^S12", body));
  const auto& b = out.bundle;
  const auto& e = entry(b, "Encounter");  // one: the PATIENT group's PV1 only
  CHECK(str(e, "request.method") == "POST");
  CHECK(str(e, "request.url") == "Encounter");
  CHECK(str(e, "request.ifNoneExist") == "identifier=urn%3Aoid%3A1.2.7|V3");
  CHECK(str(e, "resource.class.code") == "PRENC");
  CHECK(str(e, "resource.status") == "planned");  // PatientClass[EncounterStatus] P
  CHECK(str(e, "resource.location[0].status") == "planned");
  CHECK(str(e, "resource.subject.reference") == str(entry(b, "Patient"), "fullUrl"));
  // SIU_S12 links the Appointment to no Encounter (and R4 has no element for it).
  const std::string appt = hearth::fhir::to_json(get(entry(b, "Appointment"), "resource"));
  CHECK(appt.find(str(e, "fullUrl")) == std::string::npos);
  // The PV1 after RGS is no part of the patient's group: reported.
  const auto where = warning_positions(out);
  CHECK(where.count("PV1") == 1);
  CHECK(where.count("PV1-19") == 0);
  // PV1-19 with PV1-2 not in table 0004: the Appointment is mapped, the
  // Encounter skipped with a warning.
  const auto bad = must_convert(
      adt("SIU^S12", sch({{11, times}}) + patient_mrn + seg("PV1", {{1, "1"}, {2, "X"}, {19, "V3^^^H&1.2.7&ISO^VN"}})));
  CHECK(entries_of(bad.bundle, "Encounter").empty());
  CHECK(entries_of(bad.bundle, "Appointment").size() == 1);
  CHECK(warning_positions(bad).count("PV1-2") == 1);
}

TEST_CASE("SIU^S15 after S12: the same Appointment (same conditional URL), cancelled") {
  const auto s12 = must_convert(must_parse(read_data("siu_s12.hl7")));
  const auto s15 = must_convert(must_parse(read_data("siu_s15.hl7")));
  const auto& e12 = entry(s12.bundle, "Appointment");
  const auto& e15 = entry(s15.bundle, "Appointment");
  CHECK(str(e15, "request.method") == "PUT");
  CHECK(str(e15, "request.url") == str(e12, "request.url"));
  CHECK(str(e15, "fullUrl") != str(e12, "fullUrl"));  // another message, other entry names
  CHECK(str(entry(s15.bundle, "Patient"), "request.url") == str(entry(s12.bundle, "Patient"), "request.url"));
  const auto& appt = get(e15, "resource");
  CHECK(str(appt, "status") == "cancelled");
  // SCH-6 event reason: why it was cancelled (app-4: allowed for cancelled).
  CHECK(str(appt, "cancelationReason.coding[0].code") == "PATCANCEL");
  // Participants declined: AIP-12 Cancelled, the Patient from the status.
  CHECK(str(participant_of(appt, str(entry(s15.bundle, "Patient"), "fullUrl")), "status") == "declined");
  for (const auto& p : get(appt, "participant").items()) CHECK(str(p, "status") == "declined");
  // The times stay.
  CHECK(str(appt, "start") == "2026-12-04T09:30:00+01:00");
}

TEST_CASE("SIU S13, S14, S26: same identity; S26 is a no-show whatever SCH-25 says") {
  const std::string s12_text = read_data("siu_s12.hl7");
  const auto s12 = must_convert(must_parse(s12_text));
  const std::string url = str(entry(s12.bundle, "Appointment"), "request.url");
  for (const char* type : {"SIU^S13^SIU_S12", "SIU^S14^SIU_S12"}) {
    CAPTURE(type);
    const auto out = must_convert(must_parse(with_header(s12_text, type, "SIU0003")));
    CHECK(str(entry(out.bundle, "Appointment"), "request.url") == url);
    CHECK(str(entry(out.bundle, "Appointment"), "resource.status") == "booked");
  }
  const auto s26 = must_convert(must_parse(with_header(s12_text, "SIU^S26^SIU_S12", "SIU0004")));
  const auto& appt = get(entry(s26.bundle, "Appointment"), "resource");
  CHECK(str(entry(s26.bundle, "Appointment"), "request.url") == url);
  CHECK(str(appt, "status") == "noshow");  // SCH-25 still says Booked
  CHECK(str(appt, "cancelationReason.coding[0].code") == "NEW");
  CHECK(str(appt, "start") == "2026-12-04T09:30:00+01:00");
  CHECK(supports("SIU", "S12"));
  CHECK(supports("SIU", "S26"));
  CHECK_FALSE(supports("SIU", "S17"));
}

TEST_CASE("SIU identity: stable across MSH-10; the placer id when there is no filler id") {
  const std::string s12_text = read_data("siu_s12.hl7");
  const auto a = must_convert(must_parse(s12_text));
  const auto b = must_convert(must_parse(with_header(s12_text, "SIU^S12^SIU_S12", "OTHER-CONTROL-ID")));
  for (const char* type : {"Patient", "Appointment", "Location"}) {
    CAPTURE(type);
    CHECK(str(entry(a.bundle, type), "request.url") == str(entry(b.bundle, type), "request.url"));
    CHECK(str(entry(a.bundle, type), "fullUrl") != str(entry(b.bundle, type), "fullUrl"));
  }
  // Placer only: the identity is SCH-1.
  const auto placer = must_convert(adt("SIU^S12",
                                       seg("SCH", {{1, "PLC1^P^1.2.3^ISO"}, {11, times}}) +
                                           std::string(patient_mrn)));
  CHECK(str(entry(placer.bundle, "Appointment"), "request.url") == "Appointment?identifier=urn%3Aoid%3A1.2.3|PLC1");
  // The identity does not depend on the times: a rescheduling keeps it.
  const auto moved = must_convert(adt("SIU^S13",
                                      seg("SCH", {{1, "PLC1^P^1.2.3^ISO"}, {11, "^^^202612050930+0100^202612051000+0100"}}) +
                                          std::string(patient_mrn)));
  CHECK(str(entry(moved.bundle, "Appointment"), "request.url") ==
        str(entry(placer.bundle, "Appointment"), "request.url"));
  CHECK(str(entry(moved.bundle, "Appointment"), "resource.start") == "2026-12-05T09:30:00+01:00");
}

TEST_CASE("SIU timing: SCH-11, then TQ1, then AIS-4 + AIS-7; SCH-9 gives the end; status fallbacks") {
  // TQ1-7/TQ1-8 when SCH-11 is empty; status from AIS-10 when SCH-25 is empty, in any case.
  auto out = must_convert(adt("SIU^S12", sch({{9, "30"}, {10, "min"}}) + "TQ1|1||||||202612040930+0100|202612041000+0100\r" +
                                             patient_mrn + "RGS|1\rAIS|1|A|X1^Exam^LOCAL||||||BOOKED"));
  auto appt = get(entry(out.bundle, "Appointment"), "resource");
  CHECK(str(appt, "start") == "2026-12-04T09:30:00+01:00");
  CHECK(str(appt, "end") == "2026-12-04T10:00:00+01:00");
  CHECK(get(appt, "minutesDuration").number_text() == "30");
  CHECK(str(appt, "status") == "booked");
  CHECK(str(appt, "serviceType[0].coding[0].code") == "X1");

  // AIS-4 + AIS-7 hours across midnight when neither SCH-11 nor TQ1 has times.
  out = must_convert(adt("SIU^S12", sch({{25, "Pending"}}) + patient_mrn +
                                        "RGS|1\rAIS|1|A|X1^Exam^LOCAL|20261231233000+0100|||2|h"));
  appt = get(entry(out.bundle, "Appointment"), "resource");
  CHECK(str(appt, "start") == "2026-12-31T23:30:00+01:00");
  CHECK(str(appt, "end") == "2027-01-01T01:30:00+01:00");
  CHECK(str(appt, "status") == "pending");
  CHECK(str(get(appt, "participant[0]"), "status") == "needs-action");

  // SCH-11 start only with SCH-9 minutes: the end is computed; TQ.3 "M45" is minutes.
  out = must_convert(adt("SIU^S12", sch({{9, "20"}, {10, "min"}, {11, "^^M45^202602281950+0100"}}) + patient_mrn));
  appt = get(entry(out.bundle, "Appointment"), "resource");
  CHECK(str(appt, "start") == "2026-02-28T19:50:00+01:00");
  CHECK(str(appt, "end") == "2026-02-28T20:10:00+01:00");
  CHECK(get(appt, "minutesDuration").number_text() == "20");  // SCH-9 over TQ.3

  // A duration in hours (SCH-10 "h") is no minutesDuration (SCH[Appointment]).
  out = must_convert(
      adt("SIU^S12", sch({{9, "1"}, {10, "h"}, {11, "^^^202612040930+0100^202612041030+0100"}}) + patient_mrn));
  CHECK(get(entry(out.bundle, "Appointment"), "resource.minutesDuration").is_null());

  // A cancelled appointment may lack times (app-3).
  out = must_convert(adt("SIU^S15", sch() + patient_mrn));
  CHECK(str(entry(out.bundle, "Appointment"), "resource.status") == "cancelled");
  CHECK(get(entry(out.bundle, "Appointment"), "resource.start").is_null());

  // An AIL start offset from the Appointment's start (AIL-7 + AIL-8 when AIL-6 is not valued).
  out = must_convert(adt("SIU^S12", sch({{11, times}}) + patient_mrn +
                                        "RGS|1\rAIL|1|A|CLIN1^R1^^GOODHOSP||||15|min|10|min"));
  const auto& ail = get(entry(out.bundle, "Appointment"), "resource.participant[1]");
  CHECK(str(ail, "period.start") == "2026-12-04T09:45:00+01:00");
  CHECK(str(ail, "period.end") == "2026-12-04T09:55:00+01:00");
  CHECK(str(ail, "status") == "accepted");

  // Unknown filler status: a 103 warning, the event's default.
  out = must_convert(adt("SIU^S12", sch({{11, times}, {25, "Whatever"}}) +
                                        patient_mrn));
  CHECK(str(entry(out.bundle, "Appointment"), "resource.status") == "booked");
  CHECK(warning_positions(out).count("SCH-25.1") == 1);
}

TEST_CASE("SIU errors: 101 without SCH or its ids or times, 102 bad dates and numbers, with positions") {
  auto r = convert(adt("SIU^S12", patient_mrn), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.segment_id == "SCH");

  r = convert(adt("SIU^S12", seg("SCH", {{11, times}}) + patient_mrn), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "SCH-2");
  CHECK(r.error().where.segment_index == 2);

  // A booked appointment needs its times (app-3).
  r = convert(adt("SIU^S12", sch() + patient_mrn), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "SCH-11");

  // Bad dates: in the TQ (component named), a resource's start, a date without a time.
  r = convert(adt("SIU^S12", sch({{11, "^^^20261304093000+0100^202612041000+0100"}}) + patient_mrn), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::data_type_error);
  CHECK(r.error().where.to_string() == "SCH-11.4.1");  // TQ.4 is a TS: its DTM
  r = convert(adt("SIU^S12", sch({{11, times}}) + patient_mrn +
                                 "RGS|1\rAIP|1|A|4711^Doe^^^^^^^H&1.2&ISO|ATND||2026120409300"),
              {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::data_type_error);
  CHECK(r.error().where.to_string() == "AIP-6");
  CHECK(r.error().where.segment_index == 5);
  r = convert(adt("SIU^S12", sch({{11, "^^^20261204^20261205"}}) + patient_mrn), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::data_type_error);
  CHECK(r.error().where.to_string() == "SCH-11.4");
  // SCH-9 is an NM.
  r = convert(adt("SIU^S12", sch({{9, "thirty"}, {10, "min"}, {11, times}}) + patient_mrn), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::data_type_error);
  CHECK(r.error().where.to_string() == "SCH-9");
  // A time without offset takes the sender's default offset.
  sender_config cfg;
  cfg.default_offset = "-05:00";
  auto fixed = convert(adt("SIU^S12", sch({{11, "^^^202612040930^202612041000"}}) + patient_mrn), cfg);
  REQUIRE(fixed);
  CHECK(str(entry(fixed->bundle, "Appointment"), "resource.start") == "2026-12-04T09:30:00-05:00");
  // No participant at all (no PID, no contact, no resource).
  r = convert(adt("SIU^S12", sch({{11, times}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "SCH");
  // ... but without a PID, a resource is enough: no Patient entry then.
  auto no_patient = convert(adt("SIU^S12", sch({{11, times}}) +
                                               "RGS|1\rAIL|1|A|CLIN1^R1^^GOODHOSP"),
                            {});
  REQUIRE(no_patient);
  check_bundle(no_patient->bundle);
  CHECK(entries_of(no_patient->bundle, "Patient").empty());
  // No error text holds message content.
  r = convert(adt("SIU^S12", sch({{9, "SECRET"}, {10, "min"}, {11, times}}) + patient_mrn), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("SECRET") == std::string::npos);
}

TEST_CASE("the project's sample SIU^S12: its SCH is one field short, so SCH-9 holds the units: 102") {
  // tests/data/hl7v2/siu_s12.hl7 leaves out SCH-5: SCH-6..SCH-25 sit one
  // field early, putting "min^minutes^UCUM" in SCH-9 (an NM).
  std::ifstream in(std::string(HEARTH_TEST_DATA) + "/hl7v2/siu_s12.hl7", std::ios::binary);
  REQUIRE(in);
  const auto msg = must_parse(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  const auto r = convert(msg, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::data_type_error);
  CHECK(r.error().where.to_string() == "SCH-9");
  CHECK(r.error().where.segment_index == 2);
}

TEST_CASE("fault: every truncation and field mangling of the S12 sample gives a Bundle or a 0357 error") {
  // The point of this case is that untrusted input never crashes the mapping
  // and always ends in one of the two documented outcomes.
  const std::string full = read_data("siu_s12.hl7");
  const fault_counts n = fault_sweep(full, {}, true, {}, [](const json_value& bundle) {
    const auto& appt = get(entry(bundle, "Appointment"), "resource");
    CHECK_FALSE(str(appt, "status").empty());
    for (const auto& p : get(appt, "participant").items()) CHECK_FALSE(str(p, "status").empty());
    // app-2: start and end together.
    CHECK(get(appt, "start").is_null() == get(appt, "end").is_null());
  });
  CHECK(n.bundles > 100);
  CHECK(n.errors > 10);
}
