#pragma once
// hearth::server::capability_statement — the CapabilityStatement served at
// GET [base]/metadata, built from what the server supports.
//
// FHIR R4 capabilitystatement.html, http.html#capabilities. Every concrete
// resource type of the definitions is listed, with the search parameters the
// store can search (store::search_request: no special parameters, no
// parameter without an expression, composites only over plain components).

#include <string>
#include <string_view>
#include <vector>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>

namespace hearth::server {

/// CapabilityStatement.rest.resource.conditionalDelete (R4
/// valueset-conditional-delete-status.html).
enum class conditional_delete_support : unsigned char { not_supported, single, multiple };

/// "not-supported", "single", "multiple".
std::string_view to_string(conditional_delete_support c) noexcept;

/// What the statement says beyond what the definitions give. Plain value;
/// copyable. The defaults describe the REST API as implemented today; the
/// caller adjusts them when it enables or disables a feature.
struct capability_options {
  /// The server's base URL, no trailing slash: implementation.url.
  std::string base_url = "http://localhost:8080";
  /// software.name and software.version.
  std::string software_name = "Hearth";
  std::string software_version = "0.1.0";
  /// implementation.description.
  std::string implementation_description = "Hearth FHIR R4 server";
  /// CapabilityStatement.date (a FHIR dateTime); empty: now, in UTC.
  std::string date;
  /// rest.security.cors: whether CORS headers are sent (server_config's
  /// cors_allowed_origins not empty).
  bool cors = false;
  /// rest.security.description (markdown); omitted when empty. It must say
  /// how requests are authorised (or that they are not yet).
  std::string security_description;
  /// SMART on FHIR authorisation is enforced: rest.security.service
  /// SMART-on-FHIR and the oauth-uris extension (SMART App Launch 2.x,
  /// conformance.html: "the CapabilityStatement ... SHOULD ... declare
  /// support for SMART" with the authorize/token/... endpoints) under
  /// base_url + "/auth/...".
  bool smart = false;
  /// rest.resource.interaction for every resource type (R4 TypeRestfulInteraction).
  std::vector<std::string> type_interactions = {"read",   "vread",  "update",           "patch",        "delete",
                                                "history-instance", "history-type", "create", "search-type"};
  /// A resource type served differently from the others (the AuditEvent
  /// trail: read-only, searched by its own parameters). Its entry lists
  /// exactly `interactions` and the searchParams named in `search_params`
  /// (those the definitions have and the store could search; empty: none),
  /// with no include/revinclude, no conditional interactions, no
  /// updateCreate, readHistory false, and no operations.
  struct type_override {
    std::string type;
    std::vector<std::string> interactions;
    std::vector<std::string> search_params;
  };
  std::vector<type_override> type_overrides;
  /// rest.interaction (R4 SystemRestfulInteraction). Not search-system:
  /// a search across all types is answered 400.
  std::vector<std::string> system_interactions = {"transaction", "batch", "history-system"};
  /// rest.resource.conditionalUpdate / conditionalDelete.
  bool conditional_update = true;
  conditional_delete_support conditional_delete = conditional_delete_support::single;
  /// patchFormat; empty: PATCH not offered. JSON Patch, and FHIRPath Patch
  /// (a Parameters resource) in either format.
  std::vector<std::string> patch_formats = {"application/json-patch+json", "application/fhir+json",
                                            "application/fhir+xml"};
  /// The operations offered (R4 CapabilityStatement.rest.operation and
  /// rest.resource.operation).
  struct operation {
    std::string name;        ///< without '$'
    std::string definition;  ///< the OperationDefinition's canonical URL
    std::string type;        ///< the one resource type it is offered on; empty: every type (rest.operation)
  };
  std::vector<operation> operations = {
      {"meta", "http://hl7.org/fhir/OperationDefinition/Resource-meta", ""},
      {"meta-add", "http://hl7.org/fhir/OperationDefinition/Resource-meta-add", ""},
      {"meta-delete", "http://hl7.org/fhir/OperationDefinition/Resource-meta-delete", ""},
      {"validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate", ""},
      {"everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything", "Patient"}};
};

/// The CapabilityStatement (kind instance, status active, fhirVersion 4.0.1,
/// format json and xml) with one rest.resource per concrete resource type of
/// `defs`: profile, interactions, versioning (versioned-update), readHistory,
/// updateCreate, conditional create/update/delete, searchInclude (the type's
/// reference parameters as "Type:param", and "*"), searchRevInclude (the
/// reference parameters of other types that can point to it) and
/// searchParam (name, definition, type), including the parameters of every
/// resource (_id, _lastUpdated, _tag, _profile, _security, _source).
///
/// The result passes fhir::check_resource. It takes a few milliseconds;
/// build it once at start-up and keep it. Thread-safety: a pure function.
fhir::json_value capability_statement(const fhir::definitions& defs, const capability_options& opts);

}  // namespace hearth::server
