// hl7_intake called directly on a temporary store: what a message becomes in
// the log, the store and the trail, without sockets (the MLLP path end to end
// is tests/integration/mllp_test.cpp).

#include <doctest/doctest.h>

#include <string>

#include <hearth/server/audit.hpp>
#include <hearth/server/hl7_intake.hpp>
#include <hearth/server/metrics.hpp>
#include <hearth/store/audit_query.hpp>
#include <hearth/store/message_log.hpp>
#include <hearth/store/history.hpp>

#include "store/store_test_db.hpp"

using namespace hearth::server;
namespace store = hearth::store;

namespace {

constexpr const char* oid = "2.16.840.1.113883.3.4711";

std::string adt(const std::string& control, const std::string& mrn, const std::string& birth = "19800215") {
  return "MSH|^~\\&|ADTAPP|HOSP|HEARTH|HEARTH|20241105103000+0100||ADT^A04^ADT_A01|" + control +
         "|P|2.5.1\rEVN|A04|20241105103000+0100\rPID|1||" + mrn + "^^^HOSP&" + oid + "&ISO^MR||Doe^John||" + birth +
         "|M\r";
}

std::string msa(const std::string& ack) {
  const auto at = ack.find("\rMSA|");
  return at == std::string::npos ? std::string() : ack.substr(at + 5, 2);
}

/// The store, the log, the trail and the intake over one temporary database.
struct intake_case {
  store::test::store_case c;
  store::message_log log{*c.db};
  audit_trail trail{*c.db};
  metrics_registry metrics;
  hl7_intake intake{c.rs, log, trail, store::test::default_indexer(), hl7_intake_options{}, &metrics};

  /// Patients created (first versions in the type's history).
  std::size_t patients() {
    std::size_t n = 0;
    store::history_query q;
    q.type = "Patient";
    auto h = c.rs.history(q);
    REQUIRE(h);
    for (const auto& v : h->entries) n += v.version_id == 1 ? 1 : 0;
    return n;
  }
};

}  // namespace

TEST_CASE("hl7 intake: a message is logged, converted and committed with its AuditEvent before its ACK") {
  intake_case t;
  const std::string ack = t.intake.handle(hl7_peer{"192.0.2.7", ""}, adt("C-1", "MRN-1"));
  REQUIRE(msa(ack) == "AA");
  auto page = t.log.list(store::message_query{});
  REQUIRE(page);
  REQUIRE(page->records.size() == 1);
  const store::message_record& r = page->records[0];
  CHECK(r.status == store::message_status::processed);
  CHECK(r.control_id == "C-1");
  CHECK(r.message_type == "ADT^A04");
  CHECK(r.sender_application == "ADTAPP");
  CHECK(r.ack == ack);
  REQUIRE(r.resources.size() == 1);
  CHECK(r.resources[0].starts_with("Patient/"));
  // The AuditEvent committed with it: 110107 Import, the sender's address.
  REQUIRE(t.trail.flush());
  store::audit_query q;
  q.count = 10;
  auto events = t.trail.log().search(q);
  REQUIRE(events);
  REQUIRE(events->events.size() == 1);
  const std::string& ev = events->events[0].json;
  CHECK(ev.find("\"110107\"") != std::string::npos);
  CHECK(ev.find("192.0.2.7") != std::string::npos);
  CHECK(ev.find("\"C-1\"") != std::string::npos);  // the control id, as entity detail
  CHECK(ev.find("Doe") == std::string::npos);      // no content of the message
  CHECK(t.intake.stats().processed == 1);
  std::string text;
  t.metrics.render(text);
  CHECK(text.find("hearth_hl7_messages_total{type=\"ADT^A04\",sender=\"ADTAPP\",status=\"processed\"} 1") !=
        std::string::npos);
}

TEST_CASE("hl7 intake: the same message again gets the same ACK; another with its control id gets AR 205") {
  intake_case t;
  const std::string first = t.intake.handle({}, adt("C-1", "MRN-1"));
  REQUIRE(msa(first) == "AA");
  CHECK(t.intake.handle({}, adt("C-1", "MRN-1")) == first);
  const std::string other = t.intake.handle({}, adt("C-1", "MRN-2"));
  CHECK(msa(other) == "AR");
  CHECK(other.find("|205^") != std::string::npos);
  CHECK(t.intake.stats().duplicates == 1);
  CHECK(t.patients() == 1);
  auto page = t.log.list(store::message_query{});
  REQUIRE(page);
  CHECK(page->records.size() == 1);  // the reused control id is not logged again
}

TEST_CASE("hl7 intake: a message logged but not finished before a stop is processed by recover()") {
  intake_case t;
  // What receive() leaves when the process dies before processing.
  store::incoming_message in;
  in.raw = adt("C-9", "MRN-9");
  in.sender_application = "ADTAPP";
  in.sender_facility = "HOSP";
  in.control_id = "C-9";
  in.message_type = "ADT^A04";
  auto receipt = t.log.receive(in);
  REQUIRE(receipt);
  auto done = t.intake.recover();
  REQUIRE(done);
  CHECK(*done == 1);
  auto rec = t.log.get(receipt->id);
  REQUIRE(rec);
  REQUIRE(*rec);
  CHECK((*rec)->status == store::message_status::processed);
  CHECK(msa((*rec)->ack) == "AA");
  CHECK(t.patients() == 1);
  // The sender, never acknowledged, sends it again: answered from the log.
  CHECK(t.intake.handle({}, in.raw) == (*rec)->ack);
  CHECK(t.patients() == 1);
}

TEST_CASE("hl7 intake: errors are logged with their ACK and write nothing; reprocess runs them again") {
  intake_case t;
  const std::string ae = t.intake.handle({}, adt("C-2", "MRN-2", "1980021X"));
  CHECK(msa(ae) == "AE");
  CHECK(ae.find("PID^1^7") != std::string::npos);  // ERR-2: where
  auto page = t.log.list(store::message_query{});
  REQUIRE(page);
  REQUIRE(page->records.size() == 1);
  const std::int64_t id = page->records[0].id;
  CHECK(page->records[0].status == store::message_status::error);
  CHECK(page->records[0].error.find("102") != std::string::npos);
  CHECK(t.patients() == 0);
  // Still in error when run again (nothing changed), and only errors may be.
  auto again = t.intake.reprocess(id);
  REQUIRE(again);
  CHECK(again->status == store::message_status::error);
  CHECK(t.intake.handle({}, adt("C-3", "MRN-3")).find("MSA|AA") != std::string::npos);
  auto processed = t.log.list(store::message_query{.status = store::message_status::processed});
  REQUIRE(processed);
  REQUIRE(processed->records.size() == 1);
  auto refused = t.intake.reprocess(processed->records[0].id);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "conflict");
}

TEST_CASE("hl7 intake: a batch is answered with a batch of ACKs; a broken envelope is rejected whole") {
  intake_case t;
  const std::string batch = "BHS|^~\\&|ADTAPP|HOSP|HEARTH|HEARTH|20241105103000+0100||||B-7\r" + adt("B-1", "MRN-B1") +
                            adt("B-2", "MRN-B2", "bad") + "BTS|2\r";
  const std::string reply = t.intake.handle({}, batch);
  REQUIRE(reply.starts_with("BHS|^~\\&|HEARTH||ADTAPP|HOSP|"));
  CHECK(reply.find("|B-7\r") != std::string::npos);
  CHECK(reply.find("MSA|AA|B-1") != std::string::npos);
  CHECK(reply.find("MSA|AE|B-2") != std::string::npos);
  CHECK(reply.ends_with("BTS|2\r"));
  CHECK(t.patients() == 1);

  const std::string broken = "BHS|^~\\&|ADTAPP|HOSP\r" + adt("B-3", "MRN-B3") + "BTS|5\r";  // count off
  const std::string rejected = t.intake.handle({}, broken);
  CHECK(msa(rejected) == "AR");
  CHECK(t.patients() == 1);
}

TEST_CASE("hl7 intake: unparsable input, unsupported types and processing ids are rejected and logged") {
  intake_case t;
  CHECK(msa(t.intake.handle({}, "not a message")) == "AR");
  std::string query = adt("Q-1", "MRN-Q");
  query.replace(query.find("ADT^A04^ADT_A01"), 15, "QRY^A19");
  const std::string qack = t.intake.handle({}, query);
  CHECK(msa(qack) == "AR");
  CHECK(qack.find("|200^") != std::string::npos);
  std::string training = adt("T-1", "MRN-T");
  training.replace(training.find("|P|2.5.1"), 8, "|X|2.5.1");
  CHECK(t.intake.handle({}, training).find("|202^") != std::string::npos);
  auto rejected = t.log.list(store::message_query{.status = store::message_status::rejected});
  REQUIRE(rejected);
  CHECK(rejected->records.size() == 3);
  CHECK(t.patients() == 0);
  CHECK(t.intake.stats().rejected == 3);
}

namespace {

/// ADT^A40: the survivor `survivor_mrn` (PID-3) absorbs `prior_mrn` (MRG-1).
std::string a40(const std::string& control, const std::string& survivor_mrn, const std::string& prior_mrn) {
  return "MSH|^~\\&|ADTAPP|HOSP|HEARTH|HEARTH|20241105103000+0100||ADT^A40^ADT_A39|" + control +
         "|P|2.5.1\rEVN|A40|20241105103000+0100\rPID|1||" + survivor_mrn + "^^^HOSP&" + oid +
         "&ISO^MR||Doe^John||19800215|M\rMRG|" + prior_mrn + "^^^HOSP&" + oid + "&ISO^MR\r";
}

/// The id of the current Patient with this MRN, or "" when none.
std::string patient_id(store::resource_store& rs, const std::string& mrn) {
  std::string id;
  REQUIRE(rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto ids = tx.find_by_identifier("Patient", std::string("urn:oid:") + oid, mrn);
    REQUIRE(ids);
    if (ids->size() == 1) id = ids->front();
    return {};
  }));
  return id;
}

std::string subject_of(store::resource_store& rs, const std::string& observation_id) {
  auto v = rs.read("Observation", observation_id);
  REQUIRE(v);
  auto json = store::test::json(v->json);
  return json.find("subject")->find("reference")->str();
}

}  // namespace

TEST_CASE("hl7 intake: an A40 merges the prior patient into the survivor; an unknown prior one is AE 204") {
  intake_case t;
  REQUIRE(msa(t.intake.handle({}, adt("A-1", "MRN-X"))) == "AA");
  REQUIRE(msa(t.intake.handle({}, adt("A-2", "MRN-Y"))) == "AA");
  const std::string x = patient_id(t.c.rs, "MRN-X");
  const std::string y = patient_id(t.c.rs, "MRN-Y");
  REQUIRE_FALSE(x.empty());
  REQUIRE_FALSE(y.empty());
  auto obs = t.c.rs.create("Observation", store::test::json(R"({"resourceType":"Observation","status":"final",)"
                                                            R"("code":{"text":"weight"},"subject":{"reference":"Patient/)" +
                                                            x + R"("}})"));
  REQUIRE(obs);
  const std::string o = obs->version.id;

  // Unknown prior patient: AE, ERR-3 204 at MRG-1, nothing changed.
  const std::string unknown = t.intake.handle({}, a40("M-0", "MRN-Y", "MRN-NOBODY"));
  CHECK(msa(unknown) == "AE");
  CHECK(unknown.find("|204^") != std::string::npos);
  CHECK(unknown.find("MRG^1^1") != std::string::npos);  // ERR-2: where
  CHECK(unknown.find("MRN-NOBODY") == std::string::npos);
  CHECK(subject_of(t.c.rs, o) == "Patient/" + x);
  auto failed = t.log.list(store::message_query{.status = store::message_status::error});
  REQUIRE(failed);
  CHECK(failed->records.size() == 1);
  CHECK(t.patients() == 2);

  // The merge: AA, the Observation follows the survivor, the prior is retired.
  const std::string ack = t.intake.handle({}, a40("M-1", "MRN-Y", "MRN-X"));
  REQUIRE(msa(ack) == "AA");
  CHECK(subject_of(t.c.rs, o) == "Patient/" + y);
  auto prior = t.c.rs.read("Patient", x);
  REQUIRE(prior);
  const auto pj = store::test::json(prior->json);
  CHECK_FALSE(pj.find("active")->as_bool());
  CHECK(pj.find("link")->items()[0].find("type")->str() == "replaced-by");
  CHECK(pj.find("link")->items()[0].find("other")->find("reference")->str() == "Patient/" + y);
  auto survivor = t.c.rs.read("Patient", y);
  REQUIRE(survivor);
  CHECK(survivor->json.find("\"replaces\"") != std::string::npos);
  CHECK(t.patients() == 2);
  // The log records what the message wrote, the moved Observation included.
  auto done = t.log.list(store::message_query{.status = store::message_status::processed});
  REQUIRE(done);
  const store::message_record* merged = nullptr;
  for (const auto& r : done->records) {
    if (r.control_id == "M-1") merged = &r;
  }
  REQUIRE(merged != nullptr);
  CHECK(merged->resources == std::vector<std::string>{"Patient/" + y + "/_history/2", "Patient/" + x + "/_history/2",
                                                      "Observation/" + o + "/_history/2"});
  // Sent again: the same ACK from the log, nothing new.
  CHECK(t.intake.handle({}, a40("M-1", "MRN-Y", "MRN-X")) == ack);
  // The same merge under a new control id writes nothing new either.
  REQUIRE(msa(t.intake.handle({}, a40("M-2", "MRN-Y", "MRN-X"))) == "AA");
  auto after = t.c.rs.read("Patient", x);
  REQUIRE(after);
  CHECK(after->version_id == 2);
  auto obs_after = t.c.rs.read("Observation", o);
  REQUIRE(obs_after);
  CHECK(obs_after->version_id == 2);
  auto survivor_after = t.c.rs.read("Patient", y);
  REQUIRE(survivor_after);
  CHECK(survivor_after->version_id == 2);
}
