#include <hearth/server/access_token.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_reader.hpp>

namespace hearth::server::auth {
namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::system_clock;
using fhir::json_value;

hearth::unexpected<hearth::error> fail(std::string code, std::string message, std::string location = {}) {
  return hearth::unexpected(hearth::error{std::move(code), std::move(message), std::move(location)});
}

/// base64url without padding (RFC 7515 section 2, "Base64url Encoding").
std::string b64url(std::string_view bytes) {
  std::string s = base64::encode(bytes, true);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

/// `n` bytes from OpenSSL's CSPRNG; empty when it fails (never a weaker source).
std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) return {};
  return out;
}

/// SHA-256 of `data`, 32 raw bytes; empty when OpenSSL fails (the caller
/// then does not use the cache: a cache key must never be ambiguous).
std::string sha256(std::string_view data) {
  std::string md(32, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(md.data()), &len, EVP_sha256(),
                 nullptr) != 1 ||
      len != md.size())
    return {};
  return md;
}

std::int64_t seconds_of(clock_type::time_point t) {
  return std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
}

/// R4 datatypes.html#id: [A-Za-z0-9\-\.]{1,64}. The patient and encounter in
/// context become compartment ids and references: anything else is refused.
bool is_fhir_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

/// Longest jti and fhirUser taken. A jti goes into every log line and
/// AuditEvent of its requests: 256 bytes is far beyond any generator's ids
/// (ours are 22 characters) and bounds what a token can put there.
constexpr std::size_t max_jti_bytes = 256;
/// fhirUser is a (possibly absolute) reference URL.
constexpr std::size_t max_fhir_user_bytes = 2048;
/// The largest token looked at (as jwt::verify_options::max_token_bytes,
/// which says why): checked before hashing or decoding anything.
constexpr std::size_t max_token_bytes = 16u << 10;
/// SECURITY.md: clock-skew leeway at most 60 s.
constexpr std::chrono::seconds max_leeway{60};

/// A string claim: nullptr when absent; `bad` set when present but not a string.
const std::string* string_claim(const json_value& claims, std::string_view name, bool& bad) {
  const json_value* v = claims.find(name);
  if (v == nullptr) return nullptr;
  if (!v->is_string()) {
    bad = true;
    return nullptr;
  }
  return &v->str();
}

/// The `iss` of a token whose signature is not checked yet. It only chooses
/// the key set the signature is then checked with; a token that lies about
/// its issuer finds keys that do not verify it (RFC 8725 3.8: the keys must
/// belong to the issuer).
hearth::result<std::string> unverified_issuer(std::string_view token) {
  const std::size_t d1 = token.find('.');
  const std::size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return fail("invalid-token", "token is not a compact JWS of three parts");
  auto payload = base64::decode(token.substr(d1 + 1, d2 - d1 - 1), true);
  if (!payload) return fail("invalid-token", "token payload is not base64url");
  fhir::json_read_options o;
  o.fhir_rules = false;
  o.max_bytes = max_token_bytes;
  o.max_depth = 32;  // as jwt.cpp: claims are flat, fhirContext nests a few levels
  auto claims = fhir::parse_json(*payload, o);
  if (!claims || !claims->is_object()) return fail("invalid-token", "JWT claims are not a JSON object", "payload");
  const json_value* iss = claims->find("iss");
  if (iss == nullptr || !iss->is_string()) return fail("wrong-issuer", "token has no issuer", "iss");
  return iss->str();
}

}  // namespace

// ---------------------------------------------------------------------------
// Minting

hearth::result<std::string> mint_access_token(const jwt::key& signing_key, std::string_view base_url,
                                              const token_request& request, clock_type::time_point now) {
  if (base_url.empty()) return fail("invalid", "no base URL to issue the token for");
  if (request.lifetime <= std::chrono::seconds::zero() || request.lifetime > max_access_token_lifetime)
    return fail("invalid", "token lifetime must be between 1 s and 1 h", "lifetime");
  if (request.client_id.empty()) return fail("invalid", "token without a client_id", "client_id");
  // 128 bits from the CSPRNG: unguessable and, in practice, unique
  // (RFC 7519 4.1.7: "a negligible probability that the same value will be
  // accidentally assigned to a different data object").
  const std::string jti_bytes = random_bytes(16);
  if (jti_bytes.empty()) return fail("internal", "no random bytes for the token id");

  const std::int64_t iat = seconds_of(now);
  const std::int64_t exp = iat + request.lifetime.count();
  // RFC 9068 2.2: iss, exp, aud, sub, client_id, iat, jti required; scope
  // (2.2.3) as granted. SMART App Launch 2.x: the launch context travels
  // with the token (patient, encounter, fhirUser).
  json_value claims = json_value::object();
  claims.set("iss", base_url);
  // sub: the user, or for a client acting on its own behalf the client
  // (RFC 9068 2.2: "the client application ... in case of a grant where no
  // resource owner is involved").
  claims.set("sub", request.subject.empty() ? request.client_id : request.subject);
  claims.set("aud", base_url);
  claims.set("client_id", request.client_id);
  claims.set("scope", request.scope);
  claims.set("jti", b64url(jti_bytes));
  claims.set("iat", json_value::number(std::to_string(iat)));
  claims.set("exp", json_value::number(std::to_string(exp)));
  if (!request.patient.empty()) claims.set("patient", request.patient);
  if (!request.encounter.empty()) claims.set("encounter", request.encounter);
  if (!request.fhir_user.empty()) claims.set("fhirUser", request.fhir_user);

  jwt::sign_options so;
  so.typ = "at+jwt";  // RFC 9068 2.1
  return jwt::sign(claims, signing_key, so);
}

// ---------------------------------------------------------------------------
// The signing key

namespace {

/// Group or other permission bits on `path` (following symlinks: a key
/// mounted as a secret is often a link), or an error.
hearth::result<void> check_private(const fs::path& path, bool directory) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return fail("io", "cannot inspect " + path.string());
  if (directory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
    return fail("invalid", path.string() + (directory ? " is not a directory" : " is not a regular file"));
  if ((st.st_mode & 077) != 0)
    return fail("insecure", path.string() + " may be accessed by group or others (chmod " +
                                (directory ? "700" : "600") +
                                " it): whoever reads the signing key can mint access tokens");
  return {};
}

hearth::result<jwt::key> load_existing(const fs::path& file) {
  if (auto ok = check_private(file, false); !ok) return hearth::unexpected(ok.error());
  auto k = jwt::key::load_private_pem(file);
  if (!k) return fail(k.error().code, "cannot read the signing key " + file.string() + ": " + k.error().message);
  if (!k->has_private()) return fail("invalid-key", file.string() + " holds no private key");
  return k;
}

void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

hearth::result<jwt::key> load_or_create_signing_key(const fs::path& data_dir) {
  const fs::path dir = data_dir / "auth";
  const fs::path file = dir / "signing-key.pem";
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return fail("io", "cannot create the data directory " + data_dir.string());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return fail("io", "cannot create " + dir.string());
  if (auto ok = check_private(dir, true); !ok) return hearth::unexpected(ok.error());

  struct stat st{};
  if (::stat(file.c_str(), &st) == 0) return load_existing(file);
  if (errno != ENOENT) return fail("io", "cannot inspect " + file.string());

  auto k = jwt::key::generate_es256();
  if (!k) return k;
  // Written whole under a name of its own (save_private_pem: 0600, fsync,
  // atomic rename), then linked to the final name: link() fails when the
  // name exists, so two processes starting at once (`hearth serve` and
  // `hearth token`) end up with the one key that won, never with one each.
  const std::string suffix = random_bytes(8);
  if (suffix.empty()) return fail("internal", "no random bytes for a temporary file name");
  const fs::path staged = dir / ("signing-key.pem.new-" + b64url(suffix));
  if (auto saved = k->save_private_pem(staged); !saved)
    return fail(saved.error().code, "cannot write " + staged.string() + ": " + saved.error().message);
  int rc = ::link(staged.c_str(), file.c_str());
  int err = rc == 0 ? 0 : errno;
  if (rc != 0 && (err == EPERM || err == EOPNOTSUPP)) {
    // A file system without hard links: a plain rename (a concurrent first
    // start could then replace the key once; the later start's key wins).
    rc = std::rename(staged.c_str(), file.c_str());
    err = rc == 0 ? 0 : errno;
  }
  ::unlink(staged.c_str());
  if (rc == 0) {
    sync_directory(dir);
    return k;
  }
  if (err == EEXIST) return load_existing(file);  // another process created it first
  return fail("io", "cannot create " + file.string());
}

// ---------------------------------------------------------------------------
// Verification

struct token_verifier::impl {
  /// One issuer and the keys that verify its tokens, and nothing else's:
  /// fixed ones, or those its jwks_cache holds at the moment.
  struct issuer_keys {
    std::string issuer;
    std::shared_ptr<const jwt::key_set> keys;  ///< fixed keys; null when `remote` is set
    std::shared_ptr<jwks_cache> remote;        ///< keys from a jwks_uri, refreshed

    /// The keys to verify with now: a snapshot, which a refresh cannot
    /// change under the verification using it. Never null.
    std::shared_ptr<const jwt::key_set> current() const {
      static const auto none = std::make_shared<const jwt::key_set>();
      if (!remote) return keys;
      auto k = remote->keys();
      return k ? k : none;  // not fetched yet: no key verifies (fails closed)
    }
  };

  /// A slice of the cache under its own lock, so that concurrent requests
  /// rarely wait for one another.
  struct shard {
    std::mutex mutex;
    /// SHA-256 of the token (32 raw bytes) -> its principal. The token text
    /// itself is never kept.
    std::unordered_map<std::string, std::shared_ptr<const principal>> entries;
  };

  verifier_options opts;
  std::vector<issuer_keys> issuers;  ///< [0] is Hearth's own
  std::vector<std::unique_ptr<shard>> shards;
  std::size_t per_shard = 0;

  clock_type::time_point now() const { return opts.clock ? opts.clock() : clock_type::now(); }

  /// Valid at `t`: before exp, with the leeway jwt::verify grants.
  bool unexpired(const principal& p, clock_type::time_point t) const { return t - opts.leeway < p.expires; }

  bool revoked(const principal& p) const { return opts.is_revoked && opts.is_revoked(p.jti); }

  shard* shard_of(const std::string& digest) const {
    if (shards.empty() || digest.empty()) return nullptr;
    return shards[static_cast<unsigned char>(digest[0]) % shards.size()].get();
  }

  std::shared_ptr<const principal> lookup(const std::string& digest) const {
    shard* s = shard_of(digest);
    if (s == nullptr) return nullptr;
    const std::lock_guard lock(s->mutex);
    const auto it = s->entries.find(digest);
    return it == s->entries.end() ? nullptr : it->second;
  }

  void insert(const std::string& digest, std::shared_ptr<const principal> p, clock_type::time_point t) {
    shard* s = shard_of(digest);
    if (s == nullptr) return;
    const std::lock_guard lock(s->mutex);
    if (s->entries.size() >= per_shard && s->entries.find(digest) == s->entries.end()) {
      // Full: drop what has expired, then, if still full, the entry that
      // expires first (it would leave soonest anyway). Bounded work: one
      // shard holds cache_entries / shards entries.
      std::erase_if(s->entries, [&](const auto& e) { return !unexpired(*e.second, t); });
      if (s->entries.size() >= per_shard) {
        const auto first = std::min_element(s->entries.begin(), s->entries.end(), [](const auto& a, const auto& b) {
          return a.second->expires < b.second->expires;
        });
        if (first != s->entries.end()) s->entries.erase(first);
      }
    }
    s->entries.insert_or_assign(digest, std::move(p));
  }

  /// A principal from verified claims (RFC 9068 2.2 required claims, the
  /// SMART context claims), or "invalid-token".
  hearth::result<std::shared_ptr<const principal>> build(const json_value& claims, const std::string& issuer) const {
    bool bad = false;
    const std::string* sub = string_claim(claims, "sub", bad);
    const std::string* client_id = string_claim(claims, "client_id", bad);
    const std::string* jti = string_claim(claims, "jti", bad);
    const std::string* scope = string_claim(claims, "scope", bad);
    const std::string* patient = string_claim(claims, "patient", bad);
    const std::string* encounter = string_claim(claims, "encounter", bad);
    const std::string* fhir_user = string_claim(claims, "fhirUser", bad);
    if (bad) return fail("invalid-token", "a token claim has the wrong type");
    // RFC 9068 2.2: sub, client_id, jti and iat are REQUIRED; the resource
    // server rejects a token without them (RFC 9068 4). jti is also what
    // revocation and the audit trail know a token by.
    if (sub == nullptr || sub->empty()) return fail("invalid-token", "token has no sub", "sub");
    if (client_id == nullptr || client_id->empty()) return fail("invalid-token", "token has no client_id", "client_id");
    if (jti == nullptr || jti->empty() || jti->size() > max_jti_bytes)
      return fail("invalid-token", "token has no usable jti", "jti");
    if (claims.find("iat") == nullptr) return fail("invalid-token", "token has no iat", "iat");
    // Without scope a token grants nothing; refusing it says so at once.
    if (scope == nullptr) return fail("invalid-token", "token has no scope", "scope");
    if (patient != nullptr && !is_fhir_id(*patient))
      return fail("invalid-token", "token patient is not a FHIR id", "patient");
    if (encounter != nullptr && !is_fhir_id(*encounter))
      return fail("invalid-token", "token encounter is not a FHIR id", "encounter");
    if (fhir_user != nullptr && (fhir_user->empty() || fhir_user->size() > max_fhir_user_bytes))
      return fail("invalid-token", "token fhirUser is not usable", "fhirUser");
    // Lenient: a scope this server does not know grants nothing and is
    // dropped (the issuer may serve other resource servers too); only the
    // limits fail the token.
    auto scopes = parse_scopes(*scope, parse_mode::lenient, opts.is_resource_type);
    if (!scopes) return fail("invalid-token", "token scope is beyond the limits", "scope");
    // exp was checked by jwt::verify: present and a finite number.
    const json_value* exp = claims.find("exp");
    double exp_s = 0;
    const std::string& text = exp->number_text();
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), exp_s);
    // 1e15 s is some 30 million years: beyond it the conversion below would overflow.
    if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(exp_s) || exp_s > 1e15)
      return fail("invalid-token", "token exp is not usable", "exp");

    auto p = std::make_shared<principal>();
    p->issuer = issuer;
    p->subject = *sub;
    p->client_id = *client_id;
    p->jti = *jti;
    if (fhir_user != nullptr) p->fhir_user = *fhir_user;
    if (patient != nullptr) p->context.patient_id = *patient;
    if (encounter != nullptr) p->encounter = *encounter;
    p->scopes = std::move(scopes->scopes);
    p->expires = clock_type::time_point(std::chrono::seconds(static_cast<std::int64_t>(std::floor(exp_s))));
    return std::shared_ptr<const principal>(std::move(p));
  }
};

token_verifier::token_verifier(verifier_options opts) : impl_(std::make_unique<impl>()) {
  if (opts.leeway < std::chrono::seconds::zero() || opts.leeway > max_leeway)
    throw std::invalid_argument("token verifier: leeway must be between 0 and 60 s");
  impl_->issuers.push_back({opts.base_url, std::make_shared<const jwt::key_set>(opts.own_keys), nullptr});
  for (const external_issuer& e : opts.external) {
    if (e.issuer.empty()) throw std::invalid_argument("token verifier: an external issuer without a name");
    for (const auto& known : impl_->issuers)
      if (known.issuer == e.issuer)
        throw std::invalid_argument("token verifier: issuer " + e.issuer + " is listed twice (or is Hearth's own)");
    if (e.remote) {
      impl_->issuers.push_back({e.issuer, nullptr, e.remote});
    } else {
      impl_->issuers.push_back({e.issuer, std::make_shared<const jwt::key_set>(e.keys), nullptr});
    }
  }
  if (opts.cache_entries > 0) {
    // Up to 16 shards, each with an equal share: the total never exceeds
    // cache_entries.
    const std::size_t n = std::min<std::size_t>(16, opts.cache_entries);
    impl_->per_shard = opts.cache_entries / n;
    for (std::size_t i = 0; i < n; ++i) impl_->shards.push_back(std::make_unique<impl::shard>());
  }
  impl_->opts = std::move(opts);
}

token_verifier::~token_verifier() = default;

hearth::result<std::shared_ptr<const principal>> token_verifier::verify(std::string_view token) const {
  const clock_type::time_point now = impl_->now();
  if (token.empty() || token.size() > max_token_bytes)
    return fail("invalid-token", "token is empty or larger than allowed");
  const std::string digest = sha256(token);

  // Cached: the signature and claims were checked when it was first seen;
  // expiry and revocation are checked on every request.
  if (auto hit = impl_->lookup(digest)) {
    if (!impl_->unexpired(*hit, now)) return fail("expired", "token has expired", "exp");
    if (impl_->revoked(*hit)) return fail("revoked", "token has been revoked");
    return hit;
  }

  auto iss = unverified_issuer(token);
  if (!iss) return hearth::unexpected(iss.error());
  const auto it = std::find_if(impl_->issuers.begin(), impl_->issuers.end(),
                               [&](const impl::issuer_keys& k) { return !k.issuer.empty() && k.issuer == *iss; });
  if (it == impl_->issuers.end()) return fail("wrong-issuer", "token issuer is not trusted", "iss");

  jwt::verify_options o;
  // RFC 8725 2.1/3.1: an explicit allow-list; jwt never takes none or HS*,
  // and each key takes only the algorithms of its own type.
  o.allowed_algs = {jwt::algorithm::es256, jwt::algorithm::es384, jwt::algorithm::rs256, jwt::algorithm::rs384};
  o.issuer = it->issuer;
  // RFC 9068 4: aud must name this resource server, i.e. its base URL.
  o.audience = impl_->opts.base_url;
  // RFC 9068 2.1 and 4: typ "at+jwt", so that an id_token (typ JWT) signed
  // by the same issuer is not taken for an access token (RFC 8725 3.11).
  o.typ = "at+jwt";
  o.leeway = impl_->opts.leeway;
  o.clock = [now] { return now; };
  const std::shared_ptr<const jwt::key_set> keys = it->current();
  auto verified = jwt::verify(token, *keys, o);
  if (!verified) {
    // A kid the issuer's set does not hold (or no set yet): the issuer may
    // have rotated its keys (OpenID Connect Core 1.0 10.1.1). Ask for a
    // refresh, which the cache rate-limits and runs on its own thread; this
    // token is refused now, a retry after the refresh may pass. Only the
    // configured jwks_uri is fetched, never a jku/x5u (jwt refuses those).
    if (it->remote && verified.error().code == "unknown-key") it->remote->request_refresh();
    return hearth::unexpected(verified.error());
  }

  auto p = impl_->build(verified->claims, it->issuer);
  if (!p) return p;
  if (impl_->revoked(**p)) return fail("revoked", "token has been revoked");
  impl_->insert(digest, *p, now);
  return p;
}

std::shared_ptr<const principal> token_verifier::find_cached(std::string_view token) const {
  if (token.empty() || token.size() > max_token_bytes) return nullptr;
  auto hit = impl_->lookup(sha256(token));
  if (!hit || !impl_->unexpired(*hit, impl_->now()) || impl_->revoked(*hit)) return nullptr;
  return hit;
}

std::size_t token_verifier::cache_size() const {
  std::size_t n = 0;
  for (const auto& s : impl_->shards) {
    const std::lock_guard lock(s->mutex);
    n += s->entries.size();
  }
  return n;
}

}  // namespace hearth::server::auth
