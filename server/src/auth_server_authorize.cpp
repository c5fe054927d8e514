// The authorization endpoint (RFC 6749 3.1, 4.1.1-4.1.2; PKCE RFC 7636;
// SMART App Launch 2.2 app-launch): the request is checked, the user signs
// in on a plain HTML form, picks a patient when one is needed, and the
// client gets a code at its redirect URI.
//
// The pages: no script, every inserted text HTML-escaped, served with
// Content-Security-Policy "default-src 'none'; form-action 'self' <the
// redirect URI's origin>; frame-ancestors 'none'" (CSP3: form-action governs
// the redirect that follows a form submission, so the client's origin must
// be listed for the 303 to reach it; frame-ancestors against clickjacking)
// and Cache-Control: no-store. The form carries the id of a server-side
// pending authorisation and a CSRF token, never the request's parameters.

#include <hearth/server/auth_server.hpp>

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <hearth/core/text.hpp>
#include <hearth/server/password_hash.hpp>

#include "auth_server_detail.hpp"
#include "rest_target.hpp"

namespace hearth::server::auth {

using namespace detail;

namespace {

/// Text for HTML: the five characters that matter in text and in
/// double-quoted attributes (OWASP XSS Prevention, rule 1 and 2).
std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

/// The CSP source for a redirect URI: "https://host:port" or "scheme:"
/// (CSP3 2.3.1 host-source / scheme-source); empty when it holds a
/// character that could end the directive (config is checked, but the
/// header must not be injectable whatever it holds).
std::string csp_source(std::string_view uri) {
  std::string_view src;
  const std::size_t colon = uri.find(':');
  if (uri.substr(colon).starts_with("://")) {
    const std::size_t end = uri.find_first_of("/?", colon + 3);
    src = uri.substr(0, end);
  } else {
    src = uri.substr(0, colon + 1);
  }
  const bool clean = std::all_of(src.begin(), src.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '+' || c == ':' || c == '/' || c == '[' || c == ']';
  });
  return clean ? std::string(src) : std::string();
}

http_response html_page(int status, std::string_view title, const std::string& body, std::string_view form_origin) {
  http_response r;
  r.status = status;
  r.set_header("Content-Type", "text/html; charset=utf-8");
  std::string csp = "default-src 'none'; form-action 'self'";
  if (!form_origin.empty()) {
    csp += ' ';
    csp += form_origin;
  }
  csp += "; frame-ancestors 'none'; base-uri 'none'";
  r.set_header("Content-Security-Policy", csp);
  r.set_header("Cache-Control", "no-store");
  r.set_header("Pragma", "no-cache");
  r.set_header("X-Frame-Options", "DENY");
  r.set_header("Referrer-Policy", "no-referrer");
  r.body = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + esc(title) +
           " - Hearth</title></head>\n<body>\n<h1>" + esc(title) + "</h1>\n" + body + "</body></html>\n";
  return r;
}

/// RFC 6749 4.1.2.1: errors before the client and its redirect URI are
/// known are shown to the user, never redirected. `text` is fixed.
http_response error_page(int status, std::string_view text) {
  return html_page(status, "Authorisation refused", "<p>" + esc(text) + "</p>\n", {});
}

/// A redirect to `uri` with `params` added to its query (RFC 6749 4.1.2:
/// "retaining" the redirect URI's own query). 302 after a GET, 303 after
/// a POST (RFC 9110 15.4.4: the browser follows with a GET).
http_response redirect(int status, const std::string& uri, const std::vector<std::pair<std::string, std::string>>& params) {
  std::string loc = uri;
  char sep = uri.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [name, value] : params) {
    if (value.empty()) continue;
    loc += sep;
    loc += name;
    loc += '=';
    loc += rest::percent_encode(value);
    sep = '&';
  }
  http_response r;
  r.status = status;
  r.set_header("Location", loc);
  r.set_header("Cache-Control", "no-store");
  r.set_header("Pragma", "no-cache");
  r.set_header("Referrer-Policy", "no-referrer");
  return r;
}

/// RFC 7636 4.2: code_challenge = BASE64URL(SHA256(verifier)), 43 characters.
bool valid_s256_challenge(std::string_view c) {
  return c.size() == 43 && std::all_of(c.begin(), c.end(), [](char ch) {
           return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                  ch == '_';
         });
}

bool has_patient_scope(const scope_set& s) {
  return std::any_of(s.resources.begin(), s.resources.end(),
                     [](const resource_scope& r) { return r.level == scope_level::patient; });
}

}  // namespace

namespace {

/// The form fields every page of the flow carries.
std::string hidden_fields(const std::string& id, const std::string& csrf) {
  return "<input type=\"hidden\" name=\"pending\" value=\"" + esc(id) + "\">\n<input type=\"hidden\" name=\"csrf\" value=\"" +
         esc(csrf) + "\">\n";
}

http_response login_page(const std::string& action, const std::string& id, const pending_authorization& p,
                         std::string_view message) {
  std::string body = "<p>The application <strong>" + esc(p.client_id) + "</strong> asks for access:</p>\n<ul>\n";
  std::string scopes = to_string(p.scopes);
  std::string_view rest = scopes;
  while (!rest.empty()) {
    const std::size_t sp = rest.find(' ');
    body += "<li><code>" + esc(rest.substr(0, sp)) + "</code></li>\n";
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  body += "</ul>\n";
  if (!message.empty()) body += "<p role=\"alert\"><strong>" + esc(message) + "</strong></p>\n";
  body += "<form method=\"post\" action=\"" + esc(action) + "\">\n" + hidden_fields(id, p.csrf) +
          "<p><label>Username <input name=\"username\" autocomplete=\"username\" required></label></p>\n"
          "<p><label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" "
          "required></label></p>\n"
          "<p><button type=\"submit\" name=\"action\" value=\"login\">Sign in</button>\n"
          "<button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>Cancel</button></p>\n</form>\n";
  return html_page(200, "Sign in", body, csp_source(p.redirect_uri));
}

http_response picker_page(const std::string& action, const std::string& id, const pending_authorization& p,
                          const auth_user& user, std::string_view message) {
  std::string body = "<p>Choose the patient <strong>" + esc(p.client_id) + "</strong> may access.</p>\n";
  if (!message.empty()) body += "<p role=\"alert\"><strong>" + esc(message) + "</strong></p>\n";
  body += "<form method=\"post\" action=\"" + esc(action) + "\">\n" + hidden_fields(id, p.csrf) + "<fieldset>\n";
  for (const std::string& patient : user.patients) {
    body += "<p><label><input type=\"radio\" name=\"patient\" value=\"" + esc(patient) + "\" required> Patient/" +
            esc(patient) + "</label></p>\n";
  }
  body += "</fieldset>\n<p><button type=\"submit\" name=\"action\" value=\"patient\">Continue</button>\n"
          "<button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>Cancel</button></p>\n</form>\n";
  return html_page(200, "Choose a patient", body, csp_source(p.redirect_uri));
}

}  // namespace

http_response auth_server::impl::authorize_get(const http_request& req) const {
  auth_event ev;
  ev.endpoint = "authorize";
  auto refuse_page = [&](std::string error, std::string_view text) {
    ev.error = std::move(error);
    emit(ev, req);
    return error_page(400, text);
  };
  const std::string_view target = req.target;
  const std::size_t q = target.find('?');
  auto f = parse_form(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
  if (!f) return refuse_page("invalid_request", "The authorisation request cannot be read.");

  // 1. The client and its redirect URI; until both are known, errors are
  //    shown here (RFC 6749 4.1.2.1: "MUST NOT automatically redirect").
  if (f->repeated("client_id") || f->repeated("redirect_uri")) {
    return refuse_page("invalid_request", "A parameter of the request is repeated.");
  }
  const auto client_id = f->get("client_id");
  if (!client_id) return refuse_page("invalid_request", "The request names no application (client_id).");
  ev.client_id = *client_id;
  const auto client_ptr = find_client(*client_id);
  if (!client_ptr) return refuse_page("invalid_client", "The application is not registered here.");
  const client_entry& client = *client_ptr;
  const auto redirect_uri = f->get("redirect_uri");
  if (!redirect_uri) return refuse_page("invalid_request", "The request has no redirect_uri.");
  // Exact match, byte for byte (RFC 6749 3.1.2.3; OAuth 2.0 Security BCP 4.1.3).
  const auto& uris = client.config.redirect_uris;
  if (std::find(uris.begin(), uris.end(), *redirect_uri) == uris.end()) {
    return refuse_page("invalid_request", "The redirect_uri is not registered for this application.");
  }
  const std::string uri(*redirect_uri);

  // 2. Everything else goes back to the client (RFC 6749 4.1.2.1).
  std::string state;
  auto refuse = [&](std::string error, std::string description) {
    ev.error = error;
    emit(ev, req);
    return redirect(302, uri, {{"error", std::move(error)}, {"error_description", std::move(description)},
                               {"state", state}});
  };
  for (std::string_view name : {"state", "response_type", "scope", "aud", "code_challenge", "code_challenge_method",
                                "launch", "nonce"}) {
    if (f->repeated(name)) return refuse("invalid_request", "a parameter is repeated (RFC 6749 3.1)");
  }
  const auto state_param = f->get("state");
  if (state_param && state_param->size() > max_state_bytes) return refuse("invalid_request", "state is too long");
  if (state_param) state = std::string(*state_param);
  // SMART App Launch 2.2 app-launch "state: REQUIRED" (CSRF protection of the app).
  if (!state_param) return refuse("invalid_request", "state is required");
  // A registered client uses the grant_types it registered (RFC 7591 2).
  if (!client.allows("authorization_code")) {
    return refuse("unauthorized_client", "this client did not register the authorization_code grant");
  }
  if (f->get("response_type") != std::optional<std::string_view>("code")) {
    return refuse("unsupported_response_type", "only response_type=code is supported");
  }
  const auto scope = f->get("scope");
  if (!scope) return refuse("invalid_scope", "scope is required");
  auto parsed = parse_scopes(*scope, parse_mode::strict, opts.is_resource_type);
  if (!parsed) return refuse("invalid_scope", "the scope is malformed or unknown");
  // SMART App Launch 2.2: aud is the FHIR base URL the app means to use;
  // a token for another server must not be issued (phishing of tokens).
  if (f->get("aud") != std::optional<std::string_view>(opts.base_url)) {
    return refuse("invalid_request", "aud must be this server's FHIR base URL");
  }
  // RFC 7636 4.3, 4.4.1: PKCE required, S256 only (SMART App Launch 2.2:
  // "plain" SHALL NOT be supported).
  const auto method = f->get("code_challenge_method");
  const auto challenge = f->get("code_challenge");
  if (!challenge) return refuse("invalid_request", "code_challenge is required (PKCE)");
  if (!method || *method != "S256") return refuse("invalid_request", "code_challenge_method must be S256");
  if (!valid_s256_challenge(*challenge)) return refuse("invalid_request", "code_challenge is malformed");
  const auto nonce = f->get("nonce");
  if (nonce && nonce->size() > max_nonce_bytes) return refuse("invalid_request", "nonce is too long");

  pending_authorization p;
  p.client_id = client.config.client_id;
  p.redirect_uri = uri;
  p.state = state;
  p.nonce = nonce ? std::string(*nonce) : std::string();
  p.code_challenge = std::string(*challenge);
  p.scopes = narrow(parsed->scopes, client.allowed);
  // hearth/admin never through a user's sign-in (auth_server.hpp "Client
  // registration"): users have no roles, so any of them would become an
  // administrator. RFC 6749 3.3 lets the server ignore a requested scope.
  p.scopes.context = static_cast<context_bits>(p.scopes.context & ~context_scope::hearth_admin);
  // A registered client without the refresh_token grant gets no refresh
  // token, so offline_access is not granted either (RFC 6749 3.3).
  if (!client.allows("refresh_token")) {
    p.scopes.context = static_cast<context_bits>(p.scopes.context & ~context_scope::offline_access);
  }
  if (p.scopes.resources.empty() && p.scopes.context == 0) {
    return refuse("invalid_scope", "none of the requested scopes is allowed for this application");
  }

  const time_point now = this->now();
  // EHR launch (SMART App Launch 2.2 "launch"): the context comes from the
  // launch id the EHR minted.
  const auto launch = f->get("launch");
  if (launch) {
    bool known = false;
    {
      std::lock_guard lock(mu);
      auto it = launches.find(std::string(*launch));
      known = it != launches.end() && it->second.expires > now &&
              (it->second.client_id.empty() || it->second.client_id == p.client_id);
      if (known) {
        p.patient = it->second.patient;
        p.encounter = it->second.encounter;
      }
    }
    if (!known) return refuse("invalid_request", "the launch is unknown or has expired");
  } else if (p.scopes.has(context_scope::launch)) {
    return refuse("invalid_request", "the launch scope needs a launch parameter (EHR launch)");
  }
  // A patient in context is needed for launch/patient and for patient/
  // scopes (SECURITY.md: patient/ scopes without a patient grant nothing).
  p.need_patient = p.patient.empty() && (p.scopes.has(context_scope::launch_patient) || has_patient_scope(p.scopes));
  if (p.encounter.empty() && p.scopes.has(context_scope::launch_encounter)) {
    // No encounter picker: the scope is not granted rather than promised.
    p.scopes.context = static_cast<context_bits>(p.scopes.context & ~context_scope::launch_encounter);
  }
  p.csrf = random_token();
  p.expires = now + pending_lifetime;
  const std::string id = random_token();
  bool stored = false;
  {
    std::lock_guard lock(mu);
    sweep(now);
    if (pending.size() < max_pending) {
      pending[id] = p;
      stored = true;
    }
  }
  if (!stored) return refuse("temporarily_unavailable", "too many sign-ins in progress");
  return login_page(base_path + "/auth/authorize", id, p, {});
}

http_response auth_server::impl::authorize_post(const http_request& req) const {
  auth_event ev;
  ev.endpoint = "authorize";
  auto refuse_page = [&](int status, std::string error, std::string_view text) {
    ev.error = std::move(error);
    emit(ev, req);
    return error_page(status, text);
  };
  const auto type = req.header("Content-Type");
  if (!type || !text::iequals(text::trim(type->substr(0, type->find(';'))), "application/x-www-form-urlencoded")) {
    return refuse_page(415, "invalid_request", "The form must be sent as application/x-www-form-urlencoded.");
  }
  if (req.body.size() > max_form_bytes) return refuse_page(413, "invalid_request", "The form is too large.");
  auto f = parse_form(req.body);
  if (!f || f->repeated("pending") || f->repeated("csrf") || f->repeated("action")) {
    return refuse_page(400, "invalid_request", "The form cannot be read.");
  }
  const std::string id(f->get("pending").value_or(""));
  const std::string csrf(f->get("csrf").value_or(""));
  const time_point now = this->now();
  pending_authorization p;
  enum class lookup { found, unknown, forged } found = lookup::found;
  {
    std::lock_guard lock(mu);
    auto it = pending.find(id);
    if (id.empty() || it == pending.end() || it->second.expires <= now) {
      found = lookup::unknown;
    } else if (!equal_ct(csrf, it->second.csrf)) {
      // A forged or replayed form (CSRF): the sign-in ends here.
      found = lookup::forged;
      ev.client_id = it->second.client_id;
      pending.erase(it);
    } else {
      p = it->second;
    }
  }
  if (found == lookup::unknown) {
    return refuse_page(400, "invalid_request", "This sign-in is unknown or has expired. Start again from the application.");
  }
  if (found == lookup::forged) {
    return refuse_page(403, "invalid_request", "The form could not be verified. Start again from the application.");
  }
  ev.client_id = p.client_id;
  const std::string action_url = base_path + "/auth/authorize";
  auto end_with = [&](std::string error, std::string description) {
    {
      std::lock_guard lock(mu);
      pending.erase(id);
    }
    ev.error = error;
    emit(ev, req);
    return redirect(303, p.redirect_uri, {{"error", std::move(error)}, {"error_description", std::move(description)},
                                          {"state", p.state}});
  };
  /// Stores `p` back with a fresh CSRF token (one per page shown); false
  /// when the pending authorisation went away meanwhile (a parallel POST).
  auto save = [&]() {
    p.csrf = random_token();
    std::lock_guard lock(mu);
    auto it = pending.find(id);
    if (it == pending.end() || !equal_ct(it->second.csrf, csrf)) return false;
    it->second = p;
    return true;
  };
  const std::string action(f->get("action").value_or(""));
  if (action == "deny") return end_with("access_denied", "the user declined");

  if (p.username.empty()) {
    // 1. Sign in.
    if (action != "login") return refuse_page(400, "invalid_request", "The form cannot be read.");
    const std::string username(f->get("username").value_or(""));
    const std::string password(f->get("password").value_or(""));
    auto uit = users.find(username);
    const auth_user* user = uit == users.end() ? nullptr : &uit->second;
    bool locked = false;
    if (user != nullptr) {
      std::lock_guard lock(mu);
      locked = logins[username].locked_until > now;
    }
    // Argon2 outside the lock. An unknown user is checked against a dummy
    // hash, and a locked one is checked too, so neither answers faster
    // than a wrong password (OWASP Authentication Cheat Sheet).
    const bool match = !password.empty() && !username.empty() &&
                       verify_password(password, user != nullptr ? user->password_hash : dummy_hash);
    const bool ok = user != nullptr && match && !locked;
    if (user != nullptr) {
      std::lock_guard lock(mu);
      login_state& ls = logins[username];
      if (ok) {
        ls = login_state{};
      } else if (!locked) {
        ++ls.failures;
        if (ls.failures >= lockout_threshold) {
          const int doublings = std::min(ls.failures - lockout_threshold, 5);
          ls.locked_until = now + std::min<std::chrono::seconds>(lockout_base * (1 << doublings), lockout_max);
        }
      }
    }
    if (!ok) {
      auth_event fail = ev;
      fail.endpoint = "login";
      fail.error = "login_failed";
      // The attempted name only when it is a user: an unknown "username" is
      // often a password typed in the wrong field, and must not be logged.
      if (user != nullptr) fail.subject = username;
      emit(fail, req);
      if (++p.attempts >= max_login_attempts) return end_with("access_denied", "too many failed sign-ins");
      if (!save()) return refuse_page(400, "invalid_request", "This sign-in has ended. Start again from the application.");
      // One message for every failure: no hint whether the user exists or is locked.
      return login_page(action_url, id, p, "Sign-in failed: wrong username or password, or the account is locked.");
    }
    p.username = username;
    if (p.need_patient) {
      if (user->patients.empty()) return end_with("access_denied", "the user has no patient to choose");
      if (user->patients.size() == 1) {
        p.patient = user->patients.front();
      } else {
        if (!save()) return refuse_page(400, "invalid_request", "This sign-in has ended. Start again from the application.");
        return picker_page(action_url, id, p, *user, {});
      }
    }
  } else {
    // 2. The patient picker.
    const auth_user& user = users.at(p.username);
    if (action != "patient") return refuse_page(400, "invalid_request", "The form cannot be read.");
    const std::string patient(f->get("patient").value_or(""));
    if (f->repeated("patient") ||
        std::find(user.patients.begin(), user.patients.end(), patient) == user.patients.end()) {
      if (!save()) return refuse_page(400, "invalid_request", "This sign-in has ended. Start again from the application.");
      return picker_page(action_url, id, p, user, "Choose one of the patients listed.");
    }
    p.patient = patient;
  }

  // 3. The code (RFC 6749 4.1.2): 256 random bits, single use, 60 s, bound
  //    to the client, redirect URI, PKCE challenge, scopes, user, patient.
  const auth_user& user = users.at(p.username);
  const std::string code = random_token();
  code_record c;
  c.client_id = p.client_id;
  c.redirect_uri = p.redirect_uri;
  c.code_challenge = p.code_challenge;
  c.scope = to_string(p.scopes);
  c.subject = p.username;
  c.fhir_user = user.fhir_user;
  c.patient = p.patient;
  c.encounter = p.encounter;
  c.nonce = p.nonce;
  c.expires = now + code_lifetime;
  enum class outcome { stored, ended, full } stored = outcome::stored;
  {
    std::lock_guard lock(mu);
    auto it = pending.find(id);
    if (it == pending.end() || !equal_ct(it->second.csrf, csrf)) {
      stored = outcome::ended;
    } else {
      pending.erase(it);
      sweep(now);
      if (codes.size() >= max_codes) {
        stored = outcome::full;
      } else {
        codes[sha256_b64url(code)] = c;
      }
    }
  }
  if (stored == outcome::ended) {
    return refuse_page(400, "invalid_request", "This sign-in has ended. Start again from the application.");
  }
  if (stored == outcome::full) {
    ev.error = "temporarily_unavailable";
    emit(ev, req);
    return redirect(303, p.redirect_uri, {{"error", "temporarily_unavailable"}, {"state", p.state}});
  }
  ev.subject = c.subject;
  ev.patient = c.patient;
  ev.scope = c.scope;
  ev.success = true;
  emit(ev, req);
  return redirect(303, p.redirect_uri, {{"code", code}, {"state", p.state}});
}

}  // namespace hearth::server::auth
