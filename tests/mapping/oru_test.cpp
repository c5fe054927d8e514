// convert() of ORU^R01: DiagnosticReport, Observation and Specimen field by
// field against the IG (OBR[DiagnosticReport], OBX[Observation],
// OBX[Observation-Component], NTE[Observation], SPM[Specimen], OBR[Specimen]),
// every OBX-2 value type, identities and errors with their positions.
#include <hearth/mapping/convert.hpp>

#include <functional>
#include <set>

#include <doctest/doctest.h>

#include <filesystem>

#include <hearth/core/base64.hpp>

#include "mapping/test_support.hpp"

using namespace hearth::mapping;
using namespace hearth::mapping::test;
using hearth::hl7v2::error_code;

namespace {

const char* const patient_mrn =
    "PID|1||12345^^^GOODHOSP&1.2.36.1.2001.1003.0.8003602346556&ISO^MR||Everyman^Adam||19610615|M\r";
const char* const order = "OBR|1|PL-1^ORDERAPP^1.2.3.4.5^ISO|FL-1^LABSYS^1.2.3.4.6^ISO|24323-8^Metabolic panel^LN|||"
                          "202403050800+0100||||||||||||||||||F\r";

/// An ORU^R01 with the patient above, one OBR and `segments` after it.
hearth::hl7v2::message oru(std::string_view segments, std::string_view control_id = "C1") {
  return adt("ORU^R01^ORU_R01", std::string(patient_mrn) + order + std::string(segments), control_id);
}

/// The first Observation's resource.
const json_value& observation(const conversion& out) {
  const auto all = entries_of(out.bundle, "Observation");
  REQUIRE_FALSE(all.empty());
  return get(*all.front(), "resource");
}

/// A conversion expected to fail; returns its error.
hearth::hl7v2::error must_fail(const hearth::hl7v2::message& msg) {
  auto r = convert(msg, {});
  REQUIRE_FALSE(r);
  return r.error();
}

conversion cbc() { return must_convert(must_parse(read_data("oru_r01_cbc.hl7"))); }

}  // namespace

TEST_CASE("ORU^R01: the Bundle contract and dependency order") {
  CHECK(supports("ORU", "R01"));
  CHECK_FALSE(supports("ORU", "R30"));
  const auto out = cbc();
  const auto& b = out.bundle;
  CHECK(str(b, "type") == "transaction");
  CHECK(str(b, "entry[0].resource.resourceType") == "Patient");
  CHECK(entries_of(b, "Observation").size() == 10);
  CHECK(entries_of(b, "Specimen").size() == 1);
  CHECK(entries_of(b, "Organization").size() == 1);
  CHECK(entries_of(b, "Device").size() == 1);
  CHECK(entries_of(b, "Practitioner").size() == 3);  // OBR-32, OBR-34, OBX-16
  CHECK(entries_of(b, "Encounter").empty());          // PV1 without PV1-19: no Encounter (see oru.cpp)
  // Every entry is a conditional PUT on an identifier it carries, and every
  // reference points to an entry that comes before it.
  std::set<std::string> seen;
  const std::function<void(const json_value&)> refs_before = [&](const json_value& v) {
    if (v.is_object()) {
      if (const auto* r = v.find("reference"); r != nullptr && r->is_string()) {
        CHECK_MESSAGE(seen.count(r->str()) == 1, "reference to a later entry: " << r->str());
      }
      for (const auto& m : v.members()) refs_before(m.value);
    } else if (v.is_array()) {
      for (const auto& i : v.items()) refs_before(i);
    }
  };
  for (const auto& e : get(b, "entry").items()) {
    const std::string type = str(e, "resource.resourceType");
    CAPTURE(type);
    CHECK(str(e, "request.method") == "PUT");
    CHECK(str(e, "request.url").rfind(type + "?identifier=", 0) == 0);
    refs_before(get(e, "resource"));
    seen.insert(str(e, "fullUrl"));
  }
  CHECK(str(get(b, "entry"), "[" + std::to_string(get(b, "entry").size() - 1) + "].resource.resourceType") ==
        "DiagnosticReport");
  // The PV1 left unmapped for want of a visit number is reported there.
  bool pv1 = false;
  for (const auto& w : out.warnings) {
    pv1 = pv1 || (w.where.to_string() == "PV1-19" && w.code == error_code::required_field_missing);
  }
  CHECK(pv1);
  // Reproducible.
  CHECK(hearth::fhir::to_json(cbc().bundle) == hearth::fhir::to_json(b));
}

namespace {

const char* const visit_pv1 =
    "PV1|1|I|4W^412^B^GOODHOSP||||4711^Filler^Fiona^^^Dr^^^GOODHOSP&1.2.36.1.2001.1003.0.1&ISO||||||||||||"
    "V100^^^GOODHOSP&1.2.36.1.2001.1003.0.9&ISO^VN\r";

std::set<std::string> warning_positions(const conversion& out) {
  std::set<std::string> where;
  for (const auto& w : out.warnings) where.insert(w.where.to_string());
  return where;
}

}  // namespace

TEST_CASE("ORU^R01 with PV1-19: the Encounter as a conditional create, referred to by the report and results") {
  // PATIENT_OBSERVATION OBX, the VISIT, an order with a result, a QST
  // result (OBX-29) and a SPECIMEN_OBSERVATION OBX.
  const auto out = must_convert(adt(
      "ORU^R01^ORU_R01",
      std::string(patient_mrn) + "OBX|1|NM|8302-2^Height^LN||180|cm^^UCUM|||||F\r" + visit_pv1 + order +
          "OBX|1|NM|2345-7^Glucose^LN||5.5|mmol/L^^UCUM|||||F\r" +
          "OBX|2|ST|QQ-1^Fasting?^L||yes||||||F||||||||||||||||||QST\r" +
          "SPM|1|^SF-7&LABSYS&1.2.3.4.6&ISO||SER^Serum^HL70487\r" + "OBX|1|NM|SPC-1^Volume^L||2|mL^^UCUM|||||F\r"));
  const auto& b = out.bundle;
  const auto& e = entry(b, "Encounter");
  const std::string enc_url = str(e, "fullUrl");
  // POST with ifNoneExist on PV1-19, encoded as a conditional PUT's url
  // would be: an Encounter ADT created is kept, none: this one is created.
  CHECK(str(e, "request.method") == "POST");
  CHECK(str(e, "request.url") == "Encounter");
  CHECK(str(e, "request.ifNoneExist") == "identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.9|V100");
  const auto& enc = get(e, "resource");
  CHECK(str(enc, "identifier[0].system") == "urn:oid:1.2.36.1.2001.1003.0.9");
  CHECK(str(enc, "identifier[0].value") == "V100");
  CHECK(str(enc, "identifier[0].type.coding[0].code") == "VN");
  CHECK(str(enc, "class.code") == "IMP");
  CHECK(str(enc, "status") == "in-progress");  // PatientClass[EncounterStatus] I (R01 is no ADT event)
  CHECK(str(enc, "subject.reference") == str(entry(b, "Patient"), "fullUrl"));
  CHECK(str(enc, "participant[0].type[0].coding[0].code") == "ATND");
  CHECK(str(enc, "location[0].status") == "active");
  // The entry comes after the Patient and before everything that refers to it.
  const auto& entries = get(b, "entry");
  std::size_t enc_index = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (str(entries.items()[i], "fullUrl") == enc_url) enc_index = i;
  }
  CHECK(enc_index > 0);
  // DiagnosticReport.encounter (ORC[DiagnosticReport]).
  const auto& dr = entry(b, "DiagnosticReport");
  CHECK(str(dr, "resource.encounter.reference") == enc_url);
  // Observations: the order's result refers to it; the patient's
  // observation, the QST one and the specimen's do not (IG rows).
  const auto obs = entries_of(b, "Observation");
  REQUIRE(obs.size() == 4);
  std::size_t with_encounter = 0;
  for (const auto* o : obs) {
    const std::string code = str(*o, "resource.code.coding[0].code");
    CAPTURE(code);
    if (code == "2345-7") {
      CHECK(str(*o, "resource.encounter.reference") == enc_url);
      ++with_encounter;
    } else {
      CHECK(get(*o, "resource.encounter").is_null());
    }
  }
  CHECK(with_encounter == 1);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string type = str(entries.items()[i], "resource.resourceType");
    if (type == "DiagnosticReport" || type == "Observation") CHECK(i > enc_index);
  }
  // The PV1 is mapped: no warning about it.
  for (const auto& w : warning_positions(out)) CHECK(w.rfind("PV1", 0) != 0);
}

TEST_CASE("ORU^R01 PV1 without PV1-19, without class, with unmapped class: no Encounter, a warning, results kept") {
  // No visit number: today's behaviour, no Encounter and no reference.
  auto out = must_convert(oru("OBX|1|NM|2345-7^Glucose^LN||5.5||||||F\r"));  // no PV1 at all
  CHECK(entries_of(out.bundle, "Encounter").empty());
  CHECK(warning_positions(out).count("PV1-19") == 0);
  out = must_convert(adt("ORU^R01", std::string(patient_mrn) + "PV1|1|I|4W^412\r" + order +
                                        "OBX|1|NM|2345-7^Glucose^LN||5.5||||||F\r"));
  CHECK(entries_of(out.bundle, "Encounter").empty());
  CHECK(get(entry(out.bundle, "DiagnosticReport"), "resource.encounter").is_null());
  CHECK(get(entry(out.bundle, "Observation"), "resource.encounter").is_null());
  CHECK(entries_of(out.bundle, "Location").empty());  // nothing of the PV1 is added
  CHECK(warning_positions(out).count("PV1-19") == 1);
  // PV1-19 without PV1-2: the result is mapped, the Encounter skipped with a
  // warning (ADT fails such a message: Encounter.class is required).
  out = must_convert(adt("ORU^R01", std::string(patient_mrn) + "PV1|1||4W^412||||||||||||||||V7^^^H&1.2.7&ISO\r" +
                                        order + "OBX|1|NM|2345-7^Glucose^LN||5.5||||||F\r"));
  CHECK(entries_of(out.bundle, "Encounter").empty());
  CHECK(entries_of(out.bundle, "Location").empty());
  CHECK(get(entry(out.bundle, "DiagnosticReport"), "resource.encounter").is_null());
  bool class_warning = false;
  for (const auto& w : out.warnings) {
    if (w.where.to_string() == "PV1-2") {
      class_warning = true;
      CHECK(w.code == error_code::required_field_missing);
    }
  }
  CHECK(class_warning);
  // A class not in table 0004: 103 as a warning.
  out = must_convert(adt("ORU^R01", std::string(patient_mrn) + "PV1|1|Q|||||||||||||||||V7^^^H&1.2.7&ISO\r" + order +
                                        "OBX|1|NM|2345-7^Glucose^LN||5.5||||||F\r"));
  CHECK(entries_of(out.bundle, "Encounter").empty());
  class_warning = false;
  for (const auto& w : out.warnings) {
    if (w.where.to_string() == "PV1-2") {
      class_warning = true;
      CHECK(w.code == error_code::table_value_not_found);
    }
  }
  CHECK(class_warning);
  // The same in ADT fails the message.
  CHECK_FALSE(convert(adt("ADT^A01", std::string(patient_mrn) + "PV1|1|Q|||||||||||||||||V7^^^H&1.2.7&ISO\r"), {}));
  // A PV1 after the order is no VISIT of the patient: not mapped.
  out = must_convert(oru("PV1|1|I|||||||||||||||||V7^^^H&1.2.7&ISO\r"));
  CHECK(entries_of(out.bundle, "Encounter").empty());
  CHECK(warning_positions(out).count("PV1") == 1);
}

TEST_CASE("ORU^R01: DiagnosticReport from OBR (OBR[DiagnosticReport])") {
  const auto out = cbc();
  const auto& e = entry(out.bundle, "DiagnosticReport");
  const auto& dr = get(e, "resource");
  // OBR-3 filler number identifies the report.
  CHECK(str(e, "request.url") == "DiagnosticReport?identifier=urn%3Aoid%3A1.2.3.4.6|FL-991");
  CHECK(str(dr, "identifier[0].type.coding[0].code") == "PLAC");
  CHECK(str(dr, "identifier[0].type.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0203");
  CHECK(str(dr, "identifier[0].system") == "urn:oid:1.2.3.4.5");
  CHECK(str(dr, "identifier[0].value") == "PL-778");
  CHECK(str(dr, "identifier[1].type.coding[0].code") == "FILL");
  CHECK(str(dr, "identifier[1].value") == "FL-991");
  CHECK(str(dr, "status") == "final");  // OBR-25 F (ResultStatus[Non-Queries])
  CHECK(str(dr, "category[0].coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0074");
  CHECK(str(dr, "category[0].coding[0].code") == "HM");
  CHECK(str(dr, "code.coding[0].system") == "http://loinc.org");
  CHECK(str(dr, "code.coding[0].code") == "58410-2");
  CHECK(str(dr, "subject.reference") == str(entry(out.bundle, "Patient"), "fullUrl"));
  CHECK(str(dr, "effectiveDateTime") == "2024-03-05T08:00:00+01:00");
  CHECK(str(dr, "issued") == "2024-03-05T10:15:00+01:00");
  // OBR-32 results interpreter (NDL: a CNN in subcomponents).
  const std::string interpreter = str(dr, "resultsInterpreter[0].reference");
  bool walsh = false;
  bool nguyen = false;
  for (const auto* p : entries_of(out.bundle, "Practitioner")) {
    if (str(*p, "fullUrl") == interpreter) {
      walsh = str(*p, "resource.name[0].family") == "Walsh" && str(*p, "resource.name[0].given[0]") == "Tara";
      CHECK(str(*p, "resource.identifier[0].system") == "urn:oid:1.2.36.1.99");
      CHECK(str(*p, "resource.identifier[0].value") == "1234");
    }
    if (str(*p, "fullUrl") == str(dr, "performer[0].reference")) {
      nguyen = str(*p, "resource.name[0].family") == "Nguyen";
    }
  }
  CHECK(walsh);
  CHECK(nguyen);
  // OBR-34 technician: performer with the event-performerFunction SPRF.
  CHECK(str(dr, "performer[0].extension[0].url") == "http://hl7.org/fhir/StructureDefinition/event-performerFunction");
  CHECK(str(dr, "performer[0].extension[0].valueCodeableConcept.coding[0].code") == "SPRF");
  // result: the ten Observations in order; specimen: the SPM's Specimen.
  const auto observations = entries_of(out.bundle, "Observation");
  REQUIRE(get(dr, "result").size() == observations.size());
  for (std::size_t i = 0; i < observations.size(); ++i) {
    CHECK(str(dr, "result[" + std::to_string(i) + "].reference") == str(*observations[i], "fullUrl"));
  }
  CHECK(str(dr, "specimen[0].reference") == str(entry(out.bundle, "Specimen"), "fullUrl"));
}

TEST_CASE("ORU^R01: Observations of a CBC field by field (OBX[Observation], NTE[Observation])") {
  const auto out = cbc();
  const auto obs = entries_of(out.bundle, "Observation");
  REQUIRE(obs.size() == 10);
  const std::string patient = str(entry(out.bundle, "Patient"), "fullUrl");
  const std::string specimen = str(entry(out.bundle, "Specimen"), "fullUrl");
  const auto r = [&](std::size_t i) -> const json_value& { return get(*obs[i], "resource"); };

  // OBX 1: NM with UCUM units, H flag, range, an NTE.
  CHECK(str(r(0), "status") == "final");
  CHECK(str(r(0), "code.coding[0].system") == "http://loinc.org");
  CHECK(str(r(0), "code.coding[0].code") == "6690-2");
  CHECK(str(r(0), "subject.reference") == patient);
  CHECK(str(r(0), "specimen.reference") == specimen);
  CHECK(get(r(0), "valueQuantity.value").number_text() == "11.8");
  CHECK(str(r(0), "valueQuantity.unit") == "thousand per microliter");
  CHECK(str(r(0), "valueQuantity.system") == "http://unitsofmeasure.org");
  CHECK(str(r(0), "valueQuantity.code") == "10*3/uL");
  CHECK(str(r(0), "interpretation[0].coding[0].system") ==
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation");
  CHECK(str(r(0), "interpretation[0].coding[0].code") == "H");
  CHECK(str(r(0), "referenceRange[0].text") == "4.0-10.5");
  CHECK(get(r(0), "referenceRange[0].low.value").number_text() == "4.0");
  CHECK(get(r(0), "referenceRange[0].high.value").number_text() == "10.5");
  CHECK(str(r(0), "referenceRange[0].low.code") == "10*3/uL");
  // No OBX-14: OBR-7; issued OBR-22.
  CHECK(str(r(0), "effectiveDateTime") == "2024-03-05T08:00:00+01:00");
  CHECK(str(r(0), "issued") == "2024-03-05T10:15:00+01:00");
  // NTE-3 (FT): the line break kept.
  CHECK(str(r(0), "note[0].text") == "WBC verified by manual smear review.\nReviewed by the lab.");
  CHECK(get(r(1), "note").is_null());  // the NTE belongs to OBX 1 only

  // OBX 2: units without text: the code is the unit.
  CHECK(str(r(1), "valueQuantity.unit") == "10*6/uL");
  CHECK(get(r(1), "valueQuantity.value").number_text() == "4.52");
  CHECK(str(r(1), "interpretation[0].coding[0].code") == "N");
  CHECK(get(r(1), "referenceRange[0].low.value").number_text() == "4.50");

  // OBX 3: value exactly as sent, corrected status, its own OBX-14.
  CHECK(get(r(2), "valueQuantity.value").number_text() == "13.60");
  CHECK(str(r(2), "status") == "corrected");
  CHECK(str(r(2), "effectiveDateTime") == "2024-03-05T08:05:00+01:00");

  // OBX 4: %, L flag.
  CHECK(str(r(3), "valueQuantity.code") == "%");
  CHECK(str(r(3), "interpretation[0].coding[0].code") == "L");

  // OBX 5: "fL" without CWE.3 is still a UCUM code.
  CHECK(str(r(4), "valueQuantity.system") == "http://unitsofmeasure.org");
  CHECK(str(r(4), "valueQuantity.code") == "fL");
  CHECK(get(r(4), "referenceRange[0].high.value").number_text() == "100");

  // OBX 6: performer (OBX-16 Practitioner, OBX-23/24 Organization), method, device.
  const std::string org_url = str(entry(out.bundle, "Organization"), "fullUrl");
  const auto& org = get(entry(out.bundle, "Organization"), "resource");
  CHECK(str(org, "name") == "GOOD LAB");
  CHECK(str(org, "identifier[0].system") == "urn:oid:2.16.840.1.113883.4.7");
  CHECK(str(org, "identifier[0].value") == "14D0987654");
  CHECK(str(org, "identifier[0].type.coding[0].code") == "XX");
  CHECK(str(org, "address[0].city") == "Springfield");
  CHECK(str(r(5), "performer[1].reference") == org_url);
  bool tech = false;
  for (const auto* p : entries_of(out.bundle, "Practitioner")) {
    tech = tech || (str(*p, "fullUrl") == str(r(5), "performer[0].reference") &&
                    str(*p, "resource.name[0].family") == "Tech");
  }
  CHECK(tech);
  CHECK(str(r(5), "method.coding[0].code") == "AUTO");
  CHECK(str(r(5), "device.reference") == str(entry(out.bundle, "Device"), "fullUrl"));
  CHECK(str(entry(out.bundle, "Device"), "resource.identifier[0].system") == "urn:oid:1.2.3.4.7");
  CHECK(str(entry(out.bundle, "Device"), "resource.identifier[0].value") == "ANALYZER-7");

  // OBX 7: SN "<^0.1" -> Quantity with comparator.
  CHECK(str(r(6), "valueQuantity.comparator") == "<");
  CHECK(get(r(6), "valueQuantity.value").number_text() == "0.1");
  CHECK(str(r(6), "valueQuantity.code") == "10*3/uL");

  // OBX 8: ST; OBX 9: CWE with an A flag.
  CHECK(str(r(7), "valueString") == "Normal platelet morphology");
  CHECK(get(r(7), "interpretation").is_null());
  CHECK(str(r(8), "valueCodeableConcept.coding[0].system") == "http://loinc.org");
  CHECK(str(r(8), "valueCodeableConcept.coding[0].code") == "LA9633-4");
  CHECK(str(r(8), "valueCodeableConcept.coding[0].display") == "Present");
  CHECK(str(r(8), "interpretation[0].coding[0].code") == "A");

  // OBX 10: a unit that is no UCUM: unit only; "<1": a high bound.
  CHECK(str(r(9), "valueQuantity.unit") == "per 100 WBC");
  CHECK(get(r(9), "valueQuantity.system").is_null());
  CHECK(get(r(9), "valueQuantity.code").is_null());
  CHECK(get(r(9), "valueQuantity.value").number_text() == "0");
  CHECK(str(r(9), "referenceRange[0].text") == "<1");
  CHECK(get(r(9), "referenceRange[0].high.value").number_text() == "1");
  CHECK(get(r(9), "referenceRange[0].low").is_null());
}

TEST_CASE("ORU^R01: Specimen from SPM (SPM[Specimen])") {
  const auto out = cbc();
  const auto& e = entry(out.bundle, "Specimen");
  const auto& sp = get(e, "resource");
  // SPM-2: the filler assigned id (EIP.2) identifies it.
  CHECK(str(e, "request.url") == "Specimen?identifier=urn%3Aoid%3A1.2.3.4.6|SF-1");
  CHECK(str(sp, "identifier[0].type.coding[0].code") == "PGN");
  CHECK(str(sp, "identifier[0].value") == "SP-1");
  CHECK(str(sp, "identifier[1].type.coding[0].code") == "FGN");
  CHECK(str(sp, "identifier[1].value") == "SF-1");
  CHECK(str(sp, "type.coding[0].code") == "BLD");
  CHECK(str(sp, "type.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0487");
  CHECK(str(sp, "subject.reference") == str(entry(out.bundle, "Patient"), "fullUrl"));
  CHECK(str(sp, "collection.collectedDateTime") == "2024-03-05T08:00:00+01:00");
  CHECK(str(sp, "receivedTime") == "2024-03-05T08:30:00+01:00");
}

TEST_CASE("ORU^R01: SPM-4 gains the SNOMED CT code of R4's ConceptMap/102 when the terminology is given") {
  static const hearth::terminology::registry reg = [] {
    hearth::fhir::terminology_files files;
    const std::filesystem::path dir = HEARTH_DEFINITIONS_DIR;
    files.valuesets = dir / "valuesets.json";
    files.v2_tables = dir / "v2-tables.json";
    files.v3_codesystems = dir / "v3-codesystems.json";
    files.conceptmaps = dir / "conceptmaps.json";
    auto r = hearth::terminology::registry::load(files);
    REQUIRE(r);
    return std::move(*r);
  }();
  std::string text = read_data("oru_r01_cbc.hl7");
  const std::size_t at = text.find("BLD^Whole blood^HL70487");
  REQUIRE(at != std::string::npos);
  text.replace(at, 23, "SER^Serum^HL70487");
  convert_options opts;
  opts.terminology = &reg;
  auto out = convert(must_parse(text), {}, opts);
  REQUIRE(out);
  check_bundle(out->bundle);
  const auto& sp = get(entry(out->bundle, "Specimen"), "resource");
  // ConceptMap/102: SER -> 119364003 (Serum specimen), "equivalent".
  CHECK(str(sp, "type.coding[0].code") == "SER");
  CHECK(str(sp, "type.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0487");
  CHECK(str(sp, "type.coding[1].system") == "http://snomed.info/sct");
  CHECK(str(sp, "type.coding[1].code") == "119364003");
  // BLD has no entry in the map: the v2 coding alone, as without terminology.
  auto plain = convert(must_parse(read_data("oru_r01_cbc.hl7")), {}, opts);
  REQUIRE(plain);
  CHECK(get(get(entry(plain->bundle, "Specimen"), "resource"), "type.coding").items().size() == 1);
  // Without the terminology: no translation.
  const auto bare = must_convert(must_parse(text));
  CHECK(get(get(entry(bare.bundle, "Specimen"), "resource"), "type.coding").items().size() == 1);
}

TEST_CASE("ORU^R01: OBR-15 legacy specimen when no SPM is sent (OBR[Specimen])") {
  const auto out = must_convert(adt(
      "ORU^R01", std::string(patient_mrn) +
                     seg("OBR", {{1, "1"}, {3, "FL-2^LABSYS^1.2.3.4.6^ISO"}, {4, "2345-7^Glucose^LN"},
                                 {7, "202403050800+0100"}, {14, "202403050830+0100"}, {15, "SER&Serum&HL70070"},
                                 {25, "F"}}) +
                     "OBX|1|NM|2345-7^Glucose^LN||187|mg/dL^^UCUM|70-99|H|||F\r"));
  const auto& sp = get(entry(out.bundle, "Specimen"), "resource");
  CHECK(str(sp, "type.coding[0].code") == "SER");
  CHECK(str(sp, "type.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0070");
  CHECK(str(sp, "receivedTime") == "2024-03-05T08:30:00+01:00");
  CHECK(str(sp, "collection.collectedDateTime") == "2024-03-05T08:00:00+01:00");
  CHECK(str(entry(out.bundle, "Specimen"), "request.url")
            .rfind("Specimen?identifier=urn%3Ahearth%3Av2-derived%3ASpecimen|", 0) == 0);
  CHECK(str(observation(out), "specimen.reference") == str(entry(out.bundle, "Specimen"), "fullUrl"));
  // Without OBR-9/10/14/15 and SPM: no Specimen.
  const auto none = must_convert(oru("OBX|1|NM|2345-7^Glucose^LN||187|mg/dL^^UCUM|||||F\r"));
  CHECK(entries_of(none.bundle, "Specimen").empty());
  CHECK(get(observation(none), "specimen").is_null());
}

TEST_CASE("each OBX-2 value type the IG maps") {
  struct value_case {
    const char* type;
    const char* value;   // OBX-5
    const char* units;   // OBX-6
    const char* path;    // in the Observation
    const char* expect;  // string, or the number's text when `number`
    bool number = false;
  };
  const value_case cases[] = {
      {"NM", "-0.50", "mmol/L^^UCUM", "valueQuantity.value", "-0.50", true},
      {"NM", "+007.50", "", "valueQuantity.value", "7.50", true},
      {"ST", "Positive", "", "valueString", "Positive"},
      {"TX", "  indented text", "", "valueString", "  indented text"},
      {"FT", "line one\\.br\\line two", "", "valueString", "line one\nline two"},
      {"CWE", "260373001^Detected^SCT", "", "valueCodeableConcept.coding[0].system", "http://snomed.info/sct"},
      {"CE", "260373001^Detected^SCT", "", "valueCodeableConcept.coding[0].code", "260373001"},
      {"CNE", "LA6576-8^Positive^LN", "", "valueCodeableConcept.coding[0].system", "http://loinc.org"},
      {"SN", ">=^100", "mg/dL^^UCUM", "valueQuantity.comparator", ">="},
      {"SN", "=^5", "", "valueQuantity.value", "5", true},
      {"SN", "^10^-^20", "mg/dL^^UCUM", "valueRange.high.value", "20", true},
      {"SN", "^10^-^20", "mg/dL^^UCUM", "valueRange.low.code", "mg/dL"},
      {"SN", "^10^-^20", "", "valueRange.extension[0].valueString", "10 - 20"},
      {"SN", "^1^:^128", "", "valueRatio.numerator.value", "1", true},
      {"SN", "^1^/^128", "", "valueRatio.denominator.value", "128", true},
      {"SN", "<^1^:^16", "", "valueRatio.numerator.comparator", "<"},
      {"SN", "^2^+", "", "valueString", "2 +"},
      {"SN", "<>^5", "mg^^UCUM", "valueString", "<> 5 mg"},
      {"DT", "20240305", "", "valueDateTime", "2024-03-05"},
      {"DTM", "202403051430+0100", "", "valueDateTime", "2024-03-05T14:30:00+01:00"},
      {"TS", "20240305143015+0100", "", "valueDateTime", "2024-03-05T14:30:15+01:00"},
      {"TM", "1430", "", "valueTime", "14:30:00"},
      {"TM", "143015.25+0100", "", "valueTime", "14:30:15.25"},
      {"NR", "3.5^5.0", "", "valueRange.high.value", "5.0", true},
      {"DR", "20240301^20240305", "", "valuePeriod.end", "2024-03-05"},
      {"VR", "10^20", "", "valueString", "10-20"},
      {"RP", "http://pacs.example/img/1^PACS^IMAGE^JPEG", "", "extension[0].valueAttachment.contentType",
       "IMAGE/JPEG"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.type);
    CAPTURE(c.value);
    const auto out = must_convert(oru(seg("OBX", {{1, "1"}, {2, c.type}, {3, "X1^Test^LN"}, {5, c.value},
                                                  {6, c.units}, {11, "F"}})));
    const auto& v = get(observation(out), c.path);
    if (c.number) {
      CHECK(v.number_text() == c.expect);
    } else {
      CHECK(str(observation(out), c.path) == c.expect);
    }
  }
}

TEST_CASE("ED -> the IG's valueAttachment extension: Base64, Hex and A data") {
  const std::string url = "https://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.valueAttachment";
  auto out = must_convert(oru("OBX|1|ED|11526-1^Pathology study^LN||LAB^AP^PDF^Base64^JVBERi0xLjQK||||||F\r"));
  const auto& obs = observation(out);
  CHECK(str(obs, "extension[0].url") == url);
  CHECK(str(obs, "extension[0].valueAttachment.contentType") == "application/pdf");
  CHECK(str(obs, "extension[0].valueAttachment.data") == "JVBERi0xLjQK");
  CHECK(get(obs, "valueString").is_null());
  out = must_convert(oru("OBX|1|ED|X1^Doc^LN||LAB^TEXT^^Hex^48690A||||||F\r"));
  CHECK(str(observation(out), "extension[0].valueAttachment.data") == hearth::base64::encode("Hi\n"));
  CHECK(str(observation(out), "extension[0].valueAttachment.contentType") == "text/plain");
  out = must_convert(oru("OBX|1|ED|X1^Doc^LN||LAB^TEXT^^A^Hello||||||F\r"));
  CHECK(str(observation(out), "extension[0].valueAttachment.data") == hearth::base64::encode("Hello"));
  // The project's pathology sample: FT and a Base64 PDF.
  sender_config cfg;
  const auto pdf = must_convert(must_parse([] {
    std::ifstream in(std::string(HEARTH_TEST_DATA) + "/hl7v2/oru_r01_pdf.hl7", std::ios::binary);
    REQUIRE(in);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }()), cfg);
  const auto obs2 = entries_of(pdf.bundle, "Observation");
  REQUIRE(obs2.size() == 2);
  CHECK(str(*obs2[0], "resource.valueString").find("Seborrheic keratosis, irritated.") != std::string::npos);
  CHECK(str(*obs2[1], "resource.extension[0].valueAttachment.contentType") == "application/pdf");
  const auto data = hearth::base64::decode(str(*obs2[1], "resource.extension[0].valueAttachment.data"));
  REQUIRE(data);
  CHECK(data->rfind("%PDF-", 0) == 0);
}

TEST_CASE("repeating OBX-5 -> components (OBX[Observation-Component]); other value types: a warning") {
  auto out = must_convert(oru("OBX|1|NM|8480-6^Systolic^LN||120~125|mm[Hg]^^UCUM|90-140||||F\r"));
  const auto& obs = observation(out);
  CHECK(get(obs, "valueQuantity").is_null());
  REQUIRE(get(obs, "component").size() == 2);
  CHECK(str(obs, "component[0].code.coding[0].code") == "8480-6");
  CHECK(get(obs, "component[0].valueQuantity.value").number_text() == "120");
  CHECK(get(obs, "component[1].valueQuantity.value").number_text() == "125");
  CHECK(str(obs, "component[1].valueQuantity.code") == "mm[Hg]");
  CHECK(str(obs, "component[1].referenceRange[0].text") == "90-140");
  CHECK(get(obs, "referenceRange").is_null());

  for (const char* type : {"EI", "NA", "XYZ"}) {
    CAPTURE(type);
    out = must_convert(oru(seg("OBX", {{1, "1"}, {2, type}, {3, "X1^Test^LN"}, {5, "abc^def"}, {11, "F"}})));
    const auto& o = observation(out);
    for (const auto& m : o.members()) CHECK(m.key.rfind("value", 0) != 0);
    bool warned = false;
    for (const auto& w : out.warnings) warned = warned || w.where.to_string() == "OBX-2";
    CHECK(warned);
  }
}

TEST_CASE("OBX-11 status: table 0085 map, X and N with dataAbsentReason, unmapped codes") {
  auto out = must_convert(oru("OBX|1|NM|X1^Test^LN||||||||X\r"));
  CHECK(str(observation(out), "status") == "cancelled");
  CHECK(str(observation(out), "_status.extension[0].valueCodeableConcept.coding[0].code") == "X");
  CHECK(str(observation(out), "dataAbsentReason.coding[0].code") == "cannot-be-obtained");
  out = must_convert(oru("OBX|1|NM|X1^Test^LN||||||||N\r"));
  CHECK(str(observation(out), "dataAbsentReason.coding[0].code") == "not-asked");
  out = must_convert(oru("OBX|1|NM|X1^Test^LN||5||||||P\r"));
  CHECK(str(observation(out), "status") == "preliminary");
  out = must_convert(oru("OBX|1|NM|X1^Test^LN||5||||||D\r"));
  CHECK(str(observation(out), "status") == "entered-in-error");
  // I (results pending) has no FHIR status in the map: unknown, with a warning at OBX-11.
  out = must_convert(oru("OBX|1|NM|X1^Test^LN||5||||||I\r"));
  CHECK(str(observation(out), "status") == "unknown");
  bool warned = false;
  for (const auto& w : out.warnings) warned = warned || (w.where.to_string() == "OBX-11" && w.code == error_code::table_value_not_found);
  CHECK(warned);
}

TEST_CASE("identity: a resend with another MSH-10, and a corrected result, update the same resources") {
  const std::string text = read_data("oru_r01_cbc.hl7");
  const auto a = must_convert(must_parse(text));
  std::string resent = text;
  const auto at = resent.find("LAB-MSG-0001");
  REQUIRE(at != std::string::npos);
  resent.replace(at, 12, "LAB-MSG-0002");
  // The corrected haemoglobin: OBX-11 C and another value.
  const auto hgb = resent.find("||13.60|");
  REQUIRE(hgb != std::string::npos);
  resent.replace(hgb, 8, "||13.70|");
  const auto b = must_convert(must_parse(resent));
  const auto& ea = get(a.bundle, "entry");
  const auto& eb = get(b.bundle, "entry");
  REQUIRE(ea.size() == eb.size());
  for (std::size_t i = 0; i < ea.size(); ++i) {
    CAPTURE(i);
    CHECK(str(ea.items()[i], "request.url") == str(eb.items()[i], "request.url"));
    CHECK(str(ea.items()[i], "fullUrl") != str(eb.items()[i], "fullUrl"));
  }
  // Observations: derived from the report, OBX-3, OBX-4 and OBX-1, all distinct.
  std::set<std::string> urls;
  for (const auto* o : entries_of(a.bundle, "Observation")) {
    const std::string url = str(*o, "request.url");
    CHECK(url.rfind("Observation?identifier=urn%3Ahearth%3Av2-derived%3AObservation|", 0) == 0);
    CHECK(urls.insert(url).second);
  }
  // A different sub-id is another Observation; another report's same test too.
  const auto sub1 = must_convert(oru("OBX|1|NM|X1^Test^LN|1|5||||||F\r"));
  const auto sub2 = must_convert(oru("OBX|1|NM|X1^Test^LN|2|5||||||F\r"));
  CHECK(str(entry(sub1.bundle, "Observation"), "request.url") != str(entry(sub2.bundle, "Observation"), "request.url"));
  // The same OBX-3, OBX-4 and OBX-1 twice: one Observation, the repeat reported.
  const auto twice = must_convert(oru("OBX|1|NM|X1^Test^LN|1|5||||||F\rOBX|1|NM|X1^Test^LN|1|6||||||F\r"));
  CHECK(entries_of(twice.bundle, "Observation").size() == 1);
  CHECK(get(entry(twice.bundle, "Observation"), "resource.valueQuantity.value").number_text() == "5");
  CHECK(get(entry(twice.bundle, "DiagnosticReport"), "resource.result").size() == 1);
  bool repeat_warned = false;
  for (const auto& w : twice.warnings) repeat_warned = repeat_warned || (w.where.segment_id == "OBX" && w.where.segment_index == 5);
  CHECK(repeat_warned);
  const auto other_report = must_convert(adt(
      "ORU^R01", std::string(patient_mrn) + "OBR|1||FL-OTHER^LABSYS^1.2.3.4.6^ISO|24323-8^Metabolic panel^LN|||"
                                            "202403050800+0100||||||||||||||||||F\rOBX|1|NM|X1^Test^LN|1|5||||||F\r"));
  CHECK(str(entry(sub1.bundle, "Observation"), "request.url") !=
        str(entry(other_report.bundle, "Observation"), "request.url"));
  // No OBR-2/OBR-3: the report's identity is derived from patient, OBR-4, OBR-7.
  const auto derived = must_convert(adt(
      "ORU^R01", std::string(patient_mrn) + seg("OBR", {{1, "1"}, {4, "X9^Panel^LN"}, {7, "20240305"}, {25, "F"}})));
  CHECK(str(entry(derived.bundle, "DiagnosticReport"), "request.url")
            .rfind("DiagnosticReport?identifier=urn%3Ahearth%3Av2-derived%3ADiagnosticReport|", 0) == 0);
}

TEST_CASE("ORU errors: 101 no OBR / no OBX-3 / no OBR-25, 102 bad values with the OBX-5 position, 103 Y") {
  auto e = must_fail(adt("ORU^R01", std::string(patient_mrn) + "OBX|1|NM|X1^Test^LN||5||||||F\r"));
  CHECK(e.code == error_code::required_field_missing);
  CHECK(e.where.segment_id == "OBR");

  e = must_fail(oru("OBX|1|NM|||5||||||F\r"));
  CHECK(e.code == error_code::required_field_missing);
  CHECK(e.where.to_string() == "OBX-3");
  CHECK(e.where.segment_index == 4);

  e = must_fail(oru("OBX|1|NM|X1^Test^LN||12,5||||||F\r"));
  CHECK(e.code == error_code::data_type_error);
  CHECK(e.where.to_string() == "OBX-5");
  CHECK(e.message.find("12,5") == std::string::npos);  // no message content in error texts

  e = must_fail(oru("OBX|1|NM|X1^Test^LN||5~x||||||F\r"));
  CHECK(e.code == error_code::data_type_error);
  CHECK(e.where.to_string() == "OBX-5(2)");

  e = must_fail(oru("OBX|1|SN|X1^Test^LN||~^abc||||||F\r"));
  CHECK(e.code == error_code::data_type_error);

  e = must_fail(oru("OBX|1|NR|X1^Test^LN||1^z||||||F\r"));
  CHECK(e.code == error_code::data_type_error);
  CHECK(e.where.to_string() == "OBX-5.2");

  e = must_fail(oru("OBX|1|DTM|X1^Test^LN||20241399||||||F\r"));
  CHECK(e.code == error_code::data_type_error);
  CHECK(e.where.to_string() == "OBX-5");

  e = must_fail(oru("OBX|1|TM|X1^Test^LN||2561||||||F\r"));
  CHECK(e.code == error_code::data_type_error);
  CHECK(e.where.to_string() == "OBX-5");

  e = must_fail(oru("OBX|1|ED|X1^Doc^LN||LAB^AP^PDF^Base64^!!notbase64||||||F\r"));
  CHECK(e.code == error_code::data_type_error);
  CHECK(e.where.to_string() == "OBX-5.5");

  e = must_fail(oru("OBX|1|NM|X1^Test^LN||5||||||||20240399\r"));
  CHECK(e.code == error_code::required_field_missing);  // OBX-11 first
  CHECK(e.where.to_string() == "OBX-11");

  e = must_fail(oru("OBX|1||X1^Test^LN||5||||||F\r"));
  CHECK(e.code == error_code::required_field_missing);
  CHECK(e.where.to_string() == "OBX-2");

  e = must_fail(adt("ORU^R01", std::string(patient_mrn) + seg("OBR", {{1, "1"}, {4, "X9^Panel^LN"}})));
  CHECK(e.code == error_code::required_field_missing);
  CHECK(e.where.to_string() == "OBR-25");

  e = must_fail(adt("ORU^R01", std::string(patient_mrn) + seg("OBR", {{1, "1"}, {25, "F"}})));
  CHECK(e.code == error_code::required_field_missing);
  CHECK(e.where.to_string() == "OBR-4");

  e = must_fail(adt("ORU^R01", std::string(patient_mrn) + seg("OBR", {{1, "1"}, {4, "X9^Panel^LN"}, {25, "Y"}})));
  CHECK(e.code == error_code::table_value_not_found);
  CHECK(e.where.to_string() == "OBR-25");

  // A second patient is refused, not given the first one's results.
  e = must_fail(oru(std::string("OBX|1|NM|X1^Test^LN||5||||||F\r") + patient_mrn + order));
  CHECK(e.code == error_code::segment_sequence_error);
  CHECK(e.where.segment_id == "PID");
}

TEST_CASE("the project's sample ORU: converted, notes and SN ratio as the IG says") {
  std::ifstream in(std::string(HEARTH_TEST_DATA) + "/hl7v2/oru_r01.hl7", std::ios::binary);
  REQUIRE(in);
  const auto out = must_convert(
      must_parse(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>())));
  CHECK(entries_of(out.bundle, "DiagnosticReport").size() == 3);
  CHECK(entries_of(out.bundle, "Observation").size() == 25);
  CHECK(entries_of(out.bundle, "Organization").size() == 1);  // one lab, one entry
  for (const auto* o : entries_of(out.bundle, "Observation")) {
    const auto& r = get(*o, "resource");
    if (str(r, "code.coding[0].code") == "5290-2") {  // SN ^1^:^128
      CHECK(get(r, "valueRatio.numerator.value").number_text() == "1");
      CHECK(get(r, "valueRatio.denominator.value").number_text() == "128");
    }
    if (str(r, "code.coding[0].code") == "10839-9") {  // troponin, critical, with an NTE
      CHECK(str(r, "interpretation[0].coding[0].code") == "HH");
      CHECK(str(r, "note[0].text").find("CRITICAL VALUE") == 0);
    }
  }
  // The third order is preliminary, with the SPM's Specimen.
  const auto reports = entries_of(out.bundle, "DiagnosticReport");
  CHECK(str(*reports[2], "resource.status") == "preliminary");
  CHECK(str(*reports[2], "resource.specimen[0].reference") == str(entry(out.bundle, "Specimen"), "fullUrl"));
}

TEST_CASE("fault: every field of the CBC sample mangled gives a Bundle or a 0357 error") {
  // The point of this case is that untrusted input never crashes the mapping
  // and always ends in one of the two documented outcomes.
  const std::string full = read_data("oru_r01_cbc.hl7");
  const fault_counts n = fault_sweep(full, {}, false, {"<>^^-"});
  CHECK(n.bundles > 100);
  CHECK(n.errors > 10);
}
