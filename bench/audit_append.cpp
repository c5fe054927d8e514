// bench/audit_append: what one AuditEvent costs the audit trail, apart from
// the REST server around it (results in bench/RESULTS.md).
//
//   audit_append [--events 200000] [--batch 500] [--patients 100000] [--work DIR] [--db URL]
//
// Builds read-by-id events as the server does (server::build_audit_event: a
// client with a token, a user, a Patient read, a request id), --batch at a
// time, and appends each batch with store::audit_log::append_batch (one
// transaction on the store's writer thread, hash chained, keys indexed),
// as audit_trail's appender does. Reports, per event:
// - build: CPU time of build_audit_event on this thread;
// - append: CPU time of the whole process during append_batch (the store's
//   writer thread does the work while this thread waits), which includes
//   the checkpointer's share when it runs meanwhile;
// - bytes and write calls (/proc/self/io: WAL frames, checkpoints);
// - the event's JSON size.
// CPU time, not wall time: the machines are shared, and CPU time is what an
// event takes from the requests beside it. Exit status 1 on any failure.

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/audit.hpp>
#include <hearth/store/audit_log.hpp>
#include <hearth/store/database.hpp>

namespace {

namespace srv = hearth::server;
namespace store = hearth::store;

double process_cpu_us() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

double thread_cpu_us() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

struct io_counters {
  long long wchar = 0, syscw = 0;
};

io_counters read_io() {
  io_counters c;
  std::ifstream in("/proc/self/io");
  std::string key;
  long long value = 0;
  while (in >> key >> value) {
    if (key == "wchar:") c.wchar = value;
    if (key == "syscw:") c.syscw = value;
  }
  return c;
}

long long arg_number(int argc, char** argv, int& i) {
  if (i + 1 >= argc) {
    std::cerr << argv[i] << " needs a value\n";
    std::exit(2);
  }
  return std::atoll(argv[++i]);
}

}  // namespace

int main(int argc, char** argv) {
  long long events = 200000, batch = 500, patients = 100000;
  std::string work = std::filesystem::temp_directory_path().string();
  std::string url;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--events") {
      events = arg_number(argc, argv, i);
    } else if (a == "--batch") {
      batch = arg_number(argc, argv, i);
    } else if (a == "--patients") {
      patients = arg_number(argc, argv, i);
    } else if (a == "--work" && i + 1 < argc) {
      work = argv[++i];
    } else if (a == "--db" && i + 1 < argc) {
      url = argv[++i];
    } else {
      std::cerr << "usage: audit_append [--events N] [--batch N] [--patients N] [--work DIR] [--db URL]\n";
      return 2;
    }
  }
  if (events < 1 || batch < 1 || patients < 1) {
    std::cerr << "--events, --batch and --patients must be positive\n";
    return 2;
  }

  std::filesystem::path dir;
  store::database_config cfg;
  if (url.empty()) {
    dir = std::filesystem::path(work) / ("hearth-audit-bench-" + std::to_string(::getpid()));
    cfg.location = dir.string();
  } else {
    auto parsed = store::parse_database_url(url);
    if (!parsed) {
      std::cerr << "--db: " << parsed.error().message << "\n";
      return 2;
    }
    cfg = *parsed;
  }
  auto db = store::database::open(cfg);
  if (!db) {
    std::cerr << "cannot open the database: " << db.error().message << "\n";
    return 1;
  }
  store::audit_log log(**db);

  srv::audit_source source;
  source.base_url = "https://fhir.example.org/r4";
  std::mt19937_64 random(42);
  std::uniform_int_distribution<long long> patient(1, patients);

  double build_us = 0, append_us = 0;
  long long json_bytes = 0;
  const io_counters io0 = read_io();
  const auto wall0 = std::chrono::steady_clock::now();
  for (long long done = 0; done < events;) {
    const long long n = std::min(batch, events - done);
    std::vector<hearth::fhir::json_value> evs;
    evs.reserve(static_cast<std::size_t>(n));
    const double b0 = thread_cpu_us();
    for (long long i = 0; i < n; ++i) {
      srv::audit_record r;
      r.interaction = srv::audit_interaction::read;
      r.status = 200;
      r.recorded = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
      r.request_id = "req-" + std::to_string(done + i);
      r.remote_address = "10.1.2.3";
      r.client_id = "ehr-app";
      r.issuer = source.base_url;
      r.user = "Practitioner/doc-17";
      r.jti = "jti-" + std::to_string(done + i);
      r.resource_type = "Patient";
      r.resource_id = "p-" + std::to_string(patient(random));
      evs.push_back(srv::build_audit_event(r, source));
    }
    build_us += thread_cpu_us() - b0;
    json_bytes += static_cast<long long>(hearth::fhir::to_json(evs.front()).size()) * n;
    const double a0 = process_cpu_us();
    auto appended = log.append_batch(std::move(evs));
    append_us += process_cpu_us() - a0;
    if (!appended) {
      std::cerr << "append failed: " << appended.error().code << ": " << appended.error().message << "\n";
      return 1;
    }
    done += n;
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const io_counters io1 = read_io();
  const double per = static_cast<double>(events);
  std::printf("events %lld, batch %lld, patients %lld: %.0f events/s wall\n", events, batch, patients, per / wall_s);
  std::printf("build  %.2f us CPU/event (build_audit_event; JSON without id and meta %.0f bytes)\n", build_us / per,
              static_cast<double>(json_bytes) / per);
  std::printf("append %.2f us CPU/event (append_batch, whole process)\n", append_us / per);
  std::printf("writes %.0f bytes/event in %.2f calls/event\n", static_cast<double>(io1.wchar - io0.wchar) / per,
              static_cast<double>(io1.syscw - io0.syscw) / per);
  std::printf("{\"bench\":\"audit_append\",\"events\":%lld,\"batch\":%lld,\"patients\":%lld,\"build_us\":%.3f,"
              "\"append_us\":%.3f,\"write_bytes\":%.0f,\"write_calls\":%.3f}\n",
              events, batch, patients, build_us / per, append_us / per,
              static_cast<double>(io1.wchar - io0.wchar) / per, static_cast<double>(io1.syscw - io0.syscw) / per);
  db->reset();
  if (!dir.empty()) std::filesystem::remove_all(dir);
  return 0;
}
