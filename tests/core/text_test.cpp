#include <hearth/core/text.hpp>

#include <doctest/doctest.h>

TEST_CASE("text: trim and iequals") {
  CHECK(hearth::text::trim("  a b\t ") == "a b");
  CHECK(hearth::text::trim(" \t ").empty());
  CHECK(hearth::text::iequals("unicode utf-8", "UNICODE UTF-8"));
  CHECK_FALSE(hearth::text::iequals("UTF-8", "UTF8"));
  CHECK_FALSE(hearth::text::iequals("\xC3\xBC", "\xC3\x9C"));  // only ASCII letters fold
}
