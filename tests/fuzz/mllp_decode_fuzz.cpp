// libFuzzer target: the MLLP decoder on arbitrary byte streams. Properties
// checked (a failure traps, so libFuzzer saves the input):
// - no crash, leak or UB (ASan/UBSan);
// - every frame payload holds neither VT nor FS and is <= max_frame_bytes;
//   error items carry no payload; the counters match the items;
// - the held partial frame never exceeds max_frame_bytes;
// - how the stream is split into reads does not matter: one feed, chunks at
//   positions derived from the data, and (for short inputs) byte-by-byte
//   feeding give the same items and the same counters;
// - each frame, encoded again with mllp_encode, decodes to itself.

#include <hearth/hl7v2/mllp_frame.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace h = hearth::hl7v2;

struct outcome {
  std::vector<h::mllp_item> items;
  std::uint64_t frames = 0, junk = 0, errors = 0;
};

bool same(const outcome& a, const outcome& b) {
  if (a.items.size() != b.items.size() || a.frames != b.frames || a.junk != b.junk ||
      a.errors != b.errors) {
    return false;
  }
  for (std::size_t i = 0; i < a.items.size(); ++i) {
    if (a.items[i].status != b.items[i].status || a.items[i].payload != b.items[i].payload) {
      return false;
    }
  }
  return true;
}

// Pops what is ready into `o`, checking each item, as a listener would after a read.
void drain(h::mllp_decoder& d, outcome& o) {
  if (d.buffered_bytes() > d.max_frame_bytes()) __builtin_trap();
  h::mllp_item item;
  while (d.next(item)) {
    if (item.status == h::mllp_status::frame) {
      if (item.payload.size() > d.max_frame_bytes()) __builtin_trap();
      if (item.payload.find_first_of(std::string_view("\x0B\x1C", 2)) != std::string::npos) {
        __builtin_trap();
      }
    } else if (!item.payload.empty()) {
      __builtin_trap();
    }
    o.items.push_back(std::move(item));
  }
}

outcome finish(const h::mllp_decoder& d, outcome o) {
  o.frames = d.frames();
  o.junk = d.junk_bytes();
  o.errors = d.errors();
  std::uint64_t frames = 0, errors = 0;
  for (const auto& i : o.items) (i.status == h::mllp_status::frame ? frames : errors) += 1;
  if (frames != o.frames || errors != o.errors) __builtin_trap();
  return o;
}

outcome one_shot(std::string_view in, std::size_t max) {
  h::mllp_decoder d(max);
  outcome o;
  d.feed(in);
  drain(d, o);
  return finish(d, std::move(o));
}

// Read sizes of 1 to 64 bytes (sometimes 0), chosen by the data itself, so
// that libFuzzer explores the splits along with the content.
outcome chunked(std::string_view in, std::size_t max) {
  h::mllp_decoder d(max);
  outcome o;
  std::size_t pos = 0, k = 0;
  while (pos < in.size()) {
    const auto b = static_cast<unsigned char>(in[(pos * 31 + k * 7) % in.size()]);
    const std::size_t n = b % 65;  // 0: an empty read, which must change nothing
    d.feed(in.substr(pos, n));
    drain(d, o);
    pos = std::min(pos + n, in.size());
    ++k;
    if (pos < in.size() && k > 2 * in.size() + 2) {  // too many empty reads: finish in one
      d.feed(in.substr(pos));
      drain(d, o);
      break;
    }
  }
  return finish(d, std::move(o));
}

outcome byte_by_byte(std::string_view in, std::size_t max) {
  h::mllp_decoder d(max);
  outcome o;
  for (std::size_t i = 0; i < in.size(); ++i) {
    d.feed(in.substr(i, 1));
    drain(d, o);
  }
  return finish(d, std::move(o));
}

void check(std::string_view in, std::size_t max) {
  const outcome a = one_shot(in, max);
  if (a.junk > in.size()) __builtin_trap();
  if (!same(a, chunked(in, max))) __builtin_trap();
  if (in.size() <= 4096 && !same(a, byte_by_byte(in, max))) __builtin_trap();
  for (const auto& item : a.items) {
    if (item.status != h::mllp_status::frame) continue;
    const outcome again = one_shot(h::mllp_encode(item.payload), max);
    if (again.items.size() != 1 || again.items[0].payload != item.payload || again.junk != 0) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check(in, 4096);  // the limit is hit by larger inputs
  check(in, 7);     // and often, to exercise frame_too_large and resynchronisation
  return 0;
}
