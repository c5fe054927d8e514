// bench/store: the resource store under load (issue "bench/store"; results in
// bench/RESULTS.md, run by bench/run_store).
//
//   store_bench --corpus FILE [--db URL] [--work DIR] [--limit N] [--writers 16]
//               [--readers 2] [--read-seconds 10 | --reads N] [--searches 200] [--keep]
//
// Phases:
// - load (not timed): the NDJSON corpus (bench/store_corpus.py) read and
//   parsed with fhir::parse_json into memory.
// - create: --writers threads take resources from one shared counter and
//   call resource_store::update(type, id, resource): update-as-create with
//   the corpus' own ids, so its references resolve. Each call returns once
//   its write is durable (group commit; database.hpp), so the rate depends
//   on how many writes share one commit: reported with the writer's
//   transactions and mean group size. Also reported, to tell where the time
//   goes: the rate and latency of each resource type, the bytes and write
//   calls per create (/proc/self/io: WAL frames and checkpoints), and the CPU
//   share of the busiest thread (the store's writer: a share near 100% means
//   it, not fsync, bounds the rate).
// - read: --readers threads read random resources of the corpus by type and
//   id, for --read-seconds (or --reads in total); rate and latency
//   percentiles.
// - search: --searches first pages (default 200) of each of Observation?code=,
//   a one-week Observation?date= range, Observation?subject.name= (chained)
//   and Observation?code=&_include=Observation:subject, one thread, values
//   from the corpus by a fixed seed; latency p50/p99 (store_search.cpp).
//
// --db sqlite:DIR or postgresql://...; without it, SQLite in a fresh
// directory under --work (default: the system temporary directory), removed
// at the end unless --keep. A PostgreSQL database should be empty: resources
// already there make update-as-create an update (or no change).
//
// Output: one line per phase for people, then one JSON line (starting with
// {"bench":"store") for scripts. Exit status 1 when the corpus cannot be read,
// the database cannot be opened, or any create or read failed.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <stdlib.h>  // mkdtemp (POSIX)
#include <unistd.h>  // sysconf

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/store/database.hpp>
#include <hearth/store/indexer.hpp>
#include <hearth/store/resource_store.hpp>

#include "store_search.hpp"

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

struct options {
  std::string corpus;
  std::string db_url;  // empty: SQLite in a fresh directory under work
  std::string work;
  std::size_t limit = 0;  // 0: the whole corpus
  std::size_t writers = 16;
  std::size_t readers = 2;
  double read_seconds = 10;
  std::size_t searches = 200;  // first pages of each search kind
  std::size_t reads = 0;  // when set, a total count instead of a duration
  bool keep = false;
};

void usage() {
  std::fprintf(stderr,
               "usage: store_bench --corpus FILE [--db sqlite:DIR|postgresql://...] [--work DIR]\n"
               "                   [--limit N] [--writers N] [--readers N] [--read-seconds S | --reads N]\n"
               "                   [--searches N] [--keep]\n");
}

bool parse_count(const char* text, std::size_t& out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0') return false;
  out = static_cast<std::size_t>(v);
  return true;
}

/// Reads the command line; false (after printing why) when it is wrong.
bool parse_options(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--keep") {
      o.keep = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "store_bench: %s needs a value (or is unknown)\n", argv[i]);
      return false;
    }
    const char* v = argv[++i];
    bool ok = true;
    if (a == "--corpus") o.corpus = v;
    else if (a == "--db") o.db_url = v;
    else if (a == "--work") o.work = v;
    else if (a == "--limit") ok = parse_count(v, o.limit);
    else if (a == "--writers") ok = parse_count(v, o.writers) && o.writers > 0;
    else if (a == "--readers") ok = parse_count(v, o.readers);
    else if (a == "--reads") ok = parse_count(v, o.reads);
    else if (a == "--searches") ok = parse_count(v, o.searches);
    else if (a == "--read-seconds") {
      char* end = nullptr;
      o.read_seconds = std::strtod(v, &end);
      ok = end != v && *end == '\0' && o.read_seconds >= 0;
    } else {
      std::fprintf(stderr, "store_bench: unknown option %s\n", argv[i - 1]);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "store_bench: bad value for %s: %s\n", argv[i - 1], v);
      return false;
    }
  }
  if (o.corpus.empty()) {
    std::fprintf(stderr, "store_bench: --corpus is required\n");
    return false;
  }
  return true;
}

/// One resource of the corpus. The body is moved into the store by the
/// create phase; type and id stay for the read phase.
struct item {
  std::string type;
  std::string id;
  hearth::fhir::json_value body;
  std::size_t slot = 0;  ///< index of its type in the per-type statistics
};

/// Reads and parses the NDJSON corpus (at most `limit` resources when not 0).
/// False (after printing the line and error) on the first bad line.
bool load_corpus(const std::string& path, std::size_t limit, std::vector<item>& out, std::uint64_t& bytes,
                 bench_store::search_inputs& inputs) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "store_bench: cannot read %s\n", path.c_str());
    return false;
  }
  std::string line;
  std::size_t line_no = 0;
  while ((limit == 0 || out.size() < limit) && std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    bytes += line.size();
    auto parsed = hearth::fhir::parse_json(line);
    if (!parsed) {
      std::fprintf(stderr, "store_bench: %s:%zu: %s (%s)\n", path.c_str(), line_no, parsed.error().message.c_str(),
                   parsed.error().location.c_str());
      return false;
    }
    const auto* type = parsed->find("resourceType");
    const auto* id = parsed->find("id");
    if (type == nullptr || !type->is_string() || id == nullptr || !id->is_string()) {
      std::fprintf(stderr, "store_bench: %s:%zu: not a resource with resourceType and id\n", path.c_str(), line_no);
      return false;
    }
    inputs.collect(type->str(), *parsed);
    out.push_back(item{type->str(), id->str(), std::move(*parsed)});
  }
  return true;
}

/// Peak resident set size (VmHWM) in MiB, 0 when unknown.
std::uint64_t peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) / 1024;
  }
  return 0;
}

/// This process's I/O counters (/proc/self/io; zeros when unreadable): what
/// a create costs in writes, WAL frames and checkpoints included.
struct io_counters {
  std::uint64_t wchar = 0;  ///< bytes passed to write-family calls
  std::uint64_t syscw = 0;  ///< write-family calls
};

io_counters read_io_counters() {
  io_counters c;
  std::ifstream io("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "wchar:") c.wchar = value;
    else if (key == "syscw:") c.syscw = value;
  }
  return c;
}

/// CPU time (user + system, clock ticks) of each thread of this process, by
/// thread id, from /proc/self/task/*/stat (empty when unreadable).
std::map<std::string, std::uint64_t> thread_cpu_ticks() {
  std::map<std::string, std::uint64_t> ticks;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(task.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    // "tid (comm) state ppid ...": comm may hold spaces, so count fields from
    // the last ')': utime and stime are fields 14 and 15 (proc(5)).
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 1));
    std::string field;
    std::uint64_t utime = 0, stime = 0;
    for (int n = 3; n <= 15 && fields >> field; ++n) {
      if (n == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
      if (n == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
    }
    ticks[task.path().filename().string()] = utime + stime;
  }
  return ticks;
}

/// The largest CPU time one thread spent between two snapshots, in seconds:
/// during the create phase, the store's writer thread (it commits every write).
double busiest_thread_seconds(const std::map<std::string, std::uint64_t>& before,
                              const std::map<std::string, std::uint64_t>& after) {
  std::uint64_t most = 0;
  for (const auto& [tid, t] : after) {
    const auto b = before.find(tid);
    most = std::max(most, t - (b == before.end() ? 0 : std::min(b->second, t)));
  }
  return static_cast<double>(most) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// Lowers `a` to `v` when smaller (raises, for atomic_max), from any thread.
void atomic_min(std::atomic<std::int64_t>& a, std::int64_t v) {
  for (std::int64_t cur = a.load(); v < cur && !a.compare_exchange_weak(cur, v);) {
  }
}
void atomic_max(std::atomic<std::int64_t>& a, std::int64_t v) {
  for (std::int64_t cur = a.load(); v > cur && !a.compare_exchange_weak(cur, v);) {
  }
}

/// Bytes of the regular files under `dir` (the SQLite database and its WAL).
std::uint64_t directory_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

/// The first few errors of a phase, printed once it is over (threads must
/// not interleave their lines with the progress output).
class error_log {
 public:
  void add(std::string_view what, const hearth::error& e) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    if (first_.size() < max_kept) first_.push_back(std::string(what) + ": " + e.code + ": " + e.message);
  }
  std::uint64_t failures() const { return failures_.load(); }
  void print() const {
    for (const auto& line : first_) std::fprintf(stderr, "  error: %s\n", line.c_str());
  }

 private:
  static constexpr std::size_t max_kept = 10;  // enough to see a pattern
  std::atomic<std::uint64_t> failures_{0};
  std::mutex mu_;
  std::vector<std::string> first_;
};

/// The p-quantile (0..1) of `v` (reordered), by the nearest rank below.
double percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

/// Builds one flat JSON object. Keys are ours; string values are resource
/// type names and engine names, escaped all the same.
class json_line {
 public:
  json_line& add(std::string_view key, std::string_view value) {
    std::string quoted = "\"";
    for (const char c : value) {
      if (c == '"' || c == '\\') quoted += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) quoted += c;
    }
    return add_raw(key, quoted + '"');
  }
  json_line& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  json_line& add(std::string_view key, std::uint64_t value) { return add_raw(key, std::to_string(value)); }
  json_line& add(std::string_view key, double value, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    return add_raw(key, buf);
  }
  json_line& add_raw(std::string_view key, std::string_view json) {
    text_ += text_.empty() ? "{\"" : ",\"";
    text_.append(key);
    text_ += "\":";
    text_.append(json);
    return *this;
  }
  std::string str() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  std::string text_;
};

/// The create phase's figures for one resource type.
struct type_result {
  std::string type;
  std::uint64_t count = 0;
  double creates_per_s = 0;  ///< count / (its last create's end - its first's start)
  double p50_ms = 0, p99_ms = 0;
};

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (!parse_options(argc, argv, opt)) {
    usage();
    return 2;
  }

  // --- set-up (not timed) ----------------------------------------------------
  auto defs = hearth::fhir::definitions::load(HEARTH_DEFINITIONS_DIR);
  if (!defs) {
    std::fprintf(stderr, "store_bench: definitions: %s (%s)\n", defs.error().message.c_str(),
                 defs.error().location.c_str());
    return 1;
  }
  const hearth::store::indexer ix(*defs);

  std::vector<item> corpus;
  std::uint64_t corpus_bytes = 0;
  const auto load_start = clock_type::now();
  bench_store::search_inputs search_in;
  std::vector<bench_store::search_figures> search_out;
  if (!load_corpus(opt.corpus, opt.limit, corpus, corpus_bytes, search_in)) return 1;
  if (corpus.empty()) {
    std::fprintf(stderr, "store_bench: %s holds no resources\n", opt.corpus.c_str());
    return 1;
  }
  // Per-type statistics, in the order the types first appear in the corpus.
  std::vector<std::string> type_names;
  for (auto& it : corpus) {
    auto at = std::find(type_names.begin(), type_names.end(), it.type);
    if (at == type_names.end()) at = type_names.insert(type_names.end(), it.type);
    it.slot = static_cast<std::size_t>(at - type_names.begin());
  }
  std::printf("corpus:  %zu resources, %.1f MB of JSON, parsed in %.1f s (peak RSS %" PRIu64 " MiB)\n", corpus.size(),
              static_cast<double>(corpus_bytes) / 1e6, seconds_since(load_start), peak_rss_mib());

  fs::path temp_dir;  // our own SQLite directory, removed at the end unless --keep
  std::string url = opt.db_url;
  if (url.empty()) {
    const fs::path work = opt.work.empty() ? fs::temp_directory_path() : fs::path(opt.work);
    std::error_code ec;
    fs::create_directories(work, ec);
    std::string pattern = (work / "hearth-store-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      std::fprintf(stderr, "store_bench: cannot create a directory under %s\n", work.c_str());
      return 1;
    }
    temp_dir = pattern;
    url = "sqlite:" + pattern;
  }
  auto config = hearth::store::parse_database_url(url);
  if (!config) {
    std::fprintf(stderr, "store_bench: --db: %s\n", config.error().message.c_str());
    return 2;
  }
  config->pool_size = std::max<std::size_t>(opt.readers, 1);
  auto db = hearth::store::database::open(*config);
  if (!db) {
    std::fprintf(stderr, "store_bench: open: %s: %s\n", db.error().code.c_str(), db.error().message.c_str());
    return 1;
  }
  const std::string engine(hearth::store::to_string((*db)->kind()));
  // The location of a PostgreSQL database is not printed: it may hold a password.
  const std::string where =
      config->kind == hearth::store::engine::sqlite ? engine + " in " + config->location : engine;
  std::printf("db:      %s, max_group %zu, %zu writers, %zu readers\n", where.c_str(), config->max_group, opt.writers,
              opt.readers);
  std::fflush(stdout);

  bool ok = true;
  double create_s = 0, read_s = 0;
  std::uint64_t created = 0, reads_done = 0, create_failures = 0, read_failures = 0, db_bytes = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0;
  double write_kib_per_create = 0, write_calls_per_create = 0, writer_cpu_s = 0;
  std::vector<type_result> per_type;
  hearth::store::commit_stats stats;
  {
    hearth::store::resource_store store(**db, ix);

    // --- create ----------------------------------------------------------------
    std::atomic<std::size_t> next{0};
    std::atomic<std::uint64_t> done{0}, made{0};
    error_log create_errors;
    std::vector<std::thread> threads;
    // Per type: each writer's create latencies (us), and when the type's
    // first create started and its last one returned (ns after the start).
    const std::size_t n_types = type_names.size();
    std::vector<std::vector<std::vector<std::uint32_t>>> create_lat(
        opt.writers, std::vector<std::vector<std::uint32_t>>(n_types));
    std::vector<std::atomic<std::int64_t>> type_first(n_types), type_last(n_types);
    for (std::size_t t = 0; t < n_types; ++t) {
      type_first[t] = std::numeric_limits<std::int64_t>::max();
      type_last[t] = 0;
    }
    const io_counters io_before = read_io_counters();
    const auto cpu_before = thread_cpu_ticks();
    const auto create_start = clock_type::now();
    const auto since_start_ns = [&](clock_type::time_point t) {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(t - create_start).count();
    };
    for (std::size_t w = 0; w < opt.writers; ++w) {
      threads.emplace_back([&, w] {
        for (;;) {
          const std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
          if (i >= corpus.size()) break;
          item& it = corpus[i];
          const auto t0 = clock_type::now();
          auto r = store.update(it.type, it.id, std::move(it.body));
          const auto t1 = clock_type::now();
          create_lat[w][it.slot].push_back(static_cast<std::uint32_t>(
              std::min<std::int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count(),
                                     std::numeric_limits<std::uint32_t>::max())));
          atomic_min(type_first[it.slot], since_start_ns(t0));
          atomic_max(type_last[it.slot], since_start_ns(t1));
          if (!r) {
            create_errors.add(it.type + "/" + it.id, r.error());
          } else if (r->created) {
            made.fetch_add(1, std::memory_order_relaxed);
          }
          done.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    // Progress every 10 s: a 1M run takes minutes.
    auto last_report = create_start;
    std::uint64_t last_done = 0;
    while (done.load() < corpus.size()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const auto now = clock_type::now();
      if (now - last_report >= std::chrono::seconds(10)) {
        const std::uint64_t d = done.load();
        const double interval = std::chrono::duration<double>(now - last_report).count();
        std::fprintf(stderr, "  create: %" PRIu64 "/%zu after %.0f s, %.0f/s in the last %.0f s\n", d, corpus.size(),
                     std::chrono::duration<double>(now - create_start).count(),
                     static_cast<double>(d - last_done) / interval, interval);
        last_report = now;
        last_done = d;
      }
    }
    for (auto& t : threads) t.join();
    create_s = seconds_since(create_start);
    writer_cpu_s = busiest_thread_seconds(cpu_before, thread_cpu_ticks());
    const io_counters io_after = read_io_counters();
    write_kib_per_create = static_cast<double>(io_after.wchar - io_before.wchar) / 1024.0 / corpus.size();
    write_calls_per_create = static_cast<double>(io_after.syscw - io_before.syscw) / corpus.size();
    threads.clear();
    stats = (*db)->stats();
    created = made.load();
    create_failures = create_errors.failures();
    const double mean_group =
        stats.transactions > 0 ? static_cast<double>(stats.writes + stats.failed_writes) / stats.transactions : 0;
    std::printf("create:  %zu in %.2f s = %.0f creates/s (%" PRIu64 " created, %" PRIu64
                " failed); %" PRIu64 " transactions, mean group %.2f, largest %" PRIu64 "\n",
                corpus.size(), create_s, static_cast<double>(corpus.size()) / create_s, created, create_failures,
                stats.transactions, mean_group, stats.largest_group);
    if (config->kind == hearth::store::engine::sqlite) {  // PostgreSQL writes in its own processes
      std::printf("         %.1f KiB written per create in %.1f write calls (WAL and checkpoints; /proc/self/io)\n",
                  write_kib_per_create, write_calls_per_create);
    }
    std::printf("         busiest thread (the store's writer) on CPU %.0f%% of the time\n",
                100.0 * writer_cpu_s / create_s);
    for (std::size_t t = 0; t < n_types; ++t) {
      std::vector<std::uint32_t> all;
      for (auto& per_writer : create_lat) all.insert(all.end(), per_writer[t].begin(), per_writer[t].end());
      if (all.empty()) continue;
      type_result tr;
      tr.type = type_names[t];
      tr.count = all.size();
      const double span_s = static_cast<double>(type_last[t] - type_first[t]) / 1e9;
      tr.creates_per_s = span_s > 0 ? static_cast<double>(all.size()) / span_s : 0;
      tr.p50_ms = percentile(all, 0.50) / 1000.0;
      tr.p99_ms = percentile(all, 0.99) / 1000.0;
      std::printf("  %-12s %8" PRIu64 " at %6.0f creates/s while written; latency p50 %.1f ms, p99 %.1f ms\n",
                  tr.type.c_str(), tr.count, tr.creates_per_s, tr.p50_ms, tr.p99_ms);
      per_type.push_back(std::move(tr));
    }
    create_errors.print();
    std::fflush(stdout);
    if (create_failures > 0) ok = false;

    // --- read ------------------------------------------------------------------
    if (opt.readers > 0 && (opt.reads > 0 || opt.read_seconds > 0)) {
      error_log read_errors;
      std::atomic<bool> stop{false};
      std::atomic<std::size_t> budget{0};
      std::vector<std::vector<std::uint32_t>> latencies(opt.readers);
      const auto read_start = clock_type::now();
      const auto deadline = read_start + std::chrono::duration_cast<clock_type::duration>(
                                             std::chrono::duration<double>(opt.read_seconds));
      for (std::size_t r = 0; r < opt.readers; ++r) {
        threads.emplace_back([&, r] {
          std::mt19937_64 rng(0x5eed + r);  // fixed seeds: the same ids every run
          std::uniform_int_distribution<std::size_t> pick(0, corpus.size() - 1);
          auto& lat = latencies[r];
          lat.reserve(1 << 20);
          for (std::uint64_t n = 0;; ++n) {
            if (opt.reads > 0) {
              if (budget.fetch_add(1, std::memory_order_relaxed) >= opt.reads) break;
            } else if ((n & 63) == 0 && (stop.load(std::memory_order_relaxed) || clock_type::now() >= deadline)) {
              stop = true;
              break;
            }
            const item& it = corpus[pick(rng)];
            const auto t0 = clock_type::now();
            auto v = store.read(it.type, it.id);
            const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0).count();
            lat.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(ns, UINT32_MAX)));
            if (!v) {
              read_errors.add(it.type + "/" + it.id, v.error());
            } else if (v->version_id != 1 || v->json.empty()) {
              read_errors.add(it.type + "/" + it.id,
                              hearth::error{"bench", "expected version 1 with a body", {}, hearth::error::npos});
            }
          }
        });
      }
      for (auto& t : threads) t.join();
      read_s = seconds_since(read_start);
      std::vector<std::uint32_t> all;
      for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
      reads_done = all.size();
      read_failures = read_errors.failures();
      p50 = percentile(all, 0.50) / 1000.0;
      p90 = percentile(all, 0.90) / 1000.0;
      p99 = percentile(all, 0.99) / 1000.0;
      p999 = percentile(all, 0.999) / 1000.0;
      std::printf("read:    %" PRIu64 " in %.2f s = %.0f reads/s (%" PRIu64
                  " failed); latency p50 %.0f us, p90 %.0f us, p99 %.0f us, p99.9 %.0f us\n",
                  reads_done, read_s, static_cast<double>(reads_done) / read_s, read_failures, p50, p90, p99, p999);
      read_errors.print();
      if (read_failures > 0) ok = false;
    }

    // --- search ----------------------------------------------------------------
    if (opt.searches > 0) {
      search_out = bench_store::run_searches(store, *defs, search_in, opt.searches);
      for (const auto& f : search_out) {
        std::printf("search:  %-8s %zu first pages, p50 %.2f ms, p99 %.2f ms, max %.1f ms; %.1f matches"
                    " (+%.1f included) per page; %zu failed; e.g. %s\n",
                    f.name.c_str(), f.runs, f.p50_ms, f.p99_ms, f.max_ms, f.mean_matches, f.mean_included,
                    f.failures, f.example.c_str());
        if (f.failures > 0) ok = false;
      }
      std::fflush(stdout);
    }
  }
  (*db)->stop();
  db->reset();  // closes the database (checkpoints the WAL) before its size is taken
  if (config->kind == hearth::store::engine::sqlite) {
    db_bytes = directory_bytes(config->location);
    std::printf("size:    %.1f MB on disk (%.0f bytes per resource)\n", static_cast<double>(db_bytes) / 1e6,
                static_cast<double>(db_bytes) / static_cast<double>(corpus.size()));
  }
  if (!temp_dir.empty()) {
    if (opt.keep) {
      std::printf("kept:    %s\n", temp_dir.c_str());
    } else {
      std::error_code ec;
      fs::remove_all(temp_dir, ec);
    }
  }

  // The machine-readable line: one JSON object, keys as in the lines above.
  const double mean_group =
      stats.transactions > 0 ? static_cast<double>(stats.writes + stats.failed_writes) / stats.transactions : 0;
  json_line out;
  out.add("bench", "store").add("engine", engine).add("resources", corpus.size()).add("corpus_bytes", corpus_bytes);
  out.add("writers", opt.writers).add("create_seconds", create_s, 3);
  out.add("creates_per_s", create_s > 0 ? static_cast<double>(corpus.size()) / create_s : 0, 1);
  out.add("created", created).add("create_failures", create_failures).add("transactions", stats.transactions);
  out.add("mean_group", mean_group, 2).add("largest_group", stats.largest_group);
  out.add("write_kib_per_create", write_kib_per_create, 1).add("write_calls_per_create", write_calls_per_create, 1);
  out.add("writer_cpu_share", create_s > 0 ? writer_cpu_s / create_s : 0, 3);
  std::string types = "[";
  for (const auto& t : per_type) {
    json_line o;
    o.add("type", t.type).add("count", t.count).add("creates_per_s", t.creates_per_s, 1);
    o.add("latency_p50_ms", t.p50_ms, 2).add("latency_p99_ms", t.p99_ms, 2);
    types += (types.size() > 1 ? "," : "") + o.str();
  }
  out.add_raw("create_by_type", types + "]");
  out.add("readers", opt.readers).add("reads", reads_done).add("read_seconds", read_s, 3);
  out.add("reads_per_s", read_s > 0 ? static_cast<double>(reads_done) / read_s : 0, 1);
  out.add("read_failures", read_failures).add("read_p50_us", p50, 1).add("read_p90_us", p90, 1);
  out.add("read_p99_us", p99, 1).add("read_p999_us", p999, 1);
  std::string searches = "[";
  for (const auto& f : search_out) {
    json_line o;
    o.add("search", f.name).add("runs", f.runs).add("failures", f.failures).add("p50_ms", f.p50_ms, 2);
    o.add("p99_ms", f.p99_ms, 2).add("max_ms", f.max_ms, 2).add("mean_matches", f.mean_matches, 1);
    o.add("mean_included", f.mean_included, 1);
    searches += (searches.size() > 1 ? "," : "") + o.str();
  }
  out.add_raw("searches", searches + "]");
  out.add("db_bytes", db_bytes).add("peak_rss_mib", peak_rss_mib());
  std::printf("%s\n", out.str().c_str());
  return ok ? 0 : 1;
}
