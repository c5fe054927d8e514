// The MLLP listener on Boost.Asio (mllp_listener.hpp says what it does).
// Structure follows the HTTP listener (http_listener.cpp): one session
// object per connection, all of its handlers on one strand; messages go to a
// thread pool for the handler and come back to the strand to be written.
// One session template serves plain TCP and TLS: they differ only in the
// handshake before the first block.
//
// Unlike HTTP/1.1, where the next request is read only once the previous
// answer is written, a session keeps a read pending while a message is
// handled (MLLP senders may send the next block before the ACK of the
// previous one), so the deadlines are timers of the session's own rather
// than beast::tcp_stream's single per-stream expiry: one for reading (the
// handshake, idle and frame deadlines) and one for writing.

#include <hearth/server/mllp_listener.hpp>

#include "tls_server_context.hpp"

#include <hearth/hl7v2/ack.hpp>
#include <hearth/hl7v2/error.hpp>
#include <hearth/hl7v2/mllp_frame.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace hearth::server {

namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

/// Decoded messages a connection may hold ahead of the one being handled
/// before it stops reading (their bytes together are also bounded, by
/// max_frame_bytes): enough to keep a pipelining sender busy, not so many
/// that one connection holds much memory while the database is slow.
constexpr std::size_t max_frames_ahead = 4;

/// Bytes read at a time. An MLLP block is usually a few KiB; a large one
/// simply takes several reads.
constexpr std::size_t read_chunk = 16 * 1024;

hearth::unexpected<hearth::error> invalid(std::string message) {
  return hearth::unexpected(hearth::error{"invalid", std::move(message), {}, hearth::error::npos});
}

/// The server's TLS context, configured exactly as the HTTPS listener's
/// (tls_server_context.hpp, which cites NIST SP 800-52r2 and RFC 9325 for
/// each rule). Plus, with a client CA file, mutual TLS: the client must
/// present a certificate that verifies against it (SECURITY.md: "mTLS for
/// MLLP").
hearth::result<std::unique_ptr<ssl::context>> make_tls_context(const mllp_options& o) {
  auto made = detail::make_server_tls_context(o.tls_cert_file, o.tls_key_file, "MLLP TLS");
  if (!made) return hearth::unexpected(std::move(made).error());
  std::unique_ptr<ssl::context> ctx = std::move(*made);
  SSL_CTX* native = ctx->native_handle();
  error_code ec;
  if (!o.tls_client_ca_file.empty()) {
    ctx->load_verify_file(o.tls_client_ca_file, ec);
    if (ec) {
      return invalid("cannot load the MLLP client CA certificates (PEM) from " + o.tls_client_ca_file + ": " +
                     ec.message());
    }
    // The CA names sent in the CertificateRequest (RFC 8446 4.2.4,
    // RFC 5246 7.4.4), so that a client holding several certificates
    // picks one these CAs issued.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.tls_client_ca_file.c_str()); names != nullptr) {
      SSL_CTX_set_client_CA_list(native, names);  // takes ownership
    }
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // With peer verification OpenSSL refuses to resume a session unless a
    // session id context is set (SSL_CTX_set_session_id_context(3)).
    static constexpr unsigned char sid_context[] = "hearth-mllp";
    SSL_CTX_set_session_id_context(native, sid_context, sizeof sid_context - 1);
  }
  return ctx;
}

/// The subject of the peer's certificate, RFC 2253 form, when OpenSSL
/// verified it; empty otherwise.
std::string verified_peer_subject(SSL* ssl_handle) {
  if (SSL_get_verify_result(ssl_handle) != X509_V_OK) return {};
  X509* cert = SSL_get1_peer_certificate(ssl_handle);
  if (cert == nullptr) return {};
  std::string subject;
  if (BIO* bio = BIO_new(BIO_s_mem()); bio != nullptr) {
    if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
      char* data = nullptr;
      const long n = BIO_get_mem_data(bio, &data);
      if (n > 0 && data != nullptr) subject.assign(data, static_cast<std::size_t>(n));
    }
    BIO_free(bio);
  }
  X509_free(cert);
  return subject;
}

const char* level_name(mllp_log_level level) {
  switch (level) {
    case mllp_log_level::info: return "info";
    case mllp_log_level::warning: return "warning";
    case mllp_log_level::error: return "error";
  }
  return "error";
}

/// The default log: one JSON line on stderr, in the shape of `hearth
/// serve`'s log lines. `what` is a constant text of ours and the address an
/// IP address, so neither needs escaping beyond quotes and backslashes,
/// done all the same.
void log_to_stderr(mllp_log_level level, std::string_view what, const mllp_peer& peer) {
  std::string line = R"({"level":")";
  line += level_name(level);
  line += R"(","msg":"mllp: )";
  for (const char c : what) {
    if (c == '"' || c == '\\') line += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) line += c;
  }
  line += R"(","connection":)" + std::to_string(peer.connection_id) + R"(,"address":")" + peer.address + "\"}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

/// What the listener needs of a session, whatever its stream.
class session_base {
 public:
  virtual ~session_base() = default;
  /// On the session's strand. graceful: stop taking messages, let the one
  /// being handled get its answer written, then close (at once when none
  /// is). Otherwise: close at once.
  virtual void close(bool graceful) = 0;
};

}  // namespace

struct mllp_listener::impl {
  impl(const mllp_options& o, mllp_handler h)
      : opts(o), handler(std::move(h)), workers(std::max<std::size_t>(o.worker_threads, 1)) {
    if (!opts.on_log) opts.on_log = log_to_stderr;
  }

  mllp_options opts;
  mllp_handler handler;

  // Declared before ioc, so destroyed after it: a session whose handler is
  // still queued when the io_context goes away is destroyed with it, and its
  // destructor uses these.
  std::atomic<std::uint64_t> next_connection_id{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> frames{0};
  std::atomic<std::uint64_t> oversized{0};
  std::atomic<std::uint64_t> interrupted{0};
  std::atomic<std::uint64_t> junk_bytes{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> tls_failures{0};
  std::atomic<std::uint64_t> handler_exceptions{0};
  /// Messages with the handler, or whose answer is being written.
  std::atomic<std::uint64_t> in_flight{0};
  std::mutex sessions_mu;
  std::unordered_map<session_base*, std::weak_ptr<session_base>> sessions;  // guarded by sessions_mu
  /// MLLP over TLS when set; shared by every connection.
  std::unique_ptr<ssl::context> tls;

  net::io_context ioc;
  /// Keeps ioc.run() going while nothing is pending on it (see
  /// http_listener.cpp: once stop() has closed the acceptor, a message with
  /// a worker has no operation on the io_context, and its answer must still
  /// be written).
  net::executor_work_guard<net::io_context::executor_type> keep_running{ioc.get_executor()};
  tcp::acceptor acceptor{ioc};
  net::thread_pool workers;  ///< calls the handler (mllp_options::worker_threads)
  std::vector<std::thread> io_threads;
  std::uint16_t port = 0;

  std::atomic<bool> stopping{false};
  std::once_flag stopped;

  void accept();
  void close_sessions(bool graceful);
};

namespace {

/// One connection: `Stream` is tcp::socket (MLLP) or ssl::stream<tcp::socket>
/// (MLLP over TLS). Lifetime: owned by the handlers of its pending
/// operations (shared_from_this); the listener holds only a weak reference.
/// Thread-safety: every member function but close() and the handler call
/// (on a worker, touching only peer_, which is fixed by then) runs on the
/// connection's strand.
template <class Stream>
class session final : public session_base, public std::enable_shared_from_this<session<Stream>> {
  static constexpr bool is_tls = !std::is_same_v<Stream, tcp::socket>;

 public:
  session(tcp::socket&& socket, mllp_listener::impl& owner, bool over_limit)
      : stream_(make_stream(std::move(socket), owner)),
        owner_(owner),
        over_limit_(over_limit),
        decoder_(owner.opts.max_frame_bytes),
        read_timer_(stream_.get_executor()),
        write_timer_(stream_.get_executor()) {
    peer_.connection_id = ++owner_.next_connection_id;
    peer_.tls = is_tls;
    error_code ec;
    const auto remote = socket_().remote_endpoint(ec);
    if (!ec) {
      peer_.address = remote.address().to_string();
      peer_.port = remote.port();
    }
  }

  ~session() override {
    --owner_.open;
    std::lock_guard lock(owner_.sessions_mu);
    owner_.sessions.erase(this);
  }

  void start() {
    {
      std::lock_guard lock(owner_.sessions_mu);
      owner_.sessions.emplace(this, this->weak_from_this());
    }
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->over_limit_) {
        // Over TLS closed before any handshake: the public-key work would be
        // a cost on a server already at its limit.
        ++self->owner_.refused;
        return self->close_now();
      }
      ++self->owner_.accepted;
      if (self->owner_.stopping) return self->close_now();
      if constexpr (is_tls) {
        self->handshake();
      } else {
        self->pump();
      }
    });
  }

  void close(bool graceful) override {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this(), graceful] {
      if (!graceful) return self->close_now();
      self->closing_ = true;
      // Received but not handed over: dropped unanswered; the sender, with
      // no ACK, sends them again (to this server once restarted, or another).
      self->pending_.clear();
      self->pending_bytes_ = 0;
      if (!self->busy_) self->close_now();
    });
  }

 private:
  /// Which deadline the read timer enforces (mllp_options).
  enum class deadline : std::uint8_t { none, handshake, idle, frame };

  static Stream make_stream(tcp::socket&& socket, mllp_listener::impl& owner) {
    if constexpr (is_tls) {
      return Stream(std::move(socket), *owner.tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  tcp::socket& socket_() {
    if constexpr (is_tls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  void log(mllp_log_level level, std::string_view what) { owner_.opts.on_log(level, what, peer_); }

  /// TLS only: the handshake, under handshake_timeout.
  void handshake() {
    arm(deadline::handshake, owner_.opts.handshake_timeout);
    stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](error_code ec) {
      if (self->closed_) return;  // the deadline, or stop(), closed it
      if (ec) {
        // Counted, not logged (as the HTTPS listener): nothing the client
        // sent is worth a log line, and the error would echo its bytes.
        if (!self->owner_.stopping) ++self->owner_.tls_failures;
        return self->close_now();
      }
      if (!self->owner_.opts.tls_client_ca_file.empty()) {
        // OpenSSL has verified the certificate (the handshake fails
        // otherwise); an empty subject here would mean it did not.
        self->peer_.client_subject = verified_peer_subject(self->stream_.native_handle());
        if (self->peer_.client_subject.empty()) {
          ++self->owner_.tls_failures;
          return self->close_now();
        }
      }
      self->disarm();
      self->pump();
    });
  }

  /// The session's step: hands the next message over when none is being
  /// handled, closes when done, reads when there is room, and sets the read
  /// deadline for what the connection now waits for. Called after every
  /// event, on the strand.
  void pump() {
    if (closed_) return;
    if (!busy_ && !closing_) hand_over_next();
    if (!busy_ && (closing_ || (read_closed_ && pending_.empty()))) return close_now();

    const bool want_read = !read_closed_ && !closing_ && pending_.size() < max_frames_ahead &&
                           pending_bytes_ <= owner_.opts.max_frame_bytes;
    if (want_read && !reading_) read();
    if (!want_read) {
      disarm();  // the connection waits for us, not for the peer
    } else if (decoder_.in_frame()) {
      // A block has started: it must end within frame_timeout, however its
      // bytes trickle in (not reset by each read).
      if (deadline_ != deadline::frame) arm(deadline::frame, owner_.opts.frame_timeout);
    } else if (busy_ || !pending_.empty()) {
      disarm();  // the sender waits for our ACK
    } else if (deadline_ != deadline::idle) {
      // Nothing started, nothing to answer: idle from now. Junk bytes do
      // not reset it (deadline_ stays idle).
      arm(deadline::idle, owner_.opts.idle_timeout);
    }
  }

  void read() {
    reading_ = true;
    stream_.async_read_some(net::buffer(buffer_), [self = this->shared_from_this()](error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(error_code ec, std::size_t n) {
    reading_ = false;
    if (closed_) return;
    if (ec) {
      // The peer closed (eof; over TLS also without close_notify, which
      // MLLP's framing makes harmless: a cut block is seen as such), reset
      // the connection, or stop() closed it. Answers still due are written
      // if the peer still reads, then the connection closes.
      read_closed_ = true;
      if (decoder_.in_frame()) {
        ++owner_.interrupted;
        log(mllp_log_level::warning, "connection closed in the middle of a block");
      }
      return pump();
    }
    if (closing_) return pump();  // stopping: nothing more is taken
    decoder_.feed(std::string_view(buffer_.data(), n));
    hl7v2::mllp_item item;
    while (decoder_.next(item)) {
      switch (item.status) {
        case hl7v2::mllp_status::frame:
          ++owner_.frames;
          pending_bytes_ += item.payload.size();
          pending_.push_back(std::move(item));
          break;
        case hl7v2::mllp_status::frame_too_large:
          ++owner_.oversized;
          log(mllp_log_level::warning, "block larger than max_frame_bytes: answered AR");
          pending_.push_back(std::move(item));  // answered in its turn
          break;
        case hl7v2::mllp_status::frame_interrupted:
          ++owner_.interrupted;
          log(mllp_log_level::warning, "block interrupted by a new start block: partial message dropped");
          break;
      }
      item = hl7v2::mllp_item{};
    }
    const std::uint64_t junk = decoder_.junk_bytes();
    owner_.junk_bytes += junk - junk_counted_;
    junk_counted_ = junk;
    pump();
  }

  /// Starts on the next pending item that needs an answer.
  void hand_over_next() {
    if (pending_.empty()) return;
    hl7v2::mllp_item item = std::move(pending_.front());
    pending_.pop_front();
    pending_bytes_ -= item.payload.size();
    busy_ = true;
    ++owner_.in_flight;
    if (item.status == hl7v2::mllp_status::frame_too_large) {
      // The payload was dropped by the decoder, so the ACK cannot carry the
      // original's MSH-10; an AR with ERR-3 104 still tells the sender why
      // (HL7 v2.5.1 2.9.2: reject when the message cannot be processed;
      // table 0357 104 "value too long").
      const hl7v2::error why{hl7v2::error_code::value_too_long,
                             "the MLLP block is larger than the receiver's limit of " +
                                 std::to_string(owner_.opts.max_frame_bytes) + " bytes",
                             {}};
      return write(hl7v2::build_reject_for_unparsable({}, why));
    }
    // The handler may block on the database: a worker thread, not the strand.
    net::post(owner_.workers, [self = this->shared_from_this(), payload = std::move(item.payload)]() mutable {
      std::string reply;
      bool threw = false;
      try {
        reply = self->owner_.handler(self->peer_, std::move(payload));
      } catch (...) {
        threw = true;  // the text is not logged: it may quote the message
      }
      net::post(self->stream_.get_executor(), [self, reply = std::move(reply), threw]() mutable {
        self->on_handled(std::move(reply), threw);
      });
    });
  }

  void on_handled(std::string&& reply, bool threw) {
    if (threw) {
      ++owner_.handler_exceptions;
      log(mllp_log_level::error, "message handler threw: connection closed");
      done_with_message();
      return close_now();
    }
    if (closed_ || reply.empty()) {
      done_with_message();
      return pump();
    }
    write(std::move(reply));
  }

  void write(std::string&& reply) {
    out_ = hl7v2::mllp_encode(reply);
    const std::uint64_t gen = ++write_generation_;
    write_timer_.expires_after(owner_.opts.write_timeout);
    write_timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->write_generation_ || self->closed_) return;
      ++self->owner_.timeouts;
      self->log(mllp_log_level::info, "write timeout: connection closed");
      self->close_now();
    });
    net::async_write(stream_, net::buffer(out_), [self = this->shared_from_this()](error_code ec, std::size_t) {
      ++self->write_generation_;
      self->write_timer_.cancel();
      self->done_with_message();
      if (ec) return self->close_now();
      self->pump();
    });
  }

  void done_with_message() {
    busy_ = false;
    --owner_.in_flight;
  }

  /// Sets the read deadline: `kind` ends `after` from now, closing the
  /// connection unless another deadline (or none) replaces it first.
  void arm(deadline kind, std::chrono::seconds after) {
    deadline_ = kind;
    const std::uint64_t gen = ++read_generation_;
    read_timer_.expires_after(after);
    read_timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->read_generation_ || self->closed_) return;
      self->on_deadline();
    });
  }

  void disarm() {
    if (deadline_ == deadline::none) return;
    deadline_ = deadline::none;
    ++read_generation_;
    read_timer_.cancel();
  }

  void on_deadline() {
    ++owner_.timeouts;
    switch (deadline_) {
      case deadline::handshake:
        ++owner_.tls_failures;
        log(mllp_log_level::info, "TLS handshake timeout: connection closed");
        break;
      case deadline::idle: log(mllp_log_level::info, "idle timeout: connection closed"); break;
      case deadline::frame: log(mllp_log_level::info, "frame timeout: connection closed"); break;
      case deadline::none: break;
    }
    close_now();
  }

  /// Closes the connection at once. Over TLS without a close_notify: MLLP's
  /// framing, not the TLS close, tells a peer whether it has a whole
  /// message (the truncation close_notify guards against, RFC 8446 6.1,
  /// shows as a block without its FS).
  void close_now() {
    if (closed_) return;
    closed_ = true;
    deadline_ = deadline::none;
    ++read_generation_;
    ++write_generation_;
    read_timer_.cancel();
    write_timer_.cancel();
    error_code ec;
    socket_().shutdown(tcp::socket::shutdown_both, ec);
    socket_().close(ec);
  }

  Stream stream_;
  mllp_listener::impl& owner_;
  const bool over_limit_;
  mllp_peer peer_;  ///< fixed once the handshake is done; read by workers
  hl7v2::mllp_decoder decoder_;
  std::array<char, read_chunk> buffer_{};
  std::deque<hl7v2::mllp_item> pending_;  ///< decoded, not yet handed over (frames and too-large marks)
  std::size_t pending_bytes_ = 0;         ///< payload bytes in pending_
  std::uint64_t junk_counted_ = 0;        ///< decoder_.junk_bytes() already added to the listener's count
  std::string out_;                       ///< the framed answer being written
  net::steady_timer read_timer_;
  net::steady_timer write_timer_;
  std::uint64_t read_generation_ = 0;   ///< bumped to void the read timer's pending wait
  std::uint64_t write_generation_ = 0;  ///< bumped to void the write timer's pending wait
  deadline deadline_ = deadline::none;
  bool reading_ = false;      ///< a read is pending
  bool read_closed_ = false;  ///< the peer closed (or the read failed): nothing more will come
  bool busy_ = false;         ///< a message is with the handler, or its answer being written
  bool closing_ = false;      ///< stop(): answer what is in hand, then close
  bool closed_ = false;       ///< the socket is closed
};

}  // namespace

void mllp_listener::impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
    if (ec) {
      if (!acceptor.is_open()) return;  // closed by stop()
    } else {
      const bool over = ++open > opts.max_connections;
      if (tls) {
        std::make_shared<session<ssl::stream<tcp::socket>>>(std::move(socket), *this, over)->start();
      } else {
        std::make_shared<session<tcp::socket>>(std::move(socket), *this, over)->start();
      }
    }
    accept();
  });
}

void mllp_listener::impl::close_sessions(bool graceful) {
  std::vector<std::shared_ptr<session_base>> live;
  {
    std::lock_guard lock(sessions_mu);
    for (auto& [raw, weak] : sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->close(graceful);
}

mllp_listener::mllp_listener() = default;

mllp_listener::~mllp_listener() { stop(); }

hearth::result<void> mllp_listener::start(const mllp_options& opts, mllp_handler handler) {
  if (impl_) return invalid("the MLLP listener is already started");
  if (!handler) return invalid("the MLLP listener needs a message handler");
  if (opts.tls_cert_file.empty() != opts.tls_key_file.empty()) {
    return invalid("MLLP over TLS needs both a certificate file and a key file");
  }
  if (!opts.tls_client_ca_file.empty() && !opts.tls_enabled()) {
    return invalid("an MLLP client CA file (mTLS) needs a TLS certificate and key");
  }
  auto i = std::make_unique<impl>(opts, std::move(handler));
  if (opts.tls_enabled()) {
    auto ctx = make_tls_context(opts);
    if (!ctx) return hearth::unexpected(std::move(ctx).error());
    i->tls = std::move(*ctx);
  }
  error_code ec;
  const auto address = net::ip::make_address(opts.host, ec);
  if (ec) return invalid("mllp host '" + opts.host + "' is not an IP address");
  const tcp::endpoint endpoint(address, opts.port);
  i->acceptor.open(endpoint.protocol(), ec);
  if (!ec) i->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) i->acceptor.bind(endpoint, ec);
  if (!ec) i->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return hearth::unexpected(hearth::error{
        "exception", "cannot listen for MLLP on " + opts.host + ":" + std::to_string(opts.port) + ": " + ec.message(),
        {}, hearth::error::npos});
  }
  i->port = i->acceptor.local_endpoint().port();
  i->accept();
  for (std::size_t n = 0; n < std::max<std::size_t>(opts.io_threads, 1); ++n) {
    i->io_threads.emplace_back([raw = i.get()] { raw->ioc.run(); });
  }
  impl_ = std::move(i);
  return {};
}

std::uint16_t mllp_listener::port() const noexcept { return impl_ ? impl_->port : 0; }

mllp_stats mllp_listener::stats() const noexcept {
  if (!impl_) return {};
  const impl& m = *impl_;
  mllp_stats s;
  s.connections_accepted = m.accepted.load();
  s.connections_refused = m.refused.load();
  s.connections_open = m.open.load();
  s.frames = m.frames.load();
  s.oversized = m.oversized.load();
  s.interrupted = m.interrupted.load();
  s.junk_bytes = m.junk_bytes.load();
  s.timeouts = m.timeouts.load();
  s.tls_failures = m.tls_failures.load();
  s.handler_exceptions = m.handler_exceptions.load();
  return s;
}

void mllp_listener::stop(std::chrono::milliseconds grace) {
  if (!impl_) return;
  impl& m = *impl_;
  std::call_once(m.stopped, [&m, grace] {
    m.stopping = true;
    net::post(m.ioc, [&m] {
      error_code ec;
      m.acceptor.close(ec);
    });
    m.close_sessions(true);  // idle connections now; busy ones once their answer is written
    // Past the grace, what is left is cut: a handler stuck on the database
    // must not keep the process from ending.
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while ((m.in_flight.load() > 0 || m.open.load() > 0) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    m.close_sessions(false);
    m.workers.join();
    m.keep_running.reset();
    m.ioc.stop();
    for (std::thread& t : m.io_threads) t.join();
  });
}

}  // namespace hearth::server
