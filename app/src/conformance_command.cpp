// `hearth conformance`: the conformance test suite for integration engineers
// (issue 9). FHIR suites are TestScript resources (tests/conformance/fhir,
// run by server/conformance/testscript.hpp), MLLP suites a small JSON format
// (tests/conformance/mllp, run by server/conformance/mllp_suite.hpp). This
// file reads the command line, finds the suites, gets the tokens, runs the
// suites one after another with a progress line, and writes the reports.
#include "conformance_command.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/fhir/definitions.hpp>
#include <hearth/server/conformance/http_client.hpp>
#include <hearth/server/conformance/mllp_suite.hpp>
#include <hearth/server/conformance/report.hpp>
#include <hearth/server/conformance/smart_client.hpp>
#include <hearth/server/conformance/testscript.hpp>
#include <hearth/server/jwt.hpp>
#include <hearth/server/mllp_client.hpp>

#include "fhir_commands.hpp"
#include "hl7_send_command.hpp"

namespace hearth::app {

namespace {

namespace fs = std::filesystem;
namespace conf = server::conformance;

int usage(std::ostream& out, int status) {
  out << "usage: hearth conformance [--fhir URL] [--token T | --client-id ID --key FILE [--scope S]]\n"
         "                          [--mllp HOST:PORT [--tls] [--mllp-cert FILE --mllp-key FILE]]\n"
         "                          [--ca FILE] [--suite NAME]... [--suites DIR]\n"
         "                          [--report FILE.xml|FILE.html|FILE.json]... [--timeout S] [--list]\n\n"
         "Runs the conformance suites against a FHIR server (--fhir, its base URL) and/or an\n"
         "MLLP endpoint (--mllp). FHIR suites are FHIR TestScript resources (DIR/fhir/*.json),\n"
         "MLLP suites a small JSON format (DIR/mllp/*.json); see DIR/README.md to add your own.\n\n"
         "  --fhir URL          the FHIR base URL (http:// or https://)\n"
         "  --token T           a bearer token sent with every FHIR request\n"
         "  --client-id ID      SMART Backend Services client (client_credentials grant with a\n"
         "  --key FILE          private_key_jwt assertion signed by FILE, a PEM RSA or EC P-384 key):\n"
         "                      gives the run's token and the tokens of the scope tests\n"
         "  --scope S           the scopes of the run's token with --client-id (default system/*.cruds)\n"
         "  --mllp HOST:PORT    the MLLP endpoint; MLLP suites check their FHIR outcome through --fhir\n"
         "  --tls               MLLP over TLS; --mllp-cert/--mllp-key: client certificate (mTLS)\n"
         "  --ca FILE           PEM CA certificates to trust for https and MLLP over TLS\n"
         "  --suite NAME        run only this suite (repeatable); --list prints the suites\n"
         "  --suites DIR        where the suites are (default: the source tree's tests/conformance)\n"
         "  --report FILE       write a report: JUnit XML (.xml), HTML (.html) or JSON (.json)\n"
         "  --timeout S         longest wait for each HTTP request and MLLP answer (default 30)\n\n"
         "Exit status: 0 when nothing failed (skipped cases do not fail a run), 1 when a case\n"
         "failed or a suite could not run, 2 for usage errors or when no token could be obtained.\n";
  return status;
}

/// A fresh run id: 12 lowercase letters and digits, so that identifiers
/// made by one run never meet another run's on the server. Not a secret:
/// std::random_device (the kernel's getrandom on Linux) is ample.
std::string make_run_id() {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::uniform_int_distribution<int> pick(0, 35);
  std::string id;
  for (int i = 0; i < 12; ++i) id.push_back(alphabet[pick(rd)]);
  return id;
}

std::string utc_now_rfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// The *.json files of `dir`, sorted by name: a suite's name is its stem.
std::vector<fs::path> suite_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec) && it->path().extension() == ".json") out.push_back(it->path());
  std::sort(out.begin(), out.end());
  return out;
}

/// The live progress line: rewritten in place on a terminal, one line per
/// suite otherwise (a CI log gains nothing from carriage returns).
class progress_line {
 public:
  explicit progress_line(std::size_t suites) : suites_(suites), tty_(::isatty(STDERR_FILENO) == 1) {}

  void update(std::size_t suite_index, std::string_view suite, std::string_view name, std::size_t i,
              std::size_t n) {
    if (!tty_) {
      if (suite != last_suite_) {
        std::cerr << "[" << suite_index + 1 << "/" << suites_ << "] " << suite << " (" << n << " cases)\n";
        last_suite_ = std::string(suite);
      }
      return;
    }
    std::string line = "[" + std::to_string(suite_index + 1) + "/" + std::to_string(suites_) + "] " +
                       std::string(suite) + " " + std::to_string(i + 1) + "/" + std::to_string(n) + ": " +
                       std::string(name);
    if (line.size() > 100) line = line.substr(0, 97) + "...";
    std::cerr << "\r\x1b[2K" << line << std::flush;
    shown_ = true;
  }

  void done() {
    if (tty_ && shown_) std::cerr << "\r\x1b[2K" << std::flush;
  }

 private:
  std::size_t suites_;
  bool tty_;
  bool shown_ = false;
  std::string last_suite_;
};

bool write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

}  // namespace

int conformance_main(const std::vector<std::string>& args) {
  std::string fhir_base, token, client_id, key_file, scope = "system/*.cruds", mllp_target, ca_file;
  std::string mllp_cert, mllp_key;
  bool mllp_tls = false, list = false;
  std::vector<std::string> wanted, reports;
  fs::path suites_dir = HEARTH_CONFORMANCE_SUITES_DIR;
  unsigned timeout_s = 30;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const auto value = [&](std::string& into) {
      if (i + 1 >= args.size()) return false;
      into = args[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") return usage(std::cout, 0);
    if (a == "--tls") {
      mllp_tls = true;
    } else if (a == "--list") {
      list = true;
    } else if (a == "--fhir") {
      if (!value(fhir_base)) return usage(std::cerr, 2);
    } else if (a == "--token") {
      if (!value(token)) return usage(std::cerr, 2);
    } else if (a == "--client-id") {
      if (!value(client_id)) return usage(std::cerr, 2);
    } else if (a == "--key") {
      if (!value(key_file)) return usage(std::cerr, 2);
    } else if (a == "--scope") {
      if (!value(scope)) return usage(std::cerr, 2);
    } else if (a == "--mllp") {
      if (!value(mllp_target)) return usage(std::cerr, 2);
    } else if (a == "--mllp-cert") {
      if (!value(mllp_cert)) return usage(std::cerr, 2);
    } else if (a == "--mllp-key") {
      if (!value(mllp_key)) return usage(std::cerr, 2);
    } else if (a == "--ca") {
      if (!value(ca_file)) return usage(std::cerr, 2);
    } else if (a == "--suite") {
      if (!value(v)) return usage(std::cerr, 2);
      wanted.push_back(v);
    } else if (a == "--suites") {
      if (!value(v)) return usage(std::cerr, 2);
      suites_dir = v;
    } else if (a == "--report") {
      if (!value(v)) return usage(std::cerr, 2);
      reports.push_back(v);
    } else if (a == "--timeout") {
      if (!value(v)) return usage(std::cerr, 2);
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), timeout_s);
      if (ec != std::errc() || end != v.data() + v.size() || timeout_s == 0 || timeout_s > 3600) {
        std::cerr << "hearth conformance: --timeout must be 1..3600 seconds\n";
        return 2;
      }
    } else {
      std::cerr << "hearth conformance: unknown argument " << a << "\n";
      return usage(std::cerr, 2);
    }
  }

  // The suites there are, and those chosen.
  const std::vector<fs::path> fhir_files = suite_files(suites_dir / "fhir");
  const std::vector<fs::path> mllp_files = suite_files(suites_dir / "mllp");
  if (fhir_files.empty() && mllp_files.empty()) {
    std::cerr << "hearth conformance: no suites in " << suites_dir.string() << " (fhir/*.json, mllp/*.json)\n";
    return 2;
  }
  if (list) {
    for (const fs::path& f : fhir_files) std::cout << "fhir  " << f.stem().string() << "\n";
    for (const fs::path& f : mllp_files) std::cout << "mllp  " << f.stem().string() << "\n";
    return 0;
  }
  {
    std::set<std::string> known;
    for (const fs::path& f : fhir_files) known.insert(f.stem().string());
    for (const fs::path& f : mllp_files) known.insert(f.stem().string());
    for (const std::string& w : wanted)
      if (!known.contains(w)) {
        std::cerr << "hearth conformance: no suite named " << w << " (hearth conformance --list)\n";
        return 2;
      }
  }
  const auto chosen = [&](const fs::path& f) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), f.stem().string()) != wanted.end();
  };

  if (fhir_base.empty() && mllp_target.empty()) {
    std::cerr << "hearth conformance: give --fhir URL, --mllp HOST:PORT, or both\n";
    return usage(std::cerr, 2);
  }
  while (!fhir_base.empty() && fhir_base.back() == '/') fhir_base.pop_back();
  if (!fhir_base.empty() && !fhir_base.starts_with("http://") && !fhir_base.starts_with("https://")) {
    std::cerr << "hearth conformance: --fhir must be an http:// or https:// URL\n";
    return 2;
  }
  if (!token.empty() && !client_id.empty()) {
    std::cerr << "hearth conformance: --token and --client-id exclude each other\n";
    return 2;
  }
  if (client_id.empty() != key_file.empty()) {
    std::cerr << "hearth conformance: --client-id and --key go together\n";
    return 2;
  }
  if ((!client_id.empty() || !token.empty()) && fhir_base.empty()) {
    std::cerr << "hearth conformance: --token and --client-id need --fhir\n";
    return 2;
  }
  if (mllp_cert.empty() != mllp_key.empty() || (!mllp_cert.empty() && !mllp_tls)) {
    std::cerr << "hearth conformance: --mllp-cert and --mllp-key go together, with --tls\n";
    return 2;
  }
  for (const std::string& r : reports) {
    const std::string ext = fs::path(r).extension().string();
    if (ext != ".xml" && ext != ".html" && ext != ".json") {
      std::cerr << "hearth conformance: a --report file ends in .xml (JUnit), .html or .json\n";
      return 2;
    }
  }

  // The R4 definitions: FHIRPath in the TestScripts' asserts and variables
  // and in the MLLP suites' FHIR checks, and XML bodies read as JSON.
  const std::string defs_dir = default_definitions_dir();
  auto defs = fhir::definitions::load(defs_dir);
  if (!defs) {
    std::cerr << "hearth conformance: cannot load the FHIR definitions from " << defs_dir << ": "
              << defs.error().message << "\n";
    return 2;
  }

  conf::http_client_options http_opts;
  http_opts.timeout = std::chrono::seconds(timeout_s);
  http_opts.ca_file = ca_file;
  const conf::http_transport http = [http_opts](const conf::client_request& req) {
    return conf::http_exchange(req, http_opts);
  };

  // Tokens: the one given, or the client_credentials grant's.
  std::optional<conf::backend_client> backend;
  if (!client_id.empty()) {
    auto key = server::jwt::key::load_private_pem(key_file);
    if (!key) {
      std::cerr << "hearth conformance: --key: " << key.error().message << "\n";
      return 2;
    }
    backend.emplace(fhir_base, client_id, std::move(*key), http);
    auto t = backend->token(scope);
    if (!t) {
      std::cerr << "hearth conformance: no token for --client-id: " << t.error().message << "\n";
      return 2;
    }
    token = std::move(*t);
  }

  conf::run_result run;
  run.fhir_base = fhir_base;
  run.mllp = mllp_target;
  run.started = utc_now_rfc3339();
  const auto run_start = std::chrono::steady_clock::now();
  const std::string run_id = make_run_id();

  std::vector<std::pair<bool, fs::path>> plan;  // (is FHIR, file)
  for (const fs::path& f : fhir_files)
    if (chosen(f)) plan.emplace_back(true, f);
  for (const fs::path& f : mllp_files)
    if (chosen(f)) plan.emplace_back(false, f);

  // Whether the server claims to audit: asked once (the `audit` requirement).
  bool server_audits = false;
  if (!fhir_base.empty()) {
    conf::client_request req;
    req.url = fhir_base + "/metadata";
    req.headers.emplace_back("Accept", "application/fhir+json");
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    auto resp = http(req);
    if (resp && resp->status == 200) server_audits = conf::capability_claims_audit(resp->body);
  }

  progress_line progress(plan.size());
  for (std::size_t s = 0; s < plan.size(); ++s) {
    const auto& [is_fhir, file] = plan[s];
    const auto on_progress = [&progress, s](std::string_view suite, std::string_view name, std::size_t i,
                                            std::size_t n) { progress.update(s, suite, name, i, n); };
    const auto started = std::chrono::steady_clock::now();
    conf::suite_result result;
    if (is_fhir) {
      if (fhir_base.empty()) {
        result.name = file.stem().string();
        result.source = file.string();
        result.description = "not run: a FHIR suite needs --fhir";
        run.suites.push_back(std::move(result));
        continue;
      }
      conf::testscript_options o;
      o.fhir_base = fhir_base;
      o.http = http;
      o.token = token;
      if (backend)
        o.token_for_scopes = [&backend](std::string_view scopes) { return backend->token(scopes); };
      o.server_audits = server_audits;
      o.definitions = &*defs;
      o.run_id = run_id;
      o.progress = on_progress;
      result = conf::run_testscript(file, o);
    } else {
      if (mllp_target.empty()) {
        result.name = file.stem().string();
        result.source = file.string();
        result.description = "not run: an MLLP suite needs --mllp";
        run.suites.push_back(std::move(result));
        continue;
      }
      conf::mllp_suite_options o;
      if (!parse_host_port(mllp_target, o.mllp.host, o.mllp.port)) {
        std::cerr << "hearth conformance: --mllp must be HOST:PORT\n";
        return 2;
      }
      o.mllp.tls = mllp_tls;
      o.mllp.ca_file = ca_file;
      o.mllp.cert_file = mllp_cert;
      o.mllp.key_file = mllp_key;
      o.mllp.timeout = std::chrono::seconds(timeout_s);
      o.connect = server::mllp_raw_connect;
      o.fhir_base = fhir_base;
      o.http = http;
      o.token = token;
      o.run_id = run_id;
      o.definitions = &*defs;
      o.progress = on_progress;
      result = conf::run_mllp_suite(file, o);
    }
    if (result.seconds == 0)
      result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    run.suites.push_back(std::move(result));
  }
  progress.done();
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();

  std::cout << conf::summary_table(run);
  const std::string details = conf::failure_details(run);
  if (!details.empty()) std::cout << "\n" << details;
  std::cout << (run.failed() ? "FAILED" : "PASSED") << ": " << run.count(conf::outcome::passed) << " passed, "
            << run.count(conf::outcome::failed) << " failed, " << run.count(conf::outcome::skipped) << " skipped\n";
  std::cout.flush();

  int status = run.failed() ? 1 : 0;
  for (const std::string& r : reports) {
    const std::string ext = fs::path(r).extension().string();
    const std::string text = ext == ".xml"    ? conf::to_junit_xml(run)
                             : ext == ".html" ? conf::to_html(run)
                                              : conf::to_json(run);
    if (!write_file(r, text)) {
      std::cerr << "hearth conformance: cannot write " << r << "\n";
      status = 2;
    }
  }
  return status;
}

}  // namespace hearth::app
