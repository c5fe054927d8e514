// The HTTP listener on Boost.Beast (http_listener.hpp says what it does).
// Structure follows Beast's advanced server example: one session object per
// connection, all of its handlers on one strand; requests go to a thread
// pool for the handler and come back to the strand to be written. One
// session template serves both plain TCP and TLS: they differ only in the
// handshake before the first request and the close after the last.

#include <hearth/server/http_listener.hpp>

#include "tls_server_context.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace hearth::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

/// Longest wait for the TLS close (our close_notify out, the peer's back):
/// both are one small record, so a peer that has not answered in 5 s will
/// not; bounded so that a silent peer cannot hold the connection, or a
/// graceful stop, for long.
constexpr std::chrono::seconds tls_shutdown_timeout{5};

/// An OperationOutcome for what the listener answers itself (a request it
/// could not read, the connection limit): constant texts only.
std::string outcome_json(const char* code, const char* diagnostics) {
  return std::string(R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":")") + code +
         R"(","diagnostics":")" + diagnostics + R"("}]})";
}

/// X-Request-Id as received when it is a plain token (letters, digits,
/// ".-_", 1..64): it goes into logs and the response, so nothing else is
/// taken from the client. Otherwise 16 random hex digits.
std::string request_id_for(std::string_view received) {
  bool ok = !received.empty() && received.size() <= 64;
  for (const char c : received) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '-' || c == '_';
    if (!plain) ok = false;
  }
  if (ok) return std::string(received);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(16, '0');
  std::uint64_t v = rng();
  for (char& c : id) {
    c = hex[v & 0xF];
    v >>= 4;
  }
  return id;
}

hearth::error tls_error(std::string message) {
  return hearth::error{"invalid", std::move(message), {}, hearth::error::npos};
}

/// The server's TLS context (issue: "TLS 1.2+ with OpenSSL when a
/// certificate is configured"), configured as tls_server_context.hpp says.
hearth::result<std::unique_ptr<ssl::context>> make_tls_context(const listener_options& o) {
  return detail::make_server_tls_context(o.tls_cert_file, o.tls_key_file, "TLS");
}

/// What the listener needs of a session, whatever its stream.
class session_base {
 public:
  virtual ~session_base() = default;
  /// On the session's strand: closes the connection unless a request is in
  /// flight (idle_only: gracefully, the TLS close included) or at once.
  virtual void close(bool idle_only) = 0;
};

}  // namespace

struct http_listener::impl {
  impl(const listener_options& o, request_handler h)
      : opts(o),
        handler(std::move(h)),
        workers(std::max<std::size_t>(o.worker_threads, 1)),
        writers(std::max<std::size_t>(o.write_threads, 1)) {}

  listener_options opts;
  request_handler handler;

  // Declared before ioc, so destroyed after it: a session whose handler is
  // still queued when the io_context goes away is destroyed with it, and its
  // destructor uses these.
  std::atomic<std::uint64_t> connections{0};
  std::mutex sessions_mu;
  std::unordered_map<session_base*, std::weak_ptr<session_base>> sessions;  // guarded by sessions_mu
  /// HTTPS when set; shared by every connection.
  std::unique_ptr<ssl::context> tls;

  net::io_context ioc;
  /// Keeps ioc.run() going while nothing is pending on it: once stop() has
  /// closed the acceptor, a request with a worker has no operation on the
  /// io_context, and without this the io thread would return before the
  /// worker hands the answer back, leaving it unwritten.
  net::executor_work_guard<net::io_context::executor_type> keep_running{ioc.get_executor()};
  tcp::acceptor acceptor{ioc};
  net::thread_pool workers;  ///< GET, HEAD
  net::thread_pool writers;  ///< every other method (listener_options::write_threads)
  std::vector<std::thread> io_threads;
  std::uint16_t port = 0;

  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  std::atomic<bool> stopping{false};
  std::once_flag stopped;

  void accept();
  void close_sessions(bool idle_only);
};

namespace {

/// One connection: `Stream` is beast::tcp_stream (HTTP) or
/// beast::ssl_stream<beast::tcp_stream> (HTTPS). Lifetime: owned by the
/// handlers of its pending operations (shared_from_this); the listener
/// holds only a weak reference. Thread-safety: every member function but
/// close() runs on the connection's strand.
template <class Stream>
class session final : public session_base, public std::enable_shared_from_this<session<Stream>> {
  static constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  session(tcp::socket&& socket, http_listener::impl& owner, bool over_limit)
      : stream_(make_stream(std::move(socket), owner)), owner_(owner), over_limit_(over_limit) {}

  ~session() override {
    --owner_.connections;
    std::lock_guard lock(owner_.sessions_mu);
    owner_.sessions.erase(this);
  }

  void start() {
    {
      std::lock_guard lock(owner_.sessions_mu);
      owner_.sessions.emplace(this, this->weak_from_this());
    }
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->owner_.stopping) return self->drop();
      if (self->over_limit_) {
        // Over TLS the 503 would first cost a handshake (public-key work)
        // on a server that is already over its limit: closed at once.
        if constexpr (is_tls) return self->drop();
        return self->answer_and_close(http::status::service_unavailable, "transient",
                                      "too many connections: try again later");
      }
      if constexpr (is_tls) {
        self->handshake();
      } else {
        self->read();
      }
    });
  }

  void close(bool idle_only) override {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this(), idle_only] {
      if (idle_only) {
        // The pending read (or handshake) ends with operation_aborted, and
        // its handler closes the connection as after any last exchange.
        if (!self->busy_) tcp_layer(self->stream_).cancel();
      } else {
        self->drop();
      }
    });
  }

 private:
  static Stream make_stream(tcp::socket&& socket, http_listener::impl& owner) {
    if constexpr (is_tls) {
      return Stream(std::move(socket), *owner.tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  static beast::tcp_stream& tcp_layer(Stream& s) { return beast::get_lowest_layer(s); }

  /// TLS only: the handshake, under its own deadline (a client that
  /// connects and sends nothing, or a byte a second, is cut off).
  void handshake() {
    tcp_layer(stream_).expires_after(owner_.opts.handshake_timeout);
    stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) {
        // Counted, never logged here: the listener knows nothing of the
        // client worth logging, and the error would only echo its bytes.
        if (!self->owner_.stopping) {
          ++self->owner_.tls_handshake_failures;
          if (self->owner_.opts.on_tls_handshake_failure) self->owner_.opts.on_tls_handshake_failure();
        }
        return self->drop();
      }
      self->handshaken_ = true;
      self->read();
    });
  }

  void read() {
    if (owner_.stopping) return shut();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(owner_.opts.max_header_bytes));
    parser_->body_limit(owner_.opts.max_body_bytes);
    tcp_layer(stream_).expires_after(first_ ? owner_.opts.read_timeout : owner_.opts.keep_alive_timeout);
    first_ = false;
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return answer_and_close(http::status::payload_too_large, "too-long", "the request body is too large");
    }
    if (ec == http::error::header_limit) {
      return answer_and_close(http::status::request_header_fields_too_large, "too-long",
                              "the request headers are too large");
    }
    // The client closed cleanly (TLS: with its close_notify), or stop()
    // cancelled the wait: a graceful close.
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted) return shut();
    // The client's bytes were not HTTP: a 400.
    if (ec && ec.category() == http::make_error_code(http::error::bad_method).category()) {
      return answer_and_close(http::status::bad_request, "structure", "the HTTP request could not be read");
    }
    // Anything else ended the connection (reset, timeout, a TLS alert or
    // truncation): nothing can be sent, and after a TLS error not even a
    // close_notify (OpenSSL SSL_shutdown(3)).
    if (ec) return drop();

    http::request<http::string_body> req = parser_->release();
    keep_alive_ = req.keep_alive() && owner_.opts.keep_alive_timeout.count() > 0;
    // RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status
    // code to any HTTP/1.1 request message that lacks a Host header field and
    // to any request message that contains more than one Host header field".
    if (const auto hosts = req.count(http::field::host); hosts > 1 || (hosts == 0 && req.version() >= 11)) {
      return answer_and_close(http::status::bad_request, "structure",
                              hosts > 1 ? "the request has more than one Host header field"
                                        : "an HTTP/1.1 request must have a Host header field (RFC 9112 3.2)");
    }
    http_request in;
    in.method = std::string(req.method_string());
    // RFC 9110 9.3.2: HEAD is GET without the content, with the same header
    // fields (Content-Length included). It is handled, authorised and
    // audited as the GET it mirrors; write() leaves the body out.
    const bool head = in.method == "HEAD";
    if (head) in.method = "GET";
    in.target = std::string(req.target());
    in.headers.reserve(static_cast<std::size_t>(std::distance(req.begin(), req.end())));
    for (const auto& f : req) in.headers.push_back(http_header{std::string(f.name_string()), std::string(f.value())});
    in.body = std::move(req.body());
    beast::error_code addr_ec;
    const auto peer = tcp_layer(stream_).socket().remote_endpoint(addr_ec);
    if (!addr_ec) in.remote_address = peer.address().to_string();
    in.request_id = request_id_for(in.header("X-Request-Id").value_or(std::string_view()));

    busy_ = true;
    ++owner_.in_flight;
    // The handler may block on the database: a worker thread, not the strand;
    // a request that may write waits for its commit on a pool of its own.
    const bool reads_only = in.method == "GET";
    net::post(reads_only ? owner_.workers : owner_.writers,
              [self = this->shared_from_this(), in = std::move(in), head]() mutable {
      http_response out;
      try {
        out = self->owner_.handler(in);
      } catch (...) {
        out = http_response{};
        out.status = 500;
        out.set_header("Content-Type", "application/fhir+json; charset=utf-8");
        out.body = outcome_json("exception", "internal error");
      }
      if (!out.header("X-Request-Id")) out.set_header("X-Request-Id", in.request_id);
      net::post(self->stream_.get_executor(),
                [self, out = std::move(out), head]() mutable { self->write(std::move(out), head); });
    });
  }

  /// Sends `out`; for a HEAD request (`head`) its header fields only, with
  /// the Content-Length its body has.
  void write(http_response&& out, bool head = false) {
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(out.status));
    for (http_header& h : out.headers) res_.insert(h.name, std::move(h.value));
    // After stop(): answer what is in flight, then close.
    res_.keep_alive(keep_alive_ && !owner_.stopping);
    if (head) {
      res_.content_length(out.body.size());
    } else {
      res_.body() = std::move(out.body);
      res_.prepare_payload();
    }
    tcp_layer(stream_).expires_after(owner_.opts.write_timeout);
    http::async_write(stream_, res_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      self->busy_ = false;
      --self->owner_.in_flight;
      if (ec) return self->drop();
      if (!self->res_.keep_alive()) return self->shut();
      self->read();
    });
  }

  /// Answers a request the listener refuses itself, then closes.
  void answer_and_close(http::status status, const char* code, const char* diagnostics) {
    res_ = {};
    res_.version(11);
    res_.result(status);
    res_.set(http::field::content_type, "application/fhir+json; charset=utf-8");
    res_.body() = outcome_json(code, diagnostics);
    res_.keep_alive(false);
    res_.prepare_payload();
    tcp_layer(stream_).expires_after(owner_.opts.write_timeout);
    http::async_write(stream_, res_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->drop();
      self->shut();
    });
  }

  /// Ends the connection gracefully: over TLS a close_notify exchange
  /// (RFC 8446 6.1, under tls_shutdown_timeout), then the TCP close; over
  /// plain TCP a half-close, so the answer already sent is not lost to a
  /// reset.
  void shut() {
    if constexpr (is_tls) {
      if (!handshaken_ || shutting_down_ || !tcp_layer(stream_).socket().is_open()) return drop();
      shutting_down_ = true;
      tcp_layer(stream_).expires_after(tls_shutdown_timeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->drop(); });
    } else {
      drop();
    }
  }

  /// Closes the connection at once.
  void drop() {
    beast::error_code ec;
    tcp_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    tcp_layer(stream_).close();
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  http_listener::impl& owner_;
  const bool over_limit_;
  bool keep_alive_ = false;
  bool first_ = true;           ///< no request read yet on this connection
  bool busy_ = false;           ///< a request of this connection is with a worker, or its answer being written
  bool handshaken_ = false;     ///< TLS: the handshake completed
  bool shutting_down_ = false;  ///< TLS: the close_notify exchange has begun
};

}  // namespace

void http_listener::impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!acceptor.is_open()) return;  // closed by stop()
    } else {
      const bool over = ++connections > opts.max_connections;
      if (tls) {
        std::make_shared<session<beast::ssl_stream<beast::tcp_stream>>>(std::move(socket), *this, over)->start();
      } else {
        std::make_shared<session<beast::tcp_stream>>(std::move(socket), *this, over)->start();
      }
    }
    accept();
  });
}

void http_listener::impl::close_sessions(bool idle_only) {
  std::vector<std::shared_ptr<session_base>> live;
  {
    std::lock_guard lock(sessions_mu);
    for (auto& [raw, weak] : sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->close(idle_only);
}

hearth::result<std::unique_ptr<http_listener>> http_listener::start(const listener_options& opts,
                                                                    request_handler handler) {
  auto i = std::make_unique<impl>(opts, std::move(handler));
  if (opts.tls_cert_file.empty() != opts.tls_key_file.empty()) {
    return hearth::unexpected(tls_error("HTTPS needs both a certificate file and a key file"));
  }
  if (opts.tls_enabled()) {
    auto ctx = make_tls_context(opts);
    if (!ctx) return hearth::unexpected(std::move(ctx).error());
    i->tls = std::move(*ctx);
  }
  beast::error_code ec;
  const auto address = net::ip::make_address(opts.host, ec);
  if (ec) {
    return hearth::unexpected(hearth::error{"invalid", "http host '" + opts.host + "' is not an IP address", {},
                                            hearth::error::npos});
  }
  const tcp::endpoint endpoint(address, opts.port);
  i->acceptor.open(endpoint.protocol(), ec);
  if (!ec) i->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) i->acceptor.bind(endpoint, ec);
  if (!ec) i->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return hearth::unexpected(hearth::error{"exception",
                                            "cannot listen on " + opts.host + ":" + std::to_string(opts.port) + ": " +
                                                ec.message(),
                                            {}, hearth::error::npos});
  }
  i->port = i->acceptor.local_endpoint().port();
  i->accept();
  for (std::size_t n = 0; n < std::max<std::size_t>(opts.io_threads, 1); ++n) {
    i->io_threads.emplace_back([raw = i.get()] { raw->ioc.run(); });
  }
  return std::unique_ptr<http_listener>(new http_listener(std::move(i)));
}

http_listener::http_listener(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

http_listener::~http_listener() { stop(); }

std::uint16_t http_listener::port() const noexcept { return impl_->port; }

bool http_listener::tls() const noexcept { return impl_->tls != nullptr; }

listener_stats http_listener::stats() const noexcept {
  return listener_stats{impl_->connections.load(), impl_->in_flight.load(), impl_->tls_handshake_failures.load()};
}

void http_listener::stop(std::chrono::milliseconds grace) {
  impl& m = *impl_;
  std::call_once(m.stopped, [&m, grace] {
    m.stopping = true;
    net::post(m.ioc, [&m] {
      beast::error_code ec;
      m.acceptor.close(ec);
    });
    m.close_sessions(true);  // idle connections now; busy ones close after their answer
    // Every connection ends by itself now: answers in flight are written,
    // then each connection closes (over TLS with its close_notify exchange,
    // itself bounded by tls_shutdown_timeout). Past the grace, they are cut.
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while ((m.in_flight.load() > 0 || m.connections.load() > 0) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    m.close_sessions(false);
    m.workers.join();
    m.writers.join();
    m.keep_running.reset();
    m.ioc.stop();
    for (std::thread& t : m.io_threads) t.join();
  });
}

}  // namespace hearth::server
