#pragma once
// database::impl: the connections and the writer behind a database.

#include <soci/soci.h>

#include <cstdint>
#include <memory>

#include <hearth/store/database.hpp>

#include "detail/group_writer.hpp"
#include "detail/index_writer.hpp"

namespace hearth::store {

/// Members are declared in the order they must be built; they are destroyed
/// in reverse: the writer (drained, joined) before the session it writes on.
struct database::impl {
  explicit impl(const database_config& c) : config(c), readers(c.pool_size) {}

  database_config config;
  int schema_version = 0;
  /// Reads: pool_size sessions, leased per read (soci::session(pool)).
  soci::connection_pool readers;
  /// The writer's own session; used by the writer thread only once it runs.
  soci::session writer_session;
  std::unique_ptr<detail::group_writer> writer;
  /// The last meta.lastUpdated stamped, in ms: lastUpdated never goes
  /// backwards, even when the clock does. Writer thread only.
  long long last_stamp_ms = 0;
  /// The index writer's prepared statements on writer_session; built on
  /// first use, dropped after a database error. Writer thread only.
  std::unique_ptr<detail::index_writer> index_writer;
  std::uint64_t index_writer_generation = 0;  ///< writer->session_generation() it was built at
};

}  // namespace hearth::store
