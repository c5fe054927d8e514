#include <hearth/hl7v2/charset.hpp>

#include <doctest/doctest.h>

using namespace hearth::hl7v2;

TEST_CASE("charset: MSH-18 values (HL7 table 0211)") {
  CHECK(*parse_charset("") == charset::utf8);  // the default
  CHECK(*parse_charset("UNICODE UTF-8") == charset::utf8);
  CHECK(*parse_charset("unicode utf-8") == charset::utf8);
  CHECK(*parse_charset("UTF-8") == charset::utf8);
  CHECK(*parse_charset("ASCII") == charset::ascii);
  CHECK(*parse_charset("8859/1") == charset::iso8859_1);
  CHECK(*parse_charset(" 8859/1 ") == charset::iso8859_1);
  auto bad = parse_charset("8859/7");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "102");
  CHECK_FALSE(parse_charset("UNICODE"));  // UTF-16: not read
  CHECK(to_string(charset::iso8859_1) == "8859/1");
  CHECK(*parse_charset(to_string(charset::utf8)) == charset::utf8);
}

TEST_CASE("charset: conversion to UTF-8") {
  std::string out;
  append_utf8(out, "M\xFCller", charset::iso8859_1);
  CHECK(out == "M\xC3\xBCller");
  out.clear();
  append_utf8(out, "plain", charset::iso8859_1);
  CHECK(out == "plain");
  out.clear();
  append_utf8(out, "ok \xC3\xBC", charset::utf8);
  CHECK(out == "ok \xC3\xBC");
  out.clear();
  append_utf8(out, "bad \xFC!", charset::utf8);  // invalid: U+FFFD, never raw bytes
  CHECK(out == "bad \xEF\xBF\xBD!");
  out.clear();
  append_utf8(out, "\x80", charset::ascii);
  CHECK(out == "\xEF\xBF\xBD");
}
