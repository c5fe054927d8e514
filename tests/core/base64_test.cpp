#include <hearth/core/base64.hpp>

#include <doctest/doctest.h>

namespace hearth::base64 {

TEST_CASE("base64: RFC 4648 section 10 test vectors, both ways") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    CHECK(encode(plain) == coded);
    CHECK(decode(coded) == std::optional<std::string>(plain));
  }
}

TEST_CASE("base64: padding optional, url alphabet, binary bytes") {
  CHECK(decode("Zm8") == std::optional<std::string>("fo"));
  CHECK(encode(std::string("\xfb\xff", 2)) == "+/8=");
  CHECK(encode(std::string("\xfb\xff", 2), true) == "-_8=");
  CHECK(decode("-_8=", true) == std::optional<std::string>(std::string("\xfb\xff", 2)));
  CHECK_FALSE(decode("-_8=").has_value());  // not the standard alphabet
}

TEST_CASE("base64: malformed text is refused") {
  CHECK_FALSE(decode("Zm9v YmFy").has_value());  // whitespace
  CHECK_FALSE(decode("Zg==Zg==").has_value());   // data after padding
  CHECK_FALSE(decode("Zg=").has_value());        // padding to no multiple of four
  CHECK_FALSE(decode("Z").has_value());          // six bits cannot end a byte
  CHECK_FALSE(decode("Zm9v!").has_value());
}

}  // namespace hearth::base64
