// The IG code system maps embedded from mapping/data/codesystems.
#include "mapping_detail.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "mapping/test_support.hpp"

using namespace hearth::mapping;
using namespace hearth::mapping::detail;

TEST_CASE("every vendored map is embedded and parsed") {
  auto names = code_map_names();
  std::sort(names.begin(), names.end());
  // The maps are the CSVs of mapping/data/codesystems ("HL7 Concept Map_
  // NAME - Sheet1.csv"), each embedded under NAME.
  const std::filesystem::path dir = std::filesystem::path(HEARTH_TEST_DATA) / ".." / ".." / "mapping" / "data" /
                                    "codesystems";
  std::vector<std::string> expected;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    std::string name = f.path().filename().string();
    if (!name.ends_with(".csv")) continue;
    const std::string prefix = "HL7 Concept Map_ ";
    REQUIRE(name.starts_with(prefix));
    name = name.substr(prefix.size());
    name = name.substr(0, name.rfind(" - "));
    expected.push_back(name);
  }
  std::sort(expected.begin(), expected.end());
  CHECK(expected.size() >= 30);
  CHECK(names == expected);
  // The ones every ADT needs are among them.
  for (const char* needed : {"AdministrativeSex", "NameType", "PatientClass[EncounterClass]", "IdentifierType"})
    CHECK(std::find(names.begin(), names.end(), needed) != names.end());
}

TEST_CASE("known codes map as the IG's tables say") {
  const auto* f = lookup_code("AdministrativeSex", "F");
  REQUIRE(f != nullptr);
  CHECK(f->code == "female");
  CHECK(f->system == "http://hl7.org/fhir/administrative-gender");
  CHECK(f->display == "Female");
  CHECK(lookup_code("AdministrativeSex", "A")->code == "other");
  const auto* i = lookup_code("PatientClass[EncounterClass]", "I");
  REQUIRE(i != nullptr);
  CHECK(i->code == "IMP");
  CHECK(i->system == "http://terminology.hl7.org/CodeSystem/v3-ActCode");
  CHECK(i->display == "inpatient encounter");  // display in the map's 8th column
  CHECK(lookup_code("Event[EncounterStatus]", "A03")->code == "finished");
  CHECK(lookup_code("Event[EncounterStatus]", "A11")->code == "cancelled");
  CHECK(lookup_code("MaritalStatus", "U")->system == "http://terminology.hl7.org/CodeSystem/v3-NullFlavor");
  CHECK(lookup_code("Relationship", "SPO")->code == "SPS");
  CHECK(lookup_code("IdentifierType", "MR")->code == "MR");
  CHECK(lookup_code("YesNoIndicator", "Y")->code == "true");
}

TEST_CASE("unknown codes and codes the IG maps to nothing") {
  CHECK(lookup_code("AdministrativeSex", "X") == nullptr);
  CHECK(lookup_code("AdministrativeSex", "f") == nullptr);  // codes are case-sensitive
  CHECK(lookup_code("NoSuchMap", "F") == nullptr);
  // Listed, no FHIR equivalent: an empty target.
  const auto* b = lookup_code("NameType", "B");
  REQUIRE(b != nullptr);
  CHECK(b->code.empty());
  // map_code warns (103) for both and gives nothing.
  auto msg = hearth::mapping::test::adt("ADT^A01", "PID|1");
  const sender_config none;
  context ctx(msg, none);
  position p;
  p.segment_id = "PID";
  p.field = 8;
  CHECK(map_code(ctx, "AdministrativeSex", "X", p).empty());
  CHECK(map_code(ctx, "NameType", "B", p).empty());
  CHECK(map_code(ctx, "AdministrativeSex", "", p).empty());  // nothing sent: no warning
  REQUIRE(ctx.warnings().size() == 2);
  CHECK(ctx.warnings()[0].code == error_code::table_value_not_found);
  CHECK(ctx.warnings()[0].where.to_string() == "PID-8");
  CHECK(map_code(ctx, "AdministrativeSex", "M", p) == "male");
}

TEST_CASE("table 0396 coding system names -> URIs, the sender's first") {
  sender_config cfg;
  CHECK(coding_system_uri("LN", cfg) == "http://loinc.org");
  CHECK(coding_system_uri("SCT", cfg) == "http://snomed.info/sct");
  CHECK(coding_system_uri("I10", cfg) == "http://hl7.org/fhir/sid/icd-10");
  CHECK(coding_system_uri("HL70063", cfg) == "http://terminology.hl7.org/CodeSystem/v2-0063");
  CHECK(coding_system_uri("HL7006X", cfg).empty());
  CHECK(coding_system_uri("LOCAL", cfg).empty());
  cfg.code_systems.emplace("LOCAL", "http://hosp.example/codes");
  cfg.code_systems.emplace("LN", "http://override.example");
  CHECK(coding_system_uri("LOCAL", cfg) == "http://hosp.example/codes");
  CHECK(coding_system_uri("LN", cfg) == "http://override.example");
}
