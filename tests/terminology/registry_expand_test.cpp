#include <hearth/terminology/registry.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "terminology/test_support.hpp"

// Expected codes were read by hand from the R4 definition bundles
// (valuesets.json, v2-tables.json, v3-codesystems.json).

using namespace hearth::terminology;
using hearth::fhir::json_value;
using strings = std::vector<std::string>;

namespace {

json_value expand_ok(const expand_request& req, const resolver& resolve = {}) {
  auto r = test::reg().expand(req, resolve);
  if (!r) FAIL("expand failed: " << r.error().code << ": " << r.error().message);
  return std::move(r).value();
}

expand_request by_url(std::string url) {
  expand_request req;
  req.url = std::move(url);
  return req;
}

}  // namespace

TEST_CASE("expand: administrative-gender, a whole code system") {
  const auto vs = expand_ok(by_url("http://hl7.org/fhir/ValueSet/administrative-gender"));
  CHECK(test::expansion_codes(vs) == strings{"male", "female", "other", "unknown"});
  CHECK(test::expansion_total(vs) == 4);
  CHECK(vs.find("resourceType")->str() == "ValueSet");
  CHECK(vs.find("url")->str() == "http://hl7.org/fhir/ValueSet/administrative-gender");
  const auto& exp = *vs.find("expansion");
  CHECK(exp.find("identifier")->str().starts_with("urn:uuid:"));
  CHECK(exp.find("identifier")->str().size() == 45);
  CHECK(exp.find("timestamp")->str().size() == 20);
  CHECK(exp.find("offset") == nullptr);  // not paged
  const auto& first = exp.find("contains")->items().front();
  CHECK(first.find("system")->str() == "http://hl7.org/fhir/administrative-gender");
  CHECK(first.find("version")->str() == "4.0.1");
  CHECK(first.find("display")->str() == "Male");
  CHECK(vs.find("compose") == nullptr);
}

TEST_CASE("expand: a canonical with |version is accepted") {
  const auto vs = expand_ok(by_url("http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1"));
  CHECK(test::expansion_total(vs) == 4);
}

TEST_CASE("expand: observation-status, flat by default and nested on request") {
  const auto flat = expand_ok(by_url("http://hl7.org/fhir/ValueSet/observation-status"));
  // `corrected` is nested under `amended` in the code system.
  const strings all{"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"};
  CHECK(test::expansion_codes(flat) == all);
  CHECK(flat.find("expansion")->find("contains")->items().size() == 8);

  auto req = by_url("http://hl7.org/fhir/ValueSet/observation-status");
  req.exclude_nested = false;
  const auto tree = expand_ok(req);
  CHECK(test::expansion_codes(tree) == all);  // depth-first order is the same
  CHECK(test::expansion_total(tree) == 8);
  const auto& top = tree.find("expansion")->find("contains")->items();
  REQUIRE(top.size() == 7);
  CHECK(top[3].find("code")->str() == "amended");
  REQUIRE(top[3].find("contains"));
  CHECK(top[3].find("contains")->items().at(0).find("code")->str() == "corrected");
}

TEST_CASE("expand: a v2 table") {
  const auto vs = expand_ok(by_url("http://terminology.hl7.org/ValueSet/v2-0001"));
  CHECK(test::expansion_codes(vs) == strings{"A", "F", "M", "N", "O", "U"});
  const auto& c = vs.find("expansion")->find("contains")->items();
  CHECK(c[2].find("display")->str() == "Male");
  CHECK(c[2].find("system")->str() == "http://terminology.hl7.org/CodeSystem/v2-0001");
}

TEST_CASE("expand: a value set including another value set and a concept") {
  // yesnodontknow = v2-0136 (N, Y) + data-absent-reason#asked-unknown.
  const auto vs = expand_ok(by_url("http://hl7.org/fhir/ValueSet/yesnodontknow"));
  CHECK(test::expansion_codes(vs) == strings{"N", "Y", "asked-unknown"});
  const auto& c = vs.find("expansion")->find("contains")->items();
  // The display of compose.include.concept wins over the code system's.
  CHECK(c[2].find("display")->str() == "Don't know");
}

TEST_CASE("expand: an is-a filter with an exclude") {
  // v3-SeverityObservation: is-a _SeverityObservation, minus _SeverityObservation.
  const auto vs = expand_ok(by_url("http://terminology.hl7.org/ValueSet/v3-SeverityObservation"));
  CHECK(test::expansion_codes(vs) == strings{"H", "L", "M"});

  // v3-ActEncounterCode: is-a _ActEncounterCode on v3-ActCode, minus the root.
  const auto enc = expand_ok(by_url("http://terminology.hl7.org/ValueSet/v3-ActEncounterCode"));
  CHECK(test::expansion_codes(enc) ==
        strings{"AMB", "EMER", "FLD", "HH", "IMP", "ACUTE", "NONAC", "OBSENC", "PRENC", "SS", "VR"});
  auto req = by_url("http://terminology.hl7.org/ValueSet/v3-ActEncounterCode");
  req.exclude_nested = false;
  const auto tree = expand_ok(req);
  const auto& top = tree.find("expansion")->find("contains")->items();
  REQUIRE(top.size() == 9);
  CHECK(top[4].find("code")->str() == "IMP");
  std::vector<std::string> kids;
  test::collect_codes(*top[4].find("contains"), kids);
  CHECK(kids == strings{"ACUTE", "NONAC"});
}

TEST_CASE("expand: filters given inline (descendent-of, is-not-a, generalizes, regex, in, =)") {
  const auto inline_vs = [](std::string_view filter) {
    return test::json(R"({"resourceType":"ValueSet","status":"active","compose":{"include":[
      {"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","filter":[)" + std::string(filter) + "]}]}}");
  };
  const auto run = [&](std::string_view filter) {
    const auto vs = inline_vs(filter);
    auto r = test::reg().expand(vs, expand_request{});
    if (!r) FAIL(r.error().message);
    return test::expansion_codes(*r);
  };
  CHECK(run(R"({"property":"concept","op":"descendent-of","value":"IMP"})") == strings{"ACUTE", "NONAC"});
  CHECK(run(R"({"property":"concept","op":"is-a","value":"IMP"})") == strings{"IMP", "ACUTE", "NONAC"});
  const auto gen = run(R"({"property":"concept","op":"generalizes","value":"ACUTE"})");
  // v3-ActCode nests _ActEncounterCode under _ActCareProvisionCode.
  CHECK(gen == strings{"_ActCareProvisionCode", "_ActEncounterCode", "IMP", "ACUTE"});
  CHECK(run(R"({"property":"code","op":"regex","value":"NON.C"})") == strings{"NONAC"});
  CHECK(run(R"({"property":"concept","op":"in","value":"IMP, AMB,nope"})") == strings{"AMB", "IMP"});
  CHECK(run(R"({"property":"concept","op":"=","value":"EMER"})") == strings{"EMER"});
  // Two filters in one include intersect.
  CHECK(run(R"({"property":"concept","op":"is-a","value":"_ActEncounterCode"},{"property":"code","op":"regex","value":"[A-F].*"})") ==
        strings{"AMB", "EMER", "FLD", "ACUTE"});
  // is-not-a: everything else of the code system.
  const auto rest = run(R"({"property":"concept","op":"is-not-a","value":"_ActEncounterCode"})");
  CHECK(std::find(rest.begin(), rest.end(), "IMP") == rest.end());
  CHECK(std::find(rest.begin(), rest.end(), "_ActEncounterCode") == rest.end());
  CHECK(std::find(rest.begin(), rest.end(), "_ActAccountCode") != rest.end());
  CHECK_FALSE(rest.empty());
}

TEST_CASE("expand: text filter, paging and total") {
  auto req = by_url("http://terminology.hl7.org/ValueSet/v2-0203");
  req.filter = "DRIVER";  // case-insensitive, on display
  auto vs = expand_ok(req);
  CHECK(test::expansion_codes(vs) == strings{"DL"});
  CHECK(test::expansion_total(vs) == 1);

  auto all = expand_ok(by_url("http://terminology.hl7.org/ValueSet/v2-0203"));
  const auto codes = test::expansion_codes(all);
  REQUIRE(codes.size() == 127);
  CHECK(test::expansion_total(all) == 127);

  req = by_url("http://terminology.hl7.org/ValueSet/v2-0203");
  req.offset = 10;
  req.count = 5;
  auto page = expand_ok(req);
  CHECK(test::expansion_total(page) == 127);
  CHECK(test::expansion_codes(page) == strings(codes.begin() + 10, codes.begin() + 15));
  CHECK(page.find("expansion")->find("offset")->number_text() == "10");
  // The parameters used are echoed.
  bool saw_count = false;
  for (const auto& p : page.find("expansion")->find("parameter")->items())
    if (p.find("name")->str() == "count") saw_count = p.find("valueInteger")->number_text() == "5";
  CHECK(saw_count);

  req.offset = 125;
  req.count = 10;
  CHECK(test::expansion_codes(expand_ok(req)) == strings(codes.begin() + 125, codes.end()));
  req.offset = 500;
  auto past = expand_ok(req);
  CHECK(test::expansion_codes(past).empty());
  CHECK(test::expansion_total(past) == 127);
}

TEST_CASE("expand: activeOnly leaves out retired concepts; inactive and abstract are flagged") {
  // v3-AcknowledgementCondition: AL, ER, NE, SU (SU is retired).
  auto req = by_url("http://terminology.hl7.org/ValueSet/v3-AcknowledgementCondition");
  auto vs = expand_ok(req);
  CHECK(test::expansion_codes(vs) == strings{"AL", "ER", "NE", "SU"});
  const auto& su = vs.find("expansion")->find("contains")->items().back();
  REQUIRE(su.find("inactive"));
  CHECK(su.find("inactive")->as_bool());
  req.active_only = true;
  CHECK(test::expansion_codes(expand_ok(req)) == strings{"AL", "ER", "NE"});

  // _ActEncounterCode is notSelectable: abstract in an expansion that has it.
  const auto abs = test::json(R"({"resourceType":"ValueSet","status":"active","compose":{"include":[
      {"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","concept":[{"code":"_ActEncounterCode"},{"code":"AMB"}]}]}})");
  auto r = test::reg().expand(abs, expand_request{});
  REQUIRE(r);
  const auto& c = r->find("expansion")->find("contains")->items();
  REQUIRE(c.size() == 2);
  REQUIRE(c[0].find("abstract"));
  CHECK(c[0].find("abstract")->as_bool());
  CHECK(c[1].find("abstract") == nullptr);
}

TEST_CASE("expand: includeDesignations and includeDefinition") {
  auto req = by_url("http://hl7.org/fhir/ValueSet/administrative-gender");
  req.include_definition = true;
  const auto vs = expand_ok(req);
  REQUIRE(vs.find("compose"));
  CHECK(vs.find("compose")->find("include")->items().at(0).find("system")->str() ==
        "http://hl7.org/fhir/administrative-gender");

  // An inline code system with a designation, through a resolver.
  const auto cs = test::json(R"({"resourceType":"CodeSystem","url":"http://example.org/cs","status":"active",
    "content":"complete","concept":[{"code":"a","display":"Alpha",
    "designation":[{"language":"de","value":"Alfa"}]}]})");
  const auto vs2 = test::json(R"({"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":"http://example.org/cs"}]}})");
  const resolver resolve = [&](std::string_view type, std::string_view url, std::string_view) -> std::optional<json_value> {
    if (type == "CodeSystem" && url == "http://example.org/cs") return cs;
    return std::nullopt;
  };
  expand_request with;
  with.include_designations = true;
  auto r = test::reg().expand(vs2, with, resolve);
  REQUIRE(r);
  const auto& c = r->find("expansion")->find("contains")->items().at(0);
  REQUIRE(c.find("designation"));
  CHECK(c.find("designation")->items().at(0).find("value")->str() == "Alfa");
  CHECK(c.find("designation")->items().at(0).find("language")->str() == "de");
  r = test::reg().expand(vs2, expand_request{}, resolve);
  REQUIRE(r);
  CHECK(r->find("expansion")->find("contains")->items().at(0).find("designation") == nullptr);
}

TEST_CASE("expand: errors name what is wrong") {
  auto r = test::reg().expand(by_url("http://example.org/ValueSet/unknown"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "not-found");
  CHECK(r.error().message.find("http://example.org/ValueSet/unknown") != std::string::npos);

  // A whole external code system (SNOMED CT) cannot be enumerated.
  const auto sct = test::json(R"({"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":"http://snomed.info/sct"}]}})");
  r = test::reg().expand(sct, expand_request{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "not-supported");
  CHECK(r.error().message.find("http://snomed.info/sct") != std::string::npos);

  // A LOINC filter (the R4 example-intensional value set).
  r = test::reg().expand(by_url("http://hl7.org/fhir/ValueSet/example-intensional"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "not-supported");

  // A grammar (all MIME types) cannot be enumerated.
  r = test::reg().expand(by_url("http://hl7.org/fhir/ValueSet/mimetypes"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "not-supported");

  // But listed SNOMED codes can.
  const auto listed = test::json(R"({"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":"http://snomed.info/sct",
    "concept":[{"code":"22298006","display":"Myocardial infarction"}]}]}})");
  auto ok = test::reg().expand(listed, expand_request{});
  REQUIRE(ok);
  CHECK(test::expansion_codes(*ok) == strings{"22298006"});
}

TEST_CASE("expand: versioned v2 tables select their code system version") {
  // v2-tables.json holds CodeSystem v2-0360 in 2.3.1 (58 codes) and 2.7 (61:
  // adds CTR, MTH, RN); the value sets include "v2-0360|2.3.1" / "|2.7".
  const auto old_vs = expand_ok(by_url("http://terminology.hl7.org/ValueSet/v2-2.3.1-0360"));
  const auto new_vs = expand_ok(by_url("http://terminology.hl7.org/ValueSet/v2-2.7-0360"));
  CHECK(test::expansion_total(old_vs) == 58);
  CHECK(test::expansion_total(new_vs) == 61);
  const auto codes = test::expansion_codes(old_vs);
  CHECK(std::find(codes.begin(), codes.end(), "CTR") == codes.end());
  const auto& first = new_vs.find("expansion")->find("contains")->items().front();
  CHECK(first.find("system")->str() == "http://terminology.hl7.org/CodeSystem/v2-0360");
  CHECK(first.find("version")->str() == "2.7");
  // Tables whose url carries the version ("v2-0391|2.6"): url and version split.
  const auto t0391 = expand_ok(by_url("http://terminology.hl7.org/ValueSet/v2-2.6-0391"));
  const auto& c = t0391.find("expansion")->find("contains")->items().front();
  CHECK(c.find("system")->str() == "http://terminology.hl7.org/CodeSystem/v2-0391");
  CHECK(c.find("version")->str() == "2.6");
  CHECK(c.find("code")->str() == "ADMINISTRATION");
  // Validation against a version.
  validate_request req;
  req.url = "http://terminology.hl7.org/CodeSystem/v2-0360|2.7";
  req.codings = {{"", "", "CTR", ""}};
  auto v = test::reg().validate_code_in_code_system(req);
  REQUIRE(v);
  CHECK(v->outcome == verdict::valid);
  req.url = "http://terminology.hl7.org/CodeSystem/v2-0360|2.3.1";
  v = test::reg().validate_code_in_code_system(req);
  REQUIRE(v);
  CHECK(v->outcome == verdict::invalid);
}
