#include <hearth/hl7v2/element.hpp>

#include <algorithm>

namespace hearth::hl7v2 {

const encoding element_view::default_encoding{};

std::size_t element_view::size() const noexcept {
  if (raw_.empty()) return 0;
  if (literal_ || level_ == level::subcomponent) return 1;
  return 1 + static_cast<std::size_t>(std::count(raw_.begin(), raw_.end(), separator()));
}

element_view element_view::at(std::size_t n) const noexcept {
  if (n == 0) return {};
  if (literal_ || level_ == level::subcomponent) {
    // A value that cannot be split is its own first (and only) part.
    return n == 1 ? element_view(raw_, enc_, cs_, child_depth(), literal_) : element_view{};
  }
  const char sep = separator();
  std::size_t begin = 0;
  for (std::size_t k = 1; k < n; ++k) {
    const std::size_t p = raw_.find(sep, begin);
    if (p == std::string_view::npos) return element_view({}, enc_, cs_, child_depth());
    begin = p + 1;
  }
  std::size_t end = raw_.find(sep, begin);
  if (end == std::string_view::npos) end = raw_.size();
  return element_view(raw_.substr(begin, end - begin), enc_, cs_, child_depth());
}

element_view element_view::part(std::size_t n) const noexcept {
  switch (level_) {
    case level::field: return at(1).at(n);
    case level::repetition:
    case level::component: return at(n);
    case level::subcomponent: return n == 1 ? *this : element_view{};
  }
  return {};
}

element_view element_view::repetition(std::size_t n) const noexcept {
  if (level_ == level::field) return at(n);
  return n == 1 ? *this : element_view{};
}

element_view element_view::component(std::size_t n) const noexcept {
  switch (level_) {
    case level::field: return at(1).at(n);
    case level::repetition: return at(n);
    default: return n == 1 ? *this : element_view{};
  }
}

element_view element_view::subcomponent(std::size_t n) const noexcept {
  switch (level_) {
    case level::field: return at(1).at(1).at(n);
    case level::repetition: return at(1).at(n);
    case level::component: return at(n);
    case level::subcomponent: return n == 1 ? *this : element_view{};
  }
  return {};
}

std::string element_view::text(const unescape_options& opts) const {
  if (literal_) return std::string(raw_);
  return unescape(raw_, *enc_, cs_, opts);
}

}  // namespace hearth::hl7v2
