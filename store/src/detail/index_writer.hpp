#pragma once
// Writes the search index rows of one resource (the tables of migration 2)
// from what the indexer extracted. Writer thread only.

#include <memory>
#include <string_view>

#include <hearth/store/database.hpp>
#include <hearth/store/index_entry.hpp>

namespace soci {
class session;
}

namespace hearth::store::detail {

/// One prepared insert and one prepared delete per table, bound to the
/// fields of one row and run row by row, prepared once per writer session: a
/// resource adds a few dozen rows, and preparing a statement costs more than
/// running it. (SOCI 4.0's bulk binding to vectors is not used: its
/// PostgreSQL backend crashes when a bound vector changes size between runs.)
///
/// Thread-safety: none; the writer thread owns it. Lifetime: within the
/// session it was built on; throw it away after a database error (the
/// session may have been reconnected, which drops prepared statements).
class index_writer {
 public:
  explicit index_writer(soci::session& sql);
  ~index_writer();
  index_writer(const index_writer&) = delete;
  index_writer& operator=(const index_writer&) = delete;

  /// Deletes every index row of resource `pk`. Throws on database errors.
  void remove(long long pk);
  /// Inserts the rows of `entries`, the index of resource `pk` of `type`.
  /// _id and _lastUpdated are not written: search reads them from the
  /// resource table. Throws on database errors.
  void add(long long pk, std::string_view type, const index_entries& entries);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::store::detail
