#pragma once
// A FHIR date, dateTime or instant as the range of instants it denotes, for
// the date index and for date search values (FHIR R4 search.html#date: "the
// value of the parameter is treated as an implicit range", and the prefixes
// eq ne gt lt ge le sa eb ap compare such ranges).
//
// Semantics, stated once:
// - A range is [low, high], both INCLUSIVE, in milliseconds since
//   1970-01-01T00:00:00Z (UTC). The precision written gives the width:
//   "2020" -> [2020-01-01T00:00:00.000, 2020-12-31T23:59:59.999],
//   "2020-02" -> the whole of February (29 days in 2020),
//   "2020-02-03" -> the whole day, "…T10:00" -> the whole minute,
//   "…T10:00:00" -> the whole second (+999 ms), "…T10:00:00.5" -> +99 ms,
//   "…T10:00:00.25" -> +9 ms, three or more fraction digits -> that
//   millisecond (digits beyond the third are dropped, not rounded).
// - A time zone ('Z' or ±hh:mm) is applied: "2020-01-01T10:00:00+02:00"
//   starts at 08:00:00Z.
// - A value WITHOUT a time zone (FHIR allows that only for date, year and
//   year-month — datatypes.html#dateTime requires a zone whenever a time is
//   given) is taken as UTC. R4 leaves the zone of such values to the server;
//   UTC keeps the index independent of where the server runs and of daylight
//   saving changes. The query side parses search values with the same
//   function, so a zone-less search value is UTC as well.
// - A leap second (":60") counts as the first second of the next minute.
// - Open ends (a Period without start or end, search.html#date) use
//   date_range::min / date_range::max.
//
// Pure; thread-safe.

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace hearth::store {

/// An inclusive range of instants, in epoch milliseconds (UTC). Value type.
struct date_range {
  /// The open lower end: "since ever".
  static constexpr std::int64_t min = std::numeric_limits<std::int64_t>::min();
  /// The open upper end: "ongoing" (R4 datatypes.html#Period).
  static constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();

  std::int64_t low = min;
  std::int64_t high = max;

  friend bool operator==(const date_range&, const date_range&) = default;
};

/// Parses `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mm`,
/// `YYYY-MM-DDThh:mm:ss[.f+]`, each time optionally followed by `Z` or
/// `±hh:mm` (FHIR R4 datatypes.html date, dateTime, instant; minute precision
/// and a missing zone are accepted for search values). Years 0001-9999.
/// nullopt when the text is not such a value or names a day that does not
/// exist (2021-02-29).
std::optional<date_range> parse_date_range(std::string_view text);

}  // namespace hearth::store
