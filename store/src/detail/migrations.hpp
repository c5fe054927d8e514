#pragma once
// Versioned schema migrations, one list per engine, recorded in the
// `schema_version` table (issue 4: "Schema created and migrated by versioned
// migrations; hearth refuses to start on a database newer than it knows").

#include <hearth/core/result.hpp>
#include <hearth/store/database.hpp>

namespace soci {
class session;
}

namespace hearth::store::detail {

/// The newest schema version this binary knows.
int latest_schema_version() noexcept;

/// Brings the database on `sql` to latest_schema_version(), applying every
/// pending migration in one transaction (all or nothing); several processes
/// opening one PostgreSQL database at once migrate it once (advisory lock).
/// Returns the version reached. Errors: "not-supported" when the database is
/// newer than this binary (nothing is changed), "exception" when a statement
/// fails. Throws nothing.
hearth::result<int> migrate(soci::session& sql, engine kind);

}  // namespace hearth::store::detail
