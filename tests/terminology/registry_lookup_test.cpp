#include <hearth/terminology/registry.hpp>

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "terminology/test_support.hpp"

// $lookup and $subsumes, hand-checked against v3-codesystems.json:
// v3-ActCode nests _ActCareProvisionCode > _ActEncounterCode > IMP > {ACUTE, NONAC}.

using namespace hearth::terminology;
using hearth::fhir::json_value;

namespace {

constexpr const char* act_code = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

lookup_result lookup_ok(lookup_request req) {
  auto r = test::reg().lookup(req);
  if (!r) FAIL("lookup failed: " << r.error().code << ": " << r.error().message);
  return std::move(r).value();
}

std::vector<std::string> property_values(const lookup_result& r, std::string_view code) {
  std::vector<std::string> out;
  for (const auto& p : r.properties)
    if (p.code == code) out.push_back(p.value.is_string() ? p.value.str() : (p.value.as_bool() ? "true" : "false"));
  return out;
}

hearth::result<subsumption> subsumes(std::string a, std::string b) {
  subsumes_request req;
  req.system = act_code;
  req.a.code = std::move(a);
  req.b.code = std::move(b);
  return test::reg().subsumes(req);
}

}  // namespace

TEST_CASE("lookup: name, version, display, definition and the hierarchy") {
  lookup_request req;
  req.input = {act_code, "", "IMP", ""};
  const auto r = lookup_ok(req);
  CHECK(r.name == "v3 Code System ActCode");
  CHECK(r.version == "2018-08-12");
  CHECK(r.display == "inpatient encounter");
  CHECK(r.definition.starts_with("A patient encounter where a patient is admitted by a hospital"));
  CHECK(property_values(r, "parent") == std::vector<std::string>{"_ActEncounterCode"});
  CHECK(property_values(r, "child") == std::vector<std::string>{"ACUTE", "NONAC"});
  CHECK(property_values(r, "inactive") == std::vector<std::string>{"false"});
  CHECK_FALSE(r.abstract);
}

TEST_CASE("lookup: code system properties, inactive status, and the property filter") {
  lookup_request req;
  req.input = {"http://terminology.hl7.org/CodeSystem/v3-AcknowledgementCondition", "", "SU", ""};
  auto r = lookup_ok(req);
  CHECK(r.inactive);
  CHECK(property_values(r, "status") == std::vector<std::string>{"retired"});
  CHECK(property_values(r, "inactive") == std::vector<std::string>{"true"});

  req.input = {act_code, "", "_ActEncounterCode", ""};
  req.properties = {"child"};
  r = lookup_ok(req);
  CHECK(r.abstract);
  CHECK(property_values(r, "child").size() == 9);
  CHECK(property_values(r, "notSelectable").empty());  // filtered out
  CHECK(property_values(r, "parent").empty());
  CHECK(r.definition.empty());
  req.properties = {"notSelectable"};
  r = lookup_ok(req);
  CHECK(property_values(r, "notSelectable") == std::vector<std::string>{"true"});
}

TEST_CASE("lookup: designations") {
  // languages lists designations in the value set, not a code system: use an
  // inline code system.
  const auto cs = test::json(R"J({"resourceType":"CodeSystem","url":"http://example.org/d","status":"active",
    "content":"complete","concept":[{"code":"a","display":"Alpha","designation":[{"language":"fr",
    "use":{"system":"http://terminology.hl7.org/CodeSystem/designation-usage","code":"display"},"value":"Alpha (fr)"}]}]})J");
  lookup_request req;
  req.input = {"http://example.org/d", "", "a", ""};
  req.code_system = &cs;
  const auto r = lookup_ok(req);
  REQUIRE(r.designations.size() == 1);
  CHECK(r.designations[0].language == "fr");
  CHECK(r.designations[0].use.code == "display");
  CHECK(r.designations[0].value == "Alpha (fr)");
}

TEST_CASE("lookup: errors and grammars") {
  lookup_request req;
  req.input = {act_code, "", "NOPE", ""};
  auto r = test::reg().lookup(req);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "not-found");
  CHECK(r.error().message.find("NOPE") != std::string::npos);

  req.input = {"http://example.org/none", "", "x", ""};
  r = test::reg().lookup(req);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "not-found");

  req.input = {"http://snomed.info/sct", "", "22298006", ""};
  r = test::reg().lookup(req);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "not-supported");

  req.input = {"http://unitsofmeasure.org", "", "mg/dL", ""};
  r = test::reg().lookup(req);
  REQUIRE(r);
  CHECK(r->display == "mg/dL");

  req.input = {act_code, "", "", ""};
  r = test::reg().lookup(req);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "invalid");
}

TEST_CASE("subsumes: the four outcomes, transitively") {
  auto r = subsumes("IMP", "IMP");
  REQUIRE(r);
  CHECK(*r == subsumption::equivalent);
  r = subsumes("_ActCareProvisionCode", "ACUTE");  // two levels down
  REQUIRE(r);
  CHECK(*r == subsumption::subsumes);
  r = subsumes("NONAC", "_ActEncounterCode");
  REQUIRE(r);
  CHECK(*r == subsumption::subsumed_by);
  r = subsumes("AMB", "IMP");
  REQUIRE(r);
  CHECK(*r == subsumption::not_subsumed);
  CHECK(to_string(subsumption::subsumed_by) == "subsumed-by");
  CHECK(to_string(subsumption::not_subsumed) == "not-subsumed");
}

TEST_CASE("subsumes: through `parent` properties, codings, and errors") {
  const auto cs = test::json(R"({"resourceType":"CodeSystem","url":"http://example.org/p","status":"active",
    "content":"complete","concept":[{"code":"root"},{"code":"mid","property":[{"code":"parent","valueCode":"root"}]},
    {"code":"leaf","property":[{"code":"parent","valueCode":"mid"}]}]})");
  subsumes_request req;
  req.code_system = &cs;
  req.a = {"http://example.org/p", "", "root", ""};
  req.b = {"http://example.org/p", "", "leaf", ""};
  auto r = test::reg().subsumes(req);
  REQUIRE(r);
  CHECK(*r == subsumption::subsumes);

  auto bad = subsumes("IMP", "NOPE");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "not-found");

  subsumes_request mixed;
  mixed.a = {act_code, "", "IMP", ""};
  mixed.b = {"http://hl7.org/fhir/administrative-gender", "", "male", ""};
  bad = test::reg().subsumes(mixed);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "invalid");
}
