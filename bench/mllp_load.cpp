// bench/mllp_load: the load of bench/mllp (run by bench/run_mllp; results in
// bench/RESULTS.md). HL7 v2 ORU^R01 lab results over MLLP (HL7 v2.5.1
// Appendix C; MLLP Release 1 "Block Format"), each on a persistent TCP
// connection, one message in flight per connection: MLLP is
// request/response, the sender waits for each ACK before the next message.
//
//   mllp_load --host H --port P [--connections N] [--seconds S]
//             [--messages-per-connection M] [--patients K]
//   mllp_load --print-messages N [--patients K]
//
// Each message: MSH (original acknowledgment mode: MSH-15/16 empty, one
// application ACK), PID, PV1, ORC, OBR and 10 OBX, a complete blood count
// with NM values, UCUM units, reference ranges and abnormal flags (HL7 table
// 0078), values drawn at random around the normal ranges. MSH-10 is unique
// per message (a run tag, the connection and a sequence number), and so are
// OBR-2 and OBR-3 (placer and filler numbers); PID-3 is an MRN from a pool of
// --patients (default 1000) with an OID assigning authority
// (MRN^^^LAB&2.16.840.1.113883.3.999&ISO^MR), so that patients recur and
// identity is resolved against what earlier messages created.
//
// Each of the N threads opens one connection (plain POSIX sockets, TCP_NODELAY)
// and sends until S seconds have passed or M messages have gone (whichever
// comes first; M = 0: no limit), waiting for each answer, counting answers
// by MSA-1. Latency: from the first byte written to the answer's FS read.
//
// Output: lines for people, then one JSON line starting with {"bench_mllp"
// for scripts. Exit status: 0 when every message was answered AA; 1 when any
// answer was not AA (a benchmark of errors is worthless), a connection failed
// or timed out (30 s per answer), or no message was answered at all; 2 on a
// usage error. --print-messages writes N messages (segments ended by CR, a
// LF after each message) to stdout and sends nothing: to check that they
// convert (`mllp_load --print-messages 1 | hearth hl7 convert -`).

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>    // inet_pton
#include <netdb.h>        // getaddrinfo
#include <netinet/in.h>   // sockaddr_in
#include <netinet/tcp.h>  // TCP_NODELAY
#include <sys/socket.h>
#include <sys/time.h>  // timeval
#include <unistd.h>    // close, read, write, getpid

#include <hearth/hl7v2/mllp_frame.hpp>

namespace {

using clock_type = std::chrono::steady_clock;

/// Largest answer accepted: an ACK is a few hundred bytes; an answer past
/// this means the peer is not answering with ACKs, and the run is void.
constexpr std::size_t max_answer_bytes = 1u << 20;
/// Deadline for each answer (SO_RCVTIMEO) and write (SO_SNDTIMEO): hearth's
/// own write_timeout; a server that stops answering ends the run, not hangs it.
constexpr int io_timeout_seconds = 30;
/// The assigning authority of PID-3: HD.2 an OID, HD.3 ISO, which the
/// mapping turns into Identifier.system urn:oid:... without configuration.
constexpr std::string_view mrn_authority = "LAB&2.16.840.1.113883.3.999&ISO";

/// One test of the panel: LOINC code and display, UCUM unit and its text, the
/// normal range, and the spread of the values drawn (a normal distribution
/// around the middle of the range, so a share of them are flagged).
struct analyte {
  const char* code;
  const char* display;
  const char* unit;
  const char* unit_text;
  double low;
  double high;
  int decimals;
};

/// A complete blood count with differential (LOINC panel 58410-2): 10 OBX.
constexpr analyte cbc[] = {
    {"6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", "thousand per microliter", 4.0, 10.5,
     1},
    {"789-8", "Erythrocytes [#/volume] in Blood by Automated count", "10*6/uL", "million per microliter", 4.50, 5.90,
     2},
    {"718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", "gram per deciliter", 13.5, 17.5, 1},
    {"4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%", "percent", 41.0, 53.0, 1},
    {"787-2", "MCV [Entitic volume] by Automated count", "fL", "femtoliter", 80.0, 100.0, 1},
    {"785-6", "MCH [Entitic mass] by Automated count", "pg", "picogram", 26.0, 34.0, 1},
    {"786-4", "MCHC [Mass/volume] by Automated count", "g/dL", "gram per deciliter", 31.0, 37.0, 1},
    {"788-0", "Erythrocyte distribution width [Ratio] by Automated count", "%", "percent", 11.5, 14.5, 1},
    {"777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", "thousand per microliter", 150, 400, 0},
    {"770-8", "Neutrophils/100 leukocytes in Blood by Automated count", "%", "percent", 40.0, 75.0, 1},
};

constexpr const char* family_names[] = {"SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER",
                                        "DAVIS", "RODRIGUEZ", "MARTINEZ", "HERNANDEZ", "LOPEZ", "GONZALEZ"};
constexpr const char* given_names[] = {"JAMES", "MARY", "ROBERT", "PATRICIA", "JOHN", "JENNIFER", "MICHAEL",
                                       "LINDA", "DAVID", "ELIZABETH", "WILLIAM", "BARBARA"};

/// The fixed-width decimal of `v` with `decimals` places.
std::string decimal(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

/// Makes the messages of one connection. Thread-safety: none; one per thread.
class message_maker {
 public:
  /// `tag`: the run's tag (5 characters), `connection`: 0..999, `patients`:
  /// the size of the MRN pool; `seed`: the values drawn.
  message_maker(std::string tag, unsigned connection, unsigned patients, std::uint64_t seed)
      : tag_(std::move(tag)), connection_(connection), patients_(patients), rng_(seed) {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y%m%d%H%M%S+0000", &utc);
    timestamp_ = ts;
  }

  /// The next message: segments ended by CR.
  std::string next() {
    const std::uint64_t seq = ++sequence_;
    // MSH-10 is ST(20) in v2.5.1: "B" + tag (5) + connection (3) + sequence (10) = 19.
    char control[32];
    std::snprintf(control, sizeof control, "B%s%03u%010llu", tag_.c_str(), connection_,
                  static_cast<unsigned long long>(seq));
    const unsigned patient = std::uniform_int_distribution<unsigned>(1, patients_)(rng_);
    char mrn[16];
    std::snprintf(mrn, sizeof mrn, "MRN%06u", patient);
    // Demographics follow from the MRN: a patient looks the same in every message.
    const char* family = family_names[patient % std::size(family_names)];
    const char* given = given_names[(patient / 7) % std::size(given_names)];
    const char sex = patient % 2 == 0 ? 'F' : 'M';
    char birth[16];
    std::snprintf(birth, sizeof birth, "19%02u%02u%02u", 30 + patient % 70, 1 + patient % 12, 1 + patient % 28);

    std::string m;
    m.reserve(3072);
    m += "MSH|^~\\&|BENCHLAB|LAB^2.16.840.1.113883.3.999^ISO|HEARTH|HEARTH|";
    m += timestamp_;
    m += "||ORU^R01^ORU_R01|";
    m += control;
    m += "|P|2.5.1|||||USA|UNICODE UTF-8\r";
    m += "PID|1||";
    m += mrn;
    m += "^^^";
    m += mrn_authority;
    m += "^MR||";
    m += family;
    m += '^';
    m += given;
    m += "^A||";
    m += birth;
    m += '|';
    m += sex;
    m += "|||";
    m += std::to_string(100 + patient % 900);
    m += " MAIN ST^^SPRINGFIELD^IL^62704^USA^H\r";
    m += "PV1|1|O|LAB^^^LAB||||1467523190^OKAFOR^CHIDI^^^^MD^^^^^^NPI\r";
    // Placer and filler numbers: unique per message, like the control id.
    const std::string order = std::string(control + 1);
    m += "ORC|RE|P" + order + "^EPIC|F" + order + "^LAB||CM||||" + timestamp_ +
         "|||1467523190^OKAFOR^CHIDI^^^^MD^^^^^^NPI\r";
    m += "OBR|1|P" + order + "^EPIC|F" + order +
         "^LAB|58410-2^CBC panel - Blood by Automated count^LN|||" + timestamp_ +
         "|||||||||1467523190^OKAFOR^CHIDI^^^^MD^^^^^^NPI||||||" + timestamp_ + "|||F\r";
    unsigned n = 0;
    for (const analyte& a : cbc) {
      const double mid = (a.low + a.high) / 2;
      const double value = std::max(0.0, std::normal_distribution<double>(mid, (a.high - a.low) / 3)(rng_));
      const std::string text = decimal(value, a.decimals);
      const double shown = std::strtod(text.c_str(), nullptr);  // the flag follows the value as written
      const char* flag = shown < a.low ? "L" : shown > a.high ? "H" : "N";
      m += "OBX|" + std::to_string(++n) + "|NM|" + a.code + '^' + a.display + "^LN||" + text + '|' + a.unit + '^' +
           a.unit_text + "^UCUM|" + decimal(a.low, a.decimals) + '-' + decimal(a.high, a.decimals) + '|' + flag +
           "|||F|||" + timestamp_ + "|||||" + timestamp_ + "\r";
    }
    return m;
  }

 private:
  std::string tag_;          // the run's tag, in every control id
  unsigned connection_;      // this connection's number, in every control id
  unsigned patients_;        // MRNs drawn from 1..patients_
  std::mt19937_64 rng_;      // values and patients
  std::uint64_t sequence_ = 0;  // messages made
  std::string timestamp_;    // MSH-7, ORC-9, OBR-7/22, OBX-14/19: the start of the run, UTC
};

/// What one connection did.
struct connection_result {
  std::map<std::string, std::uint64_t> codes;  // answers by MSA-1 ("AA", "AE", ...; "?" without an MSA)
  std::vector<std::uint32_t> latency_us;       // one per answer
  std::string error;                           // the I/O error that ended it, if one did
  std::string first_bad;                       // the first answer that was not AA (for the report)
};

/// MSA-1 of an ACK, "?" when it has no MSA segment.
std::string msa_code(std::string_view ack) {
  std::size_t at = ack.find("\rMSA|");
  if (at == std::string_view::npos) return "?";
  at += 5;
  const std::size_t end = ack.find_first_of("|\r", at);
  return std::string(ack.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
}

/// A connected socket to host:port, or -1 with `error` set.
int connect_to(const std::string& host, const std::string& port, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    error = std::string("cannot resolve ") + host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  if (fd < 0) {
    error = "cannot connect to " + host + ":" + port;
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // one small block per request: no Nagle delay
  timeval tv{};
  tv.tv_sec = io_timeout_seconds;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

/// One connection's loop: connect, wait for `go`, then send and wait for
/// each answer until `stop` or `limit` messages (0: no limit).
void run_connection(const std::string& host, const std::string& port, message_maker maker, std::uint64_t limit,
                    const std::atomic<bool>& go, const std::atomic<bool>& stop, connection_result& out) {
  const int fd = connect_to(host, port, out.error);
  while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
  if (fd < 0) return;
  hearth::hl7v2::mllp_decoder decoder(max_answer_bytes);
  std::string frame;
  char buf[16384];
  for (std::uint64_t sent = 0; limit == 0 || sent < limit; ++sent) {
    if (stop.load(std::memory_order_relaxed)) break;
    frame.clear();
    hearth::hl7v2::mllp_encode(maker.next(), frame);
    const auto started = clock_type::now();
    for (std::size_t off = 0; off < frame.size();) {
      const ssize_t n = ::send(fd, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        out.error = "write failed or timed out";
        ::close(fd);
        return;
      }
      off += static_cast<std::size_t>(n);
    }
    hearth::hl7v2::mllp_item item;
    bool answered = false;
    while (!answered) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        out.error = n == 0 ? "the server closed the connection" : "no answer within 30 s, or a read error";
        ::close(fd);
        return;
      }
      decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)));
      while (decoder.next(item)) {
        if (item.status != hearth::hl7v2::mllp_status::frame) {
          out.error = "an answer that is not a well-formed MLLP block";
          ::close(fd);
          return;
        }
        answered = true;  // one answer per message: a second one would be answered early, and counted
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - started).count();
        out.latency_us.push_back(static_cast<std::uint32_t>(std::min<long long>(us, UINT32_MAX)));
        const std::string code = msa_code(item.payload);
        ++out.codes[code];
        if (code != "AA" && out.first_bad.empty()) out.first_bad = item.payload;
      }
    }
  }
  ::close(fd);
}

/// A whole number from `min` to `max`, or nullopt.
std::optional<std::uint64_t> number(std::string_view s, std::uint64_t min, std::uint64_t max) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || n < min || n > max) return std::nullopt;
  return n;
}

int usage() {
  std::cerr << "usage: mllp_load --host H --port P [--connections N] [--seconds S] [--messages-per-connection M]\n"
               "                 [--patients K]\n"
               "       mllp_load --print-messages N [--patients K]\n"
               "  ORU^R01 messages with 10 OBX over N persistent MLLP connections (default 1), one in flight\n"
               "  each, for S seconds (default 10) or M messages per connection (0: no limit, the default);\n"
               "  PID-3 drawn from K MRNs (default 1000). Exit 1 if any answer is not AA.\n";
  return 2;
}

/// The percentile `p` (0..100) of sorted `v` (nearest rank).
double percentile_ms(const std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  std::size_t rank = static_cast<std::size_t>(p / 100 * static_cast<double>(v.size()));
  rank = std::min(rank, v.size() - 1);
  return v[rank] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  std::string host, port;
  std::uint64_t connections = 1, seconds = 10, limit = 0, patients = 1000, print = 0;
  for (std::size_t i = 0; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return usage();
    const std::string_view name = args[i], value = args[i + 1];
    std::optional<std::uint64_t> v;
    if (name == "--host") {
      host = value;
      v = 0;
    } else if (name == "--port") {
      if ((v = number(value, 1, 65535))) port = value;
    } else if (name == "--connections") {
      if ((v = number(value, 1, 999))) connections = *v;  // three digits in the control id
    } else if (name == "--seconds") {
      if ((v = number(value, 1, 86400))) seconds = *v;
    } else if (name == "--messages-per-connection") {
      if ((v = number(value, 0, UINT64_MAX))) limit = *v;
    } else if (name == "--patients") {
      if ((v = number(value, 1, 999999))) patients = *v;  // six digits in the MRN
    } else if (name == "--print-messages") {
      if ((v = number(value, 1, 1000000))) print = *v;
    }
    if (!v) return usage();
  }

  // The run's tag: five base-36 digits from the clock and the process id, so
  // that runs against the same database do not repeat a control id (which
  // hearth would take for a resend and answer without processing).
  std::uint64_t t = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
                    (static_cast<std::uint64_t>(::getpid()) << 20);
  t ^= t >> 29;
  t *= 0xbf58476d1ce4e5b9ULL;
  t ^= t >> 32;
  std::string tag;
  for (int i = 0; i < 5; ++i, t /= 36) tag += "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[t % 36];

  if (print != 0) {
    message_maker maker(tag, 0, static_cast<unsigned>(patients), 1);
    for (std::uint64_t i = 0; i < print; ++i) std::cout << maker.next() << '\n';
    return 0;
  }
  if (host.empty() || port.empty()) return usage();

  std::vector<connection_result> results(connections);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false}, stop{false};
  std::atomic<std::uint64_t> finished{0};
  // Connections are opened before the clock starts (the threads wait on `go`).
  for (std::uint64_t c = 0; c < connections; ++c) {
    threads.emplace_back([&, c, maker = message_maker(tag, static_cast<unsigned>(c), static_cast<unsigned>(patients),
                                                      1000 + c)]() mutable {
      run_connection(host, port, std::move(maker), limit, go, stop, results[c]);
      finished.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto started = clock_type::now();
  go.store(true, std::memory_order_release);
  // Until S seconds have passed or every connection has sent its M messages.
  while (finished.load() < connections && clock_type::now() - started < std::chrono::seconds(seconds))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop.store(true);
  for (std::thread& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(clock_type::now() - started).count();

  std::map<std::string, std::uint64_t> codes;
  std::vector<std::uint32_t> latency;
  std::vector<std::string> errors;
  std::string first_bad;
  for (const connection_result& r : results) {
    for (const auto& [code, n] : r.codes) codes[code] += n;
    latency.insert(latency.end(), r.latency_us.begin(), r.latency_us.end());
    if (!r.error.empty()) errors.push_back(r.error);
    if (first_bad.empty()) first_bad = r.first_bad;
  }
  std::sort(latency.begin(), latency.end());
  const std::uint64_t answered = latency.size();
  const std::uint64_t aa = codes.count("AA") != 0 ? codes["AA"] : 0;
  const double rate = elapsed > 0 ? static_cast<double>(answered) / elapsed : 0;
  const double p50 = percentile_ms(latency, 50), p99 = percentile_ms(latency, 99);
  const double max = latency.empty() ? 0 : latency.back() / 1000.0;

  std::printf("mllp_load: %llu connections, %.2f s: %llu messages answered, %.0f messages/s\n",
              static_cast<unsigned long long>(connections), elapsed, static_cast<unsigned long long>(answered), rate);
  std::printf("latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", p50, p99, max);
  std::string code_list, code_json;
  for (const auto& [code, n] : codes) {
    code_list += " " + code + " " + std::to_string(n);
    code_json += std::string(code_json.empty() ? "" : ",") + "\"" + code + "\":" + std::to_string(n);
  }
  std::printf("MSA-1:%s\n", code_list.empty() ? " none" : code_list.c_str());
  for (const std::string& e : errors) std::printf("connection error: %s\n", e.c_str());
  if (!first_bad.empty()) {
    std::string shown = first_bad;
    std::replace(shown.begin(), shown.end(), '\r', '\n');
    std::printf("first answer that was not AA:\n%s\n", shown.c_str());
  }
  std::printf(
      "{\"bench_mllp\":1,\"connections\":%llu,\"seconds\":%.3f,\"messages\":%llu,\"rate\":%.1f,"
      "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"codes\":{%s},\"errors\":%zu,\"not_aa\":%llu}\n",
      static_cast<unsigned long long>(connections), elapsed, static_cast<unsigned long long>(answered), rate, p50,
      p99, max, code_json.c_str(), errors.size(), static_cast<unsigned long long>(answered - aa));
  std::fflush(stdout);
  return answered == 0 || aa != answered || !errors.empty() ? 1 : 0;
}
