#include <hearth/server/conformance/testscript.hpp>

#include <doctest/doctest.h>

#include "support/loopback_listener.hpp"
#include "support/temp_dir.hpp"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>

#include "store/index_test_support.hpp"  // registry()

#if defined(HEARTH_WITH_SERVER_HTTP)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

namespace hearth::server::conformance {
namespace {

namespace fs = std::filesystem;
using headers_t = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view base = "http://fhir.test/r4";

// --- building TestScripts -------------------------------------------------------

/// A TestScript named "demo" with the given members after name and status.
std::string ts(std::string_view members) {
  return std::string(R"({"resourceType":"TestScript","name":"demo","status":"active",)") + std::string(members) + "}";
}

/// An operation action of the given testscript-operation-codes type.
std::string op(std::string_view type, std::string_view members = "") {
  std::string s =
      R"({"operation":{"type":{"system":"http://terminology.hl7.org/CodeSystem/testscript-operation-codes","code":")";
  s += type;
  s += "\"}";
  if (!members.empty()) s += "," + std::string(members);
  return s + "}}";
}

/// An assert action.
std::string as(std::string_view members) { return R"({"assert":{)" + std::string(members) + "}}"; }

/// A test with these actions.
std::string test(std::string_view name, std::initializer_list<std::string> actions, std::string_view extra = "") {
  std::string s = R"({"name":")" + std::string(name) + "\"";
  if (!extra.empty()) s += "," + std::string(extra);
  s += R"(,"action":[)";
  bool first = true;
  for (const auto& a : actions) {
    if (!first) s += ",";
    s += a;
    first = false;
  }
  return s + "]}";
}

std::string tests(std::initializer_list<std::string> list) {
  std::string s = R"("test":[)";
  bool first = true;
  for (const auto& t : list) {
    if (!first) s += ",";
    s += t;
    first = false;
  }
  return s + "]";
}

std::string requires_ext(std::string_view code) {
  return R"("extension":[{"url":"https://hearth.dev/fhir/StructureDefinition/conformance-requires","valueCode":")" +
         std::string(code) + "\"}]";
}

/// A contained Patient "#pat" with id p1, and fixture "pat" naming it.
const std::string patient_fixture =
    R"("contained":[{"resourceType":"Patient","id":"p1","name":[{"family":"Doe"}]}],)"
    R"("fixture":[{"id":"pat","autocreate":false,"autodelete":false,"resource":{"reference":"#p1"}}],)";

// --- a fake FHIR server -----------------------------------------------------------

client_response reply(unsigned status, std::string body = {},
                      headers_t headers = {{"Content-Type", "application/fhir+json;charset=utf-8"}}) {
  client_response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

/// Answers each request with `answer` and records what was sent.
struct fake_fhir {
  std::vector<client_request> sent;
  std::function<hearth::result<client_response>(const client_request&)> answer =
      [](const client_request&) -> hearth::result<client_response> {
    return reply(200, R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"2"}})");
  };
  http_transport transport() {
    return [this](const client_request& r) {
      sent.push_back(r);
      return answer(r);
    };
  }
};

testscript_options options(fake_fhir& f) {
  testscript_options o;
  o.fhir_base = std::string(base);
  o.http = f.transport();
  o.definitions = &store::test::registry();
  o.run_id = "abc123def456";
  return o;
}

suite_result run(const std::string& text, fake_fhir& f, const std::function<void(testscript_options&)>& tweak = {},
                 const fs::path& file = fs::path("suites") / "demo.json") {
  testscript_options o = options(f);
  if (tweak) tweak(o);
  return run_testscript_text(text, file, o);
}

std::optional<std::string> header(const client_request& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      return v;
  }
  return std::nullopt;
}

/// The one request a one-operation test sent.
client_request sent_by(const std::string& fixtures_and_more, const std::string& operation,
                       const std::function<void(testscript_options&)>& tweak = {}) {
  fake_fhir f;
  const suite_result s = run(ts(fixtures_and_more + tests({test("t", {operation})})), f, tweak);
  INFO("suite error: " << s.error);
  REQUIRE(s.error.empty());
  REQUIRE(s.cases.size() == 1);
  INFO("case message: " << s.cases[0].message);
  REQUIRE(s.cases[0].status == outcome::passed);
  REQUIRE(f.sent.size() == 1);
  return f.sent[0];
}


// --- operations: URL, method, headers, body ---------------------------------------

TEST_CASE("conformance testscript: read, vread, delete and history address the targetId's resource") {
  const client_request read = sent_by(patient_fixture, op("read", R"("targetId":"pat")"));
  CHECK(read.method == "GET");
  CHECK(read.url == std::string(base) + "/Patient/p1");
  CHECK(header(read, "Accept") == "application/fhir+json");
  CHECK_FALSE(header(read, "Authorization"));  // the run has no token
  CHECK_FALSE(header(read, "Content-Type"));
  CHECK(read.body.empty());

  const client_request del = sent_by(patient_fixture, op("delete", R"("targetId":"pat")"));
  CHECK(del.method == "DELETE");
  CHECK(del.url == std::string(base) + "/Patient/p1");

  const client_request hist = sent_by(patient_fixture, op("history", R"("targetId":"pat")"));
  CHECK(hist.method == "GET");
  CHECK(hist.url == std::string(base) + "/Patient/p1/_history");

  // vread: the version of a response (its meta.versionId) named by targetId.
  fake_fhir f;
  const suite_result s = run(ts(tests({test("t", {op("read", R"("resource":"Patient","params":"/p1","responseId":"r")"),
                                                  op("vread", R"("targetId":"r")")})})),
                             f);
  REQUIRE(s.error.empty());
  REQUIRE(f.sent.size() == 2);
  CHECK(f.sent[1].url == std::string(base) + "/Patient/p1/_history/2");
  CHECK(s.cases[0].status == outcome::passed);
}

TEST_CASE("conformance testscript: vread of a target without a version fails the test") {
  fake_fhir f;
  const suite_result s = run(ts(patient_fixture + tests({test("t", {op("vread", R"("targetId":"pat")")})})), f);
  REQUIRE(s.cases.size() == 1);
  CHECK(s.cases[0].status == outcome::failed);
  CHECK(s.cases[0].message.find("no version") != std::string::npos);
  CHECK(f.sent.empty());
}

TEST_CASE("conformance testscript: create, transaction, batch, capabilities, search and validate") {
  const client_request create = sent_by(patient_fixture, op("create", R"("resource":"Patient","sourceId":"pat")"));
  CHECK(create.method == "POST");
  CHECK(create.url == std::string(base) + "/Patient");
  CHECK(header(create, "Content-Type") == "application/fhir+json");
  auto body = fhir::parse_json(create.body);
  REQUIRE(body);
  CHECK(body->find("name") != nullptr);

  // Without `resource`, create posts to the body's own type.
  CHECK(sent_by(patient_fixture, op("create", R"("sourceId":"pat")")).url == std::string(base) + "/Patient");

  const std::string bundle =
      R"("contained":[{"resourceType":"Bundle","id":"b","type":"transaction"}],)"
      R"("fixture":[{"id":"bundle","autocreate":false,"autodelete":false,"resource":{"reference":"#b"}}],)";
  const client_request tx = sent_by(bundle, op("transaction", R"("sourceId":"bundle")"));
  CHECK(tx.method == "POST");
  CHECK(tx.url == base);
  CHECK(sent_by(bundle, op("batch", R"("sourceId":"bundle")")).url == base);

  const client_request caps = sent_by("", op("capabilities"));
  CHECK(caps.method == "GET");
  CHECK(caps.url == std::string(base) + "/metadata");

  const client_request search = sent_by("", op("search", R"("resource":"Patient","params":"?name=Doe&_count=5")"));
  CHECK(search.method == "GET");
  CHECK(search.url == std::string(base) + "/Patient?name=Doe&_count=5");
  CHECK(sent_by("", op("search", R"("resource":"Patient")")).url == std::string(base) + "/Patient");
  CHECK(sent_by("", op("history", R"("resource":"Patient")")).url == std::string(base) + "/Patient/_history");

  const client_request validate = sent_by(patient_fixture, op("validate", R"("resource":"Patient","sourceId":"pat")"));
  CHECK(validate.method == "POST");
  CHECK(validate.url == std::string(base) + "/Patient/$validate");
  CHECK_FALSE(validate.body.empty());
}

TEST_CASE("conformance testscript: update and updateCreate PUT to the target's or the body's id") {
  const std::string fixtures =
      R"("contained":[{"resourceType":"Patient","id":"p1","name":[{"family":"Doe"}]},)"
      R"({"resourceType":"Patient","id":"noid-holder","active":true}],)"
      R"("fixture":[{"id":"pat","autocreate":false,"autodelete":false,"resource":{"reference":"#p1"}}],)";
  const client_request update = sent_by(fixtures, op("update", R"("sourceId":"pat")"));
  CHECK(update.method == "PUT");
  CHECK(update.url == std::string(base) + "/Patient/p1");
  CHECK(header(update, "Content-Type") == "application/fhir+json");

  const client_request uc = sent_by(fixtures, op("updateCreate", R"("sourceId":"pat","targetId":"pat")"));
  CHECK(uc.method == "PUT");
  CHECK(uc.url == std::string(base) + "/Patient/p1");

  // A body without an id takes the targetId's (FHIR R4 http.html#update).
  hearth::test::temp_dir dir("hearth-testscript");
  dir.write("fixtures/new.json", R"({"resourceType":"Patient","active":true})");
  fake_fhir f;
  const suite_result s =
      run(ts(patient_fixture.substr(0, patient_fixture.find("\"fixture\"")) +
             R"("fixture":[{"id":"pat","autocreate":false,"autodelete":false,"resource":{"reference":"#p1"}},)"
             R"({"id":"new","autocreate":false,"autodelete":false,"resource":{"reference":"fixtures/new.json"}}],)" +
             tests({test("t", {op("update", R"("sourceId":"new","targetId":"pat")")})})),
          f, {}, dir.path / "demo.json");
  INFO(s.error);
  REQUIRE(f.sent.size() == 1);
  CHECK(f.sent[0].url == std::string(base) + "/Patient/p1");
  auto body = fhir::parse_json(f.sent[0].body);
  REQUIRE(body);
  REQUIRE(body->find("id") != nullptr);
  CHECK(body->find("id")->str() == "p1");
}

TEST_CASE("conformance testscript: patch sends a JSON Patch fixture as application/json-patch+json") {
  hearth::test::temp_dir dir("hearth-testscript");
  dir.write("patch.json", R"([{"op":"replace","path":"/active","value":false}])");
  fake_fhir f;
  const suite_result s =
      run(ts(R"("fixture":[{"id":"p","autocreate":false,"autodelete":false,"resource":{"reference":"patch.json"}}],)" +
             tests({test("t", {op("patch", R"("resource":"Patient","params":"/p1","sourceId":"p")")})})),
          f, {}, dir.path / "demo.json");
  INFO(s.error);
  REQUIRE(f.sent.size() == 1);
  CHECK(f.sent[0].method == "PATCH");
  CHECK(f.sent[0].url == std::string(base) + "/Patient/p1");
  CHECK(header(f.sent[0], "Content-Type") == "application/json-patch+json");
  CHECK(f.sent[0].body.find("\"replace\"") != std::string::npos);
}

TEST_CASE("conformance testscript: conditional deletes, url, method and encodeRequestUrl") {
  const client_request cond =
      sent_by("", op("deleteCondSingle", R"("resource":"Patient","params":"?identifier=urn:x|${runId}")"));
  CHECK(cond.method == "DELETE");
  // encodeRequestUrl (default true): '|' is not allowed as is in a query (RFC 3986 3.4).
  CHECK(cond.url == std::string(base) + "/Patient?identifier=urn:x%7Cabc123def456");
  CHECK(sent_by("", op("deleteCondMultiple", R"("resource":"Patient","params":"?name=a b")")).url ==
        std::string(base) + "/Patient?name=a%20b");
  // encodeRequestUrl false: sent as written.
  CHECK(sent_by("", op("search", R"("resource":"Patient","params":"?name=a|b","encodeRequestUrl":false)")).url ==
        std::string(base) + "/Patient?name=a|b");
  // Existing escapes are kept.
  CHECK(sent_by("", op("search", R"("resource":"Patient","params":"?name=a%20b")")).url ==
        std::string(base) + "/Patient?name=a%20b");

  CHECK(sent_by("", op("read", R"("url":"Patient/p9")")).url == std::string(base) + "/Patient/p9");
  CHECK(sent_by("", op("read", R"("url":"/Patient/p9")")).url == std::string(base) + "/Patient/p9");
  CHECK(sent_by("", op("read", R"("url":"https://other.test/fhir/Patient/1")")).url ==
        "https://other.test/fhir/Patient/1");
  const client_request head = sent_by("", op("read", R"("url":"Patient/p9","method":"head")"));
  CHECK(head.method == "HEAD");
  // No type: method and address only.
  fake_fhir f;
  const suite_result s = run(ts(tests({test("t", {R"({"operation":{"method":"options","url":"metadata"}})"})})), f);
  REQUIRE(f.sent.size() == 1);
  CHECK(f.sent[0].method == "OPTIONS");
  CHECK(f.sent[0].url == std::string(base) + "/metadata");
  // A trailing slash on the base is not doubled.
  CHECK(sent_by("", op("capabilities"), [](testscript_options& o) { o.fhir_base += "/"; }).url ==
        std::string(base) + "/metadata");
}

TEST_CASE("conformance testscript: accept, contentType, the run's token and requestHeader") {
  const client_request xml =
      sent_by(patient_fixture, op("create", R"("sourceId":"pat","accept":"xml","contentType":"application/fhir+xml")"));
  CHECK(header(xml, "Accept") == "application/fhir+xml");
  CHECK(header(xml, "Content-Type") == "application/fhir+xml");
  // The JSON fixture was written as FHIR XML.
  CHECK(xml.body.find("<Patient xmlns=\"http://hl7.org/fhir\">") != std::string::npos);
  CHECK(xml.body.find("<family value=\"Doe\"/>") != std::string::npos);

  CHECK(header(sent_by("", op("capabilities", R"("accept":"json")")), "Accept") == "application/fhir+json");
  CHECK_FALSE(header(sent_by("", op("capabilities", R"("accept":"none")")), "Accept"));

  const auto with_token = [](testscript_options& o) { o.token = "secret-token"; };
  CHECK(header(sent_by("", op("capabilities"), with_token), "Authorization") == "Bearer secret-token");
  // requestHeader replaces a default of the same name; an empty value removes it.
  const client_request own = sent_by(
      "",
      op("capabilities", R"("requestHeader":[{"field":"authorization","value":"Bearer other"},)"
                         R"({"field":"X-Run","value":"${runId}"},{"field":"Accept","value":"application/json"}])"),
      with_token);
  CHECK(header(own, "Authorization") == "Bearer other");
  CHECK(header(own, "X-Run") == "abc123def456");
  CHECK(header(own, "Accept") == "application/json");
  int accepts = 0;
  for (const auto& h : own.headers) accepts += h.first == "Accept" ? 1 : 0;
  CHECK(accepts == 1);
  const client_request none =
      sent_by("", op("capabilities", R"("requestHeader":[{"field":"Authorization","value":""}])"), with_token);
  CHECK_FALSE(header(none, "Authorization"));
}

// --- fixtures --------------------------------------------------------------------------

TEST_CASE("conformance testscript: fixture files are read from the TestScript's folder, ${...} substituted") {
  hearth::test::temp_dir dir("hearth-testscript");
  dir.write(
      "fixtures/patient.json",
      R"({"resourceType":"Patient","identifier":[{"system":"urn:test","value":"${runId}"}],"name":[{"family":"${family}"}]})");
  fake_fhir f;
  const suite_result s = run(
      ts(R"("fixture":[{"id":"p","autocreate":false,"autodelete":false,"resource":{"reference":"fixtures/patient.json"}}],)"
         R"("variable":[{"name":"family","defaultValue":"O\"Brien"}],)" +
         tests({test("t", {op("create", R"("resource":"Patient","sourceId":"p")")})})),
      f, {}, dir.path / "demo.json");
  INFO(s.error);
  REQUIRE(f.sent.size() == 1);
  auto body = fhir::parse_json(f.sent[0].body);
  REQUIRE(body);  // the quote in the value was escaped for JSON
  CHECK(body->find("identifier")->items()[0].find("value")->str() == "abc123def456");
  CHECK(body->find("name")->items()[0].find("family")->str() == "O\"Brien");
}

TEST_CASE("conformance testscript: XML fixtures are sent as XML, or converted when contentType asks for JSON") {
  hearth::test::temp_dir dir("hearth-testscript");
  dir.write("fixtures/patient.xml",
            R"(<Patient xmlns="http://hl7.org/fhir"><name><family value="${family}"/></name></Patient>)");
  const std::string script_head =
      R"("fixture":[{"id":"p","autocreate":false,"autodelete":false,"resource":{"reference":"fixtures/patient.xml"}}],)"
      R"("variable":[{"name":"family","defaultValue":"O'Hara & <Sons>"}],)";
  fake_fhir f;
  suite_result s = run(ts(script_head + tests({test("t", {op("create", R"("resource":"Patient","sourceId":"p")")})})),
                       f, {}, dir.path / "demo.json");
  INFO(s.error);
  REQUIRE(f.sent.size() == 1);
  CHECK(header(f.sent[0], "Content-Type") == "application/fhir+xml");
  CHECK(f.sent[0].body.find(R"(<family value="O&apos;Hara &amp; &lt;Sons&gt;"/>)") != std::string::npos);

  s = run(ts(script_head +
             tests({test("t", {op("create",
                                  R"("resource":"Patient","sourceId":"p","contentType":"application/fhir+json")")})})),
          f, {}, dir.path / "demo.json");
  REQUIRE(f.sent.size() == 2);
  CHECK(header(f.sent[1], "Content-Type") == "application/fhir+json");
  auto body = fhir::parse_json(f.sent[1].body);
  REQUIRE(body);
  CHECK(body->find("name")->items()[0].find("family")->str() == "O'Hara & <Sons>");
}

TEST_CASE("conformance testscript: without the FHIR definitions, an expression fails saying why") {
  fake_fhir f;
  const suite_result s = run(
      ts(tests({test("t", {op("read", R"("url":"Patient/p1")"), as(R"("expression":"Patient.id","value":"p1")")})})), f,
      [](testscript_options& o) { o.definitions = nullptr; });
  REQUIRE(s.cases.size() == 1);
  CHECK(s.cases[0].status == outcome::failed);
  CHECK(s.cases[0].message ==
        "assert 1 (expression): FHIRPath needs the FHIR definitions, and the runner was given none");
}

TEST_CASE("conformance testscript: autocreate before setup, targetId names the server copy, autodelete at the end") {
  fake_fhir f;
  f.answer = [](const client_request& r) -> hearth::result<client_response> {
    if (r.method == "POST") {
      // return=minimal style: no body, a Location.
      return reply(201, "", {{"Location", std::string(base) + "/Patient/srv-7/_history/1"}});
    }
    return reply(200, R"({"resourceType":"Patient","id":"srv-7"})");
  };
  const suite_result s =
      run(ts(R"("contained":[{"resourceType":"Patient","id":"c1","active":true}],)"
             R"("fixture":[{"id":"pat","autocreate":true,"autodelete":true,"resource":{"reference":"#c1"}}],)"
             R"("setup":{"action":[)" +
             op("search", R"("resource":"Patient")") + R"(]},)" +
             tests({test("read", {op("read", R"("targetId":"pat")"), as(R"("response":"okay")")})}) +
             R"(,"teardown":{"action":[)" + op("search", R"("resource":"Observation")") + "]}"),
          f);
  INFO(s.error);
  CHECK(s.error.empty());
  REQUIRE(f.sent.size() == 5);
  CHECK(f.sent[0].method == "POST");
  CHECK(f.sent[0].url == std::string(base) + "/Patient");
  CHECK(header(f.sent[0], "Prefer") == "return=representation");
  CHECK(f.sent[1].url == std::string(base) + "/Patient");        // setup
  CHECK(f.sent[2].url == std::string(base) + "/Patient/srv-7");  // the test, on the server copy
  CHECK(f.sent[3].url == std::string(base) + "/Observation");    // teardown
  CHECK(f.sent[4].method == "DELETE");                           // autodelete, last
  CHECK(f.sent[4].url == std::string(base) + "/Patient/srv-7");
  REQUIRE(s.cases.size() == 1);
  CHECK(s.cases[0].status == outcome::passed);
}

TEST_CASE("conformance testscript: a failing autocreate fails every test as a setup failure") {
  fake_fhir f;
  f.answer = [](const client_request& r) -> hearth::result<client_response> {
    if (r.method == "POST") return reply(400, R"({"resourceType":"OperationOutcome"})");
    return reply(200, "{}");
  };
  const suite_result s =
      run(ts(R"("contained":[{"resourceType":"Patient","id":"c1","active":true}],)"
             R"("fixture":[{"id":"pat","autocreate":true,"autodelete":true,"resource":{"reference":"#c1"}}],)" +
             tests({test("a", {as(R"("response":"okay")")}), test("b", {as(R"("response":"okay")")})})),
          f);
  CHECK(s.error.find("setup failed: autocreate of fixture 'pat'") == 0);
  REQUIRE(s.cases.size() == 2);
  for (const case_result& c : s.cases) {
    CHECK(c.status == outcome::failed);
    CHECK(c.message.find("setup failed:") == 0);
    CHECK(c.actual == "status 400");
    CHECK(c.request.find("POST " + std::string(base) + "/Patient") == 0);
  }
  // Nothing was created, so nothing is deleted.
  CHECK(f.sent.size() == 1);
}

TEST_CASE("conformance testscript: fixture references that cannot be used are script errors") {
  fake_fhir f;
  hearth::test::temp_dir dir("hearth-testscript");
  dir.write("bad.json", "{not json");
  const auto error_of = [&](const std::string& fixture) {
    return run(ts(R"("fixture":[)" + fixture + "]," + tests({test("t", {op("capabilities")})})), f, {},
               dir.path / "demo.json")
        .error;
  };
  CHECK(error_of(R"({"id":"x","autocreate":false,"autodelete":false,"resource":{"reference":"#missing"}})")
            .find("no contained resource has id 'missing'") != std::string::npos);
  CHECK(error_of(R"({"id":"x","autocreate":false,"autodelete":false,"resource":{"reference":"../secret.json"}})")
            .find("without '..'") != std::string::npos);
  CHECK(error_of(R"({"id":"x","autocreate":false,"autodelete":false,"resource":{"reference":"/etc/passwd"}})")
            .find("relative") != std::string::npos);
  CHECK(error_of(R"({"id":"x","autocreate":false,"autodelete":false,"resource":{"reference":"nope.json"}})")
            .find("cannot read the fixture file nope.json") != std::string::npos);
  CHECK(error_of(R"({"id":"x","autocreate":false,"autodelete":false,"resource":{"reference":"bad.json"}})")
            .find("is not JSON") != std::string::npos);
  CHECK(error_of(R"({"id":"x","autocreate":false,"autodelete":false,"resource":{"reference":"http://x/Patient/1"}})")
            .find("not supported") != std::string::npos);
  CHECK(f.sent.empty());
}

// --- variables ----------------------------------------------------------------------------

TEST_CASE("conformance testscript: variables from a response's body and headers, used when needed") {
  fake_fhir f;
  f.answer = [](const client_request& r) -> hearth::result<client_response> {
    if (r.method == "POST") {
      return reply(201, R"({"resourceType":"Patient","id":"new-1","name":[{"family":"Roe"}]})",
                   {{"Content-Type", "application/fhir+json"}, {"Location", "http://x/Patient/new-1/_history/1"}});
    }
    return reply(200, R"({"resourceType":"Patient","id":"new-1"})");
  };
  const suite_result s =
      run(ts(patient_fixture +
             R"("variable":[{"name":"pid","expression":"Patient.id","sourceId":"created"},)"
             R"({"name":"loc","headerField":"Location","sourceId":"created"},)"
             R"({"name":"fam","expression":"Patient.name.family","sourceId":"created"},)"
             R"({"name":"fixtureFamily","expression":"Patient.name.family","sourceId":"pat"},)"
             R"({"name":"lastId","expression":"id"}],)" +
             tests({test(
                 "t",
                 {op("create", R"("sourceId":"pat","responseId":"created")"),
                  op("read",
                     R"("resource":"Patient","params":"/${pid}","requestHeader":[{"field":"X-Loc","value":"${loc}"}])"),
                  as(R"("expression":"Patient.id","value":"${lastId}")"), as(R"("expression":"Patient.id = '${pid}'")"),
                  op("search", R"("resource":"Patient","params":"?family=${fam}&x=${fixtureFamily}")")})})),
          f);
  INFO(s.error);
  REQUIRE(s.cases.size() == 1);
  INFO(s.cases[0].message);
  CHECK(s.cases[0].status == outcome::passed);
  REQUIRE(f.sent.size() == 3);
  CHECK(f.sent[1].url == std::string(base) + "/Patient/new-1");
  CHECK(header(f.sent[1], "X-Loc") == "http://x/Patient/new-1/_history/1");
  CHECK(f.sent[2].url == std::string(base) + "/Patient?family=Roe&x=Doe");
}

TEST_CASE("conformance testscript: a variable without a value fails the test, unless it has a default") {
  fake_fhir f;
  const suite_result s =
      run(ts(R"("variable":[{"name":"none","expression":"Patient.birthDate","sourceId":"r"},)"
             R"({"name":"dflt","expression":"Patient.birthDate","sourceId":"r","defaultValue":"1970-01-01"}],)" +
             tests({test("with-default", {op("read", R"("resource":"Patient","params":"/p1","responseId":"r")"),
                                          op("search", R"("resource":"Patient","params":"?birthdate=${dflt}")")}),
                    test("without", {op("search", R"("resource":"Patient","params":"?birthdate=${none}")")})})),
          f);
  REQUIRE(s.cases.size() == 2);
  CHECK(s.cases[0].status == outcome::passed);
  REQUIRE(f.sent.size() == 2);
  CHECK(f.sent[1].url == std::string(base) + "/Patient?birthdate=1970-01-01");
  CHECK(s.cases[1].status == outcome::failed);
  CHECK(s.cases[1].message.find("variable 'none' has no value") != std::string::npos);
}

TEST_CASE("conformance testscript: ${token:SCOPES} comes from token_for_scopes, in tests that require it") {
  fake_fhir f;
  std::vector<std::string> asked;
  const std::string script = ts(tests({test(
      "scoped",
      {op("read",
          R"("resource":"Patient","params":"/p1","requestHeader":[{"field":"Authorization","value":"Bearer ${token:system/Patient.r}"}])"),
       op("read",
          R"("resource":"Patient","params":"/p2","requestHeader":[{"field":"Authorization","value":"Bearer ${token:system/Patient.r}"}])")},
      requires_ext("client-credentials"))}));
  const suite_result s = run(script, f, [&](testscript_options& o) {
    o.token_for_scopes = [&](std::string_view scopes) -> hearth::result<std::string> {
      asked.emplace_back(scopes);
      return std::string("tok-") + std::to_string(asked.size());
    };
  });
  INFO(s.error);
  REQUIRE(s.cases.size() == 1);
  CHECK(s.cases[0].status == outcome::passed);
  REQUIRE(f.sent.size() == 2);
  CHECK(header(f.sent[0], "Authorization") == "Bearer tok-1");
  CHECK(header(f.sent[1], "Authorization") == "Bearer tok-1");  // asked once per scopes
  CHECK(asked == std::vector<std::string>{"system/Patient.r"});

  // Without the requirement, the script is refused.
  const suite_result refused = run(
      ts(tests({test(
          "t",
          {op("read",
              R"("url":"Patient/1","requestHeader":[{"field":"Authorization","value":"Bearer ${token:system/Patient.r}"}])")})})),
      f);
  CHECK(refused.error.find("requires client-credentials") != std::string::npos);
}

TEST_CASE("conformance testscript: unknown variables are script errors") {
  fake_fhir f;
  const suite_result s =
      run(ts(tests({test("t", {op("search", R"("resource":"Patient","params":"?name=${nobody}")")})})), f);
  CHECK(s.error.find("${nobody} names no variable") != std::string::npos);
  CHECK(run(ts(R"("variable":[{"name":"v","defaultValue":"x-${other}"}],)" + tests({test("t", {op("capabilities")})})), f)
            .error.find("variable 'v': ${other} names no variable") == 0);
  REQUIRE(s.cases.size() == 1);
  CHECK(s.cases[0].status == outcome::failed);
  CHECK(f.sent.empty());
}

// --- asserts ------------------------------------------------------------------------------------

/// GET [base]/Patient/p1 answered with `r`, then the asserts.
case_result after_read(const client_response& r, std::initializer_list<std::string> asserts,
                       const std::string& fixtures = "") {
  fake_fhir f;
  f.answer = [r](const client_request&) -> hearth::result<client_response> { return r; };
  std::string actions = op("read", R"("resource":"Patient","params":"/p1")");
  for (const auto& a : asserts) actions += "," + a;
  const suite_result s = run(ts(fixtures + R"("test":[{"name":"t","action":[)" + actions + "]}]"), f);
  INFO("suite error: " << s.error);
  REQUIRE(s.error.empty());
  REQUIRE(s.cases.size() == 1);
  return s.cases[0];
}

const client_response patient = reply(
    200,
    R"({"resourceType":"Patient","id":"p1","active":true,"name":[{"family":"Doe","given":["Jo","Al"]}],"multipleBirthInteger":10})",
    {{"Content-Type", "application/fhir+json; charset=utf-8"}, {"ETag", "W/\"3\""}});

bool passes(const client_response& r, const std::string& assertion, const std::string& fixtures = "") {
  const case_result c = after_read(r, {as(assertion)}, fixtures);
  INFO(assertion << " -> " << c.message);
  CHECK(c.status != outcome::skipped);
  return c.status == outcome::passed;
}

TEST_CASE("conformance testscript: response and responseCode asserts") {
  CHECK(passes(patient, R"("response":"okay")"));
  CHECK_FALSE(passes(patient, R"("response":"created")"));
  CHECK(passes(patient, R"("response":"created","operator":"notEquals")"));
  CHECK(passes(patient, R"("responseCode":"200")"));
  CHECK_FALSE(passes(patient, R"("responseCode":"201")"));
  CHECK(passes(patient, R"("responseCode":"200,201","operator":"in")"));
  CHECK_FALSE(passes(patient, R"("responseCode":"400, 404","operator":"in")"));
  CHECK(passes(patient, R"("responseCode":"400,404","operator":"notIn")"));
  CHECK_FALSE(passes(patient, R"("responseCode":"200,404","operator":"notIn")"));
  CHECK(passes(patient, R"("responseCode":"199","operator":"greaterThan")"));
  CHECK_FALSE(passes(patient, R"("responseCode":"299","operator":"greaterThan")"));
  CHECK(passes(patient, R"("responseCode":"300","operator":"lessThan")"));

  const case_result c =
      after_read(reply(404, R"({"resourceType":"OperationOutcome"})"), {as(R"("label":"found","response":"okay")")});
  CHECK(c.status == outcome::failed);
  CHECK(c.message == "assert 1 (response, 'found'): expected status 200 (okay), got status 404");
  CHECK(c.expected == "status 200 (okay)");
  CHECK(c.actual == "status 404");
  CHECK(c.request.find("GET " + std::string(base) + "/Patient/p1\nAccept: application/fhir+json\n") == 0);
  CHECK(c.response.find("HTTP/1.1 404 Not Found\n") == 0);
  CHECK(c.response.find("OperationOutcome") != std::string::npos);
}

TEST_CASE("conformance testscript: contentType, headerField and resource asserts") {
  CHECK(passes(patient, R"("contentType":"json")"));
  CHECK(passes(patient, R"("contentType":"application/fhir+json")"));
  CHECK_FALSE(passes(patient, R"("contentType":"xml")"));
  CHECK(passes(patient, R"("contentType":"xml","operator":"notEquals")"));
  CHECK(passes(reply(200, "{}", {{"Content-Type", "application/json"}}), R"("contentType":"json")"));
  const case_result ct =
      after_read(reply(200, "<html/>", {{"Content-Type", "text/html"}}), {as(R"("contentType":"json")")});
  CHECK(ct.expected == "Content-Type json (application/fhir+json or application/json or application/json+fhir)");
  CHECK(ct.actual == "Content-Type text/html");

  CHECK(passes(patient, R"("headerField":"etag","value":"W/\"3\"")"));
  CHECK_FALSE(passes(patient, R"("headerField":"ETag","value":"W/\"4\"")"));
  CHECK(passes(patient, R"("headerField":"ETag","operator":"notEmpty")"));
  CHECK_FALSE(passes(patient, R"("headerField":"Location","operator":"notEmpty")"));
  CHECK(passes(patient, R"("headerField":"Location","operator":"empty")"));
  CHECK(passes(patient, R"("headerField":"Content-Type","operator":"contains","value":"fhir+json")"));
  CHECK_FALSE(passes(patient, R"("headerField":"Content-Type","operator":"notContains","value":"fhir+json")"));
  const case_result hf = after_read(patient, {as(R"("headerField":"Location","value":"x")")});
  CHECK(hf.message == "assert 1 (header Location): expected header Location = 'x', got no such header");

  CHECK(passes(patient, R"("resource":"Patient")"));
  CHECK_FALSE(passes(patient, R"("resource":"Observation")"));
  CHECK(passes(patient, R"("resource":"Observation","operator":"notEquals")"));
  const case_result res = after_read(reply(204, ""), {as(R"("resource":"Patient")")});
  CHECK(res.status == outcome::failed);
  CHECK(res.actual == "there is no body");
}

TEST_CASE("conformance testscript: expression asserts with each operator") {
  CHECK(passes(patient, R"("expression":"Patient.active")"));
  CHECK_FALSE(passes(patient, R"~("expression":"Patient.active.not()")~"));
  CHECK_FALSE(passes(patient, R"("expression":"Patient.name.given")"));  // two items: not a single true
  CHECK(passes(patient, R"("expression":"Patient.active","operator":"eval")"));
  CHECK_FALSE(passes(patient, R"~("expression":"Patient.birthDate.exists()","operator":"eval")~"));
  CHECK(passes(patient, R"("expression":"Patient.name.family","value":"Doe")"));
  CHECK_FALSE(passes(patient, R"("expression":"Patient.name.family","value":"Roe")"));
  CHECK(passes(patient, R"("expression":"Patient.name.family","operator":"notEquals","value":"Roe")"));
  CHECK(passes(patient, R"("expression":"Patient.name.family","operator":"in","value":"Roe,Doe")"));
  CHECK(passes(patient, R"("expression":"Patient.name.family","operator":"notIn","value":"Roe,Poe")"));
  CHECK_FALSE(passes(patient, R"("expression":"Patient.name.family","operator":"notIn","value":"Doe")"));
  // Numbers compare as numbers: 10 > 9 (as text "10" < "9").
  CHECK(passes(patient, R"("expression":"Patient.multipleBirth","operator":"greaterThan","value":"9")"));
  CHECK_FALSE(passes(patient, R"("expression":"Patient.multipleBirth","operator":"lessThan","value":"9")"));
  CHECK(passes(patient, R"("expression":"Patient.name.family","operator":"lessThan","value":"E")"));
  CHECK(passes(patient, R"("expression":"Patient.birthDate","operator":"empty")"));
  CHECK_FALSE(passes(patient, R"("expression":"Patient.name","operator":"empty")"));
  CHECK(passes(patient, R"("expression":"Patient.name","operator":"notEmpty")"));
  CHECK(passes(patient, R"("expression":"Patient.name.family","operator":"contains","value":"oe")"));
  CHECK(passes(patient, R"("expression":"Patient.name.family","operator":"notContains","value":"x")"));
  CHECK_FALSE(passes(patient, R"("expression":"Patient.name.family","operator":"contains","value":"x")"));

  const client_response bundle = reply(200, R"({"resourceType":"Bundle","type":"searchset","total":0})");
  const case_result c = after_read(bundle, {as(R"~("expression":"Bundle.total.toString()","value":"1")~")});
  CHECK(c.status == outcome::failed);
  CHECK(c.expected == "expression Bundle.total.toString() = '1'");
  CHECK(c.actual == "'0'");
  const case_result empty = after_read(bundle, {as(R"~("expression":"Bundle.entry.count() > 0")~")});
  CHECK(empty.expected == "expression Bundle.entry.count() > 0 is true");
  CHECK(empty.actual == "'false'");
  // An expression that fails to evaluate fails the assert, saying why.
  const case_result broken = after_read(patient, {as(R"~("expression":"Patient.name.family.substring(1, 2, 3, 4)")~")});
  CHECK(broken.status == outcome::failed);
  CHECK(broken.message.find("assert 1 (expression): ") == 0);
}

TEST_CASE("conformance testscript: expression asserts over an XML response") {
  const client_response xml =
      reply(200, R"(<Patient xmlns="http://hl7.org/fhir"><id value="x1"/><active value="true"/></Patient>)",
            {{"Content-Type", "application/fhir+xml"}});
  CHECK(passes(xml, R"("expression":"Patient.id","value":"x1")"));
  CHECK(passes(xml, R"("resource":"Patient")"));
  CHECK(passes(xml, R"("contentType":"xml")"));
}

TEST_CASE("conformance testscript: expressions run on plain JSON too; a resource assert still needs a resource") {
  // SMART's .well-known/smart-configuration is JSON without resourceType.
  const client_response smart = reply(
      200, R"({"token_endpoint":"https://a.example/token","capabilities":["client-confidential-asymmetric"]})",
      {{"Content-Type", "application/json"}});
  CHECK(passes(smart, R"~("expression":"token_endpoint.exists()")~"));
  CHECK(passes(smart, R"~("expression":"capabilities.where($this = 'client-confidential-asymmetric').exists()")~"));
  CHECK_FALSE(passes(smart, R"~("expression":"grant_types_supported.exists()")~"));
  CHECK_FALSE(passes(smart, R"("resource":"Patient")"));
}

TEST_CASE("conformance testscript: compareToSourceId compares with an expression on another source") {
  CHECK(passes(
      patient,
      R"("expression":"Patient.name.family","compareToSourceId":"pat","compareToSourceExpression":"Patient.name.family")",
      patient_fixture));
  const case_result c = after_read(
      reply(200, R"({"resourceType":"Patient","id":"p1","name":[{"family":"Roe"}]})"),
      {as(R"("expression":"Patient.name.family","compareToSourceId":"pat","compareToSourceExpression":"Patient.name.family")")},
      patient_fixture);
  CHECK(c.status == outcome::failed);
  CHECK(c.expected == "expression Patient.name.family = 'Doe' (Patient.name.family on 'pat')");
  CHECK(c.actual == "'Roe'");
}

TEST_CASE("conformance testscript: navigationLinks asserts") {
  const client_response paged = reply(
      200,
      R"({"resourceType":"Bundle","type":"searchset","link":[{"relation":"self","url":"s"},{"relation":"first","url":"f"},{"relation":"last","url":"l"}]})");
  const client_response single =
      reply(200, R"({"resourceType":"Bundle","type":"searchset","link":[{"relation":"self","url":"s"}]})");
  CHECK(passes(paged, R"("navigationLinks":true)"));
  CHECK_FALSE(passes(single, R"("navigationLinks":true)"));
  CHECK(passes(single, R"("navigationLinks":false)"));
  CHECK_FALSE(passes(paged, R"("navigationLinks":false)"));
  const case_result c = after_read(single, {as(R"("navigationLinks":true)")});
  CHECK(c.actual == "links: self");
  CHECK_FALSE(passes(patient, R"("navigationLinks":true)"));
}

TEST_CASE("conformance testscript: sourceId asserts on a named response; the first failing assert ends the test") {
  fake_fhir f;
  f.answer = [](const client_request& r) -> hearth::result<client_response> {
    if (r.url.ends_with("/metadata")) return reply(200, R"({"resourceType":"CapabilityStatement"})");
    return reply(404, R"({"resourceType":"OperationOutcome"})");
  };
  const suite_result s = run(
      ts(tests({test("t", {op("capabilities", R"("responseId":"caps")"), op("read", R"("url":"Patient/x")"),
                           as(R"("response":"notFound")"), as(R"("sourceId":"caps","resource":"CapabilityStatement")"),
                           as(R"("response":"okay")"), op("read", R"("url":"Patient/never")")})})),
      f);
  REQUIRE(s.cases.size() == 1);
  CHECK(s.cases[0].status == outcome::failed);
  CHECK(s.cases[0].message.find("assert 3 (response)") == 0);
  CHECK(f.sent.size() == 2);  // the operation after the failing assert is not sent
}

TEST_CASE("conformance testscript: warningOnly failures are warnings, and the test goes on") {
  const case_result warned =
      after_read(patient, {as(R"("response":"created","warningOnly":true)"), as(R"("response":"okay")")});
  CHECK(warned.status == outcome::passed);
  CHECK(warned.message.find("warning: assert 1 (response)") == 0);
  const case_result failed =
      after_read(patient, {as(R"("response":"created","warningOnly":true)"), as(R"("resource":"Observation")")});
  CHECK(failed.status == outcome::failed);
  CHECK(failed.message.find("assert 2 (resource)") == 0);
  CHECK(failed.message.find("warning: assert 1") != std::string::npos);
  const case_result clean = after_read(patient, {as(R"("response":"okay","warningOnly":true)")});
  CHECK(clean.status == outcome::passed);
  CHECK(clean.message.empty());
}

TEST_CASE("conformance testscript: conformance-retry sends the operation again until its asserts pass or time is up") {
  const std::string retry =
      R"("extension":[{"url":"https://hearth.dev/fhir/StructureDefinition/conformance-retry","valueInteger":5}],)";
  const std::string search = op("search", retry + R"("resource":"AuditEvent","params":"?entity=Patient/p1")");
  const std::string found = as(R"~("expression":"Bundle.total = 1")~");
  const std::string is_bundle = as(R"("resource":"Bundle")");
  // The event appears on the third search.
  fake_fhir f;
  int calls = 0;
  f.answer = [&calls](const client_request&) -> hearth::result<client_response> {
    return reply(200, std::string(R"({"resourceType":"Bundle","type":"searchset","total":)") +
                          (++calls >= 3 ? "1" : "0") + "}");
  };
  const suite_result s = run(ts(tests({test("eventually", {search, is_bundle, found})})), f);
  REQUIRE(s.error.empty());
  CHECK(s.cases[0].status == outcome::passed);
  CHECK(f.sent.size() == 3);

  // Without the extension the first answer stands.
  fake_fhir g;
  calls = 0;
  g.answer = f.answer;
  const suite_result once = run(
      ts(tests({test("once", {op("search", R"("resource":"AuditEvent","params":"?entity=Patient/p1")"), found})})), g);
  CHECK(once.cases[0].status == outcome::failed);
  CHECK(g.sent.size() == 1);

  // A value out of range is a script error.
  fake_fhir h;
  const std::string bad = op(
      "search",
      R"("extension":[{"url":"https://hearth.dev/fhir/StructureDefinition/conformance-retry","valueInteger":600}],)"
      R"("resource":"AuditEvent")");
  CHECK(run(ts(tests({test("bad", {bad})})), h).error.find("conformance-retry") != std::string::npos);
}

TEST_CASE("conformance testscript: an operation without a response fails the test") {
  fake_fhir f;
  f.answer = [](const client_request&) -> hearth::result<client_response> {
    return hearth::unexpected(hearth::error{"unavailable", "cannot connect to fhir.test:80: Connection refused", {}});
  };
  const suite_result s =
      run(ts(tests({test("t", {op("capabilities"), as(R"("response":"okay")")}), test("u", {op("capabilities")})})), f);
  REQUIRE(s.cases.size() == 2);
  for (const case_result& c : s.cases) {
    CHECK(c.status == outcome::failed);
    CHECK(c.message == "operation 1 (capabilities): no response: cannot connect to fhir.test:80: Connection refused");
    CHECK(c.request.find("GET " + std::string(base) + "/metadata") == 0);
    CHECK(c.response.empty());
  }
}

TEST_CASE("conformance testscript: reports redact Authorization and cut long bodies") {
  fake_fhir f;
  const std::string big = R"({"resourceType":"OperationOutcome","text":")" + std::string(20000, 'x') + "\"}";
  f.answer = [&](const client_request&) -> hearth::result<client_response> { return reply(500, big); };
  const suite_result s = run(ts(tests({test("t", {op("capabilities"), as(R"("response":"okay")")})})), f,
                             [](testscript_options& o) { o.token = "very-secret"; });
  REQUIRE(s.cases.size() == 1);
  const case_result& c = s.cases[0];
  CHECK(c.request.find("Authorization: Bearer ...\n") != std::string::npos);
  CHECK(c.request.find("very-secret") == std::string::npos);
  CHECK(c.response.size() < 9000);
  CHECK(c.response.find("(cut: " + std::to_string(big.size()) + " bytes in all)") != std::string::npos);
}

// --- requirements, setup, teardown -----------------------------------------------------------------

TEST_CASE("conformance testscript: the requires extension skips what the run cannot do") {
  const std::string script =
      ts(tests({test("open", {op("capabilities")}), test("auth", {op("capabilities")}, requires_ext("credentials")),
                test("scoped", {op("capabilities")}, requires_ext("client-credentials")),
                test("audit", {op("capabilities")}, requires_ext("audit"))}));
  fake_fhir f;
  const suite_result bare = run(script, f);
  REQUIRE(bare.cases.size() == 4);
  CHECK(bare.cases[0].status == outcome::passed);
  CHECK(bare.cases[1].status == outcome::skipped);
  CHECK(bare.cases[1].message.find("--token") != std::string::npos);
  CHECK(bare.cases[2].status == outcome::skipped);
  CHECK(bare.cases[2].message.find("--client-id and --key") != std::string::npos);
  CHECK(bare.cases[3].status == outcome::skipped);
  CHECK(bare.cases[3].message.find("AuditEvent") != std::string::npos);
  CHECK(f.sent.size() == 1);

  fake_fhir g;
  const suite_result full = run(script, g, [](testscript_options& o) {
    o.token = "t";
    o.token_for_scopes = [](std::string_view) -> hearth::result<std::string> { return std::string("s"); };
    o.server_audits = true;
  });
  for (const case_result& c : full.cases) CHECK(c.status == outcome::passed);
  CHECK(g.sent.size() == 4);

  // On the whole script: nothing runs, setup included.
  fake_fhir h;
  const suite_result whole = run(ts(requires_ext("credentials") + R"(,"setup":{"action":[)" + op("capabilities") +
                                    "]}," + tests({test("a", {op("capabilities")}), test("b", {op("capabilities")})})),
                                 h);
  REQUIRE(whole.cases.size() == 2);
  CHECK(whole.cases[0].status == outcome::skipped);
  CHECK(whole.cases[1].status == outcome::skipped);
  CHECK(whole.error.empty());
  CHECK(h.sent.empty());

  CHECK(run(ts(requires_ext("coffee") + "," + tests({test("a", {op("capabilities")})})), h).error.find("valueCode") !=
        std::string::npos);
}

TEST_CASE("conformance testscript: a failing setup fails every test; teardown still runs") {
  fake_fhir f;
  f.answer = [](const client_request& r) -> hearth::result<client_response> {
    return reply(r.url.ends_with("/metadata") ? 500 : 200, "{}");
  };
  const suite_result s =
      run(ts(R"("setup":{"action":[)" + op("capabilities") + "," + as(R"("response":"okay")") + "]}," +
             tests({test("a", {op("search", R"("resource":"Patient")")}),
                    test("b", {op("search", R"("resource":"Patient")")})}) +
             R"(,"teardown":{"action":[)" + op("search", R"("resource":"Observation")") + "]}"),
          f);
  CHECK(s.error == "setup failed: assert 1 (response): expected status 200 (okay), got status 500");
  REQUIRE(s.cases.size() == 2);
  for (const case_result& c : s.cases) {
    CHECK(c.status == outcome::failed);
    CHECK(c.message == s.error);
    CHECK(c.expected == "status 200 (okay)");
    CHECK(c.response.find("HTTP/1.1 500") == 0);
  }
  REQUIRE(f.sent.size() == 2);
  CHECK(f.sent[1].url == std::string(base) + "/Observation");
}

TEST_CASE("conformance testscript: teardown failures go to the suite's error, not the tests") {
  fake_fhir f;
  f.answer = [](const client_request& r) -> hearth::result<client_response> {
    if (r.method == "DELETE" && r.url.ends_with("/gone")) return reply(410, "");
    if (r.method == "DELETE") return reply(403, "");
    return reply(200, "{}");
  };
  const suite_result s =
      run(ts(tests({test("a", {op("capabilities")})}) + R"(,"teardown":{"action":[)" +
             op("delete", R"("url":"Patient/gone")") + "," + op("delete", R"("url":"Patient/kept")") + "]}"),
          f);
  REQUIRE(s.cases.size() == 1);
  CHECK(s.cases[0].status == outcome::passed);
  CHECK(s.error == "teardown operation 2 (delete): status 403");

  const suite_result with_assert = run(
      ts(tests({test("a", {op("capabilities")})}) + R"(,"teardown":{"action":[)" + as(R"("response":"okay")") + "]}"),
      f);
  CHECK(with_assert.error.find("teardown actions are operations only") != std::string::npos);
}

TEST_CASE("conformance testscript: progress is told about each test") {
  fake_fhir f;
  std::vector<std::string> seen;
  const suite_result s =
      run(ts(tests({test("a", {op("capabilities")}), test("b", {op("capabilities")}, requires_ext("audit"))})), f,
          [&](testscript_options& o) {
            o.progress = [&](std::string_view suite, std::string_view name, std::size_t i, std::size_t n) {
              seen.push_back(std::string(suite) + "/" + std::string(name) + " " + std::to_string(i) + "/" +
                             std::to_string(n));
            };
          });
  CHECK(seen == std::vector<std::string>{"demo/a 0/2", "demo/b 1/2"});
}

// --- what the engine refuses -------------------------------------------------------------------------------

TEST_CASE("conformance testscript: unsupported elements make the script an error, never a pass") {
  fake_fhir f;
  const auto error_of = [&](const std::string& action) {
    const suite_result s = run(ts(tests({test("t", {op("capabilities"), action})})), f);
    REQUIRE(s.cases.size() == 1);
    CHECK(s.cases[0].status == outcome::failed);
    CHECK(s.cases[0].message.find("not run: the TestScript has an error") == 0);
    return s.error;
  };
  CHECK(error_of(as(R"("path":"fhir:Patient/fhir:id/@value","value":"1")"))
            .find("'path' (XPath/JSONPath) is not supported") != std::string::npos);
  CHECK(error_of(as(R"("minimumId":"pat")")).find("'minimumId' is not supported") != std::string::npos);
  CHECK(error_of(as(R"("validateProfileId":"p")")).find("'validateProfileId' is not supported") != std::string::npos);
  CHECK(error_of(as(R"("requestURL":"x","operator":"contains")")).find("'requestURL' is not supported") !=
        std::string::npos);
  CHECK(error_of(as(R"("requestMethod":"get")")).find("'requestMethod' is not supported") != std::string::npos);
  CHECK(error_of(as(R"("direction":"request","contentType":"json")")).find("direction 'request'") != std::string::npos);
  CHECK(error_of(as(R"("expression":"id","compareToSourceId":"x","compareToSourcePath":"a")"))
            .find("compareToSourcePath") != std::string::npos);
  // A misspelt element would otherwise make the assert check nothing.
  CHECK(error_of(as(R"("reponse":"okay")")).find("unknown element 'reponse'") != std::string::npos);
  CHECK(error_of(as(R"("description":"nothing")")).find("checks nothing") != std::string::npos);
  CHECK(error_of(as(R"("response":"okay","resource":"Patient")")).find("more than one thing") != std::string::npos);
  CHECK(error_of(as(R"("response":"fine")")).find("response 'fine'") != std::string::npos);
  CHECK(error_of(as(R"("response":"okay","operator":"similar")")).find("operator 'similar'") != std::string::npos);
  CHECK(error_of(as(R"("response":"okay","operator":"contains")")).find("cannot be used with response") !=
        std::string::npos);
  CHECK(error_of(as(R"("headerField":"ETag")")).find("needs a 'value'") != std::string::npos);
  CHECK(error_of(as(R"~("expression":"Patient.(")~")).find("does not parse") != std::string::npos);
  CHECK(error_of(as(R"("expression":"id","operator":"equals")")).find("needs a 'value'") != std::string::npos);
  CHECK(error_of(as(R"("response":"okay","modifierExtension":[{"url":"x","valueBoolean":true}])"))
            .find("modifierExtension") != std::string::npos);
  CHECK(error_of(as(R"("sourceId":"nowhere","response":"okay")")).find("'nowhere' is neither") != std::string::npos);
  CHECK(error_of(op("frobnicate")).find("type.code 'frobnicate'") != std::string::npos);
  CHECK(error_of(op("read")).find("read needs 'targetId', 'params' or 'url'") != std::string::npos);
  CHECK(error_of(op("create", R"("resource":"Patient")")).find("needs a 'sourceId'") != std::string::npos);
  CHECK(error_of(op("read", R"("url":"x","method":"fetch")")).find("method 'fetch'") != std::string::npos);
  CHECK(error_of(R"({"operation":{"url":"x"},"assert":{"response":"okay"}})").find("exactly one of") !=
        std::string::npos);

  const suite_result var =
      run(ts(R"("variable":[{"name":"v","path":"Patient/id"}],)" + tests({test("t", {op("capabilities")})})), f);
  CHECK(var.error.find("variable 'v': 'path' (XPath/JSONPath) is not supported") == 0);
  CHECK(f.sent.empty());
}

TEST_CASE("conformance testscript: malformed files are suite errors, named after the file") {
  fake_fhir f;
  const suite_result not_json = run("{\"resourceType\": \"TestScript\",", f, {}, fs::path("x") / "broken.json");
  CHECK(not_json.name == "broken");
  CHECK(not_json.source == (fs::path("x") / "broken.json").string());
  CHECK(not_json.error.find("not JSON") == 0);
  CHECK(not_json.cases.empty());

  const suite_result patient_file = run(R"({"resourceType":"Patient","id":"x"})", f, {}, "p.json");
  CHECK(patient_file.name == "p");
  CHECK(patient_file.error.find("not a TestScript") == 0);
  CHECK(run("[1,2]", f).error.find("not a TestScript") == 0);
  CHECK(run("", f).error.find("not JSON") == 0);

  const suite_result unnamed = run(
      R"({"resourceType":"TestScript","status":"active","test":[{"name":"a","action":[)" + op("capabilities") + "]}]}",
      f, {}, "unnamed.json");
  CHECK(unnamed.name == "unnamed");
  CHECK(unnamed.error.find("'name' is missing") != std::string::npos);
  REQUIRE(unnamed.cases.size() == 1);
  CHECK(unnamed.cases[0].name == "a");
  CHECK(unnamed.cases[0].status == outcome::failed);

  const suite_result test_unnamed = run(ts(R"("test":[{"action":[)" + op("capabilities") + "]}]"), f);
  CHECK(test_unnamed.error.find("test 1 has no name") != std::string::npos);
  CHECK(run(ts(R"("test":[{"name":"a"}])"), f).error.find("has no action") != std::string::npos);
  CHECK(run(ts(R"("test":{"name":"a"})"), f).error.find("'test' must be an array") != std::string::npos);
  CHECK(f.sent.empty());

  const suite_result missing = run_testscript(fs::path("no-such-dir") / "gone.json", options(f));
  CHECK(missing.name == "gone");
  CHECK(missing.error.find("cannot read") == 0);
}

TEST_CASE("conformance testscript: run_testscript reads the file and takes the suite's name from it") {
  hearth::test::temp_dir dir("hearth-testscript");
  dir.write(
      "crud.json",
      ts(R"("title":"CRUD","description":"Create and read.\nMore.",)" +
         tests({test("meta", {op("capabilities"), as(R"("response":"okay")")}, R"("description":"reads metadata")")})));
  fake_fhir f;
  const suite_result s = run_testscript(dir.path / "crud.json", options(f));
  INFO(s.error);
  CHECK(s.error.empty());
  CHECK(s.name == "demo");
  CHECK(s.description == "CRUD");
  CHECK(s.source == (dir.path / "crud.json").string());
  REQUIRE(s.cases.size() == 1);
  CHECK(s.cases[0].name == "meta");
  CHECK(s.cases[0].description == "reads metadata");
  CHECK(s.cases[0].status == outcome::passed);
}

TEST_CASE("conformance testscript: capability_claims_audit") {
  CHECK(capability_claims_audit(
      R"({"resourceType":"CapabilityStatement","rest":[{"mode":"server","resource":[{"type":"Patient","interaction":[{"code":"read"}]},{"type":"AuditEvent","interaction":[{"code":"read"},{"code":"search-type"}]}]}]})"));
  CHECK_FALSE(capability_claims_audit(
      R"({"resourceType":"CapabilityStatement","rest":[{"mode":"server","resource":[{"type":"AuditEvent","interaction":[{"code":"read"}]}]}]})"));
  CHECK_FALSE(capability_claims_audit(
      R"({"resourceType":"CapabilityStatement","rest":[{"mode":"client","resource":[{"type":"AuditEvent","interaction":[{"code":"search-type"}]}]}]})"));
  CHECK_FALSE(capability_claims_audit(R"({"resourceType":"Patient"})"));
  CHECK_FALSE(capability_claims_audit("not json"));
  CHECK_FALSE(capability_claims_audit(""));
}

// --- the HTTP client, against a tiny in-test server -----------------------------------------------------------

#if defined(HEARTH_WITH_SERVER_HTTP)

/// One connection on 127.0.0.1 (port 0), answered with a canned reply; what
/// the client sent is kept. Plain POSIX sockets: the test sees no Beast.
/// Every wait is bounded (poll) so that a broken client cannot hang the
/// test; no assertion depends on timing.
class one_shot_server {
 public:
  enum class mode { reply_then_wait, reply_then_close, never_reply };

  explicit one_shot_server(std::string reply, mode m = mode::reply_then_wait) : reply_(std::move(reply)), mode_(m) {
    fd_ = hearth::test::listen_loopback(port_, 1);
    REQUIRE(fd_ >= 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~one_shot_server() {
    thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  /// What the client sent; complete once the client has its answer.
  std::string received() const { return received_; }

 private:
  static bool wait_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 10000) == 1;  // a safety net only
  }

  void serve() {
    if (!wait_readable(fd_)) return;
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    // The request head, then Content-Length bytes of body.
    std::string got;
    char buf[4096];
    std::size_t need = std::string::npos;
    while (need == std::string::npos || got.size() < need) {
      if (!wait_readable(c)) break;
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
      const std::size_t end = got.find("\r\n\r\n");
      if (need == std::string::npos && end != std::string::npos) {
        std::size_t length = 0;
        const std::size_t cl = got.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) length = std::strtoul(got.c_str() + cl + 16, nullptr, 10);
        need = end + 4 + length;
      }
    }
    received_ = got;
    if (mode_ != mode::never_reply) (void)::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
    if (mode_ != mode::reply_then_close) {
      // Until the client closes its side.
      while (wait_readable(c) && ::recv(c, buf, sizeof buf, 0) > 0) {
      }
    }
    ::close(c);
  }

  std::string reply_;
  mode mode_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::string received_;
};

TEST_CASE("conformance http client: a request and a Content-Length response") {
  hearth::result<client_response> got = hearth::unexpected(hearth::error{});
  std::string received;
  {
    one_shot_server server(
        "HTTP/1.1 201 Created\r\nContent-Type: application/fhir+json\r\nLocation: /fhir/Patient/1/_history/1\r\n"
        "Content-Length: 27\r\n\r\n{\"resourceType\":\"Patient\"}\n");
    client_request req;
    req.method = "POST";
    req.url = server.url("/fhir/Patient?x=1#frag");
    req.headers = {{"Content-Type", "application/fhir+json"}, {"X-Test", "yes"}};
    req.body = R"({"a":1})";
    got = http_exchange(req);
    received = server.received();
  }
  REQUIRE(got);
  CHECK(got->status == 201);
  CHECK(got->header("content-type") == "application/fhir+json");
  CHECK(got->header("LOCATION") == "/fhir/Patient/1/_history/1");
  CHECK(got->header("ETag").empty());
  CHECK(got->body == "{\"resourceType\":\"Patient\"}\n");
  CHECK(received.starts_with("POST /fhir/Patient?x=1 HTTP/1.1\r\n"));  // no fragment
  CHECK(received.find("\r\nHost: 127.0.0.1:") != std::string::npos);
  CHECK(received.find("\r\nX-Test: yes\r\n") != std::string::npos);
  CHECK(received.find("\r\nContent-Length: 7\r\n") != std::string::npos);
  CHECK(received.find("\r\nUser-Agent: hearth-conformance\r\n") != std::string::npos);
  CHECK(received.ends_with("\r\n\r\n{\"a\":1}"));
}

TEST_CASE("conformance http client: chunked and close-delimited bodies, HEAD, redirects not followed") {
  {
    one_shot_server server(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    auto got = http_exchange({"GET", server.url("/x"), {}, {}});
    REQUIRE(got);
    CHECK(got->status == 200);
    CHECK(got->body == "hello world");
  }
  {
    one_shot_server server("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
                           one_shot_server::mode::reply_then_close);
    auto got = http_exchange({"GET", server.url("/x"), {}, {}});
    REQUIRE(got);
    CHECK(got->body == "until the end");
  }
  {
    // HEAD: the Content-Length describes a body that is not sent (RFC 9110 9.3.2).
    one_shot_server server("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    auto got = http_exchange({"HEAD", server.url("/x"), {}, {}});
    REQUIRE(got);
    CHECK(got->status == 200);
    CHECK(got->header("Content-Length") == "1000");
    CHECK(got->body.empty());
  }
  {
    one_shot_server server("HTTP/1.1 302 Found\r\nLocation: http://elsewhere.invalid/\r\nContent-Length: 0\r\n\r\n");
    auto got = http_exchange({"GET", server.url("/x"), {}, {}});
    REQUIRE(got);
    CHECK(got->status == 302);
  }
}

TEST_CASE("conformance http client: errors are values") {
  {
    one_shot_server server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
    http_client_options o;
    o.max_body_bytes = 10;
    auto got = http_exchange({"GET", server.url("/x"), {}, {}}, o);
    REQUIRE_FALSE(got);
    CHECK(got.error().code == "bad-response");
  }
  {
    one_shot_server server("SMTP ready\r\n\r\n", one_shot_server::mode::reply_then_close);
    auto got = http_exchange({"GET", server.url("/x"), {}, {}});
    REQUIRE_FALSE(got);
    CHECK(got.error().code == "bad-response");
  }
  {
    one_shot_server server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
                           one_shot_server::mode::reply_then_close);
    auto got = http_exchange({"GET", server.url("/x"), {}, {}});
    REQUIRE_FALSE(got);
    CHECK(got.error().code == "bad-response");
  }
  {
    // The server reads the request and never answers: the client gives up.
    one_shot_server server("", one_shot_server::mode::never_reply);
    http_client_options o;
    o.timeout = std::chrono::milliseconds(200);
    auto got = http_exchange({"GET", server.url("/x"), {}, {}}, o);
    REQUIRE_FALSE(got);
    CHECK(got.error().code == "timeout");
  }
  {
    // A port nobody listens on: bound, never listening.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    auto got = http_exchange({"GET", "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/", {}, {}});
    ::close(fd);
    REQUIRE_FALSE(got);
    CHECK(got.error().code == "unavailable");
  }
  for (const char* url : {"ftp://x/", "http://", "http://host:99999/", "http://host:0/", "http://a b/", "127.0.0.1:80/",
                          "http://user:pw@host/", "http://[::1/"}) {
    auto got = http_exchange({"GET", url, {}, {}});
    INFO(url);
    REQUIRE_FALSE(got);
    CHECK(got.error().code == "invalid");
  }
  auto injected = http_exchange({"GET", "http://127.0.0.1:1/", {{"X-A", "1\r\nX-B: 2"}}, {}});
  REQUIRE_FALSE(injected);
  CHECK(injected.error().code == "invalid");
  auto bad_method = http_exchange({"GE T", "http://127.0.0.1:1/", {}, {}});
  REQUIRE_FALSE(bad_method);
  CHECK(bad_method.error().code == "invalid");
}

#endif  // HEARTH_WITH_SERVER_HTTP

}  // namespace
}  // namespace hearth::server::conformance
