// fhir_api: conditional create (R4 http.html#ccreate: If-None-Exist) is one
// transaction with its search, so concurrent creates with the same criteria
// make one resource; and conditional update's create branch likewise (R4
// http.html#cond-update).
#include <hearth/server/fhir_api.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server_test_support.hpp"

namespace hearth::server::test {
namespace {

std::string with_mrn(std::string_view family, std::string_view mrn) {
  return patient(family, R"("identifier":[{"system":"urn:race","value":")" + std::string(mrn) + "\"}]");
}

std::size_t stored_with_mrn(const api_case& c, std::string_view mrn) {
  const http_response r = c.get("/Patient?identifier=urn:race|" + std::string(mrn));
  REQUIRE(r.status == 200);
  return entries(body_of(r)).size();
}

/// Several threads send the same request `rounds` times each round, all
/// released together by a barrier; returns the statuses per round.
template <class Send>
std::vector<std::map<int, int>> race(int threads, int rounds, Send send) {
  std::vector<std::map<int, int>> statuses(static_cast<std::size_t>(rounds));
  std::mutex mu;
  std::barrier start(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int round = 0; round < rounds; ++round) {
        start.arrive_and_wait();
        const int status = send(round, t);
        std::lock_guard lock(mu);
        ++statuses[static_cast<std::size_t>(round)][status];
      }
    });
  }
  for (auto& th : pool) th.join();
  return statuses;
}

TEST_CASE("api: concurrent conditional creates with the same If-None-Exist make exactly one resource") {
  // api_case's store leases pool_size reader connections: several, so that
  // the searches of the racing requests can overlap.
  api_case c;
  constexpr int threads = 8;
  constexpr int rounds = 20;
  const auto statuses = race(threads, rounds, [&](int round, int) {
    const std::string mrn = "ccreate-" + std::to_string(round);
    return c.post("/Patient", with_mrn("Race", mrn), {{"If-None-Exist", "identifier=urn:race|" + mrn}}).status;
  });
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    const auto& s = statuses[static_cast<std::size_t>(round)];
    // One request created it (201); every other found it (200).
    CHECK(s.size() <= 2);
    CHECK(s.count(201) == 1);
    if (s.count(201) == 1) CHECK(s.at(201) == 1);
    CHECK((s.count(200) == 1 ? s.at(200) : 0) == threads - 1);
    CHECK(stored_with_mrn(c, "ccreate-" + std::to_string(round)) == 1);
  }
}

TEST_CASE("api: concurrent conditional updates that find nothing create exactly one resource") {
  api_case c;
  constexpr int threads = 8;
  constexpr int rounds = 10;
  const auto statuses = race(threads, rounds, [&](int round, int) {
    const std::string mrn = "cupdate-" + std::to_string(round);
    return c.put("/Patient?identifier=urn:race|" + mrn, with_mrn("Race", mrn)).status;
  });
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    const auto& s = statuses[static_cast<std::size_t>(round)];
    // One created it (201); the others updated it (200: an identical
    // update, or a new version), never a second resource.
    CHECK(s.count(201) == 1);
    if (s.count(201) == 1) CHECK(s.at(201) == 1);
    CHECK((s.count(200) == 1 ? s.at(200) : 0) == threads - 1);
    CHECK(stored_with_mrn(c, "cupdate-" + std::to_string(round)) == 1);
  }
}

TEST_CASE("api: concurrent transactions with the same ifNoneExist or conditional PUT never create twice") {
  api_case c;
  constexpr int threads = 8;
  constexpr int rounds = 10;
  for (const bool put : {false, true}) {
    CAPTURE(put);
    const std::string prefix = put ? "tx-put-" : "tx-post-";
    const auto statuses = race(threads, rounds, [&](int round, int) {
      const std::string mrn = prefix + std::to_string(round);
      const std::string request =
          put ? R"({"method":"PUT","url":"Patient?identifier=urn:race|)" + mrn + R"("})"
              : R"({"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:race|)" + mrn + R"("})";
      const std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:)"
                                 R"(0f5c2c48-6d39-4d21-9c2a-6c1e61c4a001","resource":)" +
                                 with_mrn("Race", mrn) + R"(,"request":)" + request + "}]}";
      return c.post("/", bundle).status;
    });
    for (int round = 0; round < rounds; ++round) {
      CAPTURE(round);
      const auto& s = statuses[static_cast<std::size_t>(round)];
      // Each transaction committed (200) or met one created meanwhile (409).
      for (const auto& [status, n] : s) CHECK((status == 200 || status == 409));
      CHECK(stored_with_mrn(c, prefix + std::to_string(round)) == 1);
    }
  }
}

TEST_CASE("api: conditional create answers as before: 201 new, 200 the match, 412 several") {
  api_case c;
  const http_response first =
      c.post("/Patient", with_mrn("A", "1"), {{"If-None-Exist", "identifier=urn:race|1"}});
  REQUIRE(first.status == 201);
  const std::string id = str_at(body_of(first), {"id"});
  CHECK(first.header("Location").has_value());

  const http_response again =
      c.post("/Patient", with_mrn("A-changed", "1"), {{"If-None-Exist", "Patient?identifier=urn:race|1"}});
  REQUIRE(again.status == 200);
  CHECK(str_at(body_of(again), {"id"}) == id);
  CHECK(again.header("ETag") == "W/\"1\"");
  CHECK_FALSE(again.header("Location").has_value());
  // Nothing was written: the stored resource is the first one.
  CHECK(str_at(body_of(c.get("/Patient/" + id)), {"meta", "versionId"}) == "1");

  c.create("Patient", with_mrn("B", "1"));  // a second match, created without a condition
  const http_response many = c.post("/Patient", with_mrn("C", "1"), {{"If-None-Exist", "identifier=urn:race|1"}});
  CHECK(many.status == 412);
  CHECK(stored_with_mrn(c, "1") == 2);

  // A deleted match is no match.
  const std::string gone = c.create("Patient", with_mrn("D", "2"));
  REQUIRE(c.del("/Patient/" + gone).status == 204);
  const http_response after_delete =
      c.post("/Patient", with_mrn("D", "2"), {{"If-None-Exist", "identifier=urn:race|2"}});
  CHECK(after_delete.status == 201);
  CHECK(str_at(body_of(after_delete), {"id"}) != gone);

  // The condition is parsed strictly, and must hold a criterion.
  CHECK(c.post("/Patient", with_mrn("E", "3"), {{"If-None-Exist", "no-such-param=1"}}).status == 400);
  CHECK(c.post("/Patient", with_mrn("E", "3"), {{"If-None-Exist", "_format=json"}}).status == 400);
  CHECK(stored_with_mrn(c, "3") == 0);

  // Prefer: return=minimal on the match: no body, the version headers.
  const http_response minimal = c.post("/Patient", with_mrn("D", "2"),
                                       {{"If-None-Exist", "identifier=urn:race|2"}, {"Prefer", "return=minimal"}});
  CHECK(minimal.status == 200);
  CHECK(minimal.body.empty());
  CHECK(minimal.header("ETag") == "W/\"1\"");
}

TEST_CASE("api: conditional create's write hook runs for the create only, in its transaction") {
  api_options o = api_case::default_options();
  std::atomic<int> hooked{0};
  std::mutex mu;
  std::vector<bool> created;
  o.make_write_hook = [&](const http_request&) -> store::write_hook {
    return [&](store::resource_tx&, const store::write_outcome& w) -> hearth::result<void> {
      ++hooked;
      std::lock_guard lock(mu);
      created.push_back(w.created);
      return {};
    };
  };
  api_case c(o);
  CHECK(c.post("/Patient", with_mrn("A", "9"), {{"If-None-Exist", "identifier=urn:race|9"}}).status == 201);
  CHECK(hooked == 1);
  CHECK(c.post("/Patient", with_mrn("A", "9"), {{"If-None-Exist", "identifier=urn:race|9"}}).status == 200);
  CHECK(hooked == 1);  // nothing written, as before: no hook
  CHECK(created == std::vector<bool>{true});
}

TEST_CASE("api: a failing write hook rolls the conditional create back") {
  api_options o = api_case::default_options();
  o.make_write_hook = [](const http_request&) -> store::write_hook {
    return [](store::resource_tx&, const store::write_outcome&) -> hearth::result<void> {
      return hearth::unexpected(hearth::error{"exception", "the trail is unavailable", "", hearth::error::npos});
    };
  };
  api_case c(o);
  CHECK(c.post("/Patient", with_mrn("A", "10"), {{"If-None-Exist", "identifier=urn:race|10"}}).status == 500);
  CHECK(stored_with_mrn(c, "10") == 0);
}

}  // namespace
}  // namespace hearth::server::test
