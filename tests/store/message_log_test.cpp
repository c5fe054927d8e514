// The HL7 v2 message log on both engines (message_log.hpp): receipt before
// processing, durability, duplicates (also under concurrency, also across
// two database instances), completion inside and outside a transaction,
// listing with filters and paging, unfinished records, unparsable messages.
#include <hearth/store/message_log.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <hearth/store/audit_log.hpp>
#include <hearth/store/error_codes.hpp>

#include "store/store_test_db.hpp"

namespace store = hearth::store;
using store::test::code_of;
using store::test::json;

namespace {

/// A small ORU^R01 from `app`/`facility` with control id `control`; `extra`
/// changes the bytes (a different message under the same key).
store::incoming_message oru(const std::string& app, const std::string& facility, const std::string& control,
                            const std::string& extra = "") {
  store::incoming_message m;
  m.raw = "MSH|^~\\&|" + app + "|" + facility + "|HEARTH|HOSP|20240301120000||ORU^R01|" + control +
          "|P|2.5.1\rPID|1||12345^^^HOSP^MR||Doe^Jane\rOBX|1|NM|2345-7^Glucose^LN||" + (extra.empty() ? "95" : extra) +
          "|mg/dL\r";
  m.sender_application = app;
  m.sender_facility = facility;
  m.control_id = control;
  m.message_type = "ORU^R01";
  return m;
}

long long count_messages(soci::session& raw) {
  long long n = 0;
  raw << "SELECT COUNT(*) FROM hl7_message", soci::into(n);
  return n;
}

store::instant at_ms(long long ms) { return store::instant(std::chrono::milliseconds(ms)); }

}  // namespace

TEST_CASE("message_status to_string and parse_message_status round-trip") {
  for (auto s : {store::message_status::received, store::message_status::processed, store::message_status::error,
                 store::message_status::rejected}) {
    CHECK(store::parse_message_status(store::to_string(s)) == s);
  }
  CHECK(store::to_string(store::message_status::rejected) == "rejected");
  CHECK_FALSE(store::parse_message_status("Processed").has_value());
  CHECK_FALSE(store::parse_message_status("").has_value());
}

TEST_CASE("db: message log: a received message is stored exactly, compressed, and read back by id") {
  store::test::store_case c;
  store::message_log log(*c.db);
  log.set_clock([] { return at_ms(1709294400000); });
  auto m = oru("LAB^1.2.3^ISO", "MAIN", "MSG0001");
  m.raw += std::string("\x00\xff\xfe binary tail", 16);  // any bytes: kept as they are
  auto r = log.receive(m);
  REQUIRE(r);
  CHECK_FALSE(r->duplicate);
  CHECK_FALSE(r->earlier.has_value());
  CHECK(r->id > 0);

  auto got = log.get(r->id);
  REQUIRE_MESSAGE(got, (got ? std::string() : got.error().message));
  REQUIRE(got->has_value());
  const store::message_record& rec = **got;
  CHECK(rec.id == r->id);
  CHECK(rec.raw == m.raw);
  CHECK(rec.raw_sha256.size() == 64);
  CHECK(rec.sender_application == "LAB^1.2.3^ISO");
  CHECK(rec.sender_facility == "MAIN");
  CHECK(rec.control_id == "MSG0001");
  CHECK(rec.message_type == "ORU^R01");
  CHECK(rec.status == store::message_status::received);
  CHECK(rec.received_at == at_ms(1709294400000));
  CHECK(rec.updated_at == rec.received_at);
  CHECK(rec.ack.empty());
  CHECK(rec.error.empty());
  CHECK(rec.resources.empty());

  // The column holds the zstd frame, not the text.
  auto raw = c.tdb.raw();
  std::string sha;
  long long size = 0;
  *raw << "SELECT raw_sha256, LENGTH(raw) FROM hl7_message WHERE message_pk = :id", soci::into(sha), soci::into(size),
      soci::use(static_cast<long long>(r->id));
  CHECK(sha == rec.raw_sha256);
  CHECK(size > 0);
  CHECK(static_cast<std::size_t>(size) != m.raw.size());

  auto none = log.get(r->id + 1000);
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
}

TEST_CASE("db: message log: a received message is durable: another database instance on the same store sees it") {
  store::test::test_db tdb;
  std::int64_t id = 0;
  {
    auto db = tdb.open();
    store::message_log log(*db);
    auto r = log.receive(oru("LAB", "MAIN", "DUR-1"));
    REQUIRE(r);
    id = r->id;
    // Read from a second instance while the first is still open...
    auto other = tdb.open();
    store::message_log other_log(*other);
    auto seen = other_log.get(id);
    REQUIRE(seen);
    REQUIRE(seen->has_value());
    CHECK((*seen)->control_id == "DUR-1");
  }
  // ... and after the first is closed.
  auto db = tdb.open();
  store::message_log log(*db);
  auto seen = log.get(id);
  REQUIRE(seen);
  REQUIRE(seen->has_value());
  CHECK((*seen)->raw == oru("LAB", "MAIN", "DUR-1").raw);
  // A resend to the reopened store is still recognised.
  auto again = log.receive(oru("LAB", "MAIN", "DUR-1"));
  REQUIRE(again);
  CHECK(again->duplicate);
  CHECK(again->id == id);
}

TEST_CASE("db: message log: a message with a logged sender and control id writes nothing and returns the earlier record") {
  store::test::store_case c;
  store::message_log log(*c.db);
  auto first = log.receive(oru("LAB", "MAIN", "DUP-1"));
  REQUIRE(first);
  REQUIRE(log.complete(first->id, store::message_status::processed, "MSH|...ACK AA", "", {"Patient/p1/_history/1"}));

  // The same bytes again: the earlier record, ACK included.
  auto same = log.receive(oru("LAB", "MAIN", "DUP-1"));
  REQUIRE(same);
  CHECK(same->duplicate);
  CHECK(same->id == first->id);
  REQUIRE(same->earlier.has_value());
  CHECK(same->earlier->ack == "MSH|...ACK AA");
  CHECK(same->earlier->status == store::message_status::processed);
  CHECK(same->earlier->raw == oru("LAB", "MAIN", "DUP-1").raw);
  CHECK(same->earlier->resources == std::vector<std::string>{"Patient/p1/_history/1"});

  // Other bytes under the same key: still the earlier record (the server
  // answers AR on seeing the hash differ); nothing is written.
  auto reused = log.receive(oru("LAB", "MAIN", "DUP-1", "250"));
  REQUIRE(reused);
  CHECK(reused->duplicate);
  CHECK(reused->id == first->id);
  REQUIRE(reused->earlier.has_value());
  CHECK(reused->earlier->raw_sha256 == same->earlier->raw_sha256);  // the earlier message's hash
  CHECK(reused->earlier->raw != oru("LAB", "MAIN", "DUP-1", "250").raw);
  auto reused_rec = log.get(first->id);
  REQUIRE(reused_rec);
  CHECK((*reused_rec)->raw == oru("LAB", "MAIN", "DUP-1").raw);

  // Another sender, facility or control id is another message.
  CHECK_FALSE(log.receive(oru("LAB2", "MAIN", "DUP-1"))->duplicate);
  CHECK_FALSE(log.receive(oru("LAB", "OTHER", "DUP-1"))->duplicate);
  CHECK_FALSE(log.receive(oru("LAB", "MAIN", "DUP-2"))->duplicate);
  auto raw = c.tdb.raw();
  CHECK(count_messages(*raw) == 4);
}

TEST_CASE("db: message log: concurrent receives of one key from many threads insert exactly one record") {
  store::test::store_case c(4);
  store::message_log log(*c.db);
  constexpr int threads = 8, rounds = 5;
  std::atomic<int> inserted{0}, duplicates{0}, failures{0};
  std::vector<std::thread> pool;
  std::vector<std::set<std::int64_t>> ids(rounds);
  std::mutex mu;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int k = 0; k < rounds; ++k) {
        auto r = log.receive(oru("LAB", "MAIN", "RACE-" + std::to_string(k)));
        if (!r) {
          ++failures;
          continue;
        }
        (r->duplicate ? duplicates : inserted)++;
        std::lock_guard lock(mu);
        ids[static_cast<std::size_t>(k)].insert(r->id);
      }
    });
  }
  for (auto& t : pool) t.join();
  CHECK(failures == 0);
  CHECK(inserted == rounds);
  CHECK(duplicates == threads * rounds - rounds);
  for (const auto& s : ids) CHECK(s.size() == 1);  // every thread got the one record
  auto raw = c.tdb.raw();
  CHECK(count_messages(*raw) == rounds);
}

TEST_CASE("db: message log: two database instances receiving one key concurrently insert one record") {
  // Two database objects are two processes' worth of connections and
  // writers (on PostgreSQL: two writing connections racing on the index).
  store::test::test_db tdb;
  auto db1 = tdb.open();
  auto db2 = tdb.open();
  store::message_log log1(*db1), log2(*db2);
  constexpr int keys = 30;
  std::atomic<int> inserted{0}, failures{0};
  auto run = [&](store::message_log& log) {
    for (int k = 0; k < keys; ++k) {
      auto r = log.receive(oru("LAB", "MAIN", "X-" + std::to_string(k)));
      if (!r) {
        ++failures;
      } else if (!r->duplicate) {
        ++inserted;
      }
    }
  };
  std::thread t1([&] { run(log1); });
  std::thread t2([&] { run(log2); });
  t1.join();
  t2.join();
  CHECK(failures == 0);
  CHECK(inserted == keys);
  auto raw = tdb.raw();
  CHECK(count_messages(*raw) == keys);
}

TEST_CASE("db: message log: complete inside a transaction commits with the transaction's writes, or rolls back with them") {
  store::test::store_case c;
  store::message_log log(*c.db);
  auto m = log.receive(oru("LAB", "MAIN", "TX-1"));
  REQUIRE(m);

  // The transaction fails after completing: the record stays `received`.
  auto failed = c.rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto p = tx.create("Patient", json(R"({"resourceType":"Patient"})"));
    if (!p) return hearth::unexpected(p.error());
    if (auto r = store::message_log::complete(tx, m->id, store::message_status::processed, "ACK-AA", "",
                                              {"Patient/" + p->version.id + "/_history/1"});
        !r) {
      return r;
    }
    return hearth::unexpected(hearth::error{"exception", "forced", {}, hearth::error::npos});
  });
  CHECK(code_of(failed) == "exception");
  auto after_fail = log.get(m->id);
  REQUIRE(after_fail);
  CHECK((*after_fail)->status == store::message_status::received);
  CHECK((*after_fail)->ack.empty());
  auto raw = c.tdb.raw();
  long long resources = 0;
  *raw << "SELECT COUNT(*) FROM resource", soci::into(resources);
  CHECK(resources == 0);
  auto unfinished = log.unfinished();
  REQUIRE(unfinished);
  CHECK(*unfinished == std::vector<std::int64_t>{m->id});

  // The same, committed: resources, status, ACK together.
  std::string patient;
  auto ok = c.rs.transaction([&](store::resource_tx& tx) -> hearth::result<void> {
    auto p = tx.create("Patient", json(R"({"resourceType":"Patient"})"));
    if (!p) return hearth::unexpected(p.error());
    patient = "Patient/" + p->version.id + "/_history/1";
    return store::message_log::complete(tx, m->id, store::message_status::processed, "ACK-AA", "", {patient});
  });
  REQUIRE(ok);
  auto done = log.get(m->id);
  REQUIRE(done);
  CHECK((*done)->status == store::message_status::processed);
  CHECK((*done)->ack == "ACK-AA");
  CHECK((*done)->resources == std::vector<std::string>{patient});
  CHECK((*done)->updated_at >= (*done)->received_at);
  auto none = log.unfinished();
  REQUIRE(none);
  CHECK(none->empty());

  // Errors: an unknown id, a status that is not final.
  auto unknown = c.rs.transaction([&](store::resource_tx& tx) {
    return store::message_log::complete(tx, m->id + 999, store::message_status::error, "", "x", {});
  });
  CHECK(code_of(unknown) == store::error_codes::not_found);
  CHECK(code_of(log.complete(m->id + 999, store::message_status::rejected, "ACK-AR", "unparsable")) ==
        store::error_codes::not_found);
  CHECK(code_of(log.complete(m->id, store::message_status::received, "", "")) == store::error_codes::invalid);
}

TEST_CASE("db: message log: complete in a transaction of its own records an error or a rejection") {
  store::test::store_case c;
  store::message_log log(*c.db);
  auto m = log.receive(oru("LAB", "MAIN", "ERR-1"));
  REQUIRE(m);
  std::string ack("MSH|^~\\&|HEARTH\rMSA|AE|ERR-1\r\xe9", 30);  // any bytes
  REQUIRE(log.complete(m->id, store::message_status::error, ack, "mapping failed: OBX-5 segment 3"));
  auto rec = log.get(m->id);
  REQUIRE(rec);
  CHECK((*rec)->status == store::message_status::error);
  CHECK((*rec)->ack == ack);
  CHECK((*rec)->error == "mapping failed: OBX-5 segment 3");
  CHECK((*rec)->resources.empty());
}

TEST_CASE("db: message log: messages that could not be parsed (no keys) are all logged, none a duplicate of another") {
  store::test::store_case c;
  store::message_log log(*c.db);
  std::set<std::int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    store::incoming_message m;
    m.raw = "garbage that is no HL7 message " + std::to_string(i % 2);  // twice the same bytes too
    auto r = log.receive(m);
    REQUIRE(r);
    CHECK_FALSE(r->duplicate);
    ids.insert(r->id);
    REQUIRE(log.complete(r->id, store::message_status::rejected, "ACK-AR", "not an HL7 v2 message"));
  }
  CHECK(ids.size() == 3);
  // A sender without a control id: not a key either.
  auto a = log.receive(oru("LAB", "MAIN", ""));
  auto b = log.receive(oru("LAB", "MAIN", ""));
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(b->duplicate);
  CHECK(a->id != b->id);
  auto page = log.list({.status = store::message_status::rejected});
  REQUIRE(page);
  CHECK(page->records.size() == 3);
}

TEST_CASE("db: message log: receive refuses key fields the columns cannot hold, and says which") {
  store::test::store_case c;
  store::message_log log(*c.db);
  auto bad_utf8 = oru("LAB", "MAIN", "K1");
  bad_utf8.sender_application = "L\xe9" "AB";  // Latin-1, not decoded
  auto r1 = log.receive(bad_utf8);
  CHECK(code_of(r1) == store::error_codes::invalid);
  CHECK(r1.error().message.find("MSH-3") != std::string::npos);
  auto long_key = oru("LAB", "MAIN", std::string(store::message_log::max_key_bytes + 1, '7'));
  auto r2 = log.receive(long_key);
  CHECK(code_of(r2) == store::error_codes::invalid);
  CHECK(r2.error().message.find("MSH-10") != std::string::npos);
  auto raw = c.tdb.raw();
  CHECK(count_messages(*raw) == 0);
}

TEST_CASE("db: message log: the log lists newest first, filtered, in keyset pages") {
  store::test::store_case c;
  store::message_log log(*c.db);
  long long now = 1709294400000;
  log.set_clock([&] { return at_ms(now); });
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 7; ++i) {
    now = 1709294400000 + i * 60000;  // one a minute
    auto m = oru(i % 2 == 0 ? "LAB" : "ADT", "MAIN", "L-" + std::to_string(i));
    if (i == 6) m.message_type = "ADT^A01";
    auto r = log.receive(m);
    REQUIRE(r);
    ids.push_back(r->id);
  }
  REQUIRE(log.complete(ids[1], store::message_status::processed, "AA", ""));
  REQUIRE(log.complete(ids[2], store::message_status::error, "AE", "failed"));

  // Everything, newest first, three a page.
  std::vector<std::int64_t> seen;
  std::string cursor;
  int pages = 0;
  do {
    store::message_query q;
    q.count = 3;
    q.cursor = cursor;
    auto page = log.list(q);
    REQUIRE(page);
    for (const auto& rec : page->records) {
      seen.push_back(rec.id);
      CHECK(rec.raw.empty());  // listings leave raw out
      CHECK(rec.raw_sha256.size() == 64);
    }
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty() && pages < 10);
  CHECK(pages == 3);
  CHECK(seen == std::vector<std::int64_t>(ids.rbegin(), ids.rend()));

  auto ids_of = [&](const store::message_query& q) {
    std::vector<std::int64_t> out;
    auto page = log.list(q);
    REQUIRE(page);
    for (const auto& rec : page->records) out.push_back(rec.id);
    return out;
  };
  CHECK(ids_of({.status = store::message_status::received}) ==
        std::vector<std::int64_t>{ids[6], ids[5], ids[4], ids[3], ids[0]});
  CHECK(ids_of({.status = store::message_status::error}) == std::vector<std::int64_t>{ids[2]});
  CHECK(ids_of({.message_type = "ADT^A01"}) == std::vector<std::int64_t>{ids[6]});
  CHECK(ids_of({.sender_application = "ADT"}) == std::vector<std::int64_t>{ids[5], ids[3], ids[1]});
  CHECK(ids_of({.sender_application = "LAB", .sender_facility = "MAIN"}) ==
        std::vector<std::int64_t>{ids[6], ids[4], ids[2], ids[0]});
  CHECK(ids_of({.sender_facility = "NOWHERE"}).empty());
  CHECK(ids_of({.received_from = at_ms(1709294400000 + 2 * 60000), .received_to = at_ms(1709294400000 + 4 * 60000)}) ==
        std::vector<std::int64_t>{ids[3], ids[2]});
  CHECK(ids_of({.status = store::message_status::received, .sender_application = "LAB",
                .received_from = at_ms(1709294400000 + 60000)}) ==
        std::vector<std::int64_t>{ids[6], ids[4]});
  // A filtered listing pages too.
  store::message_query q{.status = store::message_status::received, .count = 2};
  auto p1 = log.list(q);
  REQUIRE(p1);
  REQUIRE_FALSE(p1->next_cursor.empty());
  q.cursor = p1->next_cursor;
  auto p2 = log.list(q);
  REQUIRE(p2);
  REQUIRE(p2->records.size() == 2);
  CHECK(p2->records[0].id == ids[4]);

  CHECK(code_of(log.list({.cursor = "abc"})) == store::error_codes::invalid);
  CHECK(code_of(log.list({.cursor = "-3"})) == store::error_codes::invalid);
  CHECK(code_of(log.list({.count = store::message_query::max_count + 1})) == store::error_codes::too_costly);
  auto empty = log.list({.count = 0});
  REQUIRE(empty);
  CHECK(empty->records.empty());
}

TEST_CASE("db: message log: unfinished lists the records still received, oldest first, within the limit") {
  store::test::store_case c;
  store::message_log log(*c.db);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = log.receive(oru("LAB", "MAIN", "U-" + std::to_string(i)));
    REQUIRE(r);
    ids.push_back(r->id);
  }
  REQUIRE(log.complete(ids[0], store::message_status::processed, "AA", ""));
  REQUIRE(log.complete(ids[3], store::message_status::rejected, "AR", "unsupported"));
  auto all = log.unfinished();
  REQUIRE(all);
  CHECK(*all == std::vector<std::int64_t>{ids[1], ids[2], ids[4]});
  auto two = log.unfinished(2);
  REQUIRE(two);
  CHECK(*two == std::vector<std::int64_t>{ids[1], ids[2]});
  auto none = log.unfinished(0);
  REQUIRE(none);
  CHECK(none->empty());
}
