#include <hearth/terminology/verdict.hpp>

#include <doctest/doctest.h>

using hearth::terminology::verdict;

TEST_CASE("verdict: to_string names the three outcomes") {
  CHECK(to_string(verdict::valid) == "valid");
  CHECK(to_string(verdict::invalid) == "invalid");
  CHECK(to_string(verdict::cannot_tell) == "cannot-tell");
}
