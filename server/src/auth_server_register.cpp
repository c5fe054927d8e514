// Client registration (auth_server.hpp "Client registration"): RFC 7591
// Dynamic Client Registration, open to administrators only (a bearer token
// with hearth/admin, RFC 7591 1.2 "initial access token"), with RFC 7592-like
// read and delete, and the metadata checks shared with clients.json.

#include <hearth/server/auth_server.hpp>

#include <algorithm>
#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <hearth/core/text.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>

#include "auth_server_detail.hpp"

namespace hearth::server::auth {

namespace detail {

namespace {

/// The grant types a client may register, in the order they are listed.
constexpr std::array<std::string_view, 3> known_grants{"authorization_code", "refresh_token", "client_credentials"};

/// RFC 6750 3: the challenge of the realm, with an error when there is one;
/// the description is fixed text.
std::string challenge(std::string_view error = {}, std::string_view description = {},
                      std::string_view scope = {}) {
  std::string c = R"(Bearer realm="hearth")";
  if (!error.empty()) c += R"(, error=")" + std::string(error) + '"';
  if (!description.empty()) c += R"(, error_description=")" + std::string(description) + '"';
  if (!scope.empty()) c += R"(, scope=")" + std::string(scope) + '"';
  return c;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// RFC 3986 3.2.2 reg-name as DNS spells it (letters, digits, '-', '.'),
/// or a dotted IPv4 address, which is made of the same characters.
bool valid_host_name(std::string_view h) {
  return !h.empty() && h.size() <= 253 && h.front() != '.' && h.front() != '-' &&
         std::all_of(h.begin(), h.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.';
         });
}

/// RFC 8252 7.3 / 8.3: the loopback interface, where a native app listens
/// for its redirect over plain http: 127.0.0.0/8, [::1], localhost.
bool loopback_host(std::string_view h) {
  if (text::iequals(h, "localhost") || h == "[::1]") return true;
  if (!h.starts_with("127.")) return false;
  int dots = 0;
  for (char c : h) {
    if (c == '.') {
      ++dots;
    } else if (!is_digit(c)) {
      return false;
    }
  }
  return dots == 3;
}

/// Why `uri` may not be a registered redirect URI; empty when it may.
/// RFC 6749 3.1.2: absolute, no fragment; OAuth 2.0 Security BCP (RFC 9700)
/// 2.1 / RFC 8252 8.3: https, or http to a loopback host only. Stricter than
/// the configuration file (which an administrator writes by hand and may
/// give a native app's private-use scheme).
std::string_view redirect_uri_problem(std::string_view uri) {
  if (uri.empty() || uri.size() > max_redirect_uri_bytes) return "a redirect URI must hold 1 to 2048 bytes";
  if (!std::all_of(uri.begin(), uri.end(), [](char c) { return c > 0x20 && c < 0x7F; })) {
    return "a redirect URI must be printable ASCII without spaces (percent-encode the rest)";
  }
  if (uri.find('#') != std::string_view::npos) return "a redirect URI must not hold a fragment (RFC 6749 3.1.2)";
  bool https = false;
  std::string_view rest;
  if (uri.starts_with("https://")) {
    https = true;
    rest = uri.substr(8);
  } else if (uri.starts_with("http://")) {
    rest = uri.substr(7);
  } else {
    return "a redirect URI must be an absolute https URI (http only to a loopback host)";
  }
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.find('@') != std::string_view::npos) return "a redirect URI must not hold user information";
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return "a redirect URI's host is malformed";
    host = authority.substr(0, close + 1);
    const std::string_view inner = host.substr(1, host.size() - 2);
    if (inner.empty() || !std::all_of(inner.begin(), inner.end(), [](char c) {
          return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
        })) {
      return "a redirect URI's host is malformed";
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "a redirect URI's host is malformed";
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    if (!valid_host_name(host)) return "a redirect URI must name a host";
  }
  if (!port.empty() || authority.ends_with(':')) {
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit) ||
        std::stoul(std::string(port)) > 65535) {
      return "a redirect URI's port is malformed";
    }
  }
  if (!https && !loopback_host(host)) {
    return "a redirect URI must use https (http only to a loopback host, RFC 8252 7.3)";
  }
  return {};
}

hearth::unexpected<metadata_failure> bad_metadata(std::string description) {
  return hearth::unexpected(metadata_failure{"invalid_client_metadata", std::move(description)});
}

hearth::unexpected<metadata_failure> bad_redirect(std::string description) {
  return hearth::unexpected(metadata_failure{"invalid_redirect_uri", std::move(description)});
}

}  // namespace

hearth::result<client_entry, metadata_failure> client_from_metadata(const fhir::json_value& m,
                                                                    const resource_type_predicate& is_resource_type) {
  if (!m.is_object()) return bad_metadata("the client metadata must be a JSON object (RFC 7591 2)");
  client_entry c;

  // The keys are inline or nowhere: the server fetches nothing at run time
  // (DESIGN.md), so a jwks_uri could never be read.
  if (m.find("jwks_uri") != nullptr) {
    return bad_metadata("jwks_uri is not supported: send the public keys inline as jwks");
  }

  // token_endpoint_auth_method (RFC 7591 2; RFC 7523 2.2 private_key_jwt).
  // Required here: RFC 7591's default, client_secret_basic, needs a secret,
  // and Hearth's clients have none.
  const fhir::json_value* method = m.find("token_endpoint_auth_method");
  if (method == nullptr || !method->is_string() ||
      (method->str() != "none" && method->str() != "private_key_jwt")) {
    return bad_metadata(
        "token_endpoint_auth_method must be \"none\" (public) or \"private_key_jwt\" (confidential-asymmetric)");
  }
  c.config.type = method->str() == "none" ? auth_client_type::public_client : auth_client_type::confidential_asymmetric;
  const bool confidential = c.config.type == auth_client_type::confidential_asymmetric;

  // grant_types: RFC 7591 2, default ["authorization_code"].
  std::vector<std::string> grants;
  if (const fhir::json_value* g = m.find("grant_types")) {
    if (!g->is_array() || g->size() == 0 || g->size() > known_grants.size()) {
      return bad_metadata("grant_types must be a list of authorization_code, refresh_token, client_credentials");
    }
    for (const fhir::json_value& item : g->items()) {
      if (!item.is_string() || std::find(known_grants.begin(), known_grants.end(), item.str()) == known_grants.end()) {
        return bad_metadata("grant_types must be a list of authorization_code, refresh_token, client_credentials");
      }
      if (std::find(grants.begin(), grants.end(), item.str()) != grants.end()) {
        return bad_metadata("grant_types lists a grant type twice");
      }
      grants.push_back(item.str());
    }
  } else {
    grants.emplace_back("authorization_code");
  }
  const auto has = [&grants](std::string_view g) { return std::find(grants.begin(), grants.end(), g) != grants.end(); };
  // RFC 6749 4.4: client_credentials for confidential clients only.
  if (has("client_credentials") && !confidential) {
    return bad_metadata("client_credentials needs token_endpoint_auth_method private_key_jwt");
  }
  if (has("refresh_token") && !has("authorization_code")) {
    return bad_metadata("refresh_token comes with authorization_code (there is no other grant to refresh)");
  }
  for (std::string_view g : known_grants) {
    if (has(g)) c.grant_types.emplace_back(g);  // a fixed order: equal registrations compare equal
  }

  // response_types (RFC 7591 2.1: consistent with grant_types): "code" only.
  if (const fhir::json_value* r = m.find("response_types")) {
    if (!r->is_array() || r->size() != 1 || !r->items()[0].is_string() || r->items()[0].str() != "code" ||
        !has("authorization_code")) {
      return bad_metadata("response_types must be [\"code\"], with the authorization_code grant");
    }
  }

  // redirect_uris: RFC 7591 2, RFC 6749 3.1.2; exactly matched at authorize.
  if (const fhir::json_value* uris = m.find("redirect_uris")) {
    if (!uris->is_array()) return bad_redirect("redirect_uris must be a list of strings");
    if (uris->size() > max_redirect_uris) return bad_redirect("at most 20 redirect URIs");
    for (const fhir::json_value& u : uris->items()) {
      if (!u.is_string()) return bad_redirect("redirect_uris must be a list of strings");
      if (const std::string_view problem = redirect_uri_problem(u.str()); !problem.empty()) {
        return bad_redirect(std::string(problem));
      }
      if (std::find(c.config.redirect_uris.begin(), c.config.redirect_uris.end(), u.str()) !=
          c.config.redirect_uris.end()) {
        return bad_redirect("a redirect URI is listed twice");
      }
      c.config.redirect_uris.push_back(u.str());
    }
  }
  if (has("authorization_code") && c.config.redirect_uris.empty()) {
    return bad_redirect("the authorization_code grant needs at least one redirect URI");
  }
  if (!has("authorization_code") && !c.config.redirect_uris.empty()) {
    return bad_redirect("redirect URIs are for the authorization_code grant, which this client does not register");
  }

  // scope: SMART scopes, strictly (RFC 6749 3.3; the token endpoint's parser).
  const fhir::json_value* scope = m.find("scope");
  if (scope == nullptr || !scope->is_string()) {
    return bad_metadata("scope is required: the SMART scopes it may be granted");
  }
  auto parsed = parse_scopes(scope->str(), parse_mode::strict, is_resource_type);
  if (!parsed) return bad_metadata("scope does not parse (SMART App Launch 2.2 scopes, strictly)");
  const scope_set& allowed = parsed->scopes;
  if (allowed.resources.empty() && allowed.context == 0) return bad_metadata("scope grants nothing");
  const bool system_scopes = std::any_of(allowed.resources.begin(), allowed.resources.end(),
                                         [](const resource_scope& r) { return r.level == scope_level::system; });
  const bool user_scopes = std::any_of(allowed.resources.begin(), allowed.resources.end(),
                                       [](const resource_scope& r) { return r.level != scope_level::system; });
  const bool context_scopes = (allowed.context & ~context_scope::hearth_admin) != 0;
  // Each scope must be obtainable by a grant the client registers: system/
  // and hearth/admin only through client_credentials (SMART Backend
  // Services; auth_server.hpp), patient/, user/ and context scopes only
  // through a user's authorization_code.
  if ((system_scopes || allowed.has(context_scope::hearth_admin)) && !has("client_credentials")) {
    return bad_metadata("system/ scopes and hearth/admin need the client_credentials grant");
  }
  if ((user_scopes || context_scopes) && !has("authorization_code")) {
    return bad_metadata("patient/, user/ and launch or identity scopes need the authorization_code grant");
  }
  c.config.scope = to_string(allowed);
  c.allowed = allowed;

  // jwks: the public keys of a confidential-asymmetric client (RFC 7591 2;
  // SMART client-confidential-asymmetric), inline.
  const fhir::json_value* jwks = m.find("jwks");
  if (!confidential) {
    if (jwks != nullptr) return bad_metadata("a public client (token_endpoint_auth_method none) has no keys");
  } else {
    if (jwks == nullptr || !jwks->is_object()) {
      return bad_metadata("private_key_jwt needs jwks: a JWK Set ({\"keys\": [...]}) of RS384 or ES384 public keys");
    }
    auto set = jwt::key_set::from_jwks(fhir::to_json(*jwks));
    // jwt's messages say what is wrong with a key, never its material.
    if (!set) return bad_metadata("jwks is not a usable JWK Set: " + set.error().message);
    if (set->keys().size() > max_client_keys) return bad_metadata("jwks holds more than 10 keys");
    if (auto ok = check_client_keys(*set); !ok) return bad_metadata("jwks " + ok.error().message);
    c.config.keys = std::move(*set);
  }

  // client_name (RFC 7591 2): shown on the login page (escaped there).
  if (const fhir::json_value* name = m.find("client_name")) {
    if (!name->is_string() || name->str().empty() || name->str().size() > max_client_name_bytes ||
        std::any_of(name->str().begin(), name->str().end(),
                    [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F; })) {
      return bad_metadata("client_name must be 1 to 200 bytes of text without control characters");
    }
    c.client_name = name->str();
  }
  return c;
}

fhir::json_value client_metadata(const client_entry& c) {
  using fhir::json_value;
  json_value o = json_value::object();
  o.set("client_id", c.config.client_id);
  if (c.registered) o.set("client_id_issued_at", json_value::number(std::to_string(c.issued_at)));
  if (!c.client_name.empty()) o.set("client_name", c.client_name);
  const bool confidential = c.config.type == auth_client_type::confidential_asymmetric;
  o.set("token_endpoint_auth_method", confidential ? "private_key_jwt" : "none");
  // A configured client may use every grant its type allows.
  std::vector<std::string> grants = c.grant_types;
  if (grants.empty()) {
    grants = {"authorization_code", "refresh_token"};
    if (confidential) grants.emplace_back("client_credentials");
  }
  json_value g = json_value::array();
  for (const std::string& s : grants) g.push_back(json_value(s));
  o.set("grant_types", std::move(g));
  if (c.allows("authorization_code")) {
    json_value r = json_value::array();
    r.push_back(json_value("code"));
    o.set("response_types", std::move(r));
  }
  if (!c.config.redirect_uris.empty()) {
    json_value u = json_value::array();
    for (const std::string& s : c.config.redirect_uris) u.push_back(json_value(s));
    o.set("redirect_uris", std::move(u));
  }
  o.set("scope", c.config.scope);
  if (confidential) o.set("jwks", c.config.keys.to_jwks());
  return o;
}

}  // namespace detail

using namespace detail;

namespace {

/// Whether `id` can be a client_id in a path: RFC 6749 A.1 VSCHAR without
/// spaces, as the configuration requires, and no '/'.
bool path_client_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 &&
         std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7F && c != '/'; });
}

bool is_json(const http_request& req) {
  const auto type = req.header("Content-Type");
  return type && text::iequals(text::trim(type->substr(0, type->find(';'))), "application/json");
}

}  // namespace

http_response auth_server::impl::registration(const http_request& req, std::string_view id) const {
  auth_event ev;
  ev.endpoint = "register";
  ev.operation = req.method == "POST" ? "create" : req.method == "DELETE" ? "delete" : "read";
  auto answer = [&](http_response r) {
    ev.status = r.status;
    ev.success = r.status < 400;
    emit(ev, req);
    return r;
  };
  auto refuse = [&](int status, std::string error, std::string_view description) {
    ev.error = error;
    return answer(oauth_error(status, error, description));
  };

  const bool one = !id.empty();
  if (one ? (req.method != "GET" && req.method != "DELETE") : (req.method != "GET" && req.method != "POST")) {
    ev.error = "invalid_request";
    http_response r = oauth_error(405, "invalid_request", "method not allowed here");
    r.set_header("Allow", one ? "GET, DELETE" : "GET, POST");
    return answer(std::move(r));
  }

  // 1. Who asks: an administrator's bearer token (RFC 6750 2.1, 3.1).
  const http_header* authorization = nullptr;
  for (const http_header& h : req.headers) {
    if (!text::iequals(h.name, "Authorization")) continue;
    if (authorization != nullptr) {
      ev.error = "invalid_request";
      http_response r = oauth_error(400, "invalid_request", "more than one Authorization header");
      r.set_header("WWW-Authenticate", challenge("invalid_request", "more than one Authorization header"));
      return answer(std::move(r));
    }
    authorization = &h;
  }
  std::string_view token;
  if (authorization != nullptr) {
    const std::string_view value = text::trim(authorization->value);
    const std::size_t sp = value.find(' ');
    if (sp != std::string_view::npos && text::iequals(value.substr(0, sp), "Bearer")) {
      token = text::trim(value.substr(sp));
    }
  }
  if (token.empty()) {
    // RFC 6750 3.1: no credentials, no error code in the challenge.
    ev.error = "invalid_token";
    http_response r = oauth_error(401, "invalid_token", "an administrator's access token is required (Bearer)");
    r.set_header("WWW-Authenticate", challenge());
    return answer(std::move(r));
  }
  auto who = opts.verify_access_token(token);
  if (!who) {
    const bool expired = who.error().code == "expired";
    const std::string_view why = expired ? "the access token has expired" : "the access token is not valid";
    ev.error = "invalid_token";
    http_response r = oauth_error(401, "invalid_token", why);
    r.set_header("WWW-Authenticate", challenge("invalid_token", why));
    return answer(std::move(r));
  }
  const principal& admin = **who;
  ev.client_id = admin.client_id;
  ev.subject = admin.subject;
  ev.jti = admin.jti;
  if (!admin.scopes.has(context_scope::hearth_admin)) {
    // RFC 6750 3.1 insufficient_scope: 403, naming the scope needed.
    ev.error = "insufficient_scope";
    http_response r = oauth_error(403, "insufficient_scope", "the access token lacks the hearth/admin scope");
    r.set_header("WWW-Authenticate",
                 challenge("insufficient_scope", "the access token lacks the hearth/admin scope", "hearth/admin"));
    return answer(std::move(r));
  }

  // The registered clients as clients.json holds them (under mu).
  auto registry = [this](std::string_view without) {
    std::vector<const client_entry*> list;
    for (const auto& [cid, c] : clients) {
      if (c->registered && cid != without) list.push_back(c.get());
    }
    std::sort(list.begin(), list.end(),
              [](const client_entry* a, const client_entry* b) { return a->config.client_id < b->config.client_id; });
    fhir::json_value arr = fhir::json_value::array();
    for (const client_entry* c : list) arr.push_back(client_metadata(*c));
    fhir::json_value doc = fhir::json_value::object();
    doc.set("clients", std::move(arr));
    return doc;
  };
  auto shown = [](const client_entry& c) {
    fhir::json_value m = client_metadata(c);
    m.set("hearth_source", c.registered ? "registration" : "configuration");
    return m;
  };

  // 2. The interaction.
  if (req.method == "GET" && !one) {
    // Every client, registered and configured, by client_id.
    std::vector<std::shared_ptr<const client_entry>> all;
    {
      std::lock_guard lock(mu);
      for (const auto& [cid, c] : clients) all.push_back(c);
    }
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a->config.client_id < b->config.client_id; });
    fhir::json_value arr = fhir::json_value::array();
    for (const auto& c : all) arr.push_back(shown(*c));
    fhir::json_value body = fhir::json_value::object();
    body.set("clients", std::move(arr));
    return answer(json_response(200, body));
  }

  if (one) {
    if (!path_client_id(id)) return refuse(404, "invalid_request", "no such client");
    ev.registered_client = std::string(id);
    if (req.method == "GET") {
      const auto c = find_client(id);
      if (!c) return refuse(404, "invalid_request", "no such client");
      return answer(json_response(200, shown(*c)));
    }
    // DELETE (RFC 7592 2.3): gone from clients.json first, then from memory;
    // its refresh-token families are revoked with it.
    std::optional<oauth_failure> failure;
    {
      std::lock_guard lock(mu);
      auto it = clients.find(std::string(id));
      if (it == clients.end()) {
        failure = oauth_failure{404, "invalid_request", "no such client"};
      } else if (!it->second->registered) {
        failure = oauth_failure{409, "invalid_request",
                                "this client comes from the configuration file and cannot be deleted here: remove it "
                                "from the configuration"};
      } else if (!write_client_file(opts.state_dir, registry(id))) {
        failure = oauth_failure{500, "server_error", "cannot write the client registry"};
      } else {
        clients.erase(it);
        if (!store->revoke_client(std::string(id), to_unix(now()))) {
          // The client is gone (its refresh tokens cannot be used without
          // it); the revocation of its access tokens is what failed.
          failure = oauth_failure{500, "server_error", "the client is deleted, but its tokens could not be revoked"};
        }
      }
    }
    if (failure) return refuse(failure->status, failure->error, failure->description);
    http_response r;
    r.status = 204;  // RFC 7592 2.3
    r.set_header("Cache-Control", "no-store");
    r.set_header("Pragma", "no-cache");
    return answer(std::move(r));
  }

  // POST: a registration (RFC 7591 3.1).
  if (!is_json(req)) return refuse(400, "invalid_client_metadata", "the body must be application/json (RFC 7591 3.1)");
  if (req.body.size() > max_registration_bytes) {
    return refuse(413, "invalid_client_metadata", "the request is larger than 64 KiB");
  }
  fhir::json_read_options jo;
  jo.fhir_rules = false;
  jo.max_bytes = max_registration_bytes;
  jo.max_depth = 8;  // {"jwks":{"keys":[{"x5c":[...]}]}} is 5 deep
  jo.max_items = 1000;
  auto body = fhir::parse_json(req.body, jo);
  if (!body || !body->is_object()) {
    return refuse(400, "invalid_client_metadata", "the body must be one JSON object without duplicate members");
  }
  auto entry = client_from_metadata(*body, opts.is_resource_type);
  if (!entry) return refuse(400, entry.error().error, entry.error().description);
  entry->registered = true;
  entry->issued_at = to_unix(now());
  entry->config.client_id = random_token();  // 256 random bits: unguessable, never reused
  const std::string client_id = entry->config.client_id;
  auto stored = std::make_shared<const client_entry>(std::move(*entry));
  std::optional<oauth_failure> failure;
  {
    std::lock_guard lock(mu);
    const auto registered = static_cast<std::size_t>(
        std::count_if(clients.begin(), clients.end(), [](const auto& kv) { return kv.second->registered; }));
    if (registered >= max_registered_clients) {
      failure = oauth_failure{409, "invalid_request", "the registry is full (1000 clients): delete one first"};
    } else {
      fhir::json_value doc = registry({});
      doc.find("clients")->push_back(client_metadata(*stored));
      // Written before the client exists in memory: a registration
      // answered is one that survives a restart.
      if (!write_client_file(opts.state_dir, doc)) {
        failure = oauth_failure{500, "server_error", "cannot write the client registry"};
      } else {
        clients.emplace(client_id, stored);
      }
    }
  }
  if (failure) return refuse(failure->status, failure->error, failure->description);
  ev.registered_client = client_id;
  // RFC 7591 3.2.1: 201 with the client information (no client_secret:
  // Hearth's clients have none).
  http_response r = json_response(201, client_metadata(*stored));
  r.set_header("Location", url("register/" + client_id));
  return answer(std::move(r));
}

}  // namespace hearth::server::auth
