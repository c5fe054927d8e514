// The token endpoint (RFC 6749 3.2, 4.1.3, 4.4, 6; PKCE RFC 7636 4.5-4.6;
// RFC 7523 2.2; SMART App Launch 2.2 app-launch and backend-services).

#include <hearth/server/auth_server.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <hearth/core/text.hpp>

#include "auth_server_detail.hpp"

namespace hearth::server::auth {

using namespace detail;

namespace {

/// RFC 7636 4.1: code_verifier = 43*128unreserved.
bool valid_verifier(std::string_view v) {
  return v.size() >= 43 && v.size() <= 128 && std::all_of(v.begin(), v.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '.' || c == '_' || c == '~';
         });
}

bool is_form(const http_request& req) {
  const auto type = req.header("Content-Type");
  return type && text::iequals(text::trim(type->substr(0, type->find(';'))), "application/x-www-form-urlencoded");
}

}  // namespace

http_response auth_server::impl::token(const http_request& req) const {
  auth_event ev;
  ev.endpoint = "token";
  auto refuse = [&](int status, std::string error, std::string description) {
    ev.error = error;
    emit(ev, req);
    http_response r = oauth_error(status, error, description);
    return r;
  };
  auto refuse_with = [&](const oauth_failure& f) { return refuse(f.status, f.error, f.description); };

  // RFC 6749 3.2: POST with application/x-www-form-urlencoded; credentials
  // never in the URL (RFC 6749 2.3.1 "MUST NOT be included in the request URI").
  if (!is_form(req)) return refuse(400, "invalid_request", "the body must be application/x-www-form-urlencoded");
  if (req.target.find('?') != std::string::npos) return refuse(400, "invalid_request", "parameters belong in the body");
  if (req.body.size() > max_form_bytes) return refuse(400, "invalid_request", "the request is too large");
  if (req.header("Authorization")) {
    // client_secret_basic is not supported: Hearth's clients have no secrets.
    return refuse(401, "invalid_client", "HTTP Basic client authentication is not supported");
  }
  auto f = parse_form(req.body);
  if (!f) return refuse(400, "invalid_request", "the form cannot be read");
  for (std::string_view name : {"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope"}) {
    if (f->repeated(name)) return refuse(400, "invalid_request", "a parameter is repeated (RFC 6749 3.2)");
  }
  const std::string grant_type(f->get("grant_type").value_or(""));
  ev.grant_type = grant_type;
  if (grant_type.empty()) return refuse(400, "invalid_request", "grant_type is required");
  if (grant_type != "authorization_code" && grant_type != "refresh_token" && grant_type != "client_credentials") {
    ev.grant_type.clear();  // not one of ours: not worth recording as given
    return refuse(400, "unsupported_grant_type", "grant_type must be authorization_code, refresh_token or "
                                                 "client_credentials");
  }
  if (grant_type == "refresh_token" && !f->get("client_id") && !f->get("client_assertion") &&
      !f->get("client_assertion_type")) {
    // SMART App Launch 2.2 "Refresh access token": a public app sends only
    // grant_type, refresh_token (and scope); RFC 6749 6 asks authentication
    // of confidential clients only. The client is then the public client
    // the refresh token was issued to; a confidential client's token still
    // needs its assertion (authenticate refuses the form without one).
    if (const auto token = f->get("refresh_token")) {
      std::string owner;
      {
        std::lock_guard lock(mu);
        if (const refresh_record* found = store->find_refresh(sha256_b64url(*token), to_unix(this->now()))) {
          owner = found->client_id;
        }
      }
      const auto owner_client = owner.empty() ? nullptr : find_client(owner);
      if (owner_client && owner_client->config.type == auth_client_type::public_client) {
        f->params.emplace_back("client_id", owner);
      }
    }
  }
  ev.client_id = std::string(f->get("client_id").value_or(""));
  auto who = authenticate(*f, {url("token")}, grant_type == "client_credentials");
  if (!who) {
    // A public client using client_credentials is unauthorized_client (RFC
    // 6749 4.4: confidential clients only), not an authentication failure.
    if (grant_type == "client_credentials" && !f->get("client_assertion") && !f->get("client_assertion_type")) {
      const auto named = find_client(ev.client_id);
      if (named && named->config.type == auth_client_type::public_client) {
        return refuse(400, "unauthorized_client", "client_credentials is for confidential clients");
      }
    }
    return refuse_with(who.error());
  }
  const client_entry& client = *who->client;
  ev.client_id = client.config.client_id;
  // A registered client uses the grant_types it registered (RFC 7591 2;
  // RFC 6749 5.2 unauthorized_client).
  if (!client.allows(grant_type)) {
    return refuse(400, "unauthorized_client", "this client did not register this grant type");
  }
  const time_point now = this->now();

  grant g;
  g.grant_type = grant_type;
  g.client_id = client.config.client_id;

  if (grant_type == "authorization_code") {
    const auto code = f->get("code");
    const auto redirect_uri = f->get("redirect_uri");
    const auto verifier = f->get("code_verifier");
    if (!code || !redirect_uri) return refuse(400, "invalid_request", "code and redirect_uri are required");
    if (!verifier) return refuse(400, "invalid_request", "code_verifier is required (PKCE)");
    code_record c;
    bool known = true;
    {
      std::lock_guard lock(mu);
      auto it = codes.find(sha256_b64url(*code));
      if (it == codes.end() || (!it->second.used && it->second.expires <= now)) {
        known = false;
      } else if (it->second.used) {
        // RFC 6749 4.1.2: used twice: refused, and what it issued revoked.
        c = it->second;
        it->second.issued_jti.clear();
        it->second.issued_family.clear();
      } else {
        // Single use: spent by this attempt whatever its outcome, so that a
        // code cannot be tried twice (RFC 6749 4.1.2 "MUST NOT be used more
        // than once").
        it->second.used = true;
        it->second.forget_at = now + used_code_memory;
        c = it->second;
        c.used = false;
      }
    }
    if (!known) return refuse(400, "invalid_grant", "the code is unknown or has expired");
    if (c.used) {
      revoke_issued(c.issued_jti, c.issued_exp, c.issued_family);
      ev.jti = c.issued_jti;
      return refuse(400, "invalid_grant", "the code was used before; the tokens it issued are revoked");
    }
    // RFC 6749 4.1.3: issued to this client, for this redirect URI.
    if (c.client_id != client.config.client_id) return refuse(400, "invalid_grant", "the code was issued to another client");
    if (c.redirect_uri != *redirect_uri) return refuse(400, "invalid_grant", "redirect_uri differs from the authorize request's");
    // RFC 7636 4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge.
    if (!valid_verifier(*verifier) || !equal_ct(sha256_b64url(*verifier), c.code_challenge)) {
      return refuse(400, "invalid_grant", "code_verifier does not match the code_challenge");
    }
    auto scopes = parse_scopes(c.scope, parse_mode::strict, opts.is_resource_type);
    if (!scopes) return refuse(500, "server_error", "internal error");
    g.subject = c.subject;
    g.fhir_user = c.fhir_user;
    g.patient = c.patient;
    g.encounter = c.encounter;
    g.nonce = c.nonce;
    g.scopes = std::move(scopes->scopes);
    // A refresh token only with offline_access (SMART App Launch 2.2
    // scopes-and-launch-context "offline_access").
    g.refresh = g.scopes.has(context_scope::offline_access) && client.allows("refresh_token");
    g.lifetime = opts.settings.access_token_lifetime;
    auto out = issue(g);
    if (!out) return refuse_with(out.error());
    {
      std::lock_guard lock(mu);
      auto it = codes.find(sha256_b64url(*code));
      if (it != codes.end()) {
        it->second.issued_jti = out->jti;
        it->second.issued_exp = out->exp;
        it->second.issued_family = out->family;
      }  // else swept meanwhile: nothing left to record a reuse against
    }
    ev.subject = g.subject;
    ev.patient = g.patient;
    ev.jti = out->jti;
    ev.scope = to_string(g.scopes);
    ev.success = true;
    emit(ev, req);
    return token_response(g, *out);
  }

  if (grant_type == "refresh_token") {
    const auto token = f->get("refresh_token");
    if (!token) return refuse(400, "invalid_request", "refresh_token is required");
    const std::string hash = sha256_b64url(*token);
    const std::int64_t now_s = to_unix(now);
    refresh_record r;
    std::optional<oauth_failure> failure;  // decided under the lock, answered outside it
    {
      std::lock_guard lock(mu);
      const refresh_record* found = store->find_refresh(hash, now_s);
      const family_record* fam = found != nullptr ? store->find_family(found->family) : nullptr;
      if (found == nullptr) {
        failure = oauth_failure{400, "invalid_grant", "the refresh token is unknown or has expired"};
      } else if (fam != nullptr && fam->revoked) {
        failure = oauth_failure{400, "invalid_grant", "the refresh token was revoked"};
      } else if (found->client_id != client.config.client_id) {
        // RFC 6749 6: "ensure that the refresh token was issued to the
        // authenticated client". Checked before the spent test so that
        // another client cannot revoke a family with a stolen, spent token.
        failure = oauth_failure{400, "invalid_grant", "the refresh token was issued to another client"};
      } else if (found->spent) {
        // Rotation reuse (OAuth 2.0 Security BCP, RFC 9700 4.14.2): one of
        // two parties holds a stolen token; revoke the whole family.
        const std::string family = found->family;
        failure = store->revoke_family(family, now_s)
                      ? oauth_failure{400, "invalid_grant", "the refresh token was used before; its grant is revoked"}
                      : oauth_failure{500, "server_error", "internal error"};
      } else {
        r = *found;
      }
    }
    if (failure) return refuse_with(*failure);
    auto original = parse_scopes(r.scope, parse_mode::strict, opts.is_resource_type);
    if (!original) return refuse(500, "server_error", "internal error");
    g.scopes = original->scopes;
    if (const auto scope = f->get("scope")) {
      // RFC 6749 6: the scope "MUST NOT include any scope not originally
      // granted"; narrowing is allowed.
      auto requested = parse_scopes(*scope, parse_mode::strict, opts.is_resource_type);
      if (!requested) return refuse(400, "invalid_scope", "the scope is malformed or unknown");
      if (!is_subset(requested->scopes, original->scopes)) {
        return refuse(400, "invalid_scope", "a refresh may narrow the scope, never widen it");
      }
      g.scopes = std::move(requested->scopes);
    }
    {
      // Rotation: the old token is spent before the new one exists; a
      // request refused above leaves it usable. Spent meanwhile by a
      // parallel request: that is a reuse like any other.
      std::lock_guard lock(mu);
      const refresh_record* again = store->find_refresh(hash, now_s);
      if (again == nullptr || again->spent) {
        failure = store->revoke_family(r.family, now_s)
                      ? oauth_failure{400, "invalid_grant", "the refresh token was used before; its grant is revoked"}
                      : oauth_failure{500, "server_error", "internal error"};
      } else if (!store->spend(hash, now_s)) {
        failure = oauth_failure{500, "server_error", "internal error"};
      }
    }
    if (failure) return refuse_with(*failure);
    g.subject = r.subject;
    g.fhir_user = r.fhir_user;
    g.patient = r.patient;
    g.encounter = r.encounter;
    g.family = r.family;
    // RFC 6749 6: a new refresh token carries the original scope, even when
    // this access token's is narrower.
    g.refresh_scope = r.scope;
    g.lifetime = opts.settings.access_token_lifetime;
    g.refresh = true;  // a stored refresh token means the grant held offline_access
    auto out = issue(g);
    if (!out) return refuse_with(out.error());
    ev.subject = g.subject;
    ev.patient = g.patient;
    ev.jti = out->jti;
    ev.scope = to_string(g.scopes);
    ev.success = true;
    emit(ev, req);
    return token_response(g, *out);
  }

  // client_credentials: SMART Backend Services (backend-services.html).
  if (!who->asserted) return refuse(401, "invalid_client", "client_credentials needs a private_key_jwt assertion");
  const auto scope = f->get("scope");
  if (!scope) return refuse(400, "invalid_scope", "scope is required");
  auto requested = parse_scopes(*scope, parse_mode::strict, opts.is_resource_type);
  if (!requested) return refuse(400, "invalid_scope", "the scope is malformed or unknown");
  // Backend Services: system/ scopes only; no user, no launch, no refresh.
  // Besides them, Hearth's hearth/admin (auth_server.hpp "Client registration").
  if ((requested->scopes.context & ~context_scope::hearth_admin) != 0 ||
      std::any_of(requested->scopes.resources.begin(), requested->scopes.resources.end(),
                  [](const resource_scope& r) { return r.level != scope_level::system; })) {
    return refuse(400, "invalid_scope", "client_credentials takes system/ scopes (and hearth/admin) only");
  }
  g.scopes = narrow(requested->scopes, client.allowed);
  if (g.scopes.resources.empty() && !g.scopes.has(context_scope::hearth_admin)) {
    return refuse(400, "invalid_scope", "none of the requested scopes is allowed for this client");
  }
  g.subject = client.config.client_id;
  // SECURITY.md / SMART Backend Services: access tokens at most 5 minutes.
  g.lifetime = std::min(opts.settings.backend_access_token_lifetime, max_assertion_lifetime);
  auto out = issue(g);
  if (!out) return refuse_with(out.error());
  ev.subject = g.subject;
  ev.jti = out->jti;
  ev.scope = to_string(g.scopes);
  ev.success = true;
  emit(ev, req);
  return token_response(g, *out);
}

}  // namespace hearth::server::auth
