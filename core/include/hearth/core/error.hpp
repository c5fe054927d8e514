#pragma once
// hearth::error — an expected failure of untrusted input, as a value.
//
// Every module reports bad input with an error carrying a machine-readable code,
// a message for people and where in the input it happened. Messages never hold
// input content (it may be PHI): they say what is wrong, and `location` and
// `offset` say where.

#include <cstddef>
#include <string>

namespace hearth {

/// An expected error. Plain value type; copyable; no thread-safety concerns.
struct error {
  /// Module-defined code: an HL7 table 0357 code ("102"), an OperationOutcome
  /// issue type ("invalid"), ...
  std::string code;
  /// What is wrong, for people. Never contains the offending input itself.
  std::string message;
  /// Where, in the input's own notation: "PID-5.1", "Patient.name[0]"; may be empty.
  std::string location;
  /// Byte offset in the raw input, or npos when not known.
  std::size_t offset = npos;

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
};

}  // namespace hearth
