#pragma once
// The writer's statements on the resource and resource_history tables
// (detail/sql.hpp), prepared once per writer session. Writer thread only.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <hearth/store/database.hpp>

namespace soci {
class session;
}

namespace hearth::store::detail {

/// The current row of (type, id), as the writer sees it (locked on PostgreSQL).
struct current_row {
  long long pk = 0;
  long long version = 0;
  long long last_updated = 0;
  int deleted = 0;
  std::string hash;
};

/// What a new version writes: `hash` and `body` are null for a tombstone;
/// `body` is already in the column's form (body_codec.hpp).
struct version_row {
  std::string_view type, id;
  long long version = 0;
  long long last_updated = 0;
  const std::string* hash = nullptr;
  const std::string* body = nullptr;
};

/// Every write runs the same four or five statements; preparing each one
/// again (SOCI's `session << ...`) cost the writer thread more than running
/// it. Thread-safety: none; the writer thread owns it. Lifetime: within the
/// session it was built on; throw it away after a database error.
class version_writer {
 public:
  version_writer(soci::session& sql, engine kind);
  ~version_writer();
  version_writer(const version_writer&) = delete;
  version_writer& operator=(const version_writer&) = delete;

  /// The current row of (type, id), a tombstone included; nullopt when none.
  std::optional<current_row> find_current(std::string_view type, std::string_view id);
  /// Inserts the first row of (type, id) (never a tombstone); its key, or
  /// nullopt when another writer created (type, id) meanwhile.
  std::optional<long long> insert_resource(const version_row& row);
  /// Moves resource `pk` from version `previous` to `row`; false when it is
  /// no longer at `previous`.
  bool update_resource(long long pk, long long previous, const version_row& row);
  /// Closes version `previous` of resource `pk` at `at` (ms).
  void supersede(long long pk, long long previous, long long at);
  /// Appends `row` to the history of resource `pk`, made by `change_kind`.
  void insert_history(long long pk, const version_row& row, int change_kind);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::store::detail
