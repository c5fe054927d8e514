// HL7 v2 DT, DTM, TS and TM (HL7 v2.5.1 2.A.21, 2.A.22, 2.A.77, 2.A.75).

#include <hearth/hl7v2/datetime.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include "detail/locate.hpp"

namespace hearth::hl7v2 {
namespace {

// Most fraction digits: DTM and TM allow .S to .SSSS (2.A.22, 2.A.75), i.e.
// down to a tenth of a millisecond. More is not HL7 and is refused, not cut.
constexpr std::size_t max_fraction_digits = 4;

// Real UTC offsets run from -12:00 to +14:00; 14 hours either side accepts
// every zone in use and refuses garbage such as +2500.
constexpr unsigned max_offset_hours = 14;

hearth::unexpected<error> fail(std::string message) {
  error e;
  e.code = error_code::data_type_error;
  e.message = std::move(message);
  return hearth::unexpected<error>(std::move(e));
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

unsigned two(std::string_view s, std::size_t at) noexcept {
  return static_cast<unsigned>(s[at] - '0') * 10u + static_cast<unsigned>(s[at + 1] - '0');
}

bool is_leap(unsigned year) noexcept {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

unsigned days_in_month(unsigned year, unsigned month) noexcept {
  constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

void append2(std::string& out, unsigned v) {
  out.push_back(static_cast<char>('0' + v / 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

void append4(std::string& out, unsigned v) {
  append2(out, v / 100);
  append2(out, v % 100);
}

// Splits "body[+/-ZZZZ]" and checks the offset. `what` names the type in errors.
hearth::result<std::string_view, error> split_offset(std::string_view text, utc_offset& out,
                                                     std::string_view what) {
  const std::size_t sign = text.find_first_of("+-");
  if (sign == std::string_view::npos) return text;
  const std::string_view z = text.substr(sign + 1);
  if (z.size() != 4 || !is_digit(z[0]) || !is_digit(z[1]) || !is_digit(z[2]) ||
      !is_digit(z[3])) {
    return fail(std::string(what) + ": UTC offset must be +/-ZZZZ (4 digits)");
  }
  const unsigned hours = two(z, 0);
  const unsigned minutes = two(z, 2);
  if (hours > max_offset_hours) return fail(std::string(what) + ": UTC offset hours out of range");
  if (minutes > 59) return fail(std::string(what) + ": UTC offset minutes out of range");
  out.sign = text[sign];
  out.hours = static_cast<std::uint8_t>(hours);
  out.minutes = static_cast<std::uint8_t>(minutes);
  return text.substr(0, sign);
}

// Reads HH[MM[SS[.S[S[S[S]]]]]] from `s` into the time fields and the
// precision of `t` (a date_time or a time_of_day).
template <class T>
hearth::result<bool, error> parse_time(std::string_view s, T& t, std::string_view what) {
  const std::size_t point = s.find('.');
  const std::string_view digits = s.substr(0, point);
  for (char c : digits) {
    if (!is_digit(c)) return fail(std::string(what) + ": unexpected character");
  }
  if (digits.size() != 2 && digits.size() != 4 && digits.size() != 6) {
    return fail(std::string(what) + ": time must be HH, HHMM or HHMMSS");
  }
  t.hour = static_cast<std::uint8_t>(two(digits, 0));
  if (t.hour > 23) return fail(std::string(what) + ": hour out of range");
  t.precision = time_precision::hour;
  if (digits.size() >= 4) {
    t.minute = static_cast<std::uint8_t>(two(digits, 2));
    if (t.minute > 59) return fail(std::string(what) + ": minute out of range");
    t.precision = time_precision::minute;
  }
  if (digits.size() == 6) {
    t.second = static_cast<std::uint8_t>(two(digits, 4));
    // 60: a leap second (23:59:60 UTC); 2.A.22 does not forbid it and ISO 8601
    // allows it.
    if (t.second > 60) return fail(std::string(what) + ": second out of range");
    t.precision = time_precision::second;
  }
  if (point != std::string_view::npos) {
    if (digits.size() != 6) {
      return fail(std::string(what) + ": fraction of a second without seconds");
    }
    const std::string_view frac = s.substr(point + 1);
    if (frac.empty() || frac.size() > max_fraction_digits) {
      return fail(std::string(what) + ": fraction of a second must have 1 to 4 digits");
    }
    for (char c : frac) {
      if (!is_digit(c)) return fail(std::string(what) + ": unexpected character");
    }
    t.fraction.assign(frac);
    t.precision = time_precision::fraction;
  }
  return true;
}

// Appends ":MM:SS.FFFF" up to the precision, after "HH" has been written.
template <class T>
void append_time(std::string& out, const T& t) {
  append2(out, t.hour);
  if (t.precision >= time_precision::minute) {
    out.push_back(':');
    append2(out, t.minute);
  }
  if (t.precision >= time_precision::second) {
    out.push_back(':');
    append2(out, t.second);
  }
  if (t.precision == time_precision::fraction) {
    out.push_back('.');
    out += t.fraction;
  }
}

// DT and DTM share the date part; `with_time` allows what follows the day.
hearth::result<date_time, error> parse_date_time(std::string_view text, bool with_time) {
  const std::string_view what = with_time ? "DTM" : "DT";
  if (text.empty()) return fail(std::string(what) + ": empty value");
  date_time out;
  std::string_view body = text;
  if (with_time) {
    auto split = split_offset(text, out.offset, what);
    if (!split) return hearth::unexpected<error>(std::move(split).error());
    body = *split;
  } else if (text.find_first_not_of("0123456789") != std::string_view::npos) {
    return fail("DT: only digits are allowed (YYYY[MM[DD]])");
  }
  // The date: YYYY, YYYYMM or YYYYMMDD, then an optional time.
  std::size_t date_len = 0;
  while (date_len < body.size() && date_len < 8 && is_digit(body[date_len])) ++date_len;
  if (date_len != 4 && date_len != 6 && date_len != 8) {
    return fail(std::string(what) + (with_time ? ": date must be YYYY, YYYYMM or YYYYMMDD"
                                               : ": must be YYYY, YYYYMM or YYYYMMDD"));
  }
  out.year = static_cast<std::uint16_t>(two(body, 0) * 100u + two(body, 2));
  // Year 0000 names no real date and has no FHIR form (FHIR years are 0001+).
  if (out.year == 0) return fail(std::string(what) + ": year out of range");
  out.precision = time_precision::year;
  if (date_len >= 6) {
    out.month = static_cast<std::uint8_t>(two(body, 4));
    if (out.month < 1 || out.month > 12) return fail(std::string(what) + ": month out of range");
    out.precision = time_precision::month;
  }
  if (date_len == 8) {
    out.day = static_cast<std::uint8_t>(two(body, 6));
    if (out.day < 1 || out.day > days_in_month(out.year, out.month)) {
      return fail(std::string(what) + ": day out of range for the month");
    }
    out.precision = time_precision::day;
  }
  const std::string_view rest = body.substr(date_len);
  if (rest.empty()) return out;
  if (date_len != 8) {
    return fail(std::string(what) + (rest.front() == '.' || is_digit(rest.front())
                                          ? ": date must be YYYY, YYYYMM or YYYYMMDD"
                                          : ": unexpected character"));
  }
  if (!with_time) return fail("DT: must be YYYY, YYYYMM or YYYYMMDD");
  auto time = parse_time(rest, out, what);
  if (!time) return hearth::unexpected<error>(std::move(time).error());
  return out;
}

// The first primitive of an element (see datatypes.hpp), decoded.
std::string leaf_text(const element_view& e) {
  const element_view leaf = e.part(1).part(1);
  if (leaf.is_null()) return {};
  return leaf.text();
}

}  // namespace

std::string_view to_string(time_precision p) noexcept {
  switch (p) {
    case time_precision::year: return "year";
    case time_precision::month: return "month";
    case time_precision::day: return "day";
    case time_precision::hour: return "hour";
    case time_precision::minute: return "minute";
    case time_precision::second: return "second";
    case time_precision::fraction: return "fraction";
  }
  return "unknown";
}

int utc_offset::total_minutes() const noexcept {
  const int m = hours * 60 + minutes;
  return sign == '-' ? -m : m;
}

std::string utc_offset::iso8601() const {
  if (!present()) return {};
  if (sign == '+' && hours == 0 && minutes == 0) return "Z";
  std::string out(1, sign);
  append2(out, hours);
  out.push_back(':');
  append2(out, minutes);
  return out;
}

std::string date_time::iso8601() const {
  std::string out;
  out.reserve(32);
  append4(out, year);
  if (precision >= time_precision::month) {
    out.push_back('-');
    append2(out, month);
  }
  if (precision >= time_precision::day) {
    out.push_back('-');
    append2(out, day);
  }
  if (precision >= time_precision::hour) {
    out.push_back('T');
    append_time(out, *this);
  }
  out += offset.iso8601();
  return out;
}

std::string time_of_day::iso8601() const {
  std::string out;
  out.reserve(20);
  append_time(out, *this);
  out += offset.iso8601();
  return out;
}

hearth::result<date_time, error> parse_dt(std::string_view text) {
  return parse_date_time(text, false);
}

hearth::result<date_time, error> parse_dtm(std::string_view text) {
  return parse_date_time(text, true);
}

hearth::result<time_of_day, error> parse_tm(std::string_view text) {
  if (text.empty()) return fail("TM: empty value");
  time_of_day out;
  auto body = split_offset(text, out.offset, "TM");
  if (!body) return hearth::unexpected<error>(std::move(body).error());
  auto time = parse_time(*body, out, "TM");
  if (!time) return hearth::unexpected<error>(std::move(time).error());
  return out;
}

hearth::result<date_time, error> read_dt(const element_view& e) { return parse_dt(leaf_text(e)); }

hearth::result<date_time, error> read_dtm(const element_view& e) {
  return parse_dtm(leaf_text(e));
}

hearth::result<time_of_day, error> read_tm(const element_view& e) { return parse_tm(leaf_text(e)); }

hearth::result<timestamp, error> read_ts(const element_view& e) {
  auto time = parse_dtm(leaf_text(e.part(1)));
  if (!time) {
    error err = std::move(time).error();
    err.message.insert(0, "TS.1 ");
    detail::locate_part(err, e, 1);
    return hearth::unexpected<error>(std::move(err));
  }
  timestamp out;
  out.time = std::move(*time);
  out.degree_of_precision = leaf_text(e.part(2));
  return out;
}

}  // namespace hearth::hl7v2
