#include <hearth/hl7v2/escape.hpp>

#include <hearth/core/utf8.hpp>

namespace hearth::hl7v2 {

namespace {

// Upper bound on what one \.sp n\ or \.sk n\ may expand to: a few bytes of
// input must not become megabytes of output.
constexpr std::size_t max_format_repeat = 100;

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The optional count after a formatting command: "\.sp3\" -> 3; "\.sp\" -> 1.
// Signed forms (\.in+4\) are accepted by the caller and not counted.
std::size_t format_count(std::string_view arg) noexcept {
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  if (arg.empty()) return 1;
  std::size_t n = 0;
  for (char c : arg) {
    if (c < '0' || c > '9') return 1;
    n = n * 10 + static_cast<std::size_t>(c - '0');
    if (n > max_format_repeat) return max_format_repeat;
  }
  return n;
}

// \Xhhhh\ (HL7 v2.5.1 2.7.3): hexadecimal data, bytes in the message's charset.
// Returns false when `hex` is not an even number of hex digits.
bool decode_hex(std::string& out, std::string_view hex, charset cs) {
  if (hex.empty() || hex.size() % 2 != 0) return false;
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    const char b = static_cast<char>((hi << 4) | lo);
    bytes.push_back(b == '\0' ? '\x1A' : b);  // no NUL in decoded text: SUB stands in
  }
  append_utf8(out, bytes, cs);
  return true;
}

}  // namespace

void unescape_append(std::string& out, std::string_view raw, const encoding& enc, charset cs,
                     const unescape_options& opts) {
  const char esc = enc.escape;
  std::size_t i = esc == '\0' ? std::string_view::npos : raw.find(esc);
  if (i == std::string_view::npos) {
    append_utf8(out, raw, cs);
    return;
  }
  while (true) {
    append_utf8(out, raw.substr(0, i), cs);
    raw.remove_prefix(i);  // raw starts at the escape character
    const std::size_t close = raw.find(esc, 1);
    if (close == std::string_view::npos) {
      // Unterminated: not an escape sequence; keep the rest as written.
      append_utf8(out, raw, cs);
      return;
    }
    const std::string_view seq = raw.substr(1, close - 1);
    const std::string_view whole = raw.substr(0, close + 1);
    bool handled = true;
    if (seq.size() == 1) {
      switch (seq[0]) {
        case 'F': out.push_back(enc.field); break;
        case 'S': out.push_back(enc.component); break;
        case 'T': out.push_back(enc.subcomponent); break;
        case 'R': out.push_back(enc.repetition); break;
        case 'E': out.push_back(enc.escape); break;
        case 'P':  // v2.7 truncation character
          if (enc.truncation != '\0') out.push_back(enc.truncation);
          else handled = false;
          break;
        case 'H':  // start highlighting
        case 'N':  // normal text
          if (opts.keep_formatting) out.append(whole);
          break;
        default: handled = false;
      }
    } else if (seq.size() >= 2 && seq[0] == 'X') {
      handled = decode_hex(out, seq.substr(1), cs);
    } else if (seq.size() >= 3 && seq[0] == '.') {
      // Formatting commands of FT (HL7 v2.5.1 2.7.6).
      const std::string_view cmd = seq.substr(1, 2);
      const std::string_view arg = seq.substr(3);
      if (cmd == "br" && arg.empty()) {
        out.push_back('\n');
      } else if (opts.keep_formatting &&
                 (cmd == "sp" || cmd == "sk" || cmd == "ce" || cmd == "fi" || cmd == "nf" ||
                  cmd == "in" || cmd == "ti")) {
        out.append(whole);
      } else if (cmd == "sp") {
        out.append(format_count(arg), '\n');
      } else if (cmd == "sk") {
        out.append(format_count(arg), ' ');
      } else if (cmd == "ce") {
        out.push_back('\n');
      } else if (cmd == "fi" || cmd == "nf" || cmd == "in" || cmd == "ti") {
        // Fill mode and indentation have no plain-text form.
      } else {
        handled = false;
      }
    } else {
      // \Zxx\ (locally defined), \Cxxyy\ and \Mxxyyzz\ (ISO 2022 character set
      // switches) and anything unknown: kept as written (2.7.5).
      handled = false;
    }
    if (!handled) append_utf8(out, whole, cs);
    raw.remove_prefix(close + 1);
    i = raw.find(esc);
    if (i == std::string_view::npos) {
      append_utf8(out, raw, cs);
      return;
    }
  }
}

std::string unescape(std::string_view raw, const encoding& enc, charset cs,
                     const unescape_options& opts) {
  std::string out;
  out.reserve(raw.size());
  unescape_append(out, raw, enc, cs, opts);
  return out;
}

void escape_append(std::string& out, std::string_view text, const encoding& enc) {
  const auto seq = [&](char code) {
    out.push_back(enc.escape);
    out.push_back(code);
    out.push_back(enc.escape);
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out.push_back(enc.escape);
      out.append(".br");
      out.push_back(enc.escape);
    } else if (c == enc.field) {
      seq('F');
    } else if (c == enc.component) {
      seq('S');
    } else if (c == enc.subcomponent) {
      seq('T');
    } else if (c == enc.repetition) {
      seq('R');
    } else if (c == enc.escape) {
      seq('E');
    } else if (enc.truncation != '\0' && c == enc.truncation) {
      seq('P');
    } else {
      out.push_back(c);
    }
  }
}

std::string escape(std::string_view text, const encoding& enc) {
  std::string out;
  out.reserve(text.size() + 8);
  escape_append(out, text, enc);
  return out;
}

}  // namespace hearth::hl7v2
