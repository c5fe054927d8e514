// The authorisation server: construction, routing, discovery, JWKS, and what
// the endpoints share (client authentication, issuing tokens). The endpoints
// are in auth_server_authorize.cpp, auth_server_token.cpp and
// auth_server_introspect.cpp; the persisted state in auth_server_store.cpp.

#include <hearth/server/auth_server.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <exception>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/fhir_api.hpp>
#include <hearth/server/password_hash.hpp>

#include "auth_server_detail.hpp"
#include "rest_target.hpp"

namespace hearth::server::auth {

namespace detail {

std::string b64url(std::string_view bytes) {
  std::string s = base64::encode(bytes, true);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string random_token() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) std::abort();
  std::string out = b64url(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return out;
}

std::string sha256_b64url(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) std::abort();
  return b64url(std::string_view(reinterpret_cast<const char*>(md.data()), len));
}

bool equal_ct(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::int64_t to_unix(time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

time_point from_unix(std::int64_t s) noexcept { return time_point(std::chrono::seconds(s)); }

std::optional<std::int64_t> int_member(const fhir::json_value& obj, std::string_view name) {
  const fhir::json_value* v = obj.find(name);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  const std::string& t = v->number_text();
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || end != t.data() + t.size()) return std::nullopt;
  return n;
}

std::string str_member(const fhir::json_value& obj, std::string_view name) {
  const fhir::json_value* v = obj.find(name);
  return v != nullptr && v->is_string() ? v->str() : std::string();
}

std::optional<fhir::json_value> peek_claims(std::string_view token) {
  // 16 KiB: jwt verify_options::max_token_bytes.
  if (token.size() > (16u << 10)) return std::nullopt;
  const std::size_t a = token.find('.');
  if (a == std::string_view::npos) return std::nullopt;
  const std::size_t b = token.find('.', a + 1);
  if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos) return std::nullopt;
  auto payload = base64::decode(token.substr(a + 1, b - a - 1), true);
  if (!payload) return std::nullopt;
  fhir::json_read_options jo;
  jo.fhir_rules = false;
  jo.max_depth = 8;
  auto v = fhir::parse_json(*payload, jo);
  if (!v || !v->is_object()) return std::nullopt;
  return std::move(*v);
}

bool valid_fhir_id(std::string_view id) noexcept {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

std::optional<std::string_view> form::get(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name && !v.empty()) return std::string_view(v);
  }
  return std::nullopt;
}

bool form::repeated(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& [k, v] : params) {
    if (k == name && !v.empty()) ++n;
  }
  return n > 1;
}

hearth::result<form> parse_form(std::string_view text) {
  form f;
  rest::param_list list;
  if (auto r = rest::parse_params(text, true, list); !r) return hearth::unexpected(std::move(r).error());
  f.params = std::move(list);
  return f;
}

http_response json_response(int status, const fhir::json_value& body) {
  http_response r;
  r.status = status;
  r.set_header("Content-Type", "application/json");
  // RFC 6749 5.1: "Cache-Control: no-store" and "Pragma: no-cache".
  r.set_header("Cache-Control", "no-store");
  r.set_header("Pragma", "no-cache");
  r.body = fhir::to_json(body);
  return r;
}

http_response oauth_error(int status, std::string_view error, std::string_view description) {
  fhir::json_value o = fhir::json_value::object();
  o.set("error", error);
  if (!description.empty()) o.set("error_description", description);
  return json_response(status, o);
}

bool client_entry::allows(std::string_view grant_type) const {
  return grant_types.empty() || std::find(grant_types.begin(), grant_types.end(), grant_type) != grant_types.end();
}

}  // namespace detail

using namespace detail;

hearth::result<void> check_client_keys(const jwt::key_set& keys) {
  auto fail = [](std::string message) {
    return hearth::unexpected(hearth::error{"invalid", std::move(message), {}, hearth::error::npos});
  };
  if (keys.keys().empty()) return fail("holds no key this server can use (RS384 or ES384)");
  for (const jwt::key& k : keys.keys()) {
    // SMART Backend Services "Authenticating": RS384 or ES384.
    if (!k.accepts(jwt::algorithm::rs384) && !k.accepts(jwt::algorithm::es384)) {
      return fail("holds a key that takes neither RS384 nor ES384 (SMART Backend Services)");
    }
    if (k.has_private()) return fail("holds a private key: register the public half only");
  }
  return {};
}

namespace {

hearth::error make_error(std::string code, std::string message) {
  return hearth::error{std::move(code), std::move(message), {}, hearth::error::npos};
}

/// The scopes listed in scopes_supported: the context scopes and the
/// wildcard resource scopes of each level, v1 and v2 forms (SMART App Launch
/// 2.2 "Conformance": "scopes_supported ... a list of the scopes supported").
constexpr std::array<std::string_view, 20> supported_scopes{
    "openid",           "fhirUser",          "launch",          "launch/patient",    "launch/encounter",
    "offline_access",   "online_access",     "profile",         "patient/*.cruds",   "patient/*.rs",
    "user/*.cruds",     "user/*.rs",         "system/*.cruds",  "system/*.rs",       "patient/*.read",
    "patient/*.write",  "user/*.read",       "user/*.write",    "system/*.read",     "system/*.write",
};

}  // namespace

auth_server::auth_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
auth_server::~auth_server() = default;

hearth::result<std::unique_ptr<auth_server>> auth_server::create(auth_server_options opts) {
  auto p = std::make_unique<impl>();
  if (opts.base_url.empty() || !(opts.base_url.starts_with("http://") || opts.base_url.starts_with("https://")) ||
      opts.base_url.ends_with('/')) {
    return hearth::unexpected(make_error("invalid", "the base URL must be an http(s) URL without a trailing slash"));
  }
  if (!opts.signing_key || !opts.signing_key->has_private()) {
    return hearth::unexpected(make_error("invalid", "the signing key has no private half"));
  }
  if (!opts.is_resource_type) {
    return hearth::unexpected(make_error("invalid", "no resource type predicate for parsing scopes"));
  }
  const auth_settings& s = opts.settings;
  if (s.access_token_lifetime.count() <= 0 || s.access_token_lifetime > max_access_token_lifetime ||
      s.backend_access_token_lifetime.count() <= 0 || s.backend_access_token_lifetime > max_assertion_lifetime ||
      s.refresh_token_lifetime.count() <= 0) {
    return hearth::unexpected(make_error("invalid", "token lifetimes out of range (access at most 1 h, backend "
                                                    "at most 5 min)"));
  }
  for (const auth_client& c : s.clients) {
    auto allowed = parse_scopes(c.scope, parse_mode::strict, opts.is_resource_type);
    if (!allowed) {
      return hearth::unexpected(
          make_error("invalid", "client " + c.client_id + ": its scope does not parse: " + allowed.error().message));
    }
    if (c.type == auth_client_type::confidential_asymmetric) {
      if (auto k = check_client_keys(c.keys); !k) {
        return hearth::unexpected(
            make_error("invalid", "client " + c.client_id + ": its key set " + k.error().message));
      }
    }
    if (c.type == auth_client_type::public_client && c.redirect_uris.empty()) {
      return hearth::unexpected(make_error("invalid", "client " + c.client_id + ": a public client needs a redirect URI"));
    }
    auto entry = std::make_shared<client_entry>();
    entry->config = c;
    entry->allowed = std::move(allowed->scopes);
    if (!p->clients.emplace(c.client_id, std::move(entry)).second) {
      return hearth::unexpected(make_error("invalid", "client " + c.client_id + " is listed twice"));
    }
  }
  for (const auth_user& u : s.users) {
    if (!is_password_hash(u.password_hash)) {
      return hearth::unexpected(make_error("invalid", "user " + u.username + ": not an Argon2id hash"));
    }
    if (!p->users.emplace(u.username, u).second) {
      return hearth::unexpected(make_error("invalid", "user " + u.username + " is listed twice"));
    }
  }
  auto dummy = hash_password(random_token());
  if (!dummy) return hearth::unexpected(std::move(dummy).error());
  p->dummy_hash = std::move(*dummy);
  p->own_keys.add(*opts.signing_key);
  p->base_path = base_path_of(opts.base_url);
  const std::int64_t now = to_unix(opts.clock ? opts.clock() : std::chrono::system_clock::now());
  auto store = token_store::open(opts.state_dir, now);
  if (!store) return hearth::unexpected(std::move(store).error());
  p->store = std::move(*store);
  // Registered clients (auth_server.hpp "Client registration"): checked
  // again as a registration is, so that a hand-edited file cannot slip a
  // client past the rules.
  auto registered = read_client_file(opts.state_dir);
  if (!registered) return hearth::unexpected(std::move(registered).error());
  if (*registered) {
    const fhir::json_value* list = (*registered)->is_object() ? (*registered)->find("clients") : nullptr;
    if (list == nullptr || !list->is_array()) {
      return hearth::unexpected(make_error("corrupt", "clients.json has no \"clients\" array"));
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      const fhir::json_value& m = list->items()[i];
      const std::string where = "clients.json clients[" + std::to_string(i) + "]";
      auto c = client_from_metadata(m, opts.is_resource_type);
      if (!c) return hearth::unexpected(make_error("invalid", where + ": " + c.error().description));
      const std::string id = m.is_object() ? str_member(m, "client_id") : std::string();
      const auto issued = m.is_object() ? int_member(m, "client_id_issued_at") : std::nullopt;
      if (id.empty() || id.size() > 128 || !issued) {
        return hearth::unexpected(make_error("invalid", where + ": no client_id or client_id_issued_at"));
      }
      c->config.client_id = id;
      c->issued_at = *issued;
      c->registered = true;
      if (!p->clients.emplace(id, std::make_shared<client_entry>(std::move(*c))).second) {
        return hearth::unexpected(
            make_error("invalid", where + ": client " + id + " is also configured (or registered twice): remove one"));
      }
    }
  }
  p->opts = std::move(opts);
  return std::unique_ptr<auth_server>(new auth_server(std::move(p)));
}

std::optional<http_response> auth_server::handle(http_request& req) const {
  const std::string_view target = req.target;
  std::string_view path = target.substr(0, target.find('?'));
  const std::string& base = impl_->base_path;
  if (!path.starts_with(base)) return std::nullopt;
  path.remove_prefix(base.size());
  auto only = [&](std::string_view method, auto&& answer) -> http_response {
    if (req.method != method) {
      http_response r = oauth_error(405, "invalid_request", "method not allowed here");
      r.set_header("Allow", std::string(method));
      return r;
    }
    return answer();
  };
  try {
    if (path == "/.well-known/smart-configuration") return only("GET", [&] { return impl_->discovery(); });
    if (!path.starts_with("/auth/")) return std::nullopt;
    if (path == "/auth/jwks") return only("GET", [&] { return impl_->jwks(); });
    if (path == "/auth/authorize") {
      if (req.method == "GET") return impl_->authorize_get(req);
      return only("POST", [&] { return impl_->authorize_post(req); });
    }
    if (path == "/auth/token") return only("POST", [&] { return impl_->token(req); });
    if (path == "/auth/introspect") return only("POST", [&] { return impl_->introspect(req); });
    if (path == "/auth/revoke") return only("POST", [&] { return impl_->revoke(req); });
    if (impl_->opts.verify_access_token) {
      if (path == "/auth/register") return impl_->registration(req, {});
      if (path.starts_with("/auth/register/") && path.size() > 15) return impl_->registration(req, path.substr(15));
    }
    return oauth_error(404, "invalid_request", "no such endpoint");
  } catch (const std::exception&) {
    // The one catch of this boundary (CONVENTIONS.md): a bad_alloc, a bug.
    return oauth_error(500, "server_error", "internal error");
  }
}

std::function<std::optional<http_response>(http_request&)> auth_server::endpoints() const {
  return [this](http_request& req) { return handle(req); };
}

bool auth_server::is_revoked(std::string_view jti) const {
  const std::int64_t now = to_unix(impl_->now());
  std::lock_guard lock(impl_->mu);
  return impl_->store->is_revoked(jti, now);
}

jwt::key_set auth_server::public_keys() const { return impl_->own_keys; }

std::string auth_server::endpoint_url(std::string_view name) const { return impl_->url(name); }

hearth::result<std::string> auth_server::create_launch(const launch_request& req) {
  if (!valid_fhir_id(req.patient) || (!req.encounter.empty() && !valid_fhir_id(req.encounter))) {
    return hearth::unexpected(make_error("invalid", "a launch needs a patient id (and an encounter id) of FHIR form"));
  }
  if (req.lifetime.count() <= 0 || req.lifetime > std::chrono::hours(1)) {
    return hearth::unexpected(make_error("invalid", "a launch lasts up to an hour"));
  }
  const time_point now = impl_->now();
  std::string id = random_token();
  std::lock_guard lock(impl_->mu);
  impl_->sweep(now);
  if (impl_->launches.size() >= max_launches) {
    return hearth::unexpected(make_error("too-costly", "too many launches in flight"));
  }
  impl_->launches[id] = launch_record{req.patient, req.encounter, req.client_id, now + req.lifetime};
  return id;
}

// --- impl -------------------------------------------------------------------

time_point auth_server::impl::now() const { return opts.clock ? opts.clock() : std::chrono::system_clock::now(); }

void auth_server::impl::emit(auth_event e, const http_request& req) const {
  if (!opts.audit) return;
  if (e.client_id.size() > 128) e.client_id.resize(128);
  e.remote_address = req.remote_address;
  e.request_id = req.request_id;
  opts.audit(e);
}

std::shared_ptr<const client_entry> auth_server::impl::find_client(std::string_view id) const {
  std::lock_guard lock(mu);
  auto it = clients.find(std::string(id));
  return it == clients.end() ? nullptr : it->second;
}

void auth_server::impl::sweep(time_point t) const {
  // Every 30 s, or at once when a table is full.
  if (t - last_sweep < std::chrono::seconds(30) && pending.size() < max_pending && codes.size() < max_codes &&
      launches.size() < max_launches) {
    return;
  }
  last_sweep = t;
  std::erase_if(pending, [t](const auto& kv) { return kv.second.expires <= t; });
  std::erase_if(codes, [t](const auto& kv) { return kv.second.used ? kv.second.forget_at <= t : kv.second.expires <= t; });
  std::erase_if(launches, [t](const auto& kv) { return kv.second.expires <= t; });
}

http_response auth_server::impl::discovery() const {
  using fhir::json_value;
  auto strings = [](std::initializer_list<std::string_view> items) {
    json_value a = json_value::array();
    for (std::string_view s : items) a.push_back(json_value(s));
    return a;
  };
  // SMART App Launch 2.2 "Conformance" (conformance.html), RFC 8414 2 names.
  json_value d = json_value::object();
  d.set("issuer", opts.base_url);
  d.set("jwks_uri", url("jwks"));
  d.set("authorization_endpoint", url("authorize"));
  d.set("token_endpoint", url("token"));
  d.set("introspection_endpoint", url("introspect"));
  d.set("revocation_endpoint", url("revoke"));
  // SMART App Launch 2.2 "Conformance": registration_endpoint, OPTIONAL
  // (RFC 7591; here an administrator's, see auth_server.hpp).
  if (opts.verify_access_token) d.set("registration_endpoint", url("register"));
  d.set("grant_types_supported", strings({"authorization_code", "refresh_token", "client_credentials"}));
  d.set("token_endpoint_auth_methods_supported", strings({"private_key_jwt", "none"}));
  d.set("token_endpoint_auth_signing_alg_values_supported", strings({"RS384", "ES384"}));
  d.set("introspection_endpoint_auth_methods_supported", strings({"private_key_jwt"}));
  d.set("revocation_endpoint_auth_methods_supported", strings({"private_key_jwt", "none"}));
  json_value scopes = json_value::array();
  for (std::string_view s : supported_scopes) scopes.push_back(json_value(s));
  d.set("scopes_supported", std::move(scopes));
  d.set("response_types_supported", strings({"code"}));
  d.set("code_challenge_methods_supported", strings({"S256"}));
  d.set("id_token_signing_alg_values_supported", json_value::array());
  d.find("id_token_signing_alg_values_supported")->push_back(json_value(jwt::to_string(
      opts.signing_key->type() == jwt::key_type::ec_p384 ? jwt::algorithm::es384
      : opts.signing_key->type() == jwt::key_type::rsa   ? jwt::algorithm::rs256
                                                        : jwt::algorithm::es256)));
  d.set("capabilities", strings({"launch-standalone", "launch-ehr", "client-public", "client-confidential-asymmetric",
                                 "context-standalone-patient", "context-ehr-patient", "context-ehr-encounter",
                                 "permission-offline", "permission-v1", "permission-v2", "permission-patient",
                                 "permission-user", "sso-openid-connect"}));
  http_response r = json_response(200, d);
  // Public and the same for everyone; it changes only with the configuration.
  r.set_header("Cache-Control", "no-cache");
  return r;
}

http_response auth_server::impl::jwks() const {
  http_response r = json_response(200, own_keys.to_jwks());
  r.set_header("Content-Type", "application/jwk-set+json");  // RFC 7517 8.5.1
  r.set_header("Cache-Control", "no-cache");
  return r;
}

scope_set auth_server::impl::narrow(const scope_set& requested, const scope_set& allowed) {
  scope_set out;
  for (const resource_scope& r : requested.resources) {
    // Letter by letter: a letter stays when some allowed scope covers it
    // (is_subset: same level, same type or "*", allowed query a subset of
    // the requested one).
    resource_scope kept = r;
    kept.permissions = 0;
    for (permission_bits bit = 1; bit <= permission::search; bit = static_cast<permission_bits>(bit << 1)) {
      if ((r.permissions & bit) == 0) continue;
      scope_set one;
      resource_scope single = r;
      single.permissions = bit;
      one.resources.push_back(std::move(single));
      if (is_subset(one, allowed)) kept.permissions |= bit;
    }
    if (kept.permissions != 0) out.resources.push_back(std::move(kept));
  }
  out.context = static_cast<context_bits>(requested.context & allowed.context);
  return out;
}

hearth::result<authenticated_client, oauth_failure> auth_server::impl::authenticate(
    const form& f, const std::vector<std::string>& audiences, bool require_assertion) const {
  auto fail = [](std::string description) {
    // RFC 6749 5.2: invalid_client, 401.
    return hearth::unexpected(oauth_failure{401, "invalid_client", std::move(description)});
  };
  for (std::string_view name : {"client_id", "client_assertion", "client_assertion_type"}) {
    if (f.repeated(name)) {
      return hearth::unexpected(oauth_failure{400, "invalid_request", "a parameter is repeated (RFC 6749 3.2)"});
    }
  }
  const auto client_id = f.get("client_id");
  const auto assertion_type = f.get("client_assertion_type");
  const auto assertion = f.get("client_assertion");
  if (!assertion_type && !assertion) {
    if (require_assertion) return fail("this endpoint needs a private_key_jwt client assertion");
    if (!client_id) return fail("no client_id");
    auto found = find_client(*client_id);
    if (!found) return fail("unknown client");
    if (found->config.type != auth_client_type::public_client) {
      return fail("a confidential client authenticates with a private_key_jwt assertion");
    }
    return authenticated_client{std::move(found), false};
  }
  // RFC 7523 2.2 and SMART App Launch 2.2 client-confidential-asymmetric.
  if (!assertion_type || *assertion_type != jwt_bearer) return fail("client_assertion_type must be jwt-bearer");
  if (!assertion) return fail("no client_assertion");
  auto peeked = peek_claims(*assertion);
  if (!peeked) return fail("the client assertion is not a JWT");
  const std::string iss = str_member(*peeked, "iss");
  if (iss.empty()) return fail("the client assertion has no iss");
  if (client_id && *client_id != iss) return fail("client_id and the assertion's iss differ");
  auto found = find_client(iss);
  if (!found) return fail("unknown client");
  const client_entry& client = *found;
  if (client.config.type != auth_client_type::confidential_asymmetric) {
    return fail("a public client has no keys to assert with");
  }
  jwt::verify_options vo;
  vo.allowed_algs = {jwt::algorithm::rs384, jwt::algorithm::es384};  // SMART Backend Services
  vo.issuer = client.config.client_id;
  vo.leeway = assertion_leeway;
  vo.max_lifetime = max_assertion_lifetime;
  vo.clock = opts.clock;
  hearth::result<jwt::verified_token> verified = hearth::unexpected(make_error("wrong-audience", ""));
  for (const std::string& aud : audiences) {
    vo.audience = aud;
    verified = jwt::verify(*assertion, client.config.keys, vo);
    if (verified || verified.error().code != "wrong-audience") break;
  }
  if (!verified) {
    const std::string& code = verified.error().code;
    if (code == "expired") return fail("the client assertion has expired");
    if (code == "lifetime-too-long") return fail("the client assertion's exp is more than 5 minutes ahead");
    if (code == "wrong-audience") return fail("the client assertion's aud is not this endpoint");
    if (code == "unsupported-alg") return fail("the client assertion must be signed with RS384 or ES384");
    return fail("the client assertion does not verify");
  }
  const fhir::json_value& claims = verified->claims;
  // RFC 7523 3 (B): sub = the client_id; SMART: iss = sub = client_id.
  if (str_member(claims, "sub") != client.config.client_id) return fail("the client assertion's sub is not its iss");
  const std::string jti = str_member(claims, "jti");
  if (jti.empty() || jti.size() > max_jti_bytes) return fail("the client assertion needs a jti");
  const auto exp = int_member(claims, "exp");
  if (!exp) return fail("the client assertion needs an integer exp");
  const std::int64_t now = to_unix(this->now());
  {
    // RFC 7523 3 (7): the server MAY ensure JWTs are not replayed by
    // keeping jtis until exp; SMART Backend Services: SHALL.
    std::lock_guard lock(mu);
    if (store->assertion_seen(client.config.client_id, jti, now)) return fail("the client assertion was used before");
    if (!store->remember_assertion(client.config.client_id, jti, *exp + assertion_leeway.count(), now)) {
      return hearth::unexpected(oauth_failure{500, "server_error", "cannot record the assertion"});
    }
  }
  return authenticated_client{std::move(found), true};
}

hearth::result<issued, oauth_failure> auth_server::impl::issue(const grant& g) const {
  const time_point t = now();
  token_request tr;
  tr.subject = g.subject;
  tr.client_id = g.client_id;
  tr.scope = to_string(g.scopes);
  tr.patient = g.patient;
  tr.encounter = g.encounter;
  tr.fhir_user = g.fhir_user;
  tr.lifetime = g.lifetime;
  auto at = mint_access_token(*opts.signing_key, opts.base_url, tr, t);
  if (!at) return hearth::unexpected(oauth_failure{500, "server_error", "cannot issue a token"});
  issued out;
  out.access_token = std::move(*at);
  auto claims = peek_claims(out.access_token);
  if (!claims) return hearth::unexpected(oauth_failure{500, "server_error", "cannot issue a token"});
  out.jti = str_member(*claims, "jti");
  out.exp = int_member(*claims, "exp").value_or(to_unix(t + g.lifetime));

  // Never for client_credentials (RFC 6749 4.4.3: "A refresh token SHOULD
  // NOT be included"), whatever the caller says.
  if (g.refresh && g.grant_type != "client_credentials") {
    out.refresh_token = random_token();
    out.family = g.family.empty() ? random_token() : g.family;
    refresh_record r;
    r.family = out.family;
    r.client_id = g.client_id;
    r.subject = g.subject;
    r.scope = g.refresh_scope.empty() ? to_string(g.scopes) : g.refresh_scope;
    r.patient = g.patient;
    r.encounter = g.encounter;
    r.fhir_user = g.fhir_user;
    r.exp = to_unix(t + opts.settings.refresh_token_lifetime);
    std::lock_guard lock(mu);
    const std::int64_t now_s = to_unix(t);
    // Stored as its SHA-256 only: the file never holds a usable token.
    if (!store->add_refresh(sha256_b64url(out.refresh_token), r, now_s) ||
        !store->add_access(out.family, out.jti, out.exp, now_s)) {
      return hearth::unexpected(oauth_failure{500, "server_error", "cannot record the refresh token"});
    }
  }

  // OpenID Connect Core 1.0 2 / SMART App Launch 2.2 "scopes for requesting
  // identity data": an id_token when openid and fhirUser (or SMART v1's
  // profile) are granted.
  if (g.scopes.has(context_scope::openid) &&
      (g.scopes.has(context_scope::fhir_user) || g.scopes.has(context_scope::profile)) && !g.subject.empty() &&
      g.grant_type != "client_credentials") {
    fhir::json_value c = fhir::json_value::object();
    c.set("iss", opts.base_url);
    c.set("sub", g.subject);
    c.set("aud", g.client_id);
    c.set("iat", fhir::json_value::number(std::to_string(to_unix(t))));
    c.set("exp", fhir::json_value::number(std::to_string(out.exp)));
    if (!g.fhir_user.empty()) c.set("fhirUser", opts.base_url + "/" + g.fhir_user);
    if (!g.nonce.empty()) c.set("nonce", g.nonce);
    jwt::sign_options so;
    so.typ = "JWT";
    auto id = jwt::sign(c, *opts.signing_key, so);
    if (!id) return hearth::unexpected(oauth_failure{500, "server_error", "cannot sign the id_token"});
    out.id_token = std::move(*id);
  }
  return out;
}

http_response auth_server::impl::token_response(const grant& g, const issued& out) const {
  // RFC 6749 5.1; SMART App Launch 2.2 "Response": patient, encounter.
  fhir::json_value r = fhir::json_value::object();
  r.set("access_token", out.access_token);
  r.set("token_type", "Bearer");
  r.set("expires_in", fhir::json_value::number(std::to_string(g.lifetime.count())));
  r.set("scope", to_string(g.scopes));
  if (!out.refresh_token.empty()) r.set("refresh_token", out.refresh_token);
  if (!out.id_token.empty()) r.set("id_token", out.id_token);
  if (!g.patient.empty()) r.set("patient", g.patient);
  if (!g.encounter.empty()) r.set("encounter", g.encounter);
  return json_response(200, r);
}

void auth_server::impl::revoke_issued(const std::string& jti, std::int64_t exp, const std::string& family) const {
  const std::int64_t now_s = to_unix(now());
  std::lock_guard lock(mu);
  // Best effort: a failure to write leaves the refusal in place (the caller
  // refuses the reused code either way).
  if (!jti.empty() && exp + revocation_margin.count() > now_s) (void)store->revoke(jti, exp, now_s);
  if (!family.empty()) (void)store->revoke_family(family, now_s);
}

}  // namespace hearth::server::auth
