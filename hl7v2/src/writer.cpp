#include <hearth/hl7v2/writer.hpp>

#include <hearth/hl7v2/escape.hpp>

#include "detail/message_data.hpp"

namespace hearth::hl7v2 {

std::string write(const message& msg) {
  std::string out;
  out.reserve(msg.raw().size());
  const char fs = msg.delimiters().field;
  for (const segment_view seg : msg) {
    out.append(seg.id());
    const std::size_t count = seg.field_count();
    // For MSH, field 1 is the separator written before field 2 (2.15.9.1).
    const bool header = seg.field(1).literal();
    for (std::size_t n = header ? 2 : 1; n <= count; ++n) {
      out.push_back(fs);
      out.append(seg.field(n).raw());
    }
    out.append(seg.terminator());
  }
  return out;
}

// ---- segment_builder --------------------------------------------------------

segment_builder::field_value& segment_builder::slot(std::size_t field) {
  if (fields_.size() < field) fields_.resize(field);
  return fields_[field - 1];
}

segment_builder& segment_builder::set(std::size_t field, std::string_view text) {
  return set(field, 1, 1, 1, text);
}

segment_builder& segment_builder::set(std::size_t field, std::size_t component, std::string_view text) {
  return set(field, 1, component, 1, text);
}

segment_builder& segment_builder::set(std::size_t field, std::size_t repetition, std::size_t component,
                                      std::size_t subcomponent, std::string_view text) {
  if (field == 0 || repetition == 0 || component == 0 || subcomponent == 0) return *this;
  field_value& f = slot(field);
  f.is_raw = false;
  f.raw.clear();
  if (f.reps.size() < repetition) f.reps.resize(repetition);
  auto& comps = f.reps[repetition - 1];
  if (comps.size() < component) comps.resize(component);
  auto& subs = comps[component - 1];
  if (subs.size() < subcomponent) subs.resize(subcomponent);
  subs[subcomponent - 1] = std::string(text);
  return *this;
}

segment_builder& segment_builder::set_raw(std::size_t field, std::string_view encoded) {
  if (field == 0) return *this;
  field_value& f = slot(field);
  f.reps.clear();
  f.raw = std::string(encoded);
  f.is_raw = true;
  return *this;
}

void segment_builder::write(std::string& out, const encoding& enc) const {
  out.append(id_);
  const bool header = id_ == "MSH" || id_ == "FHS" || id_ == "BHS";
  // Trailing empty fields are not written (2.5.3: "fields not present ... may
  // be omitted at the end of a segment").
  std::size_t last = fields_.size();
  while (last > 0 && !fields_[last - 1].is_raw && fields_[last - 1].reps.empty()) --last;
  if (header) {
    out.push_back(enc.field);
    out.append(enc.msh2());
  }
  for (std::size_t n = header ? 3 : 1; n <= last; ++n) {
    out.push_back(enc.field);
    const field_value& f = fields_[n - 1];
    if (f.is_raw) {
      out.append(f.raw);
      continue;
    }
    for (std::size_t r = 0; r < f.reps.size(); ++r) {
      if (r > 0) out.push_back(enc.repetition);
      for (std::size_t c = 0; c < f.reps[r].size(); ++c) {
        if (c > 0) out.push_back(enc.component);
        for (std::size_t s = 0; s < f.reps[r][c].size(); ++s) {
          if (s > 0) out.push_back(enc.subcomponent);
          escape_append(out, f.reps[r][c][s], enc);
        }
      }
    }
  }
}

// ---- message_builder --------------------------------------------------------

segment_builder& message_builder::add(std::string id) { return segments_.emplace_back(std::move(id)); }

std::string message_builder::str(std::string_view terminator) const {
  std::string out;
  for (const auto& s : segments_) {
    s.write(out, enc_);
    out.append(terminator);
  }
  return out;
}

}  // namespace hearth::hl7v2
