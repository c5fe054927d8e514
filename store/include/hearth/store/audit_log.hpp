#pragma once
// hearth::store::audit_log — the AuditEvent trail: FHIR R4 AuditEvents in a
// dedicated, append-only, hash-chained table (DESIGN.md Storage
// `audit_event`; SECURITY.md "Audit"), kept out of the general resource
// tables so that recording one event costs a few row inserts, not a run of
// the search indexer.
//
// The chain (SECURITY.md: "Each row carries the SHA-256 of the previous row
// and its own canonical content"):
//   hash(n) = SHA-256( hash(n-1) || json(n) ),  hash(0) = 32 zero bytes,
// over the raw 32-byte digests, where json(n) is the event's text exactly as
// stored and served (Hearth's JSON writer is deterministic: the text is
// written once, at the append, and never re-serialised). Events are numbered
// 1, 2, ... in chain order by the append (the `sequence`), without gaps.
// verify_chain() walks the chain in that order and names the first broken
// link: an event edited, deleted, inserted or moved.
//
// Appends serialise on the chain head (table audit_head): on SQLite the one
// writer and the database lock do it; on PostgreSQL the head row is locked
// (SELECT ... FOR UPDATE) until the appending transaction ends, so processes
// sharing the database append one after another and the chain stays linear.
//
// Search keys (recorded, type, subtype, action, outcome; the references and
// identifiers of audit_query.hpp) are derived from the event's JSON by the
// append, never given separately, and verify_chain() checks the stored keys
// against the JSON: an event cannot be hidden from searches by editing its
// keys without the verification noticing.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/store/audit_query.hpp>
#include <hearth/store/database.hpp>
#include <hearth/store/resource_store.hpp>
#include <hearth/store/resource_version.hpp>

namespace hearth::store {

/// Where an event went in the chain.
struct audit_appended {
  std::int64_t sequence = 0;  ///< 1, 2, ... (chain order)
  std::string id;             ///< AuditEvent.id: a random (version 4) UUID
};

/// One stored AuditEvent. Plain value; copyable.
struct audit_event_row {
  std::int64_t sequence = 0;
  std::string id;
  instant recorded{};      ///< AuditEvent.recorded
  instant last_updated{};  ///< meta.lastUpdated: when it was appended
  /// The AuditEvent as stored, hashed and served: id and meta (versionId
  /// "1", lastUpdated) included.
  std::string json;
};

/// One page of an audit search.
struct audit_page {
  std::vector<audit_event_row> events;
  /// Set when the query asked for it, or when this first page holds every
  /// match (known without counting).
  std::optional<std::int64_t> total;
  /// Opaque keyset cursor of the next page (audit_query::cursor); empty on
  /// the last page. It fits only a query of the same order.
  std::string next_cursor;
};

/// What kind of damage a broken link shows (verify_chain).
enum class chain_break : std::uint8_t {
  none,       ///< the chain is whole
  /// An event's stored hash is not SHA-256(prev_hash || json), or its stored
  /// search keys do not match its JSON, or the head's hash is not the last
  /// event's: its content (or the hashes themselves) changed.
  edited,
  /// A sequence number is missing, or an event's prev_hash names an event
  /// that is nowhere in the chain, or events after the last one the head
  /// knows of are gone: events were removed.
  deleted,
  /// Events the chain does not link: an event whose successor links to the
  /// event before it, or events past the head.
  inserted,
  /// An event's prev_hash is the hash of an event that comes later in
  /// sequence order: events were moved (their sequence numbers swapped).
  reordered,
};

/// "ok", "edited", "deleted", "inserted", "reordered".
std::string_view to_string(chain_break b) noexcept;

/// The result of verify_chain.
struct chain_report {
  /// Events read and checked before the first broken link (all of them
  /// when the chain is whole).
  std::uint64_t checked = 0;
  /// The head's sequence when the walk began: the events expected.
  std::int64_t head_sequence = 0;
  chain_break broken = chain_break::none;
  /// Where the first broken link is: the sequence number of the first
  /// event (or missing event) found wrong; 0 when whole.
  std::int64_t sequence = 0;

  bool ok() const noexcept { return broken == chain_break::none; }
};

struct verify_options {
  /// Rows read per query: bounds memory (a batch of events, JSON included)
  /// while keeping round trips few. 500 rows of ~1-2 KiB.
  std::size_t batch_rows = 500;
  /// After a link that names an unknown predecessor, how many further events
  /// are searched for it (to tell "reordered" from "deleted"): bounds the
  /// work spent on an already broken chain. Hashes only are compared.
  std::size_t lookahead = 100000;
  /// Called after each batch with the events checked so far (progress
  /// output); may be empty.
  std::function<void(std::uint64_t)> progress;
};

/// The chain's link rule, for tools that check a trail themselves: the
/// lower-case hex of SHA-256(prev || json), where prev is the 32 bytes
/// `prev_hex` (64 lower-case hex digits) denotes. nullopt when `prev_hex` is
/// not such a hash.
std::optional<std::string> audit_chain_hash(std::string_view prev_hex, std::string_view json);

/// The prev_hash of the first event: 32 zero bytes, in hex.
inline constexpr std::string_view audit_chain_start =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// Walks the whole chain in sequence order, in batches on a reader
/// connection (bounded memory whatever the length), re-hashing each event's
/// stored JSON and checking its link, its sequence number and its search
/// keys; then checks the head. Appends may run meanwhile: the walk checks
/// what was committed when each batch was read, and the head read at the end.
/// Errors: "exception" (database).
hearth::result<chain_report> verify_chain(database& db, const verify_options& opts = {});

/// The trail over one database.
///
/// Thread-safety: every member may be called from any thread, except
/// set_clock (before first use). Lifetime: the database must outlive it.
class audit_log {
 public:
  explicit audit_log(database& db);

  /// Appends `event` (an AuditEvent as JSON; its id and meta.versionId /
  /// meta.lastUpdated are set here, any given are replaced) inside `tx`'s
  /// transaction, so that it commits with the change it records or not at
  /// all (SECURITY.md "The audit row is committed in the same transaction as
  /// the change it records"; use it from a write_hook). meta.lastUpdated
  /// comes from the transaction's clock. Errors: "invalid" (not an object
  /// with resourceType AuditEvent, a `recorded` instant and a `type` Coding,
  /// or above max_event_bytes), "exception" (database: the transaction is
  /// then rolled back whatever the caller returns).
  static hearth::result<audit_appended> append(resource_tx& tx, fhir::json_value event);

  /// Appends `events`, in order, in one transaction through the database's
  /// writer (group commit), and answers once it has committed: the
  /// events that record no change (reads, searches, refusals). The JSON is
  /// written and its keys derived on the calling thread; the writer thread
  /// only chains and inserts. All or nothing: an "invalid" event fails the
  /// call before anything is written. Errors: "invalid", "exception".
  hearth::result<std::vector<audit_appended>> append_batch(std::vector<fhir::json_value> events);

  /// One event by id. Errors: "not-found", "invalid" (not an R4 id),
  /// "exception".
  hearth::result<audit_event_row> read(std::string_view id) const;

  /// One page of a search (audit_query.hpp). Errors: "invalid" (a cursor of
  /// another order, or malformed), "exception".
  hearth::result<audit_page> search(const audit_query& query) const;

  /// verify_chain over this log's database.
  hearth::result<chain_report> verify(const verify_options& opts = {}) const;

  /// The clock stamping meta.lastUpdated of append_batch (the system clock by
  /// default). Set before the first append.
  void set_clock(std::function<instant()> clock);

  /// Most bytes of one event's JSON: its raw query (base64) is bounded by
  /// the request head (8 KiB by default), the rest is a few hundred bytes;
  /// 256 KiB refuses what no request can produce, not what one can.
  static constexpr std::size_t max_event_bytes = 256 * 1024;

 private:
  database* db_;
  std::function<instant()> clock_;
};

}  // namespace hearth::store
