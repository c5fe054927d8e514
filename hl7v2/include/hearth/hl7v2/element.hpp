#pragma once
// A view of one field, repetition, component or subcomponent of a message.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include <hearth/hl7v2/charset.hpp>
#include <hearth/hl7v2/encoding.hpp>
#include <hearth/hl7v2/escape.hpp>

namespace hearth::hl7v2 {

/// The level of an element in the HL7 hierarchy.
enum class level : std::uint8_t { field, repetition, component, subcomponent };

/// A read-only view of a part of a parsed message, over the message's own bytes:
/// nothing is copied until text() decodes. Positions are 1-based, as in HL7.
/// Asking past the end gives an empty element, as HL7 treats a missing
/// trailing component as empty.
///
/// Lifetime: points into the message's buffer and encoding, which stay in place
/// while the message (or any copy of it) is alive, even when it is moved.
/// Cheap to copy; thread-safe for concurrent reads.
class element_view {
 public:
  element_view() = default;
  element_view(std::string_view raw, const encoding* enc, charset cs, level lvl,
               bool literal = false) noexcept
      : raw_(raw), enc_(enc), cs_(cs), level_(lvl), literal_(literal) {}

  /// The bytes as sent (escaped, in the message's character set).
  std::string_view raw() const noexcept { return raw_; }
  level depth() const noexcept { return level_; }
  bool empty() const noexcept { return raw_.empty(); }
  /// The HL7 explicit null `""` (2.5.3: "delete the value").
  bool is_null() const noexcept { return raw_ == "\"\""; }

  /// Number of repetitions of a field, components of a repetition, or
  /// subcomponents of a component; 0 when empty, 1 for a subcomponent.
  std::size_t size() const noexcept;

  /// The nth child (1-based): a field's repetition, a repetition's component,
  /// a component's subcomponent. Past the end: an empty element. O(n): to visit
  /// every child, iterate children() instead.
  element_view at(std::size_t n) const noexcept;

  class child_range;
  /// Every child in order, split in one pass: as many as size() (an empty
  /// element has one empty child, as "" split on a separator gives [""]).
  child_range children() const noexcept;

  /// The nth part one level down in the data type's structure: for a field,
  /// component n of its first repetition; for a repetition, component n; for a
  /// component, subcomponent n; for a subcomponent, itself when n is 1. This is
  /// how a composite (CX, XPN, HD...) is read whether it stands as a field or as
  /// a component of another type.
  element_view part(std::size_t n) const noexcept;

  /// Repetition n of a field (1-based).
  element_view repetition(std::size_t n) const noexcept;
  /// Component n of the first repetition of a field, or of a repetition.
  element_view component(std::size_t n) const noexcept;
  /// Subcomponent n of a component.
  element_view subcomponent(std::size_t n) const noexcept;

  /// The value decoded to UTF-8: escape sequences resolved, character set
  /// converted. Unescaped delimiters inside the view are kept as they are.
  std::string text(const unescape_options& opts = {}) const;

  const encoding& delimiters() const noexcept { return *enc_; }
  charset character_set() const noexcept { return cs_; }
  /// MSH-1 and MSH-2 (and FHS/BHS-1/2): shown as written, never split.
  bool literal() const noexcept { return literal_; }

 private:
  friend class child_range;
  char separator() const noexcept {
    switch (level_) {
      case level::field: return enc_->repetition;
      case level::repetition: return enc_->component;
      case level::component: return enc_->subcomponent;
      case level::subcomponent: break;
    }
    return '\0';
  }
  level child_depth() const noexcept {
    return level_ == level::field ? level::repetition
                                  : level_ == level::repetition ? level::component : level::subcomponent;
  }

  std::string_view raw_;
  const encoding* enc_ = &default_encoding;
  charset cs_ = charset::utf8;
  level level_ = level::field;
  bool literal_ = false;

  static const encoding default_encoding;
};

/// The children of an element, found one separator at a time. Iterators hold
/// their own copy of what they need, so they outlive a temporary range.
class element_view::child_range {
 public:
  class iterator {
   public:
    using value_type = element_view;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(const element_view& parent) noexcept
        : begin_(parent.raw_.data()),
          last_(parent.raw_.data() + parent.raw_.size()),
          enc_(parent.enc_),
          cs_(parent.cs_),
          child_(parent.child_depth()),
          literal_(parent.literal_),
          sep_(parent.literal_ || parent.level_ == level::subcomponent ? '\0' : parent.separator()) {
      find_end();
    }
    element_view operator*() const noexcept {
      return element_view(std::string_view(begin_, static_cast<std::size_t>(end_ - begin_)), enc_, cs_, child_,
                          literal_);
    }
    iterator& operator++() noexcept {
      if (end_ == last_) {
        done_ = true;
      } else {
        begin_ = end_ + 1;
        find_end();
      }
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator t = *this;
      ++*this;
      return t;
    }
    bool operator==(std::default_sentinel_t) const noexcept { return done_; }

   private:
    void find_end() noexcept {
      end_ = begin_;
      if (sep_ == '\0') {
        end_ = last_;
        return;
      }
      while (end_ != last_ && *end_ != sep_) ++end_;
    }
    const char* begin_ = nullptr;
    const char* end_ = nullptr;
    const char* last_ = nullptr;
    const encoding* enc_ = nullptr;
    charset cs_ = charset::utf8;
    level child_ = level::subcomponent;
    bool literal_ = false;
    char sep_ = '\0';
    bool done_ = false;
  };

  explicit child_range(const element_view& parent) noexcept : parent_(parent) {}
  iterator begin() const noexcept { return iterator(parent_); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  element_view parent_;
};

inline element_view::child_range element_view::children() const noexcept { return child_range(*this); }

}  // namespace hearth::hl7v2
