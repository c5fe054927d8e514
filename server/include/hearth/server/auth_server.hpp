#pragma once
// hearth::server::auth::auth_server — Hearth's built-in OAuth 2.0 / SMART on
// FHIR authorisation server. Every endpoint is relative to the FHIR base URL
// and every URL it publishes is absolute:
//
//   GET  [base]/.well-known/smart-configuration   SMART App Launch 2.2 "Conformance"
//   GET  [base]/auth/jwks                         the server's public keys (RFC 7517 5)
//   GET  [base]/auth/authorize                    RFC 6749 4.1.1 + PKCE (RFC 7636), S256 only
//   POST [base]/auth/authorize                    the login form, then the patient picker
//   POST [base]/auth/token                        RFC 6749 4.1.3 / 6, RFC 7523 + SMART Backend Services
//   POST [base]/auth/introspect                   RFC 7662
//   POST [base]/auth/revoke                       RFC 7009
//   POST   [base]/auth/register                   RFC 7591 dynamic client registration (admin)
//   GET    [base]/auth/register                   the clients, registered and configured (admin)
//   GET    [base]/auth/register/{client_id}       one client's metadata (admin)
//   DELETE [base]/auth/register/{client_id}       removes a registered client (admin)
//
// Grants: authorization_code (public clients with PKCE; confidential clients
// with PKCE and private_key_jwt), refresh_token (rotated on every use: the
// old one is spent, and presenting a spent one revokes its whole family,
// OAuth 2.0 Security BCP (RFC 9700) 4.14.2), client_credentials (SMART
// Backend Services: private_key_jwt, RS384/ES384, system/ scopes only).
//
// Scopes: what a client asks for is parsed strictly (a malformed scope is
// invalid_scope, RFC 6749 5.2 / 4.1.2.1) and then narrowed to what the
// client is allowed ("scope" in its configuration), letter by letter: a
// requested resource scope keeps the permissions some allowed scope covers
// (is_subset), loses the others, and is dropped when none is left; context
// scopes are kept when allowed. The result is returned in `scope` (RFC 6749
// 3.3: "the authorization server MAY fully or partially ignore the scope
// requested"). When nothing is left, the request fails with invalid_scope.
//
// Context scopes: launch/patient (and patient/ scopes) put a patient in
// context: from the EHR launch, else picked by the user among theirs;
// launch/encounter only from an EHR launch that names one (there is no
// encounter picker: otherwise the scope is not granted). openid with
// fhirUser (or v1's profile) yields an id_token signed like the access
// tokens (typ JWT, aud the client, fhirUser an absolute URL). A refresh
// token is issued for offline_access only; online_access is granted but
// yields none (there are no server-side sessions to bind it to).
//
// Client authentication (RFC 6749 2.3): public clients send client_id only;
// confidential-asymmetric clients a private_key_jwt assertion (RFC 7523 2.2,
// 3; SMART App Launch 2.2 client-confidential-asymmetric): RS384 or ES384
// with a key of the client's configured JWKS, iss = sub = client_id, aud =
// the token endpoint URL (or, at introspection and revocation, that
// endpoint's URL), exp at most 5 minutes ahead, a jti never seen before.
// Assertion jtis are remembered per client until their exp (+ leeway).
//
// Introspection callers authenticate as confidential clients (a
// private_key_jwt assertion); a client configured with "introspect": true
// may ask about any token, any other client about its own tokens only (for
// the others the answer is {"active":false}).
//
// State: pending authorisations (10 min), authorization codes (60 s) and
// EHR launch contexts live in memory. Refresh tokens (as SHA-256 hashes
// only), revoked access-token jtis and assertion jtis are written to an
// append-only file, `<state_dir>/tokens.log` (0600; one fsync per change;
// read at start; rewritten when expired entries dominate), so they survive a
// restart. LIMITATION: several Hearth processes sharing one PostgreSQL
// database do NOT share this state yet: each keeps its own file, so a
// refresh token is known only to the process that issued it and a
// revocation only to the process that received it. Run the authorisation
// server in one process (or use an external issuer) until the state moves
// into the database.
//
// Client registration (RFC 7591): clients come from the configuration file
// ("auth.clients") or are registered at [base]/auth/register by an
// administrator: the caller sends `Authorization: Bearer <access token>`
// (RFC 6750 2.1; RFC 7591 3 "initial access token") that
// auth_server_options::verify_access_token accepts and whose scope holds
// `hearth/admin`. No or a bad token is 401 with WWW-Authenticate, a token
// without the scope 403 insufficient_scope (RFC 6750 3.1). hearth/admin is
// granted by the token endpoint only through client_credentials to a
// confidential client whose configured scope holds it (never through a
// user's sign-in: users have no roles here), or minted by `hearth token`.
// A registration names token_endpoint_auth_method "none" (public) or
// "private_key_jwt" (confidential-asymmetric, with an inline `jwks`:
// jwks_uri is refused, the server fetches nothing at run time),
// redirect_uris (https; http only to a loopback host; no fragment),
// grant_types, scope (parsed strictly) and client_name; other members are
// ignored (RFC 7591 2). The server picks the client_id (256 random bits).
// Errors are RFC 7591 3.2.2: 400 invalid_redirect_uri or
// invalid_client_metadata. A registered client then works at authorize
// and token exactly like a configured one, limited to its grant_types;
// deleting it revokes its refresh-token families (RFC 7592 2.3).
// Configured clients are listed but cannot be deleted (409). Registered
// clients are kept in `<state_dir>/clients.json` (0600; rewritten whole,
// atomically, with fsync, on every change; read and re-checked at start).
// Every request to the endpoint, granted or refused, is an auth_event.
//
// Secrets are never logged, put in an error or an audit event: access and
// refresh tokens, codes, passwords, assertions. Events carry jti and ids.
//
// Thread-safety: handle() and every other member may be called from many
// threads at once (one mutex guards the mutable state; Argon2 runs outside
// it). The client table may change (registration), so it is read under
// the mutex too, and a client in use is held by shared_ptr: one deleted
// meanwhile finishes the request it was in. Lifetime: create() once at start-up; the object must outlive every
// function obtained from endpoints() and every verifier using is_revoked.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/server/jwt.hpp>
#include <hearth/server/server_config.hpp>
#include <hearth/server/smart_scopes.hpp>

namespace hearth::server::auth {

/// One decision of the authorisation server, for the audit trail
/// (AuditEvent, IHE BALP): every token issued and every refusal. Never a
/// token, code, password or assertion: the issued access token by its jti.
struct auth_event {
  /// "authorize", "login", "token", "introspect", "revoke", "register".
  std::string endpoint;
  /// register: what was asked, "create", "read" or "delete"; else empty.
  std::string operation;
  /// register: the HTTP status answered (201, 200, 204, 400, 401, 403,
  /// 404, 409, ...); 0 for the other endpoints.
  int status = 0;
  /// register: the client registered, read or deleted (a public name);
  /// empty when none (a refusal before it was known, a list).
  std::string registered_client;
  /// The grant_type of a token request ("authorization_code",
  /// "refresh_token", "client_credentials"), else empty.
  std::string grant_type;
  /// The client, when known (an unknown one is reported as it was sent, cut
  /// to 128 bytes: it is a public name, not a secret).
  std::string client_id;
  /// The user (a username) or, for client_credentials, the client; may be empty.
  std::string subject;
  /// The jti of the access token issued, revoked or introspected; empty otherwise.
  std::string jti;
  /// The patient in context, when there is one.
  std::string patient;
  /// Granted scopes on success; empty on refusal.
  std::string scope;
  /// On refusal, the RFC 6749 5.2 / 4.1.2.1 error code ("invalid_grant",
  /// "access_denied", ...), or "login_failed"; empty on success.
  std::string error;
  /// True when a token was issued (or the login, revocation, introspection
  /// succeeded); false for a refusal.
  bool success = false;
  std::string remote_address;
  std::string request_id;
};

/// How to build the server.
struct auth_server_options {
  /// The FHIR base URL ("https://fhir.example.org/r4", no trailing slash):
  /// the issuer of every token, the audience of access tokens and of the
  /// authorize request's `aud` (SMART App Launch 2.2), the prefix of every
  /// endpoint.
  std::string base_url;
  /// Signs access tokens and id_tokens (load_or_create_signing_key); must
  /// be set and hold a private key. (Optional only because jwt::key has no
  /// empty state.)
  std::optional<jwt::key> signing_key;
  /// Clients, users and token lifetimes (server_config::auth).
  auth_settings settings;
  /// Where the persistent state lives: `<data_dir>/auth` (created 0700).
  std::filesystem::path state_dir;
  /// Whether a name is an R4 resource type (for parsing scopes).
  resource_type_predicate is_resource_type;
  /// Called for every token issued and every refusal (auth_event); may be
  /// empty. Called from the request's thread, outside the server's lock;
  /// must be thread-safe.
  std::function<void(const auth_event&)> audit;
  /// The time; empty: the system clock. Tests move it.
  std::function<std::chrono::system_clock::time_point()> clock;
  /// Verifies the bearer token of a call to the registration endpoint
  /// (token_verifier::verify, which the FHIR side uses too: own and
  /// external issuers, revocation). Empty: the registration endpoint is
  /// off (404, and not in the SMART configuration). Called outside the
  /// server's lock; must be thread-safe.
  std::function<hearth::result<std::shared_ptr<const principal>>(std::string_view token)> verify_access_token;
};

/// Whether `keys` may be a confidential-asymmetric client's: at least one
/// key, and every key takes RS384 or ES384 (SMART Backend Services
/// "Authenticating": the assertion algorithms), public halves only. Shared
/// by the configuration's clients (checked again by create()) and the
/// registration endpoint. Errors "invalid", with a message that names no
/// key material.
hearth::result<void> check_client_keys(const jwt::key_set& keys);

/// The patient (and encounter) an EHR launch puts in context
/// (SMART App Launch 2.2 "EHR launch": the `launch` parameter).
struct launch_request {
  std::string patient;    ///< a FHIR id; required
  std::string encounter;  ///< may be empty
  /// When set, only this client may use the launch.
  std::string client_id;
  /// How long the launch id stays usable (at most 1 h).
  std::chrono::seconds lifetime{300};
};

class auth_server {
 public:
  /// Checks the settings (every client's scope parsed strictly, keys by
  /// check_client_keys, users' hashes well-formed), creates state_dir and
  /// reads its token file and its registered clients (re-checked as a
  /// registration is; one that no longer passes, or whose client_id a
  /// configured client took, refuses the start: "invalid").
  /// Errors: "invalid" (settings, base_url, signing key), "io" (the state
  /// directory or file), "corrupt" (a token file line that is not the
  /// last and cannot be read, or an unreadable clients.json: refusing to
  /// start is safer than forgetting revocations or clients), "insecure"
  /// (a state file group or others may access).
  static hearth::result<std::unique_ptr<auth_server>> create(auth_server_options opts);

  ~auth_server();
  auth_server(const auth_server&) = delete;
  auth_server& operator=(const auth_server&) = delete;

  /// Answers a request for one of the endpoints above; nullopt when the
  /// target is not one of them (the caller goes on to FHIR). Never throws:
  /// the unexpected becomes a 500 {"error":"server_error"}.
  std::optional<http_response> handle(http_request& req) const;

  /// handle() as a function, for pipeline_options::auth_endpoints. Holds
  /// `this`: the server must outlive it.
  std::function<std::optional<http_response>(http_request&)> endpoints() const;

  /// Whether an access token's jti was revoked (RFC 7009), for
  /// verifier_options::is_revoked. Revocations are kept until the token's
  /// own expiry.
  bool is_revoked(std::string_view jti) const;

  /// The public key set served at [base]/auth/jwks (the signing key's public
  /// half), for verifier_options::own_keys.
  jwt::key_set public_keys() const;

  /// Mints an opaque EHR launch id (256 random bits, base64url) carrying
  /// `req`'s context, for an EHR (or a test) to pass as `launch`. Errors:
  /// "invalid" (no or malformed patient id, lifetime out of range),
  /// "too-costly" (too many live launches).
  hearth::result<std::string> create_launch(const launch_request& req);

  /// The absolute URL of an endpoint: "token" -> "[base]/auth/token".
  std::string endpoint_url(std::string_view name) const;

  struct impl;  ///< defined in auth_server_detail.hpp

 private:
  explicit auth_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::server::auth
