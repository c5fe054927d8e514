// The search of a conditional write, run inside the writer's transaction
// (detail/match_search.hpp).
#include "detail/match_search.hpp"

#include <soci/soci.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <variant>

#include "detail/body_codec.hpp"
#include "detail/param_key.hpp"

namespace hearth::store::detail {

void bind_values(soci::statement& st, const sql_text& t) {
  for (std::size_t i = 0; i < t.binds.size(); ++i) {
    const std::string name = t.prefix + std::to_string(i);
    std::visit([&](const auto& v) { st.exchange(soci::use(v, name)); }, t.binds[i]);
  }
}

hearth::result<std::vector<resource_version>> run_matches(soci::session& sql, bool postgresql,
                                                          const compiled_search& cs, std::size_t limit) {
  std::vector<resource_version> out;
  if (limit == 0) return out;
  // Constant text of this file and of the compiler (search_sql.hpp); every
  // value is bound.
  sql_text tail{"m", {}, {}};
  const std::string text =
      std::string("SELECT r.type, r.id, r.version_id, r.last_updated, ") +
      (postgresql ? "encode(r.body, 'hex')" : "r.body") + " FROM resource r WHERE " + cs.where.text +
      " ORDER BY r.resource_pk LIMIT " + tail.bind(static_cast<long long>(std::min<std::size_t>(limit, 1u << 20)));
  std::string type, id, body;
  long long version = 0, last_updated = 0;
  soci::indicator body_ind = soci::i_ok;
  soci::statement st(sql);
  st.exchange(soci::into(type));
  st.exchange(soci::into(id));
  st.exchange(soci::into(version));
  st.exchange(soci::into(last_updated));
  st.exchange(soci::into(body, body_ind));
  bind_values(st, cs.where);
  bind_values(st, tail);
  st.alloc();
  st.prepare(text);
  st.define_and_bind();
  // Run to the end (at most `limit` rows): the statement holds nothing open
  // afterwards, on the writer's connection.
  st.execute(false);
  while (st.fetch()) {
    resource_version v{type, id, version, instant(std::chrono::milliseconds(last_updated)), false,
                       version == 1 ? change::create : change::update, {}};
    if (body_ind == soci::i_ok) {
      auto json = body_from_column(postgresql, body);
      if (!json) return hearth::unexpected(std::move(json).error());
      v.json = std::move(*json);
    }
    out.push_back(std::move(v));
  }
  return out;
}

void lock_conditional_writes(soci::session& sql, std::string_view type) {
  // Processes sharing a PostgreSQL database each have their own writer:
  // without this lock two of them could both find no match and both create
  // (R4 http.html#ccreate). Transaction-scoped: released at commit or
  // rollback, after the create is visible to the other, whose search then
  // waits here and, READ COMMITTED taking a new snapshot per statement,
  // finds it. (Today the audit head lock, sql.cpp lock_order, serialises
  // writing transactions already; this lock keeps the guarantee local to
  // the search that needs it.)
  fnv1a h;
  h.field("hearth conditional write");
  h.field(type);
  const long long key = static_cast<long long>(h.value);
  int ignored = 0;
  sql << "SELECT 1 FROM (SELECT pg_advisory_xact_lock(:key)) AS locked", soci::into(ignored), soci::use(key, "key");
}

}  // namespace hearth::store::detail
