// resource_store::meta_in_use: the labels in use across types (R4
// resource-operations.html#meta at the system and type levels), read from
// the search index.
#include <hearth/store/resource_store.hpp>

#include <soci/soci.h>

#include <algorithm>
#include <set>
#include <string>

#include <hearth/store/error_codes.hpp>

#include "detail/database_impl.hpp"
#include "detail/db_error.hpp"
#include "detail/match_search.hpp"
#include "detail/param_key.hpp"
#include "detail/search_sql.hpp"

namespace hearth::store {
namespace {

hearth::error make_error(std::string_view code, std::string message) {
  return hearth::error{std::string(code), std::move(message), {}, hearth::error::npos};
}

/// The index keys (detail::param_key) of parameter `code` of kind `kind` for
/// each of `types` that has it.
std::vector<long long> keys_of(const indexer& ix, const std::set<std::string, std::less<>>& types,
                               std::string_view code, fhir::search_param_type kind) {
  std::vector<long long> keys;
  for (const std::string& t : types) {
    const auto params = ix.parameters(t);
    const bool has = std::any_of(params.begin(), params.end(), [&](const fhir::search_parameter* p) {
      return p->code == code && p->type == kind;
    });
    if (has) keys.push_back(detail::param_key(t, code));
  }
  return keys;
}

/// "x.param IN (:q0, ...)" over `keys`, bound in `t`.
std::string param_in(detail::sql_text& t, const std::vector<long long>& keys) {
  std::string s = "x.param IN (";
  for (std::size_t i = 0; i < keys.size(); ++i) s += (i > 0 ? ", " : "") + t.bind(keys[i]);
  return s + ")";
}

/// The distinct (system, code) of the token rows of `keys`, at most `limit`.
std::vector<meta_summary::coding> codings_in(soci::session& sql, const std::vector<long long>& keys,
                                             std::size_t limit) {
  std::vector<meta_summary::coding> out;
  if (keys.empty() || limit == 0) return out;
  detail::sql_text t{"q", {}, {}};
  // A text-only entry (empty code) is a CodeableConcept's text, never a
  // meta coding; DISTINCT: one row per resource carrying the label.
  const std::string text = "SELECT DISTINCT x.system, x.code FROM idx_token x WHERE " + param_in(t, keys) +
                           " AND x.code <> '' LIMIT " + t.bind(static_cast<long long>(limit));
  std::string system, code;
  soci::statement st(sql);
  st.exchange(soci::into(system));
  st.exchange(soci::into(code));
  detail::bind_values(st, t);
  st.alloc();
  st.prepare(text);
  st.define_and_bind();
  st.execute(false);
  while (st.fetch()) out.push_back(meta_summary::coding{system, code});
  return out;
}

/// The distinct URIs of the uri rows of `keys`, at most `limit`.
std::vector<std::string> uris_in(soci::session& sql, const std::vector<long long>& keys, std::size_t limit) {
  std::vector<std::string> out;
  if (keys.empty() || limit == 0) return out;
  detail::sql_text t{"q", {}, {}};
  const std::string text = "SELECT DISTINCT x.uri FROM idx_uri x WHERE " + param_in(t, keys) + " LIMIT " +
                           t.bind(static_cast<long long>(limit));
  std::string uri;
  soci::statement st(sql);
  st.exchange(soci::into(uri));
  detail::bind_values(st, t);
  st.alloc();
  st.prepare(text);
  st.define_and_bind();
  st.execute(false);
  while (st.fetch()) out.push_back(uri);
  return out;
}

}  // namespace

hearth::result<meta_summary> resource_store::meta_in_use(const std::vector<std::string>& types) const {
  const fhir::definitions& defs = indexer_->definitions();
  std::set<std::string, std::less<>> wanted;
  for (const std::string& t : types) {
    if (!defs.is_resource_type(t)) return hearth::unexpected(make_error(error_codes::invalid, "not a resource type"));
    wanted.insert(t);
  }
  meta_summary out;
  if (wanted.empty()) return out;
  // Index rows exist for current, not deleted versions only (migrations.cpp,
  // version 2: a tombstone removes them): what the index holds is what is
  // in use.
  const auto profile_keys = keys_of(*indexer_, wanted, "_profile", fhir::search_param_type::uri);
  const auto security_keys = keys_of(*indexer_, wanted, "_security", fhir::search_param_type::token);
  const auto tag_keys = keys_of(*indexer_, wanted, "_tag", fhir::search_param_type::token);

  database::impl& impl = db_->internals();
  soci::session sql(impl.readers);  // leases a pooled connection
  try {
    // One more than allowed: is there too much?
    std::size_t room = max_meta_values + 1;
    out.profiles = uris_in(sql, profile_keys, room);
    room -= out.profiles.size();
    out.security = codings_in(sql, security_keys, room);
    room -= out.security.size();
    out.tags = codings_in(sql, tag_keys, room);
    room -= out.tags.size();
    if (room == 0) {
      return hearth::unexpected(make_error(error_codes::too_costly,
                                           "more than " + std::to_string(max_meta_values) +
                                               " distinct profiles, security labels and tags are in use: too many "
                                               "for one answer"));
    }
  } catch (const std::exception& e) {
    detail::reconnect_if_lost(sql);
    return hearth::unexpected(detail::database_error("meta in use", e));
  }
  // Bytewise on both engines (the index's text columns compare bytewise too).
  const auto by_coding = [](const meta_summary::coding& a, const meta_summary::coding& b) {
    return a.system != b.system ? a.system < b.system : a.code < b.code;
  };
  std::sort(out.profiles.begin(), out.profiles.end());
  std::sort(out.security.begin(), out.security.end(), by_coding);
  std::sort(out.tags.begin(), out.tags.end(), by_coding);
  return out;
}

}  // namespace hearth::store
