#include <hearth/fhir/fhirpath_eval.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>

#include "fhir/test_support.hpp"

using namespace hearth::fhir;
using namespace hearth::fhir::fhirpath;

namespace {

const definitions& defs() { return hearth::fhir::test::registry(); }

json_value json(std::string_view text) {
  auto r = parse_json(text);
  REQUIRE_MESSAGE(r.has_value(), "bad test JSON");
  return std::move(r).value();
}

const json_value& patient() {
  static const json_value p = json(R"({
    "resourceType": "Patient",
    "id": "p1",
    "active": true,
    "name": [
      {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
      {"use": "usual", "given": ["Jim"]}
    ],
    "gender": "male",
    "_gender": {"extension": [{"url": "http://example.org/x", "valueString": "note"}]},
    "birthDate": "1974-12-25",
    "deceasedBoolean": false,
    "multipleBirthInteger": 2
  })");
  return p;
}

const json_value& observation() {
  static const json_value o = json(R"({
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
    "valueQuantity": {"value": 185.50, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    "effectiveDateTime": "2016-03-28T09:00:00Z",
    "component": [{"code": {"text": "a"}, "valueString": "x"}]
  })");
  return o;
}

hearth::result<collection, hearth::error> run(std::string_view src, const json_value& res = patient()) {
  auto e = parse(src);
  REQUIRE_MESSAGE(e.has_value(), "parse failed");
  context ctx;
  ctx.now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  return evaluate(*e, res, defs(), ctx);
}

// The result as "a, b, c" (toString of each item; complex nodes as <Type>).
std::string show(std::string_view src, const json_value& res = patient()) {
  auto r = run(src, res);
  if (!r) return "ERROR " + r.error().code + ": " + r.error().message;
  std::string out;
  for (const auto& v : *r) {
    if (!out.empty()) out += ", ";
    auto s = to_string_value(v);
    out += s ? *s : "<" + type_name(v) + ">";
  }
  return out;
}

bool is_error(std::string_view src, const json_value& res = patient()) { return !run(src, res).has_value(); }

}  // namespace

TEST_CASE("navigation: resource type first, members, arrays in order") {
  CHECK(show("Patient.name.given") == "Peter, James, Jim");
  CHECK(show("name.given") == "Peter, James, Jim");
  CHECK(show("Patient.name.family") == "Chalmers");
  CHECK(show("Patient.name[1].use") == "usual");
  CHECK(show("Patient.name[5].use") == "");
  CHECK(show("Patient.birthDate") == "1974-12-25");
  CHECK(show("Patient.name.first()") == "<HumanName>");
  // A name the type does not have is a semantic error, not an empty result.
  CHECK(is_error("Patient.name.given1"));
}

TEST_CASE("navigation: choice types resolve through the registry") {
  CHECK(show("Observation.value.value", observation()) == "185.50");
  CHECK(show("Observation.value.unit", observation()) == "kg");
  CHECK(show("Observation.value is Quantity", observation()) == "true");
  CHECK(show("Observation.value.ofType(Quantity).code", observation()) == "kg");
  CHECK(show("Observation.effective is dateTime", observation()) == "true");
  CHECK(show("Observation.component.value", observation()) == "x");
  CHECK(show("Patient.deceased") == "false");
  CHECK(show("Patient.multipleBirth + 1") == "3");
  // The JSON name of a choice is not a FHIRPath element name.
  CHECK(is_error("Observation.valueQuantity.unit", observation()));
}

TEST_CASE("navigation: primitive extensions, hasValue, children") {
  CHECK(show("Patient.gender.extension('http://example.org/x').value") == "note");
  CHECK(show("Patient.gender.hasValue()") == "true");
  CHECK(show("Patient.name.hasValue()") == "false");
  CHECK(show("Patient.name.first().children().count()") == "4");  // use, family, 2 given
  CHECK(show("Patient.descendants().count() > 8") == "true");
}

TEST_CASE("three-valued logic (N1 §6.5)") {
  // rows: left operand, columns: right operand; {} is empty.
  const char* vals[] = {"true", "false", "{}"};
  const char* and_[3][3] = {{"true", "false", ""}, {"false", "false", "false"}, {"", "false", ""}};
  const char* or_[3][3] = {{"true", "true", "true"}, {"true", "false", ""}, {"true", "", ""}};
  const char* xor_[3][3] = {{"false", "true", ""}, {"true", "false", ""}, {"", "", ""}};
  const char* implies[3][3] = {{"true", "false", ""}, {"true", "true", "true"}, {"true", "", ""}};
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) {
      std::string l = vals[a], r = vals[b];
      CHECK(show("(" + l + ") and (" + r + ")") == and_[a][b]);
      CHECK(show("(" + l + ") or (" + r + ")") == or_[a][b]);
      CHECK(show("(" + l + ") xor (" + r + ")") == xor_[a][b]);
      CHECK(show("(" + l + ") implies (" + r + ")") == implies[a][b]);
    }
  }
  CHECK(show("true.not()") == "false");
  CHECK(show("{}.not()") == "");
}

TEST_CASE("equality and equivalence") {
  CHECK(show("1 = 1.0") == "true");
  CHECK(show("1.0 ~ 1.06") == "false");
  CHECK(show("1.0 ~ 1.04") == "true");  // equivalence at the lesser precision
  CHECK(show("'a' = 'A'") == "false");
  CHECK(show("'a b' ~ 'A   B'") == "true");
  CHECK(show("{} = 1") == "");
  CHECK(show("{} ~ {}") == "true");
  CHECK(show("(1 | 2) = (1 | 2)") == "true");
  CHECK(show("(1 | 2) = (2 | 1)") == "false");
  CHECK(show("(1 | 2) ~ (2 | 1)") == "true");
  CHECK(show("Patient.name.first() = Patient.name.first()") == "true");
  CHECK(show("Patient.gender = 'male'") == "true");
  CHECK(show("4 'g' = 4000 'mg'") == "true");
  CHECK(show("Observation.value = 185.5 'kg'", observation()) == "true");
}

TEST_CASE("decimals are exact") {
  CHECK(show("0.1 + 0.2 = 0.3") == "true");
  CHECK(show("0.1 + 0.2") == "0.3");
  CHECK(show("1.50 + 1") == "2.50");
  CHECK(show("1.8 - 1.2") == "0.6");
  CHECK(show("99999999999999999.1 + 0.1") == "99999999999999999.2");
  CHECK(show("1.5 * 1.5") == "2.25");
  CHECK(show("1 / 4") == "0.25");
  CHECK(show("1 / 0") == "");
  CHECK(show("7 div 2") == "3");
  CHECK(show("7 mod 2") == "1");
  CHECK(show("5.5 mod 0.7") == "0.6");
  CHECK(show("(1.0 / 3) * 3 < 1") == "true");
}

TEST_CASE("dates and times compare by precision") {
  CHECK(show("@2012-04-15 = @2012-04-15") == "true");
  CHECK(show("@2012-04 = @2012-04-15") == "");
  CHECK(show("@2012-03 = @2012-04-15") == "false");
  CHECK(show("@2012-04-15 < @2012-04-16") == "true");
  CHECK(show("@2012-04 < @2012-04-15") == "");
  CHECK(show("@2012-04-15T10:00:00Z = @2012-04-15T12:00:00+02:00") == "true");
  CHECK(show("@T10:30:00 = @T10:30:00.000") == "true");
  CHECK(show("@2012-04-15 ~ @2012-04") == "false");
  CHECK(show("Patient.birthDate < @1974") == "");
  CHECK(show("Patient.birthDate < @1980") == "true");  // decided at the common precision
  CHECK(show("Patient.birthDate < @1980-01-01") == "true");
  CHECK(show("@1973-12-25 + 7 days") == "1974-01-01");
  CHECK(show("@2012-01-31 + 1 month") == "2012-02-29");
  CHECK(show("@2016-01-01T10:00:00Z - 90 minutes") == "2016-01-01T08:30:00Z");
  CHECK(show("now() > @2000-01-01T00:00:00Z") == "true");
  CHECK(show("today().toString()") == "2023-11-14");
  CHECK(is_error("@T10:00 < @2012-01-01"));
}

TEST_CASE("singletons: more than one item where one is required is an error") {
  CHECK(is_error("Patient.name.given + 'x'"));
  CHECK(is_error("Patient.name.given.single()"));
  CHECK(is_error("Patient.name.given and true"));
  CHECK(is_error("Patient.name.given.substring(1)"));
  CHECK(is_error("iif(1 | 2, true, false)"));
  CHECK(show("Patient.name.given.first().substring(1)") == "eter");
  CHECK(is_error("Patient.name.given < 'x'"));
}

TEST_CASE("collections and iteration") {
  CHECK(show("(1 | 2 | 2 | 3).count()") == "3");
  CHECK(show("(1).combine(2).combine(1)") == "1, 2, 1");
  CHECK(show("(1 | 2 | 3).intersect(2 | 3 | 4)") == "2, 3");
  CHECK(show("(1 | 2 | 3).exclude(2)") == "1, 3");
  CHECK(show("(1 | 2 | 3).where($this > 1).select($this * 10)") == "20, 30");
  CHECK(show("(10 | 20 | 30).select($index)") == "0, 1, 2");
  CHECK(show("(1 | 2 | 3).aggregate($this + $total, 0)") == "6");
  CHECK(show("(1 | 2 | 3).skip(1).take(1)") == "2");
  CHECK(show("(1 | 2 | 3).tail().last()") == "3");
  CHECK(show("(1 | 2).subsetOf(1 | 2 | 3)") == "true");
  CHECK(show("(1 | 2 | 3).all($this > 0)") == "true");
  CHECK(show("(1 | 1).isDistinct()") == "true");  // union removed the duplicate
  CHECK(show("(1).combine(1).isDistinct()") == "false");
  CHECK(show("Patient.name.where(use = 'usual').given") == "Jim");
  CHECK(show("Patient.name.exists(use = 'maiden')") == "false");
  CHECK(show("2 in (1 | 2)") == "true");
  CHECK(show("(1 | 2) contains 3") == "false");
  CHECK(show("(3 | 1 | 2).sort()") == "1, 2, 3");
}

TEST_CASE("types: is, as, ofType") {
  CHECK(show("1 is Integer") == "true");
  CHECK(show("1 is System.Decimal") == "false");
  CHECK(show("Patient is Patient") == "true");
  CHECK(show("Patient is DomainResource") == "true");
  CHECK(show("Patient.active is boolean") == "true");
  CHECK(show("Patient.active is System.Boolean") == "false");
  CHECK(show("(1 | 'a' | 2.5).ofType(String)") == "a");
  CHECK(show("Patient.name.as(HumanName)").starts_with("ERROR"));
}

TEST_CASE("string functions") {
  CHECK(show("'abcdef'.substring(2, 3)") == "cde");
  CHECK(show("'abcdef'.indexOf('cd')") == "2");
  CHECK(show("'abc'.startsWith('ab') and 'abc'.endsWith('bc') and 'abc'.contains('b')") == "true");
  CHECK(show("'AbC'.upper() & 'AbC'.lower()") == "ABCabc");
  CHECK(show("'a.b.c'.replace('.', '-')") == "a-b-c");
  CHECK(show("'abc123'.matches('[0-9]+')") == "true");
  CHECK(show("'abc123'.replaceMatches('[0-9]', 'x')") == "abcxxx");
  CHECK(show("'héllo'.length()") == "5");
  CHECK(show("'ab'.toChars()") == "a, b");
  CHECK(show("'  a b  '.trim()") == "a b");
  CHECK(show("'a,b,c'.split(',').join('|')") == "a|b|c");
  CHECK(show("'a' + 'b'") == "ab");
  CHECK(show("'a' & {}") == "a");
  CHECK(show("1.startsWith('1')").starts_with("ERROR"));
}

TEST_CASE("conversion functions") {
  CHECK(show("'12'.toInteger() + 1") == "13");
  CHECK(show("'1.50'.toDecimal()") == "1.50");
  CHECK(show("'abc'.toInteger()") == "");
  CHECK(show("'abc'.convertsToInteger()") == "false");
  CHECK(show("'yes'.toBoolean()") == "true");
  CHECK(show("1.toString()") == "1");
  CHECK(show("'2015-02-04'.toDate()") == "2015-02-04");
  CHECK(show("'2015-02-04T10:00:00Z'.toDateTime()") == "2015-02-04T10:00:00Z");
  CHECK(show("'10:30'.toTime()") == "10:30");
  CHECK(show("'5 \\'mg\\''.toQuantity()") == "5 'mg'");
  CHECK(show("'4 days'.toQuantity() = 4 days") == "true");
  CHECK(show("@2015-02-04T10:00:00Z.toDate()") == "2015-02-04");
}

TEST_CASE("math functions") {
  CHECK(show("(-5).abs()") == "5");
  CHECK(show("1.1.ceiling()") == "2");
  CHECK(show("(-1.1).floor()") == "-2");
  CHECK(show("3.14159.round(2)") == "3.14");
  CHECK(show("(-2.7).truncate()") == "-2");
  CHECK(show("16.sqrt()") == "4");
  CHECK(show("2.power(10)") == "1024");
  CHECK(show("100.log(10)") == "2");
  CHECK(show("1.exp().round(5)") == "2.71828");
  CHECK(show("(-1).sqrt()") == "");
}

TEST_CASE("environment variables and errors as values") {
  CHECK(show("%resource.id") == "p1");
  CHECK(show("%ucum") == "http://unitsofmeasure.org");
  auto e = parse("%who + 1");
  REQUIRE(e.has_value());
  context ctx;
  ctx.variables["who"] = collection{};
  {
    value v;
    v.k = value::kind::integer;
    v.i = 41;
    ctx.variables["who"].push_back(v);
  }
  auto r = evaluate(*e, patient(), defs(), ctx);
  REQUIRE(r.has_value());
  CHECK(to_string_value(r->front()) == "42");

  auto bad = run("Patient.name.given.first() + %nope");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().offset == 29);

  auto unsupported = run("Patient.getValue()");
  REQUIRE_FALSE(unsupported.has_value());
  CHECK(unsupported.error().code == "not-supported");
  CHECK(unsupported.error().message == "function 'getValue' is not supported yet");
}

TEST_CASE("fhirpath eval: htmlChecks() applies txt-1 to Narrative.div (narrative_check.hpp)") {
  auto with_div = [](std::string_view div) {
    json_value p = json(R"({"resourceType": "Patient", "text": {"status": "generated", "div": "x"}})");
    p.find("text")->set("div", json_value(std::string(div)));
    return p;
  };
  auto checks = [&](std::string_view div) { return show("Patient.text.`div`.htmlChecks()", with_div(div)); };
  CHECK(checks(R"(<div xmlns="http://www.w3.org/1999/xhtml"><p>Peter <b>Chalmers</b></p></div>)") == "true");
  CHECK(checks(R"(<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>)") == "false");
  CHECK(checks(R"~(<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">a</p></div>)~") == "false");
  CHECK(checks(R"~(<div xmlns="http://www.w3.org/1999/xhtml"><a href="javascript:x()">a</a></div>)~") == "false");
  CHECK(checks(R"(<div xmlns="http://example.org/not-xhtml">a</div>)") == "false");
  CHECK(checks(R"(<div>a</div>)") == "false");
  CHECK(checks(R"(<p xmlns="http://www.w3.org/1999/xhtml">a</p>)") == "false");
  CHECK(checks(R"(<div xmlns="http://www.w3.org/1999/xhtml"><p>a</div>)") == "false");
  CHECK(checks(R"(<!DOCTYPE div [<!ENTITY e "x">]><div xmlns="http://www.w3.org/1999/xhtml">&e;</div>)") ==
        "false");
  CHECK(checks(R"(<div xmlns="http://www.w3.org/1999/xhtml">&e;</div>)") == "false");
  // Whitespace only: txt-1 holds (txt-2 is the validator's, natively).
  CHECK(checks("<div xmlns=\"http://www.w3.org/1999/xhtml\">\n  </div>") == "true");

  // Past the checker's depth limit: an error, not a verdict.
  std::string deep = R"(<div xmlns="http://www.w3.org/1999/xhtml">)";
  for (int i = 0; i < 10'000; ++i) deep += "<b>";
  for (int i = 0; i < 10'000; ++i) deep += "</b>";
  deep += "</div>";
  auto r = run("Patient.text.`div`.htmlChecks()", with_div(deep));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "too-costly");
  CHECK(r.error().message == "htmlChecks(): elements nest deeper than 256 levels, the most that is checked");

  // A string is the content of a div; other types, empty and larger
  // collections give empty (build.fhir.org fhirpath.html#fn-htmlChecks).
  CHECK(show("'<b>bold</b>'.htmlChecks()") == "true");
  CHECK(show("'<script/>'.htmlChecks()") == "false");
  CHECK(show("Patient.name.family.htmlChecks()") == "true");
  CHECK(show("Patient.birthDate.htmlChecks()") == "");
  CHECK(show("Patient.active.htmlChecks()") == "");
  CHECK(show("Patient.text.`div`.htmlChecks()") == "");
  CHECK(show("Patient.name.given.htmlChecks()") == "");
  auto arity = run("Patient.text.`div`.htmlChecks(1)", with_div("<div/>"));
  CHECK_FALSE(arity.has_value());
}

TEST_CASE("limits: a runaway expression stops with too-costly") {
  auto e = parse("(1 | 2 | 3).repeat($this.combine($this)).count()");
  REQUIRE(e.has_value());
  context ctx;
  ctx.max_items = 1000;
  auto r = evaluate(*e, patient(), defs(), ctx);
  // repeat() stops on items already seen, so this terminates: 3 items.
  REQUIRE(r.has_value());
  CHECK(to_string_value(r->front()) == "3");
  auto big = parse("Patient.descendants().combine(Patient.descendants()).combine(Patient.descendants())");
  REQUIRE(big.has_value());
  ctx.max_items = 10;
  auto r2 = evaluate(*big, patient(), defs(), ctx);
  REQUIRE_FALSE(r2.has_value());
  CHECK(r2.error().code == "too-costly");
}

TEST_CASE("hostile numbers: overflow is empty or an error, never a wrong value") {
  CHECK(show("2147483647 + 1") == "");  // Integer is 32-bit (N1 §2.1.8)
  CHECK(show("2147483647 + 0") == "2147483647");
  CHECK(is_error("99999999999999999999999999999999999999999.5 + 1"));
  CHECK(show("2.0.power(400)") == "");
  CHECK(show("1.0 / 0.0000000000000000000000000001") == "10000000000000000000000000000");
  CHECK(show("'abc'.matches('(')").starts_with("ERROR"));
  CHECK(show("'ÉCOLE'.lower()").starts_with("ERROR not-supported"));
}

TEST_CASE("type() reports namespace and name") {
  CHECK(show("1.type().name") == "Integer");
  CHECK(show("1.type().namespace") == "System");
  CHECK(show("Patient.name.first().type().name") == "HumanName");
  CHECK(show("Patient.active.type().namespace") == "FHIR");
}

TEST_CASE("fhirpath eval: date arithmetic at coarse precision and out of range (found by the fuzzer)") {
  // A year-month value plus a zero or sub-precision amount stays as it is.
  auto r = run("@1973-02 + 0.00 's'");
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 1);
  CHECK(to_string_value((*r)[0]) == "1973-02");
  CHECK(run("@1973 + 5 days").has_value());
  // Amounts that would overflow, or leave years 1-9999, are errors, not UB.
  CHECK_FALSE(run("@2020-01-01 + 99999999999999999999 days").has_value());
  CHECK_FALSE(run("@2020-01-01 + 9000000000000 weeks").has_value());
  CHECK_FALSE(run("@2020 + 9000 years").has_value());
  CHECK_FALSE(run("@2020-01-01T10:00:00 - 3000 years").has_value());
  CHECK_FALSE(run("@T10:00:00 + 9000000000000000 'ms'").has_value());
  auto t = run("@T10:00:00 + 86400000000 'ms'");  // 1000 days: wraps to the same time
  REQUIRE(t.has_value());
  CHECK(to_string_value(t->front()) == "10:00:00");
}

TEST_CASE("fhirpath eval: regular expressions run in linear time (ReDoS found by the fuzzer)") {
  // Catastrophic for a backtracking engine; RE2 answers at once.
  const std::string many_a(5000, 'a');
  auto r = run("'" + many_a + "!'.matches('^(a+)+$')");
  REQUIRE(r.has_value());
  CHECK_FALSE(r->front().b);
  // The fuzzer's input: stacked quantifiers are not a valid pattern.
  CHECK_FALSE(run("'http://x'.matches('.**********************irray$.*L*')").has_value());
  // '.' matches a line break (single-line mode), groups substitute with $n.
  auto dot = run("'a\\nb'.matches('^a.b$')");
  REQUIRE(dot.has_value());
  CHECK(dot->front().b);
  auto rep = run("'2024-03-05'.replaceMatches('(\\\\d+)-(\\\\d+)-(\\\\d+)', '$3/$2/$1 $$ \\\\')");
  REQUIRE(rep.has_value());
  CHECK(to_string_value(rep->front()) == "05/03/2024 $ \\");
  // Backreferences need a backtracking engine: refused, not run.
  CHECK_FALSE(run("'aa'.matches('(a)\\\\1')").has_value());
}

TEST_CASE("fhirpath eval: lowBoundary and highBoundary") {
  // Decimals: the half-unit interval of the last written digit.
  CHECK(show("1.587.lowBoundary()") == "1.58650000");
  CHECK(show("1.587.highBoundary(6)") == "1.587500");
  CHECK(show("1.587.lowBoundary(2)") == "1.58");
  CHECK(show("1.587.highBoundary(2)") == "1.59");
  CHECK(show("(-1.587).lowBoundary(2)") == "-1.59");
  CHECK(show("(-1.587).highBoundary()") == "-1.58650000");
  CHECK(show("1.lowBoundary(0)") == "0");
  CHECK(show("1.highBoundary(0)") == "2");
  CHECK(show("120.lowBoundary(2)") == "119.50");
  CHECK(show("1.587.lowBoundary(-1)") == "");
  CHECK(show("1.587.lowBoundary(29)") == "");
  CHECK(show("1.587 'cm'.highBoundary(4)") == "1.5875 'cm'");
  // Dates and times: least / greatest parts, extreme zones when none is given.
  CHECK(show("@2014.lowBoundary(6)") == "2014-01");
  CHECK(show("@2016-02.highBoundary()") == "2016-02-29");
  CHECK(show("@2015-02.highBoundary()") == "2015-02-28");
  CHECK(show("@2014-01-01T08:05.lowBoundary()") == "2014-01-01T08:05:00.000+14:00");
  CHECK(show("@2014-01-01T08:05Z.highBoundary()") == "2014-01-01T08:05:59.999Z");
  CHECK(show("@2014-01-01T08:05:30.lowBoundary(8)") == "2014-01-01T");
  CHECK(show("@T10:30.highBoundary()") == "10:30:59.999");
  CHECK(show("@2014-01-01.lowBoundary(17)") == "");  // a Date has no time of day
  CHECK(show("@2014.lowBoundary(5)") == "");         // not a precision
  CHECK(is_error("'a'.lowBoundary()"));
  // The R4 invariant per-1 (Period: start <= end) uses them.
  CHECK(show("@2014-01-01.lowBoundary() <= @2014-01-01.highBoundary()") == "true");
}

TEST_CASE("fhirpath eval: resolve() within contained resources and Bundles") {
  const json_value obs = json(R"({
    "resourceType": "Observation", "status": "final", "code": {"text": "x"},
    "contained": [{"resourceType": "Patient", "id": "p", "gender": "female"}],
    "subject": {"reference": "#p"},
    "performer": [{"reference": "Practitioner/unknown"}]
  })");
  CHECK(show("Observation.subject.resolve().gender", obs) == "female");
  CHECK(show("Observation.subject.resolve() is Patient", obs) == "true");
  CHECK(show("Observation.performer.resolve()", obs) == "");

  const json_value bundle = json(R"({
    "resourceType": "Bundle", "type": "collection",
    "entry": [
      {"fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
       "resource": {"resourceType": "Patient", "id": "a", "gender": "male"}},
      {"fullUrl": "http://example.org/fhir/Patient/b",
       "resource": {"resourceType": "Patient", "id": "b", "gender": "other"}},
      {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "y"},
        "contained": [{"resourceType": "Patient", "id": "c", "gender": "unknown"}],
        "subject": {"reference": "#c"}, "performer": [
          {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},
          {"reference": "Patient/b/_history/2"},
          {"reference": "http://example.org/fhir/Patient/b"}]}}
    ]
  })");
  CHECK(show("Bundle.entry.resource.ofType(Observation).subject.resolve().gender", bundle) == "unknown");
  CHECK(show("Bundle.entry.resource.ofType(Observation).performer.resolve().gender", bundle) ==
        "male, other, other");

  // Beyond the resource: the resolver hook (the store, later).
  auto e = parse("Observation.performer.resolve().id");
  REQUIRE(e.has_value());
  const json_value prac = json(R"({"resourceType": "Practitioner", "id": "unknown"})");
  context ctx;
  ctx.resolver = [&](std::string_view ref) { return ref == "Practitioner/unknown" ? &prac : nullptr; };
  auto r = evaluate(*e, obs, defs(), ctx);
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 1);
  CHECK(to_string_value(r->front()) == "unknown");
}

TEST_CASE("fhirpath eval: conformsTo() and memberOf() hooks") {
  CHECK(show("conformsTo('http://hl7.org/fhir/StructureDefinition/Patient')") == "true");
  CHECK(show("conformsTo('http://hl7.org/fhir/StructureDefinition/DomainResource')") == "true");
  CHECK(show("conformsTo('http://hl7.org/fhir/StructureDefinition/Observation')") == "false");
  CHECK(show("Patient.name.first().conformsTo('http://hl7.org/fhir/StructureDefinition/HumanName')") == "true");
  CHECK(is_error("conformsTo('http://example.org/unknown')"));
  // Without a terminology service memberOf() says so.
  auto m = run("Patient.gender.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')");
  REQUIRE_FALSE(m.has_value());
  CHECK(m.error().code == "not-supported");

  auto e = parse("Patient.gender.memberOf('http://example.org/vs') and conformsTo('http://example.org/p')");
  REQUIRE(e.has_value());
  context ctx;
  std::string seen;
  ctx.member_of = [&](const value& v, std::string_view vs) -> hearth::result<bool> {
    seen = std::string(vs);
    return to_string_value(v) == "male";
  };
  ctx.conforms_to = [](const value&, std::string_view p) {
    // Built in place: moving a result<bool> into the optional makes g++ 12's
    // -Wmaybe-uninitialized misfire in the sanitizer build.
    std::optional<hearth::result<bool>> answer;
    if (p == "http://example.org/p") answer.emplace(true);
    return answer;
  };
  auto r = evaluate(*e, patient(), defs(), ctx);
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 1);
  CHECK(to_string_value(r->front()) == "true");
  CHECK(seen == "http://example.org/vs");
}

TEST_CASE("fhirpath eval: quantities convert through UCUM") {
  // Comparison and equality after conversion to a common unit (N1 §6.1, §6.4).
  CHECK(show("1 '[in_i]' = 2.54 'cm'") == "true");
  CHECK(show("1 'kg' > 999 'g'") == "true");
  CHECK(show("37 'Cel' = 98.6 '[degF]'") == "true");
  CHECK(show("1 'mg/dL' = 10 'mg/L'") == "true");
  CHECK(show("1 'mmol/L' = 1 'mg/dL'") == "false");
  CHECK(show("1 'mmol/L' < 1 'mg/dL'") == "");  // not comparable: empty
  CHECK(show("1 week = 7 'd'") == "true");
  // + and - in the left operand's unit.
  CHECK(show("2 'cm' + 1 'm'") == "102 'cm'");
  CHECK(show("1 'm' - 1 'cm'") == "0.99 'm'");
  CHECK(show("1 'm' + 1 's'") == "");
  // * and / with unit algebra; a number is a quantity of unit '1'.
  CHECK(show("2.0 'cm' * 2.0 'm' = 0.040 'm2'") == "true");
  CHECK(show("(2.0 'cm' * 2.0 'm').unit") == "");  // System Quantity: no .unit node
  CHECK(show("4.0 'g' / 2.0 'm'") == "2 'g/m'");
  CHECK(show("1.0 'm' / 1.0 'm' = 1 '1'") == "true");
  CHECK(show("3 'mg' * 2") == "6 'mg'");
  CHECK(show("2 * 3 'mg'") == "6 'mg'");
  CHECK(show("6 'mg' / 4") == "1.5 'mg'");
  CHECK(show("6 'mg' / 0") == "");
  CHECK(is_error("1 year * 2 'm'"));  // calendar years have no UCUM unit
  // comparable() and toQuantity(unit).
  CHECK(show("1 'cm'.comparable(1 '[in_i]')") == "true");
  CHECK(show("1 'cm'.comparable(1 's')") == "false");
  CHECK(show("1 'cm'.comparable(1 '[s]')") == "false");  // not UCUM
  CHECK(show("(1 '[in_i]').toQuantity('cm')") == "2.54 'cm'");
  CHECK(show("'1 \\'[in_i]\\''.toQuantity('cm')") == "2.54 'cm'");
  CHECK(show("(1 '[in_i]').toQuantity('s')") == "");
  CHECK(show("'2 days'.toQuantity('h')") == "48 'h'");
  CHECK(show("(1 'wk').toQuantity('day')") == "7 day");
}

TEST_CASE("fhirpath eval: the first error ends the evaluation") {
  // The first error is the one reported; nothing after it is evaluated.
  auto first = run("(1 | 2).single() + 'a'.foo()");
  REQUIRE_FALSE(first.has_value());
  CHECK(first.error().message == "single() found more than one item");
  CHECK(first.error().offset == 8);
  auto e = parse("(1 | 2).single() | Patient.gender.memberOf('http://example.org/vs')");
  REQUIRE(e.has_value());
  context ctx;
  int calls = 0;
  ctx.member_of = [&](const value&, std::string_view) -> hearth::result<bool> {
    ++calls;
    return true;
  };
  REQUIRE_FALSE(evaluate(*e, patient(), defs(), ctx).has_value());
  CHECK(calls == 0);
  // A comparison that fails in the middle of sort(), and a sort key that is
  // not a singleton.
  auto sorted = run("(1 | 'a' | 2 | 'b').sort()");
  REQUIRE_FALSE(sorted.has_value());
  CHECK(sorted.error().message == "cannot compare String with Integer");
  CHECK(show("Patient.name.given.sort($this.length() | 'x')") ==
        "ERROR invalid: a sort key requires a single item, but the collection has 2");
  // Date/time arithmetic stops before an amount could overflow.
  CHECK(show("@2020-01-01 + 100000000000000000 days") == "ERROR invalid: date/time arithmetic out of range");
  CHECK(show("@2020-01-01T10:00 + 9223372036854 's'") == "ERROR invalid: date/time arithmetic out of range");
  // ~ on non-ASCII text: the error carries the operator's offset.
  auto equiv = run("'É' ~ 'é'");
  REQUIRE_FALSE(equiv.has_value());
  CHECK(equiv.error().code == "not-supported");
  CHECK(equiv.error().offset == 5);
}

TEST_CASE("fhirpath eval: a resource inside a resource has its own type") {
  // Bundle.entry.resource is typed by its resourceType; the items refer to
  // that text in the resource itself (AddressSanitizer found them pointing
  // into a copy that was freed at once).
  const json_value bundle = json(R"({"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "Patient", "gender": "female"}},
    {"resource": {"resourceType": "Observation", "status": "final"}}]})");
  CHECK(show("Bundle.entry.resource.ofType(Patient).gender", bundle) == "female");
  CHECK(show("Bundle.entry.resource.type().name", bundle) == "Patient, Observation");
}
