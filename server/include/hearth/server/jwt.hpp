#pragma once
// hearth::server::jwt — signed JSON Web Tokens for SMART on FHIR: access
// tokens this server issues and verifies, and the client assertions of SMART
// Backend Services (private_key_jwt). Compact JWS only (RFC 7515 section 7.1),
// signatures ES256, ES384, RS256 and RS384 (RFC 7518 sections 3.3 and 3.4).
// Never `none`, never HMAC: a public key must not be usable as a shared
// secret (RFC 8725 section 2.1, "algorithm confusion").
//
// A pure library over OpenSSL's libcrypto: no network, no jku/x5u fetching.
// OpenSSL stays in jwt.cpp; keys are held by this header's opaque `key`.
//
// Errors are hearth::error values whose code says what failed
// ("invalid-token", "unsupported-alg", "unknown-key", "bad-signature",
// "expired", "not-yet-valid", "wrong-issuer", "wrong-audience",
// "lifetime-too-long", "invalid-key", "io") and whose message never contains
// the token, its claims or key material (SECURITY.md: tokens are never logged).

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>

namespace hearth::server::jwt {

/// The JWS algorithms this library knows (RFC 7518 section 3.1).
enum class algorithm {
  es256,  ///< ECDSA P-256 with SHA-256 (RFC 7518 3.4)
  es384,  ///< ECDSA P-384 with SHA-384 (RFC 7518 3.4); SMART Backend Services
  rs256,  ///< RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 3.3)
  rs384,  ///< RSASSA-PKCS1-v1_5 with SHA-384 (RFC 7518 3.3); SMART Backend Services
};

/// The `alg` header value: "ES256", "ES384", "RS256", "RS384".
std::string_view to_string(algorithm alg) noexcept;
/// The algorithm named by `name` (exact, case-sensitive: RFC 7515 4.1.1);
/// nullopt for anything else, `none` and HS* included.
std::optional<algorithm> parse_algorithm(std::string_view name) noexcept;

/// What a key is, which decides the algorithms it may take.
enum class key_type {
  ec_p256,  ///< takes ES256 only
  ec_p384,  ///< takes ES384 only
  rsa,      ///< takes RS256 and RS384, when at least 2048 bits long
};

/// A public key, or a key pair. Opaque: OpenSSL's types stay in jwt.cpp.
///
/// Thread-safety: immutable once built; copies share the key, and any number
/// of threads may sign or verify with it at once. Lifetime: a value type.
class key {
 public:
  /// A new ES256 (P-256) key pair from OpenSSL's random generator; `kid` is
  /// its RFC 7638 thumbprint.
  static hearth::result<key> generate_es256();
  /// A key pair from a PEM private key (PKCS#8 "PRIVATE KEY", or the
  /// traditional EC/RSA forms): EC P-256, EC P-384 or RSA. Encrypted keys are
  /// refused (nothing may prompt for a password). `kid` is the thumbprint.
  static hearth::result<key> from_private_pem(std::string_view pem);
  /// from_private_pem on the contents of `path` (at most 64 KiB: an 8192-bit
  /// RSA key in PEM is under 7 KiB; anything larger is not a key).
  static hearth::result<key> load_private_pem(const std::filesystem::path& path);
  /// A public key from one JWK (RFC 7517 section 4, RFC 7518 section 6):
  /// kty "EC" with crv "P-256"/"P-384", x, y (full-size coordinates, point
  /// on the curve); or kty "RSA" with n, e. `kid` and `alg` are kept; a `use`
  /// other than "sig" is refused ("unsupported-key"). A JWK carrying private
  /// members (`d`, `p`, ...) is refused: a public key set holding one has
  /// leaked it.
  static hearth::result<key> from_jwk(const fhir::json_value& jwk);

  /// The private key as unencrypted PKCS#8 PEM; "invalid-key" for a public key.
  hearth::result<std::string> private_pem() const;
  /// Writes private_pem() to `path` with mode 0600, atomically: a temporary
  /// file in the same directory, fsync, rename over `path`, fsync of the
  /// directory. A reader sees the old file or the whole new one, never a part.
  hearth::result<void> save_private_pem(const std::filesystem::path& path) const;

  key_type type() const noexcept;
  /// Modulus length for RSA, field size for EC (256, 384).
  std::size_t bits() const noexcept;
  bool has_private() const noexcept;
  /// The key id: the JWK's `kid`, or our RFC 7638 thumbprint for keys we
  /// made or loaded from PEM; may be empty for a JWK without one.
  const std::string& kid() const noexcept;
  /// The JWK's `alg`, when it pins one: the key then verifies only that.
  std::optional<algorithm> pinned_alg() const noexcept;
  /// Whether `alg` may be used with this key: type fits (EC curve, RSA),
  /// pinned alg (if any) equal, RSA at least 2048 bits (RFC 7518 3.3).
  bool accepts(algorithm alg) const noexcept;

  /// The public JWK: kty, crv/x/y or n/e, kid (when not empty), alg (the
  /// pinned one, else ES256/ES384 for EC keys), use "sig". No private members.
  fhir::json_value public_jwk() const;
  /// The RFC 7638 thumbprint of the public key: base64url (no padding) of
  /// the SHA-256 of its required members.
  std::string thumbprint() const;

  struct impl;  ///< the OpenSSL key and its attributes, defined in jwt.cpp

 private:
  friend struct key_access;  // jwt.cpp builds keys and reaches their OpenSSL key
  explicit key(std::shared_ptr<const impl> p) noexcept : impl_(std::move(p)) {}
  std::shared_ptr<const impl> impl_;  // never null
};

/// The RFC 7638 thumbprint of `jwk`: SHA-256 over the JSON object of its
/// required members (EC: crv, kty, x, y; RSA: e, kty, n) in lexicographic
/// order without whitespace, base64url without padding. "invalid-key" when
/// a member is missing or the kty is unknown.
hearth::result<std::string> jwk_thumbprint(const fhir::json_value& jwk);

/// Public keys to verify with. Thread-safety: read concurrently once built.
class key_set {
 public:
  /// Most keys kept: a client's set holds a few during a rotation; 100
  /// bounds the work of loading and choosing a key.
  static constexpr std::size_t max_keys = 100;
  /// Largest JWKS document read: 100 RSA-4096 JWKs take about 80 KiB.
  static constexpr std::size_t max_jwks_bytes = 256u << 10;

  /// A JWK Set (RFC 7517 section 5): {"keys":[...]}. Keys of a kty or crv
  /// this library does not take, with an `alg` it does not know, or with a
  /// `use` other than "sig", are skipped (RFC 7517 5: "SHOULD ignore");
  /// a malformed key of a known type, or one with private members, fails
  /// the whole set ("invalid-key").
  static hearth::result<key_set> from_jwks(std::string_view json);

  /// Adds `k` (its public part is what verification uses).
  void add(key k);
  const std::vector<key>& keys() const noexcept { return keys_; }
  /// {"keys":[public JWK, ...]}: what a jwks_uri serves.
  fhir::json_value to_jwks() const;

 private:
  std::vector<key> keys_;
};

/// How to sign.
struct sign_options {
  /// The algorithm; nullopt: ES256 for P-256, ES384 for P-384, RS256 for RSA.
  std::optional<algorithm> alg;
  /// The `typ` header (RFC 7515 4.1.9), e.g. "at+jwt" for access tokens
  /// (RFC 9068 section 2.1).
  std::string typ = "JWT";
};

/// A compact JWS of `claims` (a JSON object) signed with `signing_key`
/// (which must hold a private key and accept the algorithm). Header:
/// {"alg", "typ", "kid"} (kid left out when the key has none).
hearth::result<std::string> sign(const fhir::json_value& claims, const key& signing_key,
                                 const sign_options& opts = {});

/// How to verify.
struct verify_options {
  /// Algorithms accepted; empty accepts nothing. Only ES256, ES384, RS256 and
  /// RS384 can be listed: `none` and HS* are refused whatever the caller wants.
  std::vector<algorithm> allowed_algs;
  /// `iss` must equal this. Always checked: an empty value matches no token,
  /// so a verifier left unconfigured refuses everything (fails closed).
  std::string issuer;
  /// `aud` (a string, or an array of strings) must contain this. Always
  /// checked, as `issuer`.
  std::string audience;
  /// `typ` header wanted (compared as RFC 7515 4.1.9 says: case-insensitive,
  /// "application/" optional), so an id_token is not taken as an access token
  /// (SECURITY.md, RFC 8725 3.11); nullopt: not checked.
  std::optional<std::string> typ;
  /// Clock skew tolerated for exp, nbf and iat. SECURITY.md: at most 60 s.
  std::chrono::seconds leeway{60};
  /// When set, `exp` may be at most this far beyond now (plus leeway). SMART
  /// Backend Services client assertions: 5 minutes.
  std::optional<std::chrono::seconds> max_lifetime;
  /// Largest token accepted. 16 KiB: a SMART access token with scopes and
  /// fhirContext is a few KiB, and an HTTP server takes request header fields
  /// of 8-16 KiB, so a larger token cannot be a legitimate bearer token.
  std::size_t max_token_bytes = 16u << 10;
  /// The time; empty: std::chrono::system_clock::now. Tests inject their own.
  std::function<std::chrono::system_clock::time_point()> clock;
};

/// A token whose signature (and, from verify(), claims) were checked.
struct verified_token {
  fhir::json_value header;  ///< the JOSE header, an object
  fhir::json_value claims;  ///< the payload, an object
  algorithm alg = algorithm::es256;
  std::string kid;  ///< kid of the key that verified it (may be empty)
};

/// Checks the structure and signature of a compact JWS only: three parts of
/// strict base64url (no padding, canonical), header and payload JSON
/// objects, `alg` allowed and fitting the key chosen by `kid` (without kid:
/// the single key that accepts the alg), no `crit`, no `jwk`/`jku`/`x5u`/
/// `x5c` (keys come from `keys` only), `typ` when asked. Claims are NOT checked.
hearth::result<verified_token> verify_signature(std::string_view token, const key_set& keys,
                                                const verify_options& opts);

/// verify_signature, then the claims (RFC 7519 section 4.1): `exp` required
/// and after now - leeway; `nbf` and `iat`, when present, not after now +
/// leeway; `iss` equal to opts.issuer; `aud` containing opts.audience;
/// `exp` within max_lifetime when set.
hearth::result<verified_token> verify(std::string_view token, const key_set& keys,
                                      const verify_options& opts);

}  // namespace hearth::server::jwt
