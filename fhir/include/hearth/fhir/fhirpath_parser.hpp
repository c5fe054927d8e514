#pragma once
// Parsing FHIRPath expressions (FHIRPath 2.0.0 N1, http://hl7.org/fhirpath/N1/
// and its grammar appendix) into a syntax tree (fhirpath_ast.hpp).
//
// Accepted beyond the N1 grammar, each deliberately:
// - `\"` in strings (listed by §2.1.5 though missing from the grammar's ESC);
// - Long literals `42L` (FHIRPath 3.0);
// - a time zone on a time literal (`@T14:30Z`), recorded so the evaluator can
//   reject it (the official tests expect an execution error, not a syntax one);
// - the calendar keywords (`day`, `years`, ...) as ordinary identifiers where
//   they cannot be a quantity's unit (ANTLR's lexer reserves them).
// Stricter than the grammar: unknown string escapes (`'\x'`), lone UTF-16
// surrogates in `\u` escapes, invalid UTF-8, out-of-range dates and times
// (`@2015-13-01`, `@T25:00`), a time after a partial date (`@2015T10:00`) and a
// date part with a wrong digit count (`@2015-1`) are syntax errors.

#include <cstddef>
#include <string>
#include <string_view>

#include <hearth/core/error.hpp>
#include <hearth/core/result.hpp>
#include <hearth/fhir/fhirpath_ast.hpp>

namespace hearth::fhir::fhirpath {

/// Limits on untrusted expressions (from _filter, search parameters, profiles
/// loaded at run time). Exceeding one is an error, never a crash.
struct parse_options {
  /// Longest expression, in bytes. The longest in the FHIR R4 definitions
  /// (search parameters and invariants) is under 1.5 KiB; 64 KiB leaves room
  /// for generated expressions while bounding the parse and the tree's memory.
  std::size_t max_length = 64u << 10;
  /// Deepest nesting: both the parser's recursion (parentheses, function
  /// arguments, unary signs) and the height of the tree (long `a.b.c...` or
  /// `a | b | c ...` chains). Bounds the stack of this recursive-descent parser
  /// and of any recursive evaluator, so that no input overflows the stack. The
  /// R4 definitions need about 40 (31 `|` in one search parameter).
  std::size_t max_depth = 200;
  /// Most nodes in one tree. The R4 definitions' largest has a few hundred;
  /// the limit bounds the memory and per-evaluation work of one expression.
  std::size_t max_nodes = 10'000;
};

/// Parses one FHIRPath expression. Whitespace and comments (`// ...`,
/// `/* ... */`) are ignored; the whole input must be one expression.
///
/// On error, the hearth::error has code "invalid" (syntax), "too-long"
/// (max_length) or "too-costly" (max_depth, max_nodes) — FHIR IssueType codes
/// for an OperationOutcome —, offset = byte offset of the problem, location =
/// "line:column" (1-based, column in characters), and a message saying what was
/// found and what was expected. Messages never quote the input (it may hold PHI).
hearth::result<expression, hearth::error> parse(std::string_view source,
                                                const parse_options& opts = {});

/// "line:column" (1-based; column counted in UTF-8 characters) of a byte offset
/// in `source`; offsets past the end give the position just after the end.
std::string location_of(std::string_view source, std::size_t offset);

}  // namespace hearth::fhir::fhirpath
