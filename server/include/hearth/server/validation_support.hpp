#pragma once
// hearth::server::validation_support — the terminology registry (terminology/)
// and the profile validator (profiles/) as the server uses them: loaded once,
// in the background from start-up or on first use, shared by every request;
// and the policy saying which writes are validated (issue 8).
//
// The two take a moment to build (tens of MB of JSON: the R4 value sets and
// code systems, every StructureDefinition and extension definition), which a
// server that never validates should not pay at start-up, and a server that
// does should not pay on its first request: `hearth serve` calls preload(),
// which builds them on a thread of their own while the listener starts; a
// request that needs one before it is ready waits for it.
//
// Thread-safety: every const member may be called from any number of threads
// at once; the first caller of terminology()/validator() builds it (others
// wait), later callers read it. preload() may be called once, from any
// thread. Lifetime: the definitions given to the constructor must outlive the
// object; the destructor waits for a preload still running.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <hearth/core/error.hpp>
#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/profiles/compiled_profile.hpp>
#include <hearth/profiles/validator.hpp>
#include <hearth/terminology/registry.hpp>
#include <hearth/terminology/resolver.hpp>

namespace hearth::server {

/// What happens to a create, update or patch whose resource fails
/// validation against the base definitions and its profiles.
enum class validation_mode : std::uint8_t {
  off,      ///< not validated beyond the structural check every write has
  warn,     ///< validated; the write goes on, and the issues are counted
  enforce,  ///< validated; errors refuse the write (422 with the OperationOutcome)
};

/// "off", "warn", "enforce".
std::string_view to_string(validation_mode m) noexcept;

/// The validation mode of each resource type. Plain value type.
class validation_policy {
 public:
  /// "off", "warn" or "enforce" for every type, or comma-separated
  /// TYPE=MODE pairs where TYPE is a resource type or "*" (the others):
  /// "Patient=enforce,Observation=enforce,*=warn". Errors ("invalid"): an
  /// unknown mode, an empty or repeated type. Types are not checked against
  /// the definitions here (validate_types does).
  static hearth::result<validation_policy> parse(std::string_view spec);

  /// The mode for a resource type.
  validation_mode mode_for(std::string_view type) const noexcept;
  /// Some type is validated (warn or enforce).
  bool any() const noexcept;
  /// The first type named that is not a resource type of `defs`; empty when
  /// all are.
  std::string unknown_type(const fhir::definitions& defs) const;

 private:
  validation_mode other_ = validation_mode::off;
  std::vector<std::pair<std::string, validation_mode>> types_;
};

/// How validation_support finds what it loads.
struct validation_settings {
  /// The folder of the R4 definition bundles (the one fhir::definitions was
  /// loaded from): the profile validator reads its StructureDefinitions there.
  std::filesystem::path definitions_dir;
  /// FHIR packages whose StructureDefinitions (profiles, extensions) are
  /// added: npm-layout folders, or JSON files holding a StructureDefinition,
  /// a Bundle or an array of them (profiles::validator::load_package).
  std::vector<std::filesystem::path> packages;
  validation_policy policy;
};

class validation_support {
 public:
  validation_support(const fhir::definitions& defs, validation_settings settings);
  ~validation_support();
  validation_support(const validation_support&) = delete;
  validation_support& operator=(const validation_support&) = delete;

  /// Starts building the registry and the validator on a thread of their
  /// own and returns at once. Calling it again does nothing.
  void preload();

  /// The terminology registry, built on first use. The error (a definitions
  /// file missing or malformed) is returned to every caller; it is not retried.
  hearth::result<const terminology::registry*> terminology() const;
  /// The profile validator with the configured packages, built on first use
  /// (an error as for terminology(): a package that cannot be read is one).
  hearth::result<const profiles::validator*> validator() const;

  const validation_policy& policy() const noexcept;
  const fhir::definitions& definitions() const noexcept;

  /// Validates `resource` against the base R4 definitions, the profiles in
  /// its meta.profile and `profiles`, with the bindings checked through the
  /// terminology registry (value sets it does not hold looked up through
  /// `resolve`: those stored through the API). Profiles, extension
  /// definitions and the bases of differentials that the configured packages
  /// lack are looked up through `resolve` too, as "StructureDefinition" by
  /// canonical URL (stored_profile()). Errors: the validator or the registry
  /// could not be built.
  hearth::result<fhir::issue_list> validate(const fhir::json_value& resource,
                                            std::span<const std::string> profiles = {},
                                            const terminology::resolver& resolve = {}) const;

  /// A StructureDefinition stored through the API, by canonical URL (found
  /// through `resolve("StructureDefinition", url, "")`), compiled for the
  /// validator: nullptr when none is stored (or the token may not read it:
  /// the resolver decides); an error ("invalid", "not-found",
  /// "not-supported"...) when the stored one cannot be compiled, saying why.
  /// A differential gets its snapshot from its base (the packages', or
  /// another stored one). Compiled once per (url, resource id, versionId):
  /// an update is picked up at the next call, an unchanged definition is
  /// not compiled again; at most max_stored_profiles are kept. Errors also:
  /// the validator could not be built.
  hearth::result<std::shared_ptr<const profiles::compiled_profile>> stored_profile(
      std::string_view url, const terminology::resolver& resolve) const;

  /// The value set an expansion `context` names (R4
  /// valueset-operation-expand.html: "[Structure Definition URL]#[name or
  /// path into structure definition]"): the canonical bound to that element,
  /// in the packages' StructureDefinitions or a stored one. Errors:
  /// "invalid" (not of that form), "not-found" (no such definition or
  /// element, or no value set bound to it), the validator could not be built.
  hearth::result<std::string> context_value_set(std::string_view context,
                                                const terminology::resolver& resolve) const;

  /// Most compiled stored StructureDefinitions kept (stored_profile()):
  /// bounds memory whatever is stored; beyond it one is dropped and compiled
  /// again when next needed.
  static constexpr std::size_t max_stored_profiles = 256;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::server
