// libFuzzer target: the HL7 v2 parser, writer and batch splitter on arbitrary
// bytes. Properties checked (a failure traps, so libFuzzer saves the input):
// - parse() never crashes, leaks or hits UB (ASan/UBSan), whatever the input;
// - every element of a parsed message can be walked and decoded with text();
// - write(parse(x)) == x: the byte-identical round trip the message log and
//   the `hearth hl7` commands rely on;
// - split_batch() never crashes; its views lie inside the input, and each
//   message it finds obeys the same round trip when it parses;
// - children() gives exactly what at() gives;
// - every typed reader (CX, XPN, ..., DTM, NM, SN, TQ) accepts any element;
// - an ACK is built for every input: build_ack() for what parses,
//   build_reject_for_unparsable() for what does not, and both parse back.

#include <hearth/hl7v2/ack.hpp>
#include <hearth/hl7v2/batch.hpp>
#include <hearth/hl7v2/datatypes.hpp>
#include <hearth/hl7v2/datetime.hpp>
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

// Every reader on one element, whatever its real type.
void read_all(const h::element_view& e) {
  sink = sink + h::read_cx(e).id_number.size() + h::read_xpn(e).given_name.size() + h::read_xad(e).city.size() +
         h::read_xtn(e).email_address.size() + h::read_cwe(e).identifier.size() + h::read_xcn(e).id_number.size() +
         h::read_pl(e).room.size() + h::read_ei(e).entity_identifier.size() + h::read_ft(e).size();
  sink = sink + h::read_dtm(e).has_value() + h::read_ts(e).has_value() + h::read_tm(e).has_value() +
         h::read_nm(e).has_value() + h::read_sn(e).has_value() + h::read_tq(e).has_value();
  if (auto t = h::read_ts(e)) sink = sink + t->time.iso8601().size();
  if (auto n = h::read_nm(e)) sink = sink + n->fhir().size();
}

// children() must visit exactly the elements at(1..size()) gives.
void check_children(const h::element_view& e) {
  std::size_t k = 0;
  for (const h::element_view c : e.children()) {
    ++k;
    if (c.raw() != e.at(k).raw() || c.depth() != e.at(k).depth()) __builtin_trap();
  }
  if (k != (e.size() == 0 ? 1 : e.size())) __builtin_trap();
}

void walk(const h::message& msg) {
  // The readers cost ~300 decodes per element: run them on the first few
  // dozen components only, so each input stays fast. The fuzzer moves values
  // into those positions soon enough.
  std::size_t reader_budget = 48;
  for (const h::segment_view seg : msg) {
    sink = sink + seg.id().size() + seg.raw().size() + seg.terminator().size();
    for (std::size_t f = 1; f <= seg.field_count(); ++f) {
      const h::element_view field = seg.field(f);
      touch(field);
      check_children(field);
      for (const h::element_view rep : field.children()) {
        touch(rep);
        for (const h::element_view comp : rep.children()) {
          touch(comp);
          check_children(comp);
          if (reader_budget > 0 && comp.raw().size() <= 4096) {
            --reader_budget;
            read_all(comp);
          }
          for (const h::element_view sub : comp.children()) touch(sub);
        }
        if (reader_budget > 0 && rep.raw().size() <= 4096) {
          --reader_budget;
          read_all(rep);
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
  h::ack_options ack_opts;
  ack_opts.control_id = "FUZZ1";
  ack_opts.timestamp = "20260101000000+0000";
  auto parsed = h::parse(std::string(bytes), fuzz_parse_options());
  if (!parsed) {
    sink = sink + parsed.error().where.to_string().size();
    // Whatever arrived, the sender gets a well-formed reject.
    const std::string ack = h::build_reject_for_unparsable(bytes, parsed.error(), ack_opts);
    if (!h::parse(ack)) __builtin_trap();
    return;
  }
  const h::message& msg = *parsed;
  if (msg.raw() != bytes) __builtin_trap();
  walk(msg);
  if (h::write(msg) != bytes) __builtin_trap();  // byte-identical round trip
  const h::ack_issue issue(h::error_code::data_type_error, "fuzz", h::position{2, "PID", 5, 1, 2, 0, 0});
  const auto ack = h::build_ack(msg, h::outcome::error, {&issue, 1}, ack_opts);
  if (ack && !h::parse(*ack)) __builtin_trap();
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
