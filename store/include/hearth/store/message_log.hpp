#pragma once
// hearth::store::message_log — the HL7 v2 message log (DESIGN.md Storage
// `hl7_message`; DESIGN.md "Nothing acknowledged is lost").
//
// The life of a message (issue 7):
//   1. receive(): the raw bytes are recorded, status `received`, and
//      committed through the database's writer BEFORE any processing: a
//      message the process dies on is still there, and unfinished() hands it
//      back at the next start.
//   2. Processing writes the resources it produced (apply_transaction_bundle,
//      bundle_apply.hpp), the AuditEvent (audit_log::append) and
//      complete(tx, ...) — final status, the ACK, the resources — in ONE
//      transaction (resource_store::transaction).
//   3. Only after that commit is the ACK sent.
// Rejections and errors that write nothing else use complete(id, ...), a
// transaction of its own.
//
// Duplicates (HL7 v2.5.1 2.10.1 "the receiving system ... will not process
// the message twice"): a message whose sender (MSH-3, MSH-4) and control id
// (MSH-10) are those of a logged one is not recorded again; receive() says
// so and returns the earlier record, whose raw bytes (or raw_sha256) tell a
// resend of the same message (answer with the earlier ACK) from a reused
// control id (answer AR). A unique index enforces it, so concurrent receives
// of one key — two connections, or two processes sharing a PostgreSQL
// database — insert exactly one record.
//
// What is stored is what arrived; `error` holds Hearth's own words only
// (never message content: SECURITY.md "Logs carry no PHI"), and nothing here
// logs anything.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/store/database.hpp>
#include <hearth/store/resource_store.hpp>
#include <hearth/store/resource_version.hpp>

namespace hearth::store {

/// Where a logged message stands.
enum class message_status : std::uint8_t {
  received,   ///< recorded, not yet processed (or the process stopped meanwhile)
  processed,  ///< converted and committed; ACK AA (or AE for warnings the server chose to report)
  error,      ///< processing failed (mapping or store); ACK AE; nothing written
  rejected,   ///< refused before processing (unparsable, unsupported, reused control id); ACK AR
};

/// "received", "processed", "error", "rejected" (as stored in the status column).
std::string_view to_string(message_status s) noexcept;
/// The status a to_string() text names; nullopt for anything else.
std::optional<message_status> parse_message_status(std::string_view text) noexcept;

/// A message as it arrived, with the keys the server read from its MSH
/// segment. Plain value.
struct incoming_message {
  /// The message bytes exactly as received (inside the MLLP frame), in the
  /// sender's character set. At most message_log::max_raw_bytes.
  std::string raw;
  /// MSH-3 and MSH-4 as sent (decoded text, components joined as they were,
  /// e.g. "LAB^1.2.3^ISO"), MSH-10, and MSH-9.1 "^" MSH-9.2 ("ORU^R01").
  /// Empty when the message could not be parsed that far: such messages are
  /// logged too, and never count as duplicates of each other. Each valid
  /// UTF-8 without NUL, at most message_log::max_key_bytes.
  std::string sender_application, sender_facility, control_id, message_type;
};

/// One logged message. Plain value; copyable.
struct message_record {
  std::int64_t id = 0;  ///< increasing in the order of receipt (per database)
  std::string sender_application, sender_facility, control_id, message_type;
  instant received_at{};  ///< when receive() recorded it
  instant updated_at{};   ///< when it was last completed (== received_at until then)
  message_status status = message_status::received;
  /// The message bytes exactly as received; empty in list() pages (see
  /// message_page), where raw_sha256 stands for them.
  std::string raw;
  std::string raw_sha256;  ///< lower-case hex SHA-256 of raw
  std::string ack;         ///< the ACK bytes sent; empty until completed
  std::string error;       ///< Hearth's own error text; empty when none
  /// What processing wrote, "Type/id/_history/vid", in Bundle entry order.
  std::vector<std::string> resources;
};

/// What receive() did.
struct message_receipt {
  /// The record: the new one, or when duplicate the earlier one.
  std::int64_t id = 0;
  /// A record with the same sender and (non-empty) control id was there
  /// already: nothing was written.
  bool duplicate = false;
  /// When duplicate: the earlier record, raw included. Its ack is empty
  /// while that message is still being processed (status `received`).
  std::optional<message_record> earlier;
};

/// A listing of the log (list()): every filter set must hold.
struct message_query {
  // Every member has an initializer, so that designated initializers may
  // name only the filters they set ({.status = ..., .count = 20}).
  std::optional<message_status> status{};
  std::string message_type{};        ///< exact ("ORU^R01"); empty: any
  std::string sender_application{};  ///< exact; empty: any
  std::string sender_facility{};     ///< exact; empty: any
  std::optional<instant> received_from{};  ///< received_at >= this
  std::optional<instant> received_to{};    ///< received_at < this
  /// Records per page, at most max_count; 0 gives an empty page.
  std::size_t count = 50;
  /// message_page::next_cursor of the previous page; empty for the first.
  std::string cursor{};
  /// Most records one page holds: bounds the memory of one listing.
  static constexpr std::size_t max_count = 1000;
};

/// One page of a listing, newest first.
struct message_page {
  /// The records, WITHOUT their raw bytes (raw is empty; raw_sha256 is set):
  /// a page of large messages would otherwise cost their decompression and
  /// memory for a list that shows keys and statuses. get() reads one whole.
  std::vector<message_record> records;
  /// Opaque keyset cursor of the next page; empty on the last page.
  std::string next_cursor;
};

/// The message log over one database.
///
/// Thread-safety: every member may be called from any thread; the static
/// complete() only from inside a resource_store transaction function (the
/// writer thread, under resource_tx's rules). Lifetime: the database must
/// outlive it.
class message_log {
 public:
  explicit message_log(database& db);

  /// Durably records a message before processing: returns once committed
  /// (through the database's writer / group commit like every write). When a
  /// record with the same sender and a non-empty control id exists, nothing
  /// is written and the earlier record is returned (duplicate = true).
  /// Concurrent receives of the same key (two connections, two processes on
  /// PostgreSQL) yield exactly one insert: the unique index decides, and the
  /// loser reads the winner's record. Errors: "invalid" (a key field not
  /// UTF-8, holding NUL or too long), "too-costly" (raw above max_raw_bytes),
  /// "exception" (database).
  hearth::result<message_receipt> receive(const incoming_message& m);

  /// Inside the processing transaction: sets the final status, the ACK bytes,
  /// the error text and the resources produced (and updated_at). Commits or
  /// rolls back with everything else `tx` writes. Errors: "invalid" (status
  /// `received`, which is not final), "not-found" (no such record),
  /// "exception" (database: `tx` is then rolled back whatever the caller
  /// returns).
  static hearth::result<void> complete(resource_tx& tx, std::int64_t id, message_status status,
                                       std::string_view ack, std::string_view error,
                                       const std::vector<std::string>& resources);

  /// The same in a transaction of its own (rejections and errors, when
  /// nothing else is written); returns once committed.
  hearth::result<void> complete(std::int64_t id, message_status status, std::string_view ack,
                                std::string_view error, const std::vector<std::string>& resources = {});

  /// One record, raw included; nullopt when there is none. Errors:
  /// "exception" (database, or a stored message that cannot be decompressed).
  hearth::result<std::optional<message_record>> get(std::int64_t id) const;

  /// One page of the records matching `q`, newest first (keyset paging on
  /// the id: pages stay stable while messages arrive). Errors: "invalid" (a
  /// malformed cursor), "too-costly" (count above max_count), "exception".
  hearth::result<message_page> list(const message_query& q) const;

  /// The ids of records still `received` (the process stopped between
  /// receipt and completion), oldest first, at most `limit`: reprocess them
  /// at start-up. On PostgreSQL shared by several processes a record another
  /// process is processing right now is `received` too: call this before the
  /// listeners start, and make processing idempotent (conditional updates).
  hearth::result<std::vector<std::int64_t>> unfinished(std::size_t limit = 1000) const;

  /// The clock stamping received_at, and updated_at of the complete() of
  /// its own (the system clock by default; complete(tx, ...) uses the
  /// transaction's clock). Set before first use; tests place messages in time.
  void set_clock(std::function<instant()> clock);

  /// Largest message recorded: the stored frame is decompressed with the
  /// resource bodies' limit (64 MiB), far above any MLLP frame Hearth accepts.
  static constexpr std::size_t max_raw_bytes = 64u << 20;
  /// Longest key field (sender application and facility, control id, message
  /// type), in bytes: MSH-3/4 are HD (227 characters in v2.5.1), MSH-10 ST
  /// (199); 512 bytes of UTF-8 cover them and keep the unique index's rows
  /// far below PostgreSQL's B-tree limit (about 2.7 KB).
  static constexpr std::size_t max_key_bytes = 512;

 private:
  database* db_;
  std::function<instant()> clock_;
};

}  // namespace hearth::store
