#include <hearth/terminology/parameters.hpp>

#include <string>

#include <doctest/doctest.h>

#include <hearth/fhir/json_writer.hpp>
#include <hearth/terminology/registry.hpp>

#include "terminology/test_support.hpp"

using namespace hearth::terminology;
using hearth::fhir::json_value;
using hearth::fhir::to_json;

TEST_CASE("parameters: $expand in-parameters, primitive values of any type") {
  const auto p = test::json(R"({"resourceType":"Parameters","parameter":[
    {"name":"url","valueUri":"http://hl7.org/fhir/ValueSet/administrative-gender"},
    {"name":"filter","valueString":"ma"},
    {"name":"offset","valueInteger":1},
    {"name":"count","valueString":"2"},
    {"name":"activeOnly","valueBoolean":true},
    {"name":"excludeNested","valueString":"false"},
    {"name":"somethingElse","valueString":"ignored"}]})");
  auto r = parse_expand_parameters(p);
  REQUIRE(r);
  CHECK(r->url == "http://hl7.org/fhir/ValueSet/administrative-gender");
  CHECK(r->filter == "ma");
  CHECK(r->offset == 1);
  CHECK(r->count == std::optional<std::size_t>(2));
  CHECK(r->active_only);
  CHECK_FALSE(r->exclude_nested);
  CHECK(r->value_set == nullptr);

  const auto bad = test::json(R"({"resourceType":"Parameters","parameter":[{"name":"count","valueString":"-1"}]})");
  auto e = parse_expand_parameters(bad);
  REQUIRE_FALSE(e);
  CHECK(e.error().code == "invalid");
  CHECK(e.error().location == "Parameters.parameter[0]");
  CHECK_FALSE(parse_expand_parameters(test::json(R"({"resourceType":"Patient"})")));
  CHECK_FALSE(parse_expand_parameters(test::json(
      R"({"resourceType":"Parameters","parameter":[{"name":"valueSet","resource":{"resourceType":"CodeSystem"}}]})")));
}

TEST_CASE("parameters: $expand with an inline valueSet resource") {
  const auto p = test::json(R"({"resourceType":"Parameters","parameter":[{"name":"valueSet","resource":
    {"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":"http://hl7.org/fhir/administrative-gender",
    "concept":[{"code":"female"}]}]}}}]})");
  auto req = parse_expand_parameters(p);
  REQUIRE(req);
  REQUIRE(req->value_set);
  auto vs = test::reg().expand(*req);
  REQUIRE(vs);
  CHECK(test::expansion_codes(*vs) == std::vector<std::string>{"female"});
}

TEST_CASE("parameters: $validate-code in and out") {
  const auto p = test::json(R"({"resourceType":"Parameters","parameter":[
    {"name":"url","valueUri":"http://hl7.org/fhir/ValueSet/administrative-gender"},
    {"name":"coding","valueCoding":{"system":"http://hl7.org/fhir/administrative-gender","code":"male","display":"Man"}}]})");
  auto req = parse_value_set_validate_parameters(p);
  REQUIRE(req);
  REQUIRE(req->codings.size() == 1);
  CHECK(req->codings[0].code == "male");
  CHECK(req->codings[0].display == "Man");
  auto res = test::reg().validate_code_in_value_set(*req);
  REQUIRE(res);
  const auto out = to_parameters(*res);
  CHECK(to_json(out) ==
        R"({"resourceType":"Parameters","parameter":[{"name":"result","valueBoolean":true},)"
        R"J({"name":"message","valueString":"The display given for code http://hl7.org/fhir/administrative-gender#male does not match the code system's ('Male')"},)J"
        R"({"name":"display","valueString":"Male"}]})");

  const auto cc = test::json(R"({"resourceType":"Parameters","parameter":[
    {"name":"url","valueUri":"http://hl7.org/fhir/ValueSet/administrative-gender"},
    {"name":"codeableConcept","valueCodeableConcept":{"coding":[{"system":"http://x","code":"1"},
      {"system":"http://hl7.org/fhir/administrative-gender","code":"other"}],"text":"t"}}]})");
  req = parse_value_set_validate_parameters(cc);
  REQUIRE(req);
  CHECK(req->codeable_concept);
  CHECK(req->codings.size() == 2);

  const auto code = test::json(R"({"resourceType":"Parameters","parameter":[
    {"name":"url","valueUri":"http://hl7.org/fhir/administrative-gender"},
    {"name":"code","valueCode":"unknown"},{"name":"version","valueString":"4.0.1"}]})");
  req = parse_code_system_validate_parameters(code);
  REQUIRE(req);
  REQUIRE(req->codings.size() == 1);
  CHECK(req->codings[0].version == "4.0.1");
  res = test::reg().validate_code_in_code_system(*req);
  REQUIRE(res);
  CHECK(to_json(to_parameters(*res)) ==
        R"({"resourceType":"Parameters","parameter":[{"name":"result","valueBoolean":true},{"name":"display","valueString":"Unknown"}]})");

  validate_result invalid;
  invalid.outcome = verdict::invalid;
  invalid.findings = {{severity::error, "one"}, {severity::warning, "two"}};
  CHECK(to_json(to_parameters(invalid)) ==
        R"({"resourceType":"Parameters","parameter":[{"name":"result","valueBoolean":false},{"name":"message","valueString":"one; two"}]})");
}

TEST_CASE("parameters: $lookup in and out") {
  const auto p = test::json(R"({"resourceType":"Parameters","parameter":[
    {"name":"system","valueUri":"http://hl7.org/fhir/administrative-gender"},{"name":"code","valueCode":"male"},
    {"name":"property","valueCode":"inactive"}]})");
  auto req = parse_lookup_parameters(p);
  REQUIRE(req);
  CHECK(req->properties == std::vector<std::string>{"inactive"});
  auto res = test::reg().lookup(*req);
  REQUIRE(res);
  CHECK(to_json(to_parameters(*res)) ==
        R"({"resourceType":"Parameters","parameter":[{"name":"name","valueString":"AdministrativeGender"},)"
        R"({"name":"version","valueString":"4.0.1"},{"name":"display","valueString":"Male"},)"
        R"({"name":"property","part":[{"name":"code","valueCode":"inactive"},{"name":"value","valueBoolean":false}]}]})");

  lookup_result withdes;
  withdes.name = "N";
  withdes.designations = {{"fr", {"http://u", "", "display", ""}, "Mâle"}};
  withdes.definition = "Def";
  CHECK(to_json(to_parameters(withdes)) ==
        R"({"resourceType":"Parameters","parameter":[{"name":"name","valueString":"N"},)"
        R"({"name":"designation","part":[{"name":"language","valueCode":"fr"},{"name":"use","valueCoding":{"system":"http://u","code":"display"}},{"name":"value","valueString":"Mâle"}]},)"
        R"({"name":"property","part":[{"name":"code","valueCode":"definition"},{"name":"value","valueString":"Def"}]}]})");
}

TEST_CASE("parameters: $subsumes in and out") {
  const auto p = test::json(R"({"resourceType":"Parameters","parameter":[
    {"name":"system","valueUri":"http://terminology.hl7.org/CodeSystem/v3-ActCode"},
    {"name":"codeA","valueCode":"IMP"},{"name":"codeB","valueCode":"ACUTE"}]})");
  auto req = parse_subsumes_parameters(p);
  REQUIRE(req);
  auto res = test::reg().subsumes(*req);
  REQUIRE(res);
  CHECK(to_json(to_parameters(*res)) ==
        R"({"resourceType":"Parameters","parameter":[{"name":"outcome","valueCode":"subsumes"}]})");
  const auto codings = test::json(R"({"resourceType":"Parameters","parameter":[
    {"name":"codingA","valueCoding":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"ACUTE"}},
    {"name":"codingB","valueCoding":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"}}]})");
  req = parse_subsumes_parameters(codings);
  REQUIRE(req);
  res = test::reg().subsumes(*req);
  REQUIRE(res);
  CHECK(*res == subsumption::subsumed_by);
}

TEST_CASE("parameters: $translate in and out") {
  const auto p = test::json(R"({"resourceType":"Parameters","parameter":[
    {"name":"url","valueUri":"http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2"},
    {"name":"system","valueUri":"http://hl7.org/fhir/administrative-gender"},{"name":"code","valueCode":"unknown"},
    {"name":"reverse","valueBoolean":false}]})");
  auto req = parse_translate_parameters(p);
  REQUIRE(req);
  auto res = test::reg().translate(*req);
  REQUIRE(res);
  CHECK(to_json(to_parameters(*res)) ==
        R"({"resourceType":"Parameters","parameter":[{"name":"result","valueBoolean":true},)"
        R"({"name":"match","part":[{"name":"equivalence","valueCode":"equal"},)"
        R"({"name":"concept","valueCoding":{"system":"http://terminology.hl7.org/CodeSystem/v2-0001","code":"U"}},)"
        R"({"name":"source","valueUri":"http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2"}]}]})");
  translate_result none;
  none.message = "No mapping";
  CHECK(to_json(to_parameters(none)) ==
        R"({"resourceType":"Parameters","parameter":[{"name":"result","valueBoolean":false},{"name":"message","valueString":"No mapping"}]})");
}

TEST_CASE("parameters: Coding and CodeableConcept helpers") {
  auto c = coding_from_json(test::json(R"({"system":"s","code":"c","display":"d","userSelected":true})"));
  REQUIRE(c);
  CHECK(*c == coding{"s", "", "c", "d"});
  CHECK(to_json(to_json(*c)) == R"({"system":"s","code":"c","display":"d"})");
  CHECK_FALSE(coding_from_json(test::json(R"({"code":1})")));
  auto cc = codings_from_codeable_concept(test::json(R"({"text":"only text"})"));
  REQUIRE(cc);
  CHECK(cc->empty());
}

TEST_CASE("parameters: CodeSystem/$validate-code with `system`, $translate with conceptMapVersion") {
  auto v = parse_code_system_validate_parameters(test::json(R"({"resourceType":"Parameters","parameter":[
    {"name":"system","valueUri":"http://hl7.org/fhir/administrative-gender"},{"name":"code","valueCode":"male"}]})"));
  REQUIRE(v);
  auto res = test::reg().validate_code_in_code_system(*v);
  REQUIRE(res);
  CHECK(res->outcome == verdict::valid);
  auto t = parse_translate_parameters(test::json(R"({"resourceType":"Parameters","parameter":[
    {"name":"url","valueUri":"http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2"},
    {"name":"conceptMapVersion","valueString":"4.0.1"},
    {"name":"coding","valueCoding":{"system":"http://hl7.org/fhir/administrative-gender","code":"female"}}]})"));
  REQUIRE(t);
  CHECK(t->url == "http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2|4.0.1");
  auto tr = test::reg().translate(*t);
  REQUIRE(tr);
  REQUIRE(tr->matches.size() == 1);
  CHECK(tr->matches[0].mapped.code == "F");
}
