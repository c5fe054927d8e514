#include <hearth/hl7v2/element.hpp>

namespace hearth::hl7v2 {

const encoding element_view::default_encoding{};

namespace {
level child_level(level l) noexcept {
  switch (l) {
    case level::field: return level::repetition;
    case level::repetition: return level::component;
    default: return level::subcomponent;
  }
}
}  // namespace

level element_view::child_depth() const noexcept { return child_level(level_); }

void element_view::child_range::iterator::find_end() noexcept {
  const std::string_view raw = parent_.raw_;
  if (begin_ > raw.size()) {
    end_ = begin_;
    return;
  }
  const bool unsplit = parent_.literal_ || parent_.level_ == level::subcomponent;
  const std::size_t p = unsplit ? std::string_view::npos : raw.find(parent_.separator(), begin_);
  end_ = p == std::string_view::npos ? raw.size() : p;
}

element_view element_view::child_range::iterator::operator*() const noexcept {
  return element_view(parent_.raw_.substr(begin_, end_ - begin_), parent_.enc_, parent_.cs_,
                      parent_.child_depth(), parent_.literal_);
}

char element_view::separator() const noexcept {
  switch (level_) {
    case level::field: return enc_->repetition;
    case level::repetition: return enc_->component;
    case level::component: return enc_->subcomponent;
    case level::subcomponent: return '\0';
  }
  return '\0';
}

std::size_t element_view::size() const noexcept {
  if (raw_.empty()) return 0;
  if (literal_ || level_ == level::subcomponent) return 1;
  const char sep = separator();
  std::size_t n = 1;
  for (const char c : raw_) n += (c == sep);
  return n;
}

element_view element_view::at(std::size_t n) const noexcept {
  if (n == 0) return {};
  if (literal_ || level_ == level::subcomponent) {
    // A value that cannot be split is its own first (and only) part.
    return n == 1 ? element_view(raw_, enc_, cs_, child_level(level_), literal_) : element_view{};
  }
  const char sep = separator();
  std::size_t begin = 0;
  for (std::size_t k = 1; k < n; ++k) {
    const std::size_t p = raw_.find(sep, begin);
    if (p == std::string_view::npos) return element_view({}, enc_, cs_, child_level(level_));
    begin = p + 1;
  }
  std::size_t end = raw_.find(sep, begin);
  if (end == std::string_view::npos) end = raw_.size();
  return element_view(raw_.substr(begin, end - begin), enc_, cs_, child_level(level_));
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
