// Group commit on both engines: concurrent writers share transactions, a
// failing write fails alone, stop() drains the queue.
#include <hearth/store/resource_store.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <hearth/store/error_codes.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
using store::test::code_of;
using store::test::json;

namespace {

/// Holds the writer thread inside a transaction until released, so that the
/// writes submitted meanwhile queue up and form one group, deterministically.
class writer_gate {
 public:
  explicit writer_gate(store::resource_store& rs) {
    std::promise<void> entered;
    auto inside = entered.get_future();
    done_ = rs.transaction_async([this, &entered](store::resource_tx&) -> hearth::result<void> {
      entered.set_value();
      release_.get_future().wait();
      return {};
    });
    inside.wait();  // the writer is now busy with this job
  }
  void open() { release_.set_value(); }
  hearth::result<void> finish() { return done_.get(); }

 private:
  std::promise<void> release_;
  std::future<hearth::result<void>> done_;
};

}  // namespace

TEST_CASE("db: concurrent writers share commits (group commit) and every write is readable after") {
  store::test::store_case c(4);
  auto& [tdb, db, rs] = c;
  constexpr int threads = 16;
  constexpr int per_thread = 200;

  std::vector<std::vector<std::string>> ids(threads);
  std::vector<int> failures(threads, 0);
  const auto start = std::chrono::steady_clock::now();
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          auto body = json(R"({"resourceType":"Observation","status":"final"})");
          body.set("id", "ignored");  // the server assigns ids
          body.set("valueInteger", hearth::fhir::json_value::number(std::to_string(t * 1000 + i)));
          auto made = rs.create("Observation", std::move(body));
          if (made) {
            ids[t].push_back(made->version.id);
          } else {
            ++failures[t];
          }
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::set<std::string> all;
  for (int t = 0; t < threads; ++t) {
    CHECK(failures[t] == 0);
    all.insert(ids[t].begin(), ids[t].end());
  }
  CHECK(all.size() == threads * per_thread);  // distinct ids

  const store::commit_stats stats = db->stats();
  CHECK(stats.writes == threads * per_thread);
  CHECK(stats.failed_writes == 0);
  CHECK(stats.transactions < stats.writes);  // commits were shared
  CHECK(stats.largest_group > 1);
  MESSAGE(store::to_string(tdb.kind()) << ": " << stats.writes << " creates from " << threads << " threads in "
                                       << stats.transactions << " transactions (largest group "
                                       << stats.largest_group << "), " << elapsed << " s, "
                                       << static_cast<int>(stats.writes / elapsed) << " creates/s");

  // Every answered write is there, with its own content.
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < per_thread; i += 1) {
      auto read = rs.read("Observation", ids[t][i]);
      REQUIRE(read);
      CHECK(json(read->json).find("valueInteger")->number_text() == std::to_string(t * 1000 + i));
    }
  }
}

TEST_CASE("db: a failing write is rolled back alone while its group commits") {
  store::test::store_case c;
  auto& [tdb, db, rs] = c;
  auto target = rs.create("Patient", json(R"({"resourceType":"Patient"})"));
  REQUIRE(target);
  const std::string pid = target->version.id;
  const store::commit_stats before = db->stats();

  writer_gate gate(rs);
  // 40 writes queued behind the gate: good creates, and stale updates that
  // write first and then fail their If-Match... in one transaction each.
  std::vector<std::future<hearth::result<void>>> results;
  std::vector<std::string> created(40);
  for (int i = 0; i < 40; ++i) {
    if (i % 2 == 0) {
      results.push_back(rs.transaction_async([&created, i](store::resource_tx& tx) -> hearth::result<void> {
        auto made = tx.create("Observation", json(R"({"resourceType":"Observation","status":"final"})"));
        if (!made) return hearth::unexpected(made.error());
        created[i] = made->version.id;
        return {};
      }));
    } else {
      results.push_back(rs.transaction_async([&created, &pid, i](store::resource_tx& tx) -> hearth::result<void> {
        auto made = tx.create("Observation", json(R"({"resourceType":"Observation","status":"preliminary"})"));
        if (!made) return hearth::unexpected(made.error());
        created[i] = made->version.id;
        store::update_options stale;
        stale.expected_version = 99;
        auto upd = tx.update("Patient", pid, json(R"({"resourceType":"Patient","active":true})"), stale);
        if (!upd) return hearth::unexpected(upd.error());
        return {};
      }));
    }
  }
  gate.open();
  REQUIRE(gate.finish());
  for (int i = 0; i < 40; ++i) {
    auto r = results[i].get();
    if (i % 2 == 0) {
      CHECK(r);
      CHECK(rs.read("Observation", created[i]));
    } else {
      CHECK(code_of(r) == store::error_codes::conflict);
      // Its create was rolled back with it, though it ran.
      REQUIRE_FALSE(created[i].empty());
      CHECK(code_of(rs.read("Observation", created[i])) == store::error_codes::not_found);
    }
  }
  const store::commit_stats after = db->stats();
  CHECK(after.transactions - before.transactions == 2);  // the gate's, then all 40 together
  CHECK(after.largest_group >= 40);
  CHECK(after.writes - before.writes == 21);  // the gate and the 20 good ones
  CHECK(after.failed_writes - before.failed_writes == 20);
  auto p = rs.read("Patient", pid);
  REQUIRE(p);
  CHECK(p->version_id == 1);
}

TEST_CASE("db: stop() commits what is queued then refuses writes while reads go on") {
  store::test::store_case c;
  auto& [tdb, db, rs] = c;

  writer_gate gate(rs);
  std::vector<std::future<hearth::result<void>>> queued;
  std::vector<std::string> ids(20);
  for (int i = 0; i < 20; ++i) {
    queued.push_back(rs.transaction_async([&ids, i](store::resource_tx& tx) -> hearth::result<void> {
      auto made = tx.create("Patient", json(R"({"resourceType":"Patient"})"));
      if (!made) return hearth::unexpected(made.error());
      ids[i] = made->version.id;
      return {};
    }));
  }
  std::thread stopper([&] { db->stop(); });  // blocks until drained
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  gate.open();
  stopper.join();
  REQUIRE(gate.finish());
  for (int i = 0; i < 20; ++i) {
    REQUIRE(queued[i].get());
    CHECK(rs.read("Patient", ids[i]));
  }
  auto late = rs.create("Patient", json(R"({"resourceType":"Patient"})"));
  CHECK(code_of(late) == store::error_codes::exception);
  db->stop();  // idempotent
}

TEST_CASE("db: two processes sharing one database never lose a write") {
  // Two databases opened on one store stand for two hearth processes: each
  // has its own writer. The second creates the id the first is creating.
  store::test::test_db tdb;
  auto db1 = tdb.open();
  auto db2 = tdb.open();
  store::resource_store rs1(*db1, store::test::default_indexer());
  store::resource_store rs2(*db2, store::test::default_indexer());

  std::promise<void> entered, release;
  auto entered_f = entered.get_future();
  auto release_f = release.get_future();
  auto first = rs1.transaction_async([&](store::resource_tx& tx) -> hearth::result<void> {
    auto made = tx.update("Patient", "shared", json(R"({"resourceType":"Patient","gender":"male"})"));
    entered.set_value();
    release_f.wait();  // hold the transaction open, uncommitted
    if (!made) return hearth::unexpected(made.error());
    return {};
  });
  entered_f.wait();
  auto second = std::async(std::launch::async, [&] {
    return rs2.update("Patient", "shared", json(R"({"resourceType":"Patient","gender":"female"})"));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the second now waits for the first's lock
  release.set_value();
  REQUIRE(first.get());
  auto r2 = second.get();
  auto h = rs1.history(store::history_query::of_instance("Patient", "shared"));
  REQUIRE(h);
  if (tdb.kind() == store::engine::sqlite) {
    // SQLite: the second writer waited for the database lock, then saw version 1.
    REQUIRE(r2);
    CHECK(r2->version.version_id == 2);
    CHECK_FALSE(r2->created);
    CHECK(h->entries.size() == 2);
  } else if (r2) {
    // PostgreSQL, when the second writer's transaction began only after the
    // first committed (a loaded machine can delay it past the 50 ms): it saw
    // version 1 and wrote version 2 on top, losing nothing.
    CHECK(r2->version.version_id == 2);
    CHECK_FALSE(r2->created);
    CHECK(h->entries.size() == 2);
  } else {
    // PostgreSQL: both saw no row; the unique key made the second one wait,
    // then report the conflict instead of overwriting or failing its group.
    CHECK(code_of(r2) == store::error_codes::conflict);
    CHECK(h->entries.size() == 1);
  }
  auto now = rs2.read("Patient", "shared");
  REQUIRE(now);
  CHECK(now->version_id == static_cast<std::int64_t>(h->entries.size()));
}
