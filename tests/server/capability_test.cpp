#include <hearth/server/capability.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>

#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/resource_check.hpp>

#include "store/index_test_support.hpp"  // registry()

namespace hearth::server {
namespace {

using fhir::json_value;
using store::test::registry;

capability_options test_options() {
  capability_options o;
  o.base_url = "https://fhir.example.org/r4";
  o.software_version = "9.8.7";
  o.date = "2024-03-01T12:00:00Z";
  o.security_description = "Requests are not yet authorised (SMART on FHIR is coming).";
  return o;
}

const json_value& rest0(const json_value& cs) {
  const json_value* rest = cs.find("rest");
  REQUIRE(rest != nullptr);
  REQUIRE(rest->size() == 1);
  return rest->items()[0];
}

/// The rest.resource entry of `type`; fails the case when there is none.
const json_value& resource_entry(const json_value& cs, std::string_view type) {
  for (const json_value& r : rest0(cs).find("resource")->items()) {
    if (r.find("type")->str() == type) return r;
  }
  FAIL("no rest.resource for " << type);
  throw 0;  // unreachable
}

std::set<std::string> strings_of(const json_value* a) {
  std::set<std::string> out;
  if (a == nullptr) return out;
  for (const json_value& v : a->items()) out.insert(v.str());
  return out;
}

std::set<std::string> param_names(const json_value& resource) {
  std::set<std::string> out;
  if (const json_value* sp = resource.find("searchParam")) {
    for (const json_value& p : sp->items()) out.insert(p.find("name")->str());
  }
  return out;
}

TEST_CASE("capability: the statement passes check_resource with no errors") {
  const json_value cs = capability_statement(registry(), test_options());
  const fhir::issue_list issues = fhir::check_resource(cs, registry());
  for (const fhir::issue& i : issues) {
    INFO(fhir::to_string(i.severity) << " " << i.code << " " << i.expression << ": " << i.diagnostics);
    CHECK(i.severity != fhir::issue_severity::error);
    CHECK(i.severity != fhir::issue_severity::fatal);
  }
  CHECK_FALSE(fhir::has_errors(issues));
  // With the defaults too (no security description, date = now).
  CHECK_FALSE(fhir::has_errors(fhir::check_resource(capability_statement(registry(), {}), registry())));
}

TEST_CASE("capability: the top-level elements") {
  const json_value cs = capability_statement(registry(), test_options());
  CHECK(cs.find("resourceType")->str() == "CapabilityStatement");
  CHECK(cs.find("status")->str() == "active");
  CHECK(cs.find("date")->str() == "2024-03-01T12:00:00Z");
  CHECK(cs.find("kind")->str() == "instance");
  CHECK(cs.find("fhirVersion")->str() == "4.0.1");
  CHECK(cs.find("software")->find("name")->str() == "Hearth");
  CHECK(cs.find("software")->find("version")->str() == "9.8.7");
  CHECK(cs.find("implementation")->find("url")->str() == "https://fhir.example.org/r4");
  CHECK(cs.find("implementation")->find("description")->str() == "Hearth FHIR R4 server");
  const auto formats = strings_of(cs.find("format"));
  CHECK(formats.count("application/fhir+json") == 1);
  CHECK(formats.count("application/fhir+xml") == 1);
  CHECK(formats.count("json") == 1);
  CHECK(formats.count("xml") == 1);
  CHECK(strings_of(cs.find("patchFormat")) ==
        std::set<std::string>{"application/json-patch+json", "application/fhir+json", "application/fhir+xml"});

  const json_value& rest = rest0(cs);
  CHECK(rest.find("mode")->str() == "server");
  CHECK(rest.find("security")->find("cors")->as_bool() == false);
  CHECK(rest.find("security")->find("description")->str() == test_options().security_description);
  std::set<std::string> system;
  for (const json_value& i : rest.find("interaction")->items()) system.insert(i.find("code")->str());
  CHECK(system == std::set<std::string>{"transaction", "batch", "history-system"});
  std::set<std::string> ops;
  for (const json_value& o : rest.find("operation")->items()) ops.insert(o.find("name")->str());
  CHECK(ops == std::set<std::string>{"meta", "meta-add", "meta-delete", "validate"});
  const json_value& patient = resource_entry(cs, "Patient");
  CHECK(patient.find("operation")->items()[0].find("definition")->str() ==
        "http://hl7.org/fhir/OperationDefinition/Patient-everything");
  CHECK(resource_entry(cs, "Observation").find("operation") == nullptr);
  CHECK(patient.find("conditionalUpdate")->as_bool());
  CHECK(patient.find("conditionalDelete")->str() == "single");
}

TEST_CASE("capability: the date defaults to now, as a FHIR dateTime in UTC") {
  const json_value cs = capability_statement(registry(), {});
  const std::string& date = cs.find("date")->str();
  REQUIRE(date.size() == 20);
  CHECK(date[4] == '-');
  CHECK(date[10] == 'T');
  CHECK(date.back() == 'Z');
  CHECK(date.substr(0, 2) == "20");
  CHECK(rest0(cs).find("security")->find("description") == nullptr);  // none given: none invented
}

TEST_CASE("capability: one rest.resource per resource type of the definitions") {
  const json_value cs = capability_statement(registry(), test_options());
  const auto& resources = rest0(cs).find("resource")->items();
  const auto types = registry().resource_types();
  REQUIRE(resources.size() == types.size());
  CHECK(types.size() >= 145);
  for (std::size_t i = 0; i < types.size(); ++i) {
    const json_value& r = resources[i];
    CAPTURE(types[i]);
    CHECK(r.find("type")->str() == types[i]);
    CHECK(r.find("profile")->str() == "http://hl7.org/fhir/StructureDefinition/" + std::string(types[i]));
    CHECK(r.find("versioning")->str() == "versioned-update");
    CHECK(r.find("readHistory")->as_bool());
    CHECK(r.find("updateCreate")->as_bool());
    CHECK(r.find("conditionalCreate")->as_bool());
    CHECK(r.find("conditionalRead")->str() == "full-support");
    CHECK(r.find("conditionalUpdate")->as_bool());
    CHECK(r.find("conditionalDelete")->str() == "single");
    std::vector<std::string> interactions;
    for (const json_value& i : r.find("interaction")->items()) interactions.push_back(i.find("code")->str());
    CHECK(interactions == std::vector<std::string>{"read", "vread", "update", "patch", "delete", "history-instance",
                                                   "history-type", "create", "search-type"});
    // Every type can be searched by the Resource parameters.
    const auto names = param_names(r);
    for (const char* p : {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"}) {
      CAPTURE(p);
      CHECK(names.count(p) == 1);
    }
    const auto include = strings_of(r.find("searchInclude"));
    CHECK(include.count("*") == 1);
  }
}

TEST_CASE("capability: search parameters of Patient, with definition and type, only the searchable ones") {
  const json_value cs = capability_statement(registry(), test_options());
  const json_value& patient = resource_entry(cs, "Patient");
  bool found_birthdate = false;
  for (const json_value& p : patient.find("searchParam")->items()) {
    if (p.find("name")->str() == "birthdate") {
      found_birthdate = true;
      CHECK(p.find("definition")->str() == "http://hl7.org/fhir/SearchParameter/individual-birthdate");
      CHECK(p.find("type")->str() == "date");
    }
    if (p.find("name")->str() == "_id") CHECK(p.find("type")->str() == "token");
  }
  CHECK(found_birthdate);
  const auto names = param_names(patient);
  for (const char* p : {"name", "family", "identifier", "general-practitioner", "organization", "gender"}) {
    CAPTURE(p);
    CHECK(names.count(p) == 1);
  }
  // Not indexed, so the store answers "not-supported": not advertised.
  for (const char* p : {"_text", "_content", "_query"}) {
    CAPTURE(p);
    CHECK(names.count(p) == 0);
  }
  // Observation's composites over plain components are searchable.
  CHECK(param_names(resource_entry(cs, "Observation")).count("code-value-quantity") == 1);
}

TEST_CASE("capability: searchInclude and searchRevInclude follow the reference parameters") {
  const json_value cs = capability_statement(registry(), test_options());
  const auto patient_include = strings_of(resource_entry(cs, "Patient").find("searchInclude"));
  CHECK(patient_include.count("Patient:general-practitioner") == 1);
  CHECK(patient_include.count("Patient:organization") == 1);
  CHECK(patient_include.count("Patient:link") == 1);
  CHECK(patient_include.count("Patient:name") == 0);  // a string parameter
  const auto obs_include = strings_of(resource_entry(cs, "Observation").find("searchInclude"));
  CHECK(obs_include.count("Observation:subject") == 1);
  CHECK(obs_include.count("Observation:patient") == 1);
  CHECK(obs_include.count("Observation:code") == 0);

  const auto patient_rev = strings_of(resource_entry(cs, "Patient").find("searchRevInclude"));
  CHECK(patient_rev.count("Observation:subject") == 1);
  CHECK(patient_rev.count("Observation:patient") == 1);
  CHECK(patient_rev.count("Encounter:patient") == 1);
  CHECK(patient_rev.count("Patient:link") == 1);
  CHECK(patient_rev.count("Observation:performer") == 1);
  CHECK(patient_rev.count("Observation:encounter") == 0);  // points to Encounter only
  const auto org_rev = strings_of(resource_entry(cs, "Organization").find("searchRevInclude"));
  CHECK(org_rev.count("Patient:organization") == 1);
  CHECK(org_rev.count("Patient:general-practitioner") == 1);
  CHECK(org_rev.count("Observation:subject") == 0);  // subject cannot be an Organization
  // Every revinclude names a real type and one of its reference parameters.
  for (const std::string& s : patient_rev) {
    const auto colon = s.find(':');
    REQUIRE(colon != std::string::npos);
    const auto* p = registry().find_search_parameter(s.substr(0, colon), s.substr(colon + 1));
    REQUIRE_MESSAGE(p != nullptr, s);
    CHECK(p->type == fhir::search_param_type::reference);
  }
}

TEST_CASE("capability: options change what is advertised") {
  capability_options o = test_options();
  o.cors = true;
  o.type_interactions = {"read", "search-type"};
  o.system_interactions = {"transaction", "batch"};
  o.conditional_update = true;
  o.conditional_delete = conditional_delete_support::multiple;
  o.patch_formats = {"application/json-patch+json"};
  const json_value cs = capability_statement(registry(), o);
  CHECK(rest0(cs).find("security")->find("cors")->as_bool());
  CHECK(strings_of(cs.find("patchFormat")) == std::set<std::string>{"application/json-patch+json"});
  std::set<std::string> system;
  for (const json_value& i : rest0(cs).find("interaction")->items()) system.insert(i.find("code")->str());
  CHECK(system == std::set<std::string>{"transaction", "batch"});
  const json_value& obs = resource_entry(cs, "Observation");
  CHECK(obs.find("interaction")->size() == 2);
  CHECK(obs.find("conditionalUpdate")->as_bool());
  CHECK(obs.find("conditionalDelete")->str() == "multiple");
  CHECK(to_string(conditional_delete_support::single) == "single");
  CHECK_FALSE(fhir::has_errors(fhir::check_resource(cs, registry())));

  o.system_interactions.clear();
  const json_value cs2 = capability_statement(registry(), o);
  CHECK(rest0(cs2).find("interaction") == nullptr);  // never an empty array (json.html)
}

TEST_CASE("capability: SMART on FHIR is declared with the oauth-uris extension when enforced") {
  capability_options o = test_options();
  CHECK(rest0(capability_statement(registry(), o)).find("security")->find("service") == nullptr);
  o.smart = true;
  const json_value cs = capability_statement(registry(), o);
  const json_value& security = *rest0(cs).find("security");
  REQUIRE(security.find("service") != nullptr);
  const json_value& coding = security.find("service")->items()[0].find("coding")->items()[0];
  CHECK(coding.find("system")->str() == "http://terminology.hl7.org/CodeSystem/restful-security-service");
  CHECK(coding.find("code")->str() == "SMART-on-FHIR");
  const json_value& ext = security.find("extension")->items()[0];
  CHECK(ext.find("url")->str() == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris");
  std::set<std::string> uris;
  for (const json_value& u : ext.find("extension")->items()) {
    uris.insert(u.find("url")->str() + "=" + u.find("valueUri")->str());
  }
  CHECK(uris == std::set<std::string>{"authorize=https://fhir.example.org/r4/auth/authorize",
                                      "introspect=https://fhir.example.org/r4/auth/introspect",
                                      "revoke=https://fhir.example.org/r4/auth/revoke",
                                      "token=https://fhir.example.org/r4/auth/token"});
  CHECK_FALSE(fhir::has_errors(fhir::check_resource(cs, registry())));
}

TEST_CASE("capability: a type override lists only its interactions and search parameters (the AuditEvent trail)") {
  capability_options o = test_options();
  o.type_overrides.push_back({"AuditEvent", {"read", "search-type"}, {"_id", "date", "patient", "subtype", "nope"}});
  const json_value cs = capability_statement(registry(), o);
  const json_value& ae = resource_entry(cs, "AuditEvent");
  std::set<std::string> interactions;
  for (const json_value& i : ae.find("interaction")->items()) interactions.insert(i.find("code")->str());
  CHECK(interactions == std::set<std::string>{"read", "search-type"});
  std::set<std::string> params;
  for (const json_value& p : ae.find("searchParam")->items()) params.insert(p.find("name")->str());
  // "nope" is no AuditEvent parameter: never advertised.
  CHECK(params == std::set<std::string>{"_id", "date", "patient", "subtype"});
  CHECK(ae.find("searchInclude") == nullptr);
  CHECK(ae.find("conditionalCreate") == nullptr);
  CHECK_FALSE(ae.find("updateCreate")->as_bool());
  CHECK_FALSE(ae.find("readHistory")->as_bool());
  // The other types keep the defaults.
  CHECK(resource_entry(cs, "Observation").find("interaction")->size() == o.type_interactions.size());
  CHECK_FALSE(fhir::has_errors(fhir::check_resource(cs, registry())));
}

}  // namespace
}  // namespace hearth::server
