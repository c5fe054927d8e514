#include <hearth/store/audit_log.hpp>

#include <soci/soci.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <exception>
#include <limits>
#include <span>
#include <stdexcept>
#include <utility>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/store/date_range.hpp>
#include <hearth/store/error_codes.hpp>

#include "detail/audit_keys.hpp"
#include "detail/audit_writer.hpp"
#include "detail/database_impl.hpp"
#include "detail/db_error.hpp"
#include "detail/resource_tx_state.hpp"
#include "detail/search_sql.hpp"  // sql_text

namespace hearth::store {

namespace {

using sql_int = long long;  // SOCI exchanges 64-bit integers as long long
using detail::audit_ref;
using detail::prepared_audit_event;

hearth::error make_error(std::string_view code, std::string message) {
  return hearth::error{std::string(code), std::move(message), {}, hearth::error::npos};
}

instant from_ms(sql_int ms) { return instant(std::chrono::milliseconds(ms)); }

instant system_now() {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

/// Position of member `key` in an object, or npos.
std::size_t member_index(const fhir::json_value& obj, std::string_view key) {
  const auto& m = obj.members();
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i].key == key) return i;
  }
  return static_cast<std::size_t>(-1);
}

/// Sets member `key` of `obj`, inserted after member `after` (or first) when
/// absent: resourceType, id, meta come first, as R4 json.html writes them.
void set_after(fhir::json_value& obj, std::string_view after, std::string_view key, fhir::json_value value) {
  if (fhir::json_value* existing = obj.find(key)) {
    *existing = std::move(value);
    return;
  }
  auto& m = obj.members();
  const std::size_t at = member_index(obj, after);
  const std::size_t pos = at == static_cast<std::size_t>(-1) ? 0 : at + 1;
  m.insert(m.begin() + static_cast<std::ptrdiff_t>(pos), fhir::json_member{std::string(key), std::move(value)});
}

/// The event as it will be stored: id and meta set, text written once, keys
/// derived from it. Errors: "invalid".
hearth::result<prepared_audit_event> prepare(fhir::json_value event, instant now) {
  if (!event.is_object()) return hearth::unexpected(make_error(error_codes::invalid, "the AuditEvent is not a JSON object"));
  const fhir::json_value* rt = event.find("resourceType");
  if (rt == nullptr || !rt->is_string() || rt->str() != "AuditEvent") {
    return hearth::unexpected(make_error(error_codes::invalid, "resourceType is not AuditEvent"));
  }
  if (const fhir::json_value* meta = event.find("meta"); meta != nullptr && !meta->is_object()) {
    return hearth::unexpected(make_error(error_codes::invalid, "meta is not an object"));
  }
  // The server assigns the id (R4 http.html#create) and the version's meta
  // (resource.html#Meta); an AuditEvent has one version only.
  // A time-ordered id (RFC 9562 version 7): the trail's unique index on ids
  // then grows at its right edge, not at a random page per event.
  set_after(event, "resourceType", "id", fhir::json_value(resource_store::new_time_ordered_id(now)));
  if (event.find("meta") == nullptr) set_after(event, "id", "meta", fhir::json_value::object());
  fhir::json_value& meta = *event.find("meta");
  meta.set("versionId", fhir::json_value("1"));
  meta.set("lastUpdated", fhir::json_value(format_instant(now)));

  prepared_audit_event out;
  if (auto r = detail::audit_keys_of(event, out); !r) return hearth::unexpected(r.error());
  out.json = fhir::to_json(event);
  if (out.json.size() > audit_log::max_event_bytes) {
    return hearth::unexpected(make_error(error_codes::invalid, "the AuditEvent is larger than " +
                                                                  std::to_string(audit_log::max_event_bytes) +
                                                                  " bytes"));
  }
  return out;
}

/// The audit statements on the writer's session, rebuilt after a reconnect
/// or a database error (database_impl.hpp). Writer thread only.
detail::audit_writer& audit_writer_of(database::impl& db, soci::session& sql) {
  if (!db.audit_writer || db.audit_generation != db.writer->session_generation()) {
    db.audit_writer.reset();
    db.audit_writer = std::make_unique<detail::audit_writer>(sql, db.config.kind);
    db.audit_generation = db.writer->session_generation();
  }
  return *db.audit_writer;
}

/// Chains `events` onto the head, in order, inside the caller's transaction,
/// and moves the head. Writer thread only. Throws on database errors and on
/// a head that holds no valid hash (never starts a second chain).
std::vector<audit_appended> chain(database::impl& db, soci::session& sql,
                                  std::span<const prepared_audit_event> events) {
  detail::audit_writer& w = audit_writer_of(db, sql);
  const detail::audit_chain_head start = w.read_head();
  std::vector<std::string> hashes;
  hashes.reserve(events.size());
  std::vector<audit_appended> out;
  out.reserve(events.size());
  for (const prepared_audit_event& e : events) {
    auto hash = detail::audit_link_hash(hashes.empty() ? start.hash : hashes.back(), e.json);
    if (!hash) throw std::runtime_error("the audit chain head holds no valid hash");
    hashes.push_back(std::move(*hash));
    out.push_back(audit_appended{start.seq + static_cast<sql_int>(out.size()) + 1, e.id});
  }
  if (events.empty()) return out;
  w.insert_events(events, start.seq + 1, start.hash, hashes);
  w.write_head(detail::audit_chain_head{out.back().sequence, hashes.back()});
  return out;
}

// R4 datatypes.html#id: [A-Za-z0-9\-\.]{1,64}.
bool valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

// ---- search ---------------------------------------------------------------

/// Most values one hand-built query may bind: parse_search allows 64 terms of
/// 100 values; this bounds what reaches the database from any caller.
constexpr std::size_t max_binds = 6400;

/// The SQL condition of `q` over alias `e` (audit_event), with its values
/// bound in `where`: constant text and :bN placeholders only.
hearth::result<std::string> condition_of(const audit_query& q, detail::sql_text& where) {
  std::string cond = "1 = 1";
  auto add = [&cond](const std::string& c) { cond += " AND (" + c + ")"; };
  auto join = [](const std::vector<std::string>& parts) {
    if (parts.empty()) return std::string("1 = 0");  // no value matches nothing
    std::string s;
    for (std::size_t i = 0; i < parts.size(); ++i) s += (i != 0 ? " OR " : "") + parts[i];
    return s;
  };

  for (const auto& group : q.ids) {
    std::vector<std::string> parts;
    for (const std::string& id : group) parts.push_back("e.id = " + where.bind(id));
    add(join(parts));
  }

  auto ref_group = [&](std::string kind_condition, const std::vector<std::string>& alternatives) {
    add("e.seq IN (SELECT r.seq FROM audit_event_ref r WHERE " + kind_condition + " AND (" + join(alternatives) +
        "))");
  };
  auto kind_is = [&](detail::audit_ref_kind kind) { return "r.kind = " + where.bind(sql_int{static_cast<int>(kind)}); };
  auto alternatives = [&](const std::vector<audit_reference>& group) {
    std::vector<std::string> parts;
    for (const audit_reference& r : group) {
      if (r.id.empty()) continue;  // names no resource: matches nothing
      if (r.type.empty()) {
        parts.push_back("r.ref_id = " + where.bind(r.id));
      } else {
        parts.push_back("(r.ref_id = " + where.bind(r.id) + " AND r.ref_type = " + where.bind(r.type) + ")");
      }
    }
    return parts;
  };
  // R4 AuditEvent `patient`: agent.who.where(resolve() is Patient) |
  // entity.what.where(resolve() is Patient): the agent and entity keys that
  // refer to a Patient (no key of its own: one row less per event).
  for (const auto& group : q.patients) {
    ref_group("r.kind IN (" + where.bind(sql_int{static_cast<int>(detail::audit_ref_kind::entity)}) + ", " +
                  where.bind(sql_int{static_cast<int>(detail::audit_ref_kind::agent)}) + ") AND r.ref_type = " +
                  where.bind(std::string("Patient")),
              alternatives(group));
  }
  for (const auto& group : q.agents) ref_group(kind_is(detail::audit_ref_kind::agent), alternatives(group));
  for (const auto& group : q.entities) ref_group(kind_is(detail::audit_ref_kind::entity), alternatives(group));
  for (const auto& group : q.agent_identifiers) {
    std::vector<std::string> parts;
    for (const audit_token& t : group) {
      if (!t.system) {
        if (!t.code.empty()) parts.push_back("r.ref_id = " + where.bind(t.code));
      } else if (t.code.empty()) {
        parts.push_back("r.ref_type = " + where.bind(*t.system));
      } else {
        parts.push_back("(r.ref_id = " + where.bind(t.code) + " AND r.ref_type = " + where.bind(*t.system) + ")");
      }
    }
    ref_group(kind_is(detail::audit_ref_kind::agent_identifier), parts);
  }

  // Coding columns (type, subtype): search.html#token.
  auto codings = [&](const char* system_col, const char* code_col, const std::vector<std::vector<audit_token>>& groups) {
    for (const auto& group : groups) {
      std::vector<std::string> parts;
      for (const audit_token& t : group) {
        const std::string code = std::string(code_col) + " = " + (t.code.empty() ? std::string() : where.bind(t.code));
        const std::string system = t.system ? std::string(system_col) + " = " + where.bind(*t.system) : std::string();
        if (!t.system) {
          if (!t.code.empty()) parts.push_back(code);
        } else if (t.code.empty()) {
          parts.push_back(system);
        } else {
          parts.push_back("(" + system + " AND " + code + ")");
        }
      }
      add(join(parts));
    }
  };
  codings("e.type_system", "e.type_code", q.types);
  codings("e.subtype_system", "e.subtype_code", q.subtypes);

  // code columns (action, outcome): their system is implied by the element's
  // required binding (R4 auditevent.html: audit-event-action,
  // audit-event-outcome); a token naming it, or no system, matches.
  auto codes = [&](const char* col, std::string_view implied, const std::vector<std::vector<audit_token>>& groups) {
    for (const auto& group : groups) {
      std::vector<std::string> parts;
      for (const audit_token& t : group) {
        if (t.system && !t.system->empty() && *t.system != implied) continue;  // another system: no match
        parts.push_back(t.code.empty() ? std::string("1 = 1") : std::string(col) + " = " + where.bind(t.code));
      }
      add(join(parts));
    }
  };
  codes("e.action", "http://hl7.org/fhir/audit-event-action", q.actions);
  codes("e.outcome", "http://hl7.org/fhir/audit-event-outcome", q.outcomes);

  // recorded is an instant (a point): search.html#prefix on the range the
  // search value denotes, [low, high] inclusive.
  for (const auto& group : q.dates) {
    std::vector<std::string> parts;
    for (const audit_date& d : group) {
      const sql_int low = d.range.low, high = d.range.high;
      switch (d.prefix) {
        case search_prefix::eq:
          parts.push_back("(e.recorded >= " + where.bind(low) + " AND e.recorded <= " + where.bind(high) + ")");
          break;
        case search_prefix::ne:
          parts.push_back("(e.recorded < " + where.bind(low) + " OR e.recorded > " + where.bind(high) + ")");
          break;
        case search_prefix::gt:
        case search_prefix::sa:
          parts.push_back("e.recorded > " + where.bind(high));
          break;
        case search_prefix::lt:
        case search_prefix::eb:
          parts.push_back("e.recorded < " + where.bind(low));
          break;
        case search_prefix::ge:
          parts.push_back("e.recorded >= " + where.bind(low));
          break;
        case search_prefix::le:
          parts.push_back("e.recorded <= " + where.bind(high));
          break;
        case search_prefix::ap:
          return hearth::unexpected(make_error(error_codes::not_supported, "date: the prefix ap is not supported"));
      }
    }
    add(join(parts));
  }
  if (where.binds.size() > max_binds) {
    return hearth::unexpected(make_error(error_codes::too_costly, "the audit search has too many values"));
  }
  return cond;
}

/// Binds every value of `t` by name to `st`; the values must stay put until
/// the statement is done.
void bind_all(soci::statement& st, const detail::sql_text& t) {
  for (std::size_t i = 0; i < t.binds.size(); ++i) {
    const std::string name = t.prefix + std::to_string(i);
    std::visit([&](const auto& v) { st.exchange(soci::use(v, name)); }, t.binds[i]);
  }
}

/// The cursor of a page: its order ('d' newest first, 'a' oldest first)
/// and the sequence of its last event.
std::string make_cursor(bool oldest_first, sql_int seq) { return (oldest_first ? "a" : "d") + std::to_string(seq); }

std::optional<sql_int> parse_cursor(std::string_view c, bool oldest_first) {
  if (c.size() < 2 || c[0] != (oldest_first ? 'a' : 'd')) return std::nullopt;
  sql_int seq = 0;
  const auto r = std::from_chars(c.data() + 1, c.data() + c.size(), seq);
  if (r.ec != std::errc() || r.ptr != c.data() + c.size() || seq < 0) return std::nullopt;
  return seq;
}

// ---- verification ---------------------------------------------------------

/// One row as the verification reads it.
struct chain_row {
  sql_int seq = 0, recorded = 0, last_updated = 0;
  std::string id, type_system, type_code, subtype_system, subtype_code, action, outcome, json, prev_hash, hash;
};

/// Whether the stored keys of `row` (its columns and `refs`, sorted) are
/// those its JSON gives.
bool keys_match(const chain_row& row, const std::vector<audit_ref>& refs) {
  auto tree = fhir::parse_json(row.json);
  if (!tree) return false;
  prepared_audit_event derived;
  if (!detail::audit_keys_of(*tree, derived)) return false;
  return derived.id == row.id && derived.recorded == row.recorded && derived.last_updated == row.last_updated &&
         derived.type_system == row.type_system && derived.type_code == row.type_code &&
         derived.subtype_system == row.subtype_system && derived.subtype_code == row.subtype_code &&
         derived.action == row.action && derived.outcome == row.outcome && derived.refs == refs;
}

class chain_walker {
 public:
  chain_walker(soci::session& sql, const verify_options& opts) : sql_(sql), opts_(opts) {}

  chain_report run() {
    const detail::audit_chain_head start = read_head();
    report_.head_sequence = start.seq;
    sql_int after = 0;
    const sql_int batch = static_cast<sql_int>(std::max<std::size_t>(opts_.batch_rows, 1));
    std::vector<chain_row> rows;
    for (;;) {
      rows.clear();
      read_rows(after, batch, rows);
      if (rows.empty()) break;
      after = rows.back().seq;
      const auto refs = read_refs(rows.front().seq, rows.back().seq);
      for (const chain_row& row : rows) {
        if (step(row, refs)) return report_;
      }
      if (opts_.progress) opts_.progress(report_.checked);
    }
    if (pending_) return broken(chain_break::deleted, pending_->first);  // the predecessor never came
    const sql_int last = expected_ - 1;
    // Events the head counted when the walk began are gone from the end.
    if (last < start.seq) return broken(chain_break::deleted, last + 1);
    const detail::audit_chain_head end = read_head();
    // Events past the head: no append wrote them (an append moves the head
    // in the transaction of its rows).
    if (last > end.seq) return broken(chain_break::inserted, end.seq + 1);
    // The head remembers the last hash: a chain re-hashed from some event
    // on (every link consistent again) does not end where the head says.
    if (last == end.seq && end.hash != last_hash_) return broken(chain_break::edited, last);
    return report_;
  }

 private:
  detail::audit_chain_head read_head() {
    detail::audit_chain_head h;
    sql_ << "SELECT seq, hash FROM audit_head WHERE id = 1", soci::into(h.seq), soci::into(h.hash);
    if (!sql_.got_data()) throw std::runtime_error("the audit chain head is missing");
    return h;
  }

  void read_rows(sql_int after, sql_int limit, std::vector<chain_row>& rows) {
    chain_row r;
    auto prep =
        (sql_.prepare << "SELECT seq, id, recorded, last_updated, type_system, type_code, subtype_system,"
                         " subtype_code, action, outcome, json, prev_hash, hash FROM audit_event"
                         " WHERE seq > :after ORDER BY seq LIMIT :lim",
         soci::into(r.seq), soci::into(r.id), soci::into(r.recorded), soci::into(r.last_updated),
         soci::into(r.type_system), soci::into(r.type_code), soci::into(r.subtype_system),
         soci::into(r.subtype_code), soci::into(r.action), soci::into(r.outcome), soci::into(r.json),
         soci::into(r.prev_hash), soci::into(r.hash), soci::use(after, "after"), soci::use(limit, "lim"));
    soci::statement st(prep);
    st.execute();
    while (st.fetch()) rows.push_back(r);
  }

  /// The audit_event_ref rows of sequences [low, high], by sequence, each
  /// list sorted as audit_keys_of sorts.
  std::vector<std::pair<sql_int, std::vector<audit_ref>>> read_refs(sql_int low, sql_int high) {
    std::vector<std::pair<sql_int, std::vector<audit_ref>>> out;
    sql_int seq = 0;
    int kind = 0;
    std::string id, type;
    auto prep = (sql_.prepare << "SELECT seq, kind, ref_id, ref_type FROM audit_event_ref"
                                 " WHERE seq >= :low AND seq <= :high ORDER BY seq",
                 soci::into(seq), soci::into(kind), soci::into(id), soci::into(type), soci::use(low, "low"),
                 soci::use(high, "high"));
    soci::statement st(prep);
    st.execute();
    while (st.fetch()) {
      if (out.empty() || out.back().first != seq) out.emplace_back(seq, std::vector<audit_ref>());
      out.back().second.push_back(audit_ref{kind, type, id});
    }
    for (auto& [s, list] : out) std::sort(list.begin(), list.end());
    return out;
  }

  static const std::vector<audit_ref>& refs_of(const std::vector<std::pair<sql_int, std::vector<audit_ref>>>& refs,
                                               sql_int seq) {
    static const std::vector<audit_ref> none;
    const auto it = std::lower_bound(refs.begin(), refs.end(), seq,
                                     [](const auto& p, sql_int s) { return p.first < s; });
    return it != refs.end() && it->first == seq ? it->second : none;
  }

  chain_report broken(chain_break kind, sql_int seq) {
    mark(kind, seq);
    return report_;
  }

  /// Records the first broken link; true, for step() to return.
  bool mark(chain_break kind, sql_int seq) {
    report_.broken = kind;
    report_.sequence = seq;
    return true;
  }

  /// Checks one row; true when a broken link has been found (report_ set).
  bool step(const chain_row& row,
            const std::vector<std::pair<sql_int, std::vector<audit_ref>>>& refs) {
    if (pending_) {
      // Looking ahead for the predecessor an earlier link named.
      if (row.hash == pending_->second) return mark(chain_break::reordered, pending_->first);
      if (--lookahead_left_ == 0) return mark(chain_break::deleted, pending_->first);
      return false;
    }
    if (row.seq != expected_) return mark(chain_break::deleted, expected_);  // a gap
    const auto rehashed = detail::audit_link_hash(row.prev_hash, row.json);
    if (!rehashed || *rehashed != row.hash) return mark(chain_break::edited, row.seq);
    if (!keys_match(row, refs_of(refs, row.seq))) return mark(chain_break::edited, row.seq);
    if (row.prev_hash != last_hash_) {
      // A consistent event that does not link to its predecessor. Linking to
      // an earlier event: those after that one are not part of the chain.
      for (const auto& [seq, hash] : recent_) {
        if (hash == row.prev_hash) return mark(chain_break::inserted, seq + 1);
      }
      // Linking to an event not seen yet (moved) or nowhere (deleted).
      pending_.emplace(row.seq, row.prev_hash);
      lookahead_left_ = std::max<std::size_t>(opts_.lookahead, 1);
      return false;
    }
    recent_.emplace_back(expected_ - 1, last_hash_);
    if (recent_.size() > recent_size) recent_.pop_front();
    last_hash_ = row.hash;
    ++expected_;
    ++report_.checked;
    return false;
  }

  /// How many earlier hashes are remembered to recognise an inserted event
  /// (its successor links past it): a few, as one forged event shows at
  /// once; more would only slow the walk.
  static constexpr std::size_t recent_size = 64;

  soci::session& sql_;
  const verify_options& opts_;
  chain_report report_;
  sql_int expected_ = 1;
  std::string last_hash_ = std::string(audit_chain_start);
  std::deque<std::pair<sql_int, std::string>> recent_;
  std::optional<std::pair<sql_int, std::string>> pending_;  ///< (sequence, the prev_hash it named)
  std::size_t lookahead_left_ = 0;
};

}  // namespace

std::string_view to_string(chain_break b) noexcept {
  switch (b) {
    case chain_break::none: return "ok";
    case chain_break::edited: return "edited";
    case chain_break::deleted: return "deleted";
    case chain_break::inserted: return "inserted";
    case chain_break::reordered: return "reordered";
  }
  return "ok";
}

std::optional<std::string> audit_chain_hash(std::string_view prev_hex, std::string_view json) {
  return detail::audit_link_hash(prev_hex, json);
}

hearth::result<chain_report> verify_chain(database& db, const verify_options& opts) {
  database::impl& impl = db.internals();
  soci::session sql(impl.readers);
  try {
    chain_walker walker(sql, opts);
    return walker.run();
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("audit verify", e));
  }
}

audit_log::audit_log(database& db) : db_(&db), clock_(system_now) {}

void audit_log::set_clock(std::function<instant()> clock) { clock_ = std::move(clock); }

hearth::result<audit_appended> audit_log::append(resource_tx& tx, fhir::json_value event) {
  resource_tx::state& s = tx.internals();
  if (s.poisoned) return hearth::unexpected(*s.poisoned);
  auto p = prepare(std::move(event), s.clock());
  if (!p) return hearth::unexpected(std::move(p).error());
  try {
    return chain(s.db, s.sql, std::span<const prepared_audit_event>(&*p, 1)).front();
  } catch (const std::exception& e) {
    // As resource_tx's own writes: the transaction is rolled back whatever
    // the hook returns, and the statements may belong to a lost connection.
    s.poisoned = detail::database_error("audit append", e);
    detail::drop_writer_statements(s.db);
    return hearth::unexpected(*s.poisoned);
  }
}

hearth::result<std::vector<audit_appended>> audit_log::append_batch(std::vector<fhir::json_value> events) {
  std::vector<audit_appended> out;
  if (events.empty()) return out;
  std::vector<prepared_audit_event> prepared;
  prepared.reserve(events.size());
  for (fhir::json_value& e : events) {
    auto p = prepare(std::move(e), clock_());
    if (!p) return hearth::unexpected(std::move(p).error());
    prepared.push_back(std::move(*p));
  }
  database::impl& impl = db_->internals();
  if (!impl.writer) return hearth::unexpected(make_error(error_codes::exception, "the store is not open"));
  // `prepared` and `out` outlive the job: the future is waited for below.
  auto done = impl.writer->submit([&impl, &prepared, &out](soci::session& sql) -> hearth::result<void> {
    try {
      out = chain(impl, sql, prepared);
      return {};
    } catch (...) {
      detail::drop_writer_statements(impl);  // they may belong to a lost connection
      throw;                                 // the writer turns it into this job's error
    }
  });
  auto r = done.get();
  if (!r) return hearth::unexpected(std::move(r).error());
  return out;
}

hearth::result<audit_event_row> audit_log::read(std::string_view id) const {
  if (!valid_id(id)) return hearth::unexpected(make_error(error_codes::invalid, "not a valid id (R4 datatypes.html#id)"));
  database::impl& impl = db_->internals();
  soci::session sql(impl.readers);
  try {
    const std::string i(id);
    audit_event_row row;
    row.id = i;
    sql_int seq = 0, recorded = 0, last_updated = 0;
    sql << "SELECT seq, recorded, last_updated, json FROM audit_event WHERE id = :id", soci::into(seq),
        soci::into(recorded), soci::into(last_updated), soci::into(row.json), soci::use(i, "id");
    if (!sql.got_data()) return hearth::unexpected(make_error(error_codes::not_found, "no AuditEvent with this id"));
    row.sequence = seq;
    row.recorded = from_ms(recorded);
    row.last_updated = from_ms(last_updated);
    return row;
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("audit read", e));
  }
}

hearth::result<audit_page> audit_log::search(const audit_query& query) const {
  if (query.count > audit_query::max_count) {
    return hearth::unexpected(make_error(error_codes::too_costly, "_count is above the maximum of " +
                                                                      std::to_string(audit_query::max_count)));
  }
  std::optional<sql_int> cursor;
  if (!query.cursor.empty()) {
    cursor = parse_cursor(query.cursor, query.oldest_first);
    if (!cursor) return hearth::unexpected(make_error(error_codes::invalid, "not a cursor of this audit search"));
  }
  detail::sql_text where;
  auto cond = condition_of(query, where);
  if (!cond) return hearth::unexpected(std::move(cond).error());

  database::impl& impl = db_->internals();
  soci::session sql(impl.readers);
  try {
    audit_page page;
    if (query.count > 0) {
      // One row more than the page: is there a next page?
      const sql_int limit = static_cast<sql_int>(query.count) + 1;
      const sql_int after = cursor.value_or(query.oldest_first ? 0 : std::numeric_limits<sql_int>::max());
      const std::string text = "SELECT e.seq, e.id, e.recorded, e.last_updated, e.json FROM audit_event e WHERE " +
                               *cond + (query.oldest_first ? " AND e.seq > :cursor ORDER BY e.seq ASC"
                                                           : " AND e.seq < :cursor ORDER BY e.seq DESC") +
                               " LIMIT :lim";
      sql_int seq = 0, recorded = 0, last_updated = 0;
      std::string id, json;
      soci::statement st(sql);
      st.exchange(soci::into(seq));
      st.exchange(soci::into(id));
      st.exchange(soci::into(recorded));
      st.exchange(soci::into(last_updated));
      st.exchange(soci::into(json));
      bind_all(st, where);
      st.exchange(soci::use(after, "cursor"));
      st.exchange(soci::use(limit, "lim"));
      st.alloc();
      st.prepare(text);
      st.define_and_bind();
      st.execute();
      while (st.fetch()) {
        if (page.events.size() == query.count) {  // the extra row
          page.next_cursor = make_cursor(query.oldest_first, page.events.back().sequence);
          break;
        }
        page.events.push_back(audit_event_row{seq, id, from_ms(recorded), from_ms(last_updated), json});
      }
    }
    if (query.want_total) {
      sql_int n = 0;
      soci::statement st(sql);
      st.exchange(soci::into(n));
      bind_all(st, where);
      st.alloc();
      st.prepare("SELECT COUNT(*) FROM audit_event e WHERE " + *cond);
      st.define_and_bind();
      st.execute(true);
      page.total = n;
    } else if (!cursor && page.next_cursor.empty() && query.count > 0) {
      page.total = static_cast<std::int64_t>(page.events.size());  // the first page holds every match
    }
    return page;
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("audit search", e));
  }
}

hearth::result<chain_report> audit_log::verify(const verify_options& opts) const { return verify_chain(*db_, opts); }

}  // namespace hearth::store
