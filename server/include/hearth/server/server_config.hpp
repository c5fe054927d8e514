#pragma once
// hearth::server::server_config — the configuration of `hearth serve`, and how
// it is read from a JSON file, HEARTH_* environment variables and flags.
//
// Precedence, lowest first: built-in defaults < config file < environment <
// flags. Every setting has one name in each source:
//
//   file key (JSON)        flag                   environment variable
//   data_dir               --data DIR             HEARTH_DATA
//   database_url           --database-url URL     HEARTH_DATABASE_URL
//   http_host              --http-host HOST       HEARTH_HTTP_HOST
//   ...                    (config_help() lists them all)
//
// The config file itself is named by --config FILE, else HEARTH_CONFIG, else
// config_sources::config_file; no file is read when none names one.
//
// Everything is validated at start-up: an unknown file key or flag, a value
// of the wrong kind, a number out of range, a missing TLS file are errors
// naming the setting and where it came from ("http_port (flag --http-port):
// ..."). Messages never repeat a value: a database URL may hold a password.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/server/jwt.hpp>
#include <hearth/store/database.hpp>

namespace hearth::server {

/// How log lines are written. Only JSON lines for now (one object per line,
/// for log collectors); the enum leaves room for a human-readable form.
enum class log_format : std::uint8_t { json };

/// "json".
std::string_view to_string(log_format f) noexcept;

// --- the built-in authorisation server (auth_server.hpp) -------------------
//
// These come from the config file only, under the key "auth" (a structure
// has no sensible flag or environment form):
//
//   "auth": {
//     "access_token_lifetime": 3600,          seconds, 1..3600
//     "backend_access_token_lifetime": 300,   seconds, 1..300 (client_credentials)
//     "refresh_token_lifetime": 2592000,      seconds, 60..31536000
//     "clients": [
//       {"client_id": "growth-chart", "type": "public",
//        "redirect_uris": ["https://app.example.org/callback"],
//        "scope": "launch launch/patient openid fhirUser offline_access patient/*.rs"},
//       {"client_id": "lab-feed", "type": "confidential-asymmetric",
//        "scope": "system/Observation.crus", "jwks_file": "lab-feed.jwks.json",
//        "introspect": true}
//     ],
//     "users": [
//       {"username": "alice", "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$...",
//        "fhir_user": "Practitioner/example", "patients": ["example", "pat-2"]}
//     ],
//     "external_issuers": [
//       {"issuer": "https://idp.example.org", "jwks_file": "idp.jwks.json"},
//       {"issuer": "https://login.example.com", "jwks_uri": "https://login.example.com/jwks",
//        "jwks_refresh_min_seconds": 60}
//     ]
//   }
//
// A relative jwks_file is read from the config file's directory. An external
// issuer gives exactly one of "jwks" (inline), "jwks_file" and "jwks_uri".
// A jwks_uri must be https (http only to a loopback host: 127.0.0.0/8, ::1,
// localhost, for tests and development); it is fetched at start and
// refreshed after the response's Cache-Control max-age, held within
// 5 min..24 h (1 h without one), and when a token names an unknown kid, at
// most once per jwks_refresh_min_seconds (1..3600, default 60): see
// jwks_cache.hpp. If the first fetch fails, the server starts anyway, logs a
// warning and keeps trying; that issuer's tokens are refused until its keys
// are known. Every key of these objects is checked: an unknown one is an
// error, as at the top.

/// What kind of OAuth client (RFC 6749 2.1; SMART App Launch 2.2
/// client-authentication).
enum class auth_client_type : std::uint8_t {
  /// "public": cannot keep a secret (a browser or native app); PKCE only,
  /// authorization_code and refresh_token grants.
  public_client,
  /// "confidential-asymmetric": authenticates with private_key_jwt (RFC 7523
  /// 2.2, SMART "client-confidential-asymmetric"); every grant, Backend
  /// Services (client_credentials) included.
  confidential_asymmetric,
};

/// "public", "confidential-asymmetric".
std::string_view to_string(auth_client_type t) noexcept;

/// One registered client.
struct auth_client {
  /// RFC 6749 2.2; printable ASCII without spaces, 1..128 characters, unique.
  std::string client_id;
  auth_client_type type = auth_client_type::public_client;
  /// Exact redirect URIs (RFC 6749 3.1.2: absolute, no fragment); compared
  /// byte for byte (SECURITY.md). At least one for a public client.
  std::vector<std::string> redirect_uris;
  /// The scopes the client may be granted (SMART syntax). Parsed strictly
  /// by the authorisation server, which knows the resource types.
  std::string scope;
  /// confidential-asymmetric: the public keys its assertions are signed
  /// with ("jwks" inline, or "jwks_file"); every key takes RS384 (RSA) or
  /// ES384 (EC P-384), SMART Backend Services' algorithms. Empty for public.
  jwt::key_set keys;
  /// May call the introspection endpoint about any token (a resource
  /// server); without it a client introspects only its own tokens.
  bool introspect = false;
};

/// One user who signs in at the authorisation endpoint.
struct auth_user {
  /// 1..256 bytes, no control characters; unique. The access token's `sub`.
  std::string username;
  /// Argon2id PHC string (password_hash.hpp, is_password_hash).
  std::string password_hash;
  /// The user's FHIR resource ("Practitioner/123"), the `fhirUser` claim;
  /// may be empty.
  std::string fhir_user;
  /// Patient ids the user may pick for launch/patient (the patient picker).
  std::vector<std::string> patients;
};

/// An issuer whose access tokens are accepted besides Hearth's own
/// (access_token.hpp, verifier_options::external).
struct auth_external_issuer {
  std::string issuer;  ///< http(s) URL, exact `iss`; unique
  jwt::key_set keys;   ///< "jwks" inline or "jwks_file"; empty with a jwks_uri
  /// "jwks_uri": where the keys are fetched from (jwks_fetcher.hpp rules),
  /// instead of `keys`; empty otherwise. Not logged (it may hold a query).
  std::string jwks_uri;
  /// "jwks_refresh_min_seconds": least time between two fetches of jwks_uri.
  std::chrono::seconds jwks_refresh_min{60};
};

/// The "auth" section of the config file.
struct auth_settings {
  std::vector<auth_client> clients;
  std::vector<auth_user> users;
  std::vector<auth_external_issuer> external_issuers;
  /// Access tokens of authorization_code and refresh_token grants
  /// (SECURITY.md: at most 1 h).
  std::chrono::seconds access_token_lifetime{3600};
  /// Access tokens of client_credentials (SMART Backend Services: at most 5 min).
  std::chrono::seconds backend_access_token_lifetime{300};
  /// Refresh tokens (each rotation starts a new period). 30 days.
  std::chrono::seconds refresh_token_lifetime{30 * 24 * 3600};
};

/// Every setting of `hearth serve`. Plain value; copyable. The defaults are
/// what `hearth serve` does with no configuration at all (DESIGN.md
/// "Commands": FHIR on 8080, SQLite in ./data).
struct server_config {
  /// The SQLite data directory (created when missing), used when
  /// database_url is empty.
  std::string data_dir = "./data";
  /// Empty: SQLite in data_dir. Otherwise `postgresql://...`,
  /// `postgresql:KEY=VALUE ...` or `sqlite:DIR` (store::parse_database_url).
  /// A secret: never logged or echoed in an error.
  std::string database_url;
  /// Address the HTTP listener binds. Loopback by default: exposing the
  /// server is a deliberate act.
  std::string http_host = "127.0.0.1";
  /// 0 = let the system pick a free port (tests).
  std::uint16_t http_port = 8080;
  /// The base URL clients use ("https://fhir.example.org/r4", no trailing
  /// slash): Location headers, Bundle links, the CapabilityStatement, the
  /// audience of tokens. Empty: derived from the host and port (base_url()).
  std::string public_base_url;
  /// Threads running database work (DESIGN.md "Blocking work stays off the
  /// network threads"); the read pool of the database is sized to match.
  /// Default: the number of cores, at least 2.
  std::size_t worker_threads = default_worker_threads();
  /// Threads for the requests that may write (every method but GET and
  /// HEAD). A write holds its thread until its transaction commits (one
  /// fsync of a group commit, DESIGN.md), mostly waiting, so there are many
  /// more of these than cores: with as few as the cores, no more than that
  /// many writes could share a commit, and creates/s would be bound by the
  /// fsync latency instead of the disk's rate (bench/RESULTS.md, REST). 32
  /// lets the 32 connections of the benchmark all join one group; the
  /// reads keep their own pool, sized to the cores, which they saturate.
  std::size_t write_threads = 32;
  /// Threads running the Asio event loop (parse, route, write only).
  std::size_t io_threads = 1;
  /// Largest request body. 16 MiB: a transaction Bundle of a few thousand
  /// resources; larger imports go through `hearth import`.
  std::size_t max_body_bytes = 16u << 20;
  /// Largest request head (request line and headers). 8 KiB, as common
  /// servers allow: a long search URL fits, a header flood does not.
  std::size_t max_header_bytes = 8u << 10;
  /// Most open client connections; more are refused, bounding memory and
  /// file descriptors.
  std::size_t max_connections = 1024;
  /// Longest wait for a whole request once it has begun, and for a response
  /// to be written: slow clients (slowloris) cannot hold a connection. Over
  /// HTTPS the TLS handshake of a new connection has read_timeout as well.
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds write_timeout{30};
  /// Longest an idle keep-alive connection stays open. 0: close after each
  /// response.
  std::chrono::seconds keep_alive_timeout{60};
  /// Most requests one connection may have in flight (HTTP/1.1 pipelining);
  /// bounds the responses queued per connection. The listener reads the
  /// next request once the previous answer is written: 1 is what it does,
  /// and `hearth serve` refuses any other value for now.
  std::size_t max_pipelined = 1;
  /// PEM certificate chain (the server's certificate first) and its
  /// unencrypted private key for HTTPS: both or neither. Checked to exist
  /// when loaded; read, and checked to match, when the listener starts.
  std::string tls_cert_file;
  std::string tls_key_file;
  /// Origins allowed by CORS ("https://app.example.org", or "*" for any);
  /// empty: no CORS headers.
  std::vector<std::string> cors_allowed_origins;
  /// Requests per second allowed per client address, and the burst: the
  /// most requests a client may send at once (the size of its token bucket,
  /// rate_limiter.hpp). 0 = no limit. A burst of 0 with a rate means a burst
  /// equal to the rate.
  std::uint32_t rate_limit_per_second = 0;
  std::uint32_t rate_limit_burst = 0;
  log_format log = log_format::json;
  /// A directory of FHIR resources (JSON) loaded at start-up; empty: none.
  /// Checked to exist when loaded.
  std::string examples_dir;
  /// The built-in authorisation server's clients, users, external issuers
  /// and token lifetimes (config file key "auth", above). Empty by default.
  auth_settings auth;

  // The HL7 v2 MLLP listener (issue 7; hl7_intake.hpp, mllp_listener.hpp).
  /// The MLLP port; unset: no MLLP listener (`hearth serve --mllp-port 2575`,
  /// as `make run` does; 0 picks a free port). Off by default so that two
  /// servers on one machine (tests, a second instance) never fight over it.
  std::optional<std::uint16_t> mllp_port;
  /// Address the MLLP listener binds. Loopback by default. Any other address
  /// needs mllp_tls_client_ca_file (only senders with a certificate it
  /// trusts may write), unless `hearth serve --insecure-mllp-any-sender`.
  std::string mllp_host = "127.0.0.1";
  /// MLLP over TLS: certificate chain and key (both or neither), and the CA
  /// bundle client certificates must chain to (mTLS; needs the other two).
  std::string mllp_tls_cert_file;
  std::string mllp_tls_key_file;
  std::string mllp_tls_client_ca_file;
  /// Largest MLLP frame (one message or batch); larger ones get AR 104.
  /// 10 MiB, the parser's limit: a lab result with an embedded PDF fits.
  std::size_t mllp_max_frame_bytes = 10u << 20;
  /// Most open MLLP connections.
  std::size_t mllp_max_connections = 256;
  /// Longest wait for a message to start (idle connection) and for a
  /// started one to complete.
  std::chrono::seconds mllp_idle_timeout{600};
  std::chrono::seconds mllp_frame_timeout{30};
  /// The per-sender HL7 v2 mapping settings (mapping::mapping_config JSON:
  /// identifier systems, default UTC offset, local code systems,
  /// Z-segment extensions); empty: the defaults for every sender.
  std::string hl7_config_file;

  // Validation and terminology (issue 8; validation_support.hpp).
  /// Which creates, updates and patches are validated against the R4
  /// definitions and their profiles, and what a failure does: the text of
  /// validation_policy::parse ("off", "warn", "enforce", or
  /// "Patient=enforce,*=warn"). Off by default, as HAPI's: a server that
  /// takes data from many senders turns it on type by type.
  std::string validation = "off";
  /// FHIR packages (npm-layout folders, or JSON files holding
  /// StructureDefinitions) whose profiles and extensions the validator
  /// knows besides the R4 ones: US Core, a national base, a lab's own.
  std::vector<std::string> fhir_packages;

  /// The number of cores, at least 2.
  static std::size_t default_worker_threads() noexcept;

  /// HTTPS is on.
  bool tls_enabled() const noexcept { return !tls_cert_file.empty(); }
  /// public_base_url when set; otherwise `http(s)://HOST:PORT` with
  /// `bound_port` (the port actually bound, when http_port is 0) or
  /// http_port. A wildcard host (0.0.0.0, ::) becomes the loopback address;
  /// an IPv6 host is bracketed.
  std::string base_url(std::uint16_t bound_port = 0) const;
  /// How to open the database: database_url when set, SQLite in data_dir
  /// otherwise; the read pool sized to worker_threads. Errors as
  /// store::parse_database_url (never quoting the URL).
  hearth::result<store::database_config> database() const;
};

/// Looks up one environment variable: its value, or nullopt when unset.
using env_lookup = std::function<std::optional<std::string>(const std::string& name)>;

/// An environment made of a map (tests): names not in it are unset.
env_lookup env_from_map(std::map<std::string, std::string> vars);
/// The process environment (std::getenv). Not thread-safe against setenv,
/// like getenv itself: call at start-up.
env_lookup process_environment();

/// Where the configuration comes from.
struct config_sources {
  /// A JSON config file, used when neither --config nor HEARTH_CONFIG names one.
  std::optional<std::filesystem::path> config_file;
  /// The environment; an empty function is an empty environment.
  env_lookup env;
  /// Command-line flags after `hearth serve`: `--name VALUE` or
  /// `--name=VALUE`, each setting at most once (a repeat is an error).
  std::vector<std::string> flags;
};

/// Reads, merges and validates the configuration (see the top of this file).
/// Errors: code "invalid" for an unknown key or flag, a value of the wrong
/// kind or out of range, malformed JSON; "not-found" for a missing config,
/// TLS or examples file. The message names the setting and its source,
/// `location` holds the source ("file x.json", "env HEARTH_HTTP_PORT",
/// "flag --http-port"), and no message repeats a value.
hearth::result<server_config> load_server_config(const config_sources& sources);

/// The text of `hearth serve --help`: every flag with its environment
/// variable, file key and default.
std::string config_help();

}  // namespace hearth::server
