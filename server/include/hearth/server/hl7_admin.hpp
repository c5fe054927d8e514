#pragma once
// hearth::server::hl7_admin — the REST admin API of the HL7 v2 message log
// (issue 7, "Operating it": "list and filter the message log (status, type,
// sender, time range), show one message with its ACK, errors and produced
// resources, reprocess a message in error"), and the MLLP listener's
// counters in the Prometheus text format.
//
// Endpoints, under the FHIR base URL, answered in JSON (application/json;
// they are not FHIR resources, so no OperationOutcome either):
//
//   GET  [base]/admin/hl7/messages?status=&type=&sender=&facility=
//                                  &received-from=&received-to=&_count=&cursor=
//        {"messages":[record...], "next":"<URL of the next page>"}, newest
//        first (store::message_log::list: keyset paging on the id, stable
//        while messages arrive). `status` one of received, processed, error,
//        rejected; `type` MSH-9 as "ORU^R01"; `sender` MSH-3 and `facility`
//        MSH-4 exactly as logged; `received-from` (inclusive) and
//        `received-to` (exclusive) an R4 date, dateTime or instant, of which
//        the first instant counts (store/date_range.hpp: a value without a
//        zone is UTC); `_count` a positive whole number (default 50; above
//        1000, 1000 are returned, as FHIR search does); `cursor` from a
//        `next` link. A parameter that is malformed, repeated or unknown is
//        refused with 400 naming it: a filter silently dropped would show an
//        administrator messages they did not ask for. `next` is absent on the
//        last page.
//   GET  [base]/admin/hl7/messages/{id}
//        one record, with `ack` (the ACK sent, text; `ack_base64` instead
//        when it is not UTF-8, as an ACK echoing a Latin-1 sender's fields
//        may be) and `raw` (the message bytes in base64: they are in the
//        sender's character set, which need not be UTF-8, and JSON strings
//        must be); 404 when there is none.
//   POST [base]/admin/hl7/messages/{id}/$reprocess
//        hl7_intake::reprocess: the message in `error` runs again as if it
//        had just arrived; 200 with the record afterwards (whatever status it
//        reached), 404 when there is none, 409 when it is not in `error`.
//
// A record: id (a number: the log's id), sender_application,
// sender_facility, control_id, message_type, status, received_at and
// updated_at (R4 instants, milliseconds and Z), raw_sha256, error (Hearth's
// own text, empty when none), resources ("Type/id/_history/v", what the
// message wrote).
//
// Who may: an administrator, i.e. a bearer token (RFC 6750) accepted by the
// pipeline's token_verifier (the same object, so Hearth's own and external
// issuers' tokens, revocation and the verified-token cache are shared) that
// grants `hearth/admin` (smart_scopes.hpp: the scope the client registration
// endpoint asks for too). No token, or one that does not verify: 401 with
// WWW-Authenticate: Bearer; a valid token without the scope: 403
// insufficient_scope (RFC 6750 3.1). Without a verifier
// (`--insecure-no-auth`) every call is served, as every FHIR request is.
//
// Every call is audited (SECURITY.md "one AuditEvent per REST interaction,
// per denial"): interaction `operation`, action R for the reads and E for
// $reprocess, the HTTP status (outcome 0/4/8), the request id, the client's
// address and the token's client, user and jti, and the request target in
// entity[query] (BALP Query: which filter, which message) unless the call was
// refused before its parameters were read. A record the trail refuses makes
// the answer 503 (fail closed), and nothing is done while the trail is
// unhealthy.
//
// No PHI in logs: nothing here logs. The raw message and the ACK leave only
// in the body of an answer to an administrator; errors name parameters and
// fixed texts, never input.
//
// Why not through request_pipeline: the pipeline knows FHIR interactions and
// the authorisation server's paths only; these calls are neither. `hearth
// serve` asks hl7_admin::handle first and gives the pipeline what it
// declines, so the admin API repeats the pipeline's stages it needs: the rate
// limit (2), the audit health check, authentication (5), the response headers
// (7), observation and audit (8).
//
// Thread-safety: handle() may be called from any number of threads at once.
// Lifetime: the log, the intake and everything in the options must outlive
// the hl7_admin.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <hearth/server/access_token.hpp>
#include <hearth/server/audit.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/server/mllp_listener.hpp>
#include <hearth/server/rate_limiter.hpp>
#include <hearth/server/request_pipeline.hpp>
#include <hearth/store/message_log.hpp>

namespace hearth::server {

class hl7_intake;

/// Settings of an hl7_admin: the pipeline's, for the stages it repeats.
struct hl7_admin_options {
  // Every member has an initializer, so that designated initializers may
  // name only what they set.
  /// The FHIR base URL: its path prefixes the endpoints; `next` links are
  /// absolute URLs under it.
  std::string base_url{};
  /// Verifies bearer tokens: the pipeline's (pipeline_options::verifier).
  /// Null: every call is served without a token (`--insecure-no-auth`),
  /// which must then be set; neither is a configuration error (the
  /// constructor throws std::invalid_argument: deny by default).
  std::shared_ptr<const auth::token_verifier> verifier{};
  bool insecure_no_auth = false;
  /// Records one audited call (audit_trail::record_async); false: the answer
  /// becomes 503. Empty: nothing is recorded (`--insecure-no-audit`, tests).
  std::function<bool(audit_record)> audit{};
  /// Whether the trail takes records now; false: 503 before any work.
  /// Empty: always.
  std::function<bool()> audit_healthy{};
  /// Per-client rate limiting, shared with the pipeline (the same buckets:
  /// a client cannot double its rate through this API). Null: none.
  std::shared_ptr<rate_limiter> rate_limit{};
  /// Told of every answered call (metrics, the request log line), with
  /// interaction "hl7-admin". Empty: nobody.
  std::function<void(const request_record&)> observe{};
  /// The server speaks HTTPS: answers carry Strict-Transport-Security.
  bool tls = false;
};

/// The admin API. See the top of this file.
class hl7_admin {
 public:
  /// Throws std::invalid_argument without a verifier and without
  /// insecure_no_auth (start-up configuration).
  hl7_admin(const store::message_log& log, hl7_intake& intake, hl7_admin_options opts);

  /// The answer to `req` when its path is [base]/admin/hl7 or below (every
  /// such path is answered: 404 or 405 for what is not an endpoint);
  /// nullopt for any other path, which is not this API's to answer.
  /// Never throws.
  std::optional<http_response> handle(http_request& req) const;

  /// Most records one page holds (store::message_query::max_count); the
  /// default when `_count` is absent is 50.
  static constexpr std::size_t max_count = store::message_query::max_count;

 private:
  /// handle() for a request known to be under the admin path, `rest` the
  /// path below [base]/admin/hl7; fills `audit` with what the call was.
  http_response dispatch(http_request& req, std::string_view rest, std::string_view query, audit_record& audit,
                         bool& audited) const;

  const store::message_log& log_;
  hl7_intake& intake_;
  hl7_admin_options opts_;
  std::string base_path_;  ///< base_path_of(opts_.base_url)
};

/// The MLLP listener's counters in the Prometheus text format 0.0.4, for
/// GET /metrics beside the registry's families (which hold the intake's
/// hearth_hl7_messages_total and hearth_hl7_processing_seconds):
/// hearth_mllp_connections_open (gauge), hearth_mllp_frames_total,
/// hearth_mllp_oversized_total, hearth_mllp_timeouts_total,
/// hearth_mllp_tls_failures_total (counters).
std::string mllp_metrics_text(const mllp_stats& s);

}  // namespace hearth::server
