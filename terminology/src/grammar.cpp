// Syntax checks for the grammar-based code systems (detail/grammar.hpp).

#include "detail/grammar.hpp"

#include <array>
#include <cstddef>
#include <string_view>
#include <vector>

#include <hearth/core/text.hpp>
#include <hearth/fhir/ucum.hpp>

namespace hearth::terminology::detail {
namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

bool all_of(std::string_view s, bool (*pred)(char)) {
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}

// RFC 6838 section 4.2: restricted-name = restricted-name-first *126restricted-name-chars
bool restricted_name(std::string_view s) {
  if (s.empty() || s.size() > 127 || !is_alnum(s.front())) return false;
  for (char c : s) {
    if (is_alnum(c)) continue;
    switch (c) {
      case '!': case '#': case '$': case '&': case '-': case '^': case '_': case '.': case '+': continue;
      default: return false;
    }
  }
  return true;
}

// RFC 2045 section 5.1: token = 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>
bool token_char(char c) {
  if (c <= 32 || c >= 127) return false;
  switch (c) {
    case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':': case '\\':
    case '"': case '/': case '[': case ']': case '?': case '=': return false;
    default: return true;
  }
}

bool mime_type(std::string_view s) {
  // Longest accepted: RFC 6838 bounds each name to 127 characters; the
  // parameters add little in practice. 1024 bounds the work.
  if (s.size() > 1024) return false;
  const auto semi = s.find(';');
  const std::string_view media = text::trim(s.substr(0, semi));
  const auto slash = media.find('/');
  if (slash == std::string_view::npos) return false;
  if (!restricted_name(media.substr(0, slash)) || !restricted_name(media.substr(slash + 1))) return false;
  if (semi == std::string_view::npos) return true;
  std::string_view rest = s.substr(semi + 1);
  while (true) {
    const auto next = rest.find(';');
    const std::string_view param = text::trim(rest.substr(0, next));
    const auto eq = param.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    const std::string_view name = param.substr(0, eq);
    const std::string_view value = param.substr(eq + 1);
    for (char c : name)
      if (!token_char(c)) return false;
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      // quoted-string: any char but an unescaped quote; kept simple.
    } else {
      if (value.empty()) return false;
      for (char c : value)
        if (!token_char(c)) return false;
    }
    if (next == std::string_view::npos) return true;
    rest = rest.substr(next + 1);
  }
}

// RFC 5646 section 2.1 grandfathered tags (irregular and regular).
constexpr std::array<std::string_view, 26> grandfathered{
    "en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon", "i-lux", "i-mingo",
    "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE", "art-lojban",
    "cel-gaulish", "no-bok", "no-nyn", "zh-guoyu", "zh-hakka", "zh-min", "zh-min-nan", "zh-xiang"};

bool language_tag(std::string_view s) {
  // Longest well-formed tags in practice are under 50 characters; 256
  // bounds the work (RFC 5646 section 4.4.1 asks implementations to
  // accept at least 35 for the language-script-region-variant part).
  if (s.empty() || s.size() > 256) return false;
  for (auto g : grandfathered)
    if (text::iequals(s, g)) return true;
  std::vector<std::string_view> tags;
  std::size_t start = 0;
  while (true) {
    const auto dash = s.find('-', start);
    const std::string_view t = s.substr(start, dash == std::string_view::npos ? std::string_view::npos : dash - start);
    if (t.empty() || t.size() > 8 || !all_of(t, is_alnum)) return false;
    tags.push_back(t);
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  std::size_t i = 0;
  const auto is_x = [](std::string_view t) { return t.size() == 1 && (t[0] == 'x' || t[0] == 'X'); };
  const auto private_use = [&](std::size_t from) {
    // privateuse = "x" 1*("-" (1*8alphanum))
    if (from + 1 >= tags.size()) return false;
    return true;  // every subtag is already 1*8 alphanumerics
  };
  if (is_x(tags[0])) return private_use(0);
  // language = 2*3ALPHA ["-" extlang] / 4ALPHA / 5*8ALPHA
  if (!all_of(tags[0], is_alpha) || tags[0].size() < 2) return false;
  const bool short_lang = tags[0].size() <= 3;
  ++i;
  if (short_lang) {
    // extlang = 3ALPHA *2("-" 3ALPHA)
    for (int n = 0; n < 3 && i < tags.size() && tags[i].size() == 3 && all_of(tags[i], is_alpha); ++n) ++i;
  }
  // script = 4ALPHA
  if (i < tags.size() && tags[i].size() == 4 && all_of(tags[i], is_alpha)) ++i;
  // region = 2ALPHA / 3DIGIT
  if (i < tags.size() && ((tags[i].size() == 2 && all_of(tags[i], is_alpha)) ||
                          (tags[i].size() == 3 && all_of(tags[i], is_digit))))
    ++i;
  // variant = 5*8alphanum / (DIGIT 3alphanum)
  while (i < tags.size() && ((tags[i].size() >= 5) || (tags[i].size() == 4 && is_digit(tags[i][0])))) ++i;
  // extension = singleton 1*("-" (2*8alphanum))
  while (i < tags.size() && tags[i].size() == 1 && !is_x(tags[i])) {
    ++i;
    std::size_t n = 0;
    while (i < tags.size() && tags[i].size() >= 2) ++i, ++n;
    if (n == 0) return false;
  }
  if (i < tags.size() && is_x(tags[i])) return private_use(i);
  return i == tags.size();
}

}  // namespace

bool is_grammar_system(std::string_view system) noexcept {
  return system == ucum_system || system == mime_system || system == language_system;
}

bool grammar_accepts(std::string_view system, std::string_view code) {
  if (system == ucum_system) return fhir::ucum::parse(code).has_value();
  if (system == mime_system) return mime_type(code);
  if (system == language_system) return language_tag(code);
  return false;
}

bool codes_case_insensitive(const code_system* cs, std::string_view system) noexcept {
  if (cs) return !cs->case_sensitive;
  return system == language_system || system == mime_system;
}

std::string_view grammar_name(std::string_view system) noexcept {
  if (system == ucum_system) return "Unified Code for Units of Measure (UCUM)";
  if (system == mime_system) return "Mime Types";
  if (system == language_system) return "Tags for the Identification of Languages";
  return "";
}

}  // namespace hearth::terminology::detail
