// convert(): VXU^V04 -> Immunization, field by field against the IG
// (ORC[Immunization], RXA[Immunization], RXR[Immunization]), identities, errors.
#include <hearth/mapping/convert.hpp>

#include <set>

#include <doctest/doctest.h>

#include "mapping/test_support.hpp"

using namespace hearth::mapping;
using namespace hearth::mapping::test;
using hearth::hl7v2::error_code;

namespace {

const char* const pid = "PID|1||12345^^^GOODHOSP&1.2.36.1.2001.1003.0.8003602346556&ISO^MR||Everyman^Adam||19610615|M\r";
const char* const filler = "IZ-1^EHR^1.2.36.1.2001.1003.0.30^ISO";

// An RXA with the fields given (3 and 5 default to a valid administration).
std::string rxa(std::initializer_list<std::pair<std::size_t, std::string_view>> fields) {
  std::vector<std::pair<std::size_t, std::string_view>> all = {{1, "0"}, {2, "1"}};
  bool has3 = false;
  bool has5 = false;
  for (const auto& f : fields) {
    has3 = has3 || f.first == 3;
    has5 = has5 || f.first == 5;
  }
  if (!has3) all.emplace_back(3, "20240301100000+0100");
  if (!has5) all.emplace_back(5, "08^Hep B^CVX");
  all.insert(all.end(), fields.begin(), fields.end());
  std::size_t last = 0;
  for (const auto& f : all) last = std::max(last, f.first);
  std::vector<std::string_view> values(last + 1);
  for (const auto& f : all) values[f.first] = f.second;
  std::string out = "RXA";
  for (std::size_t i = 1; i <= last; ++i) {
    out.push_back('|');
    out.append(values[i]);
  }
  out.push_back('\r');
  return out;
}

const json_value& immunization(const json_value& bundle) { return get(entry(bundle, "Immunization"), "resource"); }

std::set<std::string> warning_positions(const conversion& c) {
  std::set<std::string> out;
  for (const auto& w : c.warnings) out.insert(w.where.to_string());
  return out;
}

}  // namespace

TEST_CASE("VXU^V04: two immunizations, field by field") {
  const auto out = must_convert(must_parse(read_data("vxu_v04.hl7")));
  const auto& b = out.bundle;
  const auto imms = entries_of(b, "Immunization");
  REQUIRE(imms.size() == 2);
  CHECK(str(b, "entry[0].resource.resourceType") == "Patient");
  CHECK(entries_of(b, "Organization").size() == 1);  // one manufacturer for both
  CHECK(entries_of(b, "Practitioner").size() == 2);  // the nurse (RXA-10) and the orderer (ORC-12)
  const auto& first = get(*imms[0], "resource");
  const auto& second = get(*imms[1], "resource");
  // Identity: ORC-3 filler order number (FILL).
  CHECK(str(*imms[0], "request.url") == "Immunization?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.30|IZ-100");
  CHECK(str(*imms[1], "request.url") == "Immunization?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.30|IZ-101");
  CHECK(str(first, "identifier[0].type.coding[0].code") == "FILL");
  CHECK(str(first, "identifier[0].value") == "IZ-100");
  // RXA-20 CP -> completed (CompletionStatus); PA -> completed and subpotent.
  CHECK(str(first, "status") == "completed");
  CHECK(get(first, "isSubpotent").is_null());
  CHECK(str(second, "status") == "completed");
  CHECK(get(second, "isSubpotent").is_bool());
  CHECK(get(second, "isSubpotent").as_bool());
  // RXA-5 CVX -> vaccineCode.
  CHECK(str(first, "vaccineCode.coding[0].system") == "http://hl7.org/fhir/sid/cvx");
  CHECK(str(first, "vaccineCode.coding[0].code") == "08");
  CHECK(str(first, "vaccineCode.coding[0].display") == "Hep B, adolescent or pediatric");
  CHECK(str(second, "vaccineCode.coding[0].code") == "03");
  CHECK(str(first, "patient.reference") == str(entry(b, "Patient"), "fullUrl"));
  // RXA-3 -> occurrenceDateTime; ORC-9 -> recorded.
  CHECK(str(first, "occurrenceDateTime") == "2024-03-01T10:00:00+01:00");
  CHECK(str(second, "occurrenceDateTime") == "2024-03-01T10:15:00+01:00");
  CHECK(str(first, "recorded") == "2024-03-01T10:30:00+01:00");
  // RXA-9 NIP001 00: a new record, from the primary source.
  CHECK(get(first, "primarySource").is_bool());
  CHECK(get(first, "primarySource").as_bool());
  CHECK(get(first, "reportOrigin").is_null());
  // RXA-15 lot, RXA-16 expiration, RXA-17 manufacturer (CWE[Organization], MVX).
  CHECK(str(first, "lotNumber") == "LOT123A");
  CHECK(str(second, "lotNumber") == "LOT456B");
  CHECK(str(first, "expirationDate") == "2025-12-31");
  const auto& org = entry(b, "Organization");
  CHECK(str(first, "manufacturer.reference") == str(org, "fullUrl"));
  CHECK(str(second, "manufacturer.reference") == str(org, "fullUrl"));
  CHECK(str(org, "request.url") == "Organization?identifier=http%3A%2F%2Fterminology.hl7.org%2FCodeSystem%2FMVX|MSK");
  CHECK(str(org, "resource.name") == "Merck and Co., Inc.");
  // RXA-6/RXA-7 -> doseQuantity (UCUM).
  CHECK(get(first, "doseQuantity.value").number_text() == "0.5");
  CHECK(str(first, "doseQuantity.system") == "http://unitsofmeasure.org");
  CHECK(str(first, "doseQuantity.code") == "mL");
  CHECK(str(first, "doseQuantity.unit") == "milliliter");
  // RXR-1 route (RouteOfAdministration: IM -> v3 IM, SC -> v3 SQ), v2 coding after.
  CHECK(str(first, "route.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration");
  CHECK(str(first, "route.coding[0].code") == "IM");
  CHECK(str(first, "route.coding[1].system") == "http://terminology.hl7.org/CodeSystem/v2-0162");
  CHECK(str(first, "route.coding[1].code") == "IM");
  CHECK(str(second, "route.coding[0].code") == "SQ");
  CHECK(str(second, "route.coding[1].code") == "SC");
  // RXR-2 site, table 0163.
  CHECK(str(first, "site.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0163");
  CHECK(str(first, "site.coding[0].code") == "LD");
  CHECK(str(second, "site.coding[0].code") == "RA");
  // Performers: RXA-10 AP, ORC-12 OP (only the first ORC has one).
  REQUIRE(get(first, "performer").size() == 2);
  CHECK(str(first, "performer[0].function.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0443");
  CHECK(str(first, "performer[0].function.coding[0].code") == "AP");
  CHECK(str(first, "performer[1].function.coding[0].code") == "OP");
  const auto practitioners = entries_of(b, "Practitioner");
  CHECK(str(first, "performer[0].actor.reference") == str(*practitioners[0], "fullUrl"));
  CHECK(str(*practitioners[0], "resource.name[0].family") == "Nurse");
  CHECK(str(first, "performer[1].actor.reference") == str(*practitioners[1], "fullUrl"));
  CHECK(get(second, "performer").size() == 1);
  // NK1 and the OBX (and nothing else) are reported as not mapped.
  CHECK(warning_positions(out) == std::set<std::string>{"NK1", "OBX"});
}

TEST_CASE("VXU^V04 RXA-21 D: the same Immunization, entered-in-error") {
  const auto original = must_convert(must_parse(read_data("vxu_v04.hl7")));
  const auto deleted = must_convert(must_parse(read_data("vxu_v04_delete.hl7")));
  const auto& d = entry(deleted.bundle, "Immunization");
  CHECK(str(d, "request.url") == str(*entries_of(original.bundle, "Immunization")[0], "request.url"));
  CHECK(str(d, "resource.status") == "entered-in-error");
  // RXA-6 999: the amount is unknown (CDC IG), no doseQuantity.
  CHECK(get(d, "resource.doseQuantity").is_null());
  CHECK(str(d, "resource.vaccineCode.coding[0].code") == "08");
  // D wins over any completion status.
  const auto both = must_convert(adt("VXU^V04", std::string(pid) + seg("ORC", {{1, "RE"}, {3, filler}}) +
                                                  rxa({{20, "CP"}, {21, "D"}})));
  CHECK(str(immunization(both.bundle), "status") == "entered-in-error");
}

TEST_CASE("VXU^V04: status, refusal, historical records, recorded") {
  struct row {
    const char* completion;
    const char* status;
  };
  for (const row& r : {row{"CP", "completed"}, row{"RE", "not-done"}, row{"NA", "not-done"}, row{"", "completed"}}) {
    CAPTURE(std::string(r.completion));
    const auto out = must_convert(
        adt("VXU^V04", std::string(pid) + seg("ORC", {{1, "RE"}, {3, filler}}) +
                           rxa({{5, "998^No vaccine administered^CVX"}, {18, "00^Parental decision^NIP002"}, {20, r.completion}})));
    const auto& imm = immunization(out.bundle);
    CHECK(str(imm, "status") == r.status);
    // RXA-18 -> statusReason (whatever the status: the IG maps it unconditionally).
    CHECK(str(imm, "statusReason.coding[0].code") == "00");
  }
  // RXA-9 01 (historical, source unspecified): not the primary source; the
  // source kept as reportOrigin. RXA-22 is recorded when RXA-21 is A and ORC-9 is not sent.
  const auto hist = must_convert(adt(
      "VXU^V04", std::string(pid) + seg("ORC", {{1, "RE"}, {3, filler}}) +
                     rxa({{9, "01^Historical information - source unspecified^NIP001"}, {21, "A"}, {22, "20240302120000+0100"}})));
  const auto& h = immunization(hist.bundle);
  CHECK(get(h, "primarySource").is_bool());
  CHECK_FALSE(get(h, "primarySource").as_bool());
  CHECK(str(h, "reportOrigin.coding[0].code") == "01");
  CHECK(str(h, "recorded") == "2024-03-02T12:00:00+01:00");
  // Units in a coding system we cannot name: the unit as text only (qty-3).
  const auto units = must_convert(
      adt("VXU^V04", std::string(pid) + seg("ORC", {{1, "RE"}, {3, filler}}) + rxa({{6, "1"}, {7, "DOSE^dose^LOCAL"}})));
  const auto& u = immunization(units.bundle);
  CHECK(get(u, "doseQuantity.value").number_text() == "1");
  CHECK(str(u, "doseQuantity.unit") == "dose");
  CHECK(get(u, "doseQuantity.code").is_null());
  CHECK(get(u, "doseQuantity.system").is_null());
  CHECK(warning_positions(units).count("RXA-7.3") == 1);
}

TEST_CASE("VXU^V04 PV1: the Encounter as a conditional create on PV1-19, Immunization.encounter refers to it") {
  const auto enc = must_convert(adt("VXU^V04", std::string(pid) +
                                                 seg("PV1", {{1, "1"}, {2, "O"}, {19, "V9^^^H&1.2.7&ISO^VN"}}) +
                                                 seg("ORC", {{1, "RE"}, {3, filler}}) + rxa({}) +
                                                 seg("ORC", {{1, "RE"}, {3, "IZ-2^EHR^1.2.36.1.2001.1003.0.30^ISO"}}) +
                                                 rxa({{5, "03^MMR^CVX"}})));
  const auto& e = entry(enc.bundle, "Encounter");
  CHECK(str(e, "request.method") == "POST");
  CHECK(str(e, "request.url") == "Encounter");
  CHECK(str(e, "request.ifNoneExist") == "identifier=urn%3Aoid%3A1.2.7|V9");
  CHECK(str(e, "resource.identifier[0].value") == "V9");
  CHECK(str(e, "resource.identifier[0].type.coding[0].code") == "VN");
  CHECK(str(e, "resource.class.code") == "AMB");
  CHECK(str(e, "resource.status") == "in-progress");
  CHECK(str(e, "resource.subject.reference") == str(entry(enc.bundle, "Patient"), "fullUrl"));
  // Both immunizations of the visit refer to the one Encounter entry, which precedes them.
  const auto imms = entries_of(enc.bundle, "Immunization");
  REQUIRE(imms.size() == 2);
  for (const auto* i : imms) {
    CHECK(str(*i, "resource.encounter.reference") == str(e, "fullUrl"));
    CHECK(get(*i, "resource.encounter.identifier").is_null());
  }
  CHECK(str(enc.bundle, "entry[1].resource.resourceType") == "Encounter");
  CHECK(warning_positions(enc).empty());
  // No PV1-19: no Encounter, no reference, a warning at PV1-19.
  const auto none = must_convert(adt("VXU^V04", std::string(pid) + seg("PV1", {{1, "1"}, {2, "O"}}) +
                                                  seg("ORC", {{1, "RE"}, {3, filler}}) + rxa({})));
  CHECK(entries_of(none.bundle, "Encounter").empty());
  CHECK(get(immunization(none.bundle), "encounter").is_null());
  CHECK(warning_positions(none) == std::set<std::string>{"PV1-19"});
  // PV1-2 not in table 0004: the immunization is mapped, the Encounter
  // skipped with a 103 warning (ADT would fail the message).
  const auto bad = must_convert(adt("VXU^V04", std::string(pid) +
                                                 seg("PV1", {{1, "1"}, {2, "Z"}, {19, "V9^^^H&1.2.7&ISO^VN"}}) +
                                                 seg("ORC", {{1, "RE"}, {3, filler}}) + rxa({})));
  CHECK(entries_of(bad.bundle, "Encounter").empty());
  CHECK(get(immunization(bad.bundle), "encounter").is_null());
  REQUIRE(bad.warnings.size() == 1);
  CHECK(bad.warnings[0].where.to_string() == "PV1-2");
  CHECK(bad.warnings[0].code == error_code::table_value_not_found);
}

TEST_CASE("VXU^V04 identity: stable across MSH-10; derived without ORC-2/ORC-3") {
  const std::string text = read_data("vxu_v04.hl7");
  std::string resent = text;
  resent.replace(resent.find("|VXU0001|"), 9, "|VXU0999|");
  const auto a = must_convert(must_parse(text));
  const auto b = must_convert(must_parse(resent));
  const auto ia = entries_of(a.bundle, "Immunization");
  const auto ib = entries_of(b.bundle, "Immunization");
  REQUIRE(ia.size() == 2);
  REQUIRE(ib.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(str(*ia[i], "request.url") == str(*ib[i], "request.url"));
    CHECK(str(*ia[i], "fullUrl") != str(*ib[i], "fullUrl"));
  }
  CHECK(str(entry(a.bundle, "Organization"), "request.url") == str(entry(b.bundle, "Organization"), "request.url"));
  // ORC-2 only: the placer's number.
  const auto placer = must_convert(adt("VXU^V04", std::string(pid) + seg("ORC", {{1, "RE"}, {2, "P7^EHR^1.2.8^ISO"}}) + rxa({})));
  CHECK(str(entry(placer.bundle, "Immunization"), "request.url") == "Immunization?identifier=urn%3Aoid%3A1.2.8|P7");
  CHECK(str(immunization(placer.bundle), "identifier[0].type.coding[0].code") == "PLAC");
  // RXA without ORC (ORC optional before v2.5), two of them: two Immunizations,
  // derived from the patient, the vaccine and the time; stable across MSH-10.
  const std::string body = std::string(pid) + rxa({}) + rxa({{3, "20240401090000+0100"}});
  const auto d1 = must_convert(adt("VXU^V04", body, "C1"));
  const auto d2 = must_convert(adt("VXU^V04", body, "C2"));
  const auto i1 = entries_of(d1.bundle, "Immunization");
  const auto i2 = entries_of(d2.bundle, "Immunization");
  REQUIRE(i1.size() == 2);
  REQUIRE(i2.size() == 2);
  CHECK(str(*i1[0], "request.url").rfind("Immunization?identifier=urn%3Ahearth%3Av2-derived%3AImmunization|", 0) == 0);
  CHECK(str(*i1[0], "request.url") == str(*i2[0], "request.url"));
  CHECK(str(*i1[1], "request.url") == str(*i2[1], "request.url"));
  CHECK(str(*i1[0], "request.url") != str(*i1[1], "request.url"));
}

TEST_CASE("VXU^V04: errors with positions") {
  // No RXA at all.
  auto r = convert(adt("VXU^V04", pid), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.segment_id == "RXA");
  // An ORC without its RXA.
  r = convert(adt("VXU^V04", std::string(pid) + seg("ORC", {{1, "RE"}, {3, filler}}) +
                                 seg("ORC", {{1, "RE"}, {3, "IZ-2^EHR"}}) + rxa({})),
              {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "ORC");
  CHECK(r.error().where.segment_index == 3);
  // Required RXA fields (FHIR: vaccineCode, occurrence[x]).
  r = convert(adt("VXU^V04", std::string(pid) + rxa({{5, ""}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "RXA-5");
  r = convert(adt("VXU^V04", std::string(pid) + rxa({{3, ""}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "RXA-3");
  // Bad dates and numbers.
  struct bad {
    std::string segments;
    const char* at;
  };
  const bad cases[] = {
      {rxa({{3, "20240231"}}), "RXA-3"},
      {rxa({{16, "2025-12"}}), "RXA-16"},
      {rxa({{22, "2024030112xx"}}), "RXA-22"},
      {seg("ORC", {{1, "RE"}, {3, filler}, {9, "20241301"}}) + rxa({}), "ORC-9"},
      {rxa({{6, "half"}}), "RXA-6"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.at));
    r = convert(adt("VXU^V04", std::string(pid) + c.segments), {});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == error_code::data_type_error);
    CHECK(r.error().where.to_string() == c.at);
  }
  // A completion status not in table 0322: Immunization.status is required, no guess.
  r = convert(adt("VXU^V04", std::string(pid) + rxa({{20, "ZZ"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::table_value_not_found);
  CHECK(r.error().where.to_string() == "RXA-20");
  // No PID.
  r = convert(adt("VXU^V04", rxa({})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().where.segment_id == "PID");
  // No error text holds message content.
  r = convert(adt("VXU^V04", std::string(pid) + rxa({{3, "SECRET"}, {5, "SECRET^x^CVX"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("SECRET") == std::string::npos);
  CHECK(supports("VXU", "V04"));
  CHECK_FALSE(supports("VXU", "V05"));
}

TEST_CASE("fault: every truncation and field mangling of the VXU samples gives a Bundle or a 0357 error") {
  // The point of this case is that untrusted input never crashes the mapping
  // and always ends in one of the two documented outcomes.
  for (const char* name : {"vxu_v04.hl7", "vxu_v04_delete.hl7"}) {
    CAPTURE(std::string(name));
    const std::string full = read_data(name);
    const fault_counts n = fault_sweep(full);
    CHECK(n.bundles > 20);
    CHECK(n.errors > 5);
  }
}
