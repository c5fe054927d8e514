#include <hearth/store/text_fold.hpp>

#include <array>
#include <cstdint>

#include <hearth/core/utf8.hpp>

namespace hearth::store {

namespace {

// Base letters of U+00C0-U+00FF, one per code point; '*' marks the code
// points whose folding is not one letter (see multi_letter below), '=' the
// two that are not letters (× U+00D7, ÷ U+00F7) and stay as they are.
constexpr std::string_view latin1_base =
    "aaaaaa*ceeeeiiii"   // U+00C0 À Á Â Ã Ä Å Æ Ç È É Ê Ë Ì Í Î Ï
    "dnooooo=ouuuuy**"   // U+00D0 Ð Ñ Ò Ó Ô Õ Ö × Ø Ù Ú Û Ü Ý Þ ß
    "aaaaaa*ceeeeiiii"   // U+00E0 à á â ã ä å æ ç è é ê ë ì í î ï
    "dnooooo=ouuuuy*y";  // U+00F0 ð ñ ò ó ô õ ö ÷ ø ù ú û ü ý þ ÿ

// Base letters of U+0100-U+017F (Latin Extended-A), one per code point.
constexpr std::string_view latin_ext_a_base =
    "aaaaaaccccccccdd"   // U+0100 Ā ā Ă ă Ą ą Ć ć Ĉ ĉ Ċ ċ Č č Ď ď
    "ddeeeeeeeeeegggg"   // U+0110 Đ đ Ē ē Ĕ ĕ Ė ė Ę ę Ě ě Ĝ ĝ Ğ ğ
    "gggghhhhiiiiiiii"   // U+0120 Ġ ġ Ģ ģ Ĥ ĥ Ħ ħ Ĩ ĩ Ī ī Ĭ ĭ Į į
    "ii**jjkkklllllll"   // U+0130 İ ı Ĳ ĳ Ĵ ĵ Ķ ķ ĸ Ĺ ĺ Ļ ļ Ľ ľ Ŀ
    "lllnnnnnnnnnoooo"   // U+0140 ŀ Ł ł Ń ń Ņ ņ Ň ň ŉ Ŋ ŋ Ō ō Ŏ ŏ
    "oo**rrrrrrssssss"   // U+0150 Ő ő Œ œ Ŕ ŕ Ŗ ŗ Ř ř Ś ś Ŝ ŝ Ş ş
    "ssttttttuuuuuuuu"   // U+0160 Š š Ţ ţ Ť ť Ŧ ŧ Ũ ũ Ū ū Ŭ ŭ Ů ů
    "uuuuwwyyyzzzzzzs";  // U+0170 Ű ű Ų ų Ŵ ŵ Ŷ ŷ Ÿ Ź ź Ż ż Ž ž ſ

static_assert(latin1_base.size() == 64);
static_assert(latin_ext_a_base.size() == 128);

std::string_view multi_letter(char32_t cp) {
  switch (cp) {
    case 0x00C6: case 0x00E6: return "ae";  // Æ æ
    case 0x00DE: case 0x00FE: return "th";  // Þ þ
    case 0x00DF: return "ss";               // ß
    case 0x0132: case 0x0133: return "ij";  // Ĳ ĳ
    case 0x0152: case 0x0153: return "oe";  // Œ œ
    default: return {};
  }
}

// Decodes one well-formed UTF-8 sequence at s[i]; returns its length, 0 when
// the bytes there are not one.
std::size_t decode(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  // Validity (overlongs, surrogates, range) is checked on the slice.
  if (utf8::find_invalid(s.substr(i, len)) != utf8::npos) return 0;
  cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return len;
}

}  // namespace

std::string fold_for_search(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (static_cast<unsigned char>(c) < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t len = decode(text, i, cp);
    if (len == 0) {  // not UTF-8: copied as it is
      out.push_back(c);
      ++i;
      continue;
    }
    if (cp >= 0x00C0 && cp <= 0x017F) {
      const char base = cp < 0x0100 ? latin1_base[cp - 0x00C0] : latin_ext_a_base[cp - 0x0100];
      if (base == '*') out += multi_letter(cp);
      else if (base == '=') out.append(text.substr(i, len));
      else out.push_back(base);
    } else if (cp >= 0x0300 && cp <= 0x036F) {
      // a combining mark: dropped
    } else if (cp >= 0x0391 && cp <= 0x03A9 && cp != 0x03A2) {
      utf8::append(out, cp + 0x20);  // Greek capital -> small
    } else if (cp >= 0x0410 && cp <= 0x042F) {
      utf8::append(out, cp + 0x20);  // Cyrillic А-Я -> а-я
    } else if (cp >= 0x0400 && cp <= 0x040F) {
      utf8::append(out, cp + 0x50);  // Cyrillic Ѐ-Џ -> ѐ-џ
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

}  // namespace hearth::store
