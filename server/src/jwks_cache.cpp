// jwks_cache.hpp says what the policy is and why.
#include <hearth/server/jwks_cache.hpp>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

namespace hearth::server::auth {

namespace {

using steady = std::chrono::steady_clock;

/// The thread looks at the clock at least this often while it waits, so
/// that a clock moved by a test (or a suspended machine waking up) is
/// noticed without a notification. A wake-up a second costs nothing.
constexpr std::chrono::seconds max_sleep{1};

}  // namespace

jwks_cache::jwks_cache(jwks_cache_options opts) : opts_(std::move(opts)) {
  if (!opts_.fetch) throw std::invalid_argument("jwks cache: no fetch function");
  const auto positive = [](std::chrono::seconds s) { return s > std::chrono::seconds::zero(); };
  if (!positive(opts_.min_fetch_interval) || !positive(opts_.default_refresh) || !positive(opts_.min_refresh) ||
      !positive(opts_.max_refresh) || !positive(opts_.max_retry) || opts_.min_refresh > opts_.max_refresh)
    throw std::invalid_argument("jwks cache: intervals must be positive, min_refresh <= max_refresh");
}

jwks_cache::~jwks_cache() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::chrono::steady_clock::time_point jwks_cache::now() const { return opts_.clock ? opts_.clock() : steady::now(); }

void jwks_cache::start() {
  const std::lock_guard lock(mutex_);
  if (started_ || stopping_) return;
  started_ = true;
  next_due_ = steady::time_point::min();  // the first fetch: at once
  thread_ = std::thread([this] { run(); });
}

bool jwks_cache::wait_first_fetch(std::chrono::milliseconds limit) const {
  std::unique_lock lock(mutex_);
  return first_done_.wait_for(lock, limit, [this] { return first_done_flag_; });
}

std::shared_ptr<const jwt::key_set> jwks_cache::keys() const {
  const std::lock_guard lock(keys_mutex_);
  return keys_;
}

void jwks_cache::request_refresh() {
  {
    const std::lock_guard lock(mutex_);
    ++stats_.refresh_requests;
    requested_ = true;
  }
  wake_.notify_all();
}

jwks_cache_stats jwks_cache::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

void jwks_cache::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const steady::time_point t = now();
    steady::time_point due = next_due_;
    if (requested_) {
      // At most one fetch per min_fetch_interval, whatever asks for it.
      due = std::min(due, last_fetch_ ? *last_fetch_ + opts_.min_fetch_interval : t);
    }
    if (t < due) {
      wake_.wait_for(lock, std::min<steady::duration>(due - t, max_sleep));
      continue;
    }

    // A request made while this fetch runs is answered by it (they are
    // dropped at its end): one fetch, however many tokens asked.
    last_fetch_ = t;
    ++stats_.fetches;
    lock.unlock();
    hearth::result<fetched_jwks> got = hearth::unexpected(hearth::error{"internal", "the fetch did not run", {}});
    try {
      got = opts_.fetch();
    } catch (const std::exception&) {
      // Not expected (the fetch reports errors as values); never let it end the thread.
      got = hearth::unexpected(hearth::error{"internal", "the JWKS fetch failed unexpectedly", {}});
    }
    jwks_fetch_event ev;
    ev.issuer = opts_.issuer;
    ev.ok = got.has_value();
    std::chrono::seconds wait{};
    if (got) {
      ev.key_count = got->keys.keys().size();
      // RFC 9111 5.2.2.1 max-age, held within the bounds; default without.
      wait = std::clamp(got->max_age.value_or(opts_.default_refresh), opts_.min_refresh, opts_.max_refresh);
      auto fresh = std::make_shared<const jwt::key_set>(std::move(got->keys));
      const std::lock_guard keys_lock(keys_mutex_);
      keys_ = std::move(fresh);
    } else {
      ev.error = got.error();
    }
    lock.lock();
    requested_ = false;
    if (ev.ok) {
      consecutive_failures_ = 0;
    } else {
      ++stats_.failures;
      ++consecutive_failures_;
      // min_fetch_interval, doubled per failure, at most max_retry (but
      // never below min_fetch_interval).
      const std::chrono::seconds cap = std::max(opts_.max_retry, opts_.min_fetch_interval);
      wait = opts_.min_fetch_interval;
      for (std::uint32_t i = 1; i < consecutive_failures_ && wait < cap; ++i) wait *= 2;
      wait = std::min(wait, cap);
    }
    wait = std::max(wait, opts_.min_fetch_interval);
    next_due_ = now() + wait;
    ev.next_fetch = wait;
    {
      const std::lock_guard keys_lock(keys_mutex_);
      ev.keys_known = keys_ != nullptr;
    }
    // The event first, then the waiters: whoever waited for the first
    // fetch (serve, before it says it listens) finds it reported.
    if (opts_.on_fetch) {
      lock.unlock();
      opts_.on_fetch(ev);
      lock.lock();
    }
    first_done_flag_ = true;
    first_done_.notify_all();
  }
}

}  // namespace hearth::server::auth
