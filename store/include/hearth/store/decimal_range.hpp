#pragma once
// A FHIR decimal or integer with the range its precision implies, for the
// number and quantity indexes and for number search values (FHIR R4
// search.html#number: "the precision of the value is significant": 100
// stands for [99.5, 100.5), 100.00 for [99.995, 100.005), 1e2 for [50, 150)).
//
// Semantics, stated once:
// - `text` is the decimal exactly as written (FHIR decimals keep their
//   precision: R4 datatypes.html#decimal); `value` is the nearest double, for
//   SQL comparison and sorting.
// - [low, high) is value ± half a unit in the last digit written: low
//   inclusive, high exclusive, as R4's example reads. The bounds are computed
//   exactly in decimal and then rounded to the nearest double.
// - For a FHIR Range (datatypes.html#Range: "the low and high values are
//   inclusive, and are assumed to have arbitrarily high precision") the
//   indexer sets low and high to the exact ends, both inclusive, ±infinity
//   for a missing end, `text` empty and `value` the finite end (low first).
//   The indexer also widens [low, high] to ±infinity for a quantity's
//   comparator ("<5" has no lower end); see index_entry.hpp.
//
// Pure; thread-safe.

#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::store {

/// An exact decimal, its double, and the interval its precision implies. Value type.
struct decimal_range {
  std::string text;  ///< as written: "1.50", "100", "1e3"; empty for a Range
  double value = 0;  ///< nearest double to text
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
};

/// Longest decimal text parse_decimal_range() reads, in bytes: bounds the
/// exact arithmetic; a FHIR decimal has at most 18 significant digits in
/// practice (R4 datatypes.html#decimal), search values are as short.
inline constexpr std::size_t max_decimal_text = 128;

/// Parses a FHIR decimal / integer (R4 datatypes.html:
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; leading zeros are
/// tolerated; the exponent is limited to ±400). nullopt when malformed or
/// longer than max_decimal_text.
std::optional<decimal_range> parse_decimal_range(std::string_view text);

/// The bounds of parse_decimal_range() as exact decimal text.
struct decimal_bounds_text {
  std::string low;   ///< "99.5" for "100"
  std::string high;  ///< "100.5" for "100"
};

/// The exact bounds of parse_decimal_range(), for converting them exactly
/// (UCUM canonical units). nullopt as for parse_decimal_range().
std::optional<decimal_bounds_text> decimal_bounds(std::string_view text);

}  // namespace hearth::store
