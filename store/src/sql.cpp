#include "detail/sql.hpp"

namespace hearth::store::detail {
namespace {

statements build(engine e) {
  const bool pg = e == engine::postgresql;
  // How a body is written and read (see the header).
  const std::string body_in = pg ? "decode(:body, 'hex')" : "CAST(:body AS BLOB)";
  const std::string body_out = pg ? "encode(body, 'hex')" : "body";
  const std::string h_body_out = pg ? "encode(h.body, 'hex')" : "h.body";
  statements s;
  s.begin = pg ? "BEGIN" : "BEGIN IMMEDIATE";
  // SQLite: BEGIN IMMEDIATE holds the database lock already.
  if (pg) s.lock_order = "SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE";
  s.find_current =
      "SELECT resource_pk, version_id, last_updated, deleted, content_hash FROM resource"
      " WHERE type = :type AND id = :id";
  if (pg) s.find_current += " FOR UPDATE";
  s.read_current =
      "SELECT version_id, last_updated, deleted, " + body_out + " FROM resource WHERE type = :type AND id = :id";
  s.find_pk = "SELECT resource_pk FROM resource WHERE type = :type AND id = :id";
  s.insert_resource =
      "INSERT INTO resource (type, id, version_id, last_updated, deleted, content_hash, body)"
      " VALUES (:type, :id, :version, :last_updated, 0, :hash, " + body_in + ")"
      // A concurrent create of the same id (another process) returns no row
      // instead of failing the whole group on PostgreSQL.
      " ON CONFLICT (type, id) DO NOTHING RETURNING resource_pk";
  s.update_resource =
      "UPDATE resource SET version_id = :version, last_updated = :last_updated, deleted = :deleted,"
      " content_hash = :hash, body = " + body_in + " WHERE resource_pk = :pk AND version_id = :previous RETURNING resource_pk";
  s.supersede =
      "UPDATE resource_history SET superseded_at = :at WHERE resource_pk = :pk AND version_id = :previous";
  s.insert_history =
      "INSERT INTO resource_history"
      " (resource_pk, type, version_id, last_updated, change_kind, deleted, content_hash, body)"
      " VALUES (:pk, :type, :version, :last_updated, :change, :deleted, :hash, " + body_in + ")";
  s.vread =
      "SELECT h.last_updated, h.deleted, h.change_kind, " + h_body_out +
      " FROM resource_history h JOIN resource r ON r.resource_pk = h.resource_pk"
      " WHERE r.type = :type AND r.id = :id AND h.version_id = :version";
  s.history_select =
      "SELECT h.history_pk, h.type, r.id, h.version_id, h.last_updated, h.deleted, h.change_kind, " + h_body_out +
      " FROM resource_history h JOIN resource r ON r.resource_pk = h.resource_pk WHERE ";
  return s;
}

}  // namespace

const statements& statements_for(engine e) {
  static const statements sqlite = build(engine::sqlite);
  static const statements postgresql = build(engine::postgresql);
  return e == engine::postgresql ? postgresql : sqlite;
}

}  // namespace hearth::store::detail
