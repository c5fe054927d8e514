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

/// `hearth serve --http-port 0 --data <temp dir> [extra flags]`, stopped
/// with SIGTERM (and the directory removed) on destruction.
class hearth_process {
 public:
  explicit hearth_process(std::vector<std::string> extra = {}) {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("hearth-serve-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000));
    std::filesystem::create_directories(dir_);
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
  }

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
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT") {
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n" + body;
    send_raw(req);
    return read_reply();
  }

  /// Reads one response (Content-Length framed, as the server sends them);
  /// status 0 when the connection closed first.
  http_reply read_reply(std::chrono::seconds limit = std::chrono::seconds(30)) {
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
    const std::size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
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
};

}  // namespace hearth::test
