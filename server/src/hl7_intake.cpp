// The HL7 v2 message path (hl7_intake.hpp): parse, log, convert, commit,
// acknowledge. The rules and their sources are at the top of the header.
#include <hearth/server/hl7_intake.hpp>

#include <hearth/server/validation_support.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include <hearth/hl7v2/ack.hpp>
#include <hearth/hl7v2/batch.hpp>
#include <hearth/hl7v2/error.hpp>
#include <hearth/hl7v2/parser.hpp>
#include <hearth/mapping/convert.hpp>
#include <hearth/server/audit.hpp>
#include <hearth/server/metrics.hpp>
#include <hearth/store/bundle_apply.hpp>
#include <hearth/store/error_codes.hpp>
#include <hearth/store/resource_store.hpp>

#include "hl7_time.hpp"

namespace hearth::server {

namespace {

using hl7v2::ack_issue;
using hl7v2::error_code;
using hl7v2::outcome;

/// The message's keys, decoded, as the log records them.
struct message_keys {
  std::string application;  ///< MSH-3 whole ("LAB^1.2.3^ISO")
  std::string facility;     ///< MSH-4 whole
  std::string control_id;   ///< MSH-10
  std::string type;         ///< MSH-9.1 "^" MSH-9.2, or MSH-9.1 alone
};

message_keys keys_of(const hl7v2::message& m) {
  message_keys k;
  k.application = m.text("MSH-3");
  k.facility = m.text("MSH-4");
  k.control_id = m.control_id();
  k.type = m.message_code();
  if (const std::string event = m.trigger_event(); !event.empty()) k.type += "^" + event;
  return k;
}

/// The first key field above the log's limit (message_log::max_key_bytes),
/// as its position; nullopt when all fit.
std::optional<hl7v2::position> oversized_key(const message_keys& k) {
  const std::pair<const std::string*, std::size_t> fields[] = {
      {&k.application, 3}, {&k.facility, 4}, {&k.type, 9}, {&k.control_id, 10}};
  for (const auto& [value, field] : fields) {
    if (value->size() > store::message_log::max_key_bytes) {
      hl7v2::position p;
      p.segment_index = 1;
      p.segment_id = "MSH";
      p.field = field;
      return p;
    }
  }
  return std::nullopt;
}

hl7v2::position msh_field(std::size_t field) {
  hl7v2::position p;
  p.segment_index = 1;
  p.segment_id = "MSH";
  p.field = field;
  return p;
}

/// The input after a UTF-8 byte order mark and blank lines, as the parser
/// skips them.
std::string_view content_start(std::string_view s) {
  if (s.starts_with("\xEF\xBB\xBF")) s.remove_prefix(3);
  while (!s.empty() && (s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  return s;
}

bool is_batch(std::string_view payload) {
  const std::string_view s = content_start(payload);
  return s.starts_with("FHS") || s.starts_with("BHS");
}

/// When `e` is the store's "not-found" for a Patient/$merge entry of
/// `bundle` (bundle_apply.hpp: error::location "Bundle.entry[<i>]"), the
/// position of the MRG-1 that entry came from: the merges are in the order
/// of the MRG segments (mapping/src/merge.cpp). nullopt for any other error.
std::optional<hl7v2::position> unknown_merge_source(const hl7v2::message& msg, const fhir::json_value& bundle,
                                                    const hearth::error& e) {
  constexpr std::string_view prefix = "Bundle.entry[";
  if (e.code != store::error_codes::not_found || !e.location.starts_with(prefix) || !e.location.ends_with("]")) {
    return std::nullopt;
  }
  const std::string_view digits =
      std::string_view(e.location).substr(prefix.size(), e.location.size() - prefix.size() - 1);
  std::size_t index = 0;
  const auto parsed = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (digits.empty() || parsed.ec != std::errc() || parsed.ptr != digits.data() + digits.size()) return std::nullopt;
  const fhir::json_value* entries = bundle.find("entry");
  if (entries == nullptr || !entries->is_array() || index >= entries->size()) return std::nullopt;
  const auto is_merge = [](const fhir::json_value& entry) {
    const fhir::json_value* request = entry.find("request");
    const fhir::json_value* url = request != nullptr ? request->find("url") : nullptr;
    return url != nullptr && url->is_string() && url->str() == "Patient/$merge";
  };
  if (!is_merge(entries->items()[index])) return std::nullopt;
  std::size_t ordinal = 1;
  for (std::size_t i = 0; i < index; ++i) ordinal += is_merge(entries->items()[i]) ? 1 : 0;
  hl7v2::position p;
  if (const auto mrg = msg.find("MRG", ordinal)) {
    p.segment_index = mrg->index();
    p.segment_id = "MRG";
    p.field = 1;
  }
  return p;
}

/// The MSA-1 code of an ACK ("AA", "CE", ...), for the audit event; empty
/// when there is no ACK.
std::string ack_code_of(std::string_view ack) {
  const std::size_t msa = ack.find("\rMSA");
  if (msa == std::string_view::npos || msa + 7 > ack.size()) return {};
  return std::string(ack.substr(msa + 5, 2));
}


/// The fields of a batch or file header segment (FHS, BHS), split on its own
/// field separator (its 4th character); index n is field n, field 1 being
/// the separator itself (HL7 v2.5.1 2.15.6, 2.15.2).
std::vector<std::string_view> header_fields(std::string_view segment) {
  std::vector<std::string_view> out;
  if (segment.size() < 4) return out;
  const char sep = segment[3];
  out.push_back(segment.substr(0, 3));
  out.push_back(segment.substr(3, 1));
  std::string_view rest = segment.substr(4);
  while (true) {
    const std::size_t p = rest.find(sep);
    out.push_back(rest.substr(0, p));
    if (p == std::string_view::npos) break;
    rest.remove_prefix(p + 1);
  }
  return out;
}

std::string_view field_at(const std::vector<std::string_view>& f, std::size_t n) {
  return n < f.size() ? f[n] : std::string_view{};
}

}  // namespace

struct hl7_intake::impl {
  store::resource_store& rs;
  store::message_log& log;
  audit_trail& trail;
  const store::indexer& ix;
  hl7_intake_options opts;

  counter_family* messages_total = nullptr;
  histogram_family* processing_seconds = nullptr;

  std::atomic<std::uint64_t> received{0}, processed{0}, errored{0}, rejected{0}, duplicates{0};
  std::atomic<std::uint64_t> header_counter{0};

  // Keys (sender and control id) of the messages this process is handling:
  // a second copy waits for the first (hl7_intake_options::duplicate_wait),
  // so that it is answered from the log once the first is done instead of
  // finding it half-processed.
  std::mutex in_flight_mutex;
  std::condition_variable in_flight_done;
  std::set<std::string> in_flight;

  impl(store::resource_store& r, store::message_log& l, audit_trail& t, const store::indexer& i,
       hl7_intake_options o, metrics_registry* metrics)
      : rs(r), log(l), trail(t), ix(i), opts(std::move(o)) {
    if (metrics != nullptr) {
      messages_total = &metrics->add_counter(
          "hearth_hl7_messages_total",
          "HL7 v2 messages by message type (MSH-9), sending application (MSH-3.1) and outcome (processed, "
          "error, rejected, duplicate).",
          {"type", "sender", "status"});
      processing_seconds = &metrics->add_histogram(
          "hearth_hl7_processing_seconds",
          "Time from a message's arrival to its acknowledgment being ready (logged, converted, committed).",
          {"type"});
    }
  }

  hl7v2::ack_options ack_options() const {
    hl7v2::ack_options o;
    o.sending_application = opts.application;
    o.sending_facility = opts.facility;
    return o;
  }

  void observe(const message_keys& k, std::string_view status, std::chrono::steady_clock::time_point started) {
    if (messages_total == nullptr) return;
    // Label values are bounded by the family's series cap; a sender's
    // application name is a system name, not PHI.
    const std::string sender = k.application.substr(0, std::min<std::size_t>(k.application.find('^'), 64));
    const std::string type = k.type.substr(0, 16);
    messages_total->labels({std::string_view(type.empty() ? "unknown" : type),
                            std::string_view(sender.empty() ? "unknown" : sender), status})
        .inc();
    processing_seconds->labels({std::string_view(type.empty() ? "unknown" : type)})
        .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }

  /// The AuditEvent record of a message (audit.hpp, interaction hl7_message).
  audit_record record_of(const hl7_peer& peer, const message_keys& k, std::int64_t log_id, std::string_view ack,
                         bool success) const {
    audit_record r;
    r.interaction = audit_interaction::hl7_message;
    r.remote_address = peer.address;
    r.client_id = peer.client_subject;
    r.hl7_sender = k.application + (k.facility.empty() ? "" : "|" + k.facility);
    r.hl7_message_type = k.type;
    r.hl7_control_id = k.control_id;
    r.hl7_log_id = log_id;
    r.hl7_ack_code = ack_code_of(ack);
    r.outcome = success ? audit_outcome::success : audit_outcome::minor_failure;
    r.status = success ? 200 : 400;
    return r;
  }

  /// Records a refusal's event outside any transaction (nothing was written
  /// for it to commit with). A refused event is counted by the trail, which
  /// turns unhealthy; the answer stands.
  void audit_async(const hl7_peer& peer, const message_keys& k, std::int64_t log_id, std::string_view ack,
                   bool success) {
    (void)trail.record_async(record_of(peer, k, log_id, ack, success));
  }

  /// Logs input that is not a usable message (not parsable, or keys the log
  /// cannot hold) with empty keys, as `rejected` with its ACK.
  void log_rejected(const std::string& raw, std::string_view ack, std::string_view why) {
    store::incoming_message in;
    in.raw = raw;
    auto r = log.receive(in);
    if (r) (void)log.complete(r->id, store::message_status::rejected, ack, why);
    received.fetch_add(1);
  }

  /// Waits while another thread of this process handles a message with the
  /// same key, then claims the key. False after duplicate_wait.
  bool claim(const std::string& key) {
    std::unique_lock lock(in_flight_mutex);
    const bool free = in_flight_done.wait_for(lock, opts.duplicate_wait, [&] { return !in_flight.contains(key); });
    if (!free) return false;
    in_flight.insert(key);
    return true;
  }
  void release(const std::string& key) {
    {
      std::lock_guard lock(in_flight_mutex);
      in_flight.erase(key);
    }
    in_flight_done.notify_all();
  }

  /// One message (not a batch): the ACK to send, or nullopt for none.
  std::optional<std::string> process(const hl7_peer& peer, std::string raw) {
    const auto started = std::chrono::steady_clock::now();
    auto parsed = hl7v2::parse(raw);
    if (!parsed) {
      std::string ack = hl7v2::build_reject_for_unparsable(raw, parsed.error(), ack_options());
      log_rejected(raw, ack, "unparsable: " + std::string(hl7v2::to_string(parsed.error().code)) + " at " +
                                 parsed.error().where.to_string());
      rejected.fetch_add(1);
      audit_async(peer, {}, 0, ack, false);
      observe({}, "rejected", started);
      return ack;
    }
    const hl7v2::message& msg = *parsed;
    const message_keys k = keys_of(msg);
    if (const auto where = oversized_key(k)) {
      const ack_issue issue(error_code::value_too_long, "the field is longer than Hearth's message log keeps",
                            *where);
      auto ack = hl7v2::build_ack(msg, outcome::rejected, std::span(&issue, 1), ack_options());
      log_rejected(raw, ack.value_or(""), "rejected: " + where->to_string() + " too long");
      rejected.fetch_add(1);
      audit_async(peer, {}, 0, ack.value_or(""), false);
      observe({}, "rejected", started);
      return ack;
    }

    // One message per key at a time in this process (see in_flight).
    const bool keyed = !k.control_id.empty();
    const std::string key = k.application + '\x1f' + k.facility + '\x1f' + k.control_id;
    if (keyed && !claim(key)) return busy(peer, msg, k, started);
    struct releaser {
      impl* self;
      const std::string* key;
      bool active;
      ~releaser() {
        if (active) self->release(*key);
      }
    } release_key{this, &key, keyed};

    store::incoming_message in;
    in.raw = raw;
    in.sender_application = k.application;
    in.sender_facility = k.facility;
    in.control_id = k.control_id;
    in.message_type = k.type;
    auto receipt = log.receive(in);
    if (!receipt && receipt.error().code == "invalid") {
      // A key the log refuses (a NUL written as an escape...): the message
      // is kept under empty keys, and rejected.
      const ack_issue issue(error_code::data_type_error, "a header field (MSH-3, MSH-4, MSH-9 or MSH-10) is not valid text");
      auto ack = hl7v2::build_ack(msg, outcome::rejected, std::span(&issue, 1), ack_options());
      log_rejected(raw, ack.value_or(""), "rejected: invalid header key");
      rejected.fetch_add(1);
      audit_async(peer, {}, 0, ack.value_or(""), false);
      observe({}, "rejected", started);
      return ack;
    }
    if (!receipt) {
      // Not recorded, so not processed: the sender must send it again.
      const ack_issue issue(error_code::application_internal_error,
                            "the message could not be recorded; nothing was processed: send it again");
      auto ack = hl7v2::build_ack(msg, outcome::error, std::span(&issue, 1), ack_options());
      errored.fetch_add(1);
      audit_async(peer, k, 0, ack.value_or(""), false);
      observe(k, "error", started);
      return ack;
    }
    if (receipt->duplicate) return duplicate(peer, msg, k, raw, *receipt, started);
    received.fetch_add(1);
    return finish(peer, msg, k, receipt->id, started);
  }

  /// A message whose key another thread held for longer than duplicate_wait:
  /// answered AE without touching the log; the sender tries again later.
  std::optional<std::string> busy(const hl7_peer& peer, const hl7v2::message& msg, const message_keys& k,
                                  std::chrono::steady_clock::time_point started) {
    const ack_issue issue(error_code::application_record_locked,
                          "a message with this control id is being processed: send it again later", msh_field(10));
    auto ack = hl7v2::build_ack(msg, outcome::error, std::span(&issue, 1), ack_options());
    errored.fetch_add(1);
    audit_async(peer, k, 0, ack.value_or(""), false);
    observe(k, "error", started);
    return ack;
  }

  /// A second message with a logged message's sender and control id (HL7
  /// v2.5.1 2.10.1: not processed twice).
  std::optional<std::string> duplicate(const hl7_peer& peer, const hl7v2::message& msg, const message_keys& k,
                                       const std::string& raw, store::message_receipt& receipt,
                                       std::chrono::steady_clock::time_point started) {
    store::message_record earlier = std::move(*receipt.earlier);
    if (earlier.raw != raw) {
      const ack_issue issue(error_code::duplicate_key_identifier,
                            "this sender already sent another message with this control id (MSH-10)",
                            msh_field(10));
      auto ack = hl7v2::build_ack(msg, outcome::rejected, std::span(&issue, 1), ack_options());
      rejected.fetch_add(1);
      audit_async(peer, k, earlier.id, ack.value_or(""), false);
      observe(k, "rejected", started);
      return ack;
    }
    // The same message again. Still `received`: another process (sharing a
    // PostgreSQL database) has it in hand, or one stopped before finishing
    // it (recover() at its next start). Wait a while for its answer.
    const auto deadline = std::chrono::steady_clock::now() + opts.duplicate_wait;
    while (earlier.status == store::message_status::received && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto again = log.get(earlier.id);
      if (!again || !*again) break;
      earlier = std::move(**again);
    }
    if (earlier.status == store::message_status::received) return busy(peer, msg, k, started);
    duplicates.fetch_add(1);
    audit_async(peer, k, earlier.id, earlier.ack, earlier.status == store::message_status::processed);
    observe(k, "duplicate", started);
    if (earlier.ack.empty()) return std::nullopt;  // the first copy asked for no acknowledgment
    return earlier.ack;
  }

  /// Rejects or fails a logged message: its ACK, recorded with its status.
  std::optional<std::string> refuse(const hl7_peer& peer, const hl7v2::message& msg, const message_keys& k,
                                    std::int64_t id, outcome how, const ack_issue& issue, std::string why,
                                    std::chrono::steady_clock::time_point started) {
    auto ack = hl7v2::build_ack(msg, how, std::span(&issue, 1), ack_options());
    const store::message_status status =
        how == outcome::rejected ? store::message_status::rejected : store::message_status::error;
    (void)log.complete(id, status, ack.value_or(""), why);
    (how == outcome::rejected ? rejected : errored).fetch_add(1);
    audit_async(peer, k, id, ack.value_or(""), false);
    observe(k, how == outcome::rejected ? "rejected" : "error", started);
    return ack;
  }

  /// Steps 4 to 6 for a logged message `id` (hl7_intake.hpp).
  std::optional<std::string> finish(const hl7_peer& peer, const hl7v2::message& msg, const message_keys& k,
                                    std::int64_t id, std::chrono::steady_clock::time_point started) {
    // MSH-11 processing id (HL7 v2.5.1 2.15.9.11, table 0103): a training
    // message must not land in a production record, and the reverse.
    const std::string processing_id = msg.text("MSH-11.1");
    if (processing_id.size() != 1 || opts.processing_ids.find(processing_id[0]) == std::string::npos) {
      return refuse(peer, msg, k, id, outcome::rejected,
                    ack_issue(error_code::unsupported_processing_id, "processing id (MSH-11) not accepted here",
                              msh_field(11)),
                    "rejected: processing id (MSH-11) not accepted", started);
    }
    // MSH-12: the mappings follow v2.x (the IG maps v2.5.1 and later; earlier
    // 2.x messages are read with the same rules).
    if (!msg.version().starts_with("2.")) {
      return refuse(peer, msg, k, id, outcome::rejected,
                    ack_issue(error_code::unsupported_version_id, "version (MSH-12) not supported: HL7 v2.x only",
                              msh_field(12)),
                    "rejected: version (MSH-12) not supported", started);
    }
    const mapping::sender_config& cfg = opts.mapping.for_sender(msg.text("MSH-3.1"), msg.text("MSH-4.1"));
    mapping::convert_options co;
    if (opts.terminology != nullptr) {
      // A registry that cannot be built (its files gone) only loses the
      // mapped codings: the v2 ones are still there.
      if (auto reg = opts.terminology->terminology()) co.terminology = *reg;
    }
    auto converted = mapping::convert(msg, cfg, co);
    if (!converted) {
      const hl7v2::error& e = converted.error();
      const int code = static_cast<int>(e.code);
      const bool reject = code >= 200 && code <= 203;  // not processed for reasons outside its content
      return refuse(peer, msg, k, id, reject ? outcome::rejected : outcome::error, ack_issue(e),
                    std::string(reject ? "rejected: " : "error: ") + std::to_string(code) + " " +
                        std::string(hl7v2::to_string(e.code)) + " at " + e.where.to_string(),
                    started);
    }
    // The ACK is known before the commit (it is recorded with it) and sent
    // only after it.
    const std::optional<std::string> ack =
        hl7v2::build_ack(msg, outcome::accepted, converted->warnings, ack_options());
    std::vector<std::string> written;
    // The lookups, ids and each resource's check and search index are made
    // here, on this connection's thread: the one writer thread only writes.
    store::prepared_bundle prepared = store::prepare_transaction_bundle(rs, converted->bundle);
    auto committed = rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
      auto applied = store::apply_transaction_bundle(tx, std::move(prepared));
      if (!applied) return hearth::unexpected(std::move(applied).error());
      written = store::versioned_references(*applied);
      audit_record r = record_of(peer, k, id, ack.value_or(""), true);
      r.hl7_resources = written;
      for (const store::applied_resource& a : *applied) {
        if (a.type == "Patient") r.patient_ids.push_back(a.id);
      }
      if (auto recorded = trail.record_in_tx(tx, r); !recorded) return recorded;
      return store::message_log::complete(tx, id, store::message_status::processed, ack.value_or(""), "",
                                          written);
    });
    if (!committed) {
      // A merge (ADT^A40) whose prior patient is unknown: HL7 v2.5.1 table
      // 0357 204 (unknown key identifier), at that merge's MRG-1.
      if (auto where = unknown_merge_source(msg, converted->bundle, committed.error())) {
        return refuse(peer, msg, k, id, outcome::error,
                      ack_issue(error_code::unknown_key_identifier,
                                "no patient is known with the prior patient identifiers (MRG-1)", *where),
                      "error: store not-found (merge: unknown prior patient)", started);
      }
      // The store's message may name a conditional URL (an identifier: PHI);
      // the log and the ACK get its code only.
      const std::string& code = committed.error().code;
      const std::string text = code == store::error_codes::multiple_matches
                                   ? "the message's identifiers match several existing resources"
                                   : "the resources could not be stored (" + code + ")";
      return refuse(peer, msg, k, id, outcome::error, ack_issue(error_code::application_internal_error, text),
                    "error: store " + code, started);
    }
    processed.fetch_add(1);
    observe(k, "processed", started);
    return ack;
  }

  /// A batch or file (HL7 v2.5.1 2.10.3): each message in turn, then the
  /// batch of their acknowledgments.
  std::string batch(const hl7_peer& peer, const std::string& payload) {
    hl7v2::batch_options bo;
    bo.max_messages = opts.max_batch_messages;
    auto split = hl7v2::split_batch(payload, bo);
    if (!split) {
      std::string ack = hl7v2::build_reject_for_unparsable(payload, split.error(), ack_options());
      log_rejected(payload, ack,
                   "rejected batch: " + std::string(hl7v2::to_string(split.error().code)) + " (envelope)");
      rejected.fetch_add(1);
      audit_async(peer, {}, 0, ack, false);
      return ack;
    }
    const auto file = header_fields(split->file_header);
    std::string out;
    const auto header = [&](std::string_view id, const std::vector<std::string_view>& original) {
      // Our header: the original's delimiters (its field 1 and 2, so that
      // the ACKs' fields, written with them too, read alike), the sender and
      // receiver swapped, now, a control id of ours, and the original's
      // control id as the reference (FHS-12 / BHS-12).
      const std::string_view sep = original.size() > 1 ? original[1] : std::string_view("|");
      const std::string_view enc = original.size() > 2 ? original[2] : std::string_view("^~\\&");
      const std::string control = "H" + hl7_now_dtm().substr(0, 14) + std::to_string(header_counter.fetch_add(1));
      out.append(id).append(sep).append(enc);
      out.append(sep).append(opts.application).append(sep).append(opts.facility);
      out.append(sep).append(field_at(original, 3)).append(sep).append(field_at(original, 4));
      out.append(sep).append(hl7_now_dtm()).append(sep).append(sep).append(sep).append(sep);
      out.append(control).append(sep).append(field_at(original, 11)).append("\r");
    };
    const bool has_file = !split->file_header.empty();
    if (has_file) header("FHS", file);
    for (const hl7v2::batch_group& g : split->groups) {
      const auto bhs = header_fields(g.header);
      const bool has_batch = !g.header.empty();
      if (has_batch) header("BHS", bhs);
      std::size_t acks = 0;
      for (std::string_view m : g.messages) {
        if (auto ack = process(peer, std::string(m))) {
          out += *ack;
          ++acks;
        }
      }
      if (has_batch) {
        const std::string_view sep = bhs.size() > 1 ? bhs[1] : std::string_view("|");
        out.append("BTS").append(sep).append(std::to_string(acks)).append("\r");
      }
    }
    if (has_file) {
      const std::string_view sep = file.size() > 1 ? file[1] : std::string_view("|");
      std::size_t batches = 0;
      for (const hl7v2::batch_group& g : split->groups) batches += g.header.empty() ? 0 : 1;
      out.append("FTS").append(sep).append(std::to_string(batches)).append("\r");
    }
    return out;
  }
};

hl7_intake::hl7_intake(store::resource_store& rs, store::message_log& log, audit_trail& trail,
                       const store::indexer& ix, hl7_intake_options opts, metrics_registry* metrics)
    : impl_(std::make_unique<impl>(rs, log, trail, ix, std::move(opts), metrics)) {}

hl7_intake::~hl7_intake() = default;

std::string hl7_intake::handle(const hl7_peer& peer, std::string payload) {
  try {
    if (is_batch(payload)) return impl_->batch(peer, payload);
    return impl_->process(peer, std::move(payload)).value_or(std::string());
  } catch (const std::exception&) {
    // Nothing here throws by design; a bug must still not take the listener
    // down nor leave the sender without an answer: AE, send it again.
    hl7v2::error e;
    e.code = error_code::application_internal_error;
    e.message = "internal error; nothing was acknowledged: send the message again";
    return hl7v2::build_reject_for_unparsable(std::string_view(), e, impl_->ack_options());
  }
}

hearth::result<std::size_t> hl7_intake::recover() {
  auto ids = impl_->log.unfinished(100000);
  if (!ids) return hearth::unexpected(std::move(ids).error());
  std::size_t done = 0;
  for (const std::int64_t id : *ids) {
    auto rec = impl_->log.get(id);
    if (!rec) return hearth::unexpected(std::move(rec).error());
    if (!*rec || (*rec)->status != store::message_status::received) continue;
    const auto started = std::chrono::steady_clock::now();
    auto parsed = hl7v2::parse((*rec)->raw);
    if (!parsed) {
      std::string ack = hl7v2::build_reject_for_unparsable((*rec)->raw, parsed.error(), impl_->ack_options());
      (void)impl_->log.complete(id, store::message_status::rejected, ack, "unparsable");
    } else {
      (void)impl_->finish(hl7_peer{}, *parsed, keys_of(*parsed), id, started);
    }
    ++done;
  }
  return done;
}

hearth::result<store::message_record> hl7_intake::reprocess(std::int64_t id) {
  auto rec = impl_->log.get(id);
  if (!rec) return hearth::unexpected(std::move(rec).error());
  if (!*rec) return hearth::unexpected(hearth::error{"not-found", "no message with this id", {}, hearth::error::npos});
  if ((*rec)->status != store::message_status::error) {
    return hearth::unexpected(
        hearth::error{"conflict", "only a message in error can be processed again", {}, hearth::error::npos});
  }
  auto parsed = hl7v2::parse((*rec)->raw);
  if (!parsed) {
    return hearth::unexpected(hearth::error{"conflict", "the message cannot be parsed", {}, hearth::error::npos});
  }
  const message_keys k = keys_of(*parsed);
  const std::string key = k.application + '\x1f' + k.facility + '\x1f' + k.control_id;
  if (!k.control_id.empty() && !impl_->claim(key)) {
    return hearth::unexpected(
        hearth::error{"conflict", "the message is being processed", {}, hearth::error::npos});
  }
  (void)impl_->finish(hl7_peer{}, *parsed, k, id, std::chrono::steady_clock::now());
  if (!k.control_id.empty()) impl_->release(key);
  auto after = impl_->log.get(id);
  if (!after) return hearth::unexpected(std::move(after).error());
  if (!*after) return hearth::unexpected(hearth::error{"not-found", "no message with this id", {}, hearth::error::npos});
  return std::move(**after);
}

hl7_intake_stats hl7_intake::stats() const noexcept {
  hl7_intake_stats s;
  s.received = impl_->received.load();
  s.processed = impl_->processed.load();
  s.errored = impl_->errored.load();
  s.rejected = impl_->rejected.load();
  s.duplicates = impl_->duplicates.load();
  return s;
}

}  // namespace hearth::server
