// The MLLP suites of `hearth conformance` (server/conformance/mllp_suite.hpp):
// loading (a malformed suite is a suite error, never a crash), judging
// acknowledgments, and running suites against receivers started here: one
// that follows HL7 v2.5.1 chapter 2 and Appendix C (the suites must pass),
// and two gone wrong, one answering AA to everything and one ignoring the
// enhanced acknowledgment mode (the suites must fail: a suite that cannot
// fail proves nothing).
//
// The receivers and the client stream are POSIX sockets on 127.0.0.1
// (port 0), in this file: no Asio here. No assertion depends on timing: a
// "no answer" expectation waits a fixed time for a receiver that never
// answers, which it then passes whatever the machine's speed.
#include <hearth/server/conformance/mllp_suite.hpp>

#include <doctest/doctest.h>

#include "support/loopback_listener.hpp"
#include "support/temp_dir.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <hearth/fhir/definitions.hpp>
#include <hearth/hl7v2/mllp_frame.hpp>

namespace conf = hearth::server::conformance;
namespace fs = std::filesystem;
using hearth::server::mllp_client_options;
using hearth::server::mllp_raw_read;
using hearth::server::mllp_raw_stream;

namespace {

// --- files ------------------------------------------------------------------


/// The suites shipped in tests/conformance/mllp.
fs::path shipped(const std::string& name) {
  return fs::path(HEARTH_TEST_DATA).parent_path() / "conformance" / "mllp" / (name + ".json");
}

// --- HL7 helpers for the receivers ------------------------------------------

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

std::vector<std::string> segments(const std::string& payload) {
  std::vector<std::string> out;
  for (std::string& s : split(payload, '\r'))
    if (!s.empty()) out.push_back(std::move(s));
  return out;
}

/// Field n (n >= 2) of a header segment (MSH, BHS, FHS): MSH-1 is the
/// separator itself, so field n is the (n-1)th piece.
std::string field(const std::string& header, std::size_t n) {
  if (header.size() < 4) return {};
  const auto f = split(header, header[3]);
  return n >= 2 && n - 1 < f.size() ? f[n - 1] : std::string();
}

std::string component(const std::string& value, std::size_t n) {
  const auto c = split(value, '^');
  return n >= 1 && n <= c.size() ? c[n - 1] : std::string();
}

/// MSH-1 and the four characters of MSH-2 are five different characters
/// (HL7 v2.5.1 2.5.4): otherwise the message cannot be read.
bool distinct_delimiters(const std::string& msh) {
  const std::string enc = field(msh, 2);
  if (enc.size() != 4) return false;
  const std::set<char> all{msh[3], enc[0], enc[1], enc[2], enc[3]};
  return all.size() == 5;
}

/// How a receiver answers one message (not a batch): the ACKs to send.
using answer_fn = std::function<std::vector<std::string>(const std::string& message)>;

std::string ack_text(const std::string& msh, const std::string& code, const std::string& err_code) {
  static std::atomic<int> counter{0};
  std::string a = "MSH|^~\\&|FAKE|FAKE|" + field(msh, 3) + "|" + field(msh, 4) + "|20260101000000||ACK^" +
                  component(field(msh, 9), 2) + "^ACK|A" + std::to_string(counter.fetch_add(1)) + "|P|2.5.1\r" +
                  "MSA|" + code + "|" + field(msh, 10) + "\r";
  if (!err_code.empty()) a += "ERR||MSH^1^9|" + err_code + "^^HL70357|E\r";
  return a;
}

/// A receiver that follows HL7 v2.5.1 chapter 2: the protocol checks of
/// 2.9.2 (MSH-9, MSH-11, MSH-12: AR, or CR in enhanced mode), a content
/// error answered AE in original mode and, in enhanced mode, accepted (CA:
/// the accept acknowledgment is about receipt), MSH-15 obeyed (AL, NE, ER,
/// SU: table 0155), and a message with a known MSH-10 answered as before
/// when it is the same, AR 205 when it is not. `original_only`: the
/// receiver gone wrong that ignores MSH-15/16 and answers in original mode.
class standard_logic {
 public:
  explicit standard_logic(bool original_only = false) : original_only_(original_only) {}

  std::vector<std::string> operator()(const std::string& message) {
    const auto segs = segments(message);
    if (segs.empty() || !segs[0].starts_with("MSH") || segs[0].size() < 8 || !distinct_delimiters(segs[0])) {
      return {ack_text("MSH|^~\\&", "AR", "100")};  // not a message: 2.9.2 a) cannot be checked
    }
    const std::string& msh = segs[0];
    std::lock_guard lock(mutex_);
    const std::string key = field(msh, 3) + "|" + field(msh, 4) + "|" + field(msh, 10);
    if (const auto it = seen_.find(key); it != seen_.end()) {
      if (it->second.first == message) return it->second.second;
      return {ack_text(msh, "AR", "205")};
    }
    const std::string type = field(msh, 9);
    std::string error;  // table 0357
    bool reject = true;
    if (component(type, 1) != "ADT") {
      error = "200";
    } else if (std::set<std::string>{"A01", "A04", "A08"}.count(component(type, 2)) == 0) {
      error = "201";
    } else if (field(msh, 11) != "P") {
      error = "202";
    } else if (!field(msh, 12).starts_with("2.")) {
      error = "203";
    } else {
      reject = false;
      bool has_pid3 = false;
      for (const std::string& s : segs) {
        const auto f = split(s, '|');
        if (f[0] == "PID" && f.size() > 3 && !f[3].empty()) has_pid3 = true;
      }
      if (!has_pid3) error = "101";
    }
    const bool enhanced = !original_only_ && (!field(msh, 15).empty() || !field(msh, 16).empty());
    std::vector<std::string> out;
    if (!enhanced) {
      out.push_back(ack_text(msh, reject ? "AR" : error.empty() ? "AA" : "AE", error));
    } else {
      // The accept acknowledgment: CR for 2.9.2's protocol checks, else CA
      // (content errors are the application acknowledgment's business).
      const std::string code = reject ? "CR" : "CA";
      const std::string when = field(msh, 15);
      const bool send =
          when == "AL" || when.empty() || (when == "ER" && code != "CA") || (when == "SU" && code == "CA");
      if (send) out.push_back(ack_text(msh, code, reject ? error : std::string()));
    }
    seen_[key] = {message, out};
    return out;
  }

 private:
  bool original_only_;
  std::mutex mutex_;
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> seen_;
};

/// Answers a payload: a batch (2.10.3: [FHS] BHS {MSH...} BTS [FTS]) with a
/// batch of every message's acknowledgments (BHS-12 = BHS-11, FHS-12 =
/// FHS-11), a message with `answer`.
std::vector<std::string> answer_payload(const std::string& payload, const answer_fn& answer) {
  if (!payload.starts_with("FHS") && !payload.starts_with("BHS")) return answer(payload);
  std::string out, message, fhs, bhs;
  std::size_t acks = 0;
  const auto flush = [&] {
    if (message.empty()) return;
    for (const std::string& a : answer(message)) {
      out += a;
      ++acks;
    }
    message.clear();
  };
  for (const std::string& s : segments(payload)) {
    if (s.starts_with("FHS")) {
      out += "FHS|^~\\&|FAKE|FAKE||||||||" + field(s, 11) + "\r";
    } else if (s.starts_with("BHS")) {
      out += "BHS|^~\\&|FAKE|FAKE||||||||" + field(s, 11) + "\r";
      acks = 0;
    } else if (s.starts_with("BTS")) {
      flush();
      out += "BTS|" + std::to_string(acks) + "\r";
    } else if (s.starts_with("FTS")) {
      out += "FTS|1\r";
    } else if (s.starts_with("MSH")) {
      flush();
      message = s + "\r";
    } else {
      message += s + "\r";
    }
  }
  flush();
  return {out};
}

/// An MLLP receiver on 127.0.0.1, port 0, one thread per connection,
/// decoding blocks with hl7v2's decoder (bytes outside blocks skipped, a VT
/// inside a block restarting it). A block larger than `max_frame` is
/// answered AR (ERR 104) or, with close_on_oversize, ends the connection.
class fake_receiver {
 public:
  explicit fake_receiver(answer_fn answer, std::size_t max_frame = 1u << 20, bool close_on_oversize = false)
      : answer_(std::move(answer)), max_frame_(max_frame), close_on_oversize_(close_on_oversize) {
    fd_ = hearth::test::listen_loopback(port_);
    REQUIRE(fd_ >= 0);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~fake_receiver() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (const int c : clients_) ::shutdown(c, SHUT_RDWR);
    }
    for (std::thread& t : workers_) t.join();
  }
  fake_receiver(const fake_receiver&) = delete;
  fake_receiver& operator=(const fake_receiver&) = delete;

  std::uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      connections_.fetch_add(1);
      std::lock_guard lock(mutex_);
      clients_.push_back(c);
      workers_.emplace_back([this, c] { serve(c); });
    }
  }

  void serve(int c) {
    hearth::hl7v2::mllp_decoder decoder(max_frame_);
    char buf[65536];
    bool open = true;
    while (open && !stop_) {
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)));
      hearth::hl7v2::mllp_item item;
      while (open && decoder.next(item)) {
        std::vector<std::string> replies;
        if (item.status == hearth::hl7v2::mllp_status::frame) {
          replies = answer_payload(item.payload, answer_);
        } else if (item.status == hearth::hl7v2::mllp_status::frame_too_large) {
          if (close_on_oversize_) {
            open = false;
            break;
          }
          replies = {ack_text("MSH|^~\\&", "AR", "104")};
        }
        for (const std::string& r : replies) {
          const std::string framed = hearth::hl7v2::mllp_encode(r);
          if (::send(c, framed.data(), framed.size(), MSG_NOSIGNAL) < 0) open = false;
        }
      }
    }
    ::shutdown(c, SHUT_RDWR);
    std::lock_guard lock(mutex_);
    clients_.erase(std::find(clients_.begin(), clients_.end(), c));
    ::close(c);
  }

  answer_fn answer_;
  std::size_t max_frame_;
  bool close_on_oversize_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> clients_;
  std::vector<std::thread> workers_;
};

// --- the client side: mllp_raw_stream over a POSIX socket --------------------

/// The runner's view of a connection (mllp_client.hpp), over a blocking
/// POSIX socket: writes are whole sends; reads poll until the deadline.
/// The runner is tested over it in every build; mllp_raw_connect, the
/// production stream, lives in hearth::server_http, which this executable
/// links only when it is built (HEARTH_WITH_SERVER_HTTP, below).
class posix_stream final : public mllp_raw_stream {
 public:
  explicit posix_stream(int fd) : fd_(fd) {}
  ~posix_stream() override { ::close(fd_); }

  hearth::result<void> write(std::string_view bytes) override {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        closed_ = true;
        return hearth::unexpected(
            hearth::error{"closed", "the receiver closed the connection", {}, hearth::error::npos});
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
      drain(0);
    }
    return {};
  }

  mllp_raw_read read(std::size_t frames, std::chrono::milliseconds wait) override {
    mllp_raw_read out;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
      collect(out);
      if ((frames > 0 && out.frames.size() >= frames) || closed_) break;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      drain(static_cast<int>(left.count()));
    }
    collect(out);
    out.closed = closed_;
    return out;
  }

 private:
  /// Reads what is there, waiting up to `ms` for something.
  void drain(int ms) {
    if (closed_) return;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      closed_ = true;
      return;
    }
    if (n > 0) decoder_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  }

  void collect(mllp_raw_read& out) {
    hearth::hl7v2::mllp_item item;
    while (decoder_.next(item))
      if (item.status == hearth::hl7v2::mllp_status::frame) out.frames.push_back(std::move(item.payload));
  }

  int fd_;
  bool closed_ = false;
  hearth::hl7v2::mllp_decoder decoder_;
};

hearth::result<std::unique_ptr<mllp_raw_stream>> posix_connect(const mllp_client_options& o) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(o.port);
  ::inet_pton(AF_INET, o.host.c_str(), &a.sin_addr);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (fd >= 0) ::close(fd);
    return hearth::unexpected(hearth::error{"unavailable", "cannot connect", {}, hearth::error::npos});
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return std::unique_ptr<mllp_raw_stream>(std::make_unique<posix_stream>(fd));
}

conf::mllp_suite_options options_for(std::uint16_t port) {
  conf::mllp_suite_options o;
  o.mllp.host = "127.0.0.1";
  o.mllp.port = port;
  o.mllp.timeout = std::chrono::seconds(10);  // an answer that never comes: 10 s, then the case fails
  o.connect = posix_connect;
  o.run_id = "testrun00001";
  return o;
}

const conf::case_result* find_case(const conf::suite_result& r, const std::string& name) {
  for (const conf::case_result& c : r.cases)
    if (c.name == name) return &c;
  return nullptr;
}

std::string failures(const conf::suite_result& r) {
  std::string out = r.error.empty() ? std::string() : "suite error: " + r.error + "\n";
  for (const conf::case_result& c : r.cases) {
    if (c.status == conf::outcome::failed)
      out += c.name + ": " + c.message + "\n  expected: " + c.expected + "\n  actual: " + c.actual + "\n" + c.request +
             "\n--\n" + c.response + "\n";
  }
  return out;
}

// A valid ADT^A04 of the suites' kind, placeholders left for the runner.
constexpr const char* adt =
    R"(["MSH|^~\\&|TEST|TEST|RECEIVER|RECEIVER|${now}||ADT^A04^ADT_A01|${controlId}|P|2.5.1", )"
    R"("EVN|A04|${now}", "PID|1||MRN${runId}^^^&2.16.840.1.113883.3.999&ISO^MR||Test^Pat||19700101|F", "PV1|1|O"])";

std::string with_msh(const std::string& msh_fields_9_to_16) {
  return R"(["MSH|^~\\&|TEST|TEST|RECEIVER|RECEIVER|${now}||)" + msh_fields_9_to_16 +
         R"(", "EVN|A04|${now}", "PID|1||MRN${runId}^^^&2.16.840.1.113883.3.999&ISO^MR||Test^Pat||19700101|F", "PV1|1|O"])";
}

}  // namespace

// --- loading ----------------------------------------------------------------

TEST_CASE("conformance mllp: a valid suite loads with every member read") {
  hearth::test::temp_dir dir("hearth-mllp-suite-test");
  dir.write("messages/a.hl7", "MSH|^~\\&|A|B|C|D|${now}||ADT^A04^ADT_A01|${controlId}|P|2.5.1\nPID|1||X\n");
  const fs::path file = dir.write(
      "demo.json",
      std::string(R"({
    "name": "demo", "description": "d",
    "cases": [
      {"name": "one", "description": "first",
       "steps": [
         {"message": "MSH|^~\\&|A|B|C|D|${now}||ADT^A04^ADT_A01|${caseId}|P|2.5.1\r\nPID|1||X",
          "framing": {"kind": "split", "pieces": 4, "pauseMs": 10},
          "expect": {"ack": ["AA", "CA"], "msh9": "ACK^A04^ACK", "quietMs": 100}},
         {"resend": 1, "expect": {"ack": "AA", "sameAckAs": 1}},
         {"file": "messages/a.hl7", "framing": "no-end", "expect": {"noAnswer": true, "waitMs": 50}},
         {"messages": [)") +
          adt + ", " + adt +
          R"(], "framing": "one-write", "expect": [{"ack": "AA"}, {"ack": "AR", "err": true, "errCode": ["205"], "controlId": false}]},
         {"message": )" +
          adt + R"(, "framing": {"kind": "oversized", "size": 4096}, "expect": {"ack": "AR", "orClosed": true}}
       ],
       "fhir": [{"get": "Patient?identifier=urn:oid:1.2|MRN${runId}", "status": 200, "expressions": ["Bundle.total = 1"]}]}
    ]})");
  auto s = conf::load_mllp_suite(file);
  REQUIRE_MESSAGE(s, (s ? std::string() : s.error().message + " at " + s.error().location));
  CHECK(s->name == "demo");
  REQUIRE(s->cases.size() == 1);
  const conf::mllp_case& c = s->cases[0];
  CHECK(c.description == "first");
  REQUIRE(c.steps.size() == 5);
  // CRLF and LF become CR, each segment ends with CR (HL7 v2.5.1 2.5.2).
  CHECK(c.steps[0].messages[0] == "MSH|^~\\&|A|B|C|D|${now}||ADT^A04^ADT_A01|${caseId}|P|2.5.1\rPID|1||X\r");
  CHECK(c.steps[0].framing == conf::mllp_framing::split);
  CHECK(c.steps[0].pieces == 4);
  CHECK(c.steps[0].pause == std::chrono::milliseconds(10));
  CHECK(c.steps[0].expect[0].ack == std::vector<std::string>{"AA", "CA"});
  CHECK(c.steps[0].expect[0].quiet == std::chrono::milliseconds(100));
  CHECK(c.steps[1].resend == 1);
  CHECK(c.steps[1].expect[0].same_as_step == 1);
  CHECK(c.steps[2].messages[0].starts_with("MSH|^~\\&|A|B|C|D|${now}|"));
  CHECK(c.steps[2].framing == conf::mllp_framing::no_end);
  CHECK(c.steps[2].expect[0].no_answer);
  CHECK(c.steps[2].expect[0].wait == std::chrono::milliseconds(50));
  CHECK(c.steps[3].messages.size() == 2);
  REQUIRE(c.steps[3].expect.size() == 2);
  CHECK(c.steps[3].expect[1].err_code == std::vector<std::string>{"205"});
  CHECK_FALSE(c.steps[3].expect[1].control_id);
  CHECK(c.steps[4].size == 4096);
  CHECK(c.steps[4].expect[0].close_accepted);
  REQUIRE(c.fhir.size() == 1);
  CHECK(c.fhir[0].expressions == std::vector<std::string>{"Bundle.total = 1"});
}

TEST_CASE("conformance mllp: a malformed suite is an error naming where, never a crash") {
  hearth::test::temp_dir dir("hearth-mllp-suite-test");
  const auto error_of = [&dir](const std::string& name, const std::string& text) {
    auto s = conf::parse_mllp_suite(text, dir.path / (name + ".json"));
    return s ? std::string() : s.error().location + ": " + s.error().message;
  };
  const std::string ok_step = R"({"message": "MSH|^~\\&|A|B|C|D|||ADT^A04|1|P|2.5.1", "expect": {"ack": "AA"}})";
  const auto one_step = [&](const std::string& step) {
    return R"({"name": "x", "cases": [{"name": "c", "steps": [)" + step + "]}]}";
  };
  CHECK(error_of("x", one_step(ok_step)).empty());

  CHECK(error_of("x", "{").find("not valid JSON") != std::string::npos);
  CHECK(error_of("x", "[]").find("a suite is a JSON object") != std::string::npos);
  CHECK(error_of("y", one_step(ok_step)).find("$.name") != std::string::npos);  // name is not the file stem
  CHECK(error_of("x", R"({"name": "x", "cases": []})").find("$.cases") != std::string::npos);
  CHECK(error_of("x", R"({"name": "x", "casse": []})").find("unknown member \"casse\"") != std::string::npos);
  CHECK(error_of("x", one_step(R"({"message": "MSH|^~\\&", "expcet": {}})")).find("expcet") != std::string::npos);
  CHECK(error_of("x", one_step(R"({"message": "MSH|^~\\&", "expect": {"ack": "OK"}})")).find("\"OK\" is not one of") !=
        std::string::npos);
  CHECK(
      error_of("x", one_step(R"({"message": "MSH|${runid}", "expect": {"ack": "AA"}})")).find("unknown placeholder") !=
      std::string::npos);
  CHECK(error_of("x", one_step(R"({"message": "MSH|\u000b", "expect": {"ack": "AA"}})")).find("VT or FS") !=
        std::string::npos);
  CHECK(error_of("x", one_step(R"({"resend": 1, "expect": {"ack": "AA"}})")).find("no earlier step") !=
        std::string::npos);
  CHECK(error_of("x", one_step(ok_step + R"(, {"resend": 3, "expect": {"ack": "AA"}})")).find("resend") !=
        std::string::npos);
  CHECK(error_of("x", one_step(R"({"message": "MSH|^~\\&", "expect": {"ack": "AA", "sameAckAs": 1}})"))
            .find("sameAckAs") != std::string::npos);
  CHECK(error_of("x", one_step(R"({"message": "MSH|^~\\&", "expect": {"noAnswer": true, "ack": "AA"}})"))
            .find("cannot also say") != std::string::npos);
  CHECK(error_of("x", one_step(R"({"message": "MSH|^~\\&", "expect": {"ack": "AA", "waitMs": 10}})")).find("waitMs") !=
        std::string::npos);
  CHECK(error_of("x", one_step(R"({"message": "MSH|^~\\&", "framing": "sideways", "expect": {}})"))
            .find("unknown framing") != std::string::npos);
  CHECK(error_of("x", one_step(R"({"message": "MSH|^~\\&", "framing": {"kind": "split", "pieces": 1}, "expect": {}})"))
            .find("pieces") != std::string::npos);
  CHECK(error_of("x", one_step(R"({"messages": ["MSH|1", "MSH|2"], "framing": "no-end", "expect": {}})"))
            .find("exactly one message") != std::string::npos);
  CHECK(error_of("x", one_step(R"({"messages": ["MSH|1", "MSH|2"], "framing": "one-write", "expect": [{}]})"))
            .find("one expectation per message") != std::string::npos);
  CHECK(error_of("x", one_step(R"({"file": "missing.hl7", "expect": {}})")).find("missing.hl7") != std::string::npos);
  CHECK(error_of("x", one_step(R"({"message": "MSH|1", "message2": "MSH|2", "expect": {}})")).find("message2") !=
        std::string::npos);
  CHECK(error_of("x", R"({"name": "x", "cases": [{"name": "c", "steps": [)" + ok_step +
                          R"(], "fhir": [{"get": "http://elsewhere/Patient"}]}]})")
            .find("relative to the FHIR base") != std::string::npos);
  CHECK(error_of("x", R"({"name": "x", "cases": [{"name": "c", "steps": [)" + ok_step +
                          R"(], "fhir": [{"get": "Patient?x=${controlId}"}]}]})")
            .find("unknown placeholder") != std::string::npos);
  CHECK(error_of("x", R"({"name": "x", "cases": [{"name": "c", "steps": [)" + ok_step +
                          "]}, {\"name\": \"c\", \"steps\": [" + ok_step + "]}]}")
            .find("two cases") != std::string::npos);

  // Every prefix of a valid suite: an error or a suite, never a crash (the
  // point of this check), and an error always says something.
  const std::string whole = one_step(ok_step);
  for (std::size_t n = 0; n < whole.size(); ++n) {
    auto s = conf::parse_mllp_suite(whole.substr(0, n), dir.path / "x.json");
    if (!s) CHECK_FALSE(s.error().message.empty());
  }
}

TEST_CASE("conformance mllp: running a malformed suite file reports a suite error and its cases failed") {
  hearth::test::temp_dir dir("hearth-mllp-suite-test");
  const fs::path bad =
      dir.write("broken.json", R"({"name": "broken", "cases": [{"name": "a", "steps": []}, {"name": "b"}]})");
  const conf::suite_result r = conf::run_mllp_suite(bad, options_for(1));
  CHECK(r.name == "broken");
  CHECK(r.error.find("steps") != std::string::npos);
  REQUIRE(r.cases.size() == 2);
  CHECK(r.cases[0].status == conf::outcome::failed);
  CHECK(r.cases[1].name == "b");

  const conf::suite_result missing = conf::run_mllp_suite(dir.path / "absent.json", options_for(1));
  CHECK_FALSE(missing.error.empty());
  CHECK(missing.cases.empty());

  // No connector: nothing can be sent, and the run says so.
  const fs::path good =
      dir.write("good.json", std::string(R"({"name": "good", "cases": [{"name": "a", "steps": [{"message": )") + adt +
                                 R"(, "expect": {"ack": "AA"}}]}]})");
  conf::mllp_suite_options o = options_for(1);
  o.connect = nullptr;
  const conf::suite_result none = conf::run_mllp_suite(good, o);
  CHECK(none.error.find("connector") != std::string::npos);
  REQUIRE(none.cases.size() == 1);
  CHECK(none.cases[0].status == conf::outcome::failed);
}

// --- judging ----------------------------------------------------------------

TEST_CASE("conformance mllp: judging an acknowledgment against an expectation") {
  const std::string aa = "MSH|^~\\&|R|R|S|S|20260101||ACK^A01^ACK|9|P|2.5.1\rMSA|AA|MSG1\r";
  conf::mllp_expectation e;
  e.ack = {"AA"};
  e.msh9 = "ACK^A01^ACK";
  CHECK(conf::judge_ack(aa, e, "MSG1").empty());
  CHECK(conf::judge_ack(aa, e, "MSG2").find("MSA-2 is 'MSG1'") != std::string::npos);
  e.control_id = false;
  CHECK(conf::judge_ack(aa, e, "MSG2").empty());
  e.ack = {"CA"};
  CHECK(conf::judge_ack(aa, e, "MSG1").find("MSA-1 is 'AA', expected CA") != std::string::npos);
  e.ack = {"AA"};
  e.msh9 = "ACK^A04^ACK";
  CHECK(conf::judge_ack(aa, e, "MSG1").find("MSH-9.2 is 'A01'") != std::string::npos);
  e.msh9.clear();
  e.err = true;
  CHECK(conf::judge_ack(aa, e, "MSG1") == "no ERR segment");
  CHECK(conf::judge_ack("not HL7", e, "MSG1").find("not a valid HL7 message") != std::string::npos);

  // ERR-3 (v2.5 and later) and ERR-1's ELD code (earlier versions).
  conf::mllp_expectation r;
  r.ack = {"AR"};
  r.err = true;
  r.err_code = {"203"};
  const std::string v25 =
      "MSH|^~\\&|R|R|S|S|20260101||ACK^A01^ACK|9|P|2.5.1\rMSA|AR|M\rERR||MSH^1^12|203^Unsupported version "
      "id^HL70357|E\r";
  const std::string v23 =
      "MSH|^~\\&|R|R|S|S|20260101||ACK^A01|9|P|2.3\rMSA|AR|M|bad\rERR|MSH^1^12^203&Unsupported version id&HL70357\r";
  CHECK(conf::judge_ack(v25, r, "M").empty());
  CHECK(conf::judge_ack(v23, r, "M").empty());
  r.err_code = {"200", "201"};
  CHECK(conf::judge_ack(v25, r, "M").find("no ERR with code 200 or 201 (codes: 203)") != std::string::npos);
}

TEST_CASE("conformance mllp: judging a batch of acknowledgments (HL7 v2.5.1 2.10.3)") {
  const std::string sent =
      "BHS|^~\\&|S|S|R|R|||||B1\rMSH|^~\\&|S|S|R|R|||ADT^A04|M1|P|2.5.1\rPID|1\r"
      "MSH|^~\\&|S|S|R|R|||ZZZ^Z01|M2|P|2.5.1\rPID|1\rBTS|2\r";
  conf::mllp_expectation e;
  e.batch = true;
  conf::mllp_expectation accepted, rejected;
  accepted.ack = {"AA"};
  rejected.ack = {"AR"};
  rejected.err = true;
  e.batch_messages = {accepted, rejected};
  const std::string good =
      "BHS|^~\\&|R|R|S|S||||||B1\rMSH|^~\\&|R|R|S|S|||ACK^A04^ACK|X1|P|2.5.1\rMSA|AA|M1\r"
      "MSH|^~\\&|R|R|S|S|||ACK^Z01^ACK|X2|P|2.5.1\rMSA|AR|M2\rERR||MSH^1^9|200^^HL70357|E\rBTS|2\r";
  CHECK(conf::judge_batch_ack(good, e, sent).empty());
  // Without BHS-12 referring to the batch sent.
  std::string unreferenced = good;
  unreferenced.replace(unreferenced.find("|B1\r"), 4, "|XX\r");
  CHECK(conf::judge_batch_ack(unreferenced, e, sent).find("BHS-12") != std::string::npos);
  // One ACK, not a batch.
  CHECK(conf::judge_batch_ack("MSH|^~\\&|R|R|S|S|||ACK|X|P|2.5.1\rMSA|AA|B1\r", e, sent).find("no BHS") !=
        std::string::npos);
  // Only the message in error acknowledged: an implicit acceptance, when allowed.
  const std::string errors_only =
      "BHS|^~\\&|R|R|S|S||||||B1\rMSH|^~\\&|R|R|S|S|||ACK^Z01^ACK|X2|P|2.5.1\rMSA|AR|M2\r"
      "ERR||MSH^1^9|200^^HL70357|E\rBTS|1\r";
  CHECK(conf::judge_batch_ack(errors_only, e, sent).find("no acknowledgment for message 1") != std::string::npos);
  e.implicit_accept = true;
  CHECK(conf::judge_batch_ack(errors_only, e, sent).empty());
  // The message in error must be acknowledged even so.
  const std::string accepted_only =
      "BHS|^~\\&|R|R|S|S||||||B1\rMSH|^~\\&|R|R|S|S|||ACK^A04^ACK|X1|P|2.5.1\rMSA|AA|M1\rBTS|1\r";
  CHECK(conf::judge_batch_ack(accepted_only, e, sent).find("no acknowledgment for message 2") != std::string::npos);
}

// --- running against receivers ----------------------------------------------

/// A suite with a case for every framing and expectation; @ADT@ and the
/// other @NAMES@ stand for the messages of with_msh().
std::string kinds_suite() {
  // clang-format off
  std::string text = R"({"name": "kinds", "cases": [
    {"name": "split", "steps": [{"message": @ADT@, "framing": {"kind": "split", "pieces": 5, "pauseMs": 5},
        "expect": {"ack": "AA", "msh9": "ACK^A04^ACK", "quietMs": 50}}]},
    {"name": "byte by byte", "steps": [{"message": @ADT@, "framing": {"kind": "split", "pieces": 100000, "pauseMs": 0},
        "expect": {"ack": "AA"}}]},
    {"name": "one write", "steps": [{"messages": [@ADT@, @ADT@], "framing": "one-write",
        "expect": [{"ack": "AA"}, {"ack": "AA"}]}]},
    {"name": "junk", "steps": [{"message": @ADT@, "framing": {"kind": "junk-before", "junk": "\r\nnoise\r\n"},
        "expect": {"ack": "AA"}}]},
    {"name": "never ended", "steps": [
        {"message": @ADT@, "framing": "no-end", "expect": {"noAnswer": true, "waitMs": 100}},
        {"message": @ADT@, "expect": {"ack": "AA"}}]},
    {"name": "oversized", "steps": [
        {"message": @ADT@, "framing": {"kind": "oversized", "size": 4096},
         "expect": {"ack": "AR", "err": true, "controlId": false, "orClosed": true}},
        {"message": @ADT@, "expect": {"ack": "AA"}}]},
    {"name": "no acknowledgment asked", "steps": [
        {"message": @ENHANCED_NE@, "expect": {"noAnswer": true, "waitMs": 100}},
        {"message": @ADT@, "expect": {"ack": "AA"}}]},
    {"name": "commit accept", "steps": [{"message": @ENHANCED_AL@, "expect": {"ack": "CA", "quietMs": 50}}]},
    {"name": "duplicates", "steps": [
        {"message": @FIRST_COPY@, "expect": {"ack": "AA"}},
        {"resend": 1, "expect": {"ack": "AA", "sameAckAs": 1}},
        {"message": @OTHER_COPY@, "expect": {"ack": ["AR", "AE"], "err": true, "errCode": "205"}}]},
    {"name": "batch", "steps": [{"message": ["BHS|^~\\&|TEST|TEST|RECEIVER|RECEIVER|${now}||||${controlId}",
        "MSH|^~\\&|TEST|TEST|RECEIVER|RECEIVER|${now}||ADT^A04^ADT_A01|${controlId}|P|2.5.1",
        "PID|1||B1^^^&1.2&ISO^MR", "PV1|1|O",
        "MSH|^~\\&|TEST|TEST|RECEIVER|RECEIVER|${now}||ZZZ^Z01^ZZZ_Z01|${controlId}|P|2.5.1",
        "PID|1||B2^^^&1.2&ISO^MR", "BTS|2"],
      "expect": {"batch": {"acks": [{"ack": "AA"}, {"ack": "AR", "err": true, "errCode": "200"}]}}}]}
  ]})";
  const std::pair<std::string, std::string> names[] = {
      {"@ADT@", adt},
      {"@ENHANCED_NE@", with_msh("ADT^A04^ADT_A01|${controlId}|P|2.5.1|||NE|NE")},
      {"@ENHANCED_AL@", with_msh("ADT^A04^ADT_A01|${controlId}|P|2.5.1|||AL|NE")},
      {"@FIRST_COPY@", with_msh("ADT^A04^ADT_A01|${caseId}|P|2.5.1")},
      {"@OTHER_COPY@", R"(["MSH|^~\\&|TEST|TEST|RECEIVER|RECEIVER|${now}||ADT^A04^ADT_A01|${caseId}|P|2.5.1",
                          "PID|1||OTHER^^^&1.2&ISO^MR", "PV1|1|O"])"}};
  // clang-format on
  for (const auto& [name, value] : names)
    for (std::size_t at; (at = text.find(name)) != std::string::npos;) text.replace(at, name.size(), value);
  return text;
}

TEST_CASE("conformance mllp: every framing and expectation against a receiver that follows the standard") {
  standard_logic logic;
  fake_receiver rx([&logic](const std::string& m) { return logic(m); }, 2048);
  hearth::test::temp_dir dir("hearth-mllp-suite-test");
  const conf::suite_result r = conf::run_mllp_suite(dir.write("kinds.json", kinds_suite()), options_for(rx.port()));
  INFO(failures(r));
  CHECK(r.error.empty());
  CHECK(r.cases.size() == 10);
  CHECK(r.count(conf::outcome::passed) == 10);
}

#ifdef HEARTH_WITH_SERVER_HTTP
// The production client (hearth::server_http, linked when built).

TEST_CASE("conformance mllp: the same suite through mllp_raw_connect, the production stream") {
  standard_logic logic;
  fake_receiver rx([&logic](const std::string& m) { return logic(m); }, 2048);
  hearth::test::temp_dir dir("hearth-mllp-suite-test");
  conf::mllp_suite_options o = options_for(rx.port());
  o.connect = hearth::server::mllp_raw_connect;
  const conf::suite_result r = conf::run_mllp_suite(dir.write("kinds.json", kinds_suite()), o);
  INFO(failures(r));
  CHECK(r.error.empty());
  CHECK(r.count(conf::outcome::passed) == 10);
}

TEST_CASE("conformance mllp: mllp_raw_exchange writes chunks as given and collects the blocks") {
  standard_logic logic;
  fake_receiver rx([&logic](const std::string& m) { return logic(m); }, 2048);
  mllp_client_options o;
  o.host = "127.0.0.1";
  o.port = rx.port();
  o.timeout = std::chrono::seconds(10);
  const std::string message =
      "MSH|^~\\&|TEST|TEST|R|R|20260101||ADT^A04^ADT_A01|RAW1|P|2.5.1\rPID|1||X^^^&1.2&ISO^MR\rPV1|1|O\r";
  const std::string block = hearth::hl7v2::mllp_encode(message);

  // A block in two writes with a pause between: one answer, for the message.
  auto split = hearth::server::mllp_raw_exchange(
      o, {{block.substr(0, 7), std::chrono::milliseconds(20)}, {block.substr(7), {}}}, 1);
  REQUIRE(split);
  REQUIRE(split->frames.size() == 1);
  CHECK(split->frames[0].find("MSA|AA|RAW1\r") != std::string::npos);
  CHECK_FALSE(split->closed);

  // A block never ended: nothing within the wait, the connection open.
  auto unended = hearth::server::mllp_raw_exchange(o, {{block.substr(0, block.size() - 2), {}}}, 0,
                                                   std::chrono::milliseconds(100));
  REQUIRE(unended);
  CHECK(unended->frames.empty());
  CHECK_FALSE(unended->closed);

  // Nobody listening: an error, not a reply.
  mllp_client_options nowhere = o;
  nowhere.port = 1;
  auto refused = hearth::server::mllp_raw_exchange(nowhere, {{block, {}}}, 1);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "unavailable");
}

TEST_CASE("conformance mllp: mllp_raw_exchange reports a receiver closing mid-write as closed, not an error") {
  standard_logic logic;
  fake_receiver rx([&logic](const std::string& m) { return logic(m); }, 2048, /*close_on_oversize=*/true);
  mllp_client_options o;
  o.host = "127.0.0.1";
  o.port = rx.port();
  o.timeout = std::chrono::seconds(10);
  const std::string big = "\x0bMSH|^~\\&|T|T|R|R|||ADT^A04|BIG|P|2.5.1\rNTE|1||" + std::string(1u << 20, 'X') + "\r\x1c\r";
  auto r = hearth::server::mllp_raw_exchange(o, {{big, {}}}, 1);
  REQUIRE(r);
  CHECK(r->closed);
  CHECK(r->frames.empty());
}
#endif

TEST_CASE("conformance mllp: a receiver closing on an oversized block meets orClosed, and the next step reconnects") {
  standard_logic logic;
  fake_receiver rx([&logic](const std::string& m) { return logic(m); }, 2048, /*close_on_oversize=*/true);
  hearth::test::temp_dir dir("hearth-mllp-suite-test");
  const fs::path file = dir.write(
      "big.json", std::string(R"({"name": "big", "cases": [
    {"name": "closed accepted", "steps": [
        {"message": )") +
                      adt +
                      R"(, "framing": {"kind": "oversized", "size": 100000}, "expect": {"ack": "AR", "orClosed": true}},
        {"message": )" +
                      adt + R"(, "expect": {"ack": "AA"}}]},
    {"name": "closed expected", "steps": [
        {"message": )" +
                      adt + R"(, "framing": {"kind": "oversized", "size": 100000}, "expect": {"closed": true}}]},
    {"name": "answer expected", "steps": [
        {"message": )" +
                      adt + R"(, "framing": {"kind": "oversized", "size": 100000}, "expect": {"ack": "AR"}}]}
  ]})");
  const conf::suite_result r = conf::run_mllp_suite(file, options_for(rx.port()));
  INFO(failures(r));
  REQUIRE(r.cases.size() == 3);
  CHECK(r.cases[0].status == conf::outcome::passed);
  CHECK(r.cases[1].status == conf::outcome::passed);
  CHECK(r.cases[2].status == conf::outcome::failed);
  CHECK(r.cases[2].message.find("closed the connection without answering") != std::string::npos);
  CHECK(rx.connections() == 4);  // one per case, and one more after the close
}

TEST_CASE("conformance mllp: a failed case reports what was sent, what came back, expected and actual") {
  fake_receiver rx([](const std::string& m) { return std::vector<std::string>{ack_text(segments(m)[0], "AA", "")}; });
  hearth::test::temp_dir dir("hearth-mllp-suite-test");
  const fs::path file = dir.write("wrong.json", std::string(R"({"name": "wrong", "cases": [
    {"name": "wants CA", "steps": [{"message": )") + with_msh("ADT^A04^ADT_A01|${controlId}|P|2.5.1|||AL|NE") +
                                                    R"(, "expect": {"ack": "CA"}}]},
    {"name": "wants silence", "steps": [{"message": )" +
                                                    with_msh("ADT^A04^ADT_A01|${controlId}|P|2.5.1|||NE|NE") +
                                                    R"(, "expect": {"noAnswer": true}}]},
    {"name": "wants one answer", "steps": [{"message": )" +
                                                    adt + R"(, "expect": {"ack": "AA", "quietMs": 100}}]}
  ]})");
  // The same "one answer only" check, given all the time a second answer
  // could need: the case ends as soon as it comes.
  const fs::path patient = dir.write("patient.json", std::string(R"({"name": "patient", "cases": [
    {"name": "wants one answer", "steps": [{"message": )") +
                                                         adt + R"(, "expect": {"ack": "AA", "quietMs": 60000}}]}
  ]})");
  fake_receiver twice([](const std::string& m) {
    const std::string a = ack_text(segments(m)[0], "AA", "");
    return std::vector<std::string>{a, a};
  });
  const conf::suite_result r = conf::run_mllp_suite(file, options_for(rx.port()));
  REQUIRE(r.cases.size() == 3);
  const conf::case_result& ca = r.cases[0];
  CHECK(ca.status == conf::outcome::failed);
  CHECK(ca.message == "step 1: MSA-1 is 'AA', expected CA");
  CHECK(ca.expected.find("MSA-1 CA") != std::string::npos);
  CHECK(ca.actual.find("MSA-1 AA") != std::string::npos);
  CHECK(ca.request.find("MSH|^~\\&|TEST|TEST|RECEIVER|RECEIVER|") != std::string::npos);
  CHECK(ca.request.find("|testrun00001.") != std::string::npos);  // ${controlId} replaced
  CHECK(ca.request.find("${") == std::string::npos);
  CHECK(ca.response.find("MSA|AA|testrun00001.") != std::string::npos);
  CHECK(r.cases[1].status == conf::outcome::failed);
  CHECK(r.cases[1].message.find("expected no answer, got one") != std::string::npos);
  // One answer, then silence for quietMs: passed.
  CHECK(r.cases[2].status == conf::outcome::passed);

  // A receiver answering twice fails "quiet" as soon as the second answer comes.
  const conf::suite_result r2 = conf::run_mllp_suite(patient, options_for(twice.port()));
  REQUIRE(r2.cases.size() == 1);
  CHECK(r2.cases[0].status == conf::outcome::failed);
  CHECK(r2.cases[0].message.find("answered more than once") != std::string::npos);
}

TEST_CASE("conformance mllp: the shipped suites pass against a standard receiver, without FHIR checks") {
  standard_logic logic;
  fake_receiver rx([&logic](const std::string& m) { return logic(m); });
  for (const char* name : {"malformed", "duplicates", "batches"}) {
    CAPTURE(name);
    const conf::suite_result r = conf::run_mllp_suite(shipped(name), options_for(rx.port()));
    INFO(failures(r));
    CHECK(r.error.empty());
    CHECK(r.count(conf::outcome::failed) == 0);
    CHECK(r.count(conf::outcome::passed) > 0);
    // Cases with FHIR checks need a FHIR base: skipped, saying so.
    for (const conf::case_result& c : r.cases)
      if (c.status == conf::outcome::skipped) CHECK(c.message.find("FHIR base") != std::string::npos);
  }
}

TEST_CASE("conformance mllp: the shipped suites fail against a receiver answering AA to everything") {
  fake_receiver rx([](const std::string& m) {
    const auto segs = segments(m);
    return std::vector<std::string>{ack_text(segs.empty() ? std::string("MSH|^~\\&") : segs[0], "AA", "")};
  });
  const conf::suite_result errors = conf::run_mllp_suite(shipped("malformed"), options_for(rx.port()));
  CHECK(errors.error.empty());
  for (const char* c : {"no-msh-segment", "bad-encoding-characters", "unknown-message-type", "unsupported-version"}) {
    CAPTURE(c);
    const conf::case_result* cr = find_case(errors, c);
    REQUIRE(cr != nullptr);
    CHECK(cr->status == conf::outcome::failed);
  }
  const conf::suite_result dups = conf::run_mllp_suite(shipped("duplicates"), options_for(rx.port()));
  const conf::case_result* different = find_case(dups, "same-control-id-different-bytes");
  REQUIRE(different != nullptr);
  CHECK(different->status == conf::outcome::failed);
  CHECK(different->message.find("MSA-1 is 'AA'") != std::string::npos);
  const conf::suite_result acks = conf::run_mllp_suite(shipped("ack-modes"), options_for(rx.port()));
  CHECK(acks.count(conf::outcome::failed) > 0);
  const conf::suite_result batches = conf::run_mllp_suite(shipped("batches"), options_for(rx.port()));
  CHECK(batches.count(conf::outcome::failed) > 0);
}

TEST_CASE("conformance mllp: the ack-modes suite fails against a receiver ignoring the enhanced mode") {
  standard_logic original_only(/*original_only=*/true);
  fake_receiver rx([&original_only](const std::string& m) { return original_only(m); });
  const conf::suite_result r = conf::run_mllp_suite(shipped("ack-modes"), options_for(rx.port()));
  INFO(failures(r));
  CHECK(r.error.empty());
  // Original mode is what it does right; every enhanced-mode case fails.
  for (const conf::case_result& c : r.cases) {
    CAPTURE(c.name);
    CHECK(c.status == (c.name.starts_with("original-") ? conf::outcome::passed : conf::outcome::failed));
  }
}

// --- FHIR checks --------------------------------------------------------------

TEST_CASE("conformance mllp: FHIR checks: status, FHIRPath, no base, no definitions") {
  auto defs = hearth::fhir::definitions::load(HEARTH_DEFINITIONS_DIR);
  REQUIRE(defs);
  standard_logic logic;
  fake_receiver rx([&logic](const std::string& m) { return logic(m); });
  hearth::test::temp_dir dir("hearth-mllp-suite-test");
  const fs::path file = dir.write("stored.json", std::string(R"({"name": "stored", "cases": [
    {"name": "found", "steps": [{"message": )") + adt +
                                                     R"(, "expect": {"ack": "AA"}}],
     "fhir": [{"get": "Patient?identifier=urn:oid:2.16.840.1.113883.3.999|MRN${runId}",
               "expressions": ["Bundle.entry.count() = 1", "Bundle.entry.resource.identifier.value = 'MRN${runId}'"]}]},
    {"name": "wrong value", "steps": [{"message": )" +
                                                     adt + R"(, "expect": {"ack": "AA"}}],
     "fhir": [{"get": "Patient?identifier=x", "expressions": ["Bundle.entry.resource.gender = 'male'"]}]},
    {"name": "wrong status", "steps": [{"message": )" +
                                                     adt + R"(, "expect": {"ack": "AA"}}],
     "fhir": [{"get": "Patient/nothing", "status": 200}]}
  ]})");
  std::vector<std::string> urls;
  conf::mllp_suite_options o = options_for(rx.port());
  o.fhir_base = "http://fhir.test/base/";
  o.token = "secret-token";
  o.definitions = &*defs;
  o.http = [&urls](const conf::client_request& req) -> hearth::result<conf::client_response> {
    urls.push_back(req.url);
    bool bearer = false;
    for (const auto& [k, v] : req.headers) bearer = bearer || (k == "Authorization" && v == "Bearer secret-token");
    conf::client_response resp;
    resp.status = req.url.find("/Patient/nothing") != std::string::npos ? 404 : bearer ? 200 : 401;
    resp.body = R"({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Patient",
      "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.999", "value": "MRNtestrun00001"}], "gender": "female"}}]})";
    return resp;
  };
  const conf::suite_result r = conf::run_mllp_suite(file, o);
  INFO(failures(r));
  REQUIRE(r.cases.size() == 3);
  CHECK(r.cases[0].status == conf::outcome::passed);
  REQUIRE(!urls.empty());
  // The base's trailing slash dropped, ${runId} replaced, "|" percent-encoded (RFC 3986).
  CHECK(urls[0] == "http://fhir.test/base/Patient?identifier=urn:oid:2.16.840.1.113883.3.999%7CMRNtestrun00001");
  CHECK(r.cases[1].status == conf::outcome::failed);
  CHECK(r.cases[1].message.find("gave {false}") != std::string::npos);
  CHECK(r.cases[1].response.find("\"gender\": \"female\"") != std::string::npos);
  CHECK(r.cases[2].status == conf::outcome::failed);
  CHECK(r.cases[2].message.find("answered 404, expected 200") != std::string::npos);
  CHECK(r.cases[2].request.find("Bearer ...") != std::string::npos);  // the token is not in the report
  CHECK(r.cases[2].request.find("secret-token") == std::string::npos);

  o.definitions = nullptr;
  const conf::suite_result no_defs = conf::run_mllp_suite(file, o);
  REQUIRE(no_defs.cases.size() == 3);
  CHECK(no_defs.cases[0].status == conf::outcome::failed);
  CHECK(no_defs.cases[0].message.find("no FHIR definitions") != std::string::npos);

  o.fhir_base.clear();
  const conf::suite_result no_base = conf::run_mllp_suite(file, o);
  REQUIRE(no_base.cases.size() == 3);
  for (const conf::case_result& c : no_base.cases) {
    CHECK(c.status == conf::outcome::skipped);
    CHECK(c.message.find("FHIR base") != std::string::npos);
  }
}

TEST_CASE("conformance mllp: retrySeconds makes a FHIR check again until it holds or time is up") {
  auto defs = hearth::fhir::definitions::load(HEARTH_DEFINITIONS_DIR);
  REQUIRE(defs);
  standard_logic logic;
  fake_receiver rx([&logic](const std::string& m) { return logic(m); });
  hearth::test::temp_dir dir("hearth-mllp-suite-test");
  const auto suite = [&](const char* retry) {
    return dir.write("later.json", std::string(R"({"name": "later", "cases": [
      {"name": "written after the ACK", "steps": [{"message": )") + adt +
                                           R"(, "expect": {"ack": "AA"}}],
       "fhir": [{"get": "Patient?identifier=x", )" + retry +
                                           R"("expressions": ["Bundle.entry.count() = 1"]}]}]})");
  };
  // A receiver that acknowledges first: the Patient appears on the third search.
  int searches = 0;
  conf::mllp_suite_options o = options_for(rx.port());
  o.fhir_base = "http://fhir.test";
  o.definitions = &*defs;
  o.http = [&searches](const conf::client_request&) -> hearth::result<conf::client_response> {
    conf::client_response resp;
    resp.status = 200;
    resp.body = ++searches >= 3 ? R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient"}}]})"
                                : R"({"resourceType":"Bundle","type":"searchset"})";
    return resp;
  };
  const conf::suite_result patient = conf::run_mllp_suite(suite(R"("retrySeconds": 5, )"), o);
  INFO(failures(patient));
  CHECK(patient.cases.at(0).status == conf::outcome::passed);
  CHECK(searches == 3);

  searches = 0;
  const conf::suite_result at_once = conf::run_mllp_suite(suite(""), o);
  CHECK(at_once.cases.at(0).status == conf::outcome::failed);
  CHECK(searches == 1);

  CHECK_FALSE(conf::run_mllp_suite(suite(R"("retrySeconds": 61, )"), o).error.empty());
}
