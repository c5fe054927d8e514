#pragma once
// The state of one terminology operation call: where canonicals resolve
// (registry first, then the resolver), the resources compiled for this call
// only, the value sets being evaluated (cycle detection), and the filters
// already evaluated. Not shared between threads: one per call.

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <re2/re2.h>

#include <hearth/core/result.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/terminology/resolver.hpp>
#include "detail/model.hpp"
#include "detail/registry_impl.hpp"

namespace hearth::terminology::detail {

inline hearth::error make_error(std::string code, std::string message) {
  return hearth::error{std::move(code), std::move(message), "", hearth::error::npos};
}

/// The code system versions one $expand call asks for (R4
/// valueset-operation-expand.html `system-version`, `check-system-version`,
/// `force-system-version`): system url -> version. Empty for other calls.
struct version_rules {
  url_map<std::string> fallback;  ///< system-version: where an include names no version
  url_map<std::string> check;     ///< check-system-version
  url_map<std::string> force;     ///< force-system-version: whatever the include names
};

/// Per-call state. Lifetime: the call; pointers it returns live as long as it.
class context {
 public:
  context(const registry::impl& reg, const resolver& resolve) : reg_(reg), resolve_(resolve) {}
  context(const context&) = delete;
  context& operator=(const context&) = delete;

  const registry::impl& reg() const noexcept { return reg_; }

  /// A code system by canonical ("url" or "url|version"); nullptr when
  /// unknown. Errors: a resource from the resolver that does not compile.
  hearth::result<const code_system*> code_system_for(std::string_view canonical);
  hearth::result<const value_set*> value_set_for(std::string_view canonical);
  hearth::result<const concept_map*> concept_map_for(std::string_view canonical);

  /// Compiles a resource given in the request; it then answers for its own
  /// canonical in this call (so that a value set including itself is seen
  /// as the cycle it is).
  hearth::result<const code_system*> adopt_code_system(const fhir::json_value& r);
  hearth::result<const value_set*> adopt_value_set(const fhir::json_value& r);
  hearth::result<const concept_map*> adopt_concept_map(const fhir::json_value& r);

  /// Which concepts of `cs` pass `f` (one flag per concept). Errors:
  /// "not-supported" (operator or property), "invalid" (bad regex),
  /// "too-costly" (regex too long).
  hearth::result<const std::vector<char>*> filter_marks(const code_system& cs, const vs_filter& f);

  /// True once any canonical was looked up through the resolver (or was
  /// missing from the registry): the answer then depends on more than the
  /// registry and must not be cached.
  bool used_resolver = false;
  /// Canonical URLs of the value sets being evaluated, outermost first.
  std::vector<std::string> stack;
  /// The versions asked for ($expand only); the expansion of every include,
  /// in nested value sets too, follows them.
  version_rules versions;

 private:
  hearth::result<const RE2*> regex(const std::string& pattern);

  const registry::impl& reg_;
  const resolver& resolve_;
  std::vector<std::unique_ptr<code_system>> own_cs_;
  std::vector<std::unique_ptr<value_set>> own_vs_;
  std::vector<std::unique_ptr<concept_map>> own_cm_;
  url_map<const code_system*> cs_;  // nullptr: known to be unknown
  url_map<const value_set*> vs_;
  url_map<const concept_map*> cm_;
  std::map<std::pair<const code_system*, const vs_filter*>, std::vector<char>> marks_;
  std::map<std::string, std::unique_ptr<RE2>> regexes_;
};

}  // namespace hearth::terminology::detail
