// fhir_api: conditional update and conditional delete (R4 http.html#cond-update,
// #cdelete).
#include <hearth/server/fhir_api.hpp>

#include <doctest/doctest.h>

#include "server_test_support.hpp"

namespace hearth::server::test {
namespace {

std::string with_mrn(std::string_view family, std::string_view mrn, std::string_view id = {}) {
  std::string extra = R"("identifier":[{"system":"urn:mrn","value":")" + std::string(mrn) + "\"}]";
  if (!id.empty()) extra += R"(,"id":")" + std::string(id) + "\"";
  return patient(family, extra);
}

std::string version_of(const api_case& c, const std::string& id) {
  return str_at(body_of(c.get("/Patient/" + id)), {"meta", "versionId"});
}

TEST_CASE("api: conditional update: one match is updated, none creates, several 412") {
  api_case c;
  const std::string id = c.create("Patient", with_mrn("A", "1"));
  const http_response one = c.put("/Patient?identifier=urn:mrn|1", with_mrn("A2", "1"));
  REQUIRE(one.status == 200);
  CHECK(str_at(body_of(one), {"id"}) == id);
  CHECK(one.header("ETag") == "W/\"2\"");

  // No match, no id: a create with a new id.
  const http_response none = c.put("/Patient?identifier=urn:mrn|2", with_mrn("B", "2"));
  REQUIRE(none.status == 201);
  const std::string created = str_at(body_of(none), {"id"});
  CHECK(created.size() == 36);
  CHECK(none.header("Location").has_value());

  // No match, an id: update-as-create at that id.
  const http_response as_create = c.put("/Patient?identifier=urn:mrn|3", with_mrn("C", "3", "chosen-id"));
  REQUIRE(as_create.status == 201);
  CHECK(str_at(body_of(as_create), {"id"}) == "chosen-id");
  // ... but not over a resource the search did not find (409).
  CHECK(c.put("/Patient?identifier=urn:mrn|4", with_mrn("D", "4", id)).status == 409);
  CHECK(version_of(c, id) == "2");

  c.create("Patient", with_mrn("E", "1"));
  const http_response many = c.put("/Patient?identifier=urn:mrn|1", with_mrn("A3", "1"));
  CHECK(many.status == 412);
  CHECK(version_of(c, id) == "2");
}

TEST_CASE("api: conditional update: the body's id must be the match's; If-Match is honoured") {
  api_case c;
  const std::string id = c.create("Patient", with_mrn("A", "1"));
  CHECK(c.put("/Patient?identifier=urn:mrn|1", with_mrn("A", "1", "someone-else")).status == 400);
  CHECK(c.put("/Patient?identifier=urn:mrn|1", with_mrn("A", "1", id), {{"If-Match", "W/\"5\""}}).status == 412);
  CHECK(c.put("/Patient?identifier=urn:mrn|1", with_mrn("A9", "1", id), {{"If-Match", "W/\"1\""}}).status == 200);
  CHECK(version_of(c, id) == "2");
  // A criterion Hearth does not know is an error, never a wider match.
  CHECK(c.put("/Patient?no-such-param=1", with_mrn("A", "1")).status == 400);
  CHECK(c.put("/Patient?_format=json", with_mrn("A", "1")).status == 400);  // no criterion at all
}

TEST_CASE("api: conditional delete: one match deleted, none is no error, several 412") {
  api_case c;
  const std::string id = c.create("Patient", with_mrn("A", "1"));
  const http_response none = c.del("/Patient?identifier=urn:mrn|404");
  CHECK(none.status == 204);
  CHECK_FALSE(none.header("ETag").has_value());

  const http_response one = c.del("/Patient?identifier=urn:mrn|1");
  CHECK(one.status == 204);
  CHECK(one.header("ETag") == "W/\"2\"");
  CHECK(c.get("/Patient/" + id).status == 410);

  c.create("Patient", with_mrn("B", "2"));
  c.create("Patient", with_mrn("C", "2"));
  CHECK(c.del("/Patient?identifier=urn:mrn|2").status == 412);
  CHECK(c.get("/Patient?identifier=urn:mrn|2").status == 200);
  CHECK(entries(body_of(c.get("/Patient?identifier=urn:mrn|2"))).size() == 2);
  CHECK(c.del("/Patient").status == 400);
}

}  // namespace
}  // namespace hearth::server::test
