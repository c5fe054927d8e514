#pragma once
// Span classes of indexed date values (idx_date.span, migration 3): how long
// the [low, high] range of a value is. A date search bounds `low` from below
// only through `high` (a value ending after X started after X minus its
// span), so the search scans each class with the bound its widest member
// allows, instead of every value that starts before the range ends.

#include <cstdint>

namespace hearth::store::detail {

/// Upper limit (ms) of high - low for classes 0, 1, 2: a day (a date, a
/// dateTime, an instant, a short Period), 31 days (a month), 366 days (a
/// year). Class 3: anything longer, and open ends.
inline constexpr std::int64_t date_span_limit[] = {86'400'000, 31LL * 86'400'000, 366LL * 86'400'000};
inline constexpr int date_span_classes = 4;
/// Ends beyond ±1e17 ms (about ±3 million years) are the open ends of
/// date_range (INT64_MIN / INT64_MAX): class 3, and high - low is never
/// computed for them (it would overflow).
inline constexpr std::int64_t date_span_extreme = 100'000'000'000'000'000;

/// The class of [low, high]. The SQL of migration 3 computes the same.
constexpr int date_span_class(std::int64_t low, std::int64_t high) {
  if (low < -date_span_extreme || high > date_span_extreme) return 3;
  const std::int64_t span = high - low;
  for (int k = 0; k < 3; ++k) {
    if (span <= date_span_limit[k]) return k;
  }
  return 3;
}

}  // namespace hearth::store::detail
