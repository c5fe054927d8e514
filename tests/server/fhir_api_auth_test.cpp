// fhir_api: SMART on FHIR scope enforcement in the REST layer (issue 6
// "Enforcement"; SMART App Launch 2.2 scopes-and-launch-context; SECURITY.md;
// the rules as applied: server/src/rest_auth.hpp), and the write hook
// (api_options::make_write_hook).
#include <hearth/server/fhir_api.hpp>

#include <atomic>
#include <memory>
#include <set>

#include <doctest/doctest.h>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/smart_scopes.hpp>

#include "server_test_support.hpp"

namespace hearth::server::test {
namespace {

constexpr std::string_view lab_scope =
    "user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory";

std::string observation(std::string_view patient_id, std::string_view code, std::string_view category = "laboratory",
                        std::string_view extra = {}) {
  std::string s =
      R"({"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":")" +
      std::string(category) + R"("}]}],"code":{"coding":[{"system":"http://loinc.org","code":")" + std::string(code) +
      R"("}]},"subject":{"reference":"Patient/)" + std::string(patient_id) + "\"}";
  if (!extra.empty()) s += "," + std::string(extra);
  return s + "}";
}

std::string with_id(std::string json, std::string_view id) {
  return R"({"id":")" + std::string(id) + "\"," + json.substr(1);
}

std::string audit_event(std::string_view patient_id) {
  return R"({"resourceType":"AuditEvent","type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},"recorded":"2024-03-01T12:00:00Z","agent":[{"requestor":true,"who":{"reference":"Practitioner/x"}}],"source":{"observer":{"display":"hearth"}},"entity":[{"what":{"reference":"Patient/)" +
         std::string(patient_id) + R"("}}]})";
}

/// One entry of a batch or transaction Bundle.
std::string entry(std::string_view method, std::string_view url, std::string_view resource = {},
                  std::string_view full_url = {}) {
  std::string s = "{";
  if (!full_url.empty()) s += R"("fullUrl":")" + std::string(full_url) + "\",";
  if (!resource.empty()) s += R"("resource":)" + std::string(resource) + ",";
  return s + R"("request":{"method":")" + std::string(method) + R"(","url":")" + std::string(url) + "\"}}";
}

std::string bundle(std::string_view type, const std::vector<std::string>& entries) {
  std::string s = R"({"resourceType":"Bundle","type":")" + std::string(type) + R"(","entry":[)";
  for (std::size_t i = 0; i < entries.size(); ++i) s += (i ? "," : "") + entries[i];
  return s + "]}";
}

/// The ids of a Bundle's entries with search.mode `mode` ("" for every entry).
std::set<std::string> ids_of(const fhir::json_value& b, std::string_view mode = {}) {
  std::set<std::string> out;
  for (const auto& e : entries(b)) {
    if (!mode.empty() && str_at(e, {"search", "mode"}) != mode) continue;
    out.insert(str_at(e, {"resource", "resourceType"}) + "/" + str_at(e, {"resource", "id"}));
  }
  return out;
}

std::string total_of(const fhir::json_value& b) {
  const fhir::json_value* t = b.find("total");
  return t == nullptr ? std::string() : t->number_text();
}

/// A store with two patients (p1, p2), their observations, and the API
/// twice over it: `plain` (no checks: seeds and inspects) and `secured`
/// (enforcement on), called with a principal.
///   o1: p1, laboratory, code A      o2: p1, vital-signs, code B
///   o3: p2, laboratory, code A, derived from o1
///   o4: p1, laboratory, code C, derived from o3 (another patient's) and o2
struct auth_case {
  explicit auth_case(api_options o = api_case::default_options())
      : plain(), secured(plain.sc.rs, registry(), secured_options(std::move(o))) {
    put("Patient", "p1", patient("Smith"));
    put("Patient", "p2", patient("Jones"));
    put("Observation", "o1", observation("p1", "A"));
    put("Observation", "o2", observation("p1", "B", "vital-signs"));
    put("Observation", "o3", observation("p2", "A", "laboratory", R"("derivedFrom":[{"reference":"Observation/o1"}])"));
    put("Observation", "o4",
        observation("p1", "C", "laboratory",
                    R"("derivedFrom":[{"reference":"Observation/o3"},{"reference":"Observation/o2"}])"));
  }

  static api_options secured_options(api_options o) {
    o.enforce_authorization = true;
    if (o.indexer == nullptr) o.indexer = &store::test::default_indexer();
    return o;
  }

  void put(std::string_view type, std::string_view id, std::string body) const {
    const http_response r = plain.put("/" + std::string(type) + "/" + std::string(id), with_id(std::move(body), id));
    REQUIRE(r.status == 201);
  }

  http_response send(const principal_ptr& who, std::string method, std::string target, std::string body = {},
                     std::vector<http_header> headers = {}) const {
    http_request req;
    req.method = std::move(method);
    req.target = "/fhir" + std::move(target);
    req.body = std::move(body);
    req.headers = api_case::with_type(std::move(headers));
    req.remote_address = "127.0.0.1";
    req.request_id = "req-auth";
    req.principal = who;
    return secured.handle(req);
  }
  http_response get(const principal_ptr& who, std::string target) const { return send(who, "GET", std::move(target)); }

  api_case plain;
  fhir_api secured;
};

void check_forbidden(const http_response& r, std::string_view names) {
  CHECK(r.status == 403);
  CHECK(issue_code(r) == "forbidden");
  CHECK(diagnostics(r).find(names) != std::string::npos);
}

// --- principal -----------------------------------------------------------------

TEST_CASE("api auth: no principal is 401 login while enforcing; /metadata needs none; off checks nothing") {
  api_options o = api_case::default_options();
  o.capability_json = R"({"resourceType":"CapabilityStatement","status":"active","date":"2024-01-01","kind":"instance","fhirVersion":"4.0.1","format":["json"]})";
  auth_case c(o);
  const http_response r = c.send(nullptr, "GET", "/Patient/p1");
  CHECK(r.status == 401);
  CHECK(issue_code(r) == "login");
  CHECK(r.header("WWW-Authenticate") == "Bearer");
  CHECK(r.body.find("Smith") == std::string::npos);
  CHECK(c.send(nullptr, "POST", "/", bundle("batch", {entry("GET", "Patient/p1")})).status == 401);
  CHECK(c.send(nullptr, "GET", "/metadata").status == 200);
  // The fixtures of the other cases run with enforcement off: no principal, no checks.
  CHECK(c.plain.get("/Patient/p1").status == 200);
}

TEST_CASE("api auth: the letters: r reads, s searches, c creates, u updates, d deletes; nothing else") {
  auth_case c;
  const auto reader = token("user/Patient.r");
  CHECK(c.get(reader, "/Patient/p1").status == 200);
  const http_response s = c.get(reader, "/Patient?family=Smith");
  check_forbidden(s, "search-type on Patient");
  CHECK(s.body.find("Smith") == std::string::npos);
  check_forbidden(c.get(reader, "/Observation/o1"), "read on Observation");
  check_forbidden(c.send(reader, "PUT", "/Patient/p1", with_id(patient("Smyth"), "p1")), "update on Patient");
  check_forbidden(c.send(reader, "DELETE", "/Patient/p1"), "delete on Patient");
  check_forbidden(c.send(reader, "POST", "/Patient", patient("New")), "create on Patient");

  // Scope escalation: .rs cannot write.
  const auto rs = token("user/Observation.rs");
  check_forbidden(c.send(rs, "POST", "/Observation", observation("p1", "Z")), "create on Observation");
  check_forbidden(c.send(rs, "PATCH", "/Observation/o1", R"([{"op":"replace","path":"/status","value":"amended"}])",
                         {{"Content-Type", "application/json-patch+json"}}),
                  "patch on Observation");
  CHECK(c.get(rs, "/Observation?code=A").status == 200);

  // v1 forms: .read = rs, .write = cud.
  const auto v1 = token("user/Observation.read");
  CHECK(c.get(v1, "/Observation/o1").status == 200);
  CHECK(c.get(v1, "/Observation?code=A").status == 200);
  check_forbidden(c.send(v1, "DELETE", "/Observation/o1"), "delete on Observation");
  const auto d = token("user/Observation.d");
  CHECK(c.send(d, "DELETE", "/Observation/o2").status == 204);
  CHECK(c.plain.get("/Observation/o2").status == 410);
  // Context scopes grant no data.
  check_forbidden(c.get(token("openid fhirUser launch/patient"), "/Patient/p1"), "read on Patient");
}

TEST_CASE("api auth: write without read: .c creates and gets its answer, cannot read back or search") {
  auth_case c;
  const auto creator = token("patient/Observation.c", "p1");
  const http_response r = c.send(creator, "POST", "/Observation", observation("p1", "N"));
  REQUIRE(r.status == 201);
  // The answer is the representation of what the request sent.
  CHECK(str_at(body_of(r), {"subject", "reference"}) == "Patient/p1");
  const std::string loc(r.header("Location").value_or(""));
  const std::string id = loc.substr(loc.find("/Observation/") + 13, loc.find("/_history") - loc.find("/Observation/") - 13);
  check_forbidden(c.get(creator, "/Observation/" + id), "read on Observation");
  check_forbidden(c.get(creator, "/Observation?code=N"), "search-type on Observation");
  check_forbidden(c.get(creator, "/Observation/" + id + "/_history"), "history-instance on Observation");
  // Patient scopes reach the compartment only: another patient's is refused.
  check_forbidden(c.send(creator, "POST", "/Observation", observation("p2", "N")), "outside");
  // No patient in context: patient/ scopes grant nothing.
  check_forbidden(c.send(token("patient/Observation.c"), "POST", "/Observation", observation("p1", "N")),
                  "patient scopes need a patient in context");
}

// --- patient-level reads ---------------------------------------------------------

TEST_CASE("api auth: patient scopes: another patient's resources read as absent (same status and body)") {
  auth_case c;
  const auto app = token("patient/*.rs", "p1");
  CHECK(c.get(app, "/Patient/p1").status == 200);
  CHECK(c.get(app, "/Observation/o1").status == 200);
  const http_response absent = c.get(app, "/Observation/nope");
  const http_response other = c.get(app, "/Observation/o3");
  CHECK(absent.status == 404);
  CHECK(other.status == 404);
  CHECK(other.body == absent.body);
  CHECK(other.body.find("p2") == std::string::npos);
  const http_response other_patient = c.get(app, "/Patient/p2");
  CHECK(other_patient.status == 404);
  CHECK(other_patient.body == c.get(app, "/Patient/nope").body);
  // vread, $meta, instance history: the same.
  const http_response vabsent = c.get(app, "/Observation/nope/_history/1");
  const http_response vother = c.get(app, "/Observation/o3/_history/1");
  CHECK(vother.status == 404);
  CHECK(vother.body == vabsent.body);
  CHECK(c.get(app, "/Observation/o3/$meta").body == absent.body);
  CHECK(c.get(app, "/Observation/o3/_history").body == absent.body);
  CHECK(c.get(app, "/Observation/o1/_history/1").status == 200);
  // A deleted resource of the patient's is absent as well (its tombstone
  // holds nothing to check); a real 410 would say it existed.
  CHECK(c.plain.del("/Observation/o2").status == 204);
  CHECK(c.get(app, "/Observation/o2").body == absent.body);
  CHECK(c.plain.get("/Observation/o2").status == 410);
  // Without a patient in context patient/ scopes grant nothing.
  check_forbidden(c.get(token("patient/*.rs"), "/Observation/o1"), "patient scopes need a patient in context");
  // A type outside the Patient compartment is not reached by patient/ scopes.
  c.put("Medication", "m1", R"({"resourceType":"Medication","status":"active"})");
  check_forbidden(c.get(app, "/Medication/m1"), "read on Medication");
}

TEST_CASE("api auth: patient scopes: versions and history of a resource that changed patient") {
  auth_case c;
  // o5 was p2's (version 1), is p1's now (version 2).
  c.put("Observation", "o5", observation("p2", "H"));
  CHECK(c.plain.put("/Observation/o5", with_id(observation("p1", "H"), "o5")).status == 200);
  const auto app = token("patient/Observation.rs", "p1");
  CHECK(c.get(app, "/Observation/o5").status == 200);
  CHECK(c.get(app, "/Observation/o5/_history/2").status == 200);
  const http_response v1 = c.get(app, "/Observation/o5/_history/1");
  CHECK(v1.status == 404);
  CHECK(v1.body == c.get(app, "/Observation/nope/_history/1").body);
  const http_response h = c.get(app, "/Observation/o5/_history");
  REQUIRE(h.status == 200);
  const auto e = entries(body_of(h));
  REQUIRE(e.size() == 1);
  CHECK(str_at(e[0], {"resource", "meta", "versionId"}) == "2");
  // Unrestricted, both versions are there.
  CHECK(entries(body_of(c.get(token("user/Observation.r"), "/Observation/o5/_history"))).size() == 2);
}

// --- searches ------------------------------------------------------------------------

TEST_CASE("api auth: patient scopes: a search becomes the compartment search; totals count what is visible") {
  auth_case c;
  const auto app = token("patient/*.rs", "p1");
  const http_response r = c.get(app, "/Observation?code=A&_total=accurate");
  REQUIRE(r.status == 200);
  const fhir::json_value b = body_of(r);
  CHECK(ids_of(b) == std::set<std::string>{"Observation/o1"});
  CHECK(total_of(b) == "1");
  CHECK(link(b, "self").find("p1") == std::string::npos);  // the links are the request's own
  const fhir::json_value all = body_of(c.get(app, "/Observation?_summary=count"));
  CHECK(total_of(all) == "3");  // o1, o2, o4; not o3
  CHECK(ids_of(body_of(c.get(app, "/Patient"))) == std::set<std::string>{"Patient/p1"});
  CHECK(ids_of(body_of(c.get(app, "/Patient/p1/Observation?code=A"))) == std::set<std::string>{"Observation/o1"});
  check_forbidden(c.get(app, "/Patient/p2/Observation"), "search-type on Observation");
  // Unrestricted: both patients'.
  CHECK(total_of(body_of(c.get(token("user/Observation.s"), "/Observation?code=A&_total=accurate"))) == "2");
  // Conditional search through POST _search is the same search.
  const http_response post = c.send(app, "POST", "/Observation/_search", "code=A",
                                    {{"Content-Type", "application/x-www-form-urlencoded"}});
  REQUIRE(post.status == 200);
  CHECK(ids_of(body_of(post)) == std::set<std::string>{"Observation/o1"});
}

TEST_CASE("api auth: _include and _revinclude leave out what the token cannot read") {
  auth_case c;
  const auto app = token("patient/*.rs", "p1");
  // o4 derives from o3 (p2's) and o2 (p1's).
  const fhir::json_value b = body_of(c.get(app, "/Observation?_id=o4&_include=Observation:derived-from"));
  CHECK(ids_of(b, "match") == std::set<std::string>{"Observation/o4"});
  CHECK(ids_of(b, "include") == std::set<std::string>{"Observation/o2"});
  // Unrestricted, o3 is there.
  CHECK(ids_of(body_of(c.get(token("user/Observation.rs"), "/Observation?_id=o4&_include=Observation:derived-from")),
               "include") == std::set<std::string>{"Observation/o2", "Observation/o3"});
  // _revinclude of o1 finds o3 (p2's): dropped.
  CHECK(ids_of(body_of(c.get(app, "/Observation?_id=o1&_revinclude=Observation:derived-from")), "include").empty());
  // A type the token has no r or s for is dropped whole.
  const auto patients_only = token("patient/Patient.rs", "p1");
  const fhir::json_value p = body_of(c.get(patients_only, "/Patient?_revinclude=Observation:subject"));
  CHECK(ids_of(p, "match") == std::set<std::string>{"Patient/p1"});
  CHECK(ids_of(p, "include").empty());
  // Includes of Patient through the subject: only p1.
  const fhir::json_value s =
      body_of(c.get(token("user/Observation.rs patient/Patient.r", "p1"), "/Observation?code=A&_include=Observation:subject"));
  CHECK(ids_of(s, "match") == std::set<std::string>{"Observation/o1", "Observation/o3"});
  CHECK(ids_of(s, "include") == std::set<std::string>{"Patient/p1"});
}

TEST_CASE("api auth: chains and _has need an unrestricted s on every type they cross") {
  auth_case c;
  const auto app = token("patient/*.rs", "p1");
  check_forbidden(c.get(app, "/Observation?subject.name=Jones"), "chained");
  check_forbidden(c.get(app, "/Patient?_has:Observation:subject:code=A"), "chained or _has");
  check_forbidden(c.get(token("user/Observation.rs"), "/Observation?subject.name=Jones"), "chained");
  const auto all = token("user/*.rs");
  const http_response chain = c.get(all, "/Observation?subject.name=Jones");
  REQUIRE(chain.status == 200);
  CHECK(ids_of(body_of(chain)) == std::set<std::string>{"Observation/o3"});
  const http_response has = c.get(all, "/Patient?_has:Observation:subject:code=C");
  REQUIRE(has.status == 200);
  CHECK(ids_of(body_of(has)) == std::set<std::string>{"Patient/p1"});
}

// --- granular scopes -----------------------------------------------------------------

TEST_CASE("api auth: granular scope: another category reads as absent; searches get the filter") {
  auth_case c;
  const auto labs = token(lab_scope);
  CHECK(c.get(labs, "/Observation/o1").status == 200);
  CHECK(c.get(labs, "/Observation/o3").status == 200);  // user-level: any patient's
  const http_response vital = c.get(labs, "/Observation/o2");
  CHECK(vital.status == 404);
  CHECK(vital.body == c.get(labs, "/Observation/nope").body);
  CHECK(c.get(labs, "/Observation/o2/_history/1").status == 404);
  const fhir::json_value b = body_of(c.get(labs, "/Observation?_total=accurate"));
  CHECK(ids_of(b) == std::set<std::string>{"Observation/o1", "Observation/o3", "Observation/o4"});
  CHECK(total_of(b) == "3");
  CHECK(total_of(body_of(c.get(labs, "/Observation?code=B&_total=accurate"))) == "0");
  // _include of a resource outside the filter (o2, vital signs) is dropped.
  CHECK(ids_of(body_of(c.get(labs, "/Observation?_id=o4&_include=Observation:derived-from")), "include") ==
        std::set<std::string>{"Observation/o3"});
  // Two values of one parameter are an OR the search can express.
  const auto both = token(std::string(lab_scope) +
                          " user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs");
  CHECK(total_of(body_of(c.get(both, "/Observation?_total=accurate"))) == "4");
  // Filters on different parameters cannot be combined in one search: 403;
  // a read is checked filter by filter.
  const auto mixed = token(std::string(lab_scope) + " user/Observation.rs?code=http://loinc.org|B");
  check_forbidden(c.get(mixed, "/Observation"), "search-type on Observation");
  CHECK(c.get(mixed, "/Observation/o2").status == 200);
  CHECK(c.get(mixed, "/Observation/o1").status == 200);
  // A granular write: only content that matches the filter.
  const auto lab_writer = token(
      "user/Observation.cu?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory");
  CHECK(c.send(lab_writer, "POST", "/Observation", observation("p1", "L")).status == 201);
  check_forbidden(c.send(lab_writer, "POST", "/Observation", observation("p1", "L", "vital-signs")), "create");
  check_forbidden(c.send(lab_writer, "PUT", "/Observation/o2", with_id(observation("p1", "B"), "o2")), "update");
  check_forbidden(c.send(lab_writer, "PUT", "/Observation/o1", with_id(observation("p1", "A", "vital-signs"), "o1")),
                  "update");
  CHECK(c.send(lab_writer, "PUT", "/Observation/o1", with_id(observation("p1", "A2"), "o1")).status == 200);
}

// --- writes ----------------------------------------------------------------------------

TEST_CASE("api auth: patient-level writes stay in the compartment: update, patch, delete, conditional") {
  auth_case c;
  const auto app = token("patient/Observation.cruds", "p1");
  CHECK(c.send(app, "PUT", "/Observation/o1", with_id(observation("p1", "A", "laboratory", R"("issued":"2024-01-01T00:00:00Z")"), "o1")).status == 200);
  // Moving one's own resource to another patient, or touching another's.
  check_forbidden(c.send(app, "PUT", "/Observation/o1", with_id(observation("p2", "A"), "o1")), "update on Observation");
  check_forbidden(c.send(app, "PUT", "/Observation/o3", with_id(observation("p1", "A"), "o3")), "update on Observation");
  // Deleting p2's o3 is answered exactly as deleting an id that does not
  // exist (no difference between "not yours" and "does not exist"), with
  // and without If-Match, and recorded as the refusal it is.
  for (const std::vector<http_header>& h :
       {std::vector<http_header>{}, std::vector<http_header>{{"If-Match", "W/\"1\""}}}) {
    const http_response theirs = c.send(app, "DELETE", "/Observation/o3", {}, h);
    const http_response absent = c.send(app, "DELETE", "/Observation/o-absent", {}, h);
    CHECK(theirs.status == (h.empty() ? 204 : 412));
    CHECK(theirs.status == absent.status);
    CHECK(theirs.body == absent.body);
    CHECK(theirs.headers.size() == absent.headers.size());
    CHECK(theirs.audit_status == 403);
    CHECK(absent.audit_status == 0);
  }
  CHECK(c.plain.get("/Observation/o3").status == 200);
  // As Bundle entries: a transaction answers as for an absent id (a delete
  // with If-Match meets no version: 412; a patch finds nothing: 404), a batch
  // entry likewise, and each refusal is marked for the trail.
  {
    auto deleting = [](std::string_view id) {
      return R"({"request":{"method":"DELETE","url":"Observation/)" + std::string(id) + R"(","ifMatch":"W/\"1\""}})";
    };
    auto patching = [](std::string_view id) {
      return entry("PATCH", "Observation/" + std::string(id),
                   R"({"resourceType":"Binary","contentType":"application/json-patch+json",)"
                   R"("data":"W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9zdGF0dXMiLCJ2YWx1ZSI6ImFtZW5kZWQifV0="})");
    };
    for (const auto& [theirs_bundle, absent_bundle, status] : std::vector<std::tuple<std::string, std::string, int>>{
             {bundle("transaction", {deleting("o3")}), bundle("transaction", {deleting("o-absent")}), 412},
             {bundle("transaction", {patching("o3")}), bundle("transaction", {patching("o-absent")}), 404},
         }) {
      const http_response theirs = c.send(app, "POST", "/", theirs_bundle);
      const http_response absent = c.send(app, "POST", "/", absent_bundle);
      CHECK(theirs.status == status);
      CHECK(theirs.status == absent.status);
      CHECK(theirs.body == absent.body);
      CHECK(theirs.audit_status == 403);
      CHECK(absent.audit_status == 0);
    }
    const http_response tx = c.send(app, "POST", "/", bundle("transaction", {entry("DELETE", "Observation/o3")}));
    const http_response tx_absent = c.send(app, "POST", "/", bundle("transaction", {entry("DELETE", "Observation/o-absent")}));
    CHECK(tx.status == 200);
    CHECK(tx.body == tx_absent.body);
    CHECK(tx.audit_entry_status == std::vector<std::pair<std::size_t, int>>{{0, 403}});
    CHECK(tx_absent.audit_entry_status.empty());
    const http_response batch = c.send(
        app, "POST", "/", bundle("batch", {entry("GET", "Observation/o1"), entry("DELETE", "Observation/o3")}));
    CHECK(batch.status == 200);
    CHECK(batch.audit_entry_status == std::vector<std::pair<std::size_t, int>>{{1, 403}});
  }
  CHECK(c.plain.get("/Observation/o3").header("ETag") == "W/\"1\"");
  const std::vector<http_header> json_patch{{"Content-Type", "application/json-patch+json"}};
  check_forbidden(c.send(app, "PATCH", "/Observation/o1",
                         R"([{"op":"replace","path":"/subject/reference","value":"Patient/p2"}])", json_patch),
                  "patch on Observation");
  {
    const std::string amend = R"([{"op":"replace","path":"/status","value":"amended"}])";
    const http_response theirs = c.send(app, "PATCH", "/Observation/o3", amend, json_patch);
    const http_response absent = c.send(app, "PATCH", "/Observation/o-absent", amend, json_patch);
    CHECK(theirs.status == 404);
    CHECK(theirs.body == absent.body);
    CHECK(theirs.audit_status == 403);
    CHECK(c.plain.get("/Observation/o3").header("ETag") == "W/\"1\"");
  }
  CHECK(c.send(app, "PATCH", "/Observation/o1", R"([{"op":"replace","path":"/status","value":"amended"}])", json_patch)
            .status == 200);
  // Update-as-create of new content in the compartment.
  CHECK(c.send(app, "PUT", "/Observation/o9", with_id(observation("p1", "Q"), "o9")).status == 201);
  // Conditional delete: the search cannot find p2's o3 (code A, p2): nothing deleted.
  CHECK(c.send(app, "DELETE", "/Observation?_id=o3").status == 204);
  CHECK(c.plain.get("/Observation/o3").status == 200);
  // Conditional update: no visible match, so it creates (in the compartment).
  const http_response cu = c.send(app, "PUT", "/Observation?_id=o3", observation("p1", "R"));
  CHECK(cu.status == 201);
  CHECK(c.plain.get("/Observation/o3").status == 200);
  // Conditional create: p2's o3 is not seen; the new one is created.
  CHECK(c.send(app, "POST", "/Observation", observation("p1", "S"), {{"If-None-Exist", "_id=o3"}}).status == 201);
  // Conditional interactions search: without s they are refused.
  const auto writer = token("patient/Observation.cud", "p1");
  check_forbidden(c.send(writer, "DELETE", "/Observation?code=A"), "search-type on Observation");
  CHECK(c.send(app, "DELETE", "/Observation/o4").status == 204);
}

TEST_CASE("api auth: write without read: a patch's result is not returned to a token that cannot read it") {
  auth_case c;
  const auto updater = token("patient/Observation.u", "p1");
  const http_response r = c.send(updater, "PATCH", "/Observation/o1",
                                 R"([{"op":"replace","path":"/status","value":"amended"}])",
                                 {{"Content-Type", "application/json-patch+json"}});
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  CHECK(r.header("ETag") == "W/\"2\"");
  const http_response readable = c.send(token("patient/Observation.ru", "p1"), "PATCH", "/Observation/o1",
                                        R"([{"op":"replace","path":"/status","value":"final"}])",
                                        {{"Content-Type", "application/json-patch+json"}});
  CHECK(readable.status == 200);
  CHECK(str_at(body_of(readable), {"status"}) == "final");
  // $meta-add answers with the meta: it needs r as well as u.
  const std::string meta_add =
      R"({"resourceType":"Parameters","parameter":[{"name":"meta","valueMeta":{"tag":[{"system":"http://x","code":"y"}]}}]})";
  check_forbidden(c.send(updater, "POST", "/Observation/o1/$meta-add", meta_add), "read on Observation");
  CHECK(c.send(token("patient/Observation.ru", "p1"), "POST", "/Observation/o1/$meta-add", meta_add).status == 200);
  CHECK(c.send(token("patient/Observation.ru", "p1"), "POST", "/Observation/o3/$meta-add", meta_add).status == 404);
}

// --- batch and transaction -----------------------------------------------------------

TEST_CASE("api auth: transaction: every entry checked before anything commits; one denial fails it") {
  auth_case c;
  const auto app = token("patient/Observation.crus patient/Patient.rs", "p1");
  const std::size_t before = entries(body_of(c.plain.get("/Observation?_count=100"))).size();
  const http_response r = c.send(app, "POST", "/",
                                 bundle("transaction", {entry("POST", "Observation", observation("p1", "T1")),
                                                        entry("POST", "Observation", observation("p2", "T2"))}));
  CHECK(r.status == 403);
  CHECK(issue_code(r) == "forbidden");
  const fhir::json_value oo = body_of(r);
  CHECK(oo.find("issue")->items()[0].find("expression")->items()[0].str() == "Bundle.entry[1]");
  CHECK(entries(body_of(c.plain.get("/Observation?_count=100"))).size() == before);
  // An update of another patient's resource, a delete without d, a GET of
  // a type not granted: each fails the whole.
  CHECK(c.send(app, "POST", "/",
               bundle("transaction", {entry("POST", "Observation", observation("p1", "T1")),
                                      entry("PUT", "Observation/o3", with_id(observation("p1", "A"), "o3"))}))
            .status == 403);
  CHECK(c.send(app, "POST", "/",
               bundle("transaction", {entry("POST", "Observation", observation("p1", "T1")),
                                      entry("DELETE", "Observation/o1")}))
            .status == 403);
  CHECK(c.send(app, "POST", "/",
               bundle("transaction", {entry("POST", "Observation", observation("p1", "T1")),
                                      entry("GET", "Encounter?status=finished")}))
            .status == 403);
  CHECK(entries(body_of(c.plain.get("/Observation?_count=100"))).size() == before);
  // A patch in a transaction whose result leaves the compartment.
  const std::string patch = R"({"resourceType":"Binary","contentType":"application/json-patch+json","data":")" +
                            base64::encode(R"([{"op":"replace","path":"/subject/reference","value":"Patient/p2"}])") +
                            "\"}";
  CHECK(c.send(app, "POST", "/", bundle("transaction", {entry("PATCH", "Observation/o1", patch)})).status == 403);
  CHECK(str_at(body_of(c.plain.get("/Observation/o1")), {"subject", "reference"}) == "Patient/p1");
  // Placeholders are resolved before the check: an Observation of a new
  // Patient (not the patient in context) is outside the compartment.
  const std::string uuid = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a";
  CHECK(c.send(token("patient/Observation.c user/Patient.c", "p1"), "POST", "/",
               bundle("transaction", {entry("POST", "Patient", patient("New"), uuid),
                                      entry("POST", "Observation",
                                            R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":")" +
                                                uuid + "\"}}")}))
            .status == 403);
  CHECK(c.send(app, "POST", "/",
               bundle("transaction", {entry("POST", "Observation", observation("p1", "T3"))}))
            .status == 200);
  CHECK(entries(body_of(c.plain.get("/Observation?_count=100"))).size() == before + 1);
  // The GET entries run as requests of their own, with the Bundle's principal.
  const http_response g = c.send(app, "POST", "/",
                                 bundle("transaction", {entry("GET", "Observation/o3"), entry("GET", "Observation/o1")}));
  REQUIRE(g.status == 200);
  const auto e = entries(body_of(g));
  REQUIRE(e.size() == 2);
  CHECK(str_at(e[0], {"response", "status"}).starts_with("404"));
  CHECK(str_at(e[1], {"response", "status"}).starts_with("200"));
}

TEST_CASE("api auth: batch entries are checked with the Bundle's principal") {
  auth_case c;
  const auto app = token("patient/*.rs", "p1");
  const http_response r = c.send(app, "POST", "/",
                                 bundle("batch", {entry("GET", "Observation/o1"), entry("GET", "Observation/o3"),
                                                  entry("GET", "Observation?code=A"),
                                                  entry("POST", "Observation", observation("p1", "X"))}));
  REQUIRE(r.status == 200);
  const auto e = entries(body_of(r));
  REQUIRE(e.size() == 4);
  CHECK(str_at(e[0], {"response", "status"}).starts_with("200"));
  CHECK(str_at(e[1], {"response", "status"}).starts_with("404"));
  REQUIRE(e[2].find("resource") != nullptr);
  CHECK(ids_of(*e[2].find("resource")) == std::set<std::string>{"Observation/o1"});
  CHECK(str_at(e[3], {"response", "status"}).starts_with("403"));
}

// --- operations, history, AuditEvent -------------------------------------------------

TEST_CASE("api auth: Patient/$everything: the patient in context only; types not granted left out") {
  auth_case c;
  REQUIRE(c.plain.sc.rs.create("AuditEvent", fhir::parse_json(audit_event("p1")).value()));
  const auto app = token("patient/*.rs", "p1");
  const http_response r = c.get(app, "/Patient/p1/$everything");
  REQUIRE(r.status == 200);
  CHECK(ids_of(body_of(r)) ==
        std::set<std::string>{"Patient/p1", "Observation/o1", "Observation/o2", "Observation/o4"});
  const http_response other = c.get(app, "/Patient/p2/$everything");
  CHECK(other.status == 404);
  CHECK(other.body == c.get(app, "/Patient/nope/$everything").body);
  // Granted types only: Observation not granted, Patient is.
  CHECK(ids_of(body_of(c.get(token("patient/Patient.r", "p1"), "/Patient/p1/$everything"))) ==
        std::set<std::string>{"Patient/p1"});
  // "*" does not cover AuditEvent; an explicit user/AuditEvent scope does.
  const fhir::json_value all = body_of(c.get(token("user/*.rs"), "/Patient/p1/$everything"));
  CHECK(ids_of(all).size() == 4);
  const fhir::json_value with_audit = body_of(c.get(token("user/*.rs user/AuditEvent.rs"), "/Patient/p1/$everything"));
  CHECK(ids_of(with_audit).size() == 5);
  // Granular: only the lab observations.
  CHECK(ids_of(body_of(c.get(token(std::string(lab_scope) + " user/Patient.r"), "/Patient/p1/$everything"))) ==
        std::set<std::string>{"Patient/p1", "Observation/o1", "Observation/o4"});
  check_forbidden(c.get(token("user/Observation.rs"), "/Patient/p1/$everything"), "Patient");
}

TEST_CASE("api auth: AuditEvent: never through \"*\"; explicit user/system scopes read; nobody writes") {
  auth_case c;
  auto w = c.plain.sc.rs.create("AuditEvent", fhir::parse_json(audit_event("p1")).value());
  REQUIRE(w);
  const std::string id = w->version.id;
  const auto star = token("user/*.cruds");
  check_forbidden(c.get(star, "/AuditEvent/" + id), "read on AuditEvent");
  check_forbidden(c.get(star, "/AuditEvent"), "search-type on AuditEvent");
  check_forbidden(c.get(token("system/*.rs"), "/AuditEvent/" + id), "read on AuditEvent");
  check_forbidden(c.get(token("patient/AuditEvent.rs", "p1"), "/AuditEvent/" + id), "read on AuditEvent");
  CHECK(ids_of(body_of(c.get(star, "/Patient?_id=p1&_revinclude=AuditEvent:patient")), "include").empty());
  const auto auditor = token("user/AuditEvent.rs");
  CHECK(c.get(auditor, "/AuditEvent/" + id).status == 200);
  CHECK(total_of(body_of(c.get(auditor, "/AuditEvent?_total=accurate"))) == "1");
  CHECK(c.get(token("system/AuditEvent.s"), "/AuditEvent").status == 200);
  // The trail is immutable: 405 for everyone, with enforcement on or off.
  const auto writer = token("user/AuditEvent.cruds");
  const http_response create = c.send(writer, "POST", "/AuditEvent", audit_event("p1"));
  CHECK(create.status == 405);
  CHECK(create.header("Allow") == "GET");
  CHECK(c.send(writer, "PUT", "/AuditEvent/" + id, with_id(audit_event("p2"), id)).status == 405);
  CHECK(c.send(writer, "DELETE", "/AuditEvent/" + id).status == 405);
  CHECK(c.plain.post("/AuditEvent", audit_event("p1")).status == 405);
  CHECK(c.plain.del("/AuditEvent/" + id).status == 405);
  CHECK(c.plain.post("/", bundle("transaction", {entry("POST", "AuditEvent", audit_event("p1"))})).status == 403);
  CHECK(c.plain.get("/AuditEvent/" + id).status == 200);
}

TEST_CASE("api auth: history: type and system need an unrestricted s; system history leaves AuditEvent out") {
  auth_case c;
  REQUIRE(c.plain.sc.rs.create("AuditEvent", fhir::parse_json(audit_event("p1")).value()));
  check_forbidden(c.get(token("patient/Observation.rs", "p1"), "/Observation/_history"), "history-type on Observation");
  check_forbidden(c.get(token(lab_scope), "/Observation/_history"), "history-type on Observation");
  check_forbidden(c.get(token("user/Observation.r"), "/Observation/_history"), "history-type on Observation");
  CHECK(entries(body_of(c.get(token("user/Observation.s"), "/Observation/_history"))).size() == 4);
  check_forbidden(c.get(token("user/Observation.s user/Patient.s"), "/_history"), "history-system");
  check_forbidden(c.get(token("patient/*.rs", "p1"), "/_history"), "history-system");
  const fhir::json_value h = body_of(c.get(token("user/*.s"), "/_history"));
  CHECK(entries(h).size() == 6);  // 2 patients, 4 observations; not the AuditEvent
  CHECK(entries(body_of(c.get(token("user/*.s user/AuditEvent.s"), "/_history"))).size() == 7);
}

TEST_CASE("api auth: $validate needs a principal but no data permission; $meta as read") {
  auth_case c;
  const auto nothing = token("openid");
  const http_response v = c.send(nothing, "POST", "/Observation/$validate", observation("p1", "V"));
  CHECK(v.status == 200);
  CHECK(c.send(nullptr, "POST", "/Observation/$validate", observation("p1", "V")).status == 401);
  check_forbidden(c.get(nothing, "/Observation/o1/$meta"), "read on Observation");
  CHECK(c.get(token("patient/Observation.r", "p1"), "/Observation/o1/$meta").status == 200);
  check_forbidden(c.get(token("user/Observation.r"), "/Observation/$meta"), "search-type on Observation");
  // mode=delete does not tell a resource the token cannot read from an absent one.
  const std::string del = R"({"resourceType":"Parameters","parameter":[{"name":"mode","valueCode":"delete"}]})";
  const http_response hidden = c.send(token("patient/Observation.r", "p1"), "POST", "/Observation/o3/$validate", del);
  const http_response absent = c.send(token("patient/Observation.r", "p1"), "POST", "/Observation/nope/$validate", del);
  CHECK(hidden.status == 200);
  CHECK(hidden.body == absent.body);
}

TEST_CASE("api auth: the indexer is built on first use when none is given") {
  api_options o = api_case::default_options();
  auth_case c(o);
  api_options own = api_case::default_options();
  own.enforce_authorization = true;
  const fhir_api lazy(c.plain.sc.rs, registry(), own);  // indexer null: its own
  http_request req;
  req.method = "GET";
  req.target = "/fhir/Observation/o3";
  req.principal = token("patient/Observation.r", "p1");
  CHECK(lazy.handle(req).status == 404);
  req.target = "/fhir/Observation/o1";
  CHECK(lazy.handle(req).status == 200);
}

// --- the write hook --------------------------------------------------------------------

TEST_CASE("api auth: the write hook runs once per write, in the write's transaction") {
  auto calls = std::make_shared<std::atomic<int>>(0);
  api_options o = api_case::default_options();
  o.make_write_hook = [calls](const http_request&) -> store::write_hook {
    return [calls](store::resource_tx&, const store::write_outcome&) -> hearth::result<void> {
      ++*calls;
      return {};
    };
  };
  api_case c(o);
  const std::string id = c.create("Observation", observation("p1", "A"));
  CHECK(*calls == 1);
  CHECK(c.put("/Observation/" + id, with_id(observation("p1", "B"), id)).status == 200);
  CHECK(*calls == 2);
  CHECK(c.put("/Observation/x1", with_id(observation("p1", "B"), "x1")).status == 201);  // update-as-create
  CHECK(*calls == 3);
  CHECK(c.send("PATCH", "/Observation/" + id, R"([{"op":"replace","path":"/status","value":"amended"}])",
               {{"Content-Type", "application/json-patch+json"}})
            .status == 200);
  CHECK(*calls == 4);
  CHECK(c.post("/Observation/" + id + "/$meta-add",
               R"({"resourceType":"Parameters","parameter":[{"name":"meta","valueMeta":{"tag":[{"system":"http://x","code":"y"}]}}]})")
            .status == 200);
  CHECK(*calls == 5);
  CHECK(c.put("/Observation?_id=x1", with_id(observation("p1", "C"), "x1")).status == 200);  // conditional update
  CHECK(*calls == 6);
  CHECK(c.del("/Observation?_id=x1").status == 204);  // conditional delete
  CHECK(*calls == 7);
  CHECK(c.del("/Observation/" + id).status == 204);
  CHECK(*calls == 8);
  const http_response t = c.post("/", bundle("transaction", {entry("POST", "Observation", observation("p1", "D")),
                                                             entry("POST", "Observation", observation("p1", "E")),
                                                             entry("GET", "Observation?code=D")}));
  CHECK(t.status == 200);
  CHECK(*calls == 10);
  // A read writes nothing, and runs no hook.
  CHECK(c.get("/Observation?code=D").status == 200);
  CHECK(*calls == 10);
}

TEST_CASE("api auth: a failing write hook rolls the write back and fails the request") {
  api_options o = api_case::default_options();
  o.make_write_hook = [](const http_request&) -> store::write_hook {
    return [](store::resource_tx&, const store::write_outcome&) -> hearth::result<void> {
      return hearth::unexpected(hearth::error{"exception", "the audit row could not be written", {}, hearth::error::npos});
    };
  };
  api_case c(o);
  const http_response r = c.post("/Observation", observation("p1", "A"));
  CHECK(r.status == 500);
  CHECK(r.body.find("correlation id req-42") != std::string::npos);
  CHECK(c.put("/Observation/x1", with_id(observation("p1", "A"), "x1")).status == 500);
  CHECK(c.get("/Observation/x1").status == 404);
  const http_response t = c.post("/", bundle("transaction", {entry("POST", "Observation", observation("p1", "D")),
                                                             entry("POST", "Observation", observation("p1", "E"))}));
  CHECK(t.status == 500);
  CHECK(entries(body_of(c.get("/Observation?_total=accurate"))).empty());
  // A hook that fails only for a delete: the resource stays.
  api_options d = api_case::default_options();
  d.make_write_hook = [](const http_request& req) -> store::write_hook {
    if (req.method != "DELETE") return {};
    return [](store::resource_tx&, const store::write_outcome&) -> hearth::result<void> {
      return hearth::unexpected(hearth::error{"exception", "no", {}, hearth::error::npos});
    };
  };
  api_case c2(d);
  const std::string id = c2.create("Observation", observation("p1", "A"));
  CHECK(c2.del("/Observation/" + id).status == 500);
  CHECK(c2.get("/Observation/" + id).status == 200);
}

}  // namespace
}  // namespace hearth::server::test
