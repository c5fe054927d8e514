#include <hearth/store/date_range.hpp>

namespace hearth::store {

namespace {

constexpr std::int64_t ms_per_second = 1000;
constexpr std::int64_t ms_per_minute = 60 * ms_per_second;
constexpr std::int64_t ms_per_day = 24 * 60 * ms_per_minute;

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
// (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms", days_from_civil).
std::int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + doe - 719468;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

// Reads exactly `n` digits at s[pos]; advances pos.
bool digits(std::string_view s, std::size_t& pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool take(std::string_view s, std::size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

}  // namespace

std::optional<date_range> parse_date_range(std::string_view s) {
  std::size_t pos = 0;
  int year = 0, month = 1, day = 1;
  if (!digits(s, pos, 4, year) || year < 1) return std::nullopt;
  if (pos == s.size()) {
    const std::int64_t low = days_from_civil(year, 1, 1) * ms_per_day;
    return date_range{low, days_from_civil(year + 1, 1, 1) * ms_per_day - 1};
  }
  if (!take(s, pos, '-') || !digits(s, pos, 2, month) || month < 1 || month > 12) return std::nullopt;
  if (pos == s.size()) {
    const std::int64_t low = days_from_civil(year, month, 1) * ms_per_day;
    return date_range{low, low + days_in_month(year, month) * ms_per_day - 1};
  }
  if (!take(s, pos, '-') || !digits(s, pos, 2, day) || day < 1 || day > days_in_month(year, month))
    return std::nullopt;
  const std::int64_t day_start = days_from_civil(year, month, day) * ms_per_day;
  if (pos == s.size()) return date_range{day_start, day_start + ms_per_day - 1};

  int hour = 0, minute = 0, second = 0, millis = 0;
  if (!take(s, pos, 'T') || !digits(s, pos, 2, hour) || hour > 23 || !take(s, pos, ':') ||
      !digits(s, pos, 2, minute) || minute > 59)
    return std::nullopt;
  std::int64_t width = ms_per_minute;  // minute precision
  if (take(s, pos, ':')) {
    if (!digits(s, pos, 2, second) || second > 60) return std::nullopt;
    width = ms_per_second;
    if (take(s, pos, '.')) {
      std::size_t n = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (n < 3) millis = millis * 10 + (s[pos] - '0');
        ++n;
        ++pos;
      }
      if (n == 0) return std::nullopt;
      // ".5" starts at 500 ms and is 100 ms wide, ".25" 10 ms wide, ".123…" 1 ms.
      width = n == 1 ? 100 : n == 2 ? 10 : 1;
      for (std::size_t k = n; k < 3; ++k) millis *= 10;
    }
  }
  std::int64_t offset_minutes = 0;
  if (take(s, pos, 'Z')) {
    // UTC
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const bool minus = s[pos] == '-';
    ++pos;
    int oh = 0, om = 0;
    if (!digits(s, pos, 2, oh) || oh > 14 || !take(s, pos, ':') || !digits(s, pos, 2, om) || om > 59)
      return std::nullopt;
    offset_minutes = (minus ? -1 : 1) * (oh * 60 + om);
  }
  if (pos != s.size()) return std::nullopt;
  const std::int64_t local = day_start + hour * 60 * ms_per_minute + minute * ms_per_minute +
                             second * ms_per_second + millis;
  const std::int64_t low = local - offset_minutes * ms_per_minute;
  return date_range{low, low + width - 1};
}

}  // namespace hearth::store
