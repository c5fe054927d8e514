#include <hearth/hl7v2/error.hpp>

namespace hearth::hl7v2 {

std::string_view to_string(error_code code) noexcept {
  // HL7 table 0357 display names.
  switch (code) {
    case error_code::message_accepted: return "Message accepted";
    case error_code::segment_sequence_error: return "Segment sequence error";
    case error_code::required_field_missing: return "Required field missing";
    case error_code::data_type_error: return "Data type error";
    case error_code::table_value_not_found: return "Table value not found";
    case error_code::value_too_long: return "Value too long";
    case error_code::unsupported_message_type: return "Unsupported message type";
    case error_code::unsupported_event_code: return "Unsupported event code";
    case error_code::unsupported_processing_id: return "Unsupported processing id";
    case error_code::unsupported_version_id: return "Unsupported version id";
    case error_code::unknown_key_identifier: return "Unknown key identifier";
    case error_code::duplicate_key_identifier: return "Duplicate key identifier";
    case error_code::application_record_locked: return "Application record locked";
    case error_code::application_internal_error: return "Application internal error";
  }
  return "Unknown error";
}

std::string position::to_string() const {
  if (segment_id.empty()) {
    return segment_index == 0 ? std::string("message") : "segment " + std::to_string(segment_index);
  }
  std::string s = segment_id;
  if (field == 0) return s;
  s += '-';
  s += std::to_string(field);
  if (repetition > 1) s += '(' + std::to_string(repetition) + ')';
  if (component > 0) {
    s += '.';
    s += std::to_string(component);
    if (subcomponent > 0) {
      s += '.';
      s += std::to_string(subcomponent);
    }
  }
  return s;
}

hearth::error error::to_core() const {
  return hearth::error{std::to_string(static_cast<int>(code)), message, where.to_string(), where.offset};
}

}  // namespace hearth::hl7v2
