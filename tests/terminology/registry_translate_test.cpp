#include <hearth/terminology/registry.hpp>

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "terminology/test_support.hpp"

// $translate, hand-checked against conceptmaps.json:
// cm-administrative-gender-v2 maps male -> M (equal), female -> F (equal),
// other -> A and O (wider), unknown -> U (equal);
// ConceptMap/101 (address-use -> v3 AddressUse) has unmapped mode fixed, code "temp".

using namespace hearth::terminology;

namespace {

constexpr const char* gender_map = "http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2";
constexpr const char* gender_cs = "http://hl7.org/fhir/administrative-gender";
constexpr const char* v2_0001 = "http://terminology.hl7.org/CodeSystem/v2-0001";

translate_result translate_ok(const translate_request& req) {
  auto r = test::reg().translate(req);
  if (!r) FAIL("translate failed: " << r.error().code << ": " << r.error().message);
  return std::move(r).value();
}

}  // namespace

TEST_CASE("translate: by concept map URL") {
  translate_request req;
  req.url = gender_map;
  req.codings = {{gender_cs, "", "male", ""}};
  auto r = translate_ok(req);
  CHECK(r.result);
  REQUIRE(r.matches.size() == 1);
  CHECK(r.matches[0].equivalence == "equal");
  CHECK(r.matches[0].mapped == coding{v2_0001, "", "M", ""});
  CHECK(r.matches[0].source == gender_map);

  req.codings = {{gender_cs, "", "other", ""}};
  r = translate_ok(req);
  REQUIRE(r.matches.size() == 2);
  CHECK(r.matches[0].equivalence == "wider");
  CHECK(r.matches[0].mapped.code == "A");
  CHECK(r.matches[1].mapped.code == "O");
}

TEST_CASE("translate: reverse, and by source/target value sets") {
  translate_request req;
  req.url = gender_map;
  req.reverse = true;
  req.codings = {{v2_0001, "", "F", ""}};
  auto r = translate_ok(req);
  REQUIRE(r.matches.size() == 1);
  CHECK(r.matches[0].mapped == coding{gender_cs, "", "female", ""});
  CHECK(r.matches[0].equivalence == "equal");
  // wider reversed is narrower.
  req.codings = {{v2_0001, "", "A", ""}};
  r = translate_ok(req);
  REQUIRE(r.matches.size() == 1);
  CHECK(r.matches[0].mapped.code == "other");
  CHECK(r.matches[0].equivalence == "narrower");

  translate_request by_vs;
  by_vs.source = "http://hl7.org/fhir/ValueSet/administrative-gender";
  by_vs.target = "http://terminology.hl7.org/ValueSet/v3-AdministrativeGender";
  by_vs.codings = {{gender_cs, "", "female", ""}};
  r = translate_ok(by_vs);
  REQUIRE(r.matches.size() == 1);
  CHECK(r.matches[0].source == "http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v3");
  CHECK(r.matches[0].mapped.system == "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender");
  CHECK(r.matches[0].mapped.code == "F");

  // No url nor value sets: every map from the system (v2 and v3 gender maps).
  translate_request any;
  any.codings = {{gender_cs, "", "male", ""}};
  r = translate_ok(any);
  CHECK(r.matches.size() == 2);
  any.target_system = v2_0001;
  r = translate_ok(any);
  REQUIRE(r.matches.size() == 1);
  CHECK(r.matches[0].mapped.code == "M");
}

TEST_CASE("translate: unmapped (fixed), disjoint, and no match") {
  translate_request req;
  req.url = "http://hl7.org/fhir/ConceptMap/101";
  req.codings = {{"http://hl7.org/fhir/address-use", "", "billing", ""}};
  auto r = translate_ok(req);
  REQUIRE(r.matches.size() == 1);
  CHECK(r.matches[0].mapped.code == "temp");
  CHECK(r.matches[0].equivalence == "inexact");

  req.codings = {{"http://hl7.org/fhir/address-use", "", "old", ""}};
  r = translate_ok(req);
  REQUIRE(r.matches.size() == 1);
  CHECK(r.matches[0].equivalence == "disjoint");
  CHECK_FALSE(r.result);

  req.url = gender_map;
  req.codings = {{gender_cs, "", "nonsense", ""}};
  r = translate_ok(req);
  CHECK_FALSE(r.result);
  CHECK(r.matches.empty());
  CHECK(r.message.find("nonsense") != std::string::npos);
}

TEST_CASE("translate: an inline concept map and errors") {
  const auto cm = test::json(R"({"resourceType":"ConceptMap","url":"http://example.org/cm","status":"active",
    "group":[{"source":"http://example.org/a","target":"http://example.org/b",
    "element":[{"code":"1","target":[{"code":"one","equivalence":"equivalent"}]}],
    "unmapped":{"mode":"provided"}}]})");
  translate_request req;
  req.concept_map = &cm;
  req.codings = {{"http://example.org/a", "", "1", ""}};
  auto r = translate_ok(req);
  REQUIRE(r.matches.size() == 1);
  CHECK(r.matches[0].mapped == coding{"http://example.org/b", "", "one", ""});
  req.codings = {{"http://example.org/a", "", "2", ""}};
  r = translate_ok(req);
  REQUIRE(r.matches.size() == 1);
  CHECK(r.matches[0].mapped.code == "2");  // unmapped: provided
  CHECK(r.matches[0].equivalence == "equal");

  translate_request unknown;
  unknown.url = "http://example.org/no-such-map";
  unknown.codings = {{"http://example.org/a", "", "1", ""}};
  auto e = test::reg().translate(unknown);
  REQUIRE_FALSE(e);
  CHECK(e.error().code == "not-found");
  translate_request empty;
  empty.url = gender_map;
  e = test::reg().translate(empty);
  REQUIRE_FALSE(e);
  CHECK(e.error().code == "invalid");
}
