#include <hearth/core/result.hpp>

#include <string>

#include <doctest/doctest.h>

namespace {
hearth::result<int> half(int v) {
  if (v % 2 != 0) return hearth::unexpected(hearth::error{"odd", "not even", "", 3});
  return v / 2;
}
}  // namespace

TEST_CASE("result: value or error") {
  auto ok = half(8);
  REQUIRE(ok);
  CHECK(*ok == 4);
  auto bad = half(3);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "odd");
  CHECK(bad.error().offset == 3);
  CHECK(bad.value_or(-1) == -1);
}

TEST_CASE("result: same type for value and error is unambiguous") {
  hearth::result<std::string, std::string> v(std::string("value"));
  hearth::result<std::string, std::string> e(hearth::unexpected(std::string("error")));
  CHECK(v.has_value());
  CHECK(*v == "value");
  CHECK_FALSE(e.has_value());
  CHECK(e.error() == "error");
}

TEST_CASE("result<void>") {
  hearth::result<void> ok;
  CHECK(ok);
  hearth::result<void> bad = hearth::unexpected(hearth::error{"x", "y", "", 0});
  CHECK_FALSE(bad);
  CHECK(bad.error().message == "y");
}
