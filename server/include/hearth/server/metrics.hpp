#pragma once
// hearth::server::metrics_registry — counters, gauges and histograms, rendered
// in the Prometheus text exposition format 0.0.4 for GET /metrics.
//
// Prometheus "Exposition formats" (text format 0.0.4): `# HELP` and `# TYPE`
// lines, label values escaped (\\, \", \n), histograms as cumulative
// `_bucket{le="..."}` series ending with le="+Inf", then `_sum` and `_count`.
//
// Label values are identifiers the caller chooses (resource type names,
// interaction names, status codes), never request content and never PHI.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::server {

/// Content-Type of render()'s output.
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// One counter series: only goes up. Thread-safety: any thread, lock-free.
class counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// One gauge series: a value that goes up and down. Thread-safety: any
/// thread, lock-free.
class gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept;
  void inc() noexcept { add(1); }
  void dec() noexcept { add(-1); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

/// One histogram series: counts of observations per bucket, their sum and
/// count. Thread-safety: any thread, lock-free.
class histogram {
 public:
  /// `bounds`: the bucket upper bounds, ascending, without +Inf; they must
  /// outlive the histogram (the family owns them).
  explicit histogram(std::span<const double> bounds);

  /// Records one observation (NaN is ignored).
  void observe(double v) noexcept;

  /// The observations per bucket, not cumulative: one per bound, then the
  /// +Inf bucket. A snapshot; concurrent observations may or may not be in it.
  std::vector<std::uint64_t> bucket_counts() const;
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  std::span<const double> bounds() const noexcept { return bounds_; }

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

/// "counter", "gauge", "histogram" (the `# TYPE` line).
enum class metric_type : std::uint8_t { counter, gauge, histogram };
std::string_view to_string(metric_type t) noexcept;

/// A metric with its label names and one series per set of label values.
///
/// labels() finds a series under a shared lock (a new label set takes the
/// exclusive lock once); the series itself is updated lock-free. Callers on
/// a hot path may keep the reference: series live as long as the registry.
/// Beyond max_series label sets, further new sets all share one series whose
/// label values are "_other", so a caller bug cannot grow memory without
/// bound. Thread-safety: any thread.
template <class Series>
class metric_family {
 public:
  /// Most label sets per family. The needed series have well under 10,000
  /// (146 resource types x a dozen interactions x a few status codes).
  static constexpr std::size_t max_series = 10'000;

  /// The series for these label values, one per label name in order
  /// (std::invalid_argument on a count mismatch: a programmer error).
  Series& labels(std::span<const std::string_view> values);
  Series& labels(std::initializer_list<std::string_view> values) {
    return labels(std::span<const std::string_view>(values.begin(), values.size()));
  }
  /// The only series of a family without labels.
  Series& get() { return labels(std::span<const std::string_view>{}); }

  const std::string& name() const noexcept { return name_; }
  /// Label sets in use.
  std::size_t size() const;

  /// Appends the family in text format 0.0.4. Holds this family's shared
  /// lock only (label sets may not be added meanwhile; updates go on).
  void render(std::string& out) const;

  // Built by metrics_registry only.
  metric_family(std::string name, std::string help, std::vector<std::string> label_names,
                std::vector<double> bounds);
  ~metric_family();
  metric_family(const metric_family&) = delete;
  metric_family& operator=(const metric_family&) = delete;

 private:
  struct node;
  struct impl;
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  std::unique_ptr<impl> impl_;
};

using counter_family = metric_family<counter>;
using gauge_family = metric_family<gauge>;
using histogram_family = metric_family<histogram>;

/// The default buckets of request durations, in seconds: 0.5 ms to 10 s.
std::vector<double> default_duration_buckets();

/// The metrics of one process.
///
/// Families are registered at start-up (add_*), typically into references
/// kept by the component that updates them; registering a name twice, an
/// invalid metric or label name, or unsorted buckets throws
/// std::invalid_argument (a programmer error, found at start-up).
/// Thread-safety: every member may be called from any thread; render() takes
/// the registry lock only to copy the list of families, then each family's
/// shared lock in turn. Lifetime: families and series live as long as the
/// registry.
class metrics_registry {
 public:
  metrics_registry();
  ~metrics_registry();
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  counter_family& add_counter(std::string name, std::string help, std::vector<std::string> label_names = {});
  gauge_family& add_gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  /// `bounds`: ascending bucket upper bounds, without +Inf.
  histogram_family& add_histogram(std::string name, std::string help, std::vector<std::string> label_names,
                                  std::vector<double> bounds = default_duration_buckets());

  /// Appends every family, in registration order, in text format 0.0.4.
  void render(std::string& out) const;
  std::string render() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The series Hearth exposes, registered in one registry. Adding one (an
/// MLLP counter...) is one member and one line in the constructor.
/// Thread-safety and lifetime as metrics_registry.
class server_metrics {
 public:
  server_metrics();

  metrics_registry& registry() noexcept { return registry_; }
  const metrics_registry& registry() const noexcept { return registry_; }

  /// Records one answered HTTP request: `interaction` as in the
  /// CapabilityStatement ("read", "search-type", ...; "metadata", "other"),
  /// `type` the resource type or "" (rendered as "none"), `status` the HTTP
  /// status code, `seconds` from request read to response queued.
  void record_request(std::string_view interaction, std::string_view type, int status, double seconds);

 private:
  metrics_registry registry_;  // first: the references below point into it

 public:
  /// hearth_http_requests_total{interaction,type,status}
  counter_family& http_requests;
  /// hearth_http_request_duration_seconds{interaction}
  histogram_family& http_request_duration;
  /// hearth_http_connections: open client connections.
  gauge& http_connections;
  /// hearth_db_pool_size: database connections for reads.
  gauge& db_pool_size;
};

}  // namespace hearth::server
