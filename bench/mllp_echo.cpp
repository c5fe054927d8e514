// bench/mllp_echo: the ceiling of bench/mllp (bench/run_mllp). An MLLP
// server that answers every message with an ACK AA and does nothing else:
// hearth's own MLLP listener (server/include/hearth/server/mllp_listener.hpp:
// the same framing, the same io thread and worker pool as `hearth serve
// --mllp-port`, built with the same flags), with a handler that parses the
// message (hl7v2::parse, needed to address the ACK) and builds the ACK with
// hl7v2::build_ack, as hearth's intake does for an accepted message. What it
// leaves out is everything hearth does per message between the two (the
// message log, the mapping to FHIR, identity, the store and the AuditEvent,
// the commit and its fsync), so hearth's messages/s over this one's, with the
// same load, is the share of the network path's ceiling it reaches.
//
//   mllp_echo [--port N] [--worker-threads N]
//
// Prints "mllp listening on 127.0.0.1:PORT" (as `hearth serve` does) once it
// accepts connections; stops on SIGTERM or SIGINT. Loopback only. An input
// that does not parse is answered with hearth's reject ACK (AR), so that a
// load that sends bad messages sees it.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pthread.h>  // pthread_sigmask

#include <hearth/hl7v2/ack.hpp>
#include <hearth/hl7v2/parser.hpp>
#include <hearth/server/mllp_listener.hpp>

namespace {

/// A whole number from `min` to `max`, or nullopt.
std::optional<std::size_t> number(std::string_view s, std::size_t min, std::size_t max) {
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || n < min || n > max) return std::nullopt;
  return n;
}

int usage() {
  std::cerr << "usage: mllp_echo [--port N] [--worker-threads N]\n"
               "  answers every HL7 v2 message received over MLLP with an ACK AA, and does nothing else;\n"
               "  defaults: port 0 (a free one), 1 io thread and 32 workers, as hearth serve --mllp-port\n";
  return 2;
}

/// The handler: the ACK for `payload`, accepted, or the reject for input
/// that does not parse. Thread-safe (build_ack is).
std::string answer(std::string payload) {
  auto msg = hearth::hl7v2::parse(payload);
  if (!msg) return hearth::hl7v2::build_reject_for_unparsable(payload, msg.error());
  auto ack = hearth::hl7v2::build_ack(*msg, hearth::hl7v2::outcome::accepted);
  return ack ? std::move(*ack) : std::string();
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  hearth::server::mllp_options opts;
  opts.port = 0;
  opts.io_threads = 1;       // as hearth serve (serve_command.cpp)
  opts.worker_threads = 32;  // as hearth serve: server_config::write_threads
  for (std::size_t i = 0; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return usage();
    std::optional<std::size_t> v;
    if (args[i] == "--port") {
      v = number(args[i + 1], 0, 65535);
      if (v) opts.port = static_cast<std::uint16_t>(*v);
    } else if (args[i] == "--worker-threads") {
      v = number(args[i + 1], 1, 1024);
      if (v) opts.worker_threads = *v;
    }
    if (!v) return usage();
  }

  // SIGTERM and SIGINT blocked before the listener's threads start (they
  // inherit the mask), then awaited here, as hearth serve does.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  hearth::server::mllp_listener listener;
  auto started = listener.start(opts, [](const hearth::server::mllp_peer&, std::string payload) {
    return answer(std::move(payload));
  });
  if (!started) {
    std::cerr << "mllp_echo: " << started.error().message << "\n";
    return 1;
  }
  std::cout << "mllp listening on 127.0.0.1:" << listener.port() << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  listener.stop(std::chrono::seconds(5));
  const auto s = listener.stats();
  std::cerr << "mllp_echo: " << s.frames << " messages, " << s.connections_accepted << " connections\n";
  return 0;
}
