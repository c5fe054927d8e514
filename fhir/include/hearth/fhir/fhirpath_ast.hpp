#pragma once
// The syntax tree of one parsed FHIRPath expression (FHIRPath 2.0.0 N1,
// http://hl7.org/fhirpath/N1/, grammar appendix "grammar.html").
//
// The tree is an arena: every node lives in one vector and refers to its
// operands by index (node_id). Nodes are stored in post-order — every child has
// a smaller id than its parent and root() is the last node — so an evaluator may
// walk it recursively from root() or, without recursion, in id order. The tree
// is immutable once parse() has returned it; the height of every tree parse()
// returns is at most parse_options::max_depth, so a recursive walk has bounded
// stack use.
//
// Thread-safety: an expression is a plain value; concurrent const access (e.g.
// many threads evaluating one cached expression) is safe.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::fhir::fhirpath {

namespace detail {
class parser;
}

/// Index of a node in its expression's arena.
using node_id = std::uint32_t;

/// "No node": the focus of an invocation written without a '.' before it.
inline constexpr node_id no_node = static_cast<node_id>(-1);

/// What a node is. The comment on each kind says which node fields it uses;
/// "operands" are the node's children (expression::children()).
enum class node_kind : std::uint8_t {
  // ---- literals (grammar: literal) ----
  empty_literal,      ///< `{}`: the empty collection. No fields.
  boolean_literal,    ///< `true` / `false`: text is "true" or "false".
  string_literal,     ///< `'...'`: text is the decoded UTF-8 value (escapes resolved).
  integer_literal,    ///< `42`, `007`: text is the digits as written (no sign, no conversion).
  long_literal,       ///< `42L` (FHIRPath 3.0 Long, accepted): text is the digits without 'L'.
  decimal_literal,    ///< `1.50`: text as written, trailing zeros kept.
  date_literal,       ///< `@2015-02-04`: text without '@'; temporal holds the parts.
  date_time_literal,  ///< `@2015-02-04T14:34:28.123+09:00`, `@2015T`: text without '@'; temporal.
  time_literal,       ///< `@T14:30`: text without "@T"; temporal. A time zone is lexed and
                      ///< recorded (temporal.has_timezone) so the evaluator can reject it
                      ///< as the spec's tests expect (an execution, not a syntax, error).
  quantity_literal,   ///< `4.5 'mg'`, `3 days`: text is the number as written; unit is the
                      ///< decoded UCUM string or the calendar keyword as written
                      ///< (calendar_unit = true); decimal says whether text has a '.'.

  // ---- terms that name something ----
  external_constant,  ///< `%name`, `%`name``, `%'name'`: text is the decoded name.
  this_variable,      ///< `$this`. focus: see member.
  index_variable,     ///< `$index`. focus: see member.
  total_variable,     ///< `$total`. focus: see member.

  // ---- invocations (grammar: invocation, function) ----
  member,             ///< `name` or `focus.name`: text is the identifier (backticks removed).
                      ///< focus is the expression left of '.', or no_node when the name is a
                      ///< term of its own (evaluated on the input collection / $this).
  function,           ///< `name(args...)` or `focus.name(args...)`: text is the name; the
                      ///< operands are the arguments (0..n) as unevaluated expressions (the
                      ///< function decides when and on what to evaluate them: where, select,
                      ///< iif, ...). focus as for member. is(T), as(T), ofType(T) are plain
                      ///< functions whose argument is a member chain; see type_argument().

  // ---- operators ----
  indexer,            ///< `a[i]`: operands a, i.
  unary,              ///< `-a`, `+a`: op is plus or minus; one operand.
  binary,             ///< `a op b`: op; operands a, b.
  type_operation,     ///< `a is T`, `a as T`: op is is or as; one operand; type holds T.
};

/// Operators of unary, binary and type_operation nodes (FHIRPath 2.0.0 §6).
enum class operator_kind : std::uint8_t {
  none,       ///< the node is not an operator
  // multiplicative (§6.6)
  multiply,   ///< `*`
  divide,     ///< `/`
  div,        ///< `div` (integer division)
  mod,        ///< `mod`
  // additive (§6.6); plus / minus are also the unary polarity operators
  plus,       ///< `+`
  minus,      ///< `-`
  concat,     ///< `&` (string concatenation)
  // types (§6.3)
  is,         ///< `is`
  as,         ///< `as`
  // collections (§6.5)
  union_,     ///< `|`
  // comparison (§6.2)
  less,           ///< `<`
  less_equal,     ///< `<=`
  greater,        ///< `>`
  greater_equal,  ///< `>=`
  // equality (§6.1)
  equal,          ///< `=`
  equivalent,     ///< `~`
  not_equal,      ///< `!=`
  not_equivalent, ///< `!~`
  // membership (§6.4)
  in,         ///< `in`
  contains,   ///< `contains`
  // boolean logic (§6.5)
  and_,       ///< `and`
  or_,        ///< `or`
  xor_,       ///< `xor`
  implies,    ///< `implies`
};

/// The operator as written in FHIRPath ("*", "div", "!~", ...); "" for none.
std::string_view to_string(operator_kind op) noexcept;

/// Binding strength of a binary operator, FHIRPath 2.0.0 §10 "Operator
/// precedence": 10 (`* / div mod`) binds tightest, 1 (`implies`) loosest; 0 for
/// none. (`.`/`[]` and unary +/- bind tighter than any of these.) All binary
/// operators are left-associative.
int precedence(operator_kind op) noexcept;

/// The type named by `is`/`as` (grammar: typeSpecifier / qualifiedIdentifier).
/// `FHIR.Patient` → qualifier "FHIR", name "Patient"; `Patient` → qualifier ""
/// (the evaluator resolves an unqualified name: FHIR first, then System).
struct type_specifier {
  std::string qualifier;  ///< every part but the last, joined by '.'; empty when unqualified
  std::string name;       ///< the last part, backticks removed

  /// "FHIR.Patient" / "Patient".
  std::string to_string() const;
  friend bool operator==(const type_specifier&, const type_specifier&) = default;
};

/// The parts of a date, dateTime or time literal (FHIRPath 2.0.0 §2.1.20 /
/// grammar DATE, DATETIME, TIME). Fields beyond `precision` are 0. Ranges are
/// checked by the parser (month 1-12, day within the month, hour 0-23, minute
/// and second 0-59).
struct temporal {
  /// The finest part written. `@2015T` is a dateTime of year precision.
  enum class precision : std::uint8_t { year, month, day, hour, minute, second, millisecond };

  precision prec = precision::year;
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  /// Milliseconds from the fraction: its first three digits, right-padded
  /// (".5" → 500). Further digits are kept only in the node's text.
  int millisecond = 0;
  /// True when a zone was written ('Z' or ±hh:mm). FHIRPath gives Time no zone.
  bool has_timezone = false;
  /// Offset from UTC in minutes (Z → 0; -05:00 → -300) when has_timezone.
  int timezone_minutes = 0;
};

/// One node. Which fields mean something depends on kind (see node_kind).
/// Fields are public for fast, simple reading; only the parser writes them.
struct node {
  node_kind kind = node_kind::empty_literal;
  /// For unary, binary, type_operation; none otherwise.
  operator_kind op = operator_kind::none;
  /// quantity_literal: the unit is a calendar duration keyword (year ... milliseconds).
  bool calendar_unit = false;
  /// quantity_literal: the number has a fraction ("4.5 'mg'"), i.e. is a Decimal.
  bool decimal = false;
  /// Byte offset in the source of the token that introduces the node: a
  /// literal's first character, an invocation's name, an operator's symbol,
  /// an indexer's '['. For error messages (see location_of()).
  std::uint32_t offset = 0;
  /// For member, function and the $ variables: the expression left of '.', or no_node.
  node_id focus = no_node;
  /// The operands: expression::children() gives them; do not index directly.
  std::uint32_t first_child = 0;
  std::uint32_t child_count = 0;
  /// Literal value, name, or number text (see node_kind).
  std::string text;
  /// quantity_literal: the unit.
  std::string unit;
  /// type_operation: the type after `is` / `as`.
  type_specifier type;
  /// date/dateTime/time literals: the parts.
  temporal time;
};

/// A parsed FHIRPath expression: its source text and its syntax tree. Built
/// only by parse() (fhirpath_parser.hpp); immutable afterwards. Copyable and
/// movable value type; concurrent const use is safe.
class expression {
 public:
  /// The root node (the last one in the arena).
  node_id root() const noexcept { return static_cast<node_id>(nodes_.size() - 1); }
  /// The node with this id; id must be < size().
  const node& at(node_id id) const { return nodes_[id]; }
  const node& operator[](node_id id) const { return nodes_[id]; }
  /// Number of nodes (at least 1).
  std::size_t size() const noexcept { return nodes_.size(); }
  /// All nodes in post-order (children before parents).
  std::span<const node> nodes() const noexcept { return nodes_; }
  /// The operands of a node (arguments of a function; a, b of a binary; ...).
  std::span<const node_id> children(const node& n) const noexcept {
    return std::span<const node_id>(edges_).subspan(n.first_child, n.child_count);
  }
  std::span<const node_id> children(node_id id) const noexcept { return children(nodes_[id]); }
  /// The source text the expression was parsed from.
  const std::string& source() const noexcept { return source_; }

  /// When `id` is a member chain written as a type name (`Patient`,
  /// `FHIR.Patient`, `FHIR.`Patient``) — the argument of is(T), as(T) and
  /// ofType(T) — the type it names; otherwise nullopt.
  std::optional<type_specifier> type_argument(node_id id) const;

  /// The tree as an S-expression, for tests and logs: `(+ 1 (* 2 3))`,
  /// `(. Patient name)`, `(. name (where (= use 'official')))`, `([] a 0)`,
  /// `(is a FHIR.Patient)`, literals as FHIRPath writes them. Note: string
  /// literals appear in it; treat the result as data, not as a log-safe text.
  std::string to_string() const;
  /// The subtree rooted at `id` as an S-expression.
  std::string to_string(node_id id) const;

 private:
  friend class detail::parser;
  expression() = default;

  std::string source_;           ///< the text parsed
  std::vector<node> nodes_;      ///< post-order arena; root is last
  std::vector<node_id> edges_;   ///< children of all nodes, each node's contiguous
};

}  // namespace hearth::fhir::fhirpath
