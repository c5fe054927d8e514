#include <hearth/terminology/registry.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "terminology/test_support.hpp"

// Resources from clients are untrusted: cycles, deep nesting, huge patterns
// and huge expansions must end in a clear error, quickly, without a crash.

using namespace hearth::terminology;
using hearth::fhir::json_value;

namespace {

json_value value_set_including(std::string_view url, std::string_view included) {
  return test::json(R"({"resourceType":"ValueSet","status":"active","url":")" + std::string(url) +
                    R"(","compose":{"include":[{"valueSet":[")" + std::string(included) + R"("]}]}})");
}

/// An inline code system with `n` flat concepts c0..c(n-1).
json_value big_code_system(std::size_t n) {
  json_value cs = json_value::object();
  cs.set("resourceType", "CodeSystem");
  cs.set("url", "http://example.org/big");
  cs.set("status", "active");
  cs.set("content", "complete");
  json_value concepts = json_value::array();
  concepts.items().reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    json_value c = json_value::object();
    c.set("code", "c" + std::to_string(i));
    concepts.push_back(std::move(c));
  }
  cs.set("concept", std::move(concepts));
  return cs;
}

}  // namespace

TEST_CASE("hostile: a value set that includes itself is an error, not a hang") {
  const auto vs = value_set_including("http://example.org/loop", "http://example.org/loop");
  auto r = test::reg().expand(vs, expand_request{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "invalid");
  CHECK(r.error().message.find("http://example.org/loop") != std::string::npos);

  validate_request req;
  req.resource = &vs;
  req.codings = {{"http://hl7.org/fhir/administrative-gender", "", "male", ""}};
  auto v = test::reg().validate_code_in_value_set(req);
  REQUIRE_FALSE(v);
  CHECK(v.error().code == "invalid");

  // A two-step cycle through the resolver.
  const auto a = value_set_including("http://example.org/a", "http://example.org/b");
  const auto b = value_set_including("http://example.org/b", "http://example.org/a");
  const resolver resolve = [&](std::string_view type, std::string_view url, std::string_view) -> std::optional<json_value> {
    if (type != "ValueSet") return std::nullopt;
    if (url == "http://example.org/a") return a;
    if (url == "http://example.org/b") return b;
    return std::nullopt;
  };
  expand_request e;
  e.url = "http://example.org/a";
  r = test::reg().expand(e, resolve);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "invalid");
  CHECK(test::reg().check_membership("http://example.org/a", "http://x", "y", resolve) == verdict::cannot_tell);
}

TEST_CASE("hostile: value sets nested beyond the limit") {
  // vs0 includes vs1 includes ... vs99: deeper than max_value_set_depth.
  const resolver resolve = [](std::string_view type, std::string_view url, std::string_view) -> std::optional<json_value> {
    constexpr std::string_view prefix = "http://example.org/deep/";
    if (type != "ValueSet" || !url.starts_with(prefix)) return std::nullopt;
    const int n = std::stoi(std::string(url.substr(prefix.size())));
    return value_set_including(url, std::string(prefix) + std::to_string(n + 1));
  };
  expand_request e;
  e.url = "http://example.org/deep/0";
  auto r = test::reg().expand(e, resolve);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "too-costly");
  CHECK(test::reg().check_membership("http://example.org/deep/0", "http://x", "y", resolve) == verdict::cannot_tell);
}

TEST_CASE("hostile: concepts nested deeper than the compiler follows") {
  // Built directly (parse_json would refuse 128+ levels already).
  json_value concept_list = json_value::array();
  for (int i = 0; i < 300; ++i) {
    json_value c = json_value::object();
    c.set("code", "n" + std::to_string(i));
    if (!concept_list.items().empty()) c.set("concept", std::move(concept_list));
    concept_list = json_value::array();
    concept_list.push_back(std::move(c));
  }
  json_value cs = json_value::object();
  cs.set("resourceType", "CodeSystem");
  cs.set("url", "http://example.org/deep-cs");
  cs.set("content", "complete");
  cs.set("concept", std::move(concept_list));
  lookup_request req;
  req.input = {"http://example.org/deep-cs", "", "n0", ""};
  req.code_system = &cs;
  auto r = test::reg().lookup(req);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "too-costly");
}

TEST_CASE("hostile: regex filters that are huge, too complex or malformed") {
  const auto with_regex = [](std::string pattern) {
    json_value f = json_value::object();
    f.set("property", "code");
    f.set("op", "regex");
    f.set("value", std::move(pattern));
    json_value filters = json_value::array();
    filters.push_back(std::move(f));
    json_value inc = json_value::object();
    inc.set("system", "http://terminology.hl7.org/CodeSystem/v3-ActCode");
    inc.set("filter", std::move(filters));
    json_value includes = json_value::array();
    includes.push_back(std::move(inc));
    json_value compose = json_value::object();
    compose.set("include", std::move(includes));
    json_value vs = json_value::object();
    vs.set("resourceType", "ValueSet");
    vs.set("status", "active");
    vs.set("compose", std::move(compose));
    return vs;
  };
  auto r = test::reg().expand(with_regex(std::string(100'000, 'a')), expand_request{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "too-costly");
  r = test::reg().expand(with_regex("((((a{100}){100}){100}){100})"), expand_request{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "too-costly");
  r = test::reg().expand(with_regex("(unclosed"), expand_request{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "invalid");
  // A pattern that backtracking engines take exponential time on: RE2 is
  // linear, so this returns (a hang would be the test's timeout, not a
  // timed assertion: performance is for bench/).
  r = test::reg().expand(with_regex("(a*)*b"), expand_request{});
  REQUIRE(r);
}

TEST_CASE("hostile: an expansion beyond the limit needs paging") {
  const auto cs = big_code_system(max_expansion_codes + 500);
  const auto vs = test::json(R"({"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":"http://example.org/big"}]}})");
  const resolver resolve = [&](std::string_view type, std::string_view url, std::string_view) -> std::optional<json_value> {
    if (type == "CodeSystem" && url == "http://example.org/big") return cs;
    return std::nullopt;
  };
  auto r = test::reg().expand(vs, expand_request{}, resolve);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "too-costly");
  expand_request paged;
  paged.offset = max_expansion_codes;
  paged.count = 3;
  r = test::reg().expand(vs, paged, resolve);
  REQUIRE(r);
  CHECK(test::expansion_total(*r) == static_cast<long>(max_expansion_codes + 500));
  CHECK(test::expansion_codes(*r) == std::vector<std::string>{"c10000", "c10001", "c10002"});
  // Validation of one code never enumerates.
  validate_request v;
  v.resource = &vs;
  v.codings = {{"http://example.org/big", "", "c10499", ""}};
  auto ok = test::reg().validate_code_in_value_set(v, resolve);
  REQUIRE(ok);
  CHECK(ok->outcome == verdict::valid);
}

TEST_CASE("hostile: a hierarchy with a cycle still expands and nests finitely") {
  const auto cs = test::json(R"({"resourceType":"CodeSystem","url":"http://example.org/cyc","status":"active",
    "content":"complete","concept":[
      {"code":"a","property":[{"code":"parent","valueCode":"b"}]},
      {"code":"b","property":[{"code":"parent","valueCode":"a"}]},
      {"code":"c","property":[{"code":"parent","valueCode":"a"}]}]})");
  const auto vs = test::json(R"({"resourceType":"ValueSet","status":"active","compose":{"include":[
    {"system":"http://example.org/cyc","filter":[{"property":"concept","op":"is-a","value":"a"}]}]}})");
  const resolver resolve = [&](std::string_view type, std::string_view url, std::string_view) -> std::optional<json_value> {
    if (type == "CodeSystem" && url == "http://example.org/cyc") return cs;
    return std::nullopt;
  };
  expand_request req;
  req.exclude_nested = false;
  auto r = test::reg().expand(vs, req, resolve);
  REQUIRE(r);
  CHECK(test::expansion_total(*r) == 3);
  auto codes = test::expansion_codes(*r);
  std::sort(codes.begin(), codes.end());
  CHECK(codes == std::vector<std::string>{"a", "b", "c"});  // each once, despite the cycle

  subsumes_request s;
  s.code_system = &cs;
  s.a = {"", "", "a", ""};
  s.b = {"", "", "b", ""};
  auto sub = test::reg().subsumes(s);
  REQUIRE(sub);
  CHECK(*sub == subsumption::subsumes);  // each is an ancestor of the other; a is asked first
}

TEST_CASE("hostile: concept maps whose unmapped other-map chain loops") {
  const auto a = test::json(R"({"resourceType":"ConceptMap","url":"http://example.org/cm-a","status":"active",
    "group":[{"source":"http://s","target":"http://t","element":[{"code":"x","target":[{"code":"y","equivalence":"equal"}]}],
    "unmapped":{"mode":"other-map","url":"http://example.org/cm-b"}}]})");
  const auto b = test::json(R"({"resourceType":"ConceptMap","url":"http://example.org/cm-b","status":"active",
    "group":[{"source":"http://s","target":"http://t",
    "unmapped":{"mode":"other-map","url":"http://example.org/cm-a"}}]})");
  const resolver resolve = [&](std::string_view type, std::string_view url, std::string_view) -> std::optional<json_value> {
    if (type == "ConceptMap" && url == "http://example.org/cm-a") return a;
    if (type == "ConceptMap" && url == "http://example.org/cm-b") return b;
    return std::nullopt;
  };
  translate_request req;
  req.url = "http://example.org/cm-a";
  req.codings = {{"http://s", "", "nothing", ""}};
  auto r = test::reg().translate(req, resolve);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "too-costly");
  req.codings = {{"http://s", "", "x", ""}};
  r = test::reg().translate(req, resolve);
  REQUIRE(r);
  CHECK(r->result);
}

TEST_CASE("hostile: resources of the wrong type are refused") {
  const auto patient = test::json(R"({"resourceType":"Patient","id":"p"})");
  auto r = test::reg().expand(patient, expand_request{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "invalid");
  validate_request v;
  v.resource = &patient;
  v.codings = {{"http://x", "", "y", ""}};
  auto vr = test::reg().validate_code_in_code_system(v);
  REQUIRE_FALSE(vr);
  CHECK(vr.error().code == "invalid");
  // A resolver answering with the wrong type is an error too.
  const resolver wrong = [&](std::string_view, std::string_view, std::string_view) -> std::optional<json_value> {
    return patient;
  };
  expand_request e;
  e.url = "http://example.org/anything";
  r = test::reg().expand(e, wrong);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "invalid");
}
