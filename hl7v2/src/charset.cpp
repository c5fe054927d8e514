#include <hearth/hl7v2/charset.hpp>

#include <hearth/core/text.hpp>
#include <hearth/core/utf8.hpp>

namespace hearth::hl7v2 {


std::string_view to_string(charset c) noexcept {
  switch (c) {
    case charset::ascii: return "ASCII";
    case charset::utf8: return "UNICODE UTF-8";
    case charset::iso8859_1: return "8859/1";
  }
  return "UNICODE UTF-8";
}

hearth::result<charset> parse_charset(std::string_view msh18) {
  // HL7 table 0211 (Alternate character sets).
  using hearth::text::iequals;
  const std::string_view v = hearth::text::trim(msh18);
  if (v.empty() || iequals(v, "UNICODE UTF-8") || iequals(v, "UTF-8") || iequals(v, "UTF8")) {
    return charset::utf8;
  }
  if (iequals(v, "ASCII")) return charset::ascii;
  if (iequals(v, "8859/1")) return charset::iso8859_1;
  return hearth::unexpected(hearth::error{"102", "unsupported character set in MSH-18", "MSH-18"});
}

void append_utf8(std::string& out, std::string_view bytes, charset c) {
  switch (c) {
    case charset::iso8859_1:
      if (hearth::utf8::find_non_ascii(bytes) == hearth::utf8::npos) {
        out.append(bytes);
      } else {
        hearth::utf8::append_latin1(out, bytes);
      }
      return;
    case charset::ascii:  // a subset of UTF-8; bytes from \X..\ may not be
    case charset::utf8: {
      // Fast path: the parser has checked every message byte already.
      std::size_t bad = hearth::utf8::find_invalid(bytes);
      while (bad != hearth::utf8::npos) {
        out.append(bytes.substr(0, bad));
        hearth::utf8::append(out, U'\uFFFD');
        bytes.remove_prefix(bad + 1);
        bad = hearth::utf8::find_invalid(bytes);
      }
      out.append(bytes);
      return;
    }
  }
}

}  // namespace hearth::hl7v2
