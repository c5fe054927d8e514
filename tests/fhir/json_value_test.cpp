#include <hearth/fhir/json_value.hpp>

#include <doctest/doctest.h>

#include <hearth/fhir/json_writer.hpp>

using namespace hearth::fhir;

TEST_CASE("json_value: building, setting, erasing") {
  json_value p = json_value::object();
  p.set("resourceType", "Patient");
  p.set("id", "1");
  json_value& meta = p.set("meta", json_value::object());
  meta.set("versionId", "1");
  p.set("id", "2");  // replaced in place: order kept
  CHECK(to_json(p) == R"({"resourceType":"Patient","id":"2","meta":{"versionId":"1"}})");
  CHECK(p.erase("meta"));
  CHECK_FALSE(p.erase("meta"));
  json_value names = json_value::array();
  names.push_back("a");
  names.push_back(json_value::number("1.0"));
  names.push_back(true);
  names.push_back(nullptr);
  p.set("x", std::move(names));
  CHECK(to_json(p) == R"({"resourceType":"Patient","id":"2","x":["a",1.0,true,null]})");
  CHECK(p.size() == 3);
  CHECK(json_value("s").size() == 0);
  CHECK(json_value().find("a") == nullptr);
}

TEST_CASE("json_value: equality is exact") {
  CHECK(json_value::number("1.5") == json_value::number("1.5"));
  CHECK_FALSE(json_value::number("1.5") == json_value::number("1.50"));
  CHECK_FALSE(json_value("1") == json_value::number("1"));
  json_value a = json_value::object(), b = json_value::object();
  a.set("x", 1 == 1);
  a.set("y", "z");
  b.set("y", "z");
  b.set("x", true);
  CHECK_FALSE(a == b);  // member order is part of the value
}
