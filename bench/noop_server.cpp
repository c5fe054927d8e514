// bench/noop_server: the baseline of bench/rest. An HTTP/1.1 keep-alive
// server that answers every request with one fixed body (a Patient's JSON,
// read from a file), built with the same flags as hearth and with the
// threading model of hearth's listener (server/src/http/http_listener.cpp):
// io threads run the event loop, one strand per connection, each request is
// handed to a worker pool and its answer handed back to the strand to be
// written. What it leaves out is everything hearth does per request
// (routing, the pipeline, the database), so hearth's read-by-id rate over
// this one's, at the same body size, is the share of the ceiling it reaches.
//
//   noop_server BODY_FILE [--port N] [--io-threads N] [--worker-threads N]
//
// Prints "http listening on 127.0.0.1:PORT" (as `hearth serve` does) once it
// accepts connections; stops on SIGTERM or SIGINT. Loopback only.

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// The limits and deadlines of hearth's defaults (server_config.hpp), so that
// the parser does the same work per request.
constexpr std::size_t max_header_bytes = 8u << 10;
constexpr std::size_t max_body_bytes = 16u << 20;
constexpr std::chrono::seconds read_timeout{30};
constexpr std::chrono::seconds write_timeout{30};
constexpr std::chrono::seconds keep_alive_timeout{60};
/// Largest body file: a Patient is a few KiB; this only stops a wrong path
/// (a database, a log) from being read whole.
constexpr std::uintmax_t max_body_file_bytes = 16u << 20;

/// One client connection. Lifetime: owned by the handlers in flight (shared
/// from this); the worker pool and the body outlive every connection (main
/// joins the io threads before they go). Thread-safety: every member is used
/// on the connection's strand only, but for body_ (read-only) in the worker.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(tcp::socket&& socket, net::thread_pool& workers, const std::string& body)
      : stream_(std::move(socket)), workers_(workers), body_(body) {}

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(max_header_bytes));
    parser_->body_limit(max_body_bytes);
    stream_.expires_after(first_ ? read_timeout : keep_alive_timeout);
    first_ = false;
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return shut();  // end of stream, timeout, or a request it cannot read: the bench sends none
    keep_alive_ = parser_->get().keep_alive();
    // As in hearth: the answer is made on a worker, written from the strand.
    net::post(workers_, [self = shared_from_this()] {
      std::string body = self->body_;  // hearth, too, makes a fresh body per answer
      net::post(self->stream_.get_executor(),
                [self, body = std::move(body)]() mutable { self->write(std::move(body)); });
    });
  }

  void write(std::string&& body) {
    res_ = {};
    res_.version(11);
    res_.result(http::status::ok);
    res_.set(http::field::content_type, "application/fhir+json; charset=utf-8");
    res_.body() = std::move(body);
    res_.keep_alive(keep_alive_);
    res_.prepare_payload();
    stream_.expires_after(write_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || !self->res_.keep_alive()) return self->shut();
      self->read();
    });
  }

  void shut() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  net::thread_pool& workers_;
  const std::string& body_;
  bool keep_alive_ = false;
  bool first_ = true;
};

/// Accepts connections until the acceptor is closed.
void accept(tcp::acceptor& acceptor, net::io_context& ioc, net::thread_pool& workers, const std::string& body) {
  acceptor.async_accept(net::make_strand(ioc), [&](beast::error_code ec, tcp::socket socket) {
    if (!ec) std::make_shared<connection>(std::move(socket), workers, body)->start();
    if (acceptor.is_open()) accept(acceptor, ioc, workers, body);
  });
}

/// A whole number from `min` to `max`, or nullopt.
std::optional<std::size_t> number(std::string_view s, std::size_t min, std::size_t max) {
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || n < min || n > max) return std::nullopt;
  return n;
}

int usage() {
  std::cerr << "usage: noop_server BODY_FILE [--port N] [--io-threads N] [--worker-threads N]\n"
               "  answers every HTTP request with BODY_FILE as application/fhir+json;\n"
               "  defaults: port 0 (a free one), 1 io thread and max(2, cores) workers, as hearth serve\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || args[0].starts_with("--")) return usage();
  std::size_t port = 0;
  std::size_t io_threads = 1;
  std::size_t worker_threads = std::max<std::size_t>(2, std::thread::hardware_concurrency());
  for (std::size_t i = 1; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return usage();
    std::optional<std::size_t> v;
    if (args[i] == "--port") {
      v = number(args[i + 1], 0, 65535);
      if (v) port = *v;
    } else if (args[i] == "--io-threads") {
      v = number(args[i + 1], 1, 64);  // the ranges of hearth serve's flags
      if (v) io_threads = *v;
    } else if (args[i] == "--worker-threads") {
      v = number(args[i + 1], 1, 1024);
      if (v) worker_threads = *v;
    }
    if (!v) return usage();
  }

  std::error_code fs_ec;
  const std::filesystem::path body_file(args[0]);
  const auto size = std::filesystem::file_size(body_file, fs_ec);
  if (fs_ec || size > max_body_file_bytes) {
    std::cerr << "noop_server: " << body_file.string() << ": not a readable file of at most 16 MiB\n";
    return 1;
  }
  std::ifstream in(body_file, std::ios::binary);
  const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  try {
    net::io_context ioc;
    net::thread_pool workers(worker_threads);
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(port)));
    net::signal_set signals(ioc, SIGTERM, SIGINT);
    signals.async_wait([&](beast::error_code, int) {
      beast::error_code ec;
      acceptor.close(ec);
      ioc.stop();  // connections are dropped: the bench has finished with it
    });
    const std::uint16_t bound = acceptor.local_endpoint().port();
    accept(acceptor, ioc, workers, body);
    std::vector<std::thread> threads;
    for (std::size_t n = 0; n < io_threads; ++n) threads.emplace_back([&ioc] { ioc.run(); });
    std::cout << "http listening on 127.0.0.1:" << bound << std::endl;
    for (std::thread& t : threads) t.join();
    workers.stop();
    workers.join();
  } catch (const std::exception& e) {
    std::cerr << "noop_server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
