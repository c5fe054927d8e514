// R4 history (http.html#history) on both engines: scopes, order, _since,
// _at, _count and paging by cursor while others write.
#include <hearth/store/history.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <hearth/store/error_codes.hpp>
#include <hearth/store/resource_store.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
using store::test::code_of;
using store::test::json;

namespace {

store::instant at_ms(long long ms) { return store::instant(std::chrono::milliseconds(ms)); }

/// A clock the test moves by hand.
struct manual_clock {
  std::atomic<long long> ms{1'700'000'000'000};
  std::function<store::instant()> fn() {
    return [this] { return at_ms(ms.load()); };
  }
};

/// "id/version" of each entry, in order.
std::vector<std::string> keys(const store::history_page& p) {
  std::vector<std::string> out;
  for (const auto& e : p.entries) out.push_back(e.id + "/" + std::to_string(e.version_id));
  return out;
}

std::vector<std::string> history_keys(store::resource_store& rs, store::history_query q) {
  auto h = rs.history(q);
  REQUIRE(h);
  CHECK(h->next_cursor.empty());
  return keys(*h);
}

}  // namespace

TEST_CASE("db: history of an instance or a type or the system is newest first") {
  store::test::store_case c;
  auto& [tdb, db, rs] = c;
  manual_clock clock;
  rs.set_clock(clock.fn());

  REQUIRE(rs.update("Patient", "a", json(R"({"resourceType":"Patient","active":true})")));
  clock.ms += 10;
  REQUIRE(rs.update("Observation", "o", json(R"({"resourceType":"Observation","status":"final"})")));
  clock.ms += 10;
  REQUIRE(rs.update("Patient", "a", json(R"({"resourceType":"Patient","active":false})")));
  clock.ms += 10;
  REQUIRE(rs.update("Patient", "b", json(R"({"resourceType":"Patient"})")));
  clock.ms += 10;
  REQUIRE(rs.remove("Patient", "a"));

  CHECK(history_keys(rs, store::history_query::of_instance("Patient", "a")) == std::vector<std::string>{"a/3", "a/2", "a/1"});

  const auto type = store::history_query::of_type("Patient");
  CHECK(history_keys(rs, type) == std::vector<std::string>{"a/3", "b/1", "a/2", "a/1"});

  store::history_query system;
  auto all = rs.history(system);
  REQUIRE(all);
  CHECK(keys(*all) == std::vector<std::string>{"a/3", "b/1", "a/2", "o/1", "a/1"});
  CHECK(all->entries[0].deleted);
  CHECK(all->entries[0].made_by == store::change::remove);
  CHECK(all->entries[0].json.empty());
  CHECK(all->entries[2].made_by == store::change::update);
  CHECK(all->entries[4].made_by == store::change::create);
  CHECK(all->entries[3].type == "Observation");
  CHECK(json(all->entries[2].json).find("active")->as_bool() == false);

  // Equal timestamps still have one order: the order of writing.
  REQUIRE(rs.update("Patient", "c", json(R"({"resourceType":"Patient"})")));
  REQUIRE(rs.update("Patient", "d", json(R"({"resourceType":"Patient"})")));
  auto tied = rs.history(type);
  REQUIRE(tied);
  CHECK(keys(*tied)[0] == "d/1");
  CHECK(keys(*tied)[1] == "c/1");
  CHECK(tied->entries[0].last_updated == tied->entries[1].last_updated);
}

TEST_CASE("db: _since and _at select versions by time") {
  store::test::store_case c;
  auto& [tdb, db, rs] = c;
  manual_clock clock;
  const long long t0 = clock.ms;
  rs.set_clock(clock.fn());

  REQUIRE(rs.update("Patient", "a", json(R"({"resourceType":"Patient","active":true})")));   // a/1 at t0
  clock.ms = t0 + 1000;
  REQUIRE(rs.update("Patient", "a", json(R"({"resourceType":"Patient","active":false})")));  // a/2 at +1000
  clock.ms = t0 + 2000;
  REQUIRE(rs.update("Patient", "b", json(R"({"resourceType":"Patient"})")));                 // b/1 at +2000
  clock.ms = t0 + 3000;
  REQUIRE(rs.remove("Patient", "a"));                                                         // a/3 at +3000

  auto q = store::history_query::of_type("Patient");
  q.since = at_ms(t0 + 1000);  // at or after (R4: "created at or after the given instant")
  CHECK(history_keys(rs, q) == std::vector<std::string>{"a/3", "b/1", "a/2"});
  q.since = at_ms(t0 + 1001);
  CHECK(history_keys(rs, q) == std::vector<std::string>{"a/3", "b/1"});
  q.since.reset();

  // _at: the versions current at some point during the period.
  auto at = [&](long long low, long long high) {
    store::history_query a = q;
    a.at_low = at_ms(t0 + low);
    a.at_high = at_ms(t0 + high);
    return history_keys(rs, a);
  };
  CHECK(at(500, 501) == std::vector<std::string>{"a/1"});
  CHECK(at(999, 1000) == std::vector<std::string>{"a/1"});  // a/2 starts at 1000: not yet
  CHECK(at(1000, 1001) == std::vector<std::string>{"a/2"});  // a/1 ended at 1000
  CHECK(at(2500, 2501) == std::vector<std::string>{"b/1", "a/2"});
  CHECK(at(3500, 3501) == std::vector<std::string>{"a/3", "b/1"});  // the tombstone is what a was then
  CHECK(at(500, 2500) == std::vector<std::string>{"b/1", "a/2", "a/1"});
  CHECK(at(-5000, -4000).empty());  // before anything existed

  // Both together.
  store::history_query both = q;
  both.since = at_ms(t0 + 1500);
  both.at_low = at_ms(t0 + 2500);
  both.at_high = at_ms(t0 + 2501);
  CHECK(history_keys(rs, both) == std::vector<std::string>{"b/1"});
}

TEST_CASE("db: history pages by cursor without duplicates or gaps while another thread writes") {
  store::test::store_case c(3);
  auto& [tdb, db, rs] = c;

  // 60 versions before paging starts: 30 resources, each updated once.
  std::set<std::string> before;
  for (int i = 0; i < 30; ++i) {
    const std::string id = "seed-" + std::to_string(i);
    REQUIRE(rs.update("Patient", id, json(R"({"resourceType":"Patient","active":true})")));
    REQUIRE(rs.update("Patient", id, json(R"({"resourceType":"Patient","active":false})")));
    before.insert(id + "/1");
    before.insert(id + "/2");
  }

  std::atomic<bool> done{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    // New versions of the seeded resources and new resources, while paging.
    for (int i = 0; !done.load() && i < 400; ++i) {
      const std::string id = (i % 2 == 0) ? "seed-" + std::to_string(i % 30) : "late-" + std::to_string(i);
      auto body = json(R"({"resourceType":"Patient"})");
      body.set("gender", (i % 4 == 0) ? "male" : "female");
      if (rs.update("Patient", id, body)) ++written;
    }
  });

  std::vector<std::string> seen;
  std::set<std::string> unique;
  auto q = store::history_query::of_type("Patient");
  q.count = 7;
  int pages = 0;
  store::instant previous = store::instant::max();
  for (;;) {
    auto page = rs.history(q);
    REQUIRE(page);
    ++pages;
    for (const auto& e : page->entries) {
      CHECK(e.last_updated <= previous);  // newest first across pages too
      previous = e.last_updated;
      const std::string key = e.id + "/" + std::to_string(e.version_id);
      CHECK_MESSAGE(unique.insert(key).second, "duplicate entry " << key);
      seen.push_back(key);
    }
    if (page->next_cursor.empty()) break;
    CHECK(page->entries.size() == 7);
    q.cursor = page->next_cursor;
    // Between every two pages, at least one write commits (bounded wait).
    const int mark = written.load();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (written.load() == mark && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    CHECK(written.load() > mark);
  }
  done = true;
  writer.join();

  // No gap: every version that existed when paging began was on some page.
  for (const auto& k : before) CHECK_MESSAGE(unique.count(k) == 1, "missing " << k);
  CHECK(pages >= 9);
  MESSAGE("history paging: " << pages << " pages, " << seen.size() << " entries, " << written.load()
                             << " concurrent writes");
}

TEST_CASE("db: history limits on _count and cursors and _at bounds and unknown instances") {
  store::test::store_case c;
  auto& [tdb, db, rs] = c;
  for (int i = 0; i < 5; ++i) REQUIRE(rs.create("Patient", json(R"({"resourceType":"Patient"})")));

  store::history_query q;
  q.count = store::history_query::max_count + 1;
  CHECK(code_of(rs.history(q)) == store::error_codes::too_costly);
  q.count = 0;  // _count=0: nothing listed
  auto none = rs.history(q);
  REQUIRE(none);
  CHECK(none->entries.empty());
  CHECK(none->next_cursor.empty());

  q.count = 2;
  auto first = rs.history(q);
  REQUIRE(first);
  CHECK(first->entries.size() == 2);
  REQUIRE_FALSE(first->next_cursor.empty());
  q.cursor = first->next_cursor;
  auto second = rs.history(q);
  REQUIRE(second);
  q.cursor = second->next_cursor;
  auto third = rs.history(q);
  REQUIRE(third);
  CHECK(third->entries.size() == 1);
  CHECK(third->next_cursor.empty());  // exactly 5: no empty last page

  for (const char* bad : {"x", "1", "1.", ".1", "1.2.3", "1.2x", "99999999999999999999.1", "1. 2"}) {
    q.cursor = bad;
    CHECK_MESSAGE(code_of(rs.history(q)) == store::error_codes::invalid, bad);
  }
  q.cursor.clear();

  q.at_low = store::instant{};
  CHECK(code_of(rs.history(q)) == store::error_codes::invalid);
  q.at_low.reset();

  CHECK(code_of(rs.history(store::history_query::of_instance("Patient", "no-such"))) == store::error_codes::not_found);
  store::history_query no_type;
  no_type.id = "x";
  CHECK(code_of(rs.history(no_type)) == store::error_codes::invalid);
  CHECK(code_of(rs.history(store::history_query::of_type("Patient;"))) == store::error_codes::invalid);
}
