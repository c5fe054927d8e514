#include "detail/migrations.hpp"

#include <soci/soci.h>

#include <chrono>
#include <string>
#include <vector>

#include <hearth/store/error_codes.hpp>
#include <hearth/store/resource_version.hpp>

#include "detail/db_error.hpp"

namespace hearth::store::detail {
namespace {

/// One schema change: the statements of each engine, applied in order.
/// Append new migrations; never edit one that has shipped.
struct migration {
  int version;
  const char* description;
  std::vector<const char*> sqlite;
  std::vector<const char*> postgresql;
};

// Version 1: resources and their history (DESIGN.md Storage).
//
// resource: the current version of each (type, id). resource_pk is the
//   surrogate key the search index tables (a later migration) reference: an
//   integer, never reused (AUTOINCREMENT / identity), so an index row can
//   never point at another resource.
// resource_history: every version, the current one included, so history and
//   vread read one table. superseded_at is the next version's lastUpdated
//   (NULL while current): R4 _at asks which versions were current when.
// Times are milliseconds since 1970-01-01T00:00:00Z (meta.lastUpdated has
//   millisecond precision), as integers both engines compare and index alike.
// body: the JSON as stored, zstd-compressed; NULL exactly for a tombstone.
// content_hash: hex SHA-256 of the canonical JSON without the server-set meta
//   (detail/content_hash.hpp), to recognise an identical update.
// change_kind: 1 create, 2 update, 3 delete (Bundle.entry.request.method).
const std::vector<migration>& all_migrations() {
  static const std::vector<migration> list = {
      {1,
       "resources and their version history",
       {
           "CREATE TABLE resource ("
           " resource_pk INTEGER PRIMARY KEY AUTOINCREMENT,"
           " type TEXT NOT NULL,"
           " id TEXT NOT NULL,"
           " version_id INTEGER NOT NULL CHECK (version_id >= 1),"
           " last_updated INTEGER NOT NULL,"
           " deleted INTEGER NOT NULL CHECK (deleted IN (0, 1)),"
           " content_hash TEXT,"
           " body BLOB,"
           " CHECK ((deleted = 1) = (body IS NULL)),"
           " UNIQUE (type, id))",
           "CREATE TABLE resource_history ("
           " history_pk INTEGER PRIMARY KEY AUTOINCREMENT,"
           " resource_pk INTEGER NOT NULL REFERENCES resource (resource_pk),"
           " type TEXT NOT NULL,"
           " version_id INTEGER NOT NULL CHECK (version_id >= 1),"
           " last_updated INTEGER NOT NULL,"
           " superseded_at INTEGER,"
           " change_kind INTEGER NOT NULL CHECK (change_kind IN (1, 2, 3)),"
           " deleted INTEGER NOT NULL CHECK (deleted IN (0, 1)),"
           " content_hash TEXT,"
           " body BLOB,"
           " CHECK ((deleted = 1) = (body IS NULL)),"
           " UNIQUE (resource_pk, version_id))",
           // System and type history, newest first, keyset-paged.
           "CREATE INDEX resource_history_time ON resource_history (last_updated, history_pk)",
           "CREATE INDEX resource_history_type_time ON resource_history (type, last_updated, history_pk)",
       },
       {
           "CREATE TABLE resource ("
           " resource_pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
           " type TEXT NOT NULL,"
           " id TEXT NOT NULL,"
           " version_id BIGINT NOT NULL CHECK (version_id >= 1),"
           " last_updated BIGINT NOT NULL,"
           " deleted SMALLINT NOT NULL CHECK (deleted IN (0, 1)),"
           " content_hash TEXT,"
           " body BYTEA,"
           " CHECK ((deleted = 1) = (body IS NULL)),"
           " UNIQUE (type, id))",
           "CREATE TABLE resource_history ("
           " history_pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
           " resource_pk BIGINT NOT NULL REFERENCES resource (resource_pk),"
           " type TEXT NOT NULL,"
           " version_id BIGINT NOT NULL CHECK (version_id >= 1),"
           " last_updated BIGINT NOT NULL,"
           " superseded_at BIGINT,"
           " change_kind SMALLINT NOT NULL CHECK (change_kind IN (1, 2, 3)),"
           " deleted SMALLINT NOT NULL CHECK (deleted IN (0, 1)),"
           " content_hash TEXT,"
           " body BYTEA,"
           " CHECK ((deleted = 1) = (body IS NULL)),"
           " UNIQUE (resource_pk, version_id))",
           "CREATE INDEX resource_history_time ON resource_history (last_updated, history_pk)",
           "CREATE INDEX resource_history_type_time ON resource_history (type, last_updated, history_pk)",
       }},
  };
  return list;
}

/// Serialises migrations of one PostgreSQL database across processes: an
/// arbitrary constant naming "hearth schema migration" (pg_advisory_xact_lock).
constexpr long long advisory_lock_key = 0x4865617274684d;  // "HearthM"

}  // namespace

int latest_schema_version() noexcept { return all_migrations().back().version; }

hearth::result<int> migrate(soci::session& sql, engine kind) {
  const bool pg = kind == engine::postgresql;
  try {
    sql << (pg ? "BEGIN" : "BEGIN IMMEDIATE");
    try {
      if (pg) sql << "SELECT pg_advisory_xact_lock(:key)", soci::use(advisory_lock_key);
      sql << "CREATE TABLE IF NOT EXISTS schema_version ("
             " version INTEGER PRIMARY KEY,"
             " description TEXT NOT NULL,"
             " applied_at TEXT NOT NULL)";
      int current = 0;
      sql << "SELECT COALESCE(MAX(version), 0) FROM schema_version", soci::into(current);
      const int latest = latest_schema_version();
      if (current > latest) {
        sql << "ROLLBACK";
        return hearth::unexpected(hearth::error{
            std::string(error_codes::not_supported),
            "the database schema is at version " + std::to_string(current) + ", newer than this hearth knows (" +
                std::to_string(latest) + "): run a newer hearth",
            {},
            hearth::error::npos});
      }
      const std::string now = format_instant(
          std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()));
      for (const migration& m : all_migrations()) {
        if (m.version <= current) continue;
        for (const char* statement : pg ? m.postgresql : m.sqlite) sql << statement;
        const std::string description = m.description;
        sql << "INSERT INTO schema_version (version, description, applied_at) VALUES (:v, :d, :t)",
            soci::use(m.version), soci::use(description), soci::use(now);
      }
      sql << "COMMIT";
      return latest;
    } catch (...) {
      try {
        sql << "ROLLBACK";
      } catch (...) {
        // The connection is gone: the server rolls back on its own.
      }
      throw;
    }
  } catch (const std::exception& e) {
    return hearth::unexpected(database_error("schema migration", e));
  }
}

}  // namespace hearth::store::detail
