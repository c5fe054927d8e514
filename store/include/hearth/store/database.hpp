#pragma once
// hearth::store::database — one open database: its connections, its schema,
// and the single writer that commits every change (group commit).
//
// DESIGN.md "One store interface, two engines": SQLite (WAL, the embedded
// default, one file under a data directory) or PostgreSQL (several hearth
// processes sharing one database). Everything above this class is the same
// for both.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>

namespace hearth::store {

/// The database engine behind a database.
enum class engine : std::uint8_t {
  sqlite,      ///< SQLite 3, WAL mode, one file `hearth.db` in the data directory
  postgresql,  ///< PostgreSQL (15 tested), reached through libpq
};

/// "sqlite" or "postgresql".
std::string_view to_string(engine e) noexcept;

/// How to open a database. Plain value; copyable.
struct database_config {
  engine kind = engine::sqlite;
  /// sqlite: the data directory (created, with its parents, when missing)
  /// holding `hearth.db`; postgresql: a libpq connection string
  /// (`host=... port=... dbname=...`) or URI (`postgresql://...`).
  std::string location = "./data";
  /// Connections for reads; the writer has one more of its own. Reads run on
  /// the REST worker pool (DESIGN.md "Blocking work stays off the network
  /// threads"), so size this like that pool. At least 1.
  std::size_t pool_size = 4;
  /// How long a statement waits for a lock another process holds before it
  /// fails (SQLite busy_timeout). 5 s: longer than any one group commit.
  std::chrono::milliseconds busy_timeout{5000};
  /// PostgreSQL: the longest one statement may run before the server cancels
  /// it (statement_timeout; lock waits end at busy_timeout, lock_timeout):
  /// a search too costly for its indexes fails with "exception" instead of
  /// holding a connection. 30 s: far beyond any search meant to answer a
  /// person, short enough to free the pool. Not enforced on SQLite.
  std::chrono::milliseconds statement_timeout{30000};
  /// Most writes committed in one transaction. 512 bounds how long one commit
  /// holds the write lock and how much one failed commit takes down with it.
  std::size_t max_group = 512;
  /// Most writes waiting for the writer; submitters block beyond it
  /// (back-pressure instead of unbounded memory). 16384 writes of a few KiB.
  std::size_t max_queue = 16384;
  /// zstd level for resource bodies: 3 (zstd's default) compresses FHIR JSON
  /// about 4-8x at several hundred MB/s.
  int zstd_level = 3;
};

/// Reads a database URL: `sqlite:DIR` (DIR the data directory), or
/// `postgresql://...` / `postgres://...` (a libpq URI, kept whole), or
/// `postgresql:KEY=VALUE ...` (a libpq connection string). Errors: code
/// "invalid" for an unknown scheme or an empty location.
hearth::result<database_config> parse_database_url(std::string_view url);

/// What the writer has done since the database was opened.
struct commit_stats {
  std::uint64_t transactions = 0;   ///< group transactions committed
  /// Writes committed in them: one per create/update/remove call and one
  /// per transaction() (however many resources it changes).
  std::uint64_t writes = 0;
  /// Writes that failed: rolled back alone (an error of their own), or with
  /// their whole group (the transaction failed).
  std::uint64_t failed_writes = 0;
  std::uint64_t largest_group = 0;  ///< most writes committed by one transaction
};

/// An open database.
///
/// Opening applies the pending schema migrations (each engine has its own
/// list, recorded in the `schema_version` table) and refuses a database whose
/// schema is newer than this binary knows.
///
/// Writes: one writer thread owns one connection and commits everything
/// submitted to it (see resource_store), grouping the writes that queue up
/// while a commit is in flight into the next transaction: many concurrent
/// small writes share one fsync, and no write is answered before the
/// transaction holding it has committed (DESIGN.md "Nothing acknowledged is
/// lost"). Reads use a pool of `pool_size` other connections.
///
/// Thread-safety: every member function may be called from any thread.
/// Lifetime: everything built on a database (resource_store, ...) must be
/// destroyed before it. stop() or the destructor drains the write queue:
/// writes already submitted are committed and answered, later ones fail.
class database {
 public:
  /// Opens (creating an empty SQLite database when none exists), migrates and
  /// starts the writer. Errors: "not-supported" when the schema is newer than
  /// this binary knows (the message says which versions), "invalid" for a bad
  /// configuration, "exception" when the engine fails (cannot create the
  /// directory, cannot connect, ...). Messages carry no credentials.
  static hearth::result<std::unique_ptr<database>> open(const database_config& config);

  database(const database&) = delete;
  database& operator=(const database&) = delete;
  ~database();

  engine kind() const noexcept;
  const database_config& config() const noexcept;
  /// The schema version after migration (== known_schema_version()).
  int schema_version() const noexcept;
  /// The newest schema version this binary can create and use.
  static int known_schema_version() noexcept;

  /// Counters of the writer; see commit_stats.
  commit_stats stats() const;

  /// The secret named `name`: `bytes` random bytes (OpenSSL RAND_bytes),
  /// drawn and stored by the first caller ever, read back by every later
  /// one, in this process or in any other sharing the database, and after
  /// restarts (table server_secret). For keys that must outlive a process:
  /// the seal of paging cursors (server/src/rest_cursor.hpp). Anyone who can
  /// read the database can read it. Errors: "invalid" for an empty name or
  /// `bytes` outside 16..64, or a stored secret of another size;
  /// "exception" when the engine fails or no randomness is available.
  hearth::result<std::string> shared_secret(std::string_view name, std::size_t bytes);

  /// Drains the write queue (everything already submitted is committed and
  /// answered), then stops the writer: later writes fail with "exception".
  /// Idempotent; reads keep working until destruction.
  void stop();

  /// The implementation, for the store's own components (src/ only: the type
  /// is complete nowhere else).
  struct impl;
  impl& internals() noexcept { return *impl_; }

 private:
  explicit database(std::unique_ptr<impl> i) noexcept;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::store
