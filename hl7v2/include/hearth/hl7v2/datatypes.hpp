#pragma once
// Typed readers for the HL7 v2 data types the v2-to-FHIR mapping reads
// (HL7 v2.5.1 chapter 2A). Each composite reader takes an element_view and
// returns a plain struct of decoded UTF-8 strings, empty when absent.
//
// A reader reads its parts with element_view::part(), so it works on the type
// standing as a field (parts are components) and as a component of another
// type (parts are subcomponents): read_hd(cx_field.part(4)) reads CX-4's HD.
// A primitive part is its first subcomponent: extra subcomponents sent in a
// primitive are ignored (HL7 v2.5.1 2.6.2 a, rules for the recipient).
// A repeating field is read one repetition at a time: pass e.repetition(n).
//
// Readers that validate (NM, SN, TQ) return hearth::result with code
// data_type_error (102); the others cannot fail. Everything here is a plain
// value type with no thread-safety concerns; the readers are pure functions.

#include <optional>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/hl7v2/datetime.hpp>
#include <hearth/hl7v2/element.hpp>
#include <hearth/hl7v2/error.hpp>

namespace hearth::hl7v2 {

// ---------------------------------------------------------------- text types

/// ST (HL7 v2.5.1 2.A.74): the first primitive of `e`, decoded.
std::string read_st(const element_view& e);
/// TX (HL7 v2.5.1 2.A.78): as ST, leading and trailing whitespace kept
/// (leading spaces "may contribute greatly to the clarity of the presentation").
std::string read_tx(const element_view& e);
/// FT (HL7 v2.5.1 2.A.31): formatting escapes become plain text: \.br\ a line
/// break, \.sp n\ n line breaks, \.sk n\ n spaces; the others are dropped.
std::string read_ft(const element_view& e);

// ------------------------------------------------------------------- numbers

/// An NM value (HL7 v2.5.1 2.A.47) with its digits exactly as sent: FHIR
/// decimal keeps precision, so "7.50" must not become "7.5". Plain value type.
struct decimal {
  std::string text;  ///< as sent: [+|-]digits[.digits], at least one digit

  /// The same number in FHIR decimal form (FHIR R4 datatypes.html#decimal):
  /// no "+", no superfluous leading zeros, a zero before a leading point, no
  /// trailing point; trailing zeros kept. "+5" -> "5", ".5" -> "0.5",
  /// "5." -> "5", "007.50" -> "7.50", "-0.0" -> "-0.0".
  std::string fhir() const;
  bool negative() const noexcept { return !text.empty() && text.front() == '-'; }
};

/// NM: an optional leading + or -, digits, an optional decimal point, at
/// least one digit. No exponent, no spaces, no thousands separators.
hearth::result<decimal, error> parse_nm(std::string_view text);
/// NM read from the first primitive of `e`. An empty element is an error.
hearth::result<decimal, error> read_nm(const element_view& e);

/// SN, structured numeric (HL7 v2.5.1 2.A.70): ">100", "10-20", "1:128", "2+".
struct sn {
  std::string comparator;         ///< SN.1: "", ">", "<", ">=", "<=", "=", "<>"
  std::optional<decimal> num1;    ///< SN.2
  std::string separator_suffix;   ///< SN.3: "", "-", "+", "/", ".", ":"
  std::optional<decimal> num2;    ///< SN.4; only with a separator
};

/// Checks the comparator and separator against 2.A.70's lists, the numbers
/// as NM, and that SN.4 comes with SN.3. An empty element is an error.
hearth::result<sn, error> read_sn(const element_view& e);

// ------------------------------------------------------- identifiers, codes

/// HD, hierarchic designator (HL7 v2.5.1 2.A.33).
struct hd {
  std::string namespace_id;       ///< HD.1 (IS)
  std::string universal_id;       ///< HD.2, e.g. an OID
  std::string universal_id_type;  ///< HD.3 (ID, table 0301: "ISO", "DNS", ...)
};
hd read_hd(const element_view& e);

/// EI, entity identifier (HL7 v2.5.1 2.A.25): an id and the HD that issued it,
/// flattened as in the standard.
struct ei {
  std::string entity_identifier;  ///< EI.1
  std::string namespace_id;       ///< EI.2 (IS)
  std::string universal_id;       ///< EI.3
  std::string universal_id_type;  ///< EI.4 (ID, table 0301)
};
ei read_ei(const element_view& e);

/// CE, CNE and CWE (HL7 v2.5.1 2.A.6, 2.A.8, 2.A.13) share one layout; CE has
/// only the first six components.
struct coded {
  std::string identifier;                          ///< 1
  std::string text;                                ///< 2
  std::string coding_system;                       ///< 3 (ID, table 0396)
  std::string alternate_identifier;                ///< 4
  std::string alternate_text;                      ///< 5
  std::string alternate_coding_system;             ///< 6 (ID, table 0396)
  std::string coding_system_version;               ///< 7 (CWE/CNE only)
  std::string alternate_coding_system_version;     ///< 8 (CWE/CNE only)
  std::string original_text;                       ///< 9 (CWE/CNE only)

  /// True when no component was sent.
  bool empty() const noexcept;
};
/// CE (2.A.6): components 1-6; 7-9 stay empty whatever was sent.
coded read_ce(const element_view& e);
/// CNE (2.A.8): components 1-9.
coded read_cne(const element_view& e);
/// CWE (2.A.13): components 1-9.
coded read_cwe(const element_view& e);

/// CX, extended composite ID with check digit (HL7 v2.5.1 2.A.14): PID-3.
struct cx {
  std::string id_number;                ///< CX.1
  std::string check_digit;              ///< CX.2
  std::string check_digit_scheme;       ///< CX.3 (ID, table 0061)
  hd assigning_authority;               ///< CX.4
  std::string identifier_type_code;     ///< CX.5 (ID, table 0203: "MR", ...)
  hd assigning_facility;                ///< CX.6
  std::string effective_date;           ///< CX.7 (DT, as sent: see parse_dt)
  std::string expiration_date;          ///< CX.8 (DT, as sent)
  coded assigning_jurisdiction;         ///< CX.9 (CWE)
  coded assigning_agency_or_department; ///< CX.10 (CWE)
};
cx read_cx(const element_view& e);

// ------------------------------------------------------------ people, places

/// FN, family name (HL7 v2.5.1 2.A.30).
struct fn {
  std::string surname;                          ///< FN.1
  std::string own_surname_prefix;               ///< FN.2 ("van")
  std::string own_surname;                      ///< FN.3
  std::string surname_prefix_from_partner;      ///< FN.4
  std::string surname_from_partner;             ///< FN.5
};
fn read_fn(const element_view& e);

/// DR, date/time range (HL7 v2.5.1 2.A.20), as sent. Inside XPN/XAD/XCN it is
/// deprecated and its TS parts can only be read to their first part (DTM).
struct dr {
  std::string range_start;  ///< DR.1 (TS: its DTM, as sent)
  std::string range_end;    ///< DR.2 (TS: its DTM, as sent)
};
dr read_dr(const element_view& e);

/// XPN, extended person name (HL7 v2.5.1 2.A.88): PID-5. v2.5.1 has 14
/// components (later versions add XPN.15 "Called By").
struct xpn {
  fn family_name;                          ///< XPN.1
  std::string given_name;                  ///< XPN.2
  std::string further_given_names;         ///< XPN.3, second and further given names or initials
  std::string suffix;                      ///< XPN.4 ("Jr", "III")
  std::string prefix;                      ///< XPN.5 ("Dr")
  std::string degree;                      ///< XPN.6 (IS, deprecated: use XPN.14)
  std::string name_type_code;              ///< XPN.7 (ID, table 0200: "L", ...)
  std::string name_representation_code;    ///< XPN.8 (ID, table 4000)
  coded name_context;                      ///< XPN.9 (CE)
  dr name_validity_range;                  ///< XPN.10 (deprecated: use 12, 13)
  std::string name_assembly_order;         ///< XPN.11 (ID, table 0444)
  std::string effective_date;              ///< XPN.12 (TS: its DTM, as sent)
  std::string expiration_date;             ///< XPN.13 (TS: its DTM, as sent)
  std::string professional_suffix;         ///< XPN.14 ("MD")
};
xpn read_xpn(const element_view& e);

/// SAD, street address (HL7 v2.5.1 2.A.67).
struct sad {
  std::string street_or_mailing_address;  ///< SAD.1
  std::string street_name;                ///< SAD.2
  std::string dwelling_number;            ///< SAD.3
};
sad read_sad(const element_view& e);

/// XAD, extended address (HL7 v2.5.1 2.A.85): PID-11.
struct xad {
  sad street_address;                      ///< XAD.1
  std::string other_designation;           ///< XAD.2 ("Apt 4")
  std::string city;                        ///< XAD.3
  std::string state_or_province;           ///< XAD.4
  std::string zip_or_postal_code;          ///< XAD.5
  std::string country;                     ///< XAD.6 (ID, ISO 3166)
  std::string address_type;                ///< XAD.7 (ID, table 0190: "H", ...)
  std::string other_geographic_designation;///< XAD.8
  std::string county_parish_code;          ///< XAD.9 (IS, table 0289)
  std::string census_tract;                ///< XAD.10 (IS, table 0288)
  std::string address_representation_code; ///< XAD.11 (ID, table 4000)
  dr address_validity_range;               ///< XAD.12 (deprecated: use 13, 14)
  std::string effective_date;              ///< XAD.13 (TS: its DTM, as sent)
  std::string expiration_date;             ///< XAD.14 (TS: its DTM, as sent)
};
xad read_xad(const element_view& e);

/// XTN, extended telecommunication number (HL7 v2.5.1 2.A.89): PID-13, PID-14.
struct xtn {
  std::string telephone_number;        ///< XTN.1 (deprecated free form)
  std::string use_code;                ///< XTN.2 (ID, table 0201: "PRN", ...)
  std::string equipment_type;          ///< XTN.3 (ID, table 0202: "PH", ...)
  std::string email_address;           ///< XTN.4
  std::string country_code;            ///< XTN.5 (NM, as sent)
  std::string area_city_code;          ///< XTN.6 (NM, as sent)
  std::string local_number;            ///< XTN.7 (NM, as sent)
  std::string extension;               ///< XTN.8 (NM, as sent)
  std::string any_text;                ///< XTN.9
  std::string extension_prefix;        ///< XTN.10
  std::string speed_dial_code;         ///< XTN.11
  std::string unformatted_telephone_number;  ///< XTN.12
};
xtn read_xtn(const element_view& e);

/// XCN, extended composite ID number and name for persons (HL7 v2.5.1 2.A.86):
/// PV1-7, OBR-16, ORC-12.
struct xcn {
  std::string id_number;                   ///< XCN.1
  fn family_name;                          ///< XCN.2
  std::string given_name;                  ///< XCN.3
  std::string further_given_names;         ///< XCN.4
  std::string suffix;                      ///< XCN.5
  std::string prefix;                      ///< XCN.6
  std::string degree;                      ///< XCN.7 (IS, deprecated: use 21)
  std::string source_table;                ///< XCN.8 (IS, table 0297)
  hd assigning_authority;                  ///< XCN.9
  std::string name_type_code;              ///< XCN.10 (ID, table 0200)
  std::string identifier_check_digit;      ///< XCN.11
  std::string check_digit_scheme;          ///< XCN.12 (ID, table 0061)
  std::string identifier_type_code;        ///< XCN.13 (ID, table 0203)
  hd assigning_facility;                   ///< XCN.14
  std::string name_representation_code;    ///< XCN.15 (ID, table 4000)
  coded name_context;                      ///< XCN.16 (CE)
  dr name_validity_range;                  ///< XCN.17 (deprecated)
  std::string name_assembly_order;         ///< XCN.18 (ID, table 0444)
  std::string effective_date;              ///< XCN.19 (TS: its DTM, as sent)
  std::string expiration_date;             ///< XCN.20 (TS: its DTM, as sent)
  std::string professional_suffix;         ///< XCN.21
  coded assigning_jurisdiction;            ///< XCN.22 (CWE)
  coded assigning_agency_or_department;    ///< XCN.23 (CWE)
};
xcn read_xcn(const element_view& e);

/// PL, person location (HL7 v2.5.1 2.A.53): PV1-3. PL.1 is IS in v2.5.1 but
/// HD from v2.6 (as are some other IS parts): each string member is the
/// first part (the IS value, or the HD namespace id), and the point of care is
/// also kept whole as an HD.
struct pl {
  std::string point_of_care;               ///< PL.1 (IS; HD.1 in v2.6+)
  hd point_of_care_hd;                     ///< PL.1 read as an HD (v2.6+)
  std::string room;                        ///< PL.2
  std::string bed;                         ///< PL.3
  hd facility;                             ///< PL.4
  std::string location_status;             ///< PL.5 (IS, table 0306)
  std::string person_location_type;        ///< PL.6 (IS, table 0305)
  std::string building;                    ///< PL.7
  std::string floor;                       ///< PL.8
  std::string location_description;        ///< PL.9
  ei comprehensive_location_identifier;    ///< PL.10
  hd assigning_authority_for_location;     ///< PL.11
};
pl read_pl(const element_view& e);

// ------------------------------------------------------------------- timing

/// CQ, composite quantity with units (HL7 v2.5.1 2.A.11).
struct cq {
  std::optional<decimal> quantity;  ///< CQ.1 (NM)
  coded units;                      ///< CQ.2 (CE; inside TQ only its identifier)
};

/// RI, repeat interval (HL7 v2.5.1 2.A.63).
struct ri {
  std::string repeat_pattern;           ///< RI.1 (IS, table 0335: "BID", "Q4H")
  std::string explicit_time_interval;   ///< RI.2 ("0800,1200")
};

/// TQ, timing/quantity (HL7 v2.5.1 2.A.76; retained for backward
/// compatibility, replaced by TQ1/TQ2 but still what ORC-7 and OBR-27 carry).
/// Its parts CQ, RI, TS, CE and OSD are composites read one level down, so
/// only their first subcomponents are available inside TQ.
struct tq {
  cq quantity;                           ///< TQ.1
  ri interval;                           ///< TQ.2
  std::string duration;                  ///< TQ.3 ("M10", "INDEF")
  std::optional<timestamp> start;        ///< TQ.4; absent when not sent
  std::optional<timestamp> end;          ///< TQ.5; absent when not sent
  std::string priority;                  ///< TQ.6 ("S", "A", "R", ...)
  std::string condition;                 ///< TQ.7
  std::string text;                      ///< TQ.8 (TX)
  std::string conjunction;               ///< TQ.9 (ID, table 0472)
  std::string order_sequencing;          ///< TQ.10 (OSD, decoded as sent)
  coded occurrence_duration;             ///< TQ.11 (CE)
  std::optional<decimal> total_occurrences;  ///< TQ.12 (NM)
};

/// Fails (102) when TQ.1.1 or TQ.12 is not an NM, or TQ.4 or TQ.5 not a TS;
/// the error's position names the component (or subcomponent) relative to `e`.
hearth::result<tq, error> read_tq(const element_view& e);

}  // namespace hearth::hl7v2
