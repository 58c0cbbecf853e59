#include "common/http_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <exception>
#include <future>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "common/backoff.h"
#include "common/host_port.h"
#include "common/http_status.h"
#include "common/listen_socket.h"
#include "spdlog/spdlog.h"

namespace stoa::common {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Large enough for long query strings and many headers; a request beyond it
// is answered 431.
constexpr uint32_t kHeaderLimit = 64 * 1024;
// How long a connection closed after an error keeps draining what the client
// still sends, so the error response is not destroyed by a TCP reset.
constexpr int kLingerMs = 1000;
// Accept errors (out of file descriptors) retry after 10 ms, doubling to 1 s.
constexpr std::chrono::milliseconds kAcceptBackoffMin(10);
constexpr std::chrono::milliseconds kAcceptBackoffMax(1000);
// Repeated warnings (refused connections, accept errors) at most this often.
constexpr std::chrono::seconds kWarnEvery(1);
// How much the first read of a request asks for.
constexpr size_t kReadChunk = 4096;

int ResolveMaxConnections(int requested) {
  if (requested > 0) return requested;
  constexpr rlim_t kMin = 64, kMax = 10000;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kMax;
  return static_cast<int>(std::clamp<rlim_t>(limit.rlim_cur / 4 * 3, kMin, kMax));
}

// True (and `last` moved to now) when a rate-limited warning may be logged.
bool WarnNow(std::chrono::steady_clock::time_point& last) {
  const auto now = std::chrono::steady_clock::now();
  if (last != std::chrono::steady_clock::time_point() && now - last < kWarnEvery) return false;
  last = now;
  return true;
}

std::string ToLower(beast::string_view s) {
  std::string out(s.data(), s.size());
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Handlers may add headers, but not ones that would desynchronize the
// connection's framing, nor ones carrying CR/LF.
bool IsAllowedExtraHeader(const std::string& name, const std::string& value) {
  if (name.empty() || name.find_first_of("\r\n: ") != std::string::npos ||
      value.find_first_of("\r\n") != std::string::npos) {
    return false;
  }
  for (const char* framing : {"content-length", "transfer-encoding", "connection"}) {
    if (beast::iequals(name, framing)) return false;
  }
  return true;
}

// Shared between the server and every responder it hands out: a responder
// called after Stop must not touch the (possibly destroyed) io_context.
struct Lifeline {
  absl::Mutex mu;
  bool alive ABSL_GUARDED_BY(mu) = true;
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(Options options, HttpHandler& handler)
      : options_(std::move(options)),
        handler_(handler),
        max_connections_(ResolveMaxConnections(options_.max_connections)),
        ioc_(std::max(1, options_.threads)),
        accept_strand_(asio::make_strand(ioc_)),
        acceptor_(accept_strand_),
        accept_retry_(accept_strand_),
        lifeline_(std::make_shared<Lifeline>()) {}
  ~Impl() { Stop(); }

  absl::StatusOr<uint16_t> Start();
  void Stop();
  size_t Drain(int timeout_ms);
  Stats stats() const;
  int max_connections() const { return max_connections_; }
  const std::string& address() const { return address_; }

 private:
  class Session;

  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void OnAcceptError(beast::error_code ec);
  // Adds the session unless a cap refuses it; returns the refusal, else "".
  std::string Admit(const std::shared_ptr<Session>& session);
  // Counts (and logs, rate-limited) a connection closed unserved.
  void Refuse(const std::string& client, const std::string& why);
  void Forget(Session* session);

  const Options options_;
  HttpHandler& handler_;
  const int max_connections_;
  asio::io_context ioc_;
  // The acceptor, its retry timer and the members below marked "accept
  // strand" are touched only on this strand (or after the threads joined).
  asio::strand<asio::io_context::executor_type> accept_strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  // Keeps the I/O threads running while the acceptor is closed (Drain) and
  // a handler still owes a response.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  Backoff accept_backoff_{kAcceptBackoffMin, kAcceptBackoffMax};  // accept strand
  std::chrono::steady_clock::time_point last_refusal_warning_;    // accept strand
  std::chrono::steady_clock::time_point last_accept_warning_;     // accept strand
  uint64_t refusals_unlogged_ = 0;                                // accept strand
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> accept_errors_{0};
  std::atomic<int64_t> requests_in_flight_{0};
  std::vector<std::thread> threads_;
  bool running_ = false;
  bool stopped_ = false;
  std::string address_;  // set by Start
  std::shared_ptr<Lifeline> lifeline_;

  // Owns every open connection, so a session waiting for its handler stays
  // alive without the responder owning it (a responder may outlive Stop).
  mutable absl::Mutex sessions_mu_;
  absl::flat_hash_map<Session*, std::shared_ptr<Session>> sessions_ ABSL_GUARDED_BY(sessions_mu_);
  // Open connections per client IP address (only non-zero counts).
  absl::flat_hash_map<std::string, int> per_client_ ABSL_GUARDED_BY(sessions_mu_);
};

// One connection. Every member is touched only on the connection's strand,
// except that Stop() closes the socket after the I/O threads have joined.
class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Impl* server, std::string client)
      : stream_(std::move(socket)), server_(server), client_(std::move(client)) {}

  const std::string& client() const { return client_; }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->WaitForRequest(); });
  }

  // The server drains: a connection waiting for its next request closes now;
  // one in the middle of a request closes after answering it.
  void Drain() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->waiting_) self->stream_.cancel();
    });
  }

  // Only from Stop(), with no I/O thread running, or before Start.
  void CloseNow() {
    beast::error_code ec;
    stream_.socket().close(ec);
  }

 private:
  // Until the first byte of a request, the idle timeout runs; then the
  // header timeout.
  void WaitForRequest() {
    if (server_->draining_.load()) return Finish();
    if (buffer_.size() > 0) return ReadHeader();  // pipelined
    waiting_ = true;
    stream_.expires_after(std::chrono::milliseconds(server_->options_.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->waiting_ = false;
                              self->buffer_.commit(n);
                              if (ec) return self->Finish();
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(server_->options_.body_limit);
    parser_->header_limit(kHeaderLimit);
    stream_.expires_after(std::chrono::milliseconds(
        std::min(server_->options_.header_timeout_ms, server_->options_.idle_timeout_ms)));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return OnRead({}, 0);
    const auto& header = parser_->get();
    auto expect = header.find(http::field::expect);
    if (header.version() >= 11 && expect != header.end() &&
        beast::iequals(expect->value(), "100-continue")) {
      // Clients such as curl wait for this before sending a large body.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code wec, size_t) {
                          if (wec) return self->Finish();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    stream_.expires_after(std::chrono::milliseconds(server_->options_.idle_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return WriteError(413, absl::OutOfRangeError(absl::StrCat(
                                 "request body exceeds ", server_->options_.body_limit, " bytes")));
    }
    if (ec == http::error::header_limit) {
      return WriteError(431, absl::OutOfRangeError(
                                 absl::StrCat("request header exceeds ", kHeaderLimit, " bytes")));
    }
    // A client that goes away (or idles past the timeout) gets no answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec.category() != http::make_error_code(http::error::bad_method).category()) {
      return Finish();
    }
    WriteError(400,
               absl::InvalidArgumentError(absl::StrCat("malformed HTTP request: ", ec.message())));
  }

  void OnRead(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    http::request<http::string_body> msg = parser_->release();
    parser_.reset();
    BeginRequest();
    version_ = msg.version();
    keep_alive_ = msg.keep_alive();
    head_ = msg.method() == http::verb::head;

    HttpRequest request;
    request.method = std::string(msg.method_string());
    request.target = std::string(msg.target());
    for (const auto& field : msg) {
      request.headers.emplace(ToLower(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(msg.body());
    absl::Status parsed = ParseTarget(request.target, &request);
    if (!parsed.ok()) {
      HttpResponse response;
      response.status = 400;
      response.body = common::ErrorJson(parsed);
      return Write(std::move(response));
    }

    // No timeout while the handler runs: invocation deadlines are the
    // gateway's business, and the idle timer restarts on the next read.
    stream_.expires_never();
    HttpResponder respond = MakeResponder();
    try {
      server_->handler_.Handle(std::move(request), respond);
    } catch (const std::exception& e) {
      spdlog::error("http handler threw: {}", e.what());
      HttpResponse response;
      response.status = 500;
      response.body = common::ErrorJson(absl::InternalError(e.what()));
      respond(std::move(response));
    }
  }

  HttpResponder MakeResponder() {
    std::weak_ptr<Session> weak = weak_from_this();
    std::shared_ptr<Lifeline> lifeline = server_->lifeline_;
    auto called = std::make_shared<std::atomic<bool>>(false);
    return [weak, lifeline, called](HttpResponse response) {
      if (called->exchange(true)) {
        spdlog::warn("http responder called more than once; extra response dropped");
        return;
      }
      absl::ReaderMutexLock lock(&lifeline->mu);
      if (!lifeline->alive) return;
      std::shared_ptr<Session> self = weak.lock();
      if (!self) return;
      asio::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->Write(std::move(response));
      });
    };
  }

  void WriteError(int status, const absl::Status& error) {
    version_ = 11;
    keep_alive_ = false;
    head_ = false;
    linger_ = true;
    HttpResponse response;
    response.status = status;
    response.body = common::ErrorJson(error);
    Write(std::move(response));
  }

  void BeginRequest() {
    if (in_request_) return;
    in_request_ = true;
    server_->requests_in_flight_.fetch_add(1);
  }
  void EndRequest() {
    if (!in_request_) return;
    in_request_ = false;
    server_->requests_in_flight_.fetch_sub(1);
  }

  void Write(HttpResponse in) {
    response_ = {};
    if (server_->draining_.load()) keep_alive_ = false;
    response_.version(version_);
    if (in.status < 100 || in.status > 999) {
      spdlog::error("handler returned invalid HTTP status {}", in.status);
      in.status = 500;
      in.body = common::ErrorJson(absl::InternalError("handler returned an invalid status"));
    }
    response_.result(static_cast<unsigned>(in.status));
    response_.set(http::field::server, server_->options_.server_name);
    const bool no_body = in.status < 200 || in.status == 204 || in.status == 304;
    if (!no_body && !in.content_type.empty()) {
      response_.set(http::field::content_type, in.content_type);
    }
    for (const auto& [name, value] : in.headers) {
      if (!IsAllowedExtraHeader(name, value)) {
        spdlog::warn("dropping invalid response header '{}'", name);
        continue;
      }
      response_.insert(name, value);
    }
    response_.keep_alive(keep_alive_);
    if (no_body) {
      response_.content_length(boost::none);
    } else {
      // For HEAD the length is announced but no body is sent.
      response_.content_length(in.body.size());
      if (!head_) response_.body() = std::move(in.body);
    }
    stream_.expires_after(std::chrono::milliseconds(server_->options_.idle_timeout_ms));
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t /*bytes*/) {
    EndRequest();
    if (ec) return Finish();
    if (!keep_alive_) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      if (linger_) return Linger();
      return Finish();
    }
    WaitForRequest();
  }

  void Linger() {
    stream_.expires_after(std::chrono::milliseconds(kLingerMs));
    stream_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Finish();
                              self->Linger();
                            });
  }

  void Finish() {
    EndRequest();
    beast::error_code ignored;
    stream_.socket().close(ignored);
    server_->Forget(this);
  }

  beast::tcp_stream stream_;
  Impl* const server_;
  const std::string client_;  // the peer's IP address
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool linger_ = false;
  bool waiting_ = false;     // between requests, nothing read yet
  bool in_request_ = false;  // counted in requests_in_flight_
  std::array<char, 16 * 1024> drain_;
};

absl::StatusOr<uint16_t> HttpServer::Impl::Start() {
  if (running_ || stopped_) {
    return absl::FailedPreconditionError("http server already started (a server starts once)");
  }
  if (absl::Status s = ListenOn(acceptor_, HostPort{options_.host, options_.port}); !s.ok()) {
    return s;
  }
  beast::error_code ec;
  const tcp::endpoint bound = acceptor_.local_endpoint(ec);
  if (ec) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return absl::UnavailableError(absl::StrCat("cannot listen on ",
                                               FormatHostPort(options_.host, options_.port),
                                               ": getsockname: ", ec.message()));
  }
  address_ = FormatHostPort(bound.address().to_string(), bound.port());

  work_.emplace(ioc_.get_executor());
  DoAccept();
  running_ = true;
  const int threads = std::max(1, options_.threads);
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { ioc_.run(); });
  }
  return bound.port();
}

void HttpServer::Impl::DoAccept() {
  acceptor_.async_accept(asio::make_strand(ioc_), beast::bind_front_handler(&Impl::OnAccept, this));
}

void HttpServer::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) return OnAcceptError(ec);
  accept_backoff_.Reset();
  beast::error_code endpoint_error;
  const tcp::endpoint peer = socket.remote_endpoint(endpoint_error);
  std::string client = endpoint_error ? std::string() : peer.address().to_string();
  if (draining_.load()) {
    beast::error_code ignored;
    socket.close(ignored);
    Refuse(client, "the server is shutting down");
    return DoAccept();
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto session = std::make_shared<Session>(std::move(socket), this, std::move(client));
  if (std::string why = Admit(session); !why.empty()) {
    session->CloseNow();
    Refuse(session->client(), why);
    return DoAccept();
  }
  session->Start();
  DoAccept();
}

void HttpServer::Impl::OnAcceptError(beast::error_code ec) {
  // E.g. out of file descriptors: the pending connection stays in the
  // backlog, so retrying at once would fail again at once.
  accept_errors_.fetch_add(1);
  const std::chrono::milliseconds delay = accept_backoff_.Next();
  if (accept_backoff_.failures() == 1 || WarnNow(last_accept_warning_)) {
    spdlog::warn("http accept failed: {} ({} in a row; retrying in {} ms)", ec.message(),
                 accept_backoff_.failures(), delay.count());
  }
  accept_retry_.expires_after(delay);
  accept_retry_.async_wait([this](beast::error_code wec) {
    if (!wec && acceptor_.is_open()) DoAccept();
  });
}

std::string HttpServer::Impl::Admit(const std::shared_ptr<Session>& session) {
  absl::MutexLock lock(&sessions_mu_);
  if (sessions_.size() >= static_cast<size_t>(max_connections_)) {
    return absl::StrCat("over the connection limit (", max_connections_, ")");
  }
  const int per_client = options_.max_connections_per_client;
  auto [it, inserted] = per_client_.try_emplace(session->client(), 0);
  if (per_client > 0 && it->second >= per_client) {
    return absl::StrCat("over the per-client connection limit (", per_client, ")");
  }
  ++it->second;
  sessions_.emplace(session.get(), session);
  return "";
}

void HttpServer::Impl::Refuse(const std::string& client, const std::string& why) {
  refused_.fetch_add(1);
  ++refusals_unlogged_;
  if (WarnNow(last_refusal_warning_)) {
    spdlog::warn("http: refused a connection from {}: {} ({} refused since the last warning)",
                 client, why, refusals_unlogged_);
    refusals_unlogged_ = 0;
  }
}

void HttpServer::Impl::Forget(Session* session) {
  std::shared_ptr<Session> last;  // destroyed outside the lock
  absl::MutexLock lock(&sessions_mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  last = std::move(it->second);
  sessions_.erase(it);
  auto client = per_client_.find(last->client());
  if (client != per_client_.end() && --client->second <= 0) per_client_.erase(client);
}

size_t HttpServer::Impl::Drain(int timeout_ms) {
  if (!running_) return 0;
  if (!draining_.exchange(true)) {
    std::promise<void> closed;
    asio::post(accept_strand_, [this, &closed] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      accept_retry_.cancel();
      closed.set_value();
    });
    closed.get_future().wait();
  }
  std::vector<std::shared_ptr<Session>> sessions;
  {
    absl::MutexLock lock(&sessions_mu_);
    for (auto& [ptr, session] : sessions_) sessions.push_back(session);
  }
  for (const auto& session : sessions) session->Drain();
  sessions.clear();
  absl::MutexLock lock(&sessions_mu_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sessions_mu_) { return sessions_.empty(); };
  sessions_mu_.AwaitWithTimeout(absl::Condition(&ended), absl::Milliseconds(timeout_ms));
  return sessions_.size();
}

HttpServer::Stats HttpServer::Impl::stats() const {
  Stats stats;
  {
    absl::MutexLock lock(&sessions_mu_);
    stats.connections = sessions_.size();
  }
  stats.requests_in_flight = static_cast<size_t>(std::max<int64_t>(0, requests_in_flight_.load()));
  stats.refused_connections = refused_.load();
  stats.accept_errors = accept_errors_.load();
  return stats;
}

void HttpServer::Impl::Stop() {
  {
    absl::MutexLock lock(&lifeline_->mu);
    lifeline_->alive = false;
  }
  stopped_ = true;
  if (!running_) return;
  running_ = false;
  work_.reset();
  ioc_.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  // No I/O thread runs now: sockets can be closed from here. Handlers still
  // queued in the io_context keep their sessions until it is destroyed.
  beast::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  absl::flat_hash_map<Session*, std::shared_ptr<Session>> sessions;
  {
    absl::MutexLock lock(&sessions_mu_);
    sessions.swap(sessions_);
  }
  for (auto& [ptr, session] : sessions) session->CloseNow();
}

HttpServer::HttpServer(Options options, HttpHandler& handler)
    : impl_(std::make_unique<Impl>(std::move(options), handler)) {}

HttpServer::~HttpServer() = default;

absl::StatusOr<uint16_t> HttpServer::Start() { return impl_->Start(); }

void HttpServer::Stop() { impl_->Stop(); }

std::string HttpServer::address() const { return impl_->address(); }

size_t HttpServer::Drain(int timeout_ms) { return impl_->Drain(timeout_ms); }

HttpServer::Stats HttpServer::stats() const { return impl_->stats(); }

int HttpServer::max_connections() const { return impl_->max_connections(); }

}  // namespace stoa::common
