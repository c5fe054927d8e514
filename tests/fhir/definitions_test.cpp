#include <hearth/fhir/definitions.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using namespace hearth::fhir;
namespace fs = std::filesystem;

namespace {

const fs::path definitions_dir = HEARTH_DEFINITIONS_DIR;

/// Loaded once for the whole executable: the cases below only read it.
const definitions& defs() {
  static const definitions d = [] {
    auto r = definitions::load(definitions_dir);
    if (!r) {
      std::fprintf(stderr, "definitions::load failed: %s (%s at %zu)\n", r.error().message.c_str(),
                   r.error().location.c_str(), r.error().offset);
      std::abort();
    }
    return std::move(r).value();
  }();
  return d;
}

bool has_type(const element_definition& e, std::string_view code) {
  return std::any_of(e.types.begin(), e.types.end(), [&](const type_ref& t) { return t.code == code; });
}

bool contains(std::span<const std::string_view> list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

/// A scratch folder holding copies (or replacements) of the four input files.
struct scratch_dir {
  fs::path path;
  explicit scratch_dir(const char* name) : path(fs::temp_directory_path() / name) {
    fs::remove_all(path);
    fs::create_directories(path);
    for (const char* f : {"profiles-types.json", "profiles-resources.json", "search-parameters.json",
                          "compartmentdefinition-patient.json"}) {
      fs::create_symlink(definitions_dir / f, path / f);
    }
  }
  ~scratch_dir() { fs::remove_all(path); }
  void replace(const char* file, const std::string& content) const {
    fs::remove(path / file);
    std::ofstream(path / file, std::ios::binary) << content;
  }
};

std::string read_prefix(const fs::path& file, std::size_t n) {
  std::string s(n, '\0');
  std::ifstream in(file, std::ios::binary);
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

}  // namespace

TEST_CASE("definitions: loads and reports its load time") {
  // Measured here as well as in the start-up program; printed, not asserted
  // (a loaded CI machine must not fail the suite).
  const auto t0 = std::chrono::steady_clock::now();
  auto r = definitions::load(definitions_dir);
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(r.has_value());
  MESSAGE("definitions::load took " << ms << " ms");
  CHECK(r->resource_types().size() == defs().resource_types().size());
}

TEST_CASE("definitions: counts of resource and data types") {
  const definitions& d = defs();
  // R4 4.0.1: 146 concrete resource types (the 145 of the Patient
  // CompartmentDefinition plus Parameters); the bundle's R4B SubscriptionStatus
  // is left out by default.
  CHECK(d.resource_types().size() == 146);
  CHECK(d.is_resource_type("Patient"));
  CHECK(d.is_resource_type("Parameters"));
  CHECK_FALSE(d.is_resource_type("SubscriptionStatus"));
  CHECK_FALSE(d.is_resource_type("Resource"));
  CHECK_FALSE(d.is_resource_type("DomainResource"));
  CHECK_FALSE(d.is_resource_type("Quantity"));
  CHECK_FALSE(d.is_resource_type("patient"));
  CHECK(std::is_sorted(d.resource_types().begin(), d.resource_types().end()));

  std::size_t primitive = 0, complex = 0, abstract_resources = 0, logical = 0, backbone = 0;
  for (const type_definition& t : d.types()) {
    primitive += t.kind == type_kind::primitive_type;
    complex += t.kind == type_kind::complex_type;
    abstract_resources += t.kind == type_kind::resource && t.is_abstract;
    logical += t.kind == type_kind::logical;
    backbone += t.kind == type_kind::backbone_element;
  }
  CHECK(primitive == 20);
  // 39 specialisations + the abstract Element and BackboneElement; the
  // constraints SimpleQuantity and MoneyQuantity are profiles, not types.
  CHECK(complex == 41);
  CHECK(abstract_resources == 2);
  CHECK(logical == 1);  // MetadataResource
  CHECK(backbone > 300);
  MESSAGE("backbone element types: " << backbone);
  CHECK(d.find_type("SimpleQuantity") == nullptr);

  const definitions with_r4b = [] {
    load_options o;
    o.include_other_versions = true;
    auto r = definitions::load(definitions_dir, o);
    REQUIRE(r.has_value());
    return std::move(r).value();
  }();
  CHECK(with_r4b.resource_types().size() == 147);
  CHECK(with_r4b.is_resource_type("SubscriptionStatus"));
}

TEST_CASE("definitions: types") {
  const definitions& d = defs();
  const type_definition* patient = d.find_type("Patient");
  REQUIRE(patient != nullptr);
  CHECK(patient->kind == type_kind::resource);
  CHECK(patient->base == "DomainResource");
  CHECK(patient->url == "http://hl7.org/fhir/StructureDefinition/Patient");
  CHECK(patient->root().path == "Patient");
  CHECK(patient->json == json_kind::object);
  CHECK(d.find_type("Bundle")->base == "Resource");
  CHECK(d.find_type("Resource")->base.empty());
  CHECK(d.find_type("Resource")->is_abstract);
  CHECK(d.find_type("Quantity")->kind == type_kind::complex_type);
  CHECK(d.find_type("Nope") == nullptr);
  CHECK(d.find_type("") == nullptr);

  // Children in snapshot order: XML writes them in this order.
  const auto kids = patient->children();
  REQUIRE(kids.size() >= 5);
  CHECK(kids[0]->path == "Patient.id");
  CHECK(kids[1]->path == "Patient.meta");
  CHECK(kids[2]->path == "Patient.implicitRules");
  CHECK(kids[3]->path == "Patient.language");
  CHECK(kids[4]->path == "Patient.text");
  for (std::size_t i = 1; i < kids.size(); ++i) CHECK(kids[i - 1]->order < kids[i]->order);

  // Backbone elements are types named by their path.
  const type_definition* component = d.find_type("Observation.component");
  REQUIRE(component != nullptr);
  CHECK(component->kind == type_kind::backbone_element);
  CHECK(component->base == "BackboneElement");
  CHECK(component->root().path == "Observation.component");
  CHECK(component->elements.back().path.starts_with("Observation.component."));
  CHECK(std::any_of(component->children().begin(), component->children().end(),
                    [](const element_definition* e) { return e->path == "Observation.component.value[x]"; }));
  const type_definition* repeat = d.find_type("Timing.repeat");
  REQUIRE(repeat != nullptr);
  CHECK(repeat->base == "Element");
}

TEST_CASE("definitions: primitive types and their JSON form") {
  const definitions& d = defs();
  for (const char* n : {"decimal", "integer", "positiveInt", "unsignedInt"}) {
    INFO(n);
    REQUIRE(d.find_type(n) != nullptr);
    CHECK(d.find_type(n)->json == json_kind::number);
  }
  CHECK(d.find_type("boolean")->json == json_kind::boolean);
  for (const char* n : {"string", "code", "id", "uri", "url", "canonical", "oid", "uuid", "markdown", "base64Binary",
                        "date", "dateTime", "instant", "time", "xhtml"}) {
    INFO(n);
    REQUIRE(d.find_type(n) != nullptr);
    CHECK(d.find_type(n)->json == json_kind::string);
  }
  CHECK(d.is_primitive_type("dateTime"));
  CHECK_FALSE(d.is_primitive_type("Quantity"));
  // System types become FHIR types: Resource.id is an id (see the override in
  // definitions.cpp), Extension.url a uri, Element.id a string.
  REQUIRE(d.find_element("Resource.id") != nullptr);
  CHECK(d.find_element("Resource.id")->types.front().code == "id");
  CHECK(d.find_element("Patient.id")->types.front().code == "id");
  CHECK(d.find_element("Extension.url")->types.front().code == "uri");
  CHECK(d.find_element("Element.id")->types.front().code == "string");
  // ... except the lexical value inside a primitive type.
  CHECK(d.find_element("decimal.value")->types.front().code == "http://hl7.org/fhirpath/System.Decimal");
}

TEST_CASE("definitions: elements") {
  const definitions& d = defs();
  const element_definition* birth = d.find_element("Patient.birthDate");
  REQUIRE(birth != nullptr);
  CHECK(birth->min == 0);
  CHECK(birth->max == 1);
  REQUIRE(birth->types.size() == 1);
  CHECK(birth->types[0].code == "date");
  CHECK(birth->is_summary);
  CHECK_FALSE(birth->is_modifier);
  CHECK(birth->name == "birthDate");
  CHECK_FALSE(birth->is_array());

  const element_definition* active = d.find_element("Patient.active");
  REQUIRE(active != nullptr);
  CHECK(active->is_modifier);

  const element_definition* name = d.find_element("Patient.name");
  REQUIRE(name != nullptr);
  CHECK(name->max == element_definition::unbounded);
  CHECK(name->is_array());

  const element_definition* value = d.find_element("Observation.value[x]");
  REQUIRE(value != nullptr);
  CHECK(value->is_choice());
  CHECK(value->types.size() == 11);
  for (const char* t : {"Quantity", "CodeableConcept", "string", "boolean", "integer", "Range", "Ratio",
                        "SampledData", "time", "dateTime", "Period"}) {
    INFO(t);
    CHECK(has_type(*value, t));
  }

  const element_definition* subject = d.find_element("Observation.subject");
  REQUIRE(subject != nullptr);
  REQUIRE(subject->types.size() == 1);
  CHECK(subject->types[0].code == "Reference");
  CHECK(subject->types[0].target_types.size() == 4);
  CHECK(contains(subject->types[0].target_types, "Patient"));
  CHECK(contains(subject->types[0].target_types, "Group"));
  CHECK(contains(subject->types[0].target_types, "Device"));
  CHECK(contains(subject->types[0].target_types, "Location"));

  const element_definition* item_item = d.find_element("Questionnaire.item.item");
  REQUIRE(item_item != nullptr);
  CHECK(item_item->content_reference == "#Questionnaire.item");
  REQUIRE(item_item->content_target != nullptr);
  CHECK(item_item->content_target->path == "Questionnaire.item");
  CHECK(item_item->types.empty());
  CHECK(item_item->children.empty());

  const element_definition* entry_resource = d.find_element("Bundle.entry.resource");
  REQUIRE(entry_resource != nullptr);
  REQUIRE(entry_resource->types.size() == 1);
  CHECK(entry_resource->types[0].code == "Resource");

  CHECK(d.find_element("Patient.nope") == nullptr);
  CHECK(d.find_element("Observation.valueQuantity") == nullptr);
}

TEST_CASE("definitions: JSON property names and choice types") {
  const definitions& d = defs();
  child_match m = d.resolve_choice("Observation", "valueQuantity");
  REQUIRE(m);
  CHECK(m.element->path == "Observation.value[x]");
  REQUIRE(m.type != nullptr);
  CHECK(m.type->code == "Quantity");
  m = d.resolve_choice("Observation", "valueCodeableConcept");
  REQUIRE(m);
  CHECK(m.type->code == "CodeableConcept");
  m = d.resolve_choice("Observation", "valueDateTime");
  REQUIRE(m);
  CHECK(m.type->code == "dateTime");
  CHECK(d.resolve_choice("Observation", "effectiveInstant").type->code == "instant");
  CHECK(d.resolve_choice("Observation.component", "valueString").element->path == "Observation.component.value[x]");
  CHECK(d.resolve_choice("Extension", "valueBase64Binary").type->code == "base64Binary");
  CHECK(d.resolve_choice("Patient", "deceasedBoolean").type->code == "boolean");

  CHECK_FALSE(d.resolve_choice("Observation", "valueFoo"));
  CHECK_FALSE(d.resolve_choice("Observation", "value"));
  CHECK_FALSE(d.resolve_choice("Observation", "valuequantity"));
  CHECK_FALSE(d.resolve_choice("Observation", "value[x]"));
  CHECK_FALSE(d.resolve_choice("Observation", "status"));  // not a choice
  CHECK_FALSE(d.resolve_choice("Patient", "valueQuantity"));

  m = d.find_child("Observation", "status");
  REQUIRE(m);
  CHECK(m.element->path == "Observation.status");
  CHECK(m.type == nullptr);
  CHECK(d.find_child("Observation", "valueQuantity").type->code == "Quantity");
  // Through a content reference and through an element's single type.
  CHECK(d.find_child("Questionnaire.item.item", "linkId").element->path == "Questionnaire.item.linkId");
  CHECK(d.find_child("Observation.code", "coding").element->path == "CodeableConcept.coding");
  CHECK(d.find_child("Quantity", "value").element->path == "Quantity.value");
  CHECK_FALSE(d.find_child("Observation", "foo"));
  CHECK_FALSE(d.find_child("Nope", "id"));
}

TEST_CASE("definitions: search parameters") {
  const definitions& d = defs();
  CHECK(d.all_search_parameters().size() == 1378);

  const search_parameter* birthdate = d.find_search_parameter("Patient", "birthdate");
  REQUIRE(birthdate != nullptr);
  CHECK(birthdate->type == search_param_type::date);
  CHECK(birthdate->expression == "Patient.birthDate | Person.birthDate | RelatedPerson.birthDate");
  CHECK(birthdate->base.size() == 3);
  CHECK(d.find_search_parameter("Person", "birthdate") == birthdate);

  const search_parameter* code = d.find_search_parameter("Observation", "code");
  REQUIRE(code != nullptr);
  CHECK(code->type == search_param_type::token);
  CHECK(code->id == "clinical-code");
  CHECK(code->base.size() == 14);
  CHECK(to_string(code->type) == "token");

  const search_parameter* subject = d.find_search_parameter("Observation", "subject");
  REQUIRE(subject != nullptr);
  CHECK(subject->type == search_param_type::reference);
  CHECK(subject->expression == "Observation.subject");
  CHECK(subject->target.size() == 4);
  CHECK(contains(subject->target, "Patient"));
  CHECK(contains(subject->target, "Group"));

  const search_parameter* composite = d.find_search_parameter("Observation", "code-value-concept");
  REQUIRE(composite != nullptr);
  CHECK(composite->type == search_param_type::composite);
  REQUIRE(composite->components.size() == 2);
  CHECK(composite->components[0].definition == "http://hl7.org/fhir/SearchParameter/clinical-code");
  CHECK(composite->components[1].expression == "value.ofType(CodeableConcept)");
  CHECK(d.find_search_parameter_by_url(composite->components[0].definition) == code);

  const search_parameter* value_quantity = d.find_search_parameter("Observation", "value-quantity");
  REQUIRE(value_quantity != nullptr);
  CHECK(value_quantity->type == search_param_type::quantity);
  CHECK_FALSE(value_quantity->comparators.empty());

  // Common parameters: on Resource for every type, on DomainResource for all
  // but Bundle, Binary and Parameters.
  for (const char* c : {"_id", "_lastUpdated", "_profile", "_tag", "_security", "_source", "_content", "_query",
                        "_text"}) {
    INFO(c);
    CHECK(d.find_search_parameter("Observation", c) != nullptr);
  }
  CHECK(d.find_search_parameter("Observation", "_id")->type == search_param_type::token);
  CHECK(d.find_search_parameter("Observation", "_lastUpdated")->type == search_param_type::date);
  CHECK(d.find_search_parameter("Bundle", "_id") != nullptr);
  CHECK(d.find_search_parameter("Bundle", "_text") == nullptr);
  CHECK(d.find_search_parameter("Parameters", "_id") != nullptr);

  const auto obs = d.search_parameters("Observation");
  CHECK(obs.size() > 40);
  CHECK(std::is_sorted(obs.begin(), obs.end(),
                       [](const search_parameter* a, const search_parameter* b) { return a->code < b->code; }));
  CHECK(d.search_parameters("Nope").empty());
  CHECK(d.find_search_parameter("Observation", "nope") == nullptr);
  CHECK(d.find_search_parameter("Nope", "_id") == nullptr);
}

TEST_CASE("definitions: Patient compartment") {
  const definitions& d = defs();
  const auto obs = d.patient_compartment_params("Observation");
  CHECK(obs.size() == 2);
  CHECK(contains(obs, "subject"));
  CHECK(contains(obs, "performer"));
  CHECK(d.in_patient_compartment("Observation"));
  CHECK(contains(d.patient_compartment_params("Patient"), "link"));
  CHECK(d.in_patient_compartment("Patient"));
  CHECK(contains(d.patient_compartment_params("Group"), "member"));
  // Listed without parameters: not in the compartment.
  CHECK(d.patient_compartment_params("ActivityDefinition").empty());
  CHECK_FALSE(d.in_patient_compartment("ActivityDefinition"));
  CHECK_FALSE(d.in_patient_compartment("Nope"));

  std::size_t in = 0;
  for (std::string_view t : d.resource_types()) in += d.in_patient_compartment(t);
  CHECK(in == 67);
}

TEST_CASE("definitions: terminology files are located, not read") {
  const auto& t = defs().terminology();
  CHECK(t.valuesets == definitions_dir / "valuesets.json");
  CHECK(t.v2_tables == definitions_dir / "v2-tables.json");
  CHECK(t.v3_codesystems == definitions_dir / "v3-codesystems.json");
  CHECK(t.conceptmaps == definitions_dir / "conceptmaps.json");
}

TEST_CASE("definitions: concurrent readers see the same registry") {
  const definitions& d = defs();
  std::vector<std::thread> threads;
  std::vector<int> found(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&d, &found, i] {
      for (int n = 0; n < 2000; ++n) {
        found[static_cast<std::size_t>(i)] += d.resolve_choice("Observation", "valueQuantity") &&
                                              d.find_search_parameter("Patient", "birthdate") != nullptr;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int f : found) CHECK(f == 2000);
}

TEST_CASE("definitions: a moved registry keeps its pointers") {
  auto r = definitions::load(definitions_dir);
  REQUIRE(r.has_value());
  const element_definition* e = r->find_element("Patient.birthDate");
  definitions moved = std::move(r).value();
  CHECK(moved.find_element("Patient.birthDate") == e);
  CHECK(e->path == "Patient.birthDate");
}

TEST_CASE("definitions: missing folder or file") {
  auto r = definitions::load("/nonexistent/hearth-definitions");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "not-found");

  const scratch_dir dir("hearth_definitions_missing");
  fs::remove(dir.path / "search-parameters.json");
  r = definitions::load(dir.path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "not-found");
  CHECK(r.error().location.ends_with("search-parameters.json"));
}

TEST_CASE("definitions: truncated JSON reports file and offset") {
  const scratch_dir dir("hearth_definitions_truncated");
  const std::string prefix = read_prefix(definitions_dir / "profiles-types.json", 100'000);
  REQUIRE(prefix.size() == 100'000);
  dir.replace("profiles-types.json", prefix);
  auto r = definitions::load(dir.path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid");
  CHECK(r.error().location.ends_with("profiles-types.json"));
  CHECK(r.error().offset == 100'000);
  CHECK(r.error().message.starts_with("malformed JSON"));

  const std::string bad = R"({"resourceType": "Bundle", "entry": [})";
  dir.replace("profiles-types.json", bad);
  r = definitions::load(dir.path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid");
  CHECK(r.error().offset == bad.find('}'));
}

TEST_CASE("definitions: files that are not what they should be") {
  const scratch_dir dir("hearth_definitions_shape");
  dir.replace("search-parameters.json", R"({"resourceType": "Patient", "id": "x"})");
  auto r = definitions::load(dir.path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid");
  CHECK(r.error().message == "not a Bundle");
  CHECK(r.error().location.ends_with("search-parameters.json"));

  dir.replace("search-parameters.json", "[1, 2]");
  r = definitions::load(dir.path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "the file is not a JSON object");
  CHECK(r.error().offset <= 1);

  dir.replace("search-parameters.json", R"({"resourceType": "Bundle", "entry": []})");
  r = definitions::load(dir.path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "no SearchParameter");

  dir.replace("compartmentdefinition-patient.json", R"({"resourceType": "Bundle"})");
  fs::remove(dir.path / "search-parameters.json");
  fs::create_symlink(definitions_dir / "search-parameters.json", dir.path / "search-parameters.json");
  r = definitions::load(dir.path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "not a CompartmentDefinition");

  dir.replace("compartmentdefinition-patient.json",
              R"({"resourceType": "CompartmentDefinition", "code": "Device", "resource": []})");
  r = definitions::load(dir.path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "not the Patient CompartmentDefinition");

  // Deep nesting is refused before the reader's recursion can exhaust the stack.
  dir.replace("compartmentdefinition-patient.json", std::string(100'000, '[') + std::string(100'000, ']'));
  r = definitions::load(dir.path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "the file is not a JSON object");
  dir.replace("compartmentdefinition-patient.json",
              "{\"a\":" + std::string(100'000, '[') + std::string(100'000, ']') + "}");
  r = definitions::load(dir.path);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "JSON nested too deeply");
}
