#include <hearth/fhir/xml_writer.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/xml_reader.hpp>

#include "fhir/test_support.hpp"
#include "fhir/xml_round_trip.hpp"

using namespace hearth::fhir;
namespace fs = std::filesystem;

namespace {

const definitions& defs() { return hearth::fhir::test::registry(); }

constexpr std::string_view decl = R"(<?xml version="1.0" encoding="UTF-8"?>)";

json_value json(std::string_view text) {
  auto r = parse_json(text);
  REQUIRE_MESSAGE(r, "bad test JSON: " << (r ? "" : r.error().message));
  return std::move(r).value();
}

std::string file_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing input " << p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string write(const json_value& j, const xml_write_options& o = {}) {
  auto r = write_fhir_xml(j, defs(), o);
  if (!r) {
    FAIL("write failed: " << r.error().code << ": " << r.error().message << " at " << r.error().location);
  }
  return std::move(r).value();
}

std::string write(const char* j, const xml_write_options& o = {}) { return write(json(j), o); }

/// Compact XML without declaration: what most cases compare against.
std::string bare(std::string_view j) {
  xml_write_options o;
  o.declaration = false;
  return write(json(j), o);
}

hearth::error write_fails(const json_value& j, const xml_write_options& o = {}) {
  auto r = write_fhir_xml(j, defs(), o);
  REQUIRE_FALSE(r);
  CHECK(r.error().offset == hearth::error::npos);
  return r.error();
}

hearth::error write_fails(const char* j) { return write_fails(json(j)); }

json_value read(std::string_view xml) {
  auto r = parse_fhir_xml(xml, defs());
  if (!r) {
    FAIL("read failed: " << r.error().code << ": " << r.error().message << " at " << r.error().location);
  }
  return std::move(r).value();
}

/// JSON -> XML -> JSON.
json_value round_trip(const json_value& j) { return read(write(j)); }

json_value canonical(const json_value& v) { return test::xml_canonical(v, defs()); }

std::string patient_xml(std::string_view body) {
  return std::string(R"(<Patient xmlns="http://hl7.org/fhir">)") + std::string(body) + "</Patient>";
}

}  // namespace

// --- the rules, one by one -----------------------------------------------------

TEST_CASE("xml writer: root, namespace, declaration, order of the definitions") {
  // Members deliberately out of order: XML follows the definitions (R4 xml.html).
  const json_value p = json(R"({"birthDate":"1970-01-01","name":[{"given":["A","B"],"family":"F"}],
      "active":true,"resourceType":"Patient","id":"p1"})");
  CHECK(write(p) == std::string(decl) +
                        R"(<Patient xmlns="http://hl7.org/fhir"><id value="p1"/><active value="true"/>)"
                        R"(<name><family value="F"/><given value="A"/><given value="B"/></name>)"
                        R"(<birthDate value="1970-01-01"/></Patient>)");
  xml_write_options o;
  o.declaration = false;
  CHECK(write(p, o).starts_with(R"(<Patient xmlns="http://hl7.org/fhir"><id value="p1"/>)"));
  // Read back: the same resource, in the order of the definitions.
  CHECK(round_trip(p) == json(R"({"resourceType":"Patient","id":"p1","active":true,
      "name":[{"family":"F","given":["A","B"]}],"birthDate":"1970-01-01"})"));
  CHECK(bare(R"({"resourceType":"Patient"})") == R"(<Patient xmlns="http://hl7.org/fhir"/>)");
}

TEST_CASE("xml writer: pretty output") {
  xml_write_options o;
  o.pretty = true;
  const std::string x = write(R"({"resourceType":"Patient","id":"p1","_birthDate":{"extension":[{"url":"u","valueString":"s"}]},
      "name":[{"family":"F"}],"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">\n<p>x</p>\n</div>"}})",
                              o);
  CHECK(x == std::string(decl) + "\n" +
                 "<Patient xmlns=\"http://hl7.org/fhir\">\n"
                 "  <id value=\"p1\"/>\n"
                 "  <text>\n"
                 "    <status value=\"generated\"/>\n"
                 "    <div xmlns=\"http://www.w3.org/1999/xhtml\">\n<p>x</p>\n</div>\n"
                 "  </text>\n"
                 "  <name>\n"
                 "    <family value=\"F\"/>\n"
                 "  </name>\n"
                 "  <birthDate>\n"
                 "    <extension url=\"u\">\n"
                 "      <valueString value=\"s\"/>\n"
                 "    </extension>\n"
                 "  </birthDate>\n"
                 "</Patient>\n");
  o.indent = 4;
  o.declaration = false;
  CHECK(write(R"({"resourceType":"Patient","name":[{"family":"F"}]})", o) ==
        "<Patient xmlns=\"http://hl7.org/fhir\">\n    <name>\n        <family value=\"F\"/>\n    </name>\n</Patient>\n");
}

TEST_CASE("xml writer: values are escaped; tab, line feed, carriage return as character references") {
  const json_value p = json(R"({"resourceType":"Patient","name":[{"text":"a&b<c>d\"e'f\ng\rh\ti \u00e9\u20ac\ud83d\ude00"}]})");
  CHECK(bare(to_json(p)) ==
        "<Patient xmlns=\"http://hl7.org/fhir\"><name><text value=\"a&amp;b&lt;c&gt;d&quot;e'f&#xA;g&#xD;h&#x9;i "
        "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"/></name></Patient>");
  CHECK(round_trip(p) == p);
  // Attributes are escaped too.
  const json_value e = json(R"({"resourceType":"Patient","extension":[{"id":"a\"b","url":"http://x/?a=1&b=<2>"}]})");
  // An extension with neither value nor extensions breaks ext-1, a rule for
  // validation; reading and writing accept it.
  CHECK(bare(to_json(e)) == R"(<Patient xmlns="http://hl7.org/fhir"><extension id="a&quot;b" url="http://x/?a=1&amp;b=&lt;2&gt;"/></Patient>)");
  CHECK(round_trip(e) == e);
  const json_value e2 = json(R"({"resourceType":"Patient","extension":[{"id":"a\"b","url":"http://x/?a=1&b=<2>","valueBoolean":false}]})");
  CHECK(bare(to_json(e2)) == R"(<Patient xmlns="http://hl7.org/fhir"><extension id="a&quot;b" url="http://x/?a=1&amp;b=&lt;2&gt;"><valueBoolean value="false"/></extension></Patient>)");
  CHECK(round_trip(e2) == e2);
}

TEST_CASE("xml writer: numbers keep their text; booleans; choice elements by their JSON name") {
  const json_value o = json(R"({"resourceType":"Observation","status":"final","code":{"text":"t"},
      "valueQuantity":{"value":1.50,"unit":"kg"},"interpretation":[{"text":"i"}]})");
  CHECK(bare(to_json(o)) ==
        R"(<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="t"/></code>)"
        R"(<valueQuantity><value value="1.50"/><unit value="kg"/></valueQuantity>)"
        R"(<interpretation><text value="i"/></interpretation></Observation>)");
  CHECK(round_trip(o) == o);
  for (const char* n : {"-3", "0", "12345678901234567890123"}) {
    CAPTURE(n);
    const json_value p = json(std::string(R"({"resourceType":"Patient","multipleBirthInteger":)") + n + "}");
    CHECK(bare(to_json(p)) == std::string(R"(<Patient xmlns="http://hl7.org/fhir"><multipleBirthInteger value=")") + n +
                                  R"("/></Patient>)");
    CHECK(round_trip(p) == p);
  }
  for (const char* n : {"1e2", "-0.000", "3.14159265358979323846264338327950288"}) {
    CAPTURE(n);
    const json_value q = json(std::string(R"({"resourceType":"Observation","status":"final","code":{"text":"t"},"valueQuantity":{"value":)") + n + "}}");
    CHECK(round_trip(q).find("valueQuantity")->find("value")->number_text() == n);
  }
  const json_value b = json(R"({"resourceType":"Patient","deceasedBoolean":false})");
  CHECK(bare(to_json(b)) == R"(<Patient xmlns="http://hl7.org/fhir"><deceasedBoolean value="false"/></Patient>)");
}

TEST_CASE("xml writer: primitive extensions and ids merge into the element; arrays line up by index") {
  const json_value p = json(R"({"resourceType":"Patient","birthDate":"1974-12-25","_birthDate":{"id":"b1",
      "extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]}})");
  CHECK(bare(to_json(p)) ==
        R"(<Patient xmlns="http://hl7.org/fhir"><birthDate id="b1" value="1974-12-25">)"
        R"(<extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime"><valueDateTime value="1974-12-25T14:35:45-05:00"/></extension>)"
        R"(</birthDate></Patient>)");
  CHECK(round_trip(p) == p);

  // Nulls: no value at [1], no extension at [0] and [2].
  const json_value n = json(R"({"resourceType":"Patient","name":[{"given":["A",null,"C"],
      "_given":[null,{"id":"g2","extension":[{"url":"http://x/e","valueCode":"c"}]},null]}]})");
  CHECK(bare(to_json(n)) ==
        R"(<Patient xmlns="http://hl7.org/fhir"><name><given value="A"/>)"
        R"(<given id="g2"><extension url="http://x/e"><valueCode value="c"/></extension></given>)"
        R"(<given value="C"/></name></Patient>)");
  CHECK(round_trip(n) == n);

  // Extensions only, no values at all.
  const json_value only = json(R"({"resourceType":"Patient","name":[{"_given":[{"extension":[{"url":"u","valueString":"v"}]}]}]})");
  CHECK(bare(to_json(only)) == R"(<Patient xmlns="http://hl7.org/fhir"><name><given><extension url="u"><valueString value="v"/></extension></given></name></Patient>)");
  CHECK(round_trip(only) == only);

  // Resource.id is an element, and may have extensions of its own.
  const json_value rid = json(R"({"resourceType":"Patient","id":"p","_id":{"extension":[{"url":"u","valueBoolean":true}]}})");
  CHECK(bare(to_json(rid)) == R"(<Patient xmlns="http://hl7.org/fhir"><id value="p"><extension url="u"><valueBoolean value="true"/></extension></id></Patient>)");
  CHECK(round_trip(rid) == rid);

  // Arrays of different lengths: the missing items count as null (the
  // FHIRPath suite's patient-name-extensions.json).
  const json_value uneven = json(R"({"resourceType":"Patient","name":[{"given":[null,"James"],
      "_given":[{"extension":[{"url":"u","valueString":"five"}]}]}]})");
  CHECK(bare(to_json(uneven)) == R"(<Patient xmlns="http://hl7.org/fhir"><name><given><extension url="u"><valueString value="five"/></extension></given><given value="James"/></name></Patient>)");
  CHECK(round_trip(uneven) == json(R"({"resourceType":"Patient","name":[{"given":[null,"James"],
      "_given":[{"extension":[{"url":"u","valueString":"five"}]},null]}]})"));
  // A _name array of nulls only carries nothing.
  const json_value nulls = json(R"({"resourceType":"Patient","name":[{"given":["A"],"_given":[null]}]})");
  CHECK(round_trip(nulls) == json(R"({"resourceType":"Patient","name":[{"given":["A"]}]})"));
}

TEST_CASE("xml writer: Element.id and Extension.url are attributes") {
  const json_value p = json(R"({"resourceType":"Patient",
      "extension":[{"id":"e1","url":"http://x/a","extension":[{"url":"inner","valueInteger":2}]}],
      "modifierExtension":[{"url":"http://x/m","valueCodeableConcept":{"id":"cc","text":"t"}}],
      "name":[{"id":"n1","family":"F"}],
      "contact":[{"id":"c1","name":{"id":"cn","family":"G"}}]})");
  CHECK(bare(to_json(p)) ==
        R"(<Patient xmlns="http://hl7.org/fhir">)"
        R"(<extension id="e1" url="http://x/a"><extension url="inner"><valueInteger value="2"/></extension></extension>)"
        R"(<modifierExtension url="http://x/m"><valueCodeableConcept id="cc"><text value="t"/></valueCodeableConcept></modifierExtension>)"
        R"(<name id="n1"><family value="F"/></name>)"
        R"(<contact id="c1"><name id="cn"><family value="G"/></name></contact></Patient>)");
  CHECK(round_trip(p) == p);
  // An element with only an id.
  const json_value id_only = json(R"({"resourceType":"Patient","name":[{"id":"n1"}]})");
  CHECK(bare(to_json(id_only)) == R"(<Patient xmlns="http://hl7.org/fhir"><name id="n1"/></Patient>)");
  CHECK(round_trip(id_only) == id_only);
}

TEST_CASE("xml writer: resources inside resources are wrapped in their element") {
  const json_value p = json(R"({"resourceType":"Patient","id":"p1",
      "contained":[{"resourceType":"Organization","id":"o1","name":"Acme"},{"resourceType":"Practitioner","id":"pr"}],
      "managingOrganization":{"reference":"#o1"}})");
  CHECK(bare(to_json(p)) ==
        R"(<Patient xmlns="http://hl7.org/fhir"><id value="p1"/>)"
        R"(<contained><Organization><id value="o1"/><name value="Acme"/></Organization></contained>)"
        R"(<contained><Practitioner><id value="pr"/></Practitioner></contained>)"
        R"(<managingOrganization><reference value="#o1"/></managingOrganization></Patient>)");
  CHECK(round_trip(p) == p);

  const json_value b = json(R"({"resourceType":"Bundle","type":"collection","entry":[
      {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","active":false}},
      {"resource":{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Basic","code":{"text":"x"}}}]}}]})");
  CHECK(bare(to_json(b)) ==
        R"(<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/>)"
        R"(<entry><fullUrl value="urn:uuid:1"/><resource><Patient><active value="false"/></Patient></resource></entry>)"
        R"(<entry><resource><Bundle><type value="collection"/><entry><resource><Basic><code><text value="x"/></code></Basic></resource></entry></Bundle></resource></entry>)"
        R"(</Bundle>)");
  CHECK(round_trip(b) == b);

  // An element whose type is one resource type: Bundle.entry.response.outcome
  // (Resource in the R4 text, OperationOutcome in the registry's bundle).
  const json_value r = json(R"({"resourceType":"Bundle","type":"transaction-response","entry":[
      {"response":{"status":"400","outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}}}]})");
  CHECK(bare(to_json(r)) ==
        R"(<Bundle xmlns="http://hl7.org/fhir"><type value="transaction-response"/>)"
        R"(<entry><response><status value="400"/><outcome><OperationOutcome><issue><severity value="error"/><code value="invalid"/></issue></OperationOutcome></outcome></response></entry>)"
        R"(</Bundle>)");
  CHECK(round_trip(r) == r);
  auto e = write_fails(R"({"resourceType":"Bundle","type":"transaction-response","entry":[
      {"response":{"status":"400","outcome":{"resourceType":"Patient"}}}]})");
  CHECK(e.code == "structure");
  CHECK(e.location == "Bundle.entry[0].response.outcome");

  const json_value pa = json(R"({"resourceType":"Parameters","parameter":[{"name":"r","resource":{"resourceType":"Basic","code":{"text":"x"}}},
      {"name":"p","part":[{"name":"q","valueString":"s"}]}]})");
  CHECK(bare(to_json(pa)) ==
        R"(<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="r"/><resource><Basic><code><text value="x"/></code></Basic></resource></parameter>)"
        R"(<parameter><name value="p"/><part><name value="q"/><valueString value="s"/></part></parameter></Parameters>)");
  CHECK(round_trip(pa) == pa);
}

TEST_CASE("xml writer: the narrative div is written verbatim") {
  const std::string div = R"(<div xmlns="http://www.w3.org/1999/xhtml"><p class="x">a &amp; b &lt; c &#160;<br/>)"
                          "\n  <b>bold</b></p><table><tr><td>1</td></tr></table></div>";
  json_value p = json(R"({"resourceType":"Patient","text":{"status":"generated"}})");
  p.find("text")->set("div", div);
  const std::string x = bare(to_json(p));
  CHECK(x == R"(<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>)" + div + "</text></Patient>");
  // Read back as pugixml serialises it: the same markup, references resolved.
  const json_value back = read(x);
  CHECK(back.find("text")->find("div")->str() ==
        R"(<div xmlns="http://www.w3.org/1999/xhtml"><p class="x">a &amp; b &lt; c )" "\xC2\xA0" R"(<br/>)"
        "\n  <b>bold</b></p><table><tr><td>1</td></tr></table></div>");
  // What the reader gives is written and read back unchanged.
  CHECK(round_trip(back) == back);
  // Other namespaces inside the div, and prefixed elements, are fine.
  p.find("text")->set("div", R"(<div xmlns="http://www.w3.org/1999/xhtml" xmlns:s="http://www.w3.org/2000/svg"><s:svg/><!-- c --><![CDATA[a & b]]><?pi x?></div>)");
  CHECK(round_trip(p).find("text")->find("div")->str().starts_with(R"(<div xmlns="http://www.w3.org/1999/xhtml" xmlns:s=)"));
}

// --- faults ---------------------------------------------------------------------

TEST_CASE("xml writer faults: the resource itself") {
  auto e = write_fails(R"({"id":"x"})");
  CHECK(e.code == "structure");
  CHECK(e.location == "");
  e = write_fails(R"({"resourceType":"Patient2"})");
  CHECK(e.code == "structure");
  CHECK(e.message.find("Patient2") == std::string::npos);
  e = write_fails(R"({"resourceType":"Quantity","value":1})");  // a data type, not a resource
  CHECK(e.code == "structure");
  e = write_fails(R"({"resourceType":"DomainResource"})");  // abstract
  CHECK(e.code == "structure");
  e = write_fails(R"({"resourceType":7})");
  CHECK(e.code == "structure");
  e = write_fails(json_value("Patient"));
  CHECK(e.code == "structure");
  e = write_fails(json(R"([{"resourceType":"Patient"}])"));
  CHECK(e.code == "structure");
  e = write_fails(R"({"resourceType":"Patient","contained":[{"id":"x"}]})");
  CHECK(e.code == "structure");
  CHECK(e.location == "Patient.contained[0]");
  e = write_fails(R"({"resourceType":"Patient","contained":[{"resourceType":"Organization","nickname":"x"}]})");
  CHECK(e.location == "Patient.contained[0].nickname");
}

TEST_CASE("xml writer faults: unknown elements and the wrong shape") {
  auto e = write_fails(R"({"resourceType":"Patient","name":[{"given":["a"]},{"given":["b"],"nickname":"Secret"}]})");
  CHECK(e.code == "structure");
  CHECK(e.message == "unknown element");
  CHECK(e.location == "Patient.name[1].nickname");
  CHECK(e.message.find("Secret") == std::string::npos);  // never quotes input
  struct fault {
    const char* json;
    const char* location;
  };
  // Each is JSON that does not match the definitions: code "structure".
  const fault faults[] = {
      // Unknown properties, a choice without its type or with two.
      {R"({"resourceType":"Patient","_nickname":{"id":"x"}})", "Patient.nickname"},
      {R"({"resourceType":"Patient","name":[{"resourceType":"HumanName"}]})", "Patient.name[0].resourceType"},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"t"},"valueFoo":1})", "Observation.valueFoo"},
      {R"({"resourceType":"Patient","deceased":true})", "Patient.deceased"},
      {R"({"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020"})", "Patient.deceasedDateTime"},
      // Arrays where one value is allowed and the reverse.
      {R"({"resourceType":"Patient","name":{"family":"F"}})", "Patient.name"},
      {R"({"resourceType":"Patient","name":[{"given":"A"}]})", "Patient.name[0].given"},
      {R"({"resourceType":"Patient","birthDate":["2000"]})", "Patient.birthDate"},
      {R"({"resourceType":"Patient","_birthDate":[{"id":"x"}],"birthDate":"2000"})", "Patient.birthDate"},
      {R"({"resourceType":"Patient","name":[{"given":["a"],"_given":{"id":"x"}}]})", "Patient.name[0].given"},
      // An object where a primitive belongs and the reverse.
      {R"({"resourceType":"Patient","managingOrganization":"Organization/1"})", "Patient.managingOrganization"},
      {R"({"resourceType":"Patient","gender":{"value":"male"}})", "Patient.gender"},
      {R"({"resourceType":"Patient","name":[{"given":[["A"]]}]})", "Patient.name[0].given[0]"},
      {R"({"resourceType":"Patient","name":[{"id":{"x":1}}]})", "Patient.name[0].id"},
      // _name only on primitives; Element.id and Extension.url have none.
      {R"({"resourceType":"Patient","_managingOrganization":{"id":"x"},"managingOrganization":{"reference":"r"}})",
       "Patient.managingOrganization"},
      {R"({"resourceType":"Patient","name":[{"id":"n","_id":{"id":"m"}}]})", "Patient.name[0].id"},
      {R"({"resourceType":"Patient","extension":[{"url":"u","_url":{"id":"m"},"valueString":"s"}]})",
       "Patient.extension[0].url"},
      {R"({"resourceType":"Patient","_birthDate":{"id":"x","foo":1},"birthDate":"2000"})", "Patient.birthDate.foo"},
      {R"({"resourceType":"Patient","_birthDate":{"extension":{"url":"u","valueString":"s"}}})",
       "Patient.birthDate.extension"},
      // A data type where a resource belongs.
      {R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"HumanName"}}]})",
       "Bundle.entry[0].resource"},
  };
  for (const fault& f : faults) {
    CAPTURE(f.json);
    e = write_fails(f.json);
    CHECK(e.code == "structure");
    CHECK(e.location == f.location);
  }
}

TEST_CASE("xml writer faults: null, empty, and code-built duplicates") {
  auto e = write_fails(R"({"resourceType":"Patient","name":[null]})");
  CHECK(e.code == "structure");
  CHECK(e.location == "Patient.name[0]");
  e = write_fails(R"({"resourceType":"Patient","name":[{"given":["A",null]}]})");
  CHECK(e.code == "invalid");
  CHECK(e.location == "Patient.name[0].given[1]");
  e = write_fails(R"({"resourceType":"Patient","name":[{"given":[null],"_given":[{"id":"only-an-id"}]}]})");
  CHECK(e.code == "invalid");
  // What FHIR JSON forbids but code can build: null outside arrays, empty
  // objects, arrays and strings, a member twice.
  json_value p = json(R"({"resourceType":"Patient"})");
  p.set("birthDate", json_value());
  CHECK(write_fails(p).location == "Patient.birthDate");
  p = json(R"({"resourceType":"Patient"})");
  p.set("name", json_value::array());
  CHECK(write_fails(p).code == "invalid");
  p.set("name", json(R"([{"given":["a"]}])"));
  p.find("name")->items()[0].set("period", json_value::object());
  e = write_fails(p);
  CHECK(e.code == "invalid");
  CHECK(e.location == "Patient.name[0].period");
  p = json(R"({"resourceType":"Patient"})");
  p.set("gender", "");
  CHECK(write_fails(p).code == "invalid");
  p = json(R"({"resourceType":"Patient","active":true})");
  p.members().push_back(json_member{"active", json_value(false)});
  e = write_fails(p);
  CHECK(e.code == "structure");
  CHECK(e.location == "Patient.active");
  p = json(R"({"resourceType":"Patient","_birthDate":{"extension":[{"url":"u","valueString":"s"}]}})");
  p.find("_birthDate")->set("extension", json_value::array());
  CHECK(write_fails(p).code == "invalid");
  p.find("_birthDate")->members().clear();
  CHECK(write_fails(p).code == "invalid");
}

TEST_CASE("xml writer faults: values that do not fit their type or XML") {
  auto e = write_fails(R"({"resourceType":"Patient","active":"true"})");
  CHECK(e.code == "invalid");
  CHECK(e.location == "Patient.active");
  e = write_fails(R"({"resourceType":"Patient","gender":1})");
  CHECK(e.code == "invalid");
  e = write_fails(R"({"resourceType":"Patient","multipleBirthInteger":"2"})");
  CHECK(e.code == "invalid");
  e = write_fails(R"({"resourceType":"Patient","multipleBirthInteger":1.5})");
  CHECK(e.code == "invalid");
  e = write_fails(R"({"resourceType":"Patient","multipleBirthInteger":1e2})");
  CHECK(e.code == "invalid");
  e = write_fails(R"({"resourceType":"Patient","photo":[{"size":-1}]})");  // unsignedInt
  CHECK(e.code == "invalid");
  CHECK(e.location == "Patient.photo[0].size");
  e = write_fails(R"({"resourceType":"Patient","active":true,"name":[{"text":"a\u0001b"}]})");
  CHECK(e.code == "invalid");
  CHECK(e.location == "Patient.name[0].text");
  e = write_fails(R"({"resourceType":"Patient","name":[{"text":"\uffff"}]})");
  CHECK(e.code == "invalid");
  e = write_fails(R"({"resourceType":"Patient","name":[{"id":"\u0000"}]})");
  CHECK(e.location == "Patient.name[0].id");
  e = write_fails(R"({"resourceType":"Patient","extension":[{"valueString":"s"}]})");
  CHECK(e.code == "invalid");
  CHECK(e.location == "Patient.extension[0]");
  // Built by code: invalid UTF-8 and number text that is not a JSON number.
  json_value p = json(R"({"resourceType":"Patient"})");
  p.set("gender", std::string("m\xff"));
  CHECK(write_fails(p).code == "invalid");
  p = json(R"({"resourceType":"Patient"})");
  for (const char* bad : {"", "01", "1.", "+1", "NaN", "1 "}) {
    CAPTURE(bad);
    p.set("multipleBirthInteger", json_value::number(bad));
    CHECK(write_fails(p).code == "invalid");
  }
}

TEST_CASE("xml writer faults: the narrative div must be well-formed XHTML") {
  const auto div_fails = [](std::string_view div) {
    json_value p = json(R"({"resourceType":"Patient","text":{"status":"generated"}})");
    p.find("text")->set("div", div);
    CAPTURE(div);
    auto r = write_fhir_xml(p, defs());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "invalid");
    CHECK(r.error().location == "Patient.text.div");
    return r.error();
  };
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml"><p>unclosed</div>)");
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml">a & b</div>)");
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml">&nbsp;</div>)");  // no DTD, no HTML entities
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml" title="&copy;"/>)");
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml">&#1;</div>)");
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml">&#x110000;</div>)");
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml">&#X41;</div>)");
  div_fails(R"(<div>no namespace</div>)");
  div_fails(R"(<div xmlns="http://hl7.org/fhir">wrong namespace</div>)");
  div_fails(R"(<p xmlns="http://www.w3.org/1999/xhtml">not a div</p>)");
  div_fails(R"(<h:div xmlns:h="http://www.w3.org/1999/xhtml">prefixed</h:div>)");
  div_fails(R"( <div xmlns="http://www.w3.org/1999/xhtml">space before</div>)");
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml">one</div><div xmlns="http://www.w3.org/1999/xhtml">two</div>)");
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml">x</div><!-- trailing comment -->)");
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml">x</div>text>)");
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml"><!DOCTYPE x></div>)");
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml"><!-- <!ENTITY x "y"> --></div>)");
  div_fails(R"(<div xmlns="http://www.w3.org/1999/xhtml" class="a" class="b"/>)");
  div_fails("<div xmlns=\"http://www.w3.org/1999/xhtml\">\x01</div>");
  div_fails("");
  json_value p = json(R"({"resourceType":"Patient","text":{"status":"generated"}})");
  p.find("text")->set("div", json_value::object());
  CHECK(write_fails(p).code == "invalid");
  p = json(R"({"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>",
      "_div":{"id":"d"}}})");
  CHECK(write_fails(p).location == "Patient.text.div");
  // Too many namespace declarations on the div (the reader bounds them).
  std::string many = R"(<div xmlns="http://www.w3.org/1999/xhtml")";
  for (int i = 0; i < 40; ++i) many += " xmlns:p" + std::to_string(i) + "=\"urn:x\"";
  many += "/>";
  p = json(R"({"resourceType":"Patient","text":{"status":"generated"}})");
  p.find("text")->set("div", many);
  CHECK(write_fails(p).code == "too-costly");
}

TEST_CASE("xml writer faults: depth is bounded, as the reader bounds it") {
  // Questionnaire.item.item...: one XML level per JSON level, built by code
  // far deeper than any JSON reader would allow.
  const auto nested = [](std::size_t levels) {
    json_value item = json(R"({"linkId":"x","type":"display"})");
    for (std::size_t i = 1; i < levels; ++i) {
      json_value outer = json(R"({"linkId":"x","type":"group"})");
      json_value items = json_value::array();
      items.push_back(std::move(item));
      outer.set("item", std::move(items));
      item = std::move(outer);
    }
    json_value q = json(R"({"resourceType":"Questionnaire","status":"draft"})");
    json_value items = json_value::array();
    items.push_back(std::move(item));
    q.set("item", std::move(items));
    return q;
  };
  auto e = write_fails(nested(5000));
  CHECK(e.code == "too-costly");
  CHECK(e.location.starts_with("Questionnaire.item[0].item[0].item[0]"));
  // Within the default limit: written and read back with default options.
  const json_value ok = nested(200);
  CHECK(round_trip(ok) == ok);

  // The writer's limit counts as the reader's does: for each limit, both
  // accept or both refuse (root 1, item n at n + 1, its linkId one deeper).
  const json_value three = nested(3);
  const std::string x = write(three);
  for (std::size_t limit = 1; limit < 8; ++limit) {
    CAPTURE(limit);
    xml_write_options wo;
    wo.max_depth = limit;
    xml_read_options ro;
    ro.max_depth = limit;
    CHECK(static_cast<bool>(write_fhir_xml(three, defs(), wo)) == static_cast<bool>(parse_fhir_xml(x, defs(), ro)));
  }
  // The XHTML inside the div counts as well.
  std::string div = R"(<div xmlns="http://www.w3.org/1999/xhtml">)";
  for (int i = 0; i < 300; ++i) div += "<b>";
  for (int i = 0; i < 300; ++i) div += "</b>";
  div += "</div>";
  json_value p = json(R"({"resourceType":"Patient","text":{"status":"generated"}})");
  p.find("text")->set("div", div);
  CHECK(write_fails(p).code == "too-costly");
  const std::string deep_div = patient_xml(R"(<text><status value="generated"/>)" + div + "</text>");
  CHECK_FALSE(parse_fhir_xml(deep_div, defs()));  // the reader agrees
}

// --- round trips over real resources ---------------------------------------------

TEST_CASE("xml writer: every XML input of the FHIRPath suite round-trips exactly") {
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(test::conformance_inputs())) {
    if (entry.path().extension() != ".xml") continue;
    CAPTURE(entry.path().filename().string());
    ++files;
    const json_value j0 = read(file_text(entry.path()));
    const std::string x1 = write(j0);
    const json_value j1 = read(x1);
    // observation-example.xml has <status> before <extension>, against the
    // order of the definitions; the writer puts it in its place.
    if (entry.path().filename() == "observation-example.xml") {
      CHECK_FALSE(j1 == j0);
      CHECK(canonical(j1) == canonical(j0));
    } else {
      CHECK(j1 == j0);
    }
    // The XML the writer gives is a fixed point.
    CHECK(write(j1) == x1);
    xml_write_options pretty;
    pretty.pretty = true;
    CHECK(read(write(j0, pretty)) == j1);
  }
  CHECK(files >= 7);
}

TEST_CASE("xml writer: JSON resources round-trip (tests/data/fhir and the suite's JSON inputs)") {
  std::vector<fs::path> paths;
  for (const fs::path& dir : {fs::path(HEARTH_TEST_DATA) / "fhir", test::conformance_inputs()}) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".json") paths.push_back(entry.path());
    }
  }
  CHECK(paths.size() >= 6);
  for (const fs::path& path : paths) {
    CAPTURE(path.filename().string());
    const json_value j0 = json(file_text(path));
    const json_value j1 = round_trip(j0);
    // The same content; the order may differ (XML follows the definitions).
    CHECK(canonical(j1) == canonical(j0));
    CHECK(round_trip(j1) == j1);
  }
}

TEST_CASE("xml writer: patient-example.xml, selected elements in the written XML") {
  const json_value p = read(file_text(test::conformance_inputs() / "patient-example.xml"));
  const std::string x = write(p);
  CHECK(x.find(R"(<birthDate value="1974-12-25"><extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime"><valueDateTime value="1974-12-25T14:35:45-05:00"/></extension></birthDate>)") !=
        std::string::npos);
  CHECK(x.find(R"(<deceasedBoolean value="false"/>)") != std::string::npos);
  CHECK(x.find(R"(<text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">)") != std::string::npos);
  CHECK(x.find(R"(<managingOrganization><reference value="Organization/1"/></managingOrganization></Patient>)") !=
        std::string::npos);
}
