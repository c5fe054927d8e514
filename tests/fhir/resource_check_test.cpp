#include <hearth/fhir/resource_check.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/xml_reader.hpp>

#include "fhir/test_support.hpp"

using namespace hearth::fhir;
namespace fs = std::filesystem;

namespace {

const definitions& defs() { return hearth::fhir::test::registry(); }

std::string dump(const issue_list& issues) {
  std::string out;
  for (const issue& i : issues) {
    out += std::string(to_string(i.severity)) + " " + i.code + " at '" + i.expression + "': " + i.diagnostics + "\n";
  }
  return out;
}

/// Parses `text`; `plain` keeps what FHIR JSON forbids (empty values, nulls),
/// as a json_value built by code may hold it.
json_value parse(std::string_view text, bool plain = false) {
  json_read_options o;
  o.fhir_rules = !plain;
  auto r = parse_json(text, o);
  REQUIRE_MESSAGE(r, "bad test JSON: " << r.error().message << " at " << r.error().location);
  return std::move(r).value();
}

issue_list check(std::string_view text, const check_options& o = {}) { return check_resource(parse(text), defs(), o); }

/// No issue at all.
void clean(std::string_view text, const check_options& o = {}) {
  const issue_list found = check(text, o);
  INFO(dump(found));
  CHECK(found.empty());
}

/// Exactly one issue, with this code and expression (and severity), for a
/// value built by code (one_value) or the JSON text of a resource (one).
void one_value(const json_value& v, std::string_view code, std::string_view expression,
         issue_severity severity = issue_severity::error, const check_options& o = {}) {
  const issue_list found = check_resource(v, defs(), o);
  INFO(dump(found));
  REQUIRE(found.size() == 1);
  CHECK(found[0].code == code);
  CHECK(found[0].expression == expression);
  CHECK(found[0].severity == severity);
  CHECK_FALSE(found[0].diagnostics.empty());
}
void one(std::string_view text, std::string_view code, std::string_view expression,
         issue_severity severity = issue_severity::error, const check_options& o = {}) {
  one_value(parse(text), code, expression, severity, o);
}

/// A Patient with `body` after its resourceType.
std::string patient(std::string_view body) {
  return std::string(R"({"resourceType":"Patient")") + (body.empty() ? "" : ",") + std::string(body) + "}";
}

/// A Patient with one extension holding `value` ("valueTime":"...").
std::string patient_extension(std::string_view value) {
  return patient(R"("extension":[{"url":"http://example.org/x",)" + std::string(value) + "}]");
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Every file with extension `ext` in `dir`, sorted.
std::vector<fs::path> files(const fs::path& dir, std::string_view ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ext) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// --- official and project examples -------------------------------------------

TEST_CASE("check: every resource in tests/data/fhir passes with no issue") {
  const std::vector<fs::path> all = files(fs::path(HEARTH_TEST_DATA) / "fhir", ".json");
  REQUIRE_FALSE(all.empty());
  for (const fs::path& p : all) {
    INFO(p.filename().string());
    clean(read_file(p));
  }
}

TEST_CASE("check: every XML input of the official FHIRPath suite passes with no issue") {
  const std::vector<fs::path> all = files(hearth::fhir::test::conformance_inputs(), ".xml");
  REQUIRE(all.size() >= 7);
  for (const fs::path& p : all) {
    INFO(p.filename().string());
    auto r = parse_fhir_xml(read_file(p), defs());
    REQUIRE_MESSAGE(r, r.error().message << " at " << r.error().location);
    const issue_list found = check_resource(*r, defs());
    INFO(dump(found));
    CHECK(found.empty());
  }
}

TEST_CASE("check: every resource in the official R4 definition bundles passes with no issue") {
  // The build's R4 4.0.1 bundles (DESIGN.md): thousands of StructureDefinitions,
  // SearchParameters, ValueSets, CodeSystems and ConceptMaps, each a Bundle entry.
  for (const char* name : {"profiles-types.json", "profiles-resources.json", "search-parameters.json",
                           "valuesets.json", "conceptmaps.json", "v2-tables.json", "v3-codesystems.json"}) {
    INFO(name);
    const json_value bundle = parse(read_file(fs::path(HEARTH_DEFINITIONS_DIR) / name));
    REQUIRE(bundle.find("entry") != nullptr);
    CHECK(bundle.find("entry")->size() > 0);
    const issue_list found = check_resource(bundle, defs());
    INFO(dump(found));
    CHECK(found.empty());
  }
}

TEST_CASE("check: the JSON inputs of the official FHIRPath suite, which are test fixtures") {
  const fs::path dir = hearth::fhir::test::conformance_inputs();
  // A complete R4 example.
  clean(read_file(dir / "appointment-examplereq.json"));

  // The other three are fixtures for FHIRPath tests, not valid resources; the
  // checker is right to reject each, for exactly these reasons:
  // - a contained Organization referenced as "1", not "#1" (dom-3);
  one(read_file(dir / "patient-container-example.json"), "invariant", "Patient.contained[0]");
  // - given has two entries and _given one (a warning): R4 json.html fills both arrays
  //   with null "so that the id and/or extension are aligned";
  one(read_file(dir / "patient-name-extensions.json"), "structure", "Patient.name[0].given",
      issue_severity::warning);
  // - an ExplanationOfBenefit fragment: supportingInfo and item, without the
  //   9 required elements of the resource and item.productOrService.
  const issue_list eob = check(read_file(dir / "explanationofbenefit-example.json"));
  INFO(dump(eob));
  REQUIRE(eob.size() == 11);
  CHECK(std::all_of(eob.begin(), eob.end(), [](const issue& i) { return i.code == "required"; }));
  CHECK(eob[0].expression == "ExplanationOfBenefit.item[0].productOrService");
  CHECK(eob[2].expression == "ExplanationOfBenefit.status");
  CHECK(eob[10].expression == "ExplanationOfBenefit.insurance");
}

TEST_CASE("check: every element type in the R4 registry can be followed") {
  // The check never reports "no usable type" for the official definitions:
  // each element's type is a known type, a backbone element, a content
  // reference or a resource. Only a primitive's own value has a FHIRPath
  // System type, and xhtml.id, which the check reads as string.
  std::size_t elements = 0;
  for (const type_definition& t : defs().types()) {
    if (t.kind == type_kind::logical) continue;
    for (const element_definition* e : t.children()) {
      if (t.kind == type_kind::primitive_type && e->name == "value") continue;
      ++elements;
      if (e->content_target != nullptr || !e->children.empty()) continue;
      for (const type_ref& r : e->types) {
        INFO(e->path << " : " << r.code);
        CHECK((r.code == "Resource" || defs().find_type(r.code) != nullptr ||
               (e->path == "xhtml.id" && r.code == "http://hl7.org/fhirpath/System.String")));
      }
    }
  }
  CHECK(elements > 5000);
}

// --- resourceType ---------------------------------------------------------------

TEST_CASE("check: resourceType present, a string, a concrete R4 resource type") {
  clean(R"({"resourceType":"Patient"})");
  one(R"({"id":"x"})", "required", "");
  one(R"({"resourceType":7})", "structure", "");
  one(R"({"resourceType":"Foo"})", "not-supported", "");
  one(R"({"resourceType":"Resource"})", "invalid", "");
  one(R"({"resourceType":"DomainResource"})", "invalid", "");
  one(R"({"resourceType":"Quantity","value":1})", "not-supported", "");
  one(R"(["Patient"])", "structure", "");
}

// --- properties -----------------------------------------------------------------------

TEST_CASE("check: every property must be an element of its parent") {
  one(patient(R"("foo":1)"), "structure", "Patient.foo");
  one(patient(R"("name":[{"family":"x","surname":"y"}])"), "structure", "Patient.name[0].surname");
  // Backbone elements and data types inside them.
  one(patient(R"("contact":[{"name":{"family":"x"},"nickname":"y"}])"), "structure", "Patient.contact[0].nickname");
  one(patient(R"("contact":[{"name":{"family":"x","x":1}}])"), "structure", "Patient.contact[0].name.x");
  // resourceType only at the top of a resource.
  one(patient(R"("name":[{"resourceType":"Patient","family":"x"}])"), "structure", "Patient.name[0].resourceType");
  // A name that is no FHIRPath identifier is not written into the expression.
  one(patient(R"("a b":1)"), "structure", "Patient");
  one(patient(R"("_":1)"), "structure", "Patient._");
}

TEST_CASE("check: allow_unknown_elements makes an unknown property a warning") {
  check_options o;
  o.allow_unknown_elements = true;
  one(patient(R"("foo":{"bar":[1]})"), "structure", "Patient.foo", issue_severity::warning, o);
}

TEST_CASE("check: content references (Questionnaire.item.item)") {
  const std::string q = R"({"resourceType":"Questionnaire","status":"draft","item":[
      {"linkId":"1","type":"group","item":[{"linkId":"1.1","type":"string","item":[
        {"linkId":"1.1.1","type":"boolean"}]}]}]})";
  clean(q);
  one(R"({"resourceType":"Questionnaire","status":"draft","item":[
      {"linkId":"1","type":"group","item":[{"linkId":"1.1","type":"string","colour":"red"}]}]})",
      "structure", "Questionnaire.item[0].item[0].colour");
  one(R"({"resourceType":"Questionnaire","status":"draft","item":[
      {"linkId":"1","type":"group","item":[{"type":"string"}]}]})",
      "required", "Questionnaire.item[0].item[0].linkId");
}

// --- choice types -----------------------------------------------------------------------

TEST_CASE("check: choice elements are named by their type (R4 formats.html#choice)") {
  const std::string obs = R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)";
  clean(obs + R"("valueQuantity":{"value":72.5,"unit":"kg"}})");
  clean(obs + R"("valueString":"x"})");
  one(obs + R"("value":72.5})", "structure", "Observation.value");
  one(obs + R"("valueFoo":1})", "structure", "Observation.valueFoo");
  // A type the choice does not allow (Observation.value[x] has no Address).
  one(obs + R"("valueAddress":{"city":"x"}})", "structure", "Observation.valueAddress");
  // valueQuantity's content is a Quantity.
  one(obs + R"("valueQuantity":{"value":"72"}})", "structure", "Observation.value.value");
  // At most one type of a choice.
  one(obs + R"("valueString":"x","valueBoolean":true})", "structure", "Observation.valueBoolean");
  one(obs + R"("valueString":"x","_valueBoolean":{"extension":[{"url":"u","valueCode":"c"}]}})", "structure",
      "Observation._valueBoolean");
}

TEST_CASE("check: the choice diagnostics say what is wrong") {
  const issue_list a = check(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"value":1})");
  REQUIRE(a.size() == 1);
  CHECK(a[0].diagnostics.find("type in the property name") != std::string::npos);
  const issue_list b = check(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valueFoo":1})");
  REQUIRE(b.size() == 1);
  CHECK(b[0].diagnostics.find("value[x]") != std::string::npos);
}

// --- cardinality ------------------------------------------------------------------------

TEST_CASE("check: a repeating element is an array, any other is not (R4 json.html)") {
  one(patient(R"("name":{"family":"x"})"), "structure", "Patient.name");
  one(patient(R"("gender":["male"])"), "structure", "Patient.gender");
  one(patient(R"("name":[{"given":"Peter"}])"), "structure", "Patient.name[0].given");
  one(patient(R"("birthDate":"1974-12-25","_birthDate":[{"id":"a"}])"), "structure", "Patient.birthDate");
}

TEST_CASE("check: required elements (min >= 1)") {
  const issue_list found = check(R"({"resourceType":"Observation"})");
  INFO(dump(found));
  REQUIRE(found.size() == 2);
  CHECK(found[0].code == "required");
  CHECK(found[0].expression == "Observation.status");
  CHECK(found[1].expression == "Observation.code");
  // A required choice, reported by its FHIRPath name.
  const issue_list mr = check(R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
      "subject":{"reference":"Patient/1"}})");
  INFO(dump(mr));
  REQUIRE(mr.size() == 1);
  CHECK(mr[0].expression == "MedicationRequest.medication");
  CHECK(mr[0].code == "required");
  // Inside a data type: Extension.url.
  one(patient(R"("extension":[{"valueString":"x"}])"), "required", "Patient.extension[0].url");
  // Inside a backbone element: Patient.link.other and .type.
  const issue_list link = check(patient(R"("link":[{"type":"seealso"}])"));
  REQUIRE(link.size() == 1);
  CHECK(link[0].expression == "Patient.link[0].other");
  // A required primitive present only through its extensions counts as present.
  clean(R"({"resourceType":"Observation","code":{"text":"x"},"_status":{"extension":[
      {"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}})");
}

// --- JSON kinds and primitive formats ------------------------------------------------------

TEST_CASE("check: each primitive has its JSON kind (R4 json.html#primitive)") {
  one(patient(R"("active":"true")"), "structure", "Patient.active");
  one(patient(R"("multipleBirthInteger":"2")"), "structure", "Patient.multipleBirth");
  one(patient(R"("birthDate":19741225)"), "structure", "Patient.birthDate");
  one(patient(R"("gender":{"code":"male"})"), "structure", "Patient.gender");
  one(patient(R"("name":["Peter"])"), "structure", "Patient.name[0]");
  clean(patient(R"("active":false,"multipleBirthInteger":2)"));
}

TEST_CASE("check: integer, positiveInt, unsignedInt are whole 32-bit numbers (R4 datatypes.html)") {
  clean(patient(R"("multipleBirthInteger":2147483647)"));
  clean(patient(R"("multipleBirthInteger":-2147483648)"));
  clean(patient(R"("multipleBirthInteger":0)"));
  one(patient(R"("multipleBirthInteger":2147483648)"), "value", "Patient.multipleBirth");
  one(patient(R"("multipleBirthInteger":-2147483649)"), "value", "Patient.multipleBirth");
  one(patient(R"("multipleBirthInteger":99999999999999999999)"), "value", "Patient.multipleBirth");
  one(patient(R"("multipleBirthInteger":1.0)"), "value", "Patient.multipleBirth");
  one(patient(R"("multipleBirthInteger":1e3)"), "value", "Patient.multipleBirth");
  clean(patient_extension(R"("valuePositiveInt":1)"));
  one(patient_extension(R"("valuePositiveInt":0)"), "value", "Patient.extension[0].value");
  one(patient_extension(R"("valuePositiveInt":-3)"), "value", "Patient.extension[0].value");
  clean(patient_extension(R"("valueUnsignedInt":0)"));
  one(patient_extension(R"("valueUnsignedInt":-1)"), "value", "Patient.extension[0].value");
  one(patient_extension(R"("valueUnsignedInt":-0)"), "value", "Patient.extension[0].value");
  one(patient_extension(R"("valueUnsignedInt":4294967295)"), "value", "Patient.extension[0].value");
}

TEST_CASE("check: decimal is any JSON number, kept as written") {
  clean(patient_extension(R"("valueDecimal":1.50)"));
  clean(patient_extension(R"("valueDecimal":-0.000001e-7)"));
  // A json_value built by code with a text that is no number.
  json_value v = parse(patient_extension(R"("valueDecimal":1)"));
  v.find("extension")->items()[0].set("valueDecimal", json_value::number("1."));
  one_value(v, "value", "Patient.extension[0].value");
}

TEST_CASE("check: date, dateTime, instant, time (R4 datatypes.html)") {
  for (const char* ok : {"1974", "1974-12", "1974-12-25", "2000-02-29", "0001-01-01"}) {
    INFO(ok);
    clean(patient(std::string(R"("birthDate":")") + ok + "\""));
  }
  for (const char* bad : {"0000", "1974-13", "1974-12-32", "1974-02-29", "1900-02-29", "1974-04-31", "74-12-25",
                          "1974-12-25T10:00:00Z", "1974/12/25"}) {
    INFO(bad);
    one(patient(std::string(R"("birthDate":")") + bad + "\""), "value", "Patient.birthDate");
  }
  for (const char* ok : {"2015", "2015-02", "2015-02-07", "2015-02-07T13:28:17-05:00", "2015-02-07T13:28:17.239+02:00",
                         "2015-02-07T13:28:17Z", "2016-12-31T23:59:60Z"}) {
    INFO(ok);
    clean(patient(std::string(R"("deceasedDateTime":")") + ok + "\""));
  }
  for (const char* bad : {"2015-02-07T13:28:17", "2015-02-07T13:28Z", "2015-02-07T24:00:00Z",
                          "2015-02-07T13:28:17+15:00", "2015-02-30T10:00:00Z", "2015-02-07 13:28:17Z"}) {
    INFO(bad);
    one(patient(std::string(R"("deceasedDateTime":")") + bad + "\""), "value", "Patient.deceased");
  }
  clean(patient(R"("meta":{"lastUpdated":"2015-02-07T13:28:17.239+02:00"})"));
  one(patient(R"("meta":{"lastUpdated":"2015-02-07"})"), "value", "Patient.meta.lastUpdated");
  one(patient(R"("meta":{"lastUpdated":"2015-02-07T13:28:17"})"), "value", "Patient.meta.lastUpdated");
  clean(patient_extension(R"("valueTime":"13:28:17")"));
  clean(patient_extension(R"("valueTime":"00:00:00.5")"));
  one(patient_extension(R"("valueTime":"24:00:00")"), "value", "Patient.extension[0].value");
  one(patient_extension(R"("valueTime":"13:28")"), "value", "Patient.extension[0].value");
  one(patient_extension(R"("valueTime":"13:28:17Z")"), "value", "Patient.extension[0].value");
}

TEST_CASE("check: id, code, uri, oid, uuid (R4 datatypes.html)") {
  clean(patient(R"("id":"a-B.9")"));
  clean(patient(R"("id":")" + std::string(64, 'a') + "\""));
  one(patient(R"("id":")" + std::string(65, 'a') + "\""), "value", "Patient.id");
  one(patient(R"("id":"a_b")"), "value", "Patient.id");
  one(patient(R"("id":"a b")"), "value", "Patient.id");
  // Element.id is a string, not an id.
  clean(patient(R"("name":[{"id":"any thing_at all","family":"x"}])"));

  clean(patient(R"("language":"en-AU")"));
  clean(patient_extension(R"("valueCode":"a b c")"));
  one(patient(R"("gender":" male")"), "value", "Patient.gender");
  one(patient(R"("gender":"male ")"), "value", "Patient.gender");
  one(patient_extension(R"("valueCode":"a  b")"), "value", "Patient.extension[0].value");
  one(patient_extension(R"("valueCode":"a\nb\tc")"), "value", "Patient.extension[0].value");

  clean(patient_extension(R"("valueUri":"urn:x")"));
  one(patient_extension(R"("valueUri":"http://a b")"), "value", "Patient.extension[0].value");
  one(patient_extension(R"("valueUrl":"http://a\tb")"), "value", "Patient.extension[0].value");
  one(patient_extension(R"("valueCanonical":"http://a/b|1 ")"), "value", "Patient.extension[0].value");
  one(patient(R"("extension":[{"url":"http://x y","valueString":"a"}])"), "value", "Patient.extension[0].url");

  clean(patient_extension(R"("valueOid":"urn:oid:1.2.36.146.595.217.0.1")"));
  one(patient_extension(R"("valueOid":"1.2.3")"), "value", "Patient.extension[0].value");
  one(patient_extension(R"("valueOid":"urn:oid:3.1")"), "value", "Patient.extension[0].value");
  clean(patient_extension(R"("valueUuid":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520")"));
  one(patient_extension(R"("valueUuid":"urn:uuid:C757873D-EC9A-4326-A141-556F43239520")"), "value",
      "Patient.extension[0].value");
  one(patient_extension(R"("valueUuid":"c757873d-ec9a-4326-a141-556f43239520")"), "value",
      "Patient.extension[0].value");
}

TEST_CASE("check: base64Binary (R4 datatypes.html#base64Binary)") {
  clean(patient(R"("photo":[{"data":"aGVsbG8="}])"));
  clean(patient(R"("photo":[{"data":"aGVs bG8=\r\n"}])"));
  one(patient(R"("photo":[{"data":"aGVsbG8"}])"), "value", "Patient.photo[0].data");
  one(patient(R"("photo":[{"data":"aG Vs"}])"), "value", "Patient.photo[0].data");
  one(patient(R"("photo":[{"data":"aGVs!G8="}])"), "value", "Patient.photo[0].data");
}

TEST_CASE("check: strings — length limit, white space and control characters (R4 datatypes.html#string)") {
  clean(patient(R"("name":[{"family":" O'Brien "}])"));
  one(patient(R"("name":[{"family":" \t "}])"), "value", "Patient.name[0].family", issue_severity::warning);
  one(patient(R"("name":[{"family":"a\u0001b"}])"), "value", "Patient.name[0].family", issue_severity::warning);
  clean(patient(R"("name":[{"text":"line 1\r\nline\t2"}])"));
  // 1,048,576 characters is the limit, counted in characters, not bytes.
  const std::string e_acute = "\xC3\xA9";
  std::string at_limit;
  for (int i = 0; i < 1024 * 1024; ++i) at_limit += e_acute;
  clean(patient(R"("name":[{"family":")" + at_limit + "\"}]"));
  one(patient(R"("name":[{"family":")" + at_limit + "x\"}]"), "too-long", "Patient.name[0].family");
  // Built by code: not UTF-8.
  json_value v = parse(patient(R"("name":[{"family":"x"}])"));
  v.find("name")->items()[0].set("family", std::string("\xC3("));
  one_value(v, "value", "Patient.name[0].family");
}

TEST_CASE("check: Narrative.div is a string beginning with a div element") {
  clean(patient(R"("text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"})"));
  // An empty div breaks txt-2, which only warns: official R4 examples have one.
  one(patient(R"("text":{"status":"generated","div":"\n<div\nxmlns=\"http://www.w3.org/1999/xhtml\"/>"})"),
      "invariant", "Patient.text.div", issue_severity::warning);
  one(patient(R"("text":{"status":"generated","div":"<p>x</p>"})"), "value", "Patient.text.div");
  one(patient(R"("text":{"status":"generated","div":"<divx>x</divx>"})"), "value", "Patient.text.div");
  one(patient(R"("text":{"status":"generated","div":"plain text"})"), "value", "Patient.text.div");
  one(patient(R"("text":{"status":"generated"})"), "required", "Patient.text.div");
  one(patient(R"("text":{"status":"generated","div":{"p":"x"}})"), "structure", "Patient.text.div");
  // xhtml has an id but no extensions (xhtml.extension is 0..0 in R4).
  const std::string div = R"(<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>)";
  clean(patient(R"("text":{"status":"generated","div":")" + div + R"(","_div":{"id":"d"}})"));
  one(patient(R"("text":{"status":"generated","div":")" + div + R"(",
      "_div":{"extension":[{"url":"u","valueString":"s"}]}})"),
      "structure", "Patient.text.div.extension");
}

TEST_CASE("check: the narrative's XHTML keeps txt-1: no script, event attribute or javascript: URL") {
  // R4 narrative.html#xhtml (txt-1) and #security: what a renderer would
  // run is refused before anything is stored.
  auto with = [](const std::string& inner) {
    return patient(R"("text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">)" + inner +
                   R"(</div>"})");
  };
  clean(with(R"(<p>Ann <b>Smith</b>, <a href=\"http://example.org/a\">record</a></p>)"));
  one(with("<script>alert(1)</script>"), "invariant", "Patient.text.div");
  one(with(R"(<p onclick=\"alert(1)\">x</p>)"), "invariant", "Patient.text.div");
  one(with(R"(<a href=\"javascript:alert(1)\">x</a>)"), "invariant", "Patient.text.div");
  one(with(R"(<a href=\" jav&#x09;ascript:alert(1)\">x</a>)"), "invariant", "Patient.text.div");
  one(with("<iframe src=\\\"http://example.org\\\"></iframe>"), "invariant", "Patient.text.div");
  // Not well-formed, or without the XHTML namespace.
  one(with("<p>x"), "invariant", "Patient.text.div");
  one(patient(R"("text":{"status":"generated","div":"<div>x</div>"})"), "invariant", "Patient.text.div");
}

// --- primitive ids and extensions (_name) ----------------------------------------------------

TEST_CASE("check: _name beside a primitive, or alone (R4 json.html#primitive)") {
  const std::string ext = R"({"extension":[{"url":"http://example.org/x","valueString":"y"}]})";
  clean(patient(R"("birthDate":"1974-12-25","_birthDate":)" + ext));
  clean(patient(R"("_birthDate":)" + ext));
  clean(patient(R"("_birthDate":{"id":"b"},"birthDate":"1974-12-25")"));
  // Only an id and no value: an element with nothing in it (ele-1).
  one(patient(R"("_birthDate":{"id":"b"})"), "invalid", "Patient.birthDate");
  // Only id and extension inside.
  one(patient(R"("birthDate":"1974-12-25","_birthDate":{"value":"1974"})"), "structure", "Patient.birthDate.value");
  one(patient(R"("birthDate":"1974-12-25","_birthDate":{"id":"b","foo":1})"), "structure", "Patient.birthDate.foo");
  one(patient(R"("birthDate":"1974-12-25","_birthDate":"x")"), "structure", "Patient.birthDate");
  // The content is checked: an extension needs its url.
  one(patient(R"("birthDate":"1974-12-25","_birthDate":{"extension":[{"valueString":"y"}]})"), "required",
      "Patient.birthDate.extension[0].url");
  // Only for primitives.
  one(patient(R"("name":[{"family":"x"}],"_name":[)" + ext + "]"), "structure", "Patient.name");
  // Not for Element.id or Extension.url, which are XML attributes.
  one(patient(R"("name":[{"id":"n","_id":{"id":"i"},"family":"x"}])"), "structure", "Patient.name[0]._id");
  one(patient(R"("extension":[{"url":"http://example.org/x","_url":{"id":"u"},"valueString":"y"}])"), "structure",
      "Patient.extension[0]._url");
  // Resource.id is an element: it may have extensions.
  clean(patient(R"("id":"p","_id":)" + ext));
  // A _name for no element.
  one(patient(R"("_foo":)" + ext), "structure", "Patient._foo");
}

TEST_CASE("check: repeating primitives line values and _name up, null where one has none") {
  const std::string ext = R"({"extension":[{"url":"http://example.org/x","valueString":"y"}]})";
  clean(patient(R"("name":[{"given":["Peter","James"],"_given":[null,)" + ext + "]}]"));
  clean(patient(R"("name":[{"given":[null,"James"],"_given":[)" + ext + ",null]}]"));
  clean(patient(R"("name":[{"_given":[)" + ext + "," + ext + "]}]"));
  // Not the same length: trailing entries left out is a warning (each entry
  // still lines up by index), more _given entries than values an error.
  one(patient(R"("name":[{"given":["Peter","James"],"_given":[)" + ext + "]}]"), "structure",
      "Patient.name[0].given", issue_severity::warning);
  one(patient(R"("name":[{"given":["Peter"],"_given":[)" + ext + "," + ext + "]}]"), "structure",
      "Patient.name[0].given");
  // Null in both at one index.
  one(patient(R"("name":[{"given":["Peter",null],"_given":[)" + ext + ",null]}]"), "invalid",
      "Patient.name[0].given[1]");
  // A null value without any _given.
  one(patient(R"("name":[{"given":["Peter",null]}])"), "invalid", "Patient.name[0].given[1]");
  // _given must be an array when given repeats.
  one(patient(R"("name":[{"given":["Peter"],"_given":)" + ext + "}]"), "structure", "Patient.name[0].given");
  // An entry of _given must be an object.
  one(patient(R"("name":[{"given":["Peter"],"_given":["x"]}])"), "structure", "Patient.name[0].given[0]");
}

// --- FHIR JSON rules for values built by code ----------------------------------------------------

TEST_CASE("check: no empty objects, arrays or strings, null only in primitive arrays (R4 json.html)") {
  const auto plain = [](std::string_view text) { return parse(text, true); };
  one_value(plain(patient(R"("name":[{}])")), "invalid", "Patient.name[0]");
  one_value(plain(patient(R"("name":[])")), "invalid", "Patient.name");
  one_value(plain(patient(R"("gender":"")")), "invalid", "Patient.gender");
  one_value(plain(patient(R"("gender":null)")), "invalid", "Patient.gender");
  one_value(plain(patient(R"("maritalStatus":null)")), "invalid", "Patient.maritalStatus");
  one_value(plain(patient(R"("name":[null])")), "invalid", "Patient.name[0]");
  one_value(plain(patient(R"("name":[{"given":["a"],"_given":[]}])")), "invalid", "Patient.name[0].given");
  one_value(plain(R"({})"), "required", "");
}

TEST_CASE("check: an object needs more than an id (ele-1)") {
  one(patient(R"("name":[{"id":"n"}])"), "invalid", "Patient.name[0]");
  one(patient(R"("contact":[{"id":"c"}])"), "invalid", "Patient.contact[0]");
  clean(R"({"resourceType":"Patient","id":"only-an-id"})");
}

TEST_CASE("check: a property twice in an object built by code") {
  json_value v = parse(patient(R"("gender":"male")"));
  v.members().push_back(json_member{"gender", json_value("female")});
  one_value(v, "structure", "Patient.gender");
}

// --- resources inside resources -------------------------------------------------------------

TEST_CASE("check: a contained resource has no version and no security labels (dom-4, dom-5)") {
  auto with_meta = [](const std::string& meta) {
    return patient(R"("contained":[{"resourceType":"Organization","id":"o","meta":)" + meta +
                   R"(,"name":"x"}],"managingOrganization":{"reference":"#o"})");
  };
  clean(with_meta(R"({"profile":["http://example.org/p"],"tag":[{"code":"t"}]})"));
  one(with_meta(R"({"versionId":"3"})"), "invariant", "Patient.contained[0]");
  one(with_meta(R"({"lastUpdated":"2024-01-01T00:00:00Z"})"), "invariant", "Patient.contained[0]");
  one(with_meta(R"({"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]})"),
      "invariant", "Patient.contained[0]");
  // The container itself may have all of them.
  clean(patient(R"("meta":{"versionId":"2","security":[{"code":"R"}]})"));
  // The validator evaluates them itself: off in the structural check it runs.
  check_options o;
  o.validator_invariants = false;
  clean(with_meta(R"({"versionId":"3"})"), o);
}

TEST_CASE("check: an extension has a value or extensions, not both and not neither (ext-1)") {
  clean(patient_extension(R"("valueString":"a")"));
  clean(patient(R"("extension":[{"url":"http://example.org/c","extension":[{"url":"part","valueString":"a"}]}])"));
  one(patient(R"("extension":[{"url":"http://example.org/x"}])"), "invariant", "Patient.extension[0]");
  one(patient(R"("extension":[{"url":"http://example.org/x","valueString":"a",
      "extension":[{"url":"part","valueString":"b"}]}])"),
      "invariant", "Patient.extension[0]");
  // Nested, on a primitive's _ object, and as a modifier extension.
  one(patient(R"("birthDate":"1970","_birthDate":{"extension":[{"url":"http://example.org/x"}]})"), "invariant",
      "Patient.birthDate.extension[0]");
  one(patient(R"("modifierExtension":[{"url":"http://example.org/m"}])"), "invariant", "Patient.modifierExtension[0]");
  // A value[x] that is only its _ object (extensions: a data-absent-reason) is a value.
  clean(patient(R"("extension":[{"url":"http://example.org/x","_valueString":{"extension":[
      {"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}}])"));
}

TEST_CASE("check: contained resources are resources, referenced from their container (dom-3)") {
  const std::string org = R"({"resourceType":"Organization","id":"org1","name":"x"})";
  clean(patient(R"("contained":[)" + org + R"(],"managingOrganization":{"reference":"#org1"})"));
  // Referenced from another contained resource: %resource.descendants() covers them.
  clean(patient(R"("contained":[)" + org +
                R"(,{"resourceType":"Practitioner","id":"pr",
                     "qualification":[{"code":{"text":"x"},"issuer":{"reference":"#org1"}}]}],
      "generalPractitioner":[{"reference":"#pr"}])"));
  // A canonical "#id" counts too (Questionnaire.item.answerValueSet).
  clean(R"({"resourceType":"Questionnaire","status":"draft",
      "contained":[{"resourceType":"ValueSet","id":"vs","status":"draft"}],
      "item":[{"linkId":"1","type":"choice","answerValueSet":"#vs"}]})");
  // Not referenced.
  one(patient(R"("contained":[)" + org + "]"), "invariant", "Patient.contained[0]");
  one(patient(R"("contained":[)" + org + R"(],"managingOrganization":{"reference":"#other"})"), "invariant",
      "Patient.contained[0]");
  // No id: it can only refer to its container.
  one(patient(R"("contained":[{"resourceType":"Organization","name":"x"}])"), "invariant", "Patient.contained[0]");
  clean(patient(R"("contained":[{"resourceType":"Provenance","target":[{"reference":"#"}],
      "recorded":"2020-01-01T00:00:00Z","agent":[{"who":{"display":"x"}}]}])"));
  // Checked as resources.
  one(patient(R"("contained":[{"resourceType":"Organization","id":"o","nme":"x"}],
      "managingOrganization":{"reference":"#o"})"),
      "structure", "Patient.contained[0].nme");
  one(patient(R"("contained":[{"id":"o"}],"managingOrganization":{"reference":"#o"})"), "required",
      "Patient.contained[0]");
}

TEST_CASE("check: a contained resource contains no resources (dom-2)") {
  const issue_list found = check(patient(
      R"("contained":[{"resourceType":"Organization","id":"o","contained":[{"resourceType":"Organization","id":"p"}]}],
      "managingOrganization":{"reference":"#o"})"));
  INFO(dump(found));
  REQUIRE(found.size() == 1);
  CHECK(found[0].code == "invariant");
  CHECK(found[0].expression == "Patient.contained[0].contained");
}

TEST_CASE("check: Bundle.entry.resource and Parameters.parameter.resource are checked as resources") {
  clean(R"({"resourceType":"Bundle","type":"collection","entry":[
      {"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"Patient","gender":"male"}},
      {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"}}}]})");
  one(R"({"resourceType":"Bundle","type":"collection","entry":[
      {"resource":{"resourceType":"Patient"}},{"resource":{"resourceType":"Patient","gender":["male"]}}]})",
      "structure", "Bundle.entry[1].resource.gender");
  one(R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Nope"}}]})",
      "not-supported", "Bundle.entry[0].resource");
  one(R"({"resourceType":"Parameters","parameter":[
      {"name":"p","resource":{"resourceType":"Observation","status":"final"}}]})",
      "required", "Parameters.parameter[0].resource.code");
  // Each entry is a resource of its own for dom-3: a reference in one entry
  // does not count for a contained resource in another.
  one(R"({"resourceType":"Bundle","type":"collection","entry":[
      {"resource":{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","name":"x"}]}},
      {"resource":{"resourceType":"Patient","managingOrganization":{"reference":"#o"}}}]})",
      "invariant", "Bundle.entry[0].resource.contained[0]");
}

// --- limits -------------------------------------------------------------------------------------

TEST_CASE("check: nesting deeper than max_depth is one too-costly error") {
  // Extension in extension, built by code far deeper than any parser allows.
  json_value inner = parse(R"({"url":"http://example.org/x","valueString":"y"})");
  for (int i = 0; i < 5000; ++i) {
    json_value outer = json_value::object();
    outer.set("url", "http://example.org/x");
    json_value list = json_value::array();
    list.push_back(std::move(inner));
    outer.set("extension", std::move(list));
    inner = std::move(outer);
  }
  json_value list = json_value::array();
  list.push_back(std::move(inner));
  json_value v = parse(R"({"resourceType":"Patient"})");
  v.set("extension", std::move(list));
  const issue_list found = check_resource(v, defs());
  INFO(dump(found));
  REQUIRE(found.size() == 1);
  CHECK(found[0].code == "too-costly");
  // The root object is level 1, then each extension adds two (its array and
  // its object): level 129 is the object of the 64th extension.
  std::string where = "Patient";
  for (int i = 0; i < 64; ++i) where += ".extension[0]";
  CHECK(found[0].expression == where);

  check_options shallow;
  shallow.max_depth = 2;
  one(patient(R"("name":[{"family":"x"}])"), "too-costly", "Patient.name[0]", issue_severity::error, shallow);
  clean(patient(R"("gender":"male","name":[{"family":"x"}])"), check_options{false, 100, 3});
  // Anything parse_json accepts is checked in full.
  CHECK(check_options{}.max_depth == json_read_options{}.max_depth);
}

TEST_CASE("check: at most max_issues listed, then one issue for the rest with the worst severity") {
  std::string body;
  for (int i = 0; i < 150; ++i) body += (i ? "," : "") + std::string("\"x") + std::to_string(i) + "\":1";
  const issue_list found = check(patient(body));
  REQUIRE(found.size() == 101);
  CHECK(found[99].expression == "Patient.x99");
  CHECK(found[100].code == "too-costly");
  CHECK(found[100].severity == issue_severity::error);
  CHECK(found[100].diagnostics.starts_with("50 more issues"));
  CHECK(found[100].expression.empty());

  // Warnings listed, then an unlisted error: has_errors() must still see it.
  std::string names;
  for (int i = 0; i < 5; ++i) names += (i ? "," : "") + std::string(R"({"family":"  "})");
  check_options o;
  o.max_issues = 5;
  const issue_list mixed = check(patient(R"("name":[)" + names + R"(],"gender":7)"), o);
  INFO(dump(mixed));
  REQUIRE(mixed.size() == 6);
  CHECK(mixed[4].severity == issue_severity::warning);
  CHECK(mixed[5].severity == issue_severity::error);
  CHECK(has_errors(mixed));
  // Only warnings left out: the summary is a warning.
  const issue_list warnings = check(patient(R"("name":[)" + names + "," + names + "]"), o);
  REQUIRE(warnings.size() == 6);
  CHECK(warnings[5].severity == issue_severity::warning);
  CHECK_FALSE(has_errors(warnings));
}

TEST_CASE("check: diagnostics never quote the input") {
  const std::string secret = "Chalmers4711";
  for (const std::string& body : {
           R"("name":[{"family":")" + secret + R"( "}],"gender":")" + secret + R"( ")",
           R"("birthDate":")" + secret + R"(")",
           R"("id":")" + secret + R"(!")",
           R"("text":{"status":"generated","div":")" + secret + R"("})",
           R"("extension":[{"url":"a b )" + secret + R"(","valueString":"x"}])",
           R"(")" + secret + R"(":1)",
       }) {
    const issue_list found = check(patient(body));
    INFO(body);
    REQUIRE_FALSE(found.empty());
    for (const issue& i : found) CHECK(i.diagnostics.find(secret) == std::string::npos);
  }
}

TEST_CASE("check: an element typed by one resource type holds that resource") {
  // Bundle.entry.response.outcome is an OperationOutcome (R4 bundle.html).
  clean(R"({"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"400",
      "outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}}}]})");
  one(R"({"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"400",
      "outcome":{"resourceType":"Patient"}}}]})",
      "structure", "Bundle.entry[0].response.outcome");
}
