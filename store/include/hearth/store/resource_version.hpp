#pragma once
// hearth::store::resource_version — one stored version of one resource.

#include <chrono>
#include <cstdint>
#include <string>

namespace hearth::store {

/// A point in time with millisecond precision, UTC: what meta.lastUpdated holds.
using instant = std::chrono::sys_time<std::chrono::milliseconds>;

/// `instant` as an R4 instant (datatypes.html#instant) with milliseconds and
/// `Z`: "2024-03-01T12:00:00.250Z". Years outside 0001-9999 are clamped.
std::string format_instant(instant t);

/// What made a version (R4 Bundle.entry.request.method in a history Bundle).
enum class change : std::uint8_t {
  create = 1,  ///< POST, or PUT that created the resource (update-as-create)
  update = 2,  ///< PUT on an existing (or deleted) resource
  remove = 3,  ///< DELETE: the version is a tombstone
};

/// One version as stored. Plain value; copyable.
struct resource_version {
  std::string type;            ///< resource type ("Patient")
  std::string id;              ///< logical id
  std::int64_t version_id = 0; ///< meta.versionId: 1, 2, ...; 0 means "no such resource"
  instant last_updated{};      ///< meta.lastUpdated
  bool deleted = false;        ///< a tombstone written by delete: no body
  change made_by = change::create;
  /// The resource as stored: JSON text with meta.versionId and
  /// meta.lastUpdated set, returned as is (DESIGN.md "returned without
  /// re-serialising"). Empty for a tombstone.
  std::string json;
};

}  // namespace hearth::store
