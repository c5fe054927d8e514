// audit_trail (audit.hpp): events of changes appended in their write's
// transaction; the rest queued, built and appended in batches by one
// appender thread, retried while the database fails (fail closed).

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <hearth/server/audit.hpp>

namespace hearth::server {

namespace {

store::instant system_now() {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace

struct audit_trail::impl {
  impl(store::database& db, audit_trail_options o) : log(db), opts(std::move(o)) {
    if (!opts.clock) opts.clock = system_now;
    opts.queue_capacity = std::max<std::size_t>(opts.queue_capacity, 1);
    opts.max_batch = std::max<std::size_t>(opts.max_batch, 1);
    appender = std::thread([this] { run(); });
  }

  /// The event of `r`, stamped with the clock when it has no time yet.
  fhir::json_value event_of(audit_record& r) {
    if (r.recorded == store::instant{}) r.recorded = opts.clock();
    return build_audit_event(r, opts.source);
  }

  /// The appender: takes up to max_batch records, appends them in one
  /// transaction, and retries the same batch (in the same order) until it
  /// commits or stop() gives up.
  void run() {
    std::vector<audit_record> batch;
    for (;;) {
      {
        std::unique_lock lock(mu);
        has_work.wait(lock, [this] { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping, and everything accepted is appended
        // The batch window (audit_trail_options::batch_window): fewer,
        // larger commits. record_async wakes this wait only when the batch
        // is full, flush() and stop() when they ask.
        if (opts.batch_window.count() > 0) {
          has_work.wait_for(lock, opts.batch_window, [this] {
            return stopping || flush_waiters > 0 || queue.size() >= opts.max_batch;
          });
        }
        const std::size_t n = std::min(queue.size(), opts.max_batch);
        for (std::size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        in_flight = n;
        publish();
      }
      std::chrono::milliseconds wait = opts.retry_first;
      for (;;) {
        std::vector<fhir::json_value> events;
        events.reserve(batch.size());
        for (audit_record& r : batch) events.push_back(event_of(r));
        auto done = log.append_batch(std::move(events));
        std::unique_lock lock(mu);
        if (done) {
          appended += batch.size();
          completed += batch.size();
          ++batches;
          largest_batch = std::max<std::uint64_t>(largest_batch, batch.size());
          in_flight = 0;
          failing = false;
          publish();
          lock.unlock();
          progress.notify_all();
          break;
        }
        ++failed_attempts;
        failing = true;
        publish();
        if (opts.on_append_failure) {
          lock.unlock();
          opts.on_append_failure(done.error());
          lock.lock();
        }
        // Wait before trying again; stop() may end the wait, and past its
        // deadline the batch and the queue are given up.
        has_work.wait_for(lock, wait, [this] { return stopping && give_up_at <= clock::now(); });
        if (stopping && give_up_at <= clock::now()) {
          dropped += batch.size() + queue.size();
          completed += batch.size() + queue.size();
          queue.clear();
          in_flight = 0;
          publish();
          lock.unlock();
          progress.notify_all();
          return;
        }
        wait = std::min(wait * 2, opts.retry_max);
      }
      batch.clear();
    }
  }

  /// Copies what healthy() reads into atomics (mu held): healthy() is
  /// asked on every request and takes no lock.
  void publish() {
    healthy_now.store(!stopping && !failing && queue.size() + in_flight < opts.queue_capacity,
                      std::memory_order_release);
  }

  using clock = std::chrono::steady_clock;

  store::audit_log log;
  audit_trail_options opts;

  mutable std::mutex mu;
  std::condition_variable has_work;  ///< the appender waits for records, stop, or a retry delay
  std::condition_variable progress;  ///< flush waits for appended records
  std::deque<audit_record> queue;    ///< guarded by mu
  std::size_t in_flight = 0;         ///< records of the batch being appended; mu
  bool stopping = false;             ///< mu
  std::size_t flush_waiters = 0;     ///< flush() calls waiting: no batch window; mu
  bool failing = false;              ///< the last attempt failed; mu
  clock::time_point give_up_at = clock::time_point::max();  ///< mu
  std::uint64_t accepted = 0;        ///< records accepted by record_async; mu
  std::uint64_t completed = 0;       ///< records appended (or dropped at stop); mu
  std::uint64_t appended = 0, refused = 0, dropped = 0, batches = 0, largest_batch = 0, failed_attempts = 0;  ///< mu
  std::atomic<std::uint64_t> recorded_in_tx{0};
  std::atomic<bool> healthy_now{true};  ///< publish()
  std::once_flag joined;
  std::thread appender;  ///< last: starts once everything above exists
};

audit_trail::audit_trail(store::database& db, audit_trail_options opts)
    : impl_(std::make_unique<impl>(db, std::move(opts))) {}

audit_trail::~audit_trail() { stop(); }

hearth::result<void> audit_trail::record_in_tx(store::resource_tx& tx, const audit_record& r) {
  audit_record copy = r;
  auto appended = store::audit_log::append(tx, impl_->event_of(copy));
  if (!appended) return hearth::unexpected(std::move(appended).error());
  impl_->recorded_in_tx.fetch_add(1, std::memory_order_relaxed);
  return {};
}

store::write_hook audit_trail::hook(audit_record base) {
  return [this, base = std::move(base)](store::resource_tx& tx, const store::write_outcome& w) -> hearth::result<void> {
    audit_record r = base;
    r.resource_type = w.version.type;
    r.resource_id = w.version.id;
    r.version_id = w.version.version_id;
    // The hook runs only after the write succeeded (store::write_hook).
    r.status = w.created ? 201 : 200;
    r.outcome = audit_outcome::success;
    return record_in_tx(tx, r);
  };
}

bool audit_trail::record_async(audit_record r) {
  bool wake = false;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping || impl_->queue.size() + impl_->in_flight >= impl_->opts.queue_capacity) {
      ++impl_->refused;
      impl_->publish();
      return false;
    }
    impl_->queue.push_back(std::move(r));
    ++impl_->accepted;
    impl_->publish();
    // The appender waits for a first event, then (batch window) for a full
    // batch: other pushes would only wake it to wait again.
    const std::size_t n = impl_->queue.size();
    wake = n == 1 || n == impl_->opts.max_batch;
  }
  if (wake) impl_->has_work.notify_one();
  return true;
}

bool audit_trail::healthy() const noexcept { return impl_->healthy_now.load(std::memory_order_acquire); }

bool audit_trail::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  const std::uint64_t target = impl_->accepted;
  if (impl_->completed >= target) return impl_->dropped == 0;
  ++impl_->flush_waiters;  // ends the appender's batch window
  impl_->has_work.notify_all();
  const bool done = impl_->progress.wait_for(lock, timeout, [&] { return impl_->completed >= target; });
  --impl_->flush_waiters;
  return done && impl_->dropped == 0;
}

void audit_trail::stop(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->stopping = true;
      impl_->give_up_at = impl::clock::now() + timeout;
      impl_->publish();
    }
  }
  impl_->has_work.notify_all();
  std::call_once(impl_->joined, [this] {
    if (impl_->appender.joinable()) impl_->appender.join();
  });
}

audit_stats audit_trail::stats() const {
  std::lock_guard lock(impl_->mu);
  audit_stats s;
  s.appended = impl_->appended;
  s.recorded_in_tx = impl_->recorded_in_tx.load(std::memory_order_relaxed);
  s.refused = impl_->refused;
  s.dropped = impl_->dropped;
  s.batches = impl_->batches;
  s.largest_batch = impl_->largest_batch;
  s.failed_attempts = impl_->failed_attempts;
  s.queue_depth = impl_->queue.size() + impl_->in_flight;
  s.healthy = !impl_->stopping && !impl_->failing && s.queue_depth < impl_->opts.queue_capacity;
  return s;
}

std::string audit_metrics_text(const audit_stats& s) {
  std::string out;
  auto metric = [&out](std::string_view name, std::string_view type, std::string_view help, std::uint64_t value) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    out += name;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  };
  metric("hearth_audit_events_appended_total", "counter", "AuditEvents appended asynchronously, committed.",
         s.appended);
  metric("hearth_audit_events_recorded_in_tx_total", "counter",
         "AuditEvents appended inside the transaction of the write they record.", s.recorded_in_tx);
  metric("hearth_audit_events_refused_total", "counter",
         "AuditEvents refused (queue full or trail stopped): their requests failed.", s.refused);
  metric("hearth_audit_events_dropped_total", "counter",
         "Accepted AuditEvents given up at shutdown while the database failed.", s.dropped);
  metric("hearth_audit_batches_total", "counter", "Asynchronous AuditEvent batches committed.", s.batches);
  metric("hearth_audit_append_failures_total", "counter", "AuditEvent batch attempts that failed (retried).",
         s.failed_attempts);
  metric("hearth_audit_largest_batch", "gauge", "Most AuditEvents committed in one batch.", s.largest_batch);
  metric("hearth_audit_queue_depth", "gauge", "AuditEvents accepted and not yet appended.", s.queue_depth);
  metric("hearth_audit_healthy", "gauge", "1 while the audit trail accepts events, 0 when requests must be refused.",
         s.healthy ? 1 : 0);
  return out;
}

store::audit_log& audit_trail::log() noexcept { return impl_->log; }

const audit_source& audit_trail::source() const noexcept { return impl_->opts.source; }

}  // namespace hearth::server
