#include <hearth/hl7v2/writer.hpp>

#include <doctest/doctest.h>

#include <hearth/hl7v2/parser.hpp>

using namespace hearth::hl7v2;

TEST_CASE("writer: a parsed message writes back byte-identical") {
  const std::string s =
      "MSH|^~\\&|LAB|HOSP|||20240101120000+0100||ORU^R01^ORU_R01|42|P|2.5.1|||AL|NE\r"
      "PID|1||1^^^H^MR||Doe^J\\S\\ane~Roe||||||||||||||||||||||||\r"
      "OBX|1|NM|1234-5^Glucose^LN||5.4|mmol/L|3.9-6.1|N|||F\r"
      "NTE|1||line\\.br\\two \\H\\x\\N\\ \\Zfoo\\\r\n";
  auto m = parse(s);
  REQUIRE(m);
  CHECK(write(*m) == s);
}

TEST_CASE("builder: segments from values, escaped") {
  message_builder b;
  b.add("MSH").set(3, "HEARTH").set(9, 1, "ACK").set(9, 2, "A01").set(10, "1").set(12, "2.5.1");
  b.add("NTE").set(3, "a|b^c").set(4, 2, 1, 2, "x&y");
  const std::string out = b.str();
  CHECK(out == "MSH|^~\\&|HEARTH||||||ACK^A01|1||2.5.1\rNTE|||a\\F\\b\\S\\c|~&x\\T\\y\r");
  auto m = parse(out);
  REQUIRE(m);
  CHECK(m->text("NTE-3") == "a|b^c");
  CHECK(m->text("NTE-4(2).1.2") == "x&y");
}

TEST_CASE("builder: custom encoding and raw fields") {
  encoding e;
  e.field = '#';
  e.component = '$';
  message_builder b(e);
  b.add("MSH").set(3, "A").set_raw(4, "F$1");
  b.add("ZZZ").set(1, "x#y");
  CHECK(b.str("\n") == "MSH#$~\\&#A#F$1\nZZZ#x\\F\\y\n");
}
