#pragma once
// hearth::server::auth — the access tokens Hearth issues and accepts, and
// who a request comes from once its token is verified.
//
// An access token is a JWT (RFC 9068 "JWT Profile for OAuth 2.0 Access
// Tokens"): header typ "at+jwt", signed by the server's key (ES256, kept in
// the data directory) or by a configured external issuer's key; claims
//   iss        the issuer: Hearth's own is its FHIR base URL
//   aud        the FHIR base URL (SECURITY.md: "aud (this server's base URL)")
//   sub        the user (authorization_code) or the client (client_credentials)
//   client_id  the OAuth client
//   scope      the granted SMART scopes, space-separated
//   jti        a unique id (revocation, audit: tokens are logged only as jti)
//   iat, exp   issue and expiry (SECURITY.md: at most 1 h; 5 min for Backend Services)
//   patient    the patient in context (launch/patient), when there is one
//   encounter  the encounter in context, when there is one
//   fhirUser   the user's FHIR resource ("Practitioner/123"), when known

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/server/jwks_cache.hpp>
#include <hearth/server/jwt.hpp>
#include <hearth/server/smart_scopes.hpp>

namespace hearth::server::auth {

/// Who a request comes from: a verified access token. Immutable once built;
/// shared (the verifier caches it) and read from many threads.
struct principal {
  std::string issuer;
  std::string subject;    ///< sub
  std::string client_id;  ///< client_id
  std::string fhir_user;  ///< fhirUser, may be empty
  std::string jti;        ///< jti: the only form in which a token is ever logged
  launch_context context; ///< patient in context
  std::string encounter;  ///< encounter in context, may be empty
  scope_set scopes;       ///< parsed leniently (unknown scopes dropped)
  std::chrono::system_clock::time_point expires;
};

/// What to put in a token Hearth mints (token endpoint, `hearth token`).
struct token_request {
  std::string subject;
  std::string client_id;
  std::string scope;  ///< the granted scopes, already checked
  std::string patient;
  std::string encounter;
  std::string fhir_user;
  std::chrono::seconds lifetime{3600};
};

/// The maximum lifetime of an access token Hearth mints (SECURITY.md: "≤ 1 h").
inline constexpr std::chrono::seconds max_access_token_lifetime{3600};

/// A signed access token (typ at+jwt, iss = aud = `base_url`, a fresh random
/// jti, iat now, exp now + lifetime). Errors: "invalid" (lifetime not in
/// (0, max_access_token_lifetime], empty client_id), the signer's.
hearth::result<std::string> mint_access_token(const jwt::key& signing_key, std::string_view base_url,
                                              const token_request& request,
                                              std::chrono::system_clock::time_point now);

/// The server's signing key: `<data_dir>/auth/signing-key.pem`, created
/// (ES256, mode 0600, directory 0700) when absent. A key file or directory
/// that group or others may access is refused (error "insecure", naming the
/// path), as ssh refuses such a private key: anyone who reads it mints tokens.
hearth::result<jwt::key> load_or_create_signing_key(const std::filesystem::path& data_dir);

/// An issuer whose tokens are accepted besides Hearth's own.
struct external_issuer {
  std::string issuer;  ///< `iss`, exact
  /// Fixed keys (config "jwks" or "jwks_file"); not used when `remote` is set.
  jwt::key_set keys;
  /// Keys fetched from the issuer's jwks_uri and refreshed (jwks_cache.hpp).
  /// Its tokens are refused while it holds no keys yet; a token whose key it
  /// does not hold ("unknown-key": a rotation, or a forgery) asks it for a
  /// refresh, which it rate-limits, and is refused now: verify() never
  /// waits for the network.
  std::shared_ptr<jwks_cache> remote;
};

struct verifier_options {
  std::string base_url;  ///< own issuer and the audience of every token
  jwt::key_set own_keys;
  std::vector<external_issuer> external;
  std::chrono::seconds leeway{60};
  /// Verified tokens kept (by SHA-256 of the token) so that a token's
  /// signature is checked once, not on every request; entries expire with
  /// their token.
  std::size_t cache_entries = 10000;
  /// Whether a jti has been revoked (the revocation endpoint); checked on
  /// every request, cached or not. Empty: nothing is revoked.
  std::function<bool(std::string_view jti)> is_revoked;
  /// Whether a name is an R4 resource type (for parsing `scope`).
  resource_type_predicate is_resource_type;
  std::function<std::chrono::system_clock::time_point()> clock;  ///< empty: system clock
};

/// Verifies bearer tokens. Thread-safe.
class token_verifier {
 public:
  /// Throws std::invalid_argument (start-up configuration) for an external
  /// issuer that is empty, listed twice, or equal to base_url: each issuer's
  /// tokens are verified with its own keys only, so no issuer may share a
  /// name with another.
  explicit token_verifier(verifier_options opts);
  ~token_verifier();
  token_verifier(const token_verifier&) = delete;
  token_verifier& operator=(const token_verifier&) = delete;

  /// The principal of a token: signature (algorithm pinned by key), typ
  /// at+jwt (an id_token is refused), iss one of the accepted issuers, aud
  /// the base URL, exp/nbf/iat with leeway, not revoked, `scope` present.
  /// Errors carry jwt's codes plus "revoked"; never the token text.
  hearth::result<std::shared_ptr<const principal>> verify(std::string_view token) const;

  /// The principal of a token verify() accepted and still holds in its
  /// cache, checked again for expiry and revocation; null when the token is
  /// not cached (or no longer valid): then call verify(). Costs a SHA-256
  /// and a lookup, never a signature check, so the pipeline can learn the
  /// client before rate limiting without verifying a token twice.
  std::shared_ptr<const principal> find_cached(std::string_view token) const;

  /// Tokens in the cache now (at most verifier_options::cache_entries).
  std::size_t cache_size() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::server::auth
