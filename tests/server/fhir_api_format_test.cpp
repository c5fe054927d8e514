// fhir_api: formats (JSON, XML, _format, Accept, _pretty; 406, 415), routing
// errors (404, 405, 501) and the never-throw boundary (R4 http.html).
#include <hearth/server/fhir_api.hpp>

#include <doctest/doctest.h>

#include <hearth/fhir/xml_reader.hpp>

#include "server_test_support.hpp"

namespace hearth::server::test {
namespace {

constexpr std::string_view patient_xml =
    R"(<Patient xmlns="http://hl7.org/fhir"><name><family value="Xml"/></name><birthDate value="1970-01-02"/></Patient>)";

TEST_CASE("api: XML in, JSON and XML out") {
  api_case c;
  const http_response created =
      c.post("/Patient", std::string(patient_xml), {{"Content-Type", "application/fhir+xml"}, {"Accept", "application/fhir+xml"}});
  REQUIRE(created.status == 201);
  CHECK(created.header("Content-Type") == "application/fhir+xml; charset=utf-8");
  auto back = fhir::parse_fhir_xml(created.body, registry());
  REQUIRE(back);
  CHECK(back->find("birthDate")->str() == "1970-01-02");
  const std::string id = back->find("id")->str();

  const http_response json = c.get("/Patient/" + id);
  CHECK(json.header("Content-Type") == "application/fhir+json; charset=utf-8");
  CHECK(str_at(body_of(json), {"birthDate"}) == "1970-01-02");

  for (const char* f : {"xml", "application/fhir%2Bxml", "application/fhir+xml", "text/xml"}) {
    const http_response x = c.get("/Patient/" + id + "?_format=" + f, {{"Accept", "application/fhir+json"}});
    CHECK(x.status == 200);
    CHECK(x.header("Content-Type") == "application/fhir+xml; charset=utf-8");
    CHECK(x.body.find("<Patient xmlns=\"http://hl7.org/fhir\">") != std::string::npos);
  }
  // A search Bundle in XML.
  const http_response bundle = c.get("/Patient?_format=xml");
  REQUIRE(bundle.status == 200);
  auto b = fhir::parse_fhir_xml(bundle.body, registry());
  REQUIRE(b);
  CHECK(b->find("entry")->items().size() == 1);
  // An error in XML.
  const http_response missing = c.get("/Patient/nope", {{"Accept", "application/xml"}});
  CHECK(missing.status == 404);
  CHECK(missing.body.find("<OperationOutcome") != std::string::npos);
  // Broken XML is 400.
  CHECK(c.post("/Patient", "<Patient", {{"Content-Type", "application/xml"}}).status == 400);
}

TEST_CASE("api: Accept picks the served type of highest weight; */* is JSON; nothing served is 406") {
  api_case c;
  const std::string id = c.create("Patient", patient("A"));
  CHECK(c.get("/Patient/" + id, {{"Accept", "text/html, application/fhir+xml;q=0.9"}}).header("Content-Type") ==
        "application/fhir+xml; charset=utf-8");
  CHECK(c.get("/Patient/" + id, {{"Accept", "*/*"}}).header("Content-Type") ==
        "application/fhir+json; charset=utf-8");
  CHECK(c.get("/Patient/" + id, {{"Accept", "application/json"}}).status == 200);
  const http_response no = c.get("/Patient/" + id, {{"Accept", "text/html"}});
  CHECK(no.status == 406);
  CHECK(issue_code(no) == "not-supported");  // in JSON, the fallback
  CHECK(c.get("/Patient/" + id, {{"Accept", "application/fhir+xml;q=0"}}).status == 406);
  CHECK(c.get("/Patient/" + id + "?_format=html").status == 406);
  // RFC 9110 12.5.1: weights, not order, decide; equal weights keep the order.
  const auto type_for = [&](const char* accept) {
    const http_response r = c.get("/Patient/" + id, {{"Accept", accept}});
    return std::string(r.header("Content-Type").value_or(""));
  };
  CHECK(type_for("application/fhir+xml;q=0.1, application/fhir+json") == "application/fhir+json; charset=utf-8");
  CHECK(type_for("application/fhir+json;q=0.5, application/fhir+xml;q=0.8") == "application/fhir+xml; charset=utf-8");
  CHECK(type_for("application/fhir+xml, application/fhir+json") == "application/fhir+xml; charset=utf-8");
  CHECK(type_for("application/fhir+json;q=0.900, application/fhir+xml;q=1.0") == "application/fhir+xml; charset=utf-8");
  // A malformed weight drops its item, not the header.
  CHECK(type_for("application/fhir+xml;q=2, application/fhir+json;q=0.2") == "application/fhir+json; charset=utf-8");
  CHECK(type_for("application/fhir+xml;q=abc") != "application/fhir+xml; charset=utf-8");
}

TEST_CASE("api: request bodies in a type other than FHIR JSON or XML are 415") {
  api_case c;
  const http_response r = c.post("/Patient", patient("A"), {{"Content-Type", "text/plain"}});
  CHECK(r.status == 415);
  CHECK(issue_code(r) == "not-supported");
  CHECK(c.send("POST", "/Patient", patient("A")).status == 415);  // no Content-Type at all
  CHECK(c.post("/Patient", patient("A"), {{"Content-Type", "application/json; charset=utf-8"}}).status == 201);
}

TEST_CASE("api: _pretty=true indents JSON") {
  api_case c;
  const std::string id = c.create("Patient", patient("A"));
  const http_response r = c.get("/Patient/" + id + "?_pretty=true");
  CHECK(r.body.find("\n  \"resourceType\"") != std::string::npos);
  CHECK(body_of(r) == body_of(c.get("/Patient/" + id)));
}

TEST_CASE("api: routing: 404 unknown paths, 405 wrong methods, unknown operations not-supported") {
  api_case c;
  const std::string id = c.create("Patient", patient("A"));
  CHECK(c.get("/NoSuchType").status == 404);
  CHECK(c.get("/Patient/" + id + "/_history/1/extra").status == 404);
  CHECK(c.get("/Patient/" + id + "/nonsense").status == 404);

  const http_response options_type = c.send("OPTIONS", "/Patient");
  CHECK(options_type.status == 405);
  CHECK(options_type.header("Allow") == "GET, POST, PUT, DELETE, PATCH");
  // PUT [type] is a conditional update, which needs its search.
  const http_response put_type = c.put("/Patient", patient("A"));
  CHECK(put_type.status == 400);
  CHECK(diagnostics(put_type).find("search parameters") != std::string::npos);
  const http_response post_instance = c.post("/Patient/" + id, patient("A"));
  CHECK(post_instance.status == 405);
  // RFC 9110 15.5.6: Allow lists what the instance takes, PATCH included.
  CHECK(post_instance.header("Allow") == "GET, PUT, DELETE, PATCH");
  CHECK(c.send("POST", "/_history").status == 405);

  for (const http_response& r : {c.post("/$export", "{}"), c.get("/Patient/$match")}) {
    CHECK(r.status >= 400);
    CHECK(issue_code(r) == "not-supported");
  }
  // A target the listener should never pass on is still answered, not thrown.
  http_request odd;
  odd.method = "GET";
  odd.target = "Patient";
  CHECK(c.api.handle(odd).status == 400);
}

TEST_CASE("api: percent-encoded path segments and query values are decoded") {
  api_case c;
  REQUIRE(c.put("/Patient/a.b-1", patient("Enc", R"("id":"a.b-1")")).status == 201);
  CHECK(c.get("/Patient/a%2Eb%2D1").status == 200);
  c.create("Patient", patient("O'Brien Smith"));
  const auto e = entries(body_of(c.get("/Patient?family=O%27Brien%20Smith")));
  CHECK(e.size() == 1);
  // An escaped '/' stays inside its segment: not a valid id.
  CHECK(c.get("/Patient/a%2Fb").status == 400);
  CHECK(c.get("/Patient/%FF").status == 400);  // not UTF-8
}

TEST_CASE("api: a base URL without a path serves targets from the root") {
  api_options o;
  o.base_url = "http://localhost:8080";
  api_case c(o);
  http_request req;
  req.method = "POST";
  req.target = "/Patient";
  req.body = patient("Root");
  req.headers = {{"Content-Type", "application/fhir+json"}};
  const http_response r = c.api.handle(req);
  REQUIRE(r.status == 201);
  CHECK(std::string(r.header("Location").value_or("")).starts_with("http://localhost:8080/Patient/"));
  CHECK(c.api.options().base_url == "http://localhost:8080");
}

}  // namespace
}  // namespace hearth::server::test
