#pragma once
// Parsing one HL7 v2 message (HL7 v2.5.1 chapter 2, 2.5-2.6 message construction).

#include <cstddef>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/hl7v2/error.hpp>
#include <hearth/hl7v2/message.hpp>

namespace hearth::hl7v2 {

/// Limits on untrusted input. Each bounds the memory and time one message may
/// take; exceeding one is an error (code 104), never a crash or a truncation.
struct parse_options {
  /// Largest message accepted. 10 MiB, the MLLP frame limit: a lab result with
  /// an embedded PDF (ED data type) fits; a runaway sender does not.
  std::size_t max_bytes = 10u << 20;
  /// Most segments in one message. A large ORU has a few thousand OBX; more is
  /// a batch sent as one message or an attack on the index.
  std::size_t max_segments = 100'000;
  /// Most fields in one segment. No standard segment has more than ~60.
  std::size_t max_fields = 1'000;
};

/// Parses one message. The input must start with MSH. Segment terminators CR,
/// LF and CRLF are all accepted (2.5.2 specifies CR; many systems write LF),
/// and blank lines between segments are skipped; the writer reproduces them.
/// Unknown and Z segments are kept. Every byte is checked against MSH-18's
/// character set. A second MSH is an error: use split_messages() for input
/// holding several messages.
hearth::result<message, error> parse(std::string bytes, const parse_options& opts = {});

}  // namespace hearth::hl7v2
