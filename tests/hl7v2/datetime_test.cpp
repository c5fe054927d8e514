#include <hearth/hl7v2/datetime.hpp>

#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include <hearth/hl7v2/parser.hpp>

using namespace hearth::hl7v2;

namespace {

std::string dtm_iso(std::string_view text) {
  auto r = parse_dtm(text);
  if (!r) {
    FAIL_CHECK("parse_dtm failed: " << r.error().message);
    return {};
  }
  return r->iso8601();
}

// Asserts a data type error whose message does not repeat the value (PHI).
template <class R>
void check_rejected(const R& r, std::string_view value) {
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == error_code::data_type_error);
  CHECK_FALSE(r.error().message.empty());
  if (value.size() >= 3) CHECK(r.error().message.find(value) == std::string::npos);
}

message must_parse(std::string s) {
  auto r = parse(std::move(s));
  if (!r) FAIL("parse failed: " << r.error().message << " at " << r.error().where.to_string());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("datetime: DTM keeps precision, fraction and offset as sent") {
  CHECK(dtm_iso("2024") == "2024");
  CHECK(dtm_iso("202403") == "2024-03");
  CHECK(dtm_iso("20240305") == "2024-03-05");
  CHECK(dtm_iso("2024030514") == "2024-03-05T14");
  CHECK(dtm_iso("202403051430") == "2024-03-05T14:30");
  CHECK(dtm_iso("20240305143015") == "2024-03-05T14:30:15");
  CHECK(dtm_iso("20240305143015.1234") == "2024-03-05T14:30:15.1234");
  CHECK(dtm_iso("20240305143015.1") == "2024-03-05T14:30:15.1");
  // Trailing zeros in the fraction are precision, not noise.
  CHECK(dtm_iso("20240305143015.10") == "2024-03-05T14:30:15.10");
  CHECK(dtm_iso("20240305143015+0100") == "2024-03-05T14:30:15+01:00");
  CHECK(dtm_iso("202403051430-0500") == "2024-03-05T14:30-05:00");
  CHECK(dtm_iso("20240305143015.1234+0530") == "2024-03-05T14:30:15.1234+05:30");
  CHECK(dtm_iso("20240305143015+0000") == "2024-03-05T14:30:15Z");
  // -0000 is not UTC in RFC 3339 ("offset unknown"): kept as sent.
  CHECK(dtm_iso("20240305143015-0000") == "2024-03-05T14:30:15-00:00");
  CHECK(dtm_iso("20240305+1400") == "2024-03-05+14:00");

  auto full = parse_dtm("20240305143015.12-0330");
  REQUIRE(full);
  CHECK(full->year == 2024);
  CHECK(full->month == 3);
  CHECK(full->day == 5);
  CHECK(full->hour == 14);
  CHECK(full->minute == 30);
  CHECK(full->second == 15);
  CHECK(full->fraction == "12");
  CHECK(full->precision == time_precision::fraction);
  CHECK(full->offset.present());
  CHECK(full->offset.sign == '-');
  CHECK(full->offset.hours == 3);
  CHECK(full->offset.minutes == 30);
  CHECK(full->offset.total_minutes() == -210);

  auto day = parse_dtm("20240305");
  REQUIRE(day);
  CHECK(day->precision == time_precision::day);
  CHECK(day->hour == 0);
  CHECK(day->fraction.empty());
  CHECK_FALSE(day->offset.present());
  CHECK(day->offset.total_minutes() == 0);
}

TEST_CASE("datetime: calendar rules") {
  CHECK(parse_dtm("20240229"));  // leap year
  CHECK(parse_dtm("20000229"));  // divisible by 400
  check_rejected(parse_dtm("20230229"), "20230229");
  check_rejected(parse_dtm("19000229"), "19000229");  // divisible by 100, not 400
  CHECK(parse_dtm("20240430"));
  check_rejected(parse_dtm("20240431"), "20240431");
  CHECK(parse_dtm("20241231235959"));
  // A leap second is a valid second.
  CHECK(dtm_iso("20161231235960+0000") == "2016-12-31T23:59:60Z");
}

TEST_CASE("datetime: malformed DTM values are data type errors without the value") {
  check_rejected(parse_dtm("20240230"), "20240230");        // 30 February
  check_rejected(parse_dtm("2024131"), "2024131");          // 7 digits
  check_rejected(parse_dtm("20241301"), "20241301");        // month 13
  check_rejected(parse_dtm("20240001"), "20240001");        // month 0
  check_rejected(parse_dtm("20240100"), "20240100");        // day 0
  check_rejected(parse_dtm("202401011261"), "202401011261");  // minute 61
  check_rejected(parse_dtm("2024010124"), "2024010124");    // hour 24
  check_rejected(parse_dtm("20240101235961"), "20240101235961");  // second 61
  check_rejected(parse_dtm("2024010112+2500"), "2024010112+2500");  // offset hours
  check_rejected(parse_dtm("2024010112+1500"), "2024010112+1500");
  check_rejected(parse_dtm("2024010112+0160"), "2024010112+0160");  // offset minutes
  check_rejected(parse_dtm("2024010112+01"), "2024010112+01");      // short offset
  check_rejected(parse_dtm("2024010112+01000"), "2024010112+01000");
  check_rejected(parse_dtm("20240101123015.12345"), "20240101123015.12345");  // 5 digits
  check_rejected(parse_dtm("20240101123015."), "20240101123015.");  // point, no digit
  check_rejected(parse_dtm("202401011230.5"), "202401011230.5");    // fraction w/o seconds
  check_rejected(parse_dtm("2024010112301"), "2024010112301");      // odd length
  check_rejected(parse_dtm("2024-01-01"), "2024-01-01");            // ISO, not HL7
  check_rejected(parse_dtm("2024O101"), "2024O101");                // letter O
  check_rejected(parse_dtm("0000"), "");                            // no year 0
  check_rejected(parse_dtm("+0100"), "+0100");                      // offset only
  check_rejected(parse_dtm(""), "");
  check_rejected(parse_dtm("24"), "");
  check_rejected(parse_dtm("20240101 1230"), "20240101 1230");
}

TEST_CASE("datetime: DT is a date only") {
  auto d = parse_dt("20240305");
  REQUIRE(d);
  CHECK(d->iso8601() == "2024-03-05");
  CHECK(d->precision == time_precision::day);
  auto m = parse_dt("202403");
  REQUIRE(m);
  CHECK(m->iso8601() == "2024-03");
  auto y = parse_dt("2024");
  REQUIRE(y);
  CHECK(y->iso8601() == "2024");
  check_rejected(parse_dt("2024030514"), "2024030514");  // a time is not a DT
  check_rejected(parse_dt("20240305+0100"), "20240305+0100");
  check_rejected(parse_dt("20240230"), "20240230");
  check_rejected(parse_dt("2024131"), "2024131");
  check_rejected(parse_dt(""), "");
}

TEST_CASE("datetime: TM") {
  auto t = parse_tm("143015.5+0100");
  REQUIRE(t);
  CHECK(t->hour == 14);
  CHECK(t->minute == 30);
  CHECK(t->second == 15);
  CHECK(t->fraction == "5");
  CHECK(t->precision == time_precision::fraction);
  CHECK(t->iso8601() == "14:30:15.5+01:00");
  CHECK(parse_tm("14")->iso8601() == "14");
  CHECK(parse_tm("1430")->iso8601() == "14:30");
  CHECK(parse_tm("143015")->iso8601() == "14:30:15");
  CHECK(parse_tm("0000-0000")->iso8601() == "00:00-00:00");
  CHECK(parse_tm("2359+0000")->iso8601() == "23:59Z");
  CHECK(parse_tm("1430")->precision == time_precision::minute);
  check_rejected(parse_tm("2400"), "2400");
  check_rejected(parse_tm("1260"), "1260");
  check_rejected(parse_tm("123"), "123");
  check_rejected(parse_tm("1430.5"), "1430.5");
  check_rejected(parse_tm("143015.12345"), "143015.12345");
  check_rejected(parse_tm("1430+2500"), "1430+2500");
  check_rejected(parse_tm("20240101"), "20240101");
  check_rejected(parse_tm(""), "");
}

TEST_CASE("datetime: precision names") {
  CHECK(to_string(time_precision::year) == "year");
  CHECK(to_string(time_precision::day) == "day");
  CHECK(to_string(time_precision::fraction) == "fraction");
}

TEST_CASE("datetime: TS, DTM, DT and TM read from a message") {
  const message m = must_parse(
      std::string("MSH|^~\\&|LAB|HOSP|HEARTH|HOSP|20240305143015-0500||ORU^R01^ORU_R01|MSG1|P|2.5.1\r"
                  "PID|1||12345^^^MRN^MR||Smith^John||19800101|F\r"
                  "OBR|1|||GLU|||202403051200^M") +
      std::string(20, '|') +  // up to OBR-27
      "^^^20240305080000.25+0100&S\r"
      "ZTM|0815|\"\"|2024\\T\\0101\r");
  // MSH-7 is a TS standing as a field: component 1 is the DTM.
  auto msh7 = read_ts(m.header().field(7));
  REQUIRE(msh7);
  CHECK(msh7->time.iso8601() == "2024-03-05T14:30:15-05:00");
  CHECK(msh7->degree_of_precision.empty());
  // Component 2, the deprecated degree of precision, is kept but not used.
  auto obr7 = read_ts(m.find("OBR")->field(7));
  REQUIRE(obr7);
  CHECK(obr7->time.iso8601() == "2024-03-05T12:00");
  CHECK(obr7->degree_of_precision == "M");
  // A TS standing as a component (TQ-4): its parts are subcomponents.
  auto tq4 = read_ts(m.get(*path::parse("OBR-27.4")));
  REQUIRE(tq4);
  CHECK(tq4->time.iso8601() == "2024-03-05T08:00:00.25+01:00");
  CHECK(tq4->degree_of_precision == "S");

  auto birth = read_dt(m.find("PID")->field(7));
  REQUIRE(birth);
  CHECK(birth->iso8601() == "1980-01-01");
  auto dtm = read_dtm(m.find("PID")->field(7));
  REQUIRE(dtm);
  CHECK(dtm->precision == time_precision::day);

  const auto ztm = m.find("ZTM");
  REQUIRE(ztm);
  auto tm = read_tm(ztm->field(1));
  REQUIRE(tm);
  CHECK(tm->iso8601() == "08:15");
  // Empty, explicit null and escaped delimiters are all errors for a
  // date/time: the caller tests empty() when the value is optional.
  check_rejected(read_tm(ztm->field(2)), "");
  check_rejected(read_dtm(ztm->field(3)), "");
  check_rejected(read_dtm(ztm->field(9)), "");
  auto absent = read_ts(ztm->field(9));
  REQUIRE_FALSE(absent);
  CHECK(absent.error().where.component == 1);
}
