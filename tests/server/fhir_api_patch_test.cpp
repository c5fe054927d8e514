// fhir_api: PATCH (R4 http.html#patch) with JSON Patch (RFC 6902, RFC 6901)
// and FHIRPath Patch (R4 fhirpatch.html), conditional patch, and what a
// patch must never do (change the id or type, store an invalid resource,
// store anything when it fails).
#include <hearth/server/fhir_api.hpp>

#include <doctest/doctest.h>

#include "server_test_support.hpp"

namespace hearth::server::test {
namespace {

constexpr std::string_view json_patch = "application/json-patch+json";

/// PATCH `target` with `body` of `content_type`.
http_response patch(const api_case& c, std::string target, std::string body, std::string_view content_type = json_patch,
                    std::vector<http_header> headers = {}) {
  headers.push_back({"Content-Type", std::string(content_type)});
  return c.send("PATCH", std::move(target), std::move(body), std::move(headers));
}

/// A FHIRPath Patch Parameters resource (JSON) with one operation whose
/// parts are given as JSON text.
std::string fhirpath_patch(std::string_view parts) {
  return R"({"resourceType":"Parameters","parameter":[{"name":"operation","part":[)" + std::string(parts) + "]}]}";
}

/// The current version of a resource as JSON (fails the case when absent).
fhir::json_value current(const api_case& c, const std::string& target) {
  const http_response r = c.get(target);
  REQUIRE(r.status == 200);
  return body_of(r);
}

/// `v.key[index]`, or an empty object when absent.
const fhir::json_value& at(const fhir::json_value& v, std::string_view key, std::size_t index = 0) {
  static const fhir::json_value none = fhir::json_value::object();
  const fhir::json_value* m = v.find(key);
  if (m == nullptr) return none;
  if (!m->is_array()) return *m;
  return index < m->items().size() ? m->items()[index] : none;
}

/// The strings of an array member (null items as "<null>").
std::vector<std::string> strings(const fhir::json_value& v, std::string_view key) {
  std::vector<std::string> out;
  const fhir::json_value* m = v.find(key);
  if (m == nullptr || !m->is_array()) return out;
  for (const auto& i : m->items()) out.push_back(i.is_string() ? i.str() : i.is_null() ? "<null>" : "<other>");
  return out;
}

const std::string chalmers =
    R"({"resourceType":"Patient","active":true,"gender":"male","multipleBirthInteger":2,)"
    R"("name":[{"family":"Chalmers","given":["Peter","James"]}]})";

TEST_CASE("api: patch JSON Patch add, remove and replace members, each a new version (RFC 6902 A.1, A.3, A.5)") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const std::string url = "/Patient/" + id;

  c.now += std::chrono::seconds(61);
  const http_response added = patch(c, url, R"([{"op":"add","path":"/birthDate","value":"1974-12-25"}])");
  REQUIRE(added.status == 200);
  CHECK(added.header("ETag") == "W/\"2\"");
  CHECK(added.header("Last-Modified") == "Fri, 01 Mar 2024 12:01:01 GMT");
  CHECK(str_at(body_of(added), {"birthDate"}) == "1974-12-25");
  CHECK(str_at(body_of(added), {"meta", "versionId"}) == "2");

  const http_response removed = patch(c, url, R"([{"op":"remove","path":"/active"}])");
  REQUIRE(removed.status == 200);
  CHECK(removed.header("ETag") == "W/\"3\"");
  CHECK(body_of(removed).find("active") == nullptr);

  const http_response replaced = patch(c, url, R"([{"op":"replace","path":"/gender","value":"female"}])");
  REQUIRE(replaced.status == 200);
  CHECK(replaced.header("ETag") == "W/\"4\"");
  const fhir::json_value now = current(c, url);
  CHECK(str_at(now, {"gender"}) == "female");
  CHECK(str_at(now, {"birthDate"}) == "1974-12-25");
  // Earlier versions stay as they were.
  CHECK(str_at(body_of(c.get(url + "/_history/1")), {"gender"}) == "male");
}

TEST_CASE("api: patch JSON Patch array items: insert, remove, append with '-', move (RFC 6902 A.2, A.4, A.7)") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const http_response r = patch(c, "/Patient/" + id, R"([
    {"op":"add","path":"/name/0/given/1","value":"Q"},
    {"op":"remove","path":"/name/0/given/0"},
    {"op":"add","path":"/name/0/given/-","value":"Jim"},
    {"op":"move","from":"/name/0/given/0","path":"/name/0/given/2"}
  ])");
  REQUIRE(r.status == 200);
  // [Peter, James] -> [Peter, Q, James] -> [Q, James] -> [Q, James, Jim] -> [James, Jim, Q]
  CHECK(strings(at(body_of(r), "name"), "given") == std::vector<std::string>{"James", "Jim", "Q"});
}

TEST_CASE("api: patch JSON Patch move and copy values (RFC 6902 A.6, copy), and add of a nested object (A.10)") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const http_response r = patch(c, "/Patient/" + id, R"([
    {"op":"move","from":"/name/0/family","path":"/name/0/text"},
    {"op":"copy","from":"/name/0","path":"/name/-"},
    {"op":"add","path":"/maritalStatus","value":{"text":"married"}}
  ])");
  REQUIRE(r.status == 200);
  const fhir::json_value j = body_of(r);
  CHECK(at(j, "name").find("family") == nullptr);
  CHECK(str_at(at(j, "name"), {"text"}) == "Chalmers");
  CHECK(j.find("name")->items().size() == 2);
  CHECK(at(j, "name", 1) == at(j, "name", 0));
  CHECK(str_at(j, {"maritalStatus", "text"}) == "married");
}

TEST_CASE("api: patch JSON Patch test: equal values pass (numbers by value), a failing one is 422, changes nothing") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const std::string url = "/Patient/" + id;
  // RFC 6902 A.8; 2.0 equals 2 (section 4.6: numbers are equal when their values are).
  const http_response ok = patch(c, url, R"([
    {"op":"test","path":"/gender","value":"male"},
    {"op":"test","path":"/multipleBirthInteger","value":2.0},
    {"op":"test","path":"/name/0","value":{"given":["Peter","James"],"family":"Chalmers"}},
    {"op":"replace","path":"/gender","value":"other"}
  ])");
  REQUIRE(ok.status == 200);
  CHECK(ok.header("ETag") == "W/\"2\"");

  // RFC 6902 A.9: a failing test; the replace before it is not kept.
  const http_response failed = patch(c, url, R"([
    {"op":"replace","path":"/gender","value":"female"},
    {"op":"test","path":"/gender","value":"male"}
  ])");
  CHECK(failed.status == 422);
  CHECK(issue_code(failed) == "processing");
  CHECK(diagnostics(failed).find("$[1]") != std::string::npos);
  // RFC 6902 A.15: a string is not a number.
  CHECK(patch(c, url, R"([{"op":"test","path":"/multipleBirthInteger","value":"2"}])").status == 422);
  // Arrays compare in order.
  CHECK(patch(c, url, R"([{"op":"test","path":"/name/0/given","value":["James","Peter"]}])").status == 422);

  const http_response after = c.get(url);
  CHECK(after.header("ETag") == "W/\"2\"");
  CHECK(str_at(body_of(after), {"gender"}) == "other");
}

TEST_CASE("api: patch JSON Pointer escapes: ~1 is '/', ~0 is '~', and ~01 is \"~1\" (RFC 6901 section 4)") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const std::string url = "/Patient/" + id;
  // Members named "a/b", "m~n" and "~1" come and go again: the result is a valid Patient.
  const http_response ok = patch(c, url, R"([
    {"op":"add","path":"/a~1b","value":1},
    {"op":"add","path":"/m~0n","value":2},
    {"op":"add","path":"/~01","value":3},
    {"op":"test","path":"/a~1b","value":1},
    {"op":"test","path":"/m~0n","value":2},
    {"op":"test","path":"/~01","value":3},
    {"op":"remove","path":"/a~1b"},
    {"op":"remove","path":"/m~0n"},
    {"op":"remove","path":"/~01"}
  ])");
  CHECK(ok.status == 200);
  // "~01" decodes to "~1", never to "/": the member "/" does not exist.
  const http_response order = patch(c, url, R"([
    {"op":"add","path":"/~01","value":3},
    {"op":"test","path":"/~1","value":3},
    {"op":"remove","path":"/~01"}
  ])");
  CHECK(order.status == 422);
  CHECK(diagnostics(order).find("$[1]") != std::string::npos);
}

TEST_CASE("api: patch JSON Patch errors: a missing target or bad index is 422, a malformed document 400") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const std::string url = "/Patient/" + id;
  // Well formed, but not applicable to this resource: 422.
  for (const char* doc : {
           R"([{"op":"remove","path":"/birthDate"}])",                        // no such member
           R"([{"op":"add","path":"/name/5/family","value":"X"}])",           // A.12: parent missing
           R"([{"op":"add","path":"/name/0/given/01","value":"X"}])",         // leading zero
           R"([{"op":"add","path":"/name/0/given/3","value":"X"}])",          // past the end
           R"([{"op":"replace","path":"/name/0/given/-","value":"X"}])",      // '-' names no item
           R"([{"op":"remove","path":"/name/0/given/x"}])",                   // not an index
           R"([{"op":"move","from":"/name","path":"/name/0/text"}])",         // into its own child
           R"([{"op":"copy","from":"/telecom","path":"/contact"}])",          // from missing
           R"([{"op":"remove","path":""}])",                                  // the resource itself
           R"([{"op":"add","path":"/gender/x","value":"X"}])",                // parent is a string
       }) {
    CAPTURE(doc);
    const http_response r = patch(c, url, doc);
    CHECK(r.status == 422);
    CHECK(issue_code(r) == "processing");
  }
  // Malformed documents: 400.
  for (const char* doc : {
           R"({"op":"add","path":"/birthDate","value":"1974-12-25"})",        // not an array
           R"([{"op":"frobnicate","path":"/gender"}])",                       // unknown op
           R"([{"path":"/gender","value":"x"}])",                             // no op
           R"([{"op":"add","path":"/birthDate"}])",                           // no value
           R"([{"op":"add","path":"birthDate","value":"x"}])",                // no leading '/'
           R"([{"op":"add","path":"/a~2b","value":"x"}])",                    // bad escape
           R"([{"op":"move","path":"/gender"}])",                             // no from
           R"([{"op":"add","path":"/birthDate","value":"x","op":"remove"}])", // A.13: duplicate op
           R"([{"op":"add",)",                                                // not JSON
           R"([42])",                                                         // not an object
       }) {
    CAPTURE(doc);
    CHECK(patch(c, url, doc).status == 400);
  }
  // RFC 6902 A.11: members an operation does not define are ignored.
  const http_response ok =
      patch(c, url, R"([{"op":"add","path":"/birthDate","value":"1974-12-25","xyz":123}])");
  CHECK(ok.status == 200);
  CHECK(ok.header("ETag") == "W/\"2\"");
}

TEST_CASE("api: patch limits: a result nested too deep is 422 too-costly") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const std::string url = "/Patient/" + id;
  // A value 126 levels deep below /name/0/x would sit 129 levels deep.
  std::string deep;
  for (int i = 0; i < 125; ++i) deep += "[";
  deep += "{}";
  for (int i = 0; i < 125; ++i) deep += "]";
  const http_response nested = patch(c, url, R"([{"op":"add","path":"/name/0/x","value":)" + deep + "}]");
  CHECK(nested.status == 422);
  CHECK(issue_code(nested) == "too-costly");
  CHECK(diagnostics(nested).find("deeper than the server allows") != std::string::npos);
  CHECK(c.get(url).header("ETag") == "W/\"1\"");
}

TEST_CASE("api: patch a failed or refused patch stores nothing; a changed id or type and an invalid result are 422") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const std::string url = "/Patient/" + id;
  const std::string before = c.get(url).body;

  const http_response new_id = patch(c, url, R"([{"op":"replace","path":"/id","value":"other"}])");
  CHECK(new_id.status == 422);
  const http_response no_id = patch(c, url, R"([{"op":"remove","path":"/id"}])");
  CHECK(no_id.status == 422);
  const http_response new_type = patch(c, url, R"([{"op":"replace","path":"/resourceType","value":"Practitioner"}])");
  CHECK(new_type.status == 422);
  const http_response whole = patch(c, url, R"([{"op":"replace","path":"","value":{"resourceType":"Patient"}}])");
  CHECK(whole.status == 422);

  // Structurally invalid results: fhir::check_resource's issues, 422.
  const http_response number = patch(c, url, R"([{"op":"replace","path":"/gender","value":5}])");
  CHECK(number.status == 422);
  const fhir::json_value oo = body_of(number);
  CHECK(str_at(oo, {"resourceType"}) == "OperationOutcome");
  CHECK(str_at(at(oo, "issue"), {"severity"}) == "error");
  CHECK(strings(at(oo, "issue"), "expression") == std::vector<std::string>{"Patient.gender"});
  CHECK(patch(c, url, R"([{"op":"add","path":"/foo","value":1}])").status == 422);
  CHECK(patch(c, url, R"([{"op":"add","path":"/name/0/given/-","value":{}}])").status == 422);
  CHECK(patch(c, url, R"([{"op":"add","path":"/name/0/given/-","value":["nested"]}])").status == 422);

  const http_response after = c.get(url);
  CHECK(after.header("ETag") == "W/\"1\"");
  CHECK(after.body == before);
}

TEST_CASE("api: patch needs a patch Content-Type (415); If-Match must name the current version (412)") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const std::string url = "/Patient/" + id;
  const std::string doc = R"([{"op":"replace","path":"/gender","value":"female"}])";

  const http_response plain = patch(c, url, doc, "text/plain");
  CHECK(plain.status == 415);
  CHECK(issue_code(plain) == "not-supported");
  CHECK(c.send("PATCH", url, doc).status == 415);

  const http_response stale = patch(c, url, doc, json_patch, {{"If-Match", "W/\"7\""}});
  CHECK(stale.status == 412);
  CHECK(issue_code(stale) == "conflict");
  CHECK(patch(c, url, doc, json_patch, {{"If-Match", "soon"}}).status == 400);

  const http_response ok = patch(c, url, doc, "application/json-patch+json; charset=utf-8", {{"If-Match", "W/\"1\""}});
  REQUIRE(ok.status == 200);
  CHECK(ok.header("ETag") == "W/\"2\"");
  // The same If-Match again is stale now.
  CHECK(patch(c, url, doc, json_patch, {{"If-Match", "W/\"1\""}}).status == 412);
}

TEST_CASE("api: patch of an unknown resource is 404, of a deleted one 410") {
  api_case c;
  const std::string doc = R"([{"op":"replace","path":"/gender","value":"female"}])";
  const http_response missing = patch(c, "/Patient/no-such-id", doc);
  CHECK(missing.status == 404);
  CHECK(issue_code(missing) == "not-found");

  const std::string id = c.create("Patient", chalmers);
  REQUIRE(c.del("/Patient/" + id).status == 204);
  const http_response gone = patch(c, "/Patient/" + id, doc);
  CHECK(gone.status == 410);
  CHECK(issue_code(gone) == "deleted");
}

TEST_CASE("api: patch answers as Prefer: return asks (minimal, OperationOutcome)") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const std::string url = "/Patient/" + id;
  const http_response minimal = patch(c, url, R"([{"op":"replace","path":"/gender","value":"female"}])", json_patch,
                                      {{"Prefer", "return=minimal"}});
  CHECK(minimal.status == 200);
  CHECK(minimal.body.empty());
  CHECK(minimal.header("ETag") == "W/\"2\"");
  CHECK(minimal.header("Last-Modified"));
  const http_response oo = patch(c, url, R"([{"op":"replace","path":"/gender","value":"male"}])", json_patch,
                                 {{"Prefer", "return=OperationOutcome"}});
  CHECK(oo.status == 200);
  CHECK(oo.header("ETag") == "W/\"3\"");
  CHECK(str_at(body_of(oo), {"resourceType"}) == "OperationOutcome");
}

TEST_CASE("api: patch conditional: no match 404, one match patched, several 412, no criteria 400") {
  api_case c;
  const std::string a = c.create("Patient", patient("Alpha", R"("gender":"male")"));
  c.create("Patient", patient("Beta", R"("gender":"male")"));
  c.create("Patient", patient("Beta", R"("gender":"female")"));
  const std::string doc = R"([{"op":"add","path":"/birthDate","value":"1980-01-01"}])";

  CHECK(patch(c, "/Patient?family=Gamma", doc).status == 404);
  const http_response many = patch(c, "/Patient?family=Beta", doc);
  CHECK(many.status == 412);
  CHECK(issue_code(many) == "duplicate");

  const http_response one = patch(c, "/Patient?family=Alpha", doc);
  REQUIRE(one.status == 200);
  CHECK(one.header("ETag") == "W/\"2\"");
  CHECK(str_at(body_of(one), {"id"}) == a);
  CHECK(str_at(current(c, "/Patient/" + a), {"birthDate"}) == "1980-01-01");

  const http_response none = patch(c, "/Patient?_format=json", doc);
  CHECK(none.status == 400);
  CHECK(diagnostics(none) == "conditional patch needs search parameters");
  CHECK(patch(c, "/Patient", doc).status == 400);
  CHECK(patch(c, "/Patient?no-such-param=1", doc).status == 400);
}

// ---------------------------------------------------------------- FHIRPath Patch

TEST_CASE("api: patch FHIRPath Patch add, in XML as fhirpatch.html writes it, and in JSON") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const std::string url = "/Patient/" + id;
  // fhirpatch.html "Here is an example of adding an element".
  const std::string xml =
      R"(<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="operation"/>)"
      R"(<part><name value="type"/><valueCode value="add"/></part>)"
      R"(<part><name value="path"/><valueString value="Patient"/></part>)"
      R"(<part><name value="name"/><valueString value="birthDate"/></part>)"
      R"(<part><name value="value"/><valueDate value="1930-01-01"/></part>)"
      R"(</parameter></Parameters>)";
  const http_response r = patch(c, url, xml, fhir_xml);
  REQUIRE(r.status == 200);
  CHECK(r.header("ETag") == "W/\"2\"");
  CHECK(str_at(current(c, url), {"birthDate"}) == "1930-01-01");

  // birthDate does not repeat and exists now: add refuses, replace is the way.
  const std::string again = fhirpath_patch(
      R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},)"
      R"({"name":"name","valueString":"birthDate"},{"name":"value","valueDate":"1931-01-01"})");
  const http_response twice = patch(c, url, again, fhir_json);
  CHECK(twice.status == 422);
  CHECK(issue_code(twice) == "processing");

  // A repeating element: appended.
  const http_response given = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient.name[0]"},)"
      R"({"name":"name","valueString":"given"},{"name":"value","valueString":"Jim"})"), fhir_json);
  REQUIRE(given.status == 200);
  CHECK(strings(at(body_of(given), "name"), "given") == std::vector<std::string>{"Peter", "James", "Jim"});

  // A complex value of a type Parameters carries.
  const http_response ident = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},)"
      R"({"name":"name","valueString":"identifier"},)"
      R"({"name":"value","valueIdentifier":{"system":"http://example.org/mrn","value":"12345"}})"), fhir_json);
  REQUIRE(ident.status == 200);
  CHECK(str_at(at(body_of(ident), "identifier"), {"value"}) == "12345");
}

TEST_CASE("api: patch FHIRPath Patch add of anonymous types and extensions as parts (fhirpatch.html contact example)") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const std::string url = "/Patient/" + id;
  // fhirpatch.html: "instead of providing a value, a set of parts that are values are provided".
  const http_response contact = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},)"
      R"({"name":"name","valueString":"contact"},)"
      R"({"name":"value","part":[{"name":"name","valueHumanName":{"text":"a name"}},)"
      R"({"name":"relationship","valueCodeableConcept":{"text":"friend"}},)"
      R"({"name":"relationship","valueCodeableConcept":{"text":"neighbour"}}]})"), fhir_json);
  REQUIRE(contact.status == 200);
  const fhir::json_value j = body_of(contact);
  CHECK(str_at(at(j, "contact"), {"name", "text"}) == "a name");
  CHECK(str_at(at(at(j, "contact"), "relationship", 1), {"text"}) == "neighbour");

  // An extension on a primitive: it lands in the `_birthDate` companion,
  // and Extension.value[x] takes the name its type gives (valueString).
  const http_response dated = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},)"
      R"({"name":"name","valueString":"birthDate"},{"name":"value","valueDate":"1930-01-01"})"), fhir_json);
  REQUIRE(dated.status == 200);
  const http_response ext = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient.birthDate"},)"
      R"({"name":"name","valueString":"extension"},)"
      R"({"name":"value","part":[{"name":"url","valueUri":"http://example.org/accuracy"},)"
      R"({"name":"value","valueString":"estimated"}]})"), fhir_json);
  REQUIRE(ext.status == 200);
  const fhir::json_value e = body_of(ext);
  CHECK(str_at(e, {"birthDate"}) == "1930-01-01");
  CHECK(str_at(at(at(e, "_birthDate"), "extension"), {"valueString"}) == "estimated");
  CHECK(str_at(at(at(e, "_birthDate"), "extension"), {"url"}) == "http://example.org/accuracy");

  // Narrative: Parameters carries no xhtml, so div comes as a string and is
  // checked as a div afterwards.
  const http_response text = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},)"
      R"({"name":"name","valueString":"text"},)"
      R"({"name":"value","part":[{"name":"status","valueCode":"generated"},)"
      R"({"name":"div","valueString":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter</div>"}]})"), fhir_json);
  REQUIRE(text.status == 200);
  CHECK(str_at(body_of(text), {"text", "status"}) == "generated");

  // A backbone element given as a value[x] is refused: its type is anonymous.
  const http_response wrong = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},)"
      R"({"name":"name","valueString":"contact"},{"name":"value","valueHumanName":{"text":"x"}})"), fhir_json);
  CHECK(wrong.status == 422);
  CHECK(issue_code(wrong) == "invalid");
}

const std::string with_extensions =
    R"({"resourceType":"Patient","birthDate":"1974-12-25",)"
    R"("_birthDate":{"extension":[{"url":"http://example.org/accuracy","valueString":"estimated"}]},)"
    R"("deceasedBoolean":false,)"
    R"("identifier":[{"value":"a"},{"value":"b"},{"value":"c"}],)"
    R"("name":[{"family":"Chalmers","given":["Peter","James","Jim"],)"
    R"("_given":[null,{"extension":[{"url":"http://example.org/nick","valueString":"Jimmy"}]},null]}]})";

TEST_CASE("api: patch FHIRPath Patch insert at an index keeps _name companions aligned") {
  api_case c;
  const std::string id = c.create("Patient", with_extensions);
  const std::string url = "/Patient/" + id;
  const http_response r = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.name[0].given"},)"
      R"({"name":"index","valueInteger":1},{"name":"value","valueString":"Q"})"), fhir_json);
  REQUIRE(r.status == 200);
  const fhir::json_value r_body = body_of(r);
  const fhir::json_value& name = at(r_body, "name");
  CHECK(strings(name, "given") == std::vector<std::string>{"Peter", "Q", "James", "Jim"});
  const fhir::json_value* companions = name.find("_given");
  REQUIRE(companions != nullptr);
  REQUIRE(companions->items().size() == 4);
  CHECK(companions->items()[1].is_null());
  CHECK(str_at(at(companions->items()[2], "extension"), {"valueString"}) == "Jimmy");

  // At the front of a list of complex values, and at its end (index == count).
  const http_response front = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.identifier"},)"
      R"({"name":"index","valueInteger":0},{"name":"value","valueIdentifier":{"value":"first"}})"), fhir_json);
  REQUIRE(front.status == 200);
  const http_response end = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.identifier"},)"
      R"({"name":"index","valueInteger":4},{"name":"value","valueIdentifier":{"value":"last"}})"), fhir_json);
  REQUIRE(end.status == 200);
  const fhir::json_value j = body_of(end);
  CHECK(str_at(at(j, "identifier", 0), {"value"}) == "first");
  CHECK(str_at(at(j, "identifier", 1), {"value"}) == "a");
  CHECK(str_at(at(j, "identifier", 4), {"value"}) == "last");

  // "The index ... must be equal or less than the number of elements in the list".
  const http_response past = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.identifier"},)"
      R"({"name":"index","valueInteger":9},{"name":"value","valueIdentifier":{"value":"x"}})"), fhir_json);
  CHECK(past.status == 422);
  // Insert needs a list: birthDate does not repeat.
  const http_response single = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.birthDate"},)"
      R"({"name":"index","valueInteger":0},{"name":"value","valueDate":"2000-01-01"})"), fhir_json);
  CHECK(single.status == 422);
  CHECK(c.get(url).header("ETag") == "W/\"4\"");
}

TEST_CASE("api: patch FHIRPath Patch delete: a primitive with its _name, a list item, nothing, not several") {
  api_case c;
  const std::string id = c.create("Patient", with_extensions);
  const std::string url = "/Patient/" + id;
  const auto del = [&](std::string_view path) {
    return patch(c, url, fhirpath_patch(R"({"name":"type","valueCode":"delete"},{"name":"path","valueString":")" +
                                        std::string(path) + "\"}"),
                 fhir_json);
  };
  // An extension of a primitive: the emptied `_birthDate` goes, the value stays.
  const http_response accuracy = del("Patient.birthDate.extension");
  REQUIRE(accuracy.status == 200);
  CHECK(str_at(body_of(accuracy), {"birthDate"}) == "1974-12-25");
  CHECK(body_of(accuracy).find("_birthDate") == nullptr);
  const http_response birth = del("Patient.birthDate");
  REQUIRE(birth.status == 200);
  CHECK(body_of(birth).find("birthDate") == nullptr);

  // The second given name goes with its extension; the others stay aligned.
  const http_response james = del("Patient.name[0].given[1]");
  REQUIRE(james.status == 200);
  const fhir::json_value james_body = body_of(james);
  const fhir::json_value& name = at(james_body, "name");
  CHECK(strings(name, "given") == std::vector<std::string>{"Peter", "Jim"});
  CHECK(name.find("_given") == nullptr);  // only nulls were left

  const http_response ident = del("Patient.identifier.where(value = 'b')");
  REQUIRE(ident.status == 200);
  CHECK(body_of(ident).find("identifier")->items().size() == 2);

  // fhirpatch.html "Path of the element to delete (if found)": nothing found is no error.
  const http_response nothing = del("Patient.telecom");
  CHECK(nothing.status == 200);
  // "Only a single element can be deleted".
  const http_response several = del("Patient.identifier");
  CHECK(several.status == 422);
  // Emptied parents go too: a name without given or family would be {}.
  REQUIRE(del("Patient.name.given[0]").status == 200);
  REQUIRE(del("Patient.name.given[0]").status == 200);
  const http_response last = del("Patient.name.family");
  REQUIRE(last.status == 200);
  CHECK(body_of(last).find("name") == nullptr);
  // The resource itself is not deleted by a patch.
  CHECK(del("Patient").status == 422);
}

TEST_CASE("api: patch FHIRPath Patch replace: primitive, list item, complex value, choice type") {
  api_case c;
  const std::string id = c.create("Patient", with_extensions);
  const std::string url = "/Patient/" + id;
  const auto replace = [&](std::string_view path, std::string_view value) {
    return patch(c, url, fhirpath_patch(R"({"name":"type","valueCode":"replace"},{"name":"path","valueString":")" +
                                        std::string(path) + R"("},{"name":"value",)" + std::string(value) + "}"),
                 fhir_json);
  };
  // The element is replaced with its extensions: the new value has none.
  const http_response birth = replace("Patient.birthDate", R"("valueDate":"1930-01-01")");
  REQUIRE(birth.status == 200);
  CHECK(str_at(body_of(birth), {"birthDate"}) == "1930-01-01");
  CHECK(body_of(birth).find("_birthDate") == nullptr);

  // A list item keeps its place; its companion is replaced too.
  const http_response given = replace("Patient.name[0].given[1]", R"("valueString":"Jacques")");
  REQUIRE(given.status == 200);
  CHECK(strings(at(body_of(given), "name"), "given") == std::vector<std::string>{"Peter", "Jacques", "Jim"});
  CHECK(at(body_of(given), "name").find("_given") == nullptr);

  const http_response ident = replace("Patient.identifier[1]", R"("valueIdentifier":{"value":"B"})");
  REQUIRE(ident.status == 200);
  CHECK(str_at(at(body_of(ident), "identifier", 1), {"value"}) == "B");

  // deceased[x]: boolean becomes dateTime, and the JSON name follows.
  const http_response deceased = replace("Patient.deceased", R"("valueDateTime":"2020-02-02")");
  REQUIRE(deceased.status == 200);
  CHECK(body_of(deceased).find("deceasedBoolean") == nullptr);
  CHECK(str_at(body_of(deceased), {"deceasedDateTime"}) == "2020-02-02");

  // Wrong type, nothing selected, several selected, a computed value: 422.
  CHECK(replace("Patient.birthDate", R"("valueBoolean":true)").status == 422);
  CHECK(replace("Patient.gender", R"("valueCode":"male")").status == 422);
  CHECK(replace("Patient.identifier", R"("valueIdentifier":{"value":"x"})").status == 422);
  CHECK(replace("Patient.identifier.count()", R"("valueInteger":1)").status == 422);
  // id is an element too, but a patch cannot change it.
  CHECK(replace("Patient.id", R"("valueId":"other")").status == 422);
  CHECK(c.get(url).header("ETag") == "W/\"5\"");
}

TEST_CASE("api: patch FHIRPath Patch move within a list, companions moving along") {
  api_case c;
  const std::string id = c.create("Patient", with_extensions);
  const std::string url = "/Patient/" + id;
  const auto move = [&](std::string_view path, int source, int destination) {
    return patch(c, url, fhirpath_patch(R"({"name":"type","valueCode":"move"},{"name":"path","valueString":")" +
                                        std::string(path) + R"("},{"name":"source","valueInteger":)" +
                                        std::to_string(source) + R"(},{"name":"destination","valueInteger":)" +
                                        std::to_string(destination) + "}"),
                 fhir_json);
  };
  const http_response ident = move("Patient.identifier", 0, 2);
  REQUIRE(ident.status == 200);
  const fhir::json_value j = body_of(ident);
  CHECK(str_at(at(j, "identifier", 0), {"value"}) == "b");
  CHECK(str_at(at(j, "identifier", 1), {"value"}) == "c");
  CHECK(str_at(at(j, "identifier", 2), {"value"}) == "a");

  const http_response given = move("Patient.name[0].given", 1, 0);
  REQUIRE(given.status == 200);
  const fhir::json_value given_body = body_of(given);
  const fhir::json_value& name = at(given_body, "name");
  CHECK(strings(name, "given") == std::vector<std::string>{"James", "Peter", "Jim"});
  REQUIRE(name.find("_given") != nullptr);
  CHECK(str_at(at(name.find("_given")->items()[0], "extension"), {"valueString"}) == "Jimmy");
  CHECK(name.find("_given")->items()[1].is_null());

  CHECK(move("Patient.identifier", 0, 3).status == 422);
  CHECK(move("Patient.identifier", -1, 0).status == 422);
  CHECK(move("Patient.identifier.first()", 0, 1).status == 422);  // not the name of a list
}

TEST_CASE("api: patch FHIRPath Patch documents that are malformed are 400, inapplicable ones 422") {
  api_case c;
  const std::string id = c.create("Patient", chalmers);
  const std::string url = "/Patient/" + id;
  for (const std::string& doc : {
           std::string(R"({"resourceType":"Patient"})"),  // not a Parameters
           std::string(R"({"resourceType":"Parameters","parameter":[{"name":"op","valueString":"x"}]})"),
           fhirpath_patch(R"({"name":"path","valueString":"Patient.gender"})"),        // no type
           fhirpath_patch(R"({"name":"type","valueCode":"upsert"},{"name":"path","valueString":"Patient"})"),
           fhirpath_patch(R"({"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.gender"})"),
           fhirpath_patch(R"({"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.name"},)"
                          R"({"name":"value","valueHumanName":{"text":"x"}})"),          // no index
           fhirpath_patch(R"({"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.("})"),
           fhirpath_patch(R"({"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.gender"},)"
                          R"({"name":"colour","valueString":"blue"})"),                // unknown part
           fhirpath_patch(R"({"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.gender"},)"
                          R"({"name":"path","valueString":"Patient.active"})"),        // part twice
           std::string(R"({"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type"}]}]})"),
       }) {
    CAPTURE(doc);
    CHECK(patch(c, url, doc, fhir_json).status == 400);
  }
  // An add whose name is not an element, a path naming an unknown element.
  CHECK(patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},)"
      R"({"name":"name","valueString":"colour"},{"name":"value","valueString":"blue"})"), fhir_json).status == 422);
  CHECK(patch(c, url, fhirpath_patch(R"({"name":"type","valueCode":"delete"},)"
                                     R"({"name":"path","valueString":"Patient.colour"})"),
              fhir_json)
            .status == 422);
  // An invalid result (a code with two spaces): check_resource's issue, 422.
  const http_response bad = patch(c, url, fhirpath_patch(
      R"({"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.gender"},)"
      R"({"name":"value","valueString":"fe  male"})"), fhir_json);
  CHECK(bad.status == 422);
  CHECK(strings(at(body_of(bad), "issue"), "expression") == std::vector<std::string>{"Patient.gender"});
  CHECK(c.get(url).header("ETag") == "W/\"1\"");
  // A Parameters with no operation changes nothing: the version stays.
  const http_response empty = patch(c, url, R"({"resourceType":"Parameters"})", fhir_json);
  CHECK(empty.status == 200);
  CHECK(empty.header("ETag") == "W/\"1\"");
}

}  // namespace
}  // namespace hearth::server::test
