// DTM/DT/TS -> FHIR dateTime/date (IG DTM[dateTime], TS[dateTime]; FHIR R4
// datatypes.html#dateTime and #date).

#include <cstdio>
#include <ctime>

#include "mapping_detail.hpp"

namespace hearth::mapping::detail {

namespace {

std::string two(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02u", v % 100u);
  return buf;
}

std::string date_part(const hl7v2::date_time& dt) {
  char year[8];
  std::snprintf(year, sizeof year, "%04u", static_cast<unsigned>(dt.year));
  std::string out = year;
  if (dt.precision >= hl7v2::time_precision::month) out += "-" + two(dt.month);
  if (dt.precision >= hl7v2::time_precision::day) out += "-" + two(dt.day);
  return out;
}

// "+hh:mm", "-hh:mm" or "Z", as FHIR's dateTime pattern allows (hours 00-13
// with any minutes, or 14:00).
bool valid_fhir_offset(std::string_view o) {
  if (o == "Z") return true;
  if (o.size() != 6 || (o[0] != '+' && o[0] != '-') || o[3] != ':') return false;
  for (const std::size_t i : {1u, 2u, 4u, 5u}) {
    if (o[i] < '0' || o[i] > '9') return false;
  }
  const int h = (o[1] - '0') * 10 + (o[2] - '0');
  const int m = (o[4] - '0') * 10 + (o[5] - '0');
  return m < 60 && (h < 14 || (h == 14 && m == 0));
}

/// The UTC offset of this machine's time zone (TZ, /etc/localtime) at the
/// local date and time `dt`, as "+hh:mm" ("Z" at UTC): the offset in force
/// then, summer time included. Empty when the C library cannot place it.
std::string local_offset(const hl7v2::date_time& dt) {
  std::tm tm{};
  tm.tm_year = dt.year - 1900;
  tm.tm_mon = (dt.month == 0 ? 1 : dt.month) - 1;
  tm.tm_mday = dt.day == 0 ? 1 : dt.day;
  tm.tm_hour = dt.hour;
  tm.tm_min = dt.minute;
  tm.tm_sec = dt.second > 59 ? 59 : dt.second;
  tm.tm_isdst = -1;  // let the zone's rules decide
  const std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) return {};
  std::tm local{};
  if (localtime_r(&t, &local) == nullptr) return {};
  const long off = local.tm_gmtoff;
  if (off == 0) return "Z";
  const long a = off < 0 ? -off : off;  // at most 26 h in any zone
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", off < 0 ? '-' : '+', static_cast<int>(a / 3600 % 100),
                static_cast<int>(a % 3600 / 60));
  return buf;
}

}  // namespace

std::optional<std::string> datetime_text(context& ctx, const hl7v2::date_time& dt, const position& where) {
  std::string out = date_part(dt);
  if (dt.precision < hl7v2::time_precision::hour) return out;
  // A FHIR dateTime with a time has seconds: hour and minute precision are
  // padded with zeros (the IG: convert to the FHIR format), the fraction kept.
  out += "T" + two(dt.hour) + ":" + two(dt.minute) + ":" + two(dt.second);
  if (!dt.fraction.empty()) out += "." + dt.fraction;
  std::string offset = dt.offset.iso8601();
  if (offset.empty()) offset = ctx.cfg.default_offset;
  // Neither sent nor configured (the issue: "a time without offset gets the
  // sender's configured offset, and a FHIR dateTime with a time never lacks
  // one"): this server's local time zone at that moment, as a receiver in the
  // sender's own site would read the time. Configure defaultOffset for a
  // sender in another zone.
  if (offset.empty()) offset = local_offset(dt);
  if (offset.empty()) {
    ctx.fail(error_code::data_type_error,
             "date/time has a time but no UTC offset, and none can be given to it", where);
    return std::nullopt;
  }
  if (!valid_fhir_offset(offset)) {
    ctx.fail(error_code::data_type_error, "UTC offset out of the range FHIR allows", where);
    return std::nullopt;
  }
  return out + offset;
}

std::optional<std::string> to_datetime(context& ctx, std::string_view text, const position& where) {
  if (text.empty() || text == "\"\"") return std::nullopt;
  auto dt = hl7v2::parse_dtm(text);
  if (!dt) {
    ctx.fail(error_code::data_type_error, dt.error().message, where);
    return std::nullopt;
  }
  return datetime_text(ctx, *dt, where);
}

std::optional<std::string> to_datetime(context& ctx, const element_view& e, const position& where) {
  return to_datetime(ctx, st(e), where);
}

std::optional<std::string> to_date(context& ctx, std::string_view text, const position& where) {
  if (text.empty() || text == "\"\"") return std::nullopt;
  auto dt = hl7v2::parse_dtm(text);  // a DT is a DTM to day precision at most
  if (!dt) {
    ctx.fail(error_code::data_type_error, dt.error().message, where);
    return std::nullopt;
  }
  return date_part(*dt);
}

std::optional<std::string> to_date(context& ctx, const element_view& e, const position& where) {
  return to_date(ctx, st(e), where);
}

}  // namespace hearth::mapping::detail
