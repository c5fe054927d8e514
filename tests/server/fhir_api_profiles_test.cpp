// fhir_api with validation_support (issue 8): StructureDefinitions created
// through the REST API are profiles like those of the configured packages —
// for $validate?profile=, for meta.profile, for the write-validation policy
// and for $expand's context — found by canonical URL as the token may read
// them, compiled once per (url, id, versionId).

#include <hearth/server/validation_support.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/smart_scopes.hpp>

#include "server/server_test_support.hpp"

namespace hearth::server::test {
namespace {

/// One validation_support per policy for the binary (building one reads the
/// R4 definitions), without packages: every profile here is stored.
const validation_support& support(std::string_view policy) {
  auto make = [](std::string_view text) {
    validation_settings s;
    s.definitions_dir = HEARTH_DEFINITIONS_DIR;
    auto p = validation_policy::parse(text);
    REQUIRE(p);
    s.policy = *p;
    return new validation_support(registry(), std::move(s));  // lives as long as the process
  };
  static const validation_support* off = make("off");
  static const validation_support* enforcing = make("Patient=enforce,*=off");
  return policy == "off" ? *off : *enforcing;
}

api_options with_validation(std::string_view policy = "off") {
  api_options o = api_case::default_options();
  o.validation = &support(policy);
  return o;
}

constexpr std::string_view profile_url = "http://example.org/fhir/StructureDefinition/patient-with-birthdate";
constexpr std::string_view named_url = "http://example.org/fhir/StructureDefinition/patient-named";

/// A differential-only profile on Patient: the elements of `required` get min 1.
std::string patient_profile(std::string_view url, std::string_view base, const std::vector<std::string>& required,
                            std::string_view id = {}) {
  std::string elements;
  for (const auto& path : required) {
    if (!elements.empty()) elements += ",";
    elements += R"({"id":")" + path + R"(","path":")" + path + R"(","min":1})";
  }
  std::string s = R"({"resourceType":"StructureDefinition",)";
  if (!id.empty()) s += R"("id":")" + std::string(id) + R"(",)";
  return s + R"("url":")" + std::string(url) + R"(","name":"TestPatientProfile","status":"active",
    "kind":"resource","abstract":false,"type":"Patient","baseDefinition":")" + std::string(base) +
         R"(","derivation":"constraint","differential":{"element":[)" + elements + "]}}";
}

/// "severity/code" of each issue of an OperationOutcome response.
std::vector<std::string> issues_of(const http_response& r) {
  std::vector<std::string> out;
  const fhir::json_value j = body_of(r);
  if (const fhir::json_value* issues = j.find("issue")) {
    for (const fhir::json_value& i : issues->items()) out.push_back(str_at(i, {"severity"}) + "/" + str_at(i, {"code"}));
  }
  return out;
}

bool any_error(const http_response& r) {
  for (const auto& x : issues_of(r))
    if (x.starts_with("error/") || x.starts_with("fatal/")) return true;
  return false;
}

/// The diagnostics of every issue, joined.
std::string all_diagnostics(const http_response& r) {
  std::string out;
  const fhir::json_value j = body_of(r);
  if (const fhir::json_value* issues = j.find("issue")) {
    for (const fhir::json_value& i : issues->items()) out += str_at(i, {"diagnostics"}) + "\n";
  }
  return out;
}

constexpr std::string_view with_birth_date = R"({"resourceType":"Patient","birthDate":"1970-01-01"})";
constexpr std::string_view without_birth_date = R"({"resourceType":"Patient","gender":"female"})";

TEST_CASE("api profiles: a StructureDefinition POSTed is a profile for $validate?profile=") {
  api_case c(with_validation());
  const std::string validate = "/Patient/$validate?profile=" + std::string(profile_url);
  // Not stored yet: the nominated profile is unknown, an error issue.
  const http_response before = c.post(validate, std::string(with_birth_date));
  REQUIRE(before.status == 200);
  CHECK(any_error(before));
  CHECK(all_diagnostics(before).find("is not known") != std::string::npos);

  const std::string id = c.create("StructureDefinition",
                                  patient_profile(profile_url, "http://hl7.org/fhir/StructureDefinition/Patient",
                                                  {"Patient.birthDate"}));
  const http_response pass = c.post(validate, std::string(with_birth_date));
  REQUIRE(pass.status == 200);
  CHECK_FALSE(any_error(pass));
  const http_response fail = c.post(validate, std::string(without_birth_date));
  REQUIRE(fail.status == 200);
  CHECK(any_error(fail));
  CHECK(all_diagnostics(fail).find("birthDate") != std::string::npos);

  // An update of the StructureDefinition (a new versionId) is applied at once.
  const http_response updated =
      c.put("/StructureDefinition/" + id,
            patient_profile(profile_url, "http://hl7.org/fhir/StructureDefinition/Patient",
                            {"Patient.birthDate", "Patient.name"}, id));
  REQUIRE(updated.status == 200);
  const http_response now_fails = c.post(validate, std::string(with_birth_date));
  CHECK(any_error(now_fails));
  CHECK(all_diagnostics(now_fails).find("name") != std::string::npos);
  const http_response named = c.post(
      validate, R"({"resourceType":"Patient","birthDate":"1970-01-01","name":[{"family":"Shaw"}]})");
  CHECK_FALSE(any_error(named));

  // Deleted: unknown again.
  REQUIRE(c.del("/StructureDefinition/" + id).status / 100 == 2);
  CHECK(all_diagnostics(c.post(validate, std::string(with_birth_date))).find("is not known") != std::string::npos);
}

TEST_CASE("api profiles: meta.profile and a profile based on a stored profile") {
  api_case c(with_validation());
  c.create("StructureDefinition",
           patient_profile(profile_url, "http://hl7.org/fhir/StructureDefinition/Patient", {"Patient.birthDate"}));
  // Its base is the stored profile: the snapshot comes from it.
  c.create("StructureDefinition", patient_profile(named_url, profile_url, {"Patient.name"}));
  const std::string claimed = R"({"resourceType":"Patient","meta":{"profile":[")" + std::string(named_url) + R"("]},)";
  const http_response both_missing = c.post("/Patient/$validate", claimed + R"("gender":"male"})");
  CHECK(any_error(both_missing));
  const std::string d = all_diagnostics(both_missing);
  CHECK(d.find("birthDate") != std::string::npos);  // the base profile's rule
  CHECK(d.find("name") != std::string::npos);       // its own
  const http_response ok = c.post("/Patient/$validate",
                                  claimed + R"("birthDate":"1970-01-01","name":[{"family":"Shaw"}]})");
  CHECK_FALSE(any_error(ok));
}

TEST_CASE("api profiles: the write-validation policy applies stored profiles claimed in meta.profile") {
  api_case c(with_validation("Patient=enforce,*=off"));
  c.create("StructureDefinition",
           patient_profile(profile_url, "http://hl7.org/fhir/StructureDefinition/Patient", {"Patient.birthDate"}));
  const std::string claimed = R"({"resourceType":"Patient","meta":{"profile":[")" + std::string(profile_url) + R"("]},)";
  const http_response refused = c.post("/Patient", claimed + R"("gender":"male"})");
  CHECK(refused.status == 422);
  CHECK(all_diagnostics(refused).find("birthDate") != std::string::npos);
  CHECK(c.post("/Patient", claimed + R"("birthDate":"1970-01-01"})").status == 201);
}

TEST_CASE("api profiles: a stored StructureDefinition that does not compile is an error issue") {
  api_case c(with_validation());
  const std::string broken_url = "http://example.org/fhir/StructureDefinition/broken";
  c.create("StructureDefinition",
           patient_profile(broken_url, "http://example.org/fhir/StructureDefinition/no-such-base", {"Patient.name"}));
  const http_response r = c.post("/Patient/$validate?profile=" + broken_url, std::string(with_birth_date));
  REQUIRE(r.status == 200);
  CHECK(any_error(r));
  const std::string d = all_diagnostics(r);
  CHECK(d.find("cannot be used") != std::string::npos);
  CHECK(d.find("no-such-base") != std::string::npos);
  // Claimed in meta.profile: an error too, not the warning of an unknown profile.
  const http_response claimed = c.post(
      "/Patient/$validate", R"({"resourceType":"Patient","meta":{"profile":[")" + broken_url + R"("]}})");
  CHECK(any_error(claimed));

  // Two stored profiles based on each other: refused, not a recursion without end.
  const std::string a = "http://example.org/fhir/StructureDefinition/loop-a";
  const std::string b = "http://example.org/fhir/StructureDefinition/loop-b";
  c.create("StructureDefinition", patient_profile(a, b, {"Patient.name"}));
  c.create("StructureDefinition", patient_profile(b, a, {"Patient.gender"}));
  const http_response loop = c.post("/Patient/$validate?profile=" + a, std::string(with_birth_date));
  REQUIRE(loop.status == 200);
  CHECK(any_error(loop));
  CHECK(all_diagnostics(loop).find("itself") != std::string::npos);
}

TEST_CASE("api profiles: $expand context names an element of a stored profile") {
  api_case c(with_validation());
  c.create("StructureDefinition",
           patient_profile(profile_url, "http://hl7.org/fhir/StructureDefinition/Patient", {"Patient.gender"}));
  const http_response r = c.get("/ValueSet/$expand?context=" + std::string(profile_url) + "%23Patient.gender");
  REQUIRE(r.status == 200);
  CHECK(r.body.find("\"female\"") != std::string::npos);
}

// --- access ---------------------------------------------------------------------------

TEST_CASE("api profiles: a stored profile is used only when the token may read StructureDefinitions") {
  api_case plain(with_validation());  // seeds without checks
  plain.create("StructureDefinition",
               patient_profile(profile_url, "http://hl7.org/fhir/StructureDefinition/Patient", {"Patient.birthDate"}));
  api_options o = with_validation();
  o.enforce_authorization = true;
  if (o.indexer == nullptr) o.indexer = &store::test::default_indexer();
  const fhir_api secured(plain.sc.rs, registry(), o);
  auto validate = [&](const principal_ptr& who) {
    http_request req;
    req.method = "POST";
    req.target = "/fhir/Patient/$validate?profile=" + std::string(profile_url);
    req.body = std::string(without_birth_date);
    req.headers = api_case::with_type({});
    req.remote_address = "127.0.0.1";
    req.request_id = "req-profiles";
    req.principal = who;
    return secured.handle(req);
  };
  // Without StructureDefinition access the stored profile is not seen at all.
  const http_response hidden = validate(token("user/Patient.rs"));
  REQUIRE(hidden.status == 200);
  CHECK(all_diagnostics(hidden).find("is not known") != std::string::npos);
  CHECK(all_diagnostics(hidden).find("birthDate") == std::string::npos);
  // With it, the profile applies.
  const http_response seen = validate(token("user/Patient.rs user/StructureDefinition.rs"));
  REQUIRE(seen.status == 200);
  CHECK(all_diagnostics(seen).find("birthDate") != std::string::npos);
}

// --- the cache -------------------------------------------------------------------------

TEST_CASE("api profiles: stored definitions are compiled once per (url, id, versionId)") {
  const validation_support& vs = support("off");
  // A resolver as the REST layer's, over one definition whose version a case changes.
  std::string version = "1";
  std::vector<std::string> required{"Patient.birthDate"};
  int asked = 0;
  const std::string url = "http://example.org/fhir/StructureDefinition/cached";
  const terminology::resolver resolve = [&](std::string_view type, std::string_view u,
                                            std::string_view) -> std::optional<fhir::json_value> {
    if (type != "StructureDefinition" || u != url) return std::nullopt;
    ++asked;
    auto j = fhir::parse_json(patient_profile(url, "http://hl7.org/fhir/StructureDefinition/Patient", required, "c1"));
    REQUIRE(j);
    fhir::json_value meta = fhir::json_value::object();
    meta.set("versionId", version);
    j->set("meta", std::move(meta));
    return std::move(*j);
  };
  auto first = vs.stored_profile(url, resolve);
  REQUIRE(first);
  REQUIRE(*first != nullptr);
  CHECK((*first)->url() == url);
  auto again = vs.stored_profile(url, resolve);
  REQUIRE(again);
  CHECK(again->get() == first->get());  // unchanged: the same compiled profile
  version = "2";
  required.push_back("Patient.name");
  auto updated = vs.stored_profile(url, resolve);
  REQUIRE(updated);
  REQUIRE(*updated != nullptr);
  CHECK(updated->get() != first->get());  // a new version: compiled again
  CHECK(asked == 3);                      // the store is asked each time; compiling is what is saved

  // And validation uses what the resolver gives now.
  auto j = fhir::parse_json(R"({"resourceType":"Patient","birthDate":"1970-01-01"})");
  REQUIRE(j);
  const std::vector<std::string> nominated{url};
  auto issues = vs.validate(*j, nominated, resolve);
  REQUIRE(issues);
  CHECK(fhir::has_errors(*issues));  // name is required from version 2 on

  // Nothing stored: no profile, no error.
  auto none = vs.stored_profile("http://example.org/fhir/StructureDefinition/none", resolve);
  REQUIRE(none);
  CHECK(*none == nullptr);
}

}  // namespace
}  // namespace hearth::server::test
