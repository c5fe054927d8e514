#include <hearth/hl7v2/encoding.hpp>

#include <doctest/doctest.h>

using namespace hearth::hl7v2;

TEST_CASE("encoding: defaults and MSH-2") {
  encoding e;
  CHECK(e.msh2() == "^~\\&");
  CHECK(e.is_delimiter('|'));
  CHECK(e.is_delimiter('&'));
  CHECK_FALSE(e.is_delimiter('#'));
  CHECK_FALSE(e.is_delimiter('\0'));  // no truncation character before v2.7
  e.truncation = '#';
  CHECK(e.msh2() == "^~\\&#");
  CHECK(e.is_delimiter('#'));
}
