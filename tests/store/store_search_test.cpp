// R4 search (search.html) end to end on SQLite and PostgreSQL: parse_search,
// the compiler and the index, against hand-checked expectations on a small
// data set whose every match is known.
#include <hearth/store/resource_store.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <hearth/store/error_codes.hpp>
#include <hearth/store/search_request.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
using store::test::code_of;
using store::test::json;
using store::test::pairs;

namespace {

/// A store with a known data set (ids chosen by the test, update-as-create).
struct search_case : store::test::store_case {
  search_case() {
    put("Organization", "o1", R"({"resourceType":"Organization","name":"Good Health Clinic"})");
    put("Organization", "o2", R"({"resourceType":"Organization","name":"Acme Labs"})");
    put("Practitioner", "dr1", R"({"resourceType":"Practitioner","name":[{"family":"House"}]})");
    put("Patient", "p1", R"({"resourceType":"Patient","active":true,"gender":"female","birthDate":"1974-12-25",
        "identifier":[{"system":"urn:mrn","value":"MRN-1","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]}}],
        "name":[{"family":"Müller","given":["Anna","Maria"]}],"managingOrganization":{"reference":"Organization/o1"},
        "generalPractitioner":[{"reference":"Practitioner/dr1"}],
        "telecom":[{"system":"phone","value":"555-0101"}],"address":[{"city":"Zürich","country":"CH"}]})");
    put("Patient", "p2", R"({"resourceType":"Patient","active":false,"gender":"male","birthDate":"1980-03",
        "name":[{"family":"Mueller","given":["Hans"]}],"managingOrganization":{"reference":"Organization/o2"}})");
    put("Patient", "p3", R"({"resourceType":"Patient","gender":"male","birthDate":"2001-07-04T10:00:00Z",
        "name":[{"family":"Smith","given":["John"]}],"managingOrganization":{"reference":"Organization/o1"}})");
    put("Patient", "p4", R"({"resourceType":"Patient","name":[{"text":"Nobody Known"}]})");
    // Glucose 100 mg/dL (= 1 g/L), heart rate, a period, a text-only code.
    put("Observation", "glu1", R"({"resourceType":"Observation","status":"final",
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
        "code":{"coding":[{"system":"http://loinc.org","code":"2339-0","display":"Glucose [Mass/volume] in Blood"}],"text":"Glucose"},
        "subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-03-01T08:30:00Z",
        "valueQuantity":{"value":100,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}})");
    put("Observation", "glu2", R"({"resourceType":"Observation","status":"final",
        "code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}]},
        "subject":{"reference":"Patient/p2"},"effectiveDateTime":"2024-03-02",
        "valueQuantity":{"value":7.2,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}})");
    put("Observation", "hr1", R"({"resourceType":"Observation","status":"preliminary",
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
        "code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},
        "subject":{"reference":"Patient/p1"},"performer":[{"reference":"Practitioner/dr1"}],
        "effectivePeriod":{"start":"2024-01-10T00:00:00Z","end":"2024-01-20T00:00:00Z"},
        "valueQuantity":{"value":72,"unit":"beats/min","system":"http://unitsofmeasure.org","code":"/min"}})");
    put("Observation", "note1", R"({"resourceType":"Observation","status":"final",
        "code":{"text":"free text only"},"subject":{"reference":"Patient/p3"}})");
    put("RiskAssessment", "ra1", R"({"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/p1"},
        "prediction":[{"probabilityDecimal":0.25}]})");
    put("RiskAssessment", "ra2", R"({"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/p2"},
        "prediction":[{"probabilityDecimal":0.8}]})");
    put("ValueSet", "vs1", R"({"resourceType":"ValueSet","status":"active","url":"http://example.org/fhir/ValueSet/colours"})");
    put("ValueSet", "vs2", R"({"resourceType":"ValueSet","status":"active","url":"http://example.org/fhir/ValueSet/colours/dark"})");
    put("List", "l1", R"({"resourceType":"List","status":"current","mode":"working",
        "entry":[{"item":{"reference":"Patient/p1"}},{"item":{"reference":"Patient/p3"}}]})");
  }

  void put(const char* type, const char* id, const char* body) {
    auto r = rs.update(type, id, json(body));
    if (!r) throw std::runtime_error(std::string("setting up ") + id + ": " + r.error().message);
  }

  hearth::result<store::search_page> search(std::string_view type, std::string_view query,
                                            store::search_handling h = store::search_handling::strict) {
    const auto p = pairs(query);
    auto req = store::parse_search(store::test::registry(), type, p, h);
    if (!req) return hearth::unexpected(req.error());
    return rs.search(*req);
  }

  /// The ids of the matches, in order; "error:<code>" when it fails.
  std::vector<std::string> ids(std::string_view type, std::string_view query) {
    auto page = search(type, query);
    if (!page) return {"error:" + page.error().code};
    std::vector<std::string> out;
    for (const auto& v : page->matches) out.push_back(v.id);
    return out;
  }

  /// The same, sorted (for searches without _sort).
  std::vector<std::string> set(std::string_view type, std::string_view query) {
    auto out = ids(type, query);
    std::sort(out.begin(), out.end());
    return out;
  }
};

using ids_t = std::vector<std::string>;

}  // namespace

TEST_CASE("db: search string parameters: starts-with after folding, :exact, :contains, :missing") {
  search_case c;
  CHECK(c.set("Patient", "family=muller") == ids_t{"p1"});  // Müller folds to muller
  CHECK(c.set("Patient", "family=MÜL") == ids_t{"p1"});
  CHECK(c.set("Patient", "family=mu") == ids_t{"p1", "p2"});  // Müller and Mueller
  CHECK(c.set("Patient", "family:exact=Müller") == ids_t{"p1"});
  CHECK(c.set("Patient", "family:exact=müller").empty());
  CHECK(c.set("Patient", "family:contains=ELL") == ids_t{"p2"});
  CHECK(c.set("Patient", "given=mar") == ids_t{"p1"});  // any part
  CHECK(c.set("Patient", "name=known").empty());  // starts-with on the whole text, not on its words
  CHECK(c.set("Patient", "name=nobody") == ids_t{"p4"});
  CHECK(c.set("Patient", "address-city=zur") == ids_t{"p1"});
  CHECK(c.set("Patient", "family:missing=true") == ids_t{"p4"});
  CHECK(c.set("Patient", "family:missing=false") == ids_t{"p1", "p2", "p3"});
  CHECK(c.set("Patient", "family:contains=100%").empty());  // LIKE wildcards are text
}

TEST_CASE("db: search token parameters: code, system|code, |code, system|, :not, :text, :of-type, booleans, _id") {
  search_case c;
  CHECK(c.set("Observation", "code=2339-0") == ids_t{"glu1", "glu2"});
  CHECK(c.set("Observation", "code=http://loinc.org|8867-4") == ids_t{"hr1"});
  CHECK(c.set("Observation", "code=http://snomed.info/sct|8867-4").empty());
  CHECK(c.set("Observation", "code=|8867-4").empty());  // coded with a system
  CHECK(c.set("Patient", "gender=|male") == ids_t{"p2", "p3"});  // a code has no system in the index
  CHECK(c.set("Observation", "code=http://loinc.org|") == ids_t{"glu1", "glu2", "hr1"});
  CHECK(c.set("Observation", "code=2339-0,8867-4") == ids_t{"glu1", "glu2", "hr1"});
  CHECK(c.set("Patient", "gender:not=male") == ids_t{"p1", "p4"});  // includes no value at all
  CHECK(c.set("Observation", "code:text=gluc") == ids_t{"glu1"});  // CodeableConcept.text and display
  CHECK(c.set("Observation", "code:text=heart") == ids_t{"hr1"});
  CHECK(c.set("Observation", "code:text=free text") == ids_t{"note1"});
  CHECK(c.set("Patient", "identifier=urn:mrn|MRN-1") == ids_t{"p1"});
  CHECK(c.set("Patient", "identifier=MRN-1") == ids_t{"p1"});
  CHECK(c.set("Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|MRN-1") ==
        ids_t{"p1"});
  CHECK(c.set("Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS|MRN-1").empty());
  CHECK(c.set("Patient", "active=true") == ids_t{"p1"});
  CHECK(c.set("Patient", "active=false") == ids_t{"p2"});
  CHECK(c.set("Patient", "phone=555-0101") == ids_t{"p1"});
  CHECK(c.set("Patient", "_id=p2,p3") == ids_t{"p2", "p3"});
  CHECK(c.set("Patient", "_id:not=p2") == ids_t{"p1", "p3", "p4"});
  CHECK(c.ids("Observation", "code:in=http://hl7.org/fhir/ValueSet/observation-codes") ==
        ids_t{"error:not-supported"});
}

TEST_CASE("db: search date prefixes on dates, dateTimes and Periods (search.html#prefix)") {
  search_case c;
  // p1 1974-12-25 (a day), p2 1980-03 (a month), p3 2001-07-04T10:00:00Z (a second)
  CHECK(c.set("Patient", "birthdate=1974-12-25") == ids_t{"p1"});
  CHECK(c.set("Patient", "birthdate=1974") == ids_t{"p1"});  // the day lies within the year
  CHECK(c.set("Patient", "birthdate=1980-03-05").empty());   // the month is not within the day
  CHECK(c.set("Patient", "birthdate=eq1980-03") == ids_t{"p2"});
  CHECK(c.set("Patient", "birthdate=ne1980-03") == ids_t{"p1", "p3"});
  CHECK(c.set("Patient", "birthdate=gt1980-03-15") == ids_t{"p2", "p3"});  // the month reaches beyond
  CHECK(c.set("Patient", "birthdate=lt1980-03-15") == ids_t{"p1", "p2"});
  CHECK(c.set("Patient", "birthdate=ge1980-03") == ids_t{"p2", "p3"});
  CHECK(c.set("Patient", "birthdate=le1980-03") == ids_t{"p1", "p2"});
  CHECK(c.set("Patient", "birthdate=sa1980-03-15") == ids_t{"p3"});  // starts after: not p2
  CHECK(c.set("Patient", "birthdate=eb1980-03-15") == ids_t{"p1"});
  CHECK(c.set("Patient", "birthdate=2001-07-04T12:00:00+02:00") == ids_t{"p3"});  // the same instant
  CHECK(c.set("Patient", "birthdate=ap1974-06-01") == ids_t{"p1"});  // 10% of ~52 years: about 5 years
  CHECK(c.set("Patient", "birthdate=ge1975&birthdate=le1990") == ids_t{"p2"});  // AND
  // Observation.effective: a dateTime and a Period [2024-01-10, 2024-01-20].
  CHECK(c.set("Observation", "date=2024-01-15").empty());  // the period is not within the day
  CHECK(c.set("Observation", "date=2024-01") == ids_t{"hr1"});
  CHECK(c.set("Observation", "date=ge2024-01-15&date=le2024-01-15") == ids_t{"hr1"});  // overlaps
  CHECK(c.set("Observation", "date=2024-03") == ids_t{"glu1", "glu2"});
  CHECK(c.set("Observation", "date=gt2024-03-01T12:00:00Z") == ids_t{"glu2"});
  CHECK(c.set("Observation", "date:missing=true") == ids_t{"note1"});
  CHECK(c.ids("Patient", "birthdate=1974-13") == ids_t{"error:invalid"});
}

TEST_CASE("db: search date ranges over values of every span, and AND-ed terms met by different values") {
  search_case c;
  // Encounter.period of every span class (detail/date_span.hpp): hours, ten
  // days, five months, two years, open-ended, and one that ended before.
  c.put("Encounter", "hours", R"({"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},
      "period":{"start":"2020-06-03T10:00:00Z","end":"2020-06-03T12:00:00Z"}})");
  c.put("Encounter", "days", R"({"resourceType":"Encounter","status":"finished","class":{"code":"IMP"},
      "period":{"start":"2020-05-28","end":"2020-06-06"}})");
  c.put("Encounter", "months", R"({"resourceType":"Encounter","status":"finished","class":{"code":"IMP"},
      "period":{"start":"2020-02-01","end":"2020-07-01"}})");
  c.put("Encounter", "years", R"({"resourceType":"Encounter","status":"finished","class":{"code":"IMP"},
      "period":{"start":"2019-01-01","end":"2021-01-01"}})");
  c.put("Encounter", "open", R"({"resourceType":"Encounter","status":"in-progress","class":{"code":"IMP"},
      "period":{"start":"2020-01-01"}})");
  c.put("Encounter", "before", R"({"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},
      "period":{"start":"2020-05-01T10:00:00Z","end":"2020-05-01T11:00:00Z"}})");
  c.put("Encounter", "after", R"({"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},
      "period":{"start":"2020-06-09T10:00:00Z","end":"2020-06-09T11:00:00Z"}})");
  // One week: every encounter overlapping it (ge: ends after its start or
  // within; lt: starts before its end).
  CHECK(c.set("Encounter", "date=ge2020-06-01&date=lt2020-06-08") ==
        ids_t{"days", "hours", "months", "open", "years"});
  CHECK(c.set("Encounter", "date=lt2020-06-08&date=ge2020-06-01") ==
        ids_t{"days", "hours", "months", "open", "years"});  // order does not matter
  CHECK(c.set("Encounter", "date=gt2020-06-08") == ids_t{"after", "months", "open", "years"});
  CHECK(c.set("Encounter", "date=sa2020-06-08") == ids_t{"after"});
  CHECK(c.set("Encounter", "date=eb2020-05-15") == ids_t{"before"});
  CHECK(c.set("Encounter", "date=2020-06") == ids_t{"after", "hours"});  // contained in the month
  CHECK(c.set("Encounter", "date=ge2020-06-09,lt2020-05-02") == ids_t{"after", "before", "months", "open", "years"});
  // Year and month precision (birthDate "1980-03" of p2).
  CHECK(c.set("Patient", "birthdate=ge1980-03-10&birthdate=le1980-03-20") == ids_t{"p2"});

  // Goal.target.due: several values. Different values may meet different
  // terms of an AND (search.html: each parameter is matched on its own).
  c.put("Goal", "g1", R"({"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"a"},
      "subject":{"reference":"Patient/p1"},"target":[{"dueDate":"2020-01-10"},{"dueDate":"2020-03-10"}]})");
  c.put("Goal", "g2", R"({"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"b"},
      "subject":{"reference":"Patient/p1"},"target":[{"dueDate":"2020-02-15"}]})");
  CHECK(c.set("Goal", "target-date=ge2020-02-01&target-date=le2020-01-31") == ids_t{"g1"});
  CHECK(c.set("Goal", "target-date=ge2020-02-01&target-date=le2020-02-28") == ids_t{"g1", "g2"});
  CHECK(c.set("Goal", "target-date=gt2020-03-31&target-date=le2020-01-31").empty());
}

TEST_CASE("db: search number and quantity: precision, prefixes, canonical units") {
  search_case c;
  CHECK(c.set("RiskAssessment", "probability=0.25") == ids_t{"ra1"});
  CHECK(c.set("RiskAssessment", "probability=0.3") == ids_t{"ra1"});  // 0.3 stands for [0.25, 0.35)
  CHECK(c.set("RiskAssessment", "probability=0.2").empty());          // [0.15, 0.25): 0.25 is outside
  CHECK(c.set("RiskAssessment", "probability=gt0.5") == ids_t{"ra2"});
  CHECK(c.set("RiskAssessment", "probability=le0.25") == ids_t{"ra1"});
  CHECK(c.set("RiskAssessment", "probability=ne0.8") == ids_t{"ra1"});
  CHECK(c.set("RiskAssessment", "probability=ap0.75") == ids_t{"ra2"});
  // 100 mg/dL is 1 g/L and 1000 mg/L: compared in canonical units.
  CHECK(c.set("Observation", "value-quantity=1|http://unitsofmeasure.org|g/L") == ids_t{"glu1"});
  CHECK(c.set("Observation", "value-quantity=1000|http://unitsofmeasure.org|mg/L") == ids_t{"glu1"});
  CHECK(c.set("Observation", "value-quantity=gt0.5|http://unitsofmeasure.org|g/L") == ids_t{"glu1"});
  CHECK(c.set("Observation", "value-quantity=lt0.5|http://unitsofmeasure.org|g/L").empty());
  CHECK(c.set("Observation", "value-quantity=100||mg/dL") == ids_t{"glu1"});  // code or unit, no system
  CHECK(c.set("Observation", "value-quantity=72||beats/min") == ids_t{"hr1"});
  CHECK(c.set("Observation", "value-quantity=gt50") == ids_t{"glu1", "hr1"});  // any unit
  CHECK(c.set("Observation", "value-quantity=7.2|http://unitsofmeasure.org|mmol/L") == ids_t{"glu2"});
}

TEST_CASE("db: search reference parameters: Type/id, id, :Type, chains, _has, :identifier, :missing") {
  search_case c;
  CHECK(c.set("Observation", "subject=Patient/p1") == ids_t{"glu1", "hr1"});
  CHECK(c.set("Observation", "subject=p1") == ids_t{"glu1", "hr1"});
  CHECK(c.set("Observation", "subject:Patient=p1") == ids_t{"glu1", "hr1"});
  CHECK(c.set("Observation", "subject:Group=p1").empty());
  CHECK(c.set("Observation", "patient=p2") == ids_t{"glu2"});
  CHECK(c.set("Observation", "performer=Practitioner/dr1") == ids_t{"hr1"});
  CHECK(c.set("Observation", "performer:missing=true") == ids_t{"glu1", "glu2", "note1"});
  // Chains (search.html#chaining), one and two levels.
  CHECK(c.set("Observation", "subject.family=muller") == ids_t{"glu1", "hr1"});
  CHECK(c.set("Observation", "subject:Patient.gender=male") == ids_t{"glu2", "note1"});
  CHECK(c.set("Observation", "subject:Patient.organization.name=good") == ids_t{"glu1", "hr1", "note1"});
  CHECK(c.set("Patient", "general-practitioner.family=house") == ids_t{"p1"});
  // Reverse chains (search.html#has), nested with a chain inside.
  CHECK(c.set("Patient", "_has:Observation:patient:code=2339-0") == ids_t{"p1", "p2"});
  CHECK(c.set("Patient", "_has:Observation:subject:code=8867-4") == ids_t{"p1"});
  CHECK(c.set("Patient", "_has:Observation:patient:performer.family=house") == ids_t{"p1"});
  CHECK(c.set("Organization", "_has:Patient:organization:_has:Observation:patient:code=2339-0") ==
        ids_t{"o1", "o2"});
  CHECK(c.set("Organization", "_has:Patient:organization:_has:Observation:patient:code=8867-4") == ids_t{"o1"});
}

TEST_CASE("db: search uri parameters: equality, :below, :above") {
  search_case c;
  CHECK(c.set("ValueSet", "url=http://example.org/fhir/ValueSet/colours") == ids_t{"vs1"});
  CHECK(c.set("ValueSet", "url:below=http://example.org/fhir/ValueSet/colours") == ids_t{"vs1", "vs2"});
  CHECK(c.set("ValueSet", "url:above=http://example.org/fhir/ValueSet/colours/dark/extra") == ids_t{"vs1", "vs2"});
  CHECK(c.set("ValueSet", "url:above=http://example.org/fhir/ValueSet/colours") == ids_t{"vs1"});
}

TEST_CASE("db: search composite parameters match components of the same item") {
  search_case c;
  CHECK(c.set("Observation", "code-value-quantity=http://loinc.org|2339-0$gt50") == ids_t{"glu1"});
  CHECK(c.set("Observation", "code-value-quantity=http://loinc.org|2339-0$lt10") == ids_t{"glu2"});
  CHECK(c.set("Observation", "code-value-quantity=http://loinc.org|8867-4$gt100").empty());
  CHECK(c.set("Observation", "code-value-quantity=2339-0$1|http://unitsofmeasure.org|g/L") == ids_t{"glu1"});
}

TEST_CASE("db: search _lastUpdated, _list, compartments, _tag and _profile") {
  search_case c;
  CHECK(c.set("Patient", "_lastUpdated=gt2000-01-01") == ids_t{"p1", "p2", "p3", "p4"});
  CHECK(c.set("Patient", "_lastUpdated=lt2000-01-01").empty());
  CHECK(c.set("Patient", "_list=l1") == ids_t{"p1", "p3"});
  CHECK(c.set("Patient", "_list=l1&gender=male") == ids_t{"p3"});
  // Patient/p1/Observation (compartmentdefinition-patient: subject, performer).
  auto req = store::parse_search(store::test::registry(), "Observation", {}, store::search_handling::strict,
                                 store::search_compartment{"Patient", "p1"});
  REQUIRE(req);
  auto page = c.rs.search(*req);
  REQUIRE(page);
  std::vector<std::string> got;
  for (const auto& v : page->matches) got.push_back(v.id);
  std::sort(got.begin(), got.end());
  CHECK(got == ids_t{"glu1", "hr1"});

  c.put("Patient", "p5", R"({"resourceType":"Patient","meta":{"profile":["http://example.org/StructureDefinition/vip"],
      "tag":[{"system":"http://example.org/tags","code":"study-a"}]}})");
  CHECK(c.set("Patient", "_tag=http://example.org/tags|study-a") == ids_t{"p5"});
  CHECK(c.set("Patient", "_profile=http://example.org/StructureDefinition/vip") == ids_t{"p5"});
}

TEST_CASE("db: search _sort on several keys, descending, missing values last") {
  search_case c;
  CHECK(c.ids("Patient", "_sort=birthdate") == ids_t{"p1", "p2", "p3", "p4"});
  CHECK(c.ids("Patient", "_sort=-birthdate") == ids_t{"p3", "p2", "p1", "p4"});
  CHECK(c.ids("Patient", "_sort=family,-birthdate") == ids_t{"p2", "p1", "p3", "p4"});  // mueller < muller
  CHECK(c.ids("Patient", "_sort=gender,_id") == ids_t{"p1", "p2", "p3", "p4"});
  CHECK(c.ids("Patient", "_sort=-gender,-_id") == ids_t{"p3", "p2", "p1", "p4"});
  CHECK(c.ids("Observation", "_sort=-value-quantity&value-quantity:missing=false") == ids_t{"glu1", "hr1", "glu2"});
}

TEST_CASE("db: search pages by cursor, sorted or not, without duplicates or gaps while others write") {
  search_case c;
  for (const char* sort : {"", "&_sort=-birthdate,family", "&_sort=_lastUpdated"}) {
    INFO(sort);
    std::vector<std::string> all;
    std::string cursor;
    int pages = 0;
    do {
      auto q = pairs(std::string("_count=1") + sort + (cursor.empty() ? "" : "&_cursor=" + cursor));
      auto req = store::parse_search(store::test::registry(), "Patient", q, store::search_handling::strict);
      REQUIRE(req);
      auto page = c.rs.search(*req);
      REQUIRE(page);
      for (const auto& v : page->matches) all.push_back(v.id);
      cursor = page->next_cursor;
      if (++pages == 2) c.put("Patient", "zz-new", R"({"resourceType":"Patient","birthDate":"1900"})");
    } while (!cursor.empty() && pages < 20);
    std::set<std::string> unique(all.begin(), all.end());
    CHECK(unique.size() == all.size());  // no duplicates
    for (const char* id : {"p1", "p2", "p3", "p4"}) CHECK(unique.count(id) == 1);  // no gaps
    CHECK(c.rs.remove("Patient", "zz-new"));
  }
  // A cursor of one search is refused by another.
  auto first = c.search("Patient", "_count=1");
  REQUIRE(first);
  REQUIRE(!first->next_cursor.empty());
  CHECK(c.ids("Patient", "_count=1&gender=male&_cursor=" + first->next_cursor) == ids_t{"error:invalid"});
  CHECK(c.ids("Patient", "_count=1&_cursor=bm90IGEgY3Vyc29y") == ids_t{"error:invalid"});
}

TEST_CASE("db: search _total, _summary=count, _count") {
  search_case c;
  auto page = c.search("Patient", "_count=2&_total=accurate");
  REQUIRE(page);
  CHECK(page->matches.size() == 2);
  CHECK(page->total == 4);
  CHECK(!page->next_cursor.empty());
  page = c.search("Patient", "_summary=count&gender=male");
  REQUIRE(page);
  CHECK(page->matches.empty());
  CHECK(page->total == 2);
  page = c.search("Patient", "gender=male");  // one page holds all: the total is known
  REQUIRE(page);
  CHECK(page->total == 2);
  page = c.search("Patient", "_count=1");
  REQUIRE(page);
  CHECK(!page->total.has_value());
}

TEST_CASE("db: search _include, _revinclude and :iterate") {
  search_case c;
  auto page = c.search("Observation", "code=2339-0&_include=Observation:subject");
  REQUIRE(page);
  std::set<std::string> inc;
  for (const auto& v : page->included) inc.insert(v.type + "/" + v.id);
  CHECK(inc == std::set<std::string>{"Patient/p1", "Patient/p2"});

  page = c.search("Observation", "code=8867-4&_include=Observation:*");
  REQUIRE(page);
  inc.clear();
  for (const auto& v : page->included) inc.insert(v.type + "/" + v.id);
  CHECK(inc == std::set<std::string>{"Patient/p1", "Practitioner/dr1"});

  page = c.search("Observation", "code=2339-0&_include=Observation:subject&_include:iterate=Patient:organization");
  REQUIRE(page);
  inc.clear();
  for (const auto& v : page->included) inc.insert(v.type + "/" + v.id);
  CHECK(inc == std::set<std::string>{"Patient/p1", "Patient/p2", "Organization/o1", "Organization/o2"});

  page = c.search("Patient", "_id=p1&_revinclude=Observation:subject");
  REQUIRE(page);
  inc.clear();
  for (const auto& v : page->included) inc.insert(v.type + "/" + v.id);
  CHECK(inc == std::set<std::string>{"Observation/glu1", "Observation/hr1"});

  // An included resource that is also a match is listed once, as a match.
  page = c.search("Patient", "_revinclude=Observation:subject&_include=Patient:link&_count=10");
  REQUIRE(page);
  CHECK(page->matches.size() == 4);
  CHECK(page->included.size() == 4);  // glu1, glu2, hr1, note1
}

TEST_CASE("db: search sees deletes and updates; strict and lenient handling") {
  search_case c;
  REQUIRE(c.rs.remove("Patient", "p2"));
  CHECK(c.set("Patient", "family=mu") == ids_t{"p1"});
  c.put("Patient", "p3", R"({"resourceType":"Patient","gender":"female","name":[{"family":"Mulder"}]})");
  CHECK(c.set("Patient", "family=mu") == ids_t{"p1", "p3"});
  CHECK(c.set("Patient", "gender=male").empty());
  // Observation glu2 still points at the deleted p2: chains do not reach it.
  CHECK(c.set("Observation", "subject:Patient.gender=male").empty());

  CHECK(c.ids("Patient", "nonsense=1") == ids_t{"error:not-supported"});
  auto page = c.search("Patient", "nonsense=1&gender=female", store::search_handling::lenient);
  REQUIRE(page);
  CHECK(page->matches.size() == 2);
}
