#include <hearth/server/access_token.hpp>

#include <doctest/doctest.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/jwks_cache.hpp>
#include <hearth/server/jwks_fetcher.hpp>

namespace hearth::server::auth {
namespace {

using namespace std::chrono_literals;
using fhir::json_value;
using clock_type = std::chrono::system_clock;

constexpr const char* base = "https://hearth.example/fhir";
constexpr const char* idp = "https://idp.example";
constexpr std::int64_t t0 = 1'700'000'000;

clock_type::time_point at(std::int64_t s) { return clock_type::time_point(std::chrono::seconds(s)); }

std::string b64url(std::string_view bytes) {
  std::string s = base64::encode(bytes, true);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string payload_of(const std::string& token) {
  const auto d1 = token.find('.');
  const auto d2 = token.find('.', d1 + 1);
  return base64::decode(token.substr(d1 + 1, d2 - d1 - 1), true).value();
}

/// A few R4 types are enough to parse the scopes these cases use.
bool known_type(std::string_view t) { return t == "Patient" || t == "Observation" || t == "Encounter"; }

/// A verifier at `base` trusting `own`, on a clock the case moves by hand.
struct verifier_case {
  jwt::key own = jwt::key::generate_es256().value();
  std::atomic<std::int64_t> now{t0};
  std::set<std::string> revoked;  // written before verify() runs: no race
  std::unique_ptr<token_verifier> verifier;

  explicit verifier_case(std::vector<external_issuer> external = {}, std::size_t cache = 10000) {
    verifier_options o;
    o.base_url = base;
    o.own_keys.add(own);
    o.external = std::move(external);
    o.cache_entries = cache;
    o.is_revoked = [this](std::string_view jti) { return revoked.count(std::string(jti)) != 0; };
    o.is_resource_type = known_type;
    o.clock = [this] { return at(now.load()); };
    verifier = std::make_unique<token_verifier>(std::move(o));
  }

  std::string mint(token_request r = request(), std::int64_t when = t0, const char* base_url = base) const {
    return mint_access_token(own, base_url, r, at(when)).value();
  }

  static token_request request() {
    token_request r;
    r.subject = "user-7";
    r.client_id = "app-1";
    r.scope = "patient/Observation.rs launch/patient openid";
    r.patient = "pat-1";
    r.encounter = "enc-9";
    r.fhir_user = "Practitioner/prac-3";
    r.lifetime = 300s;
    return r;
  }

  std::string code(const std::string& token) const {
    auto r = verifier->verify(token);
    return r ? std::string() : r.error().code;
  }
};

/// Claims as Hearth mints them, for the cases that sign their own.
json_value claims(std::string iss = base, std::string aud = base, std::int64_t iat = t0, std::int64_t exp = t0 + 300) {
  json_value c = json_value::object();
  c.set("iss", iss);
  c.set("sub", "user-7");
  c.set("aud", aud);
  c.set("client_id", "app-1");
  c.set("scope", "patient/Observation.rs");
  c.set("jti", "jti-" + std::to_string(iat) + "-" + iss);
  c.set("iat", json_value::number(std::to_string(iat)));
  c.set("exp", json_value::number(std::to_string(exp)));
  return c;
}

std::string signed_with(const json_value& c, const jwt::key& k, std::string typ = "at+jwt") {
  jwt::sign_options o;
  o.typ = std::move(typ);
  return jwt::sign(c, k, o).value();
}

TEST_CASE("access token: minted, verified, and the principal carries what the token says") {
  verifier_case v;
  const std::string token = v.mint();
  // The header: ES256, typ at+jwt (RFC 9068 2.1), the key's kid.
  const std::string header = base64::decode(token.substr(0, token.find('.')), true).value();
  CHECK(header.find(R"("typ":"at+jwt")") != std::string::npos);
  CHECK(header.find(R"("alg":"ES256")") != std::string::npos);
  CHECK(header.find(v.own.kid()) != std::string::npos);

  auto p = v.verifier->verify(token);
  REQUIRE_MESSAGE(p, (p ? std::string() : p.error().code + ": " + p.error().message));
  const principal& who = **p;
  CHECK(who.issuer == base);
  CHECK(who.subject == "user-7");
  CHECK(who.client_id == "app-1");
  CHECK(who.fhir_user == "Practitioner/prac-3");
  CHECK(who.context.patient_id == "pat-1");
  CHECK(who.encounter == "enc-9");
  CHECK(who.expires == at(t0 + 300));
  REQUIRE(who.scopes.resources.size() == 1);
  CHECK(who.scopes.resources[0].level == scope_level::patient);
  CHECK(who.scopes.resources[0].resource_type == "Observation");
  CHECK(who.scopes.resources[0].permissions == (permission::read | permission::search));
  CHECK(who.scopes.has(context_scope::launch_patient | context_scope::openid));
  // jti: 128 random bits, base64url without padding: 22 characters.
  CHECK(who.jti.size() == 22);
  CHECK(who.jti.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
        std::string::npos);
  // The claims RFC 9068 2.2 requires are all there.
  const std::string payload = payload_of(token);
  for (const char* claim : {"\"iss\"", "\"exp\"", "\"aud\"", "\"sub\"", "\"client_id\"", "\"iat\"", "\"jti\""})
    CHECK_MESSAGE(payload.find(claim) != std::string::npos, claim);
}

TEST_CASE("access token: minting refuses a bad lifetime or no client, and every jti is new") {
  const jwt::key k = jwt::key::generate_es256().value();
  token_request r = verifier_case::request();
  r.lifetime = 0s;
  CHECK(mint_access_token(k, base, r, at(t0)).error().code == "invalid");
  r.lifetime = max_access_token_lifetime + 1s;
  CHECK(mint_access_token(k, base, r, at(t0)).error().code == "invalid");
  r.lifetime = max_access_token_lifetime;
  CHECK(mint_access_token(k, base, r, at(t0)));
  r.client_id.clear();
  CHECK(mint_access_token(k, base, r, at(t0)).error().code == "invalid");
  CHECK(mint_access_token(k, "", verifier_case::request(), at(t0)).error().code == "invalid");

  // No subject: the client is the subject (client_credentials).
  verifier_case v;
  token_request own = verifier_case::request();
  own.subject.clear();
  CHECK((*v.verifier->verify(v.mint(own)))->subject == "app-1");

  std::set<std::string> jtis;
  for (int i = 0; i < 200; ++i) jtis.insert((*v.verifier->verify(v.mint()))->jti);
  CHECK(jtis.size() == 200);
}

TEST_CASE("access token: an id_token (typ JWT, or no typ) signed by the same key is refused") {
  verifier_case v;
  CHECK(v.code(signed_with(claims(), v.own, "JWT")) == "invalid-token");
  CHECK(v.code(signed_with(claims(), v.own, "")) == "invalid-token");
  // RFC 7515 4.1.9: "application/at+jwt" is the same typ.
  CHECK(v.code(signed_with(claims(), v.own, "application/at+jwt")).empty());
}

TEST_CASE("access token: another issuer or another audience is refused") {
  verifier_case v;
  // Minted for another server: iss and aud are that server's.
  CHECK(v.code(v.mint(verifier_case::request(), t0, "https://other.example/fhir")) == "wrong-issuer");
  // Our issuer, someone else's audience.
  CHECK(v.code(signed_with(claims(base, "https://other.example/fhir"), v.own)) == "wrong-audience");
  // aud as an array holding us is fine (RFC 7519 4.1.3).
  json_value c = claims();
  json_value auds = json_value::array();
  auds.push_back("https://other.example/fhir");
  auds.push_back(base);
  c.set("aud", auds);
  CHECK(v.code(signed_with(c, v.own)).empty());
  // No iss at all.
  json_value no_iss = claims();
  no_iss.erase("iss");
  CHECK(v.code(signed_with(no_iss, v.own)) == "wrong-issuer");
}

TEST_CASE("access token: expired and not yet valid, on an injected clock, with 60 s of leeway") {
  verifier_case v;
  const std::string token = v.mint();  // iat t0, exp t0 + 300
  v.now = t0 + 300 + 61;
  CHECK(v.code(token) == "expired");
  v.now = t0 + 300 + 59;
  CHECK(v.code(token).empty());

  verifier_case w;
  w.now = t0;
  // Issued two minutes in the future: a wrong clock or a forgery.
  CHECK(w.code(w.mint(verifier_case::request(), t0 + 120)) == "not-yet-valid");
  json_value c = claims();
  c.set("nbf", json_value::number(std::to_string(t0 + 120)));
  CHECK(w.code(signed_with(c, w.own)) == "not-yet-valid");
}

TEST_CASE("access token: a cached token is still checked for expiry and revocation every time") {
  verifier_case v;
  const std::string token = v.mint();
  auto first = v.verifier->verify(token);
  REQUIRE(first);
  CHECK(v.verifier->cache_size() == 1);
  // Cached: the same principal, and find_cached sees it.
  auto second = v.verifier->verify(token);
  REQUIRE(second);
  CHECK(second->get() == first->get());
  CHECK(v.verifier->find_cached(token).get() == first->get());
  CHECK(v.verifier->find_cached(v.mint()) == nullptr);  // never verified: not there

  SUBCASE("revoked after it was cached") {
    v.revoked.insert((*first)->jti);
    CHECK(v.code(token) == "revoked");
    CHECK(v.verifier->find_cached(token) == nullptr);
  }
  SUBCASE("expired while cached") {
    v.now = t0 + 300 + 61;
    CHECK(v.code(token) == "expired");
    CHECK(v.verifier->find_cached(token) == nullptr);
  }
}

TEST_CASE("access token: a revoked token is refused before it was ever cached") {
  verifier_case v;
  const std::string token = v.mint();
  const std::string payload = payload_of(token);
  const auto at_jti = payload.find(R"("jti":")") + 7;
  v.revoked.insert(payload.substr(at_jti, payload.find('"', at_jti) - at_jti));
  CHECK(v.code(token) == "revoked");
  CHECK(v.verifier->cache_size() == 0);
}

TEST_CASE("access token: an external issuer's tokens verify with its own keys only") {
  const jwt::key theirs = jwt::key::generate_es256().value();
  external_issuer e;
  e.issuer = idp;
  e.keys.add(theirs);
  verifier_case v({e});

  auto p = v.verifier->verify(signed_with(claims(idp), theirs));
  REQUIRE(p);
  CHECK((*p)->issuer == idp);
  // Hearth's key vouches for Hearth's tokens only.
  CHECK_FALSE(v.verifier->verify(signed_with(claims(idp), v.own)));
  // The external key cannot sign as Hearth (the classic mix-up: a trusted
  // issuer's key used to forge the resource server's own tokens).
  CHECK_FALSE(v.verifier->verify(signed_with(claims(base), theirs)));
  // An issuer nobody configured.
  CHECK(v.code(signed_with(claims("https://evil.example"), theirs)) == "wrong-issuer");

  // Configuration mistakes are refused at start-up.
  verifier_options o;
  o.base_url = base;
  o.external = {e, e};
  CHECK_THROWS_AS(token_verifier{o}, std::invalid_argument);
  external_issuer same = e;
  same.issuer = base;
  o.external = {same};
  CHECK_THROWS_AS(token_verifier{o}, std::invalid_argument);
}

TEST_CASE("access token: alg none and HS256 keyed with the public key are refused") {
  verifier_case v;
  const std::string payload = b64url(fhir::to_json(claims()));
  for (const char* h : {R"({"alg":"none","typ":"at+jwt"})", R"({"alg":"none"})"}) {
    CHECK(v.code(b64url(h) + "." + payload + ".") != "");
    CHECK(v.code(b64url(h) + "." + payload + ".AAAA") == "unsupported-alg");
  }

  // The public key in the two forms a confused verifier might use as an
  // HMAC secret: its JWK and its PEM (SubjectPublicKeyInfo).
  std::string pem;
  {
    const std::string priv = v.own.private_pem().value();
    BIO* in = BIO_new_mem_buf(priv.data(), static_cast<int>(priv.size()));
    EVP_PKEY* pk = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
    BIO* out = BIO_new(BIO_s_mem());
    REQUIRE(pk != nullptr);
    REQUIRE(PEM_write_bio_PUBKEY(out, pk) == 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(out, &data);
    pem.assign(data, static_cast<std::size_t>(len));
    EVP_PKEY_free(pk);
    BIO_free(in);
    BIO_free(out);
  }
  for (const std::string& secret : {fhir::to_json(v.own.public_jwk()), pem}) {
    const std::string input = b64url(R"({"alg":"HS256","typ":"at+jwt","kid":")" + v.own.kid() + R"("})") + "." + payload;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    REQUIRE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                 reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len) != nullptr);
    CHECK(v.code(input + "." + b64url(std::string(reinterpret_cast<const char*>(mac), mac_len))) ==
          "unsupported-alg");
  }
}

TEST_CASE("access token: required claims, context claims and scope are checked") {
  verifier_case v;
  for (const char* claim : {"sub", "client_id", "jti", "iat", "scope"}) {
    json_value c = claims();
    c.erase(claim);
    CHECK_MESSAGE(v.code(signed_with(c, v.own)) == "invalid-token", claim);
  }
  json_value wrong_type = claims();
  wrong_type.set("client_id", json_value::number("7"));
  CHECK(v.code(signed_with(wrong_type, v.own)) == "invalid-token");
  json_value bad_patient = claims();
  bad_patient.set("patient", "../Patient/1");
  CHECK(v.code(signed_with(bad_patient, v.own)) == "invalid-token");

  // Lenient scopes: what this server does not know grants nothing.
  json_value c = claims();
  c.set("scope", "patient/Observation.rs patient/Nope.r bogus user/Patient.dus system/*.cruds");
  auto p = v.verifier->verify(signed_with(c, v.own));
  REQUIRE(p);
  REQUIRE((*p)->scopes.resources.size() == 2);
  CHECK((*p)->scopes.resources[0].resource_type == "Observation");
  CHECK((*p)->scopes.resources[1].resource_type == "*");

  // Garbage and giants.
  CHECK(v.code("") == "invalid-token");
  CHECK(v.code("abc") == "invalid-token");
  CHECK(v.code("a.b.c") != "");
  CHECK(v.code(std::string(20000, 'a') + ".b.c") == "invalid-token");
}

TEST_CASE("access token: a verifier without a base URL refuses everything (fails closed)") {
  const jwt::key k = jwt::key::generate_es256().value();
  verifier_options o;
  o.own_keys.add(k);
  o.is_resource_type = known_type;
  const token_verifier v(o);
  auto r = v.verify(mint_access_token(k, base, verifier_case::request(), clock_type::now()).value());
  CHECK_FALSE(r);
}

TEST_CASE("access token: the cache holds at most cache_entries tokens") {
  verifier_case v({}, 5);
  std::vector<std::string> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back(v.mint());
  for (const auto& t : tokens) REQUIRE(v.verifier->verify(t));
  CHECK(v.verifier->cache_size() <= 5);
  CHECK(v.verifier->cache_size() >= 1);
  // Evicted tokens still verify (again, from their signature).
  for (const auto& t : tokens) CHECK(v.verifier->verify(t));
  CHECK(v.verifier->cache_size() <= 5);

  verifier_case none({}, 0);
  const std::string t = none.mint();
  CHECK(none.verifier->verify(t));
  CHECK(none.verifier->cache_size() == 0);
  CHECK(none.verifier->find_cached(t) == nullptr);

  // Many threads at once (thread-safety: run under the sanitizers in CI).
  verifier_case shared({}, 64);
  std::vector<std::string> many;
  for (int i = 0; i < 100; ++i) many.push_back(shared.mint());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int n = 0; n < 4; ++n)
    threads.emplace_back([&] {
      for (const auto& tok : many)
        if (!shared.verifier->verify(tok)) ++failures;
    });
  for (auto& th : threads) th.join();
  CHECK(failures.load() == 0);
  CHECK(shared.verifier->cache_size() <= 64);
}

/// A temporary directory, removed with its content.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("hearth-key-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000));
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st{};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

TEST_CASE("signing key: created once (0600 in a 0700 directory), then loaded; refused when others may read it") {
  temp_dir d;
  const auto data = d.path / "data";
  auto created = load_or_create_signing_key(data);
  REQUIRE_MESSAGE(created, created.error().message);
  const auto file = data / "auth" / "signing-key.pem";
  CHECK(mode_of(data / "auth") == 0700);
  CHECK(mode_of(file) == 0600);
  CHECK(created->has_private());
  CHECK(created->type() == jwt::key_type::ec_p256);
  // No staging file left behind.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(data / "auth")) ++files;
  CHECK(files == 1);

  auto again = load_or_create_signing_key(data);
  REQUIRE(again);
  CHECK(again->kid() == created->kid());

  SUBCASE("a key file group or others may read is refused, naming it") {
    std::filesystem::permissions(file, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
    auto r = load_or_create_signing_key(data);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "insecure");
    CHECK(r.error().message.find(file.string()) != std::string::npos);
  }
  SUBCASE("so is a directory others may enter") {
    std::filesystem::permissions(data / "auth", std::filesystem::perms::others_exec,
                                 std::filesystem::perm_options::add);
    auto r = load_or_create_signing_key(data);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "insecure");
    CHECK(r.error().message.find((data / "auth").string()) != std::string::npos);
  }
  SUBCASE("a file that is not a key") {
    { std::FILE* f = std::fopen(file.c_str(), "w"); std::fputs("not a key\n", f); std::fclose(f); }
    auto r = load_or_create_signing_key(data);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find(file.string()) != std::string::npos);
  }
}

TEST_CASE("signing key: processes starting at once all end up with the one key") {
  temp_dir d;
  const auto data = d.path / "data";
  std::vector<std::string> kids(6);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < kids.size(); ++i)
    threads.emplace_back([&, i] {
      auto k = load_or_create_signing_key(data);
      if (k) kids[i] = k->kid();
    });
  for (auto& t : threads) t.join();
  const auto on_disk = jwt::key::load_private_pem(data / "auth" / "signing-key.pem");
  REQUIRE(on_disk);
  for (const auto& kid : kids) CHECK(kid == on_disk->kid());
}

}  // namespace
}  // namespace hearth::server::auth

// --- external issuers with a jwks_uri (issue 6): jwks_cache behind the verifier ---------

namespace hearth::server::auth {
namespace {

using steady = std::chrono::steady_clock;

/// An identity provider's JWKS endpoint as jwks_cache sees it: the set it
/// serves now, whether it answers, and how often it was asked.
struct fake_idp {
  std::mutex mutex;
  jwt::key_set served;
  std::optional<std::chrono::seconds> max_age;
  bool down = false;
  std::atomic<int> fetches{0};

  void serve(const std::vector<jwt::key>& keys, std::optional<std::chrono::seconds> age = std::nullopt,
             bool is_down = false) {
    const std::lock_guard lock(mutex);
    served = jwt::key_set();
    for (const auto& k : keys) served.add(k);
    max_age = age;
    down = is_down;
  }

  hearth::result<fetched_jwks> fetch() {
    ++fetches;
    const std::lock_guard lock(mutex);
    if (down) return hearth::unexpected(hearth::error{"unavailable", "cannot connect to the JWKS host", {}});
    return fetched_jwks{served, max_age};
  }
};

/// A steady clock the case moves by hand (read from the cache's thread).
struct manual_clock {
  std::atomic<std::int64_t> seconds{1'000'000};
  steady::time_point now() const { return steady::time_point(std::chrono::seconds(seconds.load())); }
  void advance(std::chrono::seconds d) { seconds += d.count(); }
};

/// The fetch events a cache reported, in order.
struct event_log {
  std::mutex mutex;
  std::vector<jwks_fetch_event> events;
  std::size_t size() {
    const std::lock_guard lock(mutex);
    return events.size();
  }
  jwks_fetch_event back() {
    const std::lock_guard lock(mutex);
    return events.back();
  }
};

/// True once `done()` is, polling for at most 5 s of real time.
template <class F>
bool eventually(F done) {
  const auto until = steady::now() + 5s;
  while (steady::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

std::shared_ptr<jwks_cache> cache_for(fake_idp& provider, manual_clock& clock, event_log* log = nullptr) {
  jwks_cache_options o;
  o.issuer = idp;
  o.fetch = [&provider] { return provider.fetch(); };
  o.clock = [&clock] { return clock.now(); };
  if (log != nullptr)
    o.on_fetch = [log](const jwks_fetch_event& e) {
      const std::lock_guard lock(log->mutex);
      log->events.push_back(e);
    };
  return std::make_shared<jwks_cache>(std::move(o));
}

/// A token of the external issuer `idp` with its own jti, signed by `k`.
std::string idp_token(const jwt::key& k, const std::string& jti) {
  json_value c = claims(idp);
  c.set("jti", jti);
  return signed_with(c, k);
}

TEST_CASE("access token: a jwks_uri issuer's rotated key verifies after the refresh its unknown kid asked for") {
  const jwt::key k1 = jwt::key::generate_es256().value();
  const jwt::key k2 = jwt::key::generate_es256().value();
  const jwt::key stranger = jwt::key::generate_es256().value();
  REQUIRE(k1.kid() != k2.kid());
  fake_idp provider;
  manual_clock clock;
  provider.serve({k1});
  auto cache = cache_for(provider, clock);
  CHECK(cache->keys() == nullptr);
  cache->start();
  REQUIRE(cache->wait_first_fetch(5s));
  CHECK(provider.fetches == 1);
  REQUIRE(cache->keys() != nullptr);

  external_issuer e;
  e.issuer = idp;
  e.remote = cache;
  verifier_case v({e});
  CHECK(v.verifier->verify(idp_token(k1, "t-1")));

  // The issuer rotates to k2. Its first token is refused at once (verify
  // never waits for the network) and asks for a refresh, which waits for
  // the rate limit: the start-up fetch was less than 60 s ago.
  provider.serve({k2});
  const std::string t2 = idp_token(k2, "t-2");
  CHECK(v.code(t2) == "unknown-key");
  CHECK(cache->stats().refresh_requests == 1);
  std::this_thread::sleep_for(300ms);
  CHECK(provider.fetches == 1);
  CHECK(v.code(t2) == "unknown-key");

  // Once the interval has passed, the request is served: one fetch, and
  // the new key verifies; k1, rotated out, no longer does.
  clock.advance(61s);
  REQUIRE(eventually([&] { return provider.fetches.load() == 2; }));
  REQUIRE(eventually([&] { return v.verifier->verify(t2).has_value(); }));
  CHECK(v.code(idp_token(k1, "t-3")) == "unknown-key");
  CHECK(cache->keys()->keys().size() == 1);
  CHECK(cache->keys()->keys()[0].kid() == k2.kid());

  // A flood of tokens naming kids the issuer never had (forgeries): all
  // refused, and within the interval not one more fetch (longer than the
  // thread's once-a-second look at the clock).
  for (int i = 0; i < 50; ++i) CHECK(v.code(idp_token(stranger, "forged-" + std::to_string(i))) == "unknown-key");
  std::this_thread::sleep_for(1500ms);
  CHECK(provider.fetches == 2);
  // After the interval, all those requests come to exactly one fetch.
  clock.advance(61s);
  REQUIRE(eventually([&] { return provider.fetches.load() == 3; }));
  std::this_thread::sleep_for(1500ms);
  CHECK(provider.fetches == 3);
  // Hearth's own tokens never ask the issuer for anything.
  const auto requests = cache->stats().refresh_requests;
  CHECK(v.verifier->verify(v.mint()));
  CHECK(v.code(signed_with(claims(base), stranger)) == "unknown-key");
  CHECK(cache->stats().refresh_requests == requests);
}

TEST_CASE("access token: a jwks_uri issuer without keys yet: its tokens are refused until a fetch succeeds") {
  const jwt::key k1 = jwt::key::generate_es256().value();
  fake_idp provider;
  manual_clock clock;
  provider.serve({k1}, std::nullopt, /*is_down=*/true);
  auto cache = cache_for(provider, clock);
  cache->start();
  REQUIRE(cache->wait_first_fetch(5s));
  CHECK(cache->keys() == nullptr);
  CHECK(cache->stats().failures == 1);

  external_issuer e;
  e.issuer = idp;
  e.remote = cache;
  verifier_case v({e});
  const std::string t = idp_token(k1, "t-1");
  CHECK(v.code(t) == "unknown-key");
  // The server itself goes on: its own tokens verify.
  CHECK(v.verifier->verify(v.mint()));

  // The provider comes back; the retry (after the interval) brings the keys.
  provider.serve({k1});
  clock.advance(61s);
  REQUIRE(eventually([&] { return v.verifier->verify(t).has_value(); }));
  CHECK(provider.fetches == 2);
}

TEST_CASE("jwks cache: the next fetch follows max-age within [5 min, 24 h], 1 h without; failures back off; old keys stay") {
  const jwt::key k1 = jwt::key::generate_es256().value();
  fake_idp provider;
  manual_clock clock;
  event_log log;
  provider.serve({k1}, 10s);
  auto cache = cache_for(provider, clock, &log);
  cache->start();
  REQUIRE(eventually([&] { return log.size() == 1; }));
  CHECK(log.back().ok);
  CHECK(log.back().key_count == 1);
  CHECK(log.back().issuer == idp);
  CHECK(log.back().next_fetch == 300s);  // max-age 10 s, held at 5 min

  // Each step: a day later, someone asks; one fetch, and when the next one is due.
  const auto step = [&](std::optional<std::chrono::seconds> age, bool down) {
    provider.serve({k1}, age, down);
    const std::size_t before = log.size();
    clock.advance(100000s);
    cache->request_refresh();
    REQUIRE(eventually([&] { return log.size() == before + 1; }));
    return log.back();
  };
  CHECK(step(7200s, false).next_fetch == 7200s);
  CHECK(step(10'000'000s, false).next_fetch == 86400s);  // held at 24 h
  CHECK(step(std::nullopt, false).next_fetch == 3600s);  // no max-age: 1 h
  CHECK(step(0s, false).next_fetch == 300s);             // no-cache: still 5 min
  // Failures: retried after the interval (60 s), doubling up to 5 min; the
  // keys fetched before stay in use meanwhile.
  std::vector<std::int64_t> waits;
  for (int i = 0; i < 5; ++i) {
    const jwks_fetch_event ev = step(std::nullopt, true);
    CHECK_FALSE(ev.ok);
    CHECK(ev.error.code == "unavailable");
    CHECK(ev.keys_known);
    waits.push_back(ev.next_fetch.count());
  }
  CHECK(waits == std::vector<std::int64_t>{60, 120, 240, 300, 300});
  REQUIRE(cache->keys() != nullptr);
  CHECK(cache->keys()->keys()[0].kid() == k1.kid());
  CHECK(step(std::nullopt, false).ok);

  // Without any request: the periodic refresh comes when due, not before.
  const int fetched = provider.fetches.load();
  clock.advance(3590s);
  std::this_thread::sleep_for(1500ms);
  CHECK(provider.fetches == fetched);
  clock.advance(20s);
  REQUIRE(eventually([&] { return provider.fetches.load() == fetched + 1; }));

  // A cache that was never started fetches nothing and knows no keys.
  fake_idp idle;
  auto unstarted = cache_for(idle, clock);
  unstarted->request_refresh();
  CHECK_FALSE(unstarted->wait_first_fetch(50ms));
  CHECK(unstarted->keys() == nullptr);
  CHECK(idle.fetches == 0);
}

TEST_CASE("jwks fetch: Cache-Control max-age, the response rules, and the jwks_uri taken apart") {
  CHECK(cache_control_max_age("max-age=600") == 600s);
  CHECK(cache_control_max_age("public, max-age=86400, must-revalidate") == 86400s);
  CHECK(cache_control_max_age("Max-Age = \"60\"") == 60s);
  CHECK(cache_control_max_age("max-age=99999999999999999999") == 2147483648s);  // RFC 9111 1.2.2
  CHECK(cache_control_max_age("max-age=600, max-age=60") == 60s);
  CHECK(cache_control_max_age("no-store") == 0s);
  CHECK(cache_control_max_age("max-age=600, no-cache") == 0s);
  CHECK(cache_control_max_age("no-cache=\"Set-Cookie\", max-age=600") == 600s);
  CHECK_FALSE(cache_control_max_age(""));
  CHECK_FALSE(cache_control_max_age("s-maxage=5"));
  CHECK_FALSE(cache_control_max_age("max-age=abc"));
  CHECK_FALSE(cache_control_max_age("max-age=-5"));

  const jwt::key k = jwt::key::generate_es256().value();
  jwt::key_set one;
  one.add(k);
  const std::string jwks = fhir::to_json(one.to_jwks());
  auto ok = jwks_from_response(200, "public, max-age=600", jwks);
  REQUIRE(ok);
  REQUIRE(ok->keys.keys().size() == 1);
  CHECK(ok->keys.keys()[0].kid() == k.kid());
  CHECK(ok->max_age == 600s);
  CHECK_FALSE(jwks_from_response(200, "", jwks)->max_age);

  auto moved = jwks_from_response(302, "", jwks);
  REQUIRE_FALSE(moved);
  CHECK(moved.error().code == "bad-response");
  CHECK(moved.error().message.find("redirect") != std::string::npos);
  CHECK(jwks_from_response(404, "", jwks).error().code == "bad-response");
  CHECK(jwks_from_response(200, "", "<html>down for maintenance</html>").error().code == "invalid-key");
  CHECK(jwks_from_response(200, "", R"({"keys":[]})").error().code == "invalid-key");
  // A shared secret is no public key: skipped, leaving nothing usable.
  CHECK(jwks_from_response(200, "", R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})").error().code == "invalid-key");
  // A set that leaks a private key is refused whole.
  json_value leaked = k.public_jwk();
  leaked.set("d", "AAAA");
  json_value set = json_value::object();
  json_value arr = json_value::array();
  arr.push_back(leaked);
  set.set("keys", arr);
  CHECK(jwks_from_response(200, "", fhir::to_json(set)).error().code == "invalid-key");
  CHECK(jwks_from_response(200, "", std::string(jwt::key_set::max_jwks_bytes + 1, ' ')).error().code == "bad-response");

  auto loc = parse_jwks_uri("HTTPS://Idp.Example:8443?tenant=1");
  REQUIRE(loc);
  CHECK(loc->https);
  CHECK(loc->host == "Idp.Example");
  CHECK(loc->port == 8443);
  CHECK(loc->target == "/?tenant=1");
  CHECK(loc->host_header == "Idp.Example:8443");
  loc = parse_jwks_uri("http://[::1]/.well-known/jwks.json");
  REQUIRE(loc);
  CHECK_FALSE(loc->https);
  CHECK(loc->host == "::1");
  CHECK(loc->port == 80);
  CHECK(loc->target == "/.well-known/jwks.json");
  CHECK(loc->host_header == "[::1]");
  CHECK(parse_jwks_uri("https://idp.example/jwks")->host_header == "idp.example");
  CHECK(parse_jwks_uri("http://idp.example/jwks").error().code == "invalid");
}

}  // namespace
}  // namespace hearth::server::auth
