// Decimals, temporals, boundaries and quantities of the FHIRPath evaluator
// (fhirpath_eval.hpp): exact decimal arithmetic, date/time parsing and
// comparison, lowBoundary()/highBoundary(), UCUM unit conversion. Pure
// functions, no evaluation state; none of them fails other than by
// returning nullopt or false.

#include "detail/fhirpath_eval_impl.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

namespace hearth::fhir::fhirpath::detail {

// ---------------------------------------------------------------- decimals

// pow10, max_scale and mantissa_limit: detail/fhirpath_eval_impl.hpp.

bool rescale(decimal& d, int scale) {  // only upwards; false on overflow
  while (d.scale < scale) {
    if (d.mantissa > mantissa_limit / 10 || d.mantissa < -mantissa_limit / 10) return false;
    d.mantissa *= 10;
    ++d.scale;
  }
  return true;
}

// Rounds half away from zero to `scale` fraction digits (downwards only).
decimal round_to(decimal d, int scale) {
  while (d.scale > scale) {
    int128 q = d.mantissa / 10, r = d.mantissa % 10;
    if (r >= 5) ++q;
    if (r <= -5) --q;
    d.mantissa = q;
    --d.scale;
  }
  return d;
}

decimal trim_zeros(decimal d, int min_scale) {
  while (d.scale > min_scale && d.mantissa % 10 == 0) {
    d.mantissa /= 10;
    --d.scale;
  }
  return d;
}

int dec_cmp(decimal a, decimal b) {
  int s = std::max(a.scale, b.scale);
  if (!rescale(a, s) || !rescale(b, s)) {
    long double x = static_cast<long double>(a.mantissa) / static_cast<long double>(pow10(a.scale));
    long double y = static_cast<long double>(b.mantissa) / static_cast<long double>(pow10(b.scale));
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a.mantissa < b.mantissa ? -1 : a.mantissa > b.mantissa ? 1 : 0;
}

std::optional<decimal> dec_add(decimal a, decimal b, bool subtract) {
  int s = std::max(a.scale, b.scale);
  if (!rescale(a, s) || !rescale(b, s)) return std::nullopt;
  decimal r{subtract ? a.mantissa - b.mantissa : a.mantissa + b.mantissa, s};
  if (r.mantissa >= mantissa_limit || r.mantissa <= -mantissa_limit) return std::nullopt;
  return r;
}

std::optional<decimal> dec_mul(decimal a, decimal b) {
  int128 m;
  if (__builtin_mul_overflow(a.mantissa, b.mantissa, &m)) return std::nullopt;
  decimal r{m, a.scale + b.scale};
  if (r.scale > max_scale) r = round_to(r, max_scale);
  if (r.mantissa >= mantissa_limit || r.mantissa <= -mantissa_limit) return std::nullopt;
  return r;
}

// a / b with at least 8 fraction digits, trailing zeros removed; nullopt when b is 0.
std::optional<decimal> dec_div(decimal a, decimal b) {
  if (b.mantissa == 0) return std::nullopt;
  // result = a.m * 10^(k) / b.m with scale a.s + k - b.s; want scale >= 8 (+1 for rounding).
  int target = 9;
  int k = target - a.scale + b.scale;
  decimal num = a;
  if (k < 0) {
    k = 0;
  }
  int128 n = num.mantissa;
  for (int i = 0; i < k; ++i) {
    if (n > mantissa_limit / 10 || n < -mantissa_limit / 10) return std::nullopt;
    n *= 10;
  }
  decimal r{n / b.mantissa, a.scale + k - b.scale};
  if (r.scale < 0) {
    for (; r.scale < 0; ++r.scale) r.mantissa *= 10;
  }
  r = round_to(r, std::min(r.scale, 8));
  return trim_zeros(r);
}

long double to_ld(decimal d) {
  return static_cast<long double>(d.mantissa) / static_cast<long double>(pow10(d.scale));
}

std::optional<decimal> from_ld(long double x) {
  if (!std::isfinite(x)) return std::nullopt;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15Lg", x);
  std::string s = buf;
  if (s.find('e') != std::string::npos || s.find('E') != std::string::npos) {
    std::snprintf(buf, sizeof buf, "%.20Lf", x);
    s = buf;
  }
  auto d = decimal::parse(s);
  if (!d) return std::nullopt;
  return trim_zeros(round_to(*d, std::min(d->scale, max_scale)));
}

// ---------------------------------------------------------------- temporals

namespace {

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& y, int& m, int& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t yy = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(yy + (m <= 2));
}

}  // namespace

int days_in_month(int y, int m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dm[(m - 1) % 12];
}

// Milliseconds since the epoch of the fields as written (time zone ignored);
// missing month/day count as 1.
std::int64_t epoch_ms(const temporal& t) {
  std::int64_t days = days_from_civil(t.year, static_cast<unsigned>(t.month ? t.month : 1),
                                      static_cast<unsigned>(t.day ? t.day : 1));
  return ((days * 24 + t.hour) * 60 + t.minute) * 60000LL + t.second * 1000LL + t.millisecond;
}

void set_from_epoch_ms(temporal& t, std::int64_t ms) {
  std::int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  std::int64_t rest = ms - days * 86400000;
  civil_from_days(days, t.year, t.month, t.day);
  t.hour = static_cast<int>(rest / 3600000);
  t.minute = static_cast<int>(rest / 60000 % 60);
  t.second = static_cast<int>(rest / 1000 % 60);
  t.millisecond = static_cast<int>(rest % 1000);
}

namespace {

bool all_digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return false;
  for (std::size_t i = pos; i < pos + n; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

int num(std::string_view s, std::size_t pos, std::size_t n) {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

// Parses the time part "hh[:mm[:ss[.fff]]]" at pos; returns the position after it.
std::optional<std::size_t> parse_time_part(std::string_view s, std::size_t pos, temporal& t) {
  if (!all_digits(s, pos, 2)) return std::nullopt;
  t.hour = num(s, pos, 2);
  t.prec = prec::hour;
  pos += 2;
  if (pos < s.size() && s[pos] == ':') {
    if (!all_digits(s, pos + 1, 2)) return std::nullopt;
    t.minute = num(s, pos + 1, 2);
    t.prec = prec::minute;
    pos += 3;
    if (pos < s.size() && s[pos] == ':') {
      if (!all_digits(s, pos + 1, 2)) return std::nullopt;
      t.second = num(s, pos + 1, 2);
      t.prec = prec::second;
      pos += 3;
      if (pos < s.size() && s[pos] == '.') {
        std::size_t start = ++pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
        if (pos == start) return std::nullopt;
        std::string frac(s.substr(start, std::min<std::size_t>(3, pos - start)));
        while (frac.size() < 3) frac += '0';
        t.millisecond = num(frac, 0, 3);
        t.prec = prec::millisecond;
      }
    }
  }
  if (t.hour > 23 || t.minute > 59 || t.second > 59) return std::nullopt;
  return pos;
}

}  // namespace

// FHIR / FHIRPath text without '@': "2015", "2015-02-04T14:34:28.123+09:00", "14:30".
std::optional<temporal_value> parse_temporal(std::string_view s, temporal_value::kind k) {
  temporal_value v;
  v.k = k;
  temporal& t = v.t;
  std::size_t pos = 0;
  if (k == temporal_value::kind::time) {
    auto p = parse_time_part(s, 0, t);
    if (!p || *p != s.size()) return std::nullopt;
    return v;
  }
  if (!all_digits(s, 0, 4)) return std::nullopt;
  t.year = num(s, 0, 4);
  t.prec = prec::year;
  pos = 4;
  if (pos < s.size() && s[pos] == '-') {
    if (!all_digits(s, pos + 1, 2)) return std::nullopt;
    t.month = num(s, pos + 1, 2);
    t.prec = prec::month;
    pos += 3;
    if (t.month < 1 || t.month > 12) return std::nullopt;
    if (pos < s.size() && s[pos] == '-') {
      if (!all_digits(s, pos + 1, 2)) return std::nullopt;
      t.day = num(s, pos + 1, 2);
      t.prec = prec::day;
      pos += 3;
      if (t.day < 1 || t.day > days_in_month(t.year, t.month)) return std::nullopt;
    }
  }
  if (pos == s.size()) return v;
  if (k == temporal_value::kind::date || s[pos] != 'T') return std::nullopt;
  ++pos;
  if (pos == s.size()) return v;  // "2015T"
  if (t.prec != prec::day) return std::nullopt;
  auto p = parse_time_part(s, pos, t);
  if (!p) return std::nullopt;
  pos = *p;
  if (pos < s.size()) {
    if (s[pos] == 'Z') {
      t.has_timezone = true;
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      if (!all_digits(s, pos + 1, 2) || pos + 3 >= s.size() || s[pos + 3] != ':' || !all_digits(s, pos + 4, 2))
        return std::nullopt;
      int m = num(s, pos + 1, 2) * 60 + num(s, pos + 4, 2);
      t.has_timezone = true;
      t.timezone_minutes = s[pos] == '-' ? -m : m;
      pos += 6;
    }
  }
  if (pos != s.size()) return std::nullopt;
  return v;
}

// Compares two temporal values per N1 §6.1.1/§6.2: nullopt when the answer
// depends on parts one of them lacks. Seconds and milliseconds are one precision.
std::optional<int> temporal_cmp(const temporal_value& a, const temporal_value& b, bool& incomparable_kind) {
  using K = temporal_value::kind;
  incomparable_kind = (a.k == K::time) != (b.k == K::time);
  if (incomparable_kind) return std::nullopt;
  temporal x = a.t, y = b.t;
  // Normalise to UTC when both carry a zone and have a time.
  // One with a zone, the other without: not comparable at time precision
  // (N1 §6.1.1: the zone-less one could be any offset).
  if (a.k == K::date_time && x.prec >= prec::hour && y.prec >= prec::hour && x.has_timezone != y.has_timezone)
    return std::nullopt;
  if (x.has_timezone && y.has_timezone && x.prec >= prec::hour && y.prec >= prec::hour) {
    set_from_epoch_ms(x, epoch_ms(x) - x.timezone_minutes * 60000LL);
    set_from_epoch_ms(y, epoch_ms(y) - y.timezone_minutes * 60000LL);
  }
  auto level = [](prec p) { return p == prec::millisecond ? 5 : static_cast<int>(p); };
  int lx = level(x.prec), ly = level(y.prec);
  if (a.k == K::time) {  // time: hour=3 .. second=5
  }
  int fx[6] = {x.year, x.month, x.day, x.hour, x.minute, x.second * 1000 + x.millisecond};
  int fy[6] = {y.year, y.month, y.day, y.hour, y.minute, y.second * 1000 + y.millisecond};
  int start = a.k == K::time ? 3 : 0;
  int common = std::min(lx, ly);
  for (int i = start; i <= common; ++i) {
    if (fx[i] != fy[i]) return fx[i] < fy[i] ? -1 : 1;
  }
  if (lx != ly) return std::nullopt;
  return 0;
}

// ---------------------------------------------------------------- boundaries
// lowBoundary()/highBoundary() (FHIRPath 3.0 STU, §5.7 "Math" and §5.10
// "Date/time"; used by R4 invariants such as per-1): the least and greatest
// value the input may stand for, given its precision, written to `digits`.

// Decimal: a value with s fraction digits stands for [d - h, d + h], h = half
// a unit in its last place (1.587 → [1.5865, 1.5875]). When `digits` is at
// least s + 1 the boundary is exact and padded with zeros. With fewer digits,
// the conformance suite (tests-fhir-r4.xml, groups LowBoundary/HighBoundary,
// as the FHIR reference implementation computes them) truncates a positive
// value's low boundary and rounds its high boundary half up
// (1.587 → low 1.58, high 1.59 at 2 digits; 0.0034 → 0.0 and 0.0 at 1), and
// a negative value's boundaries mirror the positive ones: low(-x) = -high(x).
// Empty when `digits` is negative or beyond the 28 fraction digits a Decimal
// holds here.
std::optional<decimal> decimal_boundary(decimal d, std::int64_t digits, bool high) {
  if (digits < 0 || digits > max_scale) return std::nullopt;
  int p = static_cast<int>(digits);
  if (d.mantissa < 0) {
    d.mantissa = -d.mantissa;
    auto r = decimal_boundary(d, digits, !high);
    if (r) r->mantissa = -r->mantissa;
    return r;
  }
  if (d.mantissa > mantissa_limit / 10) return std::nullopt;  // no room for the extra digit
  decimal e{d.mantissa * 10 + (high ? 5 : -5), d.scale + 1};
  if (e.scale <= p) {
    if (!rescale(e, p)) return std::nullopt;
    return e;
  }
  if (high) return round_to(e, p);
  while (e.scale > p) {  // truncate toward zero
    e.mantissa /= 10;
    --e.scale;
  }
  return e;
}

// Date, DateTime, Time: `digits` counts the digits of the written form
// (FHIRPath precision(): 4 year, 6 month, 8 day, 10 hour, 12 minute,
// 14 second, 17 millisecond; for a Time 2, 4, 6, 9). Parts finer than the
// input's precision are filled with their least (low) or greatest (high)
// value: the last day of the month, 23:59:59.999. Parts beyond `digits` are
// dropped. A DateTime with a time of day but no time zone takes the extreme
// zones, +14:00 for the low and -12:00 for the high boundary (the instant
// could have been in any zone). An hour-only time counts as hh:00 (FHIR has
// no hour precision; the suite expects @2014-01-01T08 → 08:00:59.999).
// Empty for a digit count that is not one of the type's precisions.
std::optional<temporal_value> temporal_boundary(temporal_value v, std::int64_t digits, bool high) {
  static constexpr int date_digits[] = {4, 6, 8, 10, 12, 14, 17};
  static constexpr int time_digits[] = {-1, -1, -1, 2, 4, 6, 9};
  const bool is_time = v.k == temporal_value::kind::time;
  std::optional<prec> target;
  for (int i = 0; i < 7; ++i)
    if ((is_time ? time_digits[i] : date_digits[i]) == digits) target = static_cast<prec>(i);
  if (!target || (v.k == temporal_value::kind::date && *target > prec::day)) return std::nullopt;
  temporal& t = v.t;
  if (t.prec == prec::hour) t.prec = prec::minute;
  if (*target > t.prec) {
    for (int i = static_cast<int>(t.prec) + 1; i <= static_cast<int>(*target); ++i) {
      switch (static_cast<prec>(i)) {
        case prec::year: break;
        case prec::month: t.month = high ? 12 : 1; break;
        case prec::day: t.day = high ? days_in_month(t.year, t.month) : 1; break;
        case prec::hour: t.hour = high ? 23 : 0; break;
        case prec::minute: t.minute = high ? 59 : 0; break;
        case prec::second: t.second = high ? 59 : 0; break;
        case prec::millisecond: t.millisecond = high ? 999 : 0; break;
      }
    }
  } else {
    // Fields beyond the precision are 0 (fhirpath_ast.hpp temporal).
    if (*target < prec::millisecond) t.millisecond = 0;
    if (*target < prec::second) t.second = 0;
    if (*target < prec::minute) t.minute = 0;
    if (*target < prec::hour) t.hour = 0;
    if (*target < prec::day) t.day = 0;
    if (*target < prec::month) t.month = 0;
  }
  t.prec = *target;
  if (v.k == temporal_value::kind::date_time) {
    if (t.prec < prec::hour) {
      t.has_timezone = false;
      t.timezone_minutes = 0;
    } else if (!t.has_timezone) {
      t.has_timezone = true;
      t.timezone_minutes = high ? -12 * 60 : 14 * 60;
    }
  }
  return v;
}

// ---------------------------------------------------------------- quantities

std::string canonical_unit(const quantity_value& q) {
  if (!q.calendar) return q.unit;
  if (q.unit == "second") return "s";
  if (q.unit == "millisecond") return "ms";
  if (q.unit == "minute") return "min";
  if (q.unit == "hour") return "h";
  if (q.unit == "day") return "d";
  if (q.unit == "week") return "wk";
  return q.unit;  // year, month: only comparable with themselves
}

// The UCUM unit of a quantity (ucum.hpp); nullopt for calendar years and
// months (no UCUM equivalent: N1 §6.6.1) and for a unit that is not UCUM.
std::optional<ucum::unit> ucum_unit(const quantity_value& q) {
  auto u = ucum::parse(canonical_unit(q));
  if (!u) return std::nullopt;
  return std::move(u).value();
}

// `v` in unit `from` expressed in unit `to` (exact where UCUM is; else
// rounded to 28 fraction digits); nullopt when not convertible.
std::optional<decimal> convert_units(const decimal& v, const ucum::unit& from, const ucum::unit& to) {
  auto r = ucum::convert(v.to_string(), from, to);
  if (!r) return std::nullopt;
  return decimal::parse(r->text);
}

// Both values in a common unit (a's), through UCUM (N1 §6.1.1: quantities
// compare after conversion to a common unit); false when not comparable.
bool common_units(const quantity_value& a, const quantity_value& b, decimal& x, decimal& y) {
  if (canonical_unit(a) == canonical_unit(b)) {
    x = a.value;
    y = b.value;
    return true;
  }
  auto ua = ucum_unit(a), ub = ucum_unit(b);
  if (!ua || !ub || !ucum::comparable(*ub, *ua)) return false;
  auto converted = convert_units(b.value, *ub, *ua);
  if (!converted) return false;
  x = a.value;
  y = *converted;
  return true;
}

std::optional<std::string> calendar_keyword(std::string_view u) {
  static const char* names[] = {"year", "month", "week", "day", "hour", "minute", "second", "millisecond"};
  for (const char* n : names) {
    std::string_view nv(n);
    if (u == nv || (u.size() == nv.size() + 1 && u.starts_with(nv) && u.back() == 's')) return std::string(nv);
  }
  return std::nullopt;
}

std::string quantity_to_string(const quantity_value& q) {
  std::string s = q.value.to_string() + " ";
  if (q.calendar) return s + q.unit;
  return s + "'" + q.unit + "'";
}

}  // namespace hearth::fhir::fhirpath::detail
