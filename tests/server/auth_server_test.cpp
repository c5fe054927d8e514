#include <hearth/server/auth_server.hpp>

#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/password_hash.hpp>

namespace hearth::server::auth {
namespace {

namespace fs = std::filesystem;
using fhir::json_value;
using namespace std::chrono_literals;

constexpr std::string_view base_url = "https://fhir.example/r4";
constexpr std::string_view app_redirect = "https://app.example/cb";
constexpr std::string_view password = "correct horse battery staple";

// --- helpers -----------------------------------------------------------------

struct temp_dir {
  temp_dir() {
    static std::atomic<unsigned> n{0};
    path = fs::temp_directory_path() / ("hearth-auth-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  fs::path path;
};

std::string b64url(std::string_view bytes) {
  std::string s = base64::encode(bytes, true);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string sha256_b64url(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) == 1);
  return b64url(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string pct(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

using params = std::vector<std::pair<std::string, std::string>>;

std::string encode(const params& p) {
  std::string out;
  for (const auto& [k, v] : p) {
    if (!out.empty()) out += '&';
    out += pct(k) + "=" + pct(v);
  }
  return out;
}

/// The decoded query parameters of a URL.
std::map<std::string, std::string> query_of(std::string_view url) {
  std::map<std::string, std::string> out;
  const std::size_t q = url.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = url.substr(q + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view piece = rest.substr(0, amp);
    const std::size_t eq = piece.find('=');
    std::string value;
    const std::string_view raw = piece.substr(eq + 1);
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '%' && i + 2 < raw.size()) {
        value += static_cast<char>(std::stoi(std::string(raw.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        value += raw[i];
      }
    }
    out[std::string(piece.substr(0, eq))] = value;
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

/// The value attribute of the input named `name` in an HTML page.
std::string input_value(const std::string& html, std::string_view name) {
  const std::string marker = "name=\"" + std::string(name) + "\" value=\"";
  const std::size_t at = html.find(marker);
  if (at == std::string::npos) return {};
  const std::size_t start = at + marker.size();
  return html.substr(start, html.find('"', start) - start);
}

json_value parse(const std::string& body) {
  fhir::json_read_options o;
  o.fhir_rules = false;
  auto v = fhir::parse_json(body, o);
  REQUIRE(v);
  return std::move(*v);
}

std::string str(const json_value& o, std::string_view name) {
  const json_value* v = o.find(name);
  return v != nullptr && v->is_string() ? v->str() : std::string();
}

/// The claims of a compact JWS (not verified: the tests verify separately).
json_value claims_of(const std::string& token) {
  const std::size_t a = token.find('.');
  const std::size_t b = token.find('.', a + 1);
  auto payload = base64::decode(token.substr(a + 1, b - a - 1), true);
  REQUIRE(payload);
  return parse(*payload);
}

std::string header(const http_response& r, std::string_view name) {
  auto h = r.header(name);
  return h ? std::string(*h) : std::string();
}

/// A key pair made by OpenSSL directly: "P-384" or "RSA".
jwt::key make_key(const char* kind) {
  EVP_PKEY* pkey = std::string_view(kind) == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})
                                                   : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", kind);
  REQUIRE(pkey != nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  auto k = jwt::key::from_private_pem(pem);
  REQUIRE(k);
  return *k;
}

/// Public keys only, as a client registers them.
jwt::key_set public_set(const jwt::key& k) {
  auto pub = jwt::key::from_jwk(k.public_jwk());
  REQUIRE(pub);
  REQUIRE_FALSE(pub->has_private());
  jwt::key_set set;
  set.add(*pub);
  return set;
}

bool resource_type(std::string_view t) {
  static const std::set<std::string_view> types{"Patient", "Observation", "Encounter", "Condition", "Practitioner"};
  return types.contains(t);
}

/// One authorisation server on a temporary directory, with a clock the
/// case moves, and every audit event kept.
struct auth_case {
  explicit auth_case(std::function<void(auth_settings&)> adjust = {}) {
    auto k = jwt::key::generate_es256();
    REQUIRE(k);
    signing = *k;
    backend_key = make_key("P-384");
    other_key = make_key("P-384");
    // Cheap Argon2id parameters for the test user: what is tested is the
    // hash/verify path; the OWASP costs are the default of hash_password.
    auto h = hash_password(password, argon2_params{64, 1, 1});
    REQUIRE(h);
    auth_client app;
    app.client_id = "app";
    app.type = auth_client_type::public_client;
    app.redirect_uris = {std::string(app_redirect), "com.example.app:/callback"};
    app.scope = "launch launch/patient openid fhirUser offline_access patient/*.cruds user/Observation.rs";
    settings.clients.push_back(app);
    auth_client backend;
    backend.client_id = "backend";
    backend.type = auth_client_type::confidential_asymmetric;
    backend.scope = "system/Observation.rs system/Patient.r";
    backend.keys = public_set(backend_key);
    backend.introspect = true;
    settings.clients.push_back(backend);
    auth_client other;
    other.client_id = "other";
    other.type = auth_client_type::confidential_asymmetric;
    other.scope = "system/Observation.rs";
    other.keys = public_set(other_key);
    settings.clients.push_back(other);
    auth_user alice;
    alice.username = "alice";
    alice.password_hash = *h;
    alice.fhir_user = "Practitioner/p1";
    alice.patients = {"pat-1", "pat-2"};
    settings.users.push_back(alice);
    auth_user bob;
    bob.username = "bob";
    bob.password_hash = *h;
    bob.patients = {"only-1"};
    settings.users.push_back(bob);
    if (adjust) adjust(settings);
    start();
  }

  void start() {
    server.reset();
    auto s = create();
    if (!s) FAIL("create: " << s.error().code << " " << s.error().message);
    server = std::move(*s);
  }

  /// A server on this case's directory and settings (start() without
  /// installing it): for the cases where creation must fail.
  hearth::result<std::unique_ptr<auth_server>> create() {
    auth_server_options o;
    o.base_url = std::string(base_url);
    o.signing_key = signing;
    o.settings = settings;
    o.state_dir = dir.path / "auth";
    o.is_resource_type = resource_type;
    o.audit = [this](const auth_event& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
    };
    o.clock = [this] { return now; };
    if (registration) {
      // As hearth serve wires it: the FHIR side's token_verifier.
      o.verify_access_token = [this](std::string_view token) -> hearth::result<std::shared_ptr<const principal>> {
        verifier_options vo;
        vo.base_url = std::string(base_url);
        vo.own_keys = server->public_keys();
        vo.is_resource_type = resource_type;
        const auth_server* s = server.get();
        vo.is_revoked = [s](std::string_view jti) { return s->is_revoked(jti); };
        vo.clock = [this] { return now; };
        return token_verifier(std::move(vo)).verify(token);
      };
    }
    return auth_server::create(std::move(o));
  }

  http_response send(std::string method, std::string target, std::string body = {},
                     std::string content_type = "application/x-www-form-urlencoded") const {
    http_request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    if (!content_type.empty()) req.headers.push_back({"Content-Type", std::move(content_type)});
    req.remote_address = "192.0.2.7";
    req.request_id = "req-1";
    auto r = server->handle(req);
    REQUIRE(r);
    return *r;
  }
  http_response get(std::string target) const { return send("GET", std::move(target), {}, {}); }
  http_response post(std::string_view endpoint, const params& p) const {
    return send("POST", "/r4/auth/" + std::string(endpoint), encode(p));
  }

  /// The authorize request's parameters (valid unless a case changes them).
  params authorize_params(std::string scope = "launch/patient openid fhirUser offline_access patient/*.rs") const {
    return {{"response_type", "code"},     {"client_id", "app"},
            {"redirect_uri", std::string(app_redirect)},
            {"scope", std::move(scope)},   {"state", "st-123"},
            {"aud", std::string(base_url)}, {"code_challenge", sha256_b64url(verifier)},
            {"code_challenge_method", "S256"}};
  }
  http_response authorize(const params& p) const { return get("/r4/auth/authorize?" + encode(p)); }

  /// Posts the login form of `page`.
  http_response login(const http_response& page, std::string user = "alice", std::string pw = std::string(password),
                      std::string action = "login") const {
    return post("authorize", {{"pending", input_value(page.body, "pending")},
                              {"csrf", input_value(page.body, "csrf")},
                              {"action", std::move(action)},
                              {"username", std::move(user)},
                              {"password", std::move(pw)}});
  }
  http_response pick(const http_response& page, std::string patient) const {
    return post("authorize", {{"pending", input_value(page.body, "pending")},
                              {"csrf", input_value(page.body, "csrf")},
                              {"action", "patient"},
                              {"patient", std::move(patient)}});
  }

  /// The whole browser part: authorize, sign in as alice, pick pat-2.
  /// Returns the code.
  std::string code_for(const params& p) const {
    const http_response page = authorize(p);
    REQUIRE(page.status == 200);
    http_response next = login(page);
    if (next.status == 200) {
      REQUIRE(next.body.find("Choose a patient") != std::string::npos);
      next = pick(next, "pat-2");
    }
    REQUIRE(next.status == 303);
    const auto q = query_of(header(next, "Location"));
    REQUIRE(q.count("code") == 1);
    CHECK(q.at("state") == "st-123");
    return q.at("code");
  }

  http_response exchange(const std::string& code, std::string verifier_text = {}) const {
    return post("token", {{"grant_type", "authorization_code"},
                          {"code", code},
                          {"redirect_uri", std::string(app_redirect)},
                          {"code_verifier", verifier_text.empty() ? verifier : verifier_text},
                          {"client_id", "app"}});
  }

  /// A client assertion (RFC 7523) signed with `key`.
  std::string assertion(const jwt::key& key, std::string iss = "backend", std::string sub = "backend",
                        std::string aud = std::string(base_url) + "/auth/token", std::chrono::seconds ttl = 240s,
                        std::string jti = {}) const {
    static std::atomic<unsigned> n{0};
    json_value c = json_value::object();
    c.set("iss", iss);
    c.set("sub", sub);
    c.set("aud", aud);
    c.set("exp", json_value::number(std::to_string(unix(now + ttl))));
    c.set("jti", jti.empty() ? "jti-" + std::to_string(n++) : jti);
    jwt::sign_options so;
    so.alg = key.type() == jwt::key_type::rsa ? jwt::algorithm::rs384 : jwt::algorithm::es384;
    auto t = jwt::sign(c, key, so);
    REQUIRE(t);
    return *t;
  }

  http_response backend_token(const std::string& assertion_text, std::string scope = "system/Observation.rs",
                              std::string client_id = {}) const {
    params p{{"grant_type", "client_credentials"},
             {"scope", std::move(scope)},
             {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
             {"client_assertion", assertion_text}};
    if (!client_id.empty()) p.emplace_back("client_id", std::move(client_id));
    return post("token", p);
  }

  /// Authenticated as `backend` (or `key`/`iss`), posts to introspect/revoke.
  http_response as_client(std::string_view endpoint, params p, const jwt::key* key = nullptr,
                          std::string iss = "backend") const {
    p.emplace_back("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    p.emplace_back("client_assertion", assertion(key != nullptr ? *key : backend_key, iss, iss));
    return post(endpoint, p);
  }

  static std::int64_t unix(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  }

  /// Every audit event so far, flattened to text (to look for secrets in).
  std::string events_text() const {
    std::lock_guard lock(mu);
    std::string all;
    for (const auth_event& e : events) {
      for (const std::string* s : {&e.endpoint, &e.grant_type, &e.client_id, &e.subject, &e.jti, &e.patient, &e.scope,
                                   &e.error, &e.remote_address, &e.request_id, &e.operation, &e.registered_client}) {
        all += *s;
        all += '\n';
      }
    }
    return all;
  }
  std::vector<auth_event> events_of(std::string_view endpoint) const {
    std::lock_guard lock(mu);
    std::vector<auth_event> out;
    for (const auth_event& e : events)
      if (e.endpoint == endpoint) out.push_back(e);
    return out;
  }

  temp_dir dir;
  std::chrono::system_clock::time_point now = std::chrono::sys_days(std::chrono::year(2024) / 3 / 1) + 12h;
  jwt::key signing = *jwt::key::generate_es256();
  jwt::key backend_key = signing;
  jwt::key other_key = signing;
  auth_settings settings;
  /// Whether the registration endpoint is on (a token verifier is given).
  bool registration = true;
  std::string verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-extra";
  mutable std::mutex mu;
  std::vector<auth_event> events;
  std::unique_ptr<auth_server> server;
};

/// Verifies an access token as the FHIR side will (token_verifier).
hearth::result<std::shared_ptr<const principal>> verify_access(const auth_case& c, const std::string& token) {
  verifier_options vo;
  vo.base_url = std::string(base_url);
  vo.own_keys = c.server->public_keys();
  vo.is_resource_type = resource_type;
  const auth_server* s = c.server.get();
  vo.is_revoked = [s](std::string_view jti) { return s->is_revoked(jti); };
  vo.clock = [&c] { return c.now; };
  token_verifier v(std::move(vo));
  return v.verify(token);
}

// --- discovery -------------------------------------------------------------------

TEST_CASE("auth: the SMART configuration document") {
  auth_case c;
  const http_response r = c.get("/r4/.well-known/smart-configuration");
  REQUIRE(r.status == 200);
  CHECK(header(r, "Content-Type") == "application/json");
  const json_value d = parse(r.body);
  CHECK(str(d, "issuer") == base_url);
  CHECK(str(d, "authorization_endpoint") == "https://fhir.example/r4/auth/authorize");
  CHECK(str(d, "token_endpoint") == "https://fhir.example/r4/auth/token");
  CHECK(str(d, "introspection_endpoint") == "https://fhir.example/r4/auth/introspect");
  CHECK(str(d, "revocation_endpoint") == "https://fhir.example/r4/auth/revoke");
  CHECK(str(d, "jwks_uri") == "https://fhir.example/r4/auth/jwks");
  auto list = [&](std::string_view name) {
    std::set<std::string> out;
    const json_value* a = d.find(name);
    REQUIRE(a != nullptr);
    REQUIRE(a->is_array());
    for (const json_value& v : a->items()) out.insert(v.str());
    return out;
  };
  CHECK(list("code_challenge_methods_supported") == std::set<std::string>{"S256"});
  CHECK(list("response_types_supported") == std::set<std::string>{"code"});
  CHECK(list("grant_types_supported") ==
        std::set<std::string>{"authorization_code", "refresh_token", "client_credentials"});
  CHECK(list("token_endpoint_auth_methods_supported") == std::set<std::string>{"private_key_jwt", "none"});
  CHECK(list("token_endpoint_auth_signing_alg_values_supported") == std::set<std::string>{"RS384", "ES384"});
  const auto caps = list("capabilities");
  for (const char* cap : {"launch-standalone", "launch-ehr", "client-public", "client-confidential-asymmetric",
                          "context-standalone-patient", "context-ehr-patient", "permission-v1", "permission-v2",
                          "permission-patient", "permission-user", "sso-openid-connect"}) {
    CHECK_MESSAGE(caps.contains(cap), cap);
  }
  CHECK(list("scopes_supported").contains("launch/patient"));

  // The JWKS: the signing key's public half, nothing private.
  const http_response k = c.get("/r4/auth/jwks");
  REQUIRE(k.status == 200);
  const json_value jwks = parse(k.body);
  REQUIRE(jwks.find("keys")->size() == 1);
  const json_value& jwk = jwks.find("keys")->items()[0];
  CHECK(str(jwk, "kid") == c.signing.kid());
  CHECK(jwk.find("d") == nullptr);

  // Not ours: nullopt, so the pipeline goes on to FHIR; ours with a wrong method: 405.
  http_request other;
  other.method = "GET";
  other.target = "/r4/Patient/1";
  CHECK_FALSE(c.server->handle(other));
  other.target = "/other/auth/token";
  CHECK_FALSE(c.server->handle(other));
  CHECK(c.get("/r4/auth/token").status == 405);
  CHECK(c.send("POST", "/r4/.well-known/smart-configuration").status == 405);
  CHECK(c.get("/r4/auth/nothing").status == 404);
}

// --- authorization_code + PKCE -------------------------------------------------

TEST_CASE("auth: the authorization_code flow with PKCE, through the login form and the patient picker") {
  auth_case c;
  const http_response page = c.authorize(c.authorize_params());
  REQUIRE(page.status == 200);
  CHECK(header(page, "Content-Type") == "text/html; charset=utf-8");
  CHECK(header(page, "Cache-Control") == "no-store");
  const std::string csp = header(page, "Content-Security-Policy");
  CHECK(csp.find("default-src 'none'") != std::string::npos);
  CHECK(csp.find("form-action 'self' https://app.example;") != std::string::npos);
  CHECK(page.body.find("<script") == std::string::npos);
  CHECK(page.body.find("action=\"/r4/auth/authorize\"") != std::string::npos);
  CHECK_FALSE(input_value(page.body, "pending").empty());
  CHECK(input_value(page.body, "csrf").size() == 43);

  const http_response picker = c.login(page);
  REQUIRE(picker.status == 200);
  CHECK(picker.body.find("value=\"pat-1\"") != std::string::npos);
  CHECK(picker.body.find("value=\"pat-2\"") != std::string::npos);
  // The CSRF token changes with each page.
  CHECK(input_value(picker.body, "csrf") != input_value(page.body, "csrf"));
  // A patient that is not the user's is refused: the picker again.
  const http_response again = c.pick(picker, "pat-9");
  REQUIRE(again.status == 200);
  CHECK(again.body.find("Choose one of the patients listed.") != std::string::npos);
  const http_response done = c.pick(again, "pat-2");
  REQUIRE(done.status == 303);
  const auto q = query_of(header(done, "Location"));
  CHECK(header(done, "Location").starts_with("https://app.example/cb?code="));
  CHECK(q.at("state") == "st-123");
  const std::string code = q.at("code");
  CHECK(code.size() == 43);

  const http_response r = c.exchange(code);
  REQUIRE(r.status == 200);
  CHECK(header(r, "Cache-Control") == "no-store");
  CHECK(header(r, "Pragma") == "no-cache");
  const json_value t = parse(r.body);
  CHECK(str(t, "token_type") == "Bearer");
  CHECK(t.find("expires_in")->number_text() == "3600");
  CHECK(str(t, "patient") == "pat-2");
  CHECK(str(t, "scope") == "patient/*.rs launch/patient openid fhirUser offline_access");
  CHECK_FALSE(str(t, "refresh_token").empty());

  // The access token is what the FHIR side accepts.
  auto p = verify_access(c, str(t, "access_token"));
  REQUIRE(p);
  CHECK((*p)->subject == "alice");
  CHECK((*p)->client_id == "app");
  CHECK((*p)->context.patient_id == "pat-2");
  CHECK((*p)->fhir_user == "Practitioner/p1");

  // id_token (openid + fhirUser): signed by the same key, aud the client.
  const std::string id_token = str(t, "id_token");
  REQUIRE_FALSE(id_token.empty());
  jwt::verify_options vo;
  vo.allowed_algs = {jwt::algorithm::es256};
  vo.issuer = std::string(base_url);
  vo.audience = "app";
  vo.typ = "JWT";
  vo.clock = [&c] { return c.now; };
  auto idv = jwt::verify(id_token, c.server->public_keys(), vo);
  REQUIRE(idv);
  CHECK(str(idv->claims, "sub") == "alice");
  CHECK(str(idv->claims, "fhirUser") == "https://fhir.example/r4/Practitioner/p1");
  // An id_token is not an access token (typ).
  CHECK_FALSE(verify_access(c, id_token));

  // Audit: the code and the token, by jti; never a token or code text.
  const auto tokens = c.events_of("token");
  REQUIRE(tokens.size() == 1);
  CHECK(tokens[0].success);
  CHECK(tokens[0].grant_type == "authorization_code");
  CHECK(tokens[0].jti == (*p)->jti);
  CHECK(tokens[0].remote_address == "192.0.2.7");
  const std::string all = c.events_text();
  CHECK(all.find(code) == std::string::npos);
  CHECK(all.find(str(t, "access_token")) == std::string::npos);
  CHECK(all.find(str(t, "refresh_token")) == std::string::npos);
  CHECK(all.find(password) == std::string::npos);
}

TEST_CASE("auth: a user with one patient skips the picker; no offline_access, no refresh token") {
  auth_case c;
  const http_response page = c.authorize(c.authorize_params("launch/patient patient/Observation.rs"));
  REQUIRE(page.status == 200);
  const http_response done = c.login(page, "bob");
  REQUIRE(done.status == 303);
  const std::string code = query_of(header(done, "Location")).at("code");
  const json_value t = parse(c.exchange(code).body);
  CHECK(str(t, "patient") == "only-1");
  CHECK(t.find("refresh_token") == nullptr);
  CHECK(t.find("id_token") == nullptr);
}

TEST_CASE("auth: scopes are narrowed to the client's, letter by letter") {
  auth_case c;
  // patient/*.cruds allowed, user/Observation.rs allowed; user/Patient.r and system/ not.
  const std::string code =
      c.code_for(c.authorize_params("launch/patient patient/Observation.cruds user/Observation.rds user/Patient.r"));
  const json_value t = parse(c.exchange(code).body);
  CHECK(str(t, "scope") == "patient/Observation.cruds user/Observation.rs launch/patient");
  // Nothing allowed at all: invalid_scope back at the redirect URI.
  const http_response r = c.authorize(c.authorize_params("system/Patient.r"));
  REQUIRE(r.status == 302);
  CHECK(query_of(header(r, "Location")).at("error") == "invalid_scope");
}

TEST_CASE("auth: EHR launch: the launch id carries the patient; no picker") {
  auth_case c;
  auto launch = c.server->create_launch(launch_request{"pat-ehr", "enc-1", "app", 300s});
  REQUIRE(launch);
  CHECK(launch->size() == 43);
  params p = c.authorize_params("launch openid fhirUser patient/*.rs launch/encounter");
  p.emplace_back("launch", *launch);
  const http_response page = c.authorize(p);
  REQUIRE(page.status == 200);
  const http_response done = c.login(page);  // alice has two patients, yet no picker
  REQUIRE(done.status == 303);
  const json_value t = parse(c.exchange(query_of(header(done, "Location")).at("code")).body);
  CHECK(str(t, "patient") == "pat-ehr");
  CHECK(str(t, "encounter") == "enc-1");

  // An unknown launch, a launch scope without one, a launch for another client.
  params bad = c.authorize_params("launch patient/*.rs");
  bad.emplace_back("launch", "not-a-launch");
  CHECK(query_of(header(c.authorize(bad), "Location")).at("error") == "invalid_request");
  CHECK(query_of(header(c.authorize(c.authorize_params("launch patient/*.rs")), "Location")).at("error") ==
        "invalid_request");
  auto foreign = c.server->create_launch(launch_request{"pat-ehr", "", "someone-else", 300s});
  REQUIRE(foreign);
  params f = c.authorize_params("launch patient/*.rs");
  f.emplace_back("launch", *foreign);
  CHECK(query_of(header(c.authorize(f), "Location")).at("error") == "invalid_request");
  // Expired.
  c.now += 301s;
  CHECK(query_of(header(c.authorize(p), "Location")).at("error") == "invalid_request");
  CHECK_FALSE(c.server->create_launch(launch_request{"not an id!", "", "", 300s}));
}

TEST_CASE("auth: a code used twice is refused, and the tokens it issued are revoked") {
  auth_case c;
  const std::string code = c.code_for(c.authorize_params());
  const json_value first = parse(c.exchange(code).body);
  const std::string access = str(first, "access_token");
  const std::string refresh = str(first, "refresh_token");
  REQUIRE(verify_access(c, access));

  const http_response second = c.exchange(code);
  CHECK(second.status == 400);
  CHECK(str(parse(second.body), "error") == "invalid_grant");
  const std::string jti = str(claims_of(access), "jti");
  CHECK(c.server->is_revoked(jti));
  auto v = verify_access(c, access);
  REQUIRE_FALSE(v);
  CHECK(v.error().code == "revoked");
  // The refresh token of that grant is gone too.
  const http_response r = c.post("token", {{"grant_type", "refresh_token"}, {"refresh_token", refresh}, {"client_id", "app"}});
  CHECK(r.status == 400);
  CHECK(str(parse(r.body), "error") == "invalid_grant");
  // A code expires after 60 s.
  const std::string late = c.code_for(c.authorize_params());
  c.now += 61s;
  CHECK(str(parse(c.exchange(late).body), "error") == "invalid_grant");
}

TEST_CASE("auth: PKCE is required, S256 only, and the verifier must match") {
  auth_case c;
  params p = c.authorize_params();
  std::erase_if(p, [](const auto& kv) { return kv.first == "code_challenge"; });
  http_response r = c.authorize(p);
  REQUIRE(r.status == 302);
  auto q = query_of(header(r, "Location"));
  CHECK(q.at("error") == "invalid_request");
  CHECK(q.at("state") == "st-123");

  p = c.authorize_params();
  for (auto& [k, v] : p)
    if (k == "code_challenge_method") v = "plain";
  CHECK(query_of(header(c.authorize(p), "Location")).at("error") == "invalid_request");
  p = c.authorize_params();
  std::erase_if(p, [](const auto& kv) { return kv.first == "code_challenge_method"; });
  CHECK(query_of(header(c.authorize(p), "Location")).at("error") == "invalid_request");

  // A wrong verifier at the token endpoint; the code is spent by the attempt.
  const std::string code = c.code_for(c.authorize_params());
  r = c.exchange(code, "wrong-verifier-wrong-verifier-wrong-verifier-0123");
  CHECK(r.status == 400);
  CHECK(str(parse(r.body), "error") == "invalid_grant");
  CHECK(c.exchange(code).status == 400);
  // No verifier at all.
  const std::string code2 = c.code_for(c.authorize_params());
  r = c.post("token", {{"grant_type", "authorization_code"},
                       {"code", code2},
                       {"redirect_uri", std::string(app_redirect)},
                       {"client_id", "app"}});
  CHECK(r.status == 400);
  CHECK(str(parse(r.body), "error") == "invalid_request");
}

TEST_CASE("auth: redirect_uri must match exactly; before it does, errors are a page, never a redirect") {
  auth_case c;
  for (const char* uri : {"https://app.example/cb/", "https://app.example/cb?x=1", "https://evil.example/cb",
                          "https://APP.example/cb"}) {
    params p = c.authorize_params();
    for (auto& [k, v] : p)
      if (k == "redirect_uri") v = uri;
    const http_response r = c.authorize(p);
    CHECK(r.status == 400);
    CHECK_FALSE(r.header("Location"));
    CHECK(r.body.find("not registered") != std::string::npos);
    CHECK(r.body.find(uri) == std::string::npos);  // never echoed
  }
  params p = c.authorize_params();
  for (auto& [k, v] : p)
    if (k == "client_id") v = "<script>alert(1)</script>";
  const http_response unknown = c.authorize(p);
  CHECK(unknown.status == 400);
  CHECK_FALSE(unknown.header("Location"));
  CHECK(unknown.body.find("<script>") == std::string::npos);
  p = c.authorize_params();
  std::erase_if(p, [](const auto& kv) { return kv.first == "redirect_uri"; });
  CHECK(c.authorize(p).status == 400);
  // Repeated redirect_uri: a page as well.
  p = c.authorize_params();
  p.emplace_back("redirect_uri", "https://evil.example/cb");
  CHECK(c.authorize(p).status == 400);

  // At the token endpoint: the code's redirect_uri only.
  const std::string code = c.code_for(c.authorize_params());
  const http_response r = c.post("token", {{"grant_type", "authorization_code"},
                                           {"code", code},
                                           {"redirect_uri", "com.example.app:/callback"},
                                           {"code_verifier", c.verifier},
                                           {"client_id", "app"}});
  CHECK(r.status == 400);
  CHECK(str(parse(r.body), "error") == "invalid_grant");
}

TEST_CASE("auth: authorize errors after the redirect URI is known go back to it") {
  auth_case c;
  auto error_for = [&](params p) {
    const http_response r = c.authorize(p);
    REQUIRE(r.status == 302);
    const std::string loc = header(r, "Location");
    CHECK(loc.starts_with(std::string(app_redirect) + "?"));
    return query_of(loc).at("error");
  };
  params p = c.authorize_params();
  for (auto& [k, v] : p)
    if (k == "aud") v = "https://other.example/fhir";
  CHECK(error_for(p) == "invalid_request");
  p = c.authorize_params();
  for (auto& [k, v] : p)
    if (k == "response_type") v = "token";
  CHECK(error_for(p) == "unsupported_response_type");
  // Malformed scopes: invalid_scope (strict parsing).
  for (const char* bad : {"patient/Observation.dus", "patient/Observation.rrs", "patient/Nope.rs", "patient/*.",
                          "whatever"}) {
    CHECK_MESSAGE(error_for(c.authorize_params(bad)) == "invalid_scope", bad);
  }
  p = c.authorize_params();
  std::erase_if(p, [](const auto& kv) { return kv.first == "state"; });
  CHECK(error_for(p) == "invalid_request");
  // Audit: refusals recorded with their code.
  const auto ev = c.events_of("authorize");
  REQUIRE_FALSE(ev.empty());
  CHECK_FALSE(ev.back().success);
  CHECK(ev.back().error == "invalid_request");
}

TEST_CASE("auth: the login form: CSRF, wrong passwords, unknown users, lockout") {
  auth_case c;
  // A forged form (wrong CSRF token) ends the sign-in.
  http_response page = c.authorize(c.authorize_params());
  http_response forged = c.post("authorize", {{"pending", input_value(page.body, "pending")},
                                              {"csrf", "forged"},
                                              {"action", "login"},
                                              {"username", "alice"},
                                              {"password", std::string(password)}});
  CHECK(forged.status == 403);
  CHECK(c.login(page).status == 400);  // that pending authorisation is gone
  // A form sent as something else.
  CHECK(c.send("POST", "/r4/auth/authorize", "pending=x", "text/plain").status == 415);

  // Wrong password, unknown user: the same message; the fifth failure ends it.
  page = c.authorize(c.authorize_params());
  http_response r = c.login(page, "alice", "wrong");
  REQUIRE(r.status == 200);
  CHECK(r.body.find("Sign-in failed") != std::string::npos);
  const http_response unknown = c.login(r, "mallory", "wrong");
  REQUIRE(unknown.status == 200);
  CHECK(unknown.body.find("Sign-in failed") != std::string::npos);
  r = c.login(unknown, "alice", "wrong");
  r = c.login(r, "alice", "wrong");
  REQUIRE(r.status == 200);
  r = c.login(r, "alice", "wrong");
  REQUIRE(r.status == 303);
  CHECK(query_of(header(r, "Location")).at("error") == "access_denied");
  const auto fails = c.events_of("login");
  CHECK(fails.size() == 5);
  // An unknown name is not recorded (it may be a mistyped password).
  CHECK(std::count_if(fails.begin(), fails.end(), [](const auth_event& e) { return e.subject.empty(); }) == 1);
  CHECK(c.events_text().find("mallory") == std::string::npos);

  // alice has failed 4 times: one more locks her out; then even the right
  // password fails, until the lock ends.
  page = c.authorize(c.authorize_params());
  r = c.login(page, "alice", "wrong");
  r = c.login(r, "alice", std::string(password));
  REQUIRE(r.status == 200);
  CHECK(r.body.find("Sign-in failed") != std::string::npos);
  c.now += 31s;
  r = c.login(r, "alice", std::string(password));
  REQUIRE(r.status == 200);  // the picker: signed in
  CHECK(r.body.find("Choose a patient") != std::string::npos);

  // Cancel: access_denied at the redirect URI.
  page = c.authorize(c.authorize_params());
  r = c.login(page, "", "", "deny");
  REQUIRE(r.status == 303);
  CHECK(query_of(header(r, "Location")).at("error") == "access_denied");
  CHECK(query_of(header(r, "Location")).at("state") == "st-123");
  // A pending authorisation expires after 10 minutes.
  page = c.authorize(c.authorize_params());
  c.now += 601s;
  CHECK(c.login(page).status == 400);
}

TEST_CASE("auth: pages escape what they show") {
  auth_case c([](auth_settings& s) { s.clients[0].scope += " patient/Observation.rs?category=a|b"; });
  // An added query parameter narrows an allowed granular scope, so this one
  // is granted, and its value shown on the page.
  const http_response page = c.authorize(c.authorize_params("patient/Observation.rs?category=a|b&code=<x>'"));
  REQUIRE(page.status == 200);
  CHECK(page.body.find("category=a|b&amp;code=&lt;x&gt;&#39;") != std::string::npos);
  CHECK(page.body.find("<x>") == std::string::npos);
}

TEST_CASE("auth: a confidential client's authorization_code exchange needs its private_key_jwt assertion") {
  auth_case c([](auth_settings& s) {
    s.clients[1].redirect_uris = {"https://backend.example/cb"};
    s.clients[1].scope += " launch/patient patient/*.rs";
  });
  params p = c.authorize_params("launch/patient patient/*.rs");
  for (auto& [k, v] : p) {
    if (k == "client_id") v = "backend";
    if (k == "redirect_uri") v = "https://backend.example/cb";
  }
  const http_response page = c.authorize(p);
  REQUIRE(page.status == 200);
  const http_response done = c.pick(c.login(page), "pat-1");
  REQUIRE(done.status == 303);
  const std::string code = query_of(header(done, "Location")).at("code");
  params ex{{"grant_type", "authorization_code"},
            {"code", code},
            {"redirect_uri", "https://backend.example/cb"},
            {"code_verifier", c.verifier},
            {"client_id", "backend"}};
  // Without the assertion: invalid_client, and the code is not spent.
  http_response r = c.post("token", ex);
  CHECK(r.status == 401);
  CHECK(str(parse(r.body), "error") == "invalid_client");
  r = c.as_client("token", ex);
  REQUIRE(r.status == 200);
  CHECK(str(parse(r.body), "patient") == "pat-1");
}

// --- refresh tokens ------------------------------------------------------------------

TEST_CASE("auth: refresh tokens rotate, may narrow, never widen, and are bound to their client") {
  auth_case c([](auth_settings& s) {
    auth_client app2 = s.clients[0];
    app2.client_id = "app2";
    s.clients.push_back(app2);
  });
  const json_value first = parse(c.exchange(c.code_for(c.authorize_params())).body);
  const std::string r1 = str(first, "refresh_token");
  auto refresh = [&](const std::string& token, std::string scope = {}, std::string client = "app") {
    params p{{"grant_type", "refresh_token"}, {"refresh_token", token}, {"client_id", client}};
    if (!scope.empty()) p.emplace_back("scope", scope);
    return c.post("token", p);
  };

  // Widening: refused, and the token is not spent by it.
  http_response r = refresh(r1, "patient/*.cruds offline_access");
  CHECK(r.status == 400);
  CHECK(str(parse(r.body), "error") == "invalid_scope");
  CHECK(str(parse(refresh(r1, "patient/Observation.dus").body), "error") == "invalid_scope");

  // Narrowing: the access token has the narrower scope; a new refresh token.
  r = refresh(r1, "patient/Observation.r launch/patient");
  REQUIRE(r.status == 200);
  const json_value second = parse(r.body);
  CHECK(str(second, "scope") == "patient/Observation.r launch/patient");
  CHECK(str(second, "patient") == "pat-2");
  const std::string r2 = str(second, "refresh_token");
  REQUIRE_FALSE(r2.empty());
  CHECK(r2 != r1);
  auto p = verify_access(c, str(second, "access_token"));
  REQUIRE(p);
  CHECK((*p)->scopes.resources.size() == 1);
  // The new refresh token carries the original grant (RFC 6749 6).
  const json_value third = parse(refresh(r2).body);
  CHECK(str(third, "scope") == "patient/*.rs launch/patient openid fhirUser offline_access");
  const std::string r3 = str(third, "refresh_token");

  // A public app may leave client_id out (SMART App Launch 2.2 "Refresh
  // access token": grant_type, refresh_token, scope): the token's own
  // client is taken, and the token rotates as usual.
  r = c.post("token", params{{"grant_type", "refresh_token"}, {"refresh_token", r3}});
  REQUIRE(r.status == 200);
  const std::string r3b = str(parse(r.body), "refresh_token");
  CHECK(str(parse(refresh(r3).body), "error") == "invalid_grant");  // spent: the family is revoked
  CHECK(str(parse(refresh(r3b).body), "error") == "invalid_grant");
  CHECK(c.post("token", params{{"grant_type", "refresh_token"}, {"refresh_token", "no-such-token"}}).status == 401);
}

TEST_CASE("auth: a refresh token is bound to its client") {
  auth_case c([](auth_settings& s) {
    auth_client app2 = s.clients[0];
    app2.client_id = "app2";
    s.clients.push_back(app2);
  });
  const json_value first = parse(c.exchange(c.code_for(c.authorize_params())).body);
  const std::string r1 = str(first, "refresh_token");
  auto refresh = [&](const std::string& token, std::string client = "app") {
    return c.post("token", params{{"grant_type", "refresh_token"}, {"refresh_token", token}, {"client_id", client}});
  };
  const json_value second = parse(refresh(r1).body);
  const std::string r2 = str(second, "refresh_token");
  REQUIRE_FALSE(r2.empty());
  const json_value third = parse(refresh(r2).body);
  const std::string r3 = str(third, "refresh_token");
  REQUIRE_FALSE(r3.empty());
  http_response r;

  // Another client cannot use it, and does not spend it.
  r = refresh(r3, "app2");
  CHECK(r.status == 400);
  CHECK(str(parse(r.body), "error") == "invalid_grant");
  CHECK(parse(c.as_client("introspect", {{"token", r3}}).body).find("active")->as_bool());

  // Reuse of a spent token revokes the family: r3 dies too, and the access
  // tokens issued in the family.
  const std::string third_jti = str(claims_of(str(third, "access_token")), "jti");
  r = refresh(r1);
  CHECK(r.status == 400);
  CHECK(str(parse(r.body), "error") == "invalid_grant");
  CHECK(str(parse(refresh(r3).body), "error") == "invalid_grant");
  CHECK(c.server->is_revoked(third_jti));
  CHECK(str(parse(refresh("no-such-token").body), "error") == "invalid_grant");
}

TEST_CASE("auth: refresh tokens and revocations survive a restart; the file holds hashes only, mode 0600") {
  auth_case c;
  const json_value t = parse(c.exchange(c.code_for(c.authorize_params())).body);
  const std::string refresh = str(t, "refresh_token");
  const std::string access = str(t, "access_token");
  // Revoke an access token (of a second grant) before the restart.
  const json_value t2 = parse(c.exchange(c.code_for(c.authorize_params())).body);
  const std::string jti2 = str(claims_of(str(t2, "access_token")), "jti");
  REQUIRE(c.post("revoke", {{"token", str(t2, "access_token")}, {"client_id", "app"}}).status == 200);
  CHECK(c.server->is_revoked(jti2));

  const fs::path file = c.dir.path / "auth" / "tokens.log";
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::ifstream in(file);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find(refresh) == std::string::npos);
  CHECK(text.find(sha256_b64url(refresh)) != std::string::npos);
  CHECK(text.find(access) == std::string::npos);

  c.start();  // a new process, as far as the state goes
  CHECK(c.server->is_revoked(jti2));
  const http_response r =
      c.post("token", {{"grant_type", "refresh_token"}, {"refresh_token", refresh}, {"client_id", "app"}});
  REQUIRE(r.status == 200);
  c.start();
  // Spent before the restart: reuse is detected after it.
  CHECK(str(parse(c.post("token", {{"grant_type", "refresh_token"}, {"refresh_token", refresh}, {"client_id", "app"}})
                      .body),
            "error") == "invalid_grant");

  // A torn last line (a crash during a write) is cut off; a bad line in the
  // middle refuses the start.
  { std::ofstream(file, std::ios::app) << R"({"op":"revoke","jti":"x)"; }
  c.start();
  CHECK(c.server->is_revoked(jti2));
  { std::ofstream(file, std::ios::app) << "garbage\n{\"op\":\"revoke\",\"jti\":\"y\",\"exp\":1}\n"; }
  c.server.reset();
  auth_server_options o;
  o.base_url = std::string(base_url);
  o.signing_key = c.signing;
  o.settings = c.settings;
  o.state_dir = c.dir.path / "auth";
  o.is_resource_type = resource_type;
  auto s = auth_server::create(std::move(o));
  REQUIRE_FALSE(s);
  CHECK(s.error().code == "corrupt");
}

TEST_CASE("auth: the token file is compacted when expired entries dominate") {
  auth_case c;
  const fs::path file = c.dir.path / "auth" / "tokens.log";
  auto lines = [&] {
    std::ifstream in(file);
    return std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
  };
  // Each backend token request records its assertion's jti (one line); the
  // clock moves past each one's expiry, so nearly all lines are dead.
  for (int i = 0; i < 300; ++i) {
    REQUIRE(c.backend_token(c.assertion(c.backend_key)).status == 200);
    c.now += 10min;
  }
  // Compacted at 256 lines to the one live entry; 44 lines since.
  CHECK(lines() < 100);
  // A restart reads the compacted file, and replays stay refused meanwhile.
  const std::string a = c.assertion(c.backend_key);
  REQUIRE(c.backend_token(a).status == 200);
  c.start();
  CHECK(c.backend_token(a).status == 401);
}

// --- client_credentials (SMART Backend Services) -------------------------------------

TEST_CASE("auth: client_credentials with an ES384 (and RS384) assertion") {
  const jwt::key rsa = make_key("RSA");
  auth_case c([&](auth_settings& s) {
    auth_client r;
    r.client_id = "rsa-backend";
    r.type = auth_client_type::confidential_asymmetric;
    r.scope = "system/*.rs";
    r.keys = public_set(rsa);
    s.clients.push_back(r);
  });
  http_response r = c.backend_token(c.assertion(c.backend_key), "system/Observation.rs system/Patient.rs");
  REQUIRE(r.status == 200);
  CHECK(header(r, "Cache-Control") == "no-store");
  const json_value t = parse(r.body);
  CHECK(str(t, "token_type") == "Bearer");
  CHECK(t.find("expires_in")->number_text() == "300");
  CHECK(str(t, "scope") == "system/Observation.rs system/Patient.r");  // narrowed to what backend may have
  CHECK(t.find("refresh_token") == nullptr);
  CHECK(t.find("patient") == nullptr);
  auto p = verify_access(c, str(t, "access_token"));
  REQUIRE(p);
  CHECK((*p)->subject == "backend");
  CHECK((*p)->client_id == "backend");
  const json_value claims = claims_of(str(t, "access_token"));
  CHECK(std::stoll(claims.find("exp")->number_text()) - c.unix(c.now) <= 300);

  r = c.backend_token(c.assertion(rsa, "rsa-backend", "rsa-backend"), "system/Condition.rs");
  REQUIRE(r.status == 200);
  CHECK(str(parse(r.body), "scope") == "system/Condition.rs");
}

TEST_CASE("auth: client assertions: replay, lifetime, audience, iss/sub, keys, clients") {
  auth_case c;
  auto error_of = [&](const http_response& r) {
    CHECK(r.status == 401);
    return str(parse(r.body), "error");
  };
  // Replay: the same assertion twice.
  const std::string a = c.assertion(c.backend_key);
  REQUIRE(c.backend_token(a).status == 200);
  CHECK(error_of(c.backend_token(a)) == "invalid_client");
  // The same jti in a new assertion is a replay as well.
  REQUIRE(c.backend_token(c.assertion(c.backend_key, "backend", "backend", std::string(base_url) + "/auth/token",
                                      240s, "fixed-jti"))
              .status == 200);
  CHECK(error_of(c.backend_token(c.assertion(c.backend_key, "backend", "backend",
                                             std::string(base_url) + "/auth/token", 200s, "fixed-jti"))) ==
        "invalid_client");
  // exp more than 5 minutes ahead.
  CHECK(error_of(c.backend_token(c.assertion(c.backend_key, "backend", "backend",
                                             std::string(base_url) + "/auth/token", 600s))) == "invalid_client");
  // Expired.
  CHECK(error_of(c.backend_token(c.assertion(c.backend_key, "backend", "backend",
                                             std::string(base_url) + "/auth/token", -120s))) == "invalid_client");
  // Wrong audience (the base URL is not the token endpoint).
  CHECK(error_of(c.backend_token(c.assertion(c.backend_key, "backend", "backend", std::string(base_url)))) ==
        "invalid_client");
  // iss != sub.
  CHECK(error_of(c.backend_token(c.assertion(c.backend_key, "backend", "someone"))) == "invalid_client");
  // Unknown client; a key that is not the client's; client_id that differs from iss.
  CHECK(error_of(c.backend_token(c.assertion(c.backend_key, "nobody", "nobody"))) == "invalid_client");
  CHECK(error_of(c.backend_token(c.assertion(c.other_key, "backend", "backend"))) == "invalid_client");
  CHECK(error_of(c.backend_token(c.assertion(c.backend_key), "system/Observation.rs", "other")) == "invalid_client");
  // An ES256 assertion (not a Backend Services algorithm).
  {
    json_value cl = json_value::object();
    cl.set("iss", "backend");
    cl.set("sub", "backend");
    cl.set("aud", std::string(base_url) + "/auth/token");
    cl.set("exp", json_value::number(std::to_string(c.unix(c.now + 60s))));
    cl.set("jti", "es256");
    auto t = jwt::sign(cl, c.signing);
    REQUIRE(t);
    CHECK(error_of(c.backend_token(*t)) == "invalid_client");
  }
  // Not a JWT; wrong assertion type.
  CHECK(error_of(c.backend_token("not-a-jwt")) == "invalid_client");
  http_response r = c.post("token", {{"grant_type", "client_credentials"},
                                     {"scope", "system/Observation.rs"},
                                     {"client_assertion_type", "urn:x"},
                                     {"client_assertion", c.assertion(c.backend_key)}});
  CHECK(error_of(r) == "invalid_client");
  // A public client: unauthorized_client.
  r = c.post("token", {{"grant_type", "client_credentials"}, {"scope", "system/Observation.rs"}, {"client_id", "app"}});
  CHECK(r.status == 400);
  CHECK(str(parse(r.body), "error") == "unauthorized_client");
  // A confidential client without its assertion.
  r = c.post("token", {{"grant_type", "client_credentials"}, {"scope", "system/Observation.rs"}, {"client_id", "backend"}});
  CHECK(error_of(r) == "invalid_client");

  // Scopes: malformed, non-system, nothing allowed.
  r = c.backend_token(c.assertion(c.backend_key), "system/Observation.xyz");
  CHECK(r.status == 400);
  CHECK(str(parse(r.body), "error") == "invalid_scope");
  r = c.backend_token(c.assertion(c.backend_key), "patient/Observation.rs");
  CHECK(str(parse(r.body), "error") == "invalid_scope");
  r = c.backend_token(c.assertion(c.backend_key), "system/Condition.rs");
  CHECK(str(parse(r.body), "error") == "invalid_scope");

  // Audit: refusals with their error and client, never the assertion.
  const auto ev = c.events_of("token");
  CHECK(std::count_if(ev.begin(), ev.end(), [](const auth_event& e) { return e.error == "invalid_client"; }) >= 10);
  CHECK(c.events_text().find(a) == std::string::npos);
}

TEST_CASE("auth: the token endpoint's own rules") {
  auth_case c;
  http_response r = c.send("POST", "/r4/auth/token", "grant_type=client_credentials", "application/json");
  CHECK(r.status == 400);
  CHECK(str(parse(r.body), "error") == "invalid_request");
  r = c.send("POST", "/r4/auth/token?grant_type=client_credentials", "grant_type=client_credentials");
  CHECK(str(parse(r.body), "error") == "invalid_request");
  r = c.post("token", {{"grant_type", "password"}, {"client_id", "app"}});
  CHECK(str(parse(r.body), "error") == "unsupported_grant_type");
  r = c.post("token", {{"client_id", "app"}});
  CHECK(str(parse(r.body), "error") == "invalid_request");
  r = c.post("token", {{"grant_type", "authorization_code"}, {"grant_type", "refresh_token"}, {"client_id", "app"}});
  CHECK(str(parse(r.body), "error") == "invalid_request");
  r = c.post("token", {{"grant_type", "authorization_code"}, {"code", "x"}, {"client_id", "nobody"}});
  CHECK(r.status == 401);
  CHECK(str(parse(r.body), "error") == "invalid_client");
}

// --- introspection and revocation -----------------------------------------------------

TEST_CASE("auth: introspection (RFC 7662)") {
  auth_case c;
  const json_value t = parse(c.exchange(c.code_for(c.authorize_params())).body);
  const std::string access = str(t, "access_token");

  // backend may introspect any token.
  http_response r = c.as_client("introspect", {{"token", access}});
  REQUIRE(r.status == 200);
  CHECK(header(r, "Cache-Control") == "no-store");
  json_value v = parse(r.body);
  CHECK(v.find("active")->as_bool());
  CHECK(str(v, "client_id") == "app");
  CHECK(str(v, "sub") == "alice");
  CHECK(str(v, "patient") == "pat-2");
  CHECK(str(v, "fhirUser") == "Practitioner/p1");
  CHECK(str(v, "token_type") == "Bearer");
  CHECK(str(v, "scope") == "patient/*.rs launch/patient openid fhirUser offline_access");
  CHECK(v.find("exp") != nullptr);
  // The refresh token as well.
  v = parse(c.as_client("introspect", {{"token", str(t, "refresh_token")}}).body);
  CHECK(v.find("active")->as_bool());
  CHECK(str(v, "client_id") == "app");

  // "other" sees only its own tokens.
  v = parse(c.as_client("introspect", {{"token", access}}, &c.other_key, "other").body);
  CHECK_FALSE(v.find("active")->as_bool());
  CHECK(v.size() == 1);

  // Garbage, expired and revoked tokens: {"active":false} only.
  v = parse(c.as_client("introspect", {{"token", "garbage"}}).body);
  CHECK_FALSE(v.find("active")->as_bool());
  CHECK(v.size() == 1);
  REQUIRE(c.post("revoke", {{"token", access}, {"client_id", "app"}}).status == 200);
  v = parse(c.as_client("introspect", {{"token", access}}).body);
  CHECK_FALSE(v.find("active")->as_bool());
  const json_value t2 = parse(c.exchange(c.code_for(c.authorize_params())).body);
  c.now += 3601s;
  v = parse(c.as_client("introspect", {{"token", str(t2, "access_token")}}).body);
  CHECK_FALSE(v.find("active")->as_bool());

  // Callers must authenticate with an assertion; a public client cannot.
  r = c.post("introspect", {{"token", access}, {"client_id", "app"}});
  CHECK(r.status == 401);
  r = c.post("introspect", {{"token", access}});
  CHECK(r.status == 401);
  // No token: invalid_request.
  r = c.as_client("introspect", {});
  CHECK(r.status == 400);
}

TEST_CASE("auth: revocation (RFC 7009)") {
  auth_case c;
  const json_value t = parse(c.exchange(c.code_for(c.authorize_params())).body);
  const std::string access = str(t, "access_token");
  const std::string refresh = str(t, "refresh_token");
  const std::string jti = str(claims_of(access), "jti");

  // Another client's token: 200, and nothing happens.
  http_response r = c.as_client("revoke", {{"token", access}});
  CHECK(r.status == 200);
  CHECK_FALSE(c.server->is_revoked(jti));
  r = c.as_client("revoke", {{"token", refresh}});
  CHECK(r.status == 200);
  CHECK(c.post("token", {{"grant_type", "refresh_token"}, {"refresh_token", refresh}, {"client_id", "app"}}).status ==
        200);
  // That spent the refresh token; get the current one.
  const json_value t2 = parse(c.exchange(c.code_for(c.authorize_params())).body);
  const std::string refresh2 = str(t2, "refresh_token");
  const std::string jti2 = str(claims_of(str(t2, "access_token")), "jti");

  // The owner revokes the access token by jti.
  r = c.post("revoke", {{"token", access}, {"token_type_hint", "access_token"}, {"client_id", "app"}});
  CHECK(r.status == 200);
  CHECK(header(r, "Cache-Control") == "no-store");
  CHECK(c.server->is_revoked(jti));
  CHECK_FALSE(verify_access(c, access));
  // A refresh token: the whole grant, with its access tokens.
  r = c.post("revoke", {{"token", refresh2}, {"client_id", "app"}});
  CHECK(r.status == 200);
  CHECK(c.server->is_revoked(jti2));
  CHECK(str(parse(c.post("token", {{"grant_type", "refresh_token"}, {"refresh_token", refresh2}, {"client_id", "app"}})
                      .body),
            "error") == "invalid_grant");
  // Unknown tokens: 200 as well (RFC 7009 2.2).
  CHECK(c.post("revoke", {{"token", "whatever"}, {"client_id", "app"}}).status == 200);
  CHECK(c.post("revoke", {{"token", "a.b.c"}, {"client_id", "app"}}).status == 200);
  // But the client must be known, and a token given.
  CHECK(c.post("revoke", {{"token", "whatever"}, {"client_id", "nobody"}}).status == 401);
  CHECK(c.post("revoke", {{"client_id", "app"}}).status == 400);
  // Revocations are kept until the token would have expired (and the
  // verifier's 60 s leeway has passed), then forgotten.
  c.now += 3600s;
  CHECK(c.server->is_revoked(jti));
  c.now += 61s;
  CHECK_FALSE(c.server->is_revoked(jti));
}

// --- client registration (RFC 7591, administrators) -------------------------------

/// An access token as `hearth token` mints it, signed by the server's key.
std::string admin_token(const auth_case& c, std::string scope = "hearth/admin", std::chrono::seconds ttl = 600s) {
  token_request tr;
  tr.subject = "admin";
  tr.client_id = "admin-cli";
  tr.scope = std::move(scope);
  tr.lifetime = ttl;
  auto t = mint_access_token(c.signing, base_url, tr, c.now);
  REQUIRE(t);
  return *t;
}

/// A call to the registration endpoint with `token` (none when empty).
http_response reg(const auth_case& c, std::string method, std::string target, std::string body, const std::string& token,
                  std::string content_type = "application/json") {
  http_request req;
  req.method = std::move(method);
  req.target = "/r4/auth/register" + target;
  req.body = std::move(body);
  if (!content_type.empty()) req.headers.push_back({"Content-Type", std::move(content_type)});
  if (!token.empty()) req.headers.push_back({"Authorization", "Bearer " + token});
  req.remote_address = "192.0.2.9";
  req.request_id = "req-reg";
  auto r = c.server->handle(req);
  REQUIRE(r);
  return *r;
}

std::string public_registration(std::string grants = R"(["authorization_code","refresh_token"])") {
  return R"({"client_name":"Growth chart","token_endpoint_auth_method":"none",)"
         R"("redirect_uris":["https://growth.example/cb","http://127.0.0.1:5555/cb","http://[::1]:8080/cb"],)"
         R"("grant_types":)" + grants + R"(,)"
         R"("scope":"launch/patient openid fhirUser offline_access patient/*.rs","logo_uri":"https://growth.example/l.png"})";
}

std::string confidential_registration(const jwt::key& k, std::string scope = "system/Observation.rs") {
  json_value m = json_value::object();
  m.set("token_endpoint_auth_method", "private_key_jwt");
  json_value g = json_value::array();
  g.push_back(json_value("client_credentials"));
  m.set("grant_types", std::move(g));
  m.set("scope", scope);
  m.set("jwks", public_set(k).to_jwks());
  return fhir::to_json(m);
}

/// Registers; returns the client_id.
std::string registered(const auth_case& c, const std::string& body) {
  const http_response r = reg(c, "POST", "", body, admin_token(c));
  REQUIRE_MESSAGE(r.status == 201, r.body);
  const std::string id = str(parse(r.body), "client_id");
  REQUIRE(id.size() == 43);
  return id;
}

std::vector<std::string> strings_of(const json_value& o, std::string_view name) {
  std::vector<std::string> out;
  const json_value* a = o.find(name);
  if (a == nullptr || !a->is_array()) return out;
  for (const json_value& v : a->items()) out.push_back(v.str());
  return out;
}

TEST_CASE("auth: register a public client (RFC 7591), then sign a user in with it, PKCE and refresh") {
  auth_case c;
  // Published in the SMART configuration.
  CHECK(str(parse(c.get("/r4/.well-known/smart-configuration").body), "registration_endpoint") ==
        "https://fhir.example/r4/auth/register");

  const std::string admin = admin_token(c);
  const http_response r = reg(c, "POST", "", public_registration(), admin);
  REQUIRE_MESSAGE(r.status == 201, r.body);
  CHECK(header(r, "Cache-Control") == "no-store");
  const json_value m = parse(r.body);
  const std::string id = str(m, "client_id");
  CHECK(id.size() == 43);
  CHECK(header(r, "Location") == "https://fhir.example/r4/auth/register/" + id);
  CHECK(m.find("client_id_issued_at")->number_text() == std::to_string(auth_case::unix(c.now)));
  CHECK(str(m, "client_name") == "Growth chart");
  CHECK(str(m, "token_endpoint_auth_method") == "none");
  CHECK(strings_of(m, "grant_types") == std::vector<std::string>{"authorization_code", "refresh_token"});
  CHECK(strings_of(m, "response_types") == std::vector<std::string>{"code"});
  CHECK(strings_of(m, "redirect_uris") ==
        std::vector<std::string>{"https://growth.example/cb", "http://127.0.0.1:5555/cb", "http://[::1]:8080/cb"});
  CHECK(str(m, "scope") == "patient/*.rs launch/patient openid fhirUser offline_access");
  CHECK(m.find("client_secret") == nullptr);  // no secrets here
  CHECK(m.find("jwks") == nullptr);
  CHECK(m.find("logo_uri") == nullptr);  // not understood: ignored (RFC 7591 2), not echoed
  // A second registration gets another id.
  CHECK(registered(c, public_registration()) != id);

  // The authorization_code flow, exactly as for a configured client.
  params p = c.authorize_params();
  for (auto& [k, v] : p) {
    if (k == "client_id") v = id;
    if (k == "redirect_uri") v = "http://127.0.0.1:5555/cb";
  }
  const std::string code = c.code_for(p);
  const http_response t = c.post("token", {{"grant_type", "authorization_code"},
                                           {"code", code},
                                           {"redirect_uri", "http://127.0.0.1:5555/cb"},
                                           {"code_verifier", c.verifier},
                                           {"client_id", id}});
  REQUIRE_MESSAGE(t.status == 200, t.body);
  const json_value tok = parse(t.body);
  CHECK(str(tok, "patient") == "pat-2");
  auto who = verify_access(c, str(tok, "access_token"));
  REQUIRE(who);
  CHECK((*who)->client_id == id);
  CHECK((*who)->subject == "alice");
  // The refresh token works, bound to the registered client.
  const std::string refresh = str(tok, "refresh_token");
  REQUIRE_FALSE(refresh.empty());
  const http_response again = c.post("token", {{"grant_type", "refresh_token"}, {"refresh_token", refresh}});
  REQUIRE_MESSAGE(again.status == 200, again.body);
  // Another client's redirect URI is not this one's.
  for (auto& [k, v] : p)
    if (k == "redirect_uri") v = std::string(app_redirect);
  CHECK(c.authorize(p).status == 400);

  // Audit: the registrations, by the admin's client, sub and jti; never the token.
  const auto events = c.events_of("register");
  REQUIRE(events.size() == 2);
  CHECK(events[0].success);
  CHECK(events[0].status == 201);
  CHECK(events[0].operation == "create");
  CHECK(events[0].registered_client == id);
  CHECK(events[0].client_id == "admin-cli");
  CHECK(events[0].subject == "admin");
  CHECK(events[0].jti == str(claims_of(admin), "jti"));
  CHECK(events[0].remote_address == "192.0.2.9");
  CHECK(c.events_text().find(admin) == std::string::npos);
}

TEST_CASE("auth: a registered client without the refresh_token grant gets no offline_access") {
  auth_case c;
  const std::string id = registered(c, public_registration(R"(["authorization_code"])"));
  params p = c.authorize_params();
  for (auto& [k, v] : p) {
    if (k == "client_id") v = id;
    if (k == "redirect_uri") v = "https://growth.example/cb";
  }
  const http_response t = c.post("token", {{"grant_type", "authorization_code"},
                                           {"code", c.code_for(p)},
                                           {"redirect_uri", "https://growth.example/cb"},
                                           {"code_verifier", c.verifier},
                                           {"client_id", id}});
  REQUIRE(t.status == 200);
  const json_value tok = parse(t.body);
  CHECK(str(tok, "scope") == "patient/*.rs launch/patient openid fhirUser");
  CHECK(tok.find("refresh_token") == nullptr);
}

TEST_CASE("auth: register a confidential client; it gets Backend Services tokens with its key") {
  auth_case c;
  const jwt::key es = make_key("P-384");
  const http_response r = reg(c, "POST", "", confidential_registration(es), admin_token(c));
  REQUIRE_MESSAGE(r.status == 201, r.body);
  const json_value m = parse(r.body);
  const std::string id = str(m, "client_id");
  CHECK(str(m, "token_endpoint_auth_method") == "private_key_jwt");
  CHECK(strings_of(m, "grant_types") == std::vector<std::string>{"client_credentials"});
  CHECK(m.find("response_types") == nullptr);
  CHECK(m.find("redirect_uris") == nullptr);
  // The public key comes back, never a private member.
  const json_value* keys = m.find("jwks") != nullptr ? m.find("jwks")->find("keys") : nullptr;
  REQUIRE(keys != nullptr);
  REQUIRE(keys->size() == 1);
  CHECK(str(keys->items()[0], "x") == str(es.public_jwk(), "x"));
  CHECK(keys->items()[0].find("d") == nullptr);

  const http_response t = c.backend_token(c.assertion(es, id, id), "system/Observation.rs system/Patient.r");
  REQUIRE_MESSAGE(t.status == 200, t.body);
  CHECK(str(parse(t.body), "scope") == "system/Observation.rs");  // narrowed to what it registered
  auto who = verify_access(c, str(parse(t.body), "access_token"));
  REQUIRE(who);
  CHECK((*who)->client_id == id);
  // Another key is not its key; an RS384 client works as well.
  CHECK(c.backend_token(c.assertion(c.backend_key, id, id)).status == 401);
  const jwt::key rsa = make_key("RSA");
  const std::string rid = registered(c, confidential_registration(rsa));
  CHECK(c.backend_token(c.assertion(rsa, rid, rid)).status == 200);
  // It registered client_credentials only: no other grant (RFC 6749 5.2).
  params f{{"grant_type", "refresh_token"},
           {"refresh_token", "whatever"},
           {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
           {"client_assertion", c.assertion(es, id, id)}};
  const http_response no = c.post("token", f);
  CHECK(no.status == 400);
  CHECK(str(parse(no.body), "error") == "unauthorized_client");
}

TEST_CASE("auth: hearth/admin comes from client_credentials for clients allowed it, never from a sign-in") {
  const jwt::key ops_key = make_key("P-384");
  auth_case c([&](auth_settings& s) {
    auth_client ops;
    ops.client_id = "ops";
    ops.type = auth_client_type::confidential_asymmetric;
    ops.scope = "hearth/admin system/Patient.r";
    ops.keys = public_set(ops_key);
    s.clients.push_back(ops);
    s.clients[0].scope += " hearth/admin";  // the public app: allowed it, yet users never get it
  });
  const http_response t = c.backend_token(c.assertion(ops_key, "ops", "ops"), "hearth/admin");
  REQUIRE_MESSAGE(t.status == 200, t.body);
  CHECK(str(parse(t.body), "scope") == "hearth/admin");
  CHECK(parse(t.body).find("expires_in")->number_text() == "300");
  const std::string token = str(parse(t.body), "access_token");
  CHECK(reg(c, "POST", "", public_registration(), token).status == 201);

  // A client not allowed it: nothing left, invalid_scope.
  const http_response no = c.backend_token(c.assertion(c.backend_key), "hearth/admin");
  CHECK(no.status == 400);
  CHECK(str(parse(no.body), "error") == "invalid_scope");
  // Through a user's sign-in: dropped from the grant.
  const std::string code = c.code_for(c.authorize_params("hearth/admin launch/patient patient/*.rs"));
  const json_value user = parse(c.exchange(code).body);
  CHECK(str(user, "scope") == "patient/*.rs launch/patient");
  CHECK(reg(c, "POST", "", public_registration(), str(user, "access_token")).status == 403);
}

TEST_CASE("auth: the registration endpoint needs an administrator's token (RFC 6750)") {
  auth_case c;
  const std::string body = public_registration();
  // No token: 401, a bare challenge.
  http_response r = reg(c, "POST", "", body, "");
  CHECK(r.status == 401);
  CHECK(header(r, "WWW-Authenticate") == R"(Bearer realm="hearth")");
  // Another scheme is no token either.
  {
    http_request req;
    req.method = "GET";
    req.target = "/r4/auth/register";
    req.headers.push_back({"Authorization", "Basic YWRtaW46YWRtaW4="});
    auto basic = c.server->handle(req);
    REQUIRE(basic);
    CHECK(basic->status == 401);
  }
  // Garbage, another server's key, expired, revoked: 401 invalid_token.
  const jwt::key stranger = *jwt::key::generate_es256();
  token_request tr;
  tr.subject = "mallory";
  tr.client_id = "mallory";
  tr.scope = "hearth/admin";
  const std::string foreign = *mint_access_token(stranger, base_url, tr, c.now);
  const std::string expired = admin_token(c, "hearth/admin", 60s);
  c.now += 200s;
  for (const std::string& bad : {std::string("not-a-token"), foreign, expired}) {
    r = reg(c, "POST", "", body, bad);
    CHECK(r.status == 401);
    CHECK(header(r, "WWW-Authenticate").find(R"(error="invalid_token")") != std::string::npos);
    CHECK(str(parse(r.body), "error") == "invalid_token");
  }
  CHECK(header(reg(c, "POST", "", body, expired), "WWW-Authenticate").find("expired") != std::string::npos);
  // Two Authorization headers: 400 invalid_request.
  {
    http_request req;
    req.method = "POST";
    req.target = "/r4/auth/register";
    req.body = body;
    req.headers = {{"Content-Type", "application/json"},
                   {"Authorization", "Bearer " + admin_token(c)},
                   {"Authorization", "Bearer " + admin_token(c)}};
    auto twice = c.server->handle(req);
    REQUIRE(twice);
    CHECK(twice->status == 400);
  }
  // A good token without hearth/admin: 403 insufficient_scope, naming the scope.
  for (const char* scope : {"system/*.cruds", "user/*.cruds openid fhirUser"}) {
    r = reg(c, "POST", "", body, admin_token(c, scope));
    CHECK(r.status == 403);
    CHECK(str(parse(r.body), "error") == "insufficient_scope");
    CHECK(header(r, "WWW-Authenticate") ==
          R"(Bearer realm="hearth", error="insufficient_scope", error_description="the access token lacks the )"
          R"(hearth/admin scope", scope="hearth/admin")");
    CHECK(reg(c, "GET", "", "", admin_token(c, scope)).status == 403);
    CHECK(reg(c, "DELETE", "/app", "", admin_token(c, scope)).status == 403);
  }
  // Nothing was registered, and every refusal was audited.
  CHECK_FALSE(fs::exists(c.dir.path / "auth" / "clients.json"));
  const auto events = c.events_of("register");
  CHECK(events.size() == 13);
  CHECK(std::none_of(events.begin(), events.end(), [](const auth_event& e) { return e.success; }));
  CHECK(std::count_if(events.begin(), events.end(), [](const auth_event& e) { return e.status == 403; }) == 6);
  CHECK(events.back().error == "insufficient_scope");
  CHECK(events.back().operation == "delete");
  CHECK(events.back().registered_client.empty());  // refused before the client was looked at
  const std::string all = c.events_text();
  CHECK(all.find(foreign) == std::string::npos);
  CHECK(all.find(expired) == std::string::npos);

  // Without a token verifier the endpoint does not exist.
  c.registration = false;
  c.start();
  CHECK(reg(c, "POST", "", body, admin_token(c)).status == 404);
  CHECK(parse(c.get("/r4/.well-known/smart-configuration").body).find("registration_endpoint") == nullptr);
}

TEST_CASE("auth: registration metadata is checked: redirect URIs, scopes, keys, sizes (RFC 7591 3.2.2)") {
  auth_case c;
  const std::string admin = admin_token(c);
  auto with = [](std::string_view member_json) {
    return R"({"token_endpoint_auth_method":"none","scope":"launch/patient patient/*.rs",)" + std::string(member_json) +
           "}";
  };
  json_value p256 = json_value::object();
  {
    json_value keys = json_value::array();
    keys.push_back(jwt::key::generate_es256()->public_jwk());  // ES256 only: not a Backend Services key
    p256.set("keys", std::move(keys));
  }
  json_value with_private = json_value::object();
  {
    // A "public" key set that leaks its private half.
    const jwt::key k = make_key("P-384");
    json_value jwk = k.public_jwk();
    jwk.set("d", "AAAA");
    json_value keys = json_value::array();
    keys.push_back(std::move(jwk));
    with_private.set("keys", std::move(keys));
  }
  auto confidential = [](const std::string& jwks) {
    return R"({"token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"],)"
           R"("scope":"system/Observation.rs","jwks":)" + jwks + "}";
  };
  std::string many_uris = "[";
  for (int i = 0; i < 21; ++i) many_uris += std::string(i ? "," : "") + "\"https://app.example/cb" + std::to_string(i) + "\"";
  many_uris += "]";

  struct refused {
    std::string body;
    const char* error;
    const char* says;
  };
  const std::vector<refused> cases = {
      {with(R"("redirect_uris":["http://app.example/cb"])"), "invalid_redirect_uri", "https"},
      {with(R"("redirect_uris":["https://app.example/cb#frag"])"), "invalid_redirect_uri", "fragment"},
      {with(R"("redirect_uris":["com.example.app:/cb"])"), "invalid_redirect_uri", "https"},
      {with(R"("redirect_uris":["https://user@app.example/cb"])"), "invalid_redirect_uri", "user"},
      {with(R"("redirect_uris":["https:///cb"])"), "invalid_redirect_uri", "host"},
      {with(R"("redirect_uris":["https://app.example:99999/cb"])"), "invalid_redirect_uri", "port"},
      {with(R"("redirect_uris":["http://127.0.0.1.evil.example/cb"])"), "invalid_redirect_uri", "loopback"},
      {with(R"("redirect_uris":["https://app.example/a b"])"), "invalid_redirect_uri", "printable"},
      {with(R"("redirect_uris":["https://app.example/cb","https://app.example/cb"])"), "invalid_redirect_uri", "twice"},
      {with(R"("redirect_uris":)" + many_uris), "invalid_redirect_uri", "20"},
      {with(R"("redirect_uris":[])"), "invalid_redirect_uri", "at least one"},
      {with(R"("redirect_uris":"https://app.example/cb")"), "invalid_redirect_uri", "list"},
      {R"({"token_endpoint_auth_method":"none","scope":"patient/Observation.dus","redirect_uris":["https://a.example/cb"]})",
       "invalid_client_metadata", "scope"},
      {R"({"token_endpoint_auth_method":"none","scope":"patient/Nonsense.rs","redirect_uris":["https://a.example/cb"]})",
       "invalid_client_metadata", "scope"},
      {R"({"token_endpoint_auth_method":"none","scope":"system/Patient.r","redirect_uris":["https://a.example/cb"]})",
       "invalid_client_metadata", "client_credentials"},
      {R"({"token_endpoint_auth_method":"none","scope":"hearth/admin","redirect_uris":["https://a.example/cb"]})",
       "invalid_client_metadata", "client_credentials"},
      {R"({"token_endpoint_auth_method":"none","redirect_uris":["https://a.example/cb"]})", "invalid_client_metadata",
       "scope is required"},
      {R"({"scope":"patient/*.rs","redirect_uris":["https://a.example/cb"]})", "invalid_client_metadata",
       "token_endpoint_auth_method"},
      {R"({"token_endpoint_auth_method":"client_secret_basic","scope":"patient/*.rs","redirect_uris":["https://a.example/cb"]})",
       "invalid_client_metadata", "token_endpoint_auth_method"},
      {with(R"("redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"])"),
       "invalid_client_metadata", "private_key_jwt"},
      {with(R"("redirect_uris":["https://a.example/cb"],"grant_types":["implicit"])"), "invalid_client_metadata",
       "grant_types"},
      {with(R"("redirect_uris":["https://a.example/cb"],"response_types":["token"])"), "invalid_client_metadata",
       "response_types"},
      {with(R"("redirect_uris":["https://a.example/cb"],"jwks":{"keys":[]})"), "invalid_client_metadata",
       "public client"},
      {with(R"("redirect_uris":["https://a.example/cb"],"client_name":"bad\u0007name")"), "invalid_client_metadata",
       "client_name"},
      {R"({"token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"],)"
       R"("scope":"system/Observation.rs","jwks_uri":"https://a.example/jwks"})",
       "invalid_client_metadata", "jwks_uri is not supported"},
      {R"({"token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"],"scope":"system/Observation.rs"})",
       "invalid_client_metadata", "needs jwks"},
      {confidential(fhir::to_json(p256)), "invalid_client_metadata", "RS384"},
      {confidential(fhir::to_json(with_private)), "invalid_client_metadata", "jwks"},
      {confidential(R"({"keys":"none"})"), "invalid_client_metadata", "jwks"},
      {confidential(R"({"keys":[]})"), "invalid_client_metadata", "no key"},
      {R"({"token_endpoint_auth_method":"none","token_endpoint_auth_method":"none"})", "invalid_client_metadata",
       "duplicate"},
      {R"(["not","an","object"])", "invalid_client_metadata", "JSON object"},
      {"{not json", "invalid_client_metadata", "JSON object"},
  };
  for (const auto& k : cases) {
    CAPTURE(k.body);
    const http_response r = reg(c, "POST", "", k.body, admin);
    CHECK(r.status == 400);
    const json_value e = parse(r.body);
    CHECK(str(e, "error") == k.error);
    CHECK_MESSAGE(str(e, "error_description").find(k.says) != std::string::npos, str(e, "error_description"));
    CHECK(header(r, "Cache-Control") == "no-store");
  }
  // Not JSON by its type; larger than 64 KiB (a member ignored, yet counted).
  CHECK(reg(c, "POST", "", public_registration(), admin, "application/x-www-form-urlencoded").status == 400);
  const std::string big = with(R"("redirect_uris":["https://a.example/cb"],"padding":")" + std::string(70'000, 'x') + "\"");
  const http_response large = reg(c, "POST", "", big, admin);
  CHECK(large.status == 413);
  CHECK(str(parse(large.body), "error") == "invalid_client_metadata");
  // Just under the limit, with the loopback forms that are allowed, passes.
  const std::string fits = with(R"("redirect_uris":["http://localhost/cb","http://127.1.2.3:1/cb"],"padding":")" +
                                std::string(60'000, 'x') + "\"");
  CHECK(reg(c, "POST", "", fits, admin).status == 201);
  // Each refusal was audited, with its error.
  const auto events = c.events_of("register");
  CHECK(events.size() == cases.size() + 3);
  CHECK(std::count_if(events.begin(), events.end(), [](const auth_event& e) { return e.success; }) == 1);
  CHECK(events[0].error == "invalid_redirect_uri");
  CHECK(events[0].status == 400);
  // Refused registrations left nothing behind.
  const json_value list = parse(reg(c, "GET", "", "", admin).body);
  CHECK(list.find("clients")->size() == 4);  // app, backend, other and the one that fitted
}

TEST_CASE("auth: registered clients are listed, read and deleted; configured ones cannot be") {
  auth_case c;
  const std::string admin = admin_token(c);
  const std::string id = registered(c, public_registration());
  const jwt::key es = make_key("P-384");
  const std::string backend_id = registered(c, confidential_registration(es));

  // The list: every client, by client_id, with where it comes from.
  const http_response l = reg(c, "GET", "", "", admin);
  REQUIRE(l.status == 200);
  std::map<std::string, std::string> source;
  const json_value list = parse(l.body);
  for (const json_value& m : list.find("clients")->items()) source[str(m, "client_id")] = str(m, "hearth_source");
  CHECK(source == std::map<std::string, std::string>{{"app", "configuration"},
                                                     {"backend", "configuration"},
                                                     {"other", "configuration"},
                                                     {id, "registration"},
                                                     {backend_id, "registration"}});
  const json_value one = parse(reg(c, "GET", "/" + id, "", admin).body);
  CHECK(str(one, "client_name") == "Growth chart");
  CHECK(str(one, "hearth_source") == "registration");
  const json_value configured = parse(reg(c, "GET", "/backend", "", admin).body);
  CHECK(str(configured, "token_endpoint_auth_method") == "private_key_jwt");
  CHECK(str(configured, "scope") == "system/Observation.rs system/Patient.r");
  CHECK(reg(c, "GET", "/nobody", "", admin).status == 404);
  CHECK(reg(c, "GET", "/a%2Fb/c", "", admin).status == 404);

  // A configured client cannot be deleted here, and still works.
  const http_response keep = reg(c, "DELETE", "/app", "", admin);
  CHECK(keep.status == 409);
  CHECK(str(parse(keep.body), "error_description").find("configuration") != std::string::npos);
  CHECK(c.authorize(c.authorize_params()).status == 200);

  // A registered one is: its grants die with it (RFC 7592 2.3).
  params p = c.authorize_params();
  for (auto& [k, v] : p) {
    if (k == "client_id") v = id;
    if (k == "redirect_uri") v = "https://growth.example/cb";
  }
  const json_value tok = parse(c.post("token", {{"grant_type", "authorization_code"},
                                                {"code", c.code_for(p)},
                                                {"redirect_uri", "https://growth.example/cb"},
                                                {"code_verifier", c.verifier},
                                                {"client_id", id}})
                                   .body);
  const std::string access = str(tok, "access_token");
  REQUIRE(verify_access(c, access));
  const http_response gone = reg(c, "DELETE", "/" + id, "", admin);
  CHECK(gone.status == 204);
  CHECK(gone.body.empty());
  CHECK(reg(c, "GET", "/" + id, "", admin).status == 404);
  CHECK(reg(c, "DELETE", "/" + id, "", admin).status == 404);
  CHECK(c.authorize(p).status == 400);  // unknown client: a page
  auto v = verify_access(c, access);
  REQUIRE_FALSE(v);
  CHECK(v.error().code == "revoked");
  CHECK(c.post("token", {{"grant_type", "refresh_token"}, {"refresh_token", str(tok, "refresh_token")}}).status == 401);
  CHECK(c.post("token", {{"grant_type", "refresh_token"},
                         {"refresh_token", str(tok, "refresh_token")},
                         {"client_id", id}})
            .status == 401);
  // The confidential one too.
  CHECK(reg(c, "DELETE", "/" + backend_id, "", admin).status == 204);
  CHECK(c.backend_token(c.assertion(es, backend_id, backend_id)).status == 401);
  // Methods: 405 with Allow.
  const http_response put = reg(c, "PUT", "", "{}", admin);
  CHECK(put.status == 405);
  CHECK(header(put, "Allow") == "GET, POST");
  CHECK(header(reg(c, "POST", "/app", "{}", admin), "Allow") == "GET, DELETE");

  const auto events = c.events_of("register");
  const auto deleted = std::find_if(events.begin(), events.end(),
                                    [](const auth_event& e) { return e.operation == "delete" && e.success; });
  REQUIRE(deleted != events.end());
  CHECK(deleted->registered_client == id);
  CHECK(deleted->status == 204);
  CHECK(std::any_of(events.begin(), events.end(), [](const auth_event& e) {
    return e.operation == "delete" && e.status == 409 && e.registered_client == "app";
  }));
}

TEST_CASE("auth: registered clients survive a restart; clients.json is 0600, public keys only, checked at start") {
  auth_case c;
  const std::string admin = admin_token(c);
  const std::string pub = registered(c, public_registration());
  const jwt::key es = make_key("P-384");
  const std::string conf = registered(c, confidential_registration(es));
  const std::string doomed = registered(c, public_registration());
  REQUIRE(reg(c, "DELETE", "/" + doomed, "", admin).status == 204);

  const fs::path file = c.dir.path / "auth" / "clients.json";
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::string text;
  {
    std::ifstream in(file);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  CHECK(text.find(pub) != std::string::npos);
  CHECK(text.find(conf) != std::string::npos);
  CHECK(text.find(doomed) == std::string::npos);
  CHECK(text.find(R"("d":)") == std::string::npos);
  CHECK_FALSE(fs::exists(c.dir.path / "auth" / "clients.json.tmp"));

  // A new server on the same directory knows them, and they work.
  c.start();
  CHECK(reg(c, "GET", "/" + pub, "", admin).status == 200);
  CHECK(reg(c, "GET", "/" + doomed, "", admin).status == 404);
  const json_value after = parse(reg(c, "GET", "/" + conf, "", admin).body);
  REQUIRE(after.find("client_id_issued_at") != nullptr);
  CHECK(after.find("client_id_issued_at")->number_text() == std::to_string(auth_case::unix(c.now)));
  CHECK(c.backend_token(c.assertion(es, conf, conf)).status == 200);
  params p = c.authorize_params();
  for (auto& [k, v] : p) {
    if (k == "client_id") v = pub;
    if (k == "redirect_uri") v = "https://growth.example/cb";
  }
  CHECK(c.authorize(p).status == 200);

  // A file others may read, an unreadable one, one with a client that no
  // longer passes, one whose client_id a configured client has: no start.
  c.server.reset();
  auto expect_refused = [&](const std::string& content, const char* code) {
    {
      std::ofstream out(file, std::ios::trunc);
      out << content;
    }
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
    auto s = c.create();
    REQUIRE_FALSE(s);
    CHECK(s.error().code == code);
  };
  fs::permissions(file, fs::perms::others_read, fs::perm_options::add);
  {
    auto s = c.create();
    REQUIRE_FALSE(s);
    CHECK(s.error().code == "insecure");
  }
  expect_refused("{\"clients\":[", "corrupt");
  expect_refused("{\"nothing\":1}", "corrupt");
  std::string bad_scope = text;
  const std::size_t at = bad_scope.find("system/Observation.rs");
  REQUIRE(at != std::string::npos);
  bad_scope.replace(at, std::string_view("system/Observation.rs").size(), "system/Bogus.rs");
  expect_refused(bad_scope, "invalid");
  std::string clash = text;
  clash.replace(clash.find(pub), pub.size(), "app");
  expect_refused(clash, "invalid");
  // Put back, it starts again.
  expect_refused("", "corrupt");
  {
    std::ofstream out(file, std::ios::trunc);
    out << text;
  }
  c.start();
  CHECK(reg(c, "GET", "/" + conf, "", admin).status == 200);
}

TEST_CASE("auth: concurrent registrations and deletions keep the table and the file in step") {
  auth_case c;
  const std::string admin = admin_token(c);
  std::vector<std::vector<std::string>> ids(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        const http_response r = reg(c, "POST", "", public_registration(), admin);
        if (r.status == 201) ids[t].push_back(str(parse(r.body), "client_id"));
        // Meanwhile the configured clients are used.
        (void)c.authorize(c.authorize_params());
      }
      // Every other one is deleted again.
      for (std::size_t i = 0; i < ids[t].size(); i += 2) (void)reg(c, "DELETE", "/" + ids[t][i], "", admin);
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> kept;
  for (const auto& list : ids) {
    REQUIRE(list.size() == 8);
    for (std::size_t i = 1; i < list.size(); i += 2) kept.insert(list[i]);
  }
  CHECK(kept.size() == 16);
  c.start();
  std::set<std::string> listed;
  const json_value list = parse(reg(c, "GET", "", "", admin).body);
  for (const json_value& m : list.find("clients")->items()) {
    if (str(m, "hearth_source") == "registration") listed.insert(str(m, "client_id"));
  }
  CHECK(listed == kept);
}

// --- passwords ------------------------------------------------------------------------

TEST_CASE("auth: Argon2id hashes: OWASP parameters, verify good and bad, malformed refused") {
  auto h = hash_password("s3cret passphrase");
  REQUIRE(h);
  CHECK(h->starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
  CHECK(is_password_hash(*h));
  CHECK(verify_password("s3cret passphrase", *h));
  CHECK_FALSE(verify_password("s3cret passphrasE", *h));
  CHECK_FALSE(verify_password("", *h));
  // Salted: the same password hashes differently.
  auto h2 = hash_password("s3cret passphrase");
  REQUIRE(h2);
  CHECK(*h != *h2);
  // Malformed or out-of-bounds hashes are refused before any work.
  std::string wrong_type = *h;
  wrong_type.replace(0, 9, "$argon2i$");
  CHECK_FALSE(is_password_hash(wrong_type));
  CHECK_FALSE(verify_password("s3cret passphrase", wrong_type));
  CHECK_FALSE(is_password_hash("$argon2id$v=19$m=19456000,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"));
  CHECK_FALSE(is_password_hash("$argon2id$v=19$m=19456,t=2,p=1$$aGFzaGhhc2hoYXNoaGFzaA"));
  CHECK_FALSE(is_password_hash("$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"));
  CHECK_FALSE(is_password_hash("plain text"));
  CHECK_FALSE(hash_password(""));
  CHECK_FALSE(hash_password(std::string(max_password_bytes + 1, 'x')));
  CHECK_FALSE(verify_password(std::string(max_password_bytes + 1, 'x'), *h));
}

}  // namespace
}  // namespace hearth::server::auth
