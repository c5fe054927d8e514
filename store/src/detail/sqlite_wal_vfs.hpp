#pragma once
// A thin SQLite VFS over the platform's default one that turns the many small
// writes of a WAL commit into few large ones (sqlite_wal_vfs.cpp).

namespace hearth::store::detail {

/// Registers the VFS as SQLite's default, once per process (thread-safe,
/// idempotent): every SQLite connection opened afterwards uses it. Returns
/// false when it could not be registered (the platform's VFS stays the
/// default and SQLite works as before).
bool install_sqlite_wal_vfs() noexcept;

/// The registered VFS's name, "hearth-wal".
inline constexpr const char* sqlite_wal_vfs_name = "hearth-wal";

}  // namespace hearth::store::detail
