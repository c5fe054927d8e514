// The FHIRPath evaluator (fhirpath_eval.hpp). FHIRPath 2.0.0 N1,
// http://hl7.org/fhirpath/N1/; FHIR R4 fhirpath.html for the FHIR specifics.
//
// Inside this file an evaluation error is thrown as eval_failure and caught
// once, in evaluate(), which turns it into the returned hearth::error: the
// recursion is bounded by the parser's max_depth, and no exception crosses the
// public API.

#include <hearth/fhir/fhirpath_eval.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <hearth/core/utf8.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/ucum.hpp>

#include "detail/fhirpath_regex.hpp"

namespace hearth::fhir::fhirpath {
namespace {

using int128 = decimal::int128;
using prec = temporal::precision;

struct eval_failure {
  hearth::error err;
};

[[noreturn]] void fail(std::string code, std::string message, std::size_t offset) {
  throw eval_failure{hearth::error{std::move(code), std::move(message), {}, offset}};
}

// ---------------------------------------------------------------- decimals

int128 pow10(int n) {
  int128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

constexpr int max_scale = 28;
// |mantissa| limit: 10^38 fits in int128 (max about 1.7e38).
const int128 mantissa_limit = pow10(38);

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

decimal trim_zeros(decimal d, int min_scale = 0) {
  while (d.scale > min_scale && d.mantissa % 10 == 0) {
    d.mantissa /= 10;
    --d.scale;
  }
  return d;
}

decimal from_int(std::int64_t i) { return decimal{static_cast<int128>(i), 0}; }

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

// ---------------------------------------------------------------- values

value make_bool(bool b) {
  value v;
  v.k = value::kind::boolean;
  v.b = b;
  return v;
}
value make_int(std::int64_t i) {
  value v;
  v.k = value::kind::integer;
  v.i = i;
  return v;
}
value make_dec(decimal d) {
  value v;
  v.k = value::kind::decimal_;
  v.d = d;
  return v;
}
value make_str(std::string s) {
  value v;
  v.k = value::kind::string;
  v.s = std::move(s);
  return v;
}
value make_temporal(temporal_value t) {
  value v;
  v.k = t.k == temporal_value::kind::date        ? value::kind::date
        : t.k == temporal_value::kind::date_time ? value::kind::date_time
                                                 : value::kind::time;
  v.t = std::move(t);
  return v;
}
value make_quantity(quantity_value q) {
  value v;
  v.k = value::kind::quantity;
  v.q = std::move(q);
  return v;
}

bool is_quantity_type(std::string_view t) {
  return t == "Quantity" || t == "Age" || t == "Distance" || t == "Duration" || t == "Count" ||
         t == "SimpleQuantity" || t == "MoneyQuantity";
}

// A FHIR primitive node as a System value; a complex node (or a primitive
// without a value) unchanged. A FHIR Quantity becomes a System Quantity only
// when `quantities` (comparisons with a quantity).
value to_system(const value& v, bool quantities = false) {
  if (v.k != value::kind::node) return v;
  if (!v.json) return v;
  const json_value& j = *v.json;
  std::string_view t = v.fhir_type;
  if (j.is_bool()) return make_bool(j.as_bool());
  if (j.is_number()) {
    const std::string& text = j.number_text();
    if (t == "decimal" || (t.empty() && text.find_first_of(".eE") != std::string::npos)) {
      if (auto d = decimal::parse(text)) return make_dec(*d);
      return v;
    }
    char* end = nullptr;
    long long ll = std::strtoll(text.c_str(), &end, 10);
    if (end && *end == '\0') return make_int(ll);
    if (auto d = decimal::parse(text)) return make_dec(*d);
    return v;
  }
  if (j.is_string()) {
    if (t == "date") {
      if (auto tv = parse_temporal(j.str(), temporal_value::kind::date)) return make_temporal(*tv);
    } else if (t == "dateTime" || t == "instant") {
      if (auto tv = parse_temporal(j.str(), temporal_value::kind::date_time)) return make_temporal(*tv);
    } else if (t == "time") {
      if (auto tv = parse_temporal(j.str(), temporal_value::kind::time)) return make_temporal(*tv);
    }
    return make_str(j.str());
  }
  if (quantities && j.is_object() && is_quantity_type(t)) {
    const json_value* val = j.find("value");
    if (!val || !val->is_number()) return v;
    auto d = decimal::parse(val->number_text());
    if (!d) return v;
    quantity_value q;
    q.value = *d;
    const json_value* code = j.find("code");
    const json_value* unit = j.find("unit");
    const json_value* sys = j.find("system");
    if (code && code->is_string() && sys && sys->is_string() && sys->str() == "http://unitsofmeasure.org")
      q.unit = code->str();
    else if (unit && unit->is_string())
      q.unit = unit->str();
    else if (code && code->is_string())
      q.unit = code->str();
    else
      q.unit = "1";
    return make_quantity(std::move(q));
  }
  return v;
}

bool is_numeric(const value& v) { return v.k == value::kind::integer || v.k == value::kind::decimal_; }
decimal as_dec(const value& v) { return v.k == value::kind::integer ? from_int(v.i) : v.d; }
bool is_temporal(const value& v) {
  return v.k == value::kind::date || v.k == value::kind::date_time || v.k == value::kind::time;
}

std::string normalize_ws_lower(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// N1 §6.1.1 equality of two items: nullopt = empty.
std::optional<bool> items_equal(const value& a0, const value& b0) {
  bool q = a0.k == value::kind::quantity || b0.k == value::kind::quantity;
  value a = to_system(a0, q), b = to_system(b0, q);
  using K = value::kind;
  if (a.k == K::node || b.k == K::node) {
    if (a.k != b.k) return false;
    if (!a.json || !b.json) return a.json == b.json && a.ext == b.ext;
    return *a.json == *b.json;
  }
  if (is_numeric(a) && is_numeric(b)) return dec_cmp(as_dec(a), as_dec(b)) == 0;
  if (is_temporal(a) && is_temporal(b)) {
    bool incomparable = false;
    auto c = temporal_cmp(a.t, b.t, incomparable);
    if (incomparable) return false;
    if (!c) return std::nullopt;
    return *c == 0;
  }
  if (a.k != b.k) return false;
  switch (a.k) {
    case K::boolean: return a.b == b.b;
    case K::string: return a.s == b.s;
    case K::quantity: {
      decimal x, y;
      if (!common_units(a.q, b.q, x, y)) {
        // Calendar years and months against UCUM 'a'/'mo' are not known to be
        // equal or different (N1 §6.1.1); other different units: different.
        bool cal = (a.q.calendar && (a.q.unit == "year" || a.q.unit == "month")) ||
                   (b.q.calendar && (b.q.unit == "year" || b.q.unit == "month"));
        if (cal) return std::nullopt;
        return false;
      }
      return dec_cmp(x, y) == 0;
    }
    default: return false;
  }
}

// N1 §6.1.3 equivalence of two items.
bool items_equivalent(const value& a0, const value& b0) {
  bool q = a0.k == value::kind::quantity || b0.k == value::kind::quantity;
  value a = to_system(a0, q), b = to_system(b0, q);
  using K = value::kind;
  if (a.k == K::node || b.k == K::node) {
    if (a.k != b.k) return false;
    if (!a.json || !b.json) return a.json == b.json;
    return *a.json == *b.json;
  }
  if (is_numeric(a) && is_numeric(b)) {
    decimal x = as_dec(a), y = as_dec(b);
    int s = std::min(x.scale, y.scale);
    return dec_cmp(round_to(x, s), round_to(y, s)) == 0;
  }
  if (is_temporal(a) && is_temporal(b)) {
    bool incomparable = false;
    auto c = temporal_cmp(a.t, b.t, incomparable);
    return c && *c == 0;
  }
  if (a.k != b.k) return false;
  switch (a.k) {
    case K::boolean: return a.b == b.b;
    case K::string: {
      std::string x = normalize_ws_lower(a.s), y = normalize_ws_lower(b.s);
      if (x == y) return true;
      // Case folding is ASCII only: for other text the answer is not known.
      for (const std::string* t : {&x, &y})
        for (char c : *t)
          if (static_cast<unsigned char>(c) >= 0x80)
            throw eval_failure{hearth::error{"not-supported",
                                             "case-insensitive comparison of non-ASCII text is not supported yet",
                                             {}, hearth::error::npos}};
      return false;
    }
    case K::quantity: {
      quantity_value qa = a.q, qb = b.q;
      // N1 §6.1.3: calendar years/months are equivalent to the UCUM 'a'/'mo'.
      if (qa.calendar && qa.unit == "year") { qa.calendar = false; qa.unit = "a"; }
      if (qb.calendar && qb.unit == "year") { qb.calendar = false; qb.unit = "a"; }
      if (qa.calendar && qa.unit == "month") { qa.calendar = false; qa.unit = "mo"; }
      if (qb.calendar && qb.unit == "month") { qb.calendar = false; qb.unit = "mo"; }
      decimal x, y;
      if (!common_units(qa, qb, x, y)) return false;
      int s = std::min(x.scale, y.scale);
      return dec_cmp(round_to(x, s), round_to(y, s)) == 0;
    }
    default: return false;
  }
}

}  // namespace

std::string type_name(const value& v) {
  switch (v.k) {
    case value::kind::node: return std::string(v.fhir_type);
    case value::kind::boolean: return "Boolean";
    case value::kind::integer: return "Integer";
    case value::kind::decimal_: return "Decimal";
    case value::kind::string: return "String";
    case value::kind::date: return "Date";
    case value::kind::date_time: return "DateTime";
    case value::kind::time: return "Time";
    case value::kind::quantity: return "Quantity";
  }
  return "";
}

std::optional<std::string> to_string_value(const value& v0) {
  value v = to_system(v0);
  switch (v.k) {
    case value::kind::node: return std::nullopt;
    case value::kind::boolean: return v.b ? "true" : "false";
    case value::kind::integer: return std::to_string(v.i);
    case value::kind::decimal_: return v.d.to_string();
    case value::kind::string: return v.s;
    case value::kind::date:
    case value::kind::date_time:
    case value::kind::time: return v.t.to_string();
    case value::kind::quantity: return quantity_to_string(v.q);
  }
  return std::nullopt;
}

namespace {

// The TypeInfo object type() returns (N1 §10 "Reflection": namespace and
// name), as a JSON node so that `.name` / `.namespace` navigate it. Kept for
// the life of the process, so results referring to it never dangle; the cache
// is bounded because only names of real types (the System types and those in
// the definitions) are ever added. Thread-safe.
const json_value* type_info_json(std::string_view ns, std::string_view name) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<const json_value>, std::less<>> cache;
  std::string key = std::string(ns) + "." + std::string(name);
  std::lock_guard lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second.get();
  auto j = std::make_unique<json_value>(json_value::object());
  j->set("namespace", json_value(std::string(ns)));
  j->set("name", json_value(std::string(name)));
  const json_value* out = j.get();
  cache.emplace(std::move(key), std::move(j));
  return out;
}

// ---------------------------------------------------------------- evaluator

struct frame {
  const collection* this_ = nullptr;  // $this (one item), nullptr at top level
  std::int64_t index = -1;            // $index, -1 when none
  const collection* total = nullptr;  // $total in aggregate()
};

class evaluator {
 public:
  evaluator(const expression& e, const json_value& resource, const definitions& defs, const context& ctx)
      : e_(e), defs_(defs), ctx_(ctx) {
    root_ = node_value(&resource, nullptr, resource_type_of(resource));
    if (ctx.context_node) context_ = node_value(ctx.context_node, nullptr, resource_type_of(*ctx.context_node));
    else context_ = root_;
    now_ = ctx.now ? *ctx.now : std::chrono::system_clock::now();
  }

  collection run() {
    collection input{root_};
    return eval(e_.root(), input, frame{});
  }

 private:
  const expression& e_;
  const definitions& defs_;
  const context& ctx_;
  value root_;
  value context_;
  std::chrono::system_clock::time_point now_;
  std::size_t produced_ = 0;

  static std::string_view resource_type_of(const json_value& j) {
    if (j.is_object())
      if (const json_value* rt = j.find("resourceType"); rt && rt->is_string()) return rt->str();
    return {};
  }

  static value node_value(const json_value* j, const json_value* ext, std::string_view type) {
    value v;
    v.k = value::kind::node;
    v.json = j;
    v.ext = ext;
    v.fhir_type = type;
    return v;
  }

  void count(std::size_t n, const node& at) {
    produced_ += n;
    if (produced_ > ctx_.max_items) fail("too-costly", "the evaluation produced too many items", at.offset);
  }

  // ---- type hierarchy

  bool fhir_is_a(std::string_view type, std::string_view target) const {
    for (int guard = 0; guard < 16 && !type.empty(); ++guard) {
      if (type == target) return true;
      const type_definition* td = defs_.find_type(type);
      if (!td) return false;
      type = td->base;
    }
    return false;
  }

  // Does v have type `spec` (is/as/ofType, N1 §6.3)?
  // `exact_primitive`: as()/ofType() match a FHIR primitive's own type only
  // (the official R4 tests: Patient.gender.as(string) is empty, yet
  // Patient.gender.is(string) is true).
  bool has_type(const value& v, const type_specifier& spec, std::size_t offset, bool exact_primitive) const {
    std::string_view q = spec.qualifier, n = spec.name;
    bool system_known = n == "Boolean" || n == "String" || n == "Integer" || n == "Decimal" || n == "Date" ||
                        n == "DateTime" || n == "Time" || n == "Quantity";
    bool fhir_known = defs_.find_type(n) != nullptr;
    if (q == "System") {
      return system_known && v.k != value::kind::node && type_name(v) == n;
    }
    if (q == "FHIR" || (q.empty() && fhir_known)) {
      if (!fhir_known) fail("invalid", "unknown type 'FHIR." + std::string(n) + "'", offset);
      if (v.k != value::kind::node) return false;
      // FHIR primitives match their own type only: code is not a string here
      // (the official R4 tests: Patient.gender.as(string) is empty).
      if (exact_primitive && defs_.is_primitive_type(n)) return v.fhir_type == n;
      return fhir_is_a(v.fhir_type, n);
    }
    if (!q.empty()) fail("invalid", "unknown type namespace '" + std::string(q) + "'", offset);
    if (!system_known) fail("invalid", "unknown type '" + std::string(n) + "'", offset);
    return v.k != value::kind::node && type_name(v) == n;
  }

  // ---- navigation (FHIR R4 fhirpath.html, json.html)

  std::string_view child_type(const child_match& m, const json_value& j) const {
    if (j.is_object())
      if (auto rt = resource_type_of(j); !rt.empty()) return rt;
    if (m.type) return m.type->code;
    const element_definition* el = m.element;
    if (el->content_target) return el->content_target->path;
    if (!el->children.empty()) return el->path;
    if (!el->types.empty()) return el->types.front().code;
    return {};
  }

  void add_children(collection& out, const json_value* j, const json_value* ext, std::string_view type) {
    if (j && j->is_array()) {
      for (std::size_t i = 0; i < j->items().size(); ++i) {
        const json_value* item = &j->items()[i];
        const json_value* e = nullptr;
        if (ext && ext->is_array() && i < ext->items().size() && !ext->items()[i].is_null()) e = &ext->items()[i];
        if (item->is_null()) {
          if (e) out.push_back(node_value(nullptr, e, type));
        } else {
          out.push_back(node_value(item, e, type));
        }
      }
      return;
    }
    if (!j && ext && ext->is_array()) {
      for (const auto& e : ext->items())
        if (!e.is_null()) out.push_back(node_value(nullptr, &e, type));
      return;
    }
    if (j && j->is_null()) j = nullptr;
    if (!j && !ext) return;
    out.push_back(node_value(j, ext && ext->is_object() ? ext : nullptr, type));
  }

  // The children called `name` of one item (N1 §5 path navigation).
  // Returns false when the item's type is known and has no such element
  // (the caller reports it when no item of the focus has it).
  bool navigate(const value& v, const std::string& name, collection& out) {
    if (v.k != value::kind::node) return true;
    if (!v.json || !v.json->is_object()) {
      // A primitive: its id and extensions live in the `_name` object.
      if (v.ext && (name == "extension" || name == "id")) {
        const json_value* c = v.ext->find(name);
        if (c) add_children(out, c, nullptr, name == "id" ? std::string_view("string") : "Extension");
        return true;
      }
      if (v.fhir_type.empty() || !defs_.is_primitive_type(v.fhir_type)) return true;
      return name == "value" || name == "extension" || name == "id";
    }
    const json_value& obj = *v.json;
    bool typed = !v.fhir_type.empty() && defs_.find_type(v.fhir_type) != nullptr;
    if (typed) {
      child_match m = defs_.find_child(v.fhir_type, name);
      if (m && !m.element->is_choice()) {
        const json_value* j = obj.find(name);
        const json_value* ext = obj.find("_" + name);
        if (j || ext) add_children(out, j, ext, child_type(m, j ? *j : json_value()));
        return true;
      }
      // A choice element's JSON name ("valueQuantity") used directly is not
      // FHIRPath (fhirpath.html#polymorphism): not an element.
      if (m && m.element->is_choice()) return false;
      // A choice element: value[x] is written valueQuantity, valueString, ...
      std::string choice = name + "[x]";
      bool exists = false;
      for (const auto& c : defs_.find_type(v.fhir_type)->children())
        if (c->name == choice) exists = true;
      if (!exists) {
        // Backbone types keep children via the element path too.
        const element_definition* el = defs_.find_element(std::string(v.fhir_type) + "." + choice);
        exists = el != nullptr;
      }
      if (!exists) return false;
      for (const auto& mem : obj.members()) {
        std::string_view key = mem.key;
        bool ext_key = key.starts_with("_");
        std::string_view bare = ext_key ? key.substr(1) : key;
        if (bare.size() <= name.size() || !bare.starts_with(name) ||
            !std::isupper(static_cast<unsigned char>(bare[name.size()])))
          continue;
        child_match cm = defs_.resolve_choice(v.fhir_type, bare);
        if (!cm || cm.element->name != choice) continue;
        if (ext_key) {
          if (obj.find(bare)) continue;  // handled with its value
          add_children(out, nullptr, &mem.value, cm.type->code);
        } else {
          add_children(out, &mem.value, obj.find("_" + std::string(bare)), cm.type->code);
        }
      }
      return true;
    }
    // Untyped JSON: plain navigation.
    const json_value* j = obj.find(name);
    const json_value* ext = obj.find("_" + name);
    if (j || ext) add_children(out, j, ext, {});
    return true;
  }

  void children_of(const value& v, collection& out) {
    if (v.k != value::kind::node) return;
    if (!v.json || !v.json->is_object()) {
      if (v.ext) {
        for (const auto& m : v.ext->members()) {
          if (m.key == "extension") add_children(out, &m.value, nullptr, "Extension");
          if (m.key == "id") add_children(out, &m.value, nullptr, "string");
        }
      }
      return;
    }
    for (const auto& m : v.json->members()) {
      if (m.key == "resourceType") continue;
      std::string_view key = m.key;
      if (key.starts_with("_")) {
        if (v.json->find(key.substr(1))) continue;
        key = key.substr(1);
        std::string_view type;
        if (auto cm = defs_.find_child(v.fhir_type, key)) type = child_type(cm, json_value());
        add_children(out, nullptr, &m.value, type);
        continue;
      }
      std::string_view type;
      if (!v.fhir_type.empty())
        if (auto cm = defs_.find_child(v.fhir_type, key)) type = child_type(cm, m.value);
      add_children(out, &m.value, v.json->find("_" + std::string(key)), type);
    }
  }

  // ---- helpers

  const node& at(node_id id) const { return e_.at(id); }

  std::optional<value> singleton(const collection& c, const node& n, const char* what) {
    if (c.empty()) return std::nullopt;
    if (c.size() > 1)
      fail("invalid", std::string(what) + " requires a single item, but the collection has " +
                          std::to_string(c.size()),
           n.offset);
    return c.front();
  }

  // N1 §4.5 singleton evaluation where a Boolean is expected.
  std::optional<bool> as_boolean(const collection& c, const node& n, const char* what) {
    auto v = singleton(c, n, what);
    if (!v) return std::nullopt;
    value s = to_system(*v);
    if (s.k == value::kind::boolean) return s.b;
    return true;
  }

  // A Boolean argument, strictly (a non-Boolean is an error).
  std::optional<bool> strict_boolean(const collection& c, const node& n, const char* what) {
    auto v = singleton(c, n, what);
    if (!v) return std::nullopt;
    value s = to_system(*v);
    if (s.k != value::kind::boolean) fail("invalid", std::string(what) + " requires a Boolean", n.offset);
    return s.b;
  }

  std::optional<std::string> string_arg(const collection& c, const node& n, const char* what) {
    auto v = singleton(c, n, what);
    if (!v) return std::nullopt;
    value s = to_system(*v);
    if (s.k != value::kind::string) fail("invalid", std::string(what) + " requires a String", n.offset);
    return s.s;
  }

  std::optional<std::int64_t> int_arg(const collection& c, const node& n, const char* what) {
    auto v = singleton(c, n, what);
    if (!v) return std::nullopt;
    value s = to_system(*v);
    if (s.k != value::kind::integer) fail("invalid", std::string(what) + " requires an Integer", n.offset);
    return s.i;
  }

  static collection single(value v) { return collection{std::move(v)}; }

  bool contains_item(const collection& c, const value& v) {
    for (const auto& x : c) {
      auto eq = items_equal(x, v);
      if (eq && *eq) return true;
    }
    return false;
  }

  collection distinct(const collection& c) {
    collection out;
    for (const auto& v : c)
      if (!contains_item(out, v)) out.push_back(v);
    return out;
  }

  // ---- main dispatch

  collection eval(node_id id, const collection& input, const frame& f) {
    const node& n = at(id);
    switch (n.kind) {
      case node_kind::empty_literal: return {};
      case node_kind::boolean_literal: return single(make_bool(n.text == "true"));
      case node_kind::string_literal: return single(make_str(n.text));
      case node_kind::integer_literal: {
        auto d = decimal::parse(n.text);
        if (!d || d->mantissa > 2147483647) fail("invalid", "integer literal out of range", n.offset);
        return single(make_int(static_cast<std::int64_t>(d->mantissa)));
      }
      case node_kind::long_literal: fail("not-supported", "Long literals are not supported yet", n.offset);
      case node_kind::decimal_literal: {
        auto d = decimal::parse(n.text);
        if (!d) fail("invalid", "decimal literal out of range", n.offset);
        return single(make_dec(*d));
      }
      case node_kind::date_literal:
      case node_kind::date_time_literal:
      case node_kind::time_literal: {
        temporal_value tv;
        tv.t = n.time;
        tv.k = n.kind == node_kind::date_literal        ? temporal_value::kind::date
               : n.kind == node_kind::date_time_literal ? temporal_value::kind::date_time
                                                        : temporal_value::kind::time;
        if (tv.k == temporal_value::kind::time && tv.t.has_timezone)
          fail("invalid", "a time literal has no time zone", n.offset);
        return single(make_temporal(tv));
      }
      case node_kind::quantity_literal: {
        auto d = decimal::parse(n.text);
        if (!d) fail("invalid", "quantity value out of range", n.offset);
        quantity_value q;
        q.value = *d;
        if (n.calendar_unit) {
          auto kw = calendar_keyword(n.unit);
          if (!kw) fail("invalid", "unknown calendar unit", n.offset);
          q.unit = *kw;
          q.calendar = true;
        } else {
          q.unit = n.unit;
        }
        return single(make_quantity(std::move(q)));
      }
      case node_kind::external_constant: return constant(n);
      case node_kind::this_variable:
      case node_kind::index_variable:
      case node_kind::total_variable: {
        collection base;
        if (n.kind == node_kind::this_variable) base = f.this_ ? *f.this_ : input;
        else if (n.kind == node_kind::index_variable) {
          if (f.index < 0) fail("invalid", "$index is only defined inside an iterating function", n.offset);
          base = single(make_int(f.index));
        } else {
          if (!f.total) fail("invalid", "$total is only defined inside aggregate()", n.offset);
          base = *f.total;
        }
        return base;
      }
      case node_kind::member: return member(n, input, f);
      case node_kind::function: {
        collection focus = n.focus == no_node ? input : eval(n.focus, input, f);
        return call(id, n, focus, input, f);
      }
      case node_kind::indexer: {
        auto ch = e_.children(n);
        collection base = eval(ch[0], input, f);
        collection idx = eval(ch[1], input, f);
        auto i = int_arg(idx, n, "the indexer");
        if (!i || *i < 0 || static_cast<std::size_t>(*i) >= base.size()) return {};
        return single(base[static_cast<std::size_t>(*i)]);
      }
      case node_kind::unary: {
        collection a = eval(e_.children(n)[0], input, f);
        if (n.op == operator_kind::plus) return a;
        auto v = singleton(a, n, "unary minus");
        if (!v) return {};
        value s = to_system(*v);
        if (s.k == value::kind::integer) return single(make_int(-s.i));
        if (s.k == value::kind::decimal_) return single(make_dec(decimal{-s.d.mantissa, s.d.scale}));
        if (s.k == value::kind::quantity) {
          s.q.value.mantissa = -s.q.value.mantissa;
          return single(s);
        }
        fail("invalid", "unary minus requires a number or a quantity", n.offset);
      }
      case node_kind::type_operation: {
        collection a = eval(e_.children(n)[0], input, f);
        return type_op(n.op == operator_kind::is, n.type, a, n, true);
      }
      case node_kind::binary: return binary(n, input, f);
    }
    fail("invalid", "unknown node", n.offset);
  }

  collection constant(const node& n) {
    const std::string& name = n.text;
    if (name == "resource" || name == "rootResource") return single(root_);
    if (name == "context") return single(context_);
    if (name == "ucum") return single(make_str("http://unitsofmeasure.org"));
    if (name == "sct") return single(make_str("http://snomed.info/sct"));
    if (name == "loinc") return single(make_str("http://loinc.org"));
    if (auto it = ctx_.variables.find(name); it != ctx_.variables.end()) return it->second;
    if (name.starts_with("vs-")) return single(make_str("http://hl7.org/fhir/ValueSet/" + name.substr(3)));
    if (name.starts_with("ext-"))
      return single(make_str("http://hl7.org/fhir/StructureDefinition/" + name.substr(4)));
    fail("invalid", "unknown environment variable", n.offset);
  }

  collection member(const node& n, const collection& input, const frame& f) {
    collection focus = n.focus == no_node ? input : eval(n.focus, input, f);
    collection out;
    // A type name as the first segment (`Patient.name`) selects the input
    // items of that type (FHIR R4 fhirpath.html "type name as first step").
    if (n.focus == no_node && !n.text.empty() && std::isupper(static_cast<unsigned char>(n.text[0]))) {
      if (defs_.find_type(n.text)) {
        bool any_node = false;
        for (const auto& v : focus) {
          if (v.k != value::kind::node) continue;
          any_node = true;
          if (fhir_is_a(v.fhir_type, n.text)) out.push_back(v);
        }
        if (out.empty() && any_node && ctx_.strict && defs_.is_resource_type(n.text))
          fail("invalid", "the input is not of type " + n.text, n.offset);
        if (!out.empty() || defs_.is_resource_type(n.text) || !any_node) return out;
      }
    }
    bool defined = focus.empty();
    for (const auto& v : focus) defined = navigate(v, n.text, out) || defined;
    // No item of the focus has such an element: a semantic error
    // (FHIR R4 fhirpath.html, strict evaluation of element names).
    if (!defined) fail("invalid", "'" + n.text + "' is not an element of the input's type", n.offset);
    count(out.size(), n);
    return out;
  }

  collection type_op(bool is, const type_specifier& spec, const collection& a, const node& n, bool op_form) {
    if (a.empty()) return {};
    (void)op_form;
    if (a.size() > 1 && n.text != "ofType")
      fail("invalid", std::string(is ? "is" : "as") + " requires a single item", n.offset);
    if (is) return single(make_bool(has_type(a.front(), spec, n.offset, false)));
    collection out;
    for (const auto& v : a)
      if (has_type(v, spec, n.offset, true)) out.push_back(v);
    return out;
  }

  // ---- binary operators (N1 §6)

  collection binary(const node& n, const collection& input, const frame& f) {
    auto ch = e_.children(n);
    switch (n.op) {
      case operator_kind::and_:
      case operator_kind::or_:
      case operator_kind::xor_:
      case operator_kind::implies: {
        auto a = as_boolean(eval(ch[0], input, f), n, "a Boolean operator");
        // Short-circuit only where the result no longer depends on b.
        if (n.op == operator_kind::and_ && a && !*a) return single(make_bool(false));
        if (n.op == operator_kind::or_ && a && *a) return single(make_bool(true));
        if (n.op == operator_kind::implies && a && !*a) return single(make_bool(true));
        auto b = as_boolean(eval(ch[1], input, f), n, "a Boolean operator");
        std::optional<bool> r;
        switch (n.op) {
          case operator_kind::and_:
            if (b && !*b) r = false;
            else if (a && b) r = true;
            break;
          case operator_kind::or_:
            if (b && *b) r = true;
            else if (a && b) r = false;
            break;
          case operator_kind::xor_:
            if (a && b) r = *a != *b;
            break;
          default:  // implies
            if (!a) {
              if (b && *b) r = true;
            } else {
              r = b;  // a is true here
            }
            break;
        }
        if (!r) return {};
        return single(make_bool(*r));
      }
      default: break;
    }
    collection a = eval(ch[0], input, f);
    collection b = eval(ch[1], input, f);
    switch (n.op) {
      case operator_kind::union_: {
        collection all = a;
        all.insert(all.end(), b.begin(), b.end());
        count(all.size(), n);
        return distinct(all);
      }
      case operator_kind::equal:
      case operator_kind::not_equal: {
        if (a.empty() || b.empty()) return {};
        std::optional<bool> r = true;
        if (a.size() != b.size()) {
          r = false;
        } else {
          for (std::size_t i = 0; i < a.size(); ++i) {
            auto e = items_equal(a[i], b[i]);
            if (!e) {
              r = std::nullopt;
            } else if (!*e) {
              r = false;
              break;
            }
          }
        }
        if (!r) return {};
        return single(make_bool(n.op == operator_kind::equal ? *r : !*r));
      }
      case operator_kind::equivalent:
      case operator_kind::not_equivalent: {
        bool r = false;
        try {
          r = equivalent_collections(a, b);
        } catch (eval_failure& e) {
          if (e.err.offset == hearth::error::npos) e.err.offset = n.offset;
          throw;
        }
        return single(make_bool(n.op == operator_kind::equivalent ? r : !r));
      }
      case operator_kind::less:
      case operator_kind::less_equal:
      case operator_kind::greater:
      case operator_kind::greater_equal: {
        auto x = singleton(a, n, "a comparison");
        auto y = singleton(b, n, "a comparison");
        if (!x || !y) return {};
        auto c = compare(*x, *y, n);
        if (!c) return {};
        bool r = n.op == operator_kind::less         ? *c < 0
                 : n.op == operator_kind::less_equal ? *c <= 0
                 : n.op == operator_kind::greater    ? *c > 0
                                                     : *c >= 0;
        return single(make_bool(r));
      }
      case operator_kind::in:
      case operator_kind::contains: {
        const collection& elem = n.op == operator_kind::in ? a : b;
        const collection& coll = n.op == operator_kind::in ? b : a;
        auto v = singleton(elem, n, "a membership operator");
        if (!v) return {};
        return single(make_bool(contains_item(coll, *v)));
      }
      case operator_kind::concat: {
        auto x = singleton(a, n, "&");
        auto y = singleton(b, n, "&");
        std::string s;
        for (const auto& v : {x, y}) {
          if (!v) continue;
          value sv = to_system(*v);
          if (sv.k != value::kind::string) fail("invalid", "& requires Strings", n.offset);
          s += sv.s;
        }
        return single(make_str(std::move(s)));
      }
      default: break;
    }
    // arithmetic
    auto x = singleton(a, n, "an arithmetic operator");
    auto y = singleton(b, n, "an arithmetic operator");
    if (!x || !y) return {};
    return arithmetic(n, to_system(*x, true), to_system(*y, true));
  }

  bool equivalent_collections(const collection& a, const collection& b) {
    if (a.size() != b.size()) return false;
    std::vector<bool> used(b.size(), false);
    for (const auto& x : a) {
      bool found = false;
      for (std::size_t i = 0; i < b.size(); ++i) {
        if (!used[i] && items_equivalent(x, b[i])) {
          used[i] = true;
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
    return true;
  }

  std::optional<int> compare(const value& x0, const value& y0, const node& n) {
    bool q = x0.k == value::kind::quantity || y0.k == value::kind::quantity;
    value x = to_system(x0, q), y = to_system(y0, q);
    if (is_numeric(x) && is_numeric(y)) return dec_cmp(as_dec(x), as_dec(y));
    if (x.k == value::kind::string && y.k == value::kind::string) {
      int c = x.s.compare(y.s);
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (is_temporal(x) && is_temporal(y)) {
      bool incomparable = false;
      auto c = temporal_cmp(x.t, y.t, incomparable);
      if (incomparable) fail("invalid", "cannot compare a Time with a Date or DateTime", n.offset);
      return c;
    }
    if (x.k == value::kind::quantity && y.k == value::kind::quantity) {
      decimal a, b;
      if (!common_units(x.q, y.q, a, b)) return std::nullopt;
      return dec_cmp(a, b);
    }
    fail("invalid", "cannot compare " + type_name(x) + " with " + type_name(y), n.offset);
  }

  collection arithmetic(const node& n, const value& x, const value& y) {
    using K = value::kind;
    auto overflow = [&]() -> collection { return {}; };  // N1 §6.6: empty on overflow
    if (x.k == K::integer && y.k == K::integer) {
      std::int64_t r = 0;
      // Integer is 32-bit (N1 §2.1.8): a result outside that range overflows.
      auto make_int = [](std::int64_t v) -> value {
        value out;
        out.k = value::kind::integer;
        out.i = v;
        return out;
      };
      auto in_range = [](std::int64_t v) { return v >= -2147483648LL && v <= 2147483647LL; };
      switch (n.op) {
        case operator_kind::plus:
          if (__builtin_add_overflow(x.i, y.i, &r) || !in_range(r)) return overflow();
          return single(make_int(r));
        case operator_kind::minus:
          if (__builtin_sub_overflow(x.i, y.i, &r) || !in_range(r)) return overflow();
          return single(make_int(r));
        case operator_kind::multiply:
          if (__builtin_mul_overflow(x.i, y.i, &r) || !in_range(r)) return overflow();
          return single(make_int(r));
        case operator_kind::div:
          if (y.i == 0) return {};
          return single(make_int(x.i / y.i));
        case operator_kind::mod:
          if (y.i == 0) return {};
          return single(make_int(x.i % y.i));
        default: break;  // divide: Decimal below
      }
    }
    if (is_numeric(x) && is_numeric(y)) {
      decimal a = as_dec(x), b = as_dec(y);
      std::optional<decimal> r;
      switch (n.op) {
        case operator_kind::plus: r = dec_add(a, b, false); break;
        case operator_kind::minus: r = dec_add(a, b, true); break;
        case operator_kind::multiply: r = dec_mul(a, b); break;
        case operator_kind::divide: r = dec_div(a, b); break;
        case operator_kind::div: {
          auto q = dec_div(a, b);
          if (!q) return {};
          decimal t = round_to(*q, q->scale);
          while (t.scale > 0) { t.mantissa /= 10; --t.scale; }
          return single(make_dec(t));
        }
        case operator_kind::mod: {
          if (b.mantissa == 0) return {};
          int s = std::max(a.scale, b.scale);
          if (!rescale(a, s) || !rescale(b, s)) return {};
          return single(make_dec(decimal{a.mantissa % b.mantissa, s}));
        }
        default: break;
      }
      if (!r) return {};
      return single(make_dec(*r));
    }
    if (x.k == K::string && y.k == K::string && n.op == operator_kind::plus) return single(make_str(x.s + y.s));
    if (is_temporal(x) && y.k == K::quantity &&
        (n.op == operator_kind::plus || n.op == operator_kind::minus))
      return single(make_temporal(add_duration(x.t, y.q, n.op == operator_kind::minus, n)));
    if (x.k == K::quantity && y.k == K::quantity &&
        (n.op == operator_kind::plus || n.op == operator_kind::minus)) {
      // The result is in the left operand's unit.
      decimal a, b;
      if (!common_units(x.q, y.q, a, b)) return {};
      auto r = dec_add(a, b, n.op == operator_kind::minus);
      if (!r) return {};
      quantity_value q = x.q;
      q.value = *r;
      return single(make_quantity(q));
    }
    if ((x.k == K::quantity || y.k == K::quantity) &&
        (n.op == operator_kind::multiply || n.op == operator_kind::divide))
      return quantity_product(n, x, y);
    if (x.k == K::quantity || y.k == K::quantity)
      fail("invalid", "operator " + std::string(to_string(n.op)) + " is not defined for " + type_name(x) + " and " +
                          type_name(y),
           n.offset);
    fail("invalid", "operator " + std::string(to_string(n.op)) + " is not defined for " + type_name(x) + " and " +
                        type_name(y),
         n.offset);
  }

  // N1 §6.2.1 / §6.2.2: Quantity * and / Quantity or number. Values multiply
  // or divide exactly (/ as for decimals); units combine by UCUM algebra
  // (2.0 'cm' * 2.0 'm' is 4.00 'cm.m', equal to 0.040 'm2'). A number is a
  // quantity of unit '1'. Division by zero is empty.
  collection quantity_product(const node& n, const value& x, const value& y) {
    using K = value::kind;
    const bool divide = n.op == operator_kind::divide;
    auto as_quantity = [&](const value& v) -> quantity_value {
      if (v.k == K::quantity) return v.q;
      if (is_numeric(v)) return quantity_value{as_dec(v), "1", false};
      fail("invalid", "operator " + std::string(to_string(n.op)) + " is not defined for " + type_name(x) + " and " +
                          type_name(y),
           n.offset);
    };
    quantity_value a = as_quantity(x), b = as_quantity(y);
    auto ua = ucum_unit(a), ub = ucum_unit(b);
    if (!ua || !ub)
      fail("not-supported", "quantity * and / need UCUM units (calendar years and months have none)", n.offset);
    auto value = divide ? dec_div(a.value, b.value) : dec_mul(a.value, b.value);
    if (!value) return {};
    quantity_value q;
    q.value = *value;
    if (b.unit == "1" && !b.calendar) {
      q.unit = a.unit;
      q.calendar = a.calendar;
    } else if (a.unit == "1" && !a.calendar && !divide) {
      q.unit = b.unit;
      q.calendar = b.calendar;
    } else {
      auto u = divide ? ucum::divide(*ua, *ub) : ucum::multiply(*ua, *ub);
      if (!u) fail(u.error().code, "quantity " + std::string(divide ? "/" : "*") + ": " + u.error().message, n.offset);
      q.unit = u->expression;
    }
    return single(make_quantity(q));
  }

  // N1 §6.6 date/time arithmetic: calendar units; a fractional amount of a
  // unit is truncated to whole units (the official R4 tests: + 7.7 days adds 7
  // days, + 0.1 's' adds nothing).
  temporal_value add_duration(temporal_value tv, const quantity_value& q, bool subtract, const node& n) {
    std::string unit = q.unit;
    if (!q.calendar) {
      static const std::pair<const char*, const char*> ucum[] = {
          {"wk", "week"}, {"d", "day"}, {"h", "hour"},
          {"min", "minute"}, {"s", "second"}, {"ms", "millisecond"}};
      // UCUM 'a' and 'mo' are not calendar years/months (N1 §6.6.1): rejected.
      bool ok = false;
      for (auto [u, c] : ucum)
        if (unit == u) {
          unit = c;
          ok = true;
        }
      if (auto kw = calendar_keyword(unit); !ok && kw) {
        unit = *kw;
        ok = true;
      }
      if (!ok) fail("invalid", "a date/time can only be added a time-valued quantity", n.offset);
    }
    decimal amount = q.value;
    if (subtract) amount.mantissa = -amount.mantissa;
    temporal& t = tv.t;
    // Dates run from year 1 to 9999 (N1 §2.1.5): no sensible amount moves a
    // date by more than ~3.2e14 ms, so anything larger is an error, and every
    // product below is checked rather than allowed to overflow.
    constexpr std::int64_t max_shift_units = 400'000'000'000'000LL;
    auto whole = [&](decimal d) {
      while (d.scale > 0) { d.mantissa /= 10; --d.scale; }
      if (d.mantissa > max_shift_units || d.mantissa < -max_shift_units)
        fail("invalid", "date/time arithmetic out of range", n.offset);
      return static_cast<std::int64_t>(d.mantissa);
    };
    auto times = [&](std::int64_t a, std::int64_t b) {
      std::int64_t r = 0;
      if (__builtin_mul_overflow(a, b, &r)) fail("invalid", "date/time arithmetic out of range", n.offset);
      return r;
    };
    if (tv.k == temporal_value::kind::time && (unit == "year" || unit == "month" || unit == "week" || unit == "day"))
      fail("invalid", "a time cannot be added a date unit", n.offset);
    if (unit == "year" || unit == "month") {
      std::int64_t months = times(whole(amount), unit == "year" ? 12 : 1);
      std::int64_t total = static_cast<std::int64_t>(t.year) * 12 + (t.month ? t.month - 1 : 0) + months;
      if (total < 12 || total >= 10000 * 12) fail("invalid", "date/time arithmetic out of range", n.offset);
      t.year = static_cast<int>(total / 12);
      if (t.month) t.month = static_cast<int>(total % 12) + 1;
      if (t.day) t.day = std::min(t.day, days_in_month(t.year, t.month));
      return tv;
    }
    std::int64_t ms = 0;
    if (unit == "week") ms = times(whole(amount), 7 * 86400000LL);
    else if (unit == "day") ms = times(whole(amount), 86400000LL);
    else if (unit == "hour") ms = times(whole(amount), 3600000LL);
    else if (unit == "minute") ms = times(whole(amount), 60000LL);
    else if (unit == "second") ms = times(whole(amount), 1000LL);  // whole units only (testPlusDate19)
    else if (unit == "millisecond") ms = whole(amount);
    // Below the value's precision the addition is in whole units of that precision.
    static const std::int64_t unit_ms[] = {0, 0, 86400000LL, 3600000LL, 60000LL, 1000LL, 1LL};
    int p = static_cast<int>(t.prec);
    if (p < 2) {
      // year/month precision: only whole years/months can change it (and
      // unit_ms has no entry to round to).
      return tv;
    }
    if (p < static_cast<int>(prec::millisecond)) ms = ms / unit_ms[p] * unit_ms[p];
    if (tv.k == temporal_value::kind::time) {
      std::int64_t day = 86400000LL;
      std::int64_t cur = ((t.hour * 60LL + t.minute) * 60 + t.second) * 1000 + t.millisecond;
      cur = ((cur + ms % day) % day + day) % day;  // ms % day first: no overflow
      t.hour = static_cast<int>(cur / 3600000);
      t.minute = static_cast<int>(cur / 60000 % 60);
      t.second = static_cast<int>(cur / 1000 % 60);
      t.millisecond = static_cast<int>(cur % 1000);
      return tv;
    }
    std::int64_t shifted = 0;
    if (__builtin_add_overflow(epoch_ms(t), ms, &shifted)) fail("invalid", "date/time arithmetic out of range", n.offset);
    set_from_epoch_ms(t, shifted);
    if (t.year < 1 || t.year > 9999) fail("invalid", "date/time arithmetic out of range", n.offset);
    return tv;
  }

  // ---- references and profiles (FHIR R4 fhirpath.html#functions)

  // The JSON subtree of `root` that contains `target` (by address).
  static bool contains_node(const json_value& root, const json_value* target) {
    if (&root == target) return true;
    if (root.is_object()) {
      for (const auto& m : root.members())
        if (contains_node(m.value, target)) return true;
    } else if (root.is_array()) {
      for (const auto& x : root.items())
        if (contains_node(x, target)) return true;
    }
    return false;
  }

  // A resource's contained resource with `id`.
  static const json_value* find_contained(const json_value& resource, std::string_view id) {
    if (const json_value* c = resource.find("contained"); c && c->is_array())
      for (const auto& r : c->items())
        if (const json_value* rid = r.find("id"); rid && rid->is_string() && rid->str() == id) return &r;
    return nullptr;
  }

  // The resource a Reference (its `reference`) or a uri/url/canonical string
  // names: "#id" in the resource that holds the reference (R4
  // references.html#contained); otherwise an entry of the Bundle being
  // evaluated, by fullUrl or, for "Type/id" (optionally with /_history/v),
  // by resource type and id (R4 bundle.html#references, simplified: the
  // base URL of a relative reference is not compared); then ctx.resolver.
  const json_value* resolve_reference(const value& v) {
    if (v.k != value::kind::node || v.json == nullptr) return nullptr;
    std::string_view ref;
    if (v.json->is_object()) {
      const json_value* r = v.json->find("reference");
      if (!r || !r->is_string()) return nullptr;
      ref = r->str();
    } else if (v.json->is_string()) {
      ref = v.json->str();
    } else {
      return nullptr;
    }
    const json_value& root = *root_.json;
    const bool bundle = resource_type_of(root) == "Bundle";
    const json_value* entries = bundle ? root.find("entry") : nullptr;
    if (ref.starts_with("#")) {
      // The resource holding the reference: a Bundle entry's resource, or the root.
      const json_value* holder = &root;
      if (entries && entries->is_array())
        for (const auto& e : entries->items())
          if (const json_value* r = e.find("resource"); r && contains_node(*r, v.json)) holder = r;
      if (ref.size() == 1) return holder;  // "#" is the holding resource itself
      return find_contained(*holder, ref.substr(1));
    }
    if (entries && entries->is_array()) {
      // "[base/]Type/id[/_history/v]" → Type and id.
      std::string_view path = ref.substr(0, ref.find("/_history/"));
      std::size_t slash = path.rfind('/');
      std::string_view want_id = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
      std::string_view rest = slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
      std::string_view want_type = rest.substr(rest.rfind('/') + 1);  // npos + 1 == 0
      for (const auto& e : entries->items()) {
        const json_value* r = e.find("resource");
        if (!r || !r->is_object()) continue;
        if (const json_value* fu = e.find("fullUrl"); fu && fu->is_string() && fu->str() == ref) return r;
        const json_value* id = r->find("id");
        if (!want_id.empty() && id && id->is_string() && id->str() == want_id && resource_type_of(*r) == want_type)
          return r;
      }
    }
    return ctx_.resolver ? ctx_.resolver(ref) : nullptr;
  }

  // conformsTo() for a core StructureDefinition: the item's type is the
  // profile's type or specialises it (its base chain reaches it).
  bool conforms_to_core(const value& v, std::string_view url, const node& n) {
    const type_definition* profile = nullptr;
    for (const auto& t : defs_.types())
      if (!t.url.empty() && t.url == url) profile = &t;
    if (!profile) fail("not-found", "conformsTo(): no StructureDefinition with that URL is known", n.offset);
    std::string_view t = v.k == value::kind::node ? v.fhir_type : std::string_view{};
    for (int guard = 0; !t.empty() && guard < 16; ++guard) {
      if (t == profile->name) return true;
      const type_definition* d = defs_.find_type(t);
      t = d ? d->base : std::string_view{};
    }
    return false;
  }

  // ---- functions (N1 §5)

  void arity(const node& n, std::size_t lo, std::size_t hi) {
    std::size_t c = n.child_count;
    if (c < lo || c > hi)
      fail("invalid", "function '" + n.text + "' takes " + std::to_string(lo) +
                          (hi != lo ? ".." + std::to_string(hi) : "") + " arguments",
           n.offset);
  }

  // Evaluates argument `i` with the original input ($this = the function's
  // context item when `item` is given).
  collection arg(const node& n, std::size_t i, const collection& input, const frame& f) {
    return eval(e_.children(n)[i], input, f);
  }

  collection with_item(const node& n, std::size_t i, const value& v, std::int64_t index, const frame& f,
                       const collection* total = nullptr) {
    collection one{v};
    frame g = f;
    g.this_ = &one;
    g.index = index;
    if (total) g.total = total;
    return eval(e_.children(n)[i], one, g);
  }

  std::optional<std::string> focus_string(const collection& focus, const node& n) {
    auto v = singleton(focus, n, ("function '" + n.text + "'").c_str());
    if (!v) return std::nullopt;
    value s = to_system(*v);
    if (s.k != value::kind::string)
      fail("invalid", "function '" + n.text + "' requires a String input", n.offset);
    return s.s;
  }

  collection call(node_id, const node& n, const collection& focus, const collection& input, const frame& f) {
    const std::string& fn = n.text;
    // Arguments that are not iterated are evaluated against the expression's
    // input (N1 §5: "evaluated ... with respect to the context of the function"),
    // i.e. the same input the function's focus started from.
    const collection& arg_input = f.this_ ? *f.this_ : input;

    // existence
    if (fn == "empty") { arity(n, 0, 0); return single(make_bool(focus.empty())); }
    if (fn == "exists") {
      arity(n, 0, 1);
      if (n.child_count == 0) return single(make_bool(!focus.empty()));
      return single(make_bool(!where(n, focus, f).empty()));
    }
    if (fn == "all") {
      arity(n, 1, 1);
      for (std::size_t i = 0; i < focus.size(); ++i) {
        auto r = as_boolean(with_item(n, 0, focus[i], static_cast<std::int64_t>(i), f), n, "all()");
        if (!r || !*r) return single(make_bool(false));
      }
      return single(make_bool(true));
    }
    if (fn == "allTrue" || fn == "anyTrue" || fn == "allFalse" || fn == "anyFalse") {
      arity(n, 0, 0);
      bool want = fn == "allTrue" || fn == "anyTrue";
      bool all = fn.starts_with("all");
      for (const auto& v : focus) {
        value s = to_system(v);
        if (s.k != value::kind::boolean) fail("invalid", fn + "() requires Booleans", n.offset);
        if (all && s.b != want) return single(make_bool(false));
        if (!all && s.b == want) return single(make_bool(true));
      }
      return single(make_bool(all));
    }
    if (fn == "subsetOf" || fn == "supersetOf") {
      arity(n, 1, 1);
      collection other = arg(n, 0, arg_input, f);
      const collection& sub = fn == "subsetOf" ? focus : other;
      const collection& sup = fn == "subsetOf" ? other : focus;
      for (const auto& v : sub)
        if (!contains_item(sup, v)) return single(make_bool(false));
      return single(make_bool(true));
    }
    if (fn == "isDistinct") { arity(n, 0, 0); return single(make_bool(distinct(focus).size() == focus.size())); }
    if (fn == "distinct") { arity(n, 0, 0); return distinct(focus); }
    if (fn == "count") { arity(n, 0, 0); return single(make_int(static_cast<std::int64_t>(focus.size()))); }

    // filtering and projection
    if (fn == "where") { arity(n, 1, 1); return where(n, focus, f); }
    if (fn == "select") {
      arity(n, 1, 1);
      collection out;
      for (std::size_t i = 0; i < focus.size(); ++i) {
        collection r = with_item(n, 0, focus[i], static_cast<std::int64_t>(i), f);
        count(r.size(), n);
        out.insert(out.end(), r.begin(), r.end());
      }
      return out;
    }
    if (fn == "repeat") {
      arity(n, 1, 1);
      collection out, work = focus;
      while (!work.empty()) {
        collection next;
        for (std::size_t i = 0; i < work.size(); ++i) {
          collection r = with_item(n, 0, work[i], static_cast<std::int64_t>(i), f);
          for (auto& v : r) {
            if (contains_item(out, v)) continue;
            out.push_back(v);
            next.push_back(v);
          }
          count(r.size(), n);
        }
        work = std::move(next);
      }
      return out;
    }
    if (fn == "ofType") {
      arity(n, 1, 1);
      auto t = e_.type_argument(e_.children(n)[0]);
      if (!t) fail("invalid", "ofType() requires a type name", n.offset);
      return type_op(false, *t, focus, n, false);
    }
    if (fn == "is" || fn == "as") {
      arity(n, 1, 1);
      auto t = e_.type_argument(e_.children(n)[0]);
      if (!t) fail("invalid", fn + "() requires a type name", n.offset);
      return type_op(fn == "is", *t, focus, n, fn == "is");
    }

    // subsetting
    if (fn == "single") {
      arity(n, 0, 0);
      if (focus.size() > 1) fail("invalid", "single() found more than one item", n.offset);
      return focus;
    }
    if (fn == "first") { arity(n, 0, 0); return focus.empty() ? collection{} : single(focus.front()); }
    if (fn == "last") { arity(n, 0, 0); return focus.empty() ? collection{} : single(focus.back()); }
    if (fn == "tail") { arity(n, 0, 0); return focus.size() <= 1 ? collection{} : collection(focus.begin() + 1, focus.end()); }
    if (fn == "skip" || fn == "take") {
      arity(n, 1, 1);
      auto k = int_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
      if (!k) return fn == "skip" ? focus : collection{};
      std::size_t c = *k <= 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(*k), focus.size());
      if (fn == "skip") return collection(focus.begin() + static_cast<std::ptrdiff_t>(c), focus.end());
      return collection(focus.begin(), focus.begin() + static_cast<std::ptrdiff_t>(c));
    }
    if (fn == "intersect" || fn == "exclude") {
      arity(n, 1, 1);
      collection other = arg(n, 0, arg_input, f);
      collection out;
      for (const auto& v : focus) {
        bool in = contains_item(other, v);
        if (fn == "intersect" ? in && !contains_item(out, v) : !in) out.push_back(v);
      }
      return out;
    }
    if (fn == "union") {
      arity(n, 1, 1);
      collection all = focus, other = arg(n, 0, arg_input, f);
      all.insert(all.end(), other.begin(), other.end());
      return distinct(all);
    }
    if (fn == "combine") {
      arity(n, 1, 1);
      collection all = focus, other = arg(n, 0, arg_input, f);
      all.insert(all.end(), other.begin(), other.end());
      count(all.size(), n);
      return all;
    }

    // tree navigation
    if (fn == "children") {
      arity(n, 0, 0);
      collection out;
      for (const auto& v : focus) children_of(v, out);
      count(out.size(), n);
      return out;
    }
    if (fn == "descendants") {
      arity(n, 0, 0);
      collection out, work = focus;
      while (!work.empty()) {
        collection next;
        for (const auto& v : work) children_of(v, next);
        count(next.size(), n);
        out.insert(out.end(), next.begin(), next.end());
        work = std::move(next);
      }
      return out;
    }

    // utility
    if (fn == "trace") { arity(n, 1, 2); return focus; }
    if (fn == "now" || fn == "today" || fn == "timeOfDay") { arity(n, 0, 0); return single(clock_value(fn)); }
    if (fn == "iif") {
      arity(n, 2, 3);
      if (focus.size() > 1) fail("invalid", "iif() requires a single input item", n.offset);
      // With an explicit focus (`x.iif(...)`) the arguments see it as $this.
      collection iif_this = n.focus != no_node ? focus : arg_input;
      frame g = f;
      if (n.focus != no_node) g.this_ = &iif_this;
      const collection& ai = n.focus != no_node ? iif_this : arg_input;
      collection c = arg(n, 0, ai, g);
      auto v = singleton(c, n, "iif() criterion");
      bool cond = false;
      if (v) {
        value s = to_system(*v);
        if (s.k != value::kind::boolean) fail("invalid", "iif() criterion must be a Boolean", n.offset);
        cond = s.b;
      }
      if (cond) return arg(n, 1, ai, g);
      if (n.child_count == 3) return arg(n, 2, ai, g);
      return {};
    }
    if (fn == "not") {
      arity(n, 0, 0);
      auto b = as_boolean(focus, n, "not()");
      if (!b) return {};
      return single(make_bool(!*b));
    }
    if (fn == "aggregate") {
      arity(n, 1, 2);
      collection total = n.child_count == 2 ? arg(n, 1, arg_input, f) : collection{};
      for (std::size_t i = 0; i < focus.size(); ++i) {
        collection t = total;
        total = with_item(n, 0, focus[i], static_cast<std::int64_t>(i), f, &t);
      }
      return total;
    }
    if (fn == "hasValue") {
      arity(n, 0, 0);
      if (focus.size() != 1) return single(make_bool(false));
      const value& v = focus.front();
      bool has = v.k != value::kind::node || (v.json && !v.json->is_object() && !v.json->is_array());
      return single(make_bool(has));
    }
    if (fn == "extension") {
      arity(n, 1, 1);
      auto url = string_arg(arg(n, 0, arg_input, f), n, "extension()");
      if (!url) return {};
      collection out;
      for (const auto& v : focus) {
        collection exts;
        navigate_extension(v, exts);
        for (auto& x : exts) {
          const json_value* u = x.json ? x.json->find("url") : nullptr;
          if (u && u->is_string() && u->str() == *url) out.push_back(x);
        }
      }
      return out;
    }

    // strings
    if (fn == "toString") {
      arity(n, 0, 0);
      auto v = singleton(focus, n, "toString()");
      if (!v) return {};
      auto s = to_string_value(*v);
      if (!s) return {};
      return single(make_str(*s));
    }
    if (fn == "length" || fn == "upper" || fn == "lower" || fn == "toChars" || fn == "trim") {
      arity(n, 0, 0);
      auto s = focus_string(focus, n);
      if (!s) return {};
      if (fn == "length") return single(make_int(static_cast<std::int64_t>(utf8_chars(*s).size())));
      if (fn == "upper" || fn == "lower") {
        std::string r = *s;
        for (char c : r)
          if (static_cast<unsigned char>(c) >= 0x80)
            fail("not-supported", fn + "() of non-ASCII text is not supported yet", n.offset);
        for (auto& c : r)
          c = static_cast<char>(fn == "upper" ? std::toupper(static_cast<unsigned char>(c))
                                              : std::tolower(static_cast<unsigned char>(c)));
        return single(make_str(r));
      }
      if (fn == "trim") {
        std::size_t b = 0, e = s->size();
        while (b < e && std::isspace(static_cast<unsigned char>((*s)[b]))) ++b;
        while (e > b && std::isspace(static_cast<unsigned char>((*s)[e - 1]))) --e;
        return single(make_str(s->substr(b, e - b)));
      }
      collection out;
      for (auto& c : utf8_chars(*s)) out.push_back(make_str(c));
      return out;
    }
    if (fn == "indexOf" || fn == "startsWith" || fn == "endsWith" || fn == "contains") {
      arity(n, 1, 1);
      auto s = focus_string(focus, n);
      auto a = string_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
      if (!s || !a) return {};
      if (fn == "startsWith") return single(make_bool(s->starts_with(*a)));
      if (fn == "endsWith") return single(make_bool(s->ends_with(*a)));
      if (fn == "contains") return single(make_bool(s->find(*a) != std::string::npos));
      std::size_t p = s->find(*a);
      if (p == std::string::npos) return single(make_int(-1));
      return single(make_int(static_cast<std::int64_t>(utf8_chars(s->substr(0, p)).size())));
    }
    if (fn == "substring") {
      arity(n, 1, 2);
      auto s = focus_string(focus, n);
      auto start = int_arg(arg(n, 0, arg_input, f), n, "substring()");
      if (!s || !start) return {};
      auto chars = utf8_chars(*s);
      if (*start < 0 || static_cast<std::size_t>(*start) >= chars.size()) return {};
      std::size_t len = chars.size() - static_cast<std::size_t>(*start);
      if (n.child_count == 2) {
        auto l = int_arg(arg(n, 1, arg_input, f), n, "substring()");
        if (l) len = *l <= 0 ? 0 : std::min<std::size_t>(len, static_cast<std::size_t>(*l));
      }
      std::string r;
      for (std::size_t i = 0; i < len; ++i) r += chars[static_cast<std::size_t>(*start) + i];
      return single(make_str(r));
    }
    if (fn == "replace") {
      arity(n, 2, 2);
      auto s = focus_string(focus, n);
      auto pat = string_arg(arg(n, 0, arg_input, f), n, "replace()");
      auto rep = string_arg(arg(n, 1, arg_input, f), n, "replace()");
      if (!s || !pat || !rep) return {};
      std::string r;
      if (pat->empty()) {
        // N1: an empty pattern inserts the substitution around every character.
        r = *rep;
        for (auto& c : utf8_chars(*s)) r += c + *rep;
        return single(make_str(r));
      }
      std::size_t pos = 0;
      for (;;) {
        std::size_t p = s->find(*pat, pos);
        if (p == std::string::npos) break;
        r += s->substr(pos, p - pos) + *rep;
        pos = p + pat->size();
      }
      r += s->substr(pos);
      return single(make_str(r));
    }
    if (fn == "matches" || fn == "matchesFull" || fn == "replaceMatches") {
      arity(n, fn == "replaceMatches" ? 2 : 1, fn == "replaceMatches" ? 2 : 1);
      auto s = focus_string(focus, n);
      auto pat = string_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
      std::optional<std::string> rep;
      if (fn == "replaceMatches") rep = string_arg(arg(n, 1, arg_input, f), n, "replaceMatches()");
      if (!s || !pat || (fn == "replaceMatches" && !rep)) return {};
      // RE2 matches in linear time (detail/fhirpath_regex.hpp); the bounds only
      // keep one call's work and memory proportionate: a narrative div fits.
      if (s->size() > (1u << 20) || pat->size() > 4096)
        fail("too-costly", "string or pattern too long for a regular expression", n.offset);
      if (fn == "replaceMatches" && pat->empty()) return single(make_str(*s));
      const std::string& re = *pat;
      if (fn == "replaceMatches") {
        auto r = detail::regex_replace_all(*s, re, *rep);
        if (!r) fail("invalid", "invalid regular expression", n.offset);
        return single(make_str(*r));
      }
      auto m = detail::regex_matches(*s, re, fn == "matchesFull");
      if (!m) fail("invalid", "invalid regular expression", n.offset);
      return single(make_bool(*m));
    }
    if (fn == "split") {
      arity(n, 1, 1);
      auto s = focus_string(focus, n);
      auto sep = string_arg(arg(n, 0, arg_input, f), n, "split()");
      if (!s || !sep) return {};
      collection out;
      if (sep->empty()) {
        for (auto& c : utf8_chars(*s)) out.push_back(make_str(c));
        return out;
      }
      std::size_t pos = 0;
      for (;;) {
        std::size_t p = s->find(*sep, pos);
        if (p == std::string::npos) break;
        out.push_back(make_str(s->substr(pos, p - pos)));
        pos = p + sep->size();
      }
      out.push_back(make_str(s->substr(pos)));
      return out;
    }
    if (fn == "join") {
      arity(n, 0, 1);
      std::string sep;
      if (n.child_count == 1) sep = string_arg(arg(n, 0, arg_input, f), n, "join()").value_or("");
      std::string r;
      for (std::size_t i = 0; i < focus.size(); ++i) {
        value s = to_system(focus[i]);
        if (s.k != value::kind::string) fail("invalid", "join() requires Strings", n.offset);
        if (i) r += sep;
        r += s.s;
      }
      return single(make_str(r));
    }

    // conversions
    if (fn.starts_with("to") || fn.starts_with("convertsTo")) {
      bool converts = fn.starts_with("convertsTo");
      std::string target = converts ? fn.substr(10) : fn.substr(2);
      static const char* known[] = {"Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity"};
      bool ok = false;
      for (const char* k : known) ok = ok || target == k;
      if (ok) {
        arity(n, 0, target == "Quantity" ? 1 : 0);
        auto v = singleton(focus, n, (fn + "()").c_str());
        if (!v) return {};
        std::optional<std::string> unit;
        if (n.child_count == 1) unit = string_arg(arg(n, 0, arg_input, f), n, fn.c_str());
        auto r = convert(to_system(*v, true), target, unit);
        if (converts) return single(make_bool(r.has_value()));
        if (!r) return {};
        return single(*r);
      }
    }

    // math
    if (fn == "abs" || fn == "ceiling" || fn == "floor" || fn == "truncate" || fn == "exp" || fn == "ln" ||
        fn == "sqrt" || fn == "round" || fn == "log" || fn == "power") {
      bool two = fn == "log" || fn == "power";
      arity(n, two ? 1 : 0, fn == "round" || two ? 1 : 0);
      auto v = singleton(focus, n, (fn + "()").c_str());
      if (!v) return {};
      value x = to_system(*v, true);
      if (fn == "abs" && x.k == value::kind::quantity) {
        if (x.q.value.mantissa < 0) x.q.value.mantissa = -x.q.value.mantissa;
        return single(x);
      }
      if (!is_numeric(x)) fail("invalid", fn + "() requires a number", n.offset);
      return math(n, fn, x, arg_input, f);
    }

    if (fn == "sort") return sort(n, focus, f);
    if (fn == "type") {
      arity(n, 0, 0);
      collection out;
      for (const auto& v : focus) {
        if (v.k != value::kind::node) {
          out.push_back(node_value(type_info_json("System", type_name(v)), nullptr, {}));
        } else if (!v.fhir_type.empty() && defs_.find_type(v.fhir_type)) {
          out.push_back(node_value(type_info_json("FHIR", v.fhir_type), nullptr, {}));
        } else {
          fail("not-supported", "type() of an element of unknown type is not supported yet", n.offset);
        }
      }
      return out;
    }
    if (fn == "precision") {
      // FHIRPath 3.0 (STU) precision(): fraction digits of a decimal, digits of a date/time.
      arity(n, 0, 0);
      auto v = singleton(focus, n, "precision()");
      if (!v) return {};
      value x = to_system(*v);
      if (x.k == value::kind::decimal_) return single(make_int(x.d.scale));
      if (is_temporal(x)) {
        static const int dt_digits[] = {4, 6, 8, 10, 12, 14, 17};
        static const int time_digits[] = {0, 0, 0, 2, 4, 6, 9};
        int p = static_cast<int>(x.t.t.prec);
        return single(make_int(x.k == value::kind::time ? time_digits[p] : dt_digits[p]));
      }
      fail("invalid", "precision() requires a Decimal, Date, DateTime or Time", n.offset);
    }
    if (fn == "resolve") {
      arity(n, 0, 0);
      collection out;
      for (const auto& v : focus) {
        const json_value* target = resolve_reference(v);
        if (target) out.push_back(node_value(target, nullptr, resource_type_of(*target)));
      }
      count(out.size(), n);
      return out;
    }
    if (fn == "memberOf") {
      arity(n, 1, 1);
      auto url = string_arg(arg(n, 0, arg_input, f), n, "memberOf()");
      auto v = singleton(focus, n, "memberOf()");
      if (!url || !v) return {};
      if (!ctx_.member_of) fail("not-supported", "memberOf() needs a terminology service", n.offset);
      auto r = ctx_.member_of(*v, *url);
      if (!r) fail(r.error().code, r.error().message, n.offset);
      return single(make_bool(*r));
    }
    if (fn == "conformsTo") {
      arity(n, 1, 1);
      auto url = string_arg(arg(n, 0, arg_input, f), n, "conformsTo()");
      auto v = singleton(focus, n, "conformsTo()");
      if (!url || !v) return {};
      if (ctx_.conforms_to) {
        if (auto r = ctx_.conforms_to(*v, *url)) {
          if (!*r) fail(r->error().code, r->error().message, n.offset);
          return single(make_bool(**r));
        }
      }
      return single(make_bool(conforms_to_core(*v, *url, n)));
    }
    if (fn == "comparable") {
      // FHIRPath 3.0 (STU) comparable(): the two quantities' units convert
      // into each other (UCUM).
      arity(n, 1, 1);
      auto v = singleton(focus, n, "comparable()");
      auto w = singleton(arg(n, 0, arg_input, f), n, "comparable()");
      if (!v || !w) return {};
      value a = to_system(*v, true), b = to_system(*w, true);
      if (a.k != value::kind::quantity || b.k != value::kind::quantity)
        fail("invalid", "comparable() requires two Quantities", n.offset);
      if (canonical_unit(a.q) == canonical_unit(b.q)) return single(make_bool(true));
      auto ua = ucum_unit(a.q), ub = ucum_unit(b.q);
      return single(make_bool(ua && ub && ucum::comparable(*ua, *ub)));
    }
    if (fn == "lowBoundary" || fn == "highBoundary") {
      arity(n, 0, 1);
      const bool high = fn == "highBoundary";
      auto v = singleton(focus, n, (fn + "()").c_str());
      if (!v) return {};
      value x = to_system(*v, true);
      std::optional<std::int64_t> digits;
      if (n.child_count == 1) {
        digits = int_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
        if (!digits) return {};
      }
      switch (x.k) {
        case value::kind::integer:
        case value::kind::decimal_: {
          auto r = decimal_boundary(as_dec(x), digits.value_or(8), high);
          return r ? single(make_dec(*r)) : collection{};
        }
        case value::kind::quantity: {
          auto r = decimal_boundary(x.q.value, digits.value_or(8), high);
          if (!r) return {};
          x.q.value = *r;
          return single(make_quantity(x.q));
        }
        case value::kind::date:
        case value::kind::date_time:
        case value::kind::time: {
          int def = x.k == value::kind::date ? 8 : x.k == value::kind::time ? 9 : 17;
          auto r = temporal_boundary(x.t, digits.value_or(def), high);
          return r ? single(make_temporal(*r)) : collection{};
        }
        default:
          fail("invalid", fn + "() requires a Decimal, Integer, Quantity, Date, DateTime or Time", n.offset);
      }
    }
    if (fn == "encode" || fn == "decode") {
      // FHIRPath 3.0 (STU) encode/decode: base64, urlbase64, hex.
      arity(n, 1, 1);
      auto s = focus_string(focus, n);
      auto enc = string_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
      if (!s || !enc) return {};
      std::optional<std::string> r;
      if (*enc == "hex") r = fn == "encode" ? hex_encode(*s) : hex_decode(*s);
      else if (*enc == "base64" || *enc == "urlbase64")
        r = fn == "encode" ? base64_encode(*s, *enc == "urlbase64") : base64_decode(*s, *enc == "urlbase64");
      else fail("not-supported", "encoding '" + *enc + "' is not supported", n.offset);
      if (!r) return {};
      return single(make_str(*r));
    }
    if (fn == "escape" || fn == "unescape") {
      // FHIRPath 3.0 (STU) escape/unescape: html, json.
      arity(n, 1, 1);
      auto s = focus_string(focus, n);
      auto kind = string_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
      if (!s || !kind) return {};
      if (*kind != "html" && *kind != "json") fail("not-supported", "escape kind '" + *kind + "' is not supported", n.offset);
      return single(make_str(fn == "escape" ? escape(*s, *kind == "html") : unescape(*s, *kind == "html")));
    }
    static const char* unsupported[] = {"htmlChecks",
                                        "getValue", "subsumes", "subsumedBy",
                                        "elementDefinition", "slice", "checkModifiers", "defineVariable"};
    for (const char* u : unsupported)
      if (fn == u) fail("not-supported", "function '" + fn + "' is not supported yet", n.offset);
    fail("invalid", "unknown function '" + fn + "'", n.offset);
  }

  // FHIRPath 3.0 (STU) sort(): by the items themselves, or by each argument
  // in turn; an argument written `-key` sorts that key descending. Stable.
  collection sort(const node& n, const collection& focus, const frame& f) {
    struct key_spec {
      node_id expr;
      bool descending;
    };
    std::vector<key_spec> keys;
    for (node_id c : e_.children(n)) {
      const node& k = at(c);
      if (k.kind == node_kind::unary && k.op == operator_kind::minus) keys.push_back({e_.children(k)[0], true});
      else keys.push_back({c, false});
    }
    std::vector<std::vector<std::optional<value>>> vals(focus.size());
    for (std::size_t i = 0; i < focus.size(); ++i) {
      if (keys.empty()) {
        vals[i].push_back(focus[i]);
        continue;
      }
      collection one{focus[i]};
      frame g = f;
      g.this_ = &one;
      g.index = static_cast<std::int64_t>(i);
      for (const auto& k : keys) vals[i].push_back(singleton(eval(k.expr, one, g), n, "a sort key"));
    }
    std::vector<std::size_t> order(focus.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      for (std::size_t k = 0; k < vals[a].size(); ++k) {
        const auto& x = vals[a][k];
        const auto& y = vals[b][k];
        bool desc = !keys.empty() && keys[k].descending;
        if (!x && !y) continue;
        // An empty key sorts first in either direction (the official R4
        // tests: testSort10).
        if (!x) return true;
        if (!y) return false;
        auto c = compare(*x, *y, n);
        if (!c || *c == 0) continue;
        return desc ? *c > 0 : *c < 0;
      }
      return false;
    });
    collection out;
    for (std::size_t i : order) out.push_back(focus[i]);
    return out;
  }

  static std::string escape(const std::string& s, bool html) {
    std::string r;
    for (char c : s) {
      if (html) {
        if (c == '"') r += "&quot;";
        else if (c == '<') r += "&lt;";
        else if (c == '>') r += "&gt;";
        else if (c == '&') r += "&amp;";
        else if (c == '\'') r += "&#39;";
        else r += c;
      } else {
        if (c == '"') r += "\\\"";
        else if (c == '\\') r += "\\\\";
        else if (c == '\n') r += "\\n";
        else if (c == '\r') r += "\\r";
        else if (c == '\t') r += "\\t";
        else if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          r += buf;
        } else r += c;
      }
    }
    return r;
  }
  static bool all_hex(const std::string& s, std::size_t pos, std::size_t n) {
    if (pos + n > s.size()) return false;
    for (std::size_t i = pos; i < pos + n; ++i)
      if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    return true;
  }
  static std::string unescape(const std::string& s, bool html) {
    std::string r;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (html && s[i] == '&') {
        static const std::pair<std::string_view, char> ents[] = {
            {"&quot;", '"'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&#39;", '\''}, {"&apos;", '\''}};
        bool done = false;
        for (auto [e, c] : ents)
          if (std::string_view(s).substr(i).starts_with(e)) {
            r += c;
            i += e.size() - 1;
            done = true;
            break;
          }
        if (!done) r += '&';
      } else if (!html && s[i] == '\\' && i + 1 < s.size()) {
        char c = s[++i];
        if (c == 'u' &&  all_hex(s, i + 1, 4)) {
          unsigned cp = static_cast<unsigned>(std::stoul(s.substr(i + 1, 4), nullptr, 16));
          i += 4;
          if (cp >= 0xD800 && cp <= 0xDBFF &&  s[i + 1] == '\\' && s[i + 2] == 'u' &&
              all_hex(s, i + 3, 4)) {
            unsigned lo = static_cast<unsigned>(std::stoul(s.substr(i + 3, 4), nullptr, 16));
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              i += 6;
            }
          }
          if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate
          hearth::utf8::append(r, static_cast<char32_t>(cp));
          continue;
        }
        r += c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
      } else {
        r += s[i];
      }
    }
    return r;
  }

  static std::string hex_encode(const std::string& s) {
    static const char* digits = "0123456789abcdef";
    std::string r;
    for (unsigned char c : s) {
      r += digits[c >> 4];
      r += digits[c & 15];
    }
    return r;
  }
  static std::optional<std::string> hex_decode(const std::string& s) {
    if (s.size() % 2) return std::nullopt;
    std::string r;
    for (std::size_t i = 0; i < s.size(); i += 2) {
      int v = 0;
      for (int k = 0; k < 2; ++k) {
        char c = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)])));
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return std::nullopt;
        v = v * 16 + d;
      }
      r += static_cast<char>(v);
    }
    return r;
  }
  static const char* b64_alphabet(bool url) {
    return url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
               : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  }
  static std::string base64_encode(const std::string& s, bool url) {
    const char* a = b64_alphabet(url);
    std::string r;
    std::size_t i = 0;
    for (; i + 2 < s.size(); i += 3) {
      unsigned v = (static_cast<unsigned char>(s[i]) << 16) | (static_cast<unsigned char>(s[i + 1]) << 8) |
                   static_cast<unsigned char>(s[i + 2]);
      r += a[v >> 18];
      r += a[(v >> 12) & 63];
      r += a[(v >> 6) & 63];
      r += a[v & 63];
    }
    if (i < s.size()) {
      unsigned v = static_cast<unsigned char>(s[i]) << 16;
      if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
      r += a[v >> 18];
      r += a[(v >> 12) & 63];
      r += i + 1 < s.size() ? a[(v >> 6) & 63] : '=';
      r += '=';
    }
    return r;
  }
  static std::optional<std::string> base64_decode(const std::string& s, bool url) {
    std::string_view a = b64_alphabet(url);
    std::string r;
    unsigned acc = 0;
    int bits = 0;
    for (char c : s) {
      if (c == '=') break;
      auto p = a.find(c);
      if (p == std::string_view::npos) return std::nullopt;
      acc = (acc << 6) | static_cast<unsigned>(p);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        r += static_cast<char>((acc >> bits) & 0xff);
      }
    }
    return r;
  }

  collection where(const node& n, const collection& focus, const frame& f) {
    collection out;
    for (std::size_t i = 0; i < focus.size(); ++i) {
      auto r = as_boolean(with_item(n, 0, focus[i], static_cast<std::int64_t>(i), f), n, "where()");
      if (r && *r) out.push_back(focus[i]);
    }
    return out;
  }

  void navigate_extension(const value& v, collection& out) {
    if (v.k != value::kind::node) return;
    if (v.json && v.json->is_object()) {
      if (const json_value* e = v.json->find("extension")) add_children(out, e, nullptr, "Extension");
    } else if (v.ext) {
      if (const json_value* e = v.ext->find("extension")) add_children(out, e, nullptr, "Extension");
    }
  }


  static std::vector<std::string> utf8_chars(const std::string& s) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < s.size();) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
      out.push_back(s.substr(i, len));
      i += len;
    }
    return out;
  }

  value clock_value(const std::string& fn) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch()).count();
    temporal_value tv;
    set_from_epoch_ms(tv.t, ms);
    tv.t.has_timezone = true;
    tv.t.timezone_minutes = 0;
    if (fn == "now") {
      tv.k = temporal_value::kind::date_time;
      tv.t.prec = prec::millisecond;
    } else if (fn == "today") {
      tv.k = temporal_value::kind::date;
      tv.t.prec = prec::day;
      tv.t.hour = tv.t.minute = tv.t.second = tv.t.millisecond = 0;
      tv.t.has_timezone = false;
    } else {
      tv.k = temporal_value::kind::time;
      tv.t.prec = prec::millisecond;
      tv.t.year = tv.t.month = tv.t.day = 0;
      tv.t.has_timezone = false;
    }
    return make_temporal(tv);
  }

  // N1 §5.5 conversions; nullopt = does not convert.
  std::optional<value> convert(const value& v, const std::string& target, const std::optional<std::string>& unit) {
    using K = value::kind;
    if (target == "Boolean") {
      if (v.k == K::boolean) return v;
      if (v.k == K::integer) {
        if (v.i == 1 || v.i == 0) return make_bool(v.i == 1);
        return std::nullopt;
      }
      if (v.k == K::decimal_) {
        if (dec_cmp(v.d, from_int(1)) == 0) return make_bool(true);
        if (dec_cmp(v.d, from_int(0)) == 0) return make_bool(false);
        return std::nullopt;
      }
      if (v.k == K::string) {
        std::string l = v.s;
        for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (l == "true" || l == "t" || l == "yes" || l == "y" || l == "1" || l == "1.0") return make_bool(true);
        if (l == "false" || l == "f" || l == "no" || l == "n" || l == "0" || l == "0.0") return make_bool(false);
      }
      return std::nullopt;
    }
    if (target == "Integer") {
      if (v.k == K::integer) return v;
      if (v.k == K::boolean) return make_int(v.b ? 1 : 0);
      if (v.k == K::string) {
        std::string_view s = v.s;
        std::size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
        if (i == s.size() || s.size() > 11) return std::nullopt;
        for (std::size_t j = i; j < s.size(); ++j)
          if (s[j] < '0' || s[j] > '9') return std::nullopt;
        long long r = std::strtoll(v.s.c_str(), nullptr, 10);
        if (r > 2147483647LL || r < -2147483648LL) return std::nullopt;
        return make_int(r);
      }
      return std::nullopt;
    }
    if (target == "Decimal") {
      if (v.k == K::decimal_) return v;
      if (v.k == K::integer) return make_dec(from_int(v.i));
      if (v.k == K::boolean) return make_dec(decimal{v.b ? 10 : 0, 1});  // N1 §5.5.4: 1.0 / 0.0
      if (v.k == K::string) {
        std::string_view s = v.s;
        // FHIRPath decimal syntax: (\+|-)?\d+(\.\d+)?
        std::size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
        std::size_t d = i;
        while (d < s.size() && s[d] >= '0' && s[d] <= '9') ++d;
        if (d == i) return std::nullopt;
        if (d < s.size()) {
          if (s[d] != '.') return std::nullopt;
          std::size_t e = d + 1;
          while (e < s.size() && s[e] >= '0' && s[e] <= '9') ++e;
          if (e == d + 1 || e != s.size()) return std::nullopt;
        }
        if (auto r = decimal::parse(s)) return make_dec(*r);
      }
      return std::nullopt;
    }
    if (target == "String") {
      if (v.k == K::node) return std::nullopt;
      if (auto s = to_string_value(v)) return make_str(*s);
      return std::nullopt;
    }
    if (target == "Date" || target == "DateTime" || target == "Time") {
      auto k = target == "Date"       ? temporal_value::kind::date
               : target == "DateTime" ? temporal_value::kind::date_time
                                      : temporal_value::kind::time;
      if (v.k == K::string) {
        if (auto t = parse_temporal(v.s, k)) return make_temporal(*t);
        return std::nullopt;
      }
      if (k == temporal_value::kind::time) return v.k == K::time ? std::optional<value>(v) : std::nullopt;
      if (v.k == K::date || v.k == K::date_time) {
        value r = v;
        if (k == temporal_value::kind::date) {
          r.k = K::date;
          r.t.k = temporal_value::kind::date;
          if (r.t.t.prec > prec::day) r.t.t.prec = prec::day;
          r.t.t.has_timezone = false;
        } else {
          r.k = K::date_time;
          r.t.k = temporal_value::kind::date_time;
        }
        return r;
      }
      return std::nullopt;
    }
    if (target == "Quantity") {
      std::optional<value> r;
      if (v.k == K::quantity) r = v;
      else if (is_numeric(v)) r = make_quantity(quantity_value{as_dec(v), "1", false});
      else if (v.k == K::boolean) r = make_quantity(quantity_value{from_int(v.b ? 1 : 0), "1", false});
      else if (v.k == K::string) r = parse_quantity_string(v.s);
      if (r && unit) {
        // N1 §5.5.8: converted to `unit` by UCUM's rules when it can be, else empty.
        quantity_value target{decimal{}, *unit, false};
        if (auto kw = calendar_keyword(*unit)) target = quantity_value{decimal{}, *kw, true};
        if (canonical_unit(r->q) == canonical_unit(target)) return r;
        auto from = ucum_unit(r->q), to = ucum_unit(target);
        if (!from || !to || !ucum::comparable(*from, *to)) return std::nullopt;
        auto converted = convert_units(r->q.value, *from, *to);
        if (!converted) return std::nullopt;
        return make_quantity(quantity_value{*converted, target.unit, target.calendar});
      }
      return r;
    }
    return std::nullopt;
  }

  // "10 'mg'", "4 days", "1.5" (N1 §5.5.8 toQuantity).
  static std::optional<value> parse_quantity_string(std::string_view s) {
    std::size_t sp = s.find(' ');
    std::string_view numtext = s.substr(0, sp);
    std::size_t i = (!numtext.empty() && (numtext[0] == '+' || numtext[0] == '-')) ? 1 : 0;
    bool digits = false, dot = false;
    for (std::size_t j = i; j < numtext.size(); ++j) {
      if (numtext[j] >= '0' && numtext[j] <= '9') digits = true;
      else if (numtext[j] == '.' && !dot) dot = true;
      else return std::nullopt;
    }
    if (!digits || numtext.ends_with(".")) return std::nullopt;
    auto d = decimal::parse(numtext);
    if (!d) return std::nullopt;
    quantity_value q;
    q.value = *d;
    q.unit = "1";
    if (sp != std::string_view::npos) {
      std::string_view u = s.substr(sp + 1);
      while (u.starts_with(" ")) u.remove_prefix(1);
      if (u.size() >= 2 && u.front() == '\'' && u.back() == '\'') {
        q.unit = std::string(u.substr(1, u.size() - 2));
      } else if (auto kw = calendar_keyword(u)) {
        q.unit = *kw;
        q.calendar = true;
      } else {
        return std::nullopt;
      }
    }
    return make_quantity(q);
  }

  collection math(const node& n, const std::string& fn, const value& x, const collection& arg_input,
                  const frame& f) {
    decimal d = as_dec(x);
    bool integer = x.k == value::kind::integer;
    auto whole = [](decimal v, int dir) {  // dir: -1 floor, 1 ceiling, 0 truncate
      decimal t = v;
      bool frac = false;
      while (t.scale > 0) {
        if (t.mantissa % 10 != 0) frac = true;
        t.mantissa /= 10;
        --t.scale;
      }
      if (frac && dir < 0 && v.mantissa < 0) --t.mantissa;
      if (frac && dir > 0 && v.mantissa > 0) ++t.mantissa;
      return t;
    };
    auto as_int_value = [&](decimal v) -> collection {
      if (v.mantissa > INT64_MAX || v.mantissa < INT64_MIN) return {};
      return single(make_int(static_cast<std::int64_t>(v.mantissa)));
    };
    if (fn == "abs") {
      if (integer) return single(make_int(x.i < 0 ? -x.i : x.i));
      if (d.mantissa < 0) d.mantissa = -d.mantissa;
      return single(make_dec(d));
    }
    if (fn == "ceiling") return as_int_value(whole(d, 1));
    if (fn == "floor") return as_int_value(whole(d, -1));
    if (fn == "truncate") return as_int_value(whole(d, 0));
    if (fn == "round") {
      std::int64_t p = 0;
      if (n.child_count == 1) {
        auto a = int_arg(arg(n, 0, arg_input, f), n, "round()");
        if (!a) return {};
        if (*a < 0) fail("invalid", "round() precision must be >= 0", n.offset);
        p = std::min<std::int64_t>(*a, max_scale);
      }
      decimal r = round_to(d, static_cast<int>(p));
      return single(make_dec(r));
    }
    long double v = to_ld(d);
    long double r = 0;
    if (fn == "exp") r = std::exp(v);
    else if (fn == "ln") {
      if (v <= 0) return {};
      r = std::log(v);
    } else if (fn == "sqrt") {
      if (v < 0) return {};
      r = std::sqrt(v);
    } else if (fn == "log" || fn == "power") {
      auto a = singleton(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
      if (!a) return {};
      value b = to_system(*a);
      if (!is_numeric(b)) fail("invalid", fn + "() requires a number", n.offset);
      long double w = to_ld(as_dec(b));
      if (fn == "log") {
        if (v <= 0 || w <= 0 || w == 1) return {};
        r = std::log(v) / std::log(w);
      } else {
        if (integer && b.k == value::kind::integer && b.i >= 0) {
          std::int64_t acc = 1;
          for (std::int64_t i = 0; i < b.i; ++i)
            if (__builtin_mul_overflow(acc, x.i, &acc) || acc > 2147483647LL || acc < -2147483648LL) return {};
          return single(make_int(acc));
        }
        r = std::pow(v, w);
        if (std::isnan(r)) return {};
      }
    }
    auto out = from_ld(r);
    if (!out) return {};
    return single(make_dec(*out));
  }
};

}  // namespace

hearth::result<collection, hearth::error> evaluate(const expression& expr, const json_value& resource,
                                                   const definitions& defs, const context& ctx) {
  try {
    evaluator ev(expr, resource, defs, ctx);
    return ev.run();
  } catch (eval_failure& f) {
    f.err.location = f.err.offset != hearth::error::npos ? location_of(expr.source(), f.err.offset) : "";
    return hearth::unexpected(std::move(f.err));
  }
}

}  // namespace hearth::fhir::fhirpath
