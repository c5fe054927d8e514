// convert(): MDM T01/T02 -> DocumentReference, field by field against the
// IG (TXA[DocumentReference], OBX[DocumentReference], ED[Attachment],
// DocumentConfidentialityStatus), identities and errors with positions.
#include <hearth/mapping/convert.hpp>

#include <set>

#include <doctest/doctest.h>

#include <hearth/core/base64.hpp>

#include "mapping/test_support.hpp"

using namespace hearth::mapping;
using namespace hearth::mapping::test;
using hearth::hl7v2::error_code;

namespace {

const char* const document_url = "DocumentReference?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.77|DOC-88123";

const char* const patient_mrn =
    "PID|1||12345^^^GOODHOSP&1.2.36.1.2001.1003.0.8003602346556&ISO^MR||Everyman^Adam||19610615|M\r";

// A TXA with document number D1 (of authority 1.2.3), `fields` by number.
std::string txa(std::initializer_list<std::pair<std::size_t, std::string_view>> fields = {}) {
  std::vector<std::string> values(13);
  values[1] = "1";
  values[2] = "CN^Consultation note^HL70270";
  values[12] = "D1^X^1.2.3^ISO";
  for (const auto& f : fields) {
    if (values.size() <= f.first) values.resize(f.first + 1);
    values[f.first] = f.second;
  }
  std::string out = "TXA";
  for (std::size_t i = 1; i < values.size(); ++i) out += "|" + values[i];
  return out + "\r";
}

std::string decoded(const json_value& attachment) {
  const auto bytes = hearth::base64::decode(str(attachment, "data"));
  REQUIRE(bytes.has_value());
  return *bytes;
}

}  // namespace

TEST_CASE("MDM^T02 with TX/FT content: the DocumentReference, field by field") {
  const auto out = must_convert(must_parse(read_data("mdm_t02_tx.hl7")));
  const auto& b = out.bundle;
  CHECK(str(b, "entry[0].resource.resourceType") == "Patient");
  const auto& e = entry(b, "DocumentReference");
  CHECK(str(e, "request.method") == "PUT");
  CHECK(str(e, "request.url") == document_url);
  const auto& doc = get(e, "resource");
  // TXA-12 -> masterIdentifier (and among the identifiers: the identity).
  CHECK(str(doc, "masterIdentifier.system") == "urn:oid:1.2.36.1.2001.1003.0.77");
  CHECK(str(doc, "masterIdentifier.value") == "DOC-88123");
  // TXA-16 file name -> identifier[0]; the identity follows.
  CHECK(str(doc, "identifier[0].value") == "discharge/DOC-88123.txt");
  CHECK(str(doc, "identifier[1].value") == "DOC-88123");
  // TXA-19 AV -> current; TXA-17 AU -> final with the v2 code kept.
  CHECK(str(doc, "status") == "current");
  CHECK(get(doc, "_status").is_null());
  CHECK(str(doc, "docStatus") == "final");
  CHECK(str(doc, "_docStatus.extension[0].url") == "http://hl7.org/fhir/StructureDefinition/alternate-codes");
  CHECK(str(doc, "_docStatus.extension[0].valueCodeableConcept.coding[0].system") ==
        "http://terminology.hl7.org/CodeSystem/v2-0271");
  CHECK(str(doc, "_docStatus.extension[0].valueCodeableConcept.coding[0].code") == "AU");
  // TXA-2 type.
  CHECK(str(doc, "type.coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0270");
  CHECK(str(doc, "type.coding[0].code") == "DS");
  CHECK(str(doc, "subject.reference") == str(entry(b, "Patient"), "fullUrl"));
  // TXA-6 with a time -> date (instant).
  CHECK(str(doc, "date") == "2026-11-25T16:42:00+01:00");
  // TXA-9 author, TXA-10 authenticator: Practitioner entries.
  std::set<std::string> practitioners;
  for (const auto* p : entries_of(b, "Practitioner")) practitioners.insert(str(*p, "fullUrl"));
  CHECK(practitioners.size() == 2);
  CHECK(practitioners.count(str(doc, "author[0].reference")) == 1);
  CHECK(practitioners.count(str(doc, "authenticator.reference")) == 1);
  CHECK(str(doc, "author[0].reference") != str(doc, "authenticator.reference"));
  // TXA-25 -> description; TXA-18 R -> securityLabel (DocumentConfidentialityStatus).
  CHECK(str(doc, "description") == "Discharge summary");
  CHECK(str(doc, "securityLabel[0].coding[0].system") == "http://terminology.hl7.org/CodeSystem/v2-0272");
  CHECK(str(doc, "securityLabel[0].coding[0].code") == "R");
  CHECK(str(doc, "securityLabel[0].coding[0].display") == "Restricted");
  // One content: every text OBX-5 (and repetition) in order, one per line,
  // escapes decoded (\T\ is &, FT's \.br\ a line break), blank lines kept,
  // leading spaces of TX kept.
  REQUIRE(get(doc, "content").size() == 1);
  const auto& a = get(doc, "content[0].attachment");
  CHECK(str(a, "contentType") == "text/plain; charset=utf-8");
  CHECK(decoded(a) ==
        "DISCHARGE SUMMARY\n"
        "\n"
        "   Hypertension & diabetes, stable.\n"
        "   Follow-up in 2 weeks.\n"
        "Signed\nDr Filler");
  // The PV1 with PV1-19: the Encounter as a conditional create, the
  // document's context.encounter; no warning about the PV1.
  const auto& enc = entry(b, "Encounter");
  CHECK(str(enc, "request.method") == "POST");
  CHECK(str(enc, "request.url") == "Encounter");
  CHECK(str(enc, "request.ifNoneExist") == "identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.9|V100");
  CHECK(str(enc, "resource.class.code") == "IMP");
  CHECK(str(enc, "resource.subject.reference") == str(entry(b, "Patient"), "fullUrl"));
  // PV1-7 is TXA-9's author: one Practitioner entry.
  CHECK(practitioners.count(str(enc, "resource.participant[0].individual.reference")) == 1);
  REQUIRE(get(doc, "context.encounter").size() == 1);
  CHECK(str(doc, "context.encounter[0].reference") == str(enc, "fullUrl"));
  std::set<std::string> where;
  for (const auto& w : out.warnings) where.insert(w.where.to_string());
  for (const auto& w : where) CHECK(w.rfind("PV1", 0) != 0);
  CHECK(supports("MDM", "T02"));
  CHECK(supports("MDM", "T01"));
  CHECK_FALSE(supports("MDM", "T03"));
}

TEST_CASE("MDM^T02 with ED content: a base64 attachment (ED[Attachment])") {
  const auto out = must_convert(must_parse(read_data("mdm_t02_ed.hl7")));
  const auto& doc = get(entry(out.bundle, "DocumentReference"), "resource");
  CHECK(str(doc, "docStatus") == "final");  // LA
  REQUIRE(get(doc, "content").size() == 1);
  const auto& a = get(doc, "content[0].attachment");
  CHECK(str(a, "contentType") == "application/pdf");  // ED.2 Application, ED.3 PDF
  // The sender's line break inside the base64 (\X0D\\X0A\) is no part of the data.
  CHECK(str(a, "data") == "JVBERi0xLjQKJSBIZWFydGggdGVzdCBkb2N1bWVudAolJUVPRgo=");
  CHECK(decoded(a) == "%PDF-1.4\n% Hearth test document\n%%EOF\n");

  // Hex and A (no encoding) data; repetitions are separate contents; ED.2
  // without ED.3 is kept as an alternate code, the content type unknown.
  const auto more = must_convert(adt("MDM^T02", std::string(patient_mrn) + txa() +
                                                    "OBX|1|ED|X^Scan^LOCAL||^IM^JPEG^Hex^FFD8FFE0~^TEXT^^A^plain "
                                                    "words||||||F\r"
                                                    "OBX|2|RP|X^Link^LOCAL||http://docs.example/d1.pdf^^application^pdf"));
  const auto& d = get(entry(more.bundle, "DocumentReference"), "resource");
  REQUIRE(get(d, "content").size() == 3);
  CHECK(str(d, "content[0].attachment.contentType") == "image/jpeg");
  CHECK(decoded(get(d, "content[0].attachment")) == std::string("\xFF\xD8\xFF\xE0", 4));
  CHECK(str(d, "content[1].attachment.contentType") == "application/octet-stream");
  CHECK(str(d, "content[1].attachment.extension[0].valueCodeableConcept.coding[0].code") == "TEXT");
  CHECK(decoded(get(d, "content[1].attachment")) == "plain words");
  // RP[Attachment]: url, RP.3/RP.4 content type.
  CHECK(str(d, "content[2].attachment.url") == "http://docs.example/d1.pdf");
  CHECK(str(d, "content[2].attachment.contentType") == "application/pdf");
}

TEST_CASE("MDM^T01: no content, the DocumentReference still valid; a later T02 updates it") {
  const auto t01 = must_convert(must_parse(read_data("mdm_t01.hl7")));
  const auto& e = entry(t01.bundle, "DocumentReference");
  CHECK(str(e, "request.url") == document_url);
  const auto& doc = get(e, "resource");
  CHECK(str(doc, "docStatus") == "preliminary");  // IP
  // "PV1|1|I": no visit number, no Encounter (a warning at PV1-19), no context.
  CHECK(entries_of(t01.bundle, "Encounter").empty());
  CHECK(get(doc, "context").is_null());
  bool pv1_19 = false;
  for (const auto& w : t01.warnings) pv1_19 = pv1_19 || w.where.to_string() == "PV1-19";
  CHECK(pv1_19);
  // content is 1..*: an attachment that says the data is absent, titled.
  REQUIRE(get(doc, "content").size() == 1);
  const auto& a = get(doc, "content[0].attachment");
  CHECK(str(a, "extension[0].url") == "http://hl7.org/fhir/StructureDefinition/data-absent-reason");
  CHECK(str(a, "extension[0].valueCode") == "not-asked");
  CHECK(str(a, "title") == "Discharge summary");
  CHECK(get(a, "data").is_null());
  // The T02 of the same document (other MSH-10): the same conditional URL.
  const auto t02 = must_convert(must_parse(read_data("mdm_t02_tx.hl7")));
  CHECK(str(entry(t02.bundle, "DocumentReference"), "request.url") == str(e, "request.url"));
  CHECK(str(entry(t02.bundle, "DocumentReference"), "fullUrl") != str(e, "fullUrl"));
  CHECK(str(entry(t02.bundle, "Patient"), "request.url") == str(entry(t01.bundle, "Patient"), "request.url"));
}

TEST_CASE("MDM PV1-19 without PV1-2: the document mapped, no Encounter, a warning at PV1-2") {
  const auto out = must_convert(adt("MDM^T02", std::string(patient_mrn) +
                                                   seg("PV1", {{1, "1"}, {19, "V5^^^H&1.2.7&ISO^VN"}}) + txa() +
                                                   "OBX|1|TX|X^Note^LOCAL||line"));
  CHECK(entries_of(out.bundle, "Encounter").empty());
  const auto& doc = get(entry(out.bundle, "DocumentReference"), "resource");
  CHECK(get(doc, "context").is_null());
  bool class_warning = false;
  for (const auto& w : out.warnings) {
    if (w.where.to_string() != "PV1-2") continue;
    class_warning = true;
    CHECK(w.code == error_code::required_field_missing);
  }
  CHECK(class_warning);
  // With the class: the Encounter, and the document's context refers to it.
  const auto with = must_convert(adt("MDM^T02", std::string(patient_mrn) +
                                                    seg("PV1", {{1, "1"}, {2, "O"}, {19, "V5^^^H&1.2.7&ISO^VN"}}) +
                                                    txa() + "OBX|1|TX|X^Note^LOCAL||line"));
  CHECK(str(entry(with.bundle, "Encounter"), "request.ifNoneExist") == "identifier=urn%3Aoid%3A1.2.7|V5");
  CHECK(str(entry(with.bundle, "DocumentReference"), "resource.context.encounter[0].reference") ==
        str(entry(with.bundle, "Encounter"), "fullUrl"));
}

TEST_CASE("MDM identity: stable across MSH-10, different for another document number") {
  const std::string body = std::string(patient_mrn) + txa() + "OBX|1|TX|X^Note^LOCAL||line";
  const auto a = must_convert(adt("MDM^T02", body, "CTRL-1"));
  const auto b = must_convert(adt("MDM^T02", body, "CTRL-2"));
  CHECK(str(entry(a.bundle, "DocumentReference"), "request.url") ==
        "DocumentReference?identifier=urn%3Aoid%3A1.2.3|D1");
  CHECK(str(entry(a.bundle, "DocumentReference"), "request.url") ==
        str(entry(b.bundle, "DocumentReference"), "request.url"));
  CHECK(str(entry(a.bundle, "DocumentReference"), "fullUrl") != str(entry(b.bundle, "DocumentReference"), "fullUrl"));
  const auto c = must_convert(adt("MDM^T02", std::string(patient_mrn) + txa({{12, "D2^X^1.2.3^ISO"}}) +
                                                 "OBX|1|TX|X^Note^LOCAL||line"));
  CHECK(str(entry(a.bundle, "DocumentReference"), "request.url") !=
        str(entry(c.bundle, "DocumentReference"), "request.url"));
}

TEST_CASE("MDM status and confidentiality per TXA-19, TXA-17, TXA-18") {
  struct status_case {
    const char* availability;
    const char* status;
  };
  for (const auto& c : {status_case{"", "current"}, status_case{"AV", "current"}, status_case{"OB", "superseded"},
                        status_case{"CA", "entered-in-error"}, status_case{"UN", "current"}}) {
    CAPTURE(c.availability);
    const auto out = must_convert(adt("MDM^T01", std::string(patient_mrn) + txa({{19, c.availability}})));
    const auto& doc = get(entry(out.bundle, "DocumentReference"), "resource");
    CHECK(str(doc, "status") == c.status);
    if (std::string_view(c.availability) == "" || std::string_view(c.availability) == "AV") {
      CHECK(get(doc, "_status").is_null());
    } else {
      CHECK(str(doc, "_status.extension[0].valueCodeableConcept.coding[0].code") == c.availability);
    }
  }
  // Unknown codes: warnings at their fields, nothing invented.
  const auto out =
      must_convert(adt("MDM^T01", std::string(patient_mrn) + txa({{17, "ZZ"}, {18, "V"}, {19, "QQ"}})));
  const auto& doc = get(entry(out.bundle, "DocumentReference"), "resource");
  CHECK(get(doc, "docStatus").is_null());
  CHECK(str(doc, "status") == "current");
  CHECK(str(doc, "securityLabel[0].coding[0].code") == "V");
  std::set<std::string> where;
  for (const auto& w : out.warnings) where.insert(w.where.to_string());
  CHECK(where.count("TXA-17") == 1);
  CHECK(where.count("TXA-19") == 1);
  // A date without time is no instant: DocumentReference.date left out, a warning.
  const auto day = must_convert(adt("MDM^T01", std::string(patient_mrn) + txa({{6, "20261125"}})));
  CHECK(get(entry(day.bundle, "DocumentReference"), "resource.date").is_null());
}

TEST_CASE("MDM errors: 101 without TXA, TXA-12 or T02 content; 102 bad dates and data; with positions") {
  auto r = convert(adt("MDM^T02", std::string(patient_mrn) + "OBX|1|TX|X||line"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.segment_id == "TXA");

  r = convert(adt("MDM^T02", std::string(patient_mrn) + txa({{12, ""}}) + "OBX|1|TX|X||line"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "TXA-12");
  CHECK(r.error().where.segment_index == 3);

  r = convert(adt("MDM^T02", std::string(patient_mrn) + txa()), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.segment_id == "OBX");

  r = convert(adt("MDM^T01", txa()), {});  // no PID
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.segment_id == "PID");

  r = convert(adt("MDM^T01", std::string(patient_mrn) + txa({{6, "20261131120000+0100"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::data_type_error);
  CHECK(r.error().where.to_string() == "TXA-6");

  r = convert(adt("MDM^T02", std::string(patient_mrn) + txa() + "OBX|1|ED|X||^AP^PDF^Base64^not*base64"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::data_type_error);
  CHECK(r.error().where.to_string() == "OBX-5.5");
  CHECK(r.error().where.segment_index == 4);

  r = convert(adt("MDM^T02", std::string(patient_mrn) + txa() + "OBX|1|ED|X||^AP^PDF^Rot13^abc~^AP^PDF^A^x"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::table_value_not_found);
  CHECK(r.error().where.to_string() == "OBX-5.4");

  // An ED in the second repetition names it.
  r = convert(adt("MDM^T02", std::string(patient_mrn) + txa() + "OBX|1|ED|X||^AP^PDF^A^x~^AP^PDF^Hex^XYZ"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().where.to_string() == "OBX-5(2).5");

  // No error text holds message content.
  r = convert(adt("MDM^T01", std::string(patient_mrn) + txa({{6, "SECRET"}})), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("SECRET") == std::string::npos);
}

TEST_CASE("the project's sample MDM^T02: its TXA is one field short, so TXA-12 is empty: 101") {
  // tests/data/hl7v2/mdm_t02.hl7 leaves out TXA-10: the document number sits
  // in TXA-11 and TXA-12 (required) is empty.
  std::ifstream in(std::string(HEARTH_TEST_DATA) + "/hl7v2/mdm_t02.hl7", std::ios::binary);
  REQUIRE(in);
  const auto msg = must_parse(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  const auto r = convert(msg, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error_code::required_field_missing);
  CHECK(r.error().where.to_string() == "TXA-12");
  // With the field put back where it belongs the sample converts: 59 lines.
  std::string fixed(msg.raw());
  const auto pos = fixed.find("|DOC88123471^EPIC|");
  REQUIRE(pos != std::string::npos);
  fixed.insert(pos, "|");
  sender_config cfg;
  const auto out = must_convert(must_parse(fixed), cfg);
  const auto& doc = get(entry(out.bundle, "DocumentReference"), "resource");
  const std::string text = decoded(get(doc, "content[0].attachment"));
  CHECK(std::count(text.begin(), text.end(), '\n') == 58);
  CHECK(text.rfind("DISCHARGE SUMMARY\n", 0) == 0);
  CHECK(text.find("hypertension & hyperlipidemia") != std::string::npos);
}

TEST_CASE("fault: every truncation and field mangling of the T02 sample gives a Bundle or a 0357 error") {
  // The point of this case is that untrusted input never crashes the mapping
  // and always ends in one of the two documented outcomes.
  for (const char* name : {"mdm_t02_tx.hl7", "mdm_t02_ed.hl7"}) {
    CAPTURE(name);
    const std::string full = read_data(name);
    const fault_counts n = fault_sweep(full);
    CHECK(n.bundles > 30);
    CHECK(n.errors > 5);
  }
}
