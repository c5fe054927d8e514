#pragma once
// Writing HL7 v2: a parsed message back to bytes, and new messages from values.

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/hl7v2/encoding.hpp>
#include <hearth/hl7v2/message.hpp>

namespace hearth::hl7v2 {

/// Writes a parsed message from its segment and field index. For a
/// well-formed message the result is byte-identical to what was parsed.
std::string write(const message& msg);

/// One segment under construction. Values are set as UTF-8 text and escaped
/// when written. Not thread-safe; owned by its message_builder.
class segment_builder {
 public:
  explicit segment_builder(std::string id) : id_(std::move(id)) {}

  const std::string& id() const noexcept { return id_; }

  /// Sets field n (component 1 of repetition 1) to `text`.
  segment_builder& set(std::size_t field, std::string_view text);
  /// Sets component `component` of field n's first repetition.
  segment_builder& set(std::size_t field, std::size_t component, std::string_view text);
  /// Sets one subcomponent, anywhere (all positions 1-based).
  segment_builder& set(std::size_t field, std::size_t repetition, std::size_t component,
                       std::size_t subcomponent, std::string_view text);
  /// Sets field n to bytes already encoded with the message's delimiters
  /// (copied from another message with the same encoding); not escaped again.
  segment_builder& set_raw(std::size_t field, std::string_view encoded);

  /// Appends this segment, without terminator, to `out`.
  void write(std::string& out, const encoding& enc) const;

 private:
  // field -> repetition -> component -> subcomponent, unescaped text; or a raw value.
  struct field_value {
    std::vector<std::vector<std::vector<std::string>>> reps;
    std::string raw;
    bool is_raw = false;
  };
  field_value& slot(std::size_t field);

  std::string id_;
  std::vector<field_value> fields_;  // fields_[0] is field 1
};

/// Builds a message segment by segment. For MSH (FHS, BHS), fields 1 and 2 are
/// written from the encoding; set fields from 3 on.
class message_builder {
 public:
  explicit message_builder(encoding enc = {}) : enc_(enc) {}

  segment_builder& add(std::string id);
  const encoding& delimiters() const noexcept { return enc_; }

  /// The message, each segment ended by `terminator` (CR, 2.5.2).
  std::string str(std::string_view terminator = "\r") const;

 private:
  encoding enc_;
  std::deque<segment_builder> segments_;  // deque: add() hands out stable references
};

}  // namespace hearth::hl7v2
