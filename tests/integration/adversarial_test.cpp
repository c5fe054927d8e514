// The adversarial cases of SECURITY.md as integration tests (issue 6,
// "Tests"): a real `hearth serve` over sockets, a data set of two patients
// ("mine" and "theirs") with their Observations and Encounters, and each
// attack asserting three things:
//   1. the exact answer: 401 with `WWW-Authenticate: Bearer ...
//      error="invalid_token"` for a bad token (RFC 6750 3.1), 403 with
//      error="insufficient_scope" for a missing letter, 404 for what a
//      patient/ token may not see (the same body as for what does not
//      exist), 400/401 with the RFC 6749 5.2 error at the token endpoint;
//   2. that nothing leaked: no name, id or code of data the token may not
//      read in the body, totals that count only what it may, identical
//      answers for "does not exist" and "not yours";
//   3. that the trail holds an AuditEvent with the failure outcome (4) for
//      it, found by the request's X-Request-Id (BALP entity[transaction])
//      through the AuditEvent search API with an audit-scoped token.
// One server per TEST_CASE; the data set is written once per server.
#include <doctest/doctest.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/jwt.hpp>
#include <hearth/server/password_hash.hpp>

#include "integration/auth_support.hpp"

namespace hearth::test {
namespace {

namespace jwt = hearth::server::jwt;
using fhir::json_value;
using header_list = std::vector<std::pair<std::string, std::string>>;

// --- the data set ----------------------------------------------------------------

// Two patients. Every id of the other patient's data holds "theirs", and
// their name is one no answer to the token of "mine" may hold.
constexpr const char* mine = "p-mine";
constexpr const char* theirs = "p-theirs";
constexpr const char* my_name = "Quillfeather";
constexpr const char* their_name = "Zanzibaro";
constexpr const char* lab_code = "2345-7";    // LOINC glucose: mine and theirs
constexpr const char* vital_code = "8867-4";  // LOINC heart rate
constexpr const char* derived_code = "2093-3";

constexpr const char* category_system = "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr const char* lab_scope =
    "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory";

std::string observation(const std::string& id, const std::string& patient, const std::string& category,
                        const std::string& code, const std::string& extra = {}) {
  std::string s = R"({"resourceType":"Observation",)";
  if (!id.empty()) s += R"("id":")" + id + "\",";
  s += R"("status":"final","category":[{"coding":[{"system":")" + std::string(category_system) + R"(","code":")" +
       category + R"("}]}],"code":{"coding":[{"system":"http://loinc.org","code":")" + code +
       R"("}]},"subject":{"reference":"Patient/)" + patient + "\"}";
  if (!extra.empty()) s += "," + extra;
  return s + "}";
}

/// Writes the data set with the server's own token (system/*.cruds):
///   Patient p-mine (Quillfeather), Patient p-theirs (Zanzibaro)
///   Encounter e-mine (p-mine), e-theirs (p-theirs)
///   Observation o-mine-lab     p-mine   laboratory  2345-7  encounter e-mine
///   Observation o-mine-vital   p-mine   vital-signs 8867-4  derived from o-mine-lab
///   Observation o-theirs-lab   p-theirs laboratory  2345-7  encounter e-theirs, derived from o-mine-lab
///   Observation o-mine-derived p-mine   laboratory  2093-3  derived from o-theirs-lab and o-mine-vital
///   Observation o-theirs-vital p-theirs vital-signs 8867-4
void seed(const hearth_process& server) {
  http_connection admin(server);
  const auto put = [&](const std::string& type, const std::string& id, const std::string& body) {
    const http_reply r = admin.request("PUT", "/" + type + "/" + id, body, json_body);
    REQUIRE_MESSAGE(r.status == 201, r.body);
  };
  put("Patient", mine, std::string(R"({"resourceType":"Patient","id":")") + mine + R"(","name":[{"family":")" +
                           my_name + R"("}]})");
  put("Patient", theirs, std::string(R"({"resourceType":"Patient","id":")") + theirs + R"(","name":[{"family":")" +
                             their_name + R"("}]})");
  for (const char* p : {mine, theirs}) {
    const std::string id = std::string("e-") + (p == mine ? "mine" : "theirs");
    put("Encounter", id,
        R"({"resourceType":"Encounter","id":")" + id +
            R"(","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",)"
            R"("code":"AMB"},"subject":{"reference":"Patient/)" +
            p + R"("}})");
  }
  put("Observation", "o-mine-lab",
      observation("o-mine-lab", mine, "laboratory", lab_code, R"("encounter":{"reference":"Encounter/e-mine"})"));
  put("Observation", "o-mine-vital",
      observation("o-mine-vital", mine, "vital-signs", vital_code,
                  R"("derivedFrom":[{"reference":"Observation/o-mine-lab"}])"));
  put("Observation", "o-theirs-lab",
      observation("o-theirs-lab", theirs, "laboratory", lab_code,
                  R"("encounter":{"reference":"Encounter/e-theirs"},)"
                  R"("derivedFrom":[{"reference":"Observation/o-mine-lab"}])"));
  put("Observation", "o-mine-derived",
      observation("o-mine-derived", mine, "laboratory", derived_code,
                  R"("derivedFrom":[{"reference":"Observation/o-theirs-lab"},)"
                  R"({"reference":"Observation/o-mine-vital"}])"));
  put("Observation", "o-theirs-vital", observation("o-theirs-vital", theirs, "vital-signs", vital_code));
}

// --- answers ---------------------------------------------------------------------------

/// Nothing of the other patient's data in `text`: none of their resources
/// (an id, a reference to them, their name). One of mine may name one of
/// theirs (o-mine-derived is derived from o-theirs-lab): that is my data.
void check_nothing_of_theirs(const std::string& text) {
  for (const char* part : {R"("id":"p-theirs")", R"("id":"o-theirs)", R"("id":"e-theirs")", "Patient/p-theirs",
                           "Encounter/e-theirs", their_name}) {
    CAPTURE(part);
    CHECK_FALSE(contains(text, part));
  }
}

/// Nothing of any data in `text` (a refusal).
void check_no_data(const std::string& text) {
  check_nothing_of_theirs(text);
  CHECK_FALSE(contains(text, "theirs"));
  CHECK_FALSE(contains(text, my_name));
  CHECK_FALSE(contains(text, lab_code));
  CHECK_FALSE(contains(text, vital_code));
  CHECK_FALSE(contains(text, derived_code));
}

/// RFC 6750 3.1 invalid_token, as an OperationOutcome with no data.
void check_invalid_token(const http_reply& r) {
  CHECK(r.status == 401);
  CHECK(r.header("www-authenticate").starts_with(R"(Bearer realm="hearth", error="invalid_token")"));
  CHECK(contains(r.body, R"("resourceType":"OperationOutcome")"));
  check_no_data(r.body);
}

/// RFC 6750 3.1 insufficient_scope: 403, an OperationOutcome "forbidden", no data.
void check_insufficient_scope(const http_reply& r) {
  CHECK(r.status == 403);
  CHECK(contains(r.header("www-authenticate"), R"(error="insufficient_scope")"));
  CHECK(contains(r.body, R"("code":"forbidden")"));
  check_no_data(r.body);
}

json_value parsed(const std::string& body) {
  auto v = fhir::parse_json(body);
  REQUIRE_MESSAGE(v, body);
  return std::move(*v);
}

/// "Type/id" of a Bundle's entries whose search.mode is `mode` ("" for all).
std::set<std::string> ids_of(const std::string& body, const std::string& mode = {}) {
  std::set<std::string> out;
  const json_value b = parsed(body);
  if (const json_value* entries = b.find("entry")) {
    for (const json_value& e : entries->items()) {
      const json_value* res = e.find("resource");
      if (res == nullptr) continue;
      const json_value* search = e.find("search");
      const std::string m = search != nullptr && search->find("mode") ? search->find("mode")->str() : "";
      if (!mode.empty() && m != mode) continue;
      out.insert(res->find("resourceType")->str() + "/" + (res->find("id") ? res->find("id")->str() : ""));
    }
  }
  return out;
}

std::string total_of(const std::string& body) {
  const json_value b = parsed(body);
  const json_value* t = b.find("total");
  return t == nullptr ? std::string() : t->number_text();
}

/// The entries' resources and totals of a searchset, without its links
/// (which repeat the request's own query).
std::string without_links(const std::string& body) {
  json_value b = parsed(body);
  json_value out = json_value::object();
  if (const json_value* t = b.find("total")) out.set("total", *t);
  if (const json_value* e = b.find("entry")) out.set("entry", *e);
  return fhir::to_json(out);
}

/// response.status of each entry of a batch/transaction-response.
std::vector<std::string> entry_statuses(const std::string& body) {
  std::vector<std::string> out;
  const json_value b = parsed(body);
  if (const json_value* entries = b.find("entry")) {
    for (const json_value& e : entries->items()) {
      const json_value* resp = e.find("response");
      out.push_back(resp != nullptr && resp->find("status") ? resp->find("status")->str() : "");
    }
  }
  return out;
}

/// `n` statuses, each starting with `prefix` ("403").
bool all_start_with(const std::vector<std::string>& statuses, std::size_t n, const std::string& prefix) {
  return statuses.size() == n &&
         std::all_of(statuses.begin(), statuses.end(), [&](const std::string& s) { return s.starts_with(prefix); });
}

// --- requests ---------------------------------------------------------------------------

header_list with_token(const std::string& token, const std::string& content_type = "application/fhir+json") {
  return {{"Authorization", "Bearer " + token}, {"Content-Type", content_type}};
}

/// RFC 3986 2.3: everything but the unreserved characters percent-encoded.
std::string pct(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string form(const header_list& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += pct(k) + "=" + pct(v);
  }
  return out;
}

const header_list form_type{{"Content-Type", "application/x-www-form-urlencoded"}};

/// One entry of a batch or transaction Bundle.
std::string entry(const std::string& method, const std::string& url, const std::string& resource = {},
                  const std::string& extra_request = {}) {
  std::string s = "{";
  if (!resource.empty()) s += R"("resource":)" + resource + ",";
  s += R"("request":{"method":")" + method + R"(","url":")" + url + "\"";
  if (!extra_request.empty()) s += "," + extra_request;
  return s + "}}";
}

std::string bundle(const std::string& type, const std::vector<std::string>& entries) {
  std::string s = R"({"resourceType":"Bundle","type":")" + type + R"(","entry":[)";
  for (std::size_t i = 0; i < entries.size(); ++i) s += (i ? "," : "") + entries[i];
  return s + "]}";
}

/// A JSON Patch as a transaction entry carries it (R4 http.html#patch: a Binary).
std::string patch_binary(const std::string& patch) {
  return R"({"resourceType":"Binary","contentType":"application/json-patch+json","data":")" + base64::encode(patch) +
         "\"}";
}

// --- the audit trail ---------------------------------------------------------------------

/// The AuditEvents a test expects, each found by the X-Request-Id of the
/// answer it records (BALP entity[transaction]). check() searches the
/// trail with the server's audit-scoped token until every one is there
/// (events not written with a change are appended asynchronously), then
/// checks each.
class audit_expectations {
 public:
  /// An event of `subtype` ("read", "create", "ITI-71", ...) with `outcome`
  /// ("*": any) for the request answered by `r`; `secret` (a token, an
  /// assertion) must not be in it.
  void expect(const http_reply& r, std::string what, std::string subtype, std::string outcome = "4",
              std::string secret = {}) {
    const std::string id = r.header("x-request-id");
    CHECK_MESSAGE(!id.empty(), what);
    items_.push_back({id, std::move(what), std::move(subtype), std::move(outcome), std::move(secret)});
  }

  void check(const hearth_process& server) {
    std::set<std::string> outcomes;
    for (const item& i : items_) outcomes.insert(i.outcome);
    std::string query = "/AuditEvent?_count=1000";
    if (!outcomes.contains("*")) {
      query += "&outcome=";
      for (const std::string& o : outcomes) query += (query.back() == '=' ? "" : ",") + o;
    }
    http_connection c(server);
    std::multimap<std::string, json_value> by_request;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    for (;;) {
      by_request.clear();
      for (json_value& ev : events_of(c.request("GET", query))) {
        const std::string rid = request_id_of(ev);
        if (!rid.empty()) by_request.emplace(rid, std::move(ev));
      }
      const bool all = std::all_of(items_.begin(), items_.end(), [&](const item& i) { return find(by_request, i); });
      if (all || std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (const item& i : items_) {
      CAPTURE(i.what);
      CAPTURE(i.subtype);
      CAPTURE(i.outcome);
      std::string seen;
      const auto [from, to] = by_request.equal_range(i.request_id);
      for (auto it = from; it != to; ++it) seen += subtype_of(it->second) + "/" + outcome_of(it->second) + " ";
      CHECK_MESSAGE(find(by_request, i), "events of this request: " << (seen.empty() ? "none" : seen));
      if (!i.secret.empty()) {
        for (auto it = from; it != to; ++it) {
          CHECK_FALSE(contains(fhir::to_json(it->second), i.secret.substr(i.secret.size() - 16)));
        }
      }
    }
    items_.clear();
  }

 private:
  struct item {
    std::string request_id, what, subtype, outcome, secret;
  };

  static std::string request_id_of(const json_value& ev) {
    const json_value* entities = ev.find("entity");
    if (entities == nullptr) return {};
    for (const json_value& e : entities->items()) {
      const json_value* type = e.find("type");
      const json_value* what = e.find("what");
      if (type == nullptr || what == nullptr || !type->find("code") || type->find("code")->str() != "XrequestId")
        continue;
      const json_value* ident = what->find("identifier");
      if (ident != nullptr && ident->find("value")) return ident->find("value")->str();
    }
    return {};
  }

  static bool find(const std::multimap<std::string, json_value>& by_request, const item& i) {
    const auto [from, to] = by_request.equal_range(i.request_id);
    for (auto it = from; it != to; ++it) {
      if (subtype_of(it->second) == i.subtype && (i.outcome == "*" || outcome_of(it->second) == i.outcome)) {
        return true;
      }
    }
    return false;
  }

  std::vector<item> items_;
};

// --- forging --------------------------------------------------------------------------------

/// A compact JWS with `header` over `claims`, signed RS256 by `rsa` (a key
/// pair whose private half we hold): whatever kid or jwk the header claims.
std::string rs256_with_header(const std::string& header, const json_value& claims, const jwt::key& rsa) {
  const std::string input = b64url(header) + "." + b64url(fhir::to_json(claims));
  const std::string pem = rsa.private_pem().value();
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pk = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  REQUIRE(pk != nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  REQUIRE(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pk) == 1);
  REQUIRE(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
  std::string sig(len, '\0');
  REQUIRE(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pk);
  BIO_free(in);
  return input + "." + b64url(sig);
}

std::string sha256_b64url(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  REQUIRE(EVP_Digest(text.data(), text.size(), md.data(), &len, EVP_sha256(), nullptr) == 1);
  return b64url(std::string_view(reinterpret_cast<const char*>(md.data()), len));
}

std::string random_b64url(std::size_t bytes) {
  std::random_device rd;
  std::string raw;
  for (std::size_t i = 0; i < bytes; ++i) raw.push_back(static_cast<char>(rd() & 0xff));
  return b64url(raw);
}

}  // namespace

// ==============================================================================================
// Bad tokens
// ==============================================================================================

TEST_CASE("adversarial: no, expired, not-yet-valid, alg none, HS/RS-confused, foreign and id tokens: 401, audited") {
  hearth_process server;
  seed(server);
  const std::string base = server.base_url();
  const jwt::key key = server_key(server);
  const std::int64_t now = unix_now();

  json_value not_yet = claims_for(base, base, 900);
  not_yet.set("nbf", json_value::number(std::to_string(now + 600)));  // beyond the 60 s leeway
  json_value expired = claims_for(base, base, -600);
  expired.set("iat", json_value::number(std::to_string(now - 900)));
  json_value wrong_iss = claims_for("https://issuer.example/fhir", base);
  json_value wrong_aud = claims_for(base, base + "/other");
  const std::string payload = b64url(fhir::to_json(claims_for(base, base)));
  const std::vector<std::string> hs256 = hs256_with_public_key(key, payload);
  const jwt::key rsa = generate_rsa();
  json_value embedded = rsa.public_jwk();

  struct bad_token {
    std::string what;
    std::string token;  ///< empty: no Authorization header at all
  };
  const std::vector<bad_token> cases = {
      {"no token", ""},
      {"expired ten minutes ago", sign_as(expired, key, "at+jwt")},
      {"not valid for ten minutes (nbf)", sign_as(not_yet, key, "at+jwt")},
      {"alg none", b64url(R"({"alg":"none","typ":"at+jwt"})") + "." + payload + "."},
      {"alg none, with a signature", b64url(R"({"alg":"none","typ":"at+jwt"})") + "." + payload + ".AAAA"},
      {"HS256 keyed with the server's public JWK", hs256[0]},
      {"HS256 keyed with the server's public PEM", hs256[1]},
      {"RS256 by another key, claiming the server's kid",
       rs256_with_header(R"({"alg":"RS256","typ":"at+jwt","kid":")" + key.kid() + R"("})", claims_for(base, base),
                         rsa)},
      {"RS256 with its own key embedded (jwk header)",
       rs256_with_header(R"({"alg":"RS256","typ":"at+jwt","jwk":)" + fhir::to_json(embedded) + "}",
                         claims_for(base, base), rsa)},
      {"wrong issuer, signed by the server's key", sign_as(wrong_iss, key, "at+jwt")},
      {"wrong audience, signed by the server's key", sign_as(wrong_aud, key, "at+jwt")},
      {"minted for another server", minted(server, {"--scope", "system/*.rs", "--base-url", "http://127.0.0.1:1"})},
      {"an id_token (typ JWT) signed by the server's key", sign_as(claims_for(base, base), key, "JWT")},
  };

  audit_expectations audit;
  http_connection c(server.port());
  for (const bad_token& bad : cases) {
    CAPTURE(bad.what);
    const header_list auth = bad.token.empty() ? header_list{} : header_list{{"Authorization", "Bearer " + bad.token}};
    header_list write_headers = auth;
    write_headers.emplace_back("Content-Type", "application/fhir+json");
    const http_reply read = c.request("GET", std::string("/Patient/") + mine, {}, auth);
    const http_reply search = c.request("GET", "/Observation?code=" + std::string(lab_code), {}, auth);
    const http_reply write =
        c.request("PUT", "/Observation/o-mine-lab", observation("o-mine-lab", mine, "laboratory", "hijacked"),
                  write_headers);
    for (const http_reply* r : {&read, &search, &write}) {
      if (bad.token.empty()) {
        // RFC 6750 3.1: no error code when the request has no credentials.
        CHECK(r->status == 401);
        CHECK(r->header("www-authenticate") == R"(Bearer realm="hearth")");
        check_no_data(r->body);
      } else {
        check_invalid_token(*r);
        // Nothing of the token comes back.
        CHECK_FALSE(contains(r->body + r->header("www-authenticate"), bad.token.substr(bad.token.size() - 12)));
      }
    }
    audit.expect(read, std::string(bad.what) + ": read", "read", "4", bad.token);
    audit.expect(search, std::string(bad.what) + ": search", "search-type", "4", bad.token);
    audit.expect(write, std::string(bad.what) + ": update", "update", "4", bad.token);
  }
  // The refusals were not vacuous: the same requests with a good token work,
  // and nothing was written.
  http_connection admin(server);
  const http_reply now_lab = admin.request("GET", "/Observation/o-mine-lab");
  CHECK(now_lab.status == 200);
  CHECK(now_lab.header("etag") == "W/\"1\"");
  CHECK_FALSE(contains(now_lab.body, "hijacked"));
  CHECK(c.request("GET", std::string("/Patient/") + mine, {},
                  {{"Authorization", "Bearer " + sign_as(claims_for(base, base), key, "at+jwt")}})
            .status == 200);
  audit.check(server);
}

// ==============================================================================================
// Scope escalation: every interaction without its letter
// ==============================================================================================

TEST_CASE("adversarial: scope escalation: each interaction without its letter is 403 insufficient_scope, audited") {
  hearth_process server;
  seed(server);
  const std::string no_r = minted(server, {"--scope", "system/Observation.cuds system/Patient.cuds"});
  const std::string no_s = minted(server, {"--scope", "system/Observation.crud system/Patient.crud"});
  const std::string no_c = minted(server, {"--scope", "system/Observation.ruds"});
  const std::string no_u = minted(server, {"--scope", "system/Observation.crds"});
  const std::string no_d = minted(server, {"--scope", "system/Observation.crus"});
  const std::string write_only = minted(server, {"--scope", "system/Observation.cud"});  // no r, no s
  const std::string read_only = minted(server, {"--scope", "system/Observation.rs"});    // no c, u, d
  const std::string no_patient = minted(server, {"--scope", "system/Observation.rs system/Encounter.rs"});
  // $everything is a read of the Patient or a search of its compartment:
  // it needs r or s (rest_operations.cpp).
  const std::string no_r_no_s = minted(server, {"--scope", "system/Patient.cud system/Observation.cud"});

  const std::string new_obs = observation("", mine, "laboratory", "escalated");
  const std::string changed = observation("o-mine-lab", mine, "laboratory", "escalated");
  const std::string json_patch = R"([{"op":"replace","path":"/status","value":"entered-in-error"}])";
  const std::string patch_type = "application/json-patch+json";

  struct attempt {
    std::string what;
    const std::string& token;
    std::string method, target, body;
    std::string content_type = "application/fhir+json";
    const char* subtype;
    header_list extra = {};
  };
  const std::vector<attempt> attempts = {
      {"read without r", no_r, "GET", "/Observation/o-mine-lab", "", "application/fhir+json", "read"},
      {"vread without r", no_r, "GET", "/Observation/o-mine-lab/_history/1", "", "application/fhir+json", "vread"},
      {"instance history without r", no_r, "GET", "/Observation/o-mine-lab/_history", "", "application/fhir+json",
       "history-instance"},
      {"search without s", no_s, "GET", "/Observation?code=" + std::string(lab_code), "", "application/fhir+json",
       "search-type"},
      {"POST _search without s", no_s, "POST", "/Observation/_search", "code=" + std::string(lab_code),
       "application/x-www-form-urlencoded", "search-type"},
      {"compartment search without s", no_s, "GET", std::string("/Patient/") + mine + "/Observation", "",
       "application/fhir+json", "search-type"},
      {"type history without s", no_s, "GET", "/Observation/_history", "", "application/fhir+json", "history-type"},
      {"system history without s", no_s, "GET", "/_history", "", "application/fhir+json", "history-system"},
      {"create without c", no_c, "POST", "/Observation", new_obs, "application/fhir+json", "create"},
      {"update without u", no_u, "PUT", "/Observation/o-mine-lab", changed, "application/fhir+json", "update"},
      {"update-as-create without u", no_u, "PUT", "/Observation/o-new",
       observation("o-new", mine, "laboratory", "escalated"), "application/fhir+json", "update"},
      {"patch without u", no_u, "PATCH", "/Observation/o-mine-lab", json_patch, patch_type, "patch"},
      {"delete without d", no_d, "DELETE", "/Observation/o-mine-lab", "", "application/fhir+json", "delete"},
      {"conditional create without c", no_c, "POST", "/Observation", new_obs, "application/fhir+json", "create",
       {{"If-None-Exist", "code=escalated"}}},
      {"conditional create without s", write_only, "POST", "/Observation", new_obs, "application/fhir+json", "create",
       {{"If-None-Exist", "code=escalated"}}},
      {"conditional update without u", no_u, "PUT", "/Observation?_id=o-mine-lab", changed, "application/fhir+json",
       "update"},
      {"conditional update without s", write_only, "PUT", "/Observation?_id=o-mine-lab", changed,
       "application/fhir+json", "update"},
      {"conditional patch without u", no_u, "PATCH", "/Observation?_id=o-mine-lab", json_patch, patch_type, "patch"},
      {"conditional delete without d", no_d, "DELETE", "/Observation?code=" + std::string(lab_code), "",
       "application/fhir+json", "delete"},
      {"conditional delete without s", write_only, "DELETE", "/Observation?code=" + std::string(lab_code), "",
       "application/fhir+json", "delete"},
      {"$everything without r or s", no_r_no_s, "GET", std::string("/Patient/") + mine + "/$everything", "",
       "application/fhir+json", "operation"},
      {"$everything without Patient", no_patient, "GET", std::string("/Patient/") + mine + "/$everything", "",
       "application/fhir+json", "operation"},
      {"$meta without r", no_r, "GET", "/Observation/o-mine-lab/$meta", "", "application/fhir+json", "operation"},
  };

  audit_expectations audit;
  http_connection c(server.port());
  for (const attempt& a : attempts) {
    CAPTURE(a.what);
    header_list h = with_token(a.token, a.content_type);
    h.insert(h.end(), a.extra.begin(), a.extra.end());
    const http_reply r = c.request(a.method, a.target, a.body, h);
    check_insufficient_scope(r);
    audit.expect(r, a.what, a.subtype);
  }

  // Batch entries: each checked as a request of its own; the Bundle is
  // answered, each entry refused with 403 and no data.
  {
    const http_reply writes = c.request(
        "POST", "/",
        bundle("batch",
               {entry("POST", "Observation", new_obs), entry("PUT", "Observation/o-mine-lab", changed),
                entry("PATCH", "Observation/o-mine-lab", patch_binary(json_patch)),
                entry("DELETE", "Observation/o-mine-lab"),
                entry("POST", "Observation", new_obs, R"("ifNoneExist":"code=escalated")"),
                entry("PUT", "Observation?_id=o-mine-lab", changed), entry("DELETE", "Observation?code=2345-7")}),
        with_token(read_only));
    REQUIRE_MESSAGE(writes.status == 200, writes.body);
    CHECK(all_start_with(entry_statuses(writes.body), 7, "403"));
    check_no_data(writes.body);
    audit.expect(writes, "batch: create entry without c", "create");
    audit.expect(writes, "batch: update entry without u", "update");
    audit.expect(writes, "batch: patch entry without u", "patch");
    audit.expect(writes, "batch: delete entry without d", "delete");

    const http_reply reads = c.request(
        "POST", "/",
        bundle("batch", {entry("GET", "Observation/o-mine-lab"), entry("GET", "Observation/o-mine-lab/_history/1"),
                         entry("GET", "Observation/o-mine-lab/_history"), entry("GET", "Observation?code=2345-7"),
                         entry("GET", "Observation/_history")}),
        with_token(write_only));
    REQUIRE_MESSAGE(reads.status == 200, reads.body);
    CHECK(all_start_with(entry_statuses(reads.body), 5, "403"));
    check_no_data(reads.body);
    audit.expect(reads, "batch: read entry without r", "read");
    audit.expect(reads, "batch: vread entry without r", "vread");
    audit.expect(reads, "batch: history entry without r", "history-instance");
    audit.expect(reads, "batch: search entry without s", "search-type");
    audit.expect(reads, "batch: type history entry without s", "history-type");
  }

  // Transactions: one entry without its letter fails the whole, and nothing
  // of the allowed entries is committed.
  {
    const std::string allowed = entry("POST", "Observation", new_obs);
    const std::string tx_token = minted(server, {"--scope", "system/Observation.c"});
    struct tx {
      std::string what;
      std::string denied;
    };
    const std::vector<tx> txs = {
        {"transaction: update entry without u", entry("PUT", "Observation/o-mine-lab", changed)},
        {"transaction: patch entry without u", entry("PATCH", "Observation/o-mine-lab", patch_binary(json_patch))},
        {"transaction: delete entry without d", entry("DELETE", "Observation/o-mine-lab")},
        {"transaction: read entry without r", entry("GET", "Observation/o-mine-lab")},
        {"transaction: search entry without s", entry("GET", "Observation?code=2345-7")},
        {"transaction: conditional create entry without s",
         entry("POST", "Observation", new_obs, R"("ifNoneExist":"code=escalated")")},
    };
    for (const tx& t : txs) {
      CAPTURE(t.what);
      const http_reply r = c.request("POST", "/", bundle("transaction", {allowed, t.denied}), with_token(tx_token));
      check_insufficient_scope(r);
      CHECK(contains(r.body, "Bundle.entry[1]"));
      audit.expect(r, t.what, "transaction");
    }
  }

  // Nothing of it happened.
  http_connection admin(server);
  const http_reply lab = admin.request("GET", "/Observation/o-mine-lab");
  CHECK(lab.status == 200);
  CHECK(lab.header("etag") == "W/\"1\"");
  CHECK(admin.request("GET", "/Observation/o-new").status == 404);
  CHECK(total_of(admin.request("GET", "/Observation?code=escalated&_total=accurate").body) == "0");
  audit.check(server);
}

// ==============================================================================================
// Cross-patient
// ==============================================================================================

namespace {

/// A request with a body, for lists of attacks.
struct write_attempt {
  std::string what;
  std::string method, target, body, content_type;
  const char* subtype;
};

/// Deletes and patches a patient/ token of p-mine sends to p-theirs's
/// resources (or, `absent`, to ids that do not exist); each changes nothing.
std::vector<write_attempt> their_probes(bool absent = false) {
  const std::string obs = absent ? "o-nobody" : "o-theirs-lab";
  const std::string patient = absent ? "p-nobody" : theirs;
  return {
      {"patch theirs", "PATCH", "/Observation/" + obs,
       R"([{"op":"replace","path":"/status","value":"entered-in-error"}])", "application/json-patch+json", "patch"},
      {"delete theirs", "DELETE", "/Observation/" + obs, "", "application/fhir+json", "delete"},
      {"delete their Patient", "DELETE", "/Patient/" + patient, "", "application/fhir+json", "delete"},
      {"delete theirs in a transaction", "POST", "/", bundle("transaction", {entry("DELETE", "Observation/" + obs)}),
       "application/fhir+json", "transaction"},
      {"delete theirs in a batch", "POST", "/", bundle("batch", {entry("DELETE", "Observation/" + obs)}),
       "application/fhir+json", "batch"},
  };
}

}  // namespace

TEST_CASE("adversarial: a patient/ token cannot reach the other patient: reads, searches, includes, _has, chains, "
          "transactions") {
  hearth_process server;
  seed(server);
  const std::string token = minted(server, {"--scope", "patient/*.cruds launch/patient", "--patient", mine});
  audit_expectations audit;
  http_connection c(server.port());
  const header_list auth = with_token(token);
  const auto get = [&](const std::string& target) { return c.request("GET", target, {}, auth); };

  // Reads of theirs answer exactly as reads of what does not exist.
  struct pair_of_reads {
    std::string what;
    std::string theirs_target, absent_target;
    const char* subtype;
  };
  const std::vector<pair_of_reads> reads = {
      {"read their Patient", std::string("/Patient/") + theirs, "/Patient/p-nobody", "read"},
      {"read their Observation", "/Observation/o-theirs-lab", "/Observation/o-nobody", "read"},
      {"read their Encounter", "/Encounter/e-theirs", "/Encounter/e-nobody", "read"},
      {"vread their Observation", "/Observation/o-theirs-lab/_history/1", "/Observation/o-nobody/_history/1", "vread"},
      {"their Observation's history", "/Observation/o-theirs-lab/_history", "/Observation/o-nobody/_history",
       "history-instance"},
      {"their Observation's $meta", "/Observation/o-theirs-lab/$meta", "/Observation/o-nobody/$meta", "operation"},
      {"their $everything", std::string("/Patient/") + theirs + "/$everything", "/Patient/p-nobody/$everything",
       "operation"},
  };
  for (const pair_of_reads& p : reads) {
    CAPTURE(p.what);
    const http_reply r = get(p.theirs_target);
    const http_reply absent = get(p.absent_target);
    CHECK(r.status == 404);
    CHECK(r.body == absent.body);
    check_no_data(r.body);
    audit.expect(r, p.what, p.subtype);
    audit.expect(absent, std::string(p.what) + " (absent)", p.subtype);
  }
  // Their compartment: refused exactly as an absent patient's.
  {
    const http_reply r = get(std::string("/Patient/") + theirs + "/Observation");
    const http_reply absent = get("/Patient/p-nobody/Observation");
    CHECK(r.status == 403);
    CHECK(r.status == absent.status);
    CHECK(r.body == absent.body);
    check_no_data(r.body);
    audit.expect(r, "search their compartment", "search-type");
  }

  // Searches: only mine, in the entries and in the totals; asking for
  // theirs answers as asking for nobody's.
  {
    const http_reply all = get("/Observation?_total=accurate");
    REQUIRE(all.status == 200);
    CHECK(ids_of(all.body) == std::set<std::string>{"Observation/o-mine-lab", "Observation/o-mine-vital",
                                                     "Observation/o-mine-derived"});
    CHECK(total_of(all.body) == "3");
    check_nothing_of_theirs(all.body);
    CHECK(total_of(get("/Observation?_summary=count").body) == "3");
    const http_reply same_code = get("/Observation?code=" + std::string(lab_code) + "&_total=accurate");
    CHECK(ids_of(same_code.body) == std::set<std::string>{"Observation/o-mine-lab"});
    CHECK(total_of(same_code.body) == "1");
    check_nothing_of_theirs(same_code.body);
    CHECK(ids_of(get("/Patient").body) == std::set<std::string>{std::string("Patient/") + mine});
    CHECK(ids_of(get("/Encounter").body) == std::set<std::string>{"Encounter/e-mine"});
    struct pair_of_searches {
      std::string what;
      std::string theirs_target, absent_target;
    };
    const std::vector<pair_of_searches> searches = {
        {"their Observations by subject", std::string("/Observation?_total=accurate&subject=Patient/") + theirs,
         "/Observation?_total=accurate&subject=Patient/p-nobody"},
        {"their Observations by patient", std::string("/Observation?_total=accurate&patient=") + theirs,
         "/Observation?_total=accurate&patient=p-nobody"},
        {"their Observation by _id", "/Observation?_total=accurate&_id=o-theirs-lab",
         "/Observation?_total=accurate&_id=o-nobody"},
        {"their Patient by name", std::string("/Patient?_total=accurate&name=") + their_name,
         "/Patient?_total=accurate&name=Nobodyatall"},
        {"their Encounter by subject", std::string("/Encounter?_total=accurate&subject=Patient/") + theirs,
         "/Encounter?_total=accurate&subject=Patient/p-nobody"},
    };
    for (const pair_of_searches& s : searches) {
      CAPTURE(s.what);
      const http_reply r = get(s.theirs_target);
      const http_reply absent = get(s.absent_target);
      REQUIRE(r.status == 200);
      CHECK(total_of(r.body) == "0");
      CHECK(ids_of(r.body).empty());
      CHECK(without_links(r.body) == without_links(absent.body));
      audit.expect(r, s.what, "search-type", "0");
    }
    const http_reply post = c.request("POST", "/Observation/_search", std::string("subject=Patient/") + theirs,
                                      with_token(token, "application/x-www-form-urlencoded"));
    REQUIRE(post.status == 200);
    CHECK(ids_of(post.body).empty());
    check_nothing_of_theirs(post.body);
  }

  // _include and _revinclude: theirs is left out.
  {
    const http_reply inc = get("/Observation?_id=o-mine-derived&_include=Observation:derived-from");
    REQUIRE(inc.status == 200);
    CHECK(ids_of(inc.body, "match") == std::set<std::string>{"Observation/o-mine-derived"});
    CHECK(ids_of(inc.body, "include") == std::set<std::string>{"Observation/o-mine-vital"});
    check_nothing_of_theirs(inc.body);
    const http_reply subjects = get("/Observation?code=" + std::string(lab_code) + "&_include=Observation:subject" +
                                    "&_include=Observation:encounter");
    REQUIRE(subjects.status == 200);
    CHECK(ids_of(subjects.body, "include") ==
          std::set<std::string>{std::string("Patient/") + mine, "Encounter/e-mine"});
    check_nothing_of_theirs(subjects.body);
    const http_reply iterate =
        get("/Observation?_id=o-mine-derived&_include=Observation:derived-from&_include:iterate=Observation:subject");
    REQUIRE(iterate.status == 200);
    check_nothing_of_theirs(iterate.body);
    const http_reply rev = get("/Observation?_id=o-mine-lab&_revinclude=Observation:derived-from");
    REQUIRE(rev.status == 200);
    CHECK(ids_of(rev.body, "include") == std::set<std::string>{"Observation/o-mine-vital"});
    check_nothing_of_theirs(rev.body);
    const http_reply rev_enc = get("/Encounter?_revinclude=Observation:encounter");
    REQUIRE(rev_enc.status == 200);
    CHECK(ids_of(rev_enc.body) == std::set<std::string>{"Encounter/e-mine", "Observation/o-mine-lab"});
    check_nothing_of_theirs(rev_enc.body);
    const http_reply rev_patient = get("/Patient?_revinclude=Encounter:subject&_revinclude=Observation:subject");
    REQUIRE(rev_patient.status == 200);
    CHECK(ids_of(rev_patient.body, "match") == std::set<std::string>{std::string("Patient/") + mine});
    CHECK(ids_of(rev_patient.body, "include").size() == 4);  // e-mine and the three Observations
    check_nothing_of_theirs(rev_patient.body);
  }

  // _has and chains test resources the token may not read: refused, the
  // same whether they would match theirs or nothing.
  {
    struct pair_of_criteria {
      std::string what;
      std::string matching_theirs, matching_nothing;
    };
    const std::vector<pair_of_criteria> criteria = {
        {"_has over their Observations", "/Patient?_has:Observation:subject:code=" + std::string(vital_code),
         "/Patient?_has:Observation:subject:code=0000-0"},
        {"_has over their Encounters", "/Patient?_has:Encounter:subject:status=finished",
         "/Patient?_has:Encounter:subject:status=cancelled"},
        {"chain to their name", std::string("/Observation?subject.name=") + their_name,
         "/Observation?subject.name=Nobodyatall"},
        {"typed chain to their name", std::string("/Observation?subject:Patient.family=") + their_name,
         "/Observation?subject:Patient.family=Nobodyatall"},
        {"chain through their Encounter", "/Observation?encounter.subject=Patient/p-theirs",
         "/Observation?encounter.subject=Patient/p-nobody"},
    };
    for (const pair_of_criteria& p : criteria) {
      CAPTURE(p.what);
      const http_reply r = get(p.matching_theirs);
      const http_reply nothing = get(p.matching_nothing);
      check_insufficient_scope(r);
      CHECK(r.body == nothing.body);
      audit.expect(r, p.what, "search-type");
    }
  }

  // Writes to theirs, directly and in transactions: refused, nothing changes.
  {
    const std::string allowed = entry("POST", "Observation", observation("", mine, "laboratory", "cross-tx"));
    const std::string json_patch_to_theirs =
        R"([{"op":"replace","path":"/subject/reference","value":"Patient/p-theirs"}])";
    const std::string take_theirs = observation("o-theirs-lab", mine, "laboratory", lab_code);
    const std::string give_mine = observation("o-mine-lab", theirs, "laboratory", lab_code);
    const std::vector<write_attempt> writes = {
        {"create for them", "POST", "/Observation", observation("", theirs, "laboratory", "cross-tx"),
         "application/fhir+json", "create"},
        {"update theirs", "PUT", "/Observation/o-theirs-lab", take_theirs, "application/fhir+json", "update"},
        {"move mine to them", "PUT", "/Observation/o-mine-lab", give_mine, "application/fhir+json", "update"},
        {"patch mine to them", "PATCH", "/Observation/o-mine-lab", json_patch_to_theirs, "application/json-patch+json",
         "patch"},
    };
    for (const write_attempt& w : writes) {
      CAPTURE(w.what);
      const http_reply r = c.request(w.method, w.target, w.body, with_token(token, w.content_type));
      check_insufficient_scope(r);
      audit.expect(r, w.what, w.subtype);
    }
    struct tx {
      std::string what;
      std::string denied;
    };
    const std::vector<tx> txs = {
        {"transaction: create for them",
         entry("POST", "Observation", observation("", theirs, "laboratory", "cross-tx"))},
        {"transaction: update theirs", entry("PUT", "Observation/o-theirs-lab", take_theirs)},
        {"transaction: move mine to them", entry("PUT", "Observation/o-mine-lab", give_mine)},
        {"transaction: patch mine to them",
         entry("PATCH", "Observation/o-mine-lab", patch_binary(json_patch_to_theirs))},
        {"transaction: conditional update of theirs",
         entry("PUT", "Observation?_id=o-theirs-lab", observation("", theirs, "laboratory", "cross-tx"))},
    };
    for (const tx& t : txs) {
      CAPTURE(t.what);
      const http_reply r = c.request("POST", "/", bundle("transaction", {allowed, t.denied}), auth);
      check_insufficient_scope(r);
      audit.expect(r, t.what, "transaction");
    }
    // A read of theirs inside a transaction or a batch: as absent.
    const http_reply tx_read = c.request(
        "POST", "/",
        bundle("transaction", {entry("GET", "Observation/o-theirs-lab"), entry("GET", "Observation/o-nobody")}), auth);
    REQUIRE_MESSAGE(tx_read.status == 200, tx_read.body);
    const auto tx_statuses = entry_statuses(tx_read.body);
    REQUIRE(tx_statuses.size() == 2);
    CHECK(tx_statuses[0] == tx_statuses[1]);
    CHECK(tx_statuses[0].starts_with("404"));
    check_nothing_of_theirs(tx_read.body);
    const http_reply batch = c.request(
        "POST", "/",
        bundle("batch", {entry("GET", std::string("Patient/") + theirs),
                         entry("PUT", "Observation/o-theirs-lab", take_theirs)}),
        auth);
    REQUIRE_MESSAGE(batch.status == 200, batch.body);
    const auto statuses = entry_statuses(batch.body);
    REQUIRE(statuses.size() == 2);
    CHECK(statuses[0].starts_with("404"));
    CHECK(statuses[1].starts_with("403"));
    check_nothing_of_theirs(batch.body);
    audit.expect(batch, "batch: read their Patient", "read");
    audit.expect(batch, "batch: update theirs", "update");
    // Deletes and patches of theirs (answered as for an absent id: the case
    // below checks how): nothing of theirs changes or comes back; each is
    // audited.
    for (const write_attempt& w : their_probes()) {
      CAPTURE(w.what);
      const http_reply r = c.request(w.method, w.target, w.body, with_token(token, w.content_type));
      check_no_data(r.body);
      audit.expect(r, w.what, w.subtype, "*");
    }
    // Conditional interactions cannot see theirs: nothing of theirs changes.
    CHECK(c.request("DELETE", "/Observation?_id=o-theirs-lab", {}, auth).status / 100 == 2);
  }

  http_connection admin(server);
  for (const char* id : {"o-theirs-lab", "o-mine-lab"}) {
    CAPTURE(id);
    const http_reply r = admin.request("GET", std::string("/Observation/") + id);
    CHECK(r.status == 200);
    CHECK(r.header("etag") == "W/\"1\"");
  }
  CHECK(admin.request("GET", std::string("/Patient/") + theirs).status == 200);
  CHECK(total_of(admin.request("GET", "/Observation?code=cross-tx&_total=accurate").body) == "0");
  audit.check(server);
}

// A patient/ token cannot tell "not yours" from "does not exist" by deleting
// or patching: DELETE and PATCH of the other patient's resource, alone or as
// a batch or transaction entry, answer exactly as for an absent id (204 or
// 412, 404), and the trail records them as the refusals they are (outcome
// 4). (PUT cannot be made alike while update-as-create is on: an absent id
// is created; it is refused 403.)
TEST_CASE("adversarial: deletes and patches of the other patient's resources answer as for absent ones") {
  hearth_process server;
  seed(server);
  const std::string token = minted(server, {"--scope", "patient/*.cruds launch/patient", "--patient", mine});
  audit_expectations audit;
  http_connection c(server.port());
  const std::vector<write_attempt> to_theirs = their_probes(false);
  const std::vector<write_attempt> to_nobody = their_probes(true);
  for (std::size_t i = 0; i < to_theirs.size(); ++i) {
    const write_attempt& w = to_theirs[i];
    const write_attempt& a = to_nobody[i];
    CAPTURE(w.what);
    const http_reply r = c.request(w.method, w.target, w.body, with_token(token, w.content_type));
    const http_reply absent = c.request(a.method, a.target, a.body, with_token(token, a.content_type));
    CHECK(r.status == absent.status);
    CHECK(r.header("etag") == absent.header("etag"));
    if (w.target == "/") {
      CHECK(entry_statuses(r.body) == entry_statuses(absent.body));
      audit.expect(r, w.what, "delete");  // the entry's own event
    } else {
      CHECK(r.body == absent.body);
      audit.expect(r, w.what, w.subtype);
    }
  }
  http_connection admin(server);
  CHECK(admin.request("GET", "/Observation/o-theirs-lab").header("etag") == "W/\"1\"");
  CHECK(admin.request("GET", std::string("/Patient/") + theirs).status == 200);
  audit.check(server);
}

// ==============================================================================================
// Granular scopes
// ==============================================================================================

TEST_CASE("adversarial: a granular laboratory scope cannot reach a vital-signs Observation by read, search, include") {
  hearth_process server;
  seed(server);
  const std::string token = minted(server, {"--scope", std::string(lab_scope) + " launch/patient", "--patient", mine});
  audit_expectations audit;
  http_connection c(server.port());
  const header_list auth = with_token(token);
  const auto get = [&](const std::string& target) { return c.request("GET", target, {}, auth); };

  CHECK(get("/Observation/o-mine-lab").status == 200);
  struct pair_of_reads {
    std::string what;
    std::string target, absent;
    const char* subtype;
  };
  for (const pair_of_reads& p : std::vector<pair_of_reads>{
           {"read my vital signs", "/Observation/o-mine-vital", "/Observation/o-nobody", "read"},
           {"vread my vital signs", "/Observation/o-mine-vital/_history/1", "/Observation/o-nobody/_history/1",
            "vread"},
           {"history of my vital signs", "/Observation/o-mine-vital/_history", "/Observation/o-nobody/_history",
            "history-instance"},
           {"read their laboratory result", "/Observation/o-theirs-lab", "/Observation/o-nobody", "read"},
       }) {
    CAPTURE(p.what);
    const http_reply r = get(p.target);
    const http_reply absent = get(p.absent);
    CHECK(r.status == 404);
    CHECK(r.body == absent.body);
    CHECK_FALSE(contains(r.body, vital_code));
    check_nothing_of_theirs(r.body);
    audit.expect(r, p.what, p.subtype);
  }

  // Searches carry the filter: the vital signs are not found, not counted.
  const http_reply all = get("/Observation?_total=accurate");
  REQUIRE(all.status == 200);
  CHECK(ids_of(all.body) == std::set<std::string>{"Observation/o-mine-lab", "Observation/o-mine-derived"});
  CHECK(total_of(all.body) == "2");
  CHECK(total_of(get("/Observation?_summary=count").body) == "2");
  for (const std::string& target : std::vector<std::string>{
           "/Observation?_total=accurate&category=vital-signs",
           "/Observation?_total=accurate&category=" + std::string(category_system) + "|vital-signs",
           "/Observation?_total=accurate&code=" + std::string(vital_code),
           "/Observation?_total=accurate&_id=o-mine-vital",
           "/Observation?_total=accurate&derived-from=Observation/o-mine-lab",
       }) {
    CAPTURE(target);
    const http_reply r = get(target);
    REQUIRE(r.status == 200);
    CHECK(total_of(r.body) == "0");
    CHECK(ids_of(r.body).empty());
    CHECK_FALSE(contains(without_links(r.body), vital_code));
    audit.expect(r, "search for vital signs: " + target, "search-type", "0");
  }
  // Whatever a modifier does, the filter stays.
  const http_reply negated = get("/Observation?category:not=laboratory");
  REQUIRE(negated.status == 200);
  CHECK_FALSE(contains(negated.body, "o-mine-vital"));
  check_nothing_of_theirs(negated.body);
  const http_reply post = c.request("POST", "/Observation/_search", "_id=o-mine-vital",
                                    with_token(token, "application/x-www-form-urlencoded"));
  REQUIRE(post.status == 200);
  CHECK(ids_of(post.body).empty());

  // _include / _revinclude: the vital signs are left out.
  const http_reply inc = get("/Observation?_id=o-mine-derived&_include=Observation:derived-from");
  REQUIRE(inc.status == 200);
  CHECK(ids_of(inc.body, "match") == std::set<std::string>{"Observation/o-mine-derived"});
  CHECK(ids_of(inc.body, "include").empty());
  CHECK_FALSE(contains(inc.body, vital_code));
  check_nothing_of_theirs(inc.body);
  const http_reply rev = get("/Observation?_id=o-mine-lab&_revinclude=Observation:derived-from");
  REQUIRE(rev.status == 200);
  CHECK(ids_of(rev.body) == std::set<std::string>{"Observation/o-mine-lab"});
  CHECK_FALSE(contains(rev.body, vital_code));
  check_nothing_of_theirs(rev.body);
  // With the Patient readable too: includes and $everything filter alike.
  const std::string with_patient =
      minted(server, {"--scope", std::string(lab_scope) + " patient/Patient.rs launch/patient", "--patient", mine});
  const http_reply rev_patient =
      c.request("GET", "/Patient?_revinclude=Observation:subject", {}, with_token(with_patient));
  REQUIRE(rev_patient.status == 200);
  CHECK(ids_of(rev_patient.body) == std::set<std::string>{std::string("Patient/") + mine, "Observation/o-mine-lab",
                                                           "Observation/o-mine-derived"});
  const http_reply everything =
      c.request("GET", std::string("/Patient/") + mine + "/$everything", {}, with_token(with_patient));
  REQUIRE(everything.status == 200);
  CHECK(ids_of(everything.body) == std::set<std::string>{std::string("Patient/") + mine, "Observation/o-mine-lab",
                                                          "Observation/o-mine-derived"});
  CHECK_FALSE(contains(everything.body, vital_code));

  // Chains and _has cross the filter: refused.
  for (const std::string& target :
       std::vector<std::string>{"/Observation?derived-from.category=vital-signs",
                                "/Observation?_has:Observation:derived-from:category=vital-signs"}) {
    CAPTURE(target);
    const http_reply r = get(target);
    check_insufficient_scope(r);
    audit.expect(r, "chain or _has across the filter: " + target, "search-type");
  }
  // A batch entry: as absent.
  const http_reply batch =
      c.request("POST", "/",
                bundle("batch", {entry("GET", "Observation/o-mine-vital"), entry("GET", "Observation/o-nobody")}),
                auth);
  REQUIRE(batch.status == 200);
  const auto statuses = entry_statuses(batch.body);
  REQUIRE(statuses.size() == 2);
  CHECK(statuses[0].starts_with("404"));
  CHECK(statuses[0] == statuses[1]);
  CHECK_FALSE(contains(batch.body, vital_code));
  audit.expect(batch, "batch: read my vital signs", "read");
  audit.check(server);
}

// ==============================================================================================
// The token endpoint
// ==============================================================================================

namespace {

constexpr const char* app_id = "adv-app";
constexpr const char* redirect_uri = "http://127.0.0.1:9/cb";
constexpr const char* backend_id = "adv-backend";
constexpr const char* password = "correct horse battery staple";

/// A configuration file in a directory of its own, removed on destruction.
class config_file {
 public:
  explicit config_file(const std::string& json) {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("hearth-adv-cfg-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    std::ofstream(path()) << json;
  }
  ~config_file() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  config_file(const config_file&) = delete;
  config_file& operator=(const config_file&) = delete;
  std::filesystem::path path() const { return dir_ / "hearth.json"; }

 private:
  std::filesystem::path dir_;
};

/// The value of the hidden form field `name` of a login page.
std::string input_value(const std::string& html, const std::string& name) {
  const std::string marker = "name=\"" + name + "\" value=\"";
  const auto at = html.find(marker);
  if (at == std::string::npos) return {};
  const auto start = at + marker.size();
  return html.substr(start, html.find('"', start) - start);
}

/// The query parameter `name` of a URL ("" when absent); no decoding (the
/// server's codes are base64url).
std::string query_param(const std::string& url, const std::string& name) {
  const auto q = url.find('?');
  if (q == std::string::npos) return {};
  std::string_view rest = std::string_view(url).substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    if (pair.substr(0, pair.find('=')) == name) return std::string(pair.substr(pair.find('=') + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

/// SMART App Launch 2.2 standalone launch of the public client, signing in
/// as alice (one patient: no picker), up to the code.
struct launch {
  std::string verifier = random_b64url(32);  // RFC 7636 4.1: 43 characters
  std::string challenge = sha256_b64url(verifier);

  /// GET /auth/authorize with the standard parameters, `overrides` replacing
  /// (or, with an empty value, removing) some.
  static http_reply authorize(const hearth_process& server, const header_list& params) {
    http_connection c(server.port());
    return c.request("GET", "/auth/authorize?" + form(params));
  }

  header_list params(const hearth_process& server, const std::string& scope) const {
    return {{"response_type", "code"}, {"client_id", app_id},           {"redirect_uri", redirect_uri},
            {"scope", scope},          {"state", "st-1"},               {"aud", server.base_url()},
            {"code_challenge", challenge}, {"code_challenge_method", "S256"}};
  }

  /// The code of a completed sign-in (REQUIREd).
  std::string code(const hearth_process& server, const std::string& scope) const {
    const http_reply page = authorize(server, params(server, scope));
    REQUIRE_MESSAGE(page.status == 200, page.body);
    http_connection c(server.port());
    const http_reply done = c.request("POST", "/auth/authorize",
                                      form({{"pending", input_value(page.body, "pending")},
                                            {"csrf", input_value(page.body, "csrf")},
                                            {"action", "login"},
                                            {"username", "alice"},
                                            {"password", password}}),
                                      form_type);
    REQUIRE_MESSAGE(done.status == 303, done.body);
    const std::string location = done.header("location");
    REQUIRE(location.starts_with(std::string(redirect_uri) + "?"));
    const std::string code = query_param(location, "code");
    REQUIRE_FALSE(code.empty());
    return code;
  }
};

http_reply token_request(const hearth_process& server, const header_list& params) {
  http_connection c(server.port());
  return c.request("POST", "/auth/token", form(params), form_type);
}

/// An OAuth error answer (RFC 6749 5.2): `status`, `error`, no token, not cached.
void check_oauth_error(const http_reply& r, int status, const std::string& error) {
  CHECK(r.status == status);
  CHECK(json_field(r.body, "error") == error);
  CHECK_FALSE(contains(r.body, "access_token"));
  CHECK(r.header("cache-control") == "no-store");
}

std::string assertion(const jwt::key& k, const std::string& aud, std::int64_t exp_in, const std::string& jti) {
  const std::int64_t now = unix_now();
  json_value claims = json_value::object();
  claims.set("iss", backend_id);
  claims.set("sub", backend_id);
  claims.set("aud", aud);
  claims.set("jti", jti);
  claims.set("iat", json_value::number(std::to_string(now)));
  claims.set("exp", json_value::number(std::to_string(now + exp_in)));
  return sign_as(claims, k, "JWT");
}

header_list client_credentials(const std::string& signed_assertion, const std::string& scope = "system/Patient.rs") {
  return {{"grant_type", "client_credentials"},
          {"scope", scope},
          {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
          {"client_assertion", signed_assertion}};
}

}  // namespace

TEST_CASE("adversarial: token endpoint: code reuse, PKCE, redirect_uri, revocation, id_token, assertion replay") {
  const jwt::key client_key = generate_p384();
  jwt::key_set keys;
  keys.add(client_key);
  server::auth::argon2_params cheap;  // a test user: the cost is not what is tested
  cheap.memory_kib = 1024;
  cheap.iterations = 1;
  const std::string hash = server::auth::hash_password(password, cheap).value();
  const config_file cfg(
      std::string(R"({"auth":{"clients":[)") + R"({"client_id":")" + app_id +
      R"(","type":"public","redirect_uris":[")" + redirect_uri + R"(","http://127.0.0.1:9/other"],)" +
      R"("scope":"launch/patient openid fhirUser offline_access patient/*.rs"},)" + R"({"client_id":")" + backend_id +
      R"(","type":"confidential-asymmetric","scope":"system/Patient.rs system/Observation.rs","jwks":)" +
      fhir::to_json(keys.to_jwks()) + R"(}],"users":[{"username":"alice","password_hash":")" + hash +
      R"(","fhir_user":"Practitioner/adv-doc","patients":[")" + mine + R"("]}]}})");
  hearth_process server({"--config", cfg.path().string()});
  seed(server);
  const std::string token_url = server.base_url() + "/auth/token";
  audit_expectations audit;
  http_connection api(server.port());
  const auto read_mine = [&](const std::string& token) {
    return api.request("GET", std::string("/Patient/") + mine, {}, with_token(token));
  };
  const std::string scope = "launch/patient openid fhirUser offline_access patient/*.rs";

  // --- authorization code reuse: refused, and what the first use issued is revoked.
  {
    const launch l;
    const std::string code = l.code(server, scope);
    const header_list exchange{{"grant_type", "authorization_code"}, {"code", code},
                               {"redirect_uri", redirect_uri},      {"code_verifier", l.verifier},
                               {"client_id", app_id}};
    const http_reply first = token_request(server, exchange);
    REQUIRE_MESSAGE(first.status == 200, first.body);
    const std::string access = json_field(first.body, "access_token");
    const std::string refresh = json_field(first.body, "refresh_token");
    CHECK(json_field(first.body, "patient") == mine);
    REQUIRE_FALSE(refresh.empty());
    CHECK(read_mine(access).status == 200);
    CHECK(read_mine(access).status == 200);  // now in the verifier's cache

    const http_reply again = token_request(server, exchange);
    check_oauth_error(again, 400, "invalid_grant");
    audit.expect(again, "code reuse", "ITI-71", "4", code);
    // The server says "the tokens it issued are revoked": they are.
    const http_reply revoked = read_mine(access);
    check_invalid_token(revoked);
    audit.expect(revoked, "access token of a reused code", "read", "4", access);
    const http_reply refreshed =
        token_request(server, {{"grant_type", "refresh_token"}, {"refresh_token", refresh}, {"client_id", app_id}});
    check_oauth_error(refreshed, 400, "invalid_grant");
    audit.expect(refreshed, "refresh token of a reused code", "ITI-71", "4", refresh);
  }

  // --- PKCE: a wrong verifier, none, and the plain method.
  {
    const launch l;
    const std::string code = l.code(server, scope);
    const header_list no_verifier{{"grant_type", "authorization_code"}, {"code", code},
                                  {"redirect_uri", redirect_uri}, {"client_id", app_id}};
    const http_reply missing = token_request(server, no_verifier);
    check_oauth_error(missing, 400, "invalid_request");
    audit.expect(missing, "PKCE: no code_verifier", "ITI-71");
    const launch other;
    header_list wrong = no_verifier;
    wrong.emplace_back("code_verifier", other.verifier);
    const http_reply mismatch = token_request(server, wrong);
    check_oauth_error(mismatch, 400, "invalid_grant");
    audit.expect(mismatch, "PKCE: wrong code_verifier", "ITI-71");
    // The code is spent by the failed attempt: the right verifier is too late.
    header_list right = no_verifier;
    right.emplace_back("code_verifier", l.verifier);
    const http_reply late = token_request(server, right);
    check_oauth_error(late, 400, "invalid_grant");
    audit.expect(late, "PKCE: the right verifier after a wrong one", "ITI-71", "4", code);
    // The verifier sent as the challenge (what "plain" would accept).
    const launch l2;
    header_list as_plain{{"grant_type", "authorization_code"}, {"code", l2.code(server, scope)},
                         {"redirect_uri", redirect_uri},     {"client_id", app_id},
                         {"code_verifier", l2.challenge}};
    const http_reply plain = token_request(server, as_plain);
    check_oauth_error(plain, 400, "invalid_grant");
    audit.expect(plain, "PKCE: the challenge sent as the verifier (plain)", "ITI-71");
  }
  for (const header_list& changed : std::vector<header_list>{
           {{"code_challenge_method", "plain"}}, {{"code_challenge_method", ""}}, {{"code_challenge", ""}}}) {
    const launch l;
    header_list p;
    for (const auto& [k, v] : l.params(server, scope)) {
      const auto it = std::find_if(changed.begin(), changed.end(), [&](const auto& c) { return c.first == k; });
      if (it == changed.end()) p.emplace_back(k, v);
      else if (!it->second.empty()) p.emplace_back(k, it->second);
    }
    CAPTURE(changed.front().first);
    CAPTURE(changed.front().second);
    const http_reply r = launch::authorize(server, p);
    // RFC 6749 4.1.2.1: back to the (registered) redirect URI with an error, no code.
    CHECK(r.status == 302);
    const std::string location = r.header("location");
    CHECK(location.starts_with(std::string(redirect_uri) + "?"));
    CHECK(query_param(location, "error") == "invalid_request");
    CHECK(query_param(location, "code").empty());
    CHECK_FALSE(contains(r.body, "csrf"));
    audit.expect(r, "PKCE: " + changed.front().first + "=" + changed.front().second, "110122");
  }

  // --- redirect_uri: an unregistered one is never redirected to; another
  // registered one does not redeem the code.
  {
    const launch l;
    header_list p = l.params(server, scope);
    for (auto& [k, v] : p)
      if (k == "redirect_uri") v = "http://127.0.0.1:9/cb/../evil";
    const http_reply r = launch::authorize(server, p);
    CHECK(r.status == 400);
    CHECK(r.header("location").empty());
    audit.expect(r, "unregistered redirect_uri", "110122");
    const std::string code = l.code(server, scope);
    const http_reply other = token_request(server, {{"grant_type", "authorization_code"},
                                                     {"code", code},
                                                     {"redirect_uri", "http://127.0.0.1:9/other"},
                                                     {"code_verifier", l.verifier},
                                                     {"client_id", app_id}});
    check_oauth_error(other, 400, "invalid_grant");
    audit.expect(other, "redirect_uri mismatch at the token endpoint", "ITI-71");
  }

  // --- an id_token is not an access token; a refresh cannot widen; revoked
  // access and refresh tokens are refused.
  {
    const launch l;
    const http_reply granted = token_request(server, {{"grant_type", "authorization_code"},
                                                       {"code", l.code(server, scope)},
                                                       {"redirect_uri", redirect_uri},
                                                       {"code_verifier", l.verifier},
                                                       {"client_id", app_id}});
    REQUIRE_MESSAGE(granted.status == 200, granted.body);
    const std::string access = json_field(granted.body, "access_token");
    const std::string refresh = json_field(granted.body, "refresh_token");
    const std::string id_token = json_field(granted.body, "id_token");
    REQUIRE_FALSE(id_token.empty());
    const http_reply as_access = read_mine(id_token);
    check_invalid_token(as_access);
    audit.expect(as_access, "id_token as access token", "read", "4", id_token);

    const http_reply wider = token_request(
        server, {{"grant_type", "refresh_token"}, {"refresh_token", refresh}, {"scope", "patient/*.cruds"},
                 {"client_id", app_id}});
    check_oauth_error(wider, 400, "invalid_scope");
    audit.expect(wider, "refresh widening the scope", "ITI-71");

    CHECK(read_mine(access).status == 200);
    http_connection c(server.port());
    CHECK(c.request("POST", "/auth/revoke", form({{"token", access}, {"client_id", app_id}}), form_type).status == 200);
    const http_reply revoked = read_mine(access);
    check_invalid_token(revoked);
    CHECK(contains(revoked.header("www-authenticate"), "revoked"));
    audit.expect(revoked, "revoked access token", "read", "4", access);
    CHECK(c.request("POST", "/auth/revoke", form({{"token", refresh}, {"client_id", app_id}}), form_type).status ==
          200);
    const http_reply refreshed =
        token_request(server, {{"grant_type", "refresh_token"}, {"refresh_token", refresh}, {"client_id", app_id}});
    check_oauth_error(refreshed, 400, "invalid_grant");
    audit.expect(refreshed, "revoked refresh token", "ITI-71", "4", refresh);
  }

  // --- SMART Backend Services: replay, lifetime, audience, scope.
  {
    const std::string jti = "adv-" + random_b64url(12);
    const std::string good = assertion(client_key, token_url, 240, jti);
    const http_reply first = token_request(server, client_credentials(good));
    REQUIRE_MESSAGE(first.status == 200, first.body);
    CHECK(json_field(first.body, "scope") == "system/Patient.rs");
    const http_reply replay = token_request(server, client_credentials(good));
    check_oauth_error(replay, 401, "invalid_client");
    audit.expect(replay, "assertion replayed (same jti)", "ITI-71", "4", good);
    // A new assertion (another exp, another signature) with the same jti is a replay as well.
    const http_reply same_jti = token_request(server, client_credentials(assertion(client_key, token_url, 200, jti)));
    check_oauth_error(same_jti, 401, "invalid_client");
    audit.expect(same_jti, "new assertion, same jti", "ITI-71");

    const http_reply too_long =
        token_request(server, client_credentials(assertion(client_key, token_url, 600, "adv-" + random_b64url(12))));
    check_oauth_error(too_long, 401, "invalid_client");
    audit.expect(too_long, "assertion exp 10 minutes ahead", "ITI-71");
    const http_reply wrong_aud = token_request(
        server, client_credentials(assertion(client_key, server.base_url(), 240, "adv-" + random_b64url(12))));
    check_oauth_error(wrong_aud, 401, "invalid_client");
    audit.expect(wrong_aud, "assertion for another audience", "ITI-71");
    const http_reply expired =
        token_request(server, client_credentials(assertion(client_key, token_url, -300, "adv-" + random_b64url(12))));
    check_oauth_error(expired, 401, "invalid_client");
    audit.expect(expired, "expired assertion", "ITI-71");
    const http_reply foreign = token_request(
        server, client_credentials(assertion(generate_p384(), token_url, 240, "adv-" + random_b64url(12))));
    check_oauth_error(foreign, 401, "invalid_client");
    audit.expect(foreign, "assertion signed by another key", "ITI-71");
    // Scope escalation at the token endpoint: narrowed to what the client
    // may have, or refused when nothing is left.
    const http_reply wider = token_request(
        server, client_credentials(assertion(client_key, token_url, 240, "adv-" + random_b64url(12)),
                                   "system/Patient.cruds"));
    REQUIRE_MESSAGE(wider.status == 200, wider.body);
    CHECK(json_field(wider.body, "scope") == "system/Patient.rs");
    const http_reply outside = token_request(
        server, client_credentials(assertion(client_key, token_url, 240, "adv-" + random_b64url(12)),
                                   "system/Encounter.rs"));
    check_oauth_error(outside, 400, "invalid_scope");
    audit.expect(outside, "client_credentials for a scope the client may not have", "ITI-71");
    const http_reply patient_level = token_request(
        server, client_credentials(assertion(client_key, token_url, 240, "adv-" + random_b64url(12)),
                                   "patient/Patient.rs"));
    check_oauth_error(patient_level, 400, "invalid_scope");
    audit.expect(patient_level, "client_credentials for a patient/ scope", "ITI-71");
  }
  audit.check(server);
}

}  // namespace hearth::test
