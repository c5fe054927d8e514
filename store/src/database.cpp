#include <hearth/store/database.hpp>

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <filesystem>
#include <string>
#include <system_error>

#include <hearth/store/error_codes.hpp>

#include "detail/database_impl.hpp"
#include "detail/db_error.hpp"
#include "detail/migrations.hpp"
#include "detail/sqlite_wal_vfs.hpp"

namespace hearth::store {
namespace {

hearth::error config_error(std::string message) {
  return hearth::error{std::string(error_codes::invalid), std::move(message), {}, hearth::error::npos};
}

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.substr(0, prefix.size()) == prefix;
}

/// The SOCI connection string of the SQLite file in `dir`. SOCI's SQLite
/// backend reads `key=value` pairs; a value in double quotes may hold spaces.
std::string sqlite_connect_string(const std::filesystem::path& file) {
  return "db=\"" + file.string() + "\"";
}

/// Opens `sql` and sets what every connection needs.
void open_session(soci::session& sql, const database_config& config, const std::filesystem::path& sqlite_file) {
  if (config.kind == engine::sqlite) {
    // Every connection through the WAL write-coalescing VFS (it must be the
    // default: SOCI opens with SQLite's default VFS). It relies on the
    // synchronous=FULL below (sqlite_wal_vfs.cpp says why).
    detail::install_sqlite_wal_vfs();
    sql.open(*soci::factory_sqlite3(), sqlite_connect_string(sqlite_file));
    // Integers from the configuration, not input: PRAGMA takes no parameters.
    sql << "PRAGMA busy_timeout = " + std::to_string(config.busy_timeout.count());
    // Answer a write only once it is on disk (DESIGN.md "Nothing acknowledged
    // is lost"): FULL syncs the WAL at every commit.
    sql << "PRAGMA synchronous = FULL";
    sql << "PRAGMA foreign_keys = ON";
    // 64 MiB of page cache (the default is 2 MiB): index inserts land on
    // pages all over the index B-trees; re-reading them costs more than RAM.
    sql << "PRAGMA cache_size = -65536";
    // Each write in a group runs in a savepoint whose undo pages go to a
    // statement journal; past 64 KiB SQLite spills it to a temporary file
    // (open, write every page, unlink) on every commit. In memory it stays:
    // it holds one group's undo pages at most.
    sql << "PRAGMA temp_store = MEMORY";
  } else {
    sql.open(*soci::factory_postgresql(), config.location);
    // NOTICEs (e.g. "relation already exists, skipping") would go to stderr.
    sql << "SET client_min_messages TO WARNING";
    // Integers from the configuration, not input: SET takes no parameters.
    sql << "SET lock_timeout = " + std::to_string(config.busy_timeout.count());
    sql << "SET statement_timeout = " + std::to_string(config.statement_timeout.count());
  }
}

/// On the writer thread between two groups, when the checkpointer asked for
/// it (database_impl.hpp, writer_checkpoint_wanted): copies the frames the
/// checkpointer has not reached yet, so that the WAL is all in the database
/// when the next group begins, and SQLite starts the WAL over.
void writer_checkpoint(database::impl& db, soci::session& writer) {
  if (!db.writer_checkpoint_wanted.exchange(false)) return;
  try {
    writer << "PRAGMA wal_checkpoint(PASSIVE)";
  } catch (const std::exception&) {
    // As in run_checkpointer: the next request tries again.
  }
}

/// The checkpointer thread (database_impl.hpp): a passive checkpoint every
/// interval until stopped, and a last one after the writer has stopped.
void run_checkpointer(database::impl& db) {
  auto checkpoint = [&db] {
    try {
      int busy = 0, log_frames = 0, checkpointed = 0;
      db.checkpoint_session << "PRAGMA wal_checkpoint(PASSIVE)", soci::into(busy), soci::into(log_frames),
          soci::into(checkpointed);
      if (log_frames >= database::impl::wal_restart_frames) db.writer_checkpoint_wanted.store(true);
    } catch (const std::exception&) {
      // SQLITE_BUSY from another process's checkpoint, or a transient I/O
      // error: the WAL stays valid and the next round tries again.
    }
  };
  std::unique_lock lock(db.checkpoint_mu);
  while (!db.checkpoint_stopping) {
    db.checkpoint_cv.wait_for(lock, database::impl::checkpoint_interval, [&db] { return db.checkpoint_stopping; });
    lock.unlock();
    checkpoint();
    lock.lock();
  }
}

}  // namespace

std::string_view to_string(engine e) noexcept { return e == engine::postgresql ? "postgresql" : "sqlite"; }

hearth::result<database_config> parse_database_url(std::string_view url) {
  database_config config;
  if (starts_with(url, "sqlite:")) {
    config.kind = engine::sqlite;
    config.location = std::string(url.substr(7));
  } else if (starts_with(url, "postgresql://") || starts_with(url, "postgres://")) {
    config.kind = engine::postgresql;
    config.location = std::string(url);  // libpq reads the URI itself
  } else if (starts_with(url, "postgresql:")) {
    config.kind = engine::postgresql;
    config.location = std::string(url.substr(11));
  } else {
    return hearth::unexpected(config_error("database URL: expected sqlite:DIR, postgresql://... or postgresql:CONNINFO"));
  }
  if (config.location.empty()) return hearth::unexpected(config_error("database URL: empty location"));
  return config;
}

database::database(std::unique_ptr<impl> i) noexcept : impl_(std::move(i)) {}

database::~database() { stop(); }

hearth::result<std::unique_ptr<database>> database::open(const database_config& config) {
  if (config.location.empty()) return hearth::unexpected(config_error("database: empty location"));
  if (config.pool_size == 0) return hearth::unexpected(config_error("database: pool_size must be at least 1"));
  if (config.max_group == 0 || config.max_queue == 0) {
    return hearth::unexpected(config_error("database: max_group and max_queue must be at least 1"));
  }
  std::filesystem::path sqlite_file;
  if (config.kind == engine::sqlite) {
    std::error_code ec;
    std::filesystem::create_directories(config.location, ec);
    if (ec) {
      return hearth::unexpected(hearth::error{std::string(error_codes::exception),
                                              "database: cannot create the data directory: " + ec.message(), {},
                                              hearth::error::npos});
    }
    sqlite_file = std::filesystem::path(config.location) / "hearth.db";
    // SOCI's connection string quotes the path; it cannot hold a quote.
    if (sqlite_file.string().find('"') != std::string::npos) {
      return hearth::unexpected(config_error("database: the data directory path may not contain '\"'"));
    }
  }
  auto i = std::make_unique<impl>(config);
  try {
    open_session(i->writer_session, config, sqlite_file);
    if (config.kind == engine::sqlite) {
      // WAL: readers never block the writer nor it them; persistent in the file.
      std::string mode;
      i->writer_session << "PRAGMA journal_mode = WAL", soci::into(mode);
      if (mode != "wal") {
        return hearth::unexpected(hearth::error{std::string(error_codes::exception),
                                                "database: SQLite refused WAL mode (journal_mode is " + mode + ")",
                                                {}, hearth::error::npos});
      }
    }
  } catch (const std::exception& e) {
    return hearth::unexpected(detail::database_error("database: cannot open", e));
  }
  auto version = detail::migrate(i->writer_session, config.kind);
  if (!version) return hearth::unexpected(std::move(version).error());
  i->schema_version = *version;
  try {
    for (std::size_t n = 0; n < config.pool_size; ++n) open_session(i->readers.at(n), config, sqlite_file);
  } catch (const std::exception& e) {
    return hearth::unexpected(detail::database_error("database: cannot open a reader connection", e));
  }
  if (config.kind == engine::sqlite) {
    try {
      i->writer_session << "PRAGMA wal_autocheckpoint = 0";  // the checkpointer's job (database_impl.hpp)
      // After the WAL restarts from its beginning, the file is cut back to
      // this size (bytes; a constant): a burst leaves no gigabytes behind.
      i->writer_session << "PRAGMA journal_size_limit = " +
                               std::to_string(std::int64_t{database::impl::wal_restart_frames} * 4096);
      open_session(i->checkpoint_session, config, sqlite_file);
    } catch (const std::exception& e) {
      return hearth::unexpected(detail::database_error("database: cannot open the checkpoint connection", e));
    }
    impl* raw = i.get();
    i->checkpointer = std::thread([raw] { run_checkpointer(*raw); });
  }
  detail::group_writer::idle_task after_group;
  if (config.kind == engine::sqlite) {
    impl* raw = i.get();
    after_group = [raw](soci::session& w) { writer_checkpoint(*raw, w); };
  }
  i->writer = std::make_unique<detail::group_writer>(i->writer_session, config.kind, config.max_group,
                                                     config.max_queue, std::move(after_group));
  return std::unique_ptr<database>(new database(std::move(i)));
}

engine database::kind() const noexcept { return impl_->config.kind; }

const database_config& database::config() const noexcept { return impl_->config; }

int database::schema_version() const noexcept { return impl_->schema_version; }

int database::known_schema_version() noexcept { return detail::latest_schema_version(); }

commit_stats database::stats() const { return impl_->writer->stats(); }

void database::stop() {
  if (!impl_) return;
  if (impl_->writer) impl_->writer->stop();
  {
    std::lock_guard lock(impl_->checkpoint_mu);
    impl_->checkpoint_stopping = true;
  }
  impl_->checkpoint_cv.notify_all();
  if (impl_->checkpointer.joinable()) impl_->checkpointer.join();
}

}  // namespace hearth::store
