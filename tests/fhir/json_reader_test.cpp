#include <hearth/fhir/json_reader.hpp>

#include <string>

#include <doctest/doctest.h>

#include <hearth/fhir/json_writer.hpp>

using namespace hearth::fhir;

namespace {
json_value must(std::string_view text, const json_read_options& o = {}) {
  auto r = parse_json(text, o);
  if (!r) FAIL("parse failed: " << r.error().message << " at " << r.error().location);
  return std::move(r).value();
}
hearth::error fails(std::string_view text, const json_read_options& o = {}) {
  auto r = parse_json(text, o);
  REQUIRE_FALSE(r);
  return r.error();
}
}  // namespace

TEST_CASE("json: a resource, members in order, numbers exact") {
  const json_value p = must(R"({"resourceType":"Patient","id":"p1","active":true,
    "name":[{"family":"Chalmers","given":["Peter","James"]}],
    "multipleBirthInteger":3,"extension":[{"url":"u","valueDecimal":1.50}]})");
  REQUIRE(p.is_object());
  CHECK(p.members()[0].key == "resourceType");
  CHECK(p.members()[1].key == "id");
  CHECK(p.find("resourceType")->str() == "Patient");
  CHECK(p.find("active")->as_bool());
  CHECK(p.find("name")->items()[0].find("given")->items()[1].str() == "James");
  CHECK(p.find("multipleBirthInteger")->number_text() == "3");
  // FHIR decimal precision is significant: 1.50 stays 1.50 (R4 datatypes.html#decimal).
  CHECK(p.find("extension")->items()[0].find("valueDecimal")->number_text() == "1.50");
  CHECK(p.find("missing") == nullptr);
}

TEST_CASE("json: numbers keep their text, however large or small") {
  const json_value v = must(R"({"a":[12345678901234567890123,-0.000000000000000000001,1e3,1E-7,0,-0]})");
  const auto& a = v.find("a")->items();
  CHECK(a[0].number_text() == "12345678901234567890123");
  CHECK(a[1].number_text() == "-0.000000000000000000001");
  CHECK(a[2].number_text() == "1e3");  // valid JSON; FHIR integer rules come with the definitions
  CHECK(a[3].number_text() == "1E-7");
  CHECK(a[5].number_text() == "-0");
}

TEST_CASE("json: round trip through the writer is exact") {
  for (const std::string text : {
           R"({"resourceType":"Observation","valueQuantity":{"value":72.50,"unit":"kg"},"x":[true,false,null,"s"]})",
           R"({"a":"quote \" backslash \\ newline \n tab \t control \u0001 unicode é ☃ 😀"})",
           R"(["only",1,2.0])"}) {
    const json_value v = must(text);
    CHECK(parse_json(to_json(v)).value() == v);
  }
  // Compact output of compact input is byte-identical (no whitespace, members in order).
  const std::string compact = R"({"resourceType":"Patient","birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"x","valueInteger":1}]}})";
  CHECK(to_json(must(compact)) == compact);
}

TEST_CASE("json: escapes decode to UTF-8") {
  const json_value v = must(R"({"s":"\u00e9\ud83d\ude00\/"})");
  CHECK(v.find("s")->str() == "\xC3\xA9\xF0\x9F\x98\x80/");
}

TEST_CASE("json: FHIR rules — empty values and misplaced nulls are errors (R4 json.html)") {
  CHECK(fails(R"({"a":{}})").location == "$.a");
  CHECK(fails(R"({"a":[]})").code == "invalid");
  CHECK(fails(R"({"a":""})").location == "$.a");
  CHECK(fails(R"({"a":null})").code == "invalid");
  CHECK(fails(R"({"":1})").code == "invalid");
  CHECK(fails("null").code == "invalid");
  // null inside an array lines primitive values up with their extensions.
  const json_value v = must(R"({"given":["Jim",null],"_given":[null,{"id":"x"}]})");
  CHECK(v.find("given")->items()[1].is_null());
  // Plain JSON allows all of it.
  json_read_options plain;
  plain.fhir_rules = false;
  CHECK(must(R"({"a":{},"b":[],"c":"","d":null})", plain).size() == 4);
}

TEST_CASE("json: duplicate keys are errors, in small and large objects") {
  const hearth::error e = fails(R"({"resourceType":"Patient","name":[{"family":"a","family":"b"}]})");
  CHECK(e.code == "structure");
  CHECK(e.location == "$.name[0].family");
  CHECK(e.offset > 40);
  std::string big = "{";
  for (int i = 0; i < 100; ++i) big += "\"k" + std::to_string(i) + "\":1,";
  CHECK(must(big.substr(0, big.size() - 1) + "}").size() == 100);
  CHECK(fails(big + "\"k57\":2}").location == "$.k57");
}

TEST_CASE("json: malformed input gives a position") {
  const hearth::error e = fails(R"({"a":[1,2,}])");
  CHECK(e.code == "structure");
  CHECK(e.location == "$.a[2]");
  CHECK(e.offset == 10);
  CHECK(fails("").code == "structure");
  CHECK(fails("{").code == "structure");
  CHECK(fails(R"({"a":1} x)").code == "structure");        // trailing content
  CHECK(fails(R"({"a":NaN})").code == "structure");
  CHECK(fails(R"({"a":01})").code == "structure");         // leading zero
  CHECK(fails(R"({"a":1.})").code == "structure");
  CHECK(fails(R"({"a":'x'})").code == "structure");
  CHECK(fails("{\"a\":\"tab\tinside\"}").code == "structure");  // unescaped control character
  CHECK(fails(R"({"a":"\ud800"})").code == "structure");    // lone high surrogate
  // Lone low surrogate: RapidJSON lets it through; found by the fuzzer.
  CHECK(fails(R"({"a":"\uaadc\udcae"})").code == "structure");
  CHECK(fails(R"({"\udcae":1})").code == "structure");
  CHECK(fails(R"(["\udfff"])").code == "structure");
  CHECK(fails("{\"a\":1 /* comment */}").code == "structure");
  CHECK(fails(std::string("{\"a\":1}\0", 8)).offset == 7);    // NUL after the document
  CHECK(fails(std::string("{\"a\":\0}", 7)).code == "structure");
}

TEST_CASE("json: invalid UTF-8 is an error") {
  CHECK(fails("{\"a\":\"M\xFCller\"}").code == "structure");
  CHECK(fails("{\"a\":\"\xC0\xAF\"}").code == "structure");  // overlong
  CHECK(fails("\xEF\xBB\xBF{\"a\":1}").code == "structure");  // a BOM is not JSON
}

TEST_CASE("json: limits") {
  json_read_options o;
  o.max_depth = 4;
  CHECK(must(R"({"a":{"b":{"c":[1]}}})", o).is_object());
  const hearth::error deep = fails(R"({"a":{"b":{"c":[[1]]}}})", o);
  CHECK(deep.code == "too-costly");
  CHECK(deep.location == "$.a.b.c[0]");
  // Far deeper than any limit: an error, not a stack overflow.
  CHECK(fails(std::string(1'000'000, '[')).code == "too-costly");
  o = {};
  o.max_items = 3;
  CHECK(must("[1,2,3]", o).size() == 3);
  CHECK(fails("[1,2,3,4]", o).location == "$[3]");
  o = {};
  o.max_string_bytes = 4;
  CHECK(fails(R"({"a":"12345"})", o).code == "too-costly");
  o = {};
  o.max_bytes = 8;
  CHECK(fails(R"({"a":"12345"})", o).code == "too-costly");
}

TEST_CASE("json: every prefix of a document fails cleanly") {
  const std::string doc = R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"1"}}],"total":1})";
  for (std::size_t n = 0; n < doc.size(); ++n) CHECK_FALSE(parse_json(doc.substr(0, n)));
  CHECK(parse_json(doc));
}
