// libFuzzer target: the HL7 v2 parser, writer and batch splitter on arbitrary
// bytes. Properties checked (a failure traps, so libFuzzer saves the input):
// - parse() never crashes, leaks or hits UB (ASan/UBSan), whatever the input;
// - every element of a parsed message can be walked and decoded with text();
// - write(parse(x)) == x: the byte-identical round trip the message log and
//   the `hearth hl7` commands rely on;
// - split_batch() never crashes; its views lie inside the input, and each
//   message it finds obeys the same round trip when it parses.

#include <hearth/hl7v2/batch.hpp>
#include <hearth/hl7v2/element.hpp>
#include <hearth/hl7v2/message.hpp>
#include <hearth/hl7v2/parser.hpp>
#include <hearth/hl7v2/writer.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace h = hearth::hl7v2;

// Small limits keep each run fast; max_bytes above -max_len (64 KiB) so that
// every input is really parsed.
h::parse_options fuzz_parse_options() {
  h::parse_options o;
  o.max_bytes = 1u << 20;
  o.max_segments = 10'000;
  o.max_fields = 1'000;
  return o;
}

// Keeps the optimiser from dropping the decoding work.
volatile std::size_t sink = 0;

void touch(const h::element_view& e) {
  sink = sink + e.text().size() + e.text({.keep_formatting = true}).size();
}

void walk(const h::message& msg) {
  for (std::size_t s = 1; s <= msg.segment_count(); ++s) {
    const h::segment_view seg = msg.segment(s);
    sink = sink + seg.id().size() + seg.raw().size() + seg.terminator().size();
    for (std::size_t f = 1; f <= seg.field_count(); ++f) {
      const h::element_view field = seg.field(f);
      touch(field);
      for (std::size_t r = 1; r <= field.size(); ++r) {
        const h::element_view rep = field.at(r);
        touch(rep);
        for (std::size_t c = 1; c <= rep.size(); ++c) {
          const h::element_view comp = rep.at(c);
          touch(comp);
          for (std::size_t sc = 1; sc <= comp.size(); ++sc) touch(comp.at(sc));
        }
      }
    }
  }
  // The MSH accessors and the path lookup go through the same views.
  sink = sink + msg.message_code().size() + msg.trigger_event().size() +
         msg.control_id().size() + msg.version().size() + msg.text("PID-3(2).4.1").size();
}

// Parses `bytes`; on success walks the message and checks the round trip.
void check_message(std::string_view bytes) {
  auto parsed = h::parse(std::string(bytes), fuzz_parse_options());
  if (!parsed) {
    sink = sink + parsed.error().where.to_string().size();
    return;
  }
  const h::message& msg = *parsed;
  if (msg.raw() != bytes) __builtin_trap();
  walk(msg);
  if (h::write(msg) != bytes) __builtin_trap();  // byte-identical round trip
}

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_batch(std::string_view input) {
  h::batch_options opts;
  opts.max_messages = 10'000;
  auto split = h::split_batch(input, opts);
  if (!split) return;
  const h::batch& b = *split;
  if (!inside(b.file_header, input) || !inside(b.file_trailer, input)) __builtin_trap();
  std::size_t count = 0;
  for (const h::batch_group& g : b.groups) {
    if (!inside(g.header, input) || !inside(g.trailer, input)) __builtin_trap();
    for (std::string_view m : g.messages) {
      if (!inside(m, input)) __builtin_trap();
      ++count;
      check_message(m);
    }
  }
  if (count != b.message_count()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_message(input);
  check_batch(input);
  return 0;
}
