// Tests of hearth::profiles::validator (validator.hpp): base invariants,
// US Core 5.0.1 profiles (cardinality, fixed/pattern, slicing, extensions,
// reference targets), bindings through a fake terminology service, a small
// test package (closed/ordered slicing, maxLength, extensible binding,
// profile constraints), and hostile input. Each invalid resource is checked
// for its expected issue: severity, code and FHIRPath expression.
#include <hearth/profiles/validator.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/fhir/json_writer.hpp>

#include "test_support.hpp"

using namespace hearth;
using namespace hearth::profiles;
using namespace hearth::profiles::test;
using fhir::issue_severity;

namespace {

constexpr const char* us_core_patient = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient";
constexpr const char* us_core_bp = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure";

fhir::issue_list check(std::string_view text, validate_options opts = {}) {
  return shared().validate(json(text), opts);
}

std::size_t errors(const fhir::issue_list& l) {
  std::size_t n = 0;
  for (const auto& i : l) n += i.severity <= issue_severity::error;
  return n;
}

bool has(const fhir::issue_list& l, issue_severity s, std::string_view code, std::string_view expr,
         std::string_view diag_part = {}) {
  for (const auto& i : l)
    if (i.severity == s && i.code == code && i.expression == expr &&
        (diag_part.empty() || i.diagnostics.find(diag_part) != std::string::npos))
      return true;
  return false;
}

// A US Core Patient that is valid, written from the us-core-patient 5.0.1
// snapshot: identifier (system, value), name, gender 1..1; race and
// ethnicity as complex extensions (ombCategory, text), birth sex as a code.
const char* const valid_us_core_patient = R"({
  "resourceType": "Patient", "id": "example",
  "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
  "extension": [
    {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
     "extension": [
       {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3", "display": "White"}},
       {"url": "detailed", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2108-9", "display": "European"}},
       {"url": "text", "valueString": "White"}]},
    {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
     "extension": [
       {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2186-5", "display": "Not Hispanic or Latino"}},
       {"url": "text", "valueString": "Not Hispanic or Latino"}]},
    {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", "valueCode": "F"}],
  "identifier": [{"system": "http://hospital.smarthealthit.org", "value": "1032702"}],
  "active": true,
  "name": [{"family": "Shaw", "given": ["Amy", "V."]}],
  "telecom": [{"system": "phone", "value": "555-555-5555", "use": "home"}],
  "gender": "female",
  "birthDate": "1987-02-20",
  "address": [{"line": ["49 Meadow St"], "city": "Mounds", "state": "OK", "postalCode": "74047", "country": "US"}],
  "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-US"}]}}]
})";

// A US Core blood pressure that is valid, from the us-core-blood-pressure
// 5.0.1 snapshot: VSCat category, LOINC 85354-9, systolic 8480-6 and
// diastolic 8462-4 components in mm[Hg], subject a Patient, effective[x].
std::string blood_pressure(std::string_view components, std::string_view extra = {}) {
  return std::string(R"({
  "resourceType": "Observation", "id": "blood-pressure",
  "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure"]},
  "status": "final",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}]},
  "subject": {"reference": "Patient/example"},
  "effectiveDateTime": "1999-07-02",)") +
         std::string(extra) + R"("component": [)" + std::string(components) + "]}";
}

const char* const systolic =
    R"({"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
        "valueQuantity": {"value": 109, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}})";
const char* const diastolic =
    R"({"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
        "valueQuantity": {"value": 44, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}})";

}  // namespace

// ------------------------------------------------------------------ building

TEST_CASE("validator: builds from the R4 definitions, well under a second, and knows the core and US Core URLs") {
  const auto& v = shared();
  MESSAGE("validator::build took " << build_ms() << " ms");
  CHECK(v.has_profile("http://hl7.org/fhir/StructureDefinition/Patient"));
  CHECK(v.has_profile("http://hl7.org/fhir/StructureDefinition/Patient|4.0.1"));
  CHECK(v.has_profile("http://hl7.org/fhir/StructureDefinition/patient-birthPlace"));  // extension-definitions.json
  CHECK(v.has_profile("http://hl7.org/fhir/StructureDefinition/vitalsigns"));          // profiles-others.json
  CHECK(v.has_profile(us_core_patient));
  CHECK(v.has_profile("http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"));
  CHECK_FALSE(v.has_profile("http://example.org/nothing"));
  CHECK(&v.definitions() == &registry());
}

TEST_CASE("validator: load_package / add_profile errors are values") {
  shared();
  const load_results& l = loaded();
  CHECK(l.us_core == 8);
  CHECK(l.missing.code == "not-found");
  CHECK(l.not_sd.code == "invalid");
  CHECK(l.unknown_base.code == "not-found");
  CHECK(l.no_definitions.code == "invalid");
  CHECK_FALSE(shared().has_profile("http://x/y"));
  auto broken = validator::build(registry(), data_dir());  // no definition bundles there: fails on the first
  REQUIRE_FALSE(broken);
  CHECK(broken.error().code == "not-found");
}

// ------------------------------------------------------------------ base layer

TEST_CASE("invariants: pat-1 at the contact, obs-6 at the root, per-1, ext-1") {
  auto pat = check(R"({"resourceType": "Patient", "contact": [{"gender": "male"}, {"name": {"family": "A"}}]})");
  CHECK_MESSAGE(has(pat, issue_severity::error, "invariant", "Patient.contact[0]", "pat-1"), dump(pat));
  CHECK_FALSE(has(pat, issue_severity::error, "invariant", "Patient.contact[1]", "pat-1"));

  auto obs = check(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "valueString": "x", "dataAbsentReason": {"text": "unknown"}})");
  CHECK_MESSAGE(has(obs, issue_severity::error, "invariant", "Observation", "obs-6"), dump(obs));

  auto period = check(R"({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
      "period": {"start": "2020-02-01", "end": "2020-01-01"}})");
  CHECK_MESSAGE(has(period, issue_severity::error, "invariant", "Encounter.period", "per-1"), dump(period));

  auto ext = check(R"({"resourceType": "Patient", "extension": [{"url": "http://example.org/x",
      "valueString": "a", "extension": [{"url": "y", "valueString": "b"}]}]})");
  CHECK_MESSAGE(has(ext, issue_severity::error, "invariant", "Patient.extension[0]", "ext-1"), dump(ext));

  // obs-7: a component code that repeats the observation code, with a value.
  auto obs7 = check(R"({"resourceType": "Observation", "status": "final",
      "code": {"coding": [{"system": "http://loinc.org", "code": "1-8"}]}, "valueString": "x",
      "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "1-8"}]}, "valueString": "y"}]})");
  CHECK_MESSAGE(has(obs7, issue_severity::error, "invariant", "Observation", "obs-7"), dump(obs7));

  // A warning-level invariant stays a warning (vsd-0: a name usable as an identifier).
  auto vs = check(R"({"resourceType": "ValueSet", "status": "draft", "name": "not an identifier"})");
  CHECK_MESSAGE(has(vs, issue_severity::warning, "invariant", "ValueSet", "vsd-0"), dump(vs));
  CHECK(errors(vs) == 0);
}

TEST_CASE("invariants: ref-1 resolves local references against the container, also from a contained resource") {
  auto ok = check(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "contained": [{"resourceType": "Patient", "id": "p"}, {"resourceType": "Device", "id": "d",
                     "patient": {"reference": "#p"}}],
      "subject": {"reference": "#p"}, "device": {"reference": "#d"}})");
  CHECK_MESSAGE(errors(ok) == 0, dump(ok));
  auto bad = check(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "contained": [{"resourceType": "Patient", "id": "p"}], "subject": {"reference": "#p"},
      "performer": [{"reference": "#nope"}]})");
  CHECK_MESSAGE(has(bad, issue_severity::error, "invariant", "Observation.performer[0]", "ref-1"), dump(bad));
}

TEST_CASE("invariants: txt-1 and txt-2 on Narrative.div, each on its own, saying what is wrong") {
  auto with_div = [](std::string_view div) {
    fhir::json_value p =
        json(R"({"resourceType": "Patient", "active": true, "text": {"status": "generated", "div": "x"}})");
    p.find("text")->set("div", fhir::json_value(std::string(div)));
    return shared().validate(p, {});
  };
  const std::string xhtml = R"(<div xmlns="http://www.w3.org/1999/xhtml">)";
  auto txt = [](const fhir::issue_list& l, std::string_view key, std::string_view why = {}) {
    return has(l, issue_severity::error, "invariant", "Patient.text.div", key) &&
           (why.empty() || has(l, issue_severity::error, "invariant", "Patient.text.div", why));
  };

  auto good = with_div(xhtml + "<p>Amy <b>Shaw</b></p></div>");
  CHECK_MESSAGE(errors(good) == 0, dump(good));

  auto script = with_div(xhtml + "<p>Amy</p><script>alert('Amy Shaw')</script></div>");
  CHECK_MESSAGE(txt(script, "txt-1", "(element 'script' is not allowed in a narrative)"), dump(script));
  CHECK_FALSE(txt(script, "txt-2"));
  CHECK(has(script, issue_severity::error, "invariant", "Patient.text.div",
            "Constraint failed: txt-1: 'The narrative SHALL contain only the basic html formatting elements"));
  for (const auto& i : script) CHECK(i.diagnostics.find("Amy") == std::string::npos);  // never the content

  auto onclick = with_div(xhtml + R"~(<p onclick="steal()">Amy</p></div>)~");
  CHECK_MESSAGE(txt(onclick, "txt-1", "(attribute 'onclick' is not allowed on 'p')"), dump(onclick));
  CHECK_FALSE(txt(onclick, "txt-2"));

  auto url = with_div(xhtml + R"~(<a href="javascript:steal()">Amy</a></div>)~");
  CHECK_MESSAGE(txt(url, "txt-1", "holds a script URL"), dump(url));

  auto blank = with_div(xhtml + "\n   <p> </p>\n</div>");
  CHECK_MESSAGE(txt(blank, "txt-2", "(the div holds nothing but whitespace)"), dump(blank));
  CHECK(has(blank, issue_severity::error, "invariant", "Patient.text.div",
            "Constraint failed: txt-2: 'The narrative SHALL have some non-whitespace content'"));
  CHECK_FALSE(txt(blank, "txt-1"));

  // Both broken: both reported.
  auto both = with_div(xhtml + "<script/></div>");
  CHECK_MESSAGE(txt(both, "txt-1"), dump(both));
  CHECK(txt(both, "txt-2"));

  // Malformed: txt-1 says so; txt-2 cannot tell and stays silent.
  auto malformed = with_div(xhtml + "<p>Amy</div>");
  CHECK_MESSAGE(txt(malformed, "txt-1", "not well-formed XML"), dump(malformed));
  CHECK_FALSE(txt(malformed, "txt-2"));
  auto doctype = with_div(R"(<!DOCTYPE div [<!ENTITY e SYSTEM "file:///etc/passwd">]>)" + xhtml + "&e;</div>");
  CHECK_MESSAGE(txt(doctype, "txt-1", "DOCTYPE and ENTITY declarations are not allowed"), dump(doctype));
  auto other_ns = with_div(R"(<div xmlns="http://example.org">Amy</div>)");
  CHECK_MESSAGE(txt(other_ns, "txt-1", "is not in the XHTML namespace"), dump(other_ns));

  // The location follows the resource: a Bundle entry's narrative.
  auto bundle = check(R"({"resourceType": "Bundle", "type": "collection", "entry": [
      {"fullUrl": "urn:uuid:7f4e3a7c-2f4b-4b7e-9d1a-6b0e8c9a1f20", "resource": {"resourceType": "Patient",
       "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><iframe/></div>"}}}]})");
  CHECK_MESSAGE(has(bundle, issue_severity::error, "invariant", "Bundle.entry[0].resource.text.div", "txt-1"),
                dump(bundle));
  CHECK(has(bundle, issue_severity::error, "invariant", "Bundle.entry[0].resource.text.div", "txt-2"));
}

TEST_CASE("base: a reference to a resource type the element does not allow") {
  auto l = check(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "subject": {"reference": "Medication/1"}})");
  CHECK_MESSAGE(has(l, issue_severity::error, "structure", "Observation.subject", "Medication"), dump(l));
  auto abs = check(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "subject": {"reference": "http://example.org/fhir/Patient/1/_history/2"}})");
  CHECK_MESSAGE(errors(abs) == 0, dump(abs));
}

TEST_CASE("base: unknown extensions are warnings; known ones are checked against their definition") {
  auto l = check(R"({"resourceType": "Patient", "extension": [{"url": "http://example.org/unknown", "valueString": "x"}],
      "modifierExtension": [{"url": "http://example.org/unknown-modifier", "valueBoolean": true}]})");
  CHECK_MESSAGE(has(l, issue_severity::warning, "extension", "Patient.extension[0]"), dump(l));
  CHECK(has(l, issue_severity::warning, "extension", "Patient.modifierExtension[0]", "modifier"));
  CHECK(errors(l) == 0);
  // patient-birthPlace: value[x] is an Address only.
  auto bp = check(R"({"resourceType": "Patient", "extension": [{"url":
      "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueString": "Paris"}]})");
  CHECK_MESSAGE(has(bp, issue_severity::error, "structure", "Patient.extension[0].valueString", "Extension.value[x]"),
                dump(bp));
  auto ok = check(R"({"resourceType": "Patient", "extension": [{"url":
      "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress": {"city": "Paris"}}]})");
  CHECK_MESSAGE(errors(ok) == 0, dump(ok));
  // Outside its context (patient-birthPlace is for Patient): a warning.
  auto where = check(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "extension": [{"url":
      "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress": {"city": "Paris"}}]})");
  CHECK_MESSAGE(has(where, issue_severity::warning, "structure", "Observation.extension[0]", "not allowed here"), dump(where));
  CHECK_FALSE(has(ok, issue_severity::warning, "structure", "Patient.extension[0]", "not allowed here"));
  // An extension on a primitive (_birthDate) is found as well.
  auto prim = check(R"({"resourceType": "Patient", "birthDate": "2000-01-01", "_birthDate": {"extension": [
      {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueString": "10:00"}]}})");
  CHECK_MESSAGE(has(prim, issue_severity::error, "structure", "Patient.birthDate.extension[0].valueString"), dump(prim));
}

// ------------------------------------------------------------------ bindings

TEST_CASE("bindings: base required bindings through the terminology callback") {
  validate_options opts;
  opts.terminology = fake_terminology;
  auto bad = check(R"({"resourceType": "Patient", "gender": "femme"})", opts);
  CHECK_MESSAGE(has(bad, issue_severity::error, "code-invalid", "Patient.gender", "administrative-gender"), dump(bad));
  auto good = check(R"({"resourceType": "Patient", "gender": "female"})", opts);
  CHECK_MESSAGE(errors(good) == 0, dump(good));
  CHECK_FALSE(has(good, issue_severity::error, "code-invalid", "Patient.gender"));
  // dom-6 (no narrative) is the only finding: a warning, as the HL7 validator gives it.
  CHECK_MESSAGE(good.size() == 1, dump(good));
  CHECK(has(good, issue_severity::warning, "invariant", "Patient", "dom-6"));
  auto obs = check(R"({"resourceType": "Observation", "status": "done", "code": {"text": "x"}})", opts);
  CHECK(has(obs, issue_severity::error, "code-invalid", "Observation.status"));
  // Without a callback: not checked, said once.
  auto unchecked = check(R"({"resourceType": "Patient", "gender": "femme", "contact": [{"gender": "x",
      "name": {"text": "a"}}]})");
  CHECK(errors(unchecked) == 0);
  CHECK(count_issues(unchecked, issue_severity::information, "informational", "Patient") == 1);
}

TEST_CASE("bindings: required on a CodeableConcept, extensible is a warning, cannot-tell, text only") {
  validate_options opts;
  opts.terminology = fake_terminology;
  const auto& v = shared();
  // test-patient binds maritalStatus (extensible) to a value set the fake
  // does not know → cannot tell → information.
  auto marital = v.validate(json(R"({"resourceType": "Patient", "birthDate": "2000-01-01", "active": true,
      "meta": {"profile": ["http://example.org/fhir/StructureDefinition/test-patient"]},
      "identifier": [{"system": "http://example.org/mrn", "value": "12"}],
      "maritalStatus": {"coding": [{"system": "http://x", "code": "M"}]}})"),
                            opts);
  CHECK_MESSAGE(has(marital, issue_severity::information, "processing", "Patient.maritalStatus"), dump(marital));
  CHECK(errors(marital) == 0);
  opts.terminology = [](std::string_view vs, std::string_view, std::string_view code, std::string_view) {
    if (vs == "http://example.org/fhir/ValueSet/test-marital")
      return code == "M" ? code_verdict{code_verdict::status::valid, {}} : code_verdict{code_verdict::status::invalid, "no"};
    return code_verdict{code_verdict::status::valid, {}};
  };
  auto ext = v.validate(json(R"({"resourceType": "Patient", "birthDate": "2000-01-01", "active": true,
      "meta": {"profile": ["http://example.org/fhir/StructureDefinition/test-patient"]},
      "identifier": [{"system": "http://example.org/mrn", "value": "12"}],
      "maritalStatus": {"coding": [{"system": "http://x", "code": "Q"}]}})"),
                        opts);
  CHECK_MESSAGE(has(ext, issue_severity::warning, "code-invalid", "Patient.maritalStatus", "extensible"), dump(ext));
  CHECK(errors(ext) == 0);
  // Required on a CodeableConcept (Observation.category in US Core blood
  // pressure is preferred: no check); a required CodeableConcept is valid when
  // any coding is; text alone is an error.
  opts.terminology = [](std::string_view vs, std::string_view, std::string_view code, std::string_view) {
    if (vs.starts_with("http://hl7.org/fhir/ValueSet/allergyintolerance-clinical"))
      return code == "active" ? code_verdict{code_verdict::status::valid, {}}
                              : code_verdict{code_verdict::status::invalid, "no"};
    return code_verdict{code_verdict::status::valid, {}};
  };
  auto any = check(R"({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/1"},
      "clinicalStatus": {"coding": [{"system": "x", "code": "nope"}, {"system": "x", "code": "active"}]}})", opts);
  CHECK_MESSAGE(errors(any) == 0, dump(any));
  auto none = check(R"({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/1"},
      "clinicalStatus": {"coding": [{"system": "x", "code": "nope"}]}})", opts);
  CHECK(has(none, issue_severity::error, "code-invalid", "AllergyIntolerance.clinicalStatus"));
  auto text = check(R"({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/1"},
      "clinicalStatus": {"text": "active"}})", opts);
  CHECK(has(text, issue_severity::error, "code-invalid", "AllergyIntolerance.clinicalStatus"));
}

// ------------------------------------------------------------------ US Core

TEST_CASE("US Core Patient: a valid instance has no errors") {
  auto l = check(valid_us_core_patient);
  CHECK_MESSAGE(errors(l) == 0, dump(l));
  validate_options opts;
  opts.terminology = fake_terminology;
  auto t = check(valid_us_core_patient, opts);
  CHECK_MESSAGE(errors(t) == 0, dump(t));
}

TEST_CASE("US Core Patient: missing identifier, name and gender") {
  auto l = check(R"({"resourceType": "Patient", "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
      "birthDate": "2000-01-01"})");
  CHECK_MESSAGE(has(l, issue_severity::error, "required", "Patient", "Patient.identifier: minimum required = 1"), dump(l));
  CHECK(has(l, issue_severity::error, "required", "Patient", "Patient.name: minimum required = 1"));
  CHECK(has(l, issue_severity::error, "required", "Patient", "Patient.gender: minimum required = 1"));
  // us-core-6: a name needs family or given (or a data-absent-reason).
  CHECK(has(l, issue_severity::error, "invariant", "Patient", "us-core-6"));
  // Also through validate_options::profiles instead of meta.profile.
  validate_options opts;
  opts.profiles = {us_core_patient};
  auto p = check(R"({"resourceType": "Patient", "name": [{"family": "A"}], "gender": "male"})", opts);
  CHECK(has(p, issue_severity::error, "required", "Patient", "Patient.identifier"));
  // identifier.system is 1..1 in US Core.
  auto sys = check(R"({"resourceType": "Patient", "identifier": [{"value": "1"}], "name": [{"family": "A"}], "gender": "male"})",
                   opts);
  CHECK_MESSAGE(has(sys, issue_severity::error, "required", "Patient.identifier[0]", "Patient.identifier.system"),
                dump(sys));
}

TEST_CASE("US Core race: the complex extension's nested slices are checked") {
  auto race = [](std::string_view nested) {
    return std::string(R"({"resourceType": "Patient", "identifier": [{"system": "http://x", "value": "1"}],
        "name": [{"family": "A"}], "gender": "male",
        "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
        "extension": [{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension": [)") +
           std::string(nested) + "]}]}";
  };
  // text is 1..1
  auto no_text = check(race(R"({"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3"}})"));
  CHECK_MESSAGE(has(no_text, issue_severity::error, "required", "Patient.extension[0]", "Extension.extension:text"),
                dump(no_text));
  // ombCategory's value is a Coding
  auto wrong_type = check(race(R"({"url": "ombCategory", "valueString": "White"}, {"url": "text", "valueString": "W"})"));
  CHECK_MESSAGE(has(wrong_type, issue_severity::error, "structure", "Patient.extension[0].extension[0].valueString",
                    "not allowed"),
                dump(wrong_type));
  // ombCategory is 0..5
  std::string six;
  for (int i = 0; i < 6; ++i)
    six += R"({"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3"}},)";
  auto too_many = check(race(six + R"({"url": "text", "valueString": "W"})"));
  CHECK_MESSAGE(has(too_many, issue_severity::error, "structure", "Patient.extension[0]", "ombCategory: maximum allowed = 5"),
                dump(too_many));
  // a race with a value[x] (0..0) and no nested extension
  auto value = check(R"({"resourceType": "Patient", "extension": [{"url":
      "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "valueString": "White"}]})");
  CHECK_MESSAGE(has(value, issue_severity::error, "structure", "Patient.extension[0]", "Extension.value[x]: maximum allowed = 0"),
                dump(value));
  CHECK(has(value, issue_severity::error, "required", "Patient.extension[0]", "Extension.extension:text"));
}

TEST_CASE("US Core blood pressure: valid, and its components, fixed values, pattern and subject") {
  auto ok = check(blood_pressure(std::string(systolic) + "," + diastolic));
  CHECK_MESSAGE(errors(ok) == 0, dump(ok));
  // Without the systolic component: the slice's min 1, and component 2..*.
  auto no_sys = check(blood_pressure(diastolic));
  CHECK_MESSAGE(has(no_sys, issue_severity::error, "required", "Observation", "Observation.component:systolic: minimum required = 1"),
                dump(no_sys));
  CHECK(has(no_sys, issue_severity::error, "required", "Observation", "Observation.component: minimum required = 2"));
  // The systolic value in the wrong unit: fixedCode mm[Hg].
  std::string wrong_unit = std::string(systolic);
  wrong_unit.replace(wrong_unit.find("\"mm[Hg]\""), 8, "\"mmHg\"");
  auto unit = check(blood_pressure(wrong_unit + "," + diastolic));
  CHECK_MESSAGE(has(unit, issue_severity::error, "value", "Observation.component[0].valueQuantity.code", "fixed"),
                dump(unit));
  // The panel code: patternCodeableConcept LOINC 85354-9.
  std::string other_code = blood_pressure(std::string(systolic) + "," + diastolic);
  other_code.replace(other_code.find("85354-9"), 7, "55284-4");
  auto code = check(other_code);
  CHECK_MESSAGE(has(code, issue_severity::error, "value", "Observation.code", "pattern"), dump(code));
  // The subject must be a (US Core) Patient: Group is allowed by R4, not here.
  std::string group = blood_pressure(std::string(systolic) + "," + diastolic);
  group.replace(group.find("Patient/example"), 15, "Group/example");
  auto subject = check(group);
  CHECK_MESSAGE(has(subject, issue_severity::error, "structure", "Observation.subject", "Group"), dump(subject));
  // The category slice VSCat (fixed system and code) is 1..1.
  std::string no_cat = blood_pressure(std::string(systolic) + "," + diastolic);
  no_cat.replace(no_cat.find("vital-signs"), 11, "laboratory");
  auto cat = check(no_cat);
  CHECK_MESSAGE(has(cat, issue_severity::error, "required", "Observation", "Observation.category:VSCat"), dump(cat));
}

TEST_CASE("US Core blood pressure: a subject in the same Bundle must be a US Core Patient") {
  auto in_bundle = [](std::string_view patient) {
    return std::string(R"({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://example.org/fhir/Observation/blood-pressure", "resource": )") +
           blood_pressure(std::string(systolic) + "," + diastolic) + R"(},
        {"fullUrl": "http://example.org/fhir/Patient/example", "resource": )" + std::string(patient) + "}]}";
  };
  auto good = check(in_bundle(valid_us_core_patient));
  CHECK_MESSAGE(errors(good) == 0, dump(good));
  auto bad = check(in_bundle(R"({"resourceType": "Patient", "id": "example", "gender": "male"})"));
  CHECK_MESSAGE(has(bad, issue_severity::error, "structure", "Bundle.entry[0].resource.subject", "target profile"),
                dump(bad));
}

TEST_CASE("R4 vitalsigns profiles (profiles-others.json) on the official example") {
  auto text = read_file(std::filesystem::path(HEARTH_R4_EXAMPLES_DIR) / "Observation-blood-pressure.json");
  if (text.empty()) return;
  auto l = shared().validate(json(text));
  CHECK_MESSAGE(errors(l) == 0, dump(l));
}

// ------------------------------------------------------------------ test package

TEST_CASE("test package: closed and ordered slicing, slice cardinality, maxLength, max 0, choice types, constraints") {
  const auto& v = shared();
  auto base = [](std::string_view identifiers, std::string_view extra = {}) {
    return std::string(R"({"resourceType": "Patient", "birthDate": "2000-01-01", "active": true,
        "meta": {"profile": ["http://example.org/fhir/StructureDefinition/test-patient"]}, )") +
           std::string(extra) + R"("identifier": [)" + std::string(identifiers) + "]}";
  };
  const char* mrn = R"({"system": "http://example.org/mrn", "value": "12345"})";
  const char* ssn = R"({"system": "http://hl7.org/fhir/sid/us-ssn", "value": "123-45-6789"})";
  const char* other = R"({"system": "http://example.org/other", "value": "1"})";
  auto ok = v.validate(json(base(std::string(mrn) + "," + ssn)));
  CHECK_MESSAGE(errors(ok) == 0, dump(ok));

  auto closed = v.validate(json(base(std::string(mrn) + "," + other)));
  CHECK_MESSAGE(has(closed, issue_severity::error, "structure", "Patient.identifier[1]", "closed"), dump(closed));

  auto ordered = v.validate(json(base(std::string(ssn) + "," + mrn)));
  CHECK_MESSAGE(has(ordered, issue_severity::error, "structure", "Patient.identifier[1]", "ordered"), dump(ordered));

  auto no_mrn = v.validate(json(base(ssn)));
  CHECK(has(no_mrn, issue_severity::error, "required", "Patient", "Patient.identifier:mrn: minimum required = 1"));

  auto too_many = v.validate(json(base(std::string(mrn) + "," + ssn + "," + ssn)));
  CHECK(has(too_many, issue_severity::error, "structure", "Patient", "Patient.identifier: maximum allowed = 2"));
  CHECK(has(too_many, issue_severity::error, "structure", "Patient", "Patient.identifier:ssn: maximum allowed = 1"));

  auto long_value = v.validate(json(base(R"({"system": "http://example.org/mrn", "value": "123456789"})")));
  CHECK_MESSAGE(has(long_value, issue_severity::error, "too-long", "Patient.identifier[0].value"), dump(long_value));

  auto twins = v.validate(json(base(mrn, R"("multipleBirthInteger": 2, )")));
  CHECK(has(twins, issue_severity::error, "structure", "Patient", "Patient.multipleBirth[x]: maximum allowed = 0"));

  auto deceased = v.validate(json(base(mrn, R"("deceasedDateTime": "2020-01-01", )")));
  CHECK_MESSAGE(has(deceased, issue_severity::error, "structure", "Patient.deceasedDateTime", "not allowed"),
                dump(deceased));

  auto org = v.validate(json(base(mrn, R"("managingOrganization": {"reference": "Practitioner/1"}, )")));
  CHECK(has(org, issue_severity::error, "structure", "Patient.managingOrganization"));

  // The profile's own constraints, at their severities.
  auto constraints = v.validate(json(R"({"resourceType": "Patient",
      "meta": {"profile": ["http://example.org/fhir/StructureDefinition/test-patient"]},
      "identifier": [{"system": "http://example.org/mrn", "value": "1"}]})"));
  CHECK_MESSAGE(has(constraints, issue_severity::error, "invariant", "Patient", "tp-1"), dump(constraints));
  CHECK(has(constraints, issue_severity::warning, "invariant", "Patient", "tp-2"));

  // memberOf() in a profile's constraint goes to the terminology callback.
  validate_options opts;
  opts.terminology = fake_terminology;
  auto member = v.validate(json(base(mrn, R"("gender": "femme", )")), opts);
  CHECK_MESSAGE(has(member, issue_severity::error, "invariant", "Patient", "tp-3"), dump(member));
  auto member_ok = v.validate(json(base(mrn, R"("gender": "female", )")), opts);
  CHECK_FALSE(has(member_ok, issue_severity::error, "invariant", "Patient", "tp-3"));
}

TEST_CASE("profiles: unknown profile URLs are issues, not crashes; a profile of another type is an error") {
  auto meta = check(R"({"resourceType": "Patient", "meta": {"profile": ["http://example.org/no-such-profile"]}})");
  CHECK(has(meta, issue_severity::warning, "not-found", "Patient"));
  CHECK(errors(meta) == 0);
  validate_options opts;
  opts.profiles = {"http://example.org/no-such-profile|1.0"};
  auto asked = check(R"({"resourceType": "Patient"})", opts);
  CHECK(has(asked, issue_severity::error, "not-found", "Patient"));
  opts.profiles = {us_core_bp};
  auto wrong = check(R"({"resourceType": "Patient"})", opts);
  CHECK(has(wrong, issue_severity::error, "invalid", "Patient"));
}

// ------------------------------------------------------------------ limits

TEST_CASE("hostile: recursive profiles, deep extensions, huge arrays stay bounded") {
  const auto& v = shared();
  // An extension whose definition slices itself by profile and refers to
  // itself, nested 100 deep (the JSON reader's depth limit is 128 levels).
  std::string nested = R"({"url": "http://example.org/fhir/StructureDefinition/test-recursive", "valueString": "leaf"})";
  for (int i = 0; i < 60; ++i)
    nested = R"({"url": "http://example.org/fhir/StructureDefinition/test-recursive", "extension": [)" + nested + "]}";
  auto t0 = std::chrono::steady_clock::now();
  auto deep = v.validate(json(R"({"resourceType": "Patient", "extension": [)" + nested + "]}"));
  CHECK(errors(deep) == 0);
  // A self-referencing type profile on a Quantity value.
  auto q = v.validate(json(R"({"resourceType": "Patient", "extension": [{"url":
      "http://example.org/fhir/StructureDefinition/test-recursive", "valueQuantity": {"unit": "x"}}]})"));
  CHECK_MESSAGE(has(q, issue_severity::error, "required", "Patient.extension[0].valueQuantity", "Quantity.value"), dump(q));

  // 100 levels of unknown nested extensions, built as a value (beyond what
  // the JSON reader accepts): bounded, no crash.
  fhir::json_value ext = fhir::json_value::object();
  ext.set("url", "http://example.org/leaf");
  ext.set("valueString", "x");
  for (int i = 0; i < 100; ++i) {
    fhir::json_value outer = fhir::json_value::object();
    outer.set("url", "http://example.org/level");
    fhir::json_value arr = fhir::json_value::array();
    arr.push_back(std::move(ext));
    outer.set("extension", std::move(arr));
    ext = std::move(outer);
  }
  fhir::json_value patient = fhir::json_value::object();
  patient.set("resourceType", "Patient");
  fhir::json_value arr = fhir::json_value::array();
  arr.push_back(std::move(ext));
  patient.set("extension", std::move(arr));
  validate_options small;
  small.max_issues = 10;
  auto hundred = v.validate(patient, small);
  CHECK(hundred.size() <= 2 * small.max_issues + 2);

  // A huge array of failing items: issues are capped.
  std::string contacts;
  for (int i = 0; i < 20000; ++i) contacts += std::string(i ? "," : "") + R"({"gender": "male"})";
  auto huge = v.validate(json(R"({"resourceType": "Patient", "contact": [)" + contacts + "]}"), small);
  CHECK(huge.size() <= small.max_issues + 1);
  CHECK(fhir::has_errors(huge));
  CHECK(huge.back().code == "too-costly");
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(secs < 10);
}

TEST_CASE("thread-safety: concurrent validate() calls give the same issues") {
  const auto& v = shared();
  const fhir::json_value a = json(blood_pressure(diastolic));
  const fhir::json_value b = json(valid_us_core_patient);
  const auto expected_a = v.validate(a);
  const auto expected_b = v.validate(b);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (v.validate(a) != expected_a) ++mismatches;
        if (v.validate(b) != expected_b) ++mismatches;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(mismatches == 0);
}

TEST_CASE("load_package: an npm .tgz package (the test package)") {
  const auto& v = shared();
  CHECK(loaded().test_package == 3);
  CHECK(v.has_profile("http://example.org/fhir/StructureDefinition/test-patient"));
  CHECK(v.has_profile("http://example.org/fhir/StructureDefinition/test-recursive-quantity"));
  auto l = v.validate(json(R"({"resourceType": "Patient", "birthDate": "2000-01-01",
      "meta": {"profile": ["http://example.org/fhir/StructureDefinition/test-patient"]}})"));
  CHECK(has(l, issue_severity::error, "required", "Patient", "Patient.identifier: minimum required = 1"));
}

TEST_CASE("slicing: a resolve() discriminator follows references to Bundle entries and the resolver") {
  const validator* v = &shared();
  auto bundle = [](std::string_view member) {
    return std::string(R"({"resourceType": "Bundle", "type": "collection", "entry": [
      {"fullUrl": "http://example.org/fhir/Observation/1", "resource": {"resourceType": "Observation", "id": "1",
        "meta": {"profile": ["http://example.org/fhir/StructureDefinition/test-panel"]},
        "status": "final", "code": {"text": "panel"}, "hasMember": [{"reference": ")") +
           std::string(member) + R"("}]}},
      {"fullUrl": "http://example.org/fhir/Observation/2", "resource": {"resourceType": "Observation", "id": "2",
        "status": "final", "code": {"text": "member"}, "valueString": "x"}},
      {"fullUrl": "http://example.org/fhir/QuestionnaireResponse/3", "resource": {"resourceType": "QuestionnaireResponse",
        "id": "3", "status": "completed"}}]})";
  };
  auto ok = v->validate(json(bundle("Observation/2")));
  CHECK_MESSAGE(errors(ok) == 0, dump(ok));
  auto qr = v->validate(json(bundle("QuestionnaireResponse/3")));
  CHECK_MESSAGE(has(qr, issue_severity::error, "structure", "Bundle.entry[0].resource.hasMember[0]", "closed"), dump(qr));
  CHECK(has(qr, issue_severity::error, "required", "Bundle.entry[0].resource", "hasMember:observation"));
  // A reference outside the Bundle: only the resolver can tell.
  const fhir::json_value outside = json(R"({"resourceType": "Observation", "id": "9", "status": "final",
      "code": {"text": "x"}, "valueString": "y"})");
  validate_options opts;
  opts.resolver = [&](std::string_view ref) -> const fhir::json_value* {
    return ref == "Observation/9" ? &outside : nullptr;
  };
  auto resolved = v->validate(json(bundle("Observation/9")), opts);
  CHECK_MESSAGE(errors(resolved) == 0, dump(resolved));
  auto unresolved = v->validate(json(bundle("Observation/9")));
  CHECK(fhir::has_errors(unresolved));
}

TEST_CASE("slicing: openAtEnd, exists discriminators, a choice sliced by type without a slicing entry") {
  const validator* v = &shared();
  auto obs = [](std::string_view body) {
    return std::string(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "meta": {"profile": ["http://example.org/fhir/StructureDefinition/test-observation"]}, )") +
           std::string(body) + "}";
  };
  const std::string measured = R"({"code": {"text": "a"}, "valueQuantity": {"value": 1}})";
  const std::string absent = R"({"code": {"text": "b"}, "dataAbsentReason": {"text": "gone"}})";
  auto ok = v->validate(json(obs(R"("identifier": [{"system": "http://example.org/main", "value": "1"},
      {"system": "http://other", "value": "2"}], "component": [)" + measured + "," + absent + "]")));
  CHECK_MESSAGE(errors(ok) == 0, dump(ok));
  // openAtEnd: an unmatched identifier before a matched one.
  auto at_end = v->validate(json(obs(R"("identifier": [{"system": "http://other", "value": "2"},
      {"system": "http://example.org/main", "value": "1"}], "component": [)" + measured + "]")));
  CHECK_MESSAGE(has(at_end, issue_severity::error, "structure", "Observation.identifier[1]", "openAtEnd"), dump(at_end));
  // exists: two components without dataAbsentReason → "measured" (max 1) twice; none is "absent" (0..1: fine).
  auto twice = v->validate(json(obs(R"("component": [)" + measured + "," + measured + "]")));
  CHECK_MESSAGE(has(twice, issue_severity::error, "structure", "Observation", "component:measured: maximum allowed = 1"),
                dump(twice));
  // The "measured" slice needs a Quantity value.
  auto no_value = v->validate(json(obs(R"("component": [{"code": {"text": "a"}, "valueString": "x"}])")));
  CHECK_MESSAGE(has(no_value, issue_severity::error, "structure", "Observation.component[0].valueString", "not allowed"),
                dump(no_value));
  // value[x]:valueQuantity constrains a Quantity value only.
  auto q = v->validate(json(obs(R"("valueQuantity": {"value": 1, "system": "http://example.org/units"})")));
  CHECK_MESSAGE(has(q, issue_severity::error, "value", "Observation.valueQuantity.system", "fixed"), dump(q));
  auto s = v->validate(json(obs(R"("valueString": "high")")));
  CHECK_FALSE(has(s, issue_severity::error, "value", "Observation.valueString"));
  // Extension slices on a primitive (_issued).
  const std::string dar = R"({"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"})";
  auto prim = v->validate(json(obs(R"("_issued": {"extension": [)" + dar + "," + dar + "]}")));
  CHECK_MESSAGE(has(prim, issue_severity::error, "structure", "Observation.issued", "issued.extension:absent: maximum allowed = 1"),
                dump(prim));
  auto prim_ok = v->validate(json(obs(R"("issued": "2020-01-01T00:00:00Z", "_issued": {"extension": [)" + dar +
                                      R"(]}, "component": [)" + measured + "]")));
  CHECK_MESSAGE(errors(prim_ok) == 0, dump(prim_ok));
}
