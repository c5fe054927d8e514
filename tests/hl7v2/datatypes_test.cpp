#include <hearth/hl7v2/datatypes.hpp>

#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include <hearth/hl7v2/parser.hpp>

using namespace hearth::hl7v2;

namespace {

message must_parse(std::string s) {
  auto r = parse(std::move(s));
  if (!r) FAIL("parse failed: " << r.error().message << " at " << r.error().where.to_string());
  return std::move(r).value();
}

// One segment of `body` after a standard MSH.
message with(std::string_view segments) {
  return must_parse("MSH|^~\\&|LAB|HOSP|HEARTH|HOSP|20240305143015||ORU^R01^ORU_R01|MSG1|P|2.5.1\r" +
                    std::string(segments));
}

element_view at(const message& m, std::string_view p) {
  auto parsed = path::parse(p);
  REQUIRE(parsed);
  return m.get(*parsed);
}

std::string fhir_nm(std::string_view text) {
  auto r = parse_nm(text);
  if (!r) {
    FAIL_CHECK("parse_nm failed: " << r.error().message);
    return {};
  }
  return r->fhir();
}

template <class R>
void check_rejected(const R& r, std::string_view value) {
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == error_code::data_type_error);
  CHECK_FALSE(r.error().message.empty());
  if (value.size() >= 2) CHECK(r.error().message.find(value) == std::string::npos);
}

// A PID with realistic values, used by several cases.
const char* const pid =
    "PID|1||12345^^^MRN&1.2.840.114350&ISO^MR^HOSP~987-65-4320^^^SSA^SS||"
    "Smith&van&Smith^John^Q^Jr^Dr^^L~O\\T\\Brien-\\S\\Jones^Mary||19800101|F|||"
    "123 Main St^Apt 4^Springfield^IL^62701^USA^H||^PRN^PH^^1^555^1234567~^NET^Internet^john@example.org\r";

}  // namespace

TEST_CASE("datatypes: ST, TX and FT") {
  const message m = with(
      "NTE|1||  first line\\.br\\second line  |  padded  |\"\"|A^B&C|tab\\T\\and\\S\\hat\r");
  const auto nte = m.find("NTE");
  REQUIRE(nte);
  // FT: formatting escapes become line breaks; whitespace kept.
  CHECK(read_ft(nte->field(3)) == "  first line\nsecond line  ");
  // TX keeps leading and trailing spaces; ST drops the padding.
  CHECK(read_tx(nte->field(4)) == "  padded  ");
  CHECK(read_st(nte->field(4)) == "padded");
  // The explicit null reads as empty; so does an absent field.
  CHECK(read_st(nte->field(5)).empty());
  CHECK(read_st(nte->field(20)).empty());
  // A primitive is the first component's first subcomponent.
  CHECK(read_st(nte->field(6)) == "A");
  CHECK(read_st(at(m, "NTE-6.2")) == "B");
  // Escaped delimiters decode and do not split.
  CHECK(read_st(nte->field(7)) == "tab&and^hat");
}

TEST_CASE("datatypes: NM keeps the digits and renders FHIR decimals") {
  CHECK(fhir_nm("5") == "5");
  CHECK(fhir_nm("+5") == "5");
  CHECK(fhir_nm("-5") == "-5");
  CHECK(fhir_nm(".5") == "0.5");
  CHECK(fhir_nm("-.5") == "-0.5");
  CHECK(fhir_nm("+.5") == "0.5");
  CHECK(fhir_nm("5.") == "5");
  CHECK(fhir_nm("007.50") == "7.50");
  CHECK(fhir_nm("000") == "0");
  CHECK(fhir_nm("0.0") == "0.0");
  CHECK(fhir_nm("-0.0") == "-0.0");
  CHECK(fhir_nm("100") == "100");
  CHECK(fhir_nm("12345678901234567890.123") == "12345678901234567890.123");
  auto d = parse_nm("+007.50");
  REQUIRE(d);
  CHECK(d->text == "+007.50");  // as sent
  CHECK_FALSE(d->negative());
  CHECK(parse_nm("-1")->negative());

  for (const char* bad : {"1e3", "1.2.3", "+", "-", ".", "+.", "", " 5", "5 ", "1,000", "--5",
                          "+-5", "5-", "0x10", "NaN", "\xC2\xBD"}) {
    CAPTURE(bad);
    check_rejected(parse_nm(bad), bad);
  }
}

TEST_CASE("datatypes: NM and SN read from OBX-5") {
  const message m = with(
      "OBX|1|NM|GLU||007.50|mg/dL\r"
      "OBX|2|SN|PLT||>^100\r"
      "OBX|3|SN|AGE||^10^-^20\r"
      "OBX|4|SN|TITER||^1^:^128\r"
      "OBX|5|SN|PROT||^2^+\r"
      "OBX|6|SN|K||<=^-.5\r"
      "OBX|7|SN|X||<>^3^/^4\r"
      "OBX|8|NM|BAD||1e3\r");
  auto nm = read_nm(m.find("OBX", 1)->field(5));
  REQUIRE(nm);
  CHECK(nm->text == "007.50");
  CHECK(nm->fhir() == "7.50");

  auto gt = read_sn(m.find("OBX", 2)->field(5));
  REQUIRE(gt);
  CHECK(gt->comparator == ">");
  REQUIRE(gt->num1);
  CHECK(gt->num1->text == "100");
  CHECK(gt->separator_suffix.empty());
  CHECK_FALSE(gt->num2);

  auto range = read_sn(m.find("OBX", 3)->field(5));
  REQUIRE(range);
  CHECK(range->comparator.empty());
  CHECK(range->num1->text == "10");
  CHECK(range->separator_suffix == "-");
  REQUIRE(range->num2);
  CHECK(range->num2->text == "20");

  auto ratio = read_sn(m.find("OBX", 4)->field(5));
  REQUIRE(ratio);
  CHECK(ratio->num1->text == "1");
  CHECK(ratio->separator_suffix == ":");
  CHECK(ratio->num2->text == "128");

  auto categorical = read_sn(m.find("OBX", 5)->field(5));
  REQUIRE(categorical);
  CHECK(categorical->num1->text == "2");
  CHECK(categorical->separator_suffix == "+");
  CHECK_FALSE(categorical->num2);

  auto le = read_sn(m.find("OBX", 6)->field(5));
  REQUIRE(le);
  CHECK(le->comparator == "<=");
  CHECK(le->num1->fhir() == "-0.5");

  auto ne = read_sn(m.find("OBX", 7)->field(5));
  REQUIRE(ne);
  CHECK(ne->comparator == "<>");
  CHECK(ne->separator_suffix == "/");

  check_rejected(read_nm(m.find("OBX", 8)->field(5)), "1e3");
  check_rejected(read_nm(m.find("OBX", 8)->field(6)), "");  // empty
}

TEST_CASE("datatypes: malformed SN") {
  const message m = with(
      "OBX|1|SN|A||>>^5\r"
      "OBX|2|SN|B||^10^^20\r"
      "OBX|3|SN|C||^10^-\r"
      "OBX|4|SN|D||^abc\r"
      "OBX|5|SN|E||^1^x^2\r"
      "OBX|6|SN|F||\r"
      "OBX|7|SN|G||>\r"
      "OBX|8|SN|H||^1^:^1.2.3\r"
      "OBX|9|SN|I||^^-^20\r");
  struct expect {
    std::size_t obx;
    std::size_t component;
  };
  for (const expect x : {expect{1, 1}, expect{2, 3}, expect{3, 4}, expect{4, 2}, expect{5, 3},
                         expect{6, 2}, expect{7, 2}, expect{8, 4}, expect{9, 2}}) {
    CAPTURE(x.obx);
    auto r = read_sn(m.find("OBX", x.obx)->field(5));
    check_rejected(r, m.find("OBX", x.obx)->field(5).raw());
    CHECK(r.error().where.component == x.component);
  }
}

TEST_CASE("datatypes: CX with nested HD (PID-3)") {
  const message m = with(pid);
  const element_view pid3 = m.find("PID")->field(3);
  const cx mrn = read_cx(pid3);
  CHECK(mrn.id_number == "12345");
  CHECK(mrn.check_digit.empty());
  CHECK(mrn.check_digit_scheme.empty());
  CHECK(mrn.assigning_authority.namespace_id == "MRN");
  CHECK(mrn.assigning_authority.universal_id == "1.2.840.114350");
  CHECK(mrn.assigning_authority.universal_id_type == "ISO");
  CHECK(mrn.identifier_type_code == "MR");
  CHECK(mrn.assigning_facility.namespace_id == "HOSP");
  CHECK(mrn.assigning_facility.universal_id.empty());
  CHECK(mrn.effective_date.empty());
  CHECK(mrn.assigning_jurisdiction.empty());

  const cx ssn = read_cx(pid3.repetition(2));
  CHECK(ssn.id_number == "987-65-4320");
  CHECK(ssn.assigning_authority.namespace_id == "SSA");
  CHECK(ssn.identifier_type_code == "SS");

  // A component read on its own is the same HD.
  const hd authority = read_hd(at(m, "PID-3.4"));
  CHECK(authority.universal_id == "1.2.840.114350");
  // An HD standing as a field (MSH-4): its parts are components.
  CHECK(read_hd(m.header().field(4)).namespace_id == "HOSP");

  // Every CX component in its place (2.A.14).
  const message all = with(
      "PID|1||ID^CD^M10^NS&1.2&ISO^MR^FAC&3.4&ISO^20200101^20301231^US&United States&ISO3166^"
      "DEP&Dept&L\r");
  const cx c = read_cx(all.find("PID")->field(3));
  CHECK(c.id_number == "ID");
  CHECK(c.check_digit == "CD");
  CHECK(c.check_digit_scheme == "M10");
  CHECK(c.assigning_authority.universal_id == "1.2");
  CHECK(c.identifier_type_code == "MR");
  CHECK(c.assigning_facility.namespace_id == "FAC");
  CHECK(c.assigning_facility.universal_id_type == "ISO");
  CHECK(c.effective_date == "20200101");
  CHECK(c.expiration_date == "20301231");
  CHECK(c.assigning_jurisdiction.identifier == "US");
  CHECK(c.assigning_jurisdiction.text == "United States");
  CHECK(c.assigning_jurisdiction.coding_system == "ISO3166");
  CHECK(c.assigning_agency_or_department.identifier == "DEP");
  CHECK(c.assigning_agency_or_department.coding_system == "L");
}

TEST_CASE("datatypes: XPN with FN (PID-5), escapes inside subcomponents") {
  const message m = with(pid);
  const element_view pid5 = m.find("PID")->field(5);
  const xpn name = read_xpn(pid5);
  CHECK(name.family_name.surname == "Smith");
  CHECK(name.family_name.own_surname_prefix == "van");
  CHECK(name.family_name.own_surname == "Smith");
  CHECK(name.family_name.surname_prefix_from_partner.empty());
  CHECK(name.given_name == "John");
  CHECK(name.further_given_names == "Q");
  CHECK(name.suffix == "Jr");
  CHECK(name.prefix == "Dr");
  CHECK(name.degree.empty());
  CHECK(name.name_type_code == "L");
  CHECK(name.professional_suffix.empty());

  // \T\ (the subcomponent separator) and \S\ (the component separator) decode
  // to text and split nothing.
  const xpn second = read_xpn(pid5.repetition(2));
  CHECK(second.family_name.surname == "O&Brien-^Jones");
  CHECK(second.family_name.own_surname_prefix.empty());
  CHECK(second.given_name == "Mary");
  CHECK(second.name_type_code.empty());

  // Every XPN component in its place (2.A.88, 14 components in v2.5.1).
  const message all = with(
      "PID|1||1||Sur&Pre&Own&PPre&PSur^Given^Middle^III^Dr^MD^L^A^BR&Birth&HL70448^"
      "20000101&20100101^G^20000101^20991231^PhD\r");
  const xpn x = read_xpn(all.find("PID")->field(5));
  CHECK(x.family_name.surname == "Sur");
  CHECK(x.family_name.own_surname_prefix == "Pre");
  CHECK(x.family_name.own_surname == "Own");
  CHECK(x.family_name.surname_prefix_from_partner == "PPre");
  CHECK(x.family_name.surname_from_partner == "PSur");
  CHECK(x.given_name == "Given");
  CHECK(x.further_given_names == "Middle");
  CHECK(x.suffix == "III");
  CHECK(x.prefix == "Dr");
  CHECK(x.degree == "MD");
  CHECK(x.name_type_code == "L");
  CHECK(x.name_representation_code == "A");
  CHECK(x.name_context.identifier == "BR");
  CHECK(x.name_context.text == "Birth");
  CHECK(x.name_context.coding_system == "HL70448");
  CHECK(x.name_validity_range.range_start == "20000101");
  CHECK(x.name_validity_range.range_end == "20100101");
  CHECK(x.name_assembly_order == "G");
  CHECK(x.effective_date == "20000101");
  CHECK(x.expiration_date == "20991231");
  CHECK(x.professional_suffix == "PhD");
}

TEST_CASE("datatypes: XAD with SAD (PID-11)") {
  const message m = with(pid);
  const xad home = read_xad(m.find("PID")->field(11));
  CHECK(home.street_address.street_or_mailing_address == "123 Main St");
  CHECK(home.street_address.street_name.empty());
  CHECK(home.other_designation == "Apt 4");
  CHECK(home.city == "Springfield");
  CHECK(home.state_or_province == "IL");
  CHECK(home.zip_or_postal_code == "62701");
  CHECK(home.country == "USA");
  CHECK(home.address_type == "H");
  CHECK(home.other_geographic_designation.empty());
  CHECK(home.effective_date.empty());

  const message all = with(
      "PID|1||1||X||||||1 Elm St&Elm St&1^c/o Smith \\T\\ Sons^Paris^IDF^75001^FRA^B^Zone^C1^T9^I^"
      "20000101&20101231^20000101^20101231\r");
  const xad a = read_xad(all.find("PID")->field(11));
  CHECK(a.street_address.street_or_mailing_address == "1 Elm St");
  CHECK(a.street_address.street_name == "Elm St");
  CHECK(a.street_address.dwelling_number == "1");
  CHECK(a.other_designation == "c/o Smith & Sons");
  CHECK(a.city == "Paris");
  CHECK(a.state_or_province == "IDF");
  CHECK(a.zip_or_postal_code == "75001");
  CHECK(a.country == "FRA");
  CHECK(a.address_type == "B");
  CHECK(a.other_geographic_designation == "Zone");
  CHECK(a.county_parish_code == "C1");
  CHECK(a.census_tract == "T9");
  CHECK(a.address_representation_code == "I");
  CHECK(a.address_validity_range.range_start == "20000101");
  CHECK(a.address_validity_range.range_end == "20101231");
  CHECK(a.effective_date == "20000101");
  CHECK(a.expiration_date == "20101231");
}

TEST_CASE("datatypes: XTN, all 12 components (PID-13)") {
  const message m = with(pid);
  const element_view pid13 = m.find("PID")->field(13);
  const xtn phone = read_xtn(pid13);
  CHECK(phone.telephone_number.empty());
  CHECK(phone.use_code == "PRN");
  CHECK(phone.equipment_type == "PH");
  CHECK(phone.email_address.empty());
  CHECK(phone.country_code == "1");
  CHECK(phone.area_city_code == "555");
  CHECK(phone.local_number == "1234567");
  CHECK(phone.extension.empty());

  const xtn mail = read_xtn(pid13.repetition(2));
  CHECK(mail.use_code == "NET");
  CHECK(mail.equipment_type == "Internet");
  CHECK(mail.email_address == "john@example.org");

  const message all = with(
      "PID|1||1||X||||||||(555)123-4567X12^WPN^CP^a@b.c^44^20^7946000^12^ask for Bob^9^#7^"
      "+44 20 7946 0000\r");
  const xtn t = read_xtn(all.find("PID")->field(13));
  CHECK(t.telephone_number == "(555)123-4567X12");
  CHECK(t.use_code == "WPN");
  CHECK(t.equipment_type == "CP");
  CHECK(t.email_address == "a@b.c");
  CHECK(t.country_code == "44");
  CHECK(t.area_city_code == "20");
  CHECK(t.local_number == "7946000");
  CHECK(t.extension == "12");
  CHECK(t.any_text == "ask for Bob");
  CHECK(t.extension_prefix == "9");
  CHECK(t.speed_dial_code == "#7");
  CHECK(t.unformatted_telephone_number == "+44 20 7946 0000");
}

TEST_CASE("datatypes: CWE, CNE, CE and EI") {
  const message m = with(
      "OBX|1|CWE|2345-7^Glucose \\S\\ fasting^LN^GLU^Glucose^99LAB^2.77^1.0^glucose, fasting|1|"
      "^^^^^^^^free text only\r");
  const element_view obx3 = m.find("OBX")->field(3);
  const coded cwe = read_cwe(obx3);
  CHECK(cwe.identifier == "2345-7");
  CHECK(cwe.text == "Glucose ^ fasting");
  CHECK(cwe.coding_system == "LN");
  CHECK(cwe.alternate_identifier == "GLU");
  CHECK(cwe.alternate_text == "Glucose");
  CHECK(cwe.alternate_coding_system == "99LAB");
  CHECK(cwe.coding_system_version == "2.77");
  CHECK(cwe.alternate_coding_system_version == "1.0");
  CHECK(cwe.original_text == "glucose, fasting");
  CHECK_FALSE(cwe.empty());

  const coded cne = read_cne(obx3);
  CHECK(cne.original_text == "glucose, fasting");
  // CE has six components: 7 to 9 are not read.
  const coded ce = read_ce(obx3);
  CHECK(ce.alternate_coding_system == "99LAB");
  CHECK(ce.coding_system_version.empty());
  CHECK(ce.original_text.empty());

  const coded text_only = read_cwe(m.find("OBX")->field(5));
  CHECK(text_only.identifier.empty());
  CHECK(text_only.original_text == "free text only");
  CHECK(read_cwe(m.find("OBX")->field(9)).empty());

  const message e = with("ORC|NW|ORD-1^EPIC^1.2.3^ISO|FIL-9\r");
  const ei placer = read_ei(e.find("ORC")->field(2));
  CHECK(placer.entity_identifier == "ORD-1");
  CHECK(placer.namespace_id == "EPIC");
  CHECK(placer.universal_id == "1.2.3");
  CHECK(placer.universal_id_type == "ISO");
  CHECK(read_ei(e.find("ORC")->field(3)).entity_identifier == "FIL-9");
}

TEST_CASE("datatypes: XCN, all 23 components (PV1-7)") {
  const message m = with(
      "PV1|1|I|||||004777^ATTEND^AARON^A^^Dr^MD^^NPI&2.16.840.1.113883.4.6&ISO^L\r");
  const xcn doc = read_xcn(m.find("PV1")->field(7));
  CHECK(doc.id_number == "004777");
  CHECK(doc.family_name.surname == "ATTEND");
  CHECK(doc.given_name == "AARON");
  CHECK(doc.further_given_names == "A");
  CHECK(doc.suffix.empty());
  CHECK(doc.prefix == "Dr");
  CHECK(doc.degree == "MD");
  CHECK(doc.source_table.empty());
  CHECK(doc.assigning_authority.namespace_id == "NPI");
  CHECK(doc.assigning_authority.universal_id == "2.16.840.1.113883.4.6");
  CHECK(doc.name_type_code == "L");

  const message all = with(
      "PV1|1|I|||||c1^c2a&c2b^c3^c4^c5^c6^c7^c8^c9a&c9b&c9c^c10^c11^c12^c13^c14a&c14b&c14c^c15^"
      "c16a&c16b^c17a&c17b^c18^c19^c20^c21^c22a&c22b&c22c&c22d&c22e&c22f&c22g&c22h&c22i^c23a&c23b\r");
  const xcn x = read_xcn(all.find("PV1")->field(7));
  CHECK(x.id_number == "c1");
  CHECK(x.family_name.surname == "c2a");
  CHECK(x.family_name.own_surname_prefix == "c2b");
  CHECK(x.given_name == "c3");
  CHECK(x.further_given_names == "c4");
  CHECK(x.suffix == "c5");
  CHECK(x.prefix == "c6");
  CHECK(x.degree == "c7");
  CHECK(x.source_table == "c8");
  CHECK(x.assigning_authority.namespace_id == "c9a");
  CHECK(x.assigning_authority.universal_id == "c9b");
  CHECK(x.assigning_authority.universal_id_type == "c9c");
  CHECK(x.name_type_code == "c10");
  CHECK(x.identifier_check_digit == "c11");
  CHECK(x.check_digit_scheme == "c12");
  CHECK(x.identifier_type_code == "c13");
  CHECK(x.assigning_facility.namespace_id == "c14a");
  CHECK(x.assigning_facility.universal_id_type == "c14c");
  CHECK(x.name_representation_code == "c15");
  CHECK(x.name_context.identifier == "c16a");
  CHECK(x.name_context.text == "c16b");
  CHECK(x.name_validity_range.range_start == "c17a");
  CHECK(x.name_validity_range.range_end == "c17b");
  CHECK(x.name_assembly_order == "c18");
  CHECK(x.effective_date == "c19");
  CHECK(x.expiration_date == "c20");
  CHECK(x.professional_suffix == "c21");
  CHECK(x.assigning_jurisdiction.identifier == "c22a");
  CHECK(x.assigning_jurisdiction.alternate_coding_system == "c22f");
  CHECK(x.assigning_jurisdiction.original_text == "c22i");
  CHECK(x.assigning_agency_or_department.identifier == "c23a");
  CHECK(x.assigning_agency_or_department.text == "c23b");
}

TEST_CASE("datatypes: PL (PV1-3), v2.5.1 IS and v2.6 HD point of care") {
  const message m = with(
      "PV1|1|I|2000^2012^01^HOSP&1.2.3&ISO^O^N^B1^3^Ward 2000^LOC-1&HOSP&1.2.3&ISO^AUTH&1.2.4&ISO\r"
      "PV1|2|I|ICU&1.2.3.4&ISO^R1&1.2.3.5&ISO^B2\r");
  const pl loc = read_pl(m.find("PV1", 1)->field(3));
  CHECK(loc.point_of_care == "2000");
  CHECK(loc.point_of_care_hd.namespace_id == "2000");
  CHECK(loc.point_of_care_hd.universal_id.empty());
  CHECK(loc.room == "2012");
  CHECK(loc.bed == "01");
  CHECK(loc.facility.namespace_id == "HOSP");
  CHECK(loc.facility.universal_id == "1.2.3");
  CHECK(loc.location_status == "O");
  CHECK(loc.person_location_type == "N");
  CHECK(loc.building == "B1");
  CHECK(loc.floor == "3");
  CHECK(loc.location_description == "Ward 2000");
  CHECK(loc.comprehensive_location_identifier.entity_identifier == "LOC-1");
  CHECK(loc.comprehensive_location_identifier.namespace_id == "HOSP");
  CHECK(loc.comprehensive_location_identifier.universal_id_type == "ISO");
  CHECK(loc.assigning_authority_for_location.namespace_id == "AUTH");
  CHECK(loc.assigning_authority_for_location.universal_id == "1.2.4");

  const pl v26 = read_pl(m.find("PV1", 2)->field(3));
  CHECK(v26.point_of_care == "ICU");
  CHECK(v26.point_of_care_hd.universal_id == "1.2.3.4");
  CHECK(v26.point_of_care_hd.universal_id_type == "ISO");
  CHECK(v26.room == "R1");
  CHECK(v26.bed == "B2");
  CHECK(v26.facility.namespace_id.empty());
}

TEST_CASE("datatypes: TQ (ORC-7)") {
  const message m = with(
      "ORC|NW|1|||||1&TAB^Q6H&0800,1400^X3^20240305143000-0500&S^20240306^S^PRN^"
      "  take with food^S^C&1^D&days^4\r");
  auto r = read_tq(m.find("ORC")->field(7));
  REQUIRE(r);
  const tq& t = *r;
  REQUIRE(t.quantity.quantity);
  CHECK(t.quantity.quantity->text == "1");
  CHECK(t.quantity.units.identifier == "TAB");
  CHECK(t.interval.repeat_pattern == "Q6H");
  CHECK(t.interval.explicit_time_interval == "0800,1400");
  CHECK(t.duration == "X3");
  REQUIRE(t.start);
  CHECK(t.start->time.iso8601() == "2024-03-05T14:30:00-05:00");
  CHECK(t.start->degree_of_precision == "S");
  REQUIRE(t.end);
  CHECK(t.end->time.iso8601() == "2024-03-06");
  CHECK(t.priority == "S");
  CHECK(t.condition == "PRN");
  CHECK(t.text == "  take with food");  // TX keeps its leading spaces
  CHECK(t.conjunction == "S");
  CHECK(t.order_sequencing == "C&1");
  CHECK(t.occurrence_duration.identifier == "D");
  CHECK(t.occurrence_duration.text == "days");
  REQUIRE(t.total_occurrences);
  CHECK(t.total_occurrences->text == "4");

  // Missing parts are absent, not errors.
  const message sparse = with("ORC|NW|1|||||^^^20240305\r");
  auto s = read_tq(sparse.find("ORC")->field(7));
  REQUIRE(s);
  CHECK_FALSE(s->quantity.quantity);
  CHECK(s->start);
  CHECK_FALSE(s->end);
  CHECK_FALSE(s->total_occurrences);
  auto empty = read_tq(sparse.find("ORC")->field(8));
  REQUIRE(empty);
  CHECK_FALSE(empty->start);
}

TEST_CASE("datatypes: malformed TQ names the part") {
  const message m = with(
      "ORC|NW|1|||||^^^20240230\r"
      "ORC|NW|2|||||^^^^20240101^^^^^^^x\r"
      "ORC|NW|3|||||xyz&TAB\r"
      "ORC|NW|4|||||^^^2024010112+2500\r");
  auto bad_start = read_tq(m.find("ORC", 1)->field(7));
  check_rejected(bad_start, "20240230");
  CHECK(bad_start.error().where.component == 4);
  CHECK(bad_start.error().where.subcomponent == 1);
  CHECK(bad_start.error().message.find("TQ.4") != std::string::npos);

  auto bad_total = read_tq(m.find("ORC", 2)->field(7));
  check_rejected(bad_total, "");
  CHECK(bad_total.error().where.component == 12);

  auto bad_quantity = read_tq(m.find("ORC", 3)->field(7));
  check_rejected(bad_quantity, "xyz");
  CHECK(bad_quantity.error().where.component == 1);
  CHECK(bad_quantity.error().where.subcomponent == 1);

  auto bad_offset = read_tq(m.find("ORC", 4)->field(7));
  check_rejected(bad_offset, "+2500");
  CHECK(bad_offset.error().where.component == 4);
}

TEST_CASE("datatypes: empty and missing components read as empty") {
  const message m = with("PID|1||^^^^MR||^John||||||\"\"^^Springfield\r");
  const cx id = read_cx(m.find("PID")->field(3));
  CHECK(id.id_number.empty());
  CHECK(id.assigning_authority.namespace_id.empty());
  CHECK(id.identifier_type_code == "MR");
  const xpn name = read_xpn(m.find("PID")->field(5));
  CHECK(name.family_name.surname.empty());
  CHECK(name.given_name == "John");
  // The explicit null "" reads as empty, not as two quote marks.
  const xad addr = read_xad(m.find("PID")->field(11));
  CHECK(addr.street_address.street_or_mailing_address.empty());
  CHECK(addr.city == "Springfield");
  // A field that is not there at all.
  const xtn none = read_xtn(m.find("PID")->field(40));
  CHECK(none.local_number.empty());
  CHECK(read_pl(m.find("PID")->field(40)).point_of_care.empty());
  // A default element_view is empty too.
  CHECK(read_hd(element_view{}).namespace_id.empty());
}
