#pragma once
// hearth::terminology::verdict — the three-way answer of a code check.
//
// A profile validator must tell "this code is wrong" from "I cannot know":
// a binding to a value set Hearth does not hold (or to SNOMED CT, whose
// content is not in the R4 definitions) is not an error in the resource. The
// validator reports `invalid` as an error (required binding) and
// `cannot_tell` as a warning, as HL7's validator does.

#include <cstdint>
#include <string_view>

namespace hearth::terminology {

/// Outcome of checking a code against a value set or a code system.
enum class verdict : std::uint8_t {
  valid,        ///< the code is in the value set / code system
  invalid,      ///< the code is known not to be in it
  cannot_tell,  ///< unknown value set or code system, or its content is not available
};

/// "valid", "invalid", "cannot-tell".
std::string_view to_string(verdict v) noexcept;

}  // namespace hearth::terminology
