#include <hearth/hl7v2/message.hpp>

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/hl7v2/parser.hpp>

using namespace hearth::hl7v2;

namespace {
message sample() {
  auto m = parse(
      "MSH|^~\\&|LAB|H|||20240101||ORU^R01^ORU_R01|C1|P|2.5.1\r"
      "PID|1||7^^^H^MR\r"
      "OBX|1|NM|GLU||5.4|mmol/L\r"
      "OBX|2|ST|NOTE||a\\T\\b\r"
      "ZPI|custom|x^y\r");
  REQUIRE(m);
  return std::move(m).value();
}
}  // namespace

TEST_CASE("message: iteration, find and occurrence") {
  const message m = sample();
  std::vector<std::string> ids;
  for (const segment_view s : m) ids.emplace_back(s.id());
  CHECK(ids == std::vector<std::string>{"MSH", "PID", "OBX", "OBX", "ZPI"});
  CHECK(m.find("OBX", 2)->field(5).text() == "a&b");
  CHECK_FALSE(m.find("OBX", 3));
  CHECK_FALSE(m.find("NK1"));
  CHECK(m.segment(5).id() == "ZPI");
  CHECK(m.segment(2).raw() == "PID|1||7^^^H^MR");
  CHECK(m.segment(2).terminator() == "\r");
}

TEST_CASE("message: get() by path, decoded text()") {
  const message m = sample();
  CHECK(m.text("OBX[2]-5") == "a&b");
  CHECK(m.get(*path::parse("OBX[2]-5")).raw() == "a\\T\\b");
  CHECK(m.text("OBX-6") == "mmol/L");
  CHECK(m.text("PID-3.5") == "MR");
  CHECK(m.text("ZPI-2.2") == "y");
  CHECK(m.text("MSH-2") == "^~\\&");      // literal
  CHECK(m.text("NK1-2") == "");           // no such segment
  CHECK(m.text("not a path") == "");
  CHECK(m.message_code() == "ORU");
  CHECK(m.trigger_event() == "R01");
  CHECK(m.control_id() == "C1");
  CHECK(m.version() == "2.5.1");
  CHECK(m.character_set() == charset::utf8);
}

TEST_CASE("message: copies share one immutable buffer") {
  const message a = sample();
  const message b = a;
  CHECK(a.raw().data() == b.raw().data());
  CHECK(&a.delimiters() == &b.delimiters());
}

TEST_CASE("path: terse notation") {
  auto p = path::parse("OBX[2]-5(3).1.2");
  REQUIRE(p);
  CHECK(p->segment == "OBX");
  CHECK(p->occurrence == 2);
  CHECK(p->field == 5);
  CHECK(p->repetition == 3);
  CHECK(p->component == 1);
  CHECK(p->subcomponent == 2);
  CHECK_FALSE(path::parse("PID"));
  CHECK_FALSE(path::parse("PID-0"));
  CHECK_FALSE(path::parse("PID-5.x"));
  CHECK_FALSE(path::parse("pid-5"));
  CHECK_FALSE(path::parse("PID-5 "));
  CHECK_FALSE(path::parse("PID-9999999"));
}
