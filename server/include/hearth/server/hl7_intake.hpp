#pragma once
// hearth::server::hl7_intake — what happens to an HL7 v2 message between the
// MLLP listener (mllp_listener.hpp) and its acknowledgment (issue 7, DESIGN.md
// data flow and "Nothing acknowledged is lost").
//
// For each message:
//   1. parse (hl7v2::parse); unparsable input is logged as `rejected` and
//      answered AR (CR) with an ERR naming the fault;
//   2. the raw bytes go to the message log (store::message_log::receive),
//      committed before anything else happens;
//   3. a duplicate (same MSH-3, MSH-4 and MSH-10 as a logged message) changes
//      nothing: the same bytes get the earlier ACK again, other bytes get AR
//      with ERR 205 (duplicate key identifier);
//   4. checks of MSH-11 (processing id, table 0103: 202) and MSH-12 (a 2.x
//      version: 203), then mapping::convert (200/201 unsupported message type
//      or event: AR; content errors such as 101/102: AE);
//   5. ONE store transaction writes the resources
//      (store::apply_transaction_bundle), the AuditEvent (audit_trail::
//      record_in_tx) and the log entry's final status with the ACK and the
//      resources produced (message_log::complete);
//   6. only after that commit is the ACK returned for sending. A failed
//      commit is answered AE (207) and logged as `error`: the sender may send
//      the message again, and will be answered from the log once it is done.
//      A merge (ADT A40) whose prior patient (MRG-1) is not stored is
//      answered AE with ERR 204 (unknown key identifier) at that MRG-1, and
//      nothing is committed.
//
// Acknowledgment modes (HL7 v2.5.1 2.9): original mode answers AA/AE/AR;
// enhanced mode (MSH-15/16 valued) answers the accept acknowledgment CA/CE/CR
// as MSH-15 asks — sent, as the issue demands, only after the commit of step 5
// (the "commit" it acknowledges is then the whole result, not just receipt).
// The application acknowledgment of enhanced mode is an unsolicited message
// back to the sender's own listener, which Hearth does not open: a sender
// needing one must use original mode. NE conditions are obeyed (no reply).
//
// Batches (HL7 v2.5.1 2.10.3): a payload starting with FHS or BHS is split
// (hl7v2::split_batch) and each message processed as above, in order; the
// answer is a batch of the acknowledgments (option "all messages are
// acknowledged" of 2.10.3.3): BHS with BHS-12 = the original BHS-11, one ACK
// per message that calls for one, BTS-1 = their count; wrapped in FHS/FTS
// (FHS-12 = the original FHS-11, FTS-1 = 1) when the input had a file header.
// A batch whose envelope is broken (counts that do not match, BHS without
// BTS) is rejected whole: one ACK AR, nothing processed.
//
// Every message gets one AuditEvent (SECURITY.md "One AuditEvent ... per MLLP
// message"): DICOM 110107 Import, subtype the v2 message code and trigger
// event, the sender as source agent (MSH-3^MSH-4 and the network address),
// entities for the log entry, each resource written and each patient.
// Refusals are recorded asynchronously (they write nothing to be rolled back
// with).
//
// No PHI leaves through logs or errors: log ids, control ids, codes and
// counts only (the control id is the sender's message number).
//
// Thread-safety: handle() may be called concurrently from any number of
// threads (the listener's workers); messages of one connection arrive one at
// a time, in order. Lifetime: the store, log, trail, indexer and registry must
// outlive the intake.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/mapping/config.hpp>
#include <hearth/store/message_log.hpp>

namespace hearth::store {
class resource_store;
class indexer;
}  // namespace hearth::store

namespace hearth::server {

class validation_support;  // validation_support.hpp

class audit_trail;
class metrics_registry;

/// Who sent a payload, as the listener knows it (mllp_peer, without the
/// listener's types).
struct hl7_peer {
  std::string address;         ///< the peer's IP address
  std::string client_subject;  ///< verified client certificate subject (mTLS); empty otherwise
};

/// Settings of an hl7_intake. Plain value.
struct hl7_intake_options {
  /// Per-sender mapping settings (identifier systems, offsets, local codes).
  mapping::mapping_config mapping;
  /// MSH-11.1 values accepted (HL7 table 0103: D debugging, P production,
  /// T training), one character each; a message with another is rejected
  /// (AR, 202). Empty MSH-11 is rejected too: it is a required field.
  std::string processing_ids = "PDT";
  /// MSH-3 / MSH-4 of the ACKs Hearth sends (2.14.1: the ACK's sender is
  /// the original's receiver; empty fields take the original MSH-5/MSH-6).
  std::string application = "HEARTH";
  std::string facility;
  /// Most messages one batch payload may hold (each is processed and
  /// acknowledged in one reply: bounds the work and the reply of one frame).
  std::size_t max_batch_messages = 10000;
  /// How long a resend waits for the first copy of the same message while
  /// that copy is still being processed by this process.
  std::chrono::seconds duplicate_wait{30};
  /// The terminology registry whose R4 ConceptMaps add mapped codings
  /// (mapping::convert_options), built on first use; null: none. Must
  /// outlive the intake.
  const validation_support* terminology = nullptr;
};

/// Counts since start, for tests and /metrics.
struct hl7_intake_stats {
  std::uint64_t received = 0;    ///< messages logged (duplicates not counted)
  std::uint64_t processed = 0;   ///< committed with their resources (AA/CA)
  std::uint64_t errored = 0;     ///< answered AE/CE
  std::uint64_t rejected = 0;    ///< answered AR/CR
  std::uint64_t duplicates = 0;  ///< resends answered from the log
};

/// The HL7 v2 message path from bytes to committed resources and an ACK.
class hl7_intake {
 public:
  /// `metrics`, when given, gets hearth_hl7_messages_total{type,sender,
  /// status} and hearth_hl7_processing_seconds{type}.
  hl7_intake(store::resource_store& rs, store::message_log& log, audit_trail& trail, const store::indexer& ix,
             hl7_intake_options opts, metrics_registry* metrics = nullptr);
  ~hl7_intake();
  hl7_intake(const hl7_intake&) = delete;
  hl7_intake& operator=(const hl7_intake&) = delete;

  /// One payload (a message, or a batch: see the top of this file) to the
  /// bytes to answer: an ACK, a batch of ACKs, or empty for none. Blocks
  /// until the work it acknowledges is committed. Never throws.
  std::string handle(const hl7_peer& peer, std::string payload);

  /// Processes the messages the log still holds as `received` (the process
  /// stopped between receipt and completion; none of them was
  /// acknowledged). Their ACKs are stored, for the sender's resend to be
  /// answered with. Call before the listener opens. Returns how many.
  hearth::result<std::size_t> recover();

  /// Runs a logged message in `error` again (after a fix of the mapping
  /// configuration, or of a resource that blocked it), as if it had just
  /// arrived, and returns its record as it is afterwards. Errors:
  /// "not-found", "conflict" (the message is not in `error`), "exception".
  hearth::result<store::message_record> reprocess(std::int64_t id);

  hl7_intake_stats stats() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::server
