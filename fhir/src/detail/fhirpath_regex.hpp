#pragma once
// Regular expressions for the FHIRPath evaluator (matches, matchesFull,
// replaceMatches; N1 §5.6), on RE2 so that matching takes time linear in the
// text whatever the pattern (see fhirpath_regex.cpp). Compiled patterns are
// kept in a bounded process-wide cache (hearth/fhir/fhirpath_regex_cache.hpp).
// Thread-safety: may be called from any thread.

#include <cstdint>
#include <optional>
#include <string>

namespace hearth::fhir::fhirpath::detail {

/// Whether `pattern` ('.' matching line breaks too) matches
/// somewhere in `text` (full: the whole of `text`); nullopt when the pattern is
/// not a valid regular expression or needs what a linear-time engine cannot
/// do (backreferences, lookaround).
std::optional<bool> regex_matches(const std::string& text, const std::string& pattern, bool full);

/// `text` with every match of `pattern` replaced by `substitution` ($1... refer
/// to groups); nullopt when the pattern is not valid.
std::optional<std::string> regex_replace_all(const std::string& text, const std::string& pattern,
                                             const std::string& substitution);

}  // namespace hearth::fhir::fhirpath::detail
