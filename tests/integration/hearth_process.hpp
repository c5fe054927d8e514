#pragma once
// Integration tests: a real `hearth serve` started on port 0 in a temporary
// data directory, and a small blocking HTTP/1.1 client to talk to it over a
// socket (issue 5: "Integration tests start a real hearth serve on port 0").

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace hearth::test {

/// What a `hearth` command run to its end printed, and how it ended.
struct command_output {
  int status = -1;  ///< exit status; 128 + signal when killed; -1 when it did not end in time (then killed)
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

/// Runs `hearth ARGS...` (no shell) and waits for it, at most `limit`.
inline command_output run_hearth(const std::vector<std::string>& args,
                                 std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  int out[2];
  int err[2];
  if (::pipe(out) != 0 || ::pipe(err) != 0) throw std::runtime_error("pipe");
  std::vector<std::string> argv_s{HEARTH_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    ::close(out[0]);
    ::close(err[0]);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  command_output r;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool out_open = true, err_open = true, timed_out = false;
  while (out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    if (::poll(p, 2, static_cast<int>(std::min<long long>(left.count(), 100))) <= 0) continue;
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      if (p[i].revents == 0) continue;
      const ssize_t n = ::read(i == 0 ? out[0] : err[0], buf, sizeof buf);
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  if (timed_out) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    r.status = -1;
    return r;
  }
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

/// The scopes of the token hearth_process gets by default: everything
/// (`*` covers every type but AuditEvent, which only an explicit scope may
/// read).
inline constexpr const char* default_test_scope = "system/*.cruds system/AuditEvent.rs";

/// `hearth serve --http-port 0 --data <temp dir> [extra flags]`, stopped
/// with SIGTERM (and the directory removed) on destruction.
///
/// Authorisation is on, as by default: once the server listens, a token is
/// minted for its base URL with `hearth token` (scope `scope`) and
/// connections made with http_connection(server) send it. With
/// "--insecure-no-auth" among the flags, no token is minted.
class hearth_process {
 public:
  explicit hearth_process(std::vector<std::string> extra = {}, std::string scope = default_test_scope) {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("hearth-serve-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000));
    std::filesystem::create_directories(dir_);
    scope_ = std::move(scope);
    launch(std::move(extra));
  }

  /// Stops the server at once (SIGKILL: no shutdown, nothing flushed), as a
  /// crash or a power cut would.
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  /// Starts the server again on the same data directory (after kill_now()
  /// or terminate() and wait_exit()), with `extra` flags; a new port and,
  /// unless --insecure-no-auth, a new token.
  void restart(std::vector<std::string> extra = {}) {
    if (pid_ > 0) throw std::runtime_error("restart: the server is still running");
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    stdout_fd_ = -1;
    tls_ = false;
    token_.clear();
    launch(std::move(extra));
  }

  /// The port of "LABEL listening on HOST:PORT" in the start-up output
  /// ("mllp"); 0 when there is no such line.
  std::uint16_t listening_port(const std::string& label) const {
    const auto at = startup_.find(label + " listening on ");
    if (at == std::string::npos) return 0;
    const auto eol = startup_.find('\n', at);
    const std::string line = startup_.substr(at, eol - at);
    return static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  }

 private:
  void launch(std::vector<std::string> extra) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    std::vector<std::string> args{HEARTH_BINARY, "serve", "--http-port", "0", "--data", (dir_ / "data").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      // The server's log lines: kept out of the test's output.
      const int devnull = ::open((dir_ / "stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (devnull >= 0) ::dup2(devnull, STDERR_FILENO);
      ::close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_fd_ = out[0];
    port_ = wait_for_port(std::chrono::seconds(30));
    const bool insecure = std::find(extra.begin(), extra.end(), "--insecure-no-auth") != extra.end();
    if (!insecure) {
      const command_output minted = mint({"--scope", scope_});
      if (minted.status != 0) throw std::runtime_error("hearth token failed: " + minted.err);
      token_ = minted.out.substr(0, minted.out.find('\n'));
    }
  }

 public:

  ~hearth_process() {
    if (pid_ > 0) {
      terminate();
      wait_exit(std::chrono::seconds(30));
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  hearth_process(const hearth_process&) = delete;
  hearth_process& operator=(const hearth_process&) = delete;

  std::uint16_t port() const { return port_; }
  /// The base URL the server serves (and its tokens are for).
  std::string base_url() const { return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_); }
  /// The token minted at start; empty with --insecure-no-auth.
  const std::string& token() const { return token_; }
  /// The server's first stdout lines, up to the "listening" line.
  const std::string& startup_output() const { return startup_; }
  /// `hearth token --data <this server's data> --base-url <base_url()> ARGS...`
  /// (a --base-url in `args` wins).
  command_output mint(std::vector<std::string> args) const {
    std::vector<std::string> a{"token", "--data", (dir_ / "data").string()};
    if (std::find(args.begin(), args.end(), "--base-url") == args.end()) a.insert(a.end(), {"--base-url", base_url()});
    a.insert(a.end(), args.begin(), args.end());
    return run_hearth(a);
  }
  /// The server said "https listening on" (a certificate was configured).
  bool tls() const { return tls_; }
  const std::filesystem::path& dir() const { return dir_; }

  void terminate() { if (pid_ > 0) ::kill(pid_, SIGTERM); }

  /// The exit status once the process ended (-1: still running after
  /// `limit`, then killed).
  int wait_exit(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
  }

 private:
  /// Reads stdout until "http listening on HOST:PORT" (or "https listening
  /// on HOST:PORT" when serving HTTPS).
  std::uint16_t wait_for_port(std::chrono::seconds limit) {
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{stdout_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
      if (n <= 0) break;
      seen.append(buf, static_cast<std::size_t>(n));
      auto at = seen.find("http listening on ");
      if (at == std::string::npos) {
        at = seen.find("https listening on ");
        tls_ = at != std::string::npos;
      }
      const auto eol = at == std::string::npos ? std::string::npos : seen.find('\n', at);
      if (eol != std::string::npos) {
        startup_ = seen.substr(0, eol + 1);
        const std::string line = seen.substr(at, eol - at);
        return static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
      }
    }
    throw std::runtime_error("hearth serve did not print its port; stdout: " + seen);
  }

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::uint16_t port_ = 0;
  bool tls_ = false;
  std::string token_;
  std::string startup_;
  std::string scope_;
};

struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< names lower-cased
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

/// One keep-alive connection to 127.0.0.1:port.
class http_connection {
 public:
  /// To `server`, sending its token (if it has one) with every request
  /// that does not bring its own Authorization header.
  explicit http_connection(const hearth_process& server) : http_connection(server.port()) {
    if (!server.token().empty()) bearer_ = server.token();
  }
  /// To `port`, with no Authorization header of its own.
  explicit http_connection(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("connect");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~http_connection() { if (fd_ >= 0) ::close(fd_); }
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  /// Sends raw bytes (for malformed requests).
  void send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  http_reply request(const std::string& method, const std::string& target, const std::string& body = {},
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    bool has_authorization = false;
    for (const auto& [k, v] : headers) {
      req += k + ": " + v + "\r\n";
      has_authorization = has_authorization || k == "Authorization" || k == "authorization";
    }
    if (!bearer_.empty() && !has_authorization) req += "Authorization: Bearer " + bearer_ + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT") {
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n" + body;
    send_raw(req);
    return read_reply(std::chrono::seconds(30), method == "HEAD");
  }

  /// Reads one response (Content-Length framed, as the server sends them;
  /// none after a HEAD request, whose Content-Length is the GET's: RFC 9110
  /// 9.3.2); status 0 when the connection closed first.
  http_reply read_reply(std::chrono::seconds limit = std::chrono::seconds(30), bool no_body = false) {
    http_reply r;
    std::size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(limit)) return r;
    }
    const std::string head = buf_.substr(0, header_end);
    buf_.erase(0, header_end + 4);
    std::size_t pos = head.find("\r\n");
    r.status = std::stoi(head.substr(9, 3));
    while (pos != std::string::npos && pos < head.size()) {
      const std::size_t next = head.find("\r\n", pos + 2);
      const std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers[name] = value;
      }
      pos = next;
    }
    const std::size_t length =
        !no_body && r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (buf_.size() < length) {
      if (!fill(limit)) break;
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, std::min(length, buf_.size()));
    return r;
  }

  /// True when the server closed the connection (within `limit`).
  bool closed_by_peer(std::chrono::seconds limit) { return !fill(limit) && buf_.empty(); }

 private:
  bool fill(std::chrono::seconds limit) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(limit).count())) <= 0) return false;
    char tmp[65536];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buf_;
  std::string bearer_;  ///< sent unless the request has its own Authorization
};

}  // namespace hearth::test
