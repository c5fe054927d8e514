#pragma once
// hearth::server::auth::jwks_cache — an external issuer's public keys,
// fetched from its jwks_uri at start and kept fresh, for token_verifier.
//
// Policy (issue 6, "JWKS ... fetched at start and refreshed"):
// - Start: start() begins the first fetch at once on the cache's own thread;
//   `hearth serve` waits for that first attempt (bounded by the fetch
//   deadlines) and then starts whatever came of it. When it failed, a
//   warning naming the issuer is logged and the cache keeps retrying; until
//   keys are known, that issuer's tokens are refused (401), and nothing else
//   is affected: an identity provider that is down must not keep the FHIR
//   server from starting.
// - Refresh: again after the response's Cache-Control max-age (RFC 9111
//   5.2.2.1), held within [min_refresh, max_refresh] (5 min .. 24 h), or
//   after default_refresh (1 h) when it gave none.
// - On demand: a token naming a key the set does not hold (an unknown
//   `kid`: the issuer may have rotated its keys, OpenID Connect Core 1.0
//   10.1.1) calls request_refresh(), which never blocks: the token is
//   refused now and the fetch happens on the cache's thread. However many
//   such tokens arrive, the issuer is asked at most once per
//   min_fetch_interval (60 s): a stream of forged kids cannot make us hammer
//   the identity provider (RFC 8725 3.10's spirit: what a token says must
//   not steer our requests).
// - Failure: the keys last fetched stay in use (an identity provider that
//   is briefly down does not lock its users out); the fetch is retried
//   after min_fetch_interval, doubling up to max_retry.
//
// Thread-safety: every member may be called from any thread. keys() takes a
// short lock and returns an immutable snapshot; a refresh swaps in a new
// one, so a verification in progress keeps the set it started with.
// Lifetime: the destructor stops the thread, waiting for a fetch in flight
// (at most the fetch's own deadlines).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <hearth/core/result.hpp>
#include <hearth/server/jwks_fetcher.hpp>
#include <hearth/server/jwt.hpp>

namespace hearth::server::auth {

/// What one fetch came to, for the server's log.
struct jwks_fetch_event {
  std::string issuer;
  bool ok = false;
  std::size_t key_count = 0;  ///< keys in the new set (ok)
  hearth::error error;        ///< why it failed (!ok); never holds the URI or key material
  bool keys_known = false;    ///< whether a set is in use now (an older one, after a failure)
  std::chrono::seconds next_fetch{0};  ///< until the next scheduled fetch
};

struct jwks_cache_options {
  /// The issuer, for events only.
  std::string issuer;
  /// Fetches the issuer's JWK Set (fetch_jwks on its jwks_uri, or a stub in
  /// tests). Called on the cache's thread only, one call at a time.
  std::function<hearth::result<fetched_jwks>()> fetch;
  /// Least time between the starts of two fetches, whatever causes them
  /// (config `jwks_refresh_min_seconds`, 1..3600). 60 s.
  std::chrono::seconds min_fetch_interval{60};
  /// Refresh interval without a max-age; and the bounds a max-age is held in.
  std::chrono::seconds default_refresh{3600};
  std::chrono::seconds min_refresh{300};
  std::chrono::seconds max_refresh{86400};
  /// Longest wait before retrying after failures (never below min_fetch_interval).
  std::chrono::seconds max_retry{300};
  /// Called on the cache's thread after every fetch; must not block long.
  /// Empty: not called.
  std::function<void(const jwks_fetch_event&)> on_fetch;
  /// The time; empty: std::chrono::steady_clock::now. Tests move their own.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

/// Counters, for tests and metrics.
struct jwks_cache_stats {
  std::uint64_t fetches = 0;   ///< fetches started
  std::uint64_t failures = 0;  ///< fetches that failed
  std::uint64_t refresh_requests = 0;  ///< request_refresh() calls
};

class jwks_cache {
 public:
  /// Throws std::invalid_argument (start-up configuration) without a fetch
  /// function or with an interval that is not positive.
  explicit jwks_cache(jwks_cache_options opts);
  ~jwks_cache();
  jwks_cache(const jwks_cache&) = delete;
  jwks_cache& operator=(const jwks_cache&) = delete;

  /// Starts the thread, which fetches at once. Idempotent.
  void start();

  /// Waits until the first fetch has finished (either way), at most
  /// `limit`; true when it has, so the caller can tell "no keys yet" apart.
  bool wait_first_fetch(std::chrono::milliseconds limit) const;

  /// The current key set; null until a fetch has succeeded.
  std::shared_ptr<const jwt::key_set> keys() const;

  /// Asks for a fetch as soon as min_fetch_interval allows (at once when
  /// no fetch started within it). Never blocks on the network; several
  /// requests within one interval make one fetch.
  void request_refresh();

  jwks_cache_stats stats() const;

 private:
  std::chrono::steady_clock::time_point now() const;
  void run();

  jwks_cache_options opts_;

  mutable std::mutex keys_mutex_;                 ///< guards keys_ only: verify() never waits for the thread
  std::shared_ptr<const jwt::key_set> keys_;

  mutable std::mutex mutex_;                      ///< guards everything below
  mutable std::condition_variable wake_;          ///< the thread: a request, stop
  mutable std::condition_variable first_done_;    ///< wait_first_fetch
  bool started_ = false;
  bool stopping_ = false;
  bool requested_ = false;                        ///< request_refresh() since the last fetch began
  bool first_done_flag_ = false;
  std::optional<std::chrono::steady_clock::time_point> last_fetch_;  ///< start of the latest fetch
  std::chrono::steady_clock::time_point next_due_{};                   ///< the next scheduled fetch
  std::uint32_t consecutive_failures_ = 0;
  jwks_cache_stats stats_;
  std::thread thread_;
};

}  // namespace hearth::server::auth
