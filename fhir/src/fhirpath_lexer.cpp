// The FHIRPath lexer (FHIRPath 2.0.0 grammar appendix, "Lexical rules").

#include "detail/fhirpath_lexer.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <hearth/core/utf8.hpp>

namespace hearth::fhir::fhirpath::detail {

namespace {

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0 when it is not.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // U+D800..U+DFFF are surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return len;
}

// Reads exactly two digits at s[i]; -1 when they are not there.
int two_digits(std::string_view s, std::size_t i) noexcept {
  if (i + 1 >= s.size() || !is_digit(s[i]) || !is_digit(s[i + 1])) return -1;
  return (s[i] - '0') * 10 + (s[i + 1] - '0');
}

int days_in_month(int year, int month) noexcept {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[month - 1];
}

}  // namespace

std::string_view describe(token_kind kind) noexcept {
  switch (kind) {
    case token_kind::end: return "end of input";
    case token_kind::error: return "an invalid token";
    case token_kind::identifier: return "an identifier";
    case token_kind::delimited_identifier: return "a delimited identifier";
    case token_kind::string: return "a string";
    case token_kind::integer:
    case token_kind::long_integer:
    case token_kind::decimal: return "a number";
    case token_kind::date: return "a date";
    case token_kind::date_time: return "a dateTime";
    case token_kind::time: return "a time";
    case token_kind::this_variable: return "'$this'";
    case token_kind::index_variable: return "'$index'";
    case token_kind::total_variable: return "'$total'";
    case token_kind::dot: return "'.'";
    case token_kind::comma: return "','";
    case token_kind::lparen: return "'('";
    case token_kind::rparen: return "')'";
    case token_kind::lbracket: return "'['";
    case token_kind::rbracket: return "']'";
    case token_kind::lbrace: return "'{'";
    case token_kind::rbrace: return "'}'";
    case token_kind::plus: return "'+'";
    case token_kind::minus: return "'-'";
    case token_kind::star: return "'*'";
    case token_kind::slash: return "'/'";
    case token_kind::ampersand: return "'&'";
    case token_kind::pipe: return "'|'";
    case token_kind::less: return "'<'";
    case token_kind::less_equal: return "'<='";
    case token_kind::greater: return "'>'";
    case token_kind::greater_equal: return "'>='";
    case token_kind::equal: return "'='";
    case token_kind::tilde: return "'~'";
    case token_kind::not_equal: return "'!='";
    case token_kind::not_equivalent: return "'!~'";
    case token_kind::percent: return "'%'";
  }
  return "a token";
}

token lexer::make(token_kind kind, std::size_t start) const {
  token t;
  t.kind = kind;
  t.offset = static_cast<std::uint32_t>(start);
  return t;
}

token lexer::fail(std::size_t at, std::string message) {
  token t = make(token_kind::error, at);
  t.text = std::move(message);
  done_ = true;
  last_ = t;
  return t;
}

// WS: [ \r\n\t]+ ; COMMENT: '/*' .*? '*/' ; LINE_COMMENT: '//' ~[\r\n]*
bool lexer::skip_trivia(token& err) {
  while (pos_ < src_.size()) {
    const char c = src_[pos_];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++pos_;
    } else if (c == '/' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '/') {
      while (pos_ < src_.size() && src_[pos_] != '\n' && src_[pos_] != '\r') ++pos_;
    } else if (c == '/' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '*') {
      const std::size_t close = src_.find("*/", pos_ + 2);
      if (close == std::string_view::npos) {
        err = fail(pos_, "comment is not closed: expected '*/' before the end of input");
        return false;
      }
      pos_ = close + 2;
    } else {
      break;
    }
  }
  return true;
}

token lexer::next() {
  if (done_) return last_;
  token err;
  if (!skip_trivia(err)) return err;
  const std::size_t start = pos_;
  if (pos_ >= src_.size()) {
    done_ = true;
    last_ = make(token_kind::end, start);
    return last_;
  }
  const char c = src_[pos_];
  const auto at = [&](std::size_t k) { return pos_ + k < src_.size() ? src_[pos_ + k] : '\0'; };
  const auto single = [&](token_kind k, std::size_t len = 1) {
    pos_ += len;
    return make(k, start);
  };

  if (is_identifier_start(c)) {
    while (pos_ < src_.size() && is_identifier_char(src_[pos_])) ++pos_;
    token t = make(token_kind::identifier, start);
    t.text.assign(src_.substr(start, pos_ - start));
    return t;
  }
  if (is_digit(c)) return lex_number();
  switch (c) {
    case '\'': return lex_quoted('\'', token_kind::string);
    case '`': return lex_quoted('`', token_kind::delimited_identifier);
    case '@': return lex_temporal();
    case '$': {
      std::size_t end = pos_ + 1;
      while (end < src_.size() && is_identifier_char(src_[end])) ++end;
      const std::string_view name = src_.substr(pos_ + 1, end - pos_ - 1);
      token_kind k;
      if (name == "this") k = token_kind::this_variable;
      else if (name == "index") k = token_kind::index_variable;
      else if (name == "total") k = token_kind::total_variable;
      else return fail(start, "unknown variable: expected '$this', '$index' or '$total'");
      pos_ = end;
      return make(k, start);
    }
    case '.': return single(token_kind::dot);
    case ',': return single(token_kind::comma);
    case '(': return single(token_kind::lparen);
    case ')': return single(token_kind::rparen);
    case '[': return single(token_kind::lbracket);
    case ']': return single(token_kind::rbracket);
    case '{': return single(token_kind::lbrace);
    case '}': return single(token_kind::rbrace);
    case '+': return single(token_kind::plus);
    case '-': return single(token_kind::minus);
    case '*': return single(token_kind::star);
    case '/': return single(token_kind::slash);
    case '&': return single(token_kind::ampersand);
    case '|': return single(token_kind::pipe);
    case '=': return single(token_kind::equal);
    case '~': return single(token_kind::tilde);
    case '%': return single(token_kind::percent);
    case '<': return at(1) == '=' ? single(token_kind::less_equal, 2) : single(token_kind::less);
    case '>': return at(1) == '=' ? single(token_kind::greater_equal, 2) : single(token_kind::greater);
    case '!':
      if (at(1) == '=') return single(token_kind::not_equal, 2);
      if (at(1) == '~') return single(token_kind::not_equivalent, 2);
      return fail(start, "unexpected '!': expected '!=' or '!~'");
    default: break;
  }
  if (c == '"') {
    return fail(start, "unexpected '\"': strings are written in single quotes");
  }
  return fail(start, "unexpected character: expected an expression or an operator");
}

// STRING: '\'' (ESC | .)*? '\'' ; DELIMITEDIDENTIFIER: '`' (ESC | .)*? '`'
// ESC: '\\' ([`'\\/fnrt] | 'u' HEX HEX HEX HEX), plus \" (FHIRPath 2.0.0 §2.1.5).
token lexer::lex_quoted(char quote, token_kind kind) {
  const std::size_t start = pos_;
  const char* what = kind == token_kind::string ? "string" : "delimited identifier";
  token t = make(kind, start);
  ++pos_;
  for (;;) {
    if (pos_ >= src_.size()) {
      return fail(start, std::string(what) + " is not closed: expected " +
                             (quote == '\'' ? "'" : "`") + " before the end of input");
    }
    const char c = src_[pos_];
    if (c == quote) {
      ++pos_;
      return t;
    }
    if (c != '\\') {
      const std::size_t len = utf8_sequence_length(src_, pos_);
      if (len == 0) return fail(pos_, std::string("invalid UTF-8 in a ") + what);
      t.text.append(src_.substr(pos_, len));
      pos_ += len;
      continue;
    }
    const std::size_t esc = pos_;
    const char e = pos_ + 1 < src_.size() ? src_[pos_ + 1] : '\0';
    pos_ += 2;
    switch (e) {
      case '\'': t.text += '\''; break;
      case '"': t.text += '"'; break;
      case '`': t.text += '`'; break;
      case '\\': t.text += '\\'; break;
      case '/': t.text += '/'; break;
      case 'f': t.text += '\f'; break;
      case 'n': t.text += '\n'; break;
      case 'r': t.text += '\r'; break;
      case 't': t.text += '\t'; break;
      case 'u': {
        const auto read_hex4 = [&](std::size_t p) -> long {
          if (p + 4 > src_.size()) return -1;
          long v = 0;
          for (std::size_t k = 0; k < 4; ++k) {
            const int h = hex_value(src_[p + k]);
            if (h < 0) return -1;
            v = v * 16 + h;
          }
          return v;
        };
        const long hi = read_hex4(pos_);
        if (hi < 0) return fail(esc, "invalid \\u escape: expected four hexadecimal digits");
        pos_ += 4;
        std::uint32_t cp = static_cast<std::uint32_t>(hi);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          // A UTF-16 surrogate pair written as two escapes (as JSON does).
          const long lo = pos_ + 1 < src_.size() && src_[pos_] == '\\' && src_[pos_ + 1] == 'u'
                              ? read_hex4(pos_ + 2)
                              : -1;
          if (lo < 0xDC00 || lo > 0xDFFF) {
            return fail(esc, "invalid \\u escape: a high surrogate must be followed by a low one");
          }
          pos_ += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<std::uint32_t>(lo) - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return fail(esc, "invalid \\u escape: lone low surrogate");
        }
        hearth::utf8::append(t.text, static_cast<char32_t>(cp));
        break;
      }
      default:
        if (e == '\0' && esc + 1 >= src_.size()) {
          return fail(start, std::string(what) + " is not closed: expected " +
                                 (quote == '\'' ? "'" : "`") + " before the end of input");
        }
        return fail(esc, "unknown escape sequence: expected one of \\' \\\" \\` \\\\ \\/ \\f \\n \\r \\t \\uXXXX");
    }
  }
}

// NUMBER: [0-9]+ ('.' [0-9]+)? ; LONGNUMBER (FHIRPath 3.0): [0-9]+ 'L'
token lexer::lex_number() {
  const std::size_t start = pos_;
  while (pos_ < src_.size() && is_digit(src_[pos_])) ++pos_;
  token_kind kind = token_kind::integer;
  // A '.' belongs to the number only when a digit follows: `1.abs()` is 1 then .abs().
  if (pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
    kind = token_kind::decimal;
    ++pos_;
    while (pos_ < src_.size() && is_digit(src_[pos_])) ++pos_;
  } else if (pos_ < src_.size() && src_[pos_] == 'L' &&
             (pos_ + 1 >= src_.size() || !is_identifier_char(src_[pos_ + 1]))) {
    token t = make(token_kind::long_integer, start);
    t.text.assign(src_.substr(start, pos_ - start));
    ++pos_;
    return t;
  }
  token t = make(kind, start);
  t.text.assign(src_.substr(start, pos_ - start));
  return t;
}

// DATE: '@' DATEFORMAT ; DATETIME: '@' DATEFORMAT 'T' (TIMEFORMAT TIMEZONEOFFSETFORMAT?)? ;
// TIME: '@' 'T' TIMEFORMAT. The grammar leaves range checks to "the parser or
// interpreter"; they are done here, so a literal that lexes is a valid value.
token lexer::lex_temporal() {
  const std::size_t start = pos_;  // at '@'
  std::size_t p = pos_ + 1;
  temporal tm;
  using prec = temporal::precision;

  // Reads "hh(:mm(:ss(.fff)?)?)?" at p; returns false after fail().
  token err;
  const auto read_time = [&]() -> bool {
    const int h = two_digits(src_, p);
    if (h < 0) {
      err = fail(p, "malformed time: expected a two-digit hour");
      return false;
    }
    if (h > 23) {
      err = fail(p, "time out of range: the hour must be 00-23");
      return false;
    }
    tm.hour = h;
    tm.prec = prec::hour;
    p += 2;
    if (p + 1 < src_.size() && src_[p] == ':' && is_digit(src_[p + 1])) {
      const int m = two_digits(src_, p + 1);
      if (m < 0) {
        err = fail(p + 1, "malformed time: expected two-digit minutes");
        return false;
      }
      if (m > 59) {
        err = fail(p + 1, "time out of range: minutes must be 00-59");
        return false;
      }
      tm.minute = m;
      tm.prec = prec::minute;
      p += 3;
      if (p + 1 < src_.size() && src_[p] == ':' && is_digit(src_[p + 1])) {
        const int s = two_digits(src_, p + 1);
        if (s < 0) {
          err = fail(p + 1, "malformed time: expected two-digit seconds");
          return false;
        }
        if (s > 59) {
          err = fail(p + 1, "time out of range: seconds must be 00-59");
          return false;
        }
        tm.second = s;
        tm.prec = prec::second;
        p += 3;
        if (p + 1 < src_.size() && src_[p] == '.' && is_digit(src_[p + 1])) {
          ++p;
          int ms = 0, digits = 0;
          while (p < src_.size() && is_digit(src_[p])) {
            if (digits < 3) {
              ms = ms * 10 + (src_[p] - '0');
              ++digits;
            }
            ++p;
          }
          for (; digits < 3; ++digits) ms *= 10;
          tm.millisecond = ms;
          tm.prec = prec::millisecond;
        }
      }
    }
    return true;
  };
  // TIMEZONEOFFSETFORMAT: 'Z' | ('+' | '-') [0-9][0-9] ':' [0-9][0-9]. A sign not
  // followed by that shape is the next token (`@T10:00 -1 'h'` would need it).
  const auto read_zone = [&]() -> bool {
    if (p < src_.size() && src_[p] == 'Z') {
      tm.has_timezone = true;
      ++p;
    } else if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) {
      const int hh = two_digits(src_, p + 1);
      const int mm = p + 3 < src_.size() && src_[p + 3] == ':' ? two_digits(src_, p + 4) : -1;
      if (hh < 0 || mm < 0) return true;
      if (hh > 14 || mm > 59) {
        err = fail(p, "time zone out of range: expected -14:00 to +14:00");
        return false;
      }
      tm.has_timezone = true;
      tm.timezone_minutes = (hh * 60 + mm) * (src_[p] == '-' ? -1 : 1);
      p += 6;
    }
    return true;
  };

  token_kind kind;
  std::size_t text_start = start + 1;
  if (p < src_.size() && src_[p] == 'T') {
    kind = token_kind::time;
    ++p;
    text_start = p;
    if (!read_time() || !read_zone()) return err;
  } else if (p < src_.size() && is_digit(src_[p])) {
    kind = token_kind::date;
    for (std::size_t k = 0; k < 4; ++k) {
      if (p + k >= src_.size() || !is_digit(src_[p + k])) {
        return fail(p, "malformed date: expected a four-digit year");
      }
      tm.year = tm.year * 10 + (src_[p + k] - '0');
    }
    p += 4;
    tm.prec = prec::year;
    if (p + 1 < src_.size() && src_[p] == '-' && is_digit(src_[p + 1])) {
      const int m = two_digits(src_, p + 1);
      if (m < 0) return fail(p + 1, "malformed date: expected a two-digit month");
      if (m < 1 || m > 12) return fail(p + 1, "date out of range: the month must be 01-12");
      tm.month = m;
      tm.prec = prec::month;
      p += 3;
      if (p + 1 < src_.size() && src_[p] == '-' && is_digit(src_[p + 1])) {
        const int d = two_digits(src_, p + 1);
        if (d < 0) return fail(p + 1, "malformed date: expected a two-digit day");
        if (d < 1 || d > days_in_month(tm.year, tm.month)) {
          return fail(p + 1, "date out of range: no such day in that month");
        }
        tm.day = d;
        tm.prec = prec::day;
        p += 3;
      }
    }
    if (p < src_.size() && src_[p] == 'T') {
      kind = token_kind::date_time;
      ++p;
      if (p < src_.size() && is_digit(src_[p])) {
        if (tm.prec != prec::day) {
          return fail(p, "malformed dateTime: a time needs a full date (yyyy-mm-dd) before 'T'");
        }
        if (!read_time() || !read_zone()) return err;
      }
    }
  } else {
    return fail(start, "malformed literal after '@': expected a date (@2015-02-04), "
                       "a dateTime (@2015-02-04T14:34) or a time (@T14:34)");
  }
  pos_ = p;
  token t = make(kind, start);
  t.text.assign(src_.substr(text_start, p - text_start));
  t.time = tm;
  return t;
}

}  // namespace hearth::fhir::fhirpath::detail
