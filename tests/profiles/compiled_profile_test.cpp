// Tests of validator::compile() and validate_options::lookup_profile
// (compiled_profile.hpp): StructureDefinitions that are not part of the
// validator (the server's stored ones) compiled on their own, found by URL at
// validation time, derived from each other; and validator::bound_value_set().
#include <hearth/profiles/compiled_profile.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/profiles/validator.hpp>

#include "test_support.hpp"

using namespace hearth;
using namespace hearth::profiles;
using namespace hearth::profiles::test;
using fhir::issue_severity;

namespace {

constexpr const char* core_patient = "http://hl7.org/fhir/StructureDefinition/Patient";
constexpr const char* birth_url = "http://example.org/sd/patient-birthdate";
constexpr const char* named_url = "http://example.org/sd/patient-named";

/// A differential-only profile on Patient whose listed elements get min 1.
fhir::json_value patient_profile(std::string_view url, std::string_view base, std::vector<std::string> required) {
  std::string elements;
  for (const auto& path : required) {
    if (!elements.empty()) elements += ",";
    elements += R"({"id":")" + path + R"(","path":")" + path + R"(","min":1})";
  }
  return json(R"({"resourceType":"StructureDefinition","url":")" + std::string(url) +
              R"(","name":"P","status":"active","kind":"resource","abstract":false,"type":"Patient",
      "baseDefinition":")" + std::string(base) + R"(","derivation":"constraint","differential":{"element":[)" +
              elements + "]}}");
}

/// A lookup over a fixed set of compiled profiles that counts its calls.
struct table {
  std::map<std::string, std::shared_ptr<const compiled_profile>, std::less<>> profiles;
  std::map<std::string, hearth::error, std::less<>> broken;
  mutable int calls = 0;
  profile_lookup lookup() const {
    return [this](std::string_view url) -> hearth::result<std::shared_ptr<const compiled_profile>> {
      ++calls;
      if (auto b = broken.find(url); b != broken.end()) return hearth::unexpected(b->second);
      auto it = profiles.find(url);
      return it == profiles.end() ? nullptr : it->second;
    };
  }
};

bool has(const fhir::issue_list& l, issue_severity s, std::string_view code, std::string_view diag_part) {
  for (const auto& i : l)
    if (i.severity == s && i.code == code && i.diagnostics.find(diag_part) != std::string::npos) return true;
  return false;
}

bool any_error(const fhir::issue_list& l) { return fhir::has_errors(l); }

fhir::issue_list check(std::string_view resource, const table& t, std::vector<std::string> profiles = {}) {
  validate_options o;
  o.lookup_profile = t.lookup();
  o.profiles = std::move(profiles);
  return shared().validate(json(resource), o);
}

}  // namespace

TEST_CASE("compiled profile: a differential compiled outside the validator applies through the lookup") {
  auto p = shared().compile(patient_profile(birth_url, core_patient, {"Patient.birthDate"}));
  REQUIRE(p);
  REQUIRE(*p != nullptr);
  CHECK((*p)->url() == birth_url);
  CHECK_FALSE(shared().has_profile(birth_url));  // not added to the validator

  table t;
  t.profiles[birth_url] = *p;
  CHECK_FALSE(any_error(check(R"({"resourceType":"Patient","birthDate":"1970-01-01"})", t, {birth_url})));
  const auto missing = check(R"({"resourceType":"Patient"})", t, {birth_url});
  CHECK(any_error(missing));
  CHECK(has(missing, issue_severity::error, "required", "birthDate"));
  // Claimed in meta.profile as well.
  CHECK(any_error(check(R"({"resourceType":"Patient","meta":{"profile":["http://example.org/sd/patient-birthdate"]}})",
                        t)));
  // Without the lookup the profile is unknown.
  validate_options none;
  none.profiles = {birth_url};
  CHECK(has(shared().validate(json(R"({"resourceType":"Patient"})"), none), issue_severity::error, "not-found",
            "is not known"));
}

TEST_CASE("compiled profile: a profile whose base is another compiled profile") {
  table t;
  auto base = shared().compile(patient_profile(birth_url, core_patient, {"Patient.birthDate"}));
  REQUIRE(base);
  t.profiles[birth_url] = *base;
  // The derived one finds its base through the lookup only.
  auto derived = shared().compile(patient_profile(named_url, birth_url, {"Patient.name"}), t.lookup());
  REQUIRE(derived);
  t.profiles[named_url] = *derived;
  base = std::shared_ptr<const compiled_profile>();  // the derived one keeps it alive
  t.profiles.erase(birth_url);
  const auto neither = check(R"({"resourceType":"Patient"})", t, {named_url});
  CHECK(has(neither, issue_severity::error, "required", "birthDate"));
  CHECK(has(neither, issue_severity::error, "required", "name"));
  CHECK_FALSE(any_error(check(R"({"resourceType":"Patient","birthDate":"1970-01-01","name":[{"family":"X"}]})", t,
                              {named_url})));

  // No lookup, or a base the lookup does not know: not-found.
  auto orphan = shared().compile(patient_profile(named_url, "http://example.org/sd/none", {"Patient.name"}), t.lookup());
  REQUIRE_FALSE(orphan);
  CHECK(orphan.error().code == "not-found");
  // A base the lookup cannot give: its reason is passed on.
  t.broken["http://example.org/sd/broken"] = hearth::error{"invalid", "broken for the test", {}, hearth::error::npos};
  auto on_broken = shared().compile(patient_profile(named_url, "http://example.org/sd/broken", {"Patient.name"}), t.lookup());
  REQUIRE_FALSE(on_broken);
  CHECK(on_broken.error().message.find("broken for the test") != std::string::npos);
}

TEST_CASE("compiled profile: compile errors are values") {
  auto not_sd = shared().compile(json(R"({"resourceType":"Patient"})"));
  REQUIRE_FALSE(not_sd);
  CHECK(not_sd.error().code == "invalid");
  auto nothing = shared().compile(json(R"({"resourceType":"StructureDefinition","url":"http://x/y","type":"Patient"})"));
  REQUIRE_FALSE(nothing);
  auto bad_path = shared().compile(patient_profile("http://x/z", core_patient, {"Patient.noSuchElement.deeper"}));
  REQUIRE_FALSE(bad_path);
  CHECK(bad_path.error().code == "not-supported");
}

TEST_CASE("compiled profile: a lookup error is an error issue; the lookup is asked once per URL and call") {
  table t;
  t.broken[birth_url] = hearth::error{"invalid", "its base is unknown", {}, hearth::error::npos};
  const auto asked = check(R"({"resourceType":"Patient"})", t, {birth_url});
  CHECK(has(asked, issue_severity::error, "processing", "its base is unknown"));
  const auto claimed =
      check(R"({"resourceType":"Patient","meta":{"profile":["http://example.org/sd/patient-birthdate"]}})", t);
  CHECK(has(claimed, issue_severity::error, "processing", "cannot be used"));

  // One URL in meta.profile of a Bundle's every entry: asked once.
  table counted;
  auto p = shared().compile(patient_profile(birth_url, core_patient, {"Patient.birthDate"}));
  REQUIRE(p);
  counted.profiles[birth_url] = *p;
  std::string entries;
  for (int i = 0; i < 20; ++i) {
    if (!entries.empty()) entries += ",";
    entries += R"({"fullUrl":"urn:uuid:6f1c2b1e-0000-4000-8000-0000000000)" + std::to_string(10 + i) +
               R"(","resource":{"resourceType":"Patient","meta":{"profile":["http://example.org/sd/patient-birthdate"]}}})";
  }
  const auto bundle = check(R"({"resourceType":"Bundle","type":"collection","entry":[)" + entries + "]}", counted);
  CHECK(any_error(bundle));
  CHECK(counted.calls == 1);
}

TEST_CASE("compiled profile: an extension definition found through the lookup checks the extension") {
  // A differential on Extension: a string value only.
  auto ext = shared().compile(json(R"({"resourceType":"StructureDefinition",
      "url":"http://example.org/sd/ext-nickname","name":"Nickname","status":"active","kind":"complex-type",
      "abstract":false,"context":[{"type":"element","expression":"Patient"}],"type":"Extension",
      "baseDefinition":"http://hl7.org/fhir/StructureDefinition/Extension","derivation":"constraint",
      "differential":{"element":[
        {"id":"Extension.url","path":"Extension.url","fixedUri":"http://example.org/sd/ext-nickname"},
        {"id":"Extension.value[x]","path":"Extension.value[x]","min":1,"type":[{"code":"string"}]}]}})"));
  REQUIRE(ext);
  table t;
  t.profiles["http://example.org/sd/ext-nickname"] = *ext;
  const char* with_int = R"({"resourceType":"Patient","extension":[
      {"url":"http://example.org/sd/ext-nickname","valueInteger":3}]})";
  const char* with_string = R"({"resourceType":"Patient","extension":[
      {"url":"http://example.org/sd/ext-nickname","valueString":"Jim"}]})";
  CHECK(any_error(check(with_int, t)));
  CHECK_FALSE(any_error(check(with_string, t)));
  // Unknown without the lookup: a warning only, as any unknown extension.
  const auto unknown = shared().validate(json(with_int));
  CHECK(has(unknown, issue_severity::warning, "extension", "Unknown extension"));
}

TEST_CASE("compiled profile: bound_value_set names the value set of an element, by path or id") {
  auto gender = shared().bound_value_set(core_patient, "Patient.gender");
  REQUIRE(gender);
  CHECK(gender->starts_with("http://hl7.org/fhir/ValueSet/administrative-gender"));
  auto status = shared().bound_value_set("http://hl7.org/fhir/StructureDefinition/Observation", "Observation.status");
  REQUIRE(status);
  CHECK(status->starts_with("http://hl7.org/fhir/ValueSet/observation-status"));
  auto no_binding = shared().bound_value_set(core_patient, "Patient.name");
  REQUIRE_FALSE(no_binding);
  CHECK(no_binding.error().code == "not-found");
  auto no_element = shared().bound_value_set(core_patient, "Patient.nothing");
  REQUIRE_FALSE(no_element);
  CHECK(no_element.error().code == "not-found");
  auto no_sd = shared().bound_value_set("http://example.org/sd/none", "Patient.gender");
  REQUIRE_FALSE(no_sd);
  CHECK(no_sd.error().code == "not-found");
  // A compiled profile, through the lookup: its elements inherit the base's bindings.
  table t;
  auto p = shared().compile(patient_profile(birth_url, core_patient, {"Patient.birthDate"}));
  REQUIRE(p);
  t.profiles[birth_url] = *p;
  auto inherited = shared().bound_value_set(birth_url, "Patient.gender", t.lookup());
  REQUIRE(inherited);
  CHECK(*inherited == *gender);
}
