#pragma once
// Errors of the HL7 v2 library: a table 0357 code, a message and a position.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <hearth/core/error.hpp>

namespace hearth::hl7v2 {

/// HL7 table 0357, Message Error Condition Codes (HL7 v2.5.1 2.15.5.3 ERR-3).
enum class error_code : std::uint16_t {
  message_accepted = 0,
  segment_sequence_error = 100,
  required_field_missing = 101,
  data_type_error = 102,
  table_value_not_found = 103,
  value_too_long = 104,  ///< added in v2.6; used for our size limits
  unsupported_message_type = 200,
  unsupported_event_code = 201,
  unsupported_processing_id = 202,
  unsupported_version_id = 203,
  unknown_key_identifier = 204,
  duplicate_key_identifier = 205,
  application_record_locked = 206,
  application_internal_error = 207,
};

/// The table 0357 display text ("Data type error").
std::string_view to_string(error_code code) noexcept;

/// Where in a message something is. Every number is 1-based as in HL7
/// (PID-5.1); 0 means "not applicable" (the error is about the whole segment,
/// field, ...). Mirrors the ERL data type of ERR-2 (HL7 v2.5.1 2.A.28).
struct position {
  std::size_t segment_index = 0;  ///< nth segment of the message; 0 = message level
  std::string segment_id;         ///< "PID"; empty when unknown
  std::size_t field = 0;
  std::size_t repetition = 0;
  std::size_t component = 0;
  std::size_t subcomponent = 0;
  std::size_t offset = hearth::error::npos;  ///< byte offset in the raw input, when known

  /// HL7 terse notation: "PID-5", "PID-5(2).1.3"; "segment 4" when the id is
  /// unknown; "message" when nothing is known.
  std::string to_string() const;
};

/// An HL7 v2 error: what the ACK's ERR segment needs.
struct error {
  error_code code = error_code::application_internal_error;
  std::string message;  ///< for people; never holds message content (PHI)
  position where;

  /// As the project-wide error type (code as its table 0357 number).
  hearth::error to_core() const;
};

}  // namespace hearth::hl7v2
