#include <hearth/mapping/config.hpp>

#include <doctest/doctest.h>

using hearth::mapping::mapping_config;

TEST_CASE("config: every setting read; senders chosen by MSH-3.1^MSH-4.1, then \"*\"") {
  auto cfg = mapping_config::parse(R"({
    "*": { "defaultOffset": "Z", "defaultIdentifierSystem": "http://hosp.example/ids" },
    "LAB^HOSP": {
      "identifierSystems": { "MRN": "http://hosp.example/mrn" },
      "defaultOffset": "-05:00",
      "codeSystems": { "LOCAL": "http://hosp.example/codes" },
      "zExtensions": { "ZPI-2": "http://hosp.example/ext/pet", "Z01-10": "urn:ext:z01" }
    }
  })");
  REQUIRE(cfg);
  CHECK(cfg->size() == 2);
  const auto& lab = cfg->for_sender("LAB", "HOSP");
  CHECK(lab.default_offset == "-05:00");
  CHECK(lab.identifier_systems.at("MRN") == "http://hosp.example/mrn");
  CHECK(lab.code_systems.at("LOCAL") == "http://hosp.example/codes");
  CHECK(lab.z_extensions.at("ZPI-2") == "http://hosp.example/ext/pet");
  CHECK(lab.z_extensions.at("Z01-10") == "urn:ext:z01");
  CHECK(lab.default_identifier_system.empty());  // settings are per sender, not merged
  const auto& other = cfg->for_sender("LAB", "OTHER");
  CHECK(other.default_offset == "Z");
  CHECK(other.default_identifier_system == "http://hosp.example/ids");
  // No "*": empty settings.
  auto bare = mapping_config::parse(R"({"A^B": {}})");
  REQUIRE(bare);
  CHECK(bare->for_sender("X", "Y").default_offset.empty());
  CHECK(mapping_config().for_sender("A", "B").identifier_systems.empty());
}

TEST_CASE("config errors name the bad member and never quote values") {
  struct bad_case {
    const char* json;
    const char* location;
  };
  const bad_case cases[] = {
      {R"({"*": {"defaultOfset": "Z"}})", "*.defaultOfset"},
      {R"({"*": {"defaultOffset": "+25:00"}})", "*.defaultOffset"},
      {R"({"*": {"defaultOffset": "0100"}})", "*.defaultOffset"},
      {R"({"*": {"defaultOffset": 1}})", "*.defaultOffset"},
      {R"({"*": {"defaultIdentifierSystem": "not a uri"}})", "*.defaultIdentifierSystem"},
      {R"({"A^B": {"identifierSystems": {"MRN": "secret-mrn-system"}}})", "A^B.identifierSystems.MRN"},
      {R"({"A^B": {"identifierSystems": ["x"]}})", "A^B.identifierSystems"},
      {R"({"A^B": {"codeSystems": {"L": 5}}})", "A^B.codeSystems.L"},
      {R"({"A^B": {"zExtensions": {"PID-2": "http://x.example"}}})", "A^B.zExtensions.PID-2"},
      {R"({"A^B": {"zExtensions": {"ZPI-0": "http://x.example"}}})", "A^B.zExtensions.ZPI-0"},
      {R"({"AB": {}})", "AB"},
      {R"({"*": []})", "*"},
      {R"([])", "$"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.json);
    auto r = mapping_config::parse(c.json);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "invalid");
    CHECK(r.error().location == c.location);
    CHECK(r.error().message.find("secret") == std::string::npos);
  }
  auto syntax = mapping_config::parse("{\"*\": ");
  REQUIRE_FALSE(syntax);
  CHECK(syntax.error().code == "invalid");
  CHECK_FALSE(syntax.error().message.empty());
}

TEST_CASE("config: load reads a file; a missing file is not-found") {
  auto ok = mapping_config::load(std::string(HEARTH_TEST_DATA) + "/hl7v2/mapping/mapping_config.json");
  REQUIRE(ok);
  CHECK(ok->for_sender("ADTAPP", "GOODHOSP").code_systems.count("LOCALALLERGY") == 1);
  auto missing = mapping_config::load("/nonexistent/mapping.json");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == "not-found");
}
