#pragma once
// database::impl: the connections and the writer behind a database.

#include <soci/soci.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <hearth/store/database.hpp>

#include "detail/audit_writer.hpp"
#include "detail/group_writer.hpp"
#include "detail/identifier_finder.hpp"
#include "detail/index_writer.hpp"
#include "detail/version_writer.hpp"

namespace hearth::store {

/// Members are declared in the order they must be built; they are destroyed
/// in reverse: the writer (drained, joined) before the session it writes on.
struct database::impl {
  explicit impl(const database_config& c) : config(c), readers(c.pool_size), reader_finders(c.pool_size) {}

  database_config config;
  int schema_version = 0;
  /// Reads: pool_size sessions, leased per read (soci::session(pool)).
  soci::connection_pool readers;
  /// SQLite only: the identifier lookup prepared on each reader (by pool
  /// position), built on first use, dropped after a database error; used
  /// only by the thread that leased that position
  /// (resource_store::find_by_identifier).
  std::vector<std::unique_ptr<detail::identifier_finder>> reader_finders;
  /// The writer's own session; used by the writer thread only once it runs.
  soci::session writer_session;
  std::unique_ptr<detail::group_writer> writer;
  /// The last meta.lastUpdated stamped, in ms: lastUpdated never goes
  /// backwards, even when the clock does. Writer thread only.
  long long last_stamp_ms = 0;
  /// The writer's prepared statements on writer_session; built on first
  /// use, dropped after a database error. Writer thread only.
  std::unique_ptr<detail::index_writer> index_writer;
  std::unique_ptr<detail::version_writer> version_writer;
  std::unique_ptr<detail::identifier_finder> identifier_finder;
  std::uint64_t statements_generation = 0;  ///< writer->session_generation() they were built at
  /// The audit log's statements on writer_session (audit_log.cpp), built on
  /// first use like the two above, at audit_generation. Writer thread only.
  std::unique_ptr<detail::audit_writer> audit_writer;
  std::uint64_t audit_generation = 0;

  /// SQLite only: the checkpointer. The writer's connection does not
  /// checkpoint (wal_autocheckpoint = 0): a checkpoint syncs the database
  /// file, and on the writer thread that sync would hold every queued write.
  /// This thread, on a connection of its own, copies the WAL back into the
  /// database (PRAGMA wal_checkpoint(PASSIVE): never waits for readers or the
  /// writer) every checkpoint_interval. Stopped by database::stop().
  soci::session checkpoint_session;
  std::thread checkpointer;
  std::mutex checkpoint_mu;
  std::condition_variable checkpoint_cv;
  bool checkpoint_stopping = false;
  /// 250 ms: the WAL grows by at most a few thousand pages between two
  /// checkpoints under full write load, which SQLite reads back fast.
  static constexpr std::chrono::milliseconds checkpoint_interval{250};
  /// A passive checkpoint never resets the WAL while the writer keeps
  /// appending: SQLite starts the WAL over only when a write transaction
  /// begins with every frame already copied back, which under a steady load
  /// never happens, and the WAL then grows by the whole write volume
  /// (gigabytes a minute at full speed, with a wal-index to match). So once
  /// it holds wal_restart_frames frames (64 MiB of 4 KiB pages), the
  /// checkpointer asks the writer to run one passive checkpoint itself
  /// between two groups: only the frames of the last few milliseconds are
  /// left to copy, and the next group starts the WAL over.
  static constexpr int wal_restart_frames = 16384;
  std::atomic<bool> writer_checkpoint_wanted{false};
};

namespace detail {

/// Drops the writer's prepared statements: after a database error, the
/// session may have been reconnected, which drops them. Writer thread only.
inline void drop_writer_statements(database::impl& db) {
  db.index_writer.reset();
  db.version_writer.reset();
  db.identifier_finder.reset();
  db.audit_writer.reset();
}

/// Prepares the writer's statements on `sql` unless they are there, built on
/// the writer's current session. Writer thread only.
inline void ensure_writer_statements(database::impl& db, soci::session& sql) {
  if (db.index_writer && db.version_writer && db.identifier_finder &&
      db.statements_generation == db.writer->session_generation()) {
    return;
  }
  drop_writer_statements(db);
  db.index_writer = std::make_unique<index_writer>(sql);
  db.version_writer = std::make_unique<version_writer>(sql, db.config.kind);
  db.identifier_finder = std::make_unique<identifier_finder>(sql);
  db.statements_generation = db.writer->session_generation();
}

/// The index writer on the writer's session `sql`. Writer thread only.
inline index_writer& index_writer_of(database::impl& db, soci::session& sql) {
  ensure_writer_statements(db, sql);
  return *db.index_writer;
}

/// The resource/history writer on the writer's session `sql`. Writer
/// thread only.
inline version_writer& version_writer_of(database::impl& db, soci::session& sql) {
  ensure_writer_statements(db, sql);
  return *db.version_writer;
}

}  // namespace detail

}  // namespace hearth::store
