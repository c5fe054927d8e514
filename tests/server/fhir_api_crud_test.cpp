// fhir_api: read, vread, create (conditional too), update, delete, and the
// headers that go with them (R4 http.html).
#include <hearth/server/fhir_api.hpp>

#include <doctest/doctest.h>

#include "server_test_support.hpp"

namespace hearth::server::test {
namespace {

TEST_CASE("api: create answers 201 with Location, ETag, Last-Modified and the stored resource") {
  api_case c;
  const http_response r = c.post("/Patient", patient("Chalmers", R"("id":"ignored-by-create")"));
  REQUIRE(r.status == 201);
  const fhir::json_value j = body_of(r);
  const std::string id = str_at(j, {"id"});
  CHECK(id.size() == 36);  // a server-assigned UUID, not the body's id
  CHECK(id != "ignored-by-create");
  CHECK(r.header("Location") == std::string(base) + "/Patient/" + id + "/_history/1");
  CHECK(r.header("ETag") == "W/\"1\"");
  CHECK(r.header("Last-Modified") == "Fri, 01 Mar 2024 12:00:00 GMT");
  CHECK(r.header("Content-Type") == "application/fhir+json; charset=utf-8");
  CHECK(str_at(j, {"meta", "versionId"}) == "1");
  CHECK(str_at(j, {"meta", "lastUpdated"}) == "2024-03-01T12:00:00.250Z");
}

TEST_CASE("api: read returns the stored JSON as is; unknown ids 404, unknown types 404") {
  api_case c;
  const std::string id = c.create("Patient", patient("Chalmers"));
  const http_response r = c.get("/Patient/" + id);
  REQUIRE(r.status == 200);
  CHECK(r.header("ETag") == "W/\"1\"");
  CHECK(r.header("Last-Modified") == "Fri, 01 Mar 2024 12:00:00 GMT");
  // The store's text, byte for byte (compact, no re-serialising).
  auto stored = c.sc.rs.read("Patient", id);
  REQUIRE(stored);
  CHECK(r.body == stored->json);

  const http_response missing = c.get("/Patient/no-such-id");
  CHECK(missing.status == 404);
  CHECK(issue_code(missing) == "not-found");
  const http_response bad_type = c.get("/Patientx/" + id);
  CHECK(bad_type.status == 404);
  CHECK(issue_code(bad_type) == "not-found");
  const http_response bad_id = c.get("/Patient/bad$id!");
  CHECK(bad_id.status == 400);
}

TEST_CASE("api: If-None-Match with the current version answers 304 without a body") {
  api_case c;
  const std::string id = c.create("Patient", patient("Chalmers"));
  const http_response r = c.get("/Patient/" + id, {{"If-None-Match", "W/\"1\""}});
  CHECK(r.status == 304);
  CHECK(r.body.empty());
  CHECK(c.get("/Patient/" + id, {{"If-None-Match", "W/\"7\""}}).status == 200);
}

TEST_CASE("api: If-Modified-Since answers 304 unless the resource changed after it; bad dates are ignored") {
  api_case c;  // stamped 2024-03-01T12:00:00.250Z, a Friday
  const std::string id = c.create("Patient", patient("Chalmers"));
  auto status = [&](std::vector<http_header> h) { return c.get("/Patient/" + id, std::move(h)).status; };
  CHECK(status({{"If-Modified-Since", "Fri, 01 Mar 2024 12:00:00 GMT"}}) == 304);  // same second
  CHECK(status({{"If-Modified-Since", "Sat, 02 Mar 2024 00:00:00 GMT"}}) == 304);
  CHECK(status({{"If-Modified-Since", "Fri, 01 Mar 2024 11:59:59 GMT"}}) == 200);
  // RFC 9110 13.1.3: a value that is not an IMF-fixdate is ignored.
  CHECK(status({{"If-Modified-Since", "Thu, 01 Mar 2024 12:00:00 GMT"}}) == 200);  // wrong weekday
  CHECK(status({{"If-Modified-Since", "Friday, 01-Mar-24 12:00:00 GMT"}}) == 200);
  CHECK(status({{"If-Modified-Since", "Fri, 31 Feb 2024 12:00:00 GMT"}}) == 200);
  CHECK(status({{"If-Modified-Since", "yesterday"}}) == 200);
  // If-None-Match decides when both are there.
  CHECK(status({{"If-None-Match", "W/\"7\""}, {"If-Modified-Since", "Sat, 02 Mar 2024 00:00:00 GMT"}}) == 200);
}

TEST_CASE("api: update, wrong If-Match 412, right If-Match 200, vread of each version") {
  api_case c;
  const std::string id = c.create("Patient", patient("Chalmers"));
  const std::string v2 = patient("Chalmers2", R"("id":")" + id + "\"");

  c.now += std::chrono::seconds(61);
  const http_response wrong = c.put("/Patient/" + id, v2, {{"If-Match", "W/\"5\""}});
  CHECK(wrong.status == 412);
  CHECK(issue_code(wrong) == "conflict");

  const http_response ok = c.put("/Patient/" + id, v2, {{"If-Match", "W/\"1\""}});
  REQUIRE(ok.status == 200);
  CHECK(ok.header("ETag") == "W/\"2\"");
  CHECK(ok.header("Last-Modified") == "Fri, 01 Mar 2024 12:01:01 GMT");
  CHECK(!ok.header("Location"));
  CHECK(str_at(body_of(ok), {"name"}) == "");  // name is an array: str_at finds no string
  CHECK(body_of(ok).find("name")->items()[0].find("family")->str() == "Chalmers2");

  const http_response v1 = c.get("/Patient/" + id + "/_history/1");
  REQUIRE(v1.status == 200);
  CHECK(v1.header("ETag") == "W/\"1\"");
  CHECK(body_of(v1).find("name")->items()[0].find("family")->str() == "Chalmers");
  CHECK(c.get("/Patient/" + id + "/_history/2").status == 200);
  CHECK(c.get("/Patient/" + id + "/_history/3").status == 404);
  CHECK(c.get("/Patient/" + id + "/_history/x").status == 404);

  // A malformed If-Match is the client's error, not a version mismatch.
  CHECK(c.put("/Patient/" + id, v2, {{"If-Match", "soon"}}).status == 400);
}

TEST_CASE("api: update-as-create answers 201; the id in the body must equal the URL's") {
  api_case c;
  const http_response created = c.put("/Patient/p-1", patient("New", R"("id":"p-1")"));
  CHECK(created.status == 201);
  CHECK(created.header("Location") == std::string(base) + "/Patient/p-1/_history/1");

  const http_response other = c.put("/Patient/p-1", patient("New", R"("id":"p-2")"));
  CHECK(other.status == 400);
  CHECK(issue_code(other) == "invalid");
  const http_response none = c.put("/Patient/p-1", patient("New"));
  CHECK(none.status == 400);
  const http_response wrong_type = c.put("/Observation/p-1", patient("New", R"("id":"p-1")"));
  CHECK(wrong_type.status == 400);
}

TEST_CASE("api: a version conflict without If-Match would be 409; with If-Match on an absent resource 412") {
  api_case c;
  // If-Match on a resource that does not exist: the store reports a conflict,
  // and If-Match was sent, so 412.
  const http_response r = c.put("/Patient/p-9", patient("X", R"("id":"p-9")"), {{"If-Match", "W/\"1\""}});
  CHECK(r.status == 412);
}

TEST_CASE("api: delete answers 204, a read afterwards 410, vread of the tombstone 410") {
  api_case c;
  const std::string id = c.create("Patient", patient("Chalmers"));
  const http_response wrong = c.del("/Patient/" + id, {{"If-Match", "W/\"3\""}});
  CHECK(wrong.status == 412);
  const http_response d = c.del("/Patient/" + id, {{"If-Match", "W/\"1\""}});
  CHECK(d.status == 204);
  CHECK(d.body.empty());
  CHECK(d.header("ETag") == "W/\"2\"");
  const http_response gone = c.get("/Patient/" + id);
  CHECK(gone.status == 410);
  CHECK(issue_code(gone) == "deleted");
  const http_response tomb = c.get("/Patient/" + id + "/_history/2");
  CHECK(tomb.status == 410);
  CHECK(tomb.header("ETag") == "W/\"2\"");
  // R4 http.html#delete: deleting what is not there is not an error.
  CHECK(c.del("/Patient/" + id).status == 204);
  CHECK(c.del("/Patient/never-was").status == 204);
  // Prefer: return=OperationOutcome asks for a 200 with an outcome.
  const std::string id2 = c.create("Patient", patient("Other"));
  const http_response oo = c.del("/Patient/" + id2, {{"Prefer", "return=OperationOutcome"}});
  CHECK(oo.status == 200);
  CHECK(issue_code(oo) == "informational");
}

TEST_CASE("api: Prefer return=minimal and return=OperationOutcome on create and update") {
  api_case c;
  const http_response minimal = c.post("/Patient", patient("A"), {{"Prefer", "return=minimal"}});
  CHECK(minimal.status == 201);
  CHECK(minimal.body.empty());
  CHECK(minimal.header("Location").has_value());
  CHECK(minimal.header("ETag") == "W/\"1\"");

  const http_response oo = c.post("/Patient", patient("B"), {{"Prefer", "handling=strict, return=OperationOutcome"}});
  CHECK(oo.status == 201);
  CHECK(issue_code(oo) == "informational");
  CHECK(oo.header("Location").has_value());

  const http_response upd = c.put("/Patient/p-3", patient("C", R"("id":"p-3")"), {{"Prefer", "return=minimal"}});
  CHECK(upd.status == 201);
  CHECK(upd.body.empty());
}

TEST_CASE("api: conditional create: no match creates, one match 200 with it, several 412") {
  api_case c;
  const std::string ident = R"("identifier":[{"system":"urn:mrn","value":"123"}])";
  const http_response first = c.post("/Patient", patient("A", ident), {{"If-None-Exist", "identifier=urn:mrn|123"}});
  REQUIRE(first.status == 201);
  const std::string id = str_at(body_of(first), {"id"});

  const http_response again = c.post("/Patient", patient("A", ident), {{"If-None-Exist", "identifier=urn:mrn|123"}});
  CHECK(again.status == 200);
  CHECK(str_at(body_of(again), {"id"}) == id);
  CHECK(again.header("ETag") == "W/\"1\"");

  c.create("Patient", patient("B", ident));  // now two share the identifier
  const http_response many = c.post("/Patient", patient("A", ident), {{"If-None-Exist", "Patient?identifier=urn:mrn|123"}});
  CHECK(many.status == 412);

  // An unknown parameter is refused (strict), not ignored: it would widen the match.
  CHECK(c.post("/Patient", patient("A"), {{"If-None-Exist", "nosuchparam=1"}}).status == 400);
}

TEST_CASE("api: bodies that do not parse or break R4 structure are 400 with the issues") {
  api_case c;
  const http_response broken = c.post("/Patient", "{\"resourceType\":\"Patient\",");
  CHECK(broken.status == 400);
  CHECK(issue_code(broken) == "structure");

  const http_response unknown_element = c.post("/Patient", R"({"resourceType":"Patient","nickname":"x"})");
  CHECK(unknown_element.status == 400);
  CHECK(body_of(unknown_element).find("issue")->items().size() >= 1);

  const http_response bad_date = c.post("/Patient", R"({"resourceType":"Patient","birthDate":"1970-02-30"})");
  CHECK(bad_date.status == 400);

  const http_response wrong_type = c.post("/Observation", patient("A"));
  CHECK(wrong_type.status == 400);
  CHECK(issue_code(wrong_type) == "invalid");

  const http_response not_resource = c.post("/Patient", R"({"name":"x"})");
  CHECK(not_resource.status == 400);
  CHECK(issue_code(not_resource) == "structure");
}

TEST_CASE("api: Last-Modified is an IMF-fixdate of meta.lastUpdated") {
  api_case c;
  using namespace std::chrono;
  c.now = store::instant(sys_days(year(1994) / November / 6) + hours(8) + minutes(49) + seconds(37));
  const http_response r = c.post("/Patient", patient("A"));
  CHECK(r.header("Last-Modified") == "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST_CASE("api: a store failure is a 500 saying only \"internal error\" and the correlation id") {
  api_case c;
  c.sc.db->stop();  // later writes fail with "exception"
  const http_response r = c.post("/Patient", patient("A"));
  CHECK(r.status == 500);
  CHECK(issue_code(r) == "exception");
  CHECK(diagnostics(r) == "internal error (correlation id req-42)");
}

}  // namespace
}  // namespace hearth::server::test
