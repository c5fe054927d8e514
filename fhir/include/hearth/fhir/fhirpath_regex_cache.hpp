#pragma once
// The compiled regular expressions that FHIRPath's matches(), matchesFull()
// and replaceMatches() (N1 §5.6) share across evaluations. An expression
// such as an invariant's `id.matches('[A-Za-z0-9\\-\\.]{1,64}')` runs on every
// resource validated; its pattern is compiled once and kept, within fixed
// bounds, so that hostile input with ever new patterns cannot grow the
// process: at most max_entries patterns and max_pattern_bytes of their text,
// each compiled under a small memory budget; the least recently used
// pattern goes first. A pattern beyond that budget still runs, compiled for
// its one call and not kept.
//
// This header only reports on the cache (for tests and metrics); the
// evaluator uses it by itself. Thread-safety: regex_cache_statistics() may be
// called from any thread at any time.

#include <cstddef>
#include <cstdint>

namespace hearth::fhir::fhirpath {

/// A snapshot of the pattern cache. Value type.
struct regex_cache_stats {
  std::size_t entries = 0;            ///< patterns held now (valid and invalid ones)
  std::size_t pattern_bytes = 0;      ///< the text of those patterns, in bytes
  std::size_t max_entries = 0;        ///< bound on entries
  std::size_t max_pattern_bytes = 0;  ///< bound on pattern_bytes
  std::uint64_t hits = 0;             ///< lookups answered from the cache, since start
  std::uint64_t misses = 0;           ///< lookups that compiled the pattern, since start
  std::uint64_t evictions = 0;        ///< patterns dropped to stay within the bounds, since start
};

/// The cache's state now.
regex_cache_stats regex_cache_statistics();

}  // namespace hearth::fhir::fhirpath
