#pragma once
// Reindexing: bringing the search index up to date after what it is built
// from changed (issue 4: "Reindexing after a definition change is a resumable
// job"). The index depends on the search parameters (their expressions,
// types, components), the indexer's options and the index format; together
// they make a fingerprint, recorded in the database (table index_job) with
// the job's position. resource_store::reindex() compares fingerprints and
// reindexes every current resource in batches, committing the position with
// each batch, so a job that stops (a crash, a shutdown, max_batches) resumes
// where it was on the next call — with the same definitions — or starts over
// when they changed again.
//
// While a job runs, searches may miss or wrongly match resources not yet
// reindexed; writes made meanwhile are indexed with the new definitions at
// once.

#include <cstddef>
#include <cstdint>
#include <string>

#include <hearth/store/indexer.hpp>

namespace hearth::store {

/// The fingerprint of what `ix` indexes: 16 hex digits (FNV-1a 64 over every
/// search parameter's url, type, expression and components, the options and
/// the index format version).
std::string index_fingerprint(const indexer& ix);

/// How much one reindex() call does. Plain value.
struct reindex_options {
  /// Resources read, indexed and rewritten per batch (one write transaction):
  /// 200 keeps one batch's hold on the writer to some tens of milliseconds.
  std::size_t batch_size = 200;
  /// Stop after this many batches (0: run to the end). The position is saved,
  /// so the next call goes on from there.
  std::size_t max_batches = 0;
};

/// What a reindex() call found and did.
struct reindex_report {
  /// The index already matched the definitions: nothing was done.
  bool was_up_to_date = false;
  /// The index matches the definitions now (the job ran to its end).
  bool complete = false;
  /// Resources whose index rows this call rewrote.
  std::uint64_t reindexed = 0;
  /// The job resumed a position a previous call had saved.
  bool resumed = false;
};

}  // namespace hearth::store
