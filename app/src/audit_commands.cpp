#include "audit_commands.hpp"

#include <filesystem>
#include <iostream>
#include <string_view>

#include <hearth/server/server_config.hpp>
#include <hearth/store/audit_log.hpp>
#include <hearth/store/database.hpp>

namespace hearth::app {

namespace {

void usage(std::ostream& out) {
  out << "usage: hearth audit verify [--data DIR | --database-url URL] [--config FILE]\n"
         "  Checks the hash chain of the AuditEvent trail: every event's SHA-256 link to the one\n"
         "  before it, its sequence number and its search keys. The database is found as\n"
         "  `hearth serve` finds it (flags, then HEARTH_DATA / HEARTH_DATABASE_URL, then the\n"
         "  config file). Exit status: 0 the chain is whole, 1 it is broken (the first broken\n"
         "  link is printed), 2 usage or database errors.\n";
}

/// The flags `hearth serve` shares with this command; the rest is a usage
/// error (server_config would refuse them with a message about serve).
bool is_database_flag(std::string_view a) {
  for (std::string_view f : {"--data", "--database-url", "--config"}) {
    if (a == f || (a.size() > f.size() && a.substr(0, f.size()) == f && a[f.size()] == '=')) return true;
  }
  return false;
}

int verify_main(const std::vector<std::string>& args) {
  std::vector<std::string> flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      usage(std::cout);
      return 0;
    }
    if (!is_database_flag(a)) {
      std::cerr << "hearth audit verify: unknown argument (see --help)\n";
      return 2;
    }
    flags.push_back(a);
    if (a.find('=') == std::string::npos) {
      if (i + 1 >= args.size()) {
        std::cerr << "hearth audit verify: " << a << " needs a value\n";
        return 2;
      }
      flags.push_back(args[++i]);
    }
  }
  server::config_sources sources;
  sources.env = server::process_environment();
  sources.flags = flags;
  auto config = server::load_server_config(sources);
  if (!config) {
    // Messages name the setting, never its value (a URL may hold a password).
    std::cerr << "hearth audit verify: " << config.error().message << "\n";
    return 2;
  }
  auto db_config = config->database();
  if (!db_config) {
    std::cerr << "hearth audit verify: " << db_config.error().message << "\n";
    return 2;
  }
  db_config->pool_size = 1;  // one reader walks the chain
  if (db_config->kind == store::engine::sqlite) {
    // Opening would create an empty database, whose empty chain verifies:
    // a mistyped directory must not pass for a checked trail.
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::path(db_config->location) / "hearth.db", ec)) {
      std::cerr << "hearth audit verify: no database in the data directory\n";
      return 2;
    }
  }
  auto db = store::database::open(*db_config);
  if (!db) {
    std::cerr << "hearth audit verify: cannot open the database: " << db.error().message << "\n";
    return 2;
  }
  auto report = store::verify_chain(**db);
  if (!report) {
    std::cerr << "hearth audit verify: " << report.error().message << "\n";
    return 2;
  }
  if (report->ok()) {
    std::cout << "audit chain OK: " << report->checked << " events checked\n";
    return 0;
  }
  std::cout << "audit chain BROKEN at sequence " << report->sequence << ": " << store::to_string(report->broken)
            << " (" << report->checked << " events checked before it, " << report->head_sequence
            << " expected)\n";
  return 1;
}

}  // namespace

int audit_main(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    usage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "verify") return verify_main(std::vector<std::string>(args.begin() + 1, args.end()));
  std::cerr << "hearth audit: unknown subcommand (see hearth audit --help)\n";
  return 2;
}

}  // namespace hearth::app
