#include <hearth/core/utf8.hpp>

#include <doctest/doctest.h>

using hearth::utf8::find_invalid;
using hearth::utf8::npos;

TEST_CASE("utf8: valid text of every length class") {
  CHECK(find_invalid("") == npos);
  CHECK(find_invalid("plain ascii, longer than eight bytes") == npos);
  CHECK(find_invalid("M\xC3\xBCller") == npos);          // ü
  CHECK(find_invalid("\xE2\x82\xAC") == npos);           // €
  CHECK(find_invalid("\xF0\x9F\x98\x80 ok") == npos);    // U+1F600
}

TEST_CASE("utf8: invalid sequences are found at their first byte") {
  CHECK(find_invalid("abc\xFC") == 3);                   // Latin-1 ü
  CHECK(find_invalid("abcdefghij\xC0\xAF") == 10);       // overlong '/'
  CHECK(find_invalid("\xED\xA0\x80") == 0);              // surrogate
  CHECK(find_invalid("\xF4\x90\x80\x80") == 0);          // above U+10FFFF
  CHECK(find_invalid("x\xE2\x82") == 1);                 // truncated
  CHECK(find_invalid("\x80") == 0);                      // stray continuation
}

TEST_CASE("utf8: latin-1 conversion and ascii check") {
  std::string out;
  hearth::utf8::append_latin1(out, "M\xFCller");
  CHECK(out == "M\xC3\xBCller");
  CHECK(hearth::utf8::find_non_ascii("abcdefghijklmnop") == npos);
  CHECK(hearth::utf8::find_non_ascii("abcdefghijklmno\xFC") == 15);
  out.clear();
  hearth::utf8::append(out, U'\U0001F600');
  CHECK(out == "\xF0\x9F\x98\x80");
}
