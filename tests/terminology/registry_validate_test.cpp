#include <hearth/terminology/registry.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "terminology/test_support.hpp"

using namespace hearth::terminology;
using hearth::fhir::json_value;

namespace {

constexpr const char* gender_vs = "http://hl7.org/fhir/ValueSet/administrative-gender";
constexpr const char* gender_cs = "http://hl7.org/fhir/administrative-gender";

validate_result in_vs(std::string url, std::vector<coding> codings, const resolver& resolve = {}) {
  validate_request req;
  req.url = std::move(url);
  req.codings = std::move(codings);
  auto r = test::reg().validate_code_in_value_set(req, resolve);
  if (!r) FAIL("validate failed: " << r.error().code << ": " << r.error().message);
  return std::move(r).value();
}

validate_result in_cs(std::string url, std::vector<coding> codings) {
  validate_request req;
  req.url = std::move(url);
  req.codings = std::move(codings);
  auto r = test::reg().validate_code_in_code_system(req);
  if (!r) FAIL("validate failed: " << r.error().code << ": " << r.error().message);
  return std::move(r).value();
}

bool has_warning(const validate_result& r) {
  for (const auto& f : r.findings)
    if (f.severity == severity::warning) return true;
  return false;
}

}  // namespace

TEST_CASE("validate-code: a valid code, with the code system's display") {
  const auto r = in_vs(gender_vs, {{gender_cs, "", "female", ""}});
  CHECK(r.outcome == verdict::valid);
  CHECK(r.result());
  CHECK(r.display == "Female");
  CHECK(r.message().empty());
  REQUIRE(r.matched);
  CHECK(r.matched->system == gender_cs);
}

TEST_CASE("validate-code: an invalid code says why, naming the code and the value set") {
  const auto r = in_vs(gender_vs, {{gender_cs, "", "F", ""}});
  CHECK(r.outcome == verdict::invalid);
  CHECK_FALSE(r.result());
  CHECK(r.message().find("Unknown code 'F'") != std::string::npos);
  CHECK(r.message().find(gender_vs) != std::string::npos);
  // A code of another system is not in the value set either.
  const auto other = in_vs(gender_vs, {{"http://terminology.hl7.org/CodeSystem/v2-0001", "", "F", ""}});
  CHECK(other.outcome == verdict::invalid);
}

TEST_CASE("validate-code: a wrong display is a warning, the code stays valid") {
  auto r = in_vs(gender_vs, {{gender_cs, "", "male", "Masculine"}});
  CHECK(r.outcome == verdict::valid);
  CHECK(has_warning(r));
  CHECK(r.message().find("'Male'") != std::string::npos);
  CHECK(r.message().find("Masculine") == std::string::npos);  // the input is not quoted
  // Case and whitespace differences are not mismatches.
  r = in_vs(gender_vs, {{gender_cs, "", "male", "  MALE "}});
  CHECK(r.outcome == verdict::valid);
  CHECK(r.findings.empty());
}

TEST_CASE("validate-code: an unknown value set or code system cannot tell") {
  auto r = in_vs("http://example.org/ValueSet/unknown", {{gender_cs, "", "male", ""}});
  CHECK(r.outcome == verdict::cannot_tell);
  CHECK(r.reason == "not-found");
  CHECK_FALSE(r.result());
  CHECK(has_warning(r));

  // A value set over an unknown code system.
  const auto vs = test::json(R"({"resourceType":"ValueSet","url":"http://example.org/vs","status":"active",
    "compose":{"include":[{"system":"http://example.org/unknown-cs"}]}})");
  validate_request req;
  req.resource = &vs;
  req.codings = {{"http://example.org/unknown-cs", "", "x", ""}};
  auto v = test::reg().validate_code_in_value_set(req);
  REQUIRE(v);
  CHECK(v->outcome == verdict::cannot_tell);
  CHECK(v->reason == "not-found");

  // SNOMED CT: declared but not present.
  r = in_cs("http://snomed.info/sct", {{"http://snomed.info/sct", "", "22298006", ""}});
  CHECK(r.outcome == verdict::cannot_tell);
  CHECK(r.reason == "not-supported");
  r = in_cs("http://example.org/unknown-cs", {{"", "", "x", ""}});
  CHECK(r.outcome == verdict::cannot_tell);
}

TEST_CASE("validate-code: a CodeableConcept is valid when one coding is") {
  validate_request req;
  req.url = gender_vs;
  req.codeable_concept = true;
  req.codings = {{"http://terminology.hl7.org/CodeSystem/v2-0001", "", "F", ""}, {gender_cs, "", "female", ""}};
  auto r = test::reg().validate_code_in_value_set(req);
  REQUIRE(r);
  CHECK(r->outcome == verdict::valid);
  CHECK(r->display == "Female");

  req.codings = {{"http://terminology.hl7.org/CodeSystem/v2-0001", "", "F", ""}, {gender_cs, "", "woman", ""}};
  r = test::reg().validate_code_in_value_set(req);
  REQUIRE(r);
  CHECK(r->outcome == verdict::invalid);
  CHECK(r->message().find("None of the codings") != std::string::npos);
}

TEST_CASE("validate-code: case sensitivity follows CodeSystem.caseSensitive") {
  // administrative-gender is case-sensitive (R4 default and stated).
  CHECK(in_vs(gender_vs, {{gender_cs, "", "Male", ""}}).outcome == verdict::invalid);

  const auto cs = test::json(R"({"resourceType":"CodeSystem","url":"http://example.org/ci","status":"active",
    "content":"complete","caseSensitive":false,"concept":[{"code":"abc","display":"ABC"}]})");
  const auto vs = test::json(R"({"resourceType":"ValueSet","url":"http://example.org/ci-vs","status":"active",
    "compose":{"include":[{"system":"http://example.org/ci"}]}})");
  const resolver resolve = [&](std::string_view type, std::string_view url, std::string_view) -> std::optional<json_value> {
    if (type == "CodeSystem" && url == "http://example.org/ci") return cs;
    if (type == "ValueSet" && url == "http://example.org/ci-vs") return vs;
    return std::nullopt;
  };
  auto r = in_vs("http://example.org/ci-vs", {{"http://example.org/ci", "", "ABC", ""}}, resolve);
  CHECK(r.outcome == verdict::valid);
  CHECK(test::reg().check_membership("http://example.org/ci-vs", "http://example.org/ci", "aBc", resolve) ==
        verdict::valid);
  CHECK(test::reg().check_membership("http://example.org/ci-vs", "http://example.org/ci", "abd", resolve) ==
        verdict::invalid);
}

TEST_CASE("validate-code: abstract concepts need abstract=true; inactive ones warn") {
  const char* vs = "http://terminology.hl7.org/ValueSet/v3-ActCode";
  const char* cs = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
  validate_request req;
  req.url = vs;
  req.codings = {{cs, "", "_ActEncounterCode", ""}};
  auto r = test::reg().validate_code_in_value_set(req);
  REQUIRE(r);
  CHECK(r->outcome == verdict::invalid);
  CHECK(r->message().find("abstract") != std::string::npos);
  req.abstract_ok = true;
  r = test::reg().validate_code_in_value_set(req);
  REQUIRE(r);
  CHECK(r->outcome == verdict::valid);

  const auto su = in_vs("http://terminology.hl7.org/ValueSet/v3-AcknowledgementCondition",
                        {{"http://terminology.hl7.org/CodeSystem/v3-AcknowledgementCondition", "", "SU", ""}});
  CHECK(su.outcome == verdict::valid);
  CHECK(has_warning(su));
  CHECK(su.message().find("inactive") != std::string::npos);
}

TEST_CASE("validate-code: against a code system") {
  auto r = in_cs(gender_cs, {{"", "", "other", ""}});
  CHECK(r.outcome == verdict::valid);
  CHECK(r.display == "Other");
  r = in_cs(gender_cs, {{"", "", "nope", ""}});
  CHECK(r.outcome == verdict::invalid);
  CHECK(r.message().find("Unknown code 'nope'") != std::string::npos);
  r = in_cs(gender_cs, {{"http://example.org/other", "", "male", ""}});
  CHECK(r.outcome == verdict::invalid);
  r = in_cs(gender_cs, {{gender_cs, "", "male", "wrong"}});
  CHECK(r.outcome == verdict::valid);
  CHECK(has_warning(r));
}

TEST_CASE("validate-code: UCUM by its grammar") {
  const char* ucum = "http://unitsofmeasure.org";
  CHECK(in_vs("http://hl7.org/fhir/ValueSet/ucum-units", {{ucum, "", "mg/dL", ""}}).outcome == verdict::valid);
  CHECK(in_vs("http://hl7.org/fhir/ValueSet/ucum-units", {{ucum, "", "mg//", ""}}).outcome == verdict::invalid);
  CHECK(in_cs(ucum, {{"", "", "mm[Hg]", ""}}).outcome == verdict::valid);
  const auto bad = in_cs(ucum, {{"", "", "mg//", ""}});
  CHECK(bad.outcome == verdict::invalid);
  CHECK(bad.message().find("UCUM") != std::string::npos);
  CHECK(test::reg().check_code(ucum, "10*3/uL") == verdict::valid);
  CHECK(test::reg().check_code(ucum, "furlong") == verdict::invalid);
}

TEST_CASE("validate-code: MIME types (urn:ietf:bcp:13) by their syntax") {
  const char* vs = "http://hl7.org/fhir/ValueSet/mimetypes";
  const char* mime = "urn:ietf:bcp:13";
  for (const char* ok : {"application/fhir+json", "text/plain", "text/plain; charset=UTF-8", "image/svg+xml",
                         "application/vnd.ms-excel", "multipart/form-data; boundary=\"a b\""})
    CHECK_MESSAGE(in_vs(vs, {{mime, "", ok, ""}}).outcome == verdict::valid, ok);
  for (const char* bad : {"text", "text/", "/plain", "text/pl ain", "text/plain;", "text/plain; charset", "tëxt/plain"})
    CHECK_MESSAGE(in_vs(vs, {{mime, "", bad, ""}}).outcome == verdict::invalid, bad);
  CHECK(test::reg().check_membership(vs, mime, "application/pdf") == verdict::valid);
}

TEST_CASE("validate-code: language tags (urn:ietf:bcp:47) by RFC 5646 syntax") {
  const char* vs = "http://hl7.org/fhir/ValueSet/all-languages";
  const char* bcp47 = "urn:ietf:bcp:47";
  for (const char* ok : {"en", "en-US", "de-CH", "zh-Hant-TW", "sr-Latn-RS", "es-419", "sl-rozaj-biske", "x-whatever",
                         "en-US-x-twain", "i-klingon", "de-DE-u-co-phonebk", "zh-yue-HK"})
    CHECK_MESSAGE(in_vs(vs, {{bcp47, "", ok, ""}}).outcome == verdict::valid, ok);
  for (const char* bad : {"", "e", "englishlanguage", "en_US", "en-", "-en", "en--US", "1en", "en-a", "en-x"})
    CHECK_MESSAGE(in_vs(vs, {{bcp47, "", bad, ""}}).outcome == verdict::invalid, bad);
  // The preferred `languages` value set lists codes: only those are in it.
  CHECK(in_vs("http://hl7.org/fhir/ValueSet/languages", {{bcp47, "", "en-US", ""}}).outcome == verdict::valid);
  CHECK(in_vs("http://hl7.org/fhir/ValueSet/languages", {{bcp47, "", "sl-rozaj", ""}}).outcome == verdict::invalid);
}

TEST_CASE("validate-code: a request without a code is an error") {
  validate_request req;
  req.url = gender_vs;
  auto r = test::reg().validate_code_in_value_set(req);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "invalid");
}

TEST_CASE("check_membership: cached for registry value sets, three-way") {
  const auto& reg = test::reg();
  for (int i = 0; i < 2; ++i) {  // the second round hits the cache
    CHECK(reg.check_membership(gender_vs, gender_cs, "male") == verdict::valid);
    CHECK(reg.check_membership(gender_vs, gender_cs, "M") == verdict::invalid);
    CHECK(reg.check_membership(gender_vs, "", "other") == verdict::valid);
    CHECK(reg.check_membership("http://terminology.hl7.org/ValueSet/v3-ActEncounterCode",
                               "http://terminology.hl7.org/CodeSystem/v3-ActCode", "ACUTE") == verdict::valid);
    CHECK(reg.check_membership("http://terminology.hl7.org/ValueSet/v3-ActEncounterCode",
                               "http://terminology.hl7.org/CodeSystem/v3-ActCode", "_ActEncounterCode") ==
          verdict::invalid);
    CHECK(reg.check_membership("http://example.org/none", gender_cs, "male") == verdict::cannot_tell);
    // A value set over SNOMED CT by filter: cannot tell.
    CHECK(reg.check_membership("http://hl7.org/fhir/ValueSet/example-intensional", "http://loinc.org", "2093-3") ==
          verdict::cannot_tell);
  }
}

TEST_CASE("check_membership: safe from many threads at once") {
  // What this checks is the absence of data races on the shared cache (run
  // under the sanitizer build) and that every thread gets the same answers.
  const auto& reg = test::reg();
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (reg.check_membership("http://terminology.hl7.org/ValueSet/v2-0203",
                                 "http://terminology.hl7.org/CodeSystem/v2-0203", "DL") != verdict::valid)
          ++wrong;
        if (reg.check_membership("http://hl7.org/fhir/ValueSet/observation-status",
                                 "http://hl7.org/fhir/observation-status", "corrected") != verdict::valid)
          ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
}

TEST_CASE("validate-code: another code system version is checked against the one held, with a warning") {
  auto r = in_vs(gender_vs, {{gender_cs, "3.0.0", "male", ""}});
  CHECK(r.outcome == verdict::valid);
  CHECK(has_warning(r));
  CHECK(r.message().find("'3.0.0'") != std::string::npos);
  r = in_vs(gender_vs, {{gender_cs, "4.0.1", "male", ""}});
  CHECK(r.findings.empty());
}

TEST_CASE("validate-code: valueSetVersion reaches the resolver") {
  std::string seen;
  const auto vs = test::json(R"({"resourceType":"ValueSet","url":"http://example.org/v","version":"2","status":"active",
    "compose":{"include":[{"system":"http://hl7.org/fhir/administrative-gender"}]}})");
  const resolver resolve = [&](std::string_view, std::string_view url, std::string_view version) -> std::optional<json_value> {
    seen = std::string(url) + "|" + std::string(version);
    return vs;
  };
  validate_request req;
  req.url = "http://example.org/v";
  req.value_set_version = "2";
  req.codings = {{gender_cs, "", "female", ""}};
  auto r = test::reg().validate_code_in_value_set(req, resolve);
  REQUIRE(r);
  CHECK(r->outcome == verdict::valid);
  CHECK(seen == "http://example.org/v|2");
}

TEST_CASE("check_membership: codings of a CodeableConcept") {
  const auto& reg = test::reg();
  const std::vector<coding> one_good{{"http://x", "", "1", ""}, {gender_cs, "", "male", ""}};
  CHECK(reg.check_membership(gender_vs, one_good) == verdict::valid);
  const std::vector<coding> none_good{{gender_cs, "", "M", ""}};
  CHECK(reg.check_membership(gender_vs, none_good) == verdict::invalid);
  CHECK(reg.check_membership(gender_vs, std::vector<coding>{}) == verdict::invalid);
  CHECK(reg.check_membership("http://example.org/none", none_good) == verdict::cannot_tell);
}

TEST_CASE("validate-code: a code system URL given as value set means all its codes") {
  CHECK(in_vs(gender_cs, {{gender_cs, "", "male", ""}}).outcome == verdict::valid);
  CHECK(in_vs(gender_cs, {{gender_cs, "", "M", ""}}).outcome == verdict::invalid);
  CHECK(in_vs("urn:ietf:bcp:47", {{"urn:ietf:bcp:47", "", "fr-CA", ""}}).outcome == verdict::valid);
  expand_request req;
  req.url = gender_cs;
  auto r = test::reg().expand(req);
  REQUIRE(r);
  CHECK(test::expansion_total(*r) == 4);
}

TEST_CASE("validate-code: language tags and MIME types compare case-insensitively") {
  // `languages` lists "en-US"; RFC 5646 tags are case-insensitive.
  CHECK(in_vs("http://hl7.org/fhir/ValueSet/languages", {{"urn:ietf:bcp:47", "", "en-us", ""}}).outcome ==
        verdict::valid);
  CHECK(test::reg().check_membership("http://hl7.org/fhir/ValueSet/languages", "urn:ietf:bcp:47", "EN-US") ==
        verdict::valid);
  CHECK(in_vs("http://hl7.org/fhir/ValueSet/mimetypes", {{"urn:ietf:bcp:13", "", "Text/HTML", ""}}).outcome ==
        verdict::valid);
}
