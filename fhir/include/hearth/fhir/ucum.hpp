#pragma once
// hearth::fhir::ucum — units of measure: the Unified Code for Units of Measure
// (UCUM 2.1, https://ucum.org/ucum), case-sensitive codes only ("c/s" column;
// FHIR's system http://unitsofmeasure.org is case-sensitive).
//
// parse() reads a unit expression by the UCUM grammar (§§1–10, Exhibit 1) into
// a `unit`: an exact magnitude relative to the base units and a dimension over
// the seven base units m, s, g, rad, K, C, cd (§§18–20). The table of atoms is
// every atom of ucum-essence.xml 2.1 (see atoms()); their definitions are
// resolved by this same parser. On top of that: comparable(), convert() (with
// the special units Cel, [degF], [degRe]), canonical() for search indexes, and
// multiply()/divide() for quantity arithmetic (FHIRPath N1 §6.6).
//
// Semantics chosen where UCUM leaves room, each stated once here:
// - Magnitudes are exact: num/den × 10^exp10 × π^pi with 128-bit integers
//   (every UCUM definition is a finite decimal, a ratio or a power of π).
//   A unit whose exact magnitude leaves that range is refused ("not-supported").
// - Arbitrary units (§24, isArbitrary: [iU], [arb'U], [CFU] ...) count as
//   their own dimension, one per atom: [iU]/L and [iU]/mL are comparable,
//   [iU] and mg are not, [iU] and [arb'U] are not. [IU] is defined as [iU] and
//   is therefore the same unit. An arbitrary unit divided by itself cancels.
// - Special units (§§21–23: Cel, [degF], B, [pH] ...) may take a prefix or a
//   numeric factor (§22.3) but no exponent, no division and no other unit
//   (§22.1): "mCel" and "dB" parse, "Cel/h" does not ("invalid"). Cel, [degF]
//   and [degRe] convert to and from kelvin and each other; any special unit
//   converts to itself with another prefix (B to dB); everything else about
//   the others is "not-supported": Np, B, B[SPL], B[V], B[mV], B[uV],
//   B[10.nV], B[W], B[kW], [pH], [p'diop], %[slope], [hp'_X], [hp'_C],
//   [hp'_M], [hp'_Q], [m/s2/Hz^(1/2)], bit_s.
// - mol is a number (the essence defines it as 6.0221367 × 10*23): mol/L is
//   comparable with /L.
// - An annotation ({rbc}) means 1 (§6); a factor may carry one ("/100{WBC}",
//   as the UCUM formal grammar allows and HL7's UnitsOfMeasure codes use),
//   one annotation per unit (Exhibit 1), and its characters are those of
//   §6.1 (ASCII 33–126: no spaces).
//
// Errors are values: code "invalid" for an expression that is not UCUM,
// "not-supported" for valid UCUM this library cannot evaluate; `offset` is the
// byte offset in the expression for parse(), npos for the other functions
// (their errors concern whole units or the value). Messages never quote the
// input.
//
// Thread-safety: every function is pure; the atom table is built once, on
// first use, behind a function-local static, and is immutable afterwards.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>

namespace hearth::fhir::ucum {

/// Longest expression parse() reads, in bytes: bounds time and memory for
/// untrusted input; real unit codes are a few dozen bytes at most.
inline constexpr std::size_t max_expression_length = 256;
/// Deepest nesting of parentheses: the parser recurses once per level, so
/// this bounds its stack use.
inline constexpr int max_nesting_depth = 16;
/// Largest exponent magnitude (m99, 10*-99): keeps dimensions small and
/// magnitudes computable; UCUM's own definitions use at most 24.
inline constexpr int max_exponent = 99;

/// The seven UCUM base units, in the order of the dimension vector (§20,
/// ucum-essence.xml <base-unit>).
inline constexpr std::array<std::string_view, 7> base_units{"m", "s", "g", "rad", "K", "C", "cd"};

/// An exact positive magnitude: num / den × 10^exp10 × π^pi, kept in one
/// canonical form (num and den coprime, den coprime with 10, num not a
/// multiple of 10) so that equal magnitudes compare equal. |exp10| <= 1000,
/// |pi| <= 16. Value type.
struct magnitude {
  __extension__ using int128 = __int128;
  int128 num = 1;
  int128 den = 1;
  int exp10 = 0;
  int pi = 0;
  /// The nearest long double (64-bit mantissa: about 19 significant digits).
  long double to_long_double() const;
  friend bool operator==(const magnitude&, const magnitude&) = default;
};

/// One arbitrary unit atom (§24) with its exponent in a unit.
struct arbitrary_term {
  std::string code;  ///< the atom that defines it: "[iU]" (also for "[IU]")
  int exponent = 0;
  friend bool operator==(const arbitrary_term&, const arbitrary_term&) = default;
};

/// What kind of special unit (§21) a unit is, if any.
enum class special_kind : std::uint8_t {
  none,         ///< a proper unit (possibly with arbitrary terms)
  celsius,      ///< Cel, optionally prefixed or scaled
  fahrenheit,   ///< [degF]
  reaumur,      ///< [degRe]
  unsupported,  ///< any other special unit: B, Np, [pH], ...
};

/// A parsed unit. Value type; copyable; no thread-safety concerns.
///
/// For a proper unit, 1 of it is `factor` × the base units of `dimension`
/// (and `arbitrary`). For a special unit, `factor` and `dimension` describe
/// its scaled corresponding proper unit (§22.4): for Cel and [degF],
/// kelvin = factor × value + offset (273.15 K, resp. 459.67 × 5/9 K).
struct unit {
  std::string expression;            ///< the UCUM expression, as given or as built
  magnitude factor;                  ///< relative to the base units
  std::array<int, 7> dimension{};    ///< exponents of m, s, g, rad, K, C, cd
  std::vector<arbitrary_term> arbitrary;  ///< sorted by code; no zero exponents
  special_kind special = special_kind::none;
  std::string special_atom;          ///< "Cel", "[degF]", "B" ...; empty if none
};

/// Parses a case-sensitive UCUM expression: "mg/dL", "10*3/uL", "/min",
/// "kg.m/s2", "{rbc}", "1", "mm[Hg]", "%/100{WBC}". Errors: "invalid" (not
/// UCUM: unknown atom, prefix on a non-metric atom, syntax, empty, longer than
/// max_expression_length, nested deeper than max_nesting_depth), and
/// "not-supported" (exact magnitude out of range).
result<unit> parse(std::string_view expression);

/// True when a quantity in `a` can be converted to `b` by convert(): same
/// dimension and same arbitrary terms for proper units; a temperature special
/// unit with kelvin or another temperature special unit; a special unit with
/// the same special atom. False otherwise (including unsupported specials).
bool comparable(const unit& a, const unit& b);

/// `value` in `from` expressed in `to`, in long double (about 19 significant
/// digits). Errors: "invalid" when the units are not comparable,
/// "not-supported" for an unsupported special unit or a result out of range.
result<long double> convert(long double value, const unit& from, const unit& to);

/// A decimal number as text ("0.04", "-459.67"; no exponent) and whether it
/// is the exact result.
struct decimal_text {
  std::string text;
  bool exact = true;  ///< false: rounded half away from zero
};

/// `value` (decimal text: "12.5", "-3", "1.2e3"; at most 128 characters,
/// exponent within +-1000) in `from` expressed in `to`, computed exactly and
/// then written with at most `max_fraction_digits` fraction digits (28,
/// FHIRPath's decimal, by default; clamped to 0..100), rounded half away from
/// zero; exact results are written with no trailing zeros. Inexact when the exact result does not fit
/// (1 cm in [in_i]) or involves π (deg to rad, from π's 64 digits in the
/// essence). Errors as convert() above, and "invalid" for a malformed value.
result<decimal_text> convert(std::string_view value, const unit& from, const unit& to,
                             int max_fraction_digits = 28);

/// A value in base units with its unit, for an index (DESIGN.md idx_quantity).
struct canonical_form {
  decimal_text value;      ///< the value in the base units of `unit`
  long double approx = 0;  ///< the same, as a long double
  /// The canonical unit: base units in the order of base_units, each with
  /// its exponent when not 1, then arbitrary atoms by code, joined by '.':
  /// "m-3.g" (mg/dL), "m2", "s-1", "m-3.[iU]", "1" when dimensionless.
  /// Itself a valid UCUM expression, with factor 1.
  std::string unit;
};

/// `value` in `u` as a canonical form. A temperature special unit gives
/// kelvin; other special units are "not-supported".
result<canonical_form> canonical(std::string_view value, const unit& u, int max_fraction_digits = 28);

/// The canonical unit string of `u` (as canonical_form::unit); for a
/// special unit, that of its corresponding proper unit.
std::string canonical_unit(const unit& u);

/// The product a·b and quotient a/b (§18), for quantity arithmetic: factor,
/// dimension and arbitrary terms combined, expression written as UCUM
/// ("cm.m", "g/m", "m/(s.kg)"; not simplified: canonical_unit() gives "m2").
/// The expression re-parses to the same unit while it stays within
/// max_expression_length. Errors: "invalid" for a special unit (§22.1),
/// "not-supported" when the magnitude leaves the exact range.
result<unit> multiply(const unit& a, const unit& b);
result<unit> divide(const unit& a, const unit& b);

/// An atom of the table (UCUM 2.1 ucum-essence.xml), for listing and tests.
struct atom_info {
  std::string_view code;  ///< case-sensitive code: "[in_i]"
  bool metric = false;    ///< takes a prefix (§11)
  bool arbitrary = false;
  bool special = false;
};

/// Every atom of the table, in the essence's order (base units first): 310
/// atoms (7 base units, 303 units). Valid for the life of the program.
std::span<const atom_info> atoms();

}  // namespace hearth::fhir::ucum
