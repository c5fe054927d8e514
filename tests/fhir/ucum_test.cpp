#include <hearth/fhir/ucum.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

using namespace hearth::fhir;

namespace {

ucum::unit unit_of(std::string_view expression) {
  auto u = ucum::parse(expression);
  INFO("expression: ", expression);
  REQUIRE_MESSAGE(u.has_value(), (u ? "" : u.error().message));
  return *u;
}

// The exact conversion as text, or "error:<code>".
std::string conv(std::string_view value, std::string_view from, std::string_view to, int digits = 28) {
  auto r = ucum::convert(value, unit_of(from), unit_of(to), digits);
  if (!r) return "error:" + r.error().code;
  return r->text;
}

bool exact(std::string_view value, std::string_view from, std::string_view to) {
  auto r = ucum::convert(value, unit_of(from), unit_of(to));
  REQUIRE(r.has_value());
  return r->exact;
}

// The error of parsing `expression`, as "code@offset".
std::string parse_error(std::string_view expression) {
  auto u = ucum::parse(expression);
  if (u) return "parsed";
  return u.error().code + "@" + std::to_string(u.error().offset);
}

bool comparable(std::string_view a, std::string_view b) { return ucum::comparable(unit_of(a), unit_of(b)); }

ucum::magnitude mag(ucum::magnitude::int128 num, ucum::magnitude::int128 den, int exp10, int pi = 0) {
  return ucum::magnitude{num, den, exp10, pi};
}

}  // namespace

TEST_CASE("ucum: the table holds every atom of ucum-essence.xml 2.1, each of which parses") {
  auto atoms = ucum::atoms();
  // 7 base units and 303 units in ucum-essence.xml version 2.1.
  CHECK(atoms.size() == 310);
  std::set<std::string_view> codes;
  for (const auto& a : atoms) {
    INFO("atom: ", a.code);
    CHECK(codes.insert(a.code).second);  // no duplicates
    auto u = ucum::parse(a.code);
    REQUIRE_MESSAGE(u.has_value(), (u ? "" : u.error().message));
    CHECK(u->expression == a.code);
    CHECK((u->special != ucum::special_kind::none) == a.special);
    CHECK((!u->arbitrary.empty()) == a.arbitrary);
    CHECK(u->factor.num > 0);
    CHECK(u->factor.den > 0);
  }
  for (std::string_view base : ucum::base_units) CHECK(codes.count(base) == 1);
}

TEST_CASE("ucum: metric atoms take every prefix, non-metric atoms none (§11)") {
  const char* prefixes[] = {"Y", "Z", "E", "P", "T", "G", "M", "k", "h", "da", "d", "c",
                            "m", "u", "n", "p", "f", "a", "z", "y", "Ki", "Mi", "Gi", "Ti"};
  std::set<std::string_view> codes;
  for (const auto& a : ucum::atoms()) codes.insert(a.code);
  for (const auto& a : ucum::atoms()) {
    INFO("atom: ", a.code);
    auto plain = ucum::parse(a.code);
    REQUIRE(plain.has_value());
    auto kilo = ucum::parse("k" + std::string(a.code));
    if (codes.count("k" + std::string(a.code)) != 0) continue;  // kilo-x is itself an atom
    if (!a.metric) {
      REQUIRE_FALSE(kilo.has_value());
      CHECK(kilo.error().code == "invalid");
      CHECK(kilo.error().offset == 0);
      continue;
    }
    REQUIRE_MESSAGE(kilo.has_value(), (kilo ? "" : kilo.error().message));
    CHECK(kilo->dimension == plain->dimension);
    CHECK(kilo->factor.exp10 - plain->factor.exp10 == 3);  // exactly 1000 times
    CHECK(kilo->factor.num == plain->factor.num);
    CHECK(kilo->factor.den == plain->factor.den);
    for (const char* p : prefixes) CHECK(ucum::parse(std::string(p) + std::string(a.code)).has_value());
  }
  // The prefix and atom split (§2.1.2): no atom is also a prefix + metric atom.
  for (const auto& a : ucum::atoms())
    for (const char* p : prefixes) {
      std::string_view pv(p), code(a.code);
      if (code.size() > pv.size() && code.starts_with(pv)) {
        auto rest = std::find_if(ucum::atoms().begin(), ucum::atoms().end(),
                                 [&](const auto& b) { return b.code == code.substr(pv.size()); });
        INFO("atom: ", a.code);
        CHECK_FALSE((rest != ucum::atoms().end() && rest->metric));
      }
    }
  // The prefix values (UCUM §§ "Prefixes", essence <prefix>).
  const std::pair<const char*, ucum::magnitude> values[] = {
      {"Y", mag(1, 1, 24)},  {"Z", mag(1, 1, 21)},   {"E", mag(1, 1, 18)},   {"P", mag(1, 1, 15)},
      {"T", mag(1, 1, 12)},  {"G", mag(1, 1, 9)},    {"M", mag(1, 1, 6)},    {"k", mag(1, 1, 3)},
      {"h", mag(1, 1, 2)},   {"da", mag(1, 1, 1)},   {"d", mag(1, 1, -1)},   {"c", mag(1, 1, -2)},
      {"m", mag(1, 1, -3)},  {"u", mag(1, 1, -6)},   {"n", mag(1, 1, -9)},   {"p", mag(1, 1, -12)},
      {"f", mag(1, 1, -15)}, {"a", mag(1, 1, -18)},  {"z", mag(1, 1, -21)},  {"y", mag(1, 1, -24)},
      {"Ki", mag(1024, 1, 0)}, {"Mi", mag(1048576, 1, 0)}, {"Gi", mag(1073741824, 1, 0)},
      {"Ti", mag(1099511627776, 1, 0)},
  };
  for (const auto& [p, m] : values) {
    INFO("prefix: ", p);
    CHECK(unit_of(std::string(p) + "m").factor == m);
  }
  CHECK(unit_of("dam").factor == mag(1, 1, 1));           // deka-meter, not d + am
  CHECK(unit_of("cd").dimension[6] == 1);                 // candela, not centi-day
  CHECK(unit_of("Pa").factor == mag(1, 1, 3));            // pascal = 1000 g/(m.s2)
  CHECK(unit_of("KiBy").factor == mag(8192, 1, 0));       // 1024 bytes of 8 bits
  CHECK(unit_of("mm[Hg]").factor == mag(133322, 1, 0));  // 133.3220 Pa
  CHECK(parse_error("k[in_i]") == "invalid@0");
  CHECK(ucum::parse("k[in_i]").error().message.find("non-metric") != std::string::npos);
  CHECK(parse_error("m[degF]") == "invalid@0");
}

TEST_CASE("ucum: grammar — operators, exponents, factors, annotations (§§6–10)") {
  auto n = unit_of("kg.m/s2");
  CHECK(n.factor == unit_of("N").factor);
  CHECK(n.dimension == ucum::unit{"", {}, {1, -2, 1, 0, 0, 0, 0}, {}, {}, {}}.dimension);
  // Left to right, '.' and '/' of equal precedence (§7.4): m/s.s is m.
  CHECK(unit_of("m/s.s").dimension == unit_of("m").dimension);
  CHECK(unit_of("m/(s.s)").dimension == unit_of("m.s-2").dimension);
  CHECK(unit_of("m/s/kg").factor == unit_of("m/(s.kg)").factor);
  // A leading solidus inverts (§7.3).
  CHECK(unit_of("/min").factor == mag(5, 3, -2));  // 1/60
  CHECK(unit_of("/min").dimension[1] == -1);
  // Exponents: signs, and the prefix is raised too (§9.2).
  CHECK(unit_of("s-1").dimension[1] == -1);
  CHECK(unit_of("s+2").dimension[1] == 2);
  CHECK(unit_of("m2").dimension[0] == 2);
  CHECK(unit_of("cm3").factor == mag(1, 1, -6));
  CHECK(unit_of("[in_i]2").factor == mag(64516, 1, -8));
  // Factors and the powers of ten (§8, 10* and 10^).
  CHECK(unit_of("10*3").factor == mag(1, 1, 3));
  CHECK(unit_of("10^3").factor == mag(1, 1, 3));
  CHECK(unit_of("10*-3").factor == mag(1, 1, -3));
  CHECK(unit_of("10*3/uL").factor == mag(1, 1, 12));
  CHECK(unit_of("/100").factor == mag(1, 1, -2));
  CHECK(unit_of("2+10").factor == mag(1024, 1, 0));
  CHECK(unit_of("4.[pi]").factor == mag(4, 1, 0, 1));
  CHECK(unit_of("1").factor == ucum::magnitude{});
  // Annotations mean 1 (§6, §12).
  CHECK(unit_of("{rbc}").factor == ucum::magnitude{});
  CHECK(unit_of("{rbc}").dimension == ucum::unit{}.dimension);
  CHECK(unit_of("{beats}/min").factor == unit_of("/min").factor);
  CHECK(unit_of("mL{total}").factor == unit_of("mL").factor);
  CHECK(unit_of("%/100{WBC}").factor == mag(1, 1, -4));
  CHECK(unit_of("10*3{cells}/uL").factor == unit_of("10*3/uL").factor);
  CHECK(unit_of("(m/s){x}").dimension == unit_of("m/s").dimension);
  // Square brackets hold any character (§2.1.3).
  CHECK(unit_of("[m/s2/Hz^(1/2)]").special == ucum::special_kind::unsupported);
  CHECK(unit_of("B[10.nV]").special_atom == "B[10.nV]");
  CHECK(unit_of("[iU]/L").arbitrary == std::vector<ucum::arbitrary_term>{{"[iU]", 1}});
  CHECK(unit_of("[psi]").dimension == unit_of("Pa").dimension);
}

TEST_CASE("ucum: errors carry a code and the offset") {
  CHECK(parse_error("") == "invalid@0");
  CHECK(parse_error(std::string(257, 'm')) == "invalid@256");
  CHECK(parse_error("m/xyz") == "invalid@2");
  CHECK(ucum::parse("m/xyz").error().message == "unknown unit");
  CHECK(parse_error("mg/dl ") == "invalid@5");   // whitespace (§2.1.1)
  CHECK(parse_error("m s") == "invalid@1");
  CHECK(parse_error("m/(s") == "invalid@2");     // '(' without ')'
  CHECK(parse_error("m/s)") == "invalid@3");     // ')' without '('
  CHECK(parse_error("m/(s.(kg)") == "invalid@2");
  CHECK(parse_error("(m)2") == "invalid@3");     // no exponent on parentheses (§10)
  CHECK(parse_error("m.") == "invalid@2");
  CHECK(parse_error("m..s") == "invalid@2");
  CHECK(parse_error("/") == "invalid@1");
  CHECK(parse_error("m-") == "invalid@1");
  CHECK(parse_error("m2-1") == "invalid@2");
  CHECK(parse_error("m100") == "invalid@1");     // exponent beyond max_exponent
  CHECK(parse_error("0") == "invalid@0");
  CHECK(parse_error("m/0") == "invalid@2");
  CHECK(parse_error("{abc") == "invalid@0");
  CHECK(parse_error("m{a{b}}") == "invalid@3");
  CHECK(parse_error("m{a}{b}") == "invalid@4");
  CHECK(parse_error("{a}m") == "invalid@3");
  CHECK(parse_error("[in_i") == "invalid@0");
  CHECK(parse_error("m]") == "invalid@1");
  CHECK(parse_error("[IN_I]") == "invalid@0");   // case-insensitive codes are not read
  CHECK(parse_error("[s]") == "invalid@0");      // FHIRPath Comparable2
  CHECK(parse_error("2mg") == "invalid@0");      // "12a" is a symbol (§8.2)
  CHECK(parse_error("m=s") == "invalid@1");
  std::string deep = std::string(17, '(') + "m" + std::string(17, ')');
  CHECK(parse_error(deep) == "invalid@16");
  std::string ok = std::string(16, '(') + "m" + std::string(16, ')');
  CHECK(parse_error(ok) == "parsed");
  // Special units take no part in algebra (§22.1) but may be scaled (§22.3).
  CHECK(parse_error("Cel/h") == "invalid@0");
  CHECK(parse_error("/Cel") == "invalid@1");
  CHECK(parse_error("Cel2") == "invalid@0");
  CHECK(parse_error("m/Cel") == "invalid@2");
  CHECK(parse_error("Cel.[degF]") == "invalid@4");
  CHECK(parse_error("mCel") == "parsed");
  CHECK(parse_error("dB") == "parsed");
  CHECK(parse_error("2.Cel{body}") == "parsed");
  // An exact magnitude beyond 128 bits.
  CHECK(parse_error("[lb_av]9") == "not-supported@0");
}

TEST_CASE("ucum: exact conversions to the essence's definitions") {
  CHECK(conv("1", "[in_i]", "cm") == "2.54");
  CHECK(exact("1", "[in_i]", "cm"));
  CHECK(conv("1", "[ft_i]", "m") == "0.3048");
  CHECK(conv("1", "[lb_av]", "g") == "453.59237");
  CHECK(conv("1", "[oz_av]", "g") == "28.349523125");
  CHECK(conv("1", "[gal_us]", "L") == "3.785411784");
  CHECK(conv("1", "[HP]", "W") == "745.69987158227022");
  CHECK(conv("1", "mm[Hg]", "Pa") == "133.322");
  CHECK(conv("1", "cm[H2O]", "Pa") == "98.0665");
  CHECK(conv("1", "L", "dm3") == "1");
  CHECK(conv("1", "l", "L") == "1");
  CHECK(conv("1", "mg/dL", "mg/L") == "10");
  CHECK(conv("5.4", "mmol/L", "umol/mL") == "5.4");
  CHECK(conv("1", "mo", "d") == "30.4375");
  CHECK(conv("1", "a", "d") == "365.25");
  CHECK(conv("1", "wk", "h") == "168");
  CHECK(conv("7", "d", "wk") == "1");            // FHIRPath testQuantity5/6
  CHECK(conv("4000.0", "mg", "g") == "4");       // FHIRPath testQuantity1
  CHECK(conv("1", "t", "kg") == "1000");
  CHECK(conv("1", "[ston_av]", "[lb_av]") == "2000");
  CHECK(conv("1", "cal", "J") == "4.184");
  CHECK(conv("1", "[Cal]", "kJ") == "4.184");
  CHECK(conv("1", "atm", "kPa") == "101.325");
  CHECK(conv("1", "bar", "Pa") == "100000");
  CHECK(conv("1", "[nmi_i]", "km") == "1.852");
  CHECK(conv("1", "Ci", "GBq") == "37");
  CHECK(conv("1", "%", "[ppm]") == "10000");
  CHECK(conv("1", "[iU]", "[IU]") == "1");       // [IU] is defined as [iU]
  CHECK(conv("1", "k[IU]/L", "[iU]/mL") == "1");
  CHECK(conv("1", "deg", "'") == "60");          // π cancels: exact
  CHECK(conv("1", "gon", "deg") == "0.9");
  CHECK(conv("1", "circ", "deg") == "360");
  CHECK(conv("1", "B", "dB") == "10");           // a special unit rescaled (§22.4)
  CHECK(conv("-2.50", "m", "cm") == "-250");
  CHECK(conv("1.2e3", "g", "kg") == "1.2");
  CHECK(conv("0", "m", "cm") == "0");
  // Not terminating, or through π: rounded, and said so.
  CHECK(conv("1", "cm", "[in_i]") == "0.3937007874015748031496062992");
  CHECK_FALSE(exact("1", "cm", "[in_i]"));
  CHECK(conv("1", "cm", "[in_i]", 4) == "0.3937");
  CHECK(conv("1", "[psi]", "Pa") == "6894.7572931683613367226734453469");
  CHECK(conv("1", "deg", "rad") == "0.0174532925199432957692369077");
  CHECK_FALSE(exact("1", "deg", "rad"));
  CHECK(conv("1", "ug", "[lb_av]") == "0.0000000022046226218487758072");
  CHECK(conv("1", "[ft_us]", "[ft_i]", 10) == "1.000002");
  CHECK(conv("1", "mm", "m", 2) == "0");
  CHECK_FALSE(ucum::convert("1", unit_of("mm"), unit_of("m"), 2)->exact);
  CHECK(exact("1", "mm", "km"));
  CHECK(conv("0.5", "mm", "m", 3) == "0.001");   // half away from zero
  CHECK(conv("1", "m", "m", -5) == "1");
  // Errors.
  CHECK(conv("1", "mmol/L", "mg/dL") == "error:invalid");
  CHECK(conv("1", "[IU]", "mg") == "error:invalid");
  CHECK(conv("1", "[pH]", "mol/L") == "error:not-supported");
  CHECK(conv("1", "B[V]", "B[mV]") == "error:not-supported");
  CHECK(conv("1.", "m", "cm") == "error:invalid");
  CHECK(conv("abc", "m", "cm") == "error:invalid");
  CHECK(conv("1e5000", "m", "cm") == "error:invalid");
}

TEST_CASE("ucum: temperatures Cel, [degF], [degRe] (special units, §21)") {
  CHECK(conv("37", "Cel", "[degF]") == "98.6");
  CHECK(conv("98.6", "[degF]", "Cel") == "37");
  CHECK(conv("-40", "Cel", "[degF]") == "-40");
  CHECK(conv("32", "[degF]", "Cel") == "0");
  CHECK(conv("0", "K", "Cel") == "-273.15");
  CHECK(conv("212", "[degF]", "K") == "373.15");
  CHECK(conv("100", "[degF]", "Cel") == "37.7777777777777777777777777778");
  CHECK(conv("80", "[degRe]", "Cel") == "100");
  CHECK(conv("1", "[degR]", "K", 6) == "0.555556");  // Rankine is proper: no offset
  CHECK(conv("37000", "mCel", "Cel") == "37");       // a prefixed special unit (§22.4)
  CHECK(conv("310.15", "K", "Cel") == "37");
  CHECK(comparable("Cel", "[degF]"));
  CHECK(comparable("Cel", "K"));
  CHECK(comparable("[degF]", "mK"));
  CHECK_FALSE(comparable("Cel", "m"));
  auto f = ucum::convert(37.0L, unit_of("Cel"), unit_of("[degF]"));
  REQUIRE(f.has_value());
  CHECK(std::fabs(*f - 98.6L) < 1e-15L);
}

TEST_CASE("ucum: comparable — dimensions, arbitrary and special units (§§17, 21, 24)") {
  CHECK(comparable("cm", "[in_i]"));  // FHIRPath Comparable1
  CHECK_FALSE(comparable("cm", "s"));  // Comparable3
  CHECK(comparable("mg/dL", "g/L"));
  CHECK_FALSE(comparable("mmol/L", "mg/dL"));
  CHECK(comparable("mmol/L", "/L"));   // mol is a number
  CHECK_FALSE(comparable("[IU]", "mg"));
  CHECK_FALSE(comparable("[IU]", "1"));
  CHECK(comparable("[IU]", "[iU]"));
  CHECK(comparable("[IU]/L", "m[iU]/mL"));
  CHECK_FALSE(comparable("[IU]", "[arb'U]"));
  CHECK_FALSE(comparable("[iU]/L", "[iU]"));
  CHECK(comparable("[iU]/[iU]", "1"));
  CHECK(comparable("{rbc}", "1"));
  CHECK(comparable("%", "1"));
  CHECK(comparable("N", "kg.m/s2"));
  CHECK(comparable("B", "dB"));
  CHECK(comparable("[pH]", "[pH]"));
  CHECK_FALSE(comparable("B", "Np"));
  CHECK_FALSE(comparable("[pH]", "mol/L"));
  CHECK_FALSE(comparable("B", "1"));
}

TEST_CASE("ucum: long double conversions") {
  auto c = [](long double v, std::string_view from, std::string_view to) {
    auto r = ucum::convert(v, unit_of(from), unit_of(to));
    REQUIRE(r.has_value());
    return *r;
  };
  CHECK(c(4000, "mg", "g") == 4.0L);
  CHECK(c(1, "L", "mL") == 1000.0L);
  CHECK(std::fabs(c(1, "[in_i]", "cm") - 2.54L) < 1e-17L);
  CHECK(std::fabs(c(1, "deg", "rad") - 0.0174532925199432957692L) < 1e-19L);
  CHECK(std::fabs(c(0, "Cel", "K") - 273.15L) < 1e-15L);
  CHECK(unit_of("[lb_av]").factor.to_long_double() == 453.59237L);
  CHECK_FALSE(ucum::convert(1.0L, unit_of("m"), unit_of("g")).has_value());
  auto e = ucum::convert(1.0L, unit_of("[pH]"), unit_of("1"));
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().code == "not-supported");
}

TEST_CASE("ucum: canonical forms for the search index") {
  auto c = [](std::string_view value, std::string_view u) {
    auto r = ucum::canonical(value, unit_of(u));
    REQUIRE(r.has_value());
    return r->value.text + " " + r->unit;
  };
  CHECK(c("5.4", "mg/dL") == "54 m-3.g");
  CHECK(c("54", "g/m3") == "54 m-3.g");
  CHECK(c("2", "cm2") == "0.0002 m2");
  CHECK(c("1", "/min") == "0.0166666666666666666666666667 s-1");
  CHECK(c("37", "Cel") == "310.15 K");
  CHECK(c("98.6", "[degF]") == "310.15 K");
  CHECK(c("2", "[iU]/mL") == "2000000 m-3.[iU]");
  CHECK(c("2", "[IU]/mL") == "2000000 m-3.[iU]");
  CHECK(c("1", "mmol/L") == "602213670000000000000000 m-3");
  CHECK(c("1", "%") == "0.01 1");
  CHECK(c("3", "{tablets}") == "3 1");
  CHECK(c("1", "N") == "1000 m.s-2.g");
  CHECK(c("1", "kat") == "602213670000000000000000 s-1");
  auto k = ucum::canonical("1", unit_of("kg"));
  REQUIRE(k.has_value());
  CHECK(k->approx == 1000.0L);
  CHECK(k->value.exact);
  // The canonical unit is UCUM with factor 1.
  for (const char* u : {"mg/dL", "[iU]/mL", "N", "Ohm", "[psi]", "sph", "1"}) {
    INFO("unit: ", u);
    CHECK(unit_of(ucum::canonical_unit(unit_of(u))).factor == ucum::magnitude{});
    CHECK(unit_of(ucum::canonical_unit(unit_of(u))).dimension == unit_of(u).dimension);
  }
  auto ph = ucum::canonical("7.4", unit_of("[pH]"));
  REQUIRE_FALSE(ph.has_value());
  CHECK(ph.error().code == "not-supported");
}

TEST_CASE("ucum: multiply and divide units (FHIRPath quantity * and /)") {
  auto mul = [](std::string_view a, std::string_view b) {
    auto r = ucum::multiply(unit_of(a), unit_of(b));
    REQUIRE(r.has_value());
    return *r;
  };
  auto div = [](std::string_view a, std::string_view b) {
    auto r = ucum::divide(unit_of(a), unit_of(b));
    REQUIRE(r.has_value());
    return *r;
  };
  // testQuantity9: 2.0 'cm' * 2.0 'm' = 0.040 'm2'
  auto cm_m = mul("cm", "m");
  CHECK(cm_m.expression == "cm.m");
  REQUIRE(ucum::comparable(cm_m, unit_of("m2")));
  CHECK(ucum::convert("4.00", cm_m, unit_of("m2"))->text == "0.04");
  CHECK(ucum::canonical("4.00", cm_m)->unit == "m2");
  // testQuantity10: 4.0 'g' / 2.0 'm' = 2 'g/m'
  auto g_m = div("g", "m");
  CHECK(g_m.expression == "g/m");
  CHECK(g_m.factor == unit_of("g/m").factor);
  CHECK(g_m.dimension == unit_of("g/m").dimension);
  // testQuantity11: 1.0 'm' / 1.0 'm' = 1 '1'
  auto m_m = div("m", "m");
  CHECK(m_m.expression == "m/m");
  CHECK(ucum::comparable(m_m, unit_of("1")));
  CHECK(m_m.factor == ucum::magnitude{});
  // Expressions stay valid UCUM, with parentheses where needed.
  CHECK(div("m", "s.kg").expression == "m/(s.kg)");
  CHECK(mul("m/s", "kg/m").expression == "m/s.(kg/m)");
  CHECK(div("1", "s").expression == "/s");
  CHECK(mul("/s", "m").expression == "1/s.m");
  CHECK(mul("1", "m").expression == "m");
  CHECK(div("m", "1").expression == "m");
  CHECK(div("m", "/s").expression == "m/(1/s)");
  CHECK(div("{rbc}", "[HPF]").expression == "{rbc}/[HPF]");
  for (auto [a, b] : std::vector<std::pair<std::string_view, std::string_view>>{
           {"m/s", "kg/m"}, {"m", "s.kg"}, {"m", "/s"}, {"mg", "10*3/uL"}, {"[iU]/L", "L/[iU]"}}) {
    INFO(a, " * ", b);
    auto p = mul(a, b);
    auto q = div(a, b);
    CHECK(unit_of(p.expression).factor == p.factor);
    CHECK(unit_of(p.expression).dimension == p.dimension);
    CHECK(unit_of(q.expression).factor == q.factor);
    CHECK(unit_of(q.expression).dimension == q.dimension);
  }
  CHECK(mul("[iU]/L", "L/[iU]").arbitrary.empty());
  CHECK(mul("[iU]", "[iU]").arbitrary == std::vector<ucum::arbitrary_term>{{"[iU]", 2}});
  auto bad = ucum::multiply(unit_of("Cel"), unit_of("m"));
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == "invalid");
}

TEST_CASE("ucum: concurrent parsing gives the same results") {
  // The table is built on first use behind a function-local static (this is
  // that first use when the case runs alone); every thread must see the same,
  // complete table.
  std::vector<std::string> seen(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < seen.size(); ++t)
    threads.emplace_back([&seen, t] {
      for (const auto& a : ucum::atoms()) {
        auto u = ucum::parse(a.code);
        seen[t] += u ? ucum::canonical_unit(*u) : "!";
      }
    });
  for (auto& th : threads) th.join();
  for (const auto& s : seen) CHECK(s == seen[0]);
  CHECK(seen[0].find('!') == std::string::npos);
}

TEST_CASE("ucum: base-unit exponents beyond the limit are refused (found by the fuzzer)") {
  // Gy82 is m164.s-164: its canonical form could not be parsed again.
  auto u = hearth::fhir::ucum::parse("Gy82/uL");
  REQUIRE_FALSE(u.has_value());
  CHECK(u.error().code == "not-supported");
  auto ok = hearth::fhir::ucum::parse("Gy49");
  REQUIRE(ok.has_value());
  CHECK(hearth::fhir::ucum::parse(hearth::fhir::ucum::canonical_unit(*ok)).has_value());
  auto square = hearth::fhir::ucum::multiply(*ok, *ok);  // m196
  CHECK_FALSE(square.has_value());
}
