#pragma once
// HTTP requests and responses as the rest of the server sees them: plain
// values, no Boost.Beast (DESIGN.md: Beast/Asio only in the listener, compiled
// once). The listener (http_listener.hpp) converts Beast's messages to and
// from these at the edge.

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::server {

namespace auth {
struct principal;  // access_token.hpp
}

struct http_header {
  std::string name;  ///< as received / to send; compared case-insensitively
  std::string value;
};

struct http_request {
  std::string method;  ///< "GET", "POST", ... as received (upper case by RFC 9110)
  /// The request target in origin form, as received, still percent-encoded:
  /// "/Patient/1/_history/2?_format=json".
  std::string target;
  std::vector<http_header> headers;
  std::string body;
  /// The peer's address ("127.0.0.1"); for logs (never PHI) and rate limits.
  std::string remote_address;
  /// X-Request-Id as received when it is acceptable, else one made up by the
  /// listener; echoed in the response and in every log line.
  std::string request_id;
  /// Who sends it: set by the pipeline's authorisation stage from a verified
  /// bearer token; null when authorisation is off (`--insecure-no-auth`) or
  /// before that stage. Batch entries carry their Bundle's.
  std::shared_ptr<const auth::principal> principal;
  /// Set (to a fresh false) by the pipeline for every request it audits;
  /// the write hook (api_options::make_write_hook) sets it true once the
  /// AuditEvent of the write was appended in the write's own transaction,
  /// so that the pipeline does not record that request a second time.
  /// Shared: the hook runs on the writer thread. Null: nobody is told (batch
  /// entries; the Bundle's own request is audited by the pipeline).
  std::shared_ptr<std::atomic<bool>> audited_in_tx;

  /// The first header named `name` (case-insensitive); nullopt when absent.
  std::optional<std::string_view> header(std::string_view name) const;
};

/// The RFC 9110 section 15 reason phrase of a status ("Not Found"); empty
/// for a status Hearth does not send. For Bundle.entry.response.status
/// ("201 Created", bundle.html#transaction-response) and an AuditEvent's
/// outcomeDesc: fixed text that quotes nothing of a request.
std::string_view reason_phrase(int status) noexcept;

struct http_response {
  int status = 200;
  std::vector<http_header> headers;
  std::string body;
  /// The status the request's AuditEvent records when it is not `status`
  /// (0: `status`). Never sent. A write refused because its resource lies
  /// outside what a restricted token reaches is answered exactly as the same
  /// write of an absent resource (SECURITY.md: no difference between "does
  /// not exist" and "not yours") and recorded as the refusal (403) it is.
  int audit_status = 0;
  /// The same for the entries of a batch or transaction response: (entry
  /// index, status to record) for each entry answered as for an absent
  /// resource but recorded as refused. Never sent.
  std::vector<std::pair<std::size_t, int>> audit_entry_status;
  /// The patients the answer is about (ids), for the AuditEvent's
  /// entity[patient] (IHE BALP PatientRead): the Patient compartment of the
  /// resource a read returned. Never sent.
  std::vector<std::string> audit_patient_ids;

  /// Replaces every header named `name` (case-insensitive) with one.
  void set_header(std::string_view name, std::string value);
  /// The first header named `name`; nullopt when absent.
  std::optional<std::string_view> header(std::string_view name) const;
};

}  // namespace hearth::server
