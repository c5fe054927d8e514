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
//
// Version 2: the search index (DESIGN.md Storage; index_entry.hpp says what
// each column holds). One table per parameter kind; every row names its
// resource (resource_pk) and its parameter (param: detail::param_key(type,
// code), a 63-bit hash of "Type.code", so no lookup table is needed), and
// grp: 0 for a plain entry, n > 0 for the components of the n-th composite
// entry of the resource (their param is the key of "code$i", component i of
// the composite), so that one composite's components are matched together.
// Rows exist only for the current, non-deleted version; they are derived
// data, rewritten with each version in the same transaction, hence no foreign
// key (it would cost a lookup per row). Text columns compare bytewise
// (PostgreSQL COLLATE "C", SQLite's BINARY): string prefixes are ranges.
// Doubles may be +-infinity (open ends). Each value index ends with
// resource_pk, so that a criterion's subquery (search_sql.hpp) reads the
// index alone. index_job records a reindex in
// progress (reindex.hpp): which definitions it indexes for and where it is.
//
// Version 3: date ranges searchable without scanning every earlier value.
// idx_date.span is the class of high - low (detail/date_span.hpp: up to a
// day, 31 days, 366 days, longer or open; the CASE below computes the same);
// idx_date.multi is 1 when the resource has several values of the parameter
// (grp 0). A date search scans (param, span, low) with a lower bound on low
// per class, and tests two values of one resource against two terms of an
// AND only among multi rows (search_sql.cpp, date_terms).
// The same text on both engines.
const std::vector<const char*> version_3 = {
    "ALTER TABLE idx_date ADD COLUMN span INTEGER NOT NULL DEFAULT 3",
    "ALTER TABLE idx_date ADD COLUMN multi INTEGER NOT NULL DEFAULT 0",
    "UPDATE idx_date SET span = CASE"
    " WHEN low < -100000000000000000 OR high > 100000000000000000 THEN 3"
    " WHEN high - low <= 86400000 THEN 0 WHEN high - low <= 2678400000 THEN 1"
    " WHEN high - low <= 31622400000 THEN 2 ELSE 3 END",
    "UPDATE idx_date SET multi = 1 WHERE grp = 0 AND (resource_pk, param) IN"
    " (SELECT resource_pk, param FROM idx_date WHERE grp = 0 GROUP BY resource_pk, param HAVING COUNT(*) > 1)",
    "DROP INDEX idx_date_1",
    "CREATE INDEX idx_date_span ON idx_date (param, span, low, high, resource_pk)",
    "CREATE INDEX idx_date_multi ON idx_date (param, low, high, resource_pk) WHERE multi = 1",
};

// Version 4: the AuditEvent trail (DESIGN.md Storage `audit_event`;
// SECURITY.md "Audit"; audit_log.hpp says what each column holds).
//
// audit_event: one row per AuditEvent, in chain order. seq is the position
//   in the hash chain, assigned by the append from audit_head (1, 2, ...
//   without gaps: a gap is a deleted event), not by an identity or
//   AUTOINCREMENT, which may skip values. json is the AuditEvent exactly as
//   served and hashed (id and meta included), plain text so that an auditor
//   can read it with SQL. hash = SHA-256(prev_hash || json), both hex; the
//   first event's prev_hash is 32 zero bytes. The search keys (recorded,
//   type, subtype, action, outcome) are derived from json by the append, and
//   checked against it by `hearth audit verify`.
// audit_event_ref: the references and identifiers an event can be searched
//   by (kind 2 entity, 3 agent reference, 4 agent identifier; kind 1,
//   patient, until version 5;
//   ref_type is the resource type, or the identifier's system), one row each,
//   keyed for `kind = ? AND ref_id = ? [AND ref_type = ?]` then seq, and
//   indexed by seq for the verification, which reads an event's rows back
//   (that index only ever grows at its right edge). No foreign key: the
//   search index tables have none either (a lookup per row).
// audit_head: the chain head, one row: the last seq and its hash. An append
//   reads it (FOR UPDATE on PostgreSQL: processes sharing the database append
//   one after the other, so the chain stays linear) and moves it in the same
//   transaction as the rows.
// Both audit tables are append-only: triggers refuse UPDATE and DELETE (and
// TRUNCATE on PostgreSQL), so that no code path and no mistaken statement
// rewrites the trail. Someone who can drop the triggers can tamper; the hash
// chain is what reveals it.
const std::vector<const char*> version_4_sqlite = {
    "CREATE TABLE audit_event ("
    " seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
    " id TEXT NOT NULL UNIQUE,"
    " recorded INTEGER NOT NULL,"
    " last_updated INTEGER NOT NULL,"
    " type_system TEXT NOT NULL,"
    " type_code TEXT NOT NULL,"
    " subtype_system TEXT NOT NULL,"
    " subtype_code TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " outcome TEXT NOT NULL,"
    " json TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL)",
    "CREATE INDEX audit_event_recorded ON audit_event (recorded, seq)",
    "CREATE TABLE audit_event_ref ("
    " kind INTEGER NOT NULL,"
    " ref_id TEXT NOT NULL,"
    " ref_type TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " PRIMARY KEY (kind, ref_id, ref_type, seq)) WITHOUT ROWID",
    "CREATE INDEX audit_event_ref_seq ON audit_event_ref (seq)",
    "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL)",
    "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, "
    "'0000000000000000000000000000000000000000000000000000000000000000')",
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event"
    " BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event"
    " BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    "CREATE TRIGGER audit_event_ref_no_update BEFORE UPDATE ON audit_event_ref"
    " BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    "CREATE TRIGGER audit_event_ref_no_delete BEFORE DELETE ON audit_event_ref"
    " BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
};

const std::vector<const char*> version_4_postgresql = {
    "CREATE TABLE audit_event ("
    " seq BIGINT PRIMARY KEY CHECK (seq >= 1),"
    " id TEXT COLLATE \"C\" NOT NULL UNIQUE,"
    " recorded BIGINT NOT NULL,"
    " last_updated BIGINT NOT NULL,"
    " type_system TEXT COLLATE \"C\" NOT NULL,"
    " type_code TEXT COLLATE \"C\" NOT NULL,"
    " subtype_system TEXT COLLATE \"C\" NOT NULL,"
    " subtype_code TEXT COLLATE \"C\" NOT NULL,"
    " action TEXT COLLATE \"C\" NOT NULL,"
    " outcome TEXT COLLATE \"C\" NOT NULL,"
    " json TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL)",
    "CREATE INDEX audit_event_recorded ON audit_event (recorded, seq)",
    "CREATE TABLE audit_event_ref ("
    " kind SMALLINT NOT NULL,"
    " ref_id TEXT COLLATE \"C\" NOT NULL,"
    " ref_type TEXT COLLATE \"C\" NOT NULL,"
    " seq BIGINT NOT NULL,"
    " PRIMARY KEY (kind, ref_id, ref_type, seq))",
    "CREATE INDEX audit_event_ref_seq ON audit_event_ref (seq)",
    "CREATE TABLE audit_head (id SMALLINT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL)",
    "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, "
    "'0000000000000000000000000000000000000000000000000000000000000000')",
    // No ':' in the function body: SOCI would read it as a placeholder.
    "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    " 'BEGIN RAISE EXCEPTION ''the audit trail is append-only''; END'",
    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event"
    " FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
    "CREATE TRIGGER audit_event_ref_append_only BEFORE UPDATE OR DELETE ON audit_event_ref"
    " FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE TRIGGER audit_event_ref_no_truncate BEFORE TRUNCATE ON audit_event_ref"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
};

// Version 5: AuditEvent `patient` is searched on the entity and agent keys
// whose ref_type is Patient (audit_log.cpp), so the kind 1 (patient) rows,
// which repeated them, go: one index row less per event. The append-only
// trigger steps aside for this one statement, inside the migration's
// transaction. (The hash chain covers json only; the rows are derived keys
// that `hearth audit verify` checks against it.)
const std::vector<const char*> version_5_sqlite = {
    "DROP TRIGGER audit_event_ref_no_delete",
    "DELETE FROM audit_event_ref WHERE kind = 1",
    "CREATE TRIGGER audit_event_ref_no_delete BEFORE DELETE ON audit_event_ref"
    " BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
};

const std::vector<const char*> version_5_postgresql = {
    "ALTER TABLE audit_event_ref DISABLE TRIGGER audit_event_ref_append_only",
    "DELETE FROM audit_event_ref WHERE kind = 1",
    "ALTER TABLE audit_event_ref ENABLE TRIGGER audit_event_ref_append_only",
};

// Version 6: the HL7 v2 message log (DESIGN.md Storage `hl7_message`;
// message_log.hpp says what each column holds). A message is inserted
// (status 'received') and committed before it is processed, and completed
// (final status, ACK, error, resources) in the transaction that writes what
// it produced. message_pk orders the log (newest first in listings).
// raw: the message bytes exactly, zstd-compressed like resource bodies; ack:
// the ACK bytes as sent, uncompressed (a few hundred bytes; a BLOB/BYTEA
// because both may hold any bytes the sender's character set gives).
// resources: a JSON array of "Type/id/_history/vid". Times in ms since the
// epoch, as the resource tables.
// The unique index on the sender and MSH-10 is partial: messages without a
// control id (those that could not be parsed) never clash with each other.
// Its COLLATE "C" (PostgreSQL) compares bytewise, as SQLite's BINARY does.
// IF NOT EXISTS: the table is new and self-contained, so a database whose
// schema_version rows were rolled back below 6 by hand (as the migration
// tests of versions 3 and 5 do) migrates forward again instead of failing.
const std::vector<const char*> version_6_sqlite = {
    "CREATE TABLE IF NOT EXISTS hl7_message ("
    " message_pk INTEGER PRIMARY KEY AUTOINCREMENT,"
    " sender_application TEXT NOT NULL,"
    " sender_facility TEXT NOT NULL,"
    " control_id TEXT NOT NULL,"
    " message_type TEXT NOT NULL,"
    " received_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('received', 'processed', 'error', 'rejected')),"
    " raw BLOB NOT NULL,"
    " raw_sha256 TEXT NOT NULL,"
    " ack BLOB NOT NULL,"
    " error TEXT NOT NULL,"
    " resources TEXT NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS hl7_message_key ON hl7_message (sender_application, sender_facility, control_id)"
    " WHERE control_id <> ''",
    "CREATE INDEX IF NOT EXISTS hl7_message_status ON hl7_message (status, message_pk)",
    "CREATE INDEX IF NOT EXISTS hl7_message_type ON hl7_message (message_type, message_pk)",
    "CREATE INDEX IF NOT EXISTS hl7_message_sender ON hl7_message (sender_application, sender_facility, message_pk)",
    "CREATE INDEX IF NOT EXISTS hl7_message_received ON hl7_message (received_at, message_pk)",
};

const std::vector<const char*> version_6_postgresql = {
    "CREATE TABLE IF NOT EXISTS hl7_message ("
    " message_pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " sender_application TEXT COLLATE \"C\" NOT NULL,"
    " sender_facility TEXT COLLATE \"C\" NOT NULL,"
    " control_id TEXT COLLATE \"C\" NOT NULL,"
    " message_type TEXT COLLATE \"C\" NOT NULL,"
    " received_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " status TEXT COLLATE \"C\" NOT NULL CHECK (status IN ('received', 'processed', 'error', 'rejected')),"
    " raw BYTEA NOT NULL,"
    " raw_sha256 TEXT NOT NULL,"
    " ack BYTEA NOT NULL,"
    " error TEXT NOT NULL,"
    " resources TEXT NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS hl7_message_key ON hl7_message (sender_application, sender_facility, control_id)"
    " WHERE control_id <> ''",
    "CREATE INDEX IF NOT EXISTS hl7_message_status ON hl7_message (status, message_pk)",
    "CREATE INDEX IF NOT EXISTS hl7_message_type ON hl7_message (message_type, message_pk)",
    "CREATE INDEX IF NOT EXISTS hl7_message_sender ON hl7_message (sender_application, sender_facility, message_pk)",
    "CREATE INDEX IF NOT EXISTS hl7_message_received ON hl7_message (received_at, message_pk)",
};

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
      {2,
       "the search index",
       {
           "CREATE INDEX resource_type_pk ON resource (type, resource_pk)",
           "CREATE INDEX resource_type_updated ON resource (type, last_updated)",
           "CREATE TABLE idx_string ("
           " resource_pk INTEGER NOT NULL,"
           " param INTEGER NOT NULL,"
           " grp INTEGER NOT NULL,"
           " normalized TEXT NOT NULL,"
           " exact TEXT NOT NULL)",
           "CREATE INDEX idx_string_1 ON idx_string (param, normalized, resource_pk)",
           "CREATE INDEX idx_string_resource ON idx_string (resource_pk)",
           "CREATE TABLE idx_token ("
           " resource_pk INTEGER NOT NULL,"
           " param INTEGER NOT NULL,"
           " grp INTEGER NOT NULL,"
           " system TEXT NOT NULL,"
           " code TEXT NOT NULL,"
           " text TEXT NOT NULL,"
           " type_system TEXT NOT NULL,"
           " type_code TEXT NOT NULL)",
           "CREATE INDEX idx_token_1 ON idx_token (param, code, system, resource_pk)",
           "CREATE INDEX idx_token_resource ON idx_token (resource_pk)",
           "CREATE TABLE idx_date ("
           " resource_pk INTEGER NOT NULL,"
           " param INTEGER NOT NULL,"
           " grp INTEGER NOT NULL,"
           " low INTEGER NOT NULL,"
           " high INTEGER NOT NULL)",
           "CREATE INDEX idx_date_1 ON idx_date (param, low, high, resource_pk)",
           "CREATE INDEX idx_date_resource ON idx_date (resource_pk)",
           "CREATE TABLE idx_number ("
           " resource_pk INTEGER NOT NULL,"
           " param INTEGER NOT NULL,"
           " grp INTEGER NOT NULL,"
           " value REAL NOT NULL,"
           " low REAL NOT NULL,"
           " high REAL NOT NULL)",
           "CREATE INDEX idx_number_1 ON idx_number (param, value, resource_pk)",
           "CREATE INDEX idx_number_resource ON idx_number (resource_pk)",
           "CREATE TABLE idx_quantity ("
           " resource_pk INTEGER NOT NULL,"
           " param INTEGER NOT NULL,"
           " grp INTEGER NOT NULL,"
           " value REAL NOT NULL,"
           " low REAL NOT NULL,"
           " high REAL NOT NULL,"
           " system TEXT NOT NULL,"
           " code TEXT NOT NULL,"
           " unit TEXT NOT NULL,"
           " canonical_unit TEXT NOT NULL,"
           " canonical_value REAL NOT NULL,"
           " canonical_low REAL NOT NULL,"
           " canonical_high REAL NOT NULL)",
           "CREATE INDEX idx_quantity_1 ON idx_quantity (param, value, resource_pk)",
           "CREATE INDEX idx_quantity_2 ON idx_quantity (param, canonical_unit, canonical_value, resource_pk) WHERE canonical_unit <> ''",
           "CREATE INDEX idx_quantity_resource ON idx_quantity (resource_pk)",
           "CREATE TABLE idx_reference ("
           " resource_pk INTEGER NOT NULL,"
           " param INTEGER NOT NULL,"
           " grp INTEGER NOT NULL,"
           " kind INTEGER NOT NULL,"
           " target_type TEXT NOT NULL,"
           " target_id TEXT NOT NULL,"
           " target_version TEXT NOT NULL,"
           " url TEXT NOT NULL,"
           " identifier_system TEXT NOT NULL,"
           " identifier_value TEXT NOT NULL)",
           "CREATE INDEX idx_reference_1 ON idx_reference (param, target_id, target_type, resource_pk)",
           "CREATE INDEX idx_reference_2 ON idx_reference (param, url, resource_pk) WHERE url <> ''",
           "CREATE INDEX idx_reference_resource ON idx_reference (resource_pk)",
           "CREATE TABLE idx_uri ("
           " resource_pk INTEGER NOT NULL,"
           " param INTEGER NOT NULL,"
           " grp INTEGER NOT NULL,"
           " uri TEXT NOT NULL)",
           "CREATE INDEX idx_uri_1 ON idx_uri (param, uri, resource_pk)",
           "CREATE INDEX idx_uri_resource ON idx_uri (resource_pk)",
           "CREATE TABLE index_job (fingerprint TEXT NOT NULL, next_pk INTEGER NOT NULL, started_at TEXT NOT NULL)",
       },
       {
           "CREATE INDEX resource_type_pk ON resource (type, resource_pk)",
           "CREATE INDEX resource_type_updated ON resource (type, last_updated)",
           "CREATE TABLE idx_string ("
           " resource_pk BIGINT NOT NULL,"
           " param BIGINT NOT NULL,"
           " grp INTEGER NOT NULL,"
           " normalized TEXT COLLATE \"C\" NOT NULL,"
           " exact TEXT COLLATE \"C\" NOT NULL)",
           "CREATE INDEX idx_string_1 ON idx_string (param, normalized, resource_pk)",
           "CREATE INDEX idx_string_resource ON idx_string (resource_pk)",
           "CREATE TABLE idx_token ("
           " resource_pk BIGINT NOT NULL,"
           " param BIGINT NOT NULL,"
           " grp INTEGER NOT NULL,"
           " system TEXT COLLATE \"C\" NOT NULL,"
           " code TEXT COLLATE \"C\" NOT NULL,"
           " text TEXT COLLATE \"C\" NOT NULL,"
           " type_system TEXT COLLATE \"C\" NOT NULL,"
           " type_code TEXT COLLATE \"C\" NOT NULL)",
           "CREATE INDEX idx_token_1 ON idx_token (param, code, system, resource_pk)",
           "CREATE INDEX idx_token_resource ON idx_token (resource_pk)",
           "CREATE TABLE idx_date ("
           " resource_pk BIGINT NOT NULL,"
           " param BIGINT NOT NULL,"
           " grp INTEGER NOT NULL,"
           " low BIGINT NOT NULL,"
           " high BIGINT NOT NULL)",
           "CREATE INDEX idx_date_1 ON idx_date (param, low, high, resource_pk)",
           "CREATE INDEX idx_date_resource ON idx_date (resource_pk)",
           "CREATE TABLE idx_number ("
           " resource_pk BIGINT NOT NULL,"
           " param BIGINT NOT NULL,"
           " grp INTEGER NOT NULL,"
           " value DOUBLE PRECISION NOT NULL,"
           " low DOUBLE PRECISION NOT NULL,"
           " high DOUBLE PRECISION NOT NULL)",
           "CREATE INDEX idx_number_1 ON idx_number (param, value, resource_pk)",
           "CREATE INDEX idx_number_resource ON idx_number (resource_pk)",
           "CREATE TABLE idx_quantity ("
           " resource_pk BIGINT NOT NULL,"
           " param BIGINT NOT NULL,"
           " grp INTEGER NOT NULL,"
           " value DOUBLE PRECISION NOT NULL,"
           " low DOUBLE PRECISION NOT NULL,"
           " high DOUBLE PRECISION NOT NULL,"
           " system TEXT COLLATE \"C\" NOT NULL,"
           " code TEXT COLLATE \"C\" NOT NULL,"
           " unit TEXT COLLATE \"C\" NOT NULL,"
           " canonical_unit TEXT COLLATE \"C\" NOT NULL,"
           " canonical_value DOUBLE PRECISION NOT NULL,"
           " canonical_low DOUBLE PRECISION NOT NULL,"
           " canonical_high DOUBLE PRECISION NOT NULL)",
           "CREATE INDEX idx_quantity_1 ON idx_quantity (param, value, resource_pk)",
           "CREATE INDEX idx_quantity_2 ON idx_quantity (param, canonical_unit, canonical_value, resource_pk) WHERE canonical_unit <> ''",
           "CREATE INDEX idx_quantity_resource ON idx_quantity (resource_pk)",
           "CREATE TABLE idx_reference ("
           " resource_pk BIGINT NOT NULL,"
           " param BIGINT NOT NULL,"
           " grp INTEGER NOT NULL,"
           " kind SMALLINT NOT NULL,"
           " target_type TEXT COLLATE \"C\" NOT NULL,"
           " target_id TEXT COLLATE \"C\" NOT NULL,"
           " target_version TEXT COLLATE \"C\" NOT NULL,"
           " url TEXT COLLATE \"C\" NOT NULL,"
           " identifier_system TEXT COLLATE \"C\" NOT NULL,"
           " identifier_value TEXT COLLATE \"C\" NOT NULL)",
           "CREATE INDEX idx_reference_1 ON idx_reference (param, target_id, target_type, resource_pk)",
           "CREATE INDEX idx_reference_2 ON idx_reference (param, url, resource_pk) WHERE url <> ''",
           "CREATE INDEX idx_reference_resource ON idx_reference (resource_pk)",
           "CREATE TABLE idx_uri ("
           " resource_pk BIGINT NOT NULL,"
           " param BIGINT NOT NULL,"
           " grp INTEGER NOT NULL,"
           " uri TEXT COLLATE \"C\" NOT NULL)",
           "CREATE INDEX idx_uri_1 ON idx_uri (param, uri, resource_pk)",
           "CREATE INDEX idx_uri_resource ON idx_uri (resource_pk)",
           "CREATE TABLE index_job (fingerprint TEXT NOT NULL, next_pk BIGINT NOT NULL, started_at TEXT NOT NULL)",
       }},
      {3, "date index: span classes and multi-valued parameters", version_3, version_3},
      {4, "the AuditEvent trail, hash-chained", version_4_sqlite, version_4_postgresql},
      {5, "AuditEvent patient searched on entity and agent keys", version_5_sqlite, version_5_postgresql},
      {6, "the HL7 v2 message log", version_6_sqlite, version_6_postgresql},
      // Version 7: secrets every process sharing the database uses
      // (database::shared_secret): the key that seals paging cursors, so that
      // a next link opens after a restart and on another process. value is
      // lower-case hex; a row is inserted once and never changed. IF NOT
      // EXISTS, as version 6: tests move schema_version back and migrate again.
      {7,
       "secrets shared by the processes of one database",
       {"CREATE TABLE IF NOT EXISTS server_secret (name TEXT PRIMARY KEY, value TEXT NOT NULL)"},
       {"CREATE TABLE IF NOT EXISTS server_secret (name TEXT COLLATE \"C\" PRIMARY KEY, value TEXT NOT NULL)"}},
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
