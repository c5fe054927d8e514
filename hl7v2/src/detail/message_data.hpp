#pragma once
// The index of a parsed message: where every segment and field is, as offsets
// into the owned bytes. Private to hl7v2.

#include <cstdint>
#include <string>
#include <vector>

#include <hearth/hl7v2/charset.hpp>
#include <hearth/hl7v2/encoding.hpp>

namespace hearth::hl7v2::detail {

/// Offsets are 32-bit: parse_options caps a message far below 4 GiB, and half
/// the index size is measurably faster to build.
struct span32 {
  std::uint32_t begin;
  std::uint32_t end;
};

struct segment_record {
  std::uint32_t begin;        ///< first byte of the segment id
  std::uint32_t end;          ///< one past the last byte before the terminator
  std::uint32_t first_field;  ///< index in message_data::fields of field 0 (the id)
  std::uint32_t field_count;  ///< fields in the index, field 0 included
  std::uint32_t next_begin;   ///< where the next segment starts (end of terminator bytes)
  bool header;                ///< MSH/FHS/BHS: field 1 is the separator itself
};

/// Immutable after parsing; shared by every copy of a message.
struct message_data {
  std::string bytes;
  encoding enc;
  hearth::hl7v2::charset cs = hearth::hl7v2::charset::utf8;
  std::vector<segment_record> segments;
  std::vector<span32> fields;
};

/// True for MSH and the batch headers, whose field 1 is the field separator.
inline bool is_header_id(const char* id) noexcept {
  return (id[0] == 'M' && id[1] == 'S' && id[2] == 'H') ||
         (id[0] == 'F' && id[1] == 'H' && id[2] == 'S') ||
         (id[0] == 'B' && id[1] == 'H' && id[2] == 'S');
}

}  // namespace hearth::hl7v2::detail
