#include <hearth/hl7v2/ack.hpp>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/hl7v2/parser.hpp>

using namespace hearth::hl7v2;

namespace {

const std::string adt251 =
    "MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|GHH LAB^1.2.3^ISO|LABFAC|198808181126|SECURITY|ADT^A01^ADT_A01|MSG00001|P|2.5.1\r"
    "EVN|A01|200708181123\r"
    "PID|1||PATID1234^^^GHH^MR||EVERYMAN^ADAM\r"
    "NK1|1|JONES^BARBARA\r"
    "NK1|2|JONES^BOB\r"
    "PV1|1|I\r";

message must_parse(std::string s) {
  auto r = parse(std::move(s));
  if (!r) FAIL("parse failed: " << r.error().message << " at " << r.error().where.to_string());
  return std::move(r).value();
}

// The message with MSH-15/16 (and MSH-12) set.
std::string with_header(std::string_view msh15, std::string_view msh16,
                        std::string_view version = "2.5.1") {
  return "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ORU^R01^ORU_R01|CTRL42|P|" +
         std::string(version) + "|||" + std::string(msh15) + "|" + std::string(msh16) +
         "\rPID|1||42\r";
}

ack_options fixed() {
  ack_options o;
  o.control_id = "ACK1";
  o.timestamp = "20240102030405+0000";
  return o;
}

message ack_of(const message& m, outcome o, std::span<const ack_issue> issues = {},
               const ack_options& opts = fixed()) {
  const auto a = build_ack(m, o, issues, opts);
  REQUIRE(a.has_value());
  return must_parse(*a);
}

}  // namespace

TEST_CASE("ack: codes, modes and severities as written") {
  CHECK(to_string(ack_code::AA) == "AA");
  CHECK(to_string(ack_code::AE) == "AE");
  CHECK(to_string(ack_code::AR) == "AR");
  CHECK(to_string(ack_code::CA) == "CA");
  CHECK(to_string(ack_code::CE) == "CE");
  CHECK(to_string(ack_code::CR) == "CR");
  CHECK(to_string(severity::error) == "E");
  CHECK(to_string(severity::warning) == "W");
  CHECK(to_string(severity::information) == "I");
  CHECK(to_string(ack_mode::original) == "original");
  CHECK(mode_of(must_parse(adt251)) == ack_mode::original);
  CHECK(mode_of(must_parse(with_header("AL", ""))) == ack_mode::enhanced);
  CHECK(mode_of(must_parse(with_header("", "NE"))) == ack_mode::enhanced);
  CHECK(mode_of(must_parse(with_header("\"\"", ""))) == ack_mode::original);
}

TEST_CASE("ack: original mode AA, header swapped and copied") {
  const message m = must_parse(adt251);
  const auto raw = build_ack(m, outcome::accepted, {}, fixed());
  REQUIRE(raw);
  CHECK(raw->back() == '\r');
  CHECK(raw->find('\n') == std::string::npos);
  const message a = must_parse(*raw);
  CHECK(a.segment_count() == 2);
  CHECK(a.header().field(2).raw() == "^~\\&");
  // 2.14.1: back to the sender. MSH-3/4 = original 5/6 and the reverse, as sent.
  CHECK(a.header().field(3).raw() == "GHH LAB^1.2.3^ISO");
  CHECK(a.text("MSH-3.2") == "1.2.3");
  CHECK(a.text("MSH-4") == "LABFAC");
  CHECK(a.text("MSH-5") == "ADT1");
  CHECK(a.text("MSH-6") == "GOOD HEALTH HOSPITAL");
  CHECK(a.text("MSH-7") == "20240102030405+0000");
  CHECK(a.header().field(9).raw() == "ACK^A01^ACK");
  CHECK(a.control_id() == "ACK1");
  CHECK(a.text("MSH-11") == "P");
  CHECK(a.version() == "2.5.1");
  CHECK(a.text("MSH-15").empty());  // original mode stays original
  CHECK(a.text("MSH-16").empty());
  CHECK(a.text("MSA-1") == "AA");
  CHECK(a.text("MSA-2") == "MSG00001");  // MSA-2 echoes MSH-10
  CHECK(a.text("MSA-3").empty());
  CHECK_FALSE(a.find("ERR"));
}

TEST_CASE("ack: MSA-2 echoes the control id as sent, escapes included") {
  std::string s = adt251;
  s.replace(s.find("MSG00001"), 8, "X\\T\\Y");
  const message a = ack_of(must_parse(s), outcome::accepted);
  CHECK(a.find("MSA")->field(2).raw() == "X\\T\\Y");
  CHECK(a.text("MSA-2") == "X&Y");
}

TEST_CASE("ack: AE with two ERR segments in the v2.5 form") {
  const message m = must_parse(adt251);
  position pid5;
  pid5.segment_index = 3;  // PID, found from the index
  pid5.field = 5;
  pid5.repetition = 1;
  pid5.component = 2;
  position nk1;
  nk1.segment_index = 5;  // the second NK1
  nk1.segment_id = "NK1";
  nk1.field = 2;
  const std::vector<ack_issue> issues{
      {error_code::data_type_error, "bad name", pid5},
      {error_code::required_field_missing, "missing contact", nk1, severity::warning},
  };
  const message a = ack_of(m, outcome::error, issues);
  CHECK(a.text("MSA-1") == "AE");
  CHECK(a.text("MSA-3").empty());  // not used from 2.5 on: the text is in ERR-8
  REQUIRE(a.segment_count() == 4);
  const segment_view e1 = a.segment(3);
  CHECK(e1.id() == "ERR");
  CHECK(e1.field(1).empty());
  CHECK(e1.field(2).raw() == "PID^1^5^1^2");
  CHECK(e1.field(3).raw() == "102^Data type error^HL70357");
  CHECK(e1.field(4).raw() == "E");
  CHECK(e1.field(8).text() == "bad name");
  const segment_view e2 = a.segment(4);
  CHECK(e2.id() == "ERR");
  CHECK(e2.field(2).raw() == "NK1^2^2");  // second occurrence of NK1
  CHECK(e2.field(3).component(1).raw() == "101");
  CHECK(e2.field(3).component(3).raw() == "HL70357");
  CHECK(e2.field(4).raw() == "W");
  CHECK(e2.field(8).text() == "missing contact");
}

TEST_CASE("ack: issue without location and parser errors as issues") {
  error e;
  e.code = error_code::unsupported_event_code;
  e.message = "event not supported";
  const std::vector<ack_issue> issues{e};  // converts
  CHECK(issues[0].sev == severity::error);
  const message a = ack_of(must_parse(adt251), outcome::rejected, issues);
  CHECK(a.text("MSA-1") == "AR");
  const auto err = a.find("ERR");
  REQUIRE(err);
  CHECK(err->field(2).empty());
  CHECK(err->field(3).component(1).raw() == "201");
  CHECK(err->field(8).text() == "event not supported");
}

TEST_CASE("ack: issue texts are escaped") {
  const std::vector<ack_issue> issues{{error_code::data_type_error, "a|b^c&d~e\\f\nline"}};
  const message a = ack_of(must_parse(adt251), outcome::error, issues);
  CHECK(a.segment_count() == 3);
  CHECK(a.find("ERR")->field(8).text() == "a|b^c&d~e\\f line");
}

TEST_CASE("ack: the issue count is capped") {
  std::vector<ack_issue> issues(500, ack_issue{error_code::data_type_error, "x"});
  ack_options o = fixed();
  o.max_issues = 3;
  const message a = ack_of(must_parse(adt251), outcome::error, issues, o);
  CHECK(a.segment_count() == 5);  // MSH MSA ERR ERR ERR
}

TEST_CASE("ack: v2.3 form, ERR-1 repeating and MSA-3") {
  const message m = must_parse(with_header("", "", "2.3"));
  position pid3;
  pid3.segment_index = 2;
  pid3.segment_id = "PID";
  pid3.field = 3;
  pid3.component = 1;
  const std::vector<ack_issue> issues{
      {error_code::table_value_not_found, "unknown identifier type", pid3},
      {error_code::application_internal_error, "second"},
  };
  const message a = ack_of(m, outcome::error, issues);
  CHECK(a.text("MSA-1") == "AE");
  CHECK(a.text("MSA-3") == "unknown identifier type");
  CHECK(a.header().field(9).raw() == "ACK^R01");  // no MSH-9.3 before 2.3.1
  REQUIRE(a.segment_count() == 3);
  const segment_view err = a.segment(3);
  CHECK(err.id() == "ERR");
  CHECK(err.field(1).size() == 2);
  CHECK(err.field(1).repetition(1).raw() == "PID^1^3^103&Table value not found&HL70357");
  CHECK(err.field(1).repetition(2).raw() == "^^^207&Application internal error&HL70357");
  CHECK(err.field(2).empty());
  CHECK(err.field(3).empty());
}

TEST_CASE("ack: MSH-9 per version") {
  CHECK(ack_of(must_parse(with_header("", "", "2.3.1")), outcome::accepted).header().field(9).raw() ==
        "ACK^R01^ACK");
  CHECK(ack_of(must_parse(with_header("", "", "2.2")), outcome::accepted).header().field(9).raw() ==
        "ACK^R01");
  const message none = must_parse("MSH|^~\\&|A|B|C|D|20240101||ADT|1|P|2.5\r");
  CHECK(ack_of(none, outcome::accepted).header().field(9).raw() == "ACK");
}

TEST_CASE("ack: unknown version gets the v2.3 ERR form") {
  const std::vector<ack_issue> issues{{error_code::unsupported_version_id, "version not supported"}};
  const message a = ack_of(must_parse(with_header("", "", "9.9")), outcome::rejected, issues);
  CHECK(a.version() == "9.9");
  CHECK(a.text("MSA-3") == "version not supported");
  CHECK(a.find("ERR")->field(1).component(4).raw() == "203&Unsupported version id&HL70357");
}

TEST_CASE("ack: enhanced mode accept acknowledgment as MSH-15 says (table 0155)") {
  const ack_issue issue{error_code::data_type_error, "bad"};
  const std::span<const ack_issue> one(&issue, 1);
  SUBCASE("AL: always") {
    const message m = must_parse(with_header("AL", "NE"));
    const message a = ack_of(m, outcome::accepted);
    CHECK(a.text("MSA-1") == "CA");
    CHECK(a.text("MSA-2") == "CTRL42");
    CHECK(a.text("MSH-15") == "NE");  // the ACK itself is not to be acknowledged
    CHECK(a.text("MSH-16") == "NE");
    CHECK(ack_of(m, outcome::error, one).text("MSA-1") == "CE");
    CHECK(ack_of(m, outcome::rejected, one).text("MSA-1") == "CR");
  }
  SUBCASE("NE: never") {
    const message m = must_parse(with_header("NE", "AL"));
    CHECK_FALSE(build_ack(m, outcome::accepted, {}, fixed()));
    CHECK_FALSE(build_ack(m, outcome::rejected, one, fixed()));
  }
  SUBCASE("ER: only on error or reject") {
    const message m = must_parse(with_header("ER", "AL"));
    CHECK_FALSE(build_ack(m, outcome::accepted, {}, fixed()));
    CHECK(ack_of(m, outcome::error, one).text("MSA-1") == "CE");
    CHECK(ack_of(m, outcome::rejected, one).text("MSA-1") == "CR");
  }
  SUBCASE("SU: only on success") {
    const message m = must_parse(with_header("SU", "AL"));
    CHECK(ack_of(m, outcome::accepted).text("MSA-1") == "CA");
    CHECK_FALSE(build_ack(m, outcome::error, one, fixed()));
    CHECK_FALSE(build_ack(m, outcome::rejected, one, fixed()));
  }
  SUBCASE("empty MSH-15 with MSH-16 valued: treated as AL") {
    const message m = must_parse(with_header("", "AL"));
    CHECK(ack_of(m, outcome::accepted).text("MSA-1") == "CA");
  }
  SUBCASE("lower case and unknown values") {
    CHECK_FALSE(build_ack(must_parse(with_header("ne", "AL")), outcome::accepted, {}, fixed()));
    CHECK(ack_of(must_parse(with_header("XX", "AL")), outcome::accepted).text("MSA-1") == "CA");
  }
}

TEST_CASE("ack: enhanced mode application acknowledgment as MSH-16 says") {
  ack_options app = fixed();
  app.application_ack = true;
  const ack_issue issue{error_code::data_type_error, "bad"};
  const std::span<const ack_issue> one(&issue, 1);

  const message al = must_parse(with_header("AL", "AL"));
  CHECK(ack_of(al, outcome::accepted, {}, app).text("MSA-1") == "AA");
  CHECK(ack_of(al, outcome::error, one, app).text("MSA-1") == "AE");
  CHECK(ack_of(al, outcome::rejected, one, app).text("MSA-1") == "AR");
  CHECK(ack_of(al, outcome::accepted, {}, app).text("MSH-15") == "NE");

  const message ne = must_parse(with_header("AL", "NE"));
  CHECK_FALSE(build_ack(ne, outcome::accepted, {}, app));
  CHECK(ack_of(ne, outcome::accepted).text("MSA-1") == "CA");  // the accept ack still goes

  const message er = must_parse(with_header("AL", "ER"));
  CHECK_FALSE(build_ack(er, outcome::accepted, {}, app));
  CHECK(ack_of(er, outcome::error, one, app).text("MSA-1") == "AE");

  const message su = must_parse(with_header("NE", "SU"));
  CHECK(ack_of(su, outcome::accepted, {}, app).text("MSA-1") == "AA");
  CHECK_FALSE(build_ack(su, outcome::rejected, one, app));

  // In original mode the option changes nothing: there is one ack, AA/AE/AR.
  const message orig = must_parse(adt251);
  CHECK(ack_of(orig, outcome::accepted, {}, app).text("MSA-1") == "AA");
}

TEST_CASE("ack: an ACK is not acknowledged in original mode") {
  const message a = must_parse("MSH|^~\\&|A|B|C|D|20240101||ACK^A01^ACK|9|P|2.5.1\rMSA|AA|1\r");
  CHECK_FALSE(build_ack(a, outcome::accepted, {}, fixed()));
}

TEST_CASE("ack: custom delimiters are kept") {
  const message m = must_parse(
      "MSH|#$!@|APP#X|FAC|RCV|RFAC|20240101||ADT#A04#ADT_A01|C1|P|2.5.1\rPID|1||a#b$c\r");
  REQUIRE(m.delimiters().component == '#');
  const std::vector<ack_issue> issues{{error_code::data_type_error, "x#y|z"}};
  const auto raw = build_ack(m, outcome::error, issues, fixed());
  REQUIRE(raw);
  CHECK(raw->rfind("MSH|#$!@|RCV|RFAC|APP#X|FAC|", 0) == 0);
  const message a = must_parse(*raw);
  CHECK(a.delimiters().component == '#');
  CHECK(a.delimiters().repetition == '$');
  CHECK(a.delimiters().escape == '!');
  CHECK(a.delimiters().subcomponent == '@');
  CHECK(a.header().field(9).raw() == "ACK#A04#ACK");
  CHECK(a.text("MSH-5.2") == "X");
  CHECK(a.find("ERR")->field(3).raw() == "102#Data type error#HL70357");
  CHECK(a.find("ERR")->field(8).text() == "x#y|z");
}

TEST_CASE("ack: v2.7 truncation character and MSH-18 are kept") {
  const message m = must_parse(
      "MSH|^~\\&#|A|B|C|D|20240101||ADT^A01^ADT_A01|7|T|2.7|||AL|NE||8859/1\rPID|1\r");
  const std::vector<ack_issue> issues{{error_code::data_type_error, "caf\xC3\xA9"}};
  const auto raw = build_ack(m, outcome::error, issues, fixed());
  REQUIRE(raw);
  CHECK(raw->rfind("MSH|^~\\&#|", 0) == 0);
  const message a = must_parse(*raw);
  CHECK(a.text("MSH-11") == "T");
  CHECK(a.text("MSH-18") == "8859/1");
  CHECK(a.character_set() == charset::iso8859_1);
  CHECK(a.find("ERR")->field(8).text() == "caf?");  // our text, fit for the charset
}

TEST_CASE("ack: sending application and facility overrides") {
  ack_options o = fixed();
  o.sending_application = "HEARTH^2.16.840.1&x^ISO";
  o.sending_facility = "HOSP";
  const message m = must_parse(
      "MSH|#$!@|APP|FAC|RCV|RFAC|20240101||ADT#A04|C1|P|2.5.1\rPID|1\r");
  const message a = ack_of(m, outcome::accepted, {}, o);
  CHECK(a.header().field(3).raw() == "HEARTH#2.16.840.1@x#ISO");
  CHECK(a.text("MSH-4") == "HOSP");
  CHECK(a.text("MSH-5") == "APP");
}

TEST_CASE("ack: generated control ids and timestamps") {
  const message m = must_parse(adt251);
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const message a = ack_of(m, outcome::accepted, {}, ack_options{});
    const std::string id = a.control_id();
    CHECK(id.size() == 20);  // ST(20) in v2.5.1
    ids.insert(id);
    if (i == 0) {
      const std::string ts = a.text("MSH-7");
      CHECK(ts.size() == 19);
      CHECK(ts.substr(14) == "+0000");
      CHECK(ts.substr(0, 2) == "20");
    }
  }
  CHECK(ids.size() == 1000);
}

TEST_CASE("ack: reject for unparsable input") {
  error why;
  why.code = error_code::segment_sequence_error;
  why.message = "the message does not start with MSH";

  SUBCASE("empty, no MSH, MSH alone, random bytes: an AR with the error") {
    for (const std::string& raw : {std::string(), std::string("PID|1||42\r"), std::string("MSH"),
                                  std::string("MSH\r"), std::string("\x00\xff\xfe garbage", 11)}) {
      CAPTURE(raw);
      const std::string ack = build_reject_for_unparsable(raw, why, fixed());
      const message a = must_parse(ack);
      CHECK(a.header().field(2).raw() == "^~\\&");
      CHECK(a.header().field(9).raw() == "ACK");
      CHECK(a.control_id() == "ACK1");
      CHECK(a.text("MSA-1") == "AR");
      CHECK(a.text("MSA-2").empty());
      CHECK(a.text("MSA-3") == "the message does not start with MSH");  // version unknown
      CHECK(a.find("ERR")->field(1).component(4).raw() == "100&Segment sequence error&HL70357");
    }
  }

  SUBCASE("bad MSH-2: what can be read is carried, escaped afresh") {
    why.code = error_code::data_type_error;
    why.message = "bad encoding characters";
    why.where.segment_index = 1;
    why.where.segment_id = "MSH";
    why.where.field = 2;
    const std::string raw =
        "MSH|^~|SND^FAC|SFAC|RCV|RFAC|2024||ADT^A01|C9&9|P|2.5.1\rPID|1\r";
    const message a = must_parse(build_reject_for_unparsable(raw, why, fixed()));
    CHECK(a.text("MSA-1") == "AR");
    CHECK(a.text("MSH-3") == "RCV");
    CHECK(a.text("MSH-4") == "RFAC");
    CHECK(a.text("MSH-5.1") == "SND");  // MSH-2 unusable: split with the default '^'
    CHECK(a.text("MSH-5.2") == "FAC");
    CHECK(a.text("MSH-6") == "SFAC");
    CHECK(a.header().field(9).raw() == "ACK^A01^ACK");
    CHECK(a.text("MSH-11") == "P");
    CHECK(a.version() == "2.5.1");
    CHECK(a.find("MSA")->field(2).raw() == "C9\\T\\9");  // escaped afresh
    CHECK(a.text("MSA-2") == "C9&9");
    CHECK(a.text("MSA-3").empty());  // 2.5.1: v2.5 ERR form
    const auto err = a.find("ERR");
    REQUIRE(err);
    CHECK(err->field(2).raw() == "MSH^1^2");
    CHECK(err->field(3).raw() == "102^Data type error^HL70357");
    CHECK(err->field(8).text() == "bad encoding characters");
  }

  SUBCASE("custom but plausible delimiters are read, the ACK uses the default ones") {
    const std::string raw = "MSH|#$!@|SND#FAC|SFAC|RCV|RFAC|2024||ORU#R01|C1|P|2.4\rOBX|1|XX|bad\r";
    why.where.segment_index = 2;
    why.where.field = 2;
    const message a = must_parse(build_reject_for_unparsable(raw, why, fixed()));
    CHECK(a.header().field(2).raw() == "^~\\&");
    CHECK(a.text("MSH-5.2") == "FAC");
    CHECK(a.header().field(9).raw() == "ACK^R01^ACK");
    CHECK(a.text("MSA-2") == "C1");
    CHECK(a.version() == "2.4");
    CHECK(a.find("ERR")->field(1).raw() == "OBX^1^2^100&Segment sequence error&HL70357");
  }

  SUBCASE("enhanced mode asked: CR; application ack asked: AR") {
    const std::string raw = "MSH|^~\\&|S|F|R|G|2024||ADT^A01|C1|P|2.5.1|||NE|NE\rBAD";
    const message a = must_parse(build_reject_for_unparsable(raw, why, fixed()));
    CHECK(a.text("MSA-1") == "CR");  // sent even though MSH-15 says NE: it cannot be trusted
    CHECK(a.text("MSH-15") == "NE");
    ack_options app = fixed();
    app.application_ack = true;
    CHECK(must_parse(build_reject_for_unparsable(raw, why, app)).text("MSA-1") == "AR");
  }

  SUBCASE("control characters, invalid UTF-8 and huge values are not echoed") {
    std::string raw = "MSH|^~\\&|A\x01\xff" "B|F|R|G|2024||ADT^A01|";
    raw += std::string(100000, 'X');
    raw += "|P|2.5.1\r";
    const std::string ack = build_reject_for_unparsable(raw, why, fixed());
    CHECK(ack.size() < 2000);
    const message a = must_parse(ack);
    CHECK(a.text("MSH-5") == "A ?B");
    CHECK(a.text("MSA-2").size() == 199);
  }

  SUBCASE("leading BOM and blank lines are skipped") {
    const std::string raw = "\xEF\xBB\xBF\r\nMSH|^~\\&|S|F|R|G|2024||ADT^A01|C7|P|2.5.1\rPID|";
    const message a = must_parse(build_reject_for_unparsable(raw, why, fixed()));
    CHECK(a.text("MSA-2") == "C7");
    CHECK(a.text("MSH-5") == "S");
  }
}

TEST_CASE("ack: reject for unparsable input always gives a parseable ACK (fuzz-like)") {
  // The point of this test is that no input breaks the builder or its output.
  error why;
  why.code = error_code::data_type_error;
  why.message = "bad";
  why.where.segment_index = 3;
  why.where.field = 4;
  std::mt19937 rng(12345);
  const std::string alphabet = "MSH|^~\\&#$!@\r\nPID0123456789ABC \"\x01\xff\xc3\xa9";
  for (int i = 0; i < 3000; ++i) {
    std::string raw = i % 2 ? "MSH" : "";
    const std::size_t len = rng() % 120;
    for (std::size_t k = 0; k < len; ++k) raw += alphabet[rng() % alphabet.size()];
    CAPTURE(raw);
    const std::string ack = build_reject_for_unparsable(raw, why, fixed());
    auto parsed = parse(ack);
    REQUIRE(parsed.has_value());
    const std::string code = parsed->text("MSA-1");
    CHECK((code == "AR" || code == "CR"));
  }
}
