#pragma once
// Value set semantics (FHIR R4 valueset.html#compositions): membership of
// one code (for $validate-code and check_membership) and enumeration of all
// codes (for $expand). Both follow compose.include / exclude with system,
// concept lists, filters and nested value sets; they differ in what they
// need: membership asks the code system about one code (so grammars and
// partial code systems can answer), enumeration needs every concept.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <hearth/core/result.hpp>
#include "detail/context.hpp"
#include "detail/model.hpp"

namespace hearth::terminology::detail {

enum class tri : std::uint8_t { no, yes, unknown };

/// The answer to "is system|code in this value set?".
struct answer {
  tri t = tri::no;
  std::string system;                ///< the system it was found in (yes)
  const code_system* cs = nullptr;   ///< that system, when held
  const concept_def* def = nullptr;  ///< the concept, when the system is held
  std::string listed_display;        ///< display given by compose.include.concept
  std::string reason;                ///< unknown: "not-found" / "not-supported"
  std::string why;                   ///< unknown: for people
};

/// Is system|code in `vs`? An empty system matches any system. Errors: a
/// cycle ("invalid"), nesting deeper than max_value_set_depth, filter errors.
hearth::result<answer> member_of_value_set(context& ctx, const value_set& vs, std::string_view system,
                                           std::string_view code, std::size_t depth = 0);

/// One code of an expansion.
struct entry {
  std::string system;
  std::string version;
  std::string code;
  std::string display;
  const code_system* cs = nullptr;   ///< when held: the hierarchy comes from it
  const concept_def* def = nullptr;
  const std::vector<designation>* designations = nullptr;
  bool abstract = false;
  bool inactive = false;
};

/// Codes in order of first appearance, without duplicates (system + code).
struct entry_list {
  std::vector<entry> items;
  std::unordered_map<std::string, std::size_t> index;

  static std::string key(std::string_view system, std::string_view code);
  bool contains(std::string_view system, std::string_view code) const;
  /// Appends unless present. Errors "too-costly" beyond max_expansion_work.
  hearth::result<void> add(entry e);
};

/// Every code of `vs`. Errors: "not-found" (a nested value set unknown),
/// "not-supported" (a code system whose content is not available),
/// "too-costly", "invalid" (cycle), filter errors.
hearth::result<entry_list> expand_value_set(context& ctx, const value_set& vs, std::size_t depth = 0);

}  // namespace hearth::terminology::detail
