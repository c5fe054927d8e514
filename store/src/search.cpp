// resource_store::search: runs a compiled search (search_sql.cpp) on a
// pooled reader connection: one page of matches by keyset, the total when
// asked, then _include / _revinclude rounds.
#include <hearth/store/resource_store.hpp>

#include <soci/soci.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <map>
#include <set>
#include <unordered_set>

#include <hearth/core/base64.hpp>
#include <hearth/store/error_codes.hpp>
#include <hearth/store/reference_target.hpp>

#include "detail/body_codec.hpp"
#include "detail/database_impl.hpp"
#include "detail/db_error.hpp"
#include "detail/match_search.hpp"
#include "detail/param_key.hpp"
#include "detail/search_sql.hpp"

namespace hearth::store {
namespace {

using detail::sort_value_kind;
using detail::sql_text;
using detail::sql_value;
using sql_int = long long;

hearth::error make_error(std::string_view code, std::string message) {
  return hearth::error{std::string(code), std::move(message), {}, hearth::error::npos};
}

// ---- cursor -------------------------------------------------------------

/// FNV-1a over what decides a search's order and matches: a cursor carries
/// it, so that a cursor of one search is not taken for another's.
std::string fingerprint(const search_request& q) {
  detail::fnv1a f;
  f.field(q.type);
  if (q.compartment) f.field(q.compartment->type + "/" + q.compartment->id);
  f.field(q.list_id);
  for (const auto& c : q.criteria) {
    f.field(c.name);
    f.field(c.raw_value);
  }
  for (const auto& k : q.sort) f.field(std::string(k.descending ? "-" : "+") + std::string(k.param->code));
  std::uint64_t h = f.value;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = hex[h & 15];
  return out;
}

/// base64url without padding (RFC 4648 section 5): a cursor travels in a URL.
std::string base64url(std::string_view in) {
  std::string out = base64::encode(in, true);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

/// Where a page ended: the sort key values and resource_pk of its last match.
struct cursor_position {
  std::vector<sql_value> keys;
  sql_int pk = 0;
};

/// "1.<fingerprint>" then per key i<int>; r<16 hex of the double's bits>;
/// t<length>:<bytes>, then p<pk>; all base64url-encoded.
std::string encode_cursor(const std::string& print, const cursor_position& pos) {
  std::string s = "1." + print;
  for (const sql_value& v : pos.keys) {
    if (const auto* i = std::get_if<long long>(&v)) {
      s += "i" + std::to_string(*i) + ";";
    } else if (const auto* d = std::get_if<double>(&v)) {
      char buf[17];
      std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(std::bit_cast<std::uint64_t>(*d)));
      s += "r" + std::string(buf) + ";";
    } else {
      const auto& t = std::get<std::string>(v);
      s += "t" + std::to_string(t.size()) + ":" + t;
    }
  }
  s += "p" + std::to_string(pos.pk);
  return base64url(s);
}

template <class T>
bool read_number(std::string_view& s, char end, T& out, int base = 10) {
  const auto stop = s.find(end);
  if (stop == std::string_view::npos) return false;
  const auto r = std::from_chars(s.data(), s.data() + stop, out, base);
  if (r.ec != std::errc() || r.ptr != s.data() + stop) return false;
  s.remove_prefix(stop + 1);
  return true;
}

/// The position in `cursor`, checked against the search's fingerprint and
/// sort key kinds; nullopt when it is not a cursor of this search.
std::optional<cursor_position> decode_cursor(std::string_view cursor, const std::string& print,
                                             const std::vector<detail::sort_column>& sort) {
  const auto raw = base64::decode(cursor, true);
  if (!raw) return std::nullopt;
  std::string_view s = *raw;
  const std::string head = "1." + print;
  if (s.substr(0, head.size()) != head) return std::nullopt;
  s.remove_prefix(head.size());
  cursor_position pos;
  for (const auto& col : sort) {
    if (s.empty()) return std::nullopt;
    const char tag = s.front();
    s.remove_prefix(1);
    if (tag == 'i' && col.kind == sort_value_kind::integer) {
      long long v = 0;
      if (!read_number(s, ';', v)) return std::nullopt;
      pos.keys.emplace_back(v);
    } else if (tag == 'r' && col.kind == sort_value_kind::real) {
      unsigned long long bits = 0;
      if (!read_number(s, ';', bits, 16)) return std::nullopt;
      pos.keys.emplace_back(std::bit_cast<double>(static_cast<std::uint64_t>(bits)));
    } else if (tag == 't' && col.kind == sort_value_kind::text) {
      std::size_t n = 0;
      if (!read_number(s, ':', n) || n > s.size()) return std::nullopt;
      pos.keys.emplace_back(std::string(s.substr(0, n)));
      s.remove_prefix(n);
    } else {
      return std::nullopt;
    }
  }
  if (s.empty() || s.front() != 'p') return std::nullopt;
  s.remove_prefix(1);
  const auto r = std::from_chars(s.data(), s.data() + s.size(), pos.pk);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return pos;
}

// ---- running statements -------------------------------------------------

using detail::bind_values;  // every value of an sql_text, by name (match_search.hpp)

/// One row of resource columns as selected by resource_columns().
struct resource_row {
  sql_int pk = 0;
  std::string type, id;
  sql_int version = 0, last_updated = 0;
  std::string body;
  soci::indicator body_ind = soci::i_ok;

  void into(soci::statement& st) {
    st.exchange(soci::into(pk));
    st.exchange(soci::into(type));
    st.exchange(soci::into(id));
    st.exchange(soci::into(version));
    st.exchange(soci::into(last_updated));
    st.exchange(soci::into(body, body_ind));
  }

  hearth::result<resource_version> version_of(bool pg) const {
    resource_version v{type,  id, version, instant(std::chrono::milliseconds(last_updated)), false,
                       version == 1 ? change::create : change::update, {}};
    if (body_ind == soci::i_ok) {
      auto json = detail::body_from_column(pg, body);
      if (!json) return hearth::unexpected(std::move(json).error());
      v.json = std::move(*json);
    }
    return v;
  }
};

/// "a.resource_pk, a.type, a.id, a.version_id, a.last_updated, <body>".
std::string resource_columns(const std::string& a, bool pg) {
  return a + ".resource_pk, " + a + ".type, " + a + ".id, " + a + ".version_id, " + a + ".last_updated, " +
         (pg ? "encode(" + a + ".body, 'hex')" : a + ".body");
}

/// Prepares `text` with `row` (and `extra` into-columns) and the binds of
/// every sql_text given, ready to execute.
template <class Extra>
std::unique_ptr<soci::statement> prepare(soci::session& sql, const std::string& text, resource_row& row,
                                         Extra&& extra, std::initializer_list<const sql_text*> binds) {
  auto st = std::make_unique<soci::statement>(sql);
  row.into(*st);
  extra(*st);
  for (const sql_text* t : binds) bind_values(*st, *t);
  st->alloc();
  st->prepare(text);
  st->define_and_bind();
  return st;
}

/// A resource found: its pk and what the page returns.
struct found {
  sql_int pk = 0;
  resource_version version;
};

/// Runs `text` (columns of resource_columns()) and adds each row not in
/// `seen` to `out`. Errors: a body that cannot be read.
hearth::result<void> collect(soci::session& sql, const std::string& text, const sql_text& binds, bool pg,
                             std::set<sql_int>& seen, std::vector<found>& out) {
  resource_row row;
  auto st = prepare(sql, text, row, [](soci::statement&) {}, {&binds});
  st->execute(false);
  while (st->fetch()) {
    if (!seen.insert(row.pk).second) continue;
    auto v = row.version_of(pg);
    if (!v) return hearth::unexpected(std::move(v).error());
    out.push_back(found{row.pk, std::move(*v)});
  }
  return {};
}

/// The page of matches, and the position after its last one (when there
/// is another page).
struct page_rows {
  std::vector<found> matches;
  std::optional<cursor_position> next;
};

hearth::result<page_rows> run_page(soci::session& sql, const detail::compiled_search& cs, bool pg,
                                   const std::optional<cursor_position>& after, std::size_t count) {
  sql_text keyset{"k", {}, {}};
  std::string text;
  const std::size_t nkeys = cs.sort.size();
  if (nkeys == 0) {
    text = "SELECT " + resource_columns("r", pg) + " FROM resource r WHERE " + cs.where.text;
    if (after) text += " AND r.resource_pk > " + keyset.bind(after->pk);
    text += " ORDER BY r.resource_pk";
  } else {
    std::string inner = "SELECT r.resource_pk, r.type, r.id, r.version_id, r.last_updated, r.body";
    for (std::size_t i = 0; i < nkeys; ++i) inner += ", " + cs.sort[i].expression + " AS k" + std::to_string(i);
    inner += " FROM resource r WHERE " + cs.where.text;
    text = "SELECT " + resource_columns("q", pg);
    for (std::size_t i = 0; i < nkeys; ++i) text += ", q.k" + std::to_string(i);
    text += " FROM (" + inner + ") q";
    if (after) {
      // Keyset (k0, k1, ..., pk) beyond the cursor, each key in its own
      // direction: k0 beyond, or k0 equal and the rest beyond, ...
      std::string cond = "q.resource_pk > " + keyset.bind(after->pk);
      for (std::size_t j = nkeys; j-- > 0;) {
        const std::string k = "q.k" + std::to_string(j);
        const char* op = cs.sort[j].descending ? " < " : " > ";
        cond = "(" + k + op + keyset.bind(after->keys[j]) + " OR (" + k + " = " + keyset.bind(after->keys[j]) +
               " AND " + cond + "))";
      }
      text += " WHERE " + cond;
    }
    text += " ORDER BY ";
    for (std::size_t i = 0; i < nkeys; ++i) {
      text += "q.k" + std::to_string(i) + (cs.sort[i].descending ? " DESC, " : ", ");
    }
    text += "q.resource_pk";
  }
  text += " LIMIT " + keyset.bind(static_cast<sql_int>(count) + 1);  // one more: is there a next page?

  resource_row row;
  // Sort key values of the current row, by kind; deques keep addresses.
  std::deque<sql_int> ints(nkeys);
  std::deque<double> reals(nkeys);
  std::deque<std::string> texts(nkeys);
  auto st = prepare(
      sql, text, row,
      [&](soci::statement& s) {
        for (std::size_t i = 0; i < nkeys; ++i) {
          switch (cs.sort[i].kind) {
            case sort_value_kind::integer: s.exchange(soci::into(ints[i])); break;
            case sort_value_kind::real: s.exchange(soci::into(reals[i])); break;
            case sort_value_kind::text: s.exchange(soci::into(texts[i])); break;
          }
        }
      },
      {&cs.where, &cs.sort_binds, &keyset});
  st->execute(false);
  page_rows out;
  cursor_position last;
  while (st->fetch()) {
    if (out.matches.size() == count) {
      out.next = std::move(last);
      break;
    }
    auto v = row.version_of(pg);
    if (!v) return hearth::unexpected(std::move(v).error());
    out.matches.push_back(found{row.pk, std::move(*v)});
    last.pk = row.pk;
    last.keys.clear();
    for (std::size_t i = 0; i < nkeys; ++i) {
      switch (cs.sort[i].kind) {
        case sort_value_kind::integer: last.keys.emplace_back(ints[i]); break;
        case sort_value_kind::real: last.keys.emplace_back(reals[i]); break;
        case sort_value_kind::text: last.keys.emplace_back(texts[i]); break;
      }
    }
  }
  return out;
}

/// The one integer `text` selects, its values bound from `binds`.
sql_int select_count(soci::session& sql, const std::string& text, std::initializer_list<const sql_text*> binds) {
  sql_int n = 0;
  soci::statement st(sql);
  st.exchange(soci::into(n));
  for (const sql_text* t : binds) bind_values(st, *t);
  st.alloc();
  st.prepare(text);
  st.define_and_bind();
  st.execute(true);
  return n;
}

sql_int run_count(soci::session& sql, const detail::compiled_search& cs) {
  return select_count(sql, "SELECT COUNT(*) FROM resource r WHERE " + cs.where.text, {&cs.where});
}

// ---- the index walk (default order) -----------------------------------------
//
// Without _sort a page is the first matches in resource_pk order. run_page
// tests every criterion as `r.resource_pk IN (subquery)` (search_sql.hpp):
// SQLite builds each subquery's whole list, reads the resource row of every
// member and sorts them before the LIMIT can stop anything, so the first page
// of a common code costs as much as all its matches. When a criterion's index
// lists the resources of each of its values in resource_pk order (the value
// indexes of migrations.cpp end with resource_pk), the page is read instead by
// walking that index from the cursor on, joined to resource, the other
// conditions filtering, until the LIMIT:
//
//   SELECT d.resource_pk, r.type, ... FROM idx_token d CROSS JOIN resource r
//     ON r.resource_pk = d.resource_pk
//   WHERE d.param IN (:d0_0) AND (d.system = :d0_1 AND d.code = :d0_2)
//     AND d.resource_pk > :k0 AND <the other conditions, on r>
//   [UNION ALL the same for the next OR-ed value ...]
//   ORDER BY 1 LIMIT :k1
//
// CROSS JOIN keeps SQLite's planner on the index (d first; PostgreSQL orders
// joins by its statistics); OR-ed values are merged in order (SQLite
// "MERGE (UNION ALL)"; PostgreSQL's Merge Append, given each arm's own
// ORDER BY and LIMIT: without them it sorts every arm's rows). A resource
// with the value twice (or two of the values) comes once per index row, next
// to itself: run_walk keeps the first.

/// Most OR-ed values a walk merges (one arm each); beyond, run_page.
constexpr std::size_t max_walk_arms = 16;

/// With other conditions (criteria, a compartment, _list), a walk only for a
/// driver of at least this many matches after the cursor: below, the other
/// ways to a page read at most that many index rows (and resources) for it,
/// while SQLite would run the walk from the other conditions' lists (it
/// moves `r.resource_pk IN (list)` onto d's index: every member is probed).
constexpr sql_int walk_threshold = 256;

/// Whether the index of `c`'s table lists the rows of each of its values in
/// resource_pk order: equality on every column before resource_pk.
///   idx_token_1 (param, code, system, resource_pk): system|code, |code
///   idx_reference_1 (param, target_id, target_type, resource_pk): Type/id,
///     :Type; idx_reference_2 (param, url, resource_pk): a URL, a canonical
///   idx_uri_1 (param, uri, resource_pk): a uri
/// Only a matter of speed: the walk orders by resource_pk in any case.
bool walks_in_order(const search_criterion& c, const fhir::definitions& defs) {
  if (!c.path.empty() || c.param == nullptr || c.values.empty() || c.values.size() > max_walk_arms) return false;
  if (c.param->code == "_id" || c.param->code == "_lastUpdated") return false;  // no index table
  for (const search_value& v : c.values) {
    switch (c.param->type) {
      case fhir::search_param_type::token:
        if (c.modifier != search_modifier::none || v.parts.size() != 2 || v.parts[1].empty()) return false;
        break;
      case fhir::search_param_type::reference:
        if (v.parts.empty()) return false;
        if (c.modifier == search_modifier::type) break;
        if (c.modifier != search_modifier::none) return false;
        switch (parse_reference(v.parts[0], defs).kind) {
          case reference_kind::relative:
          case reference_kind::absolute:
          case reference_kind::canonical: break;
          case reference_kind::other:  // a bare id: of any target type, not one range
            if (v.parts[0].find_first_of("/:") == std::string::npos) return false;
            break;
          default: return false;
        }
        break;
      case fhir::search_param_type::uri:
        if (c.modifier != search_modifier::none) return false;
        break;
      default: return false;
    }
  }
  return true;
}

/// One arm of a walk: the driver's index rows of one value, and the other
/// conditions, each with binds of their own.
struct walk_arm {
  std::string table;
  sql_text rows;  ///< on alias d (compile_index_rows)
  sql_text rest;  ///< on alias r: q without the driver (compile_search)
};

/// How many index rows of `arms` lie after `after`, counted up to `cap`.
sql_int count_rows(soci::session& sql, const std::vector<walk_arm>& arms, const std::optional<cursor_position>& after,
                   sql_int cap) {
  sql_int total = 0;
  for (const walk_arm& a : arms) {
    sql_text k{"k", {}, {}};
    std::string text = "SELECT COUNT(*) FROM (SELECT 1 AS one FROM " + a.table + " d WHERE " + a.rows.text;
    if (after) text += " AND d.resource_pk > " + k.bind(after->pk);
    text += " LIMIT " + k.bind(cap - total) + ") c";
    total += select_count(sql, text, {&a.rows, &k});
    if (total >= cap) break;
  }
  return total;
}

/// The page by an index walk (see above); nullopt when no criterion of `q`
/// can drive one, or when it would not pay (walk_threshold): run_pk_page or
/// run_page then.
/// Of several criteria that can, the one with the most matches drives
/// (the others' lists are built in any case; its own is the one saved).
hearth::result<std::optional<page_rows>> run_walk(soci::session& sql, bool pg, const fhir::definitions& defs,
                                                  const search_request& q, long long now_ms,
                                                  const std::optional<cursor_position>& after, std::size_t count) {
  auto arms_of = [&](std::size_t i) -> hearth::result<std::vector<walk_arm>> {
    const search_criterion& c = q.criteria[i];
    std::vector<walk_arm> arms;
    for (std::size_t j = 0; j < c.values.size(); ++j) {
      walk_arm a{{}, sql_text{"d" + std::to_string(j) + "_", {}, {}}, {}};
      auto rows = detail::compile_index_rows(a.rows, q, c, c.values[j], "d", defs, pg, now_ms);
      if (!rows) return hearth::unexpected(std::move(rows).error());
      a.table = rows->table;
      a.rows.text = rows->condition;
      arms.push_back(std::move(a));
    }
    return arms;
  };
  const bool others = q.criteria.size() > 1 || q.compartment || !q.list_id.empty();
  std::optional<std::size_t> driver;
  std::vector<walk_arm> arms;
  sql_int most = -1;
  for (std::size_t i = 0; i < q.criteria.size(); ++i) {
    if (!walks_in_order(q.criteria[i], defs)) continue;
    auto candidate = arms_of(i);
    if (!candidate) return hearth::unexpected(std::move(candidate).error());
    if (!others) {
      driver = i;
      arms = std::move(*candidate);
      break;
    }
    const sql_int n = count_rows(sql, *candidate, after, walk_threshold);
    if (n > most) {
      most = n;
      driver = i;
      arms = std::move(*candidate);
    }
  }
  if (!driver || (others && most < walk_threshold)) return std::optional<page_rows>();

  search_request rest = q;
  rest.criteria.erase(rest.criteria.begin() + static_cast<std::ptrdiff_t>(*driver));
  for (std::size_t j = 0; j < arms.size(); ++j) {
    auto cs = detail::compile_search(rest, defs, pg, now_ms, "e" + std::to_string(j) + "_");
    if (!cs) return hearth::unexpected(std::move(cs).error());
    arms[j].rest = std::move(cs->where);
  }

  page_rows out;
  bool from_set = after.has_value();  // walk from the cursor, or (refilling) from `last`
  sql_int from = after ? after->pk : 0;
  sql_int last = 0;  // the pk of the last row read (a duplicate of it is skipped)
  bool any = false;
  for (;;) {
    // Rows to read: one more than the matches missing, to know whether
    // there is a next page. Duplicates may use some of them: then again
    // from the last one read.
    const sql_int limit = static_cast<sql_int>(count - out.matches.size()) + 1;
    sql_text k{"k", {}, {}};
    std::string text;
    for (const walk_arm& a : arms) {
      std::string arm = "SELECT d.resource_pk, r.type, r.id, r.version_id, r.last_updated, " +
                        std::string(pg ? "encode(r.body, 'hex')" : "r.body") + " FROM " + a.table + " d" +
                        (pg ? " JOIN " : " CROSS JOIN ") + "resource r ON r.resource_pk = d.resource_pk WHERE " +
                        a.rows.text;
      if (from_set) arm += " AND d.resource_pk > " + k.bind(from);
      arm += " AND " + a.rest.text;
      if (pg && arms.size() > 1) arm = "(" + arm + " ORDER BY 1 LIMIT " + k.bind(limit) + ")";
      text += (text.empty() ? "" : " UNION ALL ") + arm;
    }
    text += " ORDER BY 1 LIMIT " + k.bind(limit);
    std::vector<const sql_text*> binds{&k};
    for (const walk_arm& a : arms) {
      binds.push_back(&a.rows);
      binds.push_back(&a.rest);
    }
    resource_row row;
    auto st = std::make_unique<soci::statement>(sql);
    row.into(*st);
    for (const sql_text* t : binds) bind_values(*st, *t);
    st->alloc();
    st->prepare(text);
    st->define_and_bind();
    st->execute(false);
    sql_int read = 0;
    while (st->fetch()) {
      ++read;
      if (any && row.pk == last) continue;
      any = true;
      last = row.pk;
      if (out.matches.size() == count) {
        out.next = cursor_position{{}, out.matches.back().pk};
        return std::optional<page_rows>(std::move(out));
      }
      auto v = row.version_of(pg);
      if (!v) return hearth::unexpected(std::move(v).error());
      out.matches.push_back(found{row.pk, std::move(*v)});
    }
    if (read < limit) return std::optional<page_rows>(std::move(out));  // no more rows
    from_set = true;
    from = last;
  }
}

// ---- the page of pks (default order) -------------------------------------------
//
// Searches whose conditions are all `r.resource_pk [NOT] IN (subquery)`
// (detail::compile_pk_sets), when no index walk serves them alone (a date
// range, a string, a chain, a code of any system) or when there are several:
// the page's pks come from the index tables alone, then the page's rows.
//
//   SELECT DISTINCT p.resource_pk FROM (<the smallest set>) p
//   WHERE +p.resource_pk IN (<another set>) AND +p.resource_pk NOT IN (...)
//     AND p.resource_pk > :k0 ORDER BY 1 LIMIT :k1
//
// Still every match's index rows, but no longer every match's resource row
// (read, and sorted with its body, by run_page), which is what costs most.
// The smallest set (counted up to pk_count_cap) is read row by row; the
// others are lists it is looked up in. On SQLite `+` keeps them so: without
// statistics it would otherwise read a list of the others (a category of
// half the Observations) and look each member up in the small set's index.
// PostgreSQL plans the joins by its statistics.

/// How far each set is counted to find the smallest.
constexpr sql_int pk_count_cap = 1000;

/// The page by its pks (see above); nullopt when compile_pk_sets cannot serve
/// `q`, or when a resource the index named is not there (deleted between the
/// two statements): run_walk or run_page then.
hearth::result<std::optional<page_rows>> run_pk_page(soci::session& sql, bool pg, const fhir::definitions& defs,
                                                     const search_request& q, long long now_ms,
                                                     const std::optional<cursor_position>& after,
                                                     std::size_t count) {
  auto sets = detail::compile_pk_sets(q, defs, pg, now_ms, "b");
  if (!sets) return hearth::unexpected(std::move(sets).error());
  if (!*sets) return std::optional<page_rows>();
  // The smallest positive set drives; the first of equals.
  std::optional<std::size_t> from;
  sql_int least = 0;
  std::size_t positives = 0;
  for (const auto& set : **sets) positives += set.negated ? 0 : 1;
  for (std::size_t i = 0; i < (*sets)->size(); ++i) {
    const detail::pk_set& set = (**sets)[i];
    if (set.negated) continue;
    if (positives == 1) {
      from = i;
      break;
    }
    sql_text k{"k", {}, {}};
    const std::string text = "SELECT COUNT(*) FROM (" + set.pks.text + " LIMIT " + k.bind(pk_count_cap) + ") c";
    const sql_int n = select_count(sql, text, {&set.pks, &k});
    if (!from || n < least) {
      from = i;
      least = n;
    }
  }
  const char* plus = pg ? "" : "+";
  std::string text = "SELECT DISTINCT p.resource_pk FROM (" + (**sets)[*from].pks.text + ") p WHERE 1 = 1";
  for (std::size_t i = 0; i < (*sets)->size(); ++i) {
    const detail::pk_set& set = (**sets)[i];
    if (i == *from) continue;
    text += std::string(" AND ") + plus + "p.resource_pk " + (set.negated ? "NOT IN (" : "IN (") + set.pks.text + ")";
  }
  sql_text k{"k", {}, {}};
  if (after) text += " AND p.resource_pk > " + k.bind(after->pk);
  text += " ORDER BY 1 LIMIT " + k.bind(static_cast<sql_int>(count) + 1);  // one more: is there a next page?
  std::vector<sql_int> pks;
  {
    sql_int pk = 0;
    soci::statement st(sql);
    st.exchange(soci::into(pk));
    for (const auto& set : **sets) bind_values(st, set.pks);
    bind_values(st, k);
    st.alloc();
    st.prepare(text);
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) pks.push_back(pk);
  }
  page_rows out;
  if (pks.empty()) return std::optional<page_rows>(std::move(out));
  const std::size_t n = std::min(pks.size(), count);
  sql_text rows{"k", {}, {}};
  std::string list;
  for (std::size_t i = 0; i < n; ++i) list += (i > 0 ? ", " : "") + rows.bind(pks[i]);
  std::vector<found> matches;
  std::set<sql_int> seen;
  const std::string rows_text = "SELECT " + resource_columns("r", pg) + " FROM resource r WHERE r.resource_pk IN (" +
                                list + ") AND r.type = " + rows.bind(q.type) +
                                " AND r.deleted = 0 ORDER BY r.resource_pk";
  if (auto r = collect(sql, rows_text, rows, pg, seen, matches); !r) return hearth::unexpected(std::move(r).error());
  if (matches.size() != n) return std::optional<page_rows>();
  out.matches = std::move(matches);
  if (pks.size() > count) out.next = cursor_position{{}, out.matches.back().pk};
  return std::optional<page_rows>(std::move(out));
}

/// A page of the default order by an index walk or a page of pks, whichever
/// serves `q` (nullopt: neither; run_page then). All three ways give the
/// same page and cursor. One condition: the walk when its index is in
/// resource_pk order (O(page)), else the page of pks. Several: the page of
/// pks reads the smallest set and looks up the others; the walk only when the
/// page of pks cannot serve them (a compartment, _list, _has, ...).
hearth::result<std::optional<page_rows>> run_default_order(soci::session& sql, bool pg, const fhir::definitions& defs,
                                                           const search_request& q, long long now_ms,
                                                           const std::optional<cursor_position>& after,
                                                           std::size_t count) {
  const bool others = q.criteria.size() > 1 || q.compartment || !q.list_id.empty();
  auto first = others ? run_pk_page(sql, pg, defs, q, now_ms, after, count)
                      : run_walk(sql, pg, defs, q, now_ms, after, count);
  if (!first || *first) return first;
  return others ? run_walk(sql, pg, defs, q, now_ms, after, count)
                : run_pk_page(sql, pg, defs, q, now_ms, after, count);
}

// ---- _include / _revinclude ----------------------------------------------

/// Most pks or ids in one IN list: keeps statements small on both engines.
constexpr std::size_t in_chunk = 500;

/// The reference parameters an _include follows from resources of `type`.
std::vector<std::string_view> include_codes(const search_include& inc, const fhir::definitions& defs,
                                            std::string_view type) {
  std::vector<std::string_view> codes;
  if (inc.param != nullptr) {
    codes.push_back(inc.param->code);
  } else {  // _include=*: every reference parameter of the type
    for (const auto* p : defs.search_parameters(type)) {
      if (p->type == fhir::search_param_type::reference) codes.push_back(p->code);
    }
  }
  return codes;
}

/// One round of includes from `frontier` (resources of this page reached
/// last round, or the matches): adds what they reach to `out`.
hearth::result<void> include_round(soci::session& sql, bool pg, const fhir::definitions& defs,
                                   const std::vector<const search_include*>& includes,
                                   const std::vector<const search_include*>& revincludes,
                                   const std::vector<const found*>& frontier, std::set<sql_int>& seen,
                                   std::vector<found>& out) {
  // The frontier by type.
  std::map<std::string, std::vector<const found*>, std::less<>> by_type;
  for (const found* f : frontier) by_type[f->version.type].push_back(f);

  for (const search_include* inc : includes) {
    for (const auto& [type, items] : by_type) {
      if (!inc->source_type.empty() && inc->source_type != type) continue;
      const auto codes = include_codes(*inc, defs, type);
      if (codes.empty()) continue;
      for (std::size_t at = 0; at < items.size(); at += in_chunk) {
        sql_text t;
        // On PostgreSQL the index columns are COLLATE "C" (migrations.cpp),
        // resource's are not: compared in resource's collation (the same
        // equality: both are deterministic), so that its (type, id) index
        // finds each target instead of a hash join over every resource.
        const char* collate = pg ? " COLLATE \"default\"" : "";
        std::string text = "SELECT " + resource_columns("t", pg) +
                           " FROM idx_reference f JOIN resource t ON t.type = f.target_type" + collate +
                           " AND t.id = f.target_id" + collate + " WHERE f.resource_pk IN (";
        for (std::size_t i = at; i < std::min(items.size(), at + in_chunk); ++i) {
          text += (i > at ? ", " : "") + t.bind(items[i]->pk);
        }
        // `+` keeps SQLite (no statistics) on idx_reference_resource, from
        // the page's pks: by idx_reference_1 it would read every reference
        // of the parameter (all Observation.subject rows) to find them.
        text += std::string(") AND ") + (pg ? "" : "+") + "f.param IN (";
        for (std::size_t i = 0; i < codes.size(); ++i) {
          text += (i > 0 ? ", " : "") + t.bind(static_cast<sql_int>(detail::param_key(type, codes[i])));
        }
        text += ") AND f.kind = " + std::to_string(static_cast<int>(reference_kind::relative)) +
                " AND t.deleted = 0";
        if (!inc->target_type.empty()) text += " AND t.type = " + t.bind(inc->target_type);
        if (auto r = collect(sql, text, t, pg, seen, out); !r) return r;
      }
    }
  }
  for (const search_include* inc : revincludes) {
    const auto codes = include_codes(*inc, defs, inc->source_type);
    if (codes.empty()) continue;
    for (const auto& [type, items] : by_type) {
      if (!inc->target_type.empty() && inc->target_type != type) continue;
      for (std::size_t at = 0; at < items.size(); at += in_chunk) {
        sql_text t;
        std::string text = "SELECT " + resource_columns("s", pg) +
                           " FROM idx_reference f JOIN resource s ON s.resource_pk = f.resource_pk"
                           " WHERE f.param IN (";
        for (std::size_t i = 0; i < codes.size(); ++i) {
          text += (i > 0 ? ", " : "") + t.bind(static_cast<sql_int>(detail::param_key(inc->source_type, codes[i])));
        }
        text += ") AND f.kind = " + std::to_string(static_cast<int>(reference_kind::relative)) +
                           " AND f.target_type = " + t.bind(type) + " AND f.target_id IN (";
        for (std::size_t i = at; i < std::min(items.size(), at + in_chunk); ++i) {
          text += (i > at ? ", " : "") + t.bind(items[i]->version.id);
        }
        text += ") AND s.deleted = 0";
        if (auto r = collect(sql, text, t, pg, seen, out); !r) return r;
      }
    }
  }
  return {};
}

/// search.html#include: the _include and _revinclude of the matches, then
/// the :iterate ones of what they brought in, round after round until
/// nothing new comes (or max_included).
hearth::result<std::vector<found>> run_includes(soci::session& sql, bool pg, const fhir::definitions& defs,
                                                const search_request& q, const std::vector<found>& matches) {
  std::vector<found> included;
  if ((q.includes.empty() && q.revincludes.empty()) || matches.empty()) return included;
  std::set<sql_int> seen;
  for (const found& m : matches) seen.insert(m.pk);
  std::vector<const search_include*> inc, rev, inc_iter, rev_iter;
  for (const auto& i : q.includes) {
    inc.push_back(&i);
    if (i.iterate) inc_iter.push_back(&i);
  }
  for (const auto& i : q.revincludes) {
    rev.push_back(&i);
    if (i.iterate) rev_iter.push_back(&i);
  }
  std::vector<const found*> frontier;
  for (const found& m : matches) frontier.push_back(&m);
  bool first = true;
  while (!frontier.empty()) {
    const std::size_t before = included.size();
    if (auto r = include_round(sql, pg, defs, first ? inc : inc_iter, first ? rev : rev_iter, frontier, seen,
                               included);
        !r) {
      return hearth::unexpected(std::move(r).error());
    }
    if (included.size() > resource_store::max_included) {
      return hearth::unexpected(make_error(error_codes::too_costly,
                                           "_include/_revinclude reach more than " +
                                               std::to_string(resource_store::max_included) + " resources"));
    }
    first = false;
    frontier.clear();
    if (inc_iter.empty() && rev_iter.empty()) break;
    for (std::size_t i = before; i < included.size(); ++i) frontier.push_back(&included[i]);
  }
  return included;
}

}  // namespace

hearth::result<search_page> resource_store::search(const search_request& q) const {
  database::impl& impl = db_->internals();
  const bool pg = impl.config.kind == engine::postgresql;
  const fhir::definitions& defs = indexer_->definitions();
  const long long now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto compiled = detail::compile_search(q, defs, pg, now_ms);
  if (!compiled) return hearth::unexpected(std::move(compiled).error());
  const std::string print = fingerprint(q);
  std::optional<cursor_position> after;
  if (!q.cursor.empty()) {
    after = decode_cursor(q.cursor, print, compiled->sort);
    if (!after) return hearth::unexpected(make_error(error_codes::invalid, "the cursor does not belong to this search"));
  }
  const bool count_only = q.summary == search_summary::count;
  const std::size_t count = count_only ? 0 : std::min(q.count, search_request::max_count);

  search_page page;
  soci::session sql(impl.readers);
  try {
    if (count > 0) {
      hearth::result<std::optional<page_rows>> quick = std::optional<page_rows>();
      if (compiled->sort.empty()) quick = run_default_order(sql, pg, defs, q, now_ms, after, count);
      if (!quick) return hearth::unexpected(std::move(quick).error());
      auto rows = *quick ? hearth::result<page_rows>(std::move(**quick)) : run_page(sql, *compiled, pg, after, count);
      if (!rows) return hearth::unexpected(std::move(rows).error());
      if (rows->next) page.next_cursor = encode_cursor(print, *rows->next);
      auto included = run_includes(sql, pg, defs, q, rows->matches);
      if (!included) return hearth::unexpected(std::move(included).error());
      for (auto& m : rows->matches) page.matches.push_back(std::move(m.version));
      for (auto& i : *included) page.included.push_back(std::move(i.version));
    }
    if (count == 0 || q.total == search_total::accurate || q.total == search_total::estimate) {
      page.total = run_count(sql, *compiled);
    } else if (!after && page.next_cursor.empty() && count > 0) {
      page.total = static_cast<std::int64_t>(page.matches.size());  // the first page is all there is
    }
    return page;
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("search", e));
  }
}

}  // namespace hearth::store
