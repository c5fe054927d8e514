// String helpers of the FHIRPath functions (fhirpath_functions.cpp): text
// as UTF-8 characters (length(), substring(), toChars()), and from FHIRPath
// 3.0 (STU) escape()/unescape() (html, json) and encode()/decode() (hex; base64
// is core/base64.hpp). Pure functions.

#include "detail/fhirpath_eval_impl.hpp"

#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

#include <hearth/core/utf8.hpp>

namespace hearth::fhir::fhirpath::detail {

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

std::string escape(const std::string& s, bool html) {
  std::string r;
  for (char c : s) {
    if (html) {
      if (c == '"') r += "&quot;";
      else if (c == '<') r += "&lt;";
      else if (c == '>') r += "&gt;";
      else if (c == '&') r += "&amp;";
      else if (c == '\'') r += "&#39;";
      else r += c;
    } else {
      if (c == '"') r += "\\\"";
      else if (c == '\\') r += "\\\\";
      else if (c == '\n') r += "\\n";
      else if (c == '\r') r += "\\r";
      else if (c == '\t') r += "\\t";
      else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
        r += buf;
      } else r += c;
    }
  }
  return r;
}

namespace {

bool all_hex(const std::string& s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return false;
  for (std::size_t i = pos; i < pos + n; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

}  // namespace

std::string unescape(const std::string& s, bool html) {
  std::string r;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (html && s[i] == '&') {
      static const std::pair<std::string_view, char> ents[] = {
          {"&quot;", '"'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&#39;", '\''}, {"&apos;", '\''}};
      bool done = false;
      for (auto [e, c] : ents)
        if (std::string_view(s).substr(i).starts_with(e)) {
          r += c;
          i += e.size() - 1;
          done = true;
          break;
        }
      if (!done) r += '&';
    } else if (!html && s[i] == '\\' && i + 1 < s.size()) {
      char c = s[++i];
      if (c == 'u' &&  all_hex(s, i + 1, 4)) {
        unsigned cp = static_cast<unsigned>(std::stoul(s.substr(i + 1, 4), nullptr, 16));
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF &&  s[i + 1] == '\\' && s[i + 2] == 'u' &&
            all_hex(s, i + 3, 4)) {
          unsigned lo = static_cast<unsigned>(std::stoul(s.substr(i + 3, 4), nullptr, 16));
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate
        hearth::utf8::append(r, static_cast<char32_t>(cp));
        continue;
      }
      r += c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
    } else {
      r += s[i];
    }
  }
  return r;
}

std::string hex_encode(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string r;
  for (unsigned char c : s) {
    r += digits[c >> 4];
    r += digits[c & 15];
  }
  return r;
}

std::optional<std::string> hex_decode(const std::string& s) {
  if (s.size() % 2) return std::nullopt;
  std::string r;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)])));
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + d;
    }
    r += static_cast<char>(v);
  }
  return r;
}

}  // namespace hearth::fhir::fhirpath::detail
