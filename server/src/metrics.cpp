#include <hearth/server/metrics.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace hearth::server {

namespace {

/// Separates label values in a series key. 0xFF never occurs in UTF-8, so
/// distinct value lists give distinct keys.
constexpr char key_separator = '\xff';

/// Prometheus data model: metric names [a-zA-Z_:][a-zA-Z0-9_:]*.
bool valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

/// Label names [a-zA-Z_][a-zA-Z0-9_]*; "__" prefixes are reserved.
bool valid_label_name(std::string_view n) {
  if (n.empty() || n.starts_with("__")) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

/// A label value in text format 0.0.4: backslash, double quote and line feed escaped.
void append_label_value(std::string& out, std::string_view v) {
  for (const char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

/// HELP text: backslash and line feed escaped (quotes are not).
void append_help(std::string& out, std::string_view v) {
  for (const char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

/// A float as Prometheus (Go's ParseFloat) reads it: "+Inf", "-Inf", "NaN"
/// or a decimal.
void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    // Shortest round-trip digits, in fixed notation wherever %g would use
    // it ("0.0005", not "5e-04": bucket bounds read as they are written).
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
    out.append(buf, r.ptr);
  }
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

/// `{a="x",b="y"` + extra + `}`, or nothing for no labels and no extra.
void append_labels(std::string& out, std::span<const std::string> names, std::span<const std::string> values,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    append_label_value(out, values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <class Series>
constexpr metric_type type_of() {
  if constexpr (std::is_same_v<Series, counter>) {
    return metric_type::counter;
  } else if constexpr (std::is_same_v<Series, gauge>) {
    return metric_type::gauge;
  } else {
    return metric_type::histogram;
  }
}

}  // namespace

std::string_view to_string(metric_type t) noexcept {
  switch (t) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::histogram: return "histogram";
  }
  return "untyped";
}

// --- series --------------------------------------------------------------------

void gauge::add(double d) noexcept {
  double cur = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

histogram::histogram(std::span<const double> bounds)
    : bounds_(bounds), buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {}

void histogram::observe(double v) noexcept {
  if (std::isnan(v)) return;
  // The first bucket whose upper bound is >= v (le is inclusive); past the
  // last bound, the +Inf bucket.
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::vector<std::uint64_t> histogram::bucket_counts() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

// --- families ------------------------------------------------------------------

template <class Series>
struct metric_family<Series>::node {
  std::vector<std::string> values;
  Series series;

  node(std::vector<std::string> v, std::span<const double> bounds)
    requires std::is_same_v<Series, histogram>
      : values(std::move(v)), series(bounds) {}
  node(std::vector<std::string> v, std::span<const double>)
    requires(!std::is_same_v<Series, histogram>)
      : values(std::move(v)) {}
};

template <class Series>
struct metric_family<Series>::impl {
  mutable std::shared_mutex mutex;
  /// Series by key (label values joined with key_separator). Nodes never move
  /// or die before the family: references handed out stay valid.
  std::unordered_map<std::string, std::unique_ptr<node>, string_hash, std::equal_to<>> series;
};

template <class Series>
metric_family<Series>::metric_family(std::string name, std::string help, std::vector<std::string> label_names,
                                     std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)),
      impl_(std::make_unique<impl>()) {
  if (label_names_.empty()) get();  // a family without labels shows its one series from the start
}

template <class Series>
metric_family<Series>::~metric_family() = default;

template <class Series>
Series& metric_family<Series>::labels(std::span<const std::string_view> values) {
  if (values.size() != label_names_.size()) {
    throw std::invalid_argument("metric " + name_ + ": " + std::to_string(label_names_.size()) +
                                " label values expected");
  }
  // The key is built in a buffer of this thread: no allocation once warm.
  thread_local std::string key;
  key.clear();
  for (const std::string_view v : values) {
    key += v;
    key += key_separator;
  }
  {
    std::shared_lock lock(impl_->mutex);
    if (auto it = impl_->series.find(std::string_view(key)); it != impl_->series.end()) return it->second->series;
  }
  std::unique_lock lock(impl_->mutex);
  if (auto it = impl_->series.find(std::string_view(key)); it != impl_->series.end()) return it->second->series;
  std::vector<std::string> copy(values.begin(), values.end());
  if (impl_->series.size() >= max_series) {
    // Fold into the overflow series (created once, beyond the limit).
    copy.assign(values.size(), "_other");
    key.clear();
    for (std::size_t i = 0; i < values.size(); ++i) key += std::string("_other") + key_separator;
    if (auto it = impl_->series.find(std::string_view(key)); it != impl_->series.end()) return it->second->series;
  }
  auto n = std::make_unique<node>(std::move(copy), std::span<const double>(bounds_));
  Series& s = n->series;
  impl_->series.emplace(key, std::move(n));
  return s;
}

template <class Series>
std::size_t metric_family<Series>::size() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->series.size();
}

template <class Series>
void metric_family<Series>::render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_help(out, help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += to_string(type_of<Series>());
  out += '\n';

  std::shared_lock lock(impl_->mutex);
  // Sorted by label values: the same state always renders the same text.
  std::vector<const node*> nodes;
  nodes.reserve(impl_->series.size());
  for (const auto& [key, n] : impl_->series) nodes.push_back(n.get());
  std::sort(nodes.begin(), nodes.end(), [](const node* a, const node* b) { return a->values < b->values; });

  for (const node* n : nodes) {
    if constexpr (std::is_same_v<Series, histogram>) {
      const std::vector<std::uint64_t> counts = n->series.bucket_counts();
      std::uint64_t cumulative = 0;
      std::string le;
      for (std::size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        le.clear();
        append_double(le, i < bounds_.size() ? bounds_[i] : HUGE_VAL);
        out += name_;
        out += "_bucket";
        append_labels(out, label_names_, n->values, "le", le);
        out += ' ';
        append_uint(out, cumulative);
        out += '\n';
      }
      out += name_;
      out += "_sum";
      append_labels(out, label_names_, n->values);
      out += ' ';
      append_double(out, n->series.sum());
      out += '\n';
      // _count is the +Inf bucket, read once: the two always agree.
      out += name_;
      out += "_count";
      append_labels(out, label_names_, n->values);
      out += ' ';
      append_uint(out, cumulative);
      out += '\n';
    } else {
      out += name_;
      append_labels(out, label_names_, n->values);
      out += ' ';
      if constexpr (std::is_same_v<Series, counter>) {
        append_uint(out, n->series.value());
      } else {
        append_double(out, n->series.value());
      }
      out += '\n';
    }
  }
}

template class metric_family<counter>;
template class metric_family<gauge>;
template class metric_family<histogram>;

std::vector<double> default_duration_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// --- registry ------------------------------------------------------------------

struct metrics_registry::impl {
  /// One registered family, whatever its type.
  struct entry {
    std::string name;
    std::unique_ptr<counter_family> c;
    std::unique_ptr<gauge_family> g;
    std::unique_ptr<histogram_family> h;

    void render(std::string& out) const {
      if (c) c->render(out);
      if (g) g->render(out);
      if (h) h->render(out);
    }
  };

  mutable std::mutex mutex;
  /// Registration order; entries never move (held by pointer).
  std::vector<std::unique_ptr<entry>> families;

  /// Checks the names, and the metric name unused (also as a histogram's
  /// _bucket/_sum/_count series). Caller holds `mutex`.
  void check(const std::string& name, const std::vector<std::string>& labels, bool is_histogram) const {
    if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name: " + name);
    for (const std::string& l : labels) {
      if (!valid_label_name(l)) throw std::invalid_argument("metric " + name + ": invalid label name " + l);
      if (is_histogram && l == "le") throw std::invalid_argument("metric " + name + ": \"le\" is reserved");
      if (std::count(labels.begin(), labels.end(), l) > 1) {
        throw std::invalid_argument("metric " + name + ": label " + l + " given twice");
      }
    }
    for (const auto& e : families) {
      if (e->name == name) throw std::invalid_argument("metric " + name + " registered twice");
    }
  }
};

metrics_registry::metrics_registry() : impl_(std::make_unique<impl>()) {}
metrics_registry::~metrics_registry() = default;

counter_family& metrics_registry::add_counter(std::string name, std::string help,
                                              std::vector<std::string> label_names) {
  std::lock_guard lock(impl_->mutex);
  impl_->check(name, label_names, false);
  auto e = std::make_unique<impl::entry>();
  e->name = name;
  e->c = std::make_unique<counter_family>(std::move(name), std::move(help), std::move(label_names),
                                          std::vector<double>{});
  counter_family& f = *e->c;
  impl_->families.push_back(std::move(e));
  return f;
}

gauge_family& metrics_registry::add_gauge(std::string name, std::string help, std::vector<std::string> label_names) {
  std::lock_guard lock(impl_->mutex);
  impl_->check(name, label_names, false);
  auto e = std::make_unique<impl::entry>();
  e->name = name;
  e->g = std::make_unique<gauge_family>(std::move(name), std::move(help), std::move(label_names),
                                        std::vector<double>{});
  gauge_family& f = *e->g;
  impl_->families.push_back(std::move(e));
  return f;
}

histogram_family& metrics_registry::add_histogram(std::string name, std::string help,
                                                  std::vector<std::string> label_names, std::vector<double> bounds) {
  std::lock_guard lock(impl_->mutex);
  impl_->check(name, label_names, true);
  if (bounds.empty()) throw std::invalid_argument("histogram " + name + ": no buckets");
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) {
      throw std::invalid_argument("histogram " + name + ": buckets must be finite and ascending");
    }
  }
  auto e = std::make_unique<impl::entry>();
  e->name = name;
  e->h = std::make_unique<histogram_family>(std::move(name), std::move(help), std::move(label_names),
                                            std::move(bounds));
  histogram_family& f = *e->h;
  impl_->families.push_back(std::move(e));
  return f;
}

void metrics_registry::render(std::string& out) const {
  std::vector<const impl::entry*> families;
  {
    std::lock_guard lock(impl_->mutex);
    families.reserve(impl_->families.size());
    for (const auto& e : impl_->families) families.push_back(e.get());
  }
  for (const impl::entry* e : families) e->render(out);
}

std::string metrics_registry::render() const {
  std::string out;
  render(out);
  return out;
}

// --- Hearth's series -------------------------------------------------------------

server_metrics::server_metrics()
    : http_requests(registry_.add_counter("hearth_http_requests_total", "HTTP requests answered, by FHIR interaction, "
                                          "resource type and status code.",
                                          {"interaction", "type", "status"})),
      http_request_duration(registry_.add_histogram("hearth_http_request_duration_seconds",
                                                    "Time from request read to response queued, by FHIR interaction.",
                                                    {"interaction"})),
      http_connections(registry_.add_gauge("hearth_http_connections", "Open HTTP client connections.").get()),
      db_pool_size(registry_.add_gauge("hearth_db_pool_size", "Database connections for reads.").get()) {}

void server_metrics::record_request(std::string_view interaction, std::string_view type, int status,
                                    double seconds) {
  char buf[16];
  const auto r = std::to_chars(buf, buf + sizeof buf, status);
  const std::string_view status_text(buf, static_cast<std::size_t>(r.ptr - buf));
  http_requests.labels({interaction, type.empty() ? std::string_view("none") : type, status_text}).inc();
  http_request_duration.labels({interaction}).observe(seconds);
}

}  // namespace hearth::server
