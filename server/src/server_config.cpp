#include <hearth/server/server_config.hpp>

#include <hearth/server/validation_support.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include <hearth/core/text.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/jwks_fetcher.hpp>
#include <hearth/server/password_hash.hpp>

namespace hearth::server {

namespace {

/// Largest config file read. A real one is a few hundred bytes; 1 MiB keeps a
/// wrong path (a log, a database) from being read whole into memory.
constexpr std::size_t max_config_file_bytes = 1u << 20;

/// Where a setting sits in server_config; the alternative says how its text
/// is read.
using field = std::variant<std::string server_config::*, std::uint16_t server_config::*,
                           std::optional<std::uint16_t> server_config::*,
                           std::size_t server_config::*, std::uint32_t server_config::*,
                           std::chrono::seconds server_config::*, std::vector<std::string> server_config::*,
                           log_format server_config::*>;

/// A value checker: an error message (without the value) or empty when fine.
using checker = std::string (*)(std::string_view value);

/// One setting: its name in each source, where it goes, its range and help.
struct setting {
  std::string_view key;   ///< JSON key in the config file (= the server_config member)
  std::string_view flag;  ///< flag name without the leading "--"
  std::string_view env;   ///< environment variable
  std::string_view meta;  ///< placeholder for the value in the help text
  std::string_view help;  ///< one line for config_help()
  field where;
  std::uint64_t min = 0;  ///< numbers only: inclusive range
  std::uint64_t max = 0;
  checker check = nullptr;  ///< strings and lists (per item): format check
};

bool has_space(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

std::string check_not_empty(std::string_view v) { return v.empty() ? "must not be empty" : std::string(); }

std::string check_host(std::string_view v) {
  if (v.empty()) return "must not be empty";
  if (has_space(v) || v.find('/') != std::string_view::npos) return "must be a host name or IP address";
  return {};
}

std::string check_database_url(std::string_view v) {
  if (v.empty()) return {};  // SQLite in data_dir
  auto r = store::parse_database_url(v);
  // parse_database_url's messages name the expected forms, never the URL.
  return r ? std::string() : r.error().message;
}

/// `http(s)://authority[/path]`, no query, fragment or whitespace.
std::string check_base_url(std::string_view v) {
  if (v.empty()) return {};
  std::string_view rest;
  if (v.starts_with("http://")) {
    rest = v.substr(7);
  } else if (v.starts_with("https://")) {
    rest = v.substr(8);
  } else {
    return "must start with http:// or https://";
  }
  if (rest.empty() || rest.front() == '/') return "must name a host";
  if (has_space(v) || v.find_first_of("?#") != std::string_view::npos) {
    return "must be an absolute URL without query, fragment or spaces";
  }
  return {};
}

/// A validation policy (validation_support.hpp).
std::string check_validation(std::string_view v) {
  auto p = validation_policy::parse(v);
  return p ? std::string() : p.error().message;
}

/// An origin (RFC 6454): `http(s)://host[:port]` without a path, or "*".
std::string check_origin(std::string_view v) {
  if (v == "*") return {};
  if (auto e = check_base_url(v); !e.empty()) return "each origin " + e + " (or be \"*\")";
  const std::string_view rest = v.substr(v.find("//") + 2);
  if (rest.find('/') != std::string_view::npos) return "an origin has no path or trailing slash";
  return {};
}

std::string check_log_format(std::string_view v) { return v == "json" ? std::string() : "must be \"json\""; }

// The settings, in the order config_help() lists them. Environment variable
// names are HEARTH_ + the flag in upper case with '-' as '_'.
const std::array<setting, 34>& settings() {
  static const std::array<setting, 34> table{{
      {"data_dir", "data", "HEARTH_DATA", "DIR",
       "SQLite data directory (created when missing), when no database URL is given", &server_config::data_dir, 0, 0,
       check_not_empty},
      {"database_url", "database-url", "HEARTH_DATABASE_URL", "URL",
       "postgresql://USER:PASSWORD@HOST/DB, postgresql:CONNINFO or sqlite:DIR; empty: SQLite in the data directory",
       &server_config::database_url, 0, 0, check_database_url},
      {"http_host", "http-host", "HEARTH_HTTP_HOST", "HOST", "address the HTTP listener binds",
       &server_config::http_host, 0, 0, check_host},
      {"http_port", "http-port", "HEARTH_HTTP_PORT", "PORT", "HTTP port; 0 picks a free port",
       &server_config::http_port, 0, 65535, nullptr},
      {"public_base_url", "public-base-url", "HEARTH_PUBLIC_BASE_URL", "URL",
       "base URL clients use (Location, Bundle links); empty: derived from host and port",
       &server_config::public_base_url, 0, 0, check_base_url},
      {"worker_threads", "worker-threads", "HEARTH_WORKER_THREADS", "N",
       "threads for reads (GET, HEAD) and database read connections; default: the number of cores, at least 2",
       &server_config::worker_threads, 1, 1024, nullptr},
      {"write_threads", "write-threads", "HEARTH_WRITE_THREADS", "N",
       "threads for every other request (writes wait there for their commit)",
       &server_config::write_threads, 1, 1024, nullptr},
      {"io_threads", "io-threads", "HEARTH_IO_THREADS", "N", "threads running the network event loop",
       &server_config::io_threads, 1, 64, nullptr},
      {"max_body_bytes", "max-body-bytes", "HEARTH_MAX_BODY_BYTES", "BYTES", "largest request body",
       &server_config::max_body_bytes, 1024, std::uint64_t{1} << 30, nullptr},
      {"max_header_bytes", "max-header-bytes", "HEARTH_MAX_HEADER_BYTES", "BYTES",
       "largest request line and headers", &server_config::max_header_bytes, 1024, std::uint64_t{1} << 20,
       nullptr},
      {"max_connections", "max-connections", "HEARTH_MAX_CONNECTIONS", "N", "most open client connections",
       &server_config::max_connections, 1, 1'000'000, nullptr},
      {"read_timeout", "read-timeout", "HEARTH_READ_TIMEOUT", "SECONDS",
       "longest wait for a whole request (and for a TLS handshake)", &server_config::read_timeout, 1, 3600, nullptr},
      {"write_timeout", "write-timeout", "HEARTH_WRITE_TIMEOUT", "SECONDS",
       "longest time to write one response", &server_config::write_timeout, 1, 3600, nullptr},
      {"keep_alive_timeout", "keep-alive-timeout", "HEARTH_KEEP_ALIVE_TIMEOUT", "SECONDS",
       "longest idle time of a keep-alive connection; 0 closes after each response",
       &server_config::keep_alive_timeout, 0, 3600, nullptr},
      {"max_pipelined", "max-pipelined", "HEARTH_MAX_PIPELINED", "N",
       "most requests in flight on one connection", &server_config::max_pipelined, 1, 1024, nullptr},
      {"tls_cert_file", "tls-cert", "HEARTH_TLS_CERT", "FILE", "PEM certificate chain for HTTPS (with --tls-key)",
       &server_config::tls_cert_file, 0, 0, nullptr},
      {"tls_key_file", "tls-key", "HEARTH_TLS_KEY", "FILE", "PEM private key for HTTPS (with --tls-cert)",
       &server_config::tls_key_file, 0, 0, nullptr},
      {"cors_allowed_origins", "cors-origins", "HEARTH_CORS_ORIGINS", "ORIGINS",
       "origins allowed by CORS, comma-separated (a JSON array in the file), or *; empty: no CORS",
       &server_config::cors_allowed_origins, 0, 0, check_origin},
      {"rate_limit_per_second", "rate-limit", "HEARTH_RATE_LIMIT", "N",
       "requests per second per client address; 0: no limit", &server_config::rate_limit_per_second, 0, 1'000'000,
       nullptr},
      {"rate_limit_burst", "rate-limit-burst", "HEARTH_RATE_LIMIT_BURST", "N",
       "most requests a client may send at once (its token bucket size); 0: equal to the rate",
       &server_config::rate_limit_burst, 0, 1'000'000, nullptr},
      {"log_format", "log-format", "HEARTH_LOG_FORMAT", "FORMAT", "log line format: json", &server_config::log, 0, 0,
       check_log_format},
      {"examples_dir", "examples", "HEARTH_EXAMPLES", "DIR", "directory of FHIR JSON resources loaded at start-up",
       &server_config::examples_dir, 0, 0, nullptr},
      {"mllp_port", "mllp-port", "HEARTH_MLLP_PORT", "PORT",
       "HL7 v2 MLLP port (2575 is customary); 0 picks a free port; unset: no MLLP listener",
       &server_config::mllp_port, 0, 65535, nullptr},
      {"mllp_host", "mllp-host", "HEARTH_MLLP_HOST", "HOST",
       "address the MLLP listener binds; other than loopback it needs --mllp-tls-client-ca",
       &server_config::mllp_host, 0, 0, check_host},
      {"mllp_tls_cert_file", "mllp-tls-cert", "HEARTH_MLLP_TLS_CERT", "FILE",
       "PEM certificate chain for MLLP over TLS (with --mllp-tls-key)", &server_config::mllp_tls_cert_file, 0, 0,
       nullptr},
      {"mllp_tls_key_file", "mllp-tls-key", "HEARTH_MLLP_TLS_KEY", "FILE",
       "PEM private key for MLLP over TLS (with --mllp-tls-cert)", &server_config::mllp_tls_key_file, 0, 0, nullptr},
      {"mllp_tls_client_ca_file", "mllp-tls-client-ca", "HEARTH_MLLP_TLS_CLIENT_CA", "FILE",
       "PEM CA certificates MLLP senders' client certificates must chain to (mTLS)",
       &server_config::mllp_tls_client_ca_file, 0, 0, nullptr},
      {"mllp_max_frame_bytes", "mllp-max-frame-bytes", "HEARTH_MLLP_MAX_FRAME_BYTES", "BYTES",
       "largest MLLP frame (message or batch)", &server_config::mllp_max_frame_bytes, 1024, 10u << 20, nullptr},
      {"mllp_max_connections", "mllp-max-connections", "HEARTH_MLLP_MAX_CONNECTIONS", "N",
       "most open MLLP connections", &server_config::mllp_max_connections, 1, 100'000, nullptr},
      {"mllp_idle_timeout", "mllp-idle-timeout", "HEARTH_MLLP_IDLE_TIMEOUT", "SECONDS",
       "longest wait on an MLLP connection for a message to start", &server_config::mllp_idle_timeout, 1, 86400,
       nullptr},
      {"mllp_frame_timeout", "mllp-frame-timeout", "HEARTH_MLLP_FRAME_TIMEOUT", "SECONDS",
       "longest time to receive one started MLLP frame", &server_config::mllp_frame_timeout, 1, 3600, nullptr},
      {"hl7_config_file", "hl7-config", "HEARTH_HL7_CONFIG", "FILE",
       "JSON file of per-sender HL7 v2 mapping settings (identifier systems, UTC offset, local codes)",
       &server_config::hl7_config_file, 0, 0, nullptr},
      {"validation", "validation", "HEARTH_VALIDATION", "MODE",
       "validation of creates, updates and patches against the R4 definitions and profiles: off, warn or enforce, "
       "or TYPE=MODE pairs such as Patient=enforce,*=warn",
       &server_config::validation, 0, 0, check_validation},
      {"fhir_packages", "fhir-packages", "HEARTH_FHIR_PACKAGES", "PATHS",
       "FHIR packages whose profiles and extensions validation uses: npm-layout folders or JSON files of "
       "StructureDefinitions, comma-separated (a JSON array in the file)",
       &server_config::fhir_packages, 0, 0, nullptr},
  }};
  return table;
}

constexpr std::string_view config_flag = "config";
constexpr std::string_view config_env = "HEARTH_CONFIG";

const setting* find_by_key(std::string_view key) {
  for (const setting& s : settings())
    if (s.key == key) return &s;
  return nullptr;
}

const setting* find_by_flag(std::string_view flag) {
  for (const setting& s : settings())
    if (s.flag == flag) return &s;
  return nullptr;
}

hearth::error make_error(std::string code, std::string message, std::string location = {}) {
  return hearth::error{std::move(code), std::move(message), std::move(location), hearth::error::npos};
}

/// "http_port (flag --http-port): MESSAGE", with the source as location.
hearth::error setting_error(const setting& s, const std::string& source, std::string_view message,
                            std::string_view code = "invalid") {
  return make_error(std::string(code), std::string(s.key) + " (" + source + "): " + std::string(message), source);
}

/// A value as read from a source: text (strings and numbers) or a list.
struct raw_value {
  std::string text;
  std::vector<std::string> items;  // lists only
};

bool is_list(const setting& s) { return std::holds_alternative<std::vector<std::string> server_config::*>(s.where); }
bool is_number(const setting& s) {
  return !std::holds_alternative<std::string server_config::*>(s.where) && !is_list(s) &&
         !std::holds_alternative<log_format server_config::*>(s.where);
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

/// Stores one value of `s` into `cfg`, checking kind, range and format.
hearth::result<void> apply(server_config& cfg, const setting& s, raw_value value, const std::string& source) {
  if (is_number(s)) {
    const std::string& t = value.text;
    std::uint64_t n = 0;
    const bool digits = !t.empty() && t.size() <= 20 &&
                        std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
    const auto [end, ec] = digits ? std::from_chars(t.data(), t.data() + t.size(), n)
                                  : std::from_chars_result{t.data(), std::errc::invalid_argument};
    if (!digits || ec != std::errc() || end != t.data() + t.size() || n < s.min || n > s.max) {
      return hearth::unexpected(setting_error(
          s, source, "must be a whole number from " + std::to_string(s.min) + " to " + std::to_string(s.max)));
    }
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(cfg.*member)>;
          if constexpr (std::is_same_v<T, std::chrono::seconds>) {
            cfg.*member = std::chrono::seconds(static_cast<std::chrono::seconds::rep>(n));
          } else if constexpr (std::is_same_v<T, std::optional<std::uint16_t>>) {
            cfg.*member = static_cast<std::uint16_t>(n);
          } else if constexpr (std::is_integral_v<T>) {
            cfg.*member = static_cast<T>(n);
          }
        },
        s.where);
    return {};
  }
  if (is_list(s)) {
    for (const std::string& item : value.items) {
      if (s.check != nullptr) {
        if (std::string e = s.check(item); !e.empty()) return hearth::unexpected(setting_error(s, source, e));
      }
    }
    if (value.items.size() > 1 &&
        std::find(value.items.begin(), value.items.end(), "*") != value.items.end()) {
      return hearth::unexpected(setting_error(s, source, "\"*\" must be the only origin"));
    }
    cfg.*std::get<std::vector<std::string> server_config::*>(s.where) = std::move(value.items);
    return {};
  }
  if (s.check != nullptr) {
    if (std::string e = s.check(value.text); !e.empty()) return hearth::unexpected(setting_error(s, source, e));
  }
  if (auto* m = std::get_if<log_format server_config::*>(&s.where)) {
    cfg.*(*m) = log_format::json;  // the only value check_log_format lets through
    return {};
  }
  std::string text = std::move(value.text);
  if (s.key == "public_base_url") {
    while (text.ends_with('/')) text.pop_back();  // base URLs are written without the slash
  }
  cfg.*std::get<std::string server_config::*>(s.where) = std::move(text);
  return {};
}

/// The text or list of a file value, or an error when its JSON kind is wrong.
hearth::result<raw_value> from_json(const setting& s, const fhir::json_value& v, const std::string& source) {
  raw_value out;
  if (is_list(s)) {
    if (!v.is_array()) return hearth::unexpected(setting_error(s, source, "must be an array of strings"));
    for (const fhir::json_value& item : v.items()) {
      if (!item.is_string()) return hearth::unexpected(setting_error(s, source, "must be an array of strings"));
      out.items.push_back(item.str());
    }
    return out;
  }
  if (is_number(s)) {
    if (!v.is_number()) return hearth::unexpected(setting_error(s, source, "must be a JSON number"));
    out.text = v.number_text();  // "1.5", "-1", "1e3" are refused by apply()
    return out;
  }
  if (!v.is_string()) return hearth::unexpected(setting_error(s, source, "must be a JSON string"));
  out.text = v.str();
  return out;
}

hearth::result<std::string> read_file(const std::filesystem::path& path, const std::string& source) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return hearth::unexpected(make_error("not-found", "config file (" + source + "): not found or not a file", source));
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > max_config_file_bytes) {
    return hearth::unexpected(make_error("invalid", "config file (" + source + "): larger than 1 MiB", source));
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) {
    return hearth::unexpected(make_error("not-found", "config file (" + source + "): cannot be read", source));
  }
  return text;
}

// --- the "auth" section ------------------------------------------------------

/// Reads the "auth" object of a config file. Errors name the element
/// ("auth.clients[1].redirect_uris[0]") and the file, never a value: a
/// password hash or a key is not repeated.
class auth_reader {
 public:
  auth_reader(std::string file, std::filesystem::path dir) : file_(std::move(file)), dir_(std::move(dir)) {}

  hearth::result<auth_settings> read(const fhir::json_value& v) {
    auth_settings out;
    if (!v.is_object()) return fail("auth", "must be a JSON object");
    for (const fhir::json_member& m : v.members()) {
      const std::string path = "auth." + m.key;
      if (m.key == "access_token_lifetime") {
        auto n = seconds(m.value, path, 1, 3600);  // SECURITY.md: access tokens at most 1 h
        if (!n) return hearth::unexpected(std::move(n).error());
        out.access_token_lifetime = *n;
      } else if (m.key == "backend_access_token_lifetime") {
        auto n = seconds(m.value, path, 1, 300);  // SMART Backend Services: at most 5 min
        if (!n) return hearth::unexpected(std::move(n).error());
        out.backend_access_token_lifetime = *n;
      } else if (m.key == "refresh_token_lifetime") {
        auto n = seconds(m.value, path, 60, 365 * 24 * 3600);  // a minute to a year
        if (!n) return hearth::unexpected(std::move(n).error());
        out.refresh_token_lifetime = *n;
      } else if (m.key == "clients") {
        if (!m.value.is_array()) return fail(path, "must be an array of objects");
        for (std::size_t i = 0; i < m.value.size(); ++i) {
          auto c = client(m.value.items()[i], path + "[" + std::to_string(i) + "]");
          if (!c) return hearth::unexpected(std::move(c).error());
          for (const auth_client& other : out.clients) {
            if (other.client_id == c->client_id) {
              return fail(path + "[" + std::to_string(i) + "].client_id", "is used by another client");
            }
          }
          out.clients.push_back(std::move(*c));
        }
      } else if (m.key == "users") {
        if (!m.value.is_array()) return fail(path, "must be an array of objects");
        for (std::size_t i = 0; i < m.value.size(); ++i) {
          auto u = user(m.value.items()[i], path + "[" + std::to_string(i) + "]");
          if (!u) return hearth::unexpected(std::move(u).error());
          for (const auth_user& other : out.users) {
            if (other.username == u->username) {
              return fail(path + "[" + std::to_string(i) + "].username", "is used by another user");
            }
          }
          out.users.push_back(std::move(*u));
        }
      } else if (m.key == "external_issuers") {
        if (!m.value.is_array()) return fail(path, "must be an array of objects");
        for (std::size_t i = 0; i < m.value.size(); ++i) {
          auto e = issuer(m.value.items()[i], path + "[" + std::to_string(i) + "]");
          if (!e) return hearth::unexpected(std::move(e).error());
          for (const auth_external_issuer& other : out.external_issuers) {
            if (other.issuer == e->issuer) {
              return fail(path + "[" + std::to_string(i) + "].issuer", "is listed twice");
            }
          }
          out.external_issuers.push_back(std::move(*e));
        }
      } else {
        return fail(path, "is not a setting of \"auth\"");  // a name, safe to quote
      }
    }
    return out;
  }

 private:
  hearth::unexpected<hearth::error> fail(const std::string& path, std::string_view message,
                                         std::string_view code = "invalid") const {
    const std::string where = file_ + " key " + path;
    return hearth::unexpected(make_error(std::string(code), path + " (" + where + "): " + std::string(message), where));
  }

  hearth::result<std::chrono::seconds> seconds(const fhir::json_value& v, const std::string& path, std::uint64_t min,
                                               std::uint64_t max) const {
    const std::string range = "must be a whole number of seconds from " + std::to_string(min) + " to " +
                              std::to_string(max);
    if (!v.is_number()) return fail(path, range);
    const std::string& t = v.number_text();
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (ec != std::errc() || end != t.data() + t.size() || n < min || n > max) return fail(path, range);
    return std::chrono::seconds(static_cast<std::chrono::seconds::rep>(n));
  }

  hearth::result<std::string> string(const fhir::json_value& v, const std::string& path, std::size_t max_bytes) const {
    if (!v.is_string()) return fail(path, "must be a JSON string");
    if (v.str().empty() || v.str().size() > max_bytes) {
      return fail(path, "must hold 1 to " + std::to_string(max_bytes) + " bytes");
    }
    return v.str();
  }

  hearth::result<std::vector<std::string>> strings(const fhir::json_value& v, const std::string& path,
                                                   std::size_t max_items, std::size_t max_bytes) const {
    if (!v.is_array()) return fail(path, "must be an array of strings");
    if (v.size() > max_items) return fail(path, "holds more than " + std::to_string(max_items) + " items");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      auto s = string(v.items()[i], path + "[" + std::to_string(i) + "]", max_bytes);
      if (!s) return hearth::unexpected(std::move(s).error());
      out.push_back(std::move(*s));
    }
    return out;
  }

  /// The key set of "jwks" (an inline JWK Set object) or "jwks_file" (its
  /// path, relative to the config file's directory): exactly one.
  hearth::result<jwt::key_set> keys(const fhir::json_value* inline_jwks, const fhir::json_value* file,
                                    const std::string& path) const {
    if ((inline_jwks == nullptr) == (file == nullptr)) return fail(path, "needs exactly one of jwks and jwks_file");
    std::string text;
    std::string where = path + (inline_jwks != nullptr ? ".jwks" : ".jwks_file");
    if (inline_jwks != nullptr) {
      if (!inline_jwks->is_object()) return fail(where, "must be a JWK Set object ({\"keys\": [...]})");
      text = fhir::to_json(*inline_jwks);
    } else {
      auto name = string(*file, where, 4096);
      if (!name) return hearth::unexpected(std::move(name).error());
      std::filesystem::path p(*name);
      if (p.is_relative()) p = dir_ / p;
      std::error_code ec;
      if (!std::filesystem::is_regular_file(p, ec)) return fail(where, "no such file", "not-found");
      const auto size = std::filesystem::file_size(p, ec);
      if (ec || size > jwt::key_set::max_jwks_bytes) return fail(where, "is larger than 256 KiB");
      std::ifstream in(p, std::ios::binary);
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (!in && !in.eof()) return fail(where, "cannot be read", "not-found");
    }
    auto set = jwt::key_set::from_jwks(text);
    // jwt's messages say what is wrong with a key, never its material.
    if (!set) return fail(where, "is not a usable JWK Set: " + set.error().message);
    if (set->keys().empty()) return fail(where, "holds no key this server can use");
    return std::move(*set);
  }

  hearth::result<auth_client> client(const fhir::json_value& v, const std::string& path) const {
    if (!v.is_object()) return fail(path, "must be a JSON object");
    auth_client c;
    const fhir::json_value* jwks = nullptr;
    const fhir::json_value* jwks_file = nullptr;
    bool has_id = false, has_type = false, has_scope = false;
    for (const fhir::json_member& m : v.members()) {
      const std::string p = path + "." + m.key;
      if (m.key == "client_id") {
        auto id = string(m.value, p, 128);
        if (!id) return hearth::unexpected(std::move(id).error());
        // RFC 6749 A.1: client-id = *VSCHAR (%x20-7E); no space here, so a
        // client_id is one token in logs and in the assertion's iss.
        if (!std::all_of(id->begin(), id->end(), [](char ch) { return ch > 0x20 && ch < 0x7F; })) {
          return fail(p, "must be printable ASCII without spaces");
        }
        c.client_id = std::move(*id);
        has_id = true;
      } else if (m.key == "type") {
        if (!m.value.is_string()) return fail(p, "must be \"public\" or \"confidential-asymmetric\"");
        if (m.value.str() == "public") {
          c.type = auth_client_type::public_client;
        } else if (m.value.str() == "confidential-asymmetric") {
          c.type = auth_client_type::confidential_asymmetric;
        } else {
          return fail(p, "must be \"public\" or \"confidential-asymmetric\"");
        }
        has_type = true;
      } else if (m.key == "redirect_uris") {
        // A few per client (development, production); 2 KiB as browsers' URL limits.
        auto uris = strings(m.value, p, 32, 2048);
        if (!uris) return hearth::unexpected(std::move(uris).error());
        for (std::size_t i = 0; i < uris->size(); ++i) {
          if (std::string e = check_redirect_uri((*uris)[i]); !e.empty()) {
            return fail(p + "[" + std::to_string(i) + "]", e);
          }
        }
        c.redirect_uris = std::move(*uris);
      } else if (m.key == "scope") {
        auto scope = string(m.value, p, 8 * 1024);  // smart_scopes.hpp scope_limits::max_input_bytes
        if (!scope) return hearth::unexpected(std::move(scope).error());
        c.scope = std::move(*scope);
        has_scope = true;
      } else if (m.key == "jwks") {
        jwks = &m.value;
      } else if (m.key == "jwks_file") {
        jwks_file = &m.value;
      } else if (m.key == "introspect") {
        if (!m.value.is_bool()) return fail(p, "must be true or false");
        c.introspect = m.value.as_bool();
      } else {
        return fail(p, "is not a setting of a client");
      }
    }
    if (!has_id) return fail(path + ".client_id", "is required");
    if (!has_type) return fail(path + ".type", "is required");
    if (!has_scope) return fail(path + ".scope", "is required");
    if (c.type == auth_client_type::public_client) {
      if (jwks != nullptr || jwks_file != nullptr) return fail(path, "a public client has no keys");
      if (c.introspect) return fail(path + ".introspect", "needs a confidential-asymmetric client");
      if (c.redirect_uris.empty()) return fail(path + ".redirect_uris", "a public client needs at least one");
      return c;
    }
    auto set = keys(jwks, jwks_file, path);
    if (!set) return hearth::unexpected(std::move(set).error());
    for (const jwt::key& k : set->keys()) {
      // SMART Backend Services "Authenticating": RS384 or ES384.
      if (!k.accepts(jwt::algorithm::rs384) && !k.accepts(jwt::algorithm::es384)) {
        return fail(path + (jwks != nullptr ? ".jwks" : ".jwks_file"),
                    "holds a key that takes neither RS384 nor ES384 (SMART Backend Services)");
      }
    }
    c.keys = std::move(*set);
    return c;
  }

  hearth::result<auth_user> user(const fhir::json_value& v, const std::string& path) const {
    if (!v.is_object()) return fail(path, "must be a JSON object");
    auth_user u;
    bool has_name = false, has_hash = false;
    for (const fhir::json_member& m : v.members()) {
      const std::string p = path + "." + m.key;
      if (m.key == "username") {
        auto name = string(m.value, p, 256);
        if (!name) return hearth::unexpected(std::move(name).error());
        if (std::any_of(name->begin(), name->end(),
                        [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F; })) {
          return fail(p, "must not hold control characters");
        }
        u.username = std::move(*name);
        has_name = true;
      } else if (m.key == "password_hash") {
        if (!m.value.is_string() || !auth::is_password_hash(m.value.str())) {
          return fail(p, "must be an Argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash) "
                         "with m at most 262144, t at most 10, p at most 8");
        }
        u.password_hash = m.value.str();
        has_hash = true;
      } else if (m.key == "fhir_user") {
        auto ref = string(m.value, p, 200);
        if (!ref) return hearth::unexpected(std::move(ref).error());
        if (!relative_reference(*ref)) return fail(p, "must be a relative reference Type/id (\"Practitioner/123\")");
        u.fhir_user = std::move(*ref);
      } else if (m.key == "patients") {
        auto ids = strings(m.value, p, 1000, 64);  // the picker lists them all: a page, not a registry
        if (!ids) return hearth::unexpected(std::move(ids).error());
        for (std::size_t i = 0; i < ids->size(); ++i) {
          if (!fhir_id((*ids)[i])) return fail(p + "[" + std::to_string(i) + "]", "must be a FHIR id");
        }
        u.patients = std::move(*ids);
      } else {
        return fail(p, "is not a setting of a user");
      }
    }
    if (!has_name) return fail(path + ".username", "is required");
    if (!has_hash) return fail(path + ".password_hash", "is required");
    return u;
  }

  hearth::result<auth_external_issuer> issuer(const fhir::json_value& v, const std::string& path) const {
    if (!v.is_object()) return fail(path, "must be a JSON object");
    auth_external_issuer e;
    const fhir::json_value* jwks = nullptr;
    const fhir::json_value* jwks_file = nullptr;
    const fhir::json_value* jwks_uri = nullptr;
    const fhir::json_value* refresh_min = nullptr;
    for (const fhir::json_member& m : v.members()) {
      const std::string p = path + "." + m.key;
      if (m.key == "issuer") {
        auto iss = string(m.value, p, 2048);
        if (!iss) return hearth::unexpected(std::move(iss).error());
        if (std::string err = check_base_url(*iss); !err.empty()) return fail(p, err);
        e.issuer = std::move(*iss);
      } else if (m.key == "jwks") {
        jwks = &m.value;
      } else if (m.key == "jwks_file") {
        jwks_file = &m.value;
      } else if (m.key == "jwks_uri") {
        jwks_uri = &m.value;
      } else if (m.key == "jwks_refresh_min_seconds") {
        refresh_min = &m.value;
      } else {
        return fail(p, "is not a setting of an external issuer");
      }
    }
    if (e.issuer.empty()) return fail(path + ".issuer", "is required");
    if ((jwks != nullptr) + (jwks_file != nullptr) + (jwks_uri != nullptr) != 1)
      return fail(path, "needs exactly one of jwks, jwks_file and jwks_uri");
    if (refresh_min != nullptr) {
      const std::string p = path + ".jwks_refresh_min_seconds";
      if (jwks_uri == nullptr) return fail(p, "applies to jwks_uri only");
      // At least 1 s between two fetches, however many unknown kids arrive
      // (jwks_cache.hpp); at most an hour, so a rotation is picked up the
      // same hour. The default, 60 s, is what production wants.
      auto n = seconds(*refresh_min, p, 1, 3600);
      if (!n) return hearth::unexpected(std::move(n).error());
      e.jwks_refresh_min = *n;
    }
    if (jwks_uri != nullptr) {
      const std::string p = path + ".jwks_uri";
      auto uri = string(*jwks_uri, p, 8192);
      if (!uri) return hearth::unexpected(std::move(uri).error());
      // https, or http to a loopback host only (jwks_fetcher.hpp says why);
      // the message names what is wrong, never the URI.
      if (auto loc = auth::parse_jwks_uri(*uri); !loc) return fail(p, loc.error().message);
      e.jwks_uri = std::move(*uri);
      return e;
    }
    auto set = keys(jwks, jwks_file, path);
    if (!set) return hearth::unexpected(std::move(set).error());
    e.keys = std::move(*set);
    return e;
  }

  /// RFC 6749 3.1.2: an absolute URI (RFC 3986 4.3) without a fragment. A
  /// private-use scheme ("com.example.app:/cb", RFC 8252 7.1) is allowed for
  /// native apps.
  static std::string check_redirect_uri(std::string_view uri) {
    const std::size_t colon = uri.find(':');
    const auto scheme_char = [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '+' ||
             ch == '-' || ch == '.';
    };
    if (colon == std::string_view::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(uri[0])) ||
        !std::all_of(uri.begin(), uri.begin() + static_cast<std::ptrdiff_t>(colon), scheme_char) ||
        colon + 1 == uri.size()) {
      return "must be an absolute URI (scheme:...)";
    }
    if (uri.find('#') != std::string_view::npos) return "must not hold a fragment (RFC 6749 3.1.2)";
    if (std::any_of(uri.begin(), uri.end(), [](char ch) {
          return static_cast<unsigned char>(ch) <= 0x20 || static_cast<unsigned char>(ch) >= 0x7F;
        })) {
      return "must be printable ASCII without spaces (percent-encode the rest)";
    }
    const std::string_view scheme = uri.substr(0, colon);
    if ((text::iequals(scheme, "http") || text::iequals(scheme, "https")) && !uri.substr(colon).starts_with("://")) {
      return "an http(s) URI must name a host";
    }
    return {};
  }

  /// R4 datatypes.html#id.
  static bool fhir_id(std::string_view id) {
    return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.';
    });
  }

  /// "Type/id" with a resource-type-like name (R4 references.html#literal).
  static bool relative_reference(std::string_view ref) {
    const std::size_t slash = ref.find('/');
    if (slash == std::string_view::npos || slash == 0) return false;
    const std::string_view type = ref.substr(0, slash);
    return std::isupper(static_cast<unsigned char>(type[0])) &&
           std::all_of(type.begin(), type.end(), [](char ch) { return std::isalpha(static_cast<unsigned char>(ch)); }) &&
           fhir_id(ref.substr(slash + 1));
  }

  std::string file_;           ///< "file x.json": the source, for errors
  std::filesystem::path dir_;  ///< the config file's directory: relative jwks_file paths start there
};

/// Applies the settings of a config file.
hearth::result<void> apply_file(server_config& cfg, std::map<std::string_view, std::string>& origin,
                                const std::filesystem::path& path, const std::string& named_by) {
  auto text = read_file(path, named_by);
  if (!text) return hearth::unexpected(std::move(text).error());
  fhir::json_read_options opts;
  opts.max_bytes = max_config_file_bytes;
  // Settings are strings, numbers and arrays of strings; "auth" nests
  // deepest: auth.clients[i].jwks.keys[j].x5c[k] is depth 8 below the root.
  opts.max_depth = 10;
  opts.fhir_rules = false;
  auto json = fhir::parse_json(*text, opts);
  const std::string file = "file " + path.string();
  if (!json) {
    hearth::error e = std::move(json).error();
    e.message = "config file (" + named_by + "): " + e.message;
    e.location = file + (e.location.empty() ? "" : " " + e.location);
    return hearth::unexpected(std::move(e));
  }
  if (!json->is_object()) {
    return hearth::unexpected(make_error("invalid", "config file (" + named_by + "): must hold a JSON object", file));
  }
  for (const fhir::json_member& m : json->members()) {
    if (m.key == "auth") {
      std::error_code ec;
      const std::filesystem::path abs = std::filesystem::absolute(path, ec);
      auth_reader reader(file, ec ? path.parent_path() : abs.parent_path());
      auto a = reader.read(m.value);
      if (!a) return hearth::unexpected(std::move(a).error());
      cfg.auth = std::move(*a);
      continue;
    }
    const setting* s = find_by_key(m.key);
    if (s == nullptr) {
      // The key is a name, not a value: quoting it is safe and needed.
      return hearth::unexpected(
          make_error("invalid", "config file (" + named_by + "): unknown setting \"" + m.key + "\"", file));
    }
    const std::string source = file + " key " + std::string(s->key);
    auto raw = from_json(*s, m.value, source);
    if (!raw) return hearth::unexpected(std::move(raw).error());
    if (auto r = apply(cfg, *s, std::move(*raw), source); !r) return r;
    origin[s->key] = source;
  }
  return {};
}

/// A flag split into name and value.
struct parsed_flag {
  const setting* s = nullptr;  // nullptr for --config
  std::string name;
  std::string value;
};

/// Splits the flags; checks names, values present and no repeats.
hearth::result<std::vector<parsed_flag>> parse_flags(const std::vector<std::string>& flags) {
  std::vector<parsed_flag> out;
  for (std::size_t i = 0; i < flags.size(); ++i) {
    const std::string& arg = flags[i];
    if (!arg.starts_with("--") || arg.size() == 2) {
      // Not quoted: a misplaced value may be a secret.
      return hearth::unexpected(make_error(
          "invalid", "argument " + std::to_string(i + 1) + " is not a flag (flags are --name VALUE or --name=VALUE)",
          "argument " + std::to_string(i + 1)));
    }
    const std::size_t eq = arg.find('=');
    parsed_flag f;
    f.name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    if (f.name != config_flag) {
      f.s = find_by_flag(f.name);
      if (f.s == nullptr) {
        return hearth::unexpected(make_error("invalid", "unknown flag --" + f.name + " (see hearth serve --help)",
                                             "flag --" + f.name));
      }
    }
    if (eq != std::string::npos) {
      f.value = arg.substr(eq + 1);
    } else if (i + 1 < flags.size() && !flags[i + 1].starts_with("--")) {
      f.value = flags[++i];
    } else {
      return hearth::unexpected(make_error("invalid", "flag --" + f.name + " needs a value", "flag --" + f.name));
    }
    for (const parsed_flag& g : out) {
      if (g.name == f.name) {
        return hearth::unexpected(make_error("invalid", "flag --" + f.name + " is given more than once",
                                             "flag --" + f.name));
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

/// Checks that involve several settings or the file system, naming the
/// source of the setting at fault.
hearth::result<void> validate(const server_config& cfg, const std::map<std::string_view, std::string>& origin) {
  auto source_of = [&](std::string_view key) {
    auto it = origin.find(key);
    return it == origin.end() ? std::string("default") : it->second;
  };
  const setting& cert = *find_by_key("tls_cert_file");
  const setting& key = *find_by_key("tls_key_file");
  if (cfg.tls_cert_file.empty() != cfg.tls_key_file.empty()) {
    const setting& given = cfg.tls_cert_file.empty() ? key : cert;
    const setting& missing = cfg.tls_cert_file.empty() ? cert : key;
    return hearth::unexpected(setting_error(given, source_of(given.key),
                                            "needs " + std::string(missing.key) + " as well (HTTPS takes both)"));
  }
  for (const setting* s : {&cert, &key}) {
    const std::string& path = cfg.*std::get<std::string server_config::*>(s->where);
    std::error_code ec;
    if (!path.empty() && !std::filesystem::is_regular_file(path, ec)) {
      return hearth::unexpected(setting_error(*s, source_of(s->key), "no such file", "not-found"));
    }
  }
  {
    const setting& mcert = *find_by_key("mllp_tls_cert_file");
    const setting& mkey = *find_by_key("mllp_tls_key_file");
    const setting& mca = *find_by_key("mllp_tls_client_ca_file");
    if (cfg.mllp_tls_cert_file.empty() != cfg.mllp_tls_key_file.empty()) {
      const setting& given = cfg.mllp_tls_cert_file.empty() ? mkey : mcert;
      const setting& missing = cfg.mllp_tls_cert_file.empty() ? mcert : mkey;
      return hearth::unexpected(setting_error(given, source_of(given.key),
                                              "needs " + std::string(missing.key) + " as well (TLS takes both)"));
    }
    if (!cfg.mllp_tls_client_ca_file.empty() && cfg.mllp_tls_cert_file.empty()) {
      return hearth::unexpected(setting_error(mca, source_of(mca.key),
                                              "needs mllp_tls_cert_file and mllp_tls_key_file (mTLS is TLS)"));
    }
    for (const setting* s : {&mcert, &mkey, &mca, find_by_key("hl7_config_file")}) {
      const std::string& path = cfg.*std::get<std::string server_config::*>(s->where);
      std::error_code ec;
      if (!path.empty() && !std::filesystem::is_regular_file(path, ec)) {
        return hearth::unexpected(setting_error(*s, source_of(s->key), "no such file", "not-found"));
      }
    }
  }
  for (const std::string& package : cfg.fhir_packages) {
    std::error_code ec;
    if (!std::filesystem::exists(package, ec)) {
      const setting& s = *find_by_key("fhir_packages");
      return hearth::unexpected(setting_error(s, source_of(s.key), "no such file or directory", "not-found"));
    }
  }
  if (!cfg.examples_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(cfg.examples_dir, ec)) {
      const setting& s = *find_by_key("examples_dir");
      return hearth::unexpected(setting_error(s, source_of(s.key), "no such directory", "not-found"));
    }
  }
  if (cfg.rate_limit_burst != 0 && cfg.rate_limit_per_second == 0) {
    const setting& s = *find_by_key("rate_limit_burst");
    return hearth::unexpected(setting_error(s, source_of(s.key), "needs rate_limit_per_second above 0"));
  }
  return {};
}

}  // namespace

std::string_view to_string(auth_client_type t) noexcept {
  switch (t) {
    case auth_client_type::public_client:
      return "public";
    case auth_client_type::confidential_asymmetric:
      return "confidential-asymmetric";
  }
  return "public";
}

std::string_view to_string(log_format f) noexcept {
  switch (f) {
    case log_format::json:
      return "json";
  }
  return "json";
}

std::size_t server_config::default_worker_threads() noexcept {
  return std::max<std::size_t>(2, std::thread::hardware_concurrency());
}

std::string server_config::base_url(std::uint16_t bound_port) const {
  if (!public_base_url.empty()) return public_base_url;
  std::string host = http_host;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::" || host == "[::]") host = "::1";
  if (host.find(':') != std::string::npos && !host.starts_with('[')) host = "[" + host + "]";
  return std::string(tls_enabled() ? "https://" : "http://") + host + ":" +
         std::to_string(bound_port != 0 ? bound_port : http_port);
}

hearth::result<store::database_config> server_config::database() const {
  store::database_config db;
  if (database_url.empty()) {
    db.kind = store::engine::sqlite;
    db.location = data_dir;
  } else {
    auto parsed = store::parse_database_url(database_url);
    if (!parsed) return hearth::unexpected(std::move(parsed).error());
    db = std::move(*parsed);
  }
  db.pool_size = std::max<std::size_t>(1, worker_threads);
  return db;
}

env_lookup env_from_map(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

env_lookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): start-up only
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

hearth::result<server_config> load_server_config(const config_sources& sources) {
  server_config cfg;
  // Where each setting's value came from (absent: the default), for errors
  // found after merging.
  std::map<std::string_view, std::string> origin;

  auto flags = parse_flags(sources.flags);
  if (!flags) return hearth::unexpected(std::move(flags).error());
  // An empty environment variable counts as unset: container tools often
  // pass `HEARTH_X=` for "not configured".
  auto env = [&](std::string_view name) -> std::optional<std::string> {
    if (!sources.env) return std::nullopt;
    auto v = sources.env(std::string(name));
    if (v && v->empty()) return std::nullopt;
    return v;
  };

  // 1. The config file: --config, else HEARTH_CONFIG, else the caller's.
  std::optional<std::filesystem::path> file;
  std::string file_named_by;
  for (const parsed_flag& f : *flags) {
    if (f.s == nullptr) {
      file = f.value;
      file_named_by = "flag --config";
    }
  }
  if (!file) {
    if (auto v = env(config_env)) {
      file = *v;
      file_named_by = "env " + std::string(config_env);
    } else if (sources.config_file) {
      file = *sources.config_file;
      file_named_by = "file " + sources.config_file->string();
    }
  }
  if (file) {
    if (file->empty()) return hearth::unexpected(make_error("invalid", "config file (" + file_named_by + "): empty path",
                                                            file_named_by));
    if (auto r = apply_file(cfg, origin, *file, file_named_by); !r) return hearth::unexpected(std::move(r).error());
  }

  // 2. The environment.
  for (const setting& s : settings()) {
    auto v = env(s.env);
    if (!v) continue;
    const std::string source = "env " + std::string(s.env);
    raw_value raw;
    if (is_list(s)) {
      raw.items = split_list(*v);
    } else {
      raw.text = std::move(*v);
    }
    if (auto r = apply(cfg, s, std::move(raw), source); !r) return hearth::unexpected(std::move(r).error());
    origin[s.key] = source;
  }

  // 3. The flags.
  for (parsed_flag& f : *flags) {
    if (f.s == nullptr) continue;
    const std::string source = "flag --" + f.name;
    raw_value raw;
    if (is_list(*f.s)) {
      raw.items = split_list(f.value);
    } else {
      raw.text = std::move(f.value);
    }
    if (auto r = apply(cfg, *f.s, std::move(raw), source); !r) return hearth::unexpected(std::move(r).error());
    origin[f.s->key] = source;
  }

  if (auto r = validate(cfg, origin); !r) return hearth::unexpected(std::move(r).error());
  return cfg;
}

std::string config_help() {
  const server_config defaults;
  std::ostringstream out;
  out << "Usage: hearth serve [--name VALUE | --name=VALUE]...\n\n"
         "Each setting comes, highest precedence first, from a flag, an environment\n"
         "variable, a key of the JSON config file, or its default. Empty environment\n"
         "variables count as unset.\n\n"
         "  --config FILE\n"
         "      JSON config file: one object with the keys below.  env: HEARTH_CONFIG\n";
  for (const setting& s : settings()) {
    out << "  --" << s.flag << ' ' << s.meta << "\n      " << s.help << ".\n      env: " << s.env << "  file key: \""
        << s.key << "\"";
    std::string def = std::visit(
        [&](auto member) -> std::string {
          using T = std::remove_cvref_t<decltype(defaults.*member)>;
          if constexpr (std::is_same_v<T, std::string>) {
            return defaults.*member;
          } else if constexpr (std::is_same_v<T, std::chrono::seconds>) {
            return std::to_string((defaults.*member).count());
          } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            return {};
          } else if constexpr (std::is_same_v<T, log_format>) {
            return std::string(to_string(defaults.*member));
          } else if constexpr (std::is_same_v<T, std::optional<std::uint16_t>>) {
            return (defaults.*member) ? std::to_string(*(defaults.*member)) : std::string();
          } else {
            return std::to_string(defaults.*member);
          }
        },
        s.where);
    if (s.key == "worker_threads") def.clear();  // machine-dependent; the help line says it
    if (!def.empty()) out << "  default: " << def;
    if (s.max != 0) out << "  range: " << s.min << ".." << s.max;
    out << '\n';
  }
  out << "\nThe built-in OAuth 2.0 / SMART authorisation server's clients, users, external\n"
         "token issuers and token lifetimes are read from the config file only, under\n"
         "the key \"auth\" (see examples/config/): \"clients\", \"users\",\n"
         "\"external_issuers\", \"access_token_lifetime\" (default 3600),\n"
         "\"backend_access_token_lifetime\" (default 300), \"refresh_token_lifetime\"\n"
         "(default 2592000). An external issuer's keys come from \"jwks\", \"jwks_file\"\n"
         "or \"jwks_uri\" (https; fetched at start, refreshed after its max-age within\n"
         "5 min..24 h, and on an unknown kid at most every \"jwks_refresh_min_seconds\",\n"
         "default 60).\n";
  return out.str();
}

}  // namespace hearth::server
