// convert(): ADT^A40 (merge patient) -> the surviving Patient and a
// Patient/$merge entry per PID/MRG pair (mapping/src/merge.cpp; the IG has
// no A40 map: HL7 v2.5.1 3.3.40 and 3.4.3, R5 patient-operation-merge.html).
#include <hearth/mapping/convert.hpp>

#include <set>

#include <doctest/doctest.h>

#include "mapping/test_support.hpp"

using namespace hearth::mapping;
using namespace hearth::mapping::test;
using hearth::hl7v2::error_code;

namespace {

constexpr const char* mrn_system = "urn:oid:1.2.36.1.2001.1003.0.8003602346556";
constexpr const char* mrn_authority = "GOODHOSP&1.2.36.1.2001.1003.0.8003602346556&ISO";

std::string pid(const std::string& mrn, const std::string& family = "Everywoman") {
  return "PID|1||" + mrn + "^^^" + mrn_authority + "^MR||" + family + "^Eve||19750322|F\r";
}

std::string mrg(const std::string& field1) { return "MRG|" + field1 + "\r"; }

std::string prior(const std::string& mrn) { return mrn + "^^^" + mrn_authority + "^MR"; }

/// The Parameters entries (the merges) of a Bundle.
std::vector<const json_value*> merges(const json_value& bundle) { return entries_of(bundle, "Parameters"); }

/// The parameter `name` of a Parameters resource, nth of that name.
const json_value& parameter(const json_value& params, std::string_view name, std::size_t nth = 0) {
  static const json_value null_value;
  const json_value& list = get(params, "parameter");
  if (!list.is_array()) return null_value;
  for (const auto& p : list.items()) {
    if (str(p, "name") == name && nth-- == 0) return p;
  }
  return null_value;
}

hearth::result<conversion, hearth::hl7v2::error> a40(const std::string& segments, const sender_config& cfg = {}) {
  return convert(adt("ADT^A40^ADT_A39", "EVN|A40|20240310101500+0100\r" + segments), cfg);
}

}  // namespace

TEST_CASE("ADT^A40: the survivor's Patient and a Patient/$merge entry, field by field") {
  CHECK(supports("ADT", "A40"));
  const auto out = must_convert(must_parse(read_data("adt_a40.hl7")));
  const auto& b = out.bundle;
  REQUIRE(get(b, "entry").size() == 3);
  // PD1-4's Practitioner, then the Patient that refers to it, then the merge.
  CHECK(str(b, "entry[0].resource.resourceType") == "Practitioner");
  CHECK(str(b, "entry[1].resource.resourceType") == "Patient");
  CHECK(str(b, "entry[2].resource.resourceType") == "Parameters");

  // The survivor: PID as ADT maps it, a conditional update on PID-3.
  const auto& survivor = b.find("entry")->items()[1];
  CHECK(str(survivor, "request.method") == "PUT");
  CHECK(str(survivor, "request.url") ==
        "Patient?identifier=urn%3Aoid%3A1.2.36.1.2001.1003.0.8003602346556|67890");
  CHECK(str(survivor, "resource.identifier[0].value") == "67890");
  CHECK(str(survivor, "resource.name[0].family") == "Everywoman");
  CHECK(str(survivor, "resource.gender") == "female");
  CHECK(str(survivor, "resource.birthDate") == "1975-03-22");
  CHECK(str(survivor, "resource.address[0].city") == "Springfield");
  CHECK(str(survivor, "resource.generalPractitioner[0].reference") == str(b, "entry[0].fullUrl"));
  CHECK(get(survivor, "resource.link").is_null());  // the store adds the links
  CHECK(get(survivor, "resource.active").is_null());

  // The merge: POST Patient/$merge with the R5 $merge parameters.
  const auto& merge = b.find("entry")->items()[2];
  CHECK(str(merge, "fullUrl").starts_with("urn:uuid:"));
  CHECK(str(merge, "request.method") == "POST");
  CHECK(str(merge, "request.url") == "Patient/$merge");
  const auto& params = get(merge, "resource");
  REQUIRE(get(params, "parameter").size() == 3);
  // MRG-1, each repetition as CX[Identifier] (as PID-3 is mapped).
  const auto& first = parameter(params, "source-patient-identifier", 0);
  CHECK(str(first, "valueIdentifier.system") == mrn_system);
  CHECK(str(first, "valueIdentifier.value") == "12345");
  CHECK(str(first, "valueIdentifier.type.coding[0].code") == "MR");
  const auto& second = parameter(params, "source-patient-identifier", 1);
  CHECK(str(second, "valueIdentifier.system") == "urn:hearth:v2-authority:TEMPREG");
  CHECK(str(second, "valueIdentifier.value") == "T-999");
  CHECK(str(second, "valueIdentifier.assigner.display") == "TEMPREG");
  // target-patient: the survivor's entry.
  CHECK(str(params, "parameter[2].name") == "target-patient");
  CHECK(str(parameter(params, "target-patient"), "valueReference.reference") == str(survivor, "fullUrl"));

  // PV1 is reported, MRG-7 (the prior name) only informs: no warning.
  std::set<std::string> warned;
  for (const auto& w : out.warnings) warned.insert(w.where.to_string());
  CHECK(warned == std::set<std::string>{"PV1"});
  CHECK(out.warnings.front().where.segment_index == 6);

  // The same message converts to the same bytes (resending is idempotent).
  const auto again = must_convert(must_parse(read_data("adt_a40.hl7")));
  CHECK(again.bundle == out.bundle);
}

TEST_CASE("ADT^A40: MRG-1 gets the identifier systems PID-3 gets, so it names the prior patient as stored") {
  sender_config cfg;
  cfg.identifier_systems["TEMPREG"] = "http://goodhosp.example/temporary-registration";
  cfg.default_identifier_system = "http://goodhosp.example/mrn";
  const auto out = must_convert(
      adt("ADT^A40", "EVN|A40\r" + pid("67890") + mrg("T-999^^^TEMPREG^PI~4711")), cfg);
  const auto& params = get(entry(out.bundle, "Parameters"), "resource");
  const auto& temp = parameter(params, "source-patient-identifier", 0);
  CHECK(str(temp, "valueIdentifier.system") == "http://goodhosp.example/temporary-registration");
  CHECK(str(temp, "valueIdentifier.value") == "T-999");
  CHECK(get(temp, "valueIdentifier.assigner").is_null());  // the authority resolved to a system
  const auto& bare = parameter(params, "source-patient-identifier", 1);
  CHECK(str(bare, "valueIdentifier.system") == "http://goodhosp.example/mrn");
  CHECK(str(bare, "valueIdentifier.value") == "4711");

  // The prior patient's own ADT, with the same identifiers in PID-3, stored
  // its identity with exactly these systems and values.
  const auto a01 = must_convert(
      adt("ADT^A01", "EVN|A01\rPID|1||T-999^^^TEMPREG^PI~4711||Everywoman^Eva||19750322|F\r"), cfg);
  const auto& prior_patient = get(entry(a01.bundle, "Patient"), "resource");
  CHECK(str(prior_patient, "identifier[0].system") == str(temp, "valueIdentifier.system"));
  CHECK(str(prior_patient, "identifier[0].value") == str(temp, "valueIdentifier.value"));
  CHECK(str(prior_patient, "identifier[1].system") == str(bare, "valueIdentifier.system"));
  CHECK(str(prior_patient, "identifier[1].value") == str(bare, "valueIdentifier.value"));

  // Without configuration: the authority's Hearth URN, and the sender's for
  // an identifier without one (fallback_system), as for PID-3.
  const auto plain = must_convert(adt("ADT^A40", "EVN|A40\r" + pid("67890") + mrg("T-999^^^TEMPREG^PI~4711")));
  const auto& plain_params = get(entry(plain.bundle, "Parameters"), "resource");
  CHECK(str(parameter(plain_params, "source-patient-identifier", 0), "valueIdentifier.system") ==
        "urn:hearth:v2-authority:TEMPREG");
  CHECK(str(parameter(plain_params, "source-patient-identifier", 1), "valueIdentifier.system") ==
        "urn:hearth:v2-sender:GOODHOSP");
}

TEST_CASE("ADT^A40: two PID/MRG pairs are two merges, each PID mapped from its own segments") {
  const std::string segments = pid("P-1", "First") + mrg(prior("X-1")) + "PV1|1|N\r" +
                               "PID|1||P-2^^^" + mrn_authority + "^MR||Second^Sam||19800101|M|||||||||||||||||||||" +
                               "\r" + "PD1||||DR9^Doctor^Dora^^^^^^" + mrn_authority + "\r" + mrg(prior("X-2"));
  const auto r = a40(segments);
  REQUIRE(r);
  check_bundle(r->bundle);
  const auto& b = r->bundle;
  const auto patients = entries_of(b, "Patient");
  REQUIRE(patients.size() == 2);
  CHECK(str(*patients[0], "resource.name[0].family") == "First");
  CHECK(str(*patients[1], "resource.name[0].family") == "Second");
  CHECK(str(*patients[1], "resource.gender") == "male");
  // PD1 of the second pair belongs to the second Patient only.
  CHECK(get(*patients[0], "resource.generalPractitioner").is_null());
  REQUIRE(entries_of(b, "Practitioner").size() == 1);
  CHECK(str(*patients[1], "resource.generalPractitioner[0].reference") ==
        str(entry(b, "Practitioner"), "fullUrl"));
  const auto m = merges(b);
  REQUIRE(m.size() == 2);
  CHECK(str(parameter(get(*m[0], "resource"), "source-patient-identifier"), "valueIdentifier.value") == "X-1");
  CHECK(str(parameter(get(*m[0], "resource"), "target-patient"), "valueReference.reference") ==
        str(*patients[0], "fullUrl"));
  CHECK(str(parameter(get(*m[1], "resource"), "source-patient-identifier"), "valueIdentifier.value") == "X-2");
  CHECK(str(parameter(get(*m[1], "resource"), "target-patient"), "valueReference.reference") ==
        str(*patients[1], "fullUrl"));
  // Each survivor precedes its merge; every fullUrl is the Bundle's once.
  std::set<std::string> urls;
  std::vector<std::string> order;
  for (const auto& e : get(b, "entry").items()) {
    urls.insert(str(e, "fullUrl"));
    order.push_back(str(e, "resource.resourceType"));
  }
  CHECK(urls.size() == get(b, "entry").size());
  CHECK(order == std::vector<std::string>{"Patient", "Parameters", "Practitioner", "Patient", "Parameters"});

  // One survivor, two priors: one Patient entry, two merges into it.
  const auto same = a40(pid("P-1") + mrg(prior("X-1")) + pid("P-1") + mrg(prior("X-2")));
  REQUIRE(same);
  REQUIRE(entries_of(same->bundle, "Patient").size() == 1);
  const auto both = merges(same->bundle);
  REQUIRE(both.size() == 2);
  const std::string survivor = str(entry(same->bundle, "Patient"), "fullUrl");
  CHECK(str(parameter(get(*both[0], "resource"), "target-patient"), "valueReference.reference") == survivor);
  CHECK(str(parameter(get(*both[1], "resource"), "target-patient"), "valueReference.reference") == survivor);
}

TEST_CASE("ADT^A40: warnings and errors of a later pair name that pair's segments in the whole message") {
  // PID-10 (race) of the second PID is reported at the second PID (segment 5).
  const auto r = a40(pid("P-1") + mrg(prior("X-1")) + "PID|1||P-2^^^" + std::string(mrn_authority) +
                     "^MR||Second^Sam||19800101|M||2106-3^White^CDCREC\r" + mrg(prior("X-2")));
  REQUIRE(r);
  REQUIRE(r->warnings.size() == 1);
  CHECK(r->warnings[0].where.to_string() == "PID-10");
  CHECK(r->warnings[0].where.segment_index == 5);
  // A bad birth date in the second PID: 102 at that PID's field 7.
  const auto bad = a40(pid("P-1") + mrg(prior("X-1")) + "PID|1||P-2^^^" + std::string(mrn_authority) +
                       "^MR||Second^Sam||1980131X|M\r" + mrg(prior("X-2")));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == error_code::data_type_error);
  CHECK(bad.error().where.to_string() == "PID-7");
  CHECK(bad.error().where.segment_index == 5);
  // MRG-3 (prior account number) names an account, another merge (A41/A44): reported.
  const auto account = a40(pid("P-1") + "MRG|" + prior("X-1") + "||ACC-1\r");
  REQUIRE(account);
  REQUIRE(account->warnings.size() == 1);
  CHECK(account->warnings[0].where.to_string() == "MRG-3");
  CHECK(account->warnings[0].code == error_code::message_accepted);
}

TEST_CASE("ADT^A40: a merge without a prior identifier, survivor or MRG is refused, positions only") {
  struct refused {
    const char* name;
    std::string segments;
    error_code code;
    std::string where;
  };
  const std::vector<refused> cases = {
      {"MRG-1 missing", pid("67890") + "MRG||||||Everywoman^Eva\r", error_code::required_field_missing, "MRG-1"},
      {"MRG-1 the null", pid("67890") + mrg("\"\""), error_code::required_field_missing, "MRG-1"},
      {"MRG-1 without CX.1", pid("67890") + mrg("^^^" + std::string(mrn_authority) + "^MR"),
       error_code::required_field_missing, "MRG-1"},
      {"no MRG", pid("67890"), error_code::required_field_missing, "MRG"},
      {"no MRG for the second PID", pid("67890") + mrg(prior("12345")) + pid("67891"),
       error_code::required_field_missing, "MRG"},
      {"no PID", "", error_code::required_field_missing, "PID"},
      {"MRG before the PID", mrg(prior("12345")) + pid("67890"), error_code::segment_sequence_error, "MRG"},
      {"two MRG", pid("67890") + mrg(prior("12345")) + mrg(prior("12346")), error_code::segment_sequence_error, "MRG"},
      {"no PID-3", "PID|1||||Everywoman^Eve\r" + mrg(prior("12345")), error_code::required_field_missing, "PID-3"},
      {"the survivor's own identifier", pid("67890") + mrg(prior("12345") + "~" + prior("67890")),
       error_code::duplicate_key_identifier, "MRG-1(2)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto r = a40(c.segments);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == c.code);
    CHECK(r.error().where.to_string() == c.where);
    // No PHI: neither identifiers nor names of the message in the text.
    for (const char* phi : {"67890", "12345", "Everywoman", "Eve", "GOODHOSP", "1.2.36"}) {
      CHECK(r.error().message.find(phi) == std::string::npos);
    }
  }
  // Warnings say as little.
  const auto out = must_convert(must_parse(read_data("adt_a40.hl7")));
  for (const auto& w : out.warnings) {
    for (const char* phi : {"67890", "12345", "T-999", "Everywoman", "Careful", "TEMPREG"}) {
      CHECK(w.text.find(phi) == std::string::npos);
    }
  }
  // Other ADT merge events are still refused (201).
  const auto a41 = convert(adt("ADT^A41", pid("67890") + mrg(prior("12345"))), {});
  REQUIRE_FALSE(a41);
  CHECK(a41.error().code == error_code::unsupported_event_code);
  CHECK_FALSE(supports("ADT", "A41"));
}

TEST_CASE("ADT^A40: faults in any field end in a valid Bundle whose merges are well formed, or an error") {
  const auto n = fault_sweep(read_data("adt_a40.hl7"), {}, true, {}, [](const json_value& b) {
    for (const json_value* m : merges(b)) {
      CHECK(str(*m, "request.url") == "Patient/$merge");
      const auto& params = get(*m, "resource");
      CHECK_FALSE(parameter(params, "source-patient-identifier").is_null());
      // The target is an earlier Patient entry.
      const std::string target = str(parameter(params, "target-patient"), "valueReference.reference");
      bool found = false;
      for (const auto& e : get(b, "entry").items()) {
        if (&e == m) break;
        found = found || (str(e, "fullUrl") == target && str(e, "resource.resourceType") == "Patient");
      }
      CHECK(found);
    }
  });
  CHECK(n.bundles > 0);
  CHECK(n.errors > 0);
}
