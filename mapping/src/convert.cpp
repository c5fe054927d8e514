// convert(): the dispatch by MSH-9 to the message families.

#include <hearth/mapping/convert.hpp>

#include <algorithm>

#include "families.hpp"
#include "mapping_detail.hpp"

namespace hearth::mapping {

namespace {

using detail::context;
using fhir::json_value;

/// One message family: its MSH-9.1 code, the MSH-9.2 events it maps, the
/// map, and what the map leaves to do on the Bundle (nullptr: nothing). One
/// code may have several families, each with its own events.
struct family {
  std::string_view code;
  std::initializer_list<std::string_view> events;
  void (*map)(context&);
  void (*finish)(json_value&) = nullptr;
};

// ADT A40 (merge patient) retires one Patient into another: its own map
// (merge.cpp), whose Bundle carries Patient/$merge entries for the store.
const family families[] = {
    {"ADT", {"A01", "A02", "A03", "A04", "A05", "A08", "A11", "A13", "A28", "A31"}, &detail::map_adt},
    {"ADT", {"A40"}, &detail::map_merge, &detail::finish_merge},
    {"SIU", {"S12", "S13", "S14", "S15", "S26"}, &detail::map_siu}, {"MDM", {"T01", "T02"}, &detail::map_mdm},
    {"ORM", {"O01"}, &detail::map_orders}, {"OML", {"O21"}, &detail::map_orders}, {"VXU", {"V04"}, &detail::map_vxu},
    {"ORU", {"R01"}, &detail::map_oru},
};

bool known_code(std::string_view code) noexcept {
  for (const auto& f : families) {
    if (f.code == code) return true;
  }
  return false;
}

const family* find_family(std::string_view code, std::string_view event) noexcept {
  for (const auto& f : families) {
    if (f.code == code && std::find(f.events.begin(), f.events.end(), event) != f.events.end()) return &f;
  }
  return nullptr;
}

hearth::unexpected<hl7v2::error> refuse(hl7v2::error_code code, std::string text, std::size_t component) {
  hl7v2::error e;
  e.code = code;
  e.message = std::move(text);
  e.where.segment_index = 1;
  e.where.segment_id = "MSH";
  e.where.field = 9;
  e.where.component = component;
  return hearth::unexpected<hl7v2::error>(std::move(e));
}

}  // namespace

bool supports(std::string_view message_code, std::string_view trigger_event) noexcept {
  return find_family(message_code, trigger_event) != nullptr;
}

hearth::result<conversion, hl7v2::error> convert(const hl7v2::message& msg, const sender_config& cfg,
                                                 const convert_options& opts) {
  const std::string code = msg.message_code();
  const std::string event = msg.trigger_event();
  if (!known_code(code)) return refuse(hl7v2::error_code::unsupported_message_type, "message type not supported", 1);
  const family* f = find_family(code, event);
  if (f == nullptr) return refuse(hl7v2::error_code::unsupported_event_code, "event not supported", 2);
  context ctx(msg, cfg);
  ctx.terminology = opts.terminology;
  f->map(ctx);
  if (ctx.failed()) return hearth::unexpected<hl7v2::error>(ctx.error());
  conversion out;
  out.bundle = ctx.bundle();
  if (f->finish != nullptr) f->finish(out.bundle);
  out.warnings = std::move(ctx.warnings());
  return out;
}

}  // namespace hearth::mapping
