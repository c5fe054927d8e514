// The MLLP listener and client (server/mllp_listener.hpp, mllp_client.hpp)
// over real sockets on port 0, in process: framing in any split, junk,
// oversized and interrupted blocks, deadlines, order and concurrency, the
// connection limit, a graceful stop, TLS and mTLS with throw-away
// certificates from the openssl CLI, and Debian's python3-hl7 `mllp_send`
// as a sender that is not ours. Waits are for events, each with a generous
// upper bound; nothing passes by timing alone.
#include <hearth/server/mllp_listener.hpp>

#include <hearth/server/mllp_client.hpp>

#include <doctest/doctest.h>

#include <hearth/hl7v2/ack.hpp>
#include <hearth/hl7v2/mllp_frame.hpp>
#include <hearth/hl7v2/parser.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace hl7v2 = hearth::hl7v2;
using namespace std::chrono_literals;
using hearth::server::mllp_client_options;
using hearth::server::mllp_exchange;
using hearth::server::mllp_listener;
using hearth::server::mllp_options;
using hearth::server::mllp_peer;

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

/// A small ORU^R01 in original acknowledgment mode (MSH-15/16 empty: one AA
/// expected), control id `id`; `tail` is appended as an NTE (to make it big).
std::string message(const std::string& id, const std::string& tail = "") {
  std::string m = "MSH|^~\\&|LAB|FAC|HEARTH|FAC|20240101120000||ORU^R01|" + id +
                  "|P|2.5.1\rPID|1||42^^^H^MR\rOBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L\r";
  if (!tail.empty()) m += "NTE|1||" + tail + "\r";
  return m;
}

/// The test handler: parse, answer AA (or the reject for what does not
/// parse), as the real one will after its commit.
std::string ack_for(std::string payload) {
  std::string raw = payload;
  auto parsed = hl7v2::parse(std::move(payload));
  if (!parsed) return hl7v2::build_reject_for_unparsable(raw, parsed.error());
  return hl7v2::build_ack(*parsed, hl7v2::outcome::accepted).value_or(std::string());
}

std::string aa(const std::string& id) { return "MSA|AA|" + id; }

/// Waits for `done` (polled), at most `limit`: true once it holds.
bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// A plain blocking TCP client for byte-exact tests: sends what it is told,
/// decodes what comes back with the hl7v2 MLLP decoder.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    int one = 1;
    if (connected_) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~raw_client() { close(); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool connected() const { return connected_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// The next block's payload within `limit`; nullopt when the connection
  /// closed or the time ran out first.
  std::optional<std::string> frame(std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      hl7v2::mllp_item item;
      while (decoder_.next(item)) {
        if (item.status == hl7v2::mllp_status::frame) return std::move(item.payload);
      }
      if (!receive(deadline)) return std::nullopt;
    }
  }

  /// True when the server closes the connection within `limit` (what it
  /// sends before is decoded and kept for frame()).
  bool closed_within(std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (receive(deadline)) {
    }
    return closed_;
  }

 private:
  /// Reads once; false on close (closed_ set) or when the deadline passed.
  bool receive(std::chrono::steady_clock::time_point deadline) {
    if (closed_) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;  // orderly close, or a reset
      return false;
    }
    decoder_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  hl7v2::mllp_decoder decoder_;
};

/// A listener on a free port with `handler` (the ACK builder by default),
/// started or the case fails.
struct running_listener {
  explicit running_listener(mllp_options o = {},
                            hearth::server::mllp_handler h = [](const mllp_peer&, std::string p) {
                              return ack_for(std::move(p));
                            }) {
    o.host = "127.0.0.1";
    o.port = 0;
    // Log lines are kept, to check them (and to keep the test output clean).
    o.on_log = [this](hearth::server::mllp_log_level, std::string_view what, const mllp_peer& peer) {
      std::lock_guard lock(log_mu);
      log.push_back(std::string(what) + " #" + std::to_string(peer.connection_id));
    };
    auto started = listener.start(o, std::move(h));
    REQUIRE_MESSAGE(started, (started ? "" : started.error().message));
    REQUIRE(listener.port() != 0);
  }
  std::uint16_t port() const { return listener.port(); }
  std::vector<std::string> log_lines() {
    std::lock_guard lock(log_mu);
    return log;
  }

  std::mutex log_mu;
  std::vector<std::string> log;
  mllp_listener listener;  // last: stopped (destroyed) before the log it writes to
};

mllp_client_options client_to(std::uint16_t port) {
  mllp_client_options c;
  c.host = "127.0.0.1";
  c.port = port;
  c.timeout = 10s;
  return c;
}

/// A temporary directory, removed with its contents.
struct temp_dir {
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() /
           ("hearth-mllp-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  fs::path path;
};

struct command_result {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs a shell command (built only from temp_dir paths and constants).
command_result run(const std::string& command) {
  command_result r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

/// A self-signed P-256 certificate for 127.0.0.1 and localhost with subject
/// CN=`cn`, valid a day: NAMEcert.pem and NAMEkey.pem in `dir`.
void make_certificate(const fs::path& dir, const std::string& name, const std::string& cn) {
  const command_result r =
      run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=" + cn +
          " -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " + (dir / (name + "key.pem")).string() +
          " -out " + (dir / (name + "cert.pem")).string());
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
}

}  // namespace

TEST_CASE("mllp: a block sent byte by byte is answered once, whole") {
  running_listener l;
  raw_client c(l.port());
  REQUIRE(c.connected());
  for (const char b : hl7v2::mllp_encode(message("BYTE1"))) REQUIRE(c.send(std::string_view(&b, 1)));
  const auto reply = c.frame();
  REQUIRE(reply);
  CHECK(contains(*reply, aa("BYTE1")));
  // Nothing more: one block, one answer.
  CHECK_FALSE(c.frame(300ms));
  CHECK(l.listener.stats().frames == 1);
}

TEST_CASE("mllp: several blocks in one write, junk before and between, answered in order") {
  running_listener l;
  raw_client c(l.port());
  const std::string junk1 = "\r\nnoise";
  const std::string junk2 = "xyz";
  std::string bytes = junk1 + hl7v2::mllp_encode(message("M1")) + hl7v2::mllp_encode(message("M2")) + junk2 +
                      hl7v2::mllp_encode(message("M3"));
  REQUIRE(c.send(bytes));
  for (const char* id : {"M1", "M2", "M3"}) {
    const auto reply = c.frame();
    REQUIRE_MESSAGE(reply, id);
    CHECK_MESSAGE(contains(*reply, aa(id)), id);
  }
  CHECK(l.listener.stats().frames == 3);
  CHECK(l.listener.stats().junk_bytes == junk1.size() + junk2.size());
}

TEST_CASE("mllp: an oversized block is answered AR 104 and the connection stays usable") {
  mllp_options o;
  o.max_frame_bytes = 1024;
  running_listener l(o);
  raw_client c(l.port());
  REQUIRE(c.send(hl7v2::mllp_encode(message("BIG1", std::string(4000, 'A')))));
  const auto reject = c.frame();
  REQUIRE(reject);
  CHECK(contains(*reject, "MSA|AR|"));
  CHECK(contains(*reject, "104"));
  CHECK_FALSE(contains(*reject, "AAAA"));  // nothing of the message echoed
  // The same connection, the next message: served.
  REQUIRE(c.send(hl7v2::mllp_encode(message("AFTER1"))));
  const auto next = c.frame();
  REQUIRE(next);
  CHECK(contains(*next, aa("AFTER1")));
  CHECK(l.listener.stats().oversized == 1);
  CHECK(l.listener.stats().frames == 1);
}

TEST_CASE("mllp: an interrupted block is dropped and counted; a peer closing mid-block too") {
  std::atomic<int> calls{0};
  running_listener l({}, [&](const mllp_peer&, std::string p) {
    ++calls;
    return ack_for(std::move(p));
  });
  {
    raw_client c(l.port());
    // A sender restarting mid-message: VT, part of a message, VT, the whole one.
    REQUIRE(c.send("\x0b" + message("CUT1").substr(0, 30) + hl7v2::mllp_encode(message("WHOLE1"))));
    const auto reply = c.frame();
    REQUIRE(reply);
    CHECK(contains(*reply, aa("WHOLE1")));
    CHECK(l.listener.stats().interrupted == 1);
  }
  {
    raw_client c(l.port());
    REQUIRE(c.send("\x0b" + message("CUT2").substr(0, 30)));
    c.close();
    CHECK(wait_for([&] { return l.listener.stats().interrupted == 2; }));
  }
  CHECK(calls == 1);
  // Still serving.
  auto r = mllp_exchange(client_to(l.port()), {message("LATER1")});
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  CHECK(contains(r->at(0), aa("LATER1")));
  CHECK(wait_for([&] { return l.listener.stats().connections_open == 0; }));
}

TEST_CASE("mllp: frame timeout closes a connection whose block does not end") {
  mllp_options o;
  o.frame_timeout = 1s;
  o.idle_timeout = 600s;
  running_listener l(o);
  raw_client c(l.port());
  // A complete exchange first: the frame deadline is per block.
  REQUIRE(c.send(hl7v2::mllp_encode(message("T1"))));
  REQUIRE(c.frame());
  REQUIRE(c.send("\x0b" + message("T2").substr(0, 20)));
  CHECK(c.closed_within(15s));
  CHECK(l.listener.stats().timeouts == 1);
  const auto lines = l.log_lines();
  CHECK(std::find_if(lines.begin(), lines.end(), [](const std::string& s) { return contains(s, "frame timeout"); }) !=
        lines.end());
}

TEST_CASE("mllp: idle timeout closes a connection with no block started; junk does not keep it open") {
  mllp_options o;
  o.idle_timeout = 1s;
  o.frame_timeout = 600s;
  running_listener l(o);
  raw_client c(l.port());
  REQUIRE(c.send("junk"));
  CHECK(c.closed_within(15s));
  CHECK(l.listener.stats().timeouts == 1);
  CHECK(l.listener.stats().junk_bytes == 4);
}

TEST_CASE("mllp: answers come in order on a connection while the handler takes variable time") {
  std::mutex mu;
  std::map<std::uint64_t, int> active;  // handler calls in progress per connection
  int most_at_once = 0;
  running_listener l({}, [&](const mllp_peer& peer, std::string p) {
    {
      std::lock_guard lock(mu);
      most_at_once = std::max(most_at_once, ++active[peer.connection_id]);
    }
    // Earlier messages take longer: a listener answering as handlers finish
    // would answer out of order.
    const char last = p[p.find("|P|") - 1];
    std::this_thread::sleep_for(std::chrono::milliseconds(('6' - last) * 30));
    {
      std::lock_guard lock(mu);
      --active[peer.connection_id];
    }
    return ack_for(std::move(p));
  });
  raw_client c(l.port());
  std::string bytes;
  for (int i = 1; i <= 5; ++i) bytes += hl7v2::mllp_encode(message("ORD" + std::to_string(i)));
  REQUIRE(c.send(bytes));
  for (int i = 1; i <= 5; ++i) {
    const auto reply = c.frame();
    REQUIRE(reply);
    CHECK(contains(*reply, aa("ORD" + std::to_string(i))));
  }
  std::lock_guard lock(mu);
  CHECK(most_at_once == 1);
}

TEST_CASE("mllp: several connections are served concurrently") {
  constexpr int clients = 4;
  std::mutex mu;
  std::condition_variable cv;
  int gathered = 0;
  running_listener l({}, [&](const mllp_peer&, std::string p) {
    if (contains(p, "|GATHER")) {
      // Each client's first message waits here until every client's is in a
      // handler at once: only a listener handling connections in parallel
      // gets all of them through before the 10 s cap (which would then fail
      // the check below).
      std::unique_lock lock(mu);
      ++gathered;
      cv.notify_all();
      cv.wait_for(lock, 10s, [&] { return gathered >= clients; });
    }
    return ack_for(std::move(p));
  });
  std::vector<std::thread> threads;
  std::vector<std::string> failures(clients);
  const auto started = std::chrono::steady_clock::now();
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::string> msgs{message("GATHER" + std::to_string(t))};
      for (int i = 0; i < 3; ++i) msgs.push_back(message("C" + std::to_string(t) + "N" + std::to_string(i)));
      auto r = mllp_exchange(client_to(l.port()), msgs);
      if (!r) {
        failures[t] = r.error().message;
        return;
      }
      if (r->size() != msgs.size() || !contains(r->at(0), aa("GATHER" + std::to_string(t)))) failures[t] = "first";
      for (int i = 0; i < 3; ++i) {
        if (!contains(r->at(1 + i), aa("C" + std::to_string(t) + "N" + std::to_string(i)))) failures[t] = "order";
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& f : failures) CHECK_MESSAGE(f.empty(), f);
  CHECK(gathered == clients);
  CHECK(std::chrono::steady_clock::now() - started < 9s);  // the gate opened, not timed out
  CHECK(l.listener.stats().connections_accepted == clients);
}

TEST_CASE("mllp: past max_connections a connection is closed at once") {
  mllp_options o;
  o.max_connections = 2;
  running_listener l(o);
  auto a = std::make_unique<raw_client>(l.port());
  raw_client b(l.port());
  for (raw_client* c : {a.get(), &b}) {
    REQUIRE(c->send(hl7v2::mllp_encode(message("LIM"))));
    REQUIRE(c->frame());
  }
  raw_client refused(l.port());
  CHECK(refused.closed_within(10s));
  CHECK(l.listener.stats().connections_refused == 1);
  // One slot frees up: a new connection is served again.
  a.reset();
  REQUIRE(wait_for([&] { return l.listener.stats().connections_open == 1; }));
  raw_client d(l.port());
  REQUIRE(d.send(hl7v2::mllp_encode(message("LIM2"))));
  const auto reply = d.frame();
  REQUIRE(reply);
  CHECK(contains(*reply, aa("LIM2")));
}

TEST_CASE("mllp: stop() lets a message being handled get its answer, then closes") {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  running_listener l({}, [&](const mllp_peer&, std::string p) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, 20s, [&] { return release; });
    return ack_for(std::move(p));
  });
  const std::uint16_t port = l.port();
  raw_client idle(port);
  raw_client busy(port);
  REQUIRE(busy.send(hl7v2::mllp_encode(message("STOP1"))));
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 10s, [&] { return entered; }));
  }
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    l.listener.stop();
    stopped = true;
  });
  CHECK(idle.closed_within(10s));  // an idle connection closes at once
  CHECK_FALSE(stopped);            // the handler still holds its message: stop() waits
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  const auto reply = busy.frame();
  REQUIRE(reply);
  CHECK(contains(*reply, aa("STOP1")));
  CHECK(busy.closed_within(10s));
  stopper.join();
  CHECK(stopped);
  raw_client late(port);
  CHECK_FALSE(late.connected());  // nothing listens any more
}

TEST_CASE("mllp: a handler that throws closes its connection and is logged without content") {
  running_listener l({}, [](const mllp_peer&, std::string p) -> std::string {
    if (contains(p, "BOOM")) throw std::runtime_error("bad " + p);
    return ack_for(std::move(p));
  });
  auto r = mllp_exchange(client_to(l.port()), {message("OK1"), message("BOOM1"), message("OK2")});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "closed");
  CHECK(r.error().location == "message 2");
  CHECK(contains(r.error().message, "1 answered"));
  CHECK(l.listener.stats().handler_exceptions == 1);
  const auto lines = l.log_lines();
  REQUIRE(lines.size() == 1);
  CHECK(contains(lines[0], "handler threw"));
  CHECK_FALSE(contains(lines[0], "BOOM"));
  CHECK_FALSE(contains(lines[0], "MSH"));
}

TEST_CASE("mllp: mllp_exchange returns the answers in order, and errors as values") {
  running_listener l;
  auto r = mllp_exchange(client_to(l.port()), {message("X1"), message("X2"), message("X3")});
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  REQUIRE(r->size() == 3);
  CHECK(contains(r->at(0), aa("X1")));
  CHECK(contains(r->at(1), aa("X2")));
  CHECK(contains(r->at(2), aa("X3")));

  auto framing = mllp_exchange(client_to(l.port()), {message("Y1"), "MSH|\x0b|"});
  REQUIRE_FALSE(framing);
  CHECK(framing.error().code == "invalid");
  CHECK(framing.error().location == "message 2");
  auto none = mllp_exchange(client_to(l.port()), {});
  REQUIRE_FALSE(none);
  CHECK(none.error().code == "invalid");

  // Nobody listening on the port any more.
  const std::uint16_t port = l.port();
  l.listener.stop();
  auto refused = mllp_exchange(client_to(port), {message("Z1")});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "unavailable");
}

TEST_CASE("mllp: mllp_exchange against a receiver that never answers times out") {
  running_listener l({}, [](const mllp_peer&, std::string) { return std::string(); });  // answers nothing
  mllp_client_options c = client_to(l.port());
  c.timeout = 1s;
  const auto started = std::chrono::steady_clock::now();
  auto r = mllp_exchange(c, {message("SILENT1")});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "timeout");
  CHECK(r.error().location == "message 1");
  CHECK(std::chrono::steady_clock::now() - started < 8s);
  CHECK(l.listener.stats().frames == 1);  // it was received, just not answered
}

TEST_CASE("mllp: start errors are values") {
  running_listener first;
  mllp_listener second;
  mllp_options o;
  o.port = first.port();
  auto taken = second.start(o, [](const mllp_peer&, std::string) { return std::string(); });
  REQUIRE_FALSE(taken);
  CHECK(taken.error().code == "exception");

  mllp_listener bad;
  o = {};
  o.host = "not-an-address";
  o.port = 0;
  auto host = bad.start(o, [](const mllp_peer&, std::string) { return std::string(); });
  REQUIRE_FALSE(host);
  CHECK(host.error().code == "invalid");

  o = {};
  o.port = 0;
  o.tls_cert_file = "/nonexistent/cert.pem";
  auto half = bad.start(o, [](const mllp_peer&, std::string) { return std::string(); });
  REQUIRE_FALSE(half);
  CHECK(half.error().code == "invalid");
  o.tls_key_file = "/nonexistent/key.pem";
  auto missing = bad.start(o, [](const mllp_peer&, std::string) { return std::string(); });
  REQUIRE_FALSE(missing);
  CHECK(contains(missing.error().message, "/nonexistent/cert.pem"));

  auto no_handler = bad.start(mllp_options{}, nullptr);
  REQUIRE_FALSE(no_handler);
  CHECK(bad.port() == 0);
}

TEST_CASE("mllp: TLS with the client API; an untrusted server certificate is refused") {
  temp_dir t;
  make_certificate(t.path, "", "localhost");
  make_certificate(t.path, "other", "someone-else");
  mllp_options o;
  o.tls_cert_file = (t.path / "cert.pem").string();
  o.tls_key_file = (t.path / "key.pem").string();
  std::atomic<bool> saw_tls{false};
  running_listener l(o, [&](const mllp_peer& peer, std::string p) {
    saw_tls = peer.tls && peer.client_subject.empty();
    return ack_for(std::move(p));
  });

  mllp_client_options c = client_to(l.port());
  c.tls = true;
  c.ca_file = (t.path / "cert.pem").string();
  auto r = mllp_exchange(c, {message("TLS1"), message("TLS2")});
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  CHECK(contains(r->at(0), aa("TLS1")));
  CHECK(contains(r->at(1), aa("TLS2")));
  CHECK(saw_tls);
  c.host = "localhost";  // by name: checked against the DNS subjectAltName
  auto by_name = mllp_exchange(c, {message("TLS3")});
  CHECK_MESSAGE(by_name, (by_name ? "" : by_name.error().message));

  c.host = "127.0.0.1";
  c.ca_file = (t.path / "othercert.pem").string();
  auto untrusted = mllp_exchange(c, {message("TLS4")});
  REQUIRE_FALSE(untrusted);
  CHECK(untrusted.error().code == "unavailable");
  CHECK_MESSAGE(contains(untrusted.error().message, "not trusted"), untrusted.error().message);
  CHECK(wait_for([&] { return l.listener.stats().tls_failures == 1; }));

  // Plain MLLP against the TLS port: no answer, the handshake fails.
  raw_client plain(l.port());
  REQUIRE(plain.send(hl7v2::mllp_encode(message("PLAIN1"))));
  CHECK(plain.closed_within(15s));
  CHECK_FALSE(plain.frame(0ms));
  CHECK(wait_for([&] { return l.listener.stats().tls_failures == 2; }));
  CHECK(l.listener.stats().frames == 3);
}

TEST_CASE("mllp: mTLS requires a trusted client certificate and hands its subject to the handler") {
  temp_dir t;
  make_certificate(t.path, "", "localhost");
  make_certificate(t.path, "client", "lab-analyser-1");
  make_certificate(t.path, "intruder", "lab-analyser-1");  // same name, another key: not trusted
  mllp_options o;
  o.tls_cert_file = (t.path / "cert.pem").string();
  o.tls_key_file = (t.path / "key.pem").string();
  o.tls_client_ca_file = (t.path / "clientcert.pem").string();
  std::mutex mu;
  std::vector<std::string> subjects;
  running_listener l(o, [&](const mllp_peer& peer, std::string p) {
    std::lock_guard lock(mu);
    subjects.push_back(peer.client_subject);
    return ack_for(std::move(p));
  });
  mllp_client_options c = client_to(l.port());
  c.tls = true;
  c.ca_file = (t.path / "cert.pem").string();

  auto anonymous = mllp_exchange(c, {message("ANON1")});
  REQUIRE_FALSE(anonymous);
  CHECK(anonymous.error().code != "timeout");
  CHECK(wait_for([&] { return l.listener.stats().tls_failures == 1; }));

  c.cert_file = (t.path / "intrudercert.pem").string();
  c.key_file = (t.path / "intruderkey.pem").string();
  auto intruder = mllp_exchange(c, {message("INTR1")});
  REQUIRE_FALSE(intruder);
  CHECK(wait_for([&] { return l.listener.stats().tls_failures == 2; }));

  c.cert_file = (t.path / "clientcert.pem").string();
  c.key_file = (t.path / "clientkey.pem").string();
  auto trusted = mllp_exchange(c, {message("MTLS1")});
  REQUIRE_MESSAGE(trusted, (trusted ? "" : trusted.error().message));
  CHECK(contains(trusted->at(0), aa("MTLS1")));
  std::lock_guard lock(mu);
  REQUIRE(subjects.size() == 1);  // the refused ones never reached the handler
  CHECK(subjects[0] == "CN=lab-analyser-1");
}

TEST_CASE("mllp: python3-hl7's mllp_send is answered") {
  if (!fs::exists("/usr/bin/mllp_send")) {
    MESSAGE("skipped: /usr/bin/mllp_send (Debian's python3-hl7) is not installed");
    return;
  }
  temp_dir t;
  running_listener l;
  const fs::path file = t.path / "messages.hl7";
  {
    std::ofstream out(file, std::ios::binary);
    out << hl7v2::mllp_encode(message("PY1")) << hl7v2::mllp_encode(message("PY2"));
  }
  const command_result r =
      run("timeout 30 /usr/bin/mllp_send -p " + std::to_string(l.port()) + " -f " + file.string() + " 127.0.0.1");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK_MESSAGE(contains(r.output, aa("PY1")), r.output);
  CHECK_MESSAGE(contains(r.output, aa("PY2")), r.output);
  CHECK(l.listener.stats().frames == 2);
}

TEST_CASE("mllp: a connection stops reading while its messages wait, and catches up in order") {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  running_listener l({}, [&](const mllp_peer&, std::string p) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, 20s, [&] { return release; });
    return ack_for(std::move(p));
  });
  raw_client c(l.port());
  constexpr int count = 30;
  // 10 KiB each: a read of the listener's yields at most two of them, so
  // what it decodes ahead shows whether it stopped reading.
  std::thread sender([&] {
    for (int i = 0; i < count; ++i) {
      if (!c.send(hl7v2::mllp_encode(message("BP" + std::to_string(i), std::string(10 * 1024, 'x'))))) return;
    }
  });
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 10s, [&] { return entered; }));
  }
  // Give it the chance to read on (it must not): one message with the
  // handler, a few waiting, at most one read's worth more.
  std::this_thread::sleep_for(300ms);
  const auto held = l.listener.stats().frames;
  CHECK(held >= 1);
  CHECK(held <= 8);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (int i = 0; i < count; ++i) {
    const auto reply = c.frame();
    REQUIRE_MESSAGE(reply, i);
    CHECK(contains(*reply, aa("BP" + std::to_string(i))));
  }
  sender.join();
  CHECK(l.listener.stats().frames == count);
}
