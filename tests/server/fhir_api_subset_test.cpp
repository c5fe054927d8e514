// fhir_api: _summary and _elements on read, vread, search and history (R4
// search.html#summary, #elements; http.html#read).
#include <hearth/server/fhir_api.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "server_test_support.hpp"

namespace hearth::server::test {
namespace {

constexpr std::string_view v3_observation_value = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

/// The meta.tag codings of a resource as "system|code".
std::vector<std::string> tags_of(const fhir::json_value& r) {
  std::vector<std::string> out;
  const fhir::json_value* meta = r.find("meta");
  const fhir::json_value* tags = meta == nullptr ? nullptr : meta->find("tag");
  if (tags == nullptr) return out;
  for (const auto& t : tags->items()) out.push_back(str_at(t, {"system"}) + "|" + str_at(t, {"code"}));
  return out;
}

/// How many SUBSETTED tags a resource carries.
std::size_t subsetted_tags(const fhir::json_value& r) {
  std::size_t n = 0;
  for (const auto& t : tags_of(r)) {
    if (t == std::string(v3_observation_value) + "|SUBSETTED") ++n;
  }
  return n;
}

bool has(const fhir::json_value& r, std::string_view key) { return r.find(key) != nullptr; }

/// A Patient with summary elements (name, birthDate, active), others
/// (text, contact, communication, extension) and a tag of its own.
std::string rich_patient() {
  return R"({"resourceType":"Patient",)"
         R"("meta":{"tag":[{"system":"http://example.org/tags","code":"vip"}]},)"
         R"("text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Ann</div>"},)"
         R"("extension":[{"url":"http://example.org/ext","valueString":"x"}],)"
         R"("active":true,"name":[{"family":"Summ","given":["Ann"]}],"birthDate":"1970-01-02",)"
         R"("_birthDate":{"extension":[{"url":"http://example.org/time","valueString":"t"}]},)"
         R"("contact":[{"name":{"family":"Kin"}}],)"
         R"("communication":[{"language":{"text":"en"}}]})";
}

/// An Observation: status and code are mandatory; component is a summary
/// backbone whose interpretation is not summary; note and referenceRange
/// are not summary.
std::string rich_observation(const std::string& patient_id) {
  return R"({"resourceType":"Observation","status":"final",)"
         R"("text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">BP</div>"},)"
         R"("code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},)"
         R"("subject":{"reference":"Patient/)" +
         patient_id +
         R"("},"valueQuantity":{"value":1.50,"unit":"x"},"note":[{"text":"n"}],)"
         R"("referenceRange":[{"text":"normal"}],)"
         R"("component":[{"code":{"text":"sys"},"valueQuantity":{"value":120},)"
         R"("interpretation":[{"text":"high"}]}]})";
}

TEST_CASE("api: read without subsetting (or _summary=false) is the stored text verbatim, untagged") {
  api_case c;
  const std::string id = c.create("Patient", rich_patient());
  const http_response plain = c.get("/Patient/" + id);
  REQUIRE(plain.status == 200);
  const http_response f = c.get("/Patient/" + id + "?_summary=false");
  REQUIRE(f.status == 200);
  CHECK(f.body == plain.body);  // byte for byte: the compact-JSON fast path
  CHECK(subsetted_tags(body_of(f)) == 0);
  // _summary=data of a resource without text removes nothing: complete, so
  // returned as stored and untagged.
  const std::string bare = c.create("Patient", patient("Bare"));
  const http_response d = c.get("/Patient/" + bare + "?_summary=data");
  CHECK(d.body == c.get("/Patient/" + bare).body);
}

TEST_CASE("api: read _summary=true keeps the summary elements and tags the resource SUBSETTED") {
  api_case c;
  const std::string id = c.create("Patient", rich_patient());
  const http_response r = c.get("/Patient/" + id + "?_summary=true");
  REQUIRE(r.status == 200);
  CHECK(r.header("ETag") == "W/\"1\"");
  const fhir::json_value p = body_of(r);
  CHECK(str_at(p, {"resourceType"}) == "Patient");
  CHECK(str_at(p, {"id"}) == id);
  CHECK(str_at(p, {"meta", "versionId"}) == "1");
  CHECK(has(p, "active"));
  CHECK(has(p, "name"));
  CHECK(has(p, "birthDate"));
  CHECK(has(p, "_birthDate"));  // a primitive's extensions go with it
  CHECK_FALSE(has(p, "text"));
  CHECK_FALSE(has(p, "contact"));
  CHECK_FALSE(has(p, "communication"));
  CHECK_FALSE(has(p, "extension"));
  // The resource's own tag is kept, SUBSETTED added once.
  const auto tags = tags_of(p);
  REQUIRE(tags.size() == 2);
  CHECK(tags[0] == "http://example.org/tags|vip");
  CHECK(subsetted_tags(p) == 1);
}

TEST_CASE("api: _summary=true inside backbone elements, and Attachment.data left out of data types") {
  api_case c;
  const std::string pid = c.create("Patient", patient("Obs"));
  const std::string oid = c.create("Observation", rich_observation(pid));
  const fhir::json_value o = body_of(c.get("/Observation/" + oid + "?_summary=true"));
  CHECK(str_at(o, {"status"}) == "final");
  CHECK(has(o, "code"));
  CHECK(has(o, "subject"));
  CHECK(o.find("valueQuantity")->find("value")->number_text() == "1.50");  // data types whole, decimals exact
  CHECK_FALSE(has(o, "note"));
  CHECK_FALSE(has(o, "referenceRange"));
  CHECK_FALSE(has(o, "text"));
  const fhir::json_value& comp = o.find("component")->items().at(0);
  CHECK(has(comp, "code"));
  CHECK(has(comp, "valueQuantity"));
  CHECK_FALSE(has(comp, "interpretation"));
  CHECK(subsetted_tags(o) == 1);

  const std::string did = c.create(
      "DocumentReference",
      R"({"resourceType":"DocumentReference","status":"current",)"
      R"("content":[{"attachment":{"contentType":"text/plain","data":"aGVsbG8=","title":"t"}}]})");
  const fhir::json_value d = body_of(c.get("/DocumentReference/" + did + "?_summary=true"));
  const fhir::json_value& att = *d.find("content")->items().at(0).find("attachment");
  CHECK(str_at(att, {"contentType"}) == "text/plain");
  CHECK(str_at(att, {"title"}) == "t");
  CHECK_FALSE(has(att, "data"));
  CHECK(subsetted_tags(d) == 1);
}

TEST_CASE("api: _summary=text keeps text, id, meta and mandatory elements; _summary=data drops text") {
  api_case c;
  const std::string pid = c.create("Patient", patient("Txt"));
  const std::string oid = c.create("Observation", rich_observation(pid));
  const fhir::json_value t = body_of(c.get("/Observation/" + oid + "?_summary=text"));
  CHECK(has(t, "text"));
  CHECK(has(t, "id"));
  CHECK(has(t, "meta"));
  CHECK(has(t, "status"));  // Observation.status 1..1
  CHECK(has(t, "code"));    // Observation.code 1..1
  CHECK_FALSE(has(t, "subject"));
  CHECK_FALSE(has(t, "valueQuantity"));
  CHECK_FALSE(has(t, "component"));
  CHECK(subsetted_tags(t) == 1);

  const fhir::json_value d = body_of(c.get("/Observation/" + oid + "?_summary=data"));
  CHECK_FALSE(has(d, "text"));
  CHECK(has(d, "note"));
  CHECK(has(d, "referenceRange"));
  CHECK(has(d, "component"));
  CHECK(subsetted_tags(d) == 1);
}

TEST_CASE("api: _elements keeps the named top-level elements and the mandatory ones") {
  api_case c;
  const std::string pid = c.create("Patient", rich_patient());
  const fhir::json_value p = body_of(c.get("/Patient/" + pid + "?_elements=name,birthDate"));
  CHECK(has(p, "name"));
  CHECK(has(p, "birthDate"));
  CHECK(has(p, "_birthDate"));
  CHECK(has(p, "id"));
  CHECK(has(p, "meta"));
  CHECK_FALSE(has(p, "active"));
  CHECK_FALSE(has(p, "text"));
  CHECK_FALSE(has(p, "contact"));
  CHECK(subsetted_tags(p) == 1);
  CHECK(tags_of(p).size() == 2);  // its own tag stays

  // A choice element by its name without [x], with [x], or by its JSON name.
  const std::string oid = c.create("Observation", rich_observation(pid));
  for (const char* name : {"value", "value[x]", "valueQuantity"}) {
    CAPTURE(name);
    const fhir::json_value o = body_of(c.get("/Observation/" + oid + "?_elements=" + name));
    CHECK(has(o, "valueQuantity"));
    CHECK(has(o, "status"));  // mandatory
    CHECK(has(o, "code"));
    CHECK_FALSE(has(o, "subject"));
    CHECK_FALSE(has(o, "component"));
  }
}

TEST_CASE("api: unknown _elements names: ignored under lenient handling, 400 under strict") {
  api_case c;
  const std::string id = c.create("Patient", rich_patient());
  const http_response lenient = c.get("/Patient/" + id + "?_elements=name,noSuchElement");
  REQUIRE(lenient.status == 200);
  CHECK(has(body_of(lenient), "name"));
  const http_response strict = c.get("/Patient/" + id + "?_elements=name,noSuchElement", {{"Prefer", "handling=strict"}});
  CHECK(strict.status == 400);
  CHECK(issue_code(strict) == "invalid");
  CHECK(c.get("/Patient/" + id + "?_elements=name", {{"Prefer", "handling=strict"}}).status == 200);
}

TEST_CASE("api: bad _summary and _elements requests are 400") {
  api_case c;
  const std::string id = c.create("Patient", rich_patient());
  for (const std::string q : {"?_summary=bogus", "?_summary=count", "?_summary=true&_elements=name",
                              "?_summary=true&_summary=false", "?_elements=name,,birthDate", "?_elements="}) {
    CAPTURE(q);
    const http_response r = c.get("/Patient/" + id + q);
    CHECK(r.status == 400);
    CHECK(issue_code(r) == "invalid");
  }
  CHECK(c.get("/Patient/" + id + "?_summary=false&_elements=name").status == 200);
  CHECK(c.get("/Patient?_summary=bogus").status == 400);
  CHECK(c.get("/Patient?_summary=data&_elements=name").status == 400);
  CHECK(c.get("/Patient/_history?_summary=count").status == 400);
}

TEST_CASE("api: vread is subsetted like read; a stored SUBSETTED tag is not doubled") {
  api_case c;
  const std::string id = c.create(
      "Patient", R"({"resourceType":"Patient","meta":{"tag":[{"system":")" + std::string(v3_observation_value) +
                     R"(","code":"SUBSETTED"}]},"active":true,"contact":[{"name":{"family":"Kin"}}]})");
  const http_response r = c.get("/Patient/" + id + "/_history/1?_summary=true");
  REQUIRE(r.status == 200);
  CHECK(r.header("ETag") == "W/\"1\"");
  const fhir::json_value p = body_of(r);
  CHECK_FALSE(has(p, "contact"));
  CHECK(subsetted_tags(p) == 1);
}

TEST_CASE("api: a subsetted read in XML and in pretty JSON") {
  api_case c;
  const std::string id = c.create("Patient", rich_patient());
  const http_response x = c.get("/Patient/" + id + "?_summary=true&_format=xml");
  REQUIRE(x.status == 200);
  CHECK(x.header("Content-Type") == "application/fhir+xml; charset=utf-8");
  CHECK(x.body.find("SUBSETTED") != std::string::npos);
  CHECK(x.body.find("<contact>") == std::string::npos);
  CHECK(x.body.find("<birthDate") != std::string::npos);
  const http_response pretty = c.get("/Patient/" + id + "?_elements=name&_pretty=true");
  REQUIRE(pretty.status == 200);
  CHECK(pretty.body.find('\n') != std::string::npos);
  CHECK(subsetted_tags(body_of(pretty)) == 1);
}

TEST_CASE("api: search subsets matches and _include entries alike; the outcome entry is left alone") {
  api_case c;
  const std::string pid = c.create("Patient", rich_patient());
  c.create("Observation", rich_observation(pid));
  const http_response r = c.get("/Observation?code=85354-9&_include=Observation:subject&_summary=true&nosuch=1");
  REQUIRE(r.status == 200);
  const fhir::json_value b = body_of(r);
  const auto e = entries(b);
  REQUIRE(e.size() == 3);
  const fhir::json_value& match = *e[0].find("resource");
  CHECK(str_at(e[0], {"search", "mode"}) == "match");
  CHECK_FALSE(has(match, "note"));
  CHECK(subsetted_tags(match) == 1);
  const fhir::json_value& inc = *e[1].find("resource");
  CHECK(str_at(e[1], {"search", "mode"}) == "include");
  CHECK(str_at(inc, {"resourceType"}) == "Patient");
  CHECK_FALSE(has(inc, "contact"));
  CHECK(subsetted_tags(inc) == 1);
  CHECK(str_at(e[2], {"search", "mode"}) == "outcome");
  CHECK(subsetted_tags(*e[2].find("resource")) == 0);
  CHECK(link(b, "self").find("_summary=true") != std::string::npos);

  const fhir::json_value el = body_of(c.get("/Patient?_id=" + pid + "&_elements=birthDate"));
  const auto pe = entries(el);
  REQUIRE(pe.size() == 1);
  CHECK(has(*pe[0].find("resource"), "birthDate"));
  CHECK_FALSE(has(*pe[0].find("resource"), "name"));

  // Unknown element names of a search: lenient lists them in the outcome
  // entry and keeps _elements in the links; strict refuses them.
  const fhir::json_value len = body_of(c.get("/Patient?_id=" + pid + "&_elements=birthDate,nonsense"));
  const auto le = entries(len);
  REQUIRE(le.size() == 2);
  CHECK(str_at(le[1], {"search", "mode"}) == "outcome");
  CHECK(link(len, "self").find("_elements=") != std::string::npos);
  CHECK(c.get("/Patient?_elements=nonsense", {{"Prefer", "handling=strict"}}).status == 400);
}

TEST_CASE("api: search _summary=count counts with includes asked for, and returns no resources") {
  api_case c;
  const std::string pid = c.create("Patient", patient("Cnt"));
  for (int i = 0; i < 3; ++i) c.create("Observation", rich_observation(pid));
  const fhir::json_value b =
      body_of(c.get("/Observation?subject=Patient/" + pid + "&_summary=count&_include=Observation:subject"));
  CHECK(b.find("total")->number_text() == "3");
  CHECK(entries(b).empty());
  CHECK(link(b, "next").empty());
}

TEST_CASE("api: search pages keep _summary in the next link") {
  api_case c;
  for (int i = 0; i < 3; ++i) c.create("Patient", rich_patient());
  const fhir::json_value b = body_of(c.get("/Patient?_count=2&_summary=true"));
  const std::string next = link(b, "next");
  REQUIRE_FALSE(next.empty());
  CHECK(next.find("_summary=true") != std::string::npos);
  const fhir::json_value b2 = body_of(c.get(target_of(next)));
  const auto e = entries(b2);
  REQUIRE(e.size() == 1);
  CHECK(subsetted_tags(*e[0].find("resource")) == 1);
}

TEST_CASE("api: next links are sealed with api_options::cursor_key: another api with the key opens them") {
  // hearth serve passes the database's shared secret: every process of the
  // database, and the next start, open each other's next links.
  api_options with_key = api_case::default_options();
  with_key.cursor_key = std::string(32, '\x5a');
  api_case c(with_key);
  for (int i = 0; i < 3; ++i) c.create("Patient", rich_patient());
  const std::string next = link(body_of(c.get("/Patient?_count=2")), "next");
  REQUIRE_FALSE(next.empty());
  CHECK(c.get(target_of(next)).status == 200);
  api_case same_key(with_key);
  CHECK(same_key.get(target_of(next)).status == 200);
  api_options other_key = with_key;
  other_key.cursor_key = std::string(32, '\x33');
  api_case other(other_key);
  CHECK(other.get(target_of(next)).status == 400);
  api_case process_key;  // no key: the process's own
  CHECK(process_key.get(target_of(next)).status == 400);
}

TEST_CASE("api: history entries are subsetted; deletions still have no resource") {
  api_case c;
  const std::string id = c.create("Patient", rich_patient());
  c.now += std::chrono::seconds(1);
  REQUIRE(c.del("/Patient/" + id).status == 204);
  const http_response r = c.get("/Patient/" + id + "/_history?_summary=text");
  REQUIRE(r.status == 200);
  const fhir::json_value b = body_of(r);
  const auto e = entries(b);
  REQUIRE(e.size() == 2);
  CHECK(e[0].find("resource") == nullptr);
  const fhir::json_value& v1 = *e[1].find("resource");
  CHECK(has(v1, "text"));
  CHECK_FALSE(has(v1, "name"));
  CHECK(subsetted_tags(v1) == 1);
  CHECK(link(b, "self").find("_summary=text") != std::string::npos);
  // Strict handling accepts _summary in history (it is a history parameter now).
  CHECK(c.get("/Patient/" + id + "/_history?_summary=true", {{"Prefer", "handling=strict"}}).status == 200);
  CHECK(c.get("/Patient/_history?_elements=name").status == 200);
  CHECK(c.get("/_history?_summary=data").status == 200);
}

}  // namespace
}  // namespace hearth::server::test
