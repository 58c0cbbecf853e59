#include "common/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <exception>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
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
        ioc_(std::max(1, options_.threads)),
        acceptor_(ioc_),
        accept_retry_(ioc_),
        lifeline_(std::make_shared<Lifeline>()) {}
  ~Impl() { Stop(); }

  absl::StatusOr<uint16_t> Start();
  void Stop();
  const std::string& address() const { return address_; }

 private:
  class Session;

  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void Forget(Session* session);

  const Options options_;
  HttpHandler& handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::vector<std::thread> threads_;
  bool running_ = false;
  bool stopped_ = false;
  std::string address_;  // set by Start
  std::shared_ptr<Lifeline> lifeline_;

  // Owns every open connection, so a session waiting for its handler stays
  // alive without the responder owning it (a responder may outlive Stop).
  absl::Mutex sessions_mu_;
  absl::flat_hash_map<Session*, std::shared_ptr<Session>> sessions_ ABSL_GUARDED_BY(sessions_mu_);
};

// One connection. Every member is touched only on the connection's strand,
// except that Stop() closes the socket after the I/O threads have joined.
class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Impl* server) : stream_(std::move(socket)), server_(server) {}

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

  // Only from Stop(), with no I/O thread running.
  void CloseNow() {
    beast::error_code ec;
    stream_.socket().close(ec);
  }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(server_->options_.body_limit);
    parser_->header_limit(kHeaderLimit);
    stream_.expires_after(std::chrono::milliseconds(server_->options_.idle_timeout_ms));
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

  void Write(HttpResponse in) {
    response_ = {};
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
    if (ec) return Finish();
    if (!keep_alive_) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      if (linger_) return Linger();
      return Finish();
    }
    ReadHeader();
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
    beast::error_code ignored;
    stream_.socket().close(ignored);
    server_->Forget(this);
  }

  beast::tcp_stream stream_;
  Impl* const server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool linger_ = false;
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
  if (ec) {
    // E.g. out of file descriptors: back off instead of spinning.
    spdlog::warn("http accept failed: {}", ec.message());
    accept_retry_.expires_after(std::chrono::milliseconds(50));
    accept_retry_.async_wait([this](beast::error_code wec) {
      if (!wec) DoAccept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto session = std::make_shared<Session>(std::move(socket), this);
  {
    absl::MutexLock lock(&sessions_mu_);
    sessions_.emplace(session.get(), session);
  }
  session->Start();
  DoAccept();
}

void HttpServer::Impl::Forget(Session* session) {
  std::shared_ptr<Session> last;  // destroyed outside the lock
  absl::MutexLock lock(&sessions_mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  last = std::move(it->second);
  sessions_.erase(it);
}

void HttpServer::Impl::Stop() {
  {
    absl::MutexLock lock(&lifeline_->mu);
    lifeline_->alive = false;
  }
  stopped_ = true;
  if (!running_) return;
  running_ = false;
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

}  // namespace stoa::common
