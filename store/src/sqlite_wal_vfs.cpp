// The WAL write-coalescing VFS (sqlite_wal_vfs.hpp).
//
// Why: SQLite writes a WAL commit frame by frame, two write calls per page
// (its 24-byte frame header, then the page), each one a system call. An HL7
// v2 message or a FHIR create dirties tens to hundreds of pages, so the
// writer thread spent much of its time entering the kernel (bench/RESULTS.md,
// MLLP). This VFS keeps a WAL file's consecutive writes in memory and hands
// them to the platform VFS as one write when anything else happens to the
// file: a sync (every commit: Hearth runs synchronous=FULL), a read, a size
// query or truncation, a file control, a lock change, a write elsewhere, the
// close, or once 1 MiB is pending (written in 64 KiB calls).
//
// Why it is safe (SQLite's WAL, https://www.sqlite.org/walformat.html and
// wal.c sqlite3WalFrames): a commit's frames become visible to other
// connections only when the wal-index header is rewritten, and with
// synchronous=FULL that happens after the commit's xSync on the WAL file, by
// which point this VFS has written everything. Frames a connection reads back
// before that are read through its own file handle, whose xRead writes the
// pending bytes first. Nothing that SQLite considers durable is held back:
// durability begins at xSync, which writes then syncs. Other files (the
// database, journals) pass straight through. Hearth opens every SQLite
// connection with synchronous=FULL (database.cpp); with NORMAL the index
// could name frames still pending here, so do not lower it without revisiting
// this file.
#include "detail/sqlite_wal_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

namespace hearth::store::detail {
namespace {

/// Pending bytes past which the run is written at once.
constexpr std::size_t max_pending = std::size_t{1} << 20;

sqlite3_vfs* real_vfs = nullptr;  // the platform default, set once before registration

/// Our file: SQLite allocates szOsFile bytes for it; the platform's file
/// lives in the same allocation, right after this struct (aligned).
struct coalescing_file {
  sqlite3_file base;     // first: SQLite reads pMethods from here
  sqlite3_file* real;    // the platform VFS's file
  bool wal;              // a WAL file: its writes are coalesced
  std::string* pending;  // bytes written but not yet handed on (WAL only)
  sqlite3_int64 pending_offset;
};

constexpr std::size_t real_offset = (sizeof(coalescing_file) + 15) & ~std::size_t{15};

coalescing_file* self(sqlite3_file* f) { return reinterpret_cast<coalescing_file*>(f); }
const sqlite3_io_methods* real_methods(coalescing_file* f) { return f->real->pMethods; }

/// Most bytes handed to the platform VFS in one write: SQLite's unix VFS
/// writes at most 128 KiB - 1 per call (os_unix.c seekAndWriteFd masks the
/// size to 17 bits) and reports a larger one as a full disk.
constexpr std::size_t max_write = std::size_t{64} << 10;

/// Hands the pending run to the platform VFS in writes of max_write bytes.
int flush(coalescing_file* f) {
  if (f->pending == nullptr || f->pending->empty()) return SQLITE_OK;
  const std::string& p = *f->pending;
  int rc = SQLITE_OK;
  for (std::size_t at = 0; at < p.size() && rc == SQLITE_OK; at += max_write) {
    const std::size_t n = std::min(max_write, p.size() - at);
    rc = real_methods(f)->xWrite(f->real, p.data() + at, static_cast<int>(n),
                                 f->pending_offset + static_cast<sqlite3_int64>(at));
  }
  f->pending->clear();
  return rc;
}

int x_close(sqlite3_file* file) {
  coalescing_file* f = self(file);
  const int flushed = flush(f);
  const int rc = real_methods(f)->xClose(f->real);
  delete f->pending;
  f->pending = nullptr;
  return flushed != SQLITE_OK ? flushed : rc;
}

int x_read(sqlite3_file* file, void* buf, int amt, sqlite3_int64 offset) {
  coalescing_file* f = self(file);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xRead(f->real, buf, amt, offset);
}

int x_write(sqlite3_file* file, const void* buf, int amt, sqlite3_int64 offset) {
  coalescing_file* f = self(file);
  if (!f->wal || amt <= 0) return real_methods(f)->xWrite(f->real, buf, amt, offset);
  std::string& p = *f->pending;
  const bool follows = !p.empty() && offset == f->pending_offset + static_cast<sqlite3_int64>(p.size());
  if (!follows || p.size() + static_cast<std::size_t>(amt) > max_pending) {
    if (const int rc = flush(f); rc != SQLITE_OK) return rc;
    f->pending_offset = offset;
  }
  try {
    p.append(static_cast<const char*>(buf), static_cast<std::size_t>(amt));
  } catch (const std::bad_alloc&) {
    // No memory to hold it: write it through instead.
    if (const int rc = flush(f); rc != SQLITE_OK) return rc;
    return real_methods(f)->xWrite(f->real, buf, amt, offset);
  }
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  coalescing_file* f = self(file);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xTruncate(f->real, size);
}

int x_sync(sqlite3_file* file, int flags) {
  coalescing_file* f = self(file);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xSync(f->real, flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  coalescing_file* f = self(file);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFileSize(f->real, size);
}

int x_lock(sqlite3_file* file, int lock) {
  coalescing_file* f = self(file);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xLock(f->real, lock);
}

int x_unlock(sqlite3_file* file, int lock) {
  coalescing_file* f = self(file);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xUnlock(f->real, lock);
}

int x_check_reserved_lock(sqlite3_file* file, int* out) {
  coalescing_file* f = self(file);
  return real_methods(f)->xCheckReservedLock(f->real, out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  coalescing_file* f = self(file);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFileControl(f->real, op, arg);
}

int x_sector_size(sqlite3_file* file) {
  coalescing_file* f = self(file);
  return real_methods(f)->xSectorSize(f->real);
}

int x_device_characteristics(sqlite3_file* file) {
  coalescing_file* f = self(file);
  return real_methods(f)->xDeviceCharacteristics(f->real);
}

// Version 2 and 3 methods: shared memory (called on the database file's
// handle, never the WAL's) and memory-mapped reads.
int x_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  coalescing_file* f = self(file);
  if (real_methods(f)->iVersion < 2 || real_methods(f)->xShmMap == nullptr) return SQLITE_IOERR_SHMMAP;
  return real_methods(f)->xShmMap(f->real, region, size, extend, out);
}

int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  coalescing_file* f = self(file);
  if (real_methods(f)->iVersion < 2 || real_methods(f)->xShmLock == nullptr) return SQLITE_IOERR_SHMLOCK;
  return real_methods(f)->xShmLock(f->real, offset, n, flags);
}

void x_shm_barrier(sqlite3_file* file) {
  coalescing_file* f = self(file);
  if (real_methods(f)->iVersion >= 2 && real_methods(f)->xShmBarrier != nullptr) real_methods(f)->xShmBarrier(f->real);
}

int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  coalescing_file* f = self(file);
  if (real_methods(f)->iVersion < 2 || real_methods(f)->xShmUnmap == nullptr) return SQLITE_OK;
  return real_methods(f)->xShmUnmap(f->real, delete_flag);
}

int x_fetch(sqlite3_file* file, sqlite3_int64 offset, int amt, void** out) {
  coalescing_file* f = self(file);
  *out = nullptr;
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  if (real_methods(f)->iVersion < 3 || real_methods(f)->xFetch == nullptr) return SQLITE_OK;  // no mapping: SQLite reads
  return real_methods(f)->xFetch(f->real, offset, amt, out);
}

int x_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* p) {
  coalescing_file* f = self(file);
  if (real_methods(f)->iVersion < 3 || real_methods(f)->xUnfetch == nullptr) return SQLITE_OK;
  return real_methods(f)->xUnfetch(f->real, offset, p);
}

const sqlite3_io_methods io_methods = {
    3,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    x_fetch,
    x_unfetch,
};

int v_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  coalescing_file* f = self(file);
  std::memset(file, 0, real_offset + static_cast<std::size_t>(real_vfs->szOsFile));
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + real_offset);
  const int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    // SQLite calls xClose only when pMethods is set: close what the platform
    // VFS may have left open (it sets pMethods only on success, as ours).
    if (f->real->pMethods != nullptr) f->real->pMethods->xClose(f->real);
    f->base.pMethods = nullptr;
    return rc;
  }
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  if (f->wal) {
    f->pending = new (std::nothrow) std::string();
    if (f->pending == nullptr) f->wal = false;  // no memory: write through
  }
  f->base.pMethods = &io_methods;
  return SQLITE_OK;
}

int v_delete(sqlite3_vfs*, const char* name, int sync_dir) { return real_vfs->xDelete(real_vfs, name, sync_dir); }
int v_access(sqlite3_vfs*, const char* name, int flags, int* out) { return real_vfs->xAccess(real_vfs, name, flags, out); }
int v_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return real_vfs->xFullPathname(real_vfs, name, n, out);
}
void* v_dl_open(sqlite3_vfs*, const char* name) { return real_vfs->xDlOpen(real_vfs, name); }
void v_dl_error(sqlite3_vfs*, int n, char* out) { real_vfs->xDlError(real_vfs, n, out); }
void (*v_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) { return real_vfs->xDlSym(real_vfs, h, sym); }
void v_dl_close(sqlite3_vfs*, void* h) { real_vfs->xDlClose(real_vfs, h); }
int v_randomness(sqlite3_vfs*, int n, char* out) { return real_vfs->xRandomness(real_vfs, n, out); }
int v_sleep(sqlite3_vfs*, int us) { return real_vfs->xSleep(real_vfs, us); }
int v_current_time(sqlite3_vfs*, double* out) { return real_vfs->xCurrentTime(real_vfs, out); }
int v_get_last_error(sqlite3_vfs*, int n, char* out) {
  return real_vfs->xGetLastError != nullptr ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}
int v_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  if (real_vfs->iVersion >= 2 && real_vfs->xCurrentTimeInt64 != nullptr) {
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
  }
  double d = 0;
  const int rc = real_vfs->xCurrentTime(real_vfs, &d);
  *out = static_cast<sqlite3_int64>(d * 86400000.0);
  return rc;
}
int v_set_system_call(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr p) {
  return real_vfs->iVersion >= 3 ? real_vfs->xSetSystemCall(real_vfs, name, p) : SQLITE_NOTFOUND;
}
sqlite3_syscall_ptr v_get_system_call(sqlite3_vfs*, const char* name) {
  return real_vfs->iVersion >= 3 ? real_vfs->xGetSystemCall(real_vfs, name) : nullptr;
}
const char* v_next_system_call(sqlite3_vfs*, const char* name) {
  return real_vfs->iVersion >= 3 ? real_vfs->xNextSystemCall(real_vfs, name) : nullptr;
}

sqlite3_vfs vfs{};
bool registered = false;

}  // namespace

bool install_sqlite_wal_vfs() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sqlite3_initialize() != SQLITE_OK) return;
    real_vfs = sqlite3_vfs_find(nullptr);
    if (real_vfs == nullptr || std::strcmp(real_vfs->zName, sqlite_wal_vfs_name) == 0) return;
    vfs.iVersion = 3;
    vfs.szOsFile = static_cast<int>(real_offset) + real_vfs->szOsFile;
    vfs.mxPathname = real_vfs->mxPathname;
    vfs.zName = sqlite_wal_vfs_name;
    vfs.pAppData = nullptr;
    vfs.xOpen = v_open;
    vfs.xDelete = v_delete;
    vfs.xAccess = v_access;
    vfs.xFullPathname = v_full_pathname;
    vfs.xDlOpen = v_dl_open;
    vfs.xDlError = v_dl_error;
    vfs.xDlSym = v_dl_sym;
    vfs.xDlClose = v_dl_close;
    vfs.xRandomness = v_randomness;
    vfs.xSleep = v_sleep;
    vfs.xCurrentTime = v_current_time;
    vfs.xGetLastError = v_get_last_error;
    vfs.xCurrentTimeInt64 = v_current_time_int64;
    vfs.xSetSystemCall = v_set_system_call;
    vfs.xGetSystemCall = v_get_system_call;
    vfs.xNextSystemCall = v_next_system_call;
    registered = sqlite3_vfs_register(&vfs, 1) == SQLITE_OK;
  });
  return registered;
}

}  // namespace hearth::store::detail
