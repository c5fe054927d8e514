#pragma once
// HL7 v2 date and time values: DT, DTM, TS and TM (HL7 v2.5.1 2.A.21, 2.A.22,
// 2.A.77, 2.A.75), parsed without losing what was sent: the precision, the
// fraction digits and the UTC offset are kept exactly, so that a FHIR date or
// dateTime can say as much as the sender said and no more.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/hl7v2/element.hpp>
#include <hearth/hl7v2/error.hpp>

namespace hearth::hl7v2 {

/// How much of a date/time was sent: the last part present.
enum class time_precision : std::uint8_t {
  year,      ///< YYYY
  month,     ///< YYYYMM
  day,       ///< YYYYMMDD
  hour,      ///< ...HH
  minute,    ///< ...HHMM
  second,    ///< ...HHMMSS
  fraction,  ///< ...HHMMSS.S to ...HHMMSS.SSSS
};

/// "year", "month", ... "fraction".
std::string_view to_string(time_precision p) noexcept;

/// A UTC offset as sent: +/-ZZZZ (HL7 v2.5.1 2.A.22). Plain value type.
struct utc_offset {
  char sign = '\0';           ///< '+' or '-'; '\0' when no offset was sent
  std::uint8_t hours = 0;     ///< 0-14
  std::uint8_t minutes = 0;   ///< 0-59

  bool present() const noexcept { return sign != '\0'; }
  /// The offset east of UTC in minutes (negative west); 0 when absent.
  int total_minutes() const noexcept;
  /// "+01:00", "-05:00", "Z" for +0000 (RFC 3339 reads -00:00 as "offset
  /// unknown", so -0000 stays "-00:00"); empty when absent.
  std::string iso8601() const;
};

/// A DTM (or DT) value. Parts beyond `precision` are 0 / empty. Plain value
/// type; a value returned by a parser is always a valid calendar date and time.
struct date_time {
  std::uint16_t year = 0;    ///< 1-9999
  std::uint8_t month = 0;    ///< 1-12; 0 below month precision
  std::uint8_t day = 0;      ///< 1-31, valid for the month; 0 below day precision
  std::uint8_t hour = 0;     ///< 0-23
  std::uint8_t minute = 0;   ///< 0-59
  std::uint8_t second = 0;   ///< 0-60 (60: a leap second)
  std::string fraction;      ///< the 1-4 digits after the point, exactly as sent
  time_precision precision = time_precision::year;
  utc_offset offset;         ///< as sent, or absent

  /// ISO 8601 with only what was sent: "2024", "2024-03", "2024-03-05",
  /// "2024-03-05T14", "2024-03-05T14:30", "2024-03-05T14:30:15.1234", then the
  /// offset when one was sent ("+01:00", "Z"). Note that FHIR dateTime wants
  /// seconds whenever a time is given: adapting hour/minute precision is the
  /// mapping's choice, not this renderer's.
  std::string iso8601() const;
};

/// A TM value: HH[MM[SS[.S[S[S[S]]]]]][+/-ZZZZ] (HL7 v2.5.1 2.A.75).
/// Plain value type.
struct time_of_day {
  std::uint8_t hour = 0;     ///< 0-23
  std::uint8_t minute = 0;   ///< 0-59
  std::uint8_t second = 0;   ///< 0-60
  std::string fraction;      ///< 1-4 digits as sent
  time_precision precision = time_precision::hour;  ///< hour..fraction
  utc_offset offset;

  /// "14", "14:30", "14:30:15", "14:30:15.12", then the offset if sent.
  std::string iso8601() const;
};

/// A TS value (HL7 v2.5.1 2.A.77): a DTM plus the degree of precision of
/// component 2, which is retained for backward compatibility only since v2.3
/// (table 0529): kept as sent, never used; DTM's own precision governs.
struct timestamp {
  date_time time;                   ///< TS.1
  std::string degree_of_precision;  ///< TS.2, deprecated
};

// Parsers of text. Each returns an error with code data_type_error (102) for
// anything but the exact format, including the empty string; the message says
// what is wrong without quoting the value (it may be PHI). A value is bounded
// by the message size limit (parse_options::max_bytes), so no limit here.

/// DT: YYYY[MM[DD]] (HL7 v2.5.1 2.A.21).
hearth::result<date_time, error> parse_dt(std::string_view text);
/// DTM: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ] (HL7 v2.5.1 2.A.22).
hearth::result<date_time, error> parse_dtm(std::string_view text);
/// TM: HH[MM[SS[.S[S[S[S]]]]]][+/-ZZZZ] (HL7 v2.5.1 2.A.75).
hearth::result<time_of_day, error> parse_tm(std::string_view text);

// Readers of elements: the first primitive of the element, decoded, then
// parsed as above. An empty (or "" null) element is an error too: test
// empty() first when the value is optional.

hearth::result<date_time, error> read_dt(const element_view& e);
hearth::result<date_time, error> read_dtm(const element_view& e);
hearth::result<time_of_day, error> read_tm(const element_view& e);
/// TS (HL7 v2.5.1 2.A.77): part 1 is the DTM, part 2 the degree of precision.
/// Works on a TS field and on a TS component (as TQ-4): errors name the part.
hearth::result<timestamp, error> read_ts(const element_view& e);

}  // namespace hearth::hl7v2
