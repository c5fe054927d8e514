#pragma once
// The writer's statements on the audit tables (migrations.cpp, version 4),
// prepared once per writer session, and the one function that appends
// AuditEvents to the hash chain. Writer thread only.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <string>
#include <vector>

#include <hearth/store/database.hpp>

namespace soci {
class session;
}

namespace hearth::store::detail {

/// One row of audit_event_ref: kind (audit_ref_kind), the resource type or
/// identifier system, the id or identifier value.
struct audit_ref {
  int kind = 0;
  std::string type;
  std::string id;
  friend auto operator<=>(const audit_ref&, const audit_ref&) = default;
};

/// An AuditEvent ready to be chained: its text as it will be stored and
/// hashed (id and meta set), and the search keys derived from it
/// (audit_keys_of). Made off the writer thread where possible.
struct prepared_audit_event {
  std::string id;
  std::string json;
  long long recorded = 0;      ///< ms since the epoch
  long long last_updated = 0;  ///< ms since the epoch (meta.lastUpdated)
  std::string type_system, type_code, subtype_system, subtype_code, action, outcome;
  std::vector<audit_ref> refs;  ///< sorted, without duplicates
};

/// The chain head: the last sequence number and its hash (hex); 0 and 64
/// zeros for an empty chain.
struct audit_chain_head {
  long long seq = 0;
  std::string hash;
};

/// Thread-safety: none; the writer thread owns it. Lifetime: within the
/// session it was built on; thrown away after a database error
/// (drop_writer_statements). Methods throw on database errors.
class audit_writer {
 public:
  audit_writer(soci::session& sql, engine kind);
  ~audit_writer();
  audit_writer(const audit_writer&) = delete;
  audit_writer& operator=(const audit_writer&) = delete;

  /// Reads the head; on PostgreSQL locks its row until the transaction ends.
  audit_chain_head read_head();
  /// Inserts `events` as sequences first_seq, first_seq + 1, ..., with their
  /// links (`hashes[i]` the hash of events[i]; the first one's prev_hash is
  /// `prev_hash`) and their audit_event_ref rows. SQLite: one prepared
  /// statement per row (no round trips to save). PostgreSQL: multi-row
  /// INSERTs, since every statement is a round trip to the server (measured:
  /// ~330 µs an event row by row, a few rows of six statements each).
  void insert_events(std::span<const prepared_audit_event> events, long long first_seq,
                     const std::string& prev_hash, const std::vector<std::string>& hashes);
  void write_head(const audit_chain_head& h);

 private:
  void insert_event(const prepared_audit_event& e, long long seq, const std::string& prev_hash,
                    const std::string& hash);
  void insert_ref(const audit_ref& r, long long seq);

  struct impl;
  std::unique_ptr<impl> impl_;
  soci::session* sql_;
  bool bulk_;  ///< PostgreSQL: multi-row INSERTs
};

/// Lower-case hex of SHA-256(prev || json), `prev_hex` the previous hash in
/// lower-case hex (the chain's link rule, audit_log.hpp); nullopt when
/// `prev_hex` is not 64 such digits (or OpenSSL fails). Thread-safe.
std::optional<std::string> audit_link_hash(std::string_view prev_hex, std::string_view json);

}  // namespace hearth::store::detail
