// SMART Backend Services tokens for `hearth conformance` (smart_client.hpp).
#include <hearth/server/conformance/smart_client.hpp>

#include <openssl/rand.h>

#include <chrono>
#include <string>
#include <utility>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>

#include "rest_target.hpp"

namespace hearth::server::conformance {

namespace {

/// OAuth and SMART configuration documents are plain JSON (RFC 8259), not
/// FHIR JSON: empty strings and nulls are allowed there.
hearth::result<fhir::json_value> parse_plain_json(std::string_view text) {
  fhir::json_read_options o;
  o.fhir_rules = false;
  o.max_bytes = 1u << 20;
  return fhir::parse_json(text, o);
}

hearth::unexpected<hearth::error> fail(std::string code, std::string message) {
  return hearth::unexpected(hearth::error{std::move(code), std::move(message), {}});
}

/// A JWT id no other assertion of ours shares (RFC 7523 3, item 7; the
/// server keeps a replay cache): 16 bytes from OpenSSL's CSPRNG.
hearth::result<std::string> fresh_jti() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return fail("unavailable", "no random bytes for a jti");
  std::string s = base64::encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes), true);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

/// The OAuth `error` of a token endpoint answer (RFC 6749 5.2), when it has one.
std::string oauth_error(std::string_view body) {
  auto doc = parse_plain_json(body);
  if (!doc || !doc->is_object()) return {};
  const fhir::json_value* e = doc->find("error");
  return e && e->is_string() ? e->str() : std::string();
}

}  // namespace

backend_client::backend_client(std::string fhir_base, std::string client_id, jwt::key signing_key,
                               transport http)
    : base_(std::move(fhir_base)), client_id_(std::move(client_id)), key_(std::move(signing_key)),
      http_(std::move(http)) {}

hearth::result<std::string> backend_client::token_endpoint() {
  if (!token_endpoint_.empty()) return token_endpoint_;
  client_request req;
  req.url = base_ + "/.well-known/smart-configuration";
  req.headers.emplace_back("Accept", "application/json");
  auto resp = http_(req);
  if (!resp) return hearth::unexpected(resp.error());
  if (resp->status != 200)
    return fail("bad-response",
                         "GET .well-known/smart-configuration answered " + std::to_string(resp->status));
  auto doc = parse_plain_json(resp->body);
  const fhir::json_value* te = doc && doc->is_object() ? doc->find("token_endpoint") : nullptr;
  if (!te || !te->is_string() || te->str().empty())
    return fail("bad-response", ".well-known/smart-configuration has no token_endpoint");
  token_endpoint_ = te->str();
  return token_endpoint_;
}

hearth::result<std::string> backend_client::token(std::string_view scopes) {
  auto endpoint = token_endpoint();
  if (!endpoint) return hearth::unexpected(endpoint.error());
  auto jti = fresh_jti();
  if (!jti) return hearth::unexpected(jti.error());

  // backend-services.html "Authentication JWT Header Values": alg RS384 or
  // ES384, kid, typ JWT; "Authentication JWT Claims": iss and sub the client
  // id, aud the token URL, exp no more than five minutes ahead, jti.
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  fhir::json_value claims = fhir::json_value::object();
  claims.set("iss", client_id_);
  claims.set("sub", client_id_);
  claims.set("aud", *endpoint);
  claims.set("exp", fhir::json_value::number(std::to_string(now + 240)));
  claims.set("iat", fhir::json_value::number(std::to_string(now)));
  claims.set("jti", *jti);
  jwt::sign_options so;
  so.alg = key_.type() == jwt::key_type::rsa ? jwt::algorithm::rs384 : jwt::algorithm::es384;
  if (key_.type() == jwt::key_type::ec_p256)
    return fail("invalid", "the key is EC P-256: SMART Backend Services signs with RS384 or ES384 (P-384)");
  auto assertion = jwt::sign(claims, key_, so);
  if (!assertion) return hearth::unexpected(assertion.error());

  // backend-services.html "Request": an x-www-form-urlencoded POST.
  client_request req;
  req.method = "POST";
  req.url = *endpoint;
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  req.headers.emplace_back("Accept", "application/json");
  req.body = "grant_type=client_credentials&scope=" + rest::percent_encode(scopes) +
             "&client_assertion_type=" +
             rest::percent_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
             "&client_assertion=" + rest::percent_encode(*assertion);
  auto resp = http_(req);
  if (!resp) return hearth::unexpected(resp.error());
  if (resp->status != 200) {
    const std::string code = oauth_error(resp->body);
    return fail("refused", "the token endpoint answered " + std::to_string(resp->status) +
                                        (code.empty() ? std::string() : " (" + code + ")"));
  }
  auto doc = parse_plain_json(resp->body);
  const fhir::json_value* at = doc && doc->is_object() ? doc->find("access_token") : nullptr;
  if (!at || !at->is_string() || at->str().empty())
    return fail("bad-response", "the token endpoint's answer has no access_token");
  return at->str();
}

}  // namespace hearth::server::conformance
