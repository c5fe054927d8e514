// The FHIRPath parser: recursive descent for terms, precedence climbing for
// the binary operators (FHIRPath 2.0.0 grammar appendix, rule `expression`,
// and §10 "Operator precedence"). Also the AST helpers of fhirpath_ast.hpp.

#include <hearth/fhir/fhirpath_parser.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detail/fhirpath_lexer.hpp"

namespace hearth::fhir::fhirpath {

namespace {

// Words of the grammar that the `identifier` rule does not admit. ('as',
// 'contains', 'in' and 'is' are keywords the rule does admit.)
bool is_reserved(std::string_view w) noexcept {
  static constexpr std::array<std::string_view, 8> words = {
      "true", "false", "div", "mod", "and", "or", "xor", "implies"};
  return std::find(words.begin(), words.end(), w) != words.end();
}

// grammar: dateTimePrecision | pluralDateTimePrecision
bool is_calendar_unit(std::string_view w) noexcept {
  static constexpr std::array<std::string_view, 16> words = {
      "year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours",
      "minute", "minutes", "second", "seconds", "millisecond", "milliseconds"};
  return std::find(words.begin(), words.end(), w) != words.end();
}

// The operator a token stands for in binary position, or none.
operator_kind binary_operator(const detail::token& t) noexcept {
  using detail::token_kind;
  switch (t.kind) {
    case token_kind::star: return operator_kind::multiply;
    case token_kind::slash: return operator_kind::divide;
    case token_kind::plus: return operator_kind::plus;
    case token_kind::minus: return operator_kind::minus;
    case token_kind::ampersand: return operator_kind::concat;
    case token_kind::pipe: return operator_kind::union_;
    case token_kind::less: return operator_kind::less;
    case token_kind::less_equal: return operator_kind::less_equal;
    case token_kind::greater: return operator_kind::greater;
    case token_kind::greater_equal: return operator_kind::greater_equal;
    case token_kind::equal: return operator_kind::equal;
    case token_kind::tilde: return operator_kind::equivalent;
    case token_kind::not_equal: return operator_kind::not_equal;
    case token_kind::not_equivalent: return operator_kind::not_equivalent;
    case token_kind::identifier: break;
    default: return operator_kind::none;
  }
  const std::string_view w = t.text;
  if (w == "div") return operator_kind::div;
  if (w == "mod") return operator_kind::mod;
  if (w == "is") return operator_kind::is;
  if (w == "as") return operator_kind::as;
  if (w == "in") return operator_kind::in;
  if (w == "contains") return operator_kind::contains;
  if (w == "and") return operator_kind::and_;
  if (w == "or") return operator_kind::or_;
  if (w == "xor") return operator_kind::xor_;
  if (w == "implies") return operator_kind::implies;
  return operator_kind::none;
}

bool is_plain_identifier(std::string_view s) noexcept {
  if (s.empty() || !detail::is_identifier_start(s[0])) return false;
  for (char c : s) {
    if (!detail::is_identifier_char(c)) return false;
  }
  return true;
}

// Appends `s` quoted with `q` (' or `), escaped so that the lexer reads it back.
void append_quoted(std::string& out, std::string_view s, char q) {
  out += q;
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c == q) {
          out += '\\';
          out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[(c >> 4) & 0xF];
          out += hex[c & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += q;
}

// An identifier as FHIRPath reads it back: bare when it can be, else in backticks.
void append_identifier(std::string& out, std::string_view s) {
  if (is_plain_identifier(s) && !is_reserved(s)) {
    out += s;
  } else {
    append_quoted(out, s, '`');
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// AST helpers

std::string_view to_string(operator_kind op) noexcept {
  switch (op) {
    case operator_kind::none: return "";
    case operator_kind::multiply: return "*";
    case operator_kind::divide: return "/";
    case operator_kind::div: return "div";
    case operator_kind::mod: return "mod";
    case operator_kind::plus: return "+";
    case operator_kind::minus: return "-";
    case operator_kind::concat: return "&";
    case operator_kind::is: return "is";
    case operator_kind::as: return "as";
    case operator_kind::union_: return "|";
    case operator_kind::less: return "<";
    case operator_kind::less_equal: return "<=";
    case operator_kind::greater: return ">";
    case operator_kind::greater_equal: return ">=";
    case operator_kind::equal: return "=";
    case operator_kind::equivalent: return "~";
    case operator_kind::not_equal: return "!=";
    case operator_kind::not_equivalent: return "!~";
    case operator_kind::in: return "in";
    case operator_kind::contains: return "contains";
    case operator_kind::and_: return "and";
    case operator_kind::or_: return "or";
    case operator_kind::xor_: return "xor";
    case operator_kind::implies: return "implies";
  }
  return "";
}

int precedence(operator_kind op) noexcept {
  switch (op) {
    case operator_kind::multiply:
    case operator_kind::divide:
    case operator_kind::div:
    case operator_kind::mod: return 10;
    case operator_kind::plus:
    case operator_kind::minus:
    case operator_kind::concat: return 9;
    case operator_kind::is:
    case operator_kind::as: return 8;
    case operator_kind::union_: return 7;
    case operator_kind::less:
    case operator_kind::less_equal:
    case operator_kind::greater:
    case operator_kind::greater_equal: return 6;
    case operator_kind::equal:
    case operator_kind::equivalent:
    case operator_kind::not_equal:
    case operator_kind::not_equivalent: return 5;
    case operator_kind::in:
    case operator_kind::contains: return 4;
    case operator_kind::and_: return 3;
    case operator_kind::or_:
    case operator_kind::xor_: return 2;
    case operator_kind::implies: return 1;
    case operator_kind::none: return 0;
  }
  return 0;
}

std::string type_specifier::to_string() const {
  std::string out;
  if (!qualifier.empty()) {
    out = qualifier;
    out += '.';
  }
  out += name;
  return out;
}

std::optional<type_specifier> expression::type_argument(node_id id) const {
  // Walk `A.B.C` from its last member back to its first.
  std::vector<std::string_view> parts;
  for (node_id cur = id; cur != no_node; cur = nodes_[cur].focus) {
    const node& n = nodes_[cur];
    if (n.kind != node_kind::member) return std::nullopt;
    parts.push_back(n.text);
  }
  if (parts.empty()) return std::nullopt;
  type_specifier t;
  t.name = std::string(parts.front());
  for (std::size_t i = parts.size(); i-- > 1;) {
    if (!t.qualifier.empty()) t.qualifier += '.';
    t.qualifier += parts[i];
  }
  return t;
}

std::string expression::to_string() const { return to_string(root()); }

std::string expression::to_string(node_id id) const {
  const node& n = nodes_[id];
  const auto kids = children(n);
  std::string out;
  const auto with_focus = [&](std::string self) {
    if (n.focus == no_node) return self;
    return "(. " + to_string(n.focus) + " " + self + ")";
  };
  switch (n.kind) {
    case node_kind::empty_literal: return "{}";
    case node_kind::boolean_literal:
    case node_kind::integer_literal:
    case node_kind::decimal_literal: return n.text;
    case node_kind::long_literal: return n.text + "L";
    case node_kind::string_literal: append_quoted(out, n.text, '\''); return out;
    case node_kind::date_literal:
    case node_kind::date_time_literal: return "@" + n.text;
    case node_kind::time_literal: return "@T" + n.text;
    case node_kind::quantity_literal:
      out = n.text + " ";
      if (n.calendar_unit) out += n.unit;
      else append_quoted(out, n.unit, '\'');
      return out;
    case node_kind::external_constant:
      out = "%";
      append_identifier(out, n.text);
      return out;
    case node_kind::this_variable: return with_focus("$this");
    case node_kind::index_variable: return with_focus("$index");
    case node_kind::total_variable: return with_focus("$total");
    case node_kind::member:
      append_identifier(out, n.text);
      return with_focus(std::move(out));
    case node_kind::function:
      out = "(";
      append_identifier(out, n.text);
      for (node_id k : kids) out += " " + to_string(k);
      out += ")";
      return with_focus(std::move(out));
    case node_kind::indexer: return "([] " + to_string(kids[0]) + " " + to_string(kids[1]) + ")";
    case node_kind::unary:
      return "(" + std::string(fhirpath::to_string(n.op)) + " " + to_string(kids[0]) + ")";
    case node_kind::binary:
      return "(" + std::string(fhirpath::to_string(n.op)) + " " + to_string(kids[0]) + " " +
             to_string(kids[1]) + ")";
    case node_kind::type_operation: {
      out = "(" + std::string(fhirpath::to_string(n.op)) + " " + to_string(kids[0]) + " ";
      if (!n.type.qualifier.empty()) {
        out += n.type.qualifier;  // parts are plain or were backticked: print each part
        out += '.';
      }
      append_identifier(out, n.type.name);
      return out + ")";
    }
  }
  return out;
}

std::string location_of(std::string_view source, std::size_t offset) {
  offset = std::min(offset, source.size());
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    const unsigned char c = static_cast<unsigned char>(source[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {  // count characters, not UTF-8 continuation bytes
      ++column;
    }
  }
  return std::to_string(line) + ":" + std::to_string(column);
}

// ---------------------------------------------------------------------------
// The parser

namespace detail {

/// One parse. Not thread-safe; lives for one call of fhirpath::parse().
class parser {
 public:
  parser(std::string_view source, const parse_options& opts) : lex_(source), opts_(opts) {
    out_.source_.assign(source);
  }

  hearth::result<expression, hearth::error> run() {
    advance();
    const node_id root = parse_expression();
    if (root != no_node && cur_.kind != token_kind::end) {
      if (cur_.kind == token_kind::rparen) {
        fail(cur_.offset, "unmatched ')'");
      } else if (cur_.kind == token_kind::rbracket) {
        fail(cur_.offset, "unmatched ']'");
      } else {
        expected("an operator or the end of the expression");
      }
    }
    if (err_) return hearth::unexpected(std::move(*err_));
    return std::move(out_);
  }

 private:
  // ---- tokens ----

  void advance() { cur_ = lex_.next(); }

  // ---- errors: the first one wins ----

  node_id fail(std::size_t offset, std::string message, const char* code = "invalid") {
    if (!err_) {
      hearth::error e;
      e.code = code;
      e.message = std::move(message);
      e.offset = offset;
      e.location = location_of(out_.source_, offset);
      err_ = std::move(e);
    }
    return no_node;
  }

  // "expected X, found Y" at the current token (or the lexer's own error there).
  node_id expected(std::string_view what) {
    if (cur_.kind == token_kind::error) return fail(cur_.offset, cur_.text);
    std::string found(describe(cur_.kind));
    if (cur_.kind == token_kind::identifier && (is_reserved(cur_.text) ||
                                                 binary_operator(cur_) != operator_kind::none)) {
      found = "'" + cur_.text + "'";  // a keyword: naming it is no disclosure
    }
    return fail(cur_.offset, "expected " + std::string(what) + ", found " + found);
  }

  // ---- nodes ----

  // Appends a node with these operands; checks max_nodes and the tree height.
  node_id add(node n, std::initializer_list<node_id> kids) {
    return add(std::move(n), kids.begin(), kids.size());
  }

  node_id add(node n, const node_id* kids, std::size_t count) {
    if (out_.nodes_.size() >= opts_.max_nodes) {
      return fail(n.offset, "expression has too many nodes (limit " +
                                std::to_string(opts_.max_nodes) + ")", "too-costly");
    }
    std::size_t h = n.focus == no_node ? 0 : height_[n.focus];
    for (std::size_t i = 0; i < count; ++i) h = std::max<std::size_t>(h, height_[kids[i]]);
    ++h;
    if (h > opts_.max_depth) return too_deep(n.offset);
    n.first_child = static_cast<std::uint32_t>(out_.edges_.size());
    n.child_count = static_cast<std::uint32_t>(count);
    out_.edges_.insert(out_.edges_.end(), kids, kids + count);
    out_.nodes_.push_back(std::move(n));
    height_.push_back(static_cast<std::uint32_t>(h));
    return static_cast<node_id>(out_.nodes_.size() - 1);
  }

  node make(node_kind kind, std::size_t offset) const {
    node n;
    n.kind = kind;
    n.offset = static_cast<std::uint32_t>(offset);
    return n;
  }

  node_id too_deep(std::size_t offset) {
    return fail(offset, "expression is nested too deeply (limit " +
                            std::to_string(opts_.max_depth) + ")", "too-costly");
  }

  // Counts the parser's recursion; enter() fails past max_depth.
  struct depth_guard {
    explicit depth_guard(parser& p) : p_(p) { ++p_.depth_; }
    ~depth_guard() { --p_.depth_; }
    depth_guard(const depth_guard&) = delete;
    depth_guard& operator=(const depth_guard&) = delete;
    bool ok() const { return p_.depth_ <= p_.opts_.max_depth; }
    parser& p_;
  };

  // ---- grammar ----

  // expression (the whole precedence ladder)
  node_id parse_expression() {
    depth_guard g(*this);
    if (!g.ok()) return too_deep(cur_.offset);
    return parse_binary(1);
  }

  // Precedence climbing over the binary levels; left-associative: after an
  // operator of precedence p, the right operand takes only operators above p.
  node_id parse_binary(int min_prec) {
    node_id lhs = parse_unary();
    while (lhs != no_node) {
      const operator_kind op = binary_operator(cur_);
      const int p = precedence(op);
      if (p == 0 || p < min_prec) break;
      const std::size_t at = cur_.offset;
      advance();
      node n = make(node_kind::binary, at);
      n.op = op;
      if (op == operator_kind::is || op == operator_kind::as) {
        // expression ('is' | 'as') typeSpecifier
        n.kind = node_kind::type_operation;
        if (!parse_type_specifier(n.type)) return no_node;
        lhs = add(std::move(n), {lhs});
        continue;
      }
      const node_id rhs = parse_binary(p + 1);
      if (rhs == no_node) return no_node;
      lhs = add(std::move(n), {lhs, rhs});
    }
    return lhs;
  }

  // ('+' | '-') expression, binding tighter than every binary operator but
  // looser than '.' and '[]': -a.b is -(a.b).
  node_id parse_unary() {
    if (cur_.kind == token_kind::plus || cur_.kind == token_kind::minus) {
      depth_guard g(*this);
      if (!g.ok()) return too_deep(cur_.offset);
      node n = make(node_kind::unary, cur_.offset);
      n.op = cur_.kind == token_kind::plus ? operator_kind::plus : operator_kind::minus;
      advance();
      const node_id operand = parse_unary();
      if (operand == no_node) return no_node;
      return add(std::move(n), {operand});
    }
    const node_id t = parse_term();
    return t == no_node ? no_node : parse_postfix(t);
  }

  // expression '.' invocation | expression '[' expression ']'
  node_id parse_postfix(node_id lhs) {
    while (lhs != no_node) {
      if (cur_.kind == token_kind::dot) {
        advance();
        lhs = parse_invocation(lhs, "a member name, a function call or a $ variable after '.'");
      } else if (cur_.kind == token_kind::lbracket) {
        const std::size_t open = cur_.offset;
        advance();
        const node_id index = parse_expression();
        if (index == no_node) return no_node;
        if (cur_.kind != token_kind::rbracket) {
          return expected("']' to close the '[' at " + location_of(out_.source_, open));
        }
        advance();
        lhs = add(make(node_kind::indexer, open), {lhs, index});
      } else {
        break;
      }
    }
    return lhs;
  }

  // The token is a name the grammar's `identifier` rule admits.
  bool at_identifier() const {
    return cur_.kind == token_kind::delimited_identifier ||
           (cur_.kind == token_kind::identifier && !is_reserved(cur_.text));
  }

  // invocation: identifier | identifier '(' paramList? ')' | $this | $index | $total
  node_id parse_invocation(node_id focus, std::string_view what) {
    node_kind var;
    switch (cur_.kind) {
      case token_kind::this_variable: var = node_kind::this_variable; break;
      case token_kind::index_variable: var = node_kind::index_variable; break;
      case token_kind::total_variable: var = node_kind::total_variable; break;
      default:
        if (!at_identifier()) return expected(what);
        var = node_kind::member;
    }
    node n = make(var, cur_.offset);
    n.focus = focus;
    if (var != node_kind::member) {
      advance();
      return add(std::move(n), {});
    }
    n.text = std::move(cur_.text);
    advance();
    if (cur_.kind != token_kind::lparen) return add(std::move(n), {});

    // function: identifier '(' paramList? ')'
    n.kind = node_kind::function;
    const std::size_t open = cur_.offset;
    advance();
    std::vector<node_id> args;
    if (cur_.kind != token_kind::rparen) {
      for (;;) {
        const node_id a = parse_expression();
        if (a == no_node) return no_node;
        args.push_back(a);
        if (cur_.kind == token_kind::comma) {
          advance();
          continue;
        }
        if (cur_.kind == token_kind::rparen) break;
        return expected("',' or ')' to close the argument list opened at " +
                        location_of(out_.source_, open));
      }
    }
    advance();  // ')'
    return add(std::move(n), args.data(), args.size());
  }

  // typeSpecifier: qualifiedIdentifier: identifier ('.' identifier)*
  bool parse_type_specifier(type_specifier& out) {
    if (!at_identifier()) {
      expected("a type name after 'is' or 'as'");
      return false;
    }
    out.name = std::move(cur_.text);
    advance();
    while (cur_.kind == token_kind::dot) {
      advance();
      if (!at_identifier()) {
        expected("a type name after '.'");
        return false;
      }
      if (!out.qualifier.empty()) out.qualifier += '.';
      out.qualifier += out.name;
      out.name = std::move(cur_.text);
      advance();
    }
    return true;
  }

  // term: invocation | literal | externalConstant | '(' expression ')'
  node_id parse_term() {
    const std::size_t at = cur_.offset;
    switch (cur_.kind) {
      case token_kind::lparen: {
        advance();
        const node_id e = parse_expression();
        if (e == no_node) return no_node;
        if (cur_.kind != token_kind::rparen) {
          return expected("')' to close the '(' at " + location_of(out_.source_, at));
        }
        advance();
        return e;
      }
      case token_kind::lbrace:
        advance();
        if (cur_.kind != token_kind::rbrace) return expected("'}' ('{}' is the empty collection)");
        advance();
        return add(make(node_kind::empty_literal, at), {});
      case token_kind::string: return literal(node_kind::string_literal);
      case token_kind::long_integer: return literal(node_kind::long_literal);
      case token_kind::integer:
      case token_kind::decimal: return number();
      case token_kind::date: return literal(node_kind::date_literal);
      case token_kind::date_time: return literal(node_kind::date_time_literal);
      case token_kind::time: return literal(node_kind::time_literal);
      case token_kind::percent: {
        // externalConstant: '%' ( identifier | STRING )
        advance();
        if (!at_identifier() && cur_.kind != token_kind::string) {
          return expected("a constant name after '%'");
        }
        node n = make(node_kind::external_constant, at);
        n.text = std::move(cur_.text);
        advance();
        return add(std::move(n), {});
      }
      case token_kind::identifier:
        if (cur_.text == "true" || cur_.text == "false") return literal(node_kind::boolean_literal);
        break;
      default: break;
    }
    return parse_invocation(no_node, "an expression");
  }

  node_id literal(node_kind kind) {
    node n = make(kind, cur_.offset);
    n.text = std::move(cur_.text);
    n.time = cur_.time;
    advance();
    return add(std::move(n), {});
  }

  // NUMBER, or quantity: NUMBER unit? with unit: dateTimePrecision |
  // pluralDateTimePrecision | STRING (UCUM).
  node_id number() {
    node n = make(cur_.kind == token_kind::decimal ? node_kind::decimal_literal
                                                    : node_kind::integer_literal,
                  cur_.offset);
    n.decimal = cur_.kind == token_kind::decimal;
    n.text = std::move(cur_.text);
    advance();
    if (cur_.kind == token_kind::string) {
      n.kind = node_kind::quantity_literal;
      n.unit = std::move(cur_.text);
      advance();
    } else if (cur_.kind == token_kind::identifier && is_calendar_unit(cur_.text)) {
      n.kind = node_kind::quantity_literal;
      n.calendar_unit = true;
      n.unit = std::move(cur_.text);
      advance();
    }
    return add(std::move(n), {});
  }

  lexer lex_;
  const parse_options& opts_;
  token cur_;                          ///< the token being looked at
  std::optional<hearth::error> err_;   ///< the first error
  expression out_;                     ///< the tree being built
  std::vector<std::uint32_t> height_;  ///< height of each node of out_
  std::size_t depth_ = 0;              ///< current recursion depth
};

}  // namespace detail

hearth::result<expression, hearth::error> parse(std::string_view source,
                                                const parse_options& opts) {
  if (source.size() > opts.max_length) {
    hearth::error e;
    e.code = "too-long";
    e.message = "expression is longer than " + std::to_string(opts.max_length) + " bytes";
    e.offset = opts.max_length;
    e.location = location_of(source, opts.max_length);
    return hearth::unexpected(std::move(e));
  }
  detail::parser p(source, opts);
  return p.run();
}

}  // namespace hearth::fhir::fhirpath
