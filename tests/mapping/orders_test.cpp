// convert(): ORM^O01 and OML^O21 -> ServiceRequest, field by field against the
// IG (ORC[ServiceRequest], OBR[ServiceRequest], TQ1[ServiceRequest],
// TQ[ServiceRequest], NTE[ServiceRequest], SPM[Specimen]), identities, errors.
#include <hearth/mapping/convert.hpp>

#include <set>

#include <doctest/doctest.h>

#include "mapping/test_support.hpp"

using namespace hearth::mapping;
using namespace hearth::mapping::test;
using hearth::hl7v2::error_code;

namespace {

const char* const pid = "PID|1||12345^^^GOODHOSP&1.2.36.1.2001.1003.0.8003602346556&ISO^MR||Everyman^Adam||19610615|M\r";
const char* const placer = "PO1^CPOE^1.2.36.1.2001.1003.0.20^ISO";

// The one ServiceRequest of a Bundle.
const json_value& service_request(const json_value& bundle) { return get(entry(bundle, "ServiceRequest"), "resource"); }

// The text of `sample` with MSH-10 replaced.
std::string with_control_id(std::string text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  return text;
}

std::set<std::string> warning_positions(const conversion& c) {
  std::set<std::string> out;
  for (const auto& w : c.warnings) out.insert(w.where.to_string());
  return out;
}

}  // namespace

TEST_CASE("ORM^O01 NW: the ServiceRequest, field by field") {
  const auto out = must_convert(must_parse(read_data("orm_o01_nw.hl7")));
  const auto& b = out.bundle;
  // Dependency order: Patient, the Encounter of PV1 (after the Location of
  // PV1-3 it names), the ordering Practitioner, the ServiceRequest.
  CHECK(str(b, "entry[0].resource.resourceType") == "Patient");
  CHECK(str(b, "entry[1].resource.resourceType") == "Location");
  CHECK(str(b, "entry[2].resource.resourceType") == "Encounter");
  CHECK(str(b, "entry[3].resource.resourceType") == "Practitioner");
  CHECK(str(b, "entry[4].resource.resourceType") == "ServiceRequest");
  CHECK(get(b, "entry").size() == 5);
  const auto& e = entry(b, "ServiceRequest");
  // Identity: the placer order number ORC-2 (EI with an ISO OID: urn:oid).
  CHECK(str(e, "request.method") == "PUT");
  CHECK(str(e, "request.url") == "ServiceRequest?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.20|PO12345");
  const auto& sr = get(e, "resource");
  CHECK(str(sr, "identifier[0].type.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0203");
  CHECK(str(sr, "identifier[0].type.coding[0].code") == "PLAC");
  CHECK(str(sr, "identifier[0].system") == "urn:oid:1.2.36.1.2001.1003.0.20");
  CHECK(str(sr, "identifier[0].value") == "PO12345");
  CHECK(get(sr, "identifier").size() == 1);  // OBR-2 repeats ORC-2: one identifier
  // ORC-4 placer group number -> requisition (PGN).
  CHECK(str(sr, "requisition.type.coding[0].code") == "PGN");
  CHECK(str(sr, "requisition.value") == "PG777");
  // ORC-1 NW without ORC-5: OrderControlCode[ServiceRequest.status] NW -> active.
  CHECK(str(sr, "status") == "active");
  CHECK(str(sr, "intent") == "order");
  // TQ1-9 S -> ExtendedPriorityCodes stat.
  CHECK(str(sr, "priority") == "stat");
  // OBR-4 -> code.
  CHECK(str(sr, "code.coding[0].system") == "http://loinc.org");
  CHECK(str(sr, "code.coding[0].code") == "24331-1");
  CHECK(str(sr, "code.coding[0].display") == "Lipid panel - Serum or Plasma");
  // TQ1-2 -> quantityQuantity; TQ1-7/8 -> occurrenceTiming.repeat.boundsPeriod.
  CHECK(get(sr, "quantityQuantity.value").number_text() == "1");
  CHECK(str(sr, "occurrenceTiming.repeat.boundsPeriod.start") == "2024-03-06T08:00:00+01:00");
  CHECK(str(sr, "occurrenceTiming.repeat.boundsPeriod.end") == "2024-03-06T10:00:00+01:00");
  CHECK(get(sr, "occurrenceDateTime").is_null());
  // ORC-9 with ORC-1 NW -> authoredOn.
  CHECK(str(sr, "authoredOn") == "2024-03-05T14:25:00+01:00");
  // subject, encounter (the Encounter entry of PV1), requester (ORC-12).
  CHECK(str(sr, "subject.reference") == str(entry(b, "Patient"), "fullUrl"));
  const auto& enc = entry(b, "Encounter");
  CHECK(str(sr, "encounter.reference") == str(enc, "fullUrl"));
  CHECK(get(sr, "encounter.identifier").is_null());
  // The Encounter: a conditional create on PV1-19, never a PUT that would
  // rewrite the one ADT keeps.
  CHECK(str(enc, "request.method") == "POST");
  CHECK(str(enc, "request.url") == "Encounter");
  CHECK(str(enc, "request.ifNoneExist") == "identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.9|V200");
  CHECK(str(enc, "resource.identifier[0].system") == "urn:oid:1.2.36.1.2001.1003.0.9");
  CHECK(str(enc, "resource.identifier[0].value") == "V200");
  CHECK(str(enc, "resource.class.code") == "AMB");
  CHECK(str(enc, "resource.subject.reference") == str(entry(b, "Patient"), "fullUrl"));
  CHECK(str(enc, "resource.location[0].location.reference") == str(entry(b, "Location"), "fullUrl"));
  CHECK(str(sr, "requester.reference") == str(entry(b, "Practitioner"), "fullUrl"));
  CHECK(str(entry(b, "Practitioner"), "request.url") == "Practitioner?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.1|1234");
  CHECK(str(entry(b, "Practitioner"), "resource.name[0].family") == "Order");
  // OBR-31 (two repetitions) -> reasonCode.
  CHECK(get(sr, "reasonCode").size() == 2);
  CHECK(str(sr, "reasonCode[0].coding[0].system") == "http://hl7.org/fhir/sid/icd-10");
  CHECK(str(sr, "reasonCode[0].coding[0].code") == "R07.9");
  CHECK(str(sr, "reasonCode[1].coding[0].code") == "Z13.6");
  // NTE-3 of the order detail, then TQ1-11 text instruction -> note.
  REQUIRE(get(sr, "note").size() == 3);
  CHECK(str(sr, "note[0].text") == "Patient fasting since midnight.");
  CHECK(str(sr, "note[1].text") == "Call ward 3 with results.");
  CHECK(str(sr, "note[2].text") == "Draw at the bedside");
  CHECK(out.warnings.empty());
  // The same message converts to the same bytes.
  CHECK(hearth::fhir::to_json(must_convert(must_parse(read_data("orm_o01_nw.hl7"))).bundle) ==
        hearth::fhir::to_json(b));
}

TEST_CASE("ORM^O01 CA after NW: the same ServiceRequest, its status changed") {
  const auto nw = must_convert(must_parse(read_data("orm_o01_nw.hl7")));
  const auto ca = must_convert(must_parse(read_data("orm_o01_ca.hl7")));
  const auto& a = entry(nw.bundle, "ServiceRequest");
  const auto& c = entry(ca.bundle, "ServiceRequest");
  // The filler's number arrived with the cancel; the placer's still names the order.
  CHECK(str(c, "request.url") == str(a, "request.url"));
  CHECK(str(c, "fullUrl") != str(a, "fullUrl"));
  CHECK(str(entry(ca.bundle, "Patient"), "request.url") == str(entry(nw.bundle, "Patient"), "request.url"));
  CHECK(str(a, "resource.status") == "active");
  // ORC-5 CA (OrderStatus) -> revoked; ORC-5 wins over ORC-1.
  CHECK(str(c, "resource.status") == "revoked");
  CHECK(str(c, "resource.identifier[1].type.coding[0].code") == "FILL");
  CHECK(str(c, "resource.identifier[1].system") == "urn:oid:1.2.36.1.2001.1003.0.21");
  CHECK(str(c, "resource.identifier[1].value") == "F9876");
  // ORC-9 is authoredOn only for NW; ORC-16 goes with ORC-1's status only (ORC-5 sent).
  CHECK(get(c, "resource.authoredOn").is_null());
  CHECK(get(c, "resource.extension").is_null());
  CHECK(str(c, "resource.requester.reference") == str(entry(ca.bundle, "Practitioner"), "fullUrl"));
}

TEST_CASE("ORC-1 / ORC-5 -> status as the IG's maps say") {
  struct row {
    const char* orc1;
    const char* orc5;
    const char* status;
    const char* warning_at;  // nullptr: no warning
  };
  const row rows[] = {
      {"NW", "", "active", nullptr},
      {"CA", "", "active", nullptr},  // a cancel *request*: OrderControlCode CA -> active
      {"OC", "", "revoked", nullptr},
      {"DC", "", "revoked", nullptr},
      {"HD", "", "active", nullptr},
      {"OH", "", "on-hold", nullptr},
      {"SC", "CM", "completed", nullptr},
      {"SC", "IP", "active", nullptr},
      {"SC", "HD", "on-hold", nullptr},
      {"SC", "ER", "entered-in-error", nullptr},
      {"SC", "", "unknown", "ORC-1"},   // listed with no FHIR status
      {"NW", "XX", "unknown", "ORC-5"},  // not in table 0038
  };
  for (const auto& r : rows) {
    CAPTURE(r.orc1);
    CAPTURE(r.orc5);
    const auto out = must_convert(
        adt("ORM^O01", std::string(pid) + seg("ORC", {{1, r.orc1}, {2, placer}, {5, r.orc5}}) +
                           seg("OBR", {{1, "1"}, {4, "2345-7^Glucose^LN"}})));
    CHECK(str(service_request(out.bundle), "status") == r.status);
    if (r.warning_at == nullptr) {
      CHECK(out.warnings.empty());
    } else {
      REQUIRE(out.warnings.size() == 1);
      CHECK(out.warnings[0].code == error_code::table_value_not_found);
      CHECK(out.warnings[0].where.to_string() == r.warning_at);
    }
  }
  // ORC-16 with ORC-1's status: the request-statusReason extension.
  const auto dc = must_convert(adt(
      "ORM^O01", std::string(pid) + seg("ORC", {{1, "DC"}, {2, placer}, {16, "PD^Patient discharged^HL70119"}})));
  const auto& sr = service_request(dc.bundle);
  CHECK(str(sr, "status") == "revoked");
  CHECK(str(sr, "extension[0].url") == "http://hl7.org/fhir/StructureDefinition/request-statusReason");
  CHECK(str(sr, "extension[0].valueCodeableConcept.coding[0].code") == "PD");
  // ORC alone (ORM's ORDER_DETAIL is optional): no code, still a valid ServiceRequest.
  CHECK(get(sr, "code").is_null());
}

TEST_CASE("OML^O21: two order groups, each with its timing, notes and specimen") {
  const auto out = must_convert(must_parse(read_data("oml_o21.hl7")));
  const auto& b = out.bundle;
  const auto orders = entries_of(b, "ServiceRequest");
  const auto specimens = entries_of(b, "Specimen");
  REQUIRE(orders.size() == 2);
  REQUIRE(specimens.size() == 2);
  CHECK(entries_of(b, "Practitioner").size() == 1);  // the same ORC-12 twice: one entry
  // Entries in dependency order: each Specimen before the ServiceRequest naming it.
  std::vector<std::string> types;
  for (const auto& e : get(b, "entry").items()) types.push_back(str(e, "resource.resourceType"));
  CHECK(types == std::vector<std::string>{"Patient", "Practitioner", "Specimen", "ServiceRequest", "Specimen",
                                          "ServiceRequest"});
  const auto& first = get(*orders[0], "resource");
  const auto& second = get(*orders[1], "resource");
  CHECK(str(*orders[0], "request.url") == "ServiceRequest?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.20|LAB100");
  CHECK(str(*orders[1], "request.url") == "ServiceRequest?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.20|LAB101");
  CHECK(str(first, "code.coding[0].code") == "2345-7");
  CHECK(str(second, "code.coding[0].code") == "718-7");
  CHECK(str(first, "priority") == "routine");
  CHECK(str(second, "priority") == "asap");
  CHECK(str(first, "occurrenceTiming.repeat.boundsPeriod.start") == "2024-03-07T08:00:00+01:00");
  // TQ1-14 total occurrences -> repeat.count.
  CHECK(get(second, "occurrenceTiming.repeat.count").number_text() == "3");
  CHECK(get(first, "occurrenceTiming.repeat.count").is_null());
  // ORC-3 in the second group: a FILL identifier; the placer's still the identity.
  CHECK(str(second, "identifier[1].type.coding[0].code") == "FILL");
  CHECK(str(second, "identifier[1].value") == "F101");
  // NTE after the first OBR: that order's note only.
  CHECK(str(first, "note[0].text") == "Draw before breakfast.");
  CHECK(get(second, "note").is_null());
  // specimen -> the SPM of the same group.
  CHECK(str(first, "specimen[0].reference") == str(*specimens[0], "fullUrl"));
  CHECK(str(second, "specimen[0].reference") == str(*specimens[1], "fullUrl"));
  // SPM[Specimen]: SPM-2.1 placer id (identity), SPM-4 type, SPM-17 collected, SPM-18 received.
  const auto& s1 = get(*specimens[0], "resource");
  CHECK(str(*specimens[0], "request.url") == "Specimen?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.22|SP100");
  CHECK(str(s1, "identifier[0].type.coding[0].code") == "PGN");  // EIP[Identifier-PlacerAssignedIdentifier]
  CHECK(str(s1, "type.coding[0].system") == "http://snomed.info/sct");
  CHECK(str(s1, "type.coding[0].code") == "119297000");
  CHECK(str(s1, "collection.collectedDateTime") == "2024-03-07T08:15:00+01:00");
  CHECK(str(s1, "receivedTime") == "2024-03-07T09:00:00+01:00");
  CHECK(str(s1, "subject.reference") == str(entry(b, "Patient"), "fullUrl"));
  // A specimen without an id: a derived identity, scoped by its order.
  CHECK(str(*specimens[1], "request.url").rfind("Specimen?identifier=urn%3Ahearth%3Av2-derived%3ASpecimen|", 0) == 0);
  CHECK(out.warnings.empty());
}

TEST_CASE("identity: stable across MSH-10; placer, else filler, else derived") {
  const std::string text = read_data("orm_o01_nw.hl7");
  const auto a = must_convert(must_parse(text));
  const auto b = must_convert(must_parse(with_control_id(text, "|ORM0001|", "|ORM0777|")));
  for (const char* type : {"Patient", "Practitioner", "ServiceRequest"}) {
    CAPTURE(type);
    CHECK(str(entry(a.bundle, type), "request.url") == str(entry(b.bundle, type), "request.url"));
    CHECK(str(entry(a.bundle, type), "fullUrl") != str(entry(b.bundle, type), "fullUrl"));
  }
  // The placer's number in OBR-2 only ("IF ORC-2 NOT VALUED"): the same identity.
  const auto obr2 = must_convert(
      adt("ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}}) + seg("OBR", {{1, "1"}, {2, placer}, {4, "X^Y^LN"}})));
  CHECK(str(entry(obr2.bundle, "ServiceRequest"), "request.url") ==
        "ServiceRequest?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.20|PO1");
  // The filler's number only.
  const auto filler = must_convert(adt(
      "ORM^O01", std::string(pid) + seg("ORC", {{1, "SC"}, {3, "F1^LAB^1.2.3^ISO"}, {5, "IP"}}) + seg("OBR", {{1, "1"}})));
  CHECK(str(entry(filler.bundle, "ServiceRequest"), "request.url") == "ServiceRequest?identifier=urn%3Aoid%3A1.2.3|F1");
  CHECK(str(service_request(filler.bundle), "identifier[0].type.coding[0].code") == "FILL");
  // An EI without a resolvable authority: the sender's namespace (convert.hpp).
  const auto local = must_convert(adt("ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}, {2, "77^CPOE"}})));
  CHECK(str(entry(local.bundle, "ServiceRequest"), "request.url") ==
        "ServiceRequest?identifier=urn%3Ahearth%3Av2-authority%3ACPOE|77");
  // Neither number: derived from the patient, the placer group and the service;
  // stable across MSH-10, different for another service.
  const std::string body = std::string(pid) + seg("ORC", {{1, "NW"}}) + seg("OBR", {{1, "1"}, {4, "2345-7^Glucose^LN"}});
  const auto d1 = must_convert(adt("ORM^O01", body, "C1"));
  const auto d2 = must_convert(adt("ORM^O01", body, "C2"));
  const auto d3 = must_convert(
      adt("ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}}) + seg("OBR", {{1, "1"}, {4, "718-7^Hgb^LN"}})));
  const std::string u1 = str(entry(d1.bundle, "ServiceRequest"), "request.url");
  CHECK(u1.rfind("ServiceRequest?identifier=urn%3Ahearth%3Av2-derived%3AServiceRequest|", 0) == 0);
  CHECK(u1 == str(entry(d2.bundle, "ServiceRequest"), "request.url"));
  CHECK(u1 != str(entry(d3.bundle, "ServiceRequest"), "request.url"));
}

TEST_CASE("timing: TQ1 repeat pattern, times, durations; ORC-7 / OBR-27 TQ when no TQ1; OBR-5, OBR-6") {
  // TQ1-3 RPT.1 -> Timing.code, TQ1-4 -> timeOfDay, TQ1-6 -> boundsDuration,
  // TQ1-13 -> duration/durationUnit.
  auto out = must_convert(adt(
      "ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}, {2, placer}}) +
                     seg("TQ1", {{1, "1"}, {3, "Q6H&Every 6 hours&HL70335"}, {4, "0800~1400"}, {6, "5^d"}, {13, "30^min"}}) +
                     seg("OBR", {{1, "1"}, {4, "X^Y^LN"}})));
  auto sr = service_request(out.bundle);
  CHECK(str(sr, "occurrenceTiming.code.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0335");
  CHECK(str(sr, "occurrenceTiming.code.coding[0].code") == "Q6H");
  CHECK(str(sr, "occurrenceTiming.repeat.timeOfDay[0]") == "08:00:00");
  CHECK(str(sr, "occurrenceTiming.repeat.timeOfDay[1]") == "14:00:00");
  CHECK(get(sr, "occurrenceTiming.repeat.boundsDuration.value").number_text() == "5");
  CHECK(str(sr, "occurrenceTiming.repeat.boundsDuration.code") == "d");
  CHECK(str(sr, "occurrenceTiming.repeat.boundsDuration.system") == "http://unitsofmeasure.org");
  CHECK(get(sr, "occurrenceTiming.repeat.duration").number_text() == "30");
  CHECK(str(sr, "occurrenceTiming.repeat.durationUnit") == "min");
  CHECK(out.warnings.empty());

  // ORC-7 TQ: quantity, interval, start/end, priority, text, total occurrences.
  out = must_convert(adt("ORM^O01", std::string(pid) +
                                        seg("ORC", {{1, "NW"}, {2, placer},
                                                    {7, "2^Q6H^^20240306080000+0100^20240306200000+0100^A^^Give with food^^^^4"}}) +
                                        seg("OBR", {{1, "1"}, {4, "X^Y^LN"}, {5, "S"}, {6, "20240306070000+0100"}})));
  sr = service_request(out.bundle);
  CHECK(get(sr, "quantityQuantity.value").number_text() == "2");
  CHECK(str(sr, "occurrenceTiming.code.coding[0].code") == "Q6H");
  CHECK(str(sr, "occurrenceTiming.repeat.boundsPeriod.start") == "2024-03-06T08:00:00+01:00");
  CHECK(str(sr, "occurrenceTiming.repeat.boundsPeriod.end") == "2024-03-06T20:00:00+01:00");
  CHECK(get(sr, "occurrenceTiming.repeat.count").number_text() == "4");
  CHECK(str(sr, "priority") == "asap");  // TQ.6 before the deprecated OBR-5
  CHECK(str(sr, "note[0].text") == "Give with food");
  CHECK(get(sr, "occurrenceDateTime").is_null());  // the timing says when; OBR-6 reported
  CHECK(warning_positions(out).count("OBR-6") == 1);

  // OBR-27 when ORC-7 is not sent; TQ.3 duration "M30" -> boundsDuration.
  out = must_convert(adt("ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}, {2, placer}}) +
                                        seg("OBR", {{1, "1"}, {4, "X^Y^LN"}, {27, "^^M30^^^R"}})));
  sr = service_request(out.bundle);
  CHECK(str(sr, "priority") == "routine");
  CHECK(get(sr, "occurrenceTiming.repeat.boundsDuration.value").number_text() == "30");
  CHECK(str(sr, "occurrenceTiming.repeat.boundsDuration.code") == "min");

  // No timing: OBR-6 -> occurrenceDateTime, OBR-5 -> priority; OBR-11 G -> reflex-order.
  out = must_convert(adt("ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}, {2, placer}}) +
                                        seg("OBR", {{1, "1"}, {4, "X^Y^LN"}, {5, "S"}, {6, "20240306070000+0100"}, {11, "G"}})));
  sr = service_request(out.bundle);
  CHECK(str(sr, "occurrenceDateTime") == "2024-03-06T07:00:00+01:00");
  CHECK(str(sr, "priority") == "stat");
  CHECK(str(sr, "intent") == "reflex-order");
  // Without ORC-12, the requester is OBR-16.
  out = must_convert(adt("ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}, {2, placer}}) +
                                        seg("OBR", {{1, "1"}, {16, "99^Doc^Dora^^^^^^H&1.2.9&ISO"}})));
  CHECK(str(service_request(out.bundle), "requester.reference") == str(entry(out.bundle, "Practitioner"), "fullUrl"));
  CHECK(str(entry(out.bundle, "Practitioner"), "request.url") == "Practitioner?identifier=urn%3Aoid%3A1.2.9|99");
  // A priority the IG maps to nothing (P, preop): left out with a warning.
  out = must_convert(adt("ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}, {2, placer}}) +
                                        seg("TQ1", {{1, "1"}, {9, "P^Preop^HL70485"}})));
  CHECK(get(service_request(out.bundle), "priority").is_null());
  CHECK(warning_positions(out).count("TQ1-9") == 1);
}

TEST_CASE("orders: segments not mapped here are reported; their NTE are not the order's notes") {
  const auto out = must_convert(adt(
      "OML^O21", std::string(pid) + "PV1|1|O\rIN1|1|PLAN\r" + seg("ORC", {{1, "NW"}, {2, placer}}) +
                     seg("OBR", {{1, "1"}, {4, "X^Y^LN"}}) + "NTE|1||order note\r" +
                     "OBX|1|NM|8302-2^Height^LN||180|cm\r" + "NTE|1||observation note\r" + "DG1|1||I10^HTN^I10\r"));
  const auto& sr = service_request(out.bundle);
  REQUIRE(get(sr, "note").size() == 1);
  CHECK(str(sr, "note[0].text") == "order note");
  const auto w = warning_positions(out);
  CHECK(w.count("IN1") == 1);
  CHECK(w.count("OBX") == 1);
  CHECK(w.count("NTE") == 1);
  CHECK(w.count("DG1") == 1);
  CHECK(w.count("PV1-19") == 1);  // the PV1 without a visit number: no Encounter
  CHECK(w.size() == 5);
  // No PV1-19: no Encounter, no encounter reference.
  CHECK(get(sr, "encounter").is_null());
  CHECK(entries_of(out.bundle, "Encounter").empty());
}

TEST_CASE("orders: the Encounter only from the patient's PV1 with PV1-19; no class: the order is still mapped") {
  const std::string pv1 = seg("PV1", {{1, "1"}, {2, "E"}, {19, "V9^^^H&1.2.7&ISO^VN"}});
  // OML: the patient's PV1, and a PRIOR_RESULT's PV1 inside the order
  // (mapped to nothing by the IG; reported).
  auto out = must_convert(adt("OML^O21", std::string(pid) + pv1 + seg("ORC", {{1, "NW"}, {2, placer}}) +
                                             seg("OBR", {{1, "1"}, {4, "X^Y^LN"}}) +
                                             seg("PV1", {{1, "1"}, {2, "I"}, {19, "V8^^^H&1.2.7&ISO^VN"}})));
  const auto& enc = entry(out.bundle, "Encounter");
  CHECK(str(enc, "request.ifNoneExist") == "identifier=urn%3Aoid%3A1.2.7|V9");
  CHECK(str(enc, "resource.class.code") == "EMER");
  CHECK(str(service_request(out.bundle), "encounter.reference") == str(enc, "fullUrl"));
  CHECK(warning_positions(out).count("PV1") == 1);
  // A PV1 only inside the order: no Encounter.
  out = must_convert(adt("OML^O21", std::string(pid) + seg("ORC", {{1, "NW"}, {2, placer}}) +
                                        seg("OBR", {{1, "1"}, {4, "X^Y^LN"}}) + pv1));
  CHECK(entries_of(out.bundle, "Encounter").empty());
  CHECK(get(service_request(out.bundle), "encounter").is_null());
  // PV1-19 without PV1-2: a warning at PV1-2, the order mapped without encounter.
  out = must_convert(adt("ORM^O01", std::string(pid) + seg("PV1", {{1, "1"}, {3, "W1"}, {19, "V9^^^H&1.2.7&ISO^VN"}}) +
                                        seg("ORC", {{1, "NW"}, {2, placer}}) + seg("OBR", {{1, "1"}, {4, "X^Y^LN"}})));
  CHECK(entries_of(out.bundle, "Encounter").empty());
  CHECK(entries_of(out.bundle, "Location").empty());
  CHECK(get(service_request(out.bundle), "encounter").is_null());
  REQUIRE(warning_positions(out).count("PV1-2") == 1);
  for (const auto& w : out.warnings) {
    if (w.where.to_string() == "PV1-2") CHECK(w.code == error_code::required_field_missing);
  }
}

TEST_CASE("orders: errors with positions") {
  // No ORC at all.
  auto r = convert(adt("ORM^O01", pid), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.segment_id == "ORC");
  // An OBR before any ORC.
  r = convert(adt("OML^O21", std::string(pid) + seg("OBR", {{1, "1"}, {4, "X^Y^LN"}}) + seg("ORC", {{1, "NW"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "OBR");
  CHECK(r.error().where.segment_index == 3);
  // ORC-1 missing.
  r = convert(adt("ORM^O01", std::string(pid) + seg("ORC", {{2, placer}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "ORC-1");
  // No PID: the Patient (ServiceRequest.subject is required).
  r = convert(adt("ORM^O01", seg("ORC", {{1, "NW"}, {2, placer}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().where.segment_id == "PID");
  // Bad dates: ORC-9, TQ1-7, OBR-6, a TQ start (ORC-7.4), NTE-6, SPM-17.1.
  struct bad {
    std::string segments;
    const char* at;
  };
  const bad cases[] = {
      {seg("ORC", {{1, "NW"}, {2, placer}, {9, "20241340"}}), "ORC-9"},
      {seg("ORC", {{1, "NW"}, {2, placer}}) + seg("TQ1", {{1, "1"}, {7, "2024030699"}}), "TQ1-7"},
      {seg("ORC", {{1, "NW"}, {2, placer}}) + seg("OBR", {{1, "1"}, {6, "2024-03-06"}}), "OBR-6"},
      {seg("ORC", {{1, "NW"}, {2, placer}, {7, "^^^2024031"}}), "ORC-7.4.1"},  // TQ.4 is a TS: its DTM
      {seg("ORC", {{1, "NW"}, {2, placer}}) + seg("OBR", {{1, "1"}}) + seg("NTE", {{1, "1"}, {3, "x"}, {6, "X"}}),
       "NTE-6"},
      {seg("ORC", {{1, "NW"}, {2, placer}}) + seg("OBR", {{1, "1"}}) + seg("SPM", {{1, "1"}, {4, "B^Blood"}, {17, "20240230"}}),
       "SPM-17.1"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.at));
    r = convert(adt("ORM^O01", std::string(pid) + c.segments), {});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == error_code::data_type_error);
    CHECK(r.error().where.to_string() == c.at);
  }
  // A number that is none: TQ1-2 quantity, TQ1-14 total occurrences.
  r = convert(adt("ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}}) + seg("TQ1", {{1, "1"}, {2, "two"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::data_type_error);
  CHECK(r.error().where.to_string() == "TQ1-2.1");
  r = convert(adt("ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}}) + seg("TQ1", {{1, "1"}, {14, "0"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().where.to_string() == "TQ1-14");
  // Two OBR in one order group.
  r = convert(adt("ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}}) + seg("OBR", {{1, "1"}}) + seg("OBR", {{1, "2"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::segment_sequence_error);
  CHECK(r.error().where.segment_index == 5);
  // No error text holds message content.
  r = convert(adt("ORM^O01", std::string(pid) + seg("ORC", {{1, "NW"}, {2, "SECRET^X"}, {9, "SECRET9"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("SECRET") == std::string::npos);
}

TEST_CASE("dispatch: ORM^O01 and OML^O21 are supported, other order events are not") {
  CHECK(supports("ORM", "O01"));
  CHECK(supports("OML", "O21"));
  CHECK_FALSE(supports("ORM", "O02"));
  CHECK_FALSE(supports("OML", "O33"));
  auto r = convert(adt("OML^O33", std::string(pid) + seg("ORC", {{1, "NW"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::unsupported_event_code);
  CHECK(r.error().where.to_string() == "MSH-9.2");
}

TEST_CASE("fault: every truncation and field mangling of the order samples gives a Bundle or a 0357 error") {
  // The point of this case is that untrusted input never crashes the mapping
  // and always ends in one of the two documented outcomes.
  for (const char* name : {"orm_o01_nw.hl7", "orm_o01_ca.hl7", "oml_o21.hl7"}) {
    CAPTURE(std::string(name));
    const std::string full = read_data(name);
    const fault_counts n = fault_sweep(full);
    CHECK(n.bundles > 20);
    CHECK(n.errors > 5);
  }
}
