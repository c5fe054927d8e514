#pragma once
// Regular expressions for the FHIRPath evaluator (matches, matchesFull,
// replaceMatches; N1 §5.6). Kept in a translation unit of its own because
// GCC 12 warns falsely inside <regex> under the sanitizers
// (-Wmaybe-uninitialized in std::function), and that warning is confined there.
// Thread-safety: pure functions.

#include <optional>
#include <string>

namespace hearth::fhir::fhirpath::detail {

/// Whether `pattern` (ECMAScript syntax, '.' already rewritten to match
/// newlines) matches somewhere in `text` (full: the whole of `text`);
/// nullopt when the pattern is not a valid regular expression.
std::optional<bool> regex_matches(const std::string& text, const std::string& pattern, bool full);

/// `text` with every match of `pattern` replaced by `substitution` ($1... refer
/// to groups); nullopt when the pattern is not valid.
std::optional<std::string> regex_replace_all(const std::string& text, const std::string& pattern,
                                             const std::string& substitution);

}  // namespace hearth::fhir::fhirpath::detail
