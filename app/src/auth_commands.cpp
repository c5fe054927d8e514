#include "auth_commands.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <string_view>

#include <hearth/fhir/definitions.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/server_config.hpp>
#include <hearth/server/smart_scopes.hpp>

#include "fhir_commands.hpp"

namespace hearth::app {
namespace {

namespace srv = hearth::server;
namespace auth = hearth::server::auth;

constexpr std::string_view usage_text =
    "usage: hearth token --scope \"SCOPES\" [--data DIR] [--patient ID] [--encounter ID]\n"
    "                    [--fhir-user REF] [--client ID] [--subject S] [--ttl SECONDS]\n"
    "                    [--base-url URL] [--definitions DIR]\n"
    "\n"
    "Mints an access token (a JWT, RFC 9068) signed with DIR/auth/signing-key.pem, the\n"
    "key `hearth serve --data DIR` verifies with (created when absent), and prints it\n"
    "on stdout. Send it as `Authorization: Bearer TOKEN`.\n"
    "\n"
    "  --scope SCOPES     SMART scopes, space-separated, e.g. \"system/*.cruds\" or\n"
    "                     \"patient/Observation.rs launch/patient\" (required);\n"
    "                     \"hearth/admin\" for the client registration endpoint\n"
    "                     (POST [base]/auth/register)\n"
    "  --data DIR         data directory (default: hearth serve's, ./data)\n"
    "  --base-url URL     the server's base URL, exactly as it serves it: the token's\n"
    "                     issuer and audience (default: hearth serve's,\n"
    "                     http://127.0.0.1:8080 unless configured otherwise)\n"
    "  --patient ID       the patient in context (needed by patient/ scopes)\n"
    "  --encounter ID     the encounter in context\n"
    "  --fhir-user REF    the user's FHIR resource, e.g. Practitioner/123\n"
    "  --client ID        client_id (default: hearth-cli)\n"
    "  --subject S        sub (default: the client id)\n"
    "  --ttl SECONDS      lifetime, 1 to 3600 (default: 3600)\n";

int usage_error(const std::string& message) {
  std::cerr << "hearth token: " << message << " (hearth token --help: usage)\n";
  return 2;
}

/// R4 datatypes.html#id.
bool is_fhir_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (const unsigned char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return false;
  return true;
}

bool has_space(std::string_view s) { return s.find_first_of(" \t\r\n") != std::string_view::npos; }

}  // namespace

int token_main(const std::vector<std::string>& args) {
  static const std::vector<std::string_view> known = {"scope",  "data",    "base-url", "patient",    "encounter",
                                                      "fhir-user", "client", "subject", "ttl", "definitions"};
  std::map<std::string, std::string, std::less<>> flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage_text;
      return 0;
    }
    if (!a.starts_with("--")) return usage_error("unexpected argument '" + a + "'");
    std::string name = a.substr(2);
    std::string value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else {
      if (i + 1 >= args.size()) return usage_error("--" + name + " needs a value");
      value = args[++i];
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) return usage_error("unknown flag --" + name);
    if (!flags.emplace(name, value).second) return usage_error("--" + name + " given twice");
  }
  const auto flag = [&flags](std::string_view n) -> std::optional<std::string> {
    const auto it = flags.find(n);
    return it == flags.end() ? std::nullopt : std::optional<std::string>(it->second);
  };

  const auto scope = flag("scope");
  if (!scope || scope->empty()) return usage_error("--scope is required (a token without scopes grants nothing)");
  auth::token_request req;
  req.scope = *scope;
  req.client_id = flag("client").value_or("hearth-cli");
  req.subject = flag("subject").value_or(req.client_id);
  req.patient = flag("patient").value_or("");
  req.encounter = flag("encounter").value_or("");
  req.fhir_user = flag("fhir-user").value_or("");
  if (req.client_id.empty() || has_space(req.client_id) || req.client_id.size() > 256)
    return usage_error("--client must be a non-empty id without spaces");
  if (req.subject.empty() || req.subject.size() > 256) return usage_error("--subject must not be empty");
  if (flag("patient") && !is_fhir_id(req.patient)) return usage_error("--patient must be a FHIR id ([A-Za-z0-9-.]{1,64})");
  if (flag("encounter") && !is_fhir_id(req.encounter))
    return usage_error("--encounter must be a FHIR id ([A-Za-z0-9-.]{1,64})");
  if (flag("fhir-user") && (req.fhir_user.empty() || has_space(req.fhir_user) || req.fhir_user.size() > 2048))
    return usage_error("--fhir-user must be a reference such as Practitioner/123");
  if (const auto ttl = flag("ttl")) {
    long long seconds = 0;
    const auto [end, ec] = std::from_chars(ttl->data(), ttl->data() + ttl->size(), seconds);
    // SECURITY.md: access tokens live at most 1 h.
    if (ec != std::errc{} || end != ttl->data() + ttl->size() || seconds < 1 ||
        seconds > auth::max_access_token_lifetime.count())
      return usage_error("--ttl must be a number of seconds from 1 to " +
                         std::to_string(auth::max_access_token_lifetime.count()));
    req.lifetime = std::chrono::seconds(seconds);
  } else {
    req.lifetime = auth::max_access_token_lifetime;
  }

  // The data directory and base URL `hearth serve` would use in this
  // environment, unless both are given.
  std::string data_dir = flag("data").value_or("");
  std::string base_url = flag("base-url").value_or("");
  if (data_dir.empty() || base_url.empty()) {
    srv::config_sources sources;
    sources.env = srv::process_environment();
    auto cfg = srv::load_server_config(sources);
    if (!cfg)
      return usage_error("cannot work out hearth serve's defaults (" + cfg.error().message +
                         "): give --data and --base-url");
    if (data_dir.empty()) data_dir = cfg->data_dir;
    if (base_url.empty()) base_url = cfg->base_url();
  }
  if (!(base_url.starts_with("http://") || base_url.starts_with("https://")) || has_space(base_url) ||
      base_url.find_first_of("?#") != std::string::npos)
    return usage_error("--base-url must be an http:// or https:// URL without query or fragment");

  const std::string defs_dir = flag("definitions").value_or(default_definitions_dir());
  auto defs = fhir::definitions::load(defs_dir);
  if (!defs) {
    std::cerr << "hearth token: cannot load the FHIR definitions from " << defs_dir << ": " << defs.error().message
              << "\n";
    return 1;
  }
  // Strict (RFC 6749 5.2 invalid_scope): a scope this server does not know
  // would silently grant nothing.
  auto parsed = auth::parse_scopes(req.scope, auth::parse_mode::strict,
                                   [&defs](std::string_view t) { return defs->is_resource_type(t); });
  if (!parsed) {
    return usage_error(parsed.error().message +
                       (parsed.error().location.empty() ? std::string() : " (" + parsed.error().location + ")"));
  }
  // SECURITY.md: patient/ scopes need a patient in context.
  bool patient_scope = false;
  for (const auto& r : parsed->scopes.resources) patient_scope = patient_scope || r.level == auth::scope_level::patient;
  if (patient_scope && req.patient.empty())
    return usage_error("patient/ scopes need a patient in context: give --patient");
  // The normalised form: what the server will read back.
  req.scope = auth::to_string(parsed->scopes);

  auto key = auth::load_or_create_signing_key(data_dir);
  if (!key) {
    std::cerr << "hearth token: " << key.error().message << "\n";
    return 1;
  }
  auto token = auth::mint_access_token(*key, base_url, req, std::chrono::system_clock::now());
  if (!token) {
    std::cerr << "hearth token: " << token.error().message << "\n";
    return 1;
  }
  std::cout << *token << "\n";
  return 0;
}

}  // namespace hearth::app
