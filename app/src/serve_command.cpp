#include "serve_command.hpp"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/capability.hpp>
#include <hearth/server/fhir_api.hpp>
#include <hearth/server/http_listener.hpp>
#include <hearth/server/metrics.hpp>
#include <hearth/server/rate_limiter.hpp>
#include <hearth/server/request_pipeline.hpp>
#include <hearth/server/server_config.hpp>
#include <hearth/store/database.hpp>
#include <hearth/store/indexer.hpp>
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

int serve_main(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << "usage: hearth serve [flags]\n\n" << srv::config_help();
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

  srv::server_metrics metrics;
  metrics.db_pool_size.set(static_cast<double>(db_config->pool_size));
  srv::open_access policy;

  // The listener binds first (port 0 picks one), the API learns its base URL
  // from the bound port; requests arriving before it is ready get 503.
  std::atomic<const srv::request_pipeline*> pipeline{nullptr};
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
  auto listener = srv::http_listener::start(lo, [&pipeline](srv::http_request& req) {
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
  srv::capability_options cap;
  cap.base_url = api_opts.base_url;
  cap.software_version = HEARTH_VERSION;
  cap.cors = !cfg.cors_allowed_origins.empty();
  cap.security_description =
      "Requests are not authorised yet: SMART on FHIR scopes arrive with their issue. Do not expose this server "
      "beyond a trusted network.";

  api_opts.capability_json = fhir::to_json(srv::capability_statement(*defs, cap));
  const srv::fhir_api api(rs, *defs, api_opts);

  srv::pipeline_options po;
  po.cors_allowed_origins = cfg.cors_allowed_origins;
  po.tls = cfg.tls_enabled();
  if (cfg.rate_limit_per_second != 0) {
    srv::rate_limit_options rl;
    rl.per_second = cfg.rate_limit_per_second;
    rl.burst = cfg.rate_limit_burst;  // 0: equal to the rate, as the limiter takes it
    po.rate_limit = std::make_shared<srv::rate_limiter>(rl);
  }
  po.metrics_text = [&metrics, &listener] {
    metrics.http_connections.set(static_cast<double>((*listener)->stats().connections_open));
    return metrics.registry().render();
  };
  po.ready = [] { return true; };
  po.observe = [&metrics](const srv::request_record& r) {
    metrics.record_request(r.interaction, r.resource_type, r.status, std::chrono::duration<double>(r.duration).count());
    log_line(R"("level":"info","msg":"request","request_id":)" + json_string(r.request_id) +
             R"(,"method":)" + json_string(r.method) + R"(,"interaction":)" + json_string(r.interaction) +
             R"(,"type":)" + json_string(r.resource_type) + R"(,"status":)" + std::to_string(r.status) +
             R"(,"ms":)" + std::to_string(std::chrono::duration<double, std::milli>(r.duration).count()) +
             R"(,"bytes":)" + std::to_string(r.response_bytes));
  };
  const srv::request_pipeline pipe(api, *defs, policy, std::move(po));
  pipeline.store(&pipe);

  const double startup_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  // The line tests and scripts wait for (issue 5), on stdout.
  std::cout << ((*listener)->tls() ? "https" : "http") << " listening on " << cfg.http_host << ":" << port
            << std::endl;
  log_line(R"("level":"warning","msg":"requests are not authorised yet (no SMART on FHIR): keep this server on a trusted network")");
  log_line(R"("level":"info","msg":"started","port":)" + std::to_string(port) + R"(,"tls":)" +
           ((*listener)->tls() ? "true" : "false") + R"(,"rate_limit_per_second":)" +
           std::to_string(cfg.rate_limit_per_second) + R"(,"startup_ms":)" + std::to_string(startup_ms));

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log_line(R"("level":"info","msg":"stopping","signal":)" + std::to_string(sig));
  (*listener)->stop();  // answers what is in flight
  (*db)->stop();        // commits what is queued
  log_line(R"("level":"info","msg":"stopped")");
  return 0;
}

}  // namespace hearth::app
