#pragma once
// HL7 v2 escape sequences (HL7 v2.5.1 2.7, "Use of escape sequences in text
// fields"; v2.7 adds \P\ for the truncation character).

#include <string>
#include <string_view>

#include <hearth/hl7v2/charset.hpp>
#include <hearth/hl7v2/encoding.hpp>

namespace hearth::hl7v2 {

/// How formatting escapes are treated when decoding.
struct unescape_options {
  /// false (default): plain text. \.br\ becomes "\n", \.sp n\ n line breaks,
  /// \.sk n\ n spaces, \.ce\ a line break; \H\ \N\ \.fi\ \.nf\ \.in\ \.ti\ have no
  /// plain-text form and are dropped.
  /// true: \.br\ still becomes "\n", every other formatting escape is kept as
  /// written (for a formatted-text renderer downstream).
  bool keep_formatting = false;
};

/// Decodes one value (a subcomponent, component or whole field: delimiters that
/// are not escaped are copied as they are) to UTF-8 and appends it to `out`.
/// \F\ \S\ \T\ \R\ \E\ \P\ give the delimiters; \Xhh..\ gives the bytes hh..
/// read in `cs`; \Z..\, \C..\ and \M..\ (locally defined, ISO 2022 switches)
/// and anything unrecognised or unterminated are kept as written, as 2.7.5
/// asks a receiver to ignore what it does not know rather than lose it.
void unescape_append(std::string& out, std::string_view raw, const encoding& enc, charset cs,
                     const unescape_options& opts = {});

/// unescape_append into a new string.
std::string unescape(std::string_view raw, const encoding& enc, charset cs,
                     const unescape_options& opts = {});

/// True when `raw` contains the escape character (so decoding can be skipped).
inline bool needs_unescape(std::string_view raw, const encoding& enc) noexcept {
  return enc.escape != '\0' && raw.find(enc.escape) != std::string_view::npos;
}

/// Encodes UTF-8 text as a value: every delimiter becomes its escape sequence,
/// and a line break ("\n", "\r\n" or "\r") becomes \.br\ (a bare CR would end
/// the segment). Appends to `out`.
void escape_append(std::string& out, std::string_view text, const encoding& enc);

/// escape_append into a new string.
std::string escape(std::string_view text, const encoding& enc);

}  // namespace hearth::hl7v2
