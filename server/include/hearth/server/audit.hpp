#pragma once
// hearth::server audit — what one audited interaction was (audit_record), the
// FHIR R4 AuditEvent it becomes (build_audit_event, IHE BALP shape), and the
// trail that appends those events to the store's hash-chained audit log
// (audit_trail): inside the transaction of the change an event records, or
// asynchronously, in batches, for everything else.
//
// SECURITY.md "Audit": one AuditEvent per REST interaction and per
// authorisation decision that denies; type rest, subtype the interaction,
// action C/R/U/D/E, recorded, outcome 0/4/8/12; agents for the client (with
// network address and client_id) and the user (fhirUser or sub,
// requestor=true); source = this server; entity for the data touched and
// entity[patient] where a patient is involved; a query's raw text base64 in
// entity.query; tokens only as their jti. An event carries identifiers and
// fixed texts only: no resource content, no token, no message of an error.
//
// FHIR R4 auditevent.html; IHE BALP (Basic Audit Log Patterns) profiles
// Read, Query, PatientRead, PatientQuery, PatientCreate/Update/Delete,
// OAUTHaccessTokenUse (user agent type UserOauthAgent, policy =
// "urn:ietf:params:oauth:jti:<jti>"), IUA ITI-71 (token events).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/store/audit_log.hpp>
#include <hearth/store/database.hpp>
#include <hearth/store/indexer.hpp>
#include <hearth/store/resource_store.hpp>

namespace hearth::server {

namespace auth {
struct principal;  // access_token.hpp
}

/// What was done: the R4 restful-interaction codes (http.html; CodeSystem
/// http://hl7.org/fhir/restful-interaction), and two of authentication.
enum class audit_interaction : std::uint8_t {
  read,
  vread,
  history_instance,
  history_type,
  history_system,
  search_type,
  search_system,
  create,
  update,
  patch,
  remove,  ///< "delete"
  batch,
  transaction,
  operation,
  capabilities,
  /// A user signed in at the authorisation server (DICOM 110122 Login).
  login,
  /// An access token was asked for at the token endpoint: issued (outcome
  /// 0) or refused (4) (IHE IUA ITI-71 Get Access Token).
  token,
  /// An HL7 v2 message was received (hl7_intake.hpp): DICOM 110107 Import,
  /// subtype the v2 message code (table 0076) and trigger event (0003).
  hl7_message,
};

/// The code: "read", "history-instance", "search-type", "delete", ...,
/// "login", "token".
std::string_view to_string(audit_interaction i) noexcept;

/// The interaction a name stands for: the codes above, and the names
/// request_pipeline's classify_request gives ("conditional-update" is an
/// update, "conditional-delete" a delete, "conditional-patch" a patch,
/// "search-compartment" a search-type, "batch-transaction" a batch until
/// the Bundle's type is known). nullopt for the rest ("unknown", healthz...).
std::optional<audit_interaction> audit_interaction_of(std::string_view name) noexcept;

/// AuditEvent.action (R4 valueset-audit-event-action).
enum class audit_action : char { create = 'C', read = 'R', update = 'U', remove = 'D', execute = 'E' };

/// The action of an interaction: create C; read, vread, history R; update,
/// patch U; delete D; search, batch, transaction, operation, capabilities,
/// login, token E (BALP Query records searches as E, "execute").
audit_action default_action(audit_interaction i) noexcept;

/// AuditEvent.outcome (R4 valueset-audit-event-outcome).
enum class audit_outcome : std::uint8_t { success = 0, minor_failure = 4, serious_failure = 8, major_failure = 12 };

/// From an HTTP status: 1xx-3xx success (0); 4xx minor failure (4: the
/// request was refused, nothing happened); 5xx serious failure (8).
audit_outcome outcome_of_status(int status) noexcept;

/// One audited interaction. Plain value; copyable. Strings are identifiers
/// (ids, client ids, the request id), never content.
struct audit_record {
  audit_interaction interaction = audit_interaction::read;
  /// AuditEvent.action; default_action(interaction) when not set.
  std::optional<audit_action> action;
  /// The HTTP status answered (or, for token events, that the token
  /// endpoint answered): gives the outcome and, for failures, outcomeDesc.
  int status = 200;
  /// Overrides outcome_of_status (a refused login is 4 whatever its status).
  std::optional<audit_outcome> outcome;
  /// AuditEvent.recorded. Left at the epoch, the trail stamps it with its
  /// clock when the record reaches it.
  store::instant recorded{};
  /// X-Request-Id (BALP entity[transaction]).
  std::string request_id;
  /// The client's network address (agent[client].network).
  std::string remote_address;
  /// The OAuth client (agent[client].who.identifier); empty when
  /// authorisation is off or failed before the client was known.
  std::string client_id;
  /// The user's fhirUser ("Practitioner/123"): agent[user].who.reference.
  std::string user;
  /// The token's sub: agent[user].who.identifier when there is no fhirUser.
  std::string subject;
  /// The token's issuer: the system of the client and subject identifiers.
  std::string issuer;
  /// The token's jti (never the token): agent.policy
  /// "urn:ietf:params:oauth:jti:<jti>" (BALP OAUTHaccessTokenUse).
  std::string jti;
  /// The resource touched: entity[data].what = Type/id[/_history/version].
  std::string resource_type;
  std::string resource_id;
  std::int64_t version_id = 0;  ///< 0: not versioned
  /// Patients involved (ids): one entity[patient] each (BALP Patient*
  /// profiles). A Patient resource touched is added by the builder.
  std::vector<std::string> patient_ids;
  /// The raw search request (BALP Query: "the raw search request is base64
  /// encoded and placed in the .entity[query].query element", kept whole,
  /// malicious patterns included): the request target for GET, with the
  /// form body for POST _search. Empty: no query entity. At most
  /// max_query_bytes are kept.
  std::string query;

  /// The longest raw query kept: the request head is 8 KiB by default;
  /// 64 KiB keeps every query a configured server accepts in practice and
  /// bounds an event's size (the audit log refuses events above 256 KiB).
  static constexpr std::size_t max_query_bytes = 64 * 1024;

  // HL7 v2 messages (interaction hl7_message). Identifiers of the message,
  // never its content.
  /// The sending application and facility (MSH-3, MSH-4: system names):
  /// agent[source].who.display.
  std::string hl7_sender;
  /// "ORU^R01" (MSH-9.1^MSH-9.2): the subtype codes.
  std::string hl7_message_type;
  /// MSH-10, the sender's message number, and the message log's record id:
  /// the entity of the message.
  std::string hl7_control_id;
  std::int64_t hl7_log_id = 0;
  /// MSA-1 of the answer ("AA", "AE", "AR", "CA", ...; empty: none sent):
  /// outcomeDesc of a failure.
  std::string hl7_ack_code;
  /// The resources the message wrote, "Type/id/_history/v": one entity each.
  std::vector<std::string> hl7_resources;
};

/// Fills client_id, user (fhirUser), subject, issuer and jti from a
/// verified token's principal, and adds its patient in context to
/// patient_ids. A null principal (authorisation off) leaves `r` as it is.
void set_principal(audit_record& r, const auth::principal* p);

/// Who records: this server (AuditEvent.source, agent[server]).
struct audit_source {
  /// source.observer.display and agent[server].who.display.
  std::string observer = "hearth";
  /// The FHIR base URL: agent[server].network (address type 5, URI).
  std::string base_url;
};

/// The R4 AuditEvent (JSON, no id or meta: the audit log sets them) that
/// records `r`. See the top of this file and audit_event.cpp for the shape.
fhir::json_value build_audit_event(const audit_record& r, const audit_source& source);

/// The patients a resource belongs to (R4 compartmentdefinition-patient:
/// the references to a Patient in its compartment parameters; its own id
/// for a Patient), for audit_record::patient_ids of a create or update.
/// Indexes the resource once with `ix` (tens of microseconds): for writes,
/// not for the read path.
std::vector<std::string> patient_ids_in(const fhir::json_value& resource, const store::indexer& ix);

/// Settings of an audit_trail.
struct audit_trail_options {
  audit_source source;
  /// Most events waiting to be appended (queued or in the batch being
  /// written). 100,000 events of ~1 KiB: seconds of full load while the
  /// database stalls, a bounded amount of memory; beyond it the trail is
  /// unhealthy and refuses events.
  std::size_t queue_capacity = 100000;
  /// Most events appended in one transaction: bounds how long one batch
  /// holds the writer (~10 µs an event on SQLite).
  std::size_t max_batch = 1000;
  /// How long the appender gathers events before it appends them, once the
  /// first is queued: it appends earlier when max_batch are waiting, when
  /// flush() or stop() asks. Every commit to the SQLite file makes each
  /// reader connection drop its page cache (WAL mode: a reader that sees a
  /// new snapshot starts with an empty cache), so commits per second, not
  /// events, are what the trail costs the reads around it: measured on
  /// read-by-id, a writer committing ~25 times a second into the same file
  /// added ~20-40 µs of CPU to every read. Gathering for 100 ms caps the
  /// trail at ~10 commits a second under any load (and at max_batch events
  /// a commit above 10,000 events/s). 0: append at once, as soon as the
  /// appender is free.
  std::chrono::milliseconds batch_window{100};
  /// Waits between attempts at a failing batch, doubling from the first to
  /// the second: the database gets time to come back, the log is not
  /// flooded.
  std::chrono::milliseconds retry_first{50};
  std::chrono::milliseconds retry_max{2000};
  /// The clock of records left without `recorded` (system clock if empty).
  std::function<store::instant()> clock = {};
  /// Told of each failed batch attempt (the error carries no content), for
  /// the server's log; may be empty. Called on the appender thread.
  std::function<void(const hearth::error&)> on_append_failure = {};
};

/// What the trail has done, for /metrics.
struct audit_stats {
  /// Events appended asynchronously, committed.
  std::uint64_t appended = 0;
  /// Events appended inside a write's transaction (record_in_tx): committed
  /// with the write, or rolled back with it.
  std::uint64_t recorded_in_tx = 0;
  /// record_async calls refused (queue full, trail stopped): their requests
  /// must fail.
  std::uint64_t refused = 0;
  /// Accepted events that were never appended: 0, unless stop() gave up on a
  /// failing database (then the number it left behind).
  std::uint64_t dropped = 0;
  std::uint64_t batches = 0;          ///< asynchronous batches committed
  std::uint64_t largest_batch = 0;    ///< most events in one of them
  std::uint64_t failed_attempts = 0;  ///< batch attempts that failed (retried)
  std::size_t queue_depth = 0;        ///< events accepted, not yet appended
  bool healthy = true;                ///< as audit_trail::healthy()
};

/// `s` in the Prometheus text format 0.0.4 (metrics.hpp), for GET /metrics
/// beside the registry's families: hearth_audit_events_appended_total,
/// _recorded_in_tx_total, _refused_total, _dropped_total,
/// hearth_audit_batches_total, hearth_audit_append_failures_total (counters),
/// hearth_audit_largest_batch, hearth_audit_queue_depth, hearth_audit_healthy
/// (gauges: 1 or 0).
std::string audit_metrics_text(const audit_stats& s);

/// Appends AuditEvents to the store's audit log (store/audit_log.hpp).
///
/// Events that record a change are appended by record_in_tx inside the
/// change's own transaction (a store::write_hook: see hook()), so that the
/// change and its event commit together or not at all. The rest go through
/// record_async: a bounded queue drained by one appender thread, which builds
/// the JSON and appends up to max_batch events per transaction through the
/// database's writer (group commit), in the order they were accepted.
///
/// Fail closed (SECURITY.md: "or the request fails"): when a batch fails,
/// the appender keeps it and retries (nothing accepted is dropped) and
/// healthy() is false until a batch commits again; when the queue is full,
/// record_async refuses and healthy() is false. The server checks healthy()
/// before serving a request and answers 503 when it is false, and answers
/// 503 instead of a response whose event record_async refused.
///
/// Thread-safety: every member may be called from any thread. Lifetime: the
/// database must outlive the trail; stop it (or destroy it) before stopping
/// the database, so that the queue drains while the writer still runs.
class audit_trail {
 public:
  explicit audit_trail(store::database& db, audit_trail_options opts = {});
  ~audit_trail();
  audit_trail(const audit_trail&) = delete;
  audit_trail& operator=(const audit_trail&) = delete;

  /// Appends the event of `r` inside `tx` (call it from a write_hook, on
  /// the writer thread). An error rolls the write back: return it.
  hearth::result<void> record_in_tx(store::resource_tx& tx, const audit_record& r);

  /// A write_hook recording `base` completed with the write's outcome: the
  /// resource type, id and version written (a create's id is known only
  /// then), status 201 for a created resource, 200 otherwise, and outcome
  /// success; the Patient written, if it is one, among the patients.
  store::write_hook hook(audit_record base);

  /// Queues `r` for the appender; never blocks. False when refused (queue
  /// full, trail stopped): the event will not be recorded, and the request
  /// it records must fail.
  bool record_async(audit_record r);

  /// False while the last batch attempt failed, the queue is full, or the
  /// trail is stopped.
  bool healthy() const noexcept;

  /// Waits until every event accepted before the call has been appended,
  /// cutting the batch window short; false when `timeout` passed first (the
  /// database is failing).
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  /// Refuses new events, appends what is queued (retrying a failing database
  /// until `timeout`, then giving the rest up: stats().dropped), and stops
  /// the appender. Idempotent; the destructor calls it.
  void stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  audit_stats stats() const;

  /// The log the trail appends to, for reads and searches of the trail.
  store::audit_log& log() noexcept;
  const audit_source& source() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::server
