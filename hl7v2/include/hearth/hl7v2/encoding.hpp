#pragma once
// The delimiters of one message, from MSH-1 and MSH-2.

#include <string>

namespace hearth::hl7v2 {

/// Message delimiters (HL7 v2.5.1 2.5.4; v2.7 2.5.5 adds the truncation
/// character as the fifth character of MSH-2). Plain value type.
struct encoding {
  char field = '|';         ///< MSH-1
  char component = '^';     ///< MSH-2, 1st
  char repetition = '~';    ///< MSH-2, 2nd
  char escape = '\\';       ///< MSH-2, 3rd
  char subcomponent = '&';  ///< MSH-2, 4th
  char truncation = '\0';   ///< MSH-2, 5th (v2.7+); '\0' when absent

  /// MSH-2 as it is written: "^~\&" or "^~\&#".
  std::string msh2() const;

  /// True for every delimiter of this encoding (escape and truncation included).
  bool is_delimiter(char c) const noexcept {
    return c == field || c == component || c == repetition || c == escape || c == subcomponent ||
           (truncation != '\0' && c == truncation);
  }
};

}  // namespace hearth::hl7v2
