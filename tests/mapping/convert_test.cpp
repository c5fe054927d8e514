// convert(): ADT messages field by field against the IG, the Bundle contract,
// identities, errors and the dispatch.
#include <hearth/mapping/convert.hpp>

#include <set>

#include <doctest/doctest.h>

#include "mapping/test_support.hpp"

using namespace hearth::mapping;
using namespace hearth::mapping::test;
using hearth::hl7v2::error_code;

namespace {

sender_config full_config() {
  auto cfg = mapping_config::load(std::string(HEARTH_TEST_DATA) + "/hl7v2/mapping/mapping_config.json");
  REQUIRE(cfg);
  return cfg->for_sender("ADTAPP", "GOODHOSP");
}

const char* const patient_mrn =
    "PID|1||12345^^^GOODHOSP&1.2.36.1.2001.1003.0.8003602346556&ISO^MR||Everyman^Adam||19610615|M\r";

}  // namespace

TEST_CASE("ADT^A01: the Bundle contract") {
  const auto msg = must_parse(read_data("adt_a01_full.hl7"));
  const auto out = must_convert(msg, full_config());
  const auto& b = out.bundle;
  CHECK(str(b, "resourceType") == "Bundle");
  CHECK(str(b, "type") == "transaction");
  const auto& entries = get(b, "entry");
  REQUIRE(entries.size() >= 8);
  // Dependency order: the Practitioner of PD1-4 the Patient refers to, then the Patient.
  CHECK(str(b, "entry[0].resource.resourceType") == "Practitioner");
  CHECK(str(b, "entry[1].resource.resourceType") == "Patient");
  std::set<std::string> urls;
  for (const auto& e : entries.items()) {
    const std::string full_url = str(e, "fullUrl");
    CHECK(full_url.rfind("urn:uuid:", 0) == 0);
    CHECK(full_url.size() == 45);
    CHECK(urls.insert(full_url).second);
    // Every resource here has an identity: conditional PUTs on an identifier it carries.
    const std::string type = str(e, "resource.resourceType");
    CHECK(str(e, "request.method") == "PUT");
    const std::string url = str(e, "request.url");
    CHECK(url.rfind(type + "?identifier=", 0) == 0);
    CHECK(get(e, "resource.identifier").size() >= 1);
    // Every reference points to an earlier entry.
  }
  // References point to entries of the Bundle that come before.
  const std::string patient_url = str(entry(b, "Patient"), "fullUrl");
  CHECK(str(entry(b, "Encounter"), "resource.subject.reference") == patient_url);
  CHECK(str(entry(b, "AllergyIntolerance"), "resource.patient.reference") == patient_url);
  CHECK(str(entry(b, "Condition"), "resource.subject.reference") == patient_url);
  CHECK(str(entry(b, "Coverage"), "resource.beneficiary.reference") == patient_url);
  CHECK(str(entry(b, "RelatedPerson"), "resource.patient.reference") == patient_url);
  // Reproducible: the same message converts to the same bytes.
  CHECK(hearth::fhir::to_json(must_convert(msg, full_config()).bundle) == hearth::fhir::to_json(b));
}

TEST_CASE("ADT^A01: Patient from PID and PD1, field by field (PID[Patient])") {
  const auto out = must_convert(must_parse(read_data("adt_a01_full.hl7")), full_config());
  const auto& p = get(entry(out.bundle, "Patient"), "resource");
  CHECK(str(entry(out.bundle, "Patient"), "request.url") ==
        "Patient?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.8003602346556|12345");
  // PID-3, both repetitions.
  CHECK(str(p, "identifier[0].value") == "12345");
  CHECK(str(p, "identifier[0].system") == "urn:oid:1.2.36.1.2001.1003.0.8003602346556");
  CHECK(str(p, "identifier[0].type.coding[0].code") == "MR");
  CHECK(str(p, "identifier[1].value") == "987654321");
  CHECK(str(p, "identifier[1].system") == "urn:oid:2.16.840.1.113883.4.1");
  // PID-5: two names.
  CHECK(str(p, "name[0].family") == "Everyman");
  CHECK(str(p, "name[0].given[0]") == "Adam");
  CHECK(str(p, "name[0].given[1]") == "A");
  CHECK(str(p, "name[0].suffix[0]") == "III");
  CHECK(str(p, "name[0].prefix[0]") == "Dr");
  CHECK(str(p, "name[0].use") == "official");
  CHECK(str(p, "name[1].use") == "nickname");
  // PID-6 mother's maiden name.
  CHECK(str(p, "extension[0].url") == "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName");
  CHECK(str(p, "extension[0].valueString") == "Smith");
  // ZPI-2 configured for this sender.
  CHECK(str(p, "extension[1].url") == "http://goodhosp.example/fhir/StructureDefinition/pet-name");
  CHECK(str(p, "extension[1].valueString") == "Rex");
  // PID-7 with a time: birthDate and the birthTime extension.
  CHECK(str(p, "birthDate") == "1961-06-15");
  CHECK(str(p, "_birthDate.extension[0].url") == "http://hl7.org/fhir/StructureDefinition/patient-birthTime");
  CHECK(str(p, "_birthDate.extension[0].valueDateTime") == "1961-06-15T12:05:30+01:00");
  CHECK(str(p, "gender") == "male");
  CHECK(str(p, "address[0].line[0]") == "2222 Home Street");
  CHECK(str(p, "address[0].line[1]") == "Apt 4");
  CHECK(str(p, "address[0].city") == "Ann Arbor");
  CHECK(str(p, "address[0].use") == "home");
  // PID-13 (home unless XTN.2 says otherwise), PID-14 work.
  CHECK(str(p, "telecom[0].value") == "+1 555 5551234");
  CHECK(str(p, "telecom[0].use") == "home");
  CHECK(str(p, "telecom[1].system") == "email");
  CHECK(str(p, "telecom[2].value") == "555 5559999");
  CHECK(str(p, "telecom[2].use") == "work");
  CHECK(str(p, "maritalStatus.coding[0].code") == "M");
  CHECK(str(p, "maritalStatus.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus");
  CHECK(str(p, "communication[0].language.coding[0].system") == "urn:ietf:bcp:47");
  CHECK(str(p, "communication[0].language.coding[0].code") == "en");
  // PID-24 Y with PID-25 2: the birth order wins.
  CHECK(get(p, "multipleBirthInteger").number_text() == "2");
  CHECK(get(p, "multipleBirthBoolean").is_null());
  // PID-30 N without PID-29.
  CHECK(get(p, "deceasedBoolean").is_bool());
  CHECK_FALSE(get(p, "deceasedBoolean").as_bool());
  // NK1 with role E (employer): Patient.contact, not a RelatedPerson (NK1[Patient]).
  CHECK(str(p, "contact[0].relationship[0].coding[0].code") == "E");
  CHECK(str(p, "contact[0].relationship[0].coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0131");
  CHECK(str(p, "contact[0].organization.display") == "Acme Corp");
  CHECK(str(p, "contact[0].telecom[0].use") == "work");
  // PD1-4 general practitioner.
  const std::string gp = str(get(out.bundle, "entry[0]"), "fullUrl");
  CHECK(str(p, "generalPractitioner[0].reference") == gp);
}

TEST_CASE("ADT^A01: Encounter from PV1 (PV1[Encounter])") {
  const auto out = must_convert(must_parse(read_data("adt_a01_full.hl7")), full_config());
  const auto& e = entry(out.bundle, "Encounter");
  const auto& enc = get(e, "resource");
  CHECK(str(e, "request.url") == "Encounter?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.9|V100");
  CHECK(str(enc, "identifier[0].type.coding[0].code") == "VN");
  CHECK(str(enc, "status") == "in-progress");
  CHECK(str(enc, "class.system") == "http://terminology.hl7.org/CodeSystem/v3-ActCode");
  CHECK(str(enc, "class.code") == "IMP");
  CHECK(str(enc, "serviceType.coding[0].code") == "SUR");
  CHECK(str(enc, "serviceType.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0069");
  CHECK(str(enc, "hospitalization.admitSource.coding[0].code") == "1");
  // Minute precision padded, offset kept.
  CHECK(str(enc, "period.start") == "2024-03-05T14:00:00+01:00");
  // PV1-7 and PV1-17 name the same doctor: two participants, one Practitioner entry.
  CHECK(str(enc, "participant[0].type[0].coding[0].code") == "ATND");
  CHECK(str(enc, "participant[1].type[0].coding[0].code") == "ADM");
  CHECK(str(enc, "participant[0].individual.reference") == str(enc, "participant[1].individual.reference"));
  CHECK(entries_of(out.bundle, "Practitioner").size() == 2);  // PD1-4 and PV1-7/17
  CHECK(str(enc, "location[0].status") == "active");
  CHECK(str(enc, "location[0].location.reference") == str(entry(out.bundle, "Location"), "fullUrl"));
  CHECK(str(entry(out.bundle, "Location"), "resource.name") == "GOODHOSP 2000 2012 01");
  CHECK(str(enc, "diagnosis[0].condition.reference") == str(entry(out.bundle, "Condition"), "fullUrl"));
}

TEST_CASE("ADT^A01: RelatedPerson, AllergyIntolerance, Condition, Coverage") {
  const auto out = must_convert(must_parse(read_data("adt_a01_full.hl7")), full_config());
  const auto& rp = get(entry(out.bundle, "RelatedPerson"), "resource");
  CHECK(str(rp, "name[0].family") == "Everywoman");
  CHECK(str(rp, "relationship[0].coding[0].system") == "http://terminology.hl7.org/CodeSystem/v3-RoleCode");
  CHECK(str(rp, "relationship[0].coding[0].code") == "SPS");
  CHECK(str(rp, "telecom[0].value") == "555 5551235");
  CHECK(str(entry(out.bundle, "RelatedPerson"), "request.url")
            .rfind("RelatedPerson?identifier=urn%3Ahearth%3Av2-derived%3ARelatedPerson|", 0) == 0);

  const auto& ai = get(entry(out.bundle, "AllergyIntolerance"), "resource");
  CHECK(str(ai, "clinicalStatus.coding[0].code") == "active");
  CHECK(str(ai, "type") == "allergy");
  CHECK(str(ai, "category[0]") == "medication");
  CHECK(str(ai, "criticality") == "high");
  CHECK(str(ai, "code.coding[0].system") == "http://goodhosp.example/allergens");
  CHECK(str(ai, "code.coding[0].code") == "PCN");
  CHECK(str(ai, "onsetDateTime") == "2020-01-01");
  CHECK(str(ai, "reaction[0].manifestation[0].text") == "Hives");
  CHECK(str(ai, "reaction[0].manifestation[1].text") == "Rash");
  CHECK(str(ai, "identifier[0].system") == "urn:hearth:v2-derived:AllergyIntolerance");

  const auto& c = get(entry(out.bundle, "Condition"), "resource");
  CHECK(str(c, "code.coding[0].system") == "http://hl7.org/fhir/sid/icd-10");
  CHECK(str(c, "code.coding[0].code") == "I10");
  CHECK(str(c, "onsetDateTime") == "2024-03-01");

  const auto& cov = get(entry(out.bundle, "Coverage"), "resource");
  CHECK(str(cov, "status") == "active");
  CHECK(str(cov, "identifier[0].system") == "http://goodhosp.example/plans");
  CHECK(str(cov, "identifier[0].value") == "PLAN01");
  CHECK(str(cov, "identifier[1].value") == "POL123");
  CHECK(str(cov, "payor[0].display") == "Acme Insurance");
  CHECK(str(cov, "payor[0].identifier.value") == "INS01");
  CHECK(str(cov, "period.start") == "2024-01-01");
  CHECK(str(cov, "period.end") == "2024-12-31");
  CHECK(str(cov, "relationship.coding[0].code") == "ONESELF");
  CHECK(str(cov, "subscriber.reference") == str(entry(out.bundle, "Patient"), "fullUrl"));
}

TEST_CASE("the visit ADT writes and the visit another family names are one identity") {
  // ADT: a conditional update; MDM (or ORU, SIU, ORM/OML, VXU) with the same
  // PV1-19: a conditional create whose query is the ADT url's, so that the
  // store finds ADT's Encounter and keeps it.
  const auto a01 = must_convert(must_parse(read_data("adt_a01_full.hl7")));
  const auto t02 = must_convert(must_parse(read_data("mdm_t02_tx.hl7")));
  const auto& put = entry(a01.bundle, "Encounter");
  const auto& create = entry(t02.bundle, "Encounter");
  CHECK(str(put, "request.method") == "PUT");
  CHECK(str(create, "request.method") == "POST");
  CHECK(str(put, "request.url") == "Encounter?" + str(create, "request.ifNoneExist"));
}

TEST_CASE("each ADT event: Patient always, Encounter status per Event[EncounterStatus] and PV1") {
  struct event_case {
    const char* event;
    std::string pv1;
    const char* status;  // nullptr: no Encounter
  };
  const event_case cases[] = {
      {"A01", seg("PV1", {{2, "I"}, {19, "V1^^^H&1.2&ISO"}}), "in-progress"},
      {"A02", seg("PV1", {{2, "I"}, {3, "W2^R2^B2"}, {19, "V1^^^H&1.2&ISO"}}), "in-progress"},
      {"A03", seg("PV1", {{2, "I"}, {19, "V1^^^H&1.2&ISO"}, {44, "20240301"}, {45, "20240305"}}), "finished"},
      {"A04", seg("PV1", {{2, "O"}, {19, "V1^^^H&1.2&ISO"}}), "planned"},
      {"A05", seg("PV1", {{2, "P"}, {19, "V1^^^H&1.2&ISO"}}), "planned"},
      {"A08", seg("PV1", {{2, "E"}, {19, "V1^^^H&1.2&ISO"}}), "in-progress"},
      {"A08", seg("PV1", {{2, "I"}, {19, "V1^^^H&1.2&ISO"}, {44, "20240301"}, {45, "20240305"}}), "finished"},
      {"A11", seg("PV1", {{2, "I"}, {19, "V1^^^H&1.2&ISO"}}), "cancelled"},
      {"A13", seg("PV1", {{2, "I"}, {19, "V1^^^H&1.2&ISO"}}), "in-progress"},
      {"A28", seg("PV1", {{1, "1"}, {2, "N"}}), nullptr},
      {"A31", seg("PV1", {{1, "1"}, {2, "N"}}), nullptr},
      {"A31", seg("PV1", {{2, "U"}, {19, "V1^^^H&1.2&ISO"}}), "unknown"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.event);
    CAPTURE(c.pv1);
    CHECK(supports("ADT", c.event));
    const auto out = must_convert(adt(std::string("ADT^") + c.event, std::string(patient_mrn) + c.pv1));
    CHECK(entries_of(out.bundle, "Patient").size() == 1);
    const auto encounters = entries_of(out.bundle, "Encounter");
    if (c.status == nullptr) {
      CHECK(encounters.empty());
    } else {
      REQUIRE(encounters.size() == 1);
      CHECK(str(*encounters[0], "resource.status") == c.status);
    }
  }
  // A02 transfer: the new location.
  const auto a02 = must_convert(adt("ADT^A02", std::string(patient_mrn) + "PV1|1|I|W2^R2^B2|||W1^R1^B1"));
  CHECK(entries_of(a02.bundle, "Location").size() == 2);
  CHECK(str(entry(a02.bundle, "Encounter"), "resource.location[0].status") == "active");
  CHECK(str(entry(a02.bundle, "Encounter"), "resource.location[1].status") == "completed");
  // A05 preadmit: the assigned location is planned.
  const auto a05 = must_convert(adt("ADT^A05", std::string(patient_mrn) + "PV1|1|P|W2^R2^B2"));
  CHECK(str(entry(a05.bundle, "Encounter"), "resource.location[0].status") == "planned");
}

TEST_CASE("identity: same PID-3 -> same conditional URL; derived identifiers stable across resends") {
  const std::string body = std::string(patient_mrn) +
                           seg("PV1", {{2, "I"}, {44, "202403010800+0100"}}) +
                           "NK1|1|Doe^Jane|MTH^Mother^HL70063\r"
                           "AL1|1|FA|SHELL^Shellfish^LOCALALLERGY\r"
                           "DG1|1||J45^Asthma^I10\r" +
                           seg("IN1", {{1, "1"}, {2, "PLAN01"}, {3, "INS01^^^X&1.2.3&ISO"}, {4, "Acme"}, {36, "POL9"}});
  sender_config cfg;
  const auto a = must_convert(adt("ADT^A01", body, "CTRL-1", "20240305143015+0100"), cfg);
  const auto b = must_convert(adt("ADT^A08", body, "CTRL-2", "20240306090000+0100"), cfg);
  for (const char* type : {"Patient", "Encounter", "RelatedPerson", "AllergyIntolerance", "Condition", "Coverage"}) {
    CAPTURE(type);
    CHECK(str(entry(a.bundle, type), "request.url") == str(entry(b.bundle, type), "request.url"));
  }
  // Different MSH-10: different fullUrls (they name entries of one Bundle).
  CHECK(str(entry(a.bundle, "Patient"), "fullUrl") != str(entry(b.bundle, "Patient"), "fullUrl"));
  // A different allergen is another AllergyIntolerance.
  const auto c = must_convert(adt("ADT^A08", std::string(patient_mrn) + "AL1|1|FA|PNUT^Peanut^LOCALALLERGY"), cfg);
  CHECK(str(entry(a.bundle, "AllergyIntolerance"), "request.url") !=
        str(entry(c.bundle, "AllergyIntolerance"), "request.url"));
  // Another patient with the same allergen: another AllergyIntolerance.
  const auto d = must_convert(
      adt("ADT^A08", "PID|1||999^^^GOODHOSP&1.2.36.1.2001.1003.0.8003602346556&ISO^MR\rAL1|1|FA|SHELL^Shellfish^LOCALALLERGY"),
      cfg);
  CHECK(str(entry(a.bundle, "AllergyIntolerance"), "request.url") !=
        str(entry(d.bundle, "AllergyIntolerance"), "request.url"));
}

TEST_CASE("identity: Patient by the first PID-3 that resolves, the sender's map, the default system") {
  // The first repetition has no resolvable authority; the second has.
  auto out = must_convert(adt("ADT^A01", "PID|1||55^^^LOCAL^PI~66^^^H&1.2.3&ISO^MR"));
  CHECK(str(entry(out.bundle, "Patient"), "request.url") == "Patient?identifier=urn%3Aoid%3A1.2.3|66");
  sender_config cfg;
  cfg.identifier_systems.emplace("LOCAL", "http://hosp.example/local");
  out = must_convert(adt("ADT^A01", "PID|1||55^^^LOCAL^PI~66^^^H&1.2.3&ISO^MR"), cfg);
  CHECK(str(entry(out.bundle, "Patient"), "request.url") ==
        "Patient?identifier=http%3A%2F%2Fhosp.example%2Flocal|55");
  sender_config fallback;
  fallback.default_identifier_system = "http://hosp.example/default";
  out = must_convert(adt("ADT^A01", "PID|1||55^^^LOCAL^PI"), fallback);
  CHECK(str(entry(out.bundle, "Patient"), "request.url") ==
        "Patient?identifier=http%3A%2F%2Fhosp.example%2Fdefault|55");
  CHECK(str(entry(out.bundle, "Patient"), "resource.identifier[0].system") == "http://hosp.example/default");
}

TEST_CASE("explicit nulls are left out (full-replace update deletes them)") {
  const auto out = must_convert(adt("ADT^A08", "PID|1||1^^^H&1.2&ISO||Doe^John||\"\"|\"\"|||\"\""));
  const auto& p = get(entry(out.bundle, "Patient"), "resource");
  CHECK(get(p, "birthDate").is_null());
  CHECK(get(p, "gender").is_null());
  CHECK(get(p, "address").is_null());
  CHECK(str(p, "name[0].family") == "Doe");
}

TEST_CASE("warnings: unmapped segments, unconfigured Z fields, unknown codes") {
  const auto out = must_convert(adt("ADT^A01", std::string(patient_mrn) + "ROL|1\rZXY|1|abc\rPV2|1"));
  std::set<std::string> where;
  for (const auto& w : out.warnings) {
    CHECK(w.sev == hearth::hl7v2::severity::warning);
    where.insert(w.where.to_string());
  }
  CHECK(where.count("ROL") == 1);
  CHECK(where.count("PV2") == 1);
  CHECK(where.count("ZXY-1") == 1);
  CHECK(where.count("ZXY-2") == 1);
  const auto sex = must_convert(adt("ADT^A01", "PID|1||1^^^H&1.2&ISO||Doe||19700101|X"));
  REQUIRE(sex.warnings.size() == 1);
  CHECK(sex.warnings[0].code == error_code::table_value_not_found);
  CHECK(sex.warnings[0].where.to_string() == "PID-8");
  CHECK(get(entry(sex.bundle, "Patient"), "resource.gender").is_null());
}

TEST_CASE("errors: 101 no PID, 101 no usable PID-3, 102 bad date, 103 unknown class, 200/201 dispatch") {
  auto r = convert(adt("ADT^A01", "EVN|A01"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.segment_id == "PID");

  r = convert(adt("ADT^A01", "PID|1||^^^LOCAL^PI"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "PID-3");

  r = convert(adt("ADT^A01", "PID|1||1^^^H&1.2&ISO||Doe||19701332"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::data_type_error);
  CHECK(r.error().where.to_string() == "PID-7");
  CHECK(r.error().where.segment_index == 2);

  // A malformed time (13 digits) is 102 at its field; a time without offset
  // gets the sender's default offset when configured (datatypes_test.cpp:
  // else the server's zone).
  r = convert(adt("ADT^A01", std::string(patient_mrn) + seg("PV1", {{2, "I"}, {19, "V1^^^H&1.2&ISO"}, {44, "2024030514001"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::data_type_error);
  CHECK(r.error().where.to_string() == "PV1-44");
  sender_config cfg;
  cfg.default_offset = "+01:00";
  auto fixed = convert(adt("ADT^A01", std::string(patient_mrn) + seg("PV1", {{2, "I"}, {19, "V1^^^H&1.2&ISO"}, {44, "202403051400"}})), cfg);
  REQUIRE(fixed);
  CHECK(str(entry(fixed->bundle, "Encounter"), "resource.period.start") == "2024-03-05T14:00:00+01:00");

  r = convert(adt("ADT^A01", std::string(patient_mrn) + seg("PV1", {{2, "Q"}, {19, "V1^^^H&1.2&ISO"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::table_value_not_found);
  CHECK(r.error().where.to_string() == "PV1-2");

  r = convert(adt("QRY^A19", patient_mrn), {});  // a query: no FHIR resources to make
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::unsupported_message_type);
  CHECK(r.error().where.to_string() == "MSH-9.1");
  CHECK_FALSE(supports("QRY", "A19"));
  CHECK(supports("ORU", "R01"));

  // A17 (swap patients): an ADT event no family maps.
  r = convert(adt("ADT^A17", patient_mrn), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::unsupported_event_code);
  CHECK(r.error().where.to_string() == "MSH-9.2");
  CHECK_FALSE(supports("ADT", "A17"));

  // Required content of the other segments.
  r = convert(adt("ADT^A01", std::string(patient_mrn) + "AL1|1|DA||SV"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "AL1-3");
  r = convert(adt("ADT^A01", std::string(patient_mrn) + "IN1|1|PLAN01"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "IN1-3");
  r = convert(adt("ADT^A01", std::string(patient_mrn) + seg("PV1", {{1, "1"}, {19, "V1^^^H&1.2&ISO"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "PV1-2");
  r = convert(adt("ADT^A01", seg("PID", {{1, "1"}, {3, "1^^^H&1.2&ISO"}, {5, "Doe"}, {25, "X"}})), {});
  REQUIRE_FALSE(r);  // PID-25 birth order must be a number
  CHECK(r.error().code == error_code::data_type_error);
  CHECK(r.error().where.to_string() == "PID-25");

  // No error text holds message content.
  r = convert(adt("ADT^A01", "PID|1||SECRET123^^^LOCAL^PI||Secretname||SECRET1980"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().where.to_string() == "PID-7");
  CHECK(r.error().message.find("SECRET") == std::string::npos);
}

TEST_CASE("the project's sample ADT messages: converted, or refused with the right error and position") {
  // The samples use local authorities (SGH, NMC are no URIs): Hearth's
  // authority URNs unless the sender has a default identifier system;
  // adt_a08.hl7 has its ethnic group one
  // field late, which puts "N" in PID-25 (birth order, an NM): 102.
  struct sample {
    const char* name;
    const char* error_at;  // nullptr: converts
    error_code code;
  };
  const sample samples[] = {
      {"adt_a01.hl7", nullptr, error_code::message_accepted},
      {"adt_a01_lf.hl7", nullptr, error_code::message_accepted},
      {"adt_a01_latin1.hl7", nullptr, error_code::message_accepted},
      {"adt_a01_v23.hl7", nullptr, error_code::message_accepted},
      {"adt_a08.hl7", "PID-25", error_code::data_type_error},
  };
  sender_config cfg;
  cfg.default_offset = "Z";
  for (const auto& s : samples) {
    CAPTURE(std::string(s.name));
    std::ifstream in(std::string(HEARTH_TEST_DATA) + "/hl7v2/" + s.name, std::ios::binary);
    REQUIRE(in);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto msg = hearth::hl7v2::parse(text);
    REQUIRE(msg);
    cfg.default_identifier_system.clear();
    auto out = convert(*msg, cfg);
    if (s.error_at == nullptr) {
      // Unconfigured, the local authority becomes Hearth's authority URN.
      if (!out) FAIL(out.error().message << " at " << out.error().where.to_string());
      const auto& p = get(entry(out->bundle, "Patient"), "resource");
      CHECK(str(p, "identifier[0].system").starts_with("urn:hearth:v2-authority:"));
    }
    cfg.default_identifier_system = "http://hosp.example/ids";
    out = convert(*msg, cfg);
    if (s.error_at == nullptr) {
      if (!out) FAIL(out.error().message << " at " << out.error().where.to_string());
      check_bundle(out->bundle);
      const auto& p = get(entry(out->bundle, "Patient"), "resource");
      CHECK(str(p, "identifier[0].system") == "http://hosp.example/ids");
      CHECK(str(p, "identifier[0].value") == "000483921");
      CHECK(str(p, "birthDate") == "1962-03-14");
      CHECK(str(p, "gender") == "male");
      CHECK(str(entry(out->bundle, "Encounter"), "resource.class.code") == "IMP");
      CHECK(str(entry(out->bundle, "Encounter"), "resource.status") == "in-progress");
      continue;
    }
    REQUIRE_FALSE(out);
    CHECK(out.error().code == s.code);
    CHECK(out.error().where.to_string() == s.error_at);
    CHECK(out.error().where.segment_index == 3);
  }
  const auto a08 = must_convert(must_parse(read_data("adt_a08.hl7")));
  CHECK(str(entry(a08.bundle, "Encounter"), "resource.status") == "finished");
  CHECK(str(entry(a08.bundle, "Encounter"), "resource.period.end") == "2024-03-06T10:00:00+01:00");
}

TEST_CASE("fault: every truncation and field mangling of the full sample gives a Bundle or a 0357 error") {
  // The point of this case is that untrusted input never crashes the mapping
  // and always ends in one of the two documented outcomes.
  const std::string full = read_data("adt_a01_full.hl7");
  const sender_config cfg = full_config();
  const fault_counts n = fault_sweep(full, cfg);
  CHECK(n.bundles > 100);
  CHECK(n.errors > 10);
}

TEST_CASE("every message type the issue lists is dispatched") {
  const std::pair<const char*, std::vector<const char*>> listed[] = {
      {"ADT", {"A01", "A02", "A03", "A04", "A05", "A08", "A11", "A13", "A28", "A31"}},
      {"ORU", {"R01"}},
      {"SIU", {"S12", "S13", "S14", "S15", "S26"}},
      {"MDM", {"T01", "T02"}},
      {"ORM", {"O01"}},
      {"OML", {"O21"}},
      {"VXU", {"V04"}},
  };
  for (const auto& [code, events] : listed) {
    for (const char* event : events) {
      CAPTURE(std::string(code) + "^" + event);
      CHECK(supports(code, event));
    }
  }
  CHECK_FALSE(supports("ADT", "A17"));  // swap patients: not mapped (201)
  CHECK_FALSE(supports("ORU", "R30"));
}
