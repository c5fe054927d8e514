#pragma once
// The search of a conditional write (R4 http.html#ccreate, #cond-update) run
// on the writer's connection inside its transaction (resource_tx::find_matches,
// resource_store::conditional_create), so that the search and the write it
// decides are one transaction: no other write can land between them.

#include <cstddef>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/store/resource_version.hpp>

#include "detail/search_sql.hpp"

namespace soci {
class session;
class statement;
}  // namespace soci

namespace hearth::store::detail {

/// Binds every value of `t` by name (:<prefix>0, ...) to `st`. The values
/// must stay put until the statement is done.
void bind_values(soci::statement& st, const sql_text& t);

/// The current versions of the resources matching `cs` (its WHERE only:
/// _sort is ignored), in resource_pk order, at most `limit`. Throws on
/// database errors; errors: a body that cannot be read ("exception").
hearth::result<std::vector<resource_version>> run_matches(soci::session& sql, bool postgresql,
                                                          const compiled_search& cs, std::size_t limit);

/// PostgreSQL only: takes the transaction-scoped advisory lock that
/// serialises the conditional writes of resources of `type` among the
/// processes sharing the database (held until commit or rollback). The key
/// is a stable 64-bit hash of the type: a collision only makes two types
/// wait for each other. Throws on database errors.
void lock_conditional_writes(soci::session& sql, std::string_view type);

}  // namespace hearth::store::detail
