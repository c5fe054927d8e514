#pragma once
// What the integration tests of authorisation and audit (auth_test.cpp,
// audit_test.cpp, adversarial_test.cpp) share: tokens minted with `hearth
// token` or forged with the server's own JWT library and key, client keys
// for SMART Backend Services, and the AuditEvent search that finds what a
// request left in the trail. Include after <doctest/doctest.h>: the helpers
// check as they go.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/jwt.hpp>

#include "integration/hearth_process.hpp"

namespace hearth::test {

inline const std::vector<std::pair<std::string, std::string>> json_body{{"Content-Type", "application/fhir+json"}};

/// base64url without padding (RFC 7515 2).
inline std::string b64url(std::string_view bytes) {
  std::string s = base64::encode(bytes, true);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

inline bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

/// Seconds since the epoch, now.
inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// --- tokens -------------------------------------------------------------------

/// The server's signing key, read from its data directory as an attacker
/// who had it would (the file is 0600: only the tests' own user can).
inline server::jwt::key server_key(const hearth_process& server) {
  auto k = server::jwt::key::load_private_pem(server.dir() / "data" / "auth" / "signing-key.pem");
  REQUIRE_MESSAGE(k, k.error().message);
  return *k;
}

/// Claims as Hearth mints them, for `base` (iss and aud), valid now.
inline fhir::json_value claims_for(const std::string& iss, const std::string& aud, std::int64_t exp_from_now = 300) {
  const std::int64_t now = unix_now();
  fhir::json_value c = fhir::json_value::object();
  c.set("iss", iss);
  c.set("sub", "mallory");
  c.set("aud", aud);
  c.set("client_id", "forger");
  c.set("scope", "system/*.cruds");
  c.set("jti", "forged-" + std::to_string(now));
  c.set("iat", fhir::json_value::number(std::to_string(now - 10)));
  c.set("exp", fhir::json_value::number(std::to_string(now + exp_from_now)));
  return c;
}

inline std::string sign_as(const fhir::json_value& claims, const server::jwt::key& k, const std::string& typ) {
  server::jwt::sign_options o;
  o.typ = typ;
  return server::jwt::sign(claims, k, o).value();
}

/// HS256 tokens over `payload` (base64url claims) keyed with the public
/// half of `key`, as JWK text and as PEM (RFC 8725 2.1: the HS/RS
/// confusion), with the key's kid in the header.
inline std::vector<std::string> hs256_with_public_key(const server::jwt::key& key, const std::string& payload) {
  std::vector<std::string> out;
  std::string pem;
  const std::string priv = key.private_pem().value();
  BIO* in = BIO_new_mem_buf(priv.data(), static_cast<int>(priv.size()));
  EVP_PKEY* pk = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(pk != nullptr);
  REQUIRE(PEM_write_bio_PUBKEY(bio, pk) == 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  pem.assign(data, static_cast<std::size_t>(len));
  EVP_PKEY_free(pk);
  BIO_free(in);
  BIO_free(bio);
  for (const std::string& secret : {fhir::to_json(key.public_jwk()), pem}) {
    const std::string input = b64url(R"({"alg":"HS256","typ":"at+jwt","kid":")" + key.kid() + R"("})") + "." + payload;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    REQUIRE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                 reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len) != nullptr);
    out.push_back(input + "." + b64url(std::string(reinterpret_cast<const char*>(mac), mac_len)));
  }
  return out;
}

/// The token of a `hearth token` run that must succeed.
inline std::string minted(const hearth_process& server, std::vector<std::string> args) {
  const command_output r = server.mint(std::move(args));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.err.empty());
  return r.out.substr(0, r.out.find('\n'));
}

/// The key pair `pkey` (taken: freed here) as the server's JWT library holds it.
inline server::jwt::key key_of(EVP_PKEY* pkey) {
  REQUIRE(pkey != nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  auto k = server::jwt::key::from_private_pem(pem);
  REQUIRE_MESSAGE(k, k.error().message);
  return *k;
}

/// A new EC P-384 key pair (ES384, SMART Backend Services), through OpenSSL.
inline server::jwt::key generate_p384() { return key_of(EVP_EC_gen("P-384")); }

/// A new RSA 2048 key pair (RS384), through OpenSSL.
inline server::jwt::key generate_rsa() { return key_of(EVP_RSA_gen(2048)); }

/// Authorization (and a JSON body) for `token`.
inline std::vector<std::pair<std::string, std::string>> bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}, {"Content-Type", "application/fhir+json"}};
}

// --- responses ------------------------------------------------------------------

/// The id in a 201's Location ([base]/Type/id/_history/1).
inline std::string created_id(const http_reply& r, const std::string& type) {
  REQUIRE(r.status == 201);
  const std::string loc = r.header("location");
  const auto at = loc.find("/" + type + "/");
  REQUIRE(at != std::string::npos);
  const auto start = at + type.size() + 2;
  return loc.substr(start, loc.find('/', start) - start);
}

/// A top-level string member of a JSON object body ("" when absent).
inline std::string json_field(const std::string& body, const char* name) {
  auto doc = fhir::parse_json(body);
  REQUIRE_MESSAGE(doc, body);
  const fhir::json_value* v = doc->find(name);
  return v == nullptr || !v->is_string() ? std::string() : v->str();
}

// --- the audit trail --------------------------------------------------------------

/// The AuditEvents of a search page.
inline std::vector<fhir::json_value> events_of(const http_reply& r) {
  std::vector<fhir::json_value> out;
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto bundle = fhir::parse_json(r.body);
  REQUIRE(bundle);
  if (const fhir::json_value* entries = bundle->find("entry")) {
    for (const fhir::json_value& e : entries->items()) {
      const fhir::json_value* res = e.find("resource");
      if (res != nullptr && res->find("resourceType") && res->find("resourceType")->str() == "AuditEvent")
        out.push_back(*res);
    }
  }
  return out;
}

/// The code of an event's (first) subtype: "read", "create", "ITI-71", ...
inline std::string subtype_of(const fhir::json_value& ev) {
  const fhir::json_value* s = ev.find("subtype");
  return s == nullptr || s->items().empty() ? std::string() : s->items()[0].find("code")->str();
}
inline std::string outcome_of(const fhir::json_value& ev) { return ev.find("outcome") ? ev.find("outcome")->str() : ""; }

inline bool has_event(const std::vector<fhir::json_value>& evs, const std::string& subtype, const std::string& outcome) {
  for (const fhir::json_value& ev : evs)
    if (subtype_of(ev) == subtype && outcome_of(ev) == outcome) return true;
  return false;
}

/// Searches the trail with the server's token (system/AuditEvent.rs) until
/// an event of `subtype` and `outcome` shows up: events not written with a
/// change are appended asynchronously, within milliseconds.
inline bool wait_for_event(const hearth_process& server, const std::string& query, const std::string& subtype,
                           const std::string& outcome) {
  http_connection c(server);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (has_event(events_of(c.request("GET", "/AuditEvent?" + query)), subtype, outcome)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace hearth::test
