#include <hearth/server/metrics.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace hearth::server {
namespace {

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST_CASE("metrics: exact text format 0.0.4 for a small registry") {
  metrics_registry r;
  auto& requests = r.add_counter("app_requests_total", "Requests answered.", {"method", "code"});
  auto& temp = r.add_gauge("app_temperature", "Current temperature.");
  auto& latency = r.add_histogram("app_latency_seconds", "Latency.", {"route"}, {0.25, 1});
  auto& empty = r.add_counter("app_unused_total", "Never used.", {"x"});
  (void)empty;

  requests.labels({"GET", "200"}).inc();
  requests.labels({"GET", "200"}).inc(2);
  requests.labels({"POST", "201"}).inc();
  temp.get().set(21.5);
  latency.labels({"/a"}).observe(0.125);
  latency.labels({"/a"}).observe(0.25);  // le is inclusive: counts in le="0.25"
  latency.labels({"/a"}).observe(0.5);
  latency.labels({"/a"}).observe(3);

  CHECK(r.render() ==
        "# HELP app_requests_total Requests answered.\n"
        "# TYPE app_requests_total counter\n"
        "app_requests_total{method=\"GET\",code=\"200\"} 3\n"
        "app_requests_total{method=\"POST\",code=\"201\"} 1\n"
        "# HELP app_temperature Current temperature.\n"
        "# TYPE app_temperature gauge\n"
        "app_temperature 21.5\n"
        "# HELP app_latency_seconds Latency.\n"
        "# TYPE app_latency_seconds histogram\n"
        "app_latency_seconds_bucket{route=\"/a\",le=\"0.25\"} 2\n"
        "app_latency_seconds_bucket{route=\"/a\",le=\"1\"} 3\n"
        "app_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
        "app_latency_seconds_sum{route=\"/a\"} 3.875\n"
        "app_latency_seconds_count{route=\"/a\"} 4\n"
        "# HELP app_unused_total Never used.\n"
        "# TYPE app_unused_total counter\n");
  CHECK(prometheus_content_type == "text/plain; version=0.0.4; charset=utf-8");
}

TEST_CASE("metrics: a family without labels shows its series at zero from the start") {
  metrics_registry r;
  r.add_counter("c_total", "C.");
  r.add_gauge("g", "G.");
  r.add_histogram("h", "H.", {}, {1});
  CHECK(r.render() ==
        "# HELP c_total C.\n# TYPE c_total counter\nc_total 0\n"
        "# HELP g G.\n# TYPE g gauge\ng 0\n"
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

TEST_CASE("metrics: label values escape backslash, double quote and line feed; HELP escapes too") {
  metrics_registry r;
  auto& c = r.add_counter("esc_total", "Line one\nline \"two\" \\ end.", {"v"});
  c.labels({"a\\b\"c\nd"}).inc();
  CHECK(r.render() ==
        "# HELP esc_total Line one\\nline \"two\" \\\\ end.\n"
        "# TYPE esc_total counter\n"
        "esc_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST_CASE("metrics: series are rendered sorted by label values whatever the creation order") {
  metrics_registry r;
  auto& c = r.add_counter("s_total", "S.", {"k"});
  for (const char* k : {"m", "b", "z", "a"}) c.labels({k}).inc();
  CHECK(r.render() ==
        "# HELP s_total S.\n# TYPE s_total counter\n"
        "s_total{k=\"a\"} 1\ns_total{k=\"b\"} 1\ns_total{k=\"m\"} 1\ns_total{k=\"z\"} 1\n");
  CHECK(c.size() == 4);
  CHECK(&c.labels({"m"}) == &c.labels({"m"}));  // one series per label set, stable
}

TEST_CASE("metrics: gauges go up and down and print special values") {
  metrics_registry r;
  auto& g = r.add_gauge("gg", "G.", {"k"});
  g.labels({"a"}).inc();
  g.labels({"a"}).inc();
  g.labels({"a"}).dec();
  g.labels({"b"}).set(-2.25);
  g.labels({"c"}).set(HUGE_VAL);
  g.labels({"d"}).set(std::nan(""));
  g.labels({"e"}).set(0.0005);
  CHECK(g.labels({"a"}).value() == 1);
  CHECK(r.render() ==
        "# HELP gg G.\n# TYPE gg gauge\n"
        "gg{k=\"a\"} 1\ngg{k=\"b\"} -2.25\ngg{k=\"c\"} +Inf\ngg{k=\"d\"} NaN\ngg{k=\"e\"} 0.0005\n");
}

TEST_CASE("metrics: histogram buckets, NaN ignored, values above every bound in +Inf") {
  std::vector<double> bounds = {1, 2};
  histogram h(bounds);
  h.observe(-1);
  h.observe(1);
  h.observe(1.5);
  h.observe(2);
  h.observe(100);
  h.observe(std::nan(""));
  CHECK(h.bucket_counts() == std::vector<std::uint64_t>{2, 2, 1});
  CHECK(h.sum() == doctest::Approx(103.5));
}

TEST_CASE("metrics: concurrent updates from several threads sum exactly") {
  metrics_registry r;
  auto& c = r.add_counter("con_total", "C.", {"k"});
  auto& g = r.add_gauge("con_gauge", "G.");
  auto& h = r.add_histogram("con_seconds", "H.", {"k"});
  constexpr int threads = 4;
  constexpr int per_thread = 50'000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        // Every thread creates and finds the same label sets concurrently.
        c.labels({i % 2 == 0 ? "even" : "odd"}).inc();
        g.get().add(t % 2 == 0 ? 1 : -1);
        h.labels({"x"}).observe(0.25);
        if (i % 5000 == 0) (void)r.render();  // rendering while updating
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(c.labels({"even"}).value() == threads * per_thread / 2);
  CHECK(c.labels({"odd"}).value() == threads * per_thread / 2);
  CHECK(g.get().value() == 0);
  const auto counts = h.labels({"x"}).bucket_counts();
  std::uint64_t total = 0;
  for (auto n : counts) total += n;
  CHECK(total == threads * per_thread);
  CHECK(h.labels({"x"}).sum() == threads * per_thread * 0.25);  // exact: quarters add exactly
  CHECK(contains(r.render(), "con_seconds_count{k=\"x\"} 200000\n"));
  CHECK(contains(r.render(), "con_seconds_bucket{k=\"x\",le=\"0.1\"} 0\n"));
  CHECK(contains(r.render(), "con_seconds_bucket{k=\"x\",le=\"0.25\"} 200000\n"));
}

TEST_CASE("metrics: programmer errors throw at registration or use") {
  metrics_registry r;
  auto& c = r.add_counter("ok_total", "OK.", {"a", "b"});
  CHECK_THROWS_AS(r.add_counter("ok_total", "again"), std::invalid_argument);
  CHECK_THROWS_AS(r.add_gauge("ok_total", "again as a gauge"), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("1abc", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("a-b", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("x_total", "x", {"__reserved"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("x_total", "x", {"a:b"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("x_total", "x", {"a", "a"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h1", "x", {"le"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h2", "x", {}, {}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h3", "x", {}, {1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h4", "x", {}, {2, 1}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h5", "x", {}, {1, HUGE_VAL}), std::invalid_argument);
  CHECK_THROWS_AS(c.labels({"only-one"}), std::invalid_argument);
  CHECK_THROWS_AS(c.get(), std::invalid_argument);
  CHECK_NOTHROW(r.add_counter("ns:valid_name_2", "colons are allowed in metric names"));
}

TEST_CASE("metrics: label sets beyond max_series fold into one _other series") {
  metrics_registry r;
  auto& c = r.add_counter("many_total", "M.", {"k", "j"});
  for (std::size_t i = 0; i < counter_family::max_series; ++i) c.labels({std::to_string(i), "x"}).inc();
  CHECK(c.size() == counter_family::max_series);
  c.labels({"new1", "x"}).inc();
  c.labels({"new2", "y"}).inc(2);
  CHECK(c.size() == counter_family::max_series + 1);
  CHECK(c.labels({"_other", "_other"}).value() == 3);
  CHECK(c.labels({"5", "x"}).value() == 1);  // existing series still found
  CHECK(contains(r.render(), "many_total{k=\"_other\",j=\"_other\"} 3\n"));
}

TEST_CASE("metrics: Hearth's series") {
  server_metrics m;
  m.record_request("read", "Patient", 200, 0.003);
  m.record_request("read", "Patient", 200, 0.0004);
  m.record_request("read", "Patient", 404, 0.001);
  m.record_request("metadata", "", 200, 20);
  m.http_connections.inc();
  m.http_connections.inc();
  m.http_connections.dec();
  m.db_pool_size.set(8);
  const std::string text = m.registry().render();
  CHECK(contains(text, "# TYPE hearth_http_requests_total counter\n"));
  CHECK(contains(text, "hearth_http_requests_total{interaction=\"read\",type=\"Patient\",status=\"200\"} 2\n"));
  CHECK(contains(text, "hearth_http_requests_total{interaction=\"read\",type=\"Patient\",status=\"404\"} 1\n"));
  CHECK(contains(text, "hearth_http_requests_total{interaction=\"metadata\",type=\"none\",status=\"200\"} 1\n"));
  CHECK(contains(text, "# TYPE hearth_http_request_duration_seconds histogram\n"));
  CHECK(contains(text, "hearth_http_request_duration_seconds_bucket{interaction=\"read\",le=\"0.0005\"} 1\n"));
  CHECK(contains(text, "hearth_http_request_duration_seconds_bucket{interaction=\"read\",le=\"0.001\"} 2\n"));
  CHECK(contains(text, "hearth_http_request_duration_seconds_bucket{interaction=\"read\",le=\"0.005\"} 3\n"));
  CHECK(contains(text, "hearth_http_request_duration_seconds_bucket{interaction=\"read\",le=\"10\"} 3\n"));
  CHECK(contains(text, "hearth_http_request_duration_seconds_bucket{interaction=\"metadata\",le=\"10\"} 0\n"));
  CHECK(contains(text, "hearth_http_request_duration_seconds_bucket{interaction=\"metadata\",le=\"+Inf\"} 1\n"));
  CHECK(contains(text, "hearth_http_request_duration_seconds_count{interaction=\"read\"} 3\n"));
  CHECK(contains(text, "# TYPE hearth_http_connections gauge\nhearth_http_connections 1\n"));
  CHECK(contains(text, "# TYPE hearth_db_pool_size gauge\nhearth_db_pool_size 8\n"));
  CHECK(default_duration_buckets().front() == 0.0005);
  CHECK(default_duration_buckets().back() == 10);
  // One more series later is one line: registering into the same registry.
  m.registry().add_counter("hearth_mllp_messages_total", "MLLP messages.", {"status"}).labels({"AA"}).inc();
  CHECK(contains(m.registry().render(), "hearth_mllp_messages_total{status=\"AA\"} 1\n"));
}

}  // namespace
}  // namespace hearth::server
