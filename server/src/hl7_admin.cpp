// The REST admin API of the HL7 v2 message log (hl7_admin.hpp says what and
// why), and the MLLP listener's counters for /metrics.

#include <hearth/server/hl7_admin.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

#include <hearth/core/base64.hpp>
#include <hearth/core/text.hpp>
#include <hearth/core/utf8.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/fhir_api.hpp>
#include <hearth/server/hl7_intake.hpp>
#include <hearth/store/date_range.hpp>
#include <hearth/store/resource_version.hpp>

#include "rest_target.hpp"

namespace hearth::server {
namespace {

using fhir::json_value;

/// The path below the base path that this API answers (and everything below it).
constexpr std::string_view admin_root = "/admin/hl7";

/// The interaction name given to `observe` (metrics label, log line).
constexpr std::string_view admin_interaction = "hl7-admin";

/// A JSON answer: {"error": code, "error_description": text[, "parameter":
/// name]}, the shape of RFC 6749 5.2 errors that the authorisation
/// server's answers have too. `description` is fixed text, never input; a
/// parameter's name is one of the names this API knows, or one it does not
/// (then quoted back: a name is no PHI, and the administrator sent it).
http_response error_answer(int status, std::string_view code, std::string_view description,
                           std::string_view parameter = {}) {
  json_value o = json_value::object();
  o.set("error", std::string(code));
  o.set("error_description", std::string(description));
  if (!parameter.empty()) o.set("parameter", std::string(parameter));
  http_response r;
  r.status = status;
  r.set_header("Content-Type", "application/json");
  r.body = fhir::to_json(o);
  return r;
}

http_response json_answer(int status, const json_value& body) {
  http_response r;
  r.status = status;
  r.set_header("Content-Type", "application/json");
  r.body = fhir::to_json(body);
  return r;
}

/// RFC 6750 3: the challenge; the description is fixed text.
std::string challenge(std::string_view error = {}, std::string_view description = {}, std::string_view scope = {}) {
  std::string c = R"(Bearer realm="hearth")";
  if (!error.empty()) c += R"(, error=")" + std::string(error) + '"';
  if (!description.empty()) c += R"(, error_description=")" + std::string(description) + '"';
  if (!scope.empty()) c += R"(, scope=")" + std::string(scope) + '"';
  return c;
}

/// What the Authorization header(s) of a request hold.
struct bearer {
  bool repeated = false;   ///< more than one Authorization header (RFC 6750 3.1 invalid_request)
  std::string_view token;  ///< the Bearer credentials; empty when none
};

/// RFC 6750 2.1 "Bearer" 1*SP b64token, in one Authorization header; the
/// token's own syntax and everything else is the verifier's to judge.
bearer bearer_of(const http_request& req) {
  bearer b;
  const http_header* found = nullptr;
  for (const http_header& h : req.headers) {
    if (!text::iequals(h.name, "Authorization")) continue;
    if (found != nullptr) return bearer{true, {}};
    found = &h;
  }
  if (found == nullptr) return b;
  const std::string_view value = text::trim(found->value);
  const std::size_t sp = value.find(' ');
  if (sp == std::string_view::npos || !text::iequals(value.substr(0, sp), "Bearer")) return b;
  b.token = text::trim(value.substr(sp));
  return b;
}

/// Splits "/a/b" into its segments (still percent-encoded).
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
    // Beyond the longest route ("messages/{id}/$reprocess") nothing is
    // looked at: bounds the work of a hostile path.
    if (out.size() > rest::max_segments) break;
  }
  return out;
}

/// A message log id as a path names it: 1 to 18 decimal digits, positive.
std::optional<std::int64_t> log_id_of(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

/// One record as the API shows it; `whole` adds the ACK and the raw bytes.
json_value record_json(const store::message_record& r, bool whole) {
  json_value o = json_value::object();
  o.set("id", json_value::number(std::to_string(r.id)));
  o.set("sender_application", r.sender_application);
  o.set("sender_facility", r.sender_facility);
  o.set("control_id", r.control_id);
  o.set("message_type", r.message_type);
  o.set("status", std::string(store::to_string(r.status)));
  o.set("received_at", store::format_instant(r.received_at));
  o.set("updated_at", store::format_instant(r.updated_at));
  o.set("raw_sha256", r.raw_sha256);
  o.set("error", r.error);
  json_value resources = json_value::array();
  for (const std::string& what : r.resources) resources.push_back(json_value(what));
  o.set("resources", std::move(resources));
  if (whole) {
    // HL7 v2.5.1 2.15.9.18 MSH-18: the message may be in any character set;
    // JSON text is UTF-8 (RFC 8259 8.1), so the bytes travel as base64.
    // The ACK is Hearth's own, built from ASCII fixed texts and the fields
    // it echoes; it is shown as text when it is UTF-8 and as base64 else.
    o.set("raw", base64::encode(r.raw));
    if (utf8::find_invalid(r.ack) == utf8::npos) {
      o.set("ack", r.ack);
    } else {
      o.set("ack_base64", base64::encode(r.ack));
    }
  }
  return o;
}

/// Reads the list's parameters into `q`; the refusal, or nullopt.
/// `kept` collects the filters (not _count or cursor) for the next link.
std::optional<http_response> read_list_params(std::string_view query, store::message_query& q,
                                              rest::param_list& kept) {
  rest::param_list params;
  if (auto parsed = rest::parse_params(query, false, params); !parsed) {
    return error_answer(400, "invalid_request",
                        parsed.error().code == "too-costly" ? "the query has too many parameters"
                                                            : "the query is not percent-encoded UTF-8");
  }
  std::vector<std::string_view> seen;
  for (const auto& [name, value] : params) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      return error_answer(400, "invalid_request", "a parameter is given more than once", name);
    const auto bad = [&name](std::string_view why) { return error_answer(400, "invalid_request", why, name); };
    if (name == "status") {
      const auto s = store::parse_message_status(value);
      if (!s) return bad("status must be one of received, processed, error, rejected");
      q.status = *s;
    } else if (name == "type" || name == "sender" || name == "facility") {
      if (value.empty() || value.size() > store::message_log::max_key_bytes)
        return bad("the value must hold 1 to 512 bytes");
      (name == "type" ? q.message_type : name == "sender" ? q.sender_application : q.sender_facility) = value;
    } else if (name == "received-from" || name == "received-to") {
      // The first instant of the value (store/date_range.hpp): from is
      // inclusive, to exclusive, so that consecutive ranges do not overlap.
      const auto d = store::parse_date_range(value);
      if (!d) return bad("the value must be an R4 date, dateTime or instant (2024-03-01T12:00:00Z)");
      const store::instant at{std::chrono::milliseconds(d->low)};
      (name == "received-from" ? q.received_from : q.received_to) = at;
    } else if (name == "_count") {
      std::size_t n = 0;
      const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (r.ec == std::errc::result_out_of_range) {
        n = hl7_admin::max_count;
      } else if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() || n == 0) {
        return bad("_count must be a positive whole number");
      }
      // As FHIR search's _count (R4 search.html#count): above the most a
      // page holds, fewer are returned.
      q.count = std::min(n, hl7_admin::max_count);
    } else if (name == "cursor") {
      if (value.empty()) return bad("cursor must be the value of a next link");
      q.cursor = value;
    } else {
      return error_answer(400, "invalid_request", "unknown parameter", name);
    }
    if (name != "_count" && name != "cursor") kept.emplace_back(name, value);
    seen.push_back(name);
  }
  return std::nullopt;
}

}  // namespace

hl7_admin::hl7_admin(const store::message_log& log, hl7_intake& intake, hl7_admin_options opts)
    : log_(log), intake_(intake), opts_(std::move(opts)), base_path_(base_path_of(opts_.base_url)) {
  if (!opts_.verifier && !opts_.insecure_no_auth)
    throw std::invalid_argument("hl7_admin: a token verifier is required unless authorisation is off");
}

std::optional<http_response> hl7_admin::handle(http_request& req) const {
  const auto started = std::chrono::steady_clock::now();
  const std::string_view target = req.target;
  const std::size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (!base_path_.empty()) {
    if (!path.starts_with(base_path_)) return std::nullopt;
    path.remove_prefix(base_path_.size());
  }
  if (!path.starts_with(admin_root)) return std::nullopt;
  std::string_view rest = path.substr(admin_root.size());
  if (!rest.empty() && rest.front() != '/') return std::nullopt;  // "/admin/hl7x" is not ours

  http_response res;
  audit_record audit;
  audit.interaction = audit_interaction::operation;
  // E for $reprocess (it changes the log and may write resources), R for
  // the rest; known from the path before anything is checked, so that a
  // refused $reprocess is recorded as the execute it tried.
  audit.action = rest.ends_with("/$reprocess") || rest.ends_with("/%24reprocess") ? audit_action::execute
                                                                                  : audit_action::read;
  audit.request_id = req.request_id;
  audit.remote_address = req.remote_address;
  bool audited = false;  // whether `audit` is recorded for this answer
  try {
    res = dispatch(req, rest, query, audit, audited);
  } catch (const std::exception&) {
    // One catch at the boundary (CONVENTIONS.md): nothing of the exception
    // is shown; the call is recorded as the failure it is.
    res = error_answer(500, "server_error", "the request could not be completed");
  }

  if (audited && opts_.audit) {
    audit.status = res.status;
    set_principal(audit, req.principal.get());
    if (!opts_.audit(std::move(audit))) {
      // SECURITY.md "or the request fails": no answer without its event.
      res = error_answer(503, "temporarily_unavailable", "the audit trail cannot record this request: retry later");
      res.set_header("Retry-After", "5");
    }
  }

  // The pipeline's stage 7 (request_pipeline.hpp): the same headers every
  // answer gets. The raw message is PHI: no cache may keep it.
  res.set_header("X-Request-Id", req.request_id);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
  if (opts_.tls) res.set_header("Strict-Transport-Security", "max-age=31536000; includeSubDomains");

  if (opts_.observe) {
    request_record r;
    r.request_id = req.request_id;
    r.method = req.method;
    r.interaction = admin_interaction;
    r.status = res.status;
    r.duration = std::chrono::steady_clock::now() - started;
    r.response_bytes = res.body.size();
    if (req.principal) {
      r.client_id = req.principal->client_id;
      r.token_id = req.principal->jti;
    }
    opts_.observe(r);
  }
  return res;
}

http_response hl7_admin::dispatch(http_request& req, std::string_view rest, std::string_view query,
                                  audit_record& audit, bool& audited) const {
  req.principal.reset();

  // Stage 2: the client's rate, before any other work; keyed as the
  // pipeline keys it (the client of a token verified before, else the
  // address), in the same buckets. Not audited: a throttled client must not
  // fill the trail (request_pipeline.hpp).
  const bearer cred = bearer_of(req);
  if (opts_.rate_limit) {
    std::shared_ptr<const auth::principal> cached;
    if (opts_.verifier && !cred.token.empty()) cached = opts_.verifier->find_cached(cred.token);
    const rate_decision d =
        opts_.rate_limit->acquire(cached ? "client:" + cached->client_id : rate_limit_key(req));
    if (!d.allowed) {
      // RFC 6585 4, RFC 9110 10.2.3.
      http_response r = error_answer(429, "too_many_requests", "too many requests from this client: retry later");
      r.set_header("Retry-After", std::to_string(d.retry_after.count()));
      return r;
    }
  }
  // Fail closed: nothing the trail would have to record is done while it
  // cannot take records (RFC 9110 15.6.4: 503 with Retry-After).
  if (opts_.audit_healthy && !opts_.audit_healthy()) {
    http_response r = error_answer(503, "temporarily_unavailable", "the audit trail is unavailable: retry later");
    r.set_header("Retry-After", "5");
    return r;
  }

  // Stage 5: an administrator (hl7_admin.hpp). Every answer from here on is
  // audited, the refusals included.
  audited = true;
  if (opts_.verifier) {
    if (cred.repeated) {
      http_response r = error_answer(400, "invalid_request", "more than one Authorization header");
      r.set_header("WWW-Authenticate", challenge("invalid_request", "more than one Authorization header"));
      return r;
    }
    if (cred.token.empty()) {
      // RFC 6750 3.1: no credentials, no error code in the challenge.
      http_response r =
          error_answer(401, "invalid_token", "an administrator's access token is required (Authorization: Bearer)");
      r.set_header("WWW-Authenticate", challenge());
      return r;
    }
    auto who = opts_.verifier->verify(cred.token);
    if (!who) {
      const std::string_view why =
          who.error().code == "expired" ? "the access token has expired" : "the access token is not valid";
      http_response r = error_answer(401, "invalid_token", why);
      r.set_header("WWW-Authenticate", challenge("invalid_token", why));
      return r;
    }
    req.principal = std::move(*who);
    if (!req.principal->scopes.has(auth::context_scope::hearth_admin)) {
      // RFC 6750 3.1 insufficient_scope: 403, naming the scope needed.
      http_response r = error_answer(403, "insufficient_scope", "the access token lacks the hearth/admin scope");
      r.set_header("WWW-Authenticate",
                   challenge("insufficient_scope", "the access token lacks the hearth/admin scope", "hearth/admin"));
      return r;
    }
  }
  // The token has done its work: it travels no further.
  std::erase_if(req.headers, [](const http_header& h) { return text::iequals(h.name, "Authorization"); });

  // The route. Segments are decoded: a client may send "$" as "%24".
  std::vector<std::string> seg;
  for (std::string_view s : segments(rest)) {
    auto decoded = rest::percent_decode(s, false);
    if (!decoded) return error_answer(404, "not_found", "no such admin endpoint");
    seg.push_back(std::move(*decoded));
  }
  if (seg.empty() || seg.size() > 3 || seg[0] != "messages")
    return error_answer(404, "not_found", "no such admin endpoint");
  const auto not_allowed = [](std::string_view allow) {
    http_response r = error_answer(405, "invalid_request", "method not allowed here");
    r.set_header("Allow", std::string(allow));
    return r;
  };

  // GET [base]/admin/hl7/messages?...
  if (seg.size() == 1) {
    if (req.method != "GET") return not_allowed("GET");
    store::message_query mq;
    rest::param_list kept;
    if (auto refused = read_list_params(query, mq, kept)) return std::move(*refused);
    // BALP Query: the request as sent, once its parameters are known good
    // (an access_token among them is refused above and never recorded).
    audit.query = req.target;
    auto page = log_.list(mq);
    if (!page) {
      if (page.error().code == "invalid") return error_answer(400, "invalid_request", "not a cursor of this server", "cursor");
      return error_answer(500, "server_error", "the message log cannot be read");
    }
    json_value messages = json_value::array();
    for (const store::message_record& r : page->records) messages.push_back(record_json(r, false));
    json_value body = json_value::object();
    body.set("messages", std::move(messages));
    if (!page->next_cursor.empty()) {
      kept.emplace_back("_count", std::to_string(mq.count));
      kept.emplace_back("cursor", page->next_cursor);
      body.set("next", opts_.base_url + std::string(admin_root) + "/messages?" + rest::join_params(kept));
    }
    return json_answer(200, body);
  }

  // The one-message endpoints take no parameters.
  const bool reprocess = seg.size() == 3;
  if (reprocess && seg[2] != "$reprocess") return error_answer(404, "not_found", "no such admin endpoint");
  if (req.method != (reprocess ? "POST" : "GET")) return not_allowed(reprocess ? "POST" : "GET");
  {
    rest::param_list params;
    if (!rest::parse_params(query, false, params) || !params.empty()) {
      return error_answer(400, "invalid_request", "this endpoint takes no parameters",
                          params.empty() ? std::string_view() : std::string_view(params.front().first));
    }
  }
  audit.query = req.target;
  const auto id = log_id_of(seg[1]);
  if (!id) return error_answer(404, "not_found", "no message with this id");

  if (!reprocess) {
    auto rec = log_.get(*id);
    if (!rec) return error_answer(500, "server_error", "the message log cannot be read");
    if (!*rec) return error_answer(404, "not_found", "no message with this id");
    return json_answer(200, record_json(**rec, true));
  }
  // POST [base]/admin/hl7/messages/{id}/$reprocess
  auto after = intake_.reprocess(*id);
  if (!after) {
    const hearth::error& e = after.error();
    // The intake's messages are its own fixed texts (hl7_intake.cpp).
    if (e.code == "not-found") return error_answer(404, "not_found", "no message with this id");
    if (e.code == "conflict") return error_answer(409, "conflict", e.message);
    return error_answer(500, "server_error", "the message could not be processed again");
  }
  return json_answer(200, record_json(*after, true));
}

std::string mllp_metrics_text(const mllp_stats& s) {
  std::string out;
  auto metric = [&out](std::string_view name, std::string_view type, std::string_view help, std::uint64_t value) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
    out.append(type).append("\n").append(name).append(" ").append(std::to_string(value)).append("\n");
  };
  metric("hearth_mllp_connections_open", "gauge", "MLLP connections open now.", s.connections_open);
  metric("hearth_mllp_frames_total", "counter", "MLLP blocks decoded and handed to the HL7 v2 intake.", s.frames);
  metric("hearth_mllp_oversized_total", "counter", "MLLP blocks larger than the frame limit (answered AR 104).",
         s.oversized);
  metric("hearth_mllp_timeouts_total", "counter", "MLLP connections closed by a deadline (idle, frame, write, TLS).",
         s.timeouts);
  metric("hearth_mllp_tls_failures_total", "counter",
         "MLLP TLS handshakes that did not complete (client certificate refusals included).", s.tls_failures);
  return out;
}

}  // namespace hearth::server
