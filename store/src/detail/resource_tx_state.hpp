#pragma once
// resource_tx::state: what a resource_tx works on. Private to the store: the
// resource store writes through it, and the audit log (audit_log.cpp)
// appends the AuditEvent of a write in the same transaction
// (SECURITY.md "committed in the same transaction as the change it records").

#include <functional>
#include <optional>

#include <soci/soci.h>

#include <hearth/core/error.hpp>
#include <hearth/store/indexer.hpp>
#include <hearth/store/resource_store.hpp>
#include <hearth/store/resource_version.hpp>

#include "detail/database_impl.hpp"

namespace hearth::store {

/// The writer's session, inside the group transaction and the job's
/// savepoint. Writer thread only, for the duration of the job.
struct resource_tx::state {
  database::impl& db;
  soci::session& sql;
  const indexer& ix;
  const std::function<instant()>& clock;
  /// Set when a statement failed: on PostgreSQL the transaction is then
  /// unusable until rolled back, and on either engine a write may be half
  /// done, so the whole transaction is rolled back whatever fn returns.
  std::optional<hearth::error> poisoned;
};

}  // namespace hearth::store
