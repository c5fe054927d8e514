#include <hearth/terminology/registry.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/terminology/parameters.hpp>

#include "terminology/test_support.hpp"

// The $expand parameters of R4 valueset-operation-expand.html beyond paging
// and filtering: exclude-system, system-version, check-system-version,
// force-system-version, displayLanguage, designation, date, context.
// Data read by hand from the R4 bundles: v2-tables.json holds table 0360 in
// versions 2.3.1 (58 codes; read first, so the default) and 2.7 (61 codes:
// also CTR, MTH, RN); valuesets.json gives publication-status designations in
// nl and ru (draft: "ontwerp" / "черновик"), none for `unknown`.

using namespace hearth::terminology;
using hearth::fhir::json_value;
using strings = std::vector<std::string>;

namespace {

constexpr const char* cs_0360 = "http://terminology.hl7.org/CodeSystem/v2-0360";

json_value expand_ok(const expand_request& req) {
  auto r = test::reg().expand(req);
  if (!r) FAIL("expand failed: " << r.error().code << ": " << r.error().message);
  return std::move(r).value();
}

json_value expand_ok(const json_value& vs, const expand_request& req) {
  auto r = test::reg().expand(vs, req);
  if (!r) FAIL("expand failed: " << r.error().code << ": " << r.error().message);
  return std::move(r).value();
}

expand_request by_url(std::string url) {
  expand_request req;
  req.url = std::move(url);
  return req;
}

bool has_code(const json_value& vs, const std::string& code) {
  const auto codes = test::expansion_codes(vs);
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

/// A value set of two includes: table 0360 (no version) and administrative-gender.
json_value two_systems() {
  return test::json(R"({"resourceType":"ValueSet","url":"http://example.org/vs/two","status":"active",
    "compose":{"include":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0360"},
                          {"system":"http://hl7.org/fhir/administrative-gender"}]}})");
}

/// The versions reported in expansion.parameter "version".
strings used_versions(const json_value& vs) {
  strings out;
  const auto* params = vs.find("expansion")->find("parameter");
  if (!params) return out;
  for (const auto& p : params->items())
    if (p.find("name")->str() == "version") out.push_back(p.find("valueUri")->str());
  return out;
}

/// The value of expansion.parameter `name` (its value[x] as text), or "".
std::string expansion_param(const json_value& vs, const std::string& name) {
  const auto* params = vs.find("expansion")->find("parameter");
  if (!params) return "";
  for (const auto& p : params->items()) {
    if (p.find("name")->str() != name) continue;
    for (const auto& m : p.members())
      if (m.key.starts_with("value")) return m.value.is_string() ? m.value.str() : "?";
  }
  return "";
}

/// The display of `code` in the expansion, or "<none>".
std::string display_of(const json_value& vs, const std::string& code) {
  for (const auto& c : vs.find("expansion")->find("contains")->items()) {
    if (c.find("code")->str() != code) continue;
    const auto* d = c.find("display");
    return d ? d->str() : "<none>";
  }
  return "<missing>";
}

/// The languages of the designations of `code`, in order.
strings designation_languages(const json_value& vs, const std::string& code) {
  strings out;
  for (const auto& c : vs.find("expansion")->find("contains")->items()) {
    if (c.find("code")->str() != code) continue;
    if (const auto* ds = c.find("designation"))
      for (const auto& d : ds->items()) out.push_back(d.find("language") ? d.find("language")->str() : "");
  }
  return out;
}

}  // namespace

TEST_CASE("expand parameters: exclude-system leaves out a code system, or one version of it") {
  const json_value vs = two_systems();
  const auto all = expand_ok(vs, expand_request{});
  CHECK(test::expansion_total(all) == 58 + 4);

  expand_request req;
  req.exclude_systems.push_back({cs_0360, ""});
  const auto without = expand_ok(vs, req);
  CHECK(test::expansion_codes(without) == strings{"male", "female", "other", "unknown"});
  CHECK(expansion_param(without, "exclude-system") == cs_0360);

  // Only the version the expansion uses is excluded.
  req.exclude_systems = {{cs_0360, "2.7"}};
  CHECK(test::expansion_total(expand_ok(vs, req)) == 58 + 4);
  req.exclude_systems = {{cs_0360, "2.3.1"}};
  CHECK(test::expansion_total(expand_ok(vs, req)) == 4);
}

TEST_CASE("expand parameters: system-version picks the version where the value set names none") {
  const json_value vs = two_systems();
  expand_request req;
  req.system_versions.push_back({cs_0360, "2.7"});
  const auto r = expand_ok(vs, req);
  CHECK(test::expansion_total(r) == 61 + 4);
  CHECK(has_code(r, "CTR"));
  CHECK(used_versions(r) == strings{std::string(cs_0360) + "|2.7", "http://hl7.org/fhir/administrative-gender|4.0.1"});
  CHECK(expansion_param(r, "system-version") == std::string(cs_0360) + "|2.7");

  // A value set that names its version keeps it.
  const auto named = expand_ok([&] {
    auto q = by_url("http://terminology.hl7.org/ValueSet/v2-2.3.1-0360");
    q.system_versions.push_back({cs_0360, "2.7"});
    return q;
  }());
  CHECK(test::expansion_total(named) == 58);
  CHECK_FALSE(has_code(named, "CTR"));

  // A version the registry does not hold: an error, not another version's codes.
  req.system_versions = {{cs_0360, "9.9"}};
  auto missing = test::reg().expand(vs, req);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == "not-supported");
  CHECK(missing.error().message.find("9.9") != std::string::npos);
}

TEST_CASE("expand parameters: force-system-version overrides the value set's version, nested ones too") {
  auto req = by_url("http://terminology.hl7.org/ValueSet/v2-2.3.1-0360");
  req.force_system_versions.push_back({cs_0360, "2.7"});
  const auto r = expand_ok(req);
  CHECK(test::expansion_total(r) == 61);
  CHECK(has_code(r, "RN"));
  CHECK(used_versions(r) == strings{std::string(cs_0360) + "|2.7"});
  CHECK(expansion_param(r, "force-system-version") == std::string(cs_0360) + "|2.7");

  // Through a value set that includes the versioned one.
  const auto outer = test::json(R"({"resourceType":"ValueSet","status":"active","compose":{"include":[
    {"valueSet":["http://terminology.hl7.org/ValueSet/v2-2.3.1-0360"]}]}})");
  expand_request force;
  force.force_system_versions.push_back({cs_0360, "2.7"});
  CHECK(test::expansion_total(expand_ok(outer, force)) == 61);
  CHECK(test::expansion_total(expand_ok(outer, expand_request{})) == 58);
}

TEST_CASE("expand parameters: check-system-version refuses a value set naming another version") {
  auto req = by_url("http://terminology.hl7.org/ValueSet/v2-2.3.1-0360");
  req.check_system_versions.push_back({cs_0360, "2.7"});
  auto r = test::reg().expand(req);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "business-rule");
  CHECK(r.error().message.find("check-system-version") != std::string::npos);
  CHECK(r.error().message.find("2.3.1") != std::string::npos);

  // The same version: expanded.
  req.check_system_versions = {{cs_0360, "2.3.1"}};
  CHECK(test::expansion_total(expand_ok(req)) == 58);

  // A value set naming no version: the checked version is used.
  expand_request check;
  check.check_system_versions.push_back({cs_0360, "2.7"});
  CHECK(test::expansion_total(expand_ok(two_systems(), check)) == 61 + 4);
  // ... unless system-version picks another one: then the check fails.
  check.system_versions.push_back({cs_0360, "2.3.1"});
  auto conflict = test::reg().expand(two_systems(), check);
  REQUIRE_FALSE(conflict);
  CHECK(conflict.error().code == "business-rule");
}

TEST_CASE("expand parameters: displayLanguage takes the display from the designation in that language") {
  auto req = by_url("http://hl7.org/fhir/ValueSet/publication-status");
  req.display_language = "nl";
  const auto nl = expand_ok(req);
  CHECK(display_of(nl, "draft") == "ontwerp");
  CHECK(display_of(nl, "active") == "actief");
  CHECK(display_of(nl, "unknown") == "Unknown");  // no Dutch designation: the code system's display
  CHECK(expansion_param(nl, "displayLanguage") == "nl");
  CHECK(designation_languages(nl, "draft").empty());  // designations only when asked for

  req.display_language = "NL-be";  // case-insensitive; falls back to the primary language
  CHECK(display_of(expand_ok(req), "retired") == "verouderd");
  req.display_language = "ru";
  CHECK(display_of(expand_ok(req), "draft") == "черновик");
  req.display_language = "de";
  CHECK(display_of(expand_ok(req), "draft") == "Draft");

  // The text filter sees the display shown.
  req.display_language = "nl";
  req.filter = "ontw";
  CHECK(test::expansion_codes(expand_ok(req)) == strings{"draft"});
}

TEST_CASE("expand parameters: designation chooses the designations included") {
  auto req = by_url("http://hl7.org/fhir/ValueSet/publication-status");
  req.include_designations = true;
  CHECK(designation_languages(expand_ok(req), "draft") == strings{"ru", "nl"});

  req.designations.push_back(coding{"urn:ietf:bcp:47", "", "nl", ""});
  const auto nl = expand_ok(req);
  CHECK(designation_languages(nl, "draft") == strings{"nl"});
  CHECK(designation_languages(nl, "unknown").empty());
  CHECK(expansion_param(nl, "designation") == "urn:ietf:bcp:47|nl");

  // Without includeDesignations the parameter still includes what it names.
  expand_request only = by_url("http://hl7.org/fhir/ValueSet/publication-status");
  only.designations.push_back(coding{"", "", "ru", ""});
  CHECK(designation_languages(expand_ok(only), "active") == strings{"ru"});

  // A use no designation has: none.
  expand_request by_use = by_url("http://hl7.org/fhir/ValueSet/publication-status");
  by_use.designations.push_back(coding{"http://snomed.info/sct", "", "900000000000013009", ""});
  CHECK(designation_languages(expand_ok(by_use), "draft").empty());
}

TEST_CASE("expand parameters: a context is not resolved by the registry") {
  auto req = by_url("http://hl7.org/fhir/ValueSet/publication-status");
  req.context = "http://hl7.org/fhir/StructureDefinition/Patient#Patient.gender";
  auto r = test::reg().expand(req);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "not-supported");
}

TEST_CASE("expand parameters: reading them from Parameters") {
  const auto p = test::json(R"({"resourceType":"Parameters","parameter":[
    {"name":"url","valueUri":"http://hl7.org/fhir/ValueSet/publication-status"},
    {"name":"exclude-system","valueCanonical":"http://loinc.org"},
    {"name":"exclude-system","valueString":"http://snomed.info/sct|http://snomed.info/sct/731000124108"},
    {"name":"system-version","valueCanonical":"http://terminology.hl7.org/CodeSystem/v2-0360|2.7"},
    {"name":"check-system-version","valueString":"http://hl7.org/fhir/publication-status|4.0.1"},
    {"name":"force-system-version","valueUri":"http://a.example/cs|1"},
    {"name":"displayLanguage","valueCode":"nl"},
    {"name":"designation","valueString":"urn:ietf:bcp:47|ru"},
    {"name":"designation","valueString":"display"},
    {"name":"context","valueUri":"http://hl7.org/fhir/StructureDefinition/Patient#Patient.gender"},
    {"name":"contextDirection","valueCode":"incoming"}]})");
  auto r = parse_expand_parameters(p);
  REQUIRE(r);
  CHECK(r->exclude_systems == std::vector<system_version>{{"http://loinc.org", ""},
                                                          {"http://snomed.info/sct", "http://snomed.info/sct/731000124108"}});
  CHECK(r->system_versions == std::vector<system_version>{{"http://terminology.hl7.org/CodeSystem/v2-0360", "2.7"}});
  CHECK(r->check_system_versions == std::vector<system_version>{{"http://hl7.org/fhir/publication-status", "4.0.1"}});
  CHECK(r->force_system_versions == std::vector<system_version>{{"http://a.example/cs", "1"}});
  CHECK(r->display_language == "nl");
  REQUIRE(r->designations.size() == 2);
  CHECK(r->designations[0] == coding{"urn:ietf:bcp:47", "", "ru", ""});
  CHECK(r->designations[1] == coding{"", "", "display", ""});
  CHECK(r->context == "http://hl7.org/fhir/StructureDefinition/Patient#Patient.gender");
  CHECK(r->context_direction == "incoming");

  const auto error_of = [](const char* params) {
    auto e = parse_expand_parameters(test::json(std::string(R"({"resourceType":"Parameters","parameter":)") + params + "}"));
    REQUIRE_FALSE(e);
    return e.error();
  };
  // Versions are required where R4 says "a version to use".
  auto e = error_of(R"([{"name":"system-version","valueString":"http://loinc.org"}])");
  CHECK(e.code == "invalid");
  CHECK(e.location == "Parameters.parameter[0]");
  CHECK(error_of(R"([{"name":"force-system-version","valueString":"|2.7"}])").code == "invalid");
  // Two versions of one system in one rule: ambiguous.
  CHECK(error_of(R"([{"name":"check-system-version","valueString":"http://a|1"},
                     {"name":"check-system-version","valueString":"http://a|2"}])").location == "Parameters.parameter[1]");
  CHECK(error_of(R"([{"name":"contextDirection","valueCode":"sideways"},{"name":"context","valueUri":"x"}])").code ==
        "invalid");
  CHECK(error_of(R"([{"name":"contextDirection","valueCode":"incoming"}])").code == "invalid");
  // date: Hearth holds only today's definitions; R4 says to answer an error.
  auto d = error_of(R"([{"name":"url","valueUri":"http://hl7.org/fhir/ValueSet/publication-status"},
                        {"name":"date","valueDateTime":"2019-01-01"}])");
  CHECK(d.code == "not-supported");
  CHECK(d.location == "Parameters.parameter[1]");
}
