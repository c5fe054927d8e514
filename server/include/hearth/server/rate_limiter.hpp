#pragma once
// hearth::server::rate_limiter — per-client request rate limiting (issue:
// "per-client rate limiting (429 with Retry-After)"), a token bucket per
// client key. Pure: no sockets, no HTTP; the request pipeline asks it and
// answers 429 (request_pipeline.hpp).
//
// Each client has a bucket of `burst` tokens that refills at `per_second`
// tokens a second; a request takes one token, or is refused when none is
// left. The bucket is kept in its equivalent "virtual scheduling" form (the
// generic cell rate algorithm, ITU-T I.371): one time point per client, the
// instant its bucket will be full again. So a full bucket is exactly a
// client without an entry, and an entry whose time has passed can be
// forgotten without changing any decision.
//
// Memory stays bounded whatever the load: at most max_clients entries
// (entries past their time are swept; when the table is still full, the
// entries nearest to full are forgotten first: that lets those clients start
// over with a full bucket, which is preferred to refusing new clients: a
// flood from many addresses must not lock every other client out), and keys
// are at most max_key_bytes long.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace hearth::server {

struct rate_limit_options {
  /// Tokens added to a bucket per second: the sustained request rate of one
  /// client. Must be above 0 (a limiter with no rate is not built).
  std::uint32_t per_second = 1;
  /// Tokens a full bucket holds: the most requests one client may send at
  /// once. 0: equal to per_second (server_config's rule).
  std::uint32_t burst = 0;
  /// Most clients tracked at once. 100,000 entries of a short key take a few
  /// tens of MiB at most; more distinct clients than that within one refill
  /// period is a flood, whose oldest entries are forgotten (see above).
  std::size_t max_clients = 100'000;
  /// Independently locked parts of the table. 64 keeps threads serving
  /// different clients off each other's lock with a few dozen workers; tests
  /// use 1 to see the whole table at once. Clamped to 1..max_clients.
  std::size_t shards = 64;
};

/// What acquire() decided.
struct rate_decision {
  bool allowed = true;
  /// When refused: how long until a request would be allowed, rounded up
  /// to whole seconds and at least 1 (the Retry-After delay, RFC 9110
  /// 10.2.3, has whole seconds only). 0 when allowed.
  std::chrono::seconds retry_after{0};
};

/// Thread-safety: acquire() and tracked_clients() may be called from any
/// thread at once. Clients are spread over independently locked shards, so
/// threads serving different clients rarely wait for each other.
/// Lifetime: a plain object; the clock function, when given, must stay
/// callable as long as the limiter.
class rate_limiter {
 public:
  using clock_function = std::function<std::chrono::steady_clock::time_point()>;

  /// Keys longer than this are shortened (a prefix and a hash of the whole
  /// key) before they are stored: keys are addresses or client ids, far
  /// shorter; the bound is what keeps max_clients a bound on memory.
  static constexpr std::size_t max_key_bytes = 256;

  /// `clock`: the time source (tests inject one); empty: steady_clock::now.
  explicit rate_limiter(rate_limit_options opts, clock_function clock = {});
  ~rate_limiter();
  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;

  /// Takes one token from the bucket of `client_key`: allowed, or refused
  /// with the delay after which a request would pass.
  rate_decision acquire(std::string_view client_key);

  /// Clients with an entry now (their bucket not known to be full).
  std::size_t tracked_clients() const;

  const rate_limit_options& options() const noexcept { return opts_; }

 private:
  struct shard;
  rate_limit_options opts_;
  clock_function clock_;
  std::unique_ptr<shard[]> shards_;
};

}  // namespace hearth::server
