#include "serve_command.hpp"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <hearth/fhir/definitions.hpp>
#include <hearth/core/text.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/audit.hpp>
#include <hearth/server/auth_server.hpp>
#include <hearth/server/capability.hpp>
#include <hearth/server/fhir_api.hpp>
#include <hearth/server/hl7_admin.hpp>
#include <hearth/server/hl7_intake.hpp>
#include <hearth/server/http_listener.hpp>
#include <hearth/server/jwks_fetcher.hpp>
#include <hearth/server/metrics.hpp>
#include <hearth/server/mllp_listener.hpp>
#include <hearth/server/rate_limiter.hpp>
#include <hearth/server/request_pipeline.hpp>
#include <hearth/server/server_config.hpp>
#include <hearth/server/validation_support.hpp>
#include <hearth/store/database.hpp>
#include <hearth/store/indexer.hpp>
#include <hearth/store/message_log.hpp>
#include <hearth/store/resource_store.hpp>

#include "examples_loader.hpp"
#include "fhir_commands.hpp"

namespace hearth::app {
namespace {

namespace srv = hearth::server;

/// One JSON log line on stderr (DESIGN.md: structured, no PHI): the fields
/// are identifiers, numbers and constant texts only.
void log_line(const std::string& fields) {
  const auto now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(now.time_since_epoch().count() % 1000));
  std::string line = std::string(R"({"ts":")") + ts + "\"," + fields + "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

std::string json_string(std::string_view s) {
  std::string out;
  fhir::write_json_string(out, s);
  return out;
}

void fail(const std::string& what, const hearth::error& e) {
  log_line(R"("level":"error","msg":)" + json_string(what + ": " + e.message));
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  if (text::iequals(host, "localhost")) return true;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string h(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;  // 127.0.0.0/8
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);  // ::1 only
  return false;
}

int serve_main(const std::vector<std::string>& all_args) {
  // --insecure-no-auth is this command's own flag, not a server_config
  // setting: it has no environment variable or file key, so that turning
  // authorisation off is always visible on the command line.
  bool insecure_no_auth = false;
  // --insecure-no-audit likewise, and only with --insecure-no-auth: it
  // exists to measure what the trail costs (bench/run_rest), never to run.
  bool insecure_no_audit = false;
  // --insecure-mllp-any-sender: an MLLP listener on a non-loopback address
  // without client certificates, where anyone who reaches the port writes
  // records. Like the two above, visible on the command line only.
  bool insecure_mllp_any_sender = false;
  std::vector<std::string> args;
  for (const std::string& a : all_args) {
    if (a == "--insecure-no-auth") {
      insecure_no_auth = true;
    } else if (a == "--insecure-mllp-any-sender") {
      insecure_mllp_any_sender = true;
    } else if (a == "--insecure-no-audit") {
      insecure_no_audit = true;
    } else {
      args.push_back(a);
    }
  }
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << "usage: hearth serve [--insecure-no-auth [--insecure-no-audit]] [flags]\n\n"
                << "Every FHIR request needs a bearer token (RFC 6750) signed by this server's key\n"
                << "(DATA/auth/signing-key.pem, created at the first start; `hearth token` mints\n"
                << "one) or by a trusted issuer, for this server's base URL.\n\n"
                << "  --insecure-no-auth  serve without any authorisation: for development on a\n"
                << "                      loopback address only (refused on any other address)\n"
                << "  --insecure-no-audit with --insecure-no-auth only: record no AuditEvent either\n"
                << "                      (to measure what the trail costs; never in production)\n"
                << "  --insecure-mllp-any-sender  let the MLLP listener bind a non-loopback address\n"
                << "                      without client certificates (--mllp-tls-client-ca): any\n"
                << "                      host that reaches the port may then write records\n\n"
                << srv::config_help();
      return 0;
    }
  }
  srv::config_sources sources;
  sources.env = srv::process_environment();
  sources.flags = args;
  auto config = srv::load_server_config(sources);
  if (!config) {
    std::cerr << "hearth serve: " << config.error().message << "\n";
    return 2;
  }
  const srv::server_config& cfg = *config;
  if (insecure_no_audit && !insecure_no_auth) {
    std::cerr << "hearth serve: --insecure-no-audit is refused without --insecure-no-auth: a server that checks "
                 "tokens records every access (SECURITY.md)\n";
    return 2;
  }
  // Without authorisation anyone who reaches the port reads and writes every
  // record: allowed only where nobody else can reach it (SECURITY.md, deny
  // by default).
  if (insecure_no_auth && !is_loopback_host(cfg.http_host)) {
    std::cerr << "hearth serve: --insecure-no-auth is refused: the HTTP listener would bind " << cfg.http_host
              << ", which is not a loopback address (127.0.0.0/8, ::1, localhost); without authorisation anyone "
                 "who reaches it could read and change every record\n";
    return 2;
  }
  // MLLP has no tokens: off loopback, the senders must prove who they are
  // with a client certificate (SECURITY.md, HIPAA 164.312(d): "mTLS for
  // MLLP"), unless the operator says otherwise on the command line.
  if (cfg.mllp_port && !is_loopback_host(cfg.mllp_host) && cfg.mllp_tls_client_ca_file.empty() &&
      !insecure_mllp_any_sender) {
    std::cerr << "hearth serve: the MLLP listener would bind " << cfg.mllp_host
              << ", which is not a loopback address, without client certificates: anyone who reaches it could "
                 "write records. Give --mllp-tls-cert, --mllp-tls-key and --mllp-tls-client-ca (mTLS), or "
                 "--insecure-mllp-any-sender\n";
    return 2;
  }
  // The per-sender mapping settings, read before anything starts.
  mapping::mapping_config hl7_mapping;
  if (!cfg.hl7_config_file.empty()) {
    auto loaded = mapping::mapping_config::load(cfg.hl7_config_file);
    if (!loaded) {
      std::cerr << "hearth serve: hl7_config_file: " << loaded.error().message << "\n";
      return 2;
    }
    hl7_mapping = std::move(*loaded);
  }
  // Settings this build reads but cannot honour yet: refused, never ignored.
  for (const auto& [set, name] : {std::pair{cfg.max_pipelined != 1, "max_pipelined other than 1"}}) {
    if (set) {
      std::cerr << "hearth serve: " << name << " is not supported by this build yet\n";
      return 2;
    }
  }

  // Signals are taken by sigwait below, on this thread only: blocked here,
  // before any thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const auto started = std::chrono::steady_clock::now();
  auto defs = fhir::definitions::load(default_definitions_dir());
  if (!defs) {
    fail("cannot load the FHIR definitions", defs.error());
    return 1;
  }
  // Validation and terminology (issue 8; validation_support.hpp). When the
  // writes are validated, both are built now, the terminology on a thread of
  // its own beside the validator; otherwise on first use (the first
  // $validate or terminology operation waits for them, well under a second),
  // so that a server that never validates never pays for them.
  auto policy = srv::validation_policy::parse(cfg.validation);
  if (!policy) {
    fail("validation", policy.error());
    return 1;
  }
  if (const std::string unknown = policy->unknown_type(*defs); !unknown.empty()) {
    std::cerr << "hearth serve: validation: " << unknown << " is not an R4 resource type\n";
    return 1;
  }
  srv::validation_settings validation_settings;
  validation_settings.definitions_dir = default_definitions_dir();
  validation_settings.packages.assign(cfg.fhir_packages.begin(), cfg.fhir_packages.end());
  validation_settings.policy = std::move(*policy);
  srv::validation_support validation(*defs, std::move(validation_settings));
  if (!cfg.fhir_packages.empty() || validation.policy().any()) {
    validation.preload();
    // A package that cannot be read, or validation asked for on a server
    // whose definitions lack what it needs, stops start-up rather than
    // failing every write later.
    if (auto v = validation.validator(); !v) {
      fail("cannot build the profile validator", v.error());
      return 1;
    }
  }
  auto db_config = cfg.database();
  if (!db_config) {
    fail("database configuration", db_config.error());
    return 1;
  }
  auto db = store::database::open(*db_config);
  if (!db) {
    fail("cannot open the database", db.error());
    return 1;
  }
  // The key of paging cursors, shared by every process of this database and
  // kept across restarts (rest_cursor.hpp).
  auto cursor_key = (*db)->shared_secret("cursor-seal-key", 32);
  if (!cursor_key) {
    fail("cannot read the cursor key from the database", cursor_key.error());
    return 1;
  }
  const store::indexer ix(*defs);
  store::resource_store rs(**db, ix);
  // Examples go in before the listener opens: the first request sees them.
  if (!cfg.examples_dir.empty()) {
    auto loaded = load_examples(cfg.examples_dir, rs, *defs);
    if (!loaded) {
      fail("cannot load the examples", loaded.error());
      return 1;
    }
    // Counts only: the resources, invented or not, stay out of the log.
    log_line(R"("level":"info","msg":"examples loaded","files":)" + std::to_string(loaded->files) +
             R"(,"created":)" + std::to_string(loaded->created) + R"(,"updated":)" +
             std::to_string(loaded->updated) + R"(,"unchanged":)" + std::to_string(loaded->unchanged));
  }

  // The key access tokens are signed with (`hearth token`, the token
  // endpoint) and verified against; made at the first start.
  std::optional<srv::jwt::key> signing_key;
  if (!insecure_no_auth) {
    auto k = srv::auth::load_or_create_signing_key(cfg.data_dir);
    if (!k) {
      fail("cannot load the token signing key", k.error());
      return 1;
    }
    signing_key = std::move(*k);
  }

  srv::server_metrics metrics;
  metrics.db_pool_size.set(static_cast<double>(db_config->pool_size));

  // The AuditEvent trail (SECURITY.md "Audit"), on the open database; its
  // source (base URL) is known once the port is bound, so the trail is made
  // below; declared here so that it outlives every function that holds it.
  std::unique_ptr<srv::audit_trail> trail;
  std::unique_ptr<srv::auth::auth_server> auth;

  // The listener binds first (port 0 picks one), the API learns its base URL
  // from the bound port; requests arriving before it is ready get 503.
  std::atomic<const srv::request_pipeline*> pipeline{nullptr};
  // The HL7 v2 admin API (hl7_admin.hpp) and the MLLP listener whose
  // counters /metrics shows: set once the HL7 interface runs (MLLP on);
  // without them [base]/admin/hl7 is an unknown path like any other.
  std::atomic<const srv::hl7_admin*> hl7_admin_api{nullptr};
  std::atomic<const srv::mllp_listener*> mllp_running{nullptr};
  srv::listener_options lo;
  lo.host = cfg.http_host;
  lo.port = cfg.http_port;
  lo.io_threads = cfg.io_threads;
  lo.worker_threads = cfg.worker_threads;
  lo.write_threads = cfg.write_threads;
  lo.max_body_bytes = cfg.max_body_bytes;
  lo.max_header_bytes = cfg.max_header_bytes;
  lo.max_connections = cfg.max_connections;
  lo.read_timeout = cfg.read_timeout;
  lo.write_timeout = cfg.write_timeout;
  lo.keep_alive_timeout = cfg.keep_alive_timeout;
  // HTTPS: the handshake is the first thing read from a connection, under
  // the same slow-client deadline as a request.
  lo.tls_cert_file = cfg.tls_cert_file;
  lo.tls_key_file = cfg.tls_key_file;
  lo.handshake_timeout = cfg.read_timeout;
  srv::counter& tls_failures =
      metrics.registry()
          .add_counter("hearth_tls_handshake_failures_total",
                       "TLS handshakes that did not complete (timeouts, protocol errors, clients closing).")
          .get();
  lo.on_tls_handshake_failure = [&tls_failures] { tls_failures.inc(); };
  auto listener = srv::http_listener::start(lo, [&pipeline, &hl7_admin_api](srv::http_request& req) {
    if (const srv::hl7_admin* admin = hl7_admin_api.load()) {
      if (auto answered = admin->handle(req)) return std::move(*answered);
    }
    const srv::request_pipeline* p = pipeline.load();
    if (p == nullptr) {
      srv::http_response r;
      r.status = 503;
      r.set_header("Content-Type", "application/fhir+json; charset=utf-8");
      r.body = R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient","diagnostics":"starting"}]})";
      return r;
    }
    return p->handle(req);
  });
  if (!listener) {
    // "invalid": the configuration (the host, a TLS certificate or key the
    // message names) cannot be used, reported as load_server_config's errors.
    if (listener.error().code == "invalid") {
      std::cerr << "hearth serve: " << listener.error().message << "\n";
      return 2;
    }
    fail("cannot start the HTTP listener", listener.error());
    return 1;
  }
  const std::uint16_t port = (*listener)->port();

  srv::api_options api_opts;
  api_opts.base_url = cfg.base_url(port);
  api_opts.cursor_key = std::move(*cursor_key);

  {
    srv::audit_trail_options ao;
    ao.source.observer = "hearth";
    ao.source.base_url = api_opts.base_url;
    // The error carries no content (audit.hpp): its code and message only.
    ao.on_append_failure = [](const hearth::error& e) {
      log_line(R"("level":"error","msg":"audit append failed","code":)" + json_string(e.code));
    };
    trail = std::make_unique<srv::audit_trail>(**db, std::move(ao));
  }

  // The SMART authorisation server (auth_server.hpp), on the final base URL:
  // the issuer of its tokens and the prefix of every URL it publishes.
  // Its registration endpoint verifies the administrator's token as the FHIR
  // side does: with the pipeline's token_verifier, which needs this server's
  // keys, so it is built below and put here before the first request.
  auto admin_verifier = std::make_shared<std::shared_ptr<const srv::auth::token_verifier>>();
  if (!insecure_no_auth) {
    srv::auth::auth_server_options ao;
    ao.base_url = api_opts.base_url;
    ao.signing_key = *signing_key;
    ao.settings = cfg.auth;
    ao.state_dir = std::filesystem::path(cfg.data_dir) / "auth";
    ao.is_resource_type = [&defs](std::string_view t) { return defs->is_resource_type(t); };
    ao.verify_access_token =
        [admin_verifier](std::string_view token) -> hearth::result<std::shared_ptr<const srv::auth::principal>> {
      if (!*admin_verifier)
        return hearth::unexpected(hearth::error{"unavailable", "starting", {}, hearth::error::npos});
      return (*admin_verifier)->verify(token);
    };
    // Every token issued and every refusal (IHE IUA ITI-71; BALP): the
    // event carries ids and the jti, never a secret (auth_event).
    ao.audit = [t = trail.get(), base = api_opts.base_url](const srv::auth::auth_event& e) {
      srv::audit_record r;
      r.interaction = e.endpoint == "login" || e.endpoint == "authorize" ? srv::audit_interaction::login
                      : e.endpoint == "register"                         ? srv::audit_interaction::operation
                                                                         : srv::audit_interaction::token;
      r.status = e.status != 0 ? e.status : e.success ? 200 : 400;
      // Client registration: an administrator's operation, create, read
      // or delete, with the status it was answered.
      if (e.endpoint == "register")
        r.action = e.operation == "create"   ? srv::audit_action::create
                   : e.operation == "delete" ? srv::audit_action::remove
                                             : srv::audit_action::read;
      r.outcome = e.success ? srv::audit_outcome::success : srv::audit_outcome::minor_failure;
      r.request_id = e.request_id;
      r.remote_address = e.remote_address;
      r.client_id = e.client_id;
      r.subject = e.subject;
      r.issuer = base;
      r.jti = e.jti;
      if (!e.patient.empty()) r.patient_ids.push_back(e.patient);
      // The callback cannot fail the answer; a refused event is counted
      // (hearth_audit_refused_total) and the trail is unhealthy, so the
      // next requests are refused with 503 until it recovers.
      if (!t->record_async(std::move(r)))
        log_line(R"("level":"error","msg":"audit event of an authorisation decision refused")");
    };
    auto created = srv::auth::auth_server::create(std::move(ao));
    if (!created) {
      if (created.error().code == "invalid") {
        std::cerr << "hearth serve: auth: " << created.error().message << "\n";
        (*listener)->stop();
        trail->stop();
        (*db)->stop();
        return 2;
      }
      fail("cannot start the authorisation server", created.error());
      (*listener)->stop();
      trail->stop();
      (*db)->stop();
      return 1;
    }
    auth = std::move(*created);
  }
  srv::capability_options cap;
  cap.base_url = api_opts.base_url;
  cap.software_version = HEARTH_VERSION;
  cap.cors = !cfg.cors_allowed_origins.empty();
  cap.smart = !insecure_no_auth;
  cap.security_description =
      insecure_no_auth
          ? "AUTHORISATION IS OFF (hearth serve --insecure-no-auth): every request is served without a token. "
            "For development on a loopback address only."
          : "Every request needs an OAuth 2.0 bearer token (RFC 6750, a JWT access token as RFC 9068 defines) "
            "issued for this server's base URL; SMART on FHIR scopes (SMART App Launch 2.x, v1 and v2 syntax) "
            "decide what it may read and write.";
  // SMART scopes are checked by fhir_api for every interaction; off only
  // with the pipeline's authentication (the flag turns both off).
  api_opts.enforce_authorization = !insecure_no_auth;

  if (!insecure_no_auth) {
    cap.security_description +=
        " SMART on FHIR (SMART App Launch 2.2): discovery at " + api_opts.base_url +
        "/.well-known/smart-configuration; authorize " + auth->endpoint_url("authorize") + ", token " +
        auth->endpoint_url("token") + " (authorization_code with PKCE S256, refresh_token, client_credentials "
        "with private_key_jwt), introspect " + auth->endpoint_url("introspect") + ", revoke " +
        auth->endpoint_url("revoke") + ", keys " + auth->endpoint_url("jwks") + ", client registration " +
        auth->endpoint_url("register") + " (RFC 7591, administrators: scope hearth/admin).";
  }
  cap.security_description +=
      " Every interaction is recorded as an AuditEvent (IHE BALP), readable with an explicit AuditEvent scope.";
  // The trail is served read-only: read and search-type, and only the
  // parameters the audit log can search (store/audit_query.hpp).
  // The terminology operations (rest_terminology.hpp).
  for (const auto& [type, name, definition] : std::initializer_list<std::array<const char*, 3>>{
           {"ValueSet", "expand", "http://hl7.org/fhir/OperationDefinition/ValueSet-expand"},
           {"ValueSet", "validate-code", "http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code"},
           {"CodeSystem", "lookup", "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup"},
           {"CodeSystem", "validate-code", "http://hl7.org/fhir/OperationDefinition/CodeSystem-validate-code"},
           {"CodeSystem", "subsumes", "http://hl7.org/fhir/OperationDefinition/CodeSystem-subsumes"},
           {"ConceptMap", "translate", "http://hl7.org/fhir/OperationDefinition/ConceptMap-translate"}}) {
    cap.operations.push_back({name, definition, type});
  }
  cap.type_overrides.push_back({"AuditEvent",
                                {"read", "search-type"},
                                {"_id", "date", "patient", "agent", "entity", "type", "subtype", "action", "outcome"}});
  api_opts.indexer = &ix;
  api_opts.audit_log = &trail->log();
  // Reads of the trail first append what waits in its batch window: at most
  // a second's wait, as long as a batch takes; a failing database is
  // answered by the health check (503), not here.
  api_opts.audit_catch_up = [t = trail.get()] { (void)t->flush(std::chrono::seconds(1)); };
  api_opts.validation = &validation;
  {
    const std::string base_path = srv::base_path_of(api_opts.base_url);
    srv::audit_trail* t = trail.get();
    const store::indexer* index = &ix;
    const fhir::definitions* d = &*defs;
    // Each REST write commits its AuditEvent in its own transaction
    // (SECURITY.md: "committed in the same transaction as the change it
    // records, or the request fails"), and tells the pipeline it did
    // (http_request::audited_in_tx), which then records nothing more.
    api_opts.make_write_hook = [t, index, d, base_path](const srv::http_request& req) -> store::write_hook {
      std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
      if (!base_path.empty() && path.starts_with(base_path)) path.remove_prefix(base_path.size());
      const srv::request_kind kind = srv::classify_request(req.method, path, *d);
      srv::audit_record base;
      if (auto r = srv::audit_record_of(req, path, kind)) {
        base = std::move(*r);
      } else {
        base.interaction = srv::audit_interaction::operation;  // $meta-add, $meta-delete
        base.request_id = req.request_id;
        base.remote_address = req.remote_address;
      }
      srv::set_principal(base, req.principal.get());
      // A transaction Bundle's hook runs after each entry's write.
      const bool bundle = base.interaction == srv::audit_interaction::batch ||
                          base.interaction == srv::audit_interaction::transaction;
      return [t, index, flag = req.audited_in_tx, bundle, base = std::move(base)](
                 store::resource_tx& tx, const store::write_outcome& w) -> hearth::result<void> {
        srv::audit_record r = base;
        r.resource_type = w.version.type;
        r.resource_id = w.version.id;
        r.version_id = w.version.version_id;
        r.status = w.created ? 201 : 200;
        r.outcome = srv::audit_outcome::success;
        if (bundle) {
          r.interaction = srv::audit_interaction::transaction;
          r.action = w.version.made_by == store::change::create   ? srv::audit_action::create
                     : w.version.made_by == store::change::remove ? srv::audit_action::remove
                                                                  : srv::audit_action::update;
        }
        // BALP PatientCreate/Update: the patients the written resource
        // belongs to (a Patient is added by the builder itself).
        if (!w.version.deleted && !w.version.json.empty() && w.version.type != "Patient") {
          if (auto parsed = fhir::parse_json(w.version.json)) {
            for (std::string& p : srv::patient_ids_in(*parsed, *index)) r.patient_ids.push_back(std::move(p));
          }
        }
        auto recorded = t->record_in_tx(tx, r);
        if (recorded && flag) flag->store(true);
        return recorded;
      };
    };
  }
  if (insecure_no_audit) api_opts.make_write_hook = nullptr;  // writes record nothing either
  api_opts.audit_patients = !insecure_no_audit;
  api_opts.capability_json = fhir::to_json(srv::capability_statement(*defs, cap));
  const srv::fhir_api api(rs, *defs, api_opts);

  srv::pipeline_options po;
  if (insecure_no_auth) {
    po.insecure_no_auth = true;
  } else {
    srv::auth::verifier_options vo;
    // Hearth's own tokens: iss and aud are the base URL clients use (RFC
    // 9068 2.2, 4), as `hearth token --base-url` and the token endpoint set them.
    vo.base_url = api_opts.base_url;
    vo.own_keys = auth->public_keys();
    // External issuers: fixed keys, or a jwks_uri fetched now and then
    // refreshed (jwks_cache.hpp). A failed first fetch is a warning, not a
    // start error: that issuer's tokens are refused until its keys arrive.
    for (const srv::auth_external_issuer& x : cfg.auth.external_issuers) {
      srv::auth::external_issuer e{x.issuer, x.keys, nullptr};
      if (!x.jwks_uri.empty()) {
        srv::auth::jwks_cache_options co;
        co.issuer = x.issuer;
        co.fetch = [uri = x.jwks_uri] { return srv::auth::fetch_jwks(uri); };
        co.min_fetch_interval = x.jwks_refresh_min;
        // The issuer and what went wrong; never the URI (it may hold a query).
        co.on_fetch = [](const srv::auth::jwks_fetch_event& ev) {
          log_line(std::string(ev.ok ? R"("level":"info","msg":"external issuer keys fetched")"
                                     : R"("level":"warning","msg":"external issuer keys not fetched")") +
                   R"(,"issuer":)" + json_string(ev.issuer) + R"(,"keys":)" + std::to_string(ev.key_count) +
                   (ev.ok
                        ? std::string()
                        : R"(,"code":)" + json_string(ev.error.code) + R"(,"error":)" + json_string(ev.error.message) +
                              R"(,"keys_known":)" + (ev.keys_known ? "true" : "false")) +
                   R"(,"next_fetch_s":)" + std::to_string(ev.next_fetch.count()));
        };
        e.remote = std::make_shared<srv::auth::jwks_cache>(std::move(co));
        e.remote->start();
      }
      vo.external.push_back(std::move(e));
    }
    // The first fetches run together; each ends within its deadlines (5 s + 5 s).
    const auto fetched_by = std::chrono::steady_clock::now() + std::chrono::seconds(11);
    for (const srv::auth::external_issuer& e : vo.external)
      if (e.remote)
        (void)e.remote->wait_first_fetch(
            std::chrono::duration_cast<std::chrono::milliseconds>(fetched_by - std::chrono::steady_clock::now()));
    vo.is_revoked = [a = auth.get()](std::string_view jti) { return a->is_revoked(jti); };
    vo.is_resource_type = [&defs](std::string_view t) { return defs->is_resource_type(t); };
    po.verifier = std::make_shared<const srv::auth::token_verifier>(std::move(vo));
    *admin_verifier = po.verifier;
    po.auth_endpoints = auth->endpoints();
  }
  po.cors_allowed_origins = cfg.cors_allowed_origins;
  po.tls = cfg.tls_enabled();
  if (cfg.rate_limit_per_second != 0) {
    srv::rate_limit_options rl;
    rl.per_second = cfg.rate_limit_per_second;
    rl.burst = cfg.rate_limit_burst;  // 0: equal to the rate, as the limiter takes it
    po.rate_limit = std::make_shared<srv::rate_limiter>(rl);
  }
  po.metrics_text = [&metrics, &listener, &mllp_running, t = trail.get()] {
    metrics.http_connections.set(static_cast<double>((*listener)->stats().connections_open));
    const srv::mllp_listener* m = mllp_running.load();
    return metrics.registry().render() + srv::audit_metrics_text(t->stats()) +
           (m != nullptr ? srv::mllp_metrics_text(m->stats()) : std::string());
  };
  // Not ready while the trail cannot record (every audited request would be 503).
  po.ready = [t = trail.get()] { return t->healthy(); };
  if (!insecure_no_audit) {
    po.audit = [t = trail.get()](srv::audit_record r) { return t->record_async(std::move(r)); };
    po.audit_healthy = [t = trail.get()] { return t->healthy(); };
  }
  po.observe = [&metrics](const srv::request_record& r) {
    metrics.record_request(r.interaction, r.resource_type, r.status, std::chrono::duration<double>(r.duration).count());
    log_line(R"("level":"info","msg":"request","request_id":)" + json_string(r.request_id) +
             R"(,"method":)" + json_string(r.method) + R"(,"interaction":)" + json_string(r.interaction) +
             R"(,"type":)" + json_string(r.resource_type) + R"(,"status":)" + std::to_string(r.status) +
             R"(,"ms":)" + std::to_string(std::chrono::duration<double, std::milli>(r.duration).count()) +
             R"(,"bytes":)" + std::to_string(r.response_bytes) +
             // SECURITY.md: a token is logged only as its jti.
             (r.token_id.empty() ? std::string()
                                 : R"(,"client_id":)" + json_string(r.client_id) + R"(,"jti":)" + json_string(r.token_id)));
  };
  // The HL7 admin API repeats the pipeline's stages it needs with the
  // pipeline's own verifier, rate limiter, trail and observer (hl7_admin.hpp).
  srv::hl7_admin_options admin_opts;
  admin_opts.base_url = api_opts.base_url;
  admin_opts.verifier = po.verifier;
  admin_opts.insecure_no_auth = po.insecure_no_auth;
  admin_opts.audit = po.audit;
  admin_opts.audit_healthy = po.audit_healthy;
  admin_opts.rate_limit = po.rate_limit;
  admin_opts.observe = po.observe;
  admin_opts.tls = po.tls;
  const srv::request_pipeline pipe(api, *defs, std::move(po));
  pipeline.store(&pipe);

  // The HL7 v2 interface (issue 7): the message log, the intake that turns
  // messages into resources and ACKs, and the MLLP listener feeding it.
  // Messages a previous run logged but did not finish are processed first.
  store::message_log hl7_log(**db);
  std::unique_ptr<srv::hl7_intake> intake;
  std::unique_ptr<srv::hl7_admin> admin_api;
  srv::mllp_listener mllp;
  if (cfg.mllp_port) {
    srv::hl7_intake_options io;
    io.terminology = &validation;
    io.mapping = std::move(hl7_mapping);
    intake = std::make_unique<srv::hl7_intake>(rs, hl7_log, *trail, ix, std::move(io), &metrics.registry());
    auto recovered = intake->recover();
    if (!recovered) {
      fail("cannot finish the HL7 messages of the previous run", recovered.error());
      (*listener)->stop();
      trail->stop();
      (*db)->stop();
      return 1;
    }
    if (*recovered != 0)
      log_line(R"("level":"info","msg":"hl7 messages of the previous run processed","count":)" +
               std::to_string(*recovered));
    srv::mllp_options mo;
    mo.host = cfg.mllp_host;
    mo.port = *cfg.mllp_port;
    mo.io_threads = 1;
    mo.worker_threads = cfg.write_threads;
    mo.max_frame_bytes = cfg.mllp_max_frame_bytes;
    mo.max_connections = cfg.mllp_max_connections;
    mo.idle_timeout = cfg.mllp_idle_timeout;
    mo.frame_timeout = cfg.mllp_frame_timeout;
    mo.write_timeout = cfg.write_timeout;
    mo.tls_cert_file = cfg.mllp_tls_cert_file;
    mo.tls_key_file = cfg.mllp_tls_key_file;
    mo.tls_client_ca_file = cfg.mllp_tls_client_ca_file;
    mo.handshake_timeout = cfg.read_timeout;
    // The listener's own fixed texts, with connection ids and addresses only.
    mo.on_log = [](srv::mllp_log_level level, std::string_view what, const srv::mllp_peer& peer) {
      const char* lv = level == srv::mllp_log_level::error     ? "error"
                       : level == srv::mllp_log_level::warning ? "warning"
                                                                : "info";
      log_line(std::string(R"("level":")") + lv + R"(","msg":)" + json_string(std::string("mllp: ") + std::string(what)) +
               R"(,"connection":)" + std::to_string(peer.connection_id) + R"(,"address":)" +
               json_string(peer.address));
    };
    auto started_mllp = mllp.start(mo, [in = intake.get()](const srv::mllp_peer& peer, std::string payload) {
      return in->handle(srv::hl7_peer{peer.address, peer.client_subject}, std::move(payload));
    });
    if (!started_mllp) {
      if (started_mllp.error().code == "invalid") {
        std::cerr << "hearth serve: " << started_mllp.error().message << "\n";
      } else {
        fail("cannot start the MLLP listener", started_mllp.error());
      }
      (*listener)->stop();
      trail->stop();
      (*db)->stop();
      return started_mllp.error().code == "invalid" ? 2 : 1;
    }
    admin_api = std::make_unique<srv::hl7_admin>(hl7_log, *intake, std::move(admin_opts));
    hl7_admin_api.store(admin_api.get());
    mllp_running.store(&mllp);
    std::cout << "mllp listening on " << cfg.mllp_host << ":" << mllp.port() << std::endl;
    log_line(R"("level":"info","msg":"mllp started","port":)" + std::to_string(mllp.port()) + R"(,"tls":)" +
             (mo.tls_enabled() ? "true" : "false") + R"(,"mtls":)" +
             (mo.tls_client_ca_file.empty() ? "false" : "true"));
  }

  const double startup_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  // Which mode is on, then the line tests and scripts wait for (issue 5), on stdout.
  if (insecure_no_auth) {
    std::cout << "authorization: OFF (--insecure-no-auth): every request is served without a token\n";
    log_line(R"("level":"warning","msg":"authorisation is OFF (--insecure-no-auth): every request is served without a token; loopback only, never in production")");
  }
  if (insecure_no_audit) {
    std::cout << "audit: OFF (--insecure-no-audit): no AuditEvent is recorded\n";
    log_line(R"("level":"warning","msg":"the audit trail is OFF (--insecure-no-audit): no AuditEvent is recorded; for measurements only, never in production")");
  }
  if (!insecure_no_auth)
    std::cout << "authorization: bearer tokens required, issuer and audience " << api_opts.base_url << "\n";
  std::cout << ((*listener)->tls() ? "https" : "http") << " listening on " << cfg.http_host << ":" << port
            << std::endl;
  log_line(R"("level":"info","msg":"started","port":)" + std::to_string(port) + R"(,"tls":)" +
           ((*listener)->tls() ? "true" : "false") + R"(,"auth":)" + (insecure_no_auth ? "\"off\"" : "\"bearer\"") +
           R"(,"rate_limit_per_second":)" + std::to_string(cfg.rate_limit_per_second) + R"(,"startup_ms":)" +
           std::to_string(startup_ms));

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log_line(R"("level":"info","msg":"stopping","signal":)" + std::to_string(sig));
  if (intake) mllp.stop();  // acknowledges what is in flight
  (*listener)->stop();  // answers what is in flight
  // The trail drains its queue while the database's writer still runs.
  if (!trail->flush(std::chrono::seconds(10)))
    log_line(R"("level":"error","msg":"audit trail did not drain before stopping")");
  trail->stop();
  const srv::audit_stats as = trail->stats();
  if (as.dropped != 0)
    log_line(R"("level":"error","msg":"audit events dropped at stop","dropped":)" + std::to_string(as.dropped));
  (*db)->stop();  // commits what is queued
  log_line(R"("level":"info","msg":"stopped")");
  return 0;
}

}  // namespace hearth::app
