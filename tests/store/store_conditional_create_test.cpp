// The search of a conditional write inside the writing transaction
// (resource_tx::find_matches) and the conditional create built on it
// (resource_store::conditional_create, R4 http.html#ccreate), on SQLite and
// PostgreSQL.
#include <hearth/store/resource_store.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <hearth/store/error_codes.hpp>
#include <hearth/store/search_request.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
using store::test::code_of;
using store::test::json;

namespace {

std::string patient_with(const std::string& mrn, const std::string& family = "Doe") {
  return R"({"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":")" + mrn +
         R"("}],"name":[{"family":")" + family + R"("}]})";
}

/// The condition `Patient?identifier=urn:mrn|<mrn>`, parsed strictly as the
/// REST layer parses If-None-Exist.
store::search_request by_mrn(const std::string& mrn) {
  const std::vector<std::pair<std::string, std::string>> params{{"identifier", "urn:mrn|" + mrn}};
  auto q = store::parse_search(store::test::registry(), "Patient", params, store::search_handling::strict);
  REQUIRE(q.has_value());
  return std::move(*q);
}

store::search_request by(const std::string& type, std::vector<std::pair<std::string, std::string>> params) {
  auto q = store::parse_search(store::test::registry(), type, params, store::search_handling::strict);
  REQUIRE(q.has_value());
  return std::move(*q);
}

/// resource_store::conditional_create of `body` (a resource of `type`) at
/// `id`, or at a new id as a create.
hearth::result<store::conditional_create_outcome> ccreate(store::resource_store& rs,
                                                          const store::search_request& condition,
                                                          const std::string& body, const store::write_hook& hook = {},
                                                          std::string id = {}, const std::string& type = "Patient") {
  if (id.empty()) id = store::resource_store::new_id();
  auto w = rs.prepare(type, id, json(body));
  if (!w) return hearth::unexpected(w.error());
  return rs.conditional_create(condition, *w, hook);
}

/// How many current Patients have this MRN (a search on the reader pool).
std::size_t stored(const store::resource_store& rs, const std::string& mrn) {
  store::search_request q = by_mrn(mrn);
  q.count = 100;
  auto page = rs.search(q);
  REQUIRE(page.has_value());
  return page->matches.size();
}

}  // namespace

TEST_CASE("db: find_matches sees earlier writes and the transaction's own, never deleted ones") {
  store::test::store_case c;
  auto& rs = c.rs;
  auto first = rs.create("Patient", json(patient_with("1")));
  REQUIRE(first.has_value());
  std::vector<std::size_t> seen;
  auto r = rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto before = tx.find_matches(by_mrn("1"));
    if (!before) return hearth::unexpected(before.error());
    seen.push_back(before->size());
    CHECK(before->front().id == first->version.id);
    CHECK(before->front().version_id == 1);
    CHECK(json(before->front().json).find("identifier") != nullptr);  // the stored body
    // A write of this transaction is seen by its next search.
    auto second = tx.create("Patient", json(patient_with("1", "Roe")));
    if (!second) return hearth::unexpected(second.error());
    auto after = tx.find_matches(by_mrn("1"), 10);
    if (!after) return hearth::unexpected(after.error());
    seen.push_back(after->size());
    // Deleted: no longer a match, in the same transaction.
    if (auto d = tx.remove("Patient", first->version.id); !d) return hearth::unexpected(d.error());
    auto deleted = tx.find_matches(by_mrn("1"), 10);
    if (!deleted) return hearth::unexpected(deleted.error());
    seen.push_back(deleted->size());
    CHECK(deleted->front().id == second->version.id);
    // limit bounds the answer; 0 answers nothing.
    auto none = tx.find_matches(by_mrn("1"), 0);
    if (!none) return hearth::unexpected(none.error());
    seen.push_back(none->size());
    return {};
  });
  REQUIRE(r.has_value());
  CHECK(seen == std::vector<std::size_t>{1, 2, 1, 0});
}

TEST_CASE("db: find_matches takes any search: other parameters, a compartment; bad requests are errors") {
  store::test::store_case c;
  auto& rs = c.rs;
  auto p = rs.create("Patient", json(patient_with("2")));
  REQUIRE(p.has_value());
  const std::string pid = p->version.id;
  REQUIRE(rs.create("Observation", json(R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"1-8"}]},"subject":{"reference":"Patient/)" +
                                         pid + R"("}})"))
              .has_value());
  std::vector<std::size_t> seen;
  auto r = rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    for (const store::search_request& q :
         {by("Observation", {{"code", "http://loinc.org|1-8"}}), by("Observation", {{"subject", "Patient/" + pid}}),
          by("Observation", {{"code", "http://loinc.org|9-9"}}), by("Patient", {{"family", "doe"}})}) {
      auto m = tx.find_matches(q);
      if (!m) return hearth::unexpected(m.error());
      seen.push_back(m->size());
    }
    store::search_request in_compartment = by("Observation", {{"status", "final"}});
    in_compartment.compartment = store::search_compartment{"Patient", pid};
    auto m = tx.find_matches(in_compartment);
    if (!m) return hearth::unexpected(m.error());
    seen.push_back(m->size());
    in_compartment.compartment = store::search_compartment{"Patient", "someone-else"};
    m = tx.find_matches(in_compartment);
    if (!m) return hearth::unexpected(m.error());
    seen.push_back(m->size());
    store::search_request bad = by_mrn("2");
    bad.type = "not a type";
    CHECK(code_of(tx.find_matches(bad)) == "invalid");
    return {};
  });
  REQUIRE(r.has_value());
  CHECK(seen == std::vector<std::size_t>{1, 1, 0, 1, 1, 0});
}

TEST_CASE("db: conditional_create: none creates, one answers the match, several write nothing") {
  store::test::store_case c;
  auto& rs = c.rs;
  auto created = ccreate(rs, by_mrn("3"), patient_with("3"));
  REQUIRE(created.has_value());
  CHECK(created->matches == 0);
  REQUIRE(created->written.has_value());
  CHECK(created->written->created);
  CHECK(created->written->version.version_id == 1);
  CHECK(created->written->version.id.size() == 36);  // a new id, as create assigns
  CHECK_FALSE(created->match.has_value());

  auto found = ccreate(rs, by_mrn("3"), patient_with("3", "Other"));
  REQUIRE(found.has_value());
  CHECK(found->matches == 1);
  CHECK_FALSE(found->written.has_value());
  REQUIRE(found->match.has_value());
  CHECK(found->match->id == created->written->version.id);
  CHECK(json(found->match->json).find("name")->items()[0].find("family")->str() == "Doe");  // unchanged
  CHECK(stored(rs, "3") == 1);

  REQUIRE(rs.create("Patient", json(patient_with("3"))).has_value());
  auto several = ccreate(rs, by_mrn("3"), patient_with("3"));
  REQUIRE(several.has_value());
  CHECK(several->matches == 2);
  CHECK_FALSE(several->match.has_value());
  CHECK_FALSE(several->written.has_value());
  CHECK(stored(rs, "3") == 2);

  // A deleted resource is no match.
  REQUIRE(rs.remove("Patient", created->written->version.id).has_value());
  auto old = rs.create("Patient", json(patient_with("4")));
  REQUIRE(old.has_value());
  REQUIRE(rs.remove("Patient", old->version.id).has_value());
  auto again = ccreate(rs, by_mrn("4"), patient_with("4"));
  REQUIRE(again.has_value());
  CHECK(again->matches == 0);
  REQUIRE(again->written.has_value());
  CHECK(again->written->version.id != old->version.id);
}

TEST_CASE("db: conditional_create at a chosen id: update-as-create, refused over a live resource") {
  store::test::store_case c;
  auto& rs = c.rs;
  auto created = ccreate(rs, by_mrn("5"), patient_with("5"), {}, "chosen-1");
  REQUIRE(created.has_value());
  REQUIRE(created->written.has_value());
  CHECK(created->written->version.id == "chosen-1");
  CHECK(created->written->version.version_id == 1);
  CHECK(created->written->created);

  // Another condition, the same id: the resource exists but does not match.
  auto taken = ccreate(rs, by_mrn("6"), patient_with("6"), {}, "chosen-1");
  CHECK(code_of(taken) == "conflict");
  CHECK(rs.read("Patient", "chosen-1")->version_id == 1);
  CHECK(stored(rs, "6") == 0);

  // A deleted id is taken again: a new version that brings it back.
  REQUIRE(rs.remove("Patient", "chosen-1").has_value());
  auto back = ccreate(rs, by_mrn("6"), patient_with("6"), {}, "chosen-1");
  REQUIRE(back.has_value());
  REQUIRE(back->written.has_value());
  CHECK(back->written->created);
  CHECK(back->written->version.version_id == 3);

  // The prepared write must be of the condition's type, and is written once.
  CHECK(code_of(ccreate(rs, by_mrn("7"), R"({"resourceType":"Observation","status":"final","code":{"text":"x"}})", {},
                        "", "Observation")) == "invalid");
  auto w = rs.prepare("Patient", store::resource_store::new_id(), json(patient_with("7")));
  REQUIRE(w.has_value());
  REQUIRE(rs.conditional_create(by_mrn("7"), *w).has_value());
  CHECK(code_of(rs.conditional_create(by_mrn("7b"), *w)) == "invalid");
  CHECK(stored(rs, "7") == 1);
  // Unwritten (a match): it may be written elsewhere.
  auto unwritten = rs.prepare("Patient", store::resource_store::new_id(), json(patient_with("7")));
  REQUIRE(unwritten.has_value());
  auto matched = rs.conditional_create(by_mrn("7"), *unwritten);
  REQUIRE(matched.has_value());
  CHECK(matched->matches == 1);
  CHECK(rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
            auto u = tx.update(std::move(*unwritten));
            if (!u) return hearth::unexpected(u.error());
            return {};
          }).has_value());
  CHECK(stored(rs, "7") == 2);
}

TEST_CASE("db: conditional_create runs the hook with the create only; a failing hook rolls it back") {
  store::test::store_case c;
  auto& rs = c.rs;
  int calls = 0;
  const store::write_hook counting = [&](store::resource_tx& tx, const store::write_outcome& w) -> hearth::result<void> {
    ++calls;
    CHECK(w.created);
    // The hook runs inside the transaction: it sees the write.
    auto m = tx.find_matches(by_mrn("8"));
    CHECK((m && m->size() == 1));
    return {};
  };
  REQUIRE(ccreate(rs, by_mrn("8"), patient_with("8"), counting).has_value());
  CHECK(calls == 1);
  REQUIRE(ccreate(rs, by_mrn("8"), patient_with("8"), counting).has_value());
  CHECK(calls == 1);

  const store::write_hook failing = [](store::resource_tx&, const store::write_outcome&) -> hearth::result<void> {
    return hearth::unexpected(hearth::error{"exception", "no trail", {}, hearth::error::npos});
  };
  CHECK(code_of(ccreate(rs, by_mrn("9"), patient_with("9"), failing)) == "exception");
  CHECK(stored(rs, "9") == 0);
}

TEST_CASE("db: many concurrent conditional creates of the same condition make exactly one resource each") {
  // 8 threads x 20 rounds: in each round every thread creates the round's
  // Patient "if none exists", all released together. Each round must end
  // with one resource, created by one thread and found by the others. (The
  // former two steps, a search on a reader and then a create, made up to 8.)
  store::test::store_case c(4);  // readers for the checks; the writes share the one writer
  auto& rs = c.rs;
  constexpr int threads = 8;
  constexpr int rounds = 20;
  std::atomic<int> created{0}, found{0}, failed{0};
  std::barrier start(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int round = 0; round < rounds; ++round) {
        start.arrive_and_wait();
        const std::string mrn = "race-" + std::to_string(round);
        auto r = ccreate(rs, by_mrn(mrn), patient_with(mrn));
        if (!r) {
          ++failed;
        } else if (r->matches == 0) {
          ++created;
        } else if (r->matches == 1) {
          ++found;
        } else {
          ++failed;  // several: there should never be two
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(failed.load() == 0);
  CHECK(created.load() == rounds);
  CHECK(found.load() == rounds * (threads - 1));
  for (int round = 0; round < rounds; ++round) CHECK(stored(rs, "race-" + std::to_string(round)) == 1);
}

TEST_CASE("db: two database instances making the same conditional creates concurrently create one resource each") {
  // Two database objects are two processes' writers. On PostgreSQL the
  // advisory lock of find_matches (and the audit head lock every write group
  // takes) orders them; on SQLite the database lock does. Either way the
  // search of the second sees what the first created.
  store::test::test_db tdb;
  auto db1 = tdb.open();
  auto db2 = tdb.open();
  store::resource_store rs1(*db1, store::test::default_indexer());
  store::resource_store rs2(*db2, store::test::default_indexer());
  constexpr int keys = 20;
  std::atomic<int> created{0}, found{0}, failed{0};
  std::barrier start(4);
  auto run = [&](store::resource_store& rs) {
    for (int k = 0; k < keys; ++k) {
      start.arrive_and_wait();
      const std::string mrn = "two-" + std::to_string(k);
      auto r = ccreate(rs, by_mrn(mrn), patient_with(mrn));
      if (!r || r->matches > 1) {
        ++failed;
      } else {
        ++(r->matches == 0 ? created : found);
      }
    }
  };
  std::thread t1([&] { run(rs1); });
  std::thread t2([&] { run(rs1); });
  std::thread t3([&] { run(rs2); });
  std::thread t4([&] { run(rs2); });
  t1.join();
  t2.join();
  t3.join();
  t4.join();
  CHECK(failed.load() == 0);
  CHECK(created.load() == keys);
  CHECK(found.load() == 3 * keys);
  for (int k = 0; k < keys; ++k) CHECK(stored(rs1, "two-" + std::to_string(k)) == 1);
}

TEST_CASE("db: a conditional create and an identifier lookup then create, in two database instances, make one resource") {
  // The REST layer's If-None-Exist (conditional_create, find_matches) and the
  // HL7 intake's identifier lookup (resource_tx::find_by_identifier, then a
  // create when nothing matched: bundle_apply) are both conditional writes of
  // a Patient: in two processes sharing a PostgreSQL database they must wait
  // for each other, not each find nothing and both create.
  store::test::test_db tdb;
  auto db1 = tdb.open();
  auto db2 = tdb.open();
  store::resource_store rs1(*db1, store::test::default_indexer());
  store::resource_store rs2(*db2, store::test::default_indexer());
  constexpr int keys = 30;
  std::atomic<int> created{0}, failed{0};
  std::barrier start(2);
  std::thread rest([&] {
    for (int k = 0; k < keys; ++k) {
      start.arrive_and_wait();
      const std::string mrn = "mixed-" + std::to_string(k);
      auto r = ccreate(rs1, by_mrn(mrn), patient_with(mrn));
      if (!r || r->matches > 1) {
        ++failed;
      } else if (r->matches == 0) {
        ++created;
      }
    }
  });
  std::thread intake([&] {
    for (int k = 0; k < keys; ++k) {
      start.arrive_and_wait();
      const std::string mrn = "mixed-" + std::to_string(k);
      auto r = rs2.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
        auto ids = tx.find_by_identifier("Patient", "urn:mrn", mrn, 2);
        if (!ids) return hearth::unexpected(ids.error());
        if (ids->size() > 1) return hearth::unexpected(hearth::error{"multiple-matches", "two", {}, hearth::error::npos});
        if (ids->empty()) {
          auto c = tx.create("Patient", json(patient_with(mrn, "Intake")));
          if (!c) return hearth::unexpected(c.error());
          ++created;
        }
        return {};
      });
      if (!r) ++failed;
    }
  });
  rest.join();
  intake.join();
  CHECK(failed.load() == 0);
  CHECK(created.load() == keys);
  for (int k = 0; k < keys; ++k) CHECK(stored(rs1, "mixed-" + std::to_string(k)) == 1);
}
