#pragma once
// Character sets named in MSH-18, converted to UTF-8 inside Hearth.

#include <string>
#include <string_view>

#include <hearth/core/result.hpp>

namespace hearth::hl7v2 {

/// The character sets Hearth reads (HL7 table 0211). UTF-8 is the default when
/// MSH-18 is empty.
enum class charset {
  ascii,      ///< "ASCII": 7-bit only
  utf8,       ///< "UNICODE UTF-8"
  iso8859_1,  ///< "8859/1": Latin-1, every byte one code point
};

/// The table 0211 code: "ASCII", "UNICODE UTF-8", "8859/1".
std::string_view to_string(charset c) noexcept;

/// Reads MSH-18's first repetition (HL7 v2.5.1 2.15.9.18): empty means UTF-8.
/// Also accepts "UTF-8" and "UTF8", which senders write for "UNICODE UTF-8".
/// Anything else is an error (code "102") rather than a guess that would
/// garble names.
hearth::result<charset> parse_charset(std::string_view msh18);

/// Appends `bytes`, written in `c`, to `out` as UTF-8. The bytes must already
/// be valid for `c` (the parser checks every message); invalid UTF-8 in a
/// UTF-8 value is replaced by U+FFFD.
void append_utf8(std::string& out, std::string_view bytes, charset c);

}  // namespace hearth::hl7v2
