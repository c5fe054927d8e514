#include <hearth/store/indexer.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "index_test_support.hpp"

using namespace hearth::store;
using hearth::store::test::default_indexer;
using hearth::store::test::json;
using hearth::store::test::of;
using hearth::store::test::registry;

namespace {

constexpr std::int64_t day = 86'400'000, hour = 3'600'000, minute = 60'000;
// 1970-03-01T00:00:00Z: January (31) and February (28) of 1970.
constexpr std::int64_t mar1970 = 59 * day;
// 2021-05-04T00:00:00Z: 18628 days to 2021-01-01 (51 years, 13 leap days), then
// January-April (31+28+31+30 = 120 days) and 3 more.
constexpr std::int64_t may4_2021 = (18628 + 123) * day;
static_assert(may4_2021 == 1'620'086'400'000);

// The only entry of a parameter; fails the case unless there is exactly one.
template <class Entry>
Entry one(const std::vector<Entry>& entries, std::string_view code) {
  auto v = of(entries, code);
  REQUIRE_MESSAGE(v.size() == 1, code);
  return v.front();
}

index_entries index_ok(std::string_view text) {
  auto r = default_indexer().index(json(text));
  REQUIRE(r);
  return std::move(r).value();
}

std::multiset<std::string> normalized(const std::vector<string_entry>& v) {
  std::multiset<std::string> out;
  for (const auto& e : v) out.insert(e.normalized);
  return out;
}

std::string problems_text(const index_entries& x) {
  std::string s;
  for (const auto& p : x.problems)
    s += std::string(p.param ? p.param->code : "-") + " " + std::string(to_string(p.kind)) + " " + p.error.location +
         ": " + p.error.message + "\n";
  return s;
}

const char* const patient = R"({
  "resourceType": "Patient", "id": "p1",
  "meta": {"lastUpdated": "2021-05-04T10:15:00.123+02:00", "source": "http://example.org/src#a",
           "profile": ["http://example.org/StructureDefinition/my-patient"],
           "tag": [{"system": "http://example.org/tags", "code": "vip", "display": "Very Important"}],
           "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
  "identifier": [
    {"system": "http://example.org/mrn", "value": "12345",
     "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}], "text": "Medical Record"}},
    {"system": "http://example.org/ssn", "value": "999"}],
  "active": true,
  "name": [{"use": "official", "family": "Müller", "given": ["Hans", "Jürgen"], "prefix": ["Dr."], "text": "Dr. Hans Jürgen Müller"}],
  "telecom": [{"system": "phone", "value": "+41 44 123 45 67"}, {"system": "email", "value": "hans@example.org"}],
  "gender": "male",
  "birthDate": "1970-03",
  "deceasedBoolean": false,
  "address": [{"line": ["Bahnhofstraße 1", "Postfach"], "city": "Zürich", "postalCode": "8001", "country": "CH"}],
  "generalPractitioner": [{"reference": "Practitioner/dr1"}, {"identifier": {"system": "http://example.org/npi", "value": "N1"}}],
  "managingOrganization": {"reference": "http://other.example.org/fhir/Organization/o1/_history/3"}
})";

}  // namespace

TEST_CASE("index: Patient strings — names fold case and accents, one entry per part") {
  const index_entries x = index_ok(patient);
  CHECK(x.problems.empty());

  const auto family = one(x.strings, "family");
  CHECK(family.exact == "Müller");
  CHECK(family.normalized == "muller");
  CHECK_FALSE(family.truncated);

  CHECK(normalized(of(x.strings, "given")) == std::multiset<std::string>{"hans", "jurgen"});
  // name: family, each given, prefix and text (R4 search.html#string, HumanName).
  CHECK(normalized(of(x.strings, "name")) ==
        std::multiset<std::string>{"muller", "hans", "jurgen", "dr.", "dr. hans jurgen muller"});
  // address: every line, city, postalCode, country.
  CHECK(normalized(of(x.strings, "address")) ==
        std::multiset<std::string>{"bahnhofstrasse 1", "postfach", "zurich", "8001", "ch"});
  CHECK(normalized(of(x.strings, "address-city")) == std::multiset<std::string>{"zurich"});
  CHECK(one(x.strings, "address-city").exact == "Zürich");
}

TEST_CASE("index: Patient tokens — code, boolean, Identifier with type, ContactPoint, meta") {
  const index_entries x = index_ok(patient);

  const auto gender = one(x.tokens, "gender");
  CHECK(gender.system.empty());  // the binding's system is not filled in (index_entry.hpp)
  CHECK(gender.code == "male");
  CHECK(one(x.tokens, "active").code == "true");
  // deceased: `Patient.deceased.exists() and Patient.deceased != false` is a Boolean.
  CHECK(one(x.tokens, "deceased").code == "false");

  auto ids = of(x.tokens, "identifier");
  REQUIRE(ids.size() == 2);
  CHECK(ids[0].system == "http://example.org/mrn");
  CHECK(ids[0].code == "12345");
  CHECK(ids[0].text == "medical record");
  CHECK(ids[0].type_system == "http://terminology.hl7.org/CodeSystem/v2-0203");
  CHECK(ids[0].type_code == "MR");
  CHECK(ids[1].system == "http://example.org/ssn");
  CHECK(ids[1].code == "999");
  CHECK(ids[1].type_code.empty());

  const auto phone = one(x.tokens, "phone");
  CHECK(phone.code == "+41 44 123 45 67");
  CHECK(phone.system.empty());
  CHECK(of(x.tokens, "email").size() == 1);
  CHECK(of(x.tokens, "telecom").size() == 2);

  CHECK(one(x.tokens, "_id").code == "p1");
  const auto tag = one(x.tokens, "_tag");
  CHECK(tag.system == "http://example.org/tags");
  CHECK(tag.code == "vip");
  CHECK(tag.text == "very important");
  CHECK(one(x.tokens, "_security").code == "R");
  CHECK(one(x.uris, "_profile").uri == "http://example.org/StructureDefinition/my-patient");
  CHECK(one(x.uris, "_source").uri == "http://example.org/src#a");
}

TEST_CASE("index: Patient dates and references") {
  const index_entries x = index_ok(patient);

  const auto birth = one(x.dates, "birthdate");  // the whole of March 1970 (UTC)
  CHECK(birth.range.low == mar1970);
  CHECK(birth.range.high == mar1970 + 31 * day - 1);

  const auto updated = one(x.dates, "_lastUpdated");  // 10:15:00.123+02:00 is 08:15:00.123Z, one millisecond
  CHECK(updated.range.low == may4_2021 + 8 * hour + 15 * minute + 123);
  CHECK(updated.range.high == updated.range.low);

  auto gp = of(x.references, "general-practitioner");
  REQUIRE(gp.size() == 2);
  CHECK(gp[0].target.kind == reference_kind::relative);
  CHECK(gp[0].target.type == "Practitioner");
  CHECK(gp[0].target.id == "dr1");
  CHECK(gp[1].target.kind == reference_kind::identifier);
  CHECK(gp[1].identifier_system == "http://example.org/npi");
  CHECK(gp[1].identifier_value == "N1");

  const auto org = one(x.references, "organization");
  CHECK(org.target.kind == reference_kind::absolute);
  CHECK(org.target.url == "http://other.example.org/fhir/Organization/o1/_history/3");
  CHECK(org.target.type == "Organization");
  CHECK(org.target.id == "o1");
  CHECK(org.target.version == "3");
}

namespace {

const char* const observation = R"({
  "resourceType": "Observation", "id": "o1", "status": "final",
  "contained": [{"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Contained"}]}],
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose [Mass/volume] in Serum"},
                      {"system": "http://example.org/local", "code": "GLU"}],
           "text": "Glucose"},
  "subject": {"reference": "Patient/123"},
  "performer": [{"reference": "#pr1"}],
  "effectiveDateTime": "2021-05-04T10:15:00+02:00",
  "valueQuantity": {"value": 1, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
  "component": [
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
     "valueQuantity": {"value": 120.5, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
     "valueQuantity": {"value": 80, "comparator": "<", "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]
})";

}  // namespace

TEST_CASE("index: only the parameters asked for, when some are named") {
  const std::vector<std::string_view> codes{"subject", "patient"};
  auto r = default_indexer().index(json(observation), codes);
  REQUIRE(r);
  CHECK(r->tokens.empty());
  CHECK(r->dates.empty());
  CHECK(r->strings.empty());
  REQUIRE_FALSE(r->references.empty());
  for (const auto& e : r->references) {
    REQUIRE(e.param != nullptr);
    CHECK((e.param->code == "subject" || e.param->code == "patient"));
  }
  // Nothing named: every parameter, as index(resource).
  auto all = default_indexer().index(json(observation), std::span<const std::string_view>{});
  REQUIRE(all);
  CHECK(all->tokens.size() == index_ok(observation).tokens.size());
  CHECK_FALSE(all->tokens.empty());
}

TEST_CASE("index: Observation code (CodeableConcept) and category") {
  const index_entries x = index_ok(observation);
  INFO(problems_text(x));
  CHECK(x.problems.empty());

  auto code = of(x.tokens, "code");
  // Two codings; the concept's text goes to the coding without a display.
  REQUIRE(code.size() == 2);
  CHECK(code[0].system == "http://loinc.org");
  CHECK(code[0].code == "2345-7");
  CHECK(code[0].text == "glucose [mass/volume] in serum");
  CHECK(code[1].system == "http://example.org/local");
  CHECK(code[1].code == "GLU");
  CHECK(code[1].text == "glucose");
  CHECK(of(x.tokens, "category").size() == 1);
  // combo-code: Observation.code | Observation.component.code
  CHECK(of(x.tokens, "combo-code").size() == 4);
}

TEST_CASE("index: CodeableConcept.text gets a row of its own only when no coding row can carry it") {
  auto codes = [](std::string_view code_json) {
    return of(index_ok(std::string(R"({"resourceType": "Observation", "status": "final", "code": )") +
                       std::string(code_json) + "}")
                  .tokens,
              "code");
  };
  // The text repeats a display (folded): no extra row.
  auto same = codes(R"({"coding": [{"system": "s", "code": "a", "display": "Glucose"}], "text": "GLUCOSE"})");
  REQUIRE(same.size() == 1);
  CHECK(same[0].text == "glucose");
  // Every coding has another display: the text is a row of its own.
  auto other = codes(R"({"coding": [{"system": "s", "code": "a", "display": "Glucose"}], "text": "sugar"})");
  REQUIRE(other.size() == 2);
  CHECK(other[1].code.empty());
  CHECK(other[1].system.empty());
  CHECK(other[1].text == "sugar");
  // No coding at all: the text alone.
  auto alone = codes(R"({"text": "sugar"})");
  REQUIRE(alone.size() == 1);
  CHECK(alone[0].code.empty());
  CHECK(alone[0].text == "sugar");
}

TEST_CASE("index: Observation value-quantity with its canonical UCUM form") {
  const index_entries x = index_ok(observation);
  const auto q = one(x.quantities, "value-quantity");
  CHECK(q.value.text == "1");
  CHECK(q.value.value == 1.0);
  CHECK(q.value.low == 0.5);
  CHECK(q.value.high == 1.5);
  CHECK(q.system == "http://unitsofmeasure.org");
  CHECK(q.code == "mg/dL");
  CHECK(q.unit == "mg/dL");
  CHECK(q.comparator.empty());
  // 1 mg/dL = 1e-3 g / 1e-4 m3 = 10 g/m3 (ucum.hpp: base units in the order m, s, g).
  CHECK(q.canonical.unit == "m-3.g");
  CHECK(q.canonical.value.text == "10");
  CHECK(q.canonical.value.value == doctest::Approx(10.0));
  CHECK(q.canonical.value.low == doctest::Approx(5.0));
  CHECK(q.canonical.value.high == doctest::Approx(15.0));

  // The components: 120.5 mm[Hg] and <80 mm[Hg] (a comparator opens the low end).
  auto c = of(x.quantities, "component-value-quantity");
  REQUIRE(c.size() == 2);
  CHECK(c[0].value.text == "120.5");
  CHECK(c[0].canonical.unit == "m-1.s-2.g");  // mm[Hg] is a pressure: g/(m.s2)
  CHECK(c[1].comparator == "<");
  CHECK(c[1].value.low == -std::numeric_limits<double>::infinity());
  CHECK(c[1].value.high == 80.5);
  CHECK(c[1].canonical.value.low == -std::numeric_limits<double>::infinity());
}

TEST_CASE("index: Observation date from effectiveDateTime and from effectivePeriod") {
  const index_entries x = index_ok(observation);
  const auto d = one(x.dates, "date");  // 10:15:00+02:00 = 08:15:00Z, a second wide
  CHECK(d.range.low == may4_2021 + 8 * hour + 15 * minute);
  CHECK(d.range.high == may4_2021 + 8 * hour + 15 * minute + 999);

  const index_entries p = index_ok(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "effectivePeriod": {"start": "2021-05-04"}})");
  const auto period = one(p.dates, "date");  // from the start of the day, ongoing
  CHECK(period.range.low == may4_2021);
  CHECK(period.range.high == date_range::max);
}

TEST_CASE("index: Observation subject, patient (resolve() is Patient) and contained performer") {
  const index_entries x = index_ok(observation);
  const auto subject = one(x.references, "subject");
  CHECK(subject.target.kind == reference_kind::relative);
  CHECK(subject.target.type == "Patient");
  CHECK(subject.target.id == "123");
  // patient: Observation.subject.where(resolve() is Patient) — the type from the text.
  const auto patient_ref = one(x.references, "patient");
  CHECK(patient_ref.target.id == "123");

  const auto performer = one(x.references, "performer");
  CHECK(performer.target.kind == reference_kind::contained);
  CHECK(performer.target.id == "pr1");
  CHECK(performer.target.type == "Practitioner");

  // A Group subject is not a patient.
  const index_entries g = index_ok(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "subject": {"reference": "Group/g1"}})");
  CHECK(of(g.references, "subject").size() == 1);
  CHECK(of(g.references, "patient").empty());
  // An absolute RESTful URL is typed from its tail too.
  const index_entries a = index_ok(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "subject": {"reference": "https://example.org/fhir/Patient/9"}})");
  CHECK(one(a.references, "patient").target.kind == reference_kind::absolute);
}

TEST_CASE("index: Observation composites pair values of the same item") {
  const index_entries x = index_ok(observation);
  // component-code-value-quantity: one per component (each has one coding, one value).
  auto cc = of(x.composites, "component-code-value-quantity");
  REQUIRE(cc.size() == 2);
  for (const auto& e : cc) REQUIRE(e.components.size() == 2);
  const auto& code0 = std::get<token_entry>(cc[0].components[0]);
  const auto& value0 = std::get<quantity_entry>(cc[0].components[1]);
  CHECK(code0.code == "8480-6");
  CHECK(code0.param->code == "component-code");  // a component entry belongs to its own parameter
  CHECK(value0.value.text == "120.5");
  CHECK(value0.param->code == "component-value-quantity");
  CHECK(std::get<token_entry>(cc[1].components[0]).code == "8462-4");
  CHECK(std::get<quantity_entry>(cc[1].components[1]).value.text == "80");

  // code-value-quantity on the Observation itself: 2 code tokens x 1 value.
  auto cvq = of(x.composites, "code-value-quantity");
  REQUIRE(cvq.size() == 2);
  CHECK(std::get<token_entry>(cvq[0].components[0]).code == "2345-7");
  CHECK(std::get<quantity_entry>(cvq[0].components[1]).value.text == "1");
  // combo-code-value-quantity: the Observation (2) and each component (1 + 1).
  CHECK(of(x.composites, "combo-code-value-quantity").size() == 4);
  // No value of type CodeableConcept: no code-value-concept.
  CHECK(of(x.composites, "code-value-concept").empty());
}

TEST_CASE("index: Encounter period and length, Appointment date") {
  const index_entries e = index_ok(R"({"resourceType": "Encounter", "status": "finished",
      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
      "period": {"start": "2021-05-04T10:00:00Z", "end": "2021-05-04T11:30:00Z"},
      "length": {"value": 90, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}})");
  const auto date = one(e.dates, "date");
  CHECK(date.range.low == may4_2021 + 10 * hour);
  CHECK(date.range.high == may4_2021 + 11 * hour + 30 * minute + 999);
  const auto cls = one(e.tokens, "class");
  CHECK(cls.code == "AMB");
  const auto length = one(e.quantities, "length");  // Duration, a Quantity specialisation; 90 min = 5400 s
  CHECK(length.canonical.unit == "s");
  CHECK(length.canonical.value.text == "5400");

  const index_entries a = index_ok(R"({"resourceType": "Appointment", "status": "booked",
      "start": "2013-12-10T09:00:00Z", "end": "2013-12-10T11:00:00Z",
      "participant": [{"actor": {"reference": "Patient/example"}, "status": "accepted"}]})");
  const auto ad = one(a.dates, "date");  // Appointment.start, an instant of second precision
  // 2013-12-10 is day 15706 + 343 (2013-01-01: 43 years with 11 leap days; then 343 days).
  CHECK(ad.range.low == (15706 + 343) * day + 9 * hour);
  CHECK(ad.range.high == (15706 + 343) * day + 9 * hour + 999);
  CHECK(one(a.references, "patient").target.id == "example");
  CHECK(one(a.tokens, "part-status").code == "accepted");
}

TEST_CASE("index: DocumentReference tokens, references, uri and the R4 relationship composite") {
  const index_entries d = index_ok(R"({"resourceType": "DocumentReference", "status": "current",
      "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.3.6.1.4.1.21367.2005.3.7"},
      "type": {"coding": [{"system": "http://loinc.org", "code": "34108-1", "display": "Outpatient Note"}]},
      "subject": {"reference": "Patient/xcda"},
      "date": "2005-12-24T09:43:41+11:00",
      "relatesTo": [{"code": "appends", "target": {"reference": "DocumentReference/example"}}],
      "content": [{"attachment": {"contentType": "application/hl7-v3+xml", "url": "http://example.org/xds/mhd/Binary/07a6483f"}}]})");
  INFO(problems_text(d));
  const auto type = one(d.tokens, "type");
  CHECK(type.text == "outpatient note");
  const auto ident = one(d.tokens, "identifier");
  CHECK(ident.code == "urn:oid:1.3.6.1.4.1.21367.2005.3.7");
  CHECK(one(d.uris, "location").uri == "http://example.org/xds/mhd/Binary/07a6483f");
  CHECK(one(d.tokens, "contenttype").code == "application/hl7-v3+xml");
  const auto relatesto = one(d.references, "relatesto");
  CHECK(relatesto.target.id == "example");
  const auto date = one(d.dates, "date");
  // 09:43:41+11:00 is 22:43:41Z the day before.
  CHECK(date.range.low == parse_date_range("2005-12-23T22:43:41Z")->low);

  // R4's `relationship` composite lists its components crosswise (component 1
  // is defined as the reference `relatesto` but its expression is `code`,
  // component 2 the token `relation` with expression `target`): the first
  // item does not fit its definition, so no entry and one unsupported item.
  CHECK(of(d.composites, "relationship").empty());
  REQUIRE(d.problems.size() == 1);
  CHECK(d.problems[0].kind == index_problem_kind::unsupported_item);
  CHECK(d.problems[0].param->code == "relationship");
  CHECK(d.problems[0].error.location == "code");
}

TEST_CASE("index: Timing, Money, Range and number parameters") {
  // ServiceRequest.occurrence as Timing: the outer limits of events and bounds.
  const index_entries s = index_ok(R"({"resourceType": "ServiceRequest", "status": "active", "intent": "order",
      "subject": {"reference": "Patient/1"},
      "occurrenceTiming": {"event": ["2021-05-06T10:00:00Z", "2021-05-04T09:00:00Z"],
                           "repeat": {"boundsPeriod": {"start": "2021-05-05", "end": "2021-05-10"}}}})");
  const auto occ = one(s.dates, "occurrence");
  CHECK(occ.range.low == may4_2021 + 9 * hour);
  CHECK(occ.range.high == may4_2021 + 7 * day - 1);  // the end of 2021-05-10
  const index_entries t = index_ok(R"({"resourceType": "ServiceRequest", "status": "active", "intent": "order",
      "subject": {"reference": "Patient/1"}, "occurrenceTiming": {"code": {"text": "BID"}}})");
  CHECK(of(t.dates, "occurrence").empty());  // no events nor bounds: no date

  // Invoice.totalNet: Money as a quantity in ISO 4217.
  const index_entries i = index_ok(R"({"resourceType": "Invoice", "status": "issued",
      "totalNet": {"value": 40.22, "currency": "EUR"}})");
  const auto net = one(i.quantities, "totalnet");
  CHECK(net.value.text == "40.22");
  CHECK(net.system == "urn:iso:std:iso:4217");
  CHECK(net.code == "EUR");
  CHECK(net.canonical.unit.empty());

  // Condition.onsetRange in onset-age: the exact ends, inclusive.
  const index_entries c = index_ok(R"({"resourceType": "Condition", "subject": {"reference": "Patient/1"},
      "onsetRange": {"low": {"value": 20, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"},
                     "high": {"value": 30, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}}})");
  const auto age = one(c.quantities, "onset-age");
  CHECK(age.value.text.empty());
  CHECK(age.value.low == 20.0);
  CHECK(age.value.high == 30.0);
  CHECK(age.code == "a");
  CHECK(age.canonical.unit == "s");  // a = 365.25 d
  CHECK(age.canonical.value.low == doctest::Approx(20 * 365.25 * 86400));

  // RiskAssessment.prediction.probability: a decimal, and a Range.
  const index_entries r = index_ok(R"({"resourceType": "RiskAssessment", "status": "final",
      "subject": {"reference": "Patient/1"},
      "prediction": [{"probabilityDecimal": 0.25}, {"probabilityRange": {"low": {"value": 0.1}}}]})");
  auto prob = of(r.numbers, "probability");
  REQUIRE(prob.size() == 2);
  CHECK(prob[0].value.text == "0.25");
  CHECK(prob[0].value.low == 0.245);
  CHECK(prob[0].value.high == 0.255);
  CHECK(prob[1].value.low == 0.1);
  CHECK(prob[1].value.high == std::numeric_limits<double>::infinity());
}

TEST_CASE("index: uri and canonical references") {
  const index_entries v = index_ok(R"({"resourceType": "QuestionnaireResponse", "status": "completed",
      "questionnaire": "http://example.org/Questionnaire/q1|2.0"})");
  const auto q = one(v.references, "questionnaire");
  CHECK(q.target.kind == reference_kind::canonical);
  CHECK(q.target.url == "http://example.org/Questionnaire/q1");
  CHECK(q.target.version == "2.0");

  const index_entries vs = index_ok(R"({"resourceType": "ValueSet", "status": "active",
      "url": "http://example.org/ValueSet/vs1", "version": "1.0", "name": "Example"})");
  CHECK(one(vs.uris, "url").uri == "http://example.org/ValueSet/vs1");
  CHECK(one(vs.tokens, "version").code == "1.0");
  REQUIRE(of(vs.strings, "name").size() == 1);
}

TEST_CASE("index: problems are recorded per parameter and indexing goes on") {
  // A malformed birthDate (not validated) is an invalid value; the rest is indexed.
  const index_entries bad_date = index_ok(R"({"resourceType": "Patient", "birthDate": "1970-13-01", "gender": "female"})");
  REQUIRE(bad_date.problems.size() == 1);
  CHECK(bad_date.problems[0].kind == index_problem_kind::invalid_value);
  CHECK(bad_date.problems[0].param->code == "birthdate");
  CHECK(bad_date.problems[0].error.location == "date");
  CHECK(of(bad_date.dates, "birthdate").empty());
  CHECK(of(bad_date.tokens, "gender").size() == 1);

  // An evaluation that fails (here: more items than max_items_per_evaluation
  // allows, "too-costly") fails that parameter only.
  indexer_options few;
  few.max_items_per_evaluation = 4;
  const indexer strict(registry(), few);
  auto fails = strict.index(json(R"({"resourceType": "Patient", "gender": "other",
      "name": [{"given": ["A", "B", "C", "D", "E", "F"]}]})"));
  REQUIRE(fails);
  bool given_failed = false;
  for (const auto& p : fails->problems)
    if (p.param->code == "given" && p.kind == index_problem_kind::evaluation_failed) {
      given_failed = true;
      CHECK(p.error.code == "too-costly");
    }
  CHECK(given_failed);
  CHECK(of(fails->strings, "given").empty());
  CHECK(of(fails->tokens, "gender").size() == 1);

  // A string where a date parameter expects a date: unsupported, not an error.
  const index_entries plan = index_ok(R"({"resourceType": "CarePlan", "status": "active", "intent": "plan",
      "subject": {"reference": "Patient/1"}, "activity": [{"detail": {"status": "scheduled", "scheduledString": "daily"}}]})");
  REQUIRE(plan.problems.size() == 1);
  CHECK(plan.problems[0].kind == index_problem_kind::unsupported_item);
  CHECK(plan.problems[0].param->code == "activity-date");
  CHECK(plan.problems[0].error.location == "string");
  CHECK(plan.problems[0].error.message.find("daily") == std::string::npos);  // no content in messages

  // A whole resource in a reference parameter (Bundle composition, R4's
  // expression `Bundle.entry[0].resource`): unsupported.
  const index_entries bundle = index_ok(R"({"resourceType": "Bundle", "type": "document",
      "entry": [{"resource": {"resourceType": "Composition", "id": "c1", "status": "final"}}]})");
  std::set<std::string> codes;
  for (const auto& p : bundle.problems) {
    CHECK(p.kind == index_problem_kind::unsupported_item);
    CHECK(p.error.location == "Composition");
    codes.insert(std::string(p.param->code));
  }
  CHECK(codes == std::set<std::string>{"composition", "message"});
  REQUIRE(of(bundle.tokens, "type").size() == 1);
}

TEST_CASE("index: limits cut long strings and stop at max_entries") {
  indexer_options opts;
  opts.max_string_bytes = 8;
  opts.max_entries = 3;
  const indexer small(registry(), opts);
  auto r = small.index(json(R"({"resourceType": "Patient", "name": [{"family": "Ääääääää", "given": ["A", "B", "C", "D"]}]})"));
  REQUIRE(r);
  CHECK(r->size() == 3);
  bool limit = false;
  for (const auto& p : r->problems) limit |= p.kind == index_problem_kind::limit_reached;
  CHECK(limit);
  const auto family = one(r->strings, "family");
  CHECK(family.truncated);
  CHECK(family.exact == "Ääää");  // 8 bytes: four 2-byte letters, never half of one
  CHECK(family.normalized == "aaaaaaaa");
}

TEST_CASE("index: what is not a resource fails index()") {
  CHECK_FALSE(default_indexer().index(json("[1]")));
  CHECK_FALSE(default_indexer().index(json(R"("Patient")")));
  CHECK_FALSE(default_indexer().index(json(R"({"id": "x"})")));
  auto unknown = default_indexer().index(json(R"({"resourceType": "NotAType"})"));
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == "not-supported");
  auto empty = default_indexer().index(json(R"({"resourceType": "Patient"})"));
  REQUIRE(empty);
  CHECK(empty->size() == 1);  // only deceased (`false`): nothing else has a value
  CHECK(empty->problems.empty());
}

TEST_CASE("index: the parameters left out are those without an expression and near") {
  std::set<std::string> codes;
  for (const auto& u : default_indexer().unindexed()) {
    CAPTURE(u.param->code);
    CHECK_FALSE(u.reason.empty());
    codes.insert(std::string(u.param->code));
  }
  CHECK(codes == std::set<std::string>{"_content", "_query", "_text", "near"});
  // Every parameter of a type is indexed but those.
  for (std::string_view type : registry().resource_types()) {
    CAPTURE(type);
    const auto indexed = default_indexer().parameters(type);
    for (const auto* sp : registry().search_parameters(type)) {
      const bool in = std::find(indexed.begin(), indexed.end(), sp) != indexed.end();
      CHECK(in != codes.contains(std::string(sp->code)));
    }
  }
  const auto patient_params = default_indexer().parameters("Patient");
  auto has = [&](std::string_view code) {
    return std::any_of(patient_params.begin(), patient_params.end(), [&](const auto* sp) { return sp->code == code; });
  };
  CHECK(has("birthdate"));
  CHECK(has("_lastUpdated"));
  CHECK_FALSE(has("_text"));
  CHECK(default_indexer().parameters("Nope").empty());
}

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

// Every official R4 example (hl7.fhir.r4.examples 4.0.1) through the indexer.
// Asserts that each indexes, and that the only problems are the documented
// unsupported items below — R4 expressions that return items no index of
// their parameter kind can hold. Reports the totals per kind.
TEST_CASE("index: every official R4 example indexes with only documented problems") {
  const std::filesystem::path dir = HEARTH_R4_EXAMPLES_DIR;
  if (dir.empty()) return;  // the build was configured without the examples
  // (parameter code, item type) pairs R4 itself produces, all unsupported_item
  // ("*": any type):
  const std::set<std::pair<std::string, std::string>> documented = {
      // Bundle.entry[0].resource: the first entry's resource itself, of any type.
      {"composition", "*"}, {"message", "*"},
      // Consent.source[x] is Attachment | Identifier | Reference.
      {"source-reference", "Attachment"},
      // date parameters over string choices: CarePlan.activity.detail.scheduled[x],
      // Immunization.occurrence[x] and the like.
      {"activity-date", "string"}, {"date", "string"},
      // SampledData has no single value (R4 adds `value.ofType(SampledData)`
      // to these quantity parameters; the composites' components filter it).
      {"value-quantity", "SampledData"}, {"combo-value-quantity", "SampledData"},
      {"component-value-quantity", "SampledData"},
      // DocumentReference `relationship`: components defined crosswise in R4.
      {"relationship", "code"},
      // Group `characteristic-value`: the component expression `value` returns
      // any value[x] (Reference, Quantity, Range) but its definition is a token.
      {"characteristic-value", "*"},
  };
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".json" && e.path().filename() != "package.json" &&
        !e.path().filename().string().starts_with("."))
      files.push_back(e.path());
  REQUIRE(files.size() > 5000);

  std::size_t resources = 0, strings = 0, tokens = 0, dates = 0, numbers = 0, quantities = 0, references = 0,
              uris = 0, composites = 0, problems = 0, canonical = 0;
  std::map<std::string, std::size_t> undocumented, documented_seen;
  std::chrono::nanoseconds indexing{0};
  for (const auto& f : files) {
    auto j = hearth::fhir::parse_json(read_file(f));
    if (!j) continue;  // the fhir tests cover reading; none fails there
    const auto t0 = std::chrono::steady_clock::now();
    auto x = default_indexer().index(*j);
    indexing += std::chrono::steady_clock::now() - t0;
    CAPTURE(f.filename().string());
    REQUIRE(x);
    ++resources;
    strings += x->strings.size();
    tokens += x->tokens.size();
    dates += x->dates.size();
    numbers += x->numbers.size();
    quantities += x->quantities.size();
    references += x->references.size();
    uris += x->uris.size();
    composites += x->composites.size();
    for (const auto& q : x->quantities) canonical += q.canonical.unit.empty() ? 0 : 1;
    for (const auto& p : x->problems) {
      ++problems;
      const std::string code(p.param->code);
      const bool known = p.kind == index_problem_kind::unsupported_item &&
                         (documented.contains({code, p.error.location}) || documented.contains({code, "*"}));
      if (known) ++documented_seen[code + " " + p.error.location];
      else
        ++undocumented[f.filename().string() + ": " + std::string(p.param->code) + " " +
                       std::string(to_string(p.kind)) + " " + p.error.location + " " + p.error.message];
    }
  }
  std::ostringstream report;
  for (const auto& [what, n] : undocumented) report << n << "x " << what << "\n";
  CHECK_MESSAGE(undocumented.empty(), report.str());
  CHECK(resources == files.size());
  MESSAGE(resources << " R4 examples indexed in "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(indexing).count() << " ms: " << strings
                    << " string, " << tokens << " token, " << dates << " date, " << numbers << " number, "
                    << quantities << " quantity (" << canonical << " with canonical UCUM), " << references
                    << " reference, " << uris << " uri, " << composites << " composite entries; " << problems
                    << " documented unsupported items");
  std::ostringstream seen;
  for (const auto& [what, n] : documented_seen) seen << " " << what << " x" << n << ";";
  MESSAGE("unsupported items (parameter, item type):" << seen.str());
}
