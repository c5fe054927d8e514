#include <hearth/hl7v2/escape.hpp>

#include <doctest/doctest.h>

using namespace hearth::hl7v2;

namespace {
const encoding std_enc{};
std::string un(std::string_view raw, charset cs = charset::utf8, unescape_options o = {}) {
  return unescape(raw, std_enc, cs, o);
}
}  // namespace

TEST_CASE("escape: delimiter escapes decode (HL7 v2.5.1 2.7.1)") {
  CHECK(un("a\\F\\b") == "a|b");
  CHECK(un("a\\S\\b") == "a^b");
  CHECK(un("a\\T\\b") == "a&b");
  CHECK(un("a\\R\\b") == "a~b");
  CHECK(un("a\\E\\b") == "a\\b");
  CHECK(un("Smith \\T\\ Sons\\S\\Ltd") == "Smith & Sons^Ltd");
  CHECK(un("no escapes at all") == "no escapes at all");
}

TEST_CASE("escape: \\P\\ is the v2.7 truncation character when there is one") {
  encoding e27;
  e27.truncation = '#';
  CHECK(unescape("a\\P\\b", e27, charset::utf8) == "a#b");
  CHECK(un("a\\P\\b") == "a\\P\\b");  // no truncation character: kept as written
}

TEST_CASE("escape: hexadecimal data in the message charset (2.7.3)") {
  CHECK(un("\\X41\\") == "A");
  CHECK(un("\\XC3BC\\") == "\xC3\xBC");                        // UTF-8 bytes of ü
  CHECK(un("\\XFC\\", charset::iso8859_1) == "\xC3\xBC");      // Latin-1 ü
  CHECK(un("\\XFC\\") == "\xEF\xBF\xBD");                      // not UTF-8: U+FFFD
  CHECK(un("\\X0D0A\\") == "\r\n");
  CHECK(un("\\X4\\") == "\\X4\\");                             // odd digits: kept
  CHECK(un("\\XZZ\\") == "\\XZZ\\");                           // not hex: kept
}

TEST_CASE("escape: formatting commands (2.7.6)") {
  CHECK(un("line1\\.br\\line2") == "line1\nline2");
  CHECK(un("a\\.sp2\\b") == "a\n\nb");
  CHECK(un("a\\.sp\\b") == "a\nb");
  CHECK(un("a\\.sk3\\b") == "a   b");
  CHECK(un("a\\.sp99999999\\b").size() == 102);  // capped: 100 line breaks
  CHECK(un("\\.ce\\Title") == "\nTitle");
  CHECK(un("\\.in+4\\x\\.ti-2\\y\\.fi\\\\.nf\\") == "xy");
  CHECK(un("\\H\\bold\\N\\") == "bold");
  unescape_options keep;
  keep.keep_formatting = true;
  CHECK(un("\\H\\bold\\N\\\\.br\\\\.sp2\\", charset::utf8, keep) == "\\H\\bold\\N\\\n\\.sp2\\");
}

TEST_CASE("escape: unknown, local and unterminated sequences are kept as written (2.7.5)") {
  CHECK(un("\\Zlocal\\") == "\\Zlocal\\");
  CHECK(un("\\C2842\\x") == "\\C2842\\x");
  CHECK(un("\\M2442\\") == "\\M2442\\");
  CHECK(un("50\\% off") == "50\\% off");
  CHECK(un("a\\Q\\b") == "a\\Q\\b");
  CHECK(un("ends with \\") == "ends with \\");
  CHECK(un("\\\\") == "\\\\");
}

TEST_CASE("escape: writing re-escapes, and round-trips") {
  CHECK(escape("a|b^c&d~e\\f", std_enc) == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f");
  CHECK(escape("l1\nl2\r\nl3\rl4", std_enc) == "l1\\.br\\l2\\.br\\l3\\.br\\l4");
  for (const std::string s : {"plain", "a|b^c&d~e\\f", "\\F\\ literal", "M\xC3\xBCller & Co", "x\ny"}) {
    CHECK(un(escape(s, std_enc)) == s);
  }
  encoding e27;
  e27.truncation = '#';
  CHECK(escape("#1", e27) == "\\P\\1");
}
