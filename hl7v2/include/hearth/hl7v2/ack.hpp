#pragma once
// Building the general acknowledgment message ACK (HL7 v2.5.1 2.9 message
// processing rules, 2.14.1 ACK, 2.15.8 MSA, 2.15.5 ERR, 2.15.9 MSH).

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <hearth/hl7v2/error.hpp>
#include <hearth/hl7v2/message.hpp>

namespace hearth::hl7v2 {

/// MSA-1 acknowledgment codes (HL7 table 0008).
enum class ack_code {
  AA,  ///< original mode / enhanced application ack: application accept
  AE,  ///< original mode / enhanced application ack: application error
  AR,  ///< original mode / enhanced application ack: application reject
  CA,  ///< enhanced mode accept ack: commit accept
  CE,  ///< enhanced mode accept ack: commit error
  CR,  ///< enhanced mode accept ack: commit reject
};

/// "AA", "AE", ... as written in MSA-1.
std::string_view to_string(ack_code code) noexcept;

/// Which acknowledgment rules a message asks for (HL7 v2.5.1 2.9.2, 2.9.3).
enum class ack_mode {
  original,  ///< MSH-15 and MSH-16 both empty: one application ack, AA/AE/AR
  enhanced,  ///< MSH-15 or MSH-16 valued: accept ack CA/CE/CR, then application ack AA/AE/AR
};

/// "original", "enhanced".
std::string_view to_string(ack_mode mode) noexcept;

/// The mode `msg` asks for: enhanced when MSH-15 or MSH-16 is valued (the HL7
/// null `""` counts as empty), original otherwise (HL7 v2.5.1 2.9.2).
ack_mode mode_of(const message& msg) noexcept;

/// What became of the message being acknowledged.
enum class outcome {
  accepted,  ///< AA / CA
  error,     ///< the content is in error (e.g. 101, 102, 103, 207): AE / CE
  rejected,  ///< not processed for reasons outside its content: unsupported type,
             ///< event, processing id or version (200-203), unparsable: AR / CR
};

/// ERR-4 severity (HL7 table 0516).
enum class severity {
  error,        ///< "E": the message (or part of it) was not processed
  warning,      ///< "W": processed, with a remark the sender should look at
  information,  ///< "I": processed; for the sender's information only
};

/// "E", "W", "I".
std::string_view to_string(severity sev) noexcept;

/// One ERR segment (2.5+) or ERR-1 repetition (before 2.5). Plain value type.
struct ack_issue {
  error_code code = error_code::application_internal_error;  ///< ERR-3 (table 0357)
  std::string text;  ///< ERR-8 user message (MSA-3 before 2.5); our own text, never PHI
  position where;    ///< ERR-2 error location; message level when all zero
  severity sev = severity::error;  ///< ERR-4

  ack_issue() = default;
  ack_issue(error_code c, std::string t, position w = {},
            severity s = severity::error)
      : code(c), text(std::move(t)), where(std::move(w)), sev(s) {}
  /// An error from the parser or a validator, as an issue of severity error.
  ack_issue(const error& e)  // NOLINT: implicit by design, errors become issues
      : code(e.code), text(e.message), where(e.where), sev(severity::error) {}
};

/// How the ACK is built. Plain value type.
struct ack_options {
  /// MSH-10 of the ACK. Empty: one is generated, unique within the process
  /// (UTC time to the second + a counter started at a random value, 20
  /// characters: the ST(20) limit of MSH-10 in v2.5.1).
  std::string control_id;
  /// MSH-7 of the ACK, a DTM. Empty: now, UTC ("YYYYMMDDHHMMSS+0000").
  std::string timestamp;
  /// MSH-3 / MSH-4 of the ACK. Empty: the original MSH-5 / MSH-6 (2.14.1: the
  /// ACK goes back to the sender). Written in the default notation, "^" between
  /// components and "&" between subcomponents ("HEARTH^2.16.840.1^ISO"), and
  /// re-encoded with the ACK's delimiters.
  std::string sending_application;
  std::string sending_facility;
  /// false: the ACK the mode calls for first: in original mode the application
  /// ack (AA/AE/AR), in enhanced mode the accept ack (CA/CE/CR, sent as MSH-15
  /// says). true: the application ack (AA/AE/AR); in enhanced mode sent as
  /// MSH-16 says (2.9.3.2).
  bool application_ack = false;
  /// Most ERR segments (ERR-1 repetitions before 2.5) written; further issues
  /// are left out. A message with thousands of bad segments must not produce
  /// an ACK larger than the sender can take: the first ones are enough to act on.
  std::size_t max_issues = 100;
};

/// The ACK for a parsed message (HL7 v2.5.1 2.14.1), or nullopt when the
/// acknowledgment conditions say none is to be sent: in enhanced mode MSH-15
/// (accept ack) or MSH-16 (application ack) is NE, or ER on success, or SU on
/// error/reject (table 0155); in original mode, when the original is itself
/// an ACK (acknowledgments are not acknowledged, 2.9.2).
///
/// An empty or unknown MSH-15/MSH-16 in enhanced mode counts as AL: 2.9.3
/// gives no default, and answering a sender that does not want the answer
/// costs less than leaving one waiting that does.
///
/// The ACK uses the original's delimiters and character set; MSH-3/4 and 5/6
/// are the original's 5/6 and 3/4, MSH-11, MSH-12 and MSH-18 are copied, MSA-2
/// is the original MSH-10. Issues become one ERR segment each in the v2.5 form
/// (ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 text) when MSH-12 is 2.5
/// or later; otherwise, and when MSH-12 is empty or not a 2.x version, one ERR
/// with a repeating ERR-1 (v2.3 ELD form) and MSA-3 = the first issue's text.
/// Segments end with CR. Thread-safe.
std::optional<std::string> build_ack(const message& original, outcome status,
                                     std::span<const ack_issue> issues = {},
                                     const ack_options& opts = {});

/// A reject ACK for input that could not be parsed: AR (CR when what can be
/// read of MSH-15/16 asks for enhanced mode and opts.application_ack is false),
/// with one ERR from `why`. Always returns an ACK, whatever the input: the
/// sender's MSH cannot be trusted, so its conditions (MSH-15/16 NE...) are not
/// obeyed. When the input starts with "MSH" (after a BOM or blank lines), its
/// first line is split on the 4th character and whatever can be read is
/// carried: MSH-3..6 swapped, MSH-9 trigger, MSH-10 in MSA-2, MSH-11, MSH-12.
/// Those values are cut to 199 bytes, stripped of control characters and
/// invalid UTF-8, and escaped afresh, as the ACK uses the default delimiters
/// and UTF-8. Never fails on any input. Thread-safe.
std::string build_reject_for_unparsable(std::string_view raw, const error& why,
                                        const ack_options& opts = {});

}  // namespace hearth::hl7v2
