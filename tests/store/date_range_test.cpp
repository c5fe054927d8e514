#include <hearth/store/date_range.hpp>

#include <doctest/doctest.h>

using hearth::store::date_range;
using hearth::store::parse_date_range;

namespace {
// Milliseconds of whole days, hours, minutes, seconds (hand-checked constants below).
constexpr std::int64_t day = 86'400'000, hour = 3'600'000, minute = 60'000, second = 1000;
// 2021-01-01T00:00:00Z: 51 years after 1970 with 13 leap days (1972 ... 2020).
constexpr std::int64_t y2021 = (51 * 365 + 13) * day;
static_assert(y2021 == 1'609'459'200'000);
// 2020-01-01T00:00:00Z, a leap year.
constexpr std::int64_t y2020 = y2021 - 366 * day;
}  // namespace

TEST_CASE("index: date ranges from the precision written") {
  CHECK(parse_date_range("2020") == date_range{y2020, y2021 - 1});  // the whole year
  // February 2020 has 29 days: Jan (31) then 29 days.
  CHECK(parse_date_range("2020-02") == date_range{y2020 + 31 * day, y2020 + 60 * day - 1});
  CHECK(parse_date_range("2021-02") == date_range{y2021 + 31 * day, y2021 + 59 * day - 1});
  CHECK(parse_date_range("2021-01-02") == date_range{y2021 + day, y2021 + 2 * day - 1});
  CHECK(parse_date_range("1970-01-01") == date_range{0, day - 1});
  CHECK(parse_date_range("1969-12-31") == date_range{-day, -1});
}

TEST_CASE("index: date ranges of times, with time zones") {
  // 2021-01-01T10:00:00+02:00 is 08:00:00Z; a second wide.
  CHECK(parse_date_range("2021-01-01T10:00:00+02:00") == date_range{y2021 + 8 * hour, y2021 + 8 * hour + 999});
  CHECK(parse_date_range("2021-01-01T10:00:00Z") == date_range{y2021 + 10 * hour, y2021 + 10 * hour + 999});
  // A negative offset moves later; across midnight into the next day.
  CHECK(parse_date_range("2021-01-01T22:30:00-05:00") ==
        date_range{y2021 + day + 3 * hour + 30 * minute, y2021 + day + 3 * hour + 30 * minute + 999});
  // An instant with milliseconds is that millisecond.
  CHECK(parse_date_range("2021-01-01T00:00:01.234Z") == date_range{y2021 + 1234, y2021 + 1234});
  // Fewer fraction digits are wider; more are cut to the millisecond.
  CHECK(parse_date_range("2021-01-01T00:00:01.5Z") == date_range{y2021 + 1500, y2021 + 1599});
  CHECK(parse_date_range("2021-01-01T00:00:01.25Z") == date_range{y2021 + 1250, y2021 + 1259});
  CHECK(parse_date_range("2021-01-01T00:00:01.23456Z") == date_range{y2021 + 1234, y2021 + 1234});
  // Minute precision (search values) is a minute wide; no zone means UTC.
  CHECK(parse_date_range("2021-01-01T10:00") == date_range{y2021 + 10 * hour, y2021 + 10 * hour + minute - 1});
  CHECK(parse_date_range("2021-01-01T10:00:00") == date_range{y2021 + 10 * hour, y2021 + 10 * hour + second - 1});
  // A leap second is the first second of the next minute.
  CHECK(parse_date_range("2016-12-31T23:59:60Z")->low == parse_date_range("2017-01-01T00:00:00Z")->low);
}

TEST_CASE("index: date ranges refuse what is not a FHIR date") {
  for (const char* bad : {"", "20", "2021-", "2021-13", "2021-00", "2021-02-29", "2021-04-31", "0000", "2021-1-01",
                          "2021-01-01T", "2021-01-01T24:00:00Z", "2021-01-01T10:60:00Z", "2021-01-01T10:00:00+15:00",
                          "2021-01-01T10:00:00.Z", "2021-01-01 10:00:00", "2021-01-01T10:00:00Zjunk", "abcd"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_date_range(bad));
  }
  CHECK(parse_date_range("2020-02-29"));  // a leap day exists in 2020
  CHECK(parse_date_range("9999-12-31T23:59:59.999Z"));
}
