// fhir_api: search (type, POST _search, Patient compartment) and history
// Bundles (R4 http.html#search, #history; search.html; bundle.html).
#include <hearth/server/fhir_api.hpp>

#include <set>

#include <doctest/doctest.h>

#include <hearth/core/base64.hpp>

#include "server_test_support.hpp"

namespace hearth::server::test {
namespace {

std::string observation(const std::string& patient_id, std::string_view code) {
  return R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":")" +
         std::string(code) + R"("}]},"subject":{"reference":"Patient/)" + patient_id + "\"}}";
}

TEST_CASE("api: search Bundle: searchset, total, fullUrl, search.mode, self link") {
  api_case c;
  const std::string a = c.create("Patient", patient("Smith"));
  c.create("Patient", patient("Jones"));
  const http_response r = c.get("/Patient?family=Smith");
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "application/fhir+json; charset=utf-8");
  const fhir::json_value b = body_of(r);
  CHECK(str_at(b, {"resourceType"}) == "Bundle");
  CHECK(str_at(b, {"type"}) == "searchset");
  CHECK(b.find("total")->number_text() == "1");
  CHECK(link(b, "self") == std::string(base) + "/Patient?family=Smith");
  CHECK(link(b, "next").empty());
  const auto e = entries(b);
  REQUIRE(e.size() == 1);
  CHECK(str_at(e[0], {"fullUrl"}) == std::string(base) + "/Patient/" + a);
  CHECK(str_at(e[0], {"resource", "id"}) == a);
  CHECK(str_at(e[0], {"search", "mode"}) == "match");
}

TEST_CASE("api: search pages: the next link carries the cursor and is followed to the end") {
  api_case c;
  std::set<std::string> created;
  for (int i = 0; i < 7; ++i) created.insert(c.create("Patient", patient("Page")));
  std::set<std::string> seen;
  std::string target = "/Patient?family=Page&_count=3";
  int pages = 0;
  while (!target.empty()) {
    const http_response r = c.get(target);
    REQUIRE(r.status == 200);
    const fhir::json_value b = body_of(r);
    for (const auto& e : entries(b)) {
      CHECK(seen.insert(str_at(e, {"resource", "id"})).second);  // never twice
    }
    const std::string next = link(b, "next");
    if (!next.empty()) {
      CHECK(next.find("_cursor=") != std::string::npos);
      CHECK(next.find("_count=3") != std::string::npos);
    }
    target = next.empty() ? "" : target_of(next);
    ++pages;
    REQUIRE(pages < 10);
  }
  CHECK(pages == 3);
  CHECK(seen == created);
}

TEST_CASE("api: next links carry sealed cursors: no sort value can be read from them, none can be altered") {
  api_case c;
  for (const char* family : {"Aardvark", "Bittern", "Cassowary"}) c.create("Patient", patient(family));
  const http_response first = c.get("/Patient?_sort=family&_count=1");
  REQUIRE(first.status == 200);
  const std::string next = target_of(link(body_of(first), "next"));
  const std::string cursor = next.substr(next.find("_cursor=") + 8);
  const auto bytes = base64::decode(cursor, true);
  REQUIRE(bytes);
  CHECK(bytes->find("Aardvark") == std::string::npos);
  CHECK(next.find("Aardvark") == std::string::npos);
  CHECK(c.get(next).status == 200);
  std::string altered = cursor;
  altered[cursor.size() / 2] = altered[cursor.size() / 2] == 'A' ? 'g' : 'A';
  const http_response refused = c.get("/Patient?_sort=family&_count=1&_cursor=" + altered);
  CHECK(refused.status == 400);
  CHECK(issue_code(refused) == "invalid");
  // History pages the same way.
  const std::string id = c.create("Patient", patient("Dunlin"));
  CHECK(c.put("/Patient/" + id, patient("Dunlin2", R"("id":")" + id + "\"")).status == 200);
  const std::string hnext = target_of(link(body_of(c.get("/Patient/" + id + "/_history?_count=1")), "next"));
  REQUIRE_FALSE(hnext.empty());
  CHECK(c.get(hnext).status == 200);
  CHECK(c.get("/Patient/" + id + "/_history?_count=1&_cursor=" + altered).status == 400);
}

TEST_CASE("api: _summary=count gives the total and no entries; _total=accurate a total on a paged search") {
  api_case c;
  for (int i = 0; i < 4; ++i) c.create("Patient", patient("Count"));
  const fhir::json_value b = body_of(c.get("/Patient?family=Count&_summary=count"));
  CHECK(b.find("total")->number_text() == "4");
  CHECK(entries(b).empty());
  const fhir::json_value t = body_of(c.get("/Patient?family=Count&_count=2&_total=accurate"));
  CHECK(t.find("total")->number_text() == "4");
  CHECK(entries(t).size() == 2);
  // _summary=true is accepted (applying it is for later); it must not fail.
  CHECK(c.get("/Patient?_summary=true").status == 200);
  CHECK(c.get("/Patient?_summary=bogus").status == 400);
}

TEST_CASE("api: _include adds entries with search.mode include") {
  api_case c;
  const std::string p = c.create("Patient", patient("Inc"));
  c.create("Observation", observation(p, "1234-5"));
  const fhir::json_value b = body_of(c.get("/Observation?code=1234-5&_include=Observation:subject"));
  const auto e = entries(b);
  REQUIRE(e.size() == 2);
  CHECK(str_at(e[0], {"search", "mode"}) == "match");
  CHECK(str_at(e[1], {"search", "mode"}) == "include");
  CHECK(str_at(e[1], {"fullUrl"}) == std::string(base) + "/Patient/" + p);
}

TEST_CASE("api: lenient handling lists ignored parameters in an outcome entry; strict refuses them") {
  api_case c;
  c.create("Patient", patient("Len"));
  const http_response r = c.get("/Patient?family=Len&nosuch=1");
  REQUIRE(r.status == 200);
  const fhir::json_value b = body_of(r);
  const auto e = entries(b);
  REQUIRE(e.size() == 2);
  CHECK(str_at(e[1], {"search", "mode"}) == "outcome");
  CHECK(str_at(e[1], {"resource", "resourceType"}) == "OperationOutcome");
  CHECK(link(b, "self") == std::string(base) + "/Patient?family=Len");  // the ignored one left out

  const http_response strict = c.get("/Patient?family=Len&nosuch=1", {{"Prefer", "handling=strict"}});
  CHECK(strict.status == 400);
  CHECK(issue_code(strict) == "not-supported");

  api_options o = api_case::default_options();
  o.default_handling = store::search_handling::strict;
  api_case strict_case(o);
  CHECK(strict_case.get("/Patient?nosuch=1").status == 400);
  CHECK(strict_case.get("/Patient?nosuch=1", {{"Prefer", "handling=lenient"}}).status == 200);
}

TEST_CASE("api: malformed search values are 400 with an OperationOutcome") {
  api_case c;
  const http_response r = c.get("/Patient?birthdate=not-a-date");
  CHECK(r.status == 400);
  CHECK(issue_code(r) == "invalid");
  CHECK(c.get("/Patient?_count=abc").status == 400);
  CHECK(c.get("/Patient?_cursor=garbage").status == 400);
  CHECK(c.get("/Patient?family=%zz").status == 400);
}

TEST_CASE("api: POST _search merges form body and URL parameters") {
  api_case c;
  const std::string a = c.create("Patient", patient("Form", R"("gender":"female")"));
  c.create("Patient", patient("Form", R"("gender":"male")"));
  const http_response r = c.send("POST", "/Patient/_search?gender=female", "family=Form",
                                 {{"Content-Type", "application/x-www-form-urlencoded"}});
  REQUIRE(r.status == 200);
  const auto e = entries(body_of(r));
  REQUIRE(e.size() == 1);
  CHECK(str_at(e[0], {"resource", "id"}) == a);
  // '+' is a space in a form body.
  c.create("Patient", patient("Van Dyke"));
  const http_response sp = c.send("POST", "/Patient/_search", "family=Van+Dyke",
                                  {{"Content-Type", "application/x-www-form-urlencoded"}});
  CHECK(entries(body_of(sp)).size() == 1);

  const http_response json_body = c.send("POST", "/Patient/_search", "{}", {{"Content-Type", "application/json"}});
  CHECK(json_body.status == 415);
  CHECK(c.get("/Patient/_search").status == 405);
}

TEST_CASE("api: Patient compartment search") {
  api_case c;
  const std::string p1 = c.create("Patient", patient("One"));
  const std::string p2 = c.create("Patient", patient("Two"));
  c.create("Observation", observation(p1, "1"));
  c.create("Observation", observation(p1, "2"));
  c.create("Observation", observation(p2, "1"));
  const fhir::json_value all = body_of(c.get("/Patient/" + p1 + "/Observation"));
  CHECK(entries(all).size() == 2);
  CHECK(link(all, "self") == std::string(base) + "/Patient/" + p1 + "/Observation");
  const fhir::json_value some = body_of(c.get("/Patient/" + p1 + "/Observation?code=2"));
  CHECK(entries(some).size() == 1);
  const http_response post = c.send("POST", "/Patient/" + p2 + "/Observation/_search", "code=1",
                                    {{"Content-Type", "application/x-www-form-urlencoded"}});
  CHECK(entries(body_of(post)).size() == 1);
  CHECK(c.del("/Patient/" + p1 + "/Observation").status == 405);
}

TEST_CASE("api: instance history lists versions newest first, the deleted one without a resource") {
  api_case c;
  const std::string id = c.create("Patient", patient("H"));
  c.now += std::chrono::seconds(1);
  REQUIRE(c.put("/Patient/" + id, patient("H2", R"("id":")" + id + "\"")).status == 200);
  c.now += std::chrono::seconds(1);
  REQUIRE(c.del("/Patient/" + id).status == 204);

  const http_response r = c.get("/Patient/" + id + "/_history");
  REQUIRE(r.status == 200);
  const fhir::json_value b = body_of(r);
  CHECK(str_at(b, {"type"}) == "history");
  const auto e = entries(b);
  REQUIRE(e.size() == 3);
  CHECK(str_at(e[0], {"request", "method"}) == "DELETE");
  CHECK(str_at(e[0], {"request", "url"}) == "Patient/" + id);
  CHECK(e[0].find("resource") == nullptr);
  CHECK(str_at(e[0], {"response", "etag"}) == "W/\"3\"");
  CHECK(str_at(e[1], {"request", "method"}) == "PUT");
  CHECK(str_at(e[1], {"response", "status"}) == "200 OK");
  CHECK(str_at(e[1], {"response", "lastModified"}) == "2024-03-01T12:00:01.250Z");
  CHECK(str_at(e[2], {"request", "method"}) == "POST");
  CHECK(str_at(e[2], {"request", "url"}) == "Patient");
  CHECK(str_at(e[2], {"response", "status"}) == "201 Created");
  CHECK(str_at(e[2], {"resource", "meta", "versionId"}) == "1");
  CHECK(str_at(e[2], {"fullUrl"}) == std::string(base) + "/Patient/" + id);

  CHECK(c.get("/Patient/unknown/_history").status == 404);
  CHECK(c.post("/Patient/" + id + "/_history", "{}").status == 405);
}

TEST_CASE("api: type and system history with _since, _at, _count and next links") {
  api_case c;
  const std::string p = c.create("Patient", patient("A"));  // 12:00:00.250
  c.now += std::chrono::hours(1);
  c.create("Patient", patient("B"));  // 13:00:00.250
  c.now += std::chrono::hours(1);
  c.create("Observation", observation(p, "1"));  // 14:00:00.250

  CHECK(entries(body_of(c.get("/Patient/_history"))).size() == 2);
  CHECK(entries(body_of(c.get("/_history"))).size() == 3);
  CHECK(entries(body_of(c.get("/_history?_since=2024-03-01T13:00:00Z"))).size() == 2);
  // _at: what was current during that minute: A only (B came at 13:00).
  const auto at = entries(body_of(c.get("/Patient/_history?_at=2024-03-01T12:30")));
  REQUIRE(at.size() == 1);
  CHECK(str_at(at[0], {"resource", "id"}) == p);

  std::size_t total = 0;
  std::string target = "/_history?_count=1";
  int pages = 0;
  while (!target.empty() && pages < 10) {
    const fhir::json_value b = body_of(c.get(target));
    total += entries(b).size();
    const std::string next = link(b, "next");
    target = next.empty() ? "" : target_of(next);
    ++pages;
  }
  CHECK(pages == 3);
  CHECK(total == 3);

  CHECK(c.get("/_history?_since=yesterday").status == 400);
  CHECK(c.get("/_history?_count=0").status == 400);
  CHECK(c.get("/_history?_cursor=nonsense").status == 400);
  CHECK(c.get("/_history?foo=1").status == 200);
  CHECK(c.get("/_history?foo=1", {{"Prefer", "handling=strict"}}).status == 400);
}

}  // namespace
}  // namespace hearth::server::test
