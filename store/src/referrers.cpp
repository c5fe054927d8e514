// find_referrers (detail/referrers.hpp): the reference index read backwards.

#include "detail/referrers.hpp"

#include <soci/soci.h>

#include <algorithm>
#include <exception>
#include <set>

#include <hearth/fhir/definitions.hpp>
#include <hearth/store/indexer.hpp>

#include "detail/database_impl.hpp"
#include "detail/db_error.hpp"
#include "detail/param_key.hpp"
#include "detail/resource_tx_state.hpp"  // resource_tx::state

namespace hearth::store::detail {

namespace {

using sql_int = long long;  // SOCI exchanges 64-bit integers as long long

/// Parameter keys bound in one statement: below SQLite's smallest default
/// limit on bound variables (999 before 3.32), with room for the others.
constexpr std::size_t keys_per_statement = 400;

/// The `param` key of every reference search parameter of every R4 type, as
/// index_writer.cpp writes them (param_key(type, code)). idx_reference's
/// indexes lead with `param` (idx_reference_1: param, target_id,
/// target_type, resource_pk): asking for each key is what they answer fast.
std::vector<sql_int> reference_keys(const indexer& ix) {
  std::vector<sql_int> keys;
  for (const std::string_view type : ix.definitions().resource_types()) {
    for (const fhir::search_parameter* p : ix.parameters(type)) {
      if (p->type == fhir::search_param_type::reference) keys.push_back(param_key(type, p->code));
    }
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

/// "(:p0, :p1, ...)" for `n` bound values named `prefix` + i: the statement
/// text is built from counts only, every value is bound.
std::string placeholders(std::string_view prefix, std::size_t n) {
  std::string out = "(";
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) out += ", ";
    out += ":";
    out += prefix;
    out += std::to_string(i);
  }
  out += ")";
  return out;
}

}  // namespace

hearth::result<std::vector<resource_key>> find_referrers(resource_tx& tx, std::string_view type,
                                                         std::string_view id, std::span<const std::string_view> skip,
                                                         std::size_t limit) {
  resource_tx::state& s = tx.internals();
  if (s.poisoned) return hearth::unexpected(*s.poisoned);
  const std::vector<sql_int> all_keys = reference_keys(s.ix);
  const std::string target_type(type), target_id(id);
  std::vector<std::string> skipped(skip.begin(), skip.end());
  if (skipped.empty()) skipped.emplace_back();  // "NOT IN ()" is no SQL; no type is ""
  const sql_int lim = static_cast<sql_int>(std::min<std::size_t>(limit, 1u << 20) + 1);
  std::set<resource_key> found;
  try {
    for (std::size_t from = 0; from < all_keys.size() && found.size() <= limit; from += keys_per_statement) {
      const std::size_t n = std::min(keys_per_statement, all_keys.size() - from);
      const std::vector<sql_int> keys(all_keys.begin() + static_cast<std::ptrdiff_t>(from),
                                      all_keys.begin() + static_cast<std::ptrdiff_t>(from + n));
      const std::string text =
          "SELECT DISTINCT r.type, r.id FROM idx_reference x JOIN resource r ON r.resource_pk = x.resource_pk"
          " WHERE x.param IN " + placeholders("k", keys.size()) +
          " AND x.target_id = :target_id AND x.target_type = :target_type AND r.deleted = 0"
          " AND r.type NOT IN " + placeholders("s", skipped.size()) + " ORDER BY r.type, r.id LIMIT :lim";
      std::string row_type, row_id;
      soci::statement st(s.sql);
      st.exchange(soci::into(row_type));
      st.exchange(soci::into(row_id));
      for (std::size_t i = 0; i < keys.size(); ++i) st.exchange(soci::use(keys[i], "k" + std::to_string(i)));
      st.exchange(soci::use(target_id, "target_id"));
      st.exchange(soci::use(target_type, "target_type"));
      for (std::size_t i = 0; i < skipped.size(); ++i) {
        st.exchange(soci::use(skipped[i], "s" + std::to_string(i)));
      }
      st.exchange(soci::use(lim, "lim"));
      st.alloc();
      st.prepare(text);
      st.define_and_bind();
      st.execute();
      while (st.fetch()) found.insert(resource_key{row_type, row_id});
    }
  } catch (const std::exception& e) {
    // As resource_tx's own operations: the transaction is rolled back
    // whatever the caller returns, and the statements may belong to a lost
    // connection.
    s.poisoned = database_error("referrers", e);
    drop_writer_statements(s.db);
    return hearth::unexpected(*s.poisoned);
  }
  std::vector<resource_key> out(found.begin(), found.end());
  if (out.size() > limit + 1) out.resize(limit + 1);
  return out;
}

}  // namespace hearth::store::detail
