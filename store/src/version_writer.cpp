#include "detail/version_writer.hpp"

#include <soci/soci.h>

#include <string>

#include "detail/prepared.hpp"
#include "detail/sql.hpp"

namespace hearth::store::detail {

namespace {

/// Steps a statement past its one row. An unfinished statement stays active
/// in SQLite: a SELECT keeps its read snapshot open past COMMIT (the next
/// BEGIN IMMEDIATE then fails with SQLITE_BUSY_SNAPSHOT once another
/// connection has written), and a RETURNING write counts as in progress.
void finish(soci::statement& st) {
  while (st.fetch()) {
  }
}

}  // namespace

struct version_writer::impl {
  impl(soci::session& sql, engine kind) {
    using soci::into;
    using soci::use;
    const statements& q = statements_for(kind);
    find = prepare_bound(sql, q.find_current.c_str(), into(found.pk), into(found.version),
                         into(found.last_updated), into(found.deleted), into(found.hash, found_hash_ind),
                         use(type, "type"), use(id, "id"));
    insert = prepare_bound(sql, q.insert_resource.c_str(), use(type, "type"), use(id, "id"),
                           use(version, "version"), use(last_updated, "last_updated"), use(hash, "hash"),
                           use(body, "body"), into(returned));
    update = prepare_bound(sql, q.update_resource.c_str(), use(version, "version"),
                           use(last_updated, "last_updated"), use(deleted, "deleted"), use(hash, hash_ind, "hash"),
                           use(body, body_ind, "body"), use(pk, "pk"), use(previous, "previous"), into(returned));
    close = prepare_bound(sql, q.supersede.c_str(), use(last_updated, "at"), use(pk, "pk"), use(previous, "previous"));
    history = prepare_bound(sql, q.insert_history.c_str(), use(pk, "pk"), use(type, "type"), use(version, "version"),
                            use(last_updated, "last_updated"), use(change, "change"), use(deleted, "deleted"),
                            use(hash, hash_ind, "hash"), use(body, body_ind, "body"));
  }

  void set(const version_row& row) {
    type = row.type;
    id = row.id;
    version = row.version;
    last_updated = row.last_updated;
    deleted = row.body == nullptr ? 1 : 0;
    if (row.hash != nullptr) hash = *row.hash;
    else hash.clear();
    if (row.body != nullptr) body = *row.body;
    else body.clear();
    hash_ind = row.hash != nullptr ? soci::i_ok : soci::i_null;
    body_ind = row.body != nullptr ? soci::i_ok : soci::i_null;
  }

  // The fields the statements are bound to (their addresses never change).
  std::string type, id, hash, body;
  long long version = 0, last_updated = 0, pk = 0, previous = 0, returned = 0;
  int deleted = 0, change = 0;
  soci::indicator hash_ind = soci::i_ok, body_ind = soci::i_ok;
  current_row found;
  soci::indicator found_hash_ind = soci::i_ok;

  std::unique_ptr<soci::statement> find, insert, update, close, history;
};

version_writer::version_writer(soci::session& sql, engine kind) : impl_(std::make_unique<impl>(sql, kind)) {}

version_writer::~version_writer() = default;

std::optional<current_row> version_writer::find_current(std::string_view type, std::string_view id) {
  impl& m = *impl_;
  m.type = type;
  m.id = id;
  if (!m.find->execute(true)) return std::nullopt;
  current_row c = m.found;
  finish(*m.find);
  if (m.found_hash_ind != soci::i_ok) c.hash.clear();
  return c;
}

std::optional<long long> version_writer::insert_resource(const version_row& row) {
  impl& m = *impl_;
  m.set(row);
  if (!m.insert->execute(true)) return std::nullopt;  // ON CONFLICT DO NOTHING: no row
  finish(*m.insert);
  return m.returned;
}

bool version_writer::update_resource(long long pk, long long previous, const version_row& row) {
  impl& m = *impl_;
  m.set(row);
  m.pk = pk;
  m.previous = previous;
  if (!m.update->execute(true)) return false;
  finish(*m.update);
  return m.returned == pk;
}

void version_writer::supersede(long long pk, long long previous, long long at) {
  impl& m = *impl_;
  m.pk = pk;
  m.previous = previous;
  m.last_updated = at;
  m.close->execute(true);
}

void version_writer::insert_history(long long pk, const version_row& row, int change_kind) {
  impl& m = *impl_;
  m.set(row);
  m.pk = pk;
  m.change = change_kind;
  m.history->execute(true);
}

}  // namespace hearth::store::detail
