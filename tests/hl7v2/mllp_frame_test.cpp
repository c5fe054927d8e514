#include <hearth/hl7v2/mllp_frame.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using hearth::hl7v2::mllp_decoder;
using hearth::hl7v2::mllp_encode;
using hearth::hl7v2::mllp_item;
using hearth::hl7v2::mllp_status;

constexpr std::string_view adt =
    "MSH|^~\\&|LAB|HOSP|HEARTH|HOSP|20240101120000||ADT^A01|MSG0001|P|2.5.1\r"
    "PID|1||12345^^^HOSP^MR||DOE^JANE\r";
constexpr std::string_view ack = "MSH|^~\\&|HEARTH|HOSP|LAB|HOSP|20240101120001||ACK|A1|P|2.5.1\rMSA|AA|MSG0001\r";

std::vector<mllp_item> drain(mllp_decoder& d) {
  std::vector<mllp_item> items;
  mllp_item item;
  while (d.next(item)) items.push_back(std::move(item));
  return items;
}

std::vector<mllp_item> decode(std::string_view bytes, std::size_t max = 10u << 20) {
  mllp_decoder d(max);
  d.feed(bytes);
  return drain(d);
}

std::vector<mllp_item> decode_byte_by_byte(std::string_view bytes, std::size_t max = 10u << 20) {
  mllp_decoder d(max);
  for (char c : bytes) d.feed(std::string_view(&c, 1));
  return drain(d);
}

bool same(const std::vector<mllp_item>& a, const std::vector<mllp_item>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].status != b[i].status || a[i].payload != b[i].payload) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("mllp_encode frames a message as VT payload FS CR") {
  CHECK(mllp_encode("MSH|x\r") == std::string("\x0BMSH|x\r\x1C\r"));
  CHECK(mllp_encode("") == std::string("\x0B\x1C\r"));

  std::string out = "already";
  mllp_encode("A", out);
  mllp_encode("B", out);
  CHECK(out == std::string("already\x0B" "A\x1C\r\x0B" "B\x1C\r"));
}

TEST_CASE("mllp round trip: encode then decode gives the message back") {
  mllp_decoder d;
  d.feed(mllp_encode(adt));
  mllp_item item;
  REQUIRE(d.next(item));
  CHECK(item.status == mllp_status::frame);
  CHECK(item.payload == adt);
  CHECK_FALSE(d.next(item));
  CHECK(d.frames() == 1);
  CHECK(d.junk_bytes() == 0);
  CHECK(d.errors() == 0);
  CHECK_FALSE(d.in_frame());
}

TEST_CASE("mllp empty payload is a frame") {
  const auto items = decode("\x0B\x1C\r");
  REQUIRE(items.size() == 1);
  CHECK(items[0].status == mllp_status::frame);
  CHECK(items[0].payload.empty());
}

TEST_CASE("mllp frame split across many reads, byte by byte") {
  mllp_decoder d;
  const std::string wire = mllp_encode(adt);
  mllp_item item;
  for (std::size_t i = 0; i + 2 < wire.size(); ++i) {  // up to, not including, FS
    d.feed(wire.substr(i, 1));
    CHECK_FALSE(d.next(item));
    CHECK(d.in_frame());
  }
  CHECK(d.buffered_bytes() == adt.size());
  d.feed("\x1C");  // FS: the frame is delivered without waiting for CR
  REQUIRE(d.next(item));
  CHECK(item.payload == adt);
  d.feed("\r");  // the CR arriving in the next read is swallowed, not junk
  CHECK(d.junk_bytes() == 0);
  CHECK(d.frames() == 1);
}

TEST_CASE("mllp several frames in one read") {
  std::string wire;
  mllp_encode(adt, wire);
  mllp_encode(ack, wire);
  mllp_encode("", wire);
  const auto items = decode(wire);
  REQUIRE(items.size() == 3);
  CHECK(items[0].payload == adt);
  CHECK(items[1].payload == ack);
  CHECK(items[2].payload.empty());
  for (const auto& i : items) CHECK(i.status == mllp_status::frame);
}

TEST_CASE("mllp junk before VT is skipped and counted") {
  mllp_decoder d;
  d.feed("\r\nnoise");  // 7 bytes
  d.feed(mllp_encode("A"));
  d.feed("\x1C\rxy");  // a stray FS outside a block is junk too: 4 bytes
  d.feed(mllp_encode("B"));
  const auto items = drain(d);
  REQUIRE(items.size() == 2);
  CHECK(items[0].payload == "A");
  CHECK(items[1].payload == "B");
  CHECK(d.junk_bytes() == 11);
  CHECK(d.errors() == 0);
}

TEST_CASE("mllp FS without CR still ends the frame and the next byte is processed normally") {
  SUBCASE("next byte is a VT starting the next frame") {
    mllp_decoder d;
    d.feed("\x0B" "A\x1C\x0B" "B\x1C");
    const auto items = drain(d);
    REQUIRE(items.size() == 2);
    CHECK(items[0].payload == "A");
    CHECK(items[1].payload == "B");
    CHECK(d.junk_bytes() == 0);
  }
  SUBCASE("across reads") {
    mllp_decoder d;
    d.feed("\x0B" "A\x1C");
    d.feed("\x0B" "B\x1C");
    const auto items = drain(d);
    REQUIRE(items.size() == 2);
    CHECK(items[1].payload == "B");
    CHECK(d.junk_bytes() == 0);
  }
  SUBCASE("next byte is junk") {
    mllp_decoder d;
    d.feed("\x0B" "A\x1C\n\r\x0B" "B\x1C\r");
    const auto items = drain(d);
    REQUIRE(items.size() == 2);
    CHECK(d.junk_bytes() == 2);  // only a CR right after FS is swallowed
  }
  SUBCASE("only one CR is swallowed") {
    mllp_decoder d;
    d.feed("\x0B" "A\x1C");
    d.feed("\r\r");
    CHECK(d.junk_bytes() == 1);
  }
}

TEST_CASE("mllp VT inside a frame reports frame_interrupted and starts a new frame") {
  mllp_decoder d;
  d.feed("\x0BMSH|partial");
  d.feed("\x0B" "B\x1C\r");
  const auto items = drain(d);
  REQUIRE(items.size() == 2);
  CHECK(items[0].status == mllp_status::frame_interrupted);
  CHECK(items[0].payload.empty());
  CHECK(items[1].status == mllp_status::frame);
  CHECK(items[1].payload == "B");
  CHECK(d.errors() == 1);
  CHECK(d.frames() == 1);
}

TEST_CASE("mllp maximum frame size: max accepted, max + 1 rejected") {
  constexpr std::size_t max = 16;
  const std::string at_max(max, 'x');
  const std::string over(max + 1, 'y');

  SUBCASE("exactly max") {
    const auto items = decode(mllp_encode(at_max), max);
    REQUIRE(items.size() == 1);
    CHECK(items[0].status == mllp_status::frame);
    CHECK(items[0].payload == at_max);
  }
  SUBCASE("max + 1, then the stream resumes at the next frame") {
    mllp_decoder d(max);
    d.feed(mllp_encode(over) + mllp_encode("ok"));
    const auto items = drain(d);
    REQUIRE(items.size() == 2);
    CHECK(items[0].status == mllp_status::frame_too_large);
    CHECK(items[0].payload.empty());
    CHECK(items[1].status == mllp_status::frame);
    CHECK(items[1].payload == "ok");
    CHECK(d.errors() == 1);
    CHECK(d.frames() == 1);
    CHECK(d.junk_bytes() == 0);  // the dropped bytes are not junk, nor is the CR
  }
  SUBCASE("reported once, as soon as the limit is passed, before the FS arrives") {
    mllp_decoder d(max);
    d.feed("\x0B");
    mllp_item item;
    for (std::size_t i = 0; i < max; ++i) d.feed("z");
    CHECK_FALSE(d.next(item));
    CHECK(d.buffered_bytes() == max);
    d.feed("z");
    REQUIRE(d.next(item));
    CHECK(item.status == mllp_status::frame_too_large);
    CHECK(d.buffered_bytes() == 0);  // memory released while the rest is dropped
    d.feed(std::string(1000, 'z'));
    CHECK_FALSE(d.next(item));
    CHECK(d.buffered_bytes() == 0);
    d.feed("\x1C\r");
    CHECK_FALSE(d.next(item));
    CHECK(d.errors() == 1);
    CHECK_FALSE(d.in_frame());
  }
  SUBCASE("byte by byte gives the same items") {
    const std::string wire = mllp_encode(at_max) + mllp_encode(over) + mllp_encode(at_max);
    const auto one_shot = decode(wire, max);
    REQUIRE(one_shot.size() == 3);
    CHECK(one_shot[1].status == mllp_status::frame_too_large);
    CHECK(same(one_shot, decode_byte_by_byte(wire, max)));
  }
  SUBCASE("max of zero accepts only empty frames") {
    const auto items = decode(mllp_encode("") + mllp_encode("a"), 0);
    REQUIRE(items.size() == 2);
    CHECK(items[0].status == mllp_status::frame);
    CHECK(items[1].status == mllp_status::frame_too_large);
  }
}

TEST_CASE("mllp a VT while dropping an oversized frame starts a new frame without a second error") {
  mllp_decoder d(4);
  d.feed("\x0B" "toolong");
  d.feed("\x0B" "ok\x1C\r");
  const auto items = drain(d);
  REQUIRE(items.size() == 2);
  CHECK(items[0].status == mllp_status::frame_too_large);
  CHECK(items[1].status == mllp_status::frame);
  CHECK(items[1].payload == "ok");
  CHECK(d.errors() == 1);
}

TEST_CASE("mllp byte-by-byte feeding of a stream equals one-shot feeding") {
  std::string wire = "junk";
  mllp_encode(adt, wire);
  wire += "\x0B" "cut short";       // interrupted by the next VT
  mllp_encode(ack, wire);
  wire += "\x0B" "no CR\x1C";       // FS without CR
  wire += "\x0B\x1C";               // empty, no CR
  mllp_encode(std::string(300, 'L'), wire);  // too large for max 256
  wire += "\r\n";
  mllp_encode("last", wire);

  const auto one_shot = decode(wire, 256);
  REQUIRE(one_shot.size() == 7);
  CHECK(one_shot[0].payload == adt);
  CHECK(one_shot[1].status == mllp_status::frame_interrupted);
  CHECK(one_shot[2].payload == ack);
  CHECK(one_shot[3].payload == "no CR");
  CHECK(one_shot[4].payload.empty());
  CHECK(one_shot[5].status == mllp_status::frame_too_large);
  CHECK(one_shot[6].payload == "last");
  CHECK(same(one_shot, decode_byte_by_byte(wire, 256)));

  // And every split into two reads.
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    mllp_decoder d(256);
    d.feed(std::string_view(wire).substr(0, cut));
    d.feed(std::string_view(wire).substr(cut));
    CHECK(same(one_shot, drain(d)));
    CHECK(d.junk_bytes() == 6);  // "junk" and the "\r\n" after a swallowed CR
  }
}

TEST_CASE("mllp counters across a mixed stream") {
  mllp_decoder d;
  d.feed("ab\x0B" "1\x1C\r\x0B" "2\x0B" "3\x1C\r");
  drain(d);
  CHECK(d.frames() == 2);
  CHECK(d.errors() == 1);
  CHECK(d.junk_bytes() == 2);
}

TEST_CASE("mllp next leaves out untouched when nothing is ready") {
  mllp_decoder d;
  mllp_item item{mllp_status::frame_interrupted, "keep"};
  CHECK_FALSE(d.next(item));
  CHECK(item.status == mllp_status::frame_interrupted);
  CHECK(item.payload == "keep");
  d.feed("");
  CHECK_FALSE(d.next(item));
}
