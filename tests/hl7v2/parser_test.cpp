#include <hearth/hl7v2/parser.hpp>

#include <string>

#include <doctest/doctest.h>

#include <hearth/hl7v2/writer.hpp>

using namespace hearth::hl7v2;

namespace {
const std::string adt =
    "MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|GHH LAB, INC.|GOOD HEALTH HOSPITAL|198808181126|SECURITY|ADT^A01^ADT_A01|MSG00001|P|2.5.1\r"
    "EVN|A01|200708181123||\r"
    "PID|1||PATID1234^^^GOOD HEALTH HOSPITAL^MR~123456789^^^USSSA^SS||EVERYMAN^ADAM^A^III||19610615|M||C|2222 HOME STREET^^GREENSBORO^NC^27401-1020\r"
    "NK1|1|JONES^BARBARA^K|SPO^Spouse^HL70063\r"
    "PV1|1|I|2000^2012^01||||004777^ATTEND^AARON^A|||SUR||||ADM|A0|\r";

message must_parse(std::string s) {
  auto r = parse(std::move(s));
  if (!r) FAIL("parse failed: " << r.error().message << " at " << r.error().where.to_string());
  return std::move(r).value();
}
}  // namespace

TEST_CASE("parser: segments and fields with HL7 numbering") {
  const message m = must_parse(adt);
  CHECK(m.segment_count() == 5);
  CHECK(m.header().id() == "MSH");
  // MSH-1 is the field separator, MSH-2 the encoding characters (2.15.9).
  CHECK(m.header().field(1).raw() == "|");
  CHECK(m.header().field(2).raw() == "^~\\&");
  CHECK(m.header().field(3).text() == "ADT1");
  CHECK(m.text("MSH-9.1") == "ADT");
  CHECK(m.trigger_event() == "A01");
  CHECK(m.text("MSH-9.3") == "ADT_A01");
  CHECK(m.control_id() == "MSG00001");
  CHECK(m.version() == "2.5.1");
  CHECK(m.text("PID-3(2).1") == "123456789");
  CHECK(m.text("PID-3.4") == "GOOD HEALTH HOSPITAL");
  CHECK(m.text("PID-5.2") == "ADAM");
  CHECK(m.text("PID-11.3") == "GREENSBORO");
  CHECK(m.text("NK1-3.3") == "HL70063");
  const auto pid = m.find("PID");
  REQUIRE(pid);
  CHECK(pid->index() == 3);
  CHECK(pid->field_count() == 11);
  CHECK(pid->field(3).size() == 2);                // two repetitions
  CHECK(pid->field(3).at(1).size() == 5);          // five components
  CHECK(pid->field(99).empty());                   // absent field: empty
  CHECK(m.text("PID-5.9") == "");                  // absent component: empty
  // Trailing empty fields that were sent are kept.
  CHECK(m.find("EVN")->field_count() == 4);
  CHECK(m.find("PV1")->field_count() == 16);
}

TEST_CASE("parser: terminators CR, LF and CRLF, blank lines and no final terminator") {
  for (const std::string term : {"\r", "\n", "\r\n"}) {
    std::string s = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5" + term + "PID|1||42" + term + term + "ZXY|custom";
    const message m = must_parse(s);
    CHECK(m.segment_count() == 3);
    CHECK(m.text("PID-3") == "42");
    CHECK(m.segment(3).id() == "ZXY");  // Z segment kept
    CHECK(m.text("ZXY-1") == "custom");
    CHECK(write(m) == s);                // byte-identical, terminators included
  }
}

TEST_CASE("parser: custom delimiters and the v2.7 truncation character") {
  const message m = must_parse("MSH#$*@!%#A#B#C#D#20240101##ADT$A01#7#P#2.7\rPID#1##X*Y$Z!1$Q");
  CHECK(m.delimiters().field == '#');
  CHECK(m.delimiters().component == '$');
  CHECK(m.delimiters().repetition == '*');
  CHECK(m.delimiters().escape == '@');
  CHECK(m.delimiters().subcomponent == '!');
  CHECK(m.delimiters().truncation == '%');
  CHECK(m.header().field(2).raw() == "$*@!%");
  CHECK(m.text("PID-3(2).1") == "Y");
  CHECK(m.text("PID-3(2).2.2") == "1");
  CHECK(m.text("MSH-9.2") == "A01");
}

TEST_CASE("parser: unknown segments and segments without fields are kept") {
  const message m = must_parse("MSH|^~\\&|A\rAAA\rZZ9|x\r");
  CHECK(m.segment_count() == 3);
  CHECK(m.segment(2).id() == "AAA");
  CHECK(m.segment(2).field_count() == 0);
  CHECK(m.segment(3).id() == "ZZ9");
}

TEST_CASE("parser: errors carry a table 0357 code and a position") {
  SUBCASE("empty input") {
    auto r = parse("");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == error_code::segment_sequence_error);
  }
  SUBCASE("not starting with MSH") {
    auto r = parse("PID|1\r");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == error_code::segment_sequence_error);
    CHECK(r.error().where.segment_index == 1);
  }
  SUBCASE("MSH alone") {
    auto r = parse("MSH");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == error_code::data_type_error);
    CHECK(r.error().where.field == 1);
  }
  SUBCASE("short MSH-2") {
    auto r = parse("MSH|^~|A\r");
    REQUIRE_FALSE(r);
    CHECK(r.error().where.to_string() == "MSH-2");
  }
  SUBCASE("repeated delimiter in MSH-2") {
    auto r = parse("MSH|^^\\&|A\r");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == error_code::data_type_error);
  }
  SUBCASE("alphanumeric field separator") {
    CHECK_FALSE(parse("MSHA^~\\&A\r"));
  }
  SUBCASE("bad segment id") {
    auto r = parse("MSH|^~\\&|A\rPID|1\rP1|x\r");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == error_code::segment_sequence_error);
    CHECK(r.error().where.segment_index == 3);
    CHECK(r.error().where.offset == 17);
  }
  SUBCASE("lower-case segment id") {
    CHECK_FALSE(parse("MSH|^~\\&|A\rpid|1\r"));
  }
  SUBCASE("second MSH") {
    auto r = parse("MSH|^~\\&|A\rMSH|^~\\&|B\r");
    REQUIRE_FALSE(r);
    CHECK(r.error().where.segment_index == 2);
  }
  SUBCASE("invalid UTF-8 located to the component") {
    auto r = parse("MSH|^~\\&|A|||||||1|P|2.5.1\rPID|1||42||Doe^J\xFCrgen\r");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == error_code::data_type_error);
    CHECK(r.error().where.to_string() == "PID-5.2");
    CHECK(r.error().where.segment_index == 2);
  }
  SUBCASE("non-ASCII in a message declaring ASCII") {
    auto r = parse("MSH|^~\\&|A|||||||1|P|2.5.1||||||ASCII\rPID|1||\xC3\xBC\r");
    REQUIRE_FALSE(r);
    CHECK(r.error().where.to_string() == "PID-3");
  }
  SUBCASE("unsupported charset") {
    auto r = parse("MSH|^~\\&|A|||||||1|P|2.5.1||||||EBCDIC\r");
    REQUIRE_FALSE(r);
    CHECK(r.error().where.to_string() == "MSH-18");
  }
  SUBCASE("NUL, VT and FS are never data") {
    CHECK_FALSE(parse(std::string("MSH|^~\\&|A\rPID|1|\0|\r", 20)));
    CHECK_FALSE(parse("MSH|^~\\&|A\rPID|1|\x0B|\r"));
    CHECK_FALSE(parse("MSH|^~\\&|A\rPID|1|\x1C|\r"));
  }
}

TEST_CASE("parser: limits") {
  parse_options small;
  small.max_bytes = 64;
  std::string big = "MSH|^~\\&|A\rNTE|1||" + std::string(100, 'x') + "\r";
  auto r = parse(big, small);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::value_too_long);

  parse_options few;
  few.max_segments = 3;
  CHECK(parse("MSH|^~\\&|A\rNTE|1\rNTE|2\r", few));
  CHECK_FALSE(parse("MSH|^~\\&|A\rNTE|1\rNTE|2\rNTE|3\r", few));

  parse_options narrow;
  narrow.max_fields = 5;
  CHECK(parse("MSH|^~\\&|A\rNTE|1|2|3|4|5\r", narrow));
  auto wide = parse("MSH|^~\\&|A\rNTE|1|2|3|4|5|6\r", narrow);
  REQUIRE_FALSE(wide);
  CHECK(wide.error().where.segment_id == "NTE");
}

TEST_CASE("parser: truncated input at every length parses or fails cleanly") {
  // Fault test: every prefix of a valid message is either a valid message or an
  // error value; and whatever parses writes back byte-identically.
  for (std::size_t n = 0; n <= adt.size(); ++n) {
    const std::string prefix = adt.substr(0, n);
    auto r = parse(prefix);
    if (n < 8) CHECK_FALSE(r);  // shorter than "MSH|^~\&"
    if (r) CHECK(write(*r) == prefix);
  }
}

TEST_CASE("parser: latin-1 is converted to UTF-8 on decoding") {
  const message m = must_parse("MSH|^~\\&|A|||||||1|P|2.5.1||||||8859/1\rPID|1||42||M\xFCller^J\xF6rg\r");
  CHECK(m.character_set() == charset::iso8859_1);
  CHECK(m.text("PID-5.1") == "M\xC3\xBCller");
  CHECK(m.text("PID-5.2") == "J\xC3\xB6rg");
  CHECK(m.find("PID")->field(5).raw() == "M\xFCller^J\xF6rg");  // raw stays as sent
}
