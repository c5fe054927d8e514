// See detail/fhirpath_regex.hpp.
//
// RE2, not std::regex: expressions and the text they run on may come from
// outside (search parameters, invariants, a client's FHIRPath), and a
// backtracking engine can be made to run for hours by one pattern (the
// fuzzer found `.**...*` doing exactly that). RE2 matches in time linear in
// the text and bounds its memory; it does not offer backreferences or
// lookaround, which FHIRPath's portable regex subset does not need — such a
// pattern is reported as invalid rather than run.

#include "detail/fhirpath_regex.hpp"

#include <re2/re2.h>

namespace hearth::fhir::fhirpath::detail {

namespace {

// Memory one compiled pattern may use: far beyond any realistic pattern,
// small enough that a hostile one cannot exhaust the process.
constexpr std::int64_t max_program_memory = 8 << 20;

RE2::Options options() {
  RE2::Options o;
  o.set_encoding(RE2::Options::EncodingUTF8);
  o.set_log_errors(false);  // errors are values here, never lines on stderr
  o.set_dot_nl(true);       // '.' matches a line break too (N1 §5.6: single-line mode)
  o.set_max_mem(max_program_memory);
  return o;
}

// ECMAScript substitutions ($1, $&, $$) as RE2 rewrites (\1, \0, $); a
// backslash is literal in ECMAScript, so it is doubled.
std::string to_rewrite(const std::string& substitution) {
  std::string out;
  for (std::size_t i = 0; i < substitution.size(); ++i) {
    const char c = substitution[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '$' && i + 1 < substitution.size()) {
      const char next = substitution[i + 1];
      if (next >= '0' && next <= '9') {
        out += '\\';
        out += next;
        ++i;
      } else if (next == '&') {
        out += "\\0";
        ++i;
      } else if (next == '$') {
        out += '$';
        ++i;
      } else {
        out += c;
      }
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<bool> regex_matches(const std::string& text, const std::string& pattern, bool full) {
  const RE2 re(pattern, options());
  if (!re.ok()) return std::nullopt;
  return full ? RE2::FullMatch(text, re) : RE2::PartialMatch(text, re);
}

std::optional<std::string> regex_replace_all(const std::string& text, const std::string& pattern,
                                             const std::string& substitution) {
  const RE2 re(pattern, options());
  if (!re.ok()) return std::nullopt;
  const std::string rewrite = to_rewrite(substitution);
  std::string error;
  if (!re.CheckRewriteString(rewrite, &error)) return std::nullopt;  // $9 with fewer groups
  std::string out = text;
  RE2::GlobalReplace(&out, re, rewrite);
  return out;
}

}  // namespace hearth::fhir::fhirpath::detail
