#include <hearth/store/search_request.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "index_test_support.hpp"

using namespace hearth::store;
using hearth::store::test::registry;

namespace {

using query = std::vector<std::pair<std::string, std::string>>;

hearth::result<search_request> parse(std::string_view type, const query& q,
                                     search_handling handling = search_handling::strict,
                                     std::optional<search_compartment> compartment = std::nullopt) {
  return parse_search(registry(), type, q, handling, std::move(compartment));
}

/// The error code of a parse, "" when it succeeds.
std::string error_of(std::string_view type, const query& q, search_handling handling = search_handling::strict) {
  auto r = parse(type, q, handling);
  return r ? std::string() : r.error().code;
}

/// The single criterion of a successful parse with one parameter.
search_criterion one(std::string_view type, std::string name, std::string value) {
  auto r = parse(type, {{std::move(name), std::move(value)}});
  REQUIRE_MESSAGE(r, (r ? std::string() : r.error().message));
  REQUIRE(r->criteria.size() == 1);
  return r->criteria.front();
}

using parts = std::vector<std::string>;

bool has_type(const std::vector<std::string>& types, std::string_view t) {
  return std::find(types.begin(), types.end(), t) != types.end();
}

}  // namespace

TEST_CASE("search parse: to_string of prefixes and modifiers") {
  CHECK(to_string(search_prefix::eq) == "eq");
  CHECK(to_string(search_prefix::ne) == "ne");
  CHECK(to_string(search_prefix::gt) == "gt");
  CHECK(to_string(search_prefix::lt) == "lt");
  CHECK(to_string(search_prefix::ge) == "ge");
  CHECK(to_string(search_prefix::le) == "le");
  CHECK(to_string(search_prefix::sa) == "sa");
  CHECK(to_string(search_prefix::eb) == "eb");
  CHECK(to_string(search_prefix::ap) == "ap");
  CHECK(to_string(search_modifier::none).empty());
  CHECK(to_string(search_modifier::missing) == "missing");
  CHECK(to_string(search_modifier::exact) == "exact");
  CHECK(to_string(search_modifier::contains) == "contains");
  CHECK(to_string(search_modifier::text) == "text");
  CHECK(to_string(search_modifier::not_) == "not");
  CHECK(to_string(search_modifier::above) == "above");
  CHECK(to_string(search_modifier::below) == "below");
  CHECK(to_string(search_modifier::in) == "in");
  CHECK(to_string(search_modifier::not_in) == "not-in");
  CHECK(to_string(search_modifier::of_type) == "of-type");
  CHECK(to_string(search_modifier::identifier) == "identifier");
  CHECK(to_string(search_modifier::type) == "type");
}

TEST_CASE("search parse: a plain parameter keeps its name, raw value and definition") {
  auto r = parse("Patient", {{"name", "Smith"}});
  REQUIRE(r);
  CHECK(r->type == "Patient");
  REQUIRE(r->criteria.size() == 1);
  const search_criterion& c = r->criteria[0];
  CHECK(c.name == "name");
  CHECK(c.raw_value == "Smith");
  CHECK(c.path.empty());
  REQUIRE(c.param != nullptr);
  CHECK(c.param == registry().find_search_parameter("Patient", "name"));
  CHECK(c.modifier == search_modifier::none);
  CHECK(c.modifier_type.empty());
  REQUIRE(c.values.size() == 1);
  CHECK(c.values[0].parts == parts{"Smith"});
  CHECK(c.values[0].prefix == search_prefix::eq);
  CHECK(c.values[0].components.empty());
  // The defaults of the result parameters.
  CHECK(r->count == search_request::default_count);
  CHECK(r->total == search_total::none);
  CHECK(r->summary == search_summary::none);
  CHECK(r->sort.empty());
  CHECK(r->includes.empty());
  CHECK(r->revincludes.empty());
  CHECK(r->list_id.empty());
  CHECK(r->cursor.empty());
  CHECK(r->elements.empty());
  CHECK(r->ignored.empty());
  CHECK_FALSE(r->compartment);
}

TEST_CASE("search parse: commas are OR, a repeated name is AND, in order") {
  auto r = parse("Patient", {{"given", "Peter,James"}, {"family", "Chalmers"}, {"given", "Jim"}});
  REQUIRE(r);
  REQUIRE(r->criteria.size() == 3);
  CHECK(r->criteria[0].name == "given");
  REQUIRE(r->criteria[0].values.size() == 2);
  CHECK(r->criteria[0].values[0].parts == parts{"Peter"});
  CHECK(r->criteria[0].values[1].parts == parts{"James"});
  CHECK(r->criteria[0].raw_value == "Peter,James");
  CHECK(r->criteria[1].name == "family");
  CHECK(r->criteria[2].values[0].parts == parts{"Jim"});
}

TEST_CASE("search parse: escapes are resolved after splitting (search.html#escaping)") {
  // \, is a comma inside one value, not an OR.
  auto c = one("Patient", "name", R"(Smith\, John)");
  REQUIRE(c.values.size() == 1);
  CHECK(c.values[0].parts == parts{"Smith, John"});
  CHECK(c.raw_value == R"(Smith\, John)");

  // \\ is a backslash; the comma after it separates values.
  c = one("Patient", "name", R"(a\\,b)");
  REQUIRE(c.values.size() == 2);
  CHECK(c.values[0].parts == parts{R"(a\)"});
  CHECK(c.values[1].parts == parts{"b"});

  // \| and \$ in a string are plain characters.
  c = one("Patient", "name", R"(a\|b\$c)");
  CHECK(c.values[0].parts == parts{"a|b$c"});

  // A token splits at unescaped '|' only.
  c = one("Patient", "identifier", R"(urn:sys\|x|12\,3)");
  REQUIRE(c.values.size() == 1);
  CHECK(c.values[0].parts == parts{"urn:sys|x", "12,3"});

  // A backslash before any other character, or at the end, is kept as written.
  c = one("Patient", "name", R"(C:\temp\n)");
  CHECK(c.values[0].parts == parts{R"(C:\temp\n)"});
  c = one("Patient", "name", R"(end\)");
  CHECK(c.values[0].parts == parts{R"(end\)"});
  c = one("Patient", "identifier", R"(sys|a\b)");
  CHECK(c.values[0].parts == parts{"sys", R"(a\b)"});
}

TEST_CASE("search parse: string and uri values keep '|' as text") {
  auto c = one("Patient", "name", "a|b");
  CHECK(c.values[0].parts == parts{"a|b"});
  c = one("ValueSet", "url", "http://hl7.org/fhir/ValueSet/example|4.0.1");
  CHECK(c.values[0].parts == parts{"http://hl7.org/fhir/ValueSet/example|4.0.1"});
  c = one("ValueSet", "url:below", "http://hl7.org/fhir/ValueSet");
  CHECK(c.modifier == search_modifier::below);
  CHECK(c.values[0].parts == parts{"http://hl7.org/fhir/ValueSet"});
  c = one("ValueSet", "url:above", "http://hl7.org/fhir/ValueSet/a/b");
  CHECK(c.modifier == search_modifier::above);
}

TEST_CASE("search parse: date prefixes") {
  const std::pair<const char*, search_prefix> all[] = {
      {"eq", search_prefix::eq}, {"ne", search_prefix::ne}, {"gt", search_prefix::gt},
      {"lt", search_prefix::lt}, {"ge", search_prefix::ge}, {"le", search_prefix::le},
      {"sa", search_prefix::sa}, {"eb", search_prefix::eb}, {"ap", search_prefix::ap},
  };
  for (const auto& entry : all) {
    const char* text = entry.first;
    CAPTURE(text);
    auto c = one("Patient", "birthdate", std::string(text) + "2020-01-02");
    CHECK(c.values[0].prefix == entry.second);
    CHECK(c.values[0].parts == parts{"2020-01-02"});
  }
  auto c = one("Patient", "birthdate", "1970");
  CHECK(c.values[0].prefix == search_prefix::eq);
  CHECK(c.values[0].parts == parts{"1970"});
  c = one("Observation", "date", "ge2020-01-01T10:00:00Z,lt2020-02");
  REQUIRE(c.values.size() == 2);
  CHECK(c.values[0].prefix == search_prefix::ge);
  CHECK(c.values[0].parts == parts{"2020-01-01T10:00:00Z"});
  CHECK(c.values[1].prefix == search_prefix::lt);
  CHECK(c.values[1].parts == parts{"2020-02"});
  c = one("Patient", "_lastUpdated", "gt2024-05-01T00:00:00+02:00");
  CHECK(c.values[0].prefix == search_prefix::gt);

  // Not a prefix (no digit after the letters), not a date either.
  CHECK(error_of("Patient", {{"birthdate", "ge"}}) == "invalid");
  CHECK(error_of("Patient", {{"birthdate", "ge-2020"}}) == "invalid");
  CHECK(error_of("Patient", {{"birthdate", "GE2020"}}) == "invalid");
  CHECK(error_of("Patient", {{"birthdate", "xx2020"}}) == "invalid");
  CHECK(error_of("Patient", {{"birthdate", "2021-02-29"}}) == "invalid");
  CHECK(error_of("Patient", {{"birthdate", "2020-13"}}) == "invalid");
  CHECK(error_of("Patient", {{"birthdate", "yesterday"}}) == "invalid");
  CHECK(error_of("Patient", {{"birthdate", "2020-01-01,bad"}}) == "invalid");
}

TEST_CASE("search parse: number prefixes and values") {
  auto c = one("RiskAssessment", "probability", "gt0.8");
  CHECK(c.values[0].prefix == search_prefix::gt);
  CHECK(c.values[0].parts == parts{"0.8"});
  c = one("RiskAssessment", "probability", "-1");
  CHECK(c.values[0].prefix == search_prefix::eq);
  CHECK(c.values[0].parts == parts{"-1"});
  c = one("RiskAssessment", "probability", "ne-1.50");
  CHECK(c.values[0].prefix == search_prefix::ne);
  CHECK(c.values[0].parts == parts{"-1.50"});
  c = one("RiskAssessment", "probability", "ap1e2,100");
  REQUIRE(c.values.size() == 2);
  CHECK(c.values[0].prefix == search_prefix::ap);
  CHECK(c.values[0].parts == parts{"1e2"});
  CHECK(c.values[1].parts == parts{"100"});

  CHECK(error_of("RiskAssessment", {{"probability", "gtx"}}) == "invalid");
  CHECK(error_of("RiskAssessment", {{"probability", "GT5"}}) == "invalid");
  CHECK(error_of("RiskAssessment", {{"probability", "1.2.3"}}) == "invalid");
  CHECK(error_of("RiskAssessment", {{"probability", "5|x"}}) == "invalid");  // one part only
  CHECK(error_of("RiskAssessment", {{"probability", "gt"}}) == "invalid");
}

TEST_CASE("search parse: quantity forms") {
  auto c = one("Observation", "value-quantity", "le5.4|http://unitsofmeasure.org|mg");
  CHECK(c.values[0].prefix == search_prefix::le);
  CHECK(c.values[0].parts == parts{"5.4", "http://unitsofmeasure.org", "mg"});
  c = one("Observation", "value-quantity", "5.4||mg");
  CHECK(c.values[0].prefix == search_prefix::eq);
  CHECK(c.values[0].parts == parts{"5.4", "", "mg"});
  c = one("Observation", "value-quantity", "5.4");
  CHECK(c.values[0].parts == parts{"5.4"});
  c = one("Observation", "value-quantity", "lt-3||Cel");
  CHECK(c.values[0].prefix == search_prefix::lt);
  CHECK(c.values[0].parts == parts{"-3", "", "Cel"});

  CHECK(error_of("Observation", {{"value-quantity", "5.4|mg"}}) == "invalid");       // two parts
  CHECK(error_of("Observation", {{"value-quantity", "5.4|s|mg|x"}}) == "invalid");   // four parts
  CHECK(error_of("Observation", {{"value-quantity", "x|s|mg"}}) == "invalid");       // not a number
  CHECK(error_of("Observation", {{"value-quantity", "|s|mg"}}) == "invalid");        // no number
  CHECK(error_of("Observation", {{"value-quantity", "gtx||mg"}}) == "invalid");
}

TEST_CASE("search parse: token forms") {
  auto c = one("Patient", "gender", "male");
  CHECK(c.values[0].parts == parts{"male"});
  c = one("Patient", "identifier", "http://example.org/mrn|123");
  CHECK(c.values[0].parts == parts{"http://example.org/mrn", "123"});
  c = one("Patient", "identifier", "|123");
  CHECK(c.values[0].parts == parts{"", "123"});
  c = one("Patient", "identifier", "http://example.org/mrn|");
  CHECK(c.values[0].parts == parts{"http://example.org/mrn", ""});
  c = one("Observation", "code:not", "http://loinc.org|1234-5");
  CHECK(c.modifier == search_modifier::not_);
  CHECK(c.values[0].parts == parts{"http://loinc.org", "1234-5"});
  // :above / :below take a concept, [system]|[code].
  c = one("Observation", "code:below", "http://snomed.info/sct|235862008");
  CHECK(c.modifier == search_modifier::below);
  CHECK(c.values[0].parts == parts{"http://snomed.info/sct", "235862008"});
  c = one("Observation", "code:above", "http://snomed.info/sct|235862008");
  CHECK(c.modifier == search_modifier::above);
  // :text, :in, :not-in take one part, '|' included.
  c = one("Observation", "code:text", "blood|pressure");
  CHECK(c.modifier == search_modifier::text);
  CHECK(c.values[0].parts == parts{"blood|pressure"});
  c = one("Observation", "code:in", "http://hl7.org/fhir/ValueSet/observation-codes");
  CHECK(c.modifier == search_modifier::in);
  CHECK(c.values[0].parts == parts{"http://hl7.org/fhir/ValueSet/observation-codes"});
  c = one("Observation", "code:not-in", "http://example.org/vs|1.0");
  CHECK(c.modifier == search_modifier::not_in);
  CHECK(c.values[0].parts == parts{"http://example.org/vs|1.0"});
  // :of-type: exactly system|code|value, code and value present.
  c = one("Patient", "identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053");
  CHECK(c.modifier == search_modifier::of_type);
  CHECK(c.values[0].parts == parts{"http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "446053"});

  CHECK(error_of("Patient", {{"identifier", "a|b|c"}}) == "invalid");
  CHECK(error_of("Patient", {{"identifier", "|"}}) == "invalid");
  CHECK(error_of("Patient", {{"identifier:of-type", "sys|MR"}}) == "invalid");
  CHECK(error_of("Patient", {{"identifier:of-type", "sys|MR|1|2"}}) == "invalid");
  CHECK(error_of("Patient", {{"identifier:of-type", "sys||446053"}}) == "invalid");
  CHECK(error_of("Patient", {{"identifier:of-type", "sys|MR|"}}) == "invalid");
}

TEST_CASE("search parse: reference forms") {
  auto c = one("Observation", "subject", "Patient/123");
  CHECK(c.values[0].parts == parts{"Patient/123"});
  c = one("Observation", "subject", "123");
  CHECK(c.values[0].parts == parts{"123"});
  c = one("Observation", "subject", "http://example.org/fhir/Patient/123");
  CHECK(c.values[0].parts == parts{"http://example.org/fhir/Patient/123"});
  c = one("QuestionnaireResponse", "questionnaire", "http://example.org/Questionnaire/q|2.0");
  CHECK(c.values[0].parts == parts{"http://example.org/Questionnaire/q", "2.0"});
  // :[type]
  c = one("Observation", "subject:Patient", "123");
  CHECK(c.modifier == search_modifier::type);
  CHECK(c.modifier_type == "Patient");
  CHECK(c.values[0].parts == parts{"123"});
  // :identifier
  c = one("Observation", "subject:identifier", "http://example.org/mrn|12345");
  CHECK(c.modifier == search_modifier::identifier);
  CHECK(c.modifier_type.empty());
  CHECK(c.values[0].parts == parts{"http://example.org/mrn", "12345"});
  c = one("Observation", "subject:identifier", "12345");
  CHECK(c.values[0].parts == parts{"12345"});

  CHECK(error_of("Observation", {{"subject", "a|b|c"}}) == "invalid");
  CHECK(error_of("Observation", {{"subject", "|1.0"}}) == "invalid");
  CHECK(error_of("Observation", {{"subject:identifier", "sys|"}}) == "invalid");
  // A resource type the parameter cannot reference: matches nothing, a client error.
  CHECK(error_of("Observation", {{"subject:Medication", "1"}}) == "invalid");
}

TEST_CASE("search parse: string modifiers and unsupported modifiers") {
  auto c = one("Patient", "name:exact", "Eve");
  CHECK(c.modifier == search_modifier::exact);
  CHECK(c.name == "name:exact");
  c = one("Patient", "family:contains", "son");
  CHECK(c.modifier == search_modifier::contains);

  for (const char* name : {"name:text", "birthdate:exact", "gender:contains", "subject:above", "value-quantity:not",
                           "name:", "code:foo", "subject:Foo", "code:Patient"}) {
    CAPTURE(name);
    const std::string type = std::string_view(name).starts_with("name") ? "Patient"
                             : std::string_view(name).starts_with("birthdate") ? "Patient"
                             : std::string_view(name).starts_with("gender") ? "Patient"
                                                                             : "Observation";
    auto strict = parse(type, {{name, "x"}});
    REQUIRE_FALSE(strict);
    CHECK(strict.error().code == "not-supported");
    CHECK(strict.error().location == name);
    auto lenient = parse(type, {{name, "x"}}, search_handling::lenient);
    REQUIRE(lenient);
    CHECK(lenient->criteria.empty());
    REQUIRE(lenient->ignored.size() == 1);
    CHECK(lenient->ignored[0].name == name);
    CHECK_FALSE(lenient->ignored[0].reason.empty());
  }
}

TEST_CASE("search parse: :missing takes true or false on every type") {
  auto c = one("Patient", "birthdate:missing", "true");
  CHECK(c.modifier == search_modifier::missing);
  CHECK(c.values[0].parts == parts{"true"});
  CHECK(c.values[0].prefix == search_prefix::eq);
  c = one("Observation", "subject:missing", "false");
  CHECK(c.values[0].parts == parts{"false"});
  c = one("Observation", "code-value-quantity:missing", "true");
  CHECK(c.values[0].components.empty());
  CHECK(one("Observation", "value-quantity:missing", "true").values[0].parts == parts{"true"});
  CHECK(one("Patient", "name:missing", "false").values[0].parts == parts{"false"});

  for (const char* bad : {"yes", "TRUE", "1", "true,maybe"}) {
    CAPTURE(bad);
    CHECK(error_of("Patient", {{"gender:missing", bad}}) == "invalid");
    CHECK(error_of("Patient", {{"gender:missing", bad}}, search_handling::lenient) == "invalid");
  }
}

TEST_CASE("search parse: composite values split at '$' into typed components") {
  auto c = one("Observation", "code-value-quantity",
               "http://loinc.org|8480-6$gt100|http://unitsofmeasure.org|mm[Hg],http://loinc.org|8462-4$lt90");
  REQUIRE(c.values.size() == 2);
  const search_value& v = c.values[0];
  CHECK(v.parts.empty());
  CHECK(v.prefix == search_prefix::eq);
  REQUIRE(v.components.size() == 2);
  CHECK(v.components[0].parts == parts{"http://loinc.org", "8480-6"});
  CHECK(v.components[0].prefix == search_prefix::eq);
  CHECK(v.components[1].prefix == search_prefix::gt);
  CHECK(v.components[1].parts == parts{"100", "http://unitsofmeasure.org", "mm[Hg]"});
  REQUIRE(c.values[1].components.size() == 2);
  CHECK(c.values[1].components[1].prefix == search_prefix::lt);
  CHECK(c.values[1].components[1].parts == parts{"90"});

  // An escaped '$' stays inside its component.
  c = one("Observation", "code-value-quantity", R"(a\$b$5)");
  REQUIRE(c.values[0].components.size() == 2);
  CHECK(c.values[0].components[0].parts == parts{"a$b"});

  CHECK(error_of("Observation", {{"code-value-quantity", "http://loinc.org|8480-6"}}) == "invalid");
  CHECK(error_of("Observation", {{"code-value-quantity", "a$1$2"}}) == "invalid");
  CHECK(error_of("Observation", {{"code-value-quantity", "a$x"}}) == "invalid");
  CHECK(error_of("Observation", {{"code-value-quantity", "$5"}}) == "invalid");
  CHECK(error_of("Observation", {{"code-value-quantity", "a|b|c$5"}}) == "invalid");
}

TEST_CASE("search parse: chains follow reference parameters") {
  auto c = one("Observation", "subject:Patient.name", "peter");
  REQUIRE(c.path.size() == 1);
  CHECK(c.path[0].dir == search_step::direction::forward);
  CHECK(c.path[0].param == registry().find_search_parameter("Observation", "subject"));
  CHECK(c.path[0].types == std::vector<std::string>{"Patient"});
  CHECK(c.param == registry().find_search_parameter("Patient", "name"));
  CHECK(c.modifier == search_modifier::none);
  CHECK(c.name == "subject:Patient.name");

  // Without a type: every target type that has the next parameter.
  c = one("Observation", "subject.name", "peter");
  REQUIRE(c.path.size() == 1);
  CHECK(has_type(c.path[0].types, "Patient"));
  CHECK(has_type(c.path[0].types, "Location"));
  CHECK_FALSE(has_type(c.path[0].types, "Group"));   // Group has no name parameter
  CHECK_FALSE(has_type(c.path[0].types, "Device"));  // nor Device
  CHECK(c.param->code == "name");
  CHECK(c.param->type == hearth::fhir::search_param_type::string);

  c = one("Patient", "general-practitioner.name", "Smith");
  CHECK(has_type(c.path[0].types, "Practitioner"));
  CHECK(has_type(c.path[0].types, "Organization"));
  CHECK_FALSE(has_type(c.path[0].types, "PractitionerRole"));

  // Two links; a modifier on the last one; a value checked by the last type.
  c = one("Observation", "subject:Patient.organization.name:exact", "Acme");
  REQUIRE(c.path.size() == 2);
  CHECK(c.path[1].param == registry().find_search_parameter("Patient", "organization"));
  CHECK(c.path[1].types == std::vector<std::string>{"Organization"});
  CHECK(c.param == registry().find_search_parameter("Organization", "name"));
  CHECK(c.modifier == search_modifier::exact);
  c = one("Encounter", "subject:Patient.birthdate", "ge2000");
  CHECK(c.values[0].prefix == search_prefix::ge);
  CHECK(error_of("Encounter", {{"subject:Patient.birthdate", "not-a-date"}}) == "invalid");
  c = one("Encounter", "patient.gender:missing", "true");
  CHECK(c.modifier == search_modifier::missing);

  // A later link narrows the types of the link before it: focus reaches any
  // type, but only those whose subject can reference a Patient stay.
  c = one("Observation", "focus.subject:Patient.name", "x");
  REQUIRE(c.path.size() == 2);
  CHECK(has_type(c.path[0].types, "DiagnosticReport"));
  CHECK(has_type(c.path[0].types, "Encounter"));
  CHECK_FALSE(has_type(c.path[0].types, "MedicinalProductIndication"));  // subject: Medication, MedicinalProduct
  CHECK_FALSE(has_type(c.path[0].types, "Patient"));                     // no subject parameter
  CHECK(c.path[1].types == std::vector<std::string>{"Patient"});
  CHECK(c.path[1].param->code == "subject");

  // A reference parameter without targets reaches every resource type.
  c = one("RequestGroup", "instantiates-canonical.name", "x");
  CHECK(has_type(c.path[0].types, "Patient"));
  CHECK(has_type(c.path[0].types, "ValueSet"));
}

TEST_CASE("search parse: malformed and ambiguous chains are invalid") {
  CHECK(error_of("Patient", {{"name.family", "x"}}) == "invalid");                 // name is a string
  CHECK(error_of("Observation", {{"code.name", "x"}}) == "invalid");               // code is a token
  CHECK(error_of("Observation", {{"subject:Foo.name", "x"}}) == "invalid");        // not a type
  CHECK(error_of("Observation", {{"subject:identifier.name", "x"}}) == "invalid"); // a modifier mid-chain
  CHECK(error_of("Observation", {{"subject:.name", "x"}}) == "invalid");
  CHECK(error_of("Observation", {{"subject:Medication.code", "x"}}) == "invalid"); // not a target
  CHECK(error_of("Observation", {{"subject.foo", "x"}}) == "invalid");             // no target has foo
  CHECK(error_of("Observation", {{"subject:Patient.foo", "x"}}) == "invalid");
  CHECK(error_of("Observation", {{"subject.", "x"}}) == "invalid");
  // focus may point at any type: `type` is a token on most, a uri on
  // StructureDefinition.
  auto r = parse("Observation", {{"focus.type", "x"}});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "invalid");
  CHECK(r.error().message.find("ambiguous") != std::string::npos);
  // Naming the type resolves it.
  CHECK(error_of("Observation", {{"focus:Encounter.type", "x"}}).empty());
  // Invalid stays invalid under lenient handling.
  CHECK(error_of("Observation", {{"focus.type", "x"}}, search_handling::lenient) == "invalid");
  // An unknown first link is an unknown parameter.
  CHECK(error_of("Observation", {{"foo.name", "x"}}) == "not-supported");
  auto lenient = parse("Observation", {{"foo.name", "x"}}, search_handling::lenient);
  REQUIRE(lenient);
  REQUIRE(lenient->ignored.size() == 1);
  CHECK(lenient->ignored[0].name == "foo.name");
  // A special parameter at the end of a chain is unsupported.
  CHECK(error_of("Observation", {{"subject:Location.near", "1|2|3|km"}}) == "not-supported");
}

TEST_CASE("search parse: _has reverse chains, nested and mixed with chains") {
  auto c = one("Patient", "_has:Observation:patient:code", "1234-5");
  REQUIRE(c.path.size() == 1);
  CHECK(c.path[0].dir == search_step::direction::reverse);
  CHECK(c.path[0].param == registry().find_search_parameter("Observation", "patient"));
  CHECK(c.path[0].types == std::vector<std::string>{"Observation"});
  CHECK(c.param == registry().find_search_parameter("Observation", "code"));
  CHECK(c.values[0].parts == parts{"1234-5"});

  c = one("Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent", "MyUserId");
  REQUIRE(c.path.size() == 2);
  CHECK(c.path[0].types == std::vector<std::string>{"Observation"});
  CHECK(c.path[1].dir == search_step::direction::reverse);
  CHECK(c.path[1].param == registry().find_search_parameter("AuditEvent", "entity"));
  CHECK(c.path[1].types == std::vector<std::string>{"AuditEvent"});
  CHECK(c.param == registry().find_search_parameter("AuditEvent", "agent"));

  // A chain inside a _has, with a modifier at the end.
  c = one("Patient", "_has:Observation:subject:performer:Practitioner.name:contains", "smi");
  REQUIRE(c.path.size() == 2);
  CHECK(c.path[0].dir == search_step::direction::reverse);
  CHECK(c.path[1].dir == search_step::direction::forward);
  CHECK(c.path[1].types == std::vector<std::string>{"Practitioner"});
  CHECK(c.modifier == search_modifier::contains);

  // A chain before a _has keeps only the types the _has can start from.
  c = one("Observation", "subject._has:Encounter:patient:status", "finished");
  REQUIRE(c.path.size() == 2);
  CHECK(c.path[0].types == std::vector<std::string>{"Patient"});
  CHECK(c.path[1].types == std::vector<std::string>{"Encounter"});

  // A _has value is checked by its final parameter.
  CHECK(error_of("Patient", {{"_has:Observation:patient:date", "bad"}}) == "invalid");
  c = one("Patient", "_has:Observation:patient:date", "ge2020");
  CHECK(c.values[0].prefix == search_prefix::ge);
}

TEST_CASE("search parse: malformed _has is invalid") {
  for (const char* name : {"_has:Observation:patient", "_has:Observation:patient:", "_has:Observation",
                           "_has:Foo:patient:code", "_has:Observation:code:code", "_has:Observation:foo:code",
                           "_has:Observation:encounter:code",  // does not reference Patient
                           "_has:Observation:patient:foo"}) {
    CAPTURE(name);
    CHECK(error_of("Patient", {{name, "x"}}) == "invalid");
  }
  // Observation.patient references Patient, not Observation.
  CHECK(error_of("Observation", {{"_has:Observation:patient:code", "x"}}) == "invalid");
  // "_has" alone is not a parameter.
  CHECK(error_of("Patient", {{"_has", "x"}}) == "not-supported");
}

TEST_CASE("search parse: chain depth counts forward and reverse steps") {
  static_assert(search_request::max_chain_depth == 4);
  auto c = one("Observation", "subject:Patient.organization.partof.partof.name", "x");
  CHECK(c.path.size() == 4);
  CHECK(error_of("Observation", {{"subject:Patient.organization.partof.partof.partof.name", "x"}}) == "too-costly");
  c = one("Patient", "_has:Observation:patient:subject:Patient.organization.partof.name", "x");
  CHECK(c.path.size() == 4);
  CHECK(error_of("Patient", {{"_has:Observation:patient:subject:Patient.organization.partof.partof.name", "x"}}) ==
        "too-costly");
  CHECK(error_of("Patient", {{"_has:Observation:patient:_has:Observation:has-member:_has:Observation:has-member:"
                              "_has:Observation:has-member:_has:Observation:has-member:code",
                              "x"}}) == "too-costly");
  // Too costly stays an error under lenient handling.
  CHECK(error_of("Observation", {{"subject:Patient.organization.partof.partof.partof.name", "x"}},
                 search_handling::lenient) == "too-costly");
}

TEST_CASE("search parse: unsupported and unknown parameters, strict and lenient") {
  const std::pair<const char*, const char*> unsupported[] = {
      {"Patient", "foo"},        {"Patient", "_text"},          {"Patient", "_content"},
      {"Patient", "_query"},     {"Patient", "_filter"},        {"Patient", "_contained"},
      {"Patient", "_containedType"}, {"Patient", "_type"},      {"Location", "near"},
      {"Patient", "_count:x"},   {"Patient", "_list:x"},        {"Patient", "Name"},
  };
  for (const auto& entry : unsupported) {
    const char* type = entry.first;
    const char* name = entry.second;
    CAPTURE(name);
    auto strict = parse(type, {{name, "x"}});
    REQUIRE_FALSE(strict);
    CHECK(strict.error().code == "not-supported");
    CHECK(strict.error().message.find(name) != std::string::npos);  // names the parameter
    auto lenient = parse(type, {{name, "x"}, {"_id", "a1"}}, search_handling::lenient);
    REQUIRE(lenient);
    REQUIRE(lenient->ignored.size() == 1);
    CHECK(lenient->ignored[0].name == name);
    REQUIRE(lenient->criteria.size() == 1);
    CHECK(lenient->criteria[0].name == "_id");
  }
  // Lenient handling never hides a malformed value of a known parameter.
  CHECK(error_of("Patient", {{"birthdate", "bad"}}, search_handling::lenient) == "invalid");
  // _format and _pretty belong to the REST layer: skipped, not reported.
  auto r = parse("Patient", {{"_format", "json"}, {"_pretty", "true"}});
  REQUIRE(r);
  CHECK(r->criteria.empty());
  CHECK(r->ignored.empty());
}

TEST_CASE("search parse: the resource parameters apply to every type") {
  auto c = one("Observation", "_id", "a1,b2");
  CHECK(c.param->code == "_id");
  CHECK(c.values.size() == 2);
  c = one("Patient", "_tag", "http://example.org/tags|vip");
  CHECK(c.values[0].parts == parts{"http://example.org/tags", "vip"});
  c = one("Patient", "_profile", "http://hl7.org/fhir/StructureDefinition/Patient");
  CHECK(c.param->type == hearth::fhir::search_param_type::uri);
  CHECK(one("Patient", "_security", "http://x|R").values[0].parts == parts{"http://x", "R"});
  CHECK(one("Patient", "_source", "http://example.org/src").param->code == "_source");
}

TEST_CASE("search parse: _count is clamped, checked and given once") {
  auto count = [](std::string v) {
    auto r = parse("Patient", {{"_count", std::move(v)}});
    REQUIRE_MESSAGE(r, (r ? std::string() : r.error().message));
    return r->count;
  };
  CHECK(count("10") == 10);
  CHECK(count("0") == 0);
  CHECK(count("1000") == 1000);
  CHECK(count("1001") == search_request::max_count);
  CHECK(count("99999999999999999999999999999999999999") == search_request::max_count);
  CHECK(count("007") == 7);
  for (const char* bad : {"", "-1", "+5", "abc", "1.5", "10 ", "1e3"}) {
    CAPTURE(bad);
    CHECK(error_of("Patient", {{"_count", bad}}) == "invalid");
  }
  CHECK(error_of("Patient", {{"_count", "10"}, {"_count", "20"}}) == "invalid");
  CHECK(error_of("Patient", {{"_count", "10"}, {"_count", "20"}}, search_handling::lenient) == "invalid");
}

TEST_CASE("search parse: _sort keys") {
  auto r = parse("Observation", {{"_sort", "-date,status,_id,-_lastUpdated"}});
  REQUIRE(r);
  REQUIRE(r->sort.size() == 4);
  CHECK(r->sort[0].param == registry().find_search_parameter("Observation", "date"));
  CHECK(r->sort[0].descending);
  CHECK(r->sort[1].param->code == "status");
  CHECK_FALSE(r->sort[1].descending);
  CHECK(r->sort[2].param->code == "_id");
  CHECK(r->sort[3].param->code == "_lastUpdated");
  CHECK(r->sort[3].descending);
  CHECK(r->criteria.empty());

  for (const char* bad : {"", "-", "date,", "foo", "code-value-quantity", "_text", "subject.name", "date:asc"}) {
    CAPTURE(bad);
    CHECK(error_of("Observation", {{"_sort", bad}}) == "invalid");
  }
  CHECK(error_of("Location", {{"_sort", "near"}}) == "invalid");
  CHECK(error_of("Observation", {{"_sort", "date"}, {"_sort", "status"}}) == "invalid");
  // A value of _sort is never quoted in the message.
  auto e = parse("Observation", {{"_sort", "secretcode"}});
  REQUIRE_FALSE(e);
  CHECK(e.error().message.find("secretcode") == std::string::npos);
}

TEST_CASE("search parse: _total, _summary, _elements, _cursor") {
  auto r = parse("Patient", {{"_total", "accurate"}, {"_summary", "count"}, {"_elements", "id,name,birthDate"},
                             {"_cursor", "opaque-position_123=="}});
  REQUIRE(r);
  CHECK(r->total == search_total::accurate);
  CHECK(r->summary == search_summary::count);
  CHECK(r->elements == std::vector<std::string>{"id", "name", "birthDate"});
  CHECK(r->cursor == "opaque-position_123==");

  const std::pair<const char*, search_total> totals[] = {
      {"none", search_total::none}, {"estimate", search_total::estimate}, {"accurate", search_total::accurate}};
  for (const auto& [text, total] : totals) CHECK(parse("Patient", {{"_total", text}})->total == total);
  const std::pair<const char*, search_summary> summaries[] = {
      {"true", search_summary::true_}, {"text", search_summary::text},   {"data", search_summary::data},
      {"count", search_summary::count}, {"false", search_summary::false_}};
  for (const auto& [text, summary] : summaries) CHECK(parse("Patient", {{"_summary", text}})->summary == summary);

  CHECK(error_of("Patient", {{"_total", "all"}}) == "invalid");
  CHECK(error_of("Patient", {{"_total", ""}}) == "invalid");
  CHECK(error_of("Patient", {{"_summary", "yes"}}) == "invalid");
  CHECK(error_of("Patient", {{"_summary", "TRUE"}}) == "invalid");
  CHECK(error_of("Patient", {{"_elements", "id,,name"}}) == "invalid");
  CHECK(error_of("Patient", {{"_elements", ""}}) == "invalid");
  CHECK(error_of("Patient", {{"_cursor", ""}}) == "invalid");
  CHECK(error_of("Patient", {{"_total", "none"}, {"_total", "accurate"}}) == "invalid");
  CHECK(error_of("Patient", {{"_summary", "true"}, {"_summary", "true"}}) == "invalid");
  CHECK(error_of("Patient", {{"_cursor", "a"}, {"_cursor", "b"}}) == "invalid");
  CHECK(error_of("Patient", {{"_cursor", std::string(4097, 'c')}}) == "too-costly");
  CHECK(parse("Patient", {{"_cursor", std::string(4096, 'c')}}));
}

TEST_CASE("search parse: _include and _revinclude") {
  auto r = parse("Observation", {{"_include", "Observation:subject"},
                                 {"_include", "Observation:subject:Patient"},
                                 {"_include", "*"},
                                 {"_include:iterate", "Patient:organization"},
                                 {"_include:recurse", "Organization:partof"},
                                 {"_revinclude", "Provenance:target"}});
  REQUIRE_MESSAGE(r, (r ? std::string() : r.error().message));
  REQUIRE(r->includes.size() == 5);
  CHECK(r->includes[0].source_type == "Observation");
  CHECK(r->includes[0].param == registry().find_search_parameter("Observation", "subject"));
  CHECK(r->includes[0].target_type.empty());
  CHECK_FALSE(r->includes[0].iterate);
  CHECK(r->includes[0].raw_value == "Observation:subject");
  CHECK(r->includes[1].target_type == "Patient");
  CHECK(r->includes[2].source_type == "Observation");
  CHECK(r->includes[2].param == nullptr);
  CHECK(r->includes[2].raw_value == "*");
  CHECK(r->includes[3].source_type == "Patient");
  CHECK(r->includes[3].iterate);
  CHECK(r->includes[4].iterate);  // :recurse reads as :iterate
  CHECK(r->includes[4].param == registry().find_search_parameter("Organization", "partof"));
  REQUIRE(r->revincludes.size() == 1);
  CHECK(r->revincludes[0].source_type == "Provenance");
  CHECK(r->revincludes[0].param == registry().find_search_parameter("Provenance", "target"));
  CHECK_FALSE(r->revincludes[0].iterate);

  r = parse("Patient", {{"_revinclude", "Observation:subject"}, {"_revinclude", "Observation:subject:Patient"},
                        {"_revinclude:iterate", "Observation:encounter"}});
  REQUIRE(r);
  REQUIRE(r->revincludes.size() == 3);
  CHECK(r->revincludes[1].target_type == "Patient");
  CHECK(r->revincludes[2].iterate);

  for (const char* bad : {"Observation", "Observation:", "Foo:subject", "Observation:code", "Observation:foo",
                          "Observation:subject:Medication", "Observation:subject:Foo", "Observation:subject:Patient:x",
                          "Patient:organization" /* not the searched type, no :iterate */, ""}) {
    CAPTURE(bad);
    CHECK(error_of("Observation", {{"_include", bad}}) == "invalid");
  }
  CHECK(error_of("Patient", {{"_revinclude", "*"}}) == "invalid");
  CHECK(error_of("Patient", {{"_revinclude", "Observation:encounter"}}) == "invalid");  // not to Patient
  CHECK(error_of("Patient", {{"_revinclude", "Observation:subject:Group"}}) == "invalid");
  CHECK(error_of("Observation", {{"_include:foo", "Observation:subject"}}) == "not-supported");
  auto lenient = parse("Observation", {{"_include:foo", "Observation:subject"}}, search_handling::lenient);
  REQUIRE(lenient);
  CHECK(lenient->includes.empty());
  REQUIRE(lenient->ignored.size() == 1);
  CHECK(lenient->ignored[0].name == "_include:foo");
}

TEST_CASE("search parse: _list") {
  auto r = parse("Patient", {{"_list", "list-1.a"}});
  REQUIRE(r);
  CHECK(r->list_id == "list-1.a");
  CHECK(error_of("Patient", {{"_list", "not an id"}}) == "invalid");
  CHECK(error_of("Patient", {{"_list", ""}}) == "invalid");
  CHECK(error_of("Patient", {{"_list", std::string(65, 'a')}}) == "invalid");
  CHECK(error_of("Patient", {{"_list", "a"}, {"_list", "b"}}) == "invalid");
  // Functional lists (search.html#list) are not supported.
  CHECK(error_of("Patient", {{"_list", "$current-allergies"}}) == "not-supported");
  auto lenient = parse("Patient", {{"_list", "$current-allergies"}}, search_handling::lenient);
  REQUIRE(lenient);
  CHECK(lenient->list_id.empty());
  CHECK(lenient->ignored.size() == 1);
}

TEST_CASE("search parse: the searched type and the compartment") {
  CHECK(error_of("Foo", {}) == "not-supported");
  CHECK(error_of("DomainResource", {}) == "not-supported");
  CHECK(error_of("Quantity", {}) == "not-supported");

  const query none;
  auto r = parse("Observation", none, search_handling::strict, search_compartment{"Patient", "123"});
  REQUIRE(r);
  REQUIRE(r->compartment);
  CHECK(r->compartment->type == "Patient");
  CHECK(r->compartment->id == "123");
  CHECK(parse("Patient", none, search_handling::strict, search_compartment{"Patient", "p.1-x"}));
  CHECK(parse("Encounter", {{"status", "finished"}}, search_handling::lenient, search_compartment{"Patient", "1"}));

  auto e = parse("Observation", none, search_handling::strict, search_compartment{"Encounter", "1"});
  REQUIRE_FALSE(e);
  CHECK(e.error().code == "not-supported");
  e = parse("Organization", none, search_handling::lenient, search_compartment{"Patient", "1"});
  REQUIRE_FALSE(e);
  CHECK(e.error().code == "not-supported");
  for (const std::string& bad : {std::string(), std::string("a/b"), std::string("a b"), std::string(65, 'a')}) {
    e = parse("Observation", none, search_handling::strict, search_compartment{"Patient", bad});
    REQUIRE_FALSE(e);
    CHECK(e.error().code == "invalid");
  }
}

TEST_CASE("search parse: empty values are invalid") {
  CHECK(error_of("Patient", {{"name", ""}}) == "invalid");
  CHECK(error_of("Patient", {{"name", "a,,b"}}) == "invalid");
  CHECK(error_of("Patient", {{"name", "a,"}}) == "invalid");
  CHECK(error_of("Patient", {{"gender", ","}}) == "invalid");
  CHECK(error_of("Observation", {{"subject", ""}}) == "invalid");
  CHECK(error_of("Patient", {{"name", ""}}, search_handling::lenient) == "invalid");
}

TEST_CASE("search parse: limits on terms, values and lengths") {
  static_assert(search_request::max_terms == 64 && search_request::max_values == 100);
  query q;
  for (int i = 0; i < 64; ++i) q.emplace_back("_id", "a" + std::to_string(i));
  CHECK(parse("Patient", q));
  q.emplace_back("_id", "last");
  CHECK(error_of("Patient", q) == "too-costly");

  // Criteria, includes, revincludes and sort keys count together.
  q.assign(61, {"gender", "male"});
  q.emplace_back("_include", "Patient:organization");
  q.emplace_back("_revinclude", "Observation:subject");
  q.emplace_back("_sort", "birthdate");
  CHECK(parse("Patient", q));
  q.back().second = "birthdate,name";
  CHECK(error_of("Patient", q) == "too-costly");
  q.assign(1, {"_sort", "birthdate"});
  for (int i = 1; i < 64; ++i) q.back().second += ",name";
  CHECK(parse("Patient", q));
  q.back().second += ",gender";
  CHECK(error_of("Patient", q) == "too-costly");

  // OR values per criterion.
  std::string values = "v0";
  for (int i = 1; i < 100; ++i) values += ",v" + std::to_string(i);
  auto r = parse("Patient", {{"name", values}});
  REQUIRE(r);
  CHECK(r->criteria[0].values.size() == 100);
  CHECK(error_of("Patient", {{"name", values + ",v100"}}) == "too-costly");
  CHECK(error_of("Patient", {{"name", std::string(100000, ',')}}) == "too-costly");

  // One value's length.
  CHECK(parse("Patient", {{"name", std::string(4096, 'x')}}));
  CHECK(error_of("Patient", {{"name", std::string(4097, 'x')}}) == "too-costly");
  CHECK(error_of("Patient", {{"name", "short," + std::string(4097, 'x')}}) == "too-costly");

  // A name's length: the message does not repeat it.
  const std::string long_name = std::string(600, 'n');
  auto e = parse("Patient", {{long_name, "x"}}, search_handling::lenient);
  REQUIRE_FALSE(e);
  CHECK(e.error().code == "too-costly");
  CHECK(e.error().message.find(long_name) == std::string::npos);

  // Limits hold under lenient handling too.
  CHECK(error_of("Patient", {{"name", values + ",v100"}}, search_handling::lenient) == "too-costly");
}

TEST_CASE("search parse: error messages name the parameter and never echo the value") {
  const std::pair<const char*, const char*> cases[] = {
      {"birthdate", "1999-99-99-SECRET"},
      {"identifier", "SECRET|b|c"},
      {"gender:missing", "SECRET"},
      {"_has:Observation:patient:date", "SECRET"},
      {"_count", "SECRET"},
      {"_total", "SECRET"},
      {"_include", "SECRET:x"},
      {"_list", "SECRET value"},
  };
  for (const auto& entry : cases) {
    const char* name = entry.first;
    const char* value = entry.second;
    CAPTURE(name);
    auto r = parse("Patient", {{name, value}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "invalid");
    CHECK(r.error().message.find(name) != std::string::npos);
    CHECK(r.error().message.find("SECRET") == std::string::npos);
    CHECK(r.error().location == name);
  }
}
