// convert() on the inputs hearth_fuzz_hl7v2_map (tests/fuzz/hl7v2_map_fuzz.cpp)
// found wrong, minimised; each also sits in tests/fuzz/corpus/hearth_fuzz_hl7v2_map/.
// The messages carry the MSH the fuzzer puts before them (sender
// FUZZAPP^FUZZFAC, default settings: no configuration), and each must end as
// the fuzzer requires: a Bundle that passes the R4 resource check, or an
// error with a documented table 0357 code.
#include <hearth/mapping/convert.hpp>

#include <doctest/doctest.h>

#include "mapping/test_support.hpp"

using namespace hearth::mapping;
using namespace hearth::mapping::test;

namespace {

/// The message the fuzzer builds from a selector byte's type and the rest of
/// its input.
hearth::hl7v2::message fuzz_message(std::string_view type, std::string_view segments) {
  std::string text = "MSH|^~\\&|FUZZAPP|FUZZFAC|HEARTH|HEARTH|20240305143015+0100||" + std::string(type) +
                     "|FUZZ0001|P|2.5.1\r";
  text += segments;
  return must_parse(std::move(text));
}

}  // namespace

TEST_CASE("hostile input: an ISO assigning authority whose OID is no OID names no system") {
  // PID-3.4.2 "8 5" of type ISO: "urn:oid:8 5" would be an Identifier.system
  // with white space, which is no uri (R4 datatypes.html#uri); the
  // authority then resolves as one without HD.2: the sender's system.
  const auto msg = fuzz_message("ORU^R01^ORU_R01", "PID|||1^^^&8 5&ISO\rOBR||||N|||||||||||||||||||||F");
  auto out = convert(msg, sender_config{});
  REQUIRE_MESSAGE(out, (out ? std::string() : out.error().message));
  check_bundle(out->bundle);
  const auto& patient = entry(out->bundle, "Patient");
  CHECK(str(patient, "resource.identifier[0].system") == "urn:hearth:v2-sender:FUZZFAC");
  CHECK(str(patient, "resource.identifier[0].value") == "1");
  CHECK(str(patient, "resource.identifier[0].assigner.display") == "8 5");
}

TEST_CASE("hostile input: an OID or UUID assigning authority is taken only when it is one") {
  // A well-formed OID and UUID keep the IG's HD[uri] systems.
  auto ok = convert(fuzz_message("ADT^A08^ADT_A01", "PID|||1^^^&1.2.36.1&ISO~2^^^&0b8f8e1e-3c4d-4a2b-9f1e-000000000001&UUID\r"
                                                    "PV1|1|I\r"),
                    sender_config{});
  REQUIRE(ok);
  check_bundle(ok->bundle);
  const auto& patient = entry(ok->bundle, "Patient");
  CHECK(str(patient, "resource.identifier[0].system") == "urn:oid:1.2.36.1");
  CHECK(str(patient, "resource.identifier[1].system") == "urn:uuid:0b8f8e1e-3c4d-4a2b-9f1e-000000000001");
  // An escaped tab in HD.2 (\X09\) of a UUID, an OID with an empty arc, a
  // URI with an escaped line feed: none is a URI, each falls back.
  auto bad = convert(fuzz_message("ADT^A08^ADT_A01", "PID|||1^^^&0b8f\\X09\\8e1e&UUID~2^^^&1..2&ISO~3^^^&urn:x\\X0A\\y\r"
                                                     "PV1|1|I\r"),
                     sender_config{});
  REQUIRE(bad);
  check_bundle(bad->bundle);
  const auto& p2 = entry(bad->bundle, "Patient");
  for (const char* path : {"resource.identifier[0].system", "resource.identifier[1].system",
                           "resource.identifier[2].system"}) {
    CHECK(str(p2, path) == "urn:hearth:v2-sender:FUZZFAC");
  }
}

TEST_CASE("hostile input: DG1-4 without DG1-3 is the Condition's code text") {
  // The Condition's code was null (codeable_concept() of an empty DG1-3),
  // and setting its text threw std::bad_variant_access out of convert().
  const auto msg = fuzz_message("ADT^A01^ADT_A01", "PID|1||1^^^&1.2.3&ISO\rDG1|1|||Hypertension\r");
  auto out = convert(msg, sender_config{});
  REQUIRE_MESSAGE(out, (out ? std::string() : out.error().message));
  check_bundle(out->bundle);
  const auto& condition = entry(out->bundle, "Condition");
  CHECK(str(condition, "resource.code.text") == "Hypertension");
  CHECK(get(condition, "resource.code.coding").is_null());
}

TEST_CASE("hostile input: white space inside a code collapses to single spaces") {
  // DG1-3.1 "I  10" and "I\X09\10" (a tab): Coding.code allows single
  // spaces only (R4 datatypes.html#code); the store refused the Bundle, so
  // the message was never processed. Collapsed as xs:token does.
  for (const char* code : {"I  10", "I\\X09\\10", "I\\X0D\\\\X0A\\ 10"}) {
    CAPTURE(code);
    const auto msg =
        fuzz_message("ADT^A01^ADT_A01", "PID|1||1^^^&1.2.3&ISO\rDG1|1||" + std::string(code) + "^Essential^I10\r");
    auto out = convert(msg, sender_config{});
    REQUIRE_MESSAGE(out, (out ? std::string() : out.error().message));
    check_bundle(out->bundle);
    CHECK(str(entry(out->bundle, "Condition"), "resource.code.coding[0].code") == "I 10");
  }
  // OBX-29 (observation type, a code as sent) and OBX-6 units of a local
  // system: the same.
  const std::string oru =
      "PID|1||1^^^&1.2.3&ISO\rOBR|1|PL-1^ORDERAPP^1.2.3.4.5^ISO||24323-8^Metabolic panel^LN|||"
      "202403050800+0100||||||||||||||||||F\r"
      "OBX|1|NM|2345-7^Glucose^LN||5.4|mmol\\X09\\L^millimoles per litre^99LOC|||||F||||||||||||||||||A  B\r";
  sender_config cfg;
  cfg.code_systems["99LOC"] = "http://lab.example/units";
  auto out = convert(fuzz_message("ORU^R01^ORU_R01", oru), cfg);
  REQUIRE_MESSAGE(out, (out ? std::string() : out.error().message));
  check_bundle(out->bundle);
  const auto& obs = entry(out->bundle, "Observation");
  CHECK(str(obs, "resource.valueQuantity.code") == "mmol L");
  CHECK(str(obs, "resource.category[0].coding[0].code") == "A B");
}

TEST_CASE("hostile input: a reference pointer with white space becomes a url without it") {
  // RP.1 "http://docs.example/DOC 1.pdf" was Attachment.url as sent: a url
  // with a space is none (R4 datatypes.html#uri). The space is percent-encoded.
  const std::string mdm =
      "EVN|T02|20261125170000+0100\rPID|1||1^^^&1.2.3&ISO\rPV1|1|O\r"
      "TXA|1|DS^Discharge summary^HL70270|AP|20261125164200+0100||||||||DOC-1^EPICNOTE^1.2.36.1.77^ISO||||"
      "doc.txt|LA|R|AV\r"
      "OBX|1|RP|18842-5^Discharge summary^LN|1|http://docs.example/DOC 1.pdf^DOCS^application^pdf||||||F\r";
  auto out = convert(fuzz_message("MDM^T02^MDM_T02", mdm), sender_config{});
  REQUIRE_MESSAGE(out, (out ? std::string() : out.error().message));
  check_bundle(out->bundle);
  const auto& doc = entry(out->bundle, "DocumentReference");
  CHECK(str(doc, "resource.content[0].attachment.url") == "http://docs.example/DOC%201.pdf");
  CHECK(str(doc, "resource.content[0].attachment.contentType") == "application/pdf");

  // OBX-2 RP in an ORU (the IG's valueAttachment extension), with a media
  // type whose parts hold white space: a single-spaced code.
  const std::string oru =
      "PID|1||1^^^&1.2.3&ISO\rOBR|1|PL-1^ORDERAPP^1.2.3.4.5^ISO||24323-8^Metabolic panel^LN|||"
      "202403050800+0100||||||||||||||||||F\r"
      "OBX|1|RP|18748-4^Diagnostic imaging study^LN||http://pacs example/1^PACS^image\\X09\\x^jpeg||||||F\r";
  auto o = convert(fuzz_message("ORU^R01^ORU_R01", oru), sender_config{});
  REQUIRE_MESSAGE(o, (o ? std::string() : o.error().message));
  check_bundle(o->bundle);
  const auto& obs = entry(o->bundle, "Observation");
  CHECK(str(obs, "resource.extension[0].valueAttachment.url") == "http://pacs%20example/1");
  CHECK(str(obs, "resource.extension[0].valueAttachment.contentType") == "image x/jpeg");
}

TEST_CASE("hostile input: an MDM whose text OBX is empty is an empty document") {
  // One OBX of type TX with no OBX-5: the text was "", and Attachment.data
  // an empty string (R4 json.html: strings are never empty).
  const auto msg = fuzz_message("MDM^T02^MDM_T02",
                                "PID|||1^^^&1.2&ISO\rTXA|1|DS||||||||||D1^^1.2^ISO||||||AU\rOBX|1|TX|X||||||||F\r");
  auto out = convert(msg, sender_config{});
  REQUIRE_MESSAGE(out, (out ? std::string() : out.error().message));
  check_bundle(out->bundle);
  const auto& doc = entry(out->bundle, "DocumentReference");
  CHECK(get(doc, "resource.content[0].attachment.data").is_null());
  CHECK(get(doc, "resource.content[0].attachment.size").number_text() == "0");
  CHECK(str(doc, "resource.content[0].attachment.contentType") == "text/plain; charset=utf-8");
}
