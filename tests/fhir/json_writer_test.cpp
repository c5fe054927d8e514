#include <hearth/fhir/json_writer.hpp>

#include <doctest/doctest.h>

using namespace hearth::fhir;

TEST_CASE("json_writer: escaping and pretty output") {
  json_value v = json_value::object();
  v.set("s", std::string("a\"b\\c\nd\x01\xC3\xA9", 10));
  v.set("n", json_value::number("-0.10"));
  json_value arr = json_value::array();
  arr.push_back(1 == 1);
  arr.push_back(nullptr);
  v.set("a", std::move(arr));
  CHECK(to_json(v) == "{\"s\":\"a\\\"b\\\\c\\nd\\u0001\xC3\xA9\",\"n\":-0.10,\"a\":[true,null]}");
  CHECK(to_json(v, {.pretty = true}) ==
        "{\n  \"s\": \"a\\\"b\\\\c\\nd\\u0001\xC3\xA9\",\n  \"n\": -0.10,\n  \"a\": [\n    true,\n    null\n  ]\n}");
  CHECK(to_json(json_value::object(), {.pretty = true}) == "{}");
}
