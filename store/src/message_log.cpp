#include <hearth/store/message_log.hpp>

#include <soci/soci.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <exception>
#include <utility>

#include <hearth/core/utf8.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/store/error_codes.hpp>

#include "detail/body_codec.hpp"
#include "detail/database_impl.hpp"
#include "detail/db_error.hpp"
#include "detail/resource_tx_state.hpp"  // resource_tx::state
#include "detail/sha256.hpp"

namespace hearth::store {

namespace {

using sql_int = long long;  // SOCI exchanges 64-bit integers as long long

hearth::error make_error(std::string_view code, std::string message) {
  return hearth::error{std::string(code), std::move(message), {}, hearth::error::npos};
}

instant from_ms(sql_int ms) { return instant(std::chrono::milliseconds(ms)); }
sql_int to_ms(instant t) { return t.time_since_epoch().count(); }

instant system_now() {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

/// A key field as the columns take it: PostgreSQL TEXT refuses malformed
/// UTF-8 and NUL, and the unique index refuses long keys; both engines get
/// the same rule so that the log behaves alike on each.
hearth::result<void> check_key(const char* field, std::string_view v) {
  if (v.size() > message_log::max_key_bytes) {
    return hearth::unexpected(make_error(error_codes::invalid, std::string(field) + " is longer than " +
                                                                   std::to_string(message_log::max_key_bytes) +
                                                                   " bytes"));
  }
  if (v.find('\0') != std::string_view::npos || utf8::find_invalid(v) != utf8::npos) {
    return hearth::unexpected(make_error(error_codes::invalid, std::string(field) + " is not UTF-8 text"));
  }
  return {};
}

/// The resources list as its column holds it: a JSON array of strings.
std::string resources_to_column(const std::vector<std::string>& resources) {
  fhir::json_value list = fhir::json_value::array();
  for (const std::string& r : resources) list.push_back(fhir::json_value(r));
  return fhir::to_json(list);
}

hearth::result<std::vector<std::string>> resources_from_column(const std::string& text) {
  fhir::json_read_options plain;
  plain.fhir_rules = false;  // "[]": a message that produced nothing
  auto list = fhir::parse_json(text, plain);
  std::vector<std::string> out;
  if (list && list->is_array()) {
    for (const fhir::json_value& item : list->items()) {
      if (!item.is_string()) break;
      out.push_back(item.str());
    }
    if (out.size() == list->items().size()) return out;
  }
  return hearth::unexpected(make_error(error_codes::exception, "message log: a stored resources list is malformed"));
}

/// Bytes as a BLOB/BYTEA column takes them (raw, ack): as they are on
/// SQLite (CAST(:x AS BLOB)), hex on PostgreSQL (decode(:x, 'hex')); see
/// detail/sql.hpp for why.
std::string bytes_to_column(engine kind, std::string_view bytes) {
  return kind == engine::postgresql ? detail::to_hex(bytes) : std::string(bytes);
}

hearth::result<std::string> bytes_from_column(engine kind, const std::string& column) {
  if (kind != engine::postgresql) return column;
  auto bytes = detail::from_hex(column);
  if (!bytes) return hearth::unexpected(make_error(error_codes::exception, "message log: malformed bytea hex"));
  return std::move(*bytes);
}

/// How a bytes parameter is written and a bytes column read, per engine.
std::string bytes_in(engine kind, const char* param) {
  return kind == engine::postgresql ? std::string("decode(:") + param + ", 'hex')"
                                    : std::string("CAST(:") + param + " AS BLOB)";
}
std::string bytes_out(engine kind, const char* column) {
  return kind == engine::postgresql ? std::string("encode(") + column + ", 'hex')" : std::string(column);
}

/// The columns of a record, in the order row_buffer binds them; `with_raw`
/// adds the compressed message last.
std::string select_columns(engine kind, bool with_raw) {
  std::string s =
      "SELECT message_pk, sender_application, sender_facility, control_id, message_type, received_at,"
      " updated_at, status, raw_sha256, " +
      bytes_out(kind, "ack") + ", error, resources";
  if (with_raw) s += ", " + bytes_out(kind, "raw");
  return s + " FROM hl7_message";
}

/// One row as read (see select_columns); bound to a statement by address.
struct row_buffer {
  sql_int pk = 0, received_at = 0, updated_at = 0;
  std::string app, facility, control_id, type, status, sha, ack, error, resources, raw;

  void bind(soci::statement& st, bool with_raw) {
    st.exchange(soci::into(pk));
    st.exchange(soci::into(app));
    st.exchange(soci::into(facility));
    st.exchange(soci::into(control_id));
    st.exchange(soci::into(type));
    st.exchange(soci::into(received_at));
    st.exchange(soci::into(updated_at));
    st.exchange(soci::into(status));
    st.exchange(soci::into(sha));
    st.exchange(soci::into(ack));
    st.exchange(soci::into(error));
    st.exchange(soci::into(resources));
    if (with_raw) st.exchange(soci::into(raw));
  }

  /// The record; the raw message decompressed when `with_raw`.
  hearth::result<message_record> to_record(engine kind, bool with_raw) const {
    message_record r;
    r.id = pk;
    r.sender_application = app;
    r.sender_facility = facility;
    r.control_id = control_id;
    r.message_type = type;
    r.received_at = from_ms(received_at);
    r.updated_at = from_ms(updated_at);
    const auto st = parse_message_status(status);
    if (!st) return hearth::unexpected(make_error(error_codes::exception, "message log: unknown stored status"));
    r.status = *st;
    r.raw_sha256 = sha;
    auto a = bytes_from_column(kind, ack);
    if (!a) return hearth::unexpected(std::move(a).error());
    r.ack = std::move(*a);
    r.error = error;
    auto list = resources_from_column(resources);
    if (!list) return hearth::unexpected(std::move(list).error());
    r.resources = std::move(*list);
    if (with_raw) {
      auto frame = bytes_from_column(kind, raw);
      if (!frame) return hearth::unexpected(std::move(frame).error());
      auto text = detail::decompress_body(*frame);
      if (!text) return hearth::unexpected(std::move(text).error());
      r.raw = std::move(*text);
    }
    return r;
  }
};

/// Reads the record of (sender, control id) into `row` on `sql`; false when
/// there is none. Throws on database errors.
bool find_by_key(soci::session& sql, engine kind, const incoming_message& m, row_buffer& row) {
  soci::statement st(sql);
  row.bind(st, true);
  st.exchange(soci::use(m.sender_application, "app"));
  st.exchange(soci::use(m.sender_facility, "facility"));
  st.exchange(soci::use(m.control_id, "control_id"));
  st.alloc();
  st.prepare(select_columns(kind, true) +
             " WHERE sender_application = :app AND sender_facility = :facility AND control_id = :control_id");
  st.define_and_bind();
  const bool found = st.execute(true);
  while (st.fetch()) {  // step past the one row: an open SELECT holds SQLite's read snapshot
  }
  return found;
}

/// The values complete() writes, made before the write.
struct completion {
  sql_int id = 0;
  std::string status, ack, error, resources;
  sql_int updated_at = 0;
};

hearth::result<completion> make_completion(engine kind, std::int64_t id, message_status status, std::string_view ack,
                                           std::string_view error, const std::vector<std::string>& resources,
                                           instant now) {
  if (status == message_status::received) {
    return hearth::unexpected(make_error(error_codes::invalid, "complete: `received` is not a final status"));
  }
  if (error.find('\0') != std::string_view::npos || utf8::find_invalid(error) != utf8::npos) {
    return hearth::unexpected(make_error(error_codes::invalid, "complete: the error text is not UTF-8 text"));
  }
  for (const std::string& r : resources) {
    if (utf8::find_invalid(r) != utf8::npos) {
      return hearth::unexpected(make_error(error_codes::invalid, "complete: a resource reference is not UTF-8 text"));
    }
  }
  return completion{id, std::string(to_string(status)), bytes_to_column(kind, ack), std::string(error),
                    resources_to_column(resources), to_ms(now)};
}

/// Writes `c` on `sql`; false when no record has its id. Throws on database
/// errors.
bool write_completion(soci::session& sql, engine kind, const completion& c) {
  sql_int pk = 0;
  sql << "UPDATE hl7_message SET status = :status, ack = " + bytes_in(kind, "ack") +
             ", error = :error, resources = :resources, updated_at = :updated_at"
             " WHERE message_pk = :id RETURNING message_pk",
      soci::into(pk), soci::use(c.status, "status"), soci::use(c.ack, "ack"), soci::use(c.error, "error"),
      soci::use(c.resources, "resources"), soci::use(c.updated_at, "updated_at"), soci::use(c.id, "id");
  return sql.got_data();
}

hearth::error no_record() { return make_error(error_codes::not_found, "no logged message with this id"); }

}  // namespace

std::string_view to_string(message_status s) noexcept {
  switch (s) {
    case message_status::received: return "received";
    case message_status::processed: return "processed";
    case message_status::error: return "error";
    case message_status::rejected: return "rejected";
  }
  return "received";
}

std::optional<message_status> parse_message_status(std::string_view text) noexcept {
  for (const message_status s :
       {message_status::received, message_status::processed, message_status::error, message_status::rejected}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

message_log::message_log(database& db) : db_(&db), clock_(system_now) {}

void message_log::set_clock(std::function<instant()> clock) { clock_ = std::move(clock); }

hearth::result<message_receipt> message_log::receive(const incoming_message& m) {
  if (m.raw.size() > max_raw_bytes) {
    return hearth::unexpected(make_error(error_codes::too_costly, "the message is larger than " +
                                                                      std::to_string(max_raw_bytes) + " bytes"));
  }
  for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"MSH-3", &m.sender_application},
                                    {"MSH-4", &m.sender_facility},
                                    {"MSH-10", &m.control_id},
                                    {"MSH-9", &m.message_type}}) {
    if (auto r = check_key(name, *value); !r) return hearth::unexpected(r.error());
  }
  database::impl& impl = db_->internals();
  if (!impl.writer) return hearth::unexpected(make_error(error_codes::exception, "the store is not open"));
  const engine kind = impl.config.kind;
  // Hashed and compressed here, on the caller's thread: the writer only writes.
  const std::string sha = detail::sha256_hex(m.raw);
  const std::string raw = bytes_to_column(kind, detail::compress_body(m.raw, impl.config.zstd_level));
  const sql_int now = to_ms(clock_());
  const std::string status(to_string(message_status::received));
  const std::string empty, no_resources = "[]";

  sql_int pk = 0;
  bool duplicate = false;
  row_buffer earlier;
  // Every captured variable outlives the job: its future is waited for below.
  auto done = impl.writer->submit([&](soci::session& sql) -> hearth::result<void> {
    // The unique index (sender, control id) decides between concurrent
    // receives: a conflicting insert does nothing (on PostgreSQL it first
    // waits for the transaction holding the other insert), and the record
    // it met is read back. Empty control ids are outside the partial index.
    sql << "INSERT INTO hl7_message (sender_application, sender_facility, control_id, message_type, received_at,"
           " updated_at, status, raw, raw_sha256, ack, error, resources) VALUES (:app, :facility, :control_id,"
           " :type, :received_at, :updated_at, :status, " +
               bytes_in(kind, "raw") + ", :sha, " + bytes_in(kind, "ack") +
               ", :error, :resources) ON CONFLICT DO NOTHING RETURNING message_pk",
        soci::into(pk), soci::use(m.sender_application, "app"), soci::use(m.sender_facility, "facility"),
        soci::use(m.control_id, "control_id"), soci::use(m.message_type, "type"), soci::use(now, "received_at"),
        soci::use(now, "updated_at"), soci::use(status, "status"), soci::use(raw, "raw"), soci::use(sha, "sha"),
        soci::use(empty, "ack"), soci::use(empty, "error"), soci::use(no_resources, "resources");
    if (sql.got_data()) return {};
    if (m.control_id.empty() || !find_by_key(sql, kind, m, earlier)) {
      // Only the key's unique index can make the insert do nothing.
      return hearth::unexpected(
          make_error(error_codes::exception, "message log: the insert conflicted with no record of its key"));
    }
    duplicate = true;
    pk = earlier.pk;
    return {};
  });
  auto r = done.get();
  if (!r) return hearth::unexpected(std::move(r).error());
  message_receipt receipt;
  receipt.id = pk;
  receipt.duplicate = duplicate;
  if (duplicate) {
    auto rec = earlier.to_record(kind, true);
    if (!rec) return hearth::unexpected(std::move(rec).error());
    receipt.earlier = std::move(*rec);
  }
  return receipt;
}

hearth::result<void> message_log::complete(resource_tx& tx, std::int64_t id, message_status status,
                                           std::string_view ack, std::string_view error,
                                           const std::vector<std::string>& resources) {
  resource_tx::state& s = tx.internals();
  if (s.poisoned) return hearth::unexpected(*s.poisoned);
  const engine kind = s.db.config.kind;
  auto c = make_completion(kind, id, status, ack, error, resources, s.clock());
  if (!c) return hearth::unexpected(std::move(c).error());
  try {
    if (!write_completion(s.sql, kind, *c)) return hearth::unexpected(no_record());
    return {};
  } catch (const std::exception& e) {
    // As resource_tx's own writes: the transaction is rolled back whatever
    // the caller returns (PostgreSQL has aborted it), and the connection may
    // be gone with the writer's statements.
    s.poisoned = detail::database_error("message log complete", e);
    detail::drop_writer_statements(s.db);
    return hearth::unexpected(*s.poisoned);
  }
}

hearth::result<void> message_log::complete(std::int64_t id, message_status status, std::string_view ack,
                                           std::string_view error, const std::vector<std::string>& resources) {
  database::impl& impl = db_->internals();
  if (!impl.writer) return hearth::unexpected(make_error(error_codes::exception, "the store is not open"));
  const engine kind = impl.config.kind;
  auto c = make_completion(kind, id, status, ack, error, resources, clock_());
  if (!c) return hearth::unexpected(std::move(c).error());
  // `c` outlives the job: its future is waited for here.
  return impl.writer
      ->submit([&c, kind](soci::session& sql) -> hearth::result<void> {
        if (!write_completion(sql, kind, *c)) return hearth::unexpected(no_record());
        return {};
      })
      .get();
}

hearth::result<std::optional<message_record>> message_log::get(std::int64_t id) const {
  database::impl& impl = db_->internals();
  const engine kind = impl.config.kind;
  soci::session sql(impl.readers);  // leases a pooled connection
  try {
    const sql_int pk = id;
    row_buffer row;
    soci::statement st(sql);
    row.bind(st, true);
    st.exchange(soci::use(pk, "id"));
    st.alloc();
    st.prepare(select_columns(kind, true) + " WHERE message_pk = :id");
    st.define_and_bind();
    if (!st.execute(true)) return std::optional<message_record>();
    auto rec = row.to_record(kind, true);
    if (!rec) return hearth::unexpected(std::move(rec).error());
    return std::optional<message_record>(std::move(*rec));
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("message log read", e));
  }
}

hearth::result<message_page> message_log::list(const message_query& q) const {
  if (q.count > message_query::max_count) {
    return hearth::unexpected(make_error(error_codes::too_costly, "count is above the maximum of " +
                                                                      std::to_string(message_query::max_count)));
  }
  sql_int cursor = 0;
  if (!q.cursor.empty()) {
    const char* end = q.cursor.data() + q.cursor.size();
    const auto [ptr, ec] = std::from_chars(q.cursor.data(), end, cursor);
    if (ec != std::errc() || ptr != end || cursor <= 0) {
      return hearth::unexpected(make_error(error_codes::invalid, "not a cursor of the message log"));
    }
  }
  message_page page;
  if (q.count == 0) return page;

  database::impl& impl = db_->internals();
  const engine kind = impl.config.kind;
  // The bound values; the text only names which filters are present (a
  // constant fragment each), never a value.
  const std::string status = q.status ? std::string(to_string(*q.status)) : std::string();
  const sql_int from = q.received_from ? to_ms(*q.received_from) : 0;
  const sql_int to = q.received_to ? to_ms(*q.received_to) : 0;
  const sql_int limit = static_cast<sql_int>(q.count) + 1;  // one more: is there a next page?
  std::string where = " WHERE 1 = 1";
  if (q.status) where += " AND status = :status";
  if (!q.message_type.empty()) where += " AND message_type = :type";
  if (!q.sender_application.empty()) where += " AND sender_application = :app";
  if (!q.sender_facility.empty()) where += " AND sender_facility = :facility";
  if (q.received_from) where += " AND received_at >= :received_from";
  if (q.received_to) where += " AND received_at < :received_to";
  if (cursor != 0) where += " AND message_pk < :cursor";

  soci::session sql(impl.readers);
  try {
    row_buffer row;
    soci::statement st(sql);
    row.bind(st, false);
    if (q.status) st.exchange(soci::use(status, "status"));
    if (!q.message_type.empty()) st.exchange(soci::use(q.message_type, "type"));
    if (!q.sender_application.empty()) st.exchange(soci::use(q.sender_application, "app"));
    if (!q.sender_facility.empty()) st.exchange(soci::use(q.sender_facility, "facility"));
    if (q.received_from) st.exchange(soci::use(from, "received_from"));
    if (q.received_to) st.exchange(soci::use(to, "received_to"));
    if (cursor != 0) st.exchange(soci::use(cursor, "cursor"));
    st.exchange(soci::use(limit, "lim"));
    st.alloc();
    st.prepare(select_columns(kind, false) + where + " ORDER BY message_pk DESC LIMIT :lim");
    st.define_and_bind();
    st.execute();
    while (st.fetch()) {
      if (page.records.size() == q.count) {  // the extra row: there is a next page
        page.next_cursor = std::to_string(page.records.back().id);
        break;
      }
      auto rec = row.to_record(kind, false);
      if (!rec) return hearth::unexpected(std::move(rec).error());
      page.records.push_back(std::move(*rec));
    }
    return page;
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("message log list", e));
  }
}

hearth::result<std::vector<std::int64_t>> message_log::unfinished(std::size_t limit) const {
  std::vector<std::int64_t> out;
  if (limit == 0) return out;
  database::impl& impl = db_->internals();
  soci::session sql(impl.readers);
  try {
    const std::string status(to_string(message_status::received));
    const sql_int lim = static_cast<sql_int>(std::min<std::size_t>(limit, 1u << 30));
    sql_int pk = 0;
    soci::statement st = (sql.prepare << "SELECT message_pk FROM hl7_message WHERE status = :status"
                                         " ORDER BY message_pk LIMIT :lim",
                          soci::into(pk), soci::use(status, "status"), soci::use(lim, "lim"));
    st.execute();
    while (st.fetch()) out.push_back(pk);
    return out;
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("message log unfinished", e));
  }
}

}  // namespace hearth::store
