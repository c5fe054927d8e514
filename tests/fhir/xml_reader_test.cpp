#include <hearth/fhir/xml_reader.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>

#include "fhir/test_support.hpp"

using namespace hearth::fhir;
namespace fs = std::filesystem;

namespace {

// The official FHIRPath test inputs (R4 examples in XML).
const fs::path inputs_dir = hearth::fhir::test::conformance_inputs();

const definitions& defs() { return hearth::fhir::test::registry(); }

std::string read_input(const char* name) {
  std::ifstream in(inputs_dir / name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing input " << name);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json_value must(std::string_view xml, const xml_read_options& o = {}) {
  auto r = parse_fhir_xml(xml, defs(), o);
  if (!r) {
    FAIL("parse failed: " << r.error().code << ": " << r.error().message << " at " << r.error().location
                          << " offset " << r.error().offset);
  }
  return std::move(r).value();
}

hearth::error fails(std::string_view xml, const xml_read_options& o = {}) {
  auto r = parse_fhir_xml(xml, defs(), o);
  REQUIRE_FALSE(r);
  return r.error();
}

json_value json(std::string_view text) {
  auto r = parse_json(text);
  REQUIRE_MESSAGE(r, "bad test JSON");
  return std::move(r).value();
}

/// A Patient wrapped around `body`.
std::string patient(std::string_view body) {
  return std::string(R"(<Patient xmlns="http://hl7.org/fhir">)") + std::string(body) + "</Patient>";
}

}  // namespace

TEST_CASE("xml: patient-example.xml") {
  const json_value p = must(read_input("patient-example.xml"));
  REQUIRE(p.is_object());
  CHECK(p.members()[0].key == "resourceType");
  CHECK(p.members()[0].value.str() == "Patient");
  CHECK(p.members()[1].key == "id");
  CHECK(p.find("id")->str() == "example");
  CHECK(p.find("active")->is_bool());
  CHECK(p.find("active")->as_bool());

  // Narrative: the whole div, with its namespace, verbatim.
  const std::string& div = p.find("text")->find("div")->str();
  CHECK(div.starts_with(R"(<div xmlns="http://www.w3.org/1999/xhtml">)"));
  CHECK(div.ends_with("</div>"));
  CHECK(div.find("<b>Chalmers</b>") != std::string::npos);
  CHECK(p.find("text")->find("status")->str() == "generated");

  // Repeating elements are arrays, even with a single occurrence.
  const json_value& names = *p.find("name");
  REQUIRE(names.is_array());
  REQUIRE(names.size() == 3);
  CHECK(names.items()[0].find("family")->str() == "Chalmers");
  REQUIRE(names.items()[0].find("given")->is_array());
  CHECK(names.items()[0].find("given")->items()[1].str() == "James");
  CHECK(names.items()[1].find("given")->items()[0].str() == "Jim");
  CHECK(p.find("identifier")->is_array());
  CHECK(p.find("identifier")->items()[0].find("type")->find("coding")->is_array());
  CHECK(p.find("identifier")->items()[0].find("period")->find("start")->str() == "2001-05-06");

  REQUIRE(p.find("telecom")->size() == 4);
  CHECK(*p.find("telecom")->items()[0].find("use") == json_value("home"));
  CHECK(p.find("telecom")->items()[1].find("value")->str() == "(03) 5555 6473");

  // birthDate with its extension as _birthDate (R4 json.html#primitive).
  CHECK(p.find("birthDate")->str() == "1974-12-25");
  CHECK(*p.find("_birthDate") == json(R"({"extension":[{
      "url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime",
      "valueDateTime":"1974-12-25T14:35:45-05:00"}]})"));
  // The JSON order follows the XML: birthDate then _birthDate.
  std::size_t at_birth = 0;
  for (std::size_t i = 0; i < p.members().size(); ++i) {
    if (p.members()[i].key == "birthDate") at_birth = i;
  }
  CHECK(p.members()[at_birth + 1].key == "_birthDate");

  // A choice element named by its type; boolean as a JSON boolean.
  REQUIRE(p.find("deceasedBoolean") != nullptr);
  CHECK(*p.find("deceasedBoolean") == json_value(false));

  // Backbone element Patient.contact, with nested complex types.
  const json_value& contact = p.find("contact")->items()[0];
  CHECK(contact.find("relationship")->items()[0].find("coding")->items()[0].find("code")->str() == "N");
  CHECK(p.find("managingOrganization")->find("reference")->str() == "Organization/1");
}

TEST_CASE("xml: patient-example.xml gives the JSON of the R4 spec for identifier and name") {
  const json_value p = must(read_input("patient-example.xml"));
  // From the R4 patient-example.json.
  CHECK(p.find("identifier")->items()[0] == json(R"({"use":"usual","type":{"coding":[{
      "system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},
      "system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345",
      "period":{"start":"2001-05-06"},"assigner":{"display":"Acme Healthcare"}})"));
  CHECK(*p.find("name") == json(R"([
      {"use":"official","family":"Chalmers","given":["Peter","James"]},
      {"use":"usual","given":["Jim"]},
      {"use":"maiden","family":"Windsor","given":["Peter","James"],"period":{"end":"2002"}}])"));
}

TEST_CASE("xml: patient-example-period.xml: extension on a primitive, character references") {
  const json_value p = must(read_input("patient-example-period.xml"));
  REQUIRE(p.find("contact")->size() == 1);
  const json_value& name = *p.find("contact")->items()[0].find("name");  // max 1: an object
  CHECK(name.find("family")->str() == "du March\xC3\xA9");
  CHECK(*name.find("_family") == json(R"({"extension":[{
      "url":"http://hl7.org/fhir/StructureDefinition/humanname-own-prefix","valueString":"VV"}]})"));
  CHECK(name.find("given")->items()[0].str() == "B\xC3\xA9n\xC3\xA9" "dicte");
}

TEST_CASE("xml: observation-example.xml: valueQuantity, exact numbers") {
  const json_value o = must(read_input("observation-example.xml"));
  CHECK(o.find("resourceType")->str() == "Observation");
  CHECK(o.find("status")->str() == "final");
  const json_value& q = *o.find("valueQuantity");
  REQUIRE(q.find("value")->is_number());
  CHECK(q.find("value")->number_text() == "185");
  CHECK(q == json(R"({"value":185,"unit":"lbs","system":"http://unitsofmeasure.org","code":"[lb_av]"})"));
  CHECK(o.find("category")->is_array());
  CHECK(o.find("code")->find("coding")->size() == 4);
  CHECK(o.find("subject")->find("reference")->str() == "Patient/example");
  CHECK(o.find("effectiveDateTime")->str() == "2016-03-28");
  // &#39; in the narrative is read and written back as a plain quote.
  const std::string& div = o.find("text")->find("div")->str();
  CHECK(div.find("code 'vital-signs'") != std::string::npos);
}

TEST_CASE("xml: questionnaire-example.xml: nested items through the content reference") {
  const json_value q = must(read_input("questionnaire-example.xml"));
  const json_value& item = q.find("item")->items()[0];
  CHECK(item.find("linkId")->str() == "1");
  const json_value& i11 = item.find("item")->items()[0];
  CHECK(i11.find("linkId")->str() == "1.1");
  const json_value& i111 = i11.find("item")->items()[0];
  CHECK(i111.find("linkId")->str() == "1.1.1");
  CHECK(i111.find("item")->items()[0].find("item")->items()[1].find("linkId")->str() == "1.1.1.1.2");
}

TEST_CASE("xml: valueset, codesystem and parameters examples convert") {
  const json_value vs = must(read_input("valueset-example-expansion.xml"));
  CHECK(vs.find("resourceType")->str() == "ValueSet");
  const json_value& exp = *vs.find("expansion");
  CHECK(exp.find("total")->number_text() == "8");
  CHECK(exp.find("offset")->number_text() == "0");
  CHECK(exp.find("contains")->is_array());
  CHECK(exp.find("parameter")->is_array());

  const json_value cs = must(read_input("codesystem-example.xml"));
  CHECK(cs.find("resourceType")->str() == "CodeSystem");
  CHECK(cs.find("concept")->size() >= 3);
  CHECK(cs.find("concept")->items()[0].find("code")->str() == "chol-mass");  // sic in the example

  const json_value pa = must(read_input("parameters-example-types.xml"));
  CHECK(pa == json(R"({"resourceType":"Parameters","id":"example-types","parameter":[
      {"name":"string","valueString":"string"},
      {"name":"integer","valueInteger":1},
      {"name":"uuid","valueUuid":"urn:uuid:79a14950-442c-11ed-b878-0242ac120002"},
      {"name":"decimal","valueDecimal":1.0}]})"));
  CHECK(pa.find("parameter")->items()[3].find("valueDecimal")->number_text() == "1.0");
}

TEST_CASE("xml: repeating primitives with ids and extensions line up with nulls") {
  const json_value p = must(patient(R"(<name>
      <given value="A"/>
      <given id="g2"><extension url="http://x/e"><valueCode value="c"/></extension></given>
      <given value="C"/>
    </name>)"));
  CHECK(*p.find("name") == json(R"([{"given":["A",null,"C"],
      "_given":[null,{"id":"g2","extension":[{"url":"http://x/e","valueCode":"c"}]},null]}])"));
}

TEST_CASE("xml: contained resources, element ids, extensions with url attributes") {
  const json_value p = must(patient(R"(
    <id value="p1"/>
    <contained><Organization><id value="o1"/><name value="Acme"/></Organization></contained>
    <extension url="http://x/ext"><valueDecimal value="1.50"/></extension>
    <name id="n1"><family value="F"/></name>
    <managingOrganization><reference value="#o1"/></managingOrganization>)"));
  CHECK(p == json(R"({"resourceType":"Patient","id":"p1",
      "contained":[{"resourceType":"Organization","id":"o1","name":"Acme"}],
      "extension":[{"url":"http://x/ext","valueDecimal":1.50}],
      "name":[{"id":"n1","family":"F"}],
      "managingOrganization":{"reference":"#o1"}})"));
}

TEST_CASE("xml: Bundle entries hold resources; a prefixed FHIR namespace is the same namespace") {
  const json_value b = must(R"(<?xml version="1.0" encoding="UTF-8"?>
    <f:Bundle xmlns:f="http://hl7.org/fhir"><f:type value="collection"/>
      <f:entry><f:fullUrl value="urn:uuid:1"/><f:resource><f:Patient><f:active value="false"/></f:Patient></f:resource></f:entry>
      <f:entry><f:resource><Observation xmlns="http://hl7.org/fhir"><status value="final"/>
        <code><text value="t"/></code><valueInteger value="-3"/></Observation></f:resource></f:entry>
    </f:Bundle>)");
  CHECK(b == json(R"({"resourceType":"Bundle","type":"collection","entry":[
      {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","active":false}},
      {"resource":{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueInteger":-3}}]})"));
}

TEST_CASE("xml: a UTF-8 byte order mark is accepted") {
  const json_value p = must("\xEF\xBB\xBF" + patient(R"(<active value="true"/>)"));
  CHECK(p.find("active")->as_bool());
}

TEST_CASE("xml faults: DOCTYPE and ENTITY are rejected") {
  auto e = fails(R"(<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY x "y">]><Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>)");
  CHECK(e.code == "structure");
  CHECK(e.message.find("DOCTYPE") != std::string::npos);
  CHECK(e.offset == 21);
  e = fails(R"(<!DOCTYPE Patient SYSTEM "file:///etc/passwd"><Patient xmlns="http://hl7.org/fhir"/>)");
  CHECK(e.code == "structure");
  e = fails(patient(R"(<!--x--><!ENTITY a "b"><active value="true"/>)"));
  CHECK(e.code == "structure");
  // An undeclared entity reference is never left as text.
  e = fails(patient(R"(<id value="&xxe;"/>)"));
  CHECK(e.code == "structure");
  e = fails(patient(R"(<id value="&#0;"/>)"));
  CHECK(e.code == "structure");
}

TEST_CASE("xml faults: namespaces, unknown elements, wrong root") {
  auto e = fails(R"(<Patient><active value="true"/></Patient>)");
  CHECK(e.code == "structure");
  CHECK(e.location == "");
  e = fails(R"(<Patient xmlns="http://hl7.org/fhir"><x:active xmlns:x="urn:other" value="true"/></Patient>)");
  CHECK(e.code == "structure");
  CHECK(e.location == "Patient.active");
  e = fails(patient(R"(<name><given value="a"/></name><name><given value="b"/><nickname value="c"/></name>)"));
  CHECK(e.code == "structure");
  CHECK(e.message.find("unknown element") != std::string::npos);
  CHECK(e.location == "Patient.name[1].nickname");
  CHECK(e.message.find("nickname") == std::string::npos);  // never quotes input
  e = fails(R"(<Quantity xmlns="http://hl7.org/fhir"><value value="1"/></Quantity>)");
  CHECK(e.code == "structure");
  e = fails(patient(R"(<active value="true"/><active value="false"/>)"));
  CHECK(e.location == "Patient.active");
  e = fails(patient(R"(<deceasedBoolean value="true"/><deceasedDateTime value="2020"/>)"));
  CHECK(e.code == "structure");
  e = fails(patient(R"(<name><id value="x"/></name>)"));  // Element.id is an attribute
  CHECK(e.location == "Patient.name[0].id");
  e = fails(patient(R"(<text><status value="generated"/><div>x</div></text>)"));
  CHECK(e.location == "Patient.text.div");
  e = fails(patient(R"(<active value="true">text</active>)"));
  CHECK(e.code == "structure");
  e = fails(patient(R"(<contained><Organization><name value="a"/></Organization><Organization><name value="b"/></Organization></contained>)"));
  CHECK(e.location == "Patient.contained[0]");
  e = fails(patient(R"(<extension><valueString value="a"/></extension>)"));
  CHECK(e.code == "invalid");
  // Duplicate attributes (pugixml accepts them; XML 1.0 section 3.1 does not).
  e = fails(patient(R"(<active value="true" value="false"/>)"));
  CHECK(e.code == "structure");
  CHECK(e.location == "Patient.active");
  e = fails(patient(R"(<name id="a" id="b"><family value="F"/></name>)"));
  CHECK(e.code == "structure");
  e = fails(R"(<Patient xmlns="http://hl7.org/fhir" xmlns="http://hl7.org/fhir"/>)");
  CHECK(e.code == "structure");
  // An unbound prefix and an undeclared default are not the FHIR namespace.
  e = fails(patient(R"(<f:active value="true"/>)"));
  CHECK(e.location == "Patient.active");
  e = fails(patient(R"(<active xmlns="" value="true"/>)"));
  CHECK(e.location == "Patient.active");
}

TEST_CASE("xml faults: values must fit their type") {
  auto e = fails(patient(R"(<active value="yes"/>)"));
  CHECK(e.code == "invalid");
  CHECK(e.location == "Patient.active");
  CHECK(e.offset == std::string_view(R"(<Patient xmlns="http://hl7.org/fhir">)").size());
  for (const char* bad : {"01", "1.", ".5", "+1", "1e", "NaN", "0x10", " 1", "1 "}) {
    CAPTURE(bad);
    e = fails(std::string(R"(<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="t"/></code><valueQuantity><value value=")") +
              bad + R"("/></valueQuantity></Observation>)");
    CHECK(e.code == "invalid");
    CHECK(e.location == "Observation.valueQuantity.value");
  }
  e = fails(patient(R"(<multipleBirthInteger value="1.5"/>)"));
  CHECK(e.code == "invalid");
  e = fails(patient(R"(<active value=""/>)"));
  CHECK(e.code == "invalid");
  e = fails(patient(R"(<active/>)"));
  CHECK(e.code == "invalid");
  e = fails(patient(R"(<name></name>)"));
  CHECK(e.code == "invalid");
}

TEST_CASE("xml faults: truncated at every length never crashes and always fails") {
  // The point of this case is robustness: every prefix must give an error.
  const std::string doc = read_input("observation-example.xml");
  const std::string small = patient(R"(<id value="a"/><name id="n"><given value="B&amp;C"><extension url="u"><valueString value="s"/></extension></given></name><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></text>)");
  REQUIRE(parse_fhir_xml(small, defs()));
  for (std::size_t n = 0; n < small.size(); ++n) {
    auto r = parse_fhir_xml(std::string_view(small).substr(0, n), defs());
    CHECK_FALSE(r);
  }
  for (std::size_t n = 0; n < doc.size(); n += 7) {
    auto r = parse_fhir_xml(std::string_view(doc).substr(0, n), defs());
    if (r) CHECK(n > doc.find("</Observation>"));
  }
}

TEST_CASE("xml faults: limits") {
  std::string deep = R"(<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">)";
  for (int i = 0; i < 100000; ++i) deep += "<b>";
  auto e = fails(deep);  // malformed, but the depth must not matter to the parser
  CHECK(e.code == "structure");
  for (int i = 0; i < 100000; ++i) deep += "</b>";
  deep += "</div></text></Patient>";
  e = fails(deep);
  CHECK(e.code == "too-costly");

  xml_read_options o;
  o.max_depth = 3;
  CHECK(parse_fhir_xml(patient(R"(<name><given value="a"/></name>)"), defs(), o));
  e = fails(patient(R"(<name><period><start value="2020"/></period></name>)"), o);
  CHECK(e.code == "too-costly");

  // Namespace declarations in scope are bounded (each lookup walks them).
  std::string many = R"(<Patient xmlns="http://hl7.org/fhir")";
  for (int i = 0; i < 100; ++i) many += " xmlns:p" + std::to_string(i) + "=\"urn:x\"";
  many += R"(><active value="true"/></Patient>)";
  e = fails(many);
  CHECK(e.code == "too-costly");

  o = {};
  o.max_bytes = 40;
  e = fails(patient(R"(<active value="true"/>)"), o);
  CHECK(e.code == "too-costly");
}

TEST_CASE("xml faults: malformed XML reports an offset") {
  auto e = fails(R"(<Patient xmlns="http://hl7.org/fhir"><active value="true"></Patient>)");
  CHECK(e.code == "structure");
  CHECK(e.offset != hearth::error::npos);
  e = fails(std::string("<Patient xmlns=\"http://hl7.org/fhir\"><active value=\"t\xff\"/></Patient>"));
  CHECK(e.code == "structure");
  CHECK(e.offset == 53);
  e = fails(patient("<active value=\"true\"/>") + "<Patient/>");
  CHECK(e.code == "structure");
  e = fails("");
  CHECK(e.code == "structure");
}

TEST_CASE("xml: a number beyond what FHIR JSON accepts is refused, as parse_json refuses it (found by the fuzzer)") {
  const std::string head = R"(<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="x"/></code><valueQuantity><value value=")";
  const std::string tail = R"("/></valueQuantity></Observation>)";
  auto e = fails(head + "5e55555555" + tail);
  CHECK(e.code == "invalid");
  CHECK(e.location == "Observation.valueQuantity.value");
  // Large but representable, and tiny numbers, keep their exact text.
  CHECK(must(head + "1.50e300" + tail).find("valueQuantity")->find("value")->number_text() == "1.50e300");
  CHECK(must(head + "1e-400" + tail).find("valueQuantity")->find("value")->number_text() == "1e-400");
  CHECK(parse_json(R"({"resourceType":"Basic","code":{"text":"x"},"extension":[{"url":"http://x","valueDecimal":1e-400}]})"));
}
