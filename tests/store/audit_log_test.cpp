// The AuditEvent trail on both engines: appends in a write's transaction and
// in batches, the hash chain and what its verification finds when rows are
// tampered with by SQL, search and paging (audit_log.hpp, audit_query.hpp).
#include <hearth/store/audit_log.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <hearth/store/audit_query.hpp>
#include <hearth/store/error_codes.hpp>
#include <hearth/store/search_request.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
namespace fhir = hearth::fhir;
using store::test::code_of;
using store::test::json;

namespace {

/// What a test event carries; the JSON is built from it.
struct ev {
  std::string recorded = "2024-03-01T12:00:00.000Z";
  std::string subtype = "read";
  std::string action = "R";
  std::string outcome = "0";
  std::string client = "app-1";
  std::string user;     ///< fhirUser reference, "" for none
  std::string entity;   ///< entity[data].what reference, "" for none
  std::vector<std::string> patients;
};

/// A small R4 AuditEvent in the shape the server writes (BALP): type rest,
/// subtype, agents client (identifier) and user (reference), entities.
fhir::json_value event(const ev& e) {
  std::string agents = R"({"type":{"coding":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110153"}]},)"
                       R"("who":{"identifier":{"system":"https://issuer.example","value":")" + e.client +
                       R"("}},"requestor":false,"network":{"address":"127.0.0.1","type":"2"}})";
  if (!e.user.empty()) agents += R"(,{"who":{"reference":")" + e.user + R"("},"requestor":true})";
  std::string entities;
  if (!e.entity.empty()) entities += R"({"what":{"reference":")" + e.entity + R"("}})";
  for (const std::string& p : e.patients) {
    if (!entities.empty()) entities += ",";
    entities += R"({"what":{"reference":"Patient/)" + p + R"("},"type":{"code":"1"}})";
  }
  return json(R"({"resourceType":"AuditEvent",)"
              R"("type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},)"
              R"("subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":")" + e.subtype + R"("}],)"
              R"("action":")" + e.action + R"(","recorded":")" + e.recorded + R"(","outcome":")" + e.outcome +
              R"(","agent":[)" + agents + R"(],"source":{"observer":{"display":"hearth"}})" +
              (entities.empty() ? std::string() : R"(,"entity":[)" + entities + "]") + "}");
}

/// An event without any reference or identifier: no audit_event_ref rows,
/// so that tests can move rows with SQL without moving their keys too.
fhir::json_value bare_event(int n) {
  return json(R"({"resourceType":"AuditEvent","type":{"code":"rest"},"recorded":"2024-03-01T12:00:)" +
              std::string(n < 10 ? "0" : "") + std::to_string(n % 60) +
              R"(.000Z","agent":[{"requestor":false}],"source":{"observer":{"display":"hearth"}}})");
}

/// Appends `n` ref-less events in one batch; fails the case otherwise.
std::vector<store::audit_appended> append_bare(store::audit_log& log, int n) {
  std::vector<fhir::json_value> events;
  for (int i = 0; i < n; ++i) events.push_back(bare_event(i));
  auto r = log.append_batch(std::move(events));
  REQUIRE(r);
  return *r;
}

/// Lifts the append-only triggers, as someone with SQL access to the
/// database can: what the hash chain must then reveal.
void allow_tampering(soci::session& raw, store::engine kind) {
  if (kind == store::engine::sqlite) {
    for (const char* t : {"audit_event_no_update", "audit_event_no_delete", "audit_event_ref_no_update",
                          "audit_event_ref_no_delete"}) {
      raw << std::string("DROP TRIGGER ") + t;
    }
  } else {
    raw << "ALTER TABLE audit_event DISABLE TRIGGER USER";
    raw << "ALTER TABLE audit_event_ref DISABLE TRIGGER USER";
  }
}

struct row_text {
  std::string json, prev_hash, hash;
};

row_text row_at(soci::session& raw, long long seq) {
  row_text r;
  raw << "SELECT json, prev_hash, hash FROM audit_event WHERE seq = :s", soci::into(r.json), soci::into(r.prev_hash),
      soci::into(r.hash), soci::use(seq, "s");
  REQUIRE(raw.got_data());
  return r;
}

/// Renumbers events from `from` on by `by` (in two steps: seq is a key).
void shift(soci::session& raw, long long from, long long by) {
  const long long far = 1000000;
  raw << "UPDATE audit_event SET seq = seq + :far WHERE seq >= :from", soci::use(far, "far"), soci::use(from, "from");
  raw << "UPDATE audit_event_ref SET seq = seq + :far WHERE seq >= :from", soci::use(far, "far"),
      soci::use(from, "from");
  const long long back = far - by;
  raw << "UPDATE audit_event SET seq = seq - :back WHERE seq >= :far", soci::use(back, "back"), soci::use(far, "far");
  raw << "UPDATE audit_event_ref SET seq = seq - :back WHERE seq >= :far", soci::use(back, "back"),
      soci::use(far, "far");
}

/// Inserts a forged but self-consistent event at `seq`: a copy of event
/// `model` (its keys included) under another id, linked to `prev_hash`.
void insert_forged(soci::session& raw, long long model, long long seq, const std::string& prev_hash) {
  row_text m = row_at(raw, model);
  std::string id;
  raw << "SELECT id FROM audit_event WHERE seq = :s", soci::into(id), soci::use(model, "s");
  const std::string forged_id = "forged-0001";
  std::string json = m.json;
  json.replace(json.find(id), id.size(), forged_id);
  const std::string hash = store::audit_chain_hash(prev_hash, json).value();
  raw << "INSERT INTO audit_event (seq, id, recorded, last_updated, type_system, type_code, subtype_system,"
         " subtype_code, action, outcome, json, prev_hash, hash)"
         " SELECT :seq, :id, recorded, last_updated, type_system, type_code, subtype_system, subtype_code, action,"
         " outcome, :json, :prev, :hash FROM audit_event WHERE seq = :model",
      soci::use(seq, "seq"), soci::use(forged_id, "id"), soci::use(json, "json"), soci::use(prev_hash, "prev"),
      soci::use(hash, "hash"), soci::use(model, "model");
  raw << "INSERT INTO audit_event_ref (kind, ref_id, ref_type, seq) SELECT kind, ref_id, ref_type, :seq"
         " FROM audit_event_ref WHERE seq = :model",
      soci::use(seq, "seq"), soci::use(model, "model");
}

store::chain_report verify(store::database& db, std::size_t batch_rows = 500) {
  store::verify_options o;
  o.batch_rows = batch_rows;
  auto r = store::verify_chain(db, o);
  REQUIRE(r);
  return *r;
}

/// Appends 10 events (sequences 1-10) and returns the case.
struct chained_case {
  chained_case() : log(*c.db) {
    std::vector<fhir::json_value> events;
    for (int i = 0; i < 10; ++i) {
      ev e;
      e.patients = {"p" + std::to_string(i % 3)};
      e.entity = "Observation/o" + std::to_string(i);
      events.push_back(event(e));
    }
    auto r = log.append_batch(std::move(events));
    REQUIRE(r);
    REQUIRE(r->size() == 10);
    raw = c.tdb.raw();
    allow_tampering(*raw, c.tdb.kind());
  }
  store::test::store_case c;
  store::audit_log log;
  std::unique_ptr<soci::session> raw;
};

long long count_rows(soci::session& raw, const char* table) {
  long long n = 0;
  raw << std::string("SELECT COUNT(*) FROM ") + table, soci::into(n);
  return n;
}

}  // namespace

TEST_CASE("db: audit events appended in batches and in write transactions form one chain that verifies") {
  store::test::store_case c;
  store::audit_log log(*c.db);
  log.set_clock([] { return store::instant(std::chrono::milliseconds(1709294400250)); });
  ev e;
  e.patients = {"p1"};
  auto batch = log.append_batch({event(e), event(e)});
  REQUIRE(batch);
  REQUIRE(batch->size() == 2);
  CHECK((*batch)[0].sequence == 1);
  CHECK((*batch)[1].sequence == 2);
  CHECK((*batch)[0].id != (*batch)[1].id);

  // A create whose hook records it in the same transaction.
  std::optional<store::audit_appended> in_tx;
  auto w = c.rs.create("Patient", json(R"({"resourceType":"Patient"})"),
                       [&](store::resource_tx& tx, const store::write_outcome& out) -> hearth::result<void> {
                         ev created;
                         created.subtype = "create";
                         created.action = "C";
                         created.entity = "Patient/" + out.version.id + "/_history/1";
                         auto a = store::audit_log::append(tx, event(created));
                         if (!a) return hearth::unexpected(a.error());
                         in_tx = *a;
                         return {};
                       });
  REQUIRE(w);
  REQUIRE(in_tx);
  CHECK(in_tx->sequence == 3);

  // The stored text is what is served: id and meta set, hashed as stored.
  auto row = log.read(in_tx->id);
  REQUIRE(row);
  CHECK(row->sequence == 3);
  auto tree = json(row->json);
  CHECK(tree.find("id")->str() == in_tx->id);
  CHECK(tree.find("meta")->find("versionId")->str() == "1");
  CHECK(row->json.find("\"Patient/" + w->version.id + "/_history/1\"") != std::string::npos);

  auto raw = c.tdb.raw();
  std::string prev = std::string(store::audit_chain_start);
  for (long long seq = 1; seq <= 3; ++seq) {
    const row_text r = row_at(*raw, seq);
    CHECK(r.prev_hash == prev);
    CHECK(r.hash == store::audit_chain_hash(prev, r.json).value());  // SHA-256(prev || json)
    prev = r.hash;
  }
  const store::chain_report report = verify(*c.db);
  CHECK(report.ok());
  CHECK(report.checked == 3);
  CHECK(report.head_sequence == 3);
  CHECK(store::to_string(report.broken) == "ok");
  // The written resource was committed with its event.
  CHECK(c.rs.read("Patient", w->version.id));
}

TEST_CASE("db: the audit trail is append-only: UPDATE and DELETE are refused by the database") {
  store::test::store_case c;
  store::audit_log log(*c.db);
  append_bare(log, 2);
  auto raw = c.tdb.raw();
  CHECK_THROWS(*raw << "UPDATE audit_event SET outcome = '8' WHERE seq = 1");
  CHECK_THROWS(*raw << "DELETE FROM audit_event WHERE seq = 2");
  CHECK(count_rows(*raw, "audit_event") == 2);
  CHECK(verify(*c.db).ok());
}

TEST_CASE("db: an audit append rolls back with the write it records, and a failed write takes its event along") {
  store::test::store_case c;
  store::audit_log log(*c.db);
  // The hook appends, then fails: neither the Patient nor the event stays.
  auto failed = c.rs.create("Patient", json(R"({"resourceType":"Patient"})"),
                            [&](store::resource_tx& tx, const store::write_outcome&) -> hearth::result<void> {
                              REQUIRE(store::audit_log::append(tx, event(ev{})));
                              return hearth::unexpected(hearth::error{"exception", "forced", {}, hearth::error::npos});
                            });
  CHECK(code_of(failed) == "exception");
  // An event the log refuses fails the write it should record (fail closed).
  auto refused = c.rs.create("Patient", json(R"({"resourceType":"Patient"})"),
                             [&](store::resource_tx& tx, const store::write_outcome&) -> hearth::result<void> {
                               auto a = store::audit_log::append(tx, json(R"({"resourceType":"Patient"})"));
                               if (!a) return hearth::unexpected(a.error());
                               return {};
                             });
  CHECK(code_of(refused) == store::error_codes::invalid);
  // A transaction whose later write fails: its event goes with it.
  auto tx = c.rs.transaction([&](store::resource_tx& t) -> hearth::result<void> {
    auto p = t.create("Patient", json(R"({"resourceType":"Patient"})"));
    if (!p) return hearth::unexpected(p.error());
    if (auto a = store::audit_log::append(t, event(ev{})); !a) return hearth::unexpected(a.error());
    store::update_options o;
    o.expected_version = 7;  // not the current version: conflict
    auto u = t.update("Patient", p->version.id, json(R"({"resourceType":"Patient","active":true})"), o);
    if (!u) return hearth::unexpected(u.error());
    return {};
  });
  CHECK(code_of(tx) == store::error_codes::conflict);

  auto raw = c.tdb.raw();
  CHECK(count_rows(*raw, "audit_event") == 0);
  CHECK(count_rows(*raw, "audit_event_ref") == 0);
  CHECK(count_rows(*raw, "resource") == 0);
  // The chain goes on from where the committed events left it.
  auto next = log.append_batch({event(ev{})});
  REQUIRE(next);
  CHECK(next->front().sequence == 1);
  CHECK(verify(*c.db).ok());
}

TEST_CASE("db: audit verify finds an edited event (content, search key, reference row)") {
  chained_case k;
  SUBCASE("the JSON") {
    row_text r = row_at(*k.raw, 4);
    const auto at = r.json.find("\"outcome\":\"0\"");
    REQUIRE(at != std::string::npos);
    r.json.replace(at, 13, "\"outcome\":\"4\"");
    *k.raw << "UPDATE audit_event SET json = :j WHERE seq = 4", soci::use(r.json, "j");
  }
  SUBCASE("a search key column") { *k.raw << "UPDATE audit_event SET outcome = '8' WHERE seq = 4"; }
  SUBCASE("a reference row (hiding the event from a patient search)") {
    *k.raw << "DELETE FROM audit_event_ref WHERE seq = 4 AND ref_type = 'Patient'";
  }
  SUBCASE("the stored hash") {
    const std::string forged(64, 'a');  // soci binds by reference: the value must outlive the statement
    *k.raw << "UPDATE audit_event SET hash = :h WHERE seq = 4", soci::use(forged, "h");
  }
  const store::chain_report r = verify(*k.c.db);
  CHECK(r.broken == store::chain_break::edited);
  CHECK(r.sequence == 4);
  CHECK(r.checked == 3);
}

TEST_CASE("db: audit verify finds a chain re-hashed after an edit by its head") {
  chained_case k;
  // Edit event 6 and recompute every later link: each row is consistent,
  // but the head still holds the old last hash.
  row_text six = row_at(*k.raw, 6);
  six.json.replace(six.json.find("\"action\":\"R\""), 12, "\"action\":\"E\"");
  *k.raw << "UPDATE audit_event SET json = :j, action = 'E' WHERE seq = 6", soci::use(six.json, "j");
  std::string prev = six.prev_hash;
  for (long long seq = 6; seq <= 10; ++seq) {
    const row_text r = row_at(*k.raw, seq);
    const std::string h = store::audit_chain_hash(prev, r.json).value();
    *k.raw << "UPDATE audit_event SET prev_hash = :p, hash = :h WHERE seq = :s", soci::use(prev, "p"),
        soci::use(h, "h"), soci::use(seq, "s");
    prev = h;
  }
  const store::chain_report r = verify(*k.c.db);
  CHECK(r.broken == store::chain_break::edited);
  CHECK(r.sequence == 10);
}

TEST_CASE("db: audit verify finds deleted events (a gap, a renumbered chain, the end)") {
  chained_case k;
  long long expected = 0;
  SUBCASE("a gap") {
    *k.raw << "DELETE FROM audit_event WHERE seq = 5";
    expected = 5;
  }
  SUBCASE("renumbered to hide the gap") {
    *k.raw << "DELETE FROM audit_event WHERE seq = 5";
    *k.raw << "DELETE FROM audit_event_ref WHERE seq = 5";
    shift(*k.raw, 6, -1);
    expected = 5;
  }
  SUBCASE("the last events") {
    *k.raw << "DELETE FROM audit_event WHERE seq >= 9";
    expected = 9;
  }
  SUBCASE("the first event") {
    *k.raw << "DELETE FROM audit_event WHERE seq = 1";
    expected = 1;
  }
  for (std::size_t batch : {std::size_t{500}, std::size_t{3}}) {
    const store::chain_report r = verify(*k.c.db, batch);
    CHECK(r.broken == store::chain_break::deleted);
    CHECK(r.sequence == expected);
  }
}

TEST_CASE("db: audit verify finds events whose sequence numbers were swapped") {
  store::test::store_case c;
  store::audit_log log(*c.db);
  append_bare(log, 8);
  auto raw = c.tdb.raw();
  allow_tampering(*raw, c.tdb.kind());
  long long a = 0, b = 0;
  SUBCASE("adjacent") {
    a = 3;
    b = 4;
  }
  SUBCASE("apart") {
    a = 2;
    b = 6;
  }
  const long long parked = 999999;
  *raw << "UPDATE audit_event SET seq = :p WHERE seq = :a", soci::use(parked, "p"), soci::use(a, "a");
  *raw << "UPDATE audit_event SET seq = :a WHERE seq = :b", soci::use(a, "a"), soci::use(b, "b");
  *raw << "UPDATE audit_event SET seq = :b WHERE seq = :p", soci::use(b, "b"), soci::use(parked, "p");
  for (std::size_t batch : {std::size_t{500}, std::size_t{2}}) {
    const store::chain_report r = verify(*c.db, batch);
    CHECK(r.broken == store::chain_break::reordered);
    CHECK(r.sequence == a);
  }
}

TEST_CASE("db: audit verify finds forged events inserted into the chain or past its head") {
  chained_case k;
  long long expected = 0;
  store::chain_break kind = store::chain_break::inserted;
  SUBCASE("in the middle, the later events renumbered") {
    shift(*k.raw, 4, 1);
    insert_forged(*k.raw, 3, 4, row_at(*k.raw, 3).hash);
    expected = 4;
  }
  SUBCASE("past the head") {
    insert_forged(*k.raw, 10, 11, row_at(*k.raw, 10).hash);
    expected = 11;
  }
  SUBCASE("with a hash that does not fit") {
    insert_forged(*k.raw, 10, 11, row_at(*k.raw, 10).hash);
    const std::string forged(64, 'b');
    *k.raw << "UPDATE audit_event SET hash = :h WHERE seq = 11", soci::use(forged, "h");
    expected = 11;
    kind = store::chain_break::edited;
  }
  const store::chain_report r = verify(*k.c.db);
  CHECK(r.broken == kind);
  CHECK(r.sequence == expected);
}

TEST_CASE("db: audit batches appended from many threads form one linear chain") {
  store::test::store_case c;
  store::audit_log log(*c.db);
  constexpr int threads = 8, batches = 20, per_batch = 10;
  std::atomic<int> failures{0};
  std::vector<std::vector<long long>> seen(threads);
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int b = 0; b < batches; ++b) {
          std::vector<fhir::json_value> events;
          for (int i = 0; i < per_batch; ++i) events.push_back(bare_event(i));
          auto r = log.append_batch(std::move(events));
          if (!r) {
            ++failures;
            continue;
          }
          // A batch is one run of consecutive sequence numbers.
          for (std::size_t i = 1; i < r->size(); ++i) {
            if ((*r)[i].sequence != (*r)[i - 1].sequence + 1) ++failures;
          }
          for (const auto& a : *r) seen[t].push_back(a.sequence);
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  CHECK(failures == 0);
  std::set<long long> all;
  for (const auto& s : seen) all.insert(s.begin(), s.end());
  CHECK(all.size() == threads * batches * per_batch);
  CHECK(*all.begin() == 1);
  CHECK(*all.rbegin() == threads * batches * per_batch);
  const store::chain_report r = verify(*c.db, 97);
  CHECK(r.ok());
  CHECK(r.checked == threads * batches * per_batch);
}

TEST_CASE("db: two store instances on one database append concurrently to one linear chain") {
  // Two database objects are two processes' worth of connections and
  // writers: on PostgreSQL they serialise on the locked chain head, on
  // SQLite on the database lock.
  store::test::test_db tdb;
  auto db1 = tdb.open();
  auto db2 = tdb.open();
  store::audit_log log1(*db1), log2(*db2);
  store::resource_store rs2(*db2, store::test::default_indexer());
  constexpr int rounds = 40;
  std::atomic<int> failures{0};
  std::thread t1([&] {
    for (int i = 0; i < rounds; ++i) {
      std::vector<fhir::json_value> events;
      for (int j = 0; j < 5; ++j) events.push_back(bare_event(j));
      if (!log1.append_batch(std::move(events))) ++failures;
    }
  });
  std::thread t2([&] {
    for (int i = 0; i < rounds; ++i) {
      // Half of them in write transactions, as a write_hook appends.
      if (i % 2 == 0) {
        if (!log2.append_batch({bare_event(i), bare_event(i)})) ++failures;
      } else {
        auto r = rs2.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
          for (int j = 0; j < 2; ++j) {
            if (auto a = store::audit_log::append(tx, bare_event(j)); !a) return hearth::unexpected(a.error());
          }
          return {};
        });
        if (!r) ++failures;
      }
    }
  });
  t1.join();
  t2.join();
  CHECK(failures == 0);
  const store::chain_report r = verify(*db1);
  CHECK(r.ok());
  CHECK(r.checked == rounds * 5 + rounds * 2);
  CHECK(r.head_sequence == rounds * 5 + rounds * 2);
}

TEST_CASE("db: audited write transactions of two store instances locking rows in opposite orders do not deadlock") {
  // Two processes' writers: each transaction writes one Patient, appends its
  // AuditEvent (which locks the chain head on PostgreSQL), then writes the
  // other Patient. Each waits (a little) for the other to have written its
  // first row before writing its second: without one lock order (the head
  // first, sql.hpp lock_order) that is a deadlock, which PostgreSQL breaks
  // by failing one of them.
  store::test::test_db tdb;
  auto db1 = tdb.open();
  auto db2 = tdb.open();
  store::resource_store rs1(*db1, store::test::default_indexer());
  store::resource_store rs2(*db2, store::test::default_indexer());
  auto patient = [](const std::string& id, int n) {
    return json(R"({"resourceType":"Patient","id":")" + id + R"(","multipleBirthInteger":)" + std::to_string(n) + "}");
  };
  REQUIRE(rs1.update("Patient", "pa", patient("pa", 0)));
  REQUIRE(rs1.update("Patient", "pb", patient("pb", 0)));
  constexpr int rounds = 6;
  std::atomic<int> step1{0}, step2{0}, failures{0};
  auto crossing = [&](store::resource_store& rs, const std::string& first, const std::string& second,
                      std::atomic<int>& mine, const std::atomic<int>& other) {
    for (int round = 1; round <= rounds; ++round) {
      auto r = rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
        if (auto u = tx.update("Patient", first, patient(first, round)); !u) return hearth::unexpected(u.error());
        if (auto a = store::audit_log::append(tx, bare_event(round)); !a) return hearth::unexpected(a.error());
        mine.store(round);
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
        while (other.load() < round && std::chrono::steady_clock::now() < until) std::this_thread::yield();
        if (auto u = tx.update("Patient", second, patient(second, 100 + round)); !u) {
          return hearth::unexpected(u.error());
        }
        return {};
      });
      if (!r) ++failures;
      mine.store(round);
    }
  };
  std::thread t1([&] { crossing(rs1, "pa", "pb", step1, step2); });
  std::thread t2([&] { crossing(rs2, "pb", "pa", step2, step1); });
  t1.join();
  t2.join();
  CHECK(failures == 0);
  const store::chain_report r = verify(*db1);
  CHECK(r.ok());
  CHECK(r.head_sequence == 2 * rounds);
}

TEST_CASE("db: audit events are read by id") {
  store::test::store_case c;
  store::audit_log log(*c.db);
  auto a = log.append_batch({event(ev{})});
  REQUIRE(a);
  auto row = log.read(a->front().id);
  REQUIRE(row);
  CHECK(row->sequence == 1);
  CHECK(row->recorded == store::instant(std::chrono::milliseconds(1709294400000)));
  CHECK(code_of(log.read("no-such-event")) == store::error_codes::not_found);
  CHECK(code_of(log.read("bad id!")) == store::error_codes::invalid);
  // Not an AuditEvent, or one without its required recorded/type: refused.
  CHECK(code_of(log.append_batch({json(R"({"resourceType":"Patient"})")})) == store::error_codes::invalid);
  CHECK(code_of(log.append_batch({json(R"({"resourceType":"AuditEvent","type":{"code":"rest"}})")})) ==
        store::error_codes::invalid);
  CHECK(code_of(log.append_batch({json(R"({"resourceType":"AuditEvent","recorded":"2024-01-01",)"
                                       R"("type":{"code":"rest"}})")})) == store::error_codes::invalid);
}

namespace {

/// Twelve events to search: 2024-03-01T10:00 + i hours, alternating
/// patients, subtypes, outcomes, clients and users.
struct search_case {
  search_case() : log(*c.db) {
    std::vector<fhir::json_value> events;
    for (int i = 0; i < 12; ++i) {
      ev e;
      e.recorded = "2024-03-01T" + std::to_string(10 + i) + ":00:00.000Z";
      e.subtype = i % 3 == 0 ? "search-type" : "read";
      e.action = i % 3 == 0 ? "E" : "R";
      e.outcome = i % 4 == 3 ? "4" : "0";
      e.client = i % 2 == 0 ? "app-even" : "app-odd";
      e.user = i < 6 ? "Practitioner/doc1" : "Practitioner/doc2";
      e.entity = "Observation/o" + std::to_string(i);
      e.patients = {i % 2 == 0 ? "pa" : "pb"};
      if (i == 11) e.patients.push_back("pc");
      events.push_back(event(e));
    }
    auto r = log.append_batch(std::move(events));
    REQUIRE(r);
  }

  /// The sequences a query finds (one page of up to 50).
  std::vector<long long> find(const std::vector<std::pair<std::string, std::string>>& params) {
    auto req = store::parse_search(store::test::registry(), "AuditEvent", params, store::search_handling::strict);
    REQUIRE(req);
    auto q = store::audit_query_of(*req, store::search_handling::strict);
    REQUIRE(q);
    auto page = log.search(*q);
    REQUIRE(page);
    std::vector<long long> out;
    for (const auto& e : page->events) out.push_back(e.sequence);
    return out;
  }

  store::test::store_case c;
  store::audit_log log;
};

using seqs = std::vector<long long>;

}  // namespace

TEST_CASE("db: audit search by patient: Patient/id, id, a URL, OR values, the :Patient modifier") {
  search_case s;
  // Newest first by default (sequence 12 is 21:00).
  CHECK(s.find({{"patient", "Patient/pb"}}) == seqs{12, 10, 8, 6, 4, 2});
  CHECK(s.find({{"patient", "pb"}}) == seqs{12, 10, 8, 6, 4, 2});
  CHECK(s.find({{"patient", "http://elsewhere.example/fhir/Patient/pc"}}) == seqs{12});
  CHECK(s.find({{"patient", "pa,pc"}}) == seqs{12, 11, 9, 7, 5, 3, 1});
  CHECK(s.find({{"patient", "Group/pa"}}).empty());
  CHECK(s.find({{"patient:Patient", "pa"}, {"patient", "pa"}}).size() == 6);
}

TEST_CASE("db: audit search by patient finds a Patient as agent or entity, whatever its role, and nothing else") {
  search_case s;
  std::vector<fhir::json_value> more;
  ev as_user;  // a patient-facing app: the Patient is the user (agent.who)
  as_user.user = "Patient/pz";
  more.push_back(event(as_user));
  ev as_data;  // the Patient resource read: an entity with no patient role
  as_data.entity = "Patient/pz/_history/3";
  more.push_back(event(as_data));
  ev not_a_patient;  // the same id, another type
  not_a_patient.user = "Practitioner/pz";
  not_a_patient.entity = "Observation/pz";
  more.push_back(event(not_a_patient));
  REQUIRE(s.log.append_batch(std::move(more)));
  CHECK(s.find({{"patient", "pz"}}) == seqs{14, 13});
  CHECK(s.find({{"patient", "Patient/pz"}, {"subtype", "read"}}) == seqs{14, 13});
  CHECK(s.find({{"agent", "Patient/pz"}}) == seqs{13});
  CHECK(s.find({{"entity", "Patient/pz"}}) == seqs{14});
}

TEST_CASE("db: audit search date prefixes, token forms, agents, entities, _id") {
  search_case s;
  CHECK(s.find({{"date", "ge2024-03-01T19:00:00Z"}}) == seqs{12, 11, 10});
  CHECK(s.find({{"date", "gt2024-03-01T19:00:00Z"}}) == seqs{12, 11});
  CHECK(s.find({{"date", "lt2024-03-01T11:00:00Z"}}) == seqs{1});
  CHECK(s.find({{"date", "le2024-03-01T11:00:00Z"}}) == seqs{2, 1});
  CHECK(s.find({{"date", "2024-03-01T11:00"}}) == seqs{2});  // the whole minute
  CHECK(s.find({{"date", "ge2024-03-01T12:00:00Z"}, {"date", "lt2024-03-01T14:00:00Z"}}) == seqs{4, 3});
  CHECK(s.find({{"date", "2024-03-02"}}).empty());
  CHECK(s.find({{"date", "2024-03-01"}}).size() == 12);
  CHECK(s.find({{"date", "ne2024-03-01T10:00"}}).size() == 11);
  // patient and date together: the query the issue names.
  CHECK(s.find({{"patient", "Patient/pa"}, {"date", "ge2024-03-01T15:00:00Z"}}) == seqs{11, 9, 7});

  CHECK(s.find({{"subtype", "search-type"}}) == seqs{10, 7, 4, 1});
  CHECK(s.find({{"subtype", "http://hl7.org/fhir/restful-interaction|search-type"}}) == seqs{10, 7, 4, 1});
  CHECK(s.find({{"subtype", "http://other.example|search-type"}}).empty());
  CHECK(s.find({{"subtype", "|search-type"}}).empty());  // it has a system
  CHECK(s.find({{"type", "http://terminology.hl7.org/CodeSystem/audit-event-type|"}}).size() == 12);
  CHECK(s.find({{"action", "E"}}) == seqs{10, 7, 4, 1});
  CHECK(s.find({{"action", "http://hl7.org/fhir/audit-event-action|E"}}) == seqs{10, 7, 4, 1});
  CHECK(s.find({{"action", "http://other.example|E"}}).empty());
  CHECK(s.find({{"outcome", "4"}}) == seqs{12, 8, 4});
  CHECK(s.find({{"outcome", "4"}, {"action", "E"}}) == seqs{4});

  CHECK(s.find({{"agent", "Practitioner/doc2"}}) == seqs{12, 11, 10, 9, 8, 7});
  CHECK(s.find({{"agent", "doc1"}}) == seqs{6, 5, 4, 3, 2, 1});
  CHECK(s.find({{"agent:identifier", "app-odd"}}) == seqs{12, 10, 8, 6, 4, 2});
  CHECK(s.find({{"agent:identifier", "https://issuer.example|app-even"}}) == seqs{11, 9, 7, 5, 3, 1});
  CHECK(s.find({{"agent:identifier", "https://other.example|app-even"}}).empty());
  CHECK(s.find({{"entity", "Observation/o4"}}) == seqs{5});
  CHECK(s.find({{"entity", "o4,o5"}}) == seqs{6, 5});

  auto page = s.log.search(store::audit_query{});
  REQUIRE(page);
  const std::string id3 = page->events.at(9).id;  // sequence 3
  CHECK(s.find({{"_id", id3}}) == seqs{3});
}

TEST_CASE("db: audit search pages by sequence, newest or oldest first, with totals") {
  search_case s;
  store::audit_query q;
  q.count = 5;
  q.want_total = true;
  std::vector<long long> all;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = s.log.search(q);
    REQUIRE(page);
    CHECK(page->total == 12);
    for (const auto& e : page->events) all.push_back(e.sequence);
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  CHECK(all == seqs{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1});

  // Oldest first; a cursor of the other order is refused.
  store::audit_query asc;
  asc.count = 5;
  asc.oldest_first = true;
  auto p1 = s.log.search(asc);
  REQUIRE(p1);
  CHECK(p1->events.front().sequence == 1);
  CHECK_FALSE(p1->total.has_value());  // not asked, and more pages follow
  asc.cursor = p1->next_cursor;
  auto p2 = s.log.search(asc);
  REQUIRE(p2);
  CHECK(p2->events.front().sequence == 6);
  store::audit_query wrong = q;
  wrong.cursor = p1->next_cursor;
  CHECK(code_of(s.log.search(wrong)) == store::error_codes::invalid);
  wrong.cursor = "d12x";
  CHECK(code_of(s.log.search(wrong)) == store::error_codes::invalid);

  // _count=0 with a total: the count only. A short first page knows its total.
  store::audit_query none;
  none.count = 0;
  none.want_total = true;
  auto counted = s.log.search(none);
  REQUIRE(counted);
  CHECK(counted->events.empty());
  CHECK(counted->total == 12);
  store::audit_query small;
  small.outcomes = {{store::audit_token{std::nullopt, "4"}}};
  auto short_page = s.log.search(small);
  REQUIRE(short_page);
  CHECK(short_page->total == 3);
  store::audit_query big;
  big.count = store::audit_query::max_count + 1;
  CHECK(code_of(s.log.search(big)) == store::error_codes::too_costly);
}

TEST_CASE("audit_query_of: served parameters, sort, totals; others refused (strict) or listed (lenient)") {
  const auto& defs = store::test::registry();
  auto parse = [&](std::vector<std::pair<std::string, std::string>> params, store::search_handling h) {
    auto req = store::parse_search(defs, "AuditEvent", params, h);
    REQUIRE(req);
    return store::audit_query_of(*req, h);
  };
  auto q = parse({{"patient", "Patient/123"}, {"date", "ge2024-01-01"}, {"_sort", "date"}, {"_count", "7"},
                  {"_total", "accurate"}},
                 store::search_handling::strict);
  REQUIRE(q);
  REQUIRE(q->patients.size() == 1);
  CHECK(q->patients[0][0].type == "Patient");
  CHECK(q->patients[0][0].id == "123");
  REQUIRE(q->dates.size() == 1);
  CHECK(q->dates[0][0].prefix == store::search_prefix::ge);
  CHECK(q->oldest_first);
  CHECK(q->count == 7);
  CHECK(q->want_total);

  auto summary = parse({{"_summary", "count"}}, store::search_handling::strict);
  REQUIRE(summary);
  CHECK(summary->count == 0);
  CHECK(summary->want_total);

  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"address", "127.0.0.1"}, {"entity:identifier", "x|y"}, {"_include", "AuditEvent:patient"},
           {"_sort", "action"}, {"date", "ap2024-01-01"}, {"_elements", "id"}, {"patient.name", "x"}}) {
    CAPTURE(name);
    auto strict = parse({{name, value}}, store::search_handling::strict);
    CHECK(code_of(strict) == store::error_codes::not_supported);
    auto lenient = parse({{name, value}, {"outcome", "4"}}, store::search_handling::lenient);
    REQUIRE(lenient);
    CHECK(lenient->ignored.size() == 1);
    CHECK(lenient->outcomes.size() == 1);  // what is served stays
  }
  // Not a search of AuditEvent.
  auto other = store::parse_search(defs, "Patient", std::vector<std::pair<std::string, std::string>>{},
                                   store::search_handling::strict);
  REQUIRE(other);
  CHECK(code_of(store::audit_query_of(*other, store::search_handling::strict)) == store::error_codes::invalid);
}

TEST_CASE("db: a large audit batch is chained, indexed and verified whole (multi-row inserts on PostgreSQL)") {
  store::test::store_case c;
  store::audit_log log(*c.db);
  // 150 events (three statements of at most 64) with 4 reference rows each
  // (600: two statements of at most 512).
  std::vector<fhir::json_value> events;
  for (int i = 0; i < 150; ++i) {
    ev e;
    e.user = "Practitioner/d" + std::to_string(i % 7);
    e.entity = "Observation/o" + std::to_string(i);
    e.patients = {"p" + std::to_string(i)};
    events.push_back(event(e));
  }
  auto r = log.append_batch(std::move(events));
  REQUIRE(r);
  REQUIRE(r->size() == 150);
  CHECK(r->front().sequence == 1);
  CHECK(r->back().sequence == 150);
  auto raw = c.tdb.raw();
  CHECK(count_rows(*raw, "audit_event") == 150);
  // The client's identifier, the user and the two entities (`patient` is
  // searched on the entity keys of type Patient).
  CHECK(count_rows(*raw, "audit_event_ref") == 150 * 4);
  const store::chain_report report = verify(*c.db, 40);
  CHECK(report.ok());
  CHECK(report.checked == 150);
  store::audit_query q;
  q.patients = {{store::audit_reference{"Patient", "p149"}}};
  auto page = log.search(q);
  REQUIRE(page);
  REQUIRE(page->events.size() == 1);
  CHECK(page->events[0].sequence == 150);
}

TEST_CASE("db: migration 5 removes the patient keys of version 4 and keeps the trail append-only and whole") {
  store::test::test_db tdb;
  {
    auto db = tdb.open();
    store::audit_log log(*db);
    std::vector<fhir::json_value> events;
    for (int i = 0; i < 3; ++i) {
      ev e;
      e.patients = {"p" + std::to_string(i)};
      events.push_back(event(e));
    }
    REQUIRE(log.append_batch(std::move(events)));
  }
  {
    // As version 4 wrote them: a kind 1 (patient) row beside each entity
    // key of type Patient; then the database goes back to version 4.
    auto raw = tdb.raw();
    *raw << "INSERT INTO audit_event_ref (kind, ref_id, ref_type, seq) SELECT 1, ref_id, ref_type, seq"
            " FROM audit_event_ref WHERE kind = 2 AND ref_type = 'Patient'";
    CHECK(count_rows(*raw, "audit_event_ref") == 3 * 3);
    *raw << "DELETE FROM schema_version WHERE version >= 5";
  }
  auto db = tdb.open();  // migrates
  CHECK(db->schema_version() == store::database::known_schema_version());
  auto raw = tdb.raw();
  CHECK(count_rows(*raw, "audit_event_ref") == 3 * 2);  // the client's identifier, the patient entity
  CHECK(verify(*db, 10).ok());
  store::audit_log log(*db);
  const std::vector<std::pair<std::string, std::string>> params{{"patient", "p1"}};
  auto req = store::parse_search(store::test::registry(), "AuditEvent", params, store::search_handling::strict);
  REQUIRE(req);
  auto q = store::audit_query_of(*req, store::search_handling::strict);
  REQUIRE(q);
  auto page = log.search(*q);
  REQUIRE(page);
  REQUIRE(page->events.size() == 1);
  CHECK(page->events[0].sequence == 2);
  // The trigger the migration set aside is back.
  CHECK_THROWS(*raw << "DELETE FROM audit_event_ref WHERE seq = 1");
}
