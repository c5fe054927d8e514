#include <hearth/fhir/fhirpath_parser.hpp>

#include <cstddef>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include <hearth/fhir/fhirpath_ast.hpp>

using namespace hearth::fhir::fhirpath;

namespace {

// The S-expression of `src`, or "ERROR <location>: <message>".
std::string sexpr(std::string_view src, const parse_options& opts = {}) {
  auto r = parse(src, opts);
  if (!r) return "ERROR " + r.error().location + ": " + r.error().message;
  return r->to_string();
}

expression must_parse(std::string_view src) {
  auto r = parse(src);
  if (!r) FAIL("parse failed at " << r.error().location << ": " << r.error().message);
  return std::move(r).value();
}

hearth::error must_fail(std::string_view src, const parse_options& opts = {}) {
  auto r = parse(src, opts);
  if (r) FAIL("parsed, but should not have: " << r->to_string());
  return std::move(r).error();
}

const node& root_node(const expression& e) { return e.at(e.root()); }

}  // namespace

TEST_CASE("fhirpath parser: precedence (FHIRPath 2.0.0 §10)") {
  CHECK(sexpr("1 + 2 * 3") == "(+ 1 (* 2 3))");
  CHECK(sexpr("1 * 2 + 3") == "(+ (* 1 2) 3)");
  CHECK(sexpr("(1 + 2) * 3") == "(* (+ 1 2) 3)");
  CHECK(sexpr("a or b and c") == "(or a (and b c))");
  CHECK(sexpr("a and b or c") == "(or (and a b) c)");
  CHECK(sexpr("a xor b or c") == "(or (xor a b) c)");
  CHECK(sexpr("-x.y") == "(- (. x y))");
  CHECK(sexpr("-2 * 3") == "(* (- 2) 3)");
  CHECK(sexpr("- -x") == "(- (- x))");
  CHECK(sexpr("+x[0]") == "(+ ([] x 0))");
  CHECK(sexpr("a | b = c") == "(= (| a b) c)");
  CHECK(sexpr("a = b | c") == "(= a (| b c))");
  CHECK(sexpr("a < b = c > d") == "(= (< a b) (> c d))");
  CHECK(sexpr("a in b and c contains d") == "(and (in a b) (contains c d))");
  CHECK(sexpr("a = b in c") == "(in (= a b) c)");
  CHECK(sexpr("a & b + c") == "(+ (& a b) c)");
  CHECK(sexpr("a div b mod c") == "(mod (div a b) c)");
  CHECK(sexpr("a + b is Integer") == "(is (+ a b) Integer)");
  CHECK(sexpr("1 > 2 is Boolean") == "(> 1 (is 2 Boolean))");
  CHECK(sexpr("a is T | b") == "(| (is a T) b)");
  CHECK(sexpr("a is T + 1") == "(+ (is a T) 1)");  // as ANTLR's left-recursion parses it
  CHECK(sexpr("a != b !~ c ~ d") == "(~ (!~ (!= a b) c) d)");
  CHECK(sexpr("a <= b >= c") == "(>= (<= a b) c)");
  CHECK(sexpr("a implies b or c") == "(implies a (or b c))");
}

TEST_CASE("fhirpath parser: left associativity") {
  CHECK(sexpr("1 - 2 - 3") == "(- (- 1 2) 3)");
  CHECK(sexpr("8 / 4 / 2") == "(/ (/ 8 4) 2)");
  CHECK(sexpr("a implies b implies c") == "(implies (implies a b) c)");
  CHECK(sexpr("a | b | c") == "(| (| a b) c)");
  CHECK(sexpr("a is B is C") == "(is (is a B) C)");
}

TEST_CASE("fhirpath parser: invocations, functions, indexers") {
  CHECK(sexpr("Patient.name.given") == "(. (. Patient name) given)");
  CHECK(sexpr("name") == "name");
  CHECK(sexpr("exists()") == "(exists)");
  CHECK(sexpr("name.exists()") == "(. name (exists))");
  CHECK(sexpr("name.where(use = 'official')") == "(. name (where (= use 'official')))");
  CHECK(sexpr("iif(a, b, c)") == "(iif a b c)");
  CHECK(sexpr("substring(1, 2).length()") == "(. (substring 1 2) (length))");
  CHECK(sexpr("name[0].given[1 + 1]") == "([] (. ([] name 0) given) (+ 1 1))");
  CHECK(sexpr("(a | b)[0]") == "([] (| a b) 0)");
  CHECK(sexpr("a.$this") == "(. a $this)");
  CHECK(sexpr("select($this + $index + $total)") == "(select (+ (+ $this $index) $total))");
  CHECK(sexpr("'abc'.length()") == "(. 'abc' (length))");
  CHECK(sexpr("1.toString()") == "(. 1 (toString))");
  CHECK(sexpr("f(g(h(1)), 2)") == "(f (g (h 1)) 2)");

  const expression e = must_parse("name.where(use = 'x', 2)");
  const node& fn = root_node(e);
  REQUIRE(fn.kind == node_kind::function);
  CHECK(fn.text == "where");
  REQUIRE(fn.focus != no_node);
  CHECK(e.at(fn.focus).kind == node_kind::member);
  CHECK(e.at(fn.focus).focus == no_node);
  REQUIRE(e.children(fn).size() == 2);
  CHECK(e.at(e.children(fn)[0]).op == operator_kind::equal);
  CHECK(e.at(e.children(fn)[1]).kind == node_kind::integer_literal);
  CHECK(fn.offset == 5);  // the name
  // Post-order arena: children before parents, root last.
  for (node_id id = 0; id < e.size(); ++id) {
    for (node_id c : e.children(id)) CHECK(c < id);
    if (e.at(id).focus != no_node) CHECK(e.at(id).focus < id);
  }
}

TEST_CASE("fhirpath parser: keywords as identifiers (grammar rule identifier)") {
  CHECK(sexpr("a.contains('x')") == "(. a (contains 'x'))");
  CHECK(sexpr("contains('x')") == "(contains 'x')");
  CHECK(sexpr("a contains b") == "(contains a b)");
  CHECK(sexpr("a.as(Quantity)") == "(. a (as Quantity))");
  CHECK(sexpr("a.is(FHIR.Patient)") == "(. a (is (. FHIR Patient)))");
  CHECK(sexpr("in.is") == "(. in is)");
  CHECK(sexpr("a.`div`") == "(. a `div`)");
  CHECK(sexpr("`and` and `or`") == "(and `and` `or`)");
  // Calendar keywords are identifiers where no quantity can be.
  CHECK(sexpr("Period.day") == "(. Period day)");
  CHECK(sexpr("weeks") == "weeks");
  // The rule does not admit these.
  CHECK(must_fail("a.div").offset == 2);
  CHECK(must_fail("a.true").offset == 2);
  CHECK(must_fail("and").offset == 0);
  CHECK(must_fail("%or").offset == 1);
}

TEST_CASE("fhirpath parser: type operators and type arguments") {
  const expression e = must_parse("Observation.value as FHIR.Quantity");
  const node& op = root_node(e);
  CHECK(op.kind == node_kind::type_operation);
  CHECK(op.op == operator_kind::as);
  CHECK(op.type.qualifier == "FHIR");
  CHECK(op.type.name == "Quantity");
  CHECK(op.type.to_string() == "FHIR.Quantity");
  CHECK(e.children(op).size() == 1);
  CHECK(op.offset == 18);

  CHECK(sexpr("a is System.String") == "(is a System.String)");
  CHECK(sexpr("a is `Patient`") == "(is a Patient)");
  CHECK(sexpr("(a as Quantity).unit") == "(. (as a Quantity) unit)");

  const expression f = must_parse("Patient.ofType(FHIR.`Patient`)");
  const auto arg = f.children(f.root());
  REQUIRE(arg.size() == 1);
  const auto t = f.type_argument(arg[0]);
  REQUIRE(t.has_value());
  CHECK(t->qualifier == "FHIR");
  CHECK(t->name == "Patient");
  const expression g = must_parse("is(Boolean)");
  CHECK(g.type_argument(g.children(g.root())[0]) == type_specifier{"", "Boolean"});
  const expression h = must_parse("is(a.b())");
  CHECK_FALSE(h.type_argument(h.children(h.root())[0]).has_value());

  CHECK(must_fail("a is").message.find("type name") != std::string::npos);
  CHECK(must_fail("a is 1").offset == 5);
  CHECK(must_fail("a as B.").offset == 7);
}

TEST_CASE("fhirpath parser: literals") {
  SUBCASE("empty and boolean") {
    CHECK(root_node(must_parse("{}")).kind == node_kind::empty_literal);
    CHECK(root_node(must_parse("{ }")).kind == node_kind::empty_literal);
    const expression t = must_parse("true");
    CHECK(root_node(t).kind == node_kind::boolean_literal);
    CHECK(root_node(t).text == "true");
    CHECK(root_node(must_parse("false")).text == "false");
    CHECK(must_fail("{1}").offset == 1);
  }
  SUBCASE("numbers keep their kind and exact text") {
    const expression i = must_parse("0042");
    CHECK(root_node(i).kind == node_kind::integer_literal);
    CHECK(root_node(i).text == "0042");
    const expression d = must_parse("1.50");
    CHECK(root_node(d).kind == node_kind::decimal_literal);
    CHECK(root_node(d).text == "1.50");
    const expression big = must_parse("123456789012345678901234567890.000000000000000000001");
    CHECK(root_node(big).text == "123456789012345678901234567890.000000000000000000001");
    const expression l = must_parse("42L");
    CHECK(root_node(l).kind == node_kind::long_literal);
    CHECK(root_node(l).text == "42");
    CHECK(l.to_string() == "42L");
    CHECK(sexpr("1.5.round()") == "(. 1.5 (round))");
    CHECK(must_fail("1.").offset == 2);     // '.' needs a digit or a name after it
    CHECK(must_fail("42Lx").offset == 2);   // a number then an identifier
  }
  SUBCASE("strings and escapes (§2.1.5)") {
    const expression s = must_parse(R"('a\'b\"c\`d\\e\/f\fg\nh\ri\tj\u002a\u00e9\uD83D\uDE00')");
    CHECK(root_node(s).kind == node_kind::string_literal);
    CHECK(root_node(s).text == "a'b\"c`d\\e/f\fg\nh\ri\tj*\xC3\xA9\xF0\x9F\x98\x80");
    CHECK(root_node(must_parse("''")).text.empty());
    CHECK(root_node(must_parse("'caf\xC3\xA9'")).text == "caf\xC3\xA9");
    // to_string writes a string the lexer reads back to the same value.
    const expression back = must_parse(s.to_string());
    CHECK(root_node(back).text == root_node(s).text);
    CHECK(must_fail(R"('a\x')").offset == 2);          // unknown escape
    CHECK(must_fail(R"('\u12')").offset == 1);         // short \u
    CHECK(must_fail(R"('\uDE00')").offset == 1);       // lone low surrogate
    CHECK(must_fail(R"('\uD83D x')").offset == 1);     // high without low
    CHECK(must_fail("'\xC3('").offset == 1);           // invalid UTF-8
    CHECK(must_fail("'\xED\xA0\x80'").offset == 1);    // encoded surrogate
    CHECK(must_fail("\"double\"").message.find("single quotes") != std::string::npos);
  }
  SUBCASE("dates, dateTimes and times (§2.1.20)") {
    const expression d = must_parse("@2015-02-04");
    CHECK(root_node(d).kind == node_kind::date_literal);
    CHECK(root_node(d).text == "2015-02-04");
    CHECK(root_node(d).time.prec == temporal::precision::day);
    CHECK(root_node(d).time.year == 2015);
    CHECK(root_node(d).time.month == 2);
    CHECK(root_node(d).time.day == 4);
    CHECK(root_node(must_parse("@2015")).time.prec == temporal::precision::year);
    CHECK(root_node(must_parse("@2015-02")).time.prec == temporal::precision::month);

    const expression dt = must_parse("@2015-02-04T14:34:28.123+09:00");
    const node& n = root_node(dt);
    CHECK(n.kind == node_kind::date_time_literal);
    CHECK(n.text == "2015-02-04T14:34:28.123+09:00");
    CHECK(n.time.prec == temporal::precision::millisecond);
    CHECK(n.time.hour == 14);
    CHECK(n.time.minute == 34);
    CHECK(n.time.second == 28);
    CHECK(n.time.millisecond == 123);
    CHECK(n.time.has_timezone);
    CHECK(n.time.timezone_minutes == 540);
    const expression y = must_parse("@2015T");
    CHECK(root_node(y).kind == node_kind::date_time_literal);
    CHECK(root_node(y).time.prec == temporal::precision::year);
    CHECK(root_node(must_parse("@2015-02-04T14")).time.prec == temporal::precision::hour);
    CHECK(root_node(must_parse("@2015-02-04T14:00Z")).time.has_timezone);
    CHECK(root_node(must_parse("@2015-02-04T14:00:00-05:30")).time.timezone_minutes == -330);
    CHECK(root_node(must_parse("@2015-02-04T14:00:00.5")).time.millisecond == 500);
    CHECK(root_node(must_parse("@2016-02-29")).time.day == 29);

    const expression t = must_parse("@T14:30");
    CHECK(root_node(t).kind == node_kind::time_literal);
    CHECK(root_node(t).text == "14:30");
    CHECK(root_node(t).time.prec == temporal::precision::minute);
    CHECK(t.to_string() == "@T14:30");
    CHECK(root_node(must_parse("@T14:34:28Z")).time.has_timezone);  // for the evaluator to reject

    // A '.' not followed by a digit is an invocation; a sign without hh:mm is an operator.
    CHECK(sexpr("@T14:34:28.123.is(Time)") == "(. @T14:34:28.123 (is Time))");
    CHECK(sexpr("@T14.is(Time)") == "(. @T14 (is Time))");
    CHECK(sexpr("@2015-02-04 - 1 day") == "(- @2015-02-04 1 day)");
    CHECK(sexpr("@2015-02-04T10:00-1 'h'") == "(- @2015-02-04T10:00 1 'h')");
  }
  SUBCASE("bad date and time literals") {
    CHECK(must_fail("@").offset == 0);
    CHECK(must_fail("@201").offset == 1);
    CHECK(must_fail("@2015-13-01").offset == 6);
    CHECK(must_fail("@2015-1").offset == 6);
    CHECK(must_fail("@2015-02-30").offset == 9);
    CHECK(must_fail("@2015-02-29").offset == 9);
    CHECK(must_fail("@T25:00").offset == 2);
    CHECK(must_fail("@T12:60").offset == 5);
    CHECK(must_fail("@T12:30:61").offset == 8);
    CHECK(must_fail("@T1").offset == 2);
    CHECK(must_fail("@2015T10:00").offset == 6);  // a time needs a full date
    CHECK(must_fail("@2015-02-04T10:00+15:00").offset == 17);
    const hearth::error e = must_fail("Patient.birthDate < @2015-13-01");
    CHECK(e.code == "invalid");
    CHECK(e.location == "1:27");
    CHECK(e.message.find("month") != std::string::npos);
  }
  SUBCASE("quantities") {
    const expression q = must_parse("4.5 'mg'");
    const node& n = root_node(q);
    CHECK(n.kind == node_kind::quantity_literal);
    CHECK(n.text == "4.5");
    CHECK(n.decimal);
    CHECK(n.unit == "mg");
    CHECK_FALSE(n.calendar_unit);
    const expression c = must_parse("3 days");
    CHECK(root_node(c).kind == node_kind::quantity_literal);
    CHECK(root_node(c).unit == "days");
    CHECK(root_node(c).calendar_unit);
    CHECK_FALSE(root_node(c).decimal);
    for (const char* u : {"year", "years", "month", "months", "week", "weeks", "day", "days",
                          "hour", "hours", "minute", "minutes", "second", "seconds",
                          "millisecond", "milliseconds"}) {
      CAPTURE(u);
      const expression e = must_parse(std::string("1 ") + u);
      CHECK(root_node(e).kind == node_kind::quantity_literal);
      CHECK(root_node(e).unit == u);
    }
    CHECK(sexpr("1 'wk' = 1 week") == "(= 1 'wk' 1 week)");
    CHECK(sexpr("-5.5 'mg'.value") == "(- (. 5.5 'mg' value))");
    CHECK(sexpr("2 '[in_i]' * 3") == "(* 2 '[in_i]' 3)");
    CHECK(must_fail("1 fortnights").offset == 2);
  }
}

TEST_CASE("fhirpath parser: identifiers and external constants") {
  const expression d = must_parse("`Patient`.name.`given name`");
  CHECK(root_node(d).text == "given name");
  CHECK(d.to_string() == "(. (. Patient name) `given name`)");
  CHECK(sexpr("`a\\`b`") == "`a\\`b`");
  CHECK(sexpr("_x1") == "_x1");

  const expression c = must_parse("%resource.id");
  const node& focus = c.at(root_node(c).focus);
  CHECK(focus.kind == node_kind::external_constant);
  CHECK(focus.text == "resource");
  CHECK(focus.offset == 0);
  CHECK(root_node(must_parse("%`vs-administrative-gender`")).text == "vs-administrative-gender");
  CHECK(root_node(must_parse("%'us-zip'")).text == "us-zip");
  CHECK(sexpr("%`us-zip`") == "%`us-zip`");
  CHECK(sexpr("%ucum") == "%ucum");
  CHECK(must_fail("%").offset == 1);
  CHECK(must_fail("%1").offset == 1);
  CHECK(must_fail("$that").offset == 0);
  CHECK(must_fail("`unterminated").offset == 0);
}

TEST_CASE("fhirpath parser: whitespace and comments") {
  CHECK(sexpr("  1\t+\r\n2  ") == "(+ 1 2)");
  CHECK(sexpr("2 + 2 // comment + 4") == "(+ 2 2)");
  CHECK(sexpr("2 + /* inline $@%^+ * */ 2 = 4") == "(= (+ 2 2) 4)");
  CHECK(sexpr("/* a\nb */ 2") == "2");
  CHECK(sexpr("1//") == "1");
  CHECK(must_fail("2 + 2 /* not finished").offset == 6);
  CHECK(must_fail("2 + 2 /").offset == 7);
  CHECK(must_fail("// only a comment").offset == 17);
}

TEST_CASE("fhirpath parser: errors say where and what was expected") {
  SUBCASE("empty input") {
    const hearth::error e = must_fail("");
    CHECK(e.code == "invalid");
    CHECK(e.offset == 0);
    CHECK(e.location == "1:1");
    CHECK(e.message == "expected an expression, found end of input");
    CHECK(must_fail("   ").offset == 3);
  }
  SUBCASE("unclosed string") {
    const hearth::error e = must_fail("name = 'abc");
    CHECK(e.offset == 7);
    CHECK(e.location == "1:8");
    CHECK(e.message.find("not closed") != std::string::npos);
    CHECK(e.message.find("abc") == std::string::npos);  // never quotes the input
    CHECK(must_fail("'abc\\").offset == 0);
  }
  SUBCASE("unclosed parenthesis") {
    const hearth::error e = must_fail("(1 + 2");
    CHECK(e.offset == 6);
    CHECK(e.message == "expected ')' to close the '(' at 1:1, found end of input");
    const hearth::error f = must_fail("where(a, b");
    CHECK(f.offset == 10);
    CHECK(f.message.find("argument list opened at 1:6") != std::string::npos);
    CHECK(must_fail("a[1").message.find("']' to close the '[' at 1:2") != std::string::npos);
    CHECK(must_fail("where(a b)").offset == 8);
  }
  SUBCASE("dangling operator") {
    const hearth::error e = must_fail("1 +");
    CHECK(e.offset == 3);
    CHECK(e.message == "expected an expression, found end of input");
    CHECK(must_fail("a and").offset == 5);
    CHECK(must_fail("a = = b").offset == 4);
    CHECK(must_fail("* 2").offset == 0);
    CHECK(must_fail("a.").message ==
          "expected a member name, a function call or a $ variable after '.', found end of input");
    CHECK(must_fail("f(1,)").offset == 4);
    CHECK(must_fail("f(,1)").offset == 2);
  }
  SUBCASE("trailing garbage") {
    const hearth::error e = must_fail("Patient.name)");
    CHECK(e.offset == 12);
    CHECK(e.message == "unmatched ')'");
    const hearth::error f = must_fail("a b");
    CHECK(f.offset == 2);
    CHECK(f.message == "expected an operator or the end of the expression, found an identifier");
    CHECK(must_fail("1 2").offset == 2);
    CHECK(must_fail("a]").message == "unmatched ']'");
    CHECK(must_fail("a ? b").offset == 2);
    CHECK(must_fail("a ! b").offset == 2);
    CHECK(must_fail("()").offset == 1);
  }
  SUBCASE("locations count lines and characters") {
    const hearth::error e = must_fail("name\n  .where('\xC3\xA9' = 1 +)");
    CHECK(e.offset == 24);
    CHECK(e.location == "2:19");
    CHECK(location_of("ab\ncd", 4) == "2:2");
    CHECK(location_of("ab", 99) == "1:3");
  }
}

TEST_CASE("fhirpath parser: limits (errors, never a crash)") {
  SUBCASE("100000 nested parentheses") {
    const std::string deep = std::string(100'000, '(') + "1" + std::string(100'000, ')');
    CHECK(must_fail(deep).code == "too-long");  // over 64 KiB: refused before parsing
    parse_options long_ok;
    long_ok.max_length = 1u << 20;
    const hearth::error e = must_fail(deep, long_ok);
    CHECK(e.code == "too-costly");
    CHECK(e.message.find("nested too deeply") != std::string::npos);
  }
  SUBCASE("long unary chains, call chains and argument nesting") {
    CHECK(must_fail(std::string(50'000, '-') + "1").code == "too-costly");
    std::string calls;
    for (int i = 0; i < 20'000; ++i) calls += "f(";
    CHECK(must_fail(calls).code == "too-costly");
    CHECK(must_fail(std::string(30'000, '[')).code != "");
  }
  SUBCASE("the tree's height is bounded too (left-deep chains)") {
    std::string sum = "1";
    for (int i = 0; i < 1'000; ++i) sum += "+1";
    CHECK(must_fail(sum).code == "too-costly");
    std::string path = "a";
    for (int i = 0; i < 1'000; ++i) path += ".b";
    CHECK(must_fail(path).code == "too-costly");
    parse_options roomy;
    roomy.max_depth = 2'000;
    CHECK(parse(sum, roomy).has_value());
  }
  SUBCASE("nesting within the limit parses") {
    const std::string ok = std::string(150, '(') + "1" + std::string(150, ')');
    CHECK(sexpr(ok) == "1");
  }
  SUBCASE("length and node count") {
    parse_options small;
    small.max_length = 10;
    const hearth::error e = must_fail("Patient.name.given", small);
    CHECK(e.code == "too-long");
    CHECK(e.offset == 10);
    CHECK(parse("Patient.a", small).has_value());
    parse_options few;
    few.max_nodes = 4;
    CHECK(parse("a.b.c.d", few).has_value());
    CHECK(must_fail("a.b.c.d.e", few).code == "too-costly");
    CHECK(must_fail(std::string(70'000, ' ') + "1").code == "too-long");
  }
}

// ---------------------------------------------------------------------------
// The official FHIRPath suite for R4 and the R4 definitions' own expressions.

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string xml_unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '&') {
      static constexpr std::pair<std::string_view, char> entities[] = {
          {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
      bool done = false;
      for (const auto& [name, ch] : entities) {
        if (s.substr(i, name.size()) == name) {
          out += ch;
          i += name.size() - 1;
          done = true;
          break;
        }
      }
      if (done) continue;
    }
    out += s[i];
  }
  return out;
}

struct suite_expression {
  std::string text;
  std::string invalid;  // the invalid="..." attribute, or empty
};

// Every <expression ...>text</expression> of the suite (a plain XML file: no
// CDATA, no nested elements inside <expression>).
std::vector<suite_expression> suite_expressions(const std::string& xml) {
  std::vector<suite_expression> out;
  std::size_t pos = 0;
  while ((pos = xml.find("<expression", pos)) != std::string::npos) {
    const std::size_t tag_end = xml.find('>', pos);
    const std::size_t close = xml.find("</expression>", tag_end);
    if (tag_end == std::string::npos || close == std::string::npos) break;
    const std::string_view attrs(xml.data() + pos, tag_end - pos);
    suite_expression e;
    const std::size_t inv = attrs.find("invalid=\"");
    if (inv != std::string_view::npos) {
      const std::size_t start = inv + 9;
      e.invalid = std::string(attrs.substr(start, attrs.find('"', start) - start));
    }
    e.text = xml_unescape(std::string_view(xml).substr(tag_end + 1, close - tag_end - 1));
    out.push_back(std::move(e));
    pos = close;
  }
  return out;
}

}  // namespace

TEST_CASE("fhirpath parser: the official FHIRPath R4 test suite") {
  // The shared conformance folder sits beside the repository (tests/data/../../..).
  const std::string xml = read_file(std::string(HEARTH_TEST_DATA) +
                                    "/../../../shared/conformance/fhirpath/tests-fhir-r4.xml");
  if (xml.empty()) {
    MESSAGE("tests-fhir-r4.xml not found; suite skipped");
    return;
  }
  const auto exprs = suite_expressions(xml);
  CHECK(exprs.size() > 900);
  std::size_t parsed = 0, rejected = 0;
  for (const auto& e : exprs) {
    CAPTURE(e.text);
    CAPTURE(e.invalid);
    auto r = parse(e.text);
    if (r) {
      ++parsed;
      // to_string() is a faithful S-expression: it parses no differently twice.
      CHECK(r->to_string() == parse(e.text)->to_string());
    } else {
      ++rejected;
    }
    if (e.invalid == "syntax") {
      CHECK_FALSE(r.has_value());
    } else if (e.invalid == "true") {
      // The one test so marked ends in a stray `");` copied from source code.
      CHECK_FALSE(r.has_value());
    } else {
      if (!r) CAPTURE(r.error().message);
      CHECK(r.has_value());
    }
  }
  MESSAGE("FHIRPath suite: " << parsed << " of " << exprs.size() << " expressions parse, "
                             << rejected << " rejected");
  CHECK(parsed + rejected == exprs.size());
  CHECK(rejected == 3);  // 2 invalid="syntax" + 1 invalid="true"
}

namespace {

// The string values of every "expression" member of a JSON file (the R4
// SearchParameter.expression and ElementDefinition.constraint.expression).
std::vector<std::string> json_expressions(const std::string& json) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  const std::string key = "\"expression\"";
  while ((pos = json.find(key, pos)) != std::string::npos) {
    pos += key.size();
    while (pos < json.size() && (json[pos] == ' ' || json[pos] == ':')) ++pos;
    if (pos >= json.size() || json[pos] != '"') continue;
    std::string s;
    for (++pos; pos < json.size() && json[pos] != '"'; ++pos) {
      if (json[pos] == '\\' && pos + 1 < json.size()) {
        const char e = json[++pos];
        switch (e) {
          case 'n': s += '\n'; break;
          case 't': s += '\t'; break;
          case 'r': s += '\r'; break;
          case 'u': s += '?'; pos += 4; break;  // not used by these files' expressions
          default: s += e;
        }
      } else {
        s += json[pos];
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

TEST_CASE("fhirpath parser: every expression of the R4 definitions parses") {
  std::size_t total = 0;
  for (const char* file : {"search-parameters.json", "profiles-resources.json",
                           "profiles-types.json", "profiles-others.json"}) {
    const std::string json = read_file(std::string(HEARTH_DEFINITIONS_DIR) + "/" + file);
    if (json.empty()) {
      MESSAGE(file << " not found; skipped");
      continue;
    }
    for (const std::string& e : json_expressions(json)) {
      CAPTURE(file);
      CAPTURE(e);
      auto r = parse(e);
      if (!r) CAPTURE(r.error().message);
      CHECK(r.has_value());
      ++total;
    }
  }
  MESSAGE("R4 definitions: " << total << " expressions checked");
}
