// Typed readers for HL7 v2 data types (HL7 v2.5.1 chapter 2A).

#include <hearth/hl7v2/datatypes.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "detail/locate.hpp"

namespace hearth::hl7v2 {
namespace {

hearth::unexpected<error> fail(std::string message) {
  error e;
  e.code = error_code::data_type_error;
  e.message = std::move(message);
  return hearth::unexpected<error>(std::move(e));
}

// The first primitive of an element: for a field or repetition, the first
// subcomponent of its first component; for a component, its first
// subcomponent; a subcomponent is its own. Extra parts sent where a primitive
// is expected are ignored (HL7 v2.5.1 2.6.2 a).
element_view leaf(const element_view& e) noexcept { return e.part(1).part(1); }

// The first primitive decoded, whitespace kept; the explicit null "" (2.5.3)
// reads as empty, as these structs cannot say "delete".
std::string raw_text(const element_view& e) {
  const element_view l = leaf(e);
  if (l.is_null()) return {};
  return l.text();
}

// ST (2.A.74) is "left justified with trailing blanks optional": blanks
// around a value are padding, not content.
std::string trim(std::string s) {
  const std::size_t last = s.find_last_not_of(' ');
  if (last == std::string::npos) return {};
  s.erase(last + 1);
  s.erase(0, s.find_first_not_of(' '));
  return s;
}

// Part n of a composite, as a string primitive (ST, ID, IS, or a DTM kept as sent).
std::string prim(const element_view& e, std::size_t n) { return trim(raw_text(e.part(n))); }

// Reads part n of `e` as an optional NM: nullopt when empty.
hearth::result<std::optional<decimal>, error> optional_nm(const element_view& part,
                                                          std::string_view name) {
  const std::string text = raw_text(part);
  if (text.empty()) return std::optional<decimal>{};
  auto d = parse_nm(text);
  if (!d) {
    error err = std::move(d).error();
    err.message.insert(0, std::string(name) + " ");
    return hearth::unexpected<error>(std::move(err));
  }
  return std::optional<decimal>(std::move(*d));
}

coded read_coded(const element_view& e, std::size_t components) {
  coded c;
  c.identifier = prim(e, 1);
  c.text = prim(e, 2);
  c.coding_system = prim(e, 3);
  c.alternate_identifier = prim(e, 4);
  c.alternate_text = prim(e, 5);
  c.alternate_coding_system = prim(e, 6);
  if (components >= 9) {
    c.coding_system_version = prim(e, 7);
    c.alternate_coding_system_version = prim(e, 8);
    c.original_text = prim(e, 9);
  }
  return c;
}

}  // namespace

// ---------------------------------------------------------------- text types

std::string read_st(const element_view& e) { return trim(raw_text(e)); }

std::string read_tx(const element_view& e) { return raw_text(e); }

std::string read_ft(const element_view& e) {
  // element_view::text() with default options renders the formatting escapes
  // of 2.7.1 as plain text, which is what FT asks of a plain-text reader.
  return raw_text(e);
}

// ------------------------------------------------------------------- numbers

std::string decimal::fhir() const {
  std::string_view s = text;
  std::string out;
  out.reserve(s.size() + 1);
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    if (s.front() == '-') out.push_back('-');
    s.remove_prefix(1);
  }
  const std::size_t point = s.find('.');
  std::string_view whole = s.substr(0, point);
  const std::string_view frac =
      point == std::string_view::npos ? std::string_view{} : s.substr(point + 1);
  while (whole.size() > 1 && whole.front() == '0') whole.remove_prefix(1);
  if (whole.empty()) {
    out.push_back('0');
  } else {
    out += whole;
  }
  if (!frac.empty()) {
    out.push_back('.');
    out += frac;
  }
  return out;
}

hearth::result<decimal, error> parse_nm(std::string_view text) {
  if (text.empty()) return fail("NM: empty value");
  std::size_t i = 0;
  if (text[0] == '+' || text[0] == '-') ++i;
  bool point = false;
  bool digit = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.') {
      if (point) return fail("NM: more than one decimal point");
      point = true;
    } else {
      return fail("NM: only a sign, digits and one decimal point are allowed");
    }
  }
  if (!digit) return fail("NM: no digits");
  return decimal{std::string(text)};
}

hearth::result<decimal, error> read_nm(const element_view& e) { return parse_nm(raw_text(e)); }

hearth::result<sn, error> read_sn(const element_view& e) {
  sn out;
  out.comparator = prim(e, 1);
  out.separator_suffix = prim(e, 3);
  // 2.A.70.1: ">" or "<" or ">=" or "<=" or "=" or "<>"; empty means "=".
  const std::string& c = out.comparator;
  if (!(c.empty() || c == ">" || c == "<" || c == ">=" || c == "<=" || c == "=" || c == "<>")) {
    error err = fail("SN.1 comparator must be one of > < >= <= = <>").error();
    detail::locate_part(err, e, 1);
    return hearth::unexpected<error>(std::move(err));
  }
  // 2.A.70.3: "-" or "+" or "/" or "." or ":".
  const std::string& s = out.separator_suffix;
  if (!(s.empty() || s == "-" || s == "+" || s == "/" || s == "." || s == ":")) {
    error err = fail("SN.3 separator/suffix must be one of - + / . :").error();
    detail::locate_part(err, e, 3);
    return hearth::unexpected<error>(std::move(err));
  }
  for (std::size_t n : {std::size_t{2}, std::size_t{4}}) {
    auto num = optional_nm(e.part(n), n == 2 ? "SN.2" : "SN.4");
    if (!num) {
      error err = std::move(num).error();
      detail::locate_part(err, e, n);
      return hearth::unexpected<error>(std::move(err));
    }
    (n == 2 ? out.num1 : out.num2) = std::move(*num);
  }
  if (!out.num1) {
    error err = fail(out.comparator.empty() && out.separator_suffix.empty() && !out.num2
                         ? "SN: empty value"
                         : "SN.2 first number missing")
                    .error();
    detail::locate_part(err, e, 2);
    return hearth::unexpected<error>(std::move(err));
  }
  // A range or ratio ("10-20", "1:128") needs both numbers; "+" alone is the
  // categorical suffix ("2+"). A second number needs a separator.
  if (out.num2 && s.empty()) {
    error err = fail("SN.4 second number without a separator").error();
    detail::locate_part(err, e, 3);
    return hearth::unexpected<error>(std::move(err));
  }
  if (!out.num2 && !s.empty() && s != "+") {
    error err = fail("SN.4 second number missing after the separator").error();
    detail::locate_part(err, e, 4);
    return hearth::unexpected<error>(std::move(err));
  }
  return out;
}

// ------------------------------------------------------- identifiers, codes

hd read_hd(const element_view& e) {
  hd out;
  out.namespace_id = prim(e, 1);
  out.universal_id = prim(e, 2);
  out.universal_id_type = prim(e, 3);
  return out;
}

ei read_ei(const element_view& e) {
  ei out;
  out.entity_identifier = prim(e, 1);
  out.namespace_id = prim(e, 2);
  out.universal_id = prim(e, 3);
  out.universal_id_type = prim(e, 4);
  return out;
}

bool coded::empty() const noexcept {
  return identifier.empty() && text.empty() && coding_system.empty() &&
         alternate_identifier.empty() && alternate_text.empty() &&
         alternate_coding_system.empty() && coding_system_version.empty() &&
         alternate_coding_system_version.empty() && original_text.empty();
}

coded read_ce(const element_view& e) { return read_coded(e, 6); }
coded read_cne(const element_view& e) { return read_coded(e, 9); }
coded read_cwe(const element_view& e) { return read_coded(e, 9); }

cx read_cx(const element_view& e) {
  cx out;
  out.id_number = prim(e, 1);
  out.check_digit = prim(e, 2);
  out.check_digit_scheme = prim(e, 3);
  out.assigning_authority = read_hd(e.part(4));
  out.identifier_type_code = prim(e, 5);
  out.assigning_facility = read_hd(e.part(6));
  out.effective_date = prim(e, 7);
  out.expiration_date = prim(e, 8);
  out.assigning_jurisdiction = read_cwe(e.part(9));
  out.assigning_agency_or_department = read_cwe(e.part(10));
  return out;
}

// ------------------------------------------------------------ people, places

fn read_fn(const element_view& e) {
  fn out;
  out.surname = prim(e, 1);
  out.own_surname_prefix = prim(e, 2);
  out.own_surname = prim(e, 3);
  out.surname_prefix_from_partner = prim(e, 4);
  out.surname_from_partner = prim(e, 5);
  return out;
}

dr read_dr(const element_view& e) {
  dr out;
  out.range_start = prim(e, 1);
  out.range_end = prim(e, 2);
  return out;
}

xpn read_xpn(const element_view& e) {
  xpn out;
  out.family_name = read_fn(e.part(1));
  out.given_name = prim(e, 2);
  out.further_given_names = prim(e, 3);
  out.suffix = prim(e, 4);
  out.prefix = prim(e, 5);
  out.degree = prim(e, 6);
  out.name_type_code = prim(e, 7);
  out.name_representation_code = prim(e, 8);
  out.name_context = read_ce(e.part(9));
  out.name_validity_range = read_dr(e.part(10));
  out.name_assembly_order = prim(e, 11);
  out.effective_date = prim(e, 12);
  out.expiration_date = prim(e, 13);
  out.professional_suffix = prim(e, 14);
  return out;
}

sad read_sad(const element_view& e) {
  sad out;
  out.street_or_mailing_address = prim(e, 1);
  out.street_name = prim(e, 2);
  out.dwelling_number = prim(e, 3);
  return out;
}

xad read_xad(const element_view& e) {
  xad out;
  out.street_address = read_sad(e.part(1));
  out.other_designation = prim(e, 2);
  out.city = prim(e, 3);
  out.state_or_province = prim(e, 4);
  out.zip_or_postal_code = prim(e, 5);
  out.country = prim(e, 6);
  out.address_type = prim(e, 7);
  out.other_geographic_designation = prim(e, 8);
  out.county_parish_code = prim(e, 9);
  out.census_tract = prim(e, 10);
  out.address_representation_code = prim(e, 11);
  out.address_validity_range = read_dr(e.part(12));
  out.effective_date = prim(e, 13);
  out.expiration_date = prim(e, 14);
  return out;
}

xtn read_xtn(const element_view& e) {
  xtn out;
  out.telephone_number = prim(e, 1);
  out.use_code = prim(e, 2);
  out.equipment_type = prim(e, 3);
  out.email_address = prim(e, 4);
  out.country_code = prim(e, 5);
  out.area_city_code = prim(e, 6);
  out.local_number = prim(e, 7);
  out.extension = prim(e, 8);
  out.any_text = prim(e, 9);
  out.extension_prefix = prim(e, 10);
  out.speed_dial_code = prim(e, 11);
  out.unformatted_telephone_number = prim(e, 12);
  return out;
}

xcn read_xcn(const element_view& e) {
  xcn out;
  out.id_number = prim(e, 1);
  out.family_name = read_fn(e.part(2));
  out.given_name = prim(e, 3);
  out.further_given_names = prim(e, 4);
  out.suffix = prim(e, 5);
  out.prefix = prim(e, 6);
  out.degree = prim(e, 7);
  out.source_table = prim(e, 8);
  out.assigning_authority = read_hd(e.part(9));
  out.name_type_code = prim(e, 10);
  out.identifier_check_digit = prim(e, 11);
  out.check_digit_scheme = prim(e, 12);
  out.identifier_type_code = prim(e, 13);
  out.assigning_facility = read_hd(e.part(14));
  out.name_representation_code = prim(e, 15);
  out.name_context = read_ce(e.part(16));
  out.name_validity_range = read_dr(e.part(17));
  out.name_assembly_order = prim(e, 18);
  out.effective_date = prim(e, 19);
  out.expiration_date = prim(e, 20);
  out.professional_suffix = prim(e, 21);
  out.assigning_jurisdiction = read_cwe(e.part(22));
  out.assigning_agency_or_department = read_cwe(e.part(23));
  return out;
}

pl read_pl(const element_view& e) {
  pl out;
  out.point_of_care = prim(e, 1);
  out.point_of_care_hd = read_hd(e.part(1));
  out.room = prim(e, 2);
  out.bed = prim(e, 3);
  out.facility = read_hd(e.part(4));
  out.location_status = prim(e, 5);
  out.person_location_type = prim(e, 6);
  out.building = prim(e, 7);
  out.floor = prim(e, 8);
  out.location_description = prim(e, 9);
  out.comprehensive_location_identifier = read_ei(e.part(10));
  out.assigning_authority_for_location = read_hd(e.part(11));
  return out;
}

// ------------------------------------------------------------------- timing

hearth::result<tq, error> read_tq(const element_view& e) {
  tq out;
  // TQ.1 CQ: quantity & units.
  const element_view quantity = e.part(1);
  auto q = optional_nm(quantity.part(1), "TQ.1.1");
  if (!q) {
    error err = std::move(q).error();
    detail::locate_part(err, e, 1, 1);
    return hearth::unexpected<error>(std::move(err));
  }
  out.quantity.quantity = std::move(*q);
  out.quantity.units = read_ce(quantity.part(2));
  // TQ.2 RI: repeat pattern & explicit time interval.
  out.interval.repeat_pattern = prim(e.part(2), 1);
  out.interval.explicit_time_interval = prim(e.part(2), 2);
  out.duration = prim(e, 3);
  // TQ.4 and TQ.5: TS, parsed.
  for (std::size_t n : {std::size_t{4}, std::size_t{5}}) {
    const element_view part = e.part(n);
    if (part.empty() || part.is_null()) continue;
    auto ts = read_ts(part);
    if (!ts) {
      error err = std::move(ts).error();
      err.message.insert(0, n == 4 ? "TQ.4 " : "TQ.5 ");
      const std::size_t sub = err.where.subcomponent;
      err.where.subcomponent = 0;
      detail::locate_part(err, e, n, sub);
      return hearth::unexpected<error>(std::move(err));
    }
    (n == 4 ? out.start : out.end) = std::move(*ts);
  }
  out.priority = prim(e, 6);
  out.condition = prim(e, 7);
  out.text = raw_text(e.part(8));  // TX: whitespace kept
  out.conjunction = prim(e, 9);
  const element_view osd = e.part(10);
  if (!osd.is_null()) out.order_sequencing = osd.text();
  out.occurrence_duration = read_ce(e.part(11));
  auto total = optional_nm(e.part(12), "TQ.12");
  if (!total) {
    error err = std::move(total).error();
    detail::locate_part(err, e, 12);
    return hearth::unexpected<error>(std::move(err));
  }
  out.total_occurrences = std::move(*total);
  return out;
}

}  // namespace hearth::hl7v2
