#include <hearth/server/rate_limiter.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace hearth::server {
namespace {

using namespace std::chrono_literals;

/// A clock the case moves by hand.
struct manual_clock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
  rate_limiter::clock_function fn() {
    return [this] { return now; };
  }
};

rate_limit_options limits(std::uint32_t per_second, std::uint32_t burst, std::size_t max_clients = 100'000,
                          std::size_t shards = 64) {
  rate_limit_options o;
  o.per_second = per_second;
  o.burst = burst;
  o.max_clients = max_clients;
  o.shards = shards;
  return o;
}

/// How many requests pass in a row at the current instant.
int passes(rate_limiter& rl, std::string_view key, int tries = 1000) {
  int n = 0;
  while (n < tries && rl.acquire(key).allowed) ++n;
  return n;
}

TEST_CASE("rate limiter: a burst passes at once, the next request is refused") {
  manual_clock c;
  rate_limiter rl(limits(1, 2), c.fn());
  CHECK(rl.acquire("addr:10.0.0.1").allowed);
  CHECK(rl.acquire("addr:10.0.0.1").allowed);
  const rate_decision d = rl.acquire("addr:10.0.0.1");
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after == 1s);
  // A refused request takes nothing: hammering does not lengthen the wait.
  for (int i = 0; i < 10; ++i) CHECK_FALSE(rl.acquire("addr:10.0.0.1").allowed);
  CHECK(rl.acquire("addr:10.0.0.1").retry_after == 1s);

  CHECK(passes(rl, "addr:10.0.0.2") == 2);
  rate_limiter big(limits(10, 50), c.fn());
  CHECK(passes(big, "k") == 50);
}

TEST_CASE("rate limiter: a burst of 0 means a burst equal to the rate") {
  manual_clock c;
  rate_limiter rl(limits(5, 0), c.fn());
  CHECK(rl.options().burst == 5);
  CHECK(passes(rl, "k") == 5);
}

TEST_CASE("rate limiter: tokens come back at the rate") {
  manual_clock c;
  rate_limiter rl(limits(2, 4), c.fn());
  CHECK(passes(rl, "k") == 4);
  c.now += 499ms;
  CHECK_FALSE(rl.acquire("k").allowed);  // one token every 500 ms
  c.now += 1ms;
  CHECK(rl.acquire("k").allowed);
  CHECK_FALSE(rl.acquire("k").allowed);
  c.now += 1s;
  CHECK(passes(rl, "k") == 2);
  // Idle long enough, the bucket is full again, and no fuller than full.
  c.now += 1h;
  CHECK(passes(rl, "k") == 4);
}

TEST_CASE("rate limiter: Retry-After is the wait for one token, in whole seconds rounded up, at least 1") {
  manual_clock c;
  SUBCASE("less than a second away: 1") {
    rate_limiter rl(limits(10, 1), c.fn());
    CHECK(rl.acquire("k").allowed);
    const rate_decision d = rl.acquire("k");
    CHECK_FALSE(d.allowed);
    CHECK(d.retry_after == 1s);  // 100 ms, rounded up
  }
  SUBCASE("a slow rate: the full interval, and less as time passes") {
    rate_limiter rl(limits(1, 1), c.fn());
    CHECK(rl.acquire("k").allowed);
    CHECK(rl.acquire("k").retry_after == 1s);
    c.now += 999ms;
    CHECK(rl.acquire("k").retry_after == 1s);  // 1 ms left: still 1, never 0
    c.now += 1ms;
    CHECK(rl.acquire("k").allowed);
  }
  SUBCASE("the retry delay is honest: waiting it is enough, waiting less is not") {
    rate_limiter rl(limits(3, 2), c.fn());
    CHECK(passes(rl, "k") == 2);
    const rate_decision d = rl.acquire("k");
    REQUIRE_FALSE(d.allowed);
    CHECK(d.retry_after == 1s);  // 333 ms rounded up
    c.now += 300ms;
    CHECK_FALSE(rl.acquire("k").allowed);
    c.now += d.retry_after - 300ms;
    CHECK(rl.acquire("k").allowed);
  }
}

TEST_CASE("rate limiter: each client has its own bucket") {
  manual_clock c;
  rate_limiter rl(limits(1, 3), c.fn());
  CHECK(passes(rl, "addr:192.0.2.1") == 3);
  CHECK(passes(rl, "addr:192.0.2.2") == 3);
  CHECK(passes(rl, "addr:2001:db8::1") == 3);
  CHECK_FALSE(rl.acquire("addr:192.0.2.1").allowed);
  CHECK(rl.tracked_clients() == 3);
}

TEST_CASE("rate limiter: full buckets are forgotten by the periodic sweep") {
  manual_clock c;
  rate_limiter rl(limits(1, 2, 100, 1), c.fn());
  for (int i = 0; i < 50; ++i) CHECK(rl.acquire("client-" + std::to_string(i)).allowed);
  CHECK(rl.tracked_clients() == 50);
  // 11 s later every bucket is full; the next request sweeps them away.
  c.now += 11s;
  CHECK(rl.acquire("another").allowed);
  CHECK(rl.tracked_clients() == 1);
}

TEST_CASE("rate limiter: the number of clients tracked is capped") {
  manual_clock c;
  SUBCASE("a flood of new clients never holds more than max_clients entries") {
    rate_limiter rl(limits(1, 5, 1000), c.fn());
    for (int i = 0; i < 20'000; ++i) {
      // Every new client's first request passes: it has a full bucket.
      REQUIRE(rl.acquire("addr:flood-" + std::to_string(i)).allowed);
    }
    CHECK(rl.tracked_clients() <= 1000);
    CHECK(rl.tracked_clients() > 0);
  }
  SUBCASE("when full, the clients nearest to a full bucket are forgotten first") {
    rate_limiter rl(limits(1, 10, 2, 1), c.fn());
    CHECK(passes(rl, "heavy") == 10);  // 10 s from a full bucket
    CHECK(rl.acquire("light").allowed);  // 1 s from a full bucket
    CHECK(rl.tracked_clients() == 2);
    CHECK(rl.acquire("new").allowed);  // the table is full: "light" goes
    CHECK(rl.tracked_clients() == 2);
    CHECK_FALSE(rl.acquire("heavy").allowed);  // still remembered
    // "light" starts over with a full bucket.
    CHECK(passes(rl, "light") == 10);
  }
  SUBCASE("clients whose bucket has refilled make room before anyone is forgotten") {
    rate_limiter rl(limits(1, 10, 2, 1), c.fn());
    CHECK(passes(rl, "heavy") == 10);
    CHECK(rl.acquire("light").allowed);
    c.now += 2s;  // "light" is full again, "heavy" is not
    CHECK(rl.acquire("new").allowed);
    CHECK(rl.tracked_clients() == 2);
    CHECK(passes(rl, "heavy") == 2);  // its debt kept: 2 tokens back in 2 s
  }
}

TEST_CASE("rate limiter: very long keys are bounded and still told apart") {
  manual_clock c;
  rate_limiter rl(limits(1, 1), c.fn());
  const std::string a(10'000, 'a');
  std::string b = a;
  b.back() = 'b';  // same prefix, different key
  CHECK(rl.acquire(a).allowed);
  CHECK_FALSE(rl.acquire(a).allowed);
  CHECK(rl.acquire(b).allowed);
  CHECK(rl.tracked_clients() == 2);
}

TEST_CASE("rate limiter: concurrent clients on many threads get exactly their bursts") {
  // Threads share a frozen clock: each client must get exactly `burst`
  // passes however the threads interleave (the shard locks make each
  // decision atomic).
  manual_clock c;
  rate_limiter rl(limits(1, 100), c.fn());
  constexpr int threads = 8;
  constexpr int clients = 16;
  std::vector<std::atomic<int>> passed(clients);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        for (int k = 0; k < clients; ++k) {
          if (rl.acquire("client-" + std::to_string(k)).allowed) ++passed[static_cast<std::size_t>(k)];
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  for (int k = 0; k < clients; ++k) {
    CAPTURE(k);
    CHECK(passed[static_cast<std::size_t>(k)].load() == 100);
  }
}

}  // namespace
}  // namespace hearth::server
