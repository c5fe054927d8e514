#include <hearth/core/base64.hpp>

namespace hearth::base64 {

namespace {

std::string_view alphabet(bool url) {
  return url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

}  // namespace

std::string encode(std::string_view s, bool url) {
  const std::string_view a = alphabet(url);
  std::string r;
  r.reserve((s.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(s[i]) << 16) | (static_cast<unsigned char>(s[i + 1]) << 8) |
                       static_cast<unsigned char>(s[i + 2]);
    r += a[v >> 18];
    r += a[(v >> 12) & 63];
    r += a[(v >> 6) & 63];
    r += a[v & 63];
  }
  if (i < s.size()) {
    unsigned v = static_cast<unsigned char>(s[i]) << 16;
    if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    r += a[v >> 18];
    r += a[(v >> 12) & 63];
    r += i + 1 < s.size() ? a[(v >> 6) & 63] : '=';
    r += '=';
  }
  return r;
}

std::optional<std::string> decode(std::string_view s, bool url) {
  const std::string_view a = alphabet(url);
  std::size_t end = s.size();
  std::size_t pad = 0;
  while (end > 0 && s[end - 1] == '=' && pad < 2) {
    --end;
    ++pad;
  }
  if (pad > 0 && (end + pad) % 4 != 0) return std::nullopt;
  std::string r;
  r.reserve(end / 4 * 3 + 2);
  unsigned acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < end; ++i) {
    const std::size_t p = a.find(s[i]);
    if (p == std::string_view::npos) return std::nullopt;  // '=' inside, whitespace, foreign characters
    acc = (acc << 6) | static_cast<unsigned>(p);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      r += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (end % 4 == 1) return std::nullopt;  // six bits cannot end a byte
  return r;
}

}  // namespace hearth::base64
