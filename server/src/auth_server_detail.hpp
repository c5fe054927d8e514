#pragma once
// Private to the authorisation server (auth_server*.cpp): the state behind
// auth_server, the persisted token file, and helpers shared by the
// endpoints. See auth_server.hpp for what the endpoints do and why.

#include <hearth/server/auth_server.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/server/server_config.hpp>
#include <hearth/server/smart_scopes.hpp>

namespace hearth::server::auth::detail {

using time_point = std::chrono::system_clock::time_point;

// --- limits, each with its reason ------------------------------------------

/// Largest form body (token, introspection, revocation, login form). A
/// client assertion is at most 16 KiB (jwt verify_options::max_token_bytes),
/// a scope string 8 KiB; 64 KiB holds both with room to spare.
inline constexpr std::size_t max_form_bytes = 64u << 10;
/// Pending authorisations, codes and launches held at once. Each is a few
/// hundred bytes; 50,000 bound the memory an unauthenticated flood of
/// authorize requests can take to tens of MB. Beyond it new ones are refused
/// (temporarily_unavailable) until old ones expire.
inline constexpr std::size_t max_pending = 50'000;
inline constexpr std::size_t max_codes = 50'000;
inline constexpr std::size_t max_launches = 50'000;
/// A pending authorisation (the login form) lasts 10 minutes: time to type
/// a password, short enough that an abandoned one does not linger.
inline constexpr std::chrono::seconds pending_lifetime{600};
/// RFC 6749 4.1.2: "A maximum authorization code lifetime of 10 minutes is
/// RECOMMENDED"; SECURITY.md and the issue: at most 60 s.
inline constexpr std::chrono::seconds code_lifetime{60};
/// A used code is remembered this long so that its reuse revokes what it
/// issued (RFC 6749 4.1.2); after that it is merely unknown (invalid_grant).
inline constexpr std::chrono::seconds used_code_memory{600};
/// Wrong passwords tried on one pending authorisation before it is ended
/// with access_denied.
inline constexpr int max_login_attempts = 5;
/// Consecutive failed logins of one user before the account is locked; the
/// lock lasts lockout_base doubled per further failure, at most lockout_max
/// (OWASP Authentication Cheat Sheet, "Account lockout").
inline constexpr int lockout_threshold = 5;
inline constexpr std::chrono::seconds lockout_base{30};
inline constexpr std::chrono::seconds lockout_max{900};
/// `state`, `nonce`: opaque values echoed back; 1 KiB / 512 B are far above
/// what clients send (a UUID or a random string) and bound what we store.
inline constexpr std::size_t max_state_bytes = 1024;
inline constexpr std::size_t max_nonce_bytes = 512;
/// A client assertion's jti: 256 bytes holds any UUID or random id.
inline constexpr std::size_t max_jti_bytes = 256;
/// Clock skew tolerated on client assertions (SECURITY.md: at most 60 s).
inline constexpr std::chrono::seconds assertion_leeway{60};
/// SMART Backend Services: an assertion's exp at most 5 minutes ahead.
inline constexpr std::chrono::seconds max_assertion_lifetime{300};
/// A revoked jti is kept this long past its token's exp: token_verifier
/// accepts a token up to its leeway (SECURITY.md: at most 60 s) after exp,
/// and a revoked token must not come back to life in that window.
inline constexpr std::chrono::seconds revocation_margin{60};
/// Client registration (RFC 7591). A request body: metadata with a JWK Set
/// of a few keys is a few KiB; 64 KiB holds 20 long redirect URIs, an 8 KiB
/// scope and several RSA-4096 keys, and bounds the parse.
inline constexpr std::size_t max_registration_bytes = 64u << 10;
/// Redirect URIs per registered client: development, staging, production
/// and a few native-app loopback ports; each compared on every authorize.
inline constexpr std::size_t max_redirect_uris = 20;
/// One redirect URI: 2 KiB, as browsers' URL limits.
inline constexpr std::size_t max_redirect_uri_bytes = 2048;
/// client_name: shown to users (the login page); 200 bytes is a long name.
inline constexpr std::size_t max_client_name_bytes = 200;
/// Keys in a registered client's JWK Set: a rotation needs two or three.
inline constexpr std::size_t max_client_keys = 10;
/// Registered clients kept at once. Each is at most a 64 KiB request, and
/// clients.json is rewritten on every change: 1,000 bound both (64 MiB, a
/// rewrite of a few MB in practice). Beyond it a registration is refused
/// until one is deleted.
inline constexpr std::size_t max_registered_clients = 1000;
/// RFC 7523 / SMART "client-assertion-type".
inline constexpr std::string_view jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// --- small helpers (auth_server.cpp) ----------------------------------------

/// 256 random bits from OpenSSL's generator, base64url without padding
/// (43 characters). Aborts if the generator fails: nothing secret may be
/// made from a broken generator, and there is no sensible answer.
std::string random_token();
/// base64url (no padding) of the SHA-256 of `text`.
std::string sha256_b64url(std::string_view text);
/// base64url without padding.
std::string b64url(std::string_view bytes);
/// Constant-time comparison (different lengths compare unequal at once:
/// lengths are not secret here).
bool equal_ct(std::string_view a, std::string_view b) noexcept;
/// Seconds since the epoch.
std::int64_t to_unix(time_point t) noexcept;
time_point from_unix(std::int64_t s) noexcept;
/// An integer JSON member, or nullopt.
std::optional<std::int64_t> int_member(const fhir::json_value& obj, std::string_view name);
/// A string JSON member, or empty.
std::string str_member(const fhir::json_value& obj, std::string_view name);
/// The claims of a compact JWS, NOT verified: only to learn which client
/// (iss) to verify an assertion with, or the jti/exp of a token we minted.
std::optional<fhir::json_value> peek_claims(std::string_view token);
/// R4 datatypes.html#id.
bool valid_fhir_id(std::string_view id) noexcept;

/// Form or query parameters with RFC 6749 3.1/3.2 rules: "Parameters sent
/// without a value MUST be treated as if they were omitted", "MUST NOT be
/// included more than once".
struct form {
  std::vector<std::pair<std::string, std::string>> params;
  /// The value of `name`; nullopt when absent or empty.
  std::optional<std::string_view> get(std::string_view name) const;
  /// Whether `name` has a value more than once.
  bool repeated(std::string_view name) const;
};
/// Parses `name=value&...` (application/x-www-form-urlencoded: '+' is a
/// space). Errors: malformed escapes, invalid UTF-8, too many parameters.
hearth::result<form> parse_form(std::string_view text);

/// A JSON answer with Cache-Control: no-store and Pragma: no-cache (RFC
/// 6749 5.1; RFC 7662 and RFC 7009 answers too).
http_response json_response(int status, const fhir::json_value& body);
/// An RFC 6749 5.2 error: {"error", "error_description"}; the description is
/// a fixed sentence, never input.
http_response oauth_error(int status, std::string_view error, std::string_view description);

// --- the persisted state (auth_server_store.cpp) ----------------------------

/// A refresh token, known only by the SHA-256 of its text.
struct refresh_record {
  std::string family;  ///< the grant it descends from (rotation chain)
  std::string client_id;
  std::string subject;
  std::string scope;  ///< the scope granted by the original grant (RFC 6749 6)
  std::string patient;
  std::string encounter;
  std::string fhir_user;
  std::int64_t exp = 0;  ///< unix seconds
  bool spent = false;    ///< rotated already: presenting it again revokes the family
};

/// A rotation chain: every refresh token and access token one grant led to.
struct family_record {
  std::string client_id;
  bool revoked = false;
  std::int64_t exp = 0;  ///< the latest expiry of anything in it
  /// Access tokens issued in the family (jti, exp), revoked with it
  /// (RFC 7009 2.1: revoking a refresh token SHOULD invalidate the access
  /// tokens of the same grant).
  std::vector<std::pair<std::string, std::int64_t>> access;
};

/// The append-only token file, `<dir>/tokens.log`: one JSON object per line
///   {"op":"refresh","h":H,"family":F,"client":C,"sub":S,"scope":..,"patient":..,"encounter":..,"fhirUser":..,"exp":N}
///   {"op":"spend","h":H}
///   {"op":"access","family":F,"jti":J,"exp":N}
///   {"op":"revoke_family","family":F}
///   {"op":"revoke","jti":J,"exp":N}
///   {"op":"assertion","client":C,"jti":J,"exp":N}
/// each written with one write() and fsync'd before the change is answered.
/// A torn last line (a crash during a write, never acknowledged) is cut off
/// at start; any other unreadable line refuses the start ("corrupt").
///
/// Thread-safety: none; auth_server::impl calls it under its mutex.
class token_store {
 public:
  static hearth::result<std::unique_ptr<token_store>> open(const std::filesystem::path& dir, std::int64_t now);
  ~token_store();
  token_store(const token_store&) = delete;
  token_store& operator=(const token_store&) = delete;

  /// A live (unexpired) refresh token by hash; null when unknown or expired.
  const refresh_record* find_refresh(const std::string& hash, std::int64_t now) const;
  /// The family; null when unknown.
  const family_record* find_family(const std::string& family) const;
  /// Whether `jti` is revoked (and its token not expired for longer than
  /// revocation_margin).
  bool is_revoked(std::string_view jti, std::int64_t now) const;
  /// Whether client `client` used assertion `jti` before (still remembered).
  bool assertion_seen(const std::string& client, const std::string& jti, std::int64_t now) const;

  hearth::result<void> add_refresh(const std::string& hash, const refresh_record& r, std::int64_t now);
  hearth::result<void> spend(const std::string& hash, std::int64_t now);
  hearth::result<void> add_access(const std::string& family, const std::string& jti, std::int64_t exp,
                                  std::int64_t now);
  /// Revokes the family and every unexpired access token issued in it.
  hearth::result<void> revoke_family(const std::string& family, std::int64_t now);
  hearth::result<void> revoke(const std::string& jti, std::int64_t exp, std::int64_t now);
  hearth::result<void> remember_assertion(const std::string& client, const std::string& jti, std::int64_t exp,
                                          std::int64_t now);
  /// Revokes every family of `client` not revoked yet (a deleted client,
  /// RFC 7592 2.3: its grants and tokens are invalidated).
  hearth::result<void> revoke_client(const std::string& client, std::int64_t now);

  /// Lines in the file now, and records alive (tests of compaction).
  std::size_t file_lines() const noexcept { return lines_; }
  std::size_t live_records() const noexcept;

 private:
  token_store() = default;
  hearth::result<void> apply(const fhir::json_value& line, std::int64_t now);
  hearth::result<void> append(const fhir::json_value& line);
  /// append, apply, then the upkeep (sweep, compaction).
  hearth::result<void> commit(const fhir::json_value& line, std::int64_t now);
  void drop_expired(std::int64_t now);
  hearth::result<void> compact(std::int64_t now);

  std::filesystem::path dir_;
  std::filesystem::path path_;
  int fd_ = -1;
  std::size_t lines_ = 0;
  std::int64_t last_sweep_ = 0;
  std::unordered_map<std::string, refresh_record> refresh_;  // by SHA-256 of the token
  std::unordered_map<std::string, family_record> families_;
  std::unordered_map<std::string, std::int64_t> revoked_;  // jti -> the token's exp
  std::unordered_map<std::string, std::int64_t> assertions_;  // client + '\n' + jti -> exp
};

// --- in-memory state --------------------------------------------------------

/// A client, from the configuration or registered, with its allowed scopes
/// parsed. Immutable once in the table (held by shared_ptr).
struct client_entry {
  auth_client config;
  scope_set allowed;
  /// Registered through [base]/auth/register (false: the configuration file).
  bool registered = false;
  /// Registered clients: RFC 7591 client_name (may be empty), and
  /// client_id_issued_at (unix seconds).
  std::string client_name;
  std::int64_t issued_at = 0;
  /// Registered clients: the RFC 7591 grant_types it may use. Empty
  /// (configured clients): every grant its type allows.
  std::vector<std::string> grant_types;
  /// Whether the client may use `grant_type` (RFC 6749 5.2 unauthorized_client).
  bool allows(std::string_view grant_type) const;
};

/// An RFC 7591 3.2.2 refusal of client metadata (400).
struct metadata_failure {
  std::string error;        ///< "invalid_redirect_uri", "invalid_client_metadata"
  std::string description;  ///< fixed text, never input
};

/// The client that `metadata` (an RFC 7591 2 registration request, or a
/// stored registration) describes; client_id and issued_at are left to the
/// caller. Unknown members are ignored (RFC 7591 2). Errors as RFC 7591 3.2.2.
/// (auth_server_register.cpp)
hearth::result<client_entry, metadata_failure> client_from_metadata(const fhir::json_value& metadata,
                                                                    const resource_type_predicate& is_resource_type);
/// The RFC 7591 3.2.1 metadata of a client: client_id, client_id_issued_at,
/// client_name, token_endpoint_auth_method, grant_types, response_types,
/// redirect_uris, scope, jwks (public keys). What clients.json stores, and,
/// with hearth_source, what the endpoint answers.
fhir::json_value client_metadata(const client_entry& c);

/// `<dir>/clients.json`: {"clients":[metadata, ...]} of the registered
/// clients (client_metadata), rewritten whole on every change: a temporary
/// file (0600), fsync, rename over the old one, fsync of the directory, so
/// that a crash leaves the old list or the new one. (auth_server_store.cpp)
/// read: nullopt when there is no file; "corrupt" when it cannot be parsed,
/// "insecure" when group or others may access it, "io" otherwise.
hearth::result<std::optional<fhir::json_value>> read_client_file(const std::filesystem::path& dir);
hearth::result<void> write_client_file(const std::filesystem::path& dir, const fhir::json_value& doc);

/// A login in progress: the authorize request's validated parameters,
/// between the GET and the code.
struct pending_authorization {
  std::string csrf;  ///< must come back with every POST of the form
  std::string client_id;
  std::string redirect_uri;
  std::string state;
  std::string nonce;
  std::string code_challenge;  ///< S256
  scope_set scopes;            ///< granted (narrowed to the client's)
  bool need_patient = false;   ///< a patient must be in context (launch/patient or patient/ scopes)
  std::string patient;         ///< from the EHR launch, or picked
  std::string encounter;       ///< from the EHR launch
  std::string username;        ///< after a successful login
  int attempts = 0;            ///< failed passwords on this form
  time_point expires;
};

/// An authorization code (RFC 6749 4.1.2), known by its SHA-256.
struct code_record {
  std::string client_id;
  std::string redirect_uri;
  std::string code_challenge;
  std::string scope;  ///< granted, normalised
  std::string subject;
  std::string fhir_user;
  std::string patient;
  std::string encounter;
  std::string nonce;
  time_point expires;
  bool used = false;
  /// What it issued, revoked when it comes back (RFC 6749 4.1.2).
  std::string issued_jti;
  std::int64_t issued_exp = 0;
  std::string issued_family;
  time_point forget_at;  ///< used codes: when reuse stops being recognised
};

struct launch_record {
  std::string patient;
  std::string encounter;
  std::string client_id;
  time_point expires;
};

struct login_state {
  int failures = 0;  ///< consecutive
  time_point locked_until{};
};

/// The caller of the token, introspection or revocation endpoint.
struct authenticated_client {
  std::shared_ptr<const client_entry> client;
  bool asserted = false;  ///< proved itself with private_key_jwt
};

/// An RFC 6749 5.2 refusal, before it becomes a response.
struct oauth_failure {
  int status = 400;
  std::string error;
  std::string description;
};

/// What a grant leads to (token endpoint).
struct grant {
  std::string grant_type;
  std::string client_id;
  std::string subject;
  std::string fhir_user;
  std::string patient;
  std::string encounter;
  std::string nonce;
  scope_set scopes;               ///< for this access token
  std::string refresh_scope;      ///< the scope a new refresh token carries (the original grant's)
  std::string family;             ///< refresh_token grant: the family continued
  bool refresh = false;           ///< issue a refresh token (never for client_credentials, RFC 6749 4.4.3)
  std::chrono::seconds lifetime{0};  ///< of the access token
};

/// What the token endpoint issued.
struct issued {
  std::string access_token;
  std::string jti;
  std::int64_t exp = 0;
  std::string refresh_token;  ///< empty when none
  std::string family;
  std::string id_token;  ///< empty when none
};

}  // namespace hearth::server::auth::detail

namespace hearth::server::auth {

struct auth_server::impl {
  auth_server_options opts;
  std::string base_path;  ///< base_path_of(opts.base_url)
  jwt::key_set own_keys;  ///< the signing key's public half
  std::unordered_map<std::string, auth_user> users;
  /// A hash of a random password: verified against when the username is
  /// unknown, so an unknown user takes as long as a wrong password.
  std::string dummy_hash;

  mutable std::mutex mu;  ///< guards everything below
  /// Configured and registered clients. Read through find_client; changed
  /// only by the registration endpoint, under mu, after clients.json is written.
  mutable std::unordered_map<std::string, std::shared_ptr<const detail::client_entry>> clients;
  mutable std::unordered_map<std::string, detail::pending_authorization> pending;
  mutable std::unordered_map<std::string, detail::code_record> codes;  ///< by SHA-256 of the code
  mutable std::unordered_map<std::string, detail::launch_record> launches;
  mutable std::unordered_map<std::string, detail::login_state> logins;  ///< configured users only
  mutable std::unique_ptr<detail::token_store> store;
  mutable detail::time_point last_sweep{};

  detail::time_point now() const;
  std::string url(std::string_view endpoint) const { return opts.base_url + "/auth/" + std::string(endpoint); }
  void emit(auth_event e, const http_request& req) const;
  /// The client `id`, or null. Takes mu: never call it holding mu.
  std::shared_ptr<const detail::client_entry> find_client(std::string_view id) const;
  /// Drops expired pending authorisations, codes, launches (under mu).
  void sweep(detail::time_point t) const;

  // Endpoints.
  http_response discovery() const;
  http_response jwks() const;
  http_response authorize_get(const http_request& req) const;
  http_response authorize_post(const http_request& req) const;
  http_response token(const http_request& req) const;
  http_response introspect(const http_request& req) const;
  http_response revoke(const http_request& req) const;
  /// [base]/auth/register (`id` empty) and [base]/auth/register/{id}.
  http_response registration(const http_request& req, std::string_view id) const;

  // Shared by the endpoints.
  /// Narrows `requested` to `allowed` (auth_server.hpp, "Scopes").
  static scope_set narrow(const scope_set& requested, const scope_set& allowed);
  /// A POST to introspection (RFC 7662 2.1) or revocation (RFC 7009 2.1):
  /// its form, the client that authenticated (at `endpoint`'s URL or the
  /// token endpoint's), and its one `token`. `client_id` is set as soon as
  /// it is known (the form's, then the authenticated client's), for the
  /// event of a refusal. Errors: the refusal to answer.
  struct token_post {
    detail::authenticated_client who;
    std::string token;
  };
  hearth::result<token_post, detail::oauth_failure> read_token_request(const http_request& req,
                                                                          std::string_view endpoint,
                                                                          bool require_assertion,
                                                                          std::string& client_id) const;
  /// RFC 6749 2.3 / RFC 7523 2.2: who calls. `audiences`: the assertion's
  /// aud may be any of them. `require_assertion`: public clients refused.
  hearth::result<detail::authenticated_client, detail::oauth_failure> authenticate(
      const detail::form& f, const std::vector<std::string>& audiences, bool require_assertion) const;
  /// Mints the access token (and refresh token, id_token) of a grant and
  /// records what must persist. Errors: server_error.
  hearth::result<detail::issued, detail::oauth_failure> issue(const detail::grant& g) const;
  /// The token response (RFC 6749 5.1, SMART launch context).
  http_response token_response(const detail::grant& g, const detail::issued& out) const;
  /// Revokes an access token by jti and a refresh family (either may be empty).
  void revoke_issued(const std::string& jti, std::int64_t exp, const std::string& family) const;
};

}  // namespace hearth::server::auth
