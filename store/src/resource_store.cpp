#include <hearth/store/resource_store.hpp>

#include <soci/soci.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <limits>
#include <optional>
#include <random>
#include <utility>

#include <hearth/fhir/json_writer.hpp>
#include <hearth/store/error_codes.hpp>

#include "detail/body_codec.hpp"
#include "detail/content_hash.hpp"
#include "detail/database_impl.hpp"
#include "detail/db_error.hpp"
#include "detail/match_search.hpp"
#include "detail/param_key.hpp"
#include "detail/resource_tx_state.hpp"  // resource_tx::state
#include "detail/search_sql.hpp"
#include "detail/sql.hpp"

namespace hearth::store {

namespace {

using sql_int = long long;  // SOCI exchanges 64-bit integers as long long

hearth::error make_error(std::string_view code, std::string message) {
  return hearth::error{std::string(code), std::move(message), {}, hearth::error::npos};
}

// R4 resource type names: an upper-case letter, then letters (at most 64:
// the longest R4 name has 35; the limit bounds what reaches the database).
bool valid_type(std::string_view t) noexcept {
  if (t.empty() || t.size() > 64 || t[0] < 'A' || t[0] > 'Z') return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); });
}

// R4 datatypes.html#id: [A-Za-z0-9\-\.]{1,64}.
bool valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

hearth::result<void> check_type(std::string_view type) {
  if (!valid_type(type)) return hearth::unexpected(make_error(error_codes::invalid, "not a resource type name"));
  return {};
}

hearth::result<void> check_type_and_id(std::string_view type, std::string_view id) {
  if (auto r = check_type(type); !r) return r;
  if (!valid_id(id)) {
    return hearth::unexpected(make_error(error_codes::invalid, "not a valid id (R4 datatypes.html#id)"));
  }
  return {};
}

/// 16 bytes as a UUID's text: 36 characters of the R4 id alphabet.
std::string uuid_text(const std::array<std::uint8_t, 16>& b) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 15];
  }
  return out;
}

/// Fills b[from..16) with random bytes.
void random_bytes(std::array<std::uint8_t, 16>& b, std::size_t from) {
  thread_local std::random_device random;
  for (std::size_t i = from; i < b.size(); i += 4) {
    const std::uint32_t w = random();
    for (std::size_t j = 0; j < 4 && i + j < b.size(); ++j) b[i + j] = static_cast<std::uint8_t>(w >> (8 * j));
  }
}

/// A new logical id: a random (version 4) UUID, 36 characters of the R4 id
/// alphabet. 122 random bits: ids never collide in practice, and they reveal
/// neither order nor count.
std::string random_id() {
  std::array<std::uint8_t, 16> b;
  random_bytes(b, 0);
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4 (RFC 9562 5.4)
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // variant 10
  return uuid_text(b);
}

/// Position of member `key` in an object, or npos.
std::size_t member_index(const fhir::json_value& obj, std::string_view key) {
  const auto& m = obj.members();
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i].key == key) return i;
  }
  return static_cast<std::size_t>(-1);
}

/// Inserts `key` after member `after` (or first), for a readable order:
/// resourceType, id, meta, ...
void insert_after(fhir::json_value& obj, std::string_view after, std::string_view key, fhir::json_value value) {
  auto& m = obj.members();
  const std::size_t at = member_index(obj, after);
  const std::size_t pos = at == static_cast<std::size_t>(-1) ? 0 : at + 1;
  m.insert(m.begin() + static_cast<std::ptrdiff_t>(pos), fhir::json_member{std::string(key), std::move(value)});
}

/// Checks that `r` is a resource of `type` and gives it `id`: replaced when
/// `assign_id` (create: the server assigns ids, R4 http.html#create), else
/// checked (update: "the resource must have an id ... identical to the URL").
hearth::result<void> prepare_body(fhir::json_value& r, std::string_view type, std::string_view id, bool assign_id) {
  if (!r.is_object()) return hearth::unexpected(make_error(error_codes::invalid, "the resource is not a JSON object"));
  const fhir::json_value* rt = r.find("resourceType");
  if (rt == nullptr || !rt->is_string() || rt->str() != type) {
    return hearth::unexpected(make_error(error_codes::invalid, "resourceType does not match the resource type"));
  }
  if (const fhir::json_value* meta = r.find("meta"); meta != nullptr && !meta->is_object()) {
    return hearth::unexpected(make_error(error_codes::invalid, "meta is not an object"));
  }
  fhir::json_value* current = r.find("id");
  if (current != nullptr && !assign_id && (!current->is_string() || current->str() != id)) {
    return hearth::unexpected(make_error(error_codes::invalid, "the resource id does not match the id of the request"));
  }
  if (current != nullptr) {
    *current = fhir::json_value(id);
  } else {
    insert_after(r, "resourceType", "id", fhir::json_value(id));
  }
  return {};
}

/// Sets meta.versionId and meta.lastUpdated (R4 resource.html#Meta).
void set_meta(fhir::json_value& r, sql_int version, instant last_updated) {
  if (r.find("meta") == nullptr) insert_after(r, "id", "meta", fhir::json_value::object());
  fhir::json_value& meta = *r.find("meta");
  meta.set("versionId", fhir::json_value(std::to_string(version)));
  meta.set("lastUpdated", fhir::json_value(format_instant(last_updated)));
}

instant from_ms(sql_int ms) { return instant(std::chrono::milliseconds(ms)); }
sql_int to_ms(instant t) { return t.time_since_epoch().count(); }

/// The body as the column takes it, and back (see detail/sql.hpp).
std::string body_to_column(engine kind, const std::string& compressed) {
  return detail::body_to_column(kind == engine::postgresql, compressed);
}

hearth::result<std::string> body_from_column(engine kind, const std::string& column) {
  return detail::body_from_column(kind == engine::postgresql, column);
}

using detail::current_row;

/// The current version of (type, id), a tombstone included; nullopt when
/// there is none. Throws on database errors.
hearth::result<std::optional<resource_version>> load_current(soci::session& sql, engine kind,
                                                             std::string_view type, std::string_view id) {
  const std::string t(type), i(id);
  sql_int version = 0, last_updated = 0;
  int deleted = 0;
  std::string body;
  soci::indicator body_ind = soci::i_ok;
  sql << detail::statements_for(kind).read_current, soci::into(version), soci::into(last_updated),
      soci::into(deleted), soci::into(body, body_ind), soci::use(t, "type"), soci::use(i, "id");
  if (!sql.got_data()) return std::optional<resource_version>();
  resource_version v{t, i, version, from_ms(last_updated), deleted != 0,
                     deleted != 0 ? change::remove : (version == 1 ? change::create : change::update), {}};
  if (!v.deleted && body_ind == soci::i_ok) {
    auto json = body_from_column(kind, body);
    if (!json) return hearth::unexpected(std::move(json).error());
    v.json = std::move(*json);
  }
  return std::optional<resource_version>(std::move(v));
}

/// R4 read on `sql`: not-found, deleted (410) or the current version.
hearth::result<resource_version> read_on(soci::session& sql, engine kind, std::string_view type,
                                         std::string_view id) {
  auto current = load_current(sql, kind, type, id);
  if (!current) return hearth::unexpected(std::move(current).error());
  if (!*current) return hearth::unexpected(make_error(error_codes::not_found, "no resource with this id"));
  if ((*current)->deleted) {
    return hearth::unexpected(make_error(error_codes::deleted, "the resource has been deleted"));
  }
  return std::move(**current);
}

/// The lastUpdated of a new version: now, but never before the previous
/// write of this database nor before the resource's current version, so that
/// versions and history order agree even when the clock steps back.
sql_int stamp(resource_tx::state& s, sql_int not_before) {
  const sql_int now = to_ms(s.clock());
  const sql_int t = std::max({now, s.db.last_stamp_ms, not_before});
  s.db.last_stamp_ms = t;
  return t;
}

/// Writes the next version of (type, id) after `cur` (or version 1 when cur
/// is null): `resource` with its meta set, or a tombstone when it is null.
/// A body ready to be written: checked, with its id, content hash and index
/// entries. Made before the write reaches the writer thread where possible
/// (resource_store::create/update), so that the one writer only writes.
struct prepared_body {
  fhir::json_value resource;
  std::string hash;
  index_entries index;
};

/// Checks `resource` (prepare_body), hashes and indexes it. Errors: those of
/// prepare_body; "not-supported" for a type the indexer does not know.
hearth::result<prepared_body> prepare_write(const indexer& ix, fhir::json_value resource, std::string_view type,
                                            std::string_view id, bool assign_id) {
  if (auto r = prepare_body(resource, type, id, assign_id); !r) return hearth::unexpected(r.error());
  auto entries = ix.index(resource);
  if (!entries) return hearth::unexpected(std::move(entries).error());
  std::string hash = detail::content_hash(resource);
  return prepared_body{std::move(resource), std::move(hash), std::move(*entries)};
}

hearth::result<write_outcome> write_version(resource_tx::state& s, std::string_view type, std::string_view id,
                                            prepared_body* body_in, const current_row* cur, change made_by) {
  fhir::json_value* resource = body_in != nullptr ? &body_in->resource : nullptr;
  const std::string empty_hash;
  const std::string& hash = body_in != nullptr ? body_in->hash : empty_hash;
  const engine kind = s.db.config.kind;
  const sql_int version = cur != nullptr ? cur->version + 1 : 1;
  const sql_int last_updated = stamp(s, cur != nullptr ? cur->last_updated : 0);
  const std::string t(type), i(id);
  std::string json, body;
  if (resource != nullptr) {
    set_meta(*resource, version, from_ms(last_updated));
    json = fhir::to_json(*resource);
    body = body_to_column(kind, detail::compress_body(json, s.db.config.zstd_level));
  }
  detail::version_row row{type, id, version, last_updated, resource != nullptr ? &hash : nullptr,
                          resource != nullptr ? &body : nullptr};
  detail::version_writer& vw = detail::version_writer_of(s.db, s.sql);
  sql_int pk = 0;
  if (cur == nullptr) {
    const auto inserted = vw.insert_resource(row);
    if (!inserted) {
      return hearth::unexpected(make_error(error_codes::conflict, "a resource with this id was created concurrently"));
    }
    pk = *inserted;
  } else {
    pk = cur->pk;
    // The row is locked (PostgreSQL) or the database is (SQLite): another
    // writer cannot have moved it on. Checked all the same.
    if (!vw.update_resource(pk, cur->version, row)) {
      return hearth::unexpected(make_error(error_codes::conflict, "the resource was changed concurrently"));
    }
    vw.supersede(pk, cur->version, last_updated);
  }
  detail::index_writer& iw = detail::index_writer_of(s.db, s.sql);
  if (cur != nullptr) iw.remove(pk);
  if (body_in != nullptr) iw.add(pk, type, body_in->index);
  vw.insert_history(pk, row, static_cast<int>(made_by));
  write_outcome out;
  out.version = resource_version{t, i, version, from_ms(last_updated), resource == nullptr, made_by, std::move(json)};
  out.created = made_by == change::create || (cur != nullptr && cur->deleted != 0 && resource != nullptr);
  out.changed = true;
  return out;
}

hearth::error version_conflict(std::optional<std::int64_t> expected) {
  return make_error(error_codes::conflict, "version conflict: the current version is not version " +
                                               std::to_string(expected.value_or(0)));
}

/// Runs one operation of a transaction: refused once the transaction is
/// poisoned; a database exception poisons it.
template <class F>
auto guarded(resource_tx::state& s, F&& op) -> decltype(op()) {
  if (s.poisoned) return hearth::unexpected(*s.poisoned);
  try {
    return op();
  } catch (const std::exception& e) {
    s.poisoned = detail::database_error("write", e);
    detail::drop_writer_statements(s.db);  // they may belong to a lost connection
    return hearth::unexpected(*s.poisoned);
  }
}

/// Parses a history cursor "<lastUpdated ms>.<history_pk>".
std::optional<std::pair<sql_int, sql_int>> parse_cursor(std::string_view c) {
  const auto dot = c.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  sql_int t = 0, pk = 0;
  const char* end1 = c.data() + dot;
  const auto r1 = std::from_chars(c.data(), end1, t);
  const auto r2 = std::from_chars(end1 + 1, c.data() + c.size(), pk);
  if (r1.ec != std::errc() || r1.ptr != end1 || r2.ec != std::errc() || r2.ptr != c.data() + c.size()) {
    return std::nullopt;
  }
  return std::make_pair(t, pk);
}

/// find_by_identifier's argument checks: a resource type with an
/// `identifier` token parameter.
hearth::result<void> check_identifier_lookup(const indexer& ix, std::string_view type) {
  if (auto r = check_type(type); !r) return hearth::unexpected(r.error());
  const auto params = ix.parameters(type);
  const bool has_identifier = std::any_of(params.begin(), params.end(), [](const fhir::search_parameter* p) {
    return p->code == "identifier" && p->type == fhir::search_param_type::token;
  });
  if (!has_identifier) {
    return hearth::unexpected(make_error(error_codes::invalid, "the type has no identifier search parameter"));
  }
  return {};
}

instant system_now() {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace

// ---- prepared_write -----------------------------------------------------

struct prepared_write::body {
  std::string type, id;
  prepared_body prepared;
  bool written = false;
};

prepared_write::prepared_write(std::unique_ptr<body> b) noexcept : body_(std::move(b)) {}
prepared_write::prepared_write(prepared_write&&) noexcept = default;
prepared_write& prepared_write::operator=(prepared_write&&) noexcept = default;
prepared_write::~prepared_write() = default;
const std::string& prepared_write::type() const noexcept { return body_->type; }
const std::string& prepared_write::id() const noexcept { return body_->id; }

// ---- resource_tx --------------------------------------------------------

namespace {

hearth::result<write_outcome> create_prepared(resource_tx::state& s, std::string_view type, std::string_view id,
                                              prepared_body& body) {
  return guarded(s, [&]() -> hearth::result<write_outcome> {
    return write_version(s, type, id, &body, nullptr, change::create);
  });
}

hearth::result<write_outcome> update_prepared(resource_tx::state& s, std::string_view type, std::string_view id,
                                              prepared_body& body, const update_options& opts) {
  return guarded(s, [&]() -> hearth::result<write_outcome> {
    const engine kind = s.db.config.kind;
    const auto cur = detail::version_writer_of(s.db, s.sql).find_current(type, id);
    if (!cur) {
      if (opts.expected_version) return hearth::unexpected(version_conflict(opts.expected_version));
      if (!opts.allow_create) {
        return hearth::unexpected(make_error(error_codes::not_found, "no resource with this id"));
      }
      return write_version(s, type, id, &body, nullptr, change::create);  // update-as-create
    }
    if (opts.expected_version && *opts.expected_version != cur->version) {
      return hearth::unexpected(version_conflict(opts.expected_version));
    }
    if (cur->deleted == 0 && cur->hash == body.hash) {
      // Identical content: no new version; answer with the current one.
      auto current = read_on(s.sql, kind, type, id);
      if (!current) return hearth::unexpected(std::move(current).error());
      return write_outcome{std::move(*current), false, false};
    }
    return write_version(s, type, id, &body, &*cur, change::update);
  });
}

}  // namespace

hearth::result<write_outcome> resource_tx::create(std::string_view type, fhir::json_value resource) {
  if (auto r = check_type(type); !r) return hearth::unexpected(r.error());
  const std::string id = random_id();
  auto body = prepare_write(s_->ix, std::move(resource), type, id, true);
  if (!body) return hearth::unexpected(std::move(body).error());
  return create_prepared(*s_, type, id, *body);
}

hearth::result<write_outcome> resource_tx::update(std::string_view type, std::string_view id,
                                                  fhir::json_value resource, const update_options& opts) {
  if (auto r = check_type_and_id(type, id); !r) return hearth::unexpected(r.error());
  auto body = prepare_write(s_->ix, std::move(resource), type, id, false);
  if (!body) return hearth::unexpected(std::move(body).error());
  return update_prepared(*s_, type, id, *body, opts);
}

hearth::result<write_outcome> resource_tx::update(prepared_write&& write, const update_options& opts) {
  prepared_write::body& b = write.internals();
  if (b.written) return hearth::unexpected(make_error(error_codes::invalid, "the prepared write was written already"));
  b.written = true;
  return update_prepared(*s_, b.type, b.id, b.prepared, opts);
}

hearth::result<write_outcome> resource_tx::remove(std::string_view type, std::string_view id,
                                                  const delete_options& opts) {
  if (auto r = check_type_and_id(type, id); !r) return hearth::unexpected(r.error());
  return guarded(*s_, [&]() -> hearth::result<write_outcome> {
    const auto cur = detail::version_writer_of(s_->db, s_->sql).find_current(type, id);
    if (!cur) {
      if (opts.expected_version) return hearth::unexpected(version_conflict(opts.expected_version));
      // R4 http.html#delete: deleting what does not exist is not an error.
      return write_outcome{resource_version{std::string(type), std::string(id), 0, {}, false, change::remove, {}},
                           false, false};
    }
    if (opts.expected_version && *opts.expected_version != cur->version) {
      return hearth::unexpected(version_conflict(opts.expected_version));
    }
    if (cur->deleted != 0) {  // already deleted: nothing new to record
      return write_outcome{resource_version{std::string(type), std::string(id), cur->version,
                                            from_ms(cur->last_updated), true, change::remove, {}},
                           false, false};
    }
    return write_version(*s_, type, id, nullptr, &*cur, change::remove);
  });
}

hearth::result<resource_version> resource_tx::read(std::string_view type, std::string_view id) {
  if (auto r = check_type_and_id(type, id); !r) return hearth::unexpected(r.error());
  return guarded(*s_, [&] { return read_on(s_->sql, s_->db.config.kind, type, id); });
}

hearth::result<std::vector<std::string>> resource_tx::find_by_identifier(std::string_view type,
                                                                         std::string_view system,
                                                                         std::string_view value, std::size_t limit) {
  if (auto r = check_identifier_lookup(s_->ix, type); !r) return hearth::unexpected(r.error());
  if (limit == 0) return std::vector<std::string>{};
  return guarded(*s_, [&]() -> hearth::result<std::vector<std::string>> {
    const engine kind = s_->db.config.kind;
    if (kind == engine::postgresql) {
      // Processes sharing a PostgreSQL database each have their own writer:
      // without a lock two of them could both find no match and both create
      // (R4 http.html#cond-update). The lock of every conditional write of
      // the type (match_search.hpp), not one of this identifier: a REST
      // If-None-Exist on the same identifier (find_matches, any criteria)
      // must wait for this lookup and this lookup for it.
      detail::lock_conditional_writes(s_->sql, type);
    }
    detail::ensure_writer_statements(s_->db, s_->sql);
    return s_->db.identifier_finder->find(type, system, value, limit);
  });
}

hearth::result<std::vector<resource_version>> resource_tx::find_matches(const search_request& query,
                                                                       std::size_t limit) {
  if (auto r = check_type(query.type); !r) return hearth::unexpected(r.error());
  const bool pg = s_->db.config.kind == engine::postgresql;
  // `ap` on dates measures its margin from now, as resource_store::search.
  const long long now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto compiled = detail::compile_search(query, s_->ix.definitions(), pg, now_ms);
  if (!compiled) return hearth::unexpected(std::move(compiled).error());
  return guarded(*s_, [&]() -> hearth::result<std::vector<resource_version>> {
    // Taken before the search, even when limit is 0: the caller decides a
    // write from what it finds (detail/match_search.hpp).
    if (pg) detail::lock_conditional_writes(s_->sql, query.type);
    return detail::run_matches(s_->sql, pg, *compiled, limit);
  });
}

// ---- resource_store -----------------------------------------------------

resource_store::resource_store(database& db, const indexer& ix) : db_(&db), indexer_(&ix), clock_(system_now) {}

void resource_store::set_clock(std::function<instant()> clock) { clock_ = std::move(clock); }

std::future<hearth::result<void>> resource_store::transaction_async(
    std::function<hearth::result<void>(resource_tx&)> fn) {
  database::impl& impl = db_->internals();
  if (!impl.writer) {
    std::promise<hearth::result<void>> p;
    p.set_value(hearth::unexpected(make_error(error_codes::exception, "the store is not open")));
    return p.get_future();
  }
  return impl.writer->submit(
      [&impl, ix = indexer_, clock = clock_, fn = std::move(fn)](soci::session& sql) -> hearth::result<void> {
        resource_tx::state st{impl, sql, *ix, clock, std::nullopt};
        resource_tx tx(st);
        hearth::result<void> r = fn(tx);
        if (st.poisoned) return hearth::unexpected(*st.poisoned);
        return r;
      });
}

hearth::result<void> resource_store::transaction(const std::function<hearth::result<void>(resource_tx&)>& fn) {
  // fn outlives the wait below, so the job may refer to it.
  return transaction_async([&fn](resource_tx& tx) { return fn(tx); }).get();
}

namespace {

/// Runs one operation as a transaction of its own and returns its outcome.
template <class Op>
hearth::result<write_outcome> single_write(resource_store& store, const write_hook& hook, Op&& op) {
  std::optional<hearth::result<write_outcome>> out;
  auto r = store.transaction([&](resource_tx& tx) -> hearth::result<void> {
    out.emplace(op(tx));
    if (!*out) return hearth::unexpected(out->error());
    if (hook) return hook(tx, **out);
    return {};
  });
  if (!r) return hearth::unexpected(std::move(r).error());
  return std::move(**out);
}

}  // namespace

// create and update check, hash and index the body on the caller's thread,
// before queueing for the writer: many callers do that work in parallel, and
// the one writer thread only writes.

std::string resource_store::new_id() { return random_id(); }

std::string resource_store::new_time_ordered_id(instant at) {
  // RFC 9562 5.7: unix_ts_ms (48 bits, big-endian), version 7, 74 random bits.
  std::array<std::uint8_t, 16> b;
  random_bytes(b, 4);  // bytes 4 and 5 are the timestamp's low bytes: overwritten below
  const auto ms = static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count()));
  for (std::size_t i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x70);  // version 7
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // variant 10
  return uuid_text(b);
}

hearth::result<write_outcome> resource_store::create(std::string_view type, fhir::json_value resource,
                                                     const write_hook& hook) {
  if (auto r = check_type(type); !r) return hearth::unexpected(r.error());
  const std::string id = random_id();
  auto body = prepare_write(*indexer_, std::move(resource), type, id, true);
  if (!body) return hearth::unexpected(std::move(body).error());
  return single_write(*this, hook, [&](resource_tx& tx) { return create_prepared(*tx.s_, type, id, *body); });
}

hearth::result<write_outcome> resource_store::update(std::string_view type, std::string_view id,
                                                     fhir::json_value resource, const update_options& opts,
                                                     const write_hook& hook) {
  if (auto r = check_type_and_id(type, id); !r) return hearth::unexpected(r.error());
  auto body = prepare_write(*indexer_, std::move(resource), type, id, false);
  if (!body) return hearth::unexpected(std::move(body).error());
  return single_write(*this, hook, [&](resource_tx& tx) { return update_prepared(*tx.s_, type, id, *body, opts); });
}

hearth::result<conditional_create_outcome> resource_store::conditional_create(const search_request& condition,
                                                                              prepared_write& write,
                                                                              const write_hook& hook) {
  prepared_write::body& b = write.internals();
  if (b.written) return hearth::unexpected(make_error(error_codes::invalid, "the prepared write was written already"));
  if (b.type != condition.type) {
    return hearth::unexpected(make_error(error_codes::invalid, "the resource is not of the condition's type"));
  }
  std::optional<conditional_create_outcome> out;
  auto committed = transaction([&](resource_tx& tx) -> hearth::result<void> {
    auto found = tx.find_matches(condition, 2);  // enough to tell none, one and many apart
    if (!found) return hearth::unexpected(std::move(found).error());
    conditional_create_outcome o;
    o.matches = found->size();
    if (o.matches == 1) o.match = std::move(found->front());
    if (o.matches == 0) {
      auto live = guarded(*tx.s_, [&]() -> hearth::result<bool> {
        const auto cur = detail::version_writer_of(tx.s_->db, tx.s_->sql).find_current(b.type, b.id);
        return cur.has_value() && cur->deleted == 0;
      });
      if (!live) return hearth::unexpected(std::move(live).error());
      if (*live) {
        return hearth::unexpected(
            make_error(error_codes::conflict, "a resource with this id exists but does not match the condition"));
      }
      // Absent: version 1; deleted: the next version, which brings it back.
      // The row is locked (PostgreSQL) or the database is (SQLite) since
      // find_current: nothing changes it in between.
      auto w = update_prepared(*tx.s_, b.type, b.id, b.prepared, update_options{});
      if (!w) return hearth::unexpected(std::move(w).error());
      if (hook) {
        if (auto h = hook(tx, *w); !h) return h;
      }
      o.written = std::move(*w);
    }
    out = std::move(o);
    return {};
  });
  if (!committed) return hearth::unexpected(std::move(committed).error());
  if (out->written) b.written = true;
  return std::move(*out);
}

hearth::result<prepared_write> resource_store::prepare(std::string_view type, std::string_view id,
                                                       fhir::json_value resource) const {
  if (auto r = check_type_and_id(type, id); !r) return hearth::unexpected(r.error());
  auto body = prepare_write(*indexer_, std::move(resource), type, id, false);
  if (!body) return hearth::unexpected(std::move(body).error());
  auto b = std::make_unique<prepared_write::body>();
  b->type = std::string(type);
  b->id = std::string(id);
  b->prepared = std::move(*body);
  return prepared_write(std::move(b));
}

hearth::result<std::vector<std::string>> resource_store::find_by_identifier(std::string_view type,
                                                                            std::string_view system,
                                                                            std::string_view value,
                                                                            std::size_t limit) const {
  if (auto r = check_identifier_lookup(*indexer_, type); !r) return hearth::unexpected(r.error());
  if (limit == 0) return std::vector<std::string>{};
  database::impl& impl = db_->internals();
  if (impl.config.kind != engine::sqlite) {
    // A PostgreSQL reader may be reconnected by any read that finds it
    // lost (reconnect_if_lost), which frees the statements prepared on it:
    // no statement is kept on it.
    soci::session sql(impl.readers);
    try {
      return detail::identifier_finder(sql).find(type, system, value, limit);
    } catch (const std::exception& e) {
      detail::reconnect_if_lost(sql);
      return hearth::unexpected(detail::database_error("find by identifier", e));
    }
  }
  // SQLite: a leased reader and its own prepared lookup (database_impl.hpp);
  // an SQLite connection is never reconnected.
  const std::size_t pos = impl.readers.lease();
  struct give_back {
    soci::connection_pool& pool;
    std::size_t pos;
    ~give_back() { pool.give_back(pos); }
  } lease{impl.readers, pos};
  soci::session& sql = impl.readers.at(pos);
  std::unique_ptr<detail::identifier_finder>& finder = impl.reader_finders.at(pos);
  try {
    if (!finder) finder = std::make_unique<detail::identifier_finder>(sql);
    return finder->find(type, system, value, limit);
  } catch (const std::exception& e) {
    finder.reset();
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("find by identifier", e));
  }
}

hearth::result<write_outcome> resource_store::remove(std::string_view type, std::string_view id,
                                                     const delete_options& opts, const write_hook& hook) {
  return single_write(*this, hook, [&](resource_tx& tx) { return tx.remove(type, id, opts); });
}

hearth::result<resource_version> resource_store::read(std::string_view type, std::string_view id) const {
  if (auto r = check_type_and_id(type, id); !r) return hearth::unexpected(r.error());
  database::impl& impl = db_->internals();
  soci::session sql(impl.readers);  // leases a pooled connection
  try {
    return read_on(sql, impl.config.kind, type, id);
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("read", e));
  }
}

hearth::result<resource_version> resource_store::vread(std::string_view type, std::string_view id,
                                                       std::int64_t version_id) const {
  if (auto r = check_type_and_id(type, id); !r) return hearth::unexpected(r.error());
  database::impl& impl = db_->internals();
  const engine kind = impl.config.kind;
  soci::session sql(impl.readers);
  try {
    const std::string t(type), i(id);
    const sql_int version = version_id;
    sql_int last_updated = 0;
    int deleted = 0, change_kind = 0;
    std::string body;
    soci::indicator body_ind = soci::i_ok;
    sql << detail::statements_for(kind).vread, soci::into(last_updated), soci::into(deleted),
        soci::into(change_kind), soci::into(body, body_ind), soci::use(t, "type"), soci::use(i, "id"),
        soci::use(version, "version");
    if (!sql.got_data()) {
      return hearth::unexpected(make_error(error_codes::not_found, "no such version of this resource"));
    }
    resource_version v{t, i, version, from_ms(last_updated), deleted != 0, static_cast<change>(change_kind), {}};
    if (!v.deleted && body_ind == soci::i_ok) {
      auto json = body_from_column(kind, body);
      if (!json) return hearth::unexpected(std::move(json).error());
      v.json = std::move(*json);
    }
    return v;
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("vread", e));
  }
}

hearth::result<history_page> resource_store::history(const history_query& query) const {
  if (query.count > history_query::max_count) {
    return hearth::unexpected(make_error(error_codes::too_costly, "_count is above the maximum of " +
                                                                      std::to_string(history_query::max_count)));
  }
  if (!query.id.empty()) {
    if (auto r = check_type_and_id(query.type, query.id); !r) return hearth::unexpected(r.error());
  } else if (!query.type.empty()) {
    if (auto r = check_type(query.type); !r) return hearth::unexpected(r.error());
  }
  if (query.at_low.has_value() != query.at_high.has_value()) {
    return hearth::unexpected(make_error(error_codes::invalid, "_at needs both bounds of its period"));
  }
  constexpr sql_int lowest = std::numeric_limits<sql_int>::min();
  constexpr sql_int highest = std::numeric_limits<sql_int>::max();
  sql_int cursor_time = highest, cursor_pk = highest;
  if (!query.cursor.empty()) {
    const auto c = parse_cursor(query.cursor);
    if (!c) return hearth::unexpected(make_error(error_codes::invalid, "not a history cursor"));
    std::tie(cursor_time, cursor_pk) = *c;
  }
  history_page page;
  if (query.count == 0) return page;  // _count=0: no entries

  database::impl& impl = db_->internals();
  const engine kind = impl.config.kind;
  const detail::statements& q = detail::statements_for(kind);
  const sql_int since = query.since ? to_ms(*query.since) : lowest;
  const sql_int at_low = query.at_low ? to_ms(*query.at_low) : lowest;
  const sql_int at_high = query.at_high ? to_ms(*query.at_high) : highest;
  const sql_int limit = static_cast<sql_int>(query.count) + 1;  // one more: is there a next page?
  const std::string type = query.type;
  soci::session sql(impl.readers);
  try {
    sql_int pk = 0;
    std::string scope = "1 = 1";
    if (!query.id.empty()) {
      const std::string id = query.id;
      sql << q.find_pk, soci::into(pk), soci::use(type, "type"), soci::use(id, "id");
      if (!sql.got_data()) return hearth::unexpected(make_error(error_codes::not_found, "no resource with this id"));
      scope = "h.resource_pk = :pk";
    } else if (!type.empty()) {
      scope = "h.type = :type";
    }
    sql_int history_pk = 0, version = 0, last_updated = 0;
    int deleted = 0, change_kind = 0;
    std::string row_type, row_id, body;
    soci::indicator body_ind = soci::i_ok;
    // Constant text only: the scope is one of three fixed conditions.
    auto prep = (sql.prepare << q.history_select + scope + detail::history_filters, soci::into(history_pk),
                 soci::into(row_type), soci::into(row_id), soci::into(version), soci::into(last_updated),
                 soci::into(deleted), soci::into(change_kind), soci::into(body, body_ind));
    if (!query.id.empty()) {
      prep, soci::use(pk, "pk");
    } else if (!type.empty()) {
      prep, soci::use(type, "type");
    }
    prep, soci::use(since, "since"), soci::use(at_low, "at_low"), soci::use(at_high, "at_high"),
        soci::use(cursor_time, "cursor_time"), soci::use(cursor_pk, "cursor_pk"), soci::use(limit, "limit");
    soci::statement st(prep);
    st.execute();
    sql_int last_time = 0, last_pk = 0;
    while (st.fetch()) {
      if (page.entries.size() == query.count) {  // the extra row: there is a next page
        page.next_cursor = std::to_string(last_time) + "." + std::to_string(last_pk);
        break;
      }
      resource_version v{row_type, row_id, version, from_ms(last_updated), deleted != 0,
                         static_cast<change>(change_kind), {}};
      if (!v.deleted && body_ind == soci::i_ok) {
        auto json = body_from_column(kind, body);
        if (!json) return hearth::unexpected(std::move(json).error());
        v.json = std::move(*json);
      }
      page.entries.push_back(std::move(v));
      last_time = last_updated;
      last_pk = history_pk;
    }
    return page;
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("history", e));
  }
}

}  // namespace hearth::store
