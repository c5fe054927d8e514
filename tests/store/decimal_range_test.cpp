#include <hearth/store/decimal_range.hpp>

#include <doctest/doctest.h>

using hearth::store::decimal_bounds;
using hearth::store::parse_decimal_range;

TEST_CASE("index: decimal ranges follow the precision written (R4 search.html#number)") {
  auto r = parse_decimal_range("100");
  REQUIRE(r);
  CHECK(r->text == "100");
  CHECK(r->value == 100.0);
  CHECK(r->low == 99.5);
  CHECK(r->high == 100.5);

  auto b = decimal_bounds("100.00");
  REQUIRE(b);
  CHECK(b->low == "99.995");
  CHECK(b->high == "100.005");
  CHECK(parse_decimal_range("100.00")->text == "100.00");

  b = decimal_bounds("1e2");  // one significant digit: [50, 150)
  REQUIRE(b);
  CHECK(b->low == "50");
  CHECK(b->high == "150");
  CHECK(parse_decimal_range("1e2")->value == 100.0);

  b = decimal_bounds("1.5e-3");
  REQUIRE(b);
  CHECK(b->low == "0.00145");
  CHECK(b->high == "0.00155");
}

TEST_CASE("index: decimal ranges of negative values, zero and small values") {
  struct row {
    const char* text;
    const char* low;
    const char* high;
  };
  for (const row& r : {row{"-1.5", "-1.55", "-1.45"}, row{"0", "-0.5", "0.5"}, row{"0.0", "-0.05", "0.05"},
                       row{"10", "9.5", "10.5"},  // a borrow: 10*10 - 5 = 95
                       row{"0.01", "0.005", "0.015"}, row{"-0.01", "-0.015", "-0.005"}}) {
    CAPTURE(r.text);
    const auto b = decimal_bounds(r.text);
    REQUIRE(b);
    CHECK(b->low == r.low);
    CHECK(b->high == r.high);
  }
}

TEST_CASE("index: decimal ranges refuse what is not a FHIR decimal") {
  for (const char* bad : {"", "-", ".5", "1.", "1e", "1e+", "+1", "1,5", "1.5.2", "0x10", "1e401", "NaN", "1 "}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_decimal_range(bad));
  }
  CHECK_FALSE(parse_decimal_range(std::string(200, '1')));  // longer than max_decimal_text
  CHECK(parse_decimal_range("007"));                          // leading zeros tolerated
  CHECK(decimal_bounds("007")->low == "6.5");
}
