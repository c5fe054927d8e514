// Token introspection (RFC 7662) and revocation (RFC 7009).

#include <hearth/server/auth_server.hpp>

#include <algorithm>
#include <mutex>
#include <string>

#include <hearth/core/text.hpp>

#include "auth_server_detail.hpp"

namespace hearth::server::auth {

using namespace detail;

namespace {

bool is_form(const http_request& req) {
  const auto type = req.header("Content-Type");
  return type && text::iequals(text::trim(type->substr(0, type->find(';'))), "application/x-www-form-urlencoded");
}

/// A compact JWS has exactly two dots; our refresh tokens have none.
bool looks_like_jwt(std::string_view t) {
  const std::size_t a = t.find('.');
  return a != std::string_view::npos && t.find('.', a + 1) != std::string_view::npos;
}

/// Verification of this server's own access tokens (as token_verifier
/// does: typ at+jwt so an id_token is never taken for one, iss = aud = base).
jwt::verify_options own_token_options(const auth_server_options& opts) {
  jwt::verify_options vo;
  vo.allowed_algs = {jwt::algorithm::es256, jwt::algorithm::es384, jwt::algorithm::rs256, jwt::algorithm::rs384};
  vo.issuer = opts.base_url;
  vo.audience = opts.base_url;
  vo.typ = "at+jwt";
  // Our own tokens on our own clock: expired means expired (no skew to allow for).
  vo.leeway = std::chrono::seconds(0);
  vo.clock = opts.clock;
  return vo;
}

}  // namespace

hearth::result<auth_server::impl::token_post, oauth_failure> auth_server::impl::read_token_request(
    const http_request& req, std::string_view endpoint, bool require_assertion, std::string& client_id) const {
  auto refused = [](std::string description) {
    return hearth::unexpected(oauth_failure{400, "invalid_request", std::move(description)});
  };
  if (!is_form(req)) return refused("the body must be application/x-www-form-urlencoded");
  if (req.body.size() > max_form_bytes) return refused("the request is too large");
  auto f = parse_form(req.body);
  if (!f) return refused("the form cannot be read");
  client_id = std::string(f->get("client_id").value_or(""));
  auto who = authenticate(*f, {url(endpoint), url("token")}, require_assertion);
  if (!who) return hearth::unexpected(std::move(who).error());
  client_id = who->client->config.client_id;
  if (f->repeated("token")) return refused("a parameter is repeated");
  const auto token = f->get("token");
  if (!token) return refused("token is required");
  return token_post{std::move(*who), std::string(*token)};
}

http_response auth_server::impl::introspect(const http_request& req) const {
  auth_event ev;
  ev.endpoint = "introspect";
  auto refuse = [&](int status, std::string error, std::string description) {
    ev.success = false;
    ev.error = error;
    emit(ev, req);
    return oauth_error(status, error, description);
  };
  // RFC 7662 2.1: "the endpoint MUST also require some form of
  // authorization": a confidential client's private_key_jwt assertion.
  auto asked = read_token_request(req, "introspect", true, ev.client_id);
  if (!asked) return refuse(asked.error().status, asked.error().error, asked.error().description);
  const client_entry& caller = *asked->who.client;
  const std::string* token = &asked->token;
  // Who may learn about a token: a client about its own, a client
  // configured with "introspect" (a resource server) about any.
  auto may_see = [&](std::string_view token_client) {
    return caller.config.introspect || token_client == caller.config.client_id;
  };
  fhir::json_value inactive = fhir::json_value::object();
  inactive.set("active", false);  // RFC 7662 2.2: nothing else for an inactive token
  ev.success = true;
  const std::int64_t now_s = to_unix(now());

  if (looks_like_jwt(*token)) {
    auto v = jwt::verify(*token, own_keys, own_token_options(opts));
    if (!v) {
      emit(ev, req);
      return json_response(200, inactive);
    }
    const fhir::json_value& c = v->claims;
    const std::string jti = str_member(c, "jti");
    bool revoked = false;
    {
      std::lock_guard lock(mu);
      revoked = store->is_revoked(jti, now_s);
    }
    if (revoked || !may_see(str_member(c, "client_id"))) {
      emit(ev, req);
      return json_response(200, inactive);
    }
    fhir::json_value r = fhir::json_value::object();
    r.set("active", true);
    for (std::string_view name : {"scope", "client_id", "sub", "iss", "jti", "patient", "encounter", "fhirUser"}) {
      const std::string value = str_member(c, name);
      if (!value.empty()) r.set(name, value);
    }
    for (std::string_view name : {"exp", "iat"}) {
      if (auto n = int_member(c, name)) r.set(name, fhir::json_value::number(std::to_string(*n)));
    }
    r.set("aud", opts.base_url);
    r.set("token_type", "Bearer");
    ev.jti = jti;
    ev.subject = str_member(c, "sub");
    ev.patient = str_member(c, "patient");
    emit(ev, req);
    return json_response(200, r);
  }

  refresh_record rec;
  {
    std::lock_guard lock(mu);
    const refresh_record* found = store->find_refresh(sha256_b64url(*token), now_s);
    const family_record* fam = found != nullptr ? store->find_family(found->family) : nullptr;
    if (found == nullptr || found->spent || (fam != nullptr && fam->revoked) || !may_see(found->client_id)) {
      emit(ev, req);
      return json_response(200, inactive);
    }
    rec = *found;
  }
  fhir::json_value r = fhir::json_value::object();
  r.set("active", true);
  r.set("scope", rec.scope);
  r.set("client_id", rec.client_id);
  r.set("sub", rec.subject);
  r.set("iss", opts.base_url);
  r.set("exp", fhir::json_value::number(std::to_string(rec.exp)));
  if (!rec.patient.empty()) r.set("patient", rec.patient);
  if (!rec.encounter.empty()) r.set("encounter", rec.encounter);
  if (!rec.fhir_user.empty()) r.set("fhirUser", rec.fhir_user);
  ev.subject = rec.subject;
  ev.patient = rec.patient;
  emit(ev, req);
  return json_response(200, r);
}

http_response auth_server::impl::revoke(const http_request& req) const {
  auth_event ev;
  ev.endpoint = "revoke";
  auto refuse = [&](int status, std::string error, std::string description) {
    ev.success = false;
    ev.error = error;
    emit(ev, req);
    return oauth_error(status, error, description);
  };
  // RFC 7009 2.1: the client authenticates as at the token endpoint.
  auto asked = read_token_request(req, "revoke", false, ev.client_id);
  if (!asked) return refuse(asked.error().status, asked.error().error, asked.error().description);
  const client_entry& caller = *asked->who.client;
  const std::string* token = &asked->token;
  // token_type_hint is only a hint (RFC 7009 2.1): both kinds are tried, by
  // their form.
  const std::int64_t now_s = to_unix(now());
  http_response ok = json_response(200, fhir::json_value::object());
  ok.body.clear();
  ok.headers.erase(std::remove_if(ok.headers.begin(), ok.headers.end(),
                                  [](const http_header& h) { return text::iequals(h.name, "Content-Type"); }),
                   ok.headers.end());
  ev.success = true;

  if (looks_like_jwt(*token)) {
    // The signature only: a token expired for longer than the verifier's
    // leeway needs no revocation, and one we did not sign is not ours.
    auto v = jwt::verify_signature(*token, own_keys, own_token_options(opts));
    if (v && str_member(v->claims, "iss") == opts.base_url &&
        str_member(v->claims, "client_id") == caller.config.client_id) {
      const std::string jti = str_member(v->claims, "jti");
      const auto exp = int_member(v->claims, "exp");
      if (!jti.empty() && exp && *exp + revocation_margin.count() > now_s) {
        bool recorded = false;
        {
          std::lock_guard lock(mu);
          recorded = static_cast<bool>(store->revoke(jti, *exp, now_s));
        }
        ev.jti = jti;
        if (!recorded) {
          // RFC 7009 2.2.1: 503 when the revocation could not be done now.
          return refuse(503, "temporarily_unavailable", "the revocation could not be recorded");
        }
      }
    }
    // RFC 7009 2.2: 200 also for an invalid token, or (here) another client's.
    emit(ev, req);
    return ok;
  }

  bool recorded = true;
  {
    std::lock_guard lock(mu);
    const refresh_record* found = store->find_refresh(sha256_b64url(*token), now_s);
    if (found != nullptr && found->client_id == caller.config.client_id) {
      // RFC 7009 2.1: the whole grant goes: the family's refresh tokens and
      // the access tokens issued with them.
      ev.subject = found->subject;
      recorded = static_cast<bool>(store->revoke_family(found->family, now_s));
    }
  }
  if (!recorded) return refuse(503, "temporarily_unavailable", "the revocation could not be recorded");
  emit(ev, req);
  return ok;
}

}  // namespace hearth::server::auth
