// The data type maps (IG datatypes/*.csv), called directly.
#include "mapping_detail.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "mapping/test_support.hpp"

using namespace hearth::mapping;
using namespace hearth::mapping::detail;
using hearth::mapping::test::adt;
using hearth::mapping::test::get;
using hearth::mapping::test::str;

namespace {

// A context over a small message; the maps only read MSH from it.
struct fixture {
  hearth::hl7v2::message msg = adt("ADT^A01", "PID|1");
  sender_config cfg;
  position where = [] {
    position p;
    p.segment_index = 2;
    p.segment_id = "PID";
    p.field = 7;
    return p;
  }();
};

std::optional<std::string> dtm(context& ctx, std::string_view text, const position& where) {
  return to_datetime(ctx, text, where);
}

}  // namespace

TEST_CASE("DTM -> dateTime keeps the precision sent and pads seconds") {
  fixture f;
  context ctx(f.msg, f.cfg);
  CHECK(dtm(ctx, "2024", f.where) == "2024");
  CHECK(dtm(ctx, "202403", f.where) == "2024-03");
  CHECK(dtm(ctx, "20240305", f.where) == "2024-03-05");
  // Hour and minute precision: FHIR needs seconds with a time (datatypes.html#dateTime).
  CHECK(dtm(ctx, "2024030514+0100", f.where) == "2024-03-05T14:00:00+01:00");
  CHECK(dtm(ctx, "202403051430-0500", f.where) == "2024-03-05T14:30:00-05:00");
  CHECK(dtm(ctx, "20240305143015+0000", f.where) == "2024-03-05T14:30:15Z");
  // The fraction is kept as sent.
  CHECK(dtm(ctx, "20240305143015.1230+0100", f.where) == "2024-03-05T14:30:15.1230+01:00");
  CHECK_FALSE(ctx.failed());
  // Empty and the explicit null give nothing.
  CHECK_FALSE(dtm(ctx, "", f.where).has_value());
  CHECK_FALSE(dtm(ctx, "\"\"", f.where).has_value());
  CHECK_FALSE(ctx.failed());
}

namespace {

/// Sets the process's time zone (POSIX TZ rules: no tzdata needed) for one
/// test, and puts the previous one back.
struct time_zone {
  std::string previous;
  bool had = false;
  explicit time_zone(const char* tz) {
    if (const char* p = std::getenv("TZ")) {
      previous = p;
      had = true;
    }
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~time_zone() {
    if (had) {
      ::setenv("TZ", previous.c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
};

}  // namespace

TEST_CASE("DTM without offset: the sender's default, else this server's zone at that moment") {
  fixture f;
  f.cfg.default_offset = "+02:00";
  {
    context ctx(f.msg, f.cfg);
    CHECK(dtm(ctx, "202403051430", f.where) == "2024-03-05T14:30:00+02:00");
    // A date alone needs no offset.
    CHECK(dtm(ctx, "20240305", f.where) == "2024-03-05");
    CHECK_FALSE(ctx.failed());
  }
  f.cfg.default_offset.clear();
  {
    // US Eastern: standard time in March before the 2nd Sunday, summer
    // time in July; the offset is the one in force at the value's moment.
    const time_zone eastern("EST5EDT,M3.2.0,M11.1.0");
    context ctx(f.msg, f.cfg);
    CHECK(dtm(ctx, "202403051430", f.where) == "2024-03-05T14:30:00-05:00");
    CHECK(dtm(ctx, "202407051430", f.where) == "2024-07-05T14:30:00-04:00");
    CHECK_FALSE(ctx.failed());
  }
  {
    const time_zone utc("UTC0");
    context ctx(f.msg, f.cfg);
    CHECK(dtm(ctx, "202403051430", f.where) == "2024-03-05T14:30:00Z");
  }
}

TEST_CASE("DTM: malformed values and offsets FHIR cannot hold are error 102") {
  fixture f;
  for (const char* bad : {"20240230", "2024-03-05", "20241305", "2024030514+1430", "abc"}) {
    context ctx(f.msg, f.cfg);
    CAPTURE(bad);
    CHECK_FALSE(dtm(ctx, bad, f.where).has_value());
    REQUIRE(ctx.failed());
    CHECK(ctx.error().code == error_code::data_type_error);
    CHECK(ctx.error().where.to_string() == "PID-7");
  }
}

TEST_CASE("DT/DTM -> date keeps only the date part at the precision sent") {
  fixture f;
  context ctx(f.msg, f.cfg);
  CHECK(to_date(ctx, std::string_view("19610615120530+0100"), f.where) == "1961-06-15");
  CHECK(to_date(ctx, std::string_view("196106"), f.where) == "1961-06");
  CHECK(to_date(ctx, std::string_view("1961"), f.where) == "1961");
  CHECK_FALSE(ctx.failed());
}

TEST_CASE("XPN -> HumanName field by field, escapes decoded") {
  auto msg = adt("ADT^A01", "PID|1||1||D\\T\\Souza^Ann^Marie B^Jr^Dr^PhD^L^^^^^20200101^20301231^MD");
  sender_config cfg;
  cfg.default_offset = "Z";
  context ctx(msg, cfg);
  const auto n = human_name(ctx, hearth::hl7v2::read_xpn(msg.find("PID")->field(5)), at(*msg.find("PID"), 5));
  CHECK(str(n, "family") == "D&Souza");
  CHECK(str(n, "given[0]") == "Ann");
  CHECK(str(n, "given[1]") == "Marie B");
  CHECK(str(n, "prefix[0]") == "Dr");
  CHECK(str(n, "suffix[0]") == "Jr");
  CHECK(str(n, "suffix[1]") == "PhD");
  CHECK(str(n, "suffix[2]") == "MD");
  CHECK(str(n, "use") == "official");  // NameType L
  CHECK(str(n, "period.start") == "2020-01-01");
  CHECK(str(n, "period.end") == "2030-12-31");
  CHECK(ctx.warnings().empty());
}

TEST_CASE("XPN: a name type with no FHIR equivalent is left out with a warning 103") {
  auto msg = adt("ADT^A01", "PID|1||1||Doe^J^^^^^B");
  const sender_config none;
  context ctx(msg, none);
  const auto n = human_name(ctx, hearth::hl7v2::read_xpn(msg.find("PID")->field(5)), at(*msg.find("PID"), 5));
  CHECK(str(n, "family") == "Doe");
  CHECK(get(n, "use").is_null());
  REQUIRE(ctx.warnings().size() == 1);
  CHECK(ctx.warnings()[0].code == error_code::table_value_not_found);
  CHECK(ctx.warnings()[0].sev == hearth::hl7v2::severity::warning);
  CHECK(ctx.warnings()[0].where.to_string() == "PID-5.7");
}

TEST_CASE("XAD -> Address: lines, parts, use and type per XAD.7") {
  auto msg = adt("ADT^A01", "PID|1||1||||||||1 Main St^Apt 2^Town^ST^12345^USA^H^^County9~PO Box 7^^Town^ST^12345^^M");
  const sender_config none;
  context ctx(msg, none);
  const auto pid = *msg.find("PID");
  const auto home = address(ctx, hearth::hl7v2::read_xad(pid.field(11).repetition(1)), at(pid, 11, 1));
  CHECK(str(home, "line[0]") == "1 Main St");
  CHECK(str(home, "line[1]") == "Apt 2");
  CHECK(str(home, "city") == "Town");
  CHECK(str(home, "state") == "ST");
  CHECK(str(home, "postalCode") == "12345");
  CHECK(str(home, "country") == "USA");
  CHECK(str(home, "district") == "County9");
  CHECK(str(home, "use") == "home");
  CHECK(get(home, "type").is_null());
  const auto mail = address(ctx, hearth::hl7v2::read_xad(pid.field(11).repetition(2)), at(pid, 11, 2));
  CHECK(str(mail, "type") == "postal");
  CHECK(get(mail, "use").is_null());
  CHECK(ctx.warnings().empty());
}

TEST_CASE("XTN -> ContactPoint: number composition, e-mail, CP is a mobile phone, default use") {
  auto msg = adt("ADT^A01", hearth::mapping::test::seg(
                                "PID", {{1, "1"},
                                        {13, "^PRN^PH^^1^555^5551234^12~^NET^Internet^a@example.org~^^CP^^^555^5550000~"
                                             "5551111"}}));
  const sender_config none;
  context ctx(msg, none);
  const auto pid = *msg.find("PID");
  const auto phone = contact_point(ctx, hearth::hl7v2::read_xtn(pid.field(13).repetition(1)), at(pid, 13, 1), "home");
  CHECK(str(phone, "system") == "phone");
  CHECK(str(phone, "value") == "+1 555 5551234 X12");
  CHECK(str(phone, "use") == "home");
  CHECK(str(phone, "extension[0].url") == "http://hl7.org/fhir/StructureDefinition/contactpoint-country");
  CHECK(str(phone, "extension[0].valueString") == "1");
  const auto mail = contact_point(ctx, hearth::hl7v2::read_xtn(pid.field(13).repetition(2)), at(pid, 13, 2), "home");
  CHECK(str(mail, "system") == "email");
  CHECK(str(mail, "value") == "a@example.org");
  CHECK(get(mail, "extension").is_null());
  // NET has no ContactPoint.use: warned and replaced by nothing, then the default.
  CHECK(str(mail, "use") == "home");
  const auto cell = contact_point(ctx, hearth::hl7v2::read_xtn(pid.field(13).repetition(3)), at(pid, 13, 3), "home");
  CHECK(str(cell, "system") == "phone");
  CHECK(str(cell, "use") == "mobile");
  CHECK(str(cell, "value") == "555 5550000");
  // XTN.1 only (before v2.7): value kept, system absent with data-absent-reason.
  const auto old = contact_point(ctx, hearth::hl7v2::read_xtn(pid.field(13).repetition(4)), at(pid, 13, 4));
  CHECK(str(old, "value") == "5551111");
  CHECK(str(old, "_system.extension[0].valueCode") == "unknown");
  REQUIRE(ctx.warnings().size() == 1);
  CHECK(ctx.warnings()[0].where.to_string() == "PID-13(2).2");
}

TEST_CASE("CWE -> CodeableConcept: mapped code first, v2 coding kept, alternate triplet, text") {
  auto msg = adt("ADT^A01", "PID|1||1|||||||||||||M^Married^HL70002^MAR1^Wed^LOCAL^^^married in 2000");
  sender_config cfg;
  cfg.code_systems.emplace("LOCAL", "http://hosp.example/marital");
  context ctx(msg, cfg);
  const auto pid = *msg.find("PID");
  const auto cc =
      codeable_concept(ctx, hearth::hl7v2::read_cwe(pid.field(16)), at(pid, 16), "MaritalStatus", "0002");
  CHECK(str(cc, "coding[0].system") == "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus");
  CHECK(str(cc, "coding[0].code") == "M");
  CHECK(str(cc, "coding[0].display") == "Married");
  CHECK(str(cc, "coding[1].system") == "http://terminology.hl7.org/CodeSystem/v2-0002");
  CHECK(str(cc, "coding[1].code") == "M");
  CHECK(str(cc, "coding[2].system") == "http://hosp.example/marital");
  CHECK(str(cc, "coding[2].code") == "MAR1");
  CHECK(str(cc, "text") == "married in 2000");
  CHECK(ctx.warnings().empty());
}

TEST_CASE("CWE: an unknown coding system name keeps the code without system, with a warning") {
  auto msg = adt("ADT^A01", "AL1|1||X1^Thing^NOSUCH");
  const sender_config none;
  context ctx(msg, none);
  const auto al1 = *msg.find("AL1");
  const auto cc = codeable_concept(ctx, hearth::hl7v2::read_cwe(al1.field(3)), at(al1, 3));
  CHECK(str(cc, "coding[0].code") == "X1");
  CHECK(get(cc, "coding[0].system").is_null());
  REQUIRE(ctx.warnings().size() == 1);
  CHECK(ctx.warnings()[0].where.to_string() == "AL1-3.3");
}

TEST_CASE("HD -> Identifier.system: sender map, then the IG's HD[uri] rules") {
  sender_config cfg;
  cfg.identifier_systems.emplace("MRN", "http://hosp.example/mrn");
  CHECK(resolve_system({"MRN", "", ""}, cfg) == "http://hosp.example/mrn");
  CHECK(resolve_system({"X", "1.2.3", "ISO"}, cfg) == "urn:oid:1.2.3");
  CHECK(resolve_system({"", "0f8fad5b-d9cb-469f-a165-70867728950e", "UUID"}, cfg) ==
        "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e");
  CHECK(resolve_system({"", "http://id.example/x", "URI"}, cfg) == "http://id.example/x");
  CHECK(resolve_system({"", "hosp.example", "DNS"}, cfg).empty());  // not a URI
  CHECK(resolve_system({"HOSP", "", ""}, cfg).empty());
  CHECK(resolve_system({"urn:oid:1.2.3", "", ""}, cfg) == "urn:oid:1.2.3");
  cfg.identifier_systems.emplace("1.2.3", "http://hosp.example/by-oid");
  CHECK(resolve_system({"X", "1.2.3", "ISO"}, cfg) == "http://hosp.example/by-oid");
}

TEST_CASE("CX -> Identifier: value, system, type, period, check digit, assigner") {
  auto msg = adt("ADT^A01", "PID|1||77^4^M10^HOSP&1.2.3&ISO^MR^^20200101^20301231~88^^^LOCALAUTH^PI");
  sender_config cfg;
  context ctx(msg, cfg);
  const auto pid = *msg.find("PID");
  identity id;
  const auto a = cx_identifier(ctx, hearth::hl7v2::read_cx(pid.field(3).repetition(1)), at(pid, 3, 1), &id);
  CHECK(str(a, "value") == "77");
  CHECK(str(a, "system") == "urn:oid:1.2.3");
  CHECK(str(a, "type.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0203");
  CHECK(str(a, "type.coding[0].code") == "MR");
  CHECK(str(a, "period.start") == "2020-01-01");
  CHECK(str(a, "period.end") == "2030-12-31");
  CHECK(str(a, "extension[0].valueString") == "4");
  CHECK(str(a, "extension[1].valueString") == "M10");
  CHECK(id.valid());
  CHECK(id.system == "urn:oid:1.2.3");
  // A bare namespace id: Hearth's authority URN (fallback_system), and the
  // authority kept as assigner.
  const auto b = cx_identifier(ctx, hearth::hl7v2::read_cx(pid.field(3).repetition(2)), at(pid, 3, 2), &id);
  CHECK(str(b, "system") == "urn:hearth:v2-authority:LOCALAUTH");
  CHECK(str(b, "assigner.display") == "LOCALAUTH");
  CHECK(id.valid());
  cfg.default_identifier_system = "http://hosp.example/ids";
  const auto c = cx_identifier(ctx, hearth::hl7v2::read_cx(pid.field(3).repetition(2)), at(pid, 3, 2), &id);
  CHECK(str(c, "system") == "http://hosp.example/ids");
  CHECK(id.valid());
}

TEST_CASE("conditional URL: search escaping, then percent-encoding") {
  CHECK(conditional_url("Patient", {"urn:oid:1.2.3", "123"}) == "Patient?identifier=urn%3Aoid%3A1.2.3|123");
  // `\`, `|`, `,`, `$` get a backslash (search.html#escaping), which is then encoded too.
  CHECK(conditional_url("Patient", {"http://x.example/a", "a|b,c$d\\e f"}) ==
        "Patient?identifier=http%3A%2F%2Fx.example%2Fa|a%5C%7Cb%5C%2Cc%5C%24d%5C%5Ce%20f");
  // UTF-8 byte by byte.
  CHECK(conditional_url("Patient", {"urn:x", "\xC3\xBC"}) == "Patient?identifier=urn%3Ax|%C3%BC");
}

TEST_CASE("conditional create entry: POST with ifNoneExist, encoded as the PUT url; one entry per identity") {
  // The ifNoneExist query is the conditional URL without "Type?".
  CHECK(conditional_query({"http://x.example/a", "a|b,c$d\\e f"}) ==
        "identifier=http%3A%2F%2Fx.example%2Fa|a%5C%7Cb%5C%2Cc%5C%24d%5C%5Ce%20f");
  auto msg = adt("ORU^R01", "PID|1");
  const sender_config none;
  context ctx(msg, none);
  const identity visit{"urn:oid:1.2.3", "V|1"};
  json_value enc = json_value::object();
  enc.set("resourceType", "Encounter");
  enc.set("status", "finished");
  const std::string url = ctx.add_entry_if_none_exist(enc, visit);
  CHECK(url.rfind("urn:uuid:", 0) == 0);
  // The same identity again (either kind): that entry, nothing added.
  CHECK(ctx.add_entry_if_none_exist(enc, visit) == url);
  CHECK(ctx.add_entry(enc, visit) == url);
  // A resource without identity: a plain POST.
  json_value other = json_value::object();
  other.set("resourceType", "Encounter");
  other.set("status", "planned");
  const std::string plain = ctx.add_entry_if_none_exist(other, identity{});
  CHECK(plain != url);
  const auto b = ctx.bundle();
  REQUIRE(get(b, "entry").size() == 2);
  CHECK(str(b, "entry[0].fullUrl") == url);
  CHECK(str(b, "entry[0].request.method") == "POST");
  CHECK(str(b, "entry[0].request.url") == "Encounter");
  CHECK(str(b, "entry[0].request.ifNoneExist") == "identifier=urn%3Aoid%3A1.2.3|V%5C%7C1");
  // The resource carries the identifier it is found by.
  CHECK(str(b, "entry[0].resource.identifier[0].system") == "urn:oid:1.2.3");
  CHECK(str(b, "entry[0].resource.identifier[0].value") == "V|1");
  CHECK(str(b, "entry[1].request.method") == "POST");
  CHECK(get(b, "entry[1].request.ifNoneExist").is_null());
  CHECK(get(b, "entry[1].resource.identifier").is_null());
}

TEST_CASE("derived identities are stable, typed and sensitive to every part") {
  const auto a = derived_identity("Condition", {"sys", "1", "I10"});
  CHECK(a.system == "urn:hearth:v2-derived:Condition");
  CHECK(a.value.size() == 40);
  CHECK(derived_identity("Condition", {"sys", "1", "I10"}).value == a.value);
  CHECK(derived_identity("Condition", {"sys", "1", "I11"}).value != a.value);
  CHECK(derived_identity("Condition", {"sys", "1I", "10"}).value != a.value);  // parts are length-prefixed
}

TEST_CASE("XCN -> Practitioner: by identifier; the same one twice is one entry; a name alone is a display") {
  auto msg = adt("ADT^A01", "PV1|1|I|||||123^Smith^John^^^Dr^^^HOSP&1.2.3&ISO||^Jones^Ann");
  const sender_config none;
  context ctx(msg, none);
  const auto pv1 = *msg.find("PV1");
  const auto r1 = practitioner_reference(ctx, hearth::hl7v2::read_xcn(pv1.field(7)), at(pv1, 7, 1));
  const auto r2 = practitioner_reference(ctx, hearth::hl7v2::read_xcn(pv1.field(7)), at(pv1, 7, 1));
  CHECK(str(r1, "reference").rfind("urn:uuid:", 0) == 0);
  CHECK(str(r1, "reference") == str(r2, "reference"));
  const auto bundle = ctx.bundle();
  REQUIRE(get(bundle, "entry").size() == 1);
  CHECK(str(bundle, "entry[0].request.method") == "PUT");
  CHECK(str(bundle, "entry[0].request.url") == "Practitioner?identifier=urn%3Aoid%3A1.2.3|123");
  CHECK(str(bundle, "entry[0].resource.name[0].family") == "Smith");
  CHECK(str(bundle, "entry[0].resource.name[0].prefix[0]") == "Dr");
  const auto named = practitioner_reference(ctx, hearth::hl7v2::read_xcn(pv1.field(9)), at(pv1, 9, 1));
  CHECK(get(named, "reference").is_null());
  CHECK(str(named, "display") == "Ann Jones");
  CHECK(get(ctx.bundle(), "entry").size() == 1);
}

TEST_CASE("PL -> Location: the most granular place, derived identity from its parts") {
  auto msg = adt("ADT^A01", "PV1|1|I|ICU^12^B^HOSP^^^^^North wing");
  const sender_config none;
  context ctx(msg, none);
  const auto pv1 = *msg.find("PV1");
  const auto r = location_reference(ctx, hearth::hl7v2::read_pl(pv1.field(3)), at(pv1, 3));
  REQUIRE(str(r, "reference").rfind("urn:uuid:", 0) == 0);
  const auto b = ctx.bundle();
  CHECK(str(b, "entry[0].resource.name") == "HOSP ICU 12 B");
  CHECK(str(b, "entry[0].resource.description") == "North wing");
  CHECK(str(b, "entry[0].resource.physicalType.coding[0].code") == "bd");
  CHECK(str(b, "entry[0].resource.mode") == "instance");
  CHECK(str(b, "entry[0].request.url").rfind("Location?identifier=urn%3Ahearth%3Av2-derived%3ALocation|", 0) == 0);
  CHECK(location_reference(ctx, hearth::hl7v2::read_pl(pv1.field(6)), at(pv1, 6)).is_null());
}
