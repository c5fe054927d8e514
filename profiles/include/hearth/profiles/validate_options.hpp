#pragma once
// What one validation (validator::validate) is asked to do: extra profiles,
// the issue limit, and the hooks to the outside world — terminology (code
// validation against a ValueSet) and reference resolution.
//
// FHIR R4 validation.html, terminologies.html#strength, references.html.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>

namespace hearth::profiles {

class compiled_profile;  // compiled_profile.hpp

/// What a terminology service says about one code in one value set.
struct code_verdict {
  enum class status : std::uint8_t {
    valid,        ///< the code is in the value set
    invalid,      ///< the code is not in the value set (or the code system does not know it)
    cannot_tell,  ///< unknown value set or code system, expansion too large, ...
  };
  status verdict = status::cannot_tell;
  /// Why, for people (no PHI: the terminology module says which code system /
  /// value set, not what the patient has). May be empty.
  std::string message;
};

/// Asks whether (system, code) is in the value set with canonical URL
/// `value_set` (which may carry a "|version"). `system` is empty for a bare
/// `code` element (the value set decides which system it belongs to);
/// `display` is empty when the instance gives none. Called from the thread
/// that calls validate(); must be safe to call concurrently when validate()
/// runs on several threads.
using terminology_callback = std::function<code_verdict(std::string_view value_set, std::string_view system,
                                                        std::string_view code, std::string_view display)>;

/// Resolves a reference as written ("Patient/123", an absolute URL,
/// "urn:uuid:...") to the resource it names, or nullptr when unknown. Used for
/// slicing discriminators that go through resolve() and for Reference target
/// profiles. Contained ("#id") and Bundle-local references are resolved
/// without it. What it returns must stay valid until validate() returns.
using reference_resolver = std::function<const fhir::json_value*(std::string_view reference)>;

/// Finds a StructureDefinition the validator does not hold, by canonical URL
/// (without "|version"): the compiled profile, nullptr when there is none, or
/// an error when there is one that cannot be used (it does not compile; its
/// message says why, for people). Called from the thread that calls
/// validate(), at most once per URL and validate() call; what it returns is
/// kept alive by that call. Must be safe to call concurrently when
/// validate() runs on several threads.
using profile_lookup =
    std::function<hearth::result<std::shared_ptr<const compiled_profile>>(std::string_view url)>;

/// Options of one validate() call. Plain value type.
struct validate_options {
  /// Canonical URLs of profiles to validate against in addition to those the
  /// resource claims in meta.profile (which are always honoured). A URL may
  /// carry "|version"; the version is ignored. An unknown URL is an issue of
  /// its own ("not-found"; an error for a URL given here, a warning for one in
  /// meta.profile, as the HL7 validator does), never a crash.
  std::vector<std::string> profiles;
  /// Most issues listed; past it, one last issue says how many were left out
  /// (with the severity of the worst). Bounds the OperationOutcome for hostile
  /// input as fhir::check_options::max_issues does.
  std::size_t max_issues = 100;
  /// Code validation for bindings (FHIR R4 terminologies.html#strength), for
  /// code, Coding, CodeableConcept (valid when any coding is; text only is an
  /// error for a required binding) and Quantity: required → error "code-invalid"
  /// when the callback answers invalid; extensible → warning; preferred and
  /// example → not checked; cannot_tell → warning ("processing") for
  /// required, information for extensible. The base definitions' required
  /// bindings are checked too. Also answers FHIRPath memberOf() in invariants
  /// and value discriminators of slices that rely on a binding. Unset:
  /// bindings are not checked, and one information issue says so.
  terminology_callback terminology;
  /// Reference resolution beyond contained resources and Bundle entries.
  /// Unset: such references are not followed (resolve() discriminators do not
  /// match them; Reference target profiles are checked on the type only).
  reference_resolver resolver;
  /// Run fhir::check_resource (the structural base layer: unknown elements,
  /// JSON shapes, cardinality against the base, primitive formats, ele-1,
  /// dom-2/3). Turn off only when the caller ran it already.
  bool check_structure = true;
  /// Passed to fhir::check_resource: unknown properties are warnings, not errors.
  bool allow_unknown_elements = false;
  /// StructureDefinitions beyond the validator's own (profiles stored through
  /// the API): asked for every profile, type profile, target profile and
  /// extension URL the validator does not know. A URL it answers with an
  /// error is an error issue ("processing") where the profile is claimed or
  /// asked for. Unset: only the validator's own definitions.
  profile_lookup lookup_profile;
};

}  // namespace hearth::profiles
