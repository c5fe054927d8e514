// UCUM units: the parser, the atom table resolved from its definitions, unit
// algebra and conversions (see ucum.hpp). Section numbers (§n) are those of
// the UCUM specification, https://ucum.org/ucum.

#include <hearth/fhir/ucum.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <utility>

#include "detail/ucum_table.hpp"

namespace hearth::fhir::ucum {

namespace {

using int128 = magnitude::int128;
__extension__ using uint128 = unsigned __int128;
using dims_t = std::array<int, 7>;

hearth::unexpected<hearth::error> fail(std::string code, std::string message, std::size_t offset) {
  return hearth::unexpected(hearth::error{std::move(code), std::move(message), {}, offset});
}

// ------------------------------------------------------------ magnitudes

// Beyond these a magnitude is refused rather than computed: no UCUM unit
// comes near (the essence spans 10^-34 to 10^23 and uses π at most once),
// and they bound the exact decimal arithmetic below.
constexpr int max_exp10 = 1000;
constexpr int max_pi = 16;

int128 gcd128(int128 a, int128 b) {
  while (b != 0) {
    int128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// The canonical form (ucum.hpp): num and den coprime, den coprime with 10,
// num without a factor of 10. False on overflow.
bool normalize(magnitude& m) {
  int128 g = gcd128(m.num, m.den);
  m.num /= g;
  m.den /= g;
  // 1/(2^a 5^b) = 2^(c-a) 5^(c-b) / 10^c with c = max(a, b).
  int twos = 0, fives = 0;
  while (m.den % 2 == 0) m.den /= 2, ++twos;
  while (m.den % 5 == 0) m.den /= 5, ++fives;
  int c = std::max(twos, fives);
  for (int i = twos; i < c; ++i)
    if (__builtin_mul_overflow(m.num, int128{2}, &m.num)) return false;
  for (int i = fives; i < c; ++i)
    if (__builtin_mul_overflow(m.num, int128{5}, &m.num)) return false;
  m.exp10 -= c;
  while (m.num % 10 == 0) m.num /= 10, ++m.exp10;
  return std::abs(m.exp10) <= max_exp10 && std::abs(m.pi) <= max_pi;
}

std::optional<magnitude> mul(magnitude a, magnitude b) {
  int128 g1 = gcd128(a.num, b.den), g2 = gcd128(b.num, a.den);
  magnitude r;
  if (__builtin_mul_overflow(a.num / g1, b.num / g2, &r.num) ||
      __builtin_mul_overflow(a.den / g2, b.den / g1, &r.den))
    return std::nullopt;
  r.exp10 = a.exp10 + b.exp10;
  r.pi = a.pi + b.pi;
  if (!normalize(r)) return std::nullopt;
  return r;
}

magnitude inverse(magnitude m) {
  std::swap(m.num, m.den);
  m.exp10 = -m.exp10;
  m.pi = -m.pi;
  normalize(m);  // cannot overflow: only moves factors of 2 and 5 back
  return m;
}

std::optional<magnitude> power(magnitude m, int n) {
  if (n < 0) {
    m = inverse(m);
    n = -n;
  }
  magnitude r;
  for (int i = 0; i < n; ++i) {
    auto p = mul(r, m);
    if (!p) return std::nullopt;
    r = *p;
  }
  return r;
}

// "6.0221367", "254e-2", "1e3": the essence's value attributes.
std::optional<magnitude> magnitude_of(std::string_view text) {
  magnitude m;
  m.num = 0;
  std::size_t i = 0;
  int fraction = 0;
  bool dot = false, digits = false;
  for (; i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'); ++i) {
    if (text[i] == '.') {
      if (dot) return std::nullopt;
      dot = true;
      continue;
    }
    digits = true;
    if (__builtin_mul_overflow(m.num, int128{10}, &m.num)) return std::nullopt;
    m.num += text[i] - '0';
    if (dot) ++fraction;
  }
  if (!digits || m.num == 0) return std::nullopt;
  int exponent = 0;
  if (i < text.size()) {
    if (text[i] != 'e' || ++i == text.size()) return std::nullopt;
    bool negative = text[i] == '-';
    if (text[i] == '-' || text[i] == '+') ++i;
    if (i == text.size()) return std::nullopt;
    for (; i < text.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i])) || exponent > max_exp10) return std::nullopt;
      exponent = exponent * 10 + (text[i] - '0');
    }
    if (negative) exponent = -exponent;
  }
  m.exp10 = exponent - fraction;
  if (!normalize(m)) return std::nullopt;
  return m;
}

// 10^k, exact in a long double up to k = 27 (5^27 < 2^64).
long double pow10l(int k) {
  long double r = 1;
  for (int i = 0; i < k; ++i) r *= 10;
  return r;
}

constexpr long double pi_l = 3.14159265358979323846264338327950288L;

// x × m in long double: one rounding per step, powers of ten up to 10^27 exact.
long double scale(long double x, const magnitude& m) {
  x = x * static_cast<long double>(m.num) / static_cast<long double>(m.den);
  if (m.exp10 >= 0) x *= m.exp10 <= 27 ? pow10l(m.exp10) : std::pow(10.0L, m.exp10);
  else x /= -m.exp10 <= 27 ? pow10l(-m.exp10) : std::pow(10.0L, -m.exp10);
  for (int i = 0; i < m.pi; ++i) x *= pi_l;
  for (int i = 0; i > m.pi; --i) x /= pi_l;
  return x;
}

// ------------------------------------------------------------ terms

// An evaluated term: magnitude, dimension, arbitrary terms (sorted by code).
struct term_value {
  magnitude m;
  dims_t dims{};
  std::vector<arbitrary_term> arbitrary;
};

void add_arbitrary(std::vector<arbitrary_term>& to, std::string_view code, int exponent) {
  auto it = std::lower_bound(to.begin(), to.end(), code,
                             [](const arbitrary_term& t, std::string_view c) { return t.code < c; });
  if (it != to.end() && it->code == code) {
    it->exponent += exponent;
    if (it->exponent == 0) to.erase(it);
  } else if (exponent != 0) {
    to.insert(it, arbitrary_term{std::string(code), exponent});
  }
}

// a · b^sign (sign ±1); false on magnitude overflow.
bool combine(term_value& a, const term_value& b, int sign) {
  auto m = mul(a.m, sign > 0 ? b.m : inverse(b.m));
  if (!m) return false;
  a.m = *m;
  for (std::size_t i = 0; i < a.dims.size(); ++i) a.dims[i] += sign * b.dims[i];
  for (const auto& t : b.arbitrary) add_arbitrary(a.arbitrary, t.code, sign * t.exponent);
  return true;
}

// b^n; false on magnitude overflow.
bool raise(term_value& v, int n) {
  auto m = power(v.m, n);
  if (!m) return false;
  v.m = *m;
  for (int& d : v.dims) d *= n;
  for (auto& t : v.arbitrary) t.exponent *= n;
  if (n == 0) v.arbitrary.clear();
  return true;
}

// ------------------------------------------------------------ the atom table

// An atom with its definition resolved: 1 atom = m × dims (× arbitrary).
// For a special atom: its corresponding proper unit (§21.2).
struct atom_entry {
  const detail::atom_row* row = nullptr;
  term_value value;
  bool resolved = false;
};

// Where the parser finds atoms: the finished table, or the builder resolving
// definitions on demand while the table is being made.
class atom_source {
 public:
  virtual const atom_entry* find(std::string_view code) = 0;

 protected:
  ~atom_source() = default;
};

struct prefix_entry {
  std::string_view code;
  magnitude m;
};

const std::vector<prefix_entry>& prefixes() {
  static const std::vector<prefix_entry> p = [] {
    std::vector<prefix_entry> v;
    for (const auto& r : detail::prefix_rows) {
      magnitude m;
      m.num = int128{1} << r.exp2;
      m.exp10 = r.exp10;
      normalize(m);
      v.push_back({r.code, m});
    }
    return v;
  }();
  return p;
}

const prefix_entry* find_prefix(std::string_view code) {
  for (const auto& p : prefixes())
    if (p.code == code) return &p;
  return nullptr;
}

// ------------------------------------------------------------ the parser

// Recursive descent over the grammar of §§7–10 (Exhibit 1):
//   main-term  ::= "/" term | term
//   term       ::= term "." component | term "/" component | component
//   component  ::= annotatable annotation? | annotation | factor exponent? annotation?
//                | "(" term ")" annotation?
//   annotatable ::= simple-unit exponent?
// Symbols are split into prefix and atom by §2.1.2. Special units are
// checked against §22 as they are met and at the end.
class parser {
 public:
  parser(std::string_view text, atom_source& atoms) : s_(text), atoms_(atoms) {}

  result<term_value> run() {
    if (s_.empty()) return fail("invalid", "empty unit expression", 0);
    if (s_.size() > max_expression_length)
      return fail("invalid", "unit expression longer than " + std::to_string(max_expression_length) + " bytes",
                  max_expression_length);
    for (std::size_t i = 0; i < s_.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(s_[i]);
      if (c < 33 || c > 126)
        return fail("invalid", "only printable ASCII without spaces may appear in a unit (UCUM §2.1.1)", i);
    }
    term_value v;
    int sign = 1;
    if (s_[0] == '/') {
      ++pos_;
      sign = -1;
    }
    if (!term(v, sign, 0)) return unexpected(err_);
    if (pos_ < s_.size()) {
      if (s_[pos_] == ')') return fail("invalid", "')' without a matching '('", pos_);
      return fail("invalid", "expected '.' or '/' between units", pos_);
    }
    if (sign < 0) {
      v.m = inverse(v.m);
      negate(v);
    }
    if (special_ != nullptr) {
      const term_value& proper = special_->value;
      if (v.dims != proper.dims || !v.arbitrary.empty())
        return fail("invalid", "a special unit cannot be combined with other units (UCUM §22.1)", special_offset_);
    }
    return v;
  }

  const atom_entry* special() const { return special_; }

 private:
  static void negate(term_value& v) {
    for (int& d : v.dims) d = -d;
    for (auto& t : v.arbitrary) t.exponent = -t.exponent;
  }

  bool error(std::string code, std::string message, std::size_t offset) {
    err_ = hearth::error{std::move(code), std::move(message), {}, offset};
    return false;
  }
  bool overflow(std::size_t offset) {
    return error("not-supported", "unit magnitude exceeds the exact range of this library", offset);
  }

  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  static bool digit(char c) { return c >= '0' && c <= '9'; }
  // Characters of unit symbols outside brackets (§2.1.1).
  static bool symbol_char(char c) {
    return c >= 33 && c <= 126 && std::string_view("\"()+-./=[]{}").find(c) == std::string_view::npos;
  }

  // term: components joined by '.' and '/', left to right (§7.4). `sign` is
  // +1 or -1: whether the term ends up in a numerator or a denominator.
  bool term(term_value& out, int sign, int depth) {
    if (!component(out, sign, depth)) return false;
    while (peek() == '.' || peek() == '/') {
      int op = s_[pos_] == '/' ? -1 : 1;
      std::size_t at = ++pos_;
      term_value next;
      if (!component(next, sign * op, depth)) return false;
      if (!combine(out, next, op)) return overflow(at);
    }
    return true;
  }

  bool component(term_value& out, int sign, int depth) {
    std::size_t start = pos_;
    char c = peek();
    if (c == '(') {
      if (depth + 1 > max_nesting_depth)
        return error("invalid", "parentheses nested deeper than " + std::to_string(max_nesting_depth), start);
      ++pos_;
      if (!term(out, sign, depth + 1)) return false;
      if (peek() != ')') return error("invalid", "'(' without a matching ')'", start);
      ++pos_;
      if (digit(peek()) || peek() == '+' || peek() == '-')
        return error("invalid", "an exponent cannot follow ')' (UCUM §10)", pos_);
      return annotation_opt();
    }
    if (c == '{') return annotation() && no_exponent_after_annotation();
    if (c == '\0') return error("invalid", "expected a unit", pos_);
    if (!symbol_char(c) && c != '[') {
      if (c == ')') return error("invalid", "')' without a matching '('", pos_);
      if (c == ']') return error("invalid", "']' without a matching '['", pos_);
      return error("invalid", "expected a unit", pos_);
    }
    // The longest run of symbol characters, square-bracketed parts included.
    std::size_t end = pos_;
    std::size_t last_bracket = std::string_view::npos;  // end of the last [...]
    while (end < s_.size()) {
      if (s_[end] == '[') {
        std::size_t close = end + 1;
        while (close < s_.size() && s_[close] != ']') {
          if (s_[close] == '[') return error("invalid", "square brackets must not be nested (UCUM §2.1.3)", close);
          ++close;
        }
        if (close == s_.size()) return error("invalid", "'[' without a matching ']'", end);
        end = close + 1;
        last_bracket = end;
      } else if (symbol_char(s_[end])) {
        ++end;
      } else {
        break;
      }
    }
    std::string_view run = s_.substr(pos_, end - pos_);
    pos_ = end;
    // A pure string of digits is a number (§8); trailing digits of a symbol
    // are its exponent (§9), never inside brackets.
    std::size_t body = run.size();
    while (body > 0 && digit(run[body - 1]) && (last_bracket == std::string_view::npos || start + body > last_bracket))
      --body;
    if (body == 0) return factor(out, run, start);
    std::string_view symbol = run.substr(0, body);
    int exponent = 1;
    if (body < run.size()) {
      if (!parse_exponent(run.substr(body), false, start + body, exponent)) return false;
      if (peek() == '+' || peek() == '-') return error("invalid", "unexpected sign after an exponent", pos_);
    } else if (peek() == '+' || peek() == '-') {
      if (!signed_exponent(exponent)) return false;
    }
    if (!atom(out, symbol, start, exponent, sign)) return false;
    return annotation_opt();
  }

  // A positive integer in place of a unit (§8), with an exponent only when
  // signed ("2+10" is 2^10, §9) and optionally an annotation ("/100{WBC}").
  bool factor(term_value& out, std::string_view digits, std::size_t start) {
    out = term_value{};
    out.m.num = 0;
    for (char d : digits) {
      if (__builtin_mul_overflow(out.m.num, int128{10}, &out.m.num)) return overflow(start);
      out.m.num += d - '0';
    }
    if (out.m.num == 0) return error("invalid", "a number in a unit must be positive (UCUM §8)", start);
    normalize(out.m);
    if (peek() == '+' || peek() == '-') {
      std::size_t at = pos_;
      int exponent = 1;
      if (!signed_exponent(exponent)) return false;
      if (!raise(out, exponent)) return overflow(at);
    }
    return annotation_opt();
  }

  bool signed_exponent(int& exponent) {
    std::size_t at = pos_;
    bool negative = s_[pos_] == '-';
    std::size_t end = ++pos_;
    while (end < s_.size() && digit(s_[end])) ++end;
    if (end == pos_) return error("invalid", "a sign must be followed by the digits of an exponent", at);
    std::string_view digits = s_.substr(pos_, end - pos_);
    pos_ = end;
    return parse_exponent(digits, negative, at, exponent);
  }

  bool parse_exponent(std::string_view digits, bool negative, std::size_t at, int& exponent) {
    exponent = 0;
    for (char d : digits) {
      exponent = exponent * 10 + (d - '0');
      if (exponent > max_exponent)
        return error("invalid", "exponent beyond +-" + std::to_string(max_exponent), at);
    }
    if (negative) exponent = -exponent;
    return true;
  }

  // A simple unit: prefix and atom by §2.1.2 — the longest prefix whose
  // remainder is a metric atom, else the whole symbol as an atom.
  bool atom(term_value& out, std::string_view symbol, std::size_t at, int exponent, int sign) {
    const atom_entry* a = nullptr;
    const prefix_entry* p = nullptr;
    for (std::size_t len = 2; len >= 1 && a == nullptr; --len) {
      if (symbol.size() <= len) continue;
      const prefix_entry* cand = find_prefix(symbol.substr(0, len));
      if (cand == nullptr) continue;
      const atom_entry* rest = atoms_.find(symbol.substr(len));
      if (rest != nullptr && rest->row->metric) {
        a = rest;
        p = cand;
      }
    }
    if (a == nullptr) a = atoms_.find(symbol);
    if (a == nullptr) {
      for (std::size_t len = 1; len <= 2 && len < symbol.size(); ++len)
        if (find_prefix(symbol.substr(0, len)) != nullptr && atoms_.find(symbol.substr(len)) != nullptr)
          return error("invalid", "a prefix on a non-metric unit (UCUM §11)", at);
      return error("invalid", "unknown unit", at);
    }
    if (!a->resolved) return error("invalid", "unit table entry could not be resolved", at);
    if (a->row->kind == detail::atom_kind::special) {
      if (exponent != 1) return error("invalid", "a special unit cannot take an exponent (UCUM §22.1)", at);
      if (sign < 0) return error("invalid", "a special unit cannot be divided by (UCUM §22.1)", at);
      if (special_ != nullptr) return error("invalid", "more than one special unit (UCUM §22.1)", at);
      special_ = a;
      special_offset_ = at;
    }
    out = a->value;
    if (p != nullptr) {
      auto m = mul(out.m, p->m);
      if (!m) return overflow(at);
      out.m = *m;
    }
    if (!raise(out, exponent)) return overflow(at);
    return true;
  }

  // An annotation (§6): any of 33–126 but curly braces; it means nothing.
  bool annotation() {
    std::size_t open = pos_++;
    while (pos_ < s_.size() && s_[pos_] != '}') {
      if (s_[pos_] == '{') return error("invalid", "curly braces must not be nested (UCUM §6)", pos_);
      ++pos_;
    }
    if (pos_ == s_.size()) return error("invalid", "'{' without a matching '}'", open);
    ++pos_;
    if (peek() == '{') return error("invalid", "one annotation per unit (UCUM Exhibit 1)", pos_);
    return true;
  }
  bool annotation_opt() { return peek() != '{' || annotation(); }
  bool no_exponent_after_annotation() {
    if (digit(peek()) || peek() == '+' || peek() == '-' || peek() == '[' || symbol_char(peek()))
      return error("invalid", "an annotation ends a unit (UCUM §6.3)", pos_);
    return true;
  }

  std::string_view s_;
  atom_source& atoms_;
  std::size_t pos_ = 0;
  hearth::error err_;
  const atom_entry* special_ = nullptr;
  std::size_t special_offset_ = 0;
};

// Builds the table: every row of ucum-essence.xml, its definition parsed
// with the parser above, dependencies resolved first (depth-first).
class table final : public atom_source {
 public:
  table() {
    for (const auto& r : detail::atom_rows) {
      entries_.push_back(atom_entry{&r, {}, false});
      info_.push_back(atom_info{r.code, r.metric, r.kind == detail::atom_kind::arbitrary,
                                r.kind == detail::atom_kind::special});
    }
    for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace_back(entries_[i].row->code, i);
    std::sort(index_.begin(), index_.end());
    state_.assign(entries_.size(), 0);
    for (std::size_t i = 0; i < entries_.size(); ++i) resolve(i);
    building_ = false;
  }

  const atom_entry* find(std::string_view code) override {
    auto it = std::lower_bound(index_.begin(), index_.end(), code,
                               [](const auto& e, std::string_view c) { return e.first < c; });
    if (it == index_.end() || it->first != code) return nullptr;
    if (building_) resolve(it->second);
    return &entries_[it->second];
  }

  std::span<const atom_info> info() const { return info_; }

 private:
  // A row whose definition cannot be resolved (a table error) stays
  // unresolved; parse() then reports it and the table tests fail.
  void resolve(std::size_t i) {
    if (state_[i] != 0) return;  // done, or in progress (a cycle: left unresolved)
    state_[i] = 1;
    atom_entry& e = entries_[i];
    const detail::atom_row& r = *e.row;
    term_value v;
    bool ok = true;
    if (r.kind == detail::atom_kind::base) {
      v.dims[static_cast<std::size_t>(r.base)] = 1;
    } else if (r.kind == detail::atom_kind::pi) {
      v.m.pi = 1;
    } else {
      parser p(r.unit, *this);
      auto def = p.run();
      auto value = magnitude_of(r.value);
      ok = def.has_value() && value.has_value();
      if (ok) {
        v = *def;
        auto m = mul(v.m, *value);
        ok = m.has_value();
        if (ok) v.m = *m;
      }
      // An arbitrary atom is its own dimension unless defined by another
      // arbitrary atom ([IU] = [iU]).
      if (ok && r.kind == detail::atom_kind::arbitrary && v.arbitrary.empty()) add_arbitrary(v.arbitrary, r.code, 1);
    }
    e.value = std::move(v);
    e.resolved = ok;
    state_[i] = 2;
  }

  std::vector<atom_entry> entries_;
  std::vector<atom_info> info_;
  std::vector<std::pair<std::string_view, std::size_t>> index_;
  std::vector<int> state_;
  bool building_ = true;
};

table& the_table() {
  static table t;  // built once; immutable after (find() only reads once built)
  return t;
}

// ------------------------------------------------------------ exact decimals

// A non-negative integer in base 10^9 limbs, least significant first: just
// enough arithmetic for exact conversions of decimal values.
class bigint {
 public:
  bigint() = default;
  explicit bigint(uint128 v) {
    for (; v != 0; v /= base) limbs_.push_back(static_cast<std::uint32_t>(v % base));
  }
  static bigint pow10(int n) {
    bigint r(1);
    for (; n >= 9; n -= 9) r.limbs_.insert(r.limbs_.begin(), 0);
    std::uint32_t m = 1;
    for (; n > 0; --n) m *= 10;
    r.mul_small(m);
    return r;
  }
  bool zero() const { return limbs_.empty(); }
  void mul_small(std::uint32_t m, std::uint32_t add = 0) {
    std::uint64_t carry = add;
    for (auto& l : limbs_) {
      std::uint64_t x = std::uint64_t{l} * m + carry;
      l = static_cast<std::uint32_t>(x % base);
      carry = x / base;
    }
    for (; carry != 0; carry /= base) limbs_.push_back(static_cast<std::uint32_t>(carry % base));
    trim();
  }
  friend bigint operator*(const bigint& a, const bigint& b) {
    bigint r;
    if (a.zero() || b.zero()) return r;
    r.limbs_.assign(a.limbs_.size() + b.limbs_.size(), 0);
    for (std::size_t i = 0; i < a.limbs_.size(); ++i) {
      std::uint64_t carry = 0;
      for (std::size_t j = 0; j < b.limbs_.size(); ++j) {
        std::uint64_t x = r.limbs_[i + j] + std::uint64_t{a.limbs_[i]} * b.limbs_[j] + carry;
        r.limbs_[i + j] = static_cast<std::uint32_t>(x % base);
        carry = x / base;
      }
      r.limbs_[i + b.limbs_.size()] = static_cast<std::uint32_t>(carry);
    }
    r.trim();
    return r;
  }
  friend int compare(const bigint& a, const bigint& b) {
    if (a.limbs_.size() != b.limbs_.size()) return a.limbs_.size() < b.limbs_.size() ? -1 : 1;
    for (std::size_t i = a.limbs_.size(); i-- > 0;)
      if (a.limbs_[i] != b.limbs_[i]) return a.limbs_[i] < b.limbs_[i] ? -1 : 1;
    return 0;
  }
  void add(const bigint& b) {
    limbs_.resize(std::max(limbs_.size(), b.limbs_.size()) + 1, 0);
    std::uint32_t carry = 0;
    for (std::size_t i = 0; i < limbs_.size(); ++i) {
      std::uint32_t x = limbs_[i] + (i < b.limbs_.size() ? b.limbs_[i] : 0) + carry;
      carry = x >= base ? 1 : 0;
      limbs_[i] = x - carry * base;
    }
    trim();
  }
  void subtract(const bigint& b) {  // requires *this >= b
    std::int64_t borrow = 0;
    for (std::size_t i = 0; i < limbs_.size(); ++i) {
      std::int64_t x = std::int64_t{limbs_[i]} - (i < b.limbs_.size() ? b.limbs_[i] : 0) - borrow;
      borrow = x < 0 ? 1 : 0;
      limbs_[i] = static_cast<std::uint32_t>(x + borrow * base);
    }
    trim();
  }
  std::string to_string() const {
    if (zero()) return "0";
    std::string s = std::to_string(limbs_.back());
    for (std::size_t i = limbs_.size() - 1; i-- > 0;) {
      std::string part = std::to_string(limbs_[i]);
      s.append(9 - part.size(), '0').append(part);
    }
    return s;
  }

 private:
  static constexpr std::uint32_t base = 1'000'000'000;
  void trim() {
    while (!limbs_.empty() && limbs_.back() == 0) limbs_.pop_back();
  }
  std::vector<std::uint32_t> limbs_;
};

// A signed fraction of bigints; den > 0.
struct fraction {
  bool negative = false;
  bigint num;
  bigint den{1};
};

fraction operator*(const fraction& a, const fraction& b) {
  return {a.negative != b.negative, a.num * b.num, a.den * b.den};
}
fraction operator/(const fraction& a, const fraction& b) {  // b != 0
  return {a.negative != b.negative, a.num * b.den, a.den * b.num};
}
fraction operator+(const fraction& a, const fraction& b) {
  bigint x = a.num * b.den, y = b.num * a.den;
  fraction r{a.negative, {}, a.den * b.den};
  if (a.negative == b.negative) {
    x.add(y);
    r.num = std::move(x);
  } else if (compare(x, y) >= 0) {
    x.subtract(y);
    r.num = std::move(x);
  } else {
    y.subtract(x);
    r.num = std::move(y);
    r.negative = b.negative;
  }
  return r;
}
fraction operator-(const fraction& a, fraction b) {
  b.negative = !b.negative;
  return a + b;
}

// π to the 64 decimals of the essence's [pi] value.
constexpr std::string_view pi_digits = "3.1415926535897932384626433832795028841971693993751058209749445923";

bigint from_digits(std::string_view digits) {
  bigint r;
  for (char d : digits) r.mul_small(10, static_cast<std::uint32_t>(d - '0'));
  return r;
}

fraction fraction_of(const magnitude& m) {
  fraction f{false, bigint(static_cast<uint128>(m.num)), bigint(static_cast<uint128>(m.den))};
  if (m.exp10 > 0) f.num = f.num * bigint::pow10(m.exp10);
  if (m.exp10 < 0) f.den = f.den * bigint::pow10(-m.exp10);
  std::size_t dot = pi_digits.find('.');
  fraction pi{false, from_digits(std::string(pi_digits.substr(0, dot)) + std::string(pi_digits.substr(dot + 1))),
              bigint::pow10(static_cast<int>(pi_digits.size() - dot - 1))};
  for (int i = 0; i < m.pi; ++i) f = f * pi;
  for (int i = 0; i > m.pi; --i) f = f / pi;
  return f;
}

fraction fraction_of(std::int64_t num, std::int64_t den) {
  return {num < 0, bigint(static_cast<uint128>(num < 0 ? -num : num)), bigint(static_cast<uint128>(den))};
}

// Longest decimal value text convert() reads: bounds the exact arithmetic
// (FHIR decimals are at most 38 digits in practice; this is generous).
constexpr std::size_t max_value_length = 128;

// A decimal number: "-12.50", "3", "1.2e3", "+.5" is refused (FHIR R4
// datatypes.html#decimal: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?,
// with leading zeros tolerated).
std::optional<fraction> parse_decimal(std::string_view text) {
  if (text.empty() || text.size() > max_value_length) return std::nullopt;
  fraction f;
  std::size_t i = 0;
  if (text[0] == '-' || text[0] == '+') f.negative = text[i++] == '-';
  std::string digits;
  int scale = 0;
  std::size_t int_start = i;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) digits += text[i++];
  if (i == int_start) return std::nullopt;
  if (i < text.size() && text[i] == '.') {
    std::size_t frac_start = ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) digits += text[i++], ++scale;
    if (i == frac_start) return std::nullopt;
  }
  int exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool negative = i < text.size() && text[i] == '-';
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    std::size_t exp_start = i;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      exponent = exponent * 10 + (text[i] - '0');
      if (exponent > max_exp10) return std::nullopt;
    }
    if (i == exp_start) return std::nullopt;
    if (negative) exponent = -exponent;
  }
  if (i != text.size()) return std::nullopt;
  f.num = from_digits(digits);
  int e = exponent - scale;
  if (e > 0) f.num = f.num * bigint::pow10(e);
  if (e < 0) f.den = bigint::pow10(-e);
  return f;
}

// `f` written with at most `fraction_digits` fraction digits, rounded half
// away from zero; exact results without trailing zeros.
decimal_text to_decimal(const fraction& f, int fraction_digits) {
  fraction_digits = std::clamp(fraction_digits, 0, 100);
  std::string dividend = (f.num * bigint::pow10(fraction_digits + 1)).to_string();
  std::string q;
  bigint r;
  for (char d : dividend) {
    r.mul_small(10, static_cast<std::uint32_t>(d - '0'));
    char qd = '0';
    while (compare(r, f.den) >= 0) r.subtract(f.den), ++qd;
    q += qd;
  }
  char last = q.back();
  q.pop_back();
  decimal_text out;
  out.exact = r.zero() && last == '0';
  if (last >= '5') {  // round the magnitude up
    std::size_t i = q.size();
    while (i > 0 && q[i - 1] == '9') q[--i] = '0';
    if (i == 0) q.insert(q.begin(), '1');
    else ++q[i - 1];
  }
  if (q.size() <= static_cast<std::size_t>(fraction_digits)) q.insert(0, fraction_digits + 1 - q.size(), '0');
  std::string int_part = q.substr(0, q.size() - fraction_digits);
  std::string frac_part = q.substr(q.size() - fraction_digits);
  int_part.erase(0, std::min(int_part.find_first_not_of('0'), int_part.size() - 1));
  while (!frac_part.empty() && frac_part.back() == '0') frac_part.pop_back();
  bool is_zero = int_part == "0" && frac_part.empty();
  out.text = (f.negative && !is_zero ? "-" : "") + int_part + (frac_part.empty() ? "" : "." + frac_part);
  return out;
}

// ------------------------------------------------------------ conversions

bool temperature(special_kind k) {
  return k == special_kind::celsius || k == special_kind::fahrenheit || k == special_kind::reaumur;
}

// The offset of a temperature scale's zero from 0 K, as num/den kelvin:
// 273.15 K for Cel and [degRe], 459.67 × 5/9 K for [degF].
std::pair<std::int64_t, std::int64_t> offset_of(special_kind k) {
  if (k == special_kind::fahrenheit) return {45967 * 5, 100 * 9};
  if (temperature(k)) return {27315, 100};
  return {0, 1};
}

std::optional<hearth::error> check_convertible(const unit& from, const unit& to) {
  if (from.special == special_kind::unsupported || to.special == special_kind::unsupported) {
    if (comparable(from, to)) return std::nullopt;
    return hearth::error{"not-supported", "conversion of this special unit is not supported", {}, hearth::error::npos};
  }
  if (!comparable(from, to))
    return hearth::error{"invalid", "the units are not comparable", {}, hearth::error::npos};
  if (std::abs(from.factor.exp10) > max_exp10 || std::abs(to.factor.exp10) > max_exp10 ||
      std::abs(from.factor.pi) > max_pi || std::abs(to.factor.pi) > max_pi)
    return hearth::error{"not-supported", "unit magnitude out of range", {}, hearth::error::npos};
  return std::nullopt;
}

// x in `from` to kelvin-or-base (x·f + offset) and back ((y - offset)/f):
// the same formula serves proper units (offset 0) and temperatures.
template <class T, class Factor, class Offset>
T through_base(T x, const unit& from, const unit& to, Factor factor, Offset offset) {
  if (from.special == special_kind::unsupported)  // same special atom: rescale only (§22.4)
    return x * factor(from) / factor(to);
  T base = x * factor(from) + offset(from.special);
  return (base - offset(to.special)) / factor(to);
}

// A unit whose base-unit exponents go beyond max_exponent (Gy82 is m164.s-164):
// parse() could not read its canonical form, so such units are refused.
bool exponents_in_range(const std::array<int, 7>& dims, const std::vector<arbitrary_term>& arbitrary) {
  for (int d : dims)
    if (d > max_exponent || d < -max_exponent) return false;
  for (const auto& t : arbitrary)
    if (t.exponent > max_exponent || t.exponent < -max_exponent) return false;
  return true;
}

}  // namespace

// ------------------------------------------------------------ public API

long double magnitude::to_long_double() const { return scale(1.0L, *this); }

result<unit> parse(std::string_view expression) {
  parser p(expression, the_table());
  auto v = p.run();
  if (!v) return unexpected(std::move(v).error());
  if (!exponents_in_range(v->dims, v->arbitrary))
    return fail("not-supported", "base-unit exponents beyond +-" + std::to_string(max_exponent), 0);
  unit u;
  u.expression = std::string(expression);
  u.factor = v->m;
  u.dimension = v->dims;
  u.arbitrary = std::move(v->arbitrary);
  if (const atom_entry* s = p.special()) {
    u.special_atom = std::string(s->row->code);
    switch (s->row->function) {
      case detail::special_function::celsius: u.special = special_kind::celsius; break;
      case detail::special_function::fahrenheit: u.special = special_kind::fahrenheit; break;
      case detail::special_function::reaumur: u.special = special_kind::reaumur; break;
      default: u.special = special_kind::unsupported; break;
    }
  }
  return u;
}

bool comparable(const unit& a, const unit& b) {
  if (a.special == special_kind::unsupported || b.special == special_kind::unsupported)
    return a.special == b.special && a.special_atom == b.special_atom;
  return a.dimension == b.dimension && a.arbitrary == b.arbitrary;
}

result<long double> convert(long double value, const unit& from, const unit& to) {
  if (auto e = check_convertible(from, to)) return unexpected(std::move(*e));
  long double r = 0;
  auto ratio = mul(from.factor, inverse(to.factor));
  if (!temperature(from.special) && !temperature(to.special) && ratio) {
    r = scale(value, *ratio);  // the exact ratio first: mg to g is x / 1000
  } else {
    r = through_base(
        value, from, to, [](const unit& u) { return u.factor.to_long_double(); },
        [](special_kind k) {
          auto [n, d] = offset_of(k);
          return static_cast<long double>(n) / static_cast<long double>(d);
        });
  }
  if (!std::isfinite(r)) return fail("not-supported", "converted value out of range", hearth::error::npos);
  return r;
}

result<decimal_text> convert(std::string_view value, const unit& from, const unit& to, int max_fraction_digits) {
  if (auto e = check_convertible(from, to)) return unexpected(std::move(*e));
  auto x = parse_decimal(value);
  if (!x) return fail("invalid", "the value is not a decimal number", hearth::error::npos);
  fraction r = through_base(
      *x, from, to, [](const unit& u) { return fraction_of(u.factor); },
      [](special_kind k) {
        auto [n, d] = offset_of(k);
        return fraction_of(n, d);
      });
  return to_decimal(r, max_fraction_digits);
}

std::string canonical_unit(const unit& u) {
  std::string s;
  auto append = [&s](std::string_view code, int exponent) {
    if (!s.empty()) s += '.';
    s += code;
    if (exponent != 1) s += std::to_string(exponent);
  };
  for (std::size_t i = 0; i < base_units.size(); ++i)
    if (u.dimension[i] != 0) append(base_units[i], u.dimension[i]);
  for (const auto& t : u.arbitrary) append(t.code, t.exponent);
  return s.empty() ? "1" : s;
}

result<canonical_form> canonical(std::string_view value, const unit& u, int max_fraction_digits) {
  if (u.special == special_kind::unsupported)
    return fail("not-supported", "conversion of this special unit is not supported", hearth::error::npos);
  unit base;
  base.dimension = u.dimension;
  base.arbitrary = u.arbitrary;
  auto exact = convert(value, u, base, max_fraction_digits);
  if (!exact) return unexpected(std::move(exact).error());
  canonical_form c;
  c.value = std::move(*exact);
  c.approx = std::strtold(c.value.text.c_str(), nullptr);
  c.unit = canonical_unit(base);
  return c;
}

namespace {

// Whether a UCUM expression has '.' or '/' outside brackets, braces and
// parentheses: then it needs parentheses to be an operand.
bool compound(std::string_view e) {
  int depth = 0;
  bool bracket = false, brace = false;
  for (char c : e) {
    if (bracket) bracket = c != ']';
    else if (brace) brace = c != '}';
    else if (c == '[') bracket = true;
    else if (c == '{') brace = true;
    else if (c == '(') ++depth;
    else if (c == ')') --depth;
    else if ((c == '.' || c == '/') && depth == 0) return true;
  }
  return false;
}

std::string left_operand(const std::string& e) { return !e.empty() && e[0] == '/' ? "1" + e : e; }
std::string right_operand(const std::string& e) { return compound(e) ? "(" + left_operand(e) + ")" : e; }

result<unit> combine_units(const unit& a, const unit& b, int sign) {
  if (a.special != special_kind::none || b.special != special_kind::none)
    return fail("invalid", "a special unit cannot be multiplied or divided (UCUM §22.1)", hearth::error::npos);
  term_value v{a.factor, a.dimension, a.arbitrary};
  if (!combine(v, term_value{b.factor, b.dimension, b.arbitrary}, sign))
    return fail("not-supported", "unit magnitude exceeds the exact range of this library", hearth::error::npos);
  if (!exponents_in_range(v.dims, v.arbitrary))
    return fail("not-supported", "base-unit exponents beyond +-" + std::to_string(max_exponent), hearth::error::npos);
  unit u;
  u.factor = v.m;
  u.dimension = v.dims;
  u.arbitrary = std::move(v.arbitrary);
  if (b.expression == "1") u.expression = a.expression;
  else if (sign > 0 && a.expression == "1") u.expression = b.expression;
  else if (a.expression == "1") u.expression = "/" + right_operand(b.expression);
  else u.expression = left_operand(a.expression) + (sign > 0 ? "." : "/") + right_operand(b.expression);
  return u;
}

}  // namespace

result<unit> multiply(const unit& a, const unit& b) { return combine_units(a, b, 1); }
result<unit> divide(const unit& a, const unit& b) { return combine_units(a, b, -1); }

std::span<const atom_info> atoms() { return the_table().info(); }

}  // namespace hearth::fhir::ucum
