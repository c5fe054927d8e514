// See detail/fhirpath_regex.hpp.
//
// RE2, not std::regex: expressions and the text they run on may come from
// outside (search parameters, invariants, a client's FHIRPath), and a
// backtracking engine can be made to run for hours by one pattern (the
// fuzzer found `.**...*` doing exactly that). RE2 matches in time linear in
// the text and bounds its memory; it does not offer backreferences or
// lookaround, which FHIRPath's portable regex subset does not need — such a
// pattern is reported as invalid rather than run.
//
// Compiled patterns are kept in one process-wide cache (see
// fhirpath_regex_cache.hpp): compiling costs far more than matching the
// short strings FHIR elements hold, and the same few invariant patterns run
// on every resource validated.

#include "detail/fhirpath_regex.hpp"

#include <hearth/fhir/fhirpath_regex_cache.hpp>

#include <list>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <re2/re2.h>

namespace hearth::fhir::fhirpath::detail {

namespace {

// Memory one pattern compiled for a single call may use: far beyond any
// realistic pattern, small enough that a hostile one cannot exhaust the
// process.
constexpr std::int64_t max_program_memory = 8 << 20;

// Memory one cached pattern may use (its program and RE2's lazily built DFA
// states): ample for the patterns FHIR invariants and profiles write (a
// 64-fold repeated character class takes a few KiB). A pattern that does not
// compile within it is compiled for its call under max_program_memory and
// not kept, so the cache never holds more than
// cache_max_entries * cached_program_memory (32 MiB) of compiled state.
constexpr std::int64_t cached_program_memory = 256 << 10;

// Bounds of the cache: distinct patterns in the R4 core invariants and
// search parameters number a few dozen (plus one per resource type for
// `'^' & %context.resourceType`); a hostile client sending new patterns only
// evicts older ones.
constexpr std::size_t cache_max_entries = 128;
constexpr std::size_t cache_max_pattern_bytes = 64 << 10;
// A longer pattern is compiled for its call only: one such pattern must not
// evict a large part of the cache.
constexpr std::size_t cache_max_one_pattern = 4 << 10;

// The compile options of every FHIRPath pattern; the cache holds patterns
// compiled with exactly these, so the options are part of its identity.
RE2::Options options(std::int64_t max_mem) {
  RE2::Options o;
  o.set_encoding(RE2::Options::EncodingUTF8);
  o.set_log_errors(false);  // errors are values here, never lines on stderr
  o.set_dot_nl(true);       // '.' matches a line break too (N1 §5.6: single-line mode)
  o.set_max_mem(max_mem);
  return o;
}

// Least-recently-used map from pattern text to its compiled form (also an
// invalid one: RE2 records the error, and a client repeating a bad pattern
// is answered without compiling it again). Hands out shared_ptr, so that an
// entry evicted while another thread still matches with it stays alive until
// that thread is done. Thread-safety: all members lock mutex_; compiling
// happens outside the lock. Lifetime: one static instance for the process.
class pattern_cache {
 public:
  std::shared_ptr<const RE2> get(const std::string& pattern) {
    if (pattern.size() > cache_max_one_pattern)
      return std::make_shared<const RE2>(pattern, options(max_program_memory));  // this call only
    {
      std::lock_guard lock(mutex_);
      auto it = index_.find(std::string_view(pattern));
      if (it != index_.end()) {
        ++hits_;
        lru_.splice(lru_.begin(), lru_, it->second);  // now the most recent
        return it->second->second;
      }
      ++misses_;
    }
    auto compiled = std::make_shared<const RE2>(pattern, options(cached_program_memory));
    if (compiled->error_code() == RE2::ErrorPatternTooLarge) {
      auto large = std::make_shared<const RE2>(pattern, options(max_program_memory));
      if (large->ok()) return large;  // valid but large: for this call only
      compiled = std::move(large);    // invalid either way: kept, it holds no program
    }
    std::lock_guard lock(mutex_);
    auto it = index_.find(std::string_view(pattern));
    if (it != index_.end()) return it->second->second;  // another thread was first
    lru_.emplace_front(pattern, compiled);
    index_.emplace(std::string_view(lru_.front().first), lru_.begin());
    bytes_ += pattern.size();
    while (lru_.size() > cache_max_entries || bytes_ > cache_max_pattern_bytes) {
      const entry& oldest = lru_.back();
      bytes_ -= oldest.first.size();
      index_.erase(std::string_view(oldest.first));
      lru_.pop_back();
      ++evictions_;
    }
    return compiled;
  }

  regex_cache_stats stats() {
    std::lock_guard lock(mutex_);
    regex_cache_stats s;
    s.entries = lru_.size();
    s.pattern_bytes = bytes_;
    s.max_entries = cache_max_entries;
    s.max_pattern_bytes = cache_max_pattern_bytes;
    s.hits = hits_;
    s.misses = misses_;
    s.evictions = evictions_;
    return s;
  }

 private:
  using entry = std::pair<std::string, std::shared_ptr<const RE2>>;
  std::mutex mutex_;
  std::list<entry> lru_;  // most recently used first; list nodes never move, so index_ may view their text
  std::unordered_map<std::string_view, std::list<entry>::iterator> index_;
  std::size_t bytes_ = 0;  // sum of the pattern sizes in lru_
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  std::uint64_t evictions_ = 0;
};

pattern_cache& cache() {
  static pattern_cache c;  // thread-safe initialisation; never destroyed before its users (static)
  return c;
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
  const std::shared_ptr<const RE2> re = cache().get(pattern);
  if (!re->ok()) return std::nullopt;
  return full ? RE2::FullMatch(text, *re) : RE2::PartialMatch(text, *re);
}

std::optional<std::string> regex_replace_all(const std::string& text, const std::string& pattern,
                                             const std::string& substitution) {
  const std::shared_ptr<const RE2> re = cache().get(pattern);
  if (!re->ok()) return std::nullopt;
  const std::string rewrite = to_rewrite(substitution);
  std::string error;
  if (!re->CheckRewriteString(rewrite, &error)) return std::nullopt;  // $9 with fewer groups
  std::string out = text;
  RE2::GlobalReplace(&out, *re, rewrite);
  return out;
}

}  // namespace hearth::fhir::fhirpath::detail

namespace hearth::fhir::fhirpath {

regex_cache_stats regex_cache_statistics() { return detail::cache().stats(); }

}  // namespace hearth::fhir::fhirpath
