// Validation and terminology against a real `hearth serve` (issue 8): the
// settings --validation and --fhir-packages, the terminology operations and
// $validate over HTTP, and the CapabilityStatement offering them.

#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "integration/hearth_process.hpp"

namespace hearth::test {
namespace {

const std::vector<std::pair<std::string, std::string>> json_headers{{"Content-Type", "application/fhir+json"}};

std::string us_core_package() {
  return std::string(HEARTH_DEFINITIONS_DIR) + "/testing/uscore-v5.0.1-structuredefinitions.json";
}

TEST_CASE("validation: hearth serve enforces the policy and a package's profile, and offers the operations") {
  hearth_process server({"--validation", "Patient=enforce,*=off", "--fhir-packages", us_core_package()});
  http_connection c(server);
  // Patient: enforce. A code outside the required binding of gender is 422.
  const http_reply refused = c.request("POST", "/Patient", R"({"resourceType":"Patient","gender":"mle"})", json_headers);
  CHECK(refused.status == 422);
  CHECK(refused.body.find("\"OperationOutcome\"") != std::string::npos);
  CHECK(refused.body.find("Patient.gender") != std::string::npos);
  // A resource claiming US Core Patient is held to it.
  const std::string claims = R"({"resourceType":"Patient","meta":{"profile":[
      "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},"gender":"male"})";
  CHECK(c.request("POST", "/Patient", claims, json_headers).status == 422);
  const http_reply ok = c.request("POST", "/Patient", R"({"resourceType":"Patient","gender":"male"})", json_headers);
  CHECK(ok.status == 201);
  // Observation: off. Its status binding is not checked on write...
  CHECK(c.request("POST", "/Observation", R"({"resourceType":"Observation","status":"finalish","code":{"text":"x"}})",
                  json_headers)
            .status == 201);
  // ...but $validate checks it.
  const http_reply v = c.request("POST", "/Observation/$validate",
                                 R"({"resourceType":"Observation","status":"finalish","code":{"text":"x"}})",
                                 json_headers);
  CHECK(v.status == 200);
  CHECK(v.body.find("\"error\"") != std::string::npos);
  CHECK(v.body.find("Observation.status") != std::string::npos);
  // The terminology operations.
  const http_reply e = c.request("GET", "/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/observation-status");
  CHECK(e.status == 200);
  CHECK(e.body.find("\"amended\"") != std::string::npos);
  const http_reply l =
      c.request("GET", "/CodeSystem/$lookup?system=http://hl7.org/fhir/administrative-gender&code=other");
  CHECK(l.status == 200);
  CHECK(l.body.find("\"Other\"") != std::string::npos);
  // The CapabilityStatement offers them.
  const http_reply cap = c.request("GET", "/metadata");
  REQUIRE(cap.status == 200);
  CHECK(cap.body.find("OperationDefinition/ValueSet-expand") != std::string::npos);
  CHECK(cap.body.find("OperationDefinition/ConceptMap-translate") != std::string::npos);
}

TEST_CASE("validation: settings that cannot work stop hearth serve at start-up") {
  const command_output bad_mode = run_hearth({"serve", "--http-port", "0", "--validation", "strict"});
  CHECK(bad_mode.status != 0);
  CHECK(bad_mode.err.find("validation") != std::string::npos);
  const command_output bad_type = run_hearth({"serve", "--http-port", "0", "--validation", "Nonsense=enforce"});
  CHECK(bad_type.status != 0);
  CHECK(bad_type.err.find("Nonsense") != std::string::npos);
  const command_output no_package = run_hearth({"serve", "--http-port", "0", "--fhir-packages", "/no/such/package"});
  CHECK(no_package.status != 0);
  CHECK(no_package.err.find("fhir_packages") != std::string::npos);
}

}  // namespace
}  // namespace hearth::test
