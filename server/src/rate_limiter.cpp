#include <hearth/server/rate_limiter.hpp>

#include <algorithm>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hearth::server {

namespace {

using nanoseconds = std::chrono::nanoseconds;

constexpr std::int64_t ns_per_second = 1'000'000'000;

/// How often a shard forgets the entries whose bucket has become full. A
/// sweep walks the shard (at most max_clients / shards entries); every 10 s
/// that costs nothing measurable, and between sweeps memory is bounded by
/// the cap anyway.
constexpr std::int64_t sweep_interval_ns = 10 * ns_per_second;

/// When a shard is full of clients whose buckets are not full, the share of
/// it forgotten at once: a sixteenth, so that a flood of new clients pays
/// for one walk of the shard every cap/16 insertions, not at each one.
constexpr std::size_t evict_fraction = 16;

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// A key longer than max_key_bytes as stored: a prefix of it and the hex
/// digits of a hash of the whole key (the same client keeps the same stored
/// key; two clients share one only if their long keys collide).
std::string stored_key(std::string_view key) {
  if (key.size() <= rate_limiter::max_key_bytes) return std::string(key);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(key.substr(0, rate_limiter::max_key_bytes - 16));
  std::size_t h = std::hash<std::string_view>{}(key);
  for (int i = 0; i < 16; ++i) {
    out += hex[h & 0xF];
    h >>= 4;
  }
  return out;
}

}  // namespace

struct rate_limiter::shard {
  std::mutex mutex;
  /// Client key -> the instant (ns on the limiter's clock) at which its
  /// bucket is full again ("theoretical arrival time"). Guarded by mutex.
  std::unordered_map<std::string, std::int64_t, string_hash, std::equal_to<>> clients;
  std::int64_t next_sweep = 0;  ///< guarded by mutex

  /// Forgets every client whose bucket is full at `now`.
  void sweep(std::int64_t now) {
    std::erase_if(clients, [now](const auto& e) { return e.second <= now; });
  }

  /// Frees at least one slot in a shard holding `cap` clients: the full
  /// buckets first, then the clients nearest to a full bucket.
  void make_room(std::int64_t now, std::size_t cap) {
    sweep(now);
    if (clients.size() < cap) return;
    const std::size_t n = std::max<std::size_t>(1, cap / evict_fraction);
    std::vector<decltype(clients)::iterator> all;
    all.reserve(clients.size());
    for (auto it = clients.begin(); it != clients.end(); ++it) all.push_back(it);
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n - 1), all.end(),
                     [](const auto& a, const auto& b) { return a->second < b->second; });
    for (std::size_t i = 0; i < n; ++i) clients.erase(all[i]);
  }
};

rate_limiter::rate_limiter(rate_limit_options opts, clock_function clock)
    : opts_(opts), clock_(std::move(clock)) {
  opts_.per_second = std::max<std::uint32_t>(opts_.per_second, 1);
  if (opts_.burst == 0) opts_.burst = opts_.per_second;
  opts_.max_clients = std::max<std::size_t>(opts_.max_clients, 1);
  opts_.shards = std::clamp<std::size_t>(opts_.shards, 1, opts_.max_clients);
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
  shards_ = std::make_unique<shard[]>(opts_.shards);
}

rate_limiter::~rate_limiter() = default;

rate_decision rate_limiter::acquire(std::string_view client_key) {
  const std::int64_t now =
      std::chrono::duration_cast<nanoseconds>(clock_().time_since_epoch()).count();
  // Generic cell rate algorithm: one token every `interval`; a bucket of
  // `burst` tokens allows a client to be up to (burst - 1) intervals ahead
  // of that schedule.
  const std::int64_t interval = std::max<std::int64_t>(1, ns_per_second / opts_.per_second);
  const std::int64_t tolerance = interval * (static_cast<std::int64_t>(opts_.burst) - 1);
  // Each shard holds at most its share of max_clients (rounded down: the
  // total never exceeds max_clients).
  const std::size_t cap = std::max<std::size_t>(1, opts_.max_clients / opts_.shards);

  std::string shortened;
  std::string_view key = client_key;
  if (key.size() > max_key_bytes) key = shortened = stored_key(client_key);
  shard& s = shards_[string_hash{}(key) % opts_.shards];
  std::lock_guard lock(s.mutex);
  if (now >= s.next_sweep) {
    s.sweep(now);
    s.next_sweep = now + sweep_interval_ns;
  }
  auto it = s.clients.find(key);
  // A client without an entry, or whose entry has passed, has a full bucket.
  const std::int64_t full_at = it != s.clients.end() && it->second > now ? it->second : now;
  if (full_at - now > tolerance) {
    const std::int64_t wait = full_at - now - tolerance;
    const std::int64_t whole_seconds = (wait + ns_per_second - 1) / ns_per_second;  // rounded up
    return rate_decision{false, std::chrono::seconds(std::max<std::int64_t>(1, whole_seconds))};
  }
  if (it != s.clients.end()) {
    it->second = full_at + interval;
  } else {
    if (s.clients.size() >= cap) s.make_room(now, cap);
    s.clients.emplace(std::string(key), full_at + interval);
  }
  return rate_decision{};
}

std::size_t rate_limiter::tracked_clients() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < opts_.shards; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    n += shards_[i].clients.size();
  }
  return n;
}

}  // namespace hearth::server
