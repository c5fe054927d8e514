#include <hearth/hl7v2/message.hpp>

#include "detail/message_data.hpp"

namespace hearth::hl7v2 {

// ---- segment_view -----------------------------------------------------------

std::string_view segment_view::id() const noexcept {
  const auto& s = data_->segments[index_];
  const auto& f = data_->fields[s.first_field];
  return std::string_view(data_->bytes).substr(f.begin, f.end - f.begin);
}

std::size_t segment_view::field_count() const noexcept {
  return data_->segments[index_].field_count - 1;
}

element_view segment_view::field(std::size_t n) const noexcept {
  const auto& s = data_->segments[index_];
  if (n == 0 || n >= s.field_count) return element_view({}, &data_->enc, data_->cs, level::field);
  const auto& f = data_->fields[s.first_field + n];
  const std::string_view raw = std::string_view(data_->bytes).substr(f.begin, f.end - f.begin);
  // MSH-1 and MSH-2 (FHS, BHS likewise) are the delimiters themselves.
  const bool literal = s.header && n <= 2;
  return element_view(raw, &data_->enc, data_->cs, level::field, literal);
}

std::string_view segment_view::raw() const noexcept {
  const auto& s = data_->segments[index_];
  return std::string_view(data_->bytes).substr(s.begin, s.end - s.begin);
}

std::string_view segment_view::terminator() const noexcept {
  const auto& s = data_->segments[index_];
  return std::string_view(data_->bytes).substr(s.end, s.next_begin - s.end);
}

// ---- path -------------------------------------------------------------------

namespace {
bool read_number(std::string_view& s, std::size_t& out) noexcept {
  std::size_t n = 0, digits = 0;
  while (!s.empty() && s.front() >= '0' && s.front() <= '9' && digits < 6) {
    n = n * 10 + static_cast<std::size_t>(s.front() - '0');
    s.remove_prefix(1);
    ++digits;
  }
  if (digits == 0 || n == 0) return false;
  out = n;
  return true;
}

bool eat(std::string_view& s, char c) noexcept {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}
}  // namespace

hearth::result<path> path::parse(std::string_view text) {
  const auto fail = [] {
    return hearth::unexpected(hearth::error{"102", "malformed HL7 path (expected e.g. PID-5.1)", ""});
  };
  path p;
  std::string_view s = text;
  if (s.size() < 3) return fail();
  for (int i = 0; i < 3; ++i) {
    const char c = s[static_cast<std::size_t>(i)];
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return fail();
  }
  p.segment = std::string(s.substr(0, 3));
  s.remove_prefix(3);
  if (eat(s, '[')) {
    if (!read_number(s, p.occurrence) || !eat(s, ']')) return fail();
  }
  if (!eat(s, '-') || !read_number(s, p.field)) return fail();
  if (eat(s, '(')) {
    if (!read_number(s, p.repetition) || !eat(s, ')')) return fail();
  }
  if (eat(s, '.')) {
    if (!read_number(s, p.component)) return fail();
    if (eat(s, '.') && !read_number(s, p.subcomponent)) return fail();
  }
  if (!s.empty()) return fail();
  return p;
}

// ---- message ----------------------------------------------------------------

std::string_view message::raw() const noexcept { return data_->bytes; }
const encoding& message::delimiters() const noexcept { return data_->enc; }
charset message::character_set() const noexcept { return data_->cs; }
std::size_t message::segment_count() const noexcept { return data_->segments.size(); }

segment_view message::segment(std::size_t n) const noexcept {
  return segment_view(data_.get(), static_cast<std::uint32_t>(n - 1));
}

std::optional<segment_view> message::find(std::string_view id, std::size_t occurrence) const noexcept {
  std::size_t seen = 0;
  for (std::uint32_t i = 0; i < data_->segments.size(); ++i) {
    segment_view s(data_.get(), i);
    if (s.id() == id && ++seen == occurrence) return s;
  }
  return std::nullopt;
}

element_view message::get(const path& p) const noexcept {
  const auto seg = find(p.segment, p.occurrence);
  if (!seg) return element_view({}, &data_->enc, data_->cs, level::field);
  element_view e = seg->field(p.field);
  if (e.literal()) return e;
  e = e.repetition(p.repetition);
  if (p.component == 0) return e;
  e = e.at(p.component);
  if (p.subcomponent == 0) return e;
  return e.at(p.subcomponent);
}

std::string message::text(std::string_view path_text) const {
  const auto p = path::parse(path_text);
  if (!p) return {};
  return get(*p).text();
}

message::iterator message::begin() const noexcept { return {data_.get(), 0}; }
message::iterator message::end() const noexcept {
  return {data_.get(), static_cast<std::uint32_t>(data_->segments.size())};
}

}  // namespace hearth::hl7v2
