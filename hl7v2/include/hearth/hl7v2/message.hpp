#pragma once
// hearth::hl7v2::message — a parsed HL7 v2 message, as views over its bytes.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/hl7v2/charset.hpp>
#include <hearth/hl7v2/element.hpp>
#include <hearth/hl7v2/encoding.hpp>
#include <hearth/hl7v2/error.hpp>

namespace hearth::hl7v2 {

class message;

namespace detail {
struct message_data;
}

/// One segment of a message. Fields are numbered as in HL7: field 0 is the
/// segment id; for MSH (and the batch headers FHS/BHS) field 1 is the field
/// separator itself and field 2 the encoding characters (2.15.9.1-2).
/// Lifetime and thread-safety: as element_view.
class segment_view {
 public:
  segment_view(const detail::message_data* data, std::uint32_t index) noexcept
      : data_(data), index_(index) {}

  /// "PID", "ZPI", ...
  std::string_view id() const noexcept;
  /// 1-based position of the segment in its message.
  std::size_t index() const noexcept { return index_ + 1; }
  /// The highest field number present (trailing empty fields that were sent
  /// count: "PID|1||" has 3).
  std::size_t field_count() const noexcept;
  /// Field n (n >= 1); past the end: an empty field.
  element_view field(std::size_t n) const noexcept;
  /// The segment's bytes, without its terminator.
  std::string_view raw() const noexcept;
  /// The bytes after the segment up to the next one: "\r", "\n", "\r\n", ...
  /// (empty for a last segment sent without terminator).
  std::string_view terminator() const noexcept;

 private:
  const detail::message_data* data_;
  std::uint32_t index_;
};

/// A terse location in a message: "PID-5", "PID-5.1", "OBX[2]-5", "PID-3(2).4.1".
/// Segment occurrence [k] and repetition (r) are 1-based and default to 1.
struct path {
  std::string segment;
  std::size_t occurrence = 1;
  std::size_t field = 0;
  std::size_t repetition = 1;
  std::size_t component = 0;     ///< 0: the whole repetition
  std::size_t subcomponent = 0;  ///< 0: the whole component

  /// Parses the notation above; error code "102" for anything else.
  static hearth::result<path> parse(std::string_view text);
};

/// A parsed message. Owns its bytes (as received: never altered) and an index
/// of where every segment and field is; components and subcomponents are split
/// on demand. Immutable once parsed: copies share the same data, so copying is
/// cheap, views stay valid while any copy lives, and concurrent reads are safe.
class message {
 public:
  /// The bytes as received.
  std::string_view raw() const noexcept;
  const encoding& delimiters() const noexcept;
  /// The character set of MSH-18 (UTF-8 when absent).
  hearth::hl7v2::charset character_set() const noexcept;

  std::size_t segment_count() const noexcept;
  /// Segment n (1-based, 1 <= n <= segment_count()).
  segment_view segment(std::size_t n) const noexcept;
  /// The kth segment with this id (1-based), if there is one.
  std::optional<segment_view> find(std::string_view id, std::size_t occurrence = 1) const noexcept;
  /// MSH, always the first segment of a parsed message.
  segment_view header() const noexcept { return segment(1); }

  /// The element at `p`, or an empty element when the message has no such segment.
  element_view get(const path& p) const noexcept;
  /// get() by terse notation, decoded. Empty when the path is malformed or absent.
  std::string text(std::string_view path_text) const;

  // Frequently used MSH fields, decoded (HL7 v2.5.1 2.15.9).
  std::string message_code() const { return text("MSH-9.1"); }     ///< "ADT"
  std::string trigger_event() const { return text("MSH-9.2"); }    ///< "A01"
  std::string control_id() const { return text("MSH-10"); }        ///< MSH-10
  std::string version() const { return text("MSH-12.1"); }         ///< "2.5.1"

  class iterator;
  iterator begin() const noexcept;
  iterator end() const noexcept;

 private:
  friend class parser_access;
  explicit message(std::shared_ptr<const detail::message_data> data) noexcept
      : data_(std::move(data)) {}
  std::shared_ptr<const detail::message_data> data_;
};

/// Iterates over a message's segments in order.
class message::iterator {
 public:
  using value_type = segment_view;
  using difference_type = std::ptrdiff_t;
  iterator() = default;
  iterator(const detail::message_data* d, std::uint32_t i) noexcept : data_(d), i_(i) {}
  segment_view operator*() const noexcept { return {data_, i_}; }
  iterator& operator++() noexcept { ++i_; return *this; }
  iterator operator++(int) noexcept { auto t = *this; ++i_; return t; }
  bool operator==(const iterator& o) const noexcept { return i_ == o.i_; }

 private:
  const detail::message_data* data_ = nullptr;
  std::uint32_t i_ = 0;
};

}  // namespace hearth::hl7v2
