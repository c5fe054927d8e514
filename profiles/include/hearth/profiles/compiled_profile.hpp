#pragma once
// hearth::profiles::compiled_profile — a StructureDefinition compiled by
// validator::compile() rather than added to the validator: a profile (or an
// extension definition) that may change while the validator is in use, such
// as one stored through the REST API. validate_options::profile_lookup hands
// such profiles to validate() when the validator's own definitions lack a
// canonical URL.
//
// Thread-safety: immutable once made; any number of threads may validate
// with it at once. Lifetime: held by shared_ptr; it refers to the validator
// that compiled it (base definitions, their constraints), which must outlive
// it, and keeps alive the compiled profiles it was derived from (a
// differential's base found through a lookup).

#include <memory>
#include <string>

namespace hearth::profiles {

class compiled_profile {
 public:
  /// The compiled state (defined in the module's sources).
  struct impl;
  explicit compiled_profile(std::unique_ptr<impl> p) noexcept;
  ~compiled_profile();
  compiled_profile(const compiled_profile&) = delete;
  compiled_profile& operator=(const compiled_profile&) = delete;

  /// StructureDefinition.url.
  const std::string& url() const noexcept;
  /// For the module's sources.
  const impl& state() const noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::profiles
