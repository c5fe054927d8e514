#pragma once
// The FHIRPath lexer (FHIRPath 2.0.0 grammar appendix, "Lexical rules"):
// turns source text into tokens one at a time, on demand, so that the parser
// reports the first error in reading order.

#include <cstdint>
#include <string>
#include <string_view>

#include <hearth/fhir/fhirpath_ast.hpp>

namespace hearth::fhir::fhirpath::detail {

enum class token_kind : std::uint8_t {
  end,                   ///< end of input
  error,                 ///< a lexical error: text is the message, offset where
  identifier,            ///< IDENTIFIER (keywords too: the parser tells them apart)
  delimited_identifier,  ///< `...`: text decoded
  string,                ///< '...': text decoded
  integer,               ///< 42: text is the digits
  long_integer,          ///< 42L: text is the digits
  decimal,               ///< 4.20: text as written
  date,                  ///< @2015-02-04: text after '@'
  date_time,             ///< @2015-02-04T14:00: text after '@'
  time,                  ///< @T14:00: text after "@T"
  this_variable,         ///< $this
  index_variable,        ///< $index
  total_variable,        ///< $total
  dot, comma, lparen, rparen, lbracket, rbracket, lbrace, rbrace,
  plus, minus, star, slash, ampersand, pipe,
  less, less_equal, greater, greater_equal,
  equal, tilde, not_equal, not_equivalent,
  percent,
};

/// One token. Plain value.
struct token {
  token_kind kind = token_kind::end;
  std::uint32_t offset = 0;  ///< byte offset of the token's first character
  std::string text;          ///< see token_kind
  temporal time;             ///< date, date_time, time
};

/// How a token kind is named in "expected X, found Y" messages. Never the
/// token's text (it may be PHI): "an identifier", "a string", "')'".
std::string_view describe(token_kind kind) noexcept;

/// Reads tokens from a source that must outlive the lexer. Not thread-safe;
/// one per parse. After an error or end token, next() keeps returning it.
class lexer {
 public:
  explicit lexer(std::string_view source) noexcept : src_(source) {}

  /// The next token, skipping whitespace and comments.
  token next();

 private:
  token make(token_kind kind, std::size_t start) const;
  token fail(std::size_t at, std::string message);
  token lex_quoted(char quote, token_kind kind);
  token lex_number();
  token lex_temporal();
  bool skip_trivia(token& err);  // false with err set on an unterminated comment

  std::string_view src_;
  std::size_t pos_ = 0;
  bool done_ = false;  ///< an end or error token was returned
  token last_;         ///< that token, returned again
};

/// True for [A-Za-z_]; the grammar's IDENTIFIER start.
constexpr bool is_identifier_start(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
/// True for [A-Za-z0-9_].
constexpr bool is_identifier_char(char c) noexcept {
  return is_identifier_start(c) || (c >= '0' && c <= '9');
}

}  // namespace hearth::fhir::fhirpath::detail
