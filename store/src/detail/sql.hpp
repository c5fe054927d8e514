#pragma once
// The SQL of the resource store, per engine. Every statement is a constant:
// values are always bound parameters (:name), never spliced into the text
// (DESIGN.md Storage, SECURITY.md "SQL is built with bound parameters only").
//
// The engines differ in three places only: how a body travels (SQLite takes
// the bytes as a BLOB; PostgreSQL's bytea goes through SOCI as hex text,
// since SOCI 4.0 binds strings as C strings), row locking (SQLite's writer
// holds the database lock from BEGIN IMMEDIATE; PostgreSQL locks the row with
// FOR UPDATE, for processes sharing the database), and how a transaction
// begins.

#include <string>

#include <hearth/store/database.hpp>

namespace hearth::store::detail {

struct statements {
  std::string begin;               ///< starts a write transaction
  /// Run right after `begin` (empty: nothing). PostgreSQL: locks the audit
  /// chain head first. Every write transaction appends AuditEvents, which
  /// lock the head (audit_writer.cpp) after the resource rows it wrote; two
  /// processes would deadlock when one holds the head (an earlier write of
  /// its group) and waits for a row the other holds while waiting for the
  /// head. Taken first, the head orders them: writers of processes sharing
  /// the database take turns, as their audit appends made them already.
  std::string lock_order;
  std::string find_current;        ///< :type :id -> pk, version, last_updated, deleted, hash (locks the row)
  std::string read_current;        ///< :type :id -> version, last_updated, deleted, body
  std::string find_pk;             ///< :type :id -> pk
  std::string insert_resource;     ///< :type :id :version :last_updated :hash :body -> pk, or no row when (type, id) exists
  std::string update_resource;     ///< :version :last_updated :deleted :hash :body :pk :previous -> pk
  std::string supersede;           ///< :at :pk :previous — closes the previous version's validity
  std::string insert_history;      ///< :pk :type :version :last_updated :change :deleted :hash :body
  std::string vread;               ///< :type :id :version -> last_updated, deleted, change, body
  /// History, newest first; followed by the scope condition and the filters
  /// of history_filters (a constant too).
  std::string history_select;
};

/// The statements of `e`; built once, shared, immutable.
const statements& statements_for(engine e);

/// The history filters after the scope condition: `_since`, `_at`, the keyset
/// cursor and the page size, all bound (:since :at_low :at_high :cursor_time
/// :cursor_pk :limit). An absent filter is bound to a bound that admits every
/// row, so each scope has one statement and one plan.
inline constexpr const char* history_filters =
    " AND h.last_updated >= :since"
    " AND h.last_updated < :at_high AND (h.superseded_at IS NULL OR h.superseded_at > :at_low)"
    " AND (h.last_updated, h.history_pk) < (:cursor_time, :cursor_pk)"
    " ORDER BY h.last_updated DESC, h.history_pk DESC LIMIT :limit";

}  // namespace hearth::store::detail
