// fhir_api: batch and transaction Bundles (R4 http.html#transaction,
// #trules; bundle.html#transaction).
#include <hearth/server/fhir_api.hpp>

#include <doctest/doctest.h>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_writer.hpp>

#include "server_test_support.hpp"

namespace hearth::server::test {
namespace {

/// One entry: method, url, and optionally fullUrl, resource and extra
/// request members (JSON text without braces, e.g. `"ifMatch":"W/\"1\""`).
std::string entry(std::string_view method, std::string_view url, std::string_view full_url = {},
                  std::string_view resource = {}, std::string_view request_extra = {}) {
  std::string s = "{";
  if (!full_url.empty()) s += R"("fullUrl":")" + std::string(full_url) + "\",";
  if (!resource.empty()) s += R"("resource":)" + std::string(resource) + ",";
  s += R"("request":{"method":")" + std::string(method) + R"(","url":")" + std::string(url) + "\"";
  if (!request_extra.empty()) s += "," + std::string(request_extra);
  return s + "}}";
}

std::string bundle(std::string_view type, const std::vector<std::string>& entries) {
  std::string s = R"({"resourceType":"Bundle","type":")" + std::string(type) + R"(","entry":[)";
  for (std::size_t i = 0; i < entries.size(); ++i) s += (i ? "," : "") + entries[i];
  return s + "]}";
}

std::string observation(std::string_view subject, std::string_view extra = {}) {
  std::string s = R"({"resourceType":"Observation","status":"final","code":{"text":"weight"},"subject":{"reference":")" +
                  std::string(subject) + "\"}";
  if (!extra.empty()) s += "," + std::string(extra);
  return s + "}";
}

std::string response_status(const fhir::json_value& e) { return str_at(e, {"response", "status"}); }

/// How many resources of `type` a search with `query` finds.
std::size_t count(const api_case& c, const std::string& type, const std::string& query = "") {
  const http_response r = c.get("/" + type + "?_total=accurate" + (query.empty() ? "" : "&" + query));
  REQUIRE(r.status == 200);
  return entries(body_of(r)).size();
}

constexpr std::string_view uuid_a = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a";
constexpr std::string_view uuid_b = "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059";

TEST_CASE("api: transaction creates with urn:uuid references rewritten to the new ids") {
  api_case c;
  const std::string narrative =
      R"("text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\")" +
      std::string(uuid_a) + R"(\">patient</a></div>"})";
  const http_response r =
      c.post("/", bundle("transaction", {entry("POST", "Patient", uuid_a, patient("Chalmers")),
                                         entry("POST", "Observation", uuid_b, observation(uuid_a, narrative))}));
  REQUIRE(r.status == 200);
  const fhir::json_value b = body_of(r);
  CHECK(str_at(b, {"type"}) == "transaction-response");
  const auto es = entries(b);
  REQUIRE(es.size() == 2);
  for (const auto& e : es) {
    CHECK(response_status(e) == "201 Created");
    CHECK(str_at(e, {"response", "etag"}) == "W/\"1\"");
    CHECK(str_at(e, {"response", "lastModified"}) == "2024-03-01T12:00:00.250Z");
  }
  const std::string patient_id = str_at(es[0], {"resource", "id"});
  const std::string obs_id = str_at(es[1], {"resource", "id"});
  CHECK(patient_id.size() == 36);
  CHECK(es[0].find("fullUrl")->str() == std::string(base) + "/Patient/" + patient_id);
  CHECK(str_at(es[0], {"response", "location"}) == std::string(base) + "/Patient/" + patient_id + "/_history/1");
  // Stored with the reference and the narrative link rewritten.
  const fhir::json_value obs = body_of(c.get("/Observation/" + obs_id));
  CHECK(str_at(obs, {"subject", "reference"}) == "Patient/" + patient_id);
  CHECK(str_at(obs, {"text", "div"}).find("href=\"Patient/" + patient_id + "\"") != std::string::npos);
  // And searchable by that reference in the same breath.
  CHECK(count(c, "Observation", "subject=Patient/" + patient_id) == 1);
}

TEST_CASE("api: a transaction is all or nothing: a failing entry rolls back the others") {
  api_case c;
  const std::string id = c.create("Patient", patient("Existing"));
  const http_response r = c.post(
      "/", bundle("transaction", {entry("POST", "Patient", uuid_a, patient("New")),
                                  entry("PUT", "Patient/" + id, {}, patient("Changed", R"("id":")" + id + "\""),
                                        R"("ifMatch":"W/\"7\"")")}));
  CHECK(r.status == 412);  // the If-Match of entry 1 does not hold
  CHECK(str_at(body_of(r), {"resourceType"}) == "OperationOutcome");
  CHECK(body_of(r).find("issue")->items()[0].find("expression")->items()[0].str() == "Bundle.entry[1]");
  CHECK(count(c, "Patient", "family=New") == 0);
  CHECK(str_at(body_of(c.get("/Patient/" + id)), {"meta", "versionId"}) == "1");

  // A resource failing the structural checks fails the whole Bundle up front.
  const http_response invalid = c.post(
      "/", bundle("transaction", {entry("POST", "Patient", uuid_a, patient("New")),
                                  entry("POST", "Patient", uuid_b, R"({"resourceType":"Patient","gender":12})")}));
  CHECK(invalid.status == 400);
  CHECK(count(c, "Patient", "family=New") == 0);
}

TEST_CASE("api: transaction order: DELETE, POST, PUT, then GET, which sees the writes; response in request order") {
  api_case c;
  const std::string gone = c.create("Patient", patient("Gone"));
  const std::string kept = c.create("Patient", patient("Kept"));
  const http_response r = c.post(
      "/", bundle("transaction",
                  {entry("GET", "Patient?family=Added"), entry("PUT", "Patient/" + kept, {}, patient("Kept2", R"("id":")" + kept + "\"")),
                   entry("POST", "Patient", uuid_a, patient("Added")), entry("DELETE", "Patient/" + gone)}));
  REQUIRE(r.status == 200);
  const auto es = entries(body_of(r));
  REQUIRE(es.size() == 4);
  CHECK(response_status(es[0]) == "200 OK");
  CHECK(entries(*es[0].find("resource")).size() == 1);  // the search ran after the POST
  CHECK(response_status(es[1]) == "200 OK");
  CHECK(str_at(es[1], {"response", "etag"}) == "W/\"2\"");
  CHECK(response_status(es[2]) == "201 Created");
  CHECK(response_status(es[3]) == "204 No Content");
  CHECK(c.get("/Patient/" + gone).status == 410);
}

TEST_CASE("api: transaction: two entries writing one resource fail (http.html#trules)") {
  api_case c;
  const std::string id = c.create("Patient", patient("A"));
  const http_response r = c.post(
      "/", bundle("transaction", {entry("PUT", "Patient/" + id, {}, patient("B", R"("id":")" + id + "\"")),
                                  entry("DELETE", "Patient/" + id)}));
  CHECK(r.status == 400);
  CHECK(diagnostics(r).find("same resource") != std::string::npos);
  CHECK(str_at(body_of(c.get("/Patient/" + id)), {"name"}).empty());  // unchanged (name is an array)
  CHECK(str_at(body_of(c.get("/Patient/" + id)), {"meta", "versionId"}) == "1");
}

TEST_CASE("api: transaction conditional create: a match is not created again, references follow the match") {
  api_case c;
  const std::string id = c.create("Patient", patient("A", R"("identifier":[{"system":"urn:mrn","value":"77"}])"));
  const http_response r = c.post(
      "/", bundle("transaction", {entry("POST", "Patient", uuid_a, patient("A", R"("identifier":[{"system":"urn:mrn","value":"77"}])"),
                                        R"("ifNoneExist":"identifier=urn:mrn|77")"),
                                  entry("POST", "Observation", uuid_b, observation(uuid_a))}));
  REQUIRE(r.status == 200);
  const auto es = entries(body_of(r));
  CHECK(response_status(es[0]) == "200 OK");
  CHECK(str_at(es[0], {"resource", "id"}) == id);
  CHECK(str_at(es[1], {"resource", "subject", "reference"}) == "Patient/" + id);
  CHECK(count(c, "Patient") == 1);
}

TEST_CASE("api: transaction conditional references are resolved by search; no match or several fail with 412") {
  api_case c;
  const std::string id = c.create("Patient", patient("A", R"("identifier":[{"system":"urn:mrn","value":"1"}])"));
  const http_response r =
      c.post("/", bundle("transaction", {entry("POST", "Observation", uuid_b, observation("Patient?identifier=urn:mrn|1"))}));
  REQUIRE(r.status == 200);
  CHECK(str_at(entries(body_of(r))[0], {"resource", "subject", "reference"}) == "Patient/" + id);

  const http_response none =
      c.post("/", bundle("transaction", {entry("POST", "Observation", uuid_b, observation("Patient?identifier=urn:mrn|2"))}));
  CHECK(none.status == 412);
  c.create("Patient", patient("B", R"("identifier":[{"system":"urn:mrn","value":"1"}])"));
  const http_response many =
      c.post("/", bundle("transaction", {entry("POST", "Observation", uuid_b, observation("Patient?identifier=urn:mrn|1"))}));
  CHECK(many.status == 412);
  CHECK(count(c, "Observation") == 1);
}

TEST_CASE("api: transaction: a urn:uuid reference no entry has is refused") {
  api_case c;
  const http_response r = c.post("/", bundle("transaction", {entry("POST", "Observation", uuid_b, observation(uuid_a))}));
  CHECK(r.status == 400);
  CHECK(count(c, "Observation") == 0);
}

TEST_CASE("api: transaction conditional update and delete resolve their search first") {
  api_case c;
  const std::string id = c.create("Patient", patient("A", R"("identifier":[{"system":"urn:mrn","value":"5"}])"));
  const std::string other = c.create("Patient", patient("Other", R"("identifier":[{"system":"urn:mrn","value":"6"}])"));
  const http_response r = c.post(
      "/", bundle("transaction",
                  {entry("PUT", "Patient?identifier=urn:mrn|5", {},
                         patient("A2", R"("identifier":[{"system":"urn:mrn","value":"5"}])")),
                   entry("PUT", "Patient?identifier=urn:mrn|9", {},
                         patient("New", R"("identifier":[{"system":"urn:mrn","value":"9"}])")),
                   entry("DELETE", "Patient?identifier=urn:mrn|6"), entry("DELETE", "Patient?identifier=urn:mrn|404")}));
  REQUIRE(r.status == 200);
  const auto es = entries(body_of(r));
  CHECK(response_status(es[0]) == "200 OK");
  CHECK(str_at(es[0], {"resource", "id"}) == id);
  CHECK(response_status(es[1]) == "201 Created");
  CHECK(response_status(es[2]) == "204 No Content");
  CHECK(response_status(es[3]) == "204 No Content");
  CHECK(c.get("/Patient/" + other).status == 410);
  CHECK(count(c, "Patient", "family=A2") == 1);
  CHECK(count(c, "Patient", "identifier=urn:mrn|9") == 1);
}

TEST_CASE("api: transaction PATCH entries: JSON Patch in a Binary, FHIRPath Patch as Parameters") {
  api_case c;
  const std::string id = c.create("Patient", patient("A", R"("active":false)"));
  const std::string json_patch = R"([{"op":"replace","path":"/active","value":true}])";
  const std::string binary = R"({"resourceType":"Binary","contentType":"application/json-patch+json","data":")" +
                             base64::encode(json_patch) + "\"}";
  const std::string fhirpath_patch =
      R"({"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"add"},)"
      R"({"name":"path","valueString":"Patient"},{"name":"name","valueString":"birthDate"},)"
      R"({"name":"value","valueDate":"1990-01-02"}]}]})";
  const std::string other = c.create("Patient", patient("B"));
  const http_response r = c.post("/", bundle("transaction", {entry("PATCH", "Patient/" + id, {}, binary),
                                                             entry("PATCH", "Patient/" + other, {}, fhirpath_patch)}));
  REQUIRE(r.status == 200);
  CHECK(str_at(body_of(c.get("/Patient/" + other)), {"birthDate"}) == "1990-01-02");
  const fhir::json_value p = body_of(c.get("/Patient/" + id));
  CHECK(p.find("active")->as_bool());
  CHECK(str_at(p, {"meta", "versionId"}) == "2");

  // A patch that fails its test fails the transaction.
  const std::string failing = R"([{"op":"test","path":"/active","value":false}])";
  const http_response bad = c.post(
      "/", bundle("transaction",
                  {entry("PATCH", "Patient/" + id, {},
                         R"({"resourceType":"Binary","contentType":"application/json-patch+json","data":")" +
                             base64::encode(failing) + "\"}"),
                   entry("POST", "Patient", uuid_a, patient("Rolled back"))}));
  CHECK(bad.status == 422);
  CHECK(count(c, "Patient", "family=Rolled") == 0);
}

TEST_CASE("api: a transaction of 100 entries (50 patients, 50 observations referring to them)") {
  api_case c;
  std::vector<std::string> es;
  for (int i = 0; i < 50; ++i) {
    char uuid[64];
    std::snprintf(uuid, sizeof uuid, "urn:uuid:00000000-0000-4000-8000-%012d", i);
    es.push_back(entry("POST", "Patient", uuid, patient("Family" + std::to_string(i))));
    es.push_back(entry("POST", "Observation", {}, observation(uuid)));
  }
  const http_response r = c.post("/", bundle("transaction", es));
  REQUIRE(r.status == 200);
  const auto out = entries(body_of(r));
  REQUIRE(out.size() == 100);
  for (std::size_t i = 0; i < out.size(); i += 2) {
    CHECK(response_status(out[i]) == "201 Created");
    CHECK(str_at(out[i + 1], {"resource", "subject", "reference"}) == "Patient/" + str_at(out[i], {"resource", "id"}));
  }
  CHECK(count(c, "Patient", "_count=100") == 50);
  CHECK(count(c, "Observation", "_count=100") == 50);
}

TEST_CASE("api: batch entries succeed or fail on their own, in order") {
  api_case c;
  const std::string id = c.create("Patient", patient("A"));
  const http_response r = c.post(
      "/", bundle("batch", {entry("GET", "Patient/" + id), entry("GET", "Patient/missing"),
                            entry("POST", "Patient", {}, patient("B")), entry("GET", "Patient?family=A"),
                            entry("PUT", "Patient/" + id, {}, patient("A2", R"("id":")" + id + "\""), R"("ifMatch":"W/\"9\"")"),
                            entry("FETCH", "Patient")}));
  REQUIRE(r.status == 200);
  const fhir::json_value b = body_of(r);
  CHECK(str_at(b, {"type"}) == "batch-response");
  const auto es = entries(b);
  REQUIRE(es.size() == 6);
  CHECK(response_status(es[0]) == "200 OK");
  CHECK(str_at(es[0], {"resource", "id"}) == id);
  CHECK(str_at(es[0], {"response", "etag"}) == "W/\"1\"");
  CHECK(response_status(es[1]) == "404 Not Found");
  CHECK(str_at(es[1], {"response", "outcome", "resourceType"}) == "OperationOutcome");
  CHECK(response_status(es[2]) == "201 Created");
  CHECK(!str_at(es[2], {"response", "location"}).empty());
  CHECK(str_at(es[3], {"resource", "type"}) == "searchset");
  CHECK(response_status(es[4]) == "412 Precondition Failed");
  CHECK(response_status(es[5]) == "400 Bad Request");
  CHECK(count(c, "Patient", "family=B") == 1);  // the failures did not undo the create
}

TEST_CASE("api: batch entries follow the Bundle's Prefer: handling=strict for searches, return=minimal for writes") {
  api_case c;
  const http_response r = c.post("/", bundle("batch", {entry("GET", "Patient?no-such-param=1"),
                                                      entry("POST", "Patient", {}, patient("B"))}),
                                 {{"Prefer", "return=minimal, handling=strict"}});
  REQUIRE(r.status == 200);
  const auto es = entries(body_of(r));
  REQUIRE(es.size() == 2);
  CHECK(response_status(es[0]) == "400 Bad Request");
  CHECK(response_status(es[1]) == "201 Created");
  CHECK(es[1].find("resource") == nullptr);
  CHECK(str_at(es[1], {"response", "lastModified"}) == "2024-03-01T12:00:00.250Z");
}

TEST_CASE("api: Bundle errors: not a Bundle, wrong type, too many entries, nested batch") {
  api_case c;
  CHECK(c.post("/", patient("A")).status == 400);
  CHECK(c.post("/", R"({"resourceType":"Bundle","type":"collection"})").status == 400);
  std::vector<std::string> many(1001, entry("GET", "Patient"));
  const http_response big = c.post("/", bundle("batch", many));
  CHECK(big.status == 413);
  CHECK(issue_code(big) == "too-costly");
  const http_response nested =
      c.post("/", bundle("batch", {entry("POST", "/", {}, R"({"resourceType":"Bundle","type":"batch"})")}));
  REQUIRE(nested.status == 200);
  CHECK(response_status(entries(body_of(nested))[0]) == "400 Bad Request");
  const http_response empty = c.post("/", R"({"resourceType":"Bundle","type":"transaction"})");
  CHECK(empty.status == 200);
  CHECK(str_at(body_of(empty), {"type"}) == "transaction-response");
}

TEST_CASE("api: transaction Prefer return=minimal leaves the resources out; XML in and out") {
  api_case c;
  const http_response minimal = c.post("/", bundle("transaction", {entry("POST", "Patient", uuid_a, patient("A"))}),
                                       {{"Prefer", "return=minimal"}});
  REQUIRE(minimal.status == 200);
  const auto es = entries(body_of(minimal));
  CHECK(es[0].find("resource") == nullptr);
  CHECK(response_status(es[0]) == "201 Created");

  const std::string xml =
      R"(<Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/><entry><fullUrl value=")" +
      std::string(uuid_a) +
      R"("/><resource><Patient><name><family value="Xml"/></name></Patient></resource>)"
      R"(<request><method value="POST"/><url value="Patient"/></request></entry></Bundle>)";
  const http_response r = c.post("/", xml, {{"Content-Type", std::string(fhir_xml)}, {"Accept", std::string(fhir_xml)}});
  REQUIRE(r.status == 200);
  CHECK(r.body.find("<type value=\"transaction-response\"/>") != std::string::npos);
  CHECK(r.body.find("<status value=\"201 Created\"/>") != std::string::npos);
  CHECK(count(c, "Patient", "family=Xml") == 1);
}

}  // namespace
}  // namespace hearth::server::test
