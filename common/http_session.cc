#include "common/http_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <exception>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/write.hpp"
#include "common/http_status.h"
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
// How much the first read of a request asks for.
constexpr size_t kReadChunk = 4096;
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

// One connection on Beast (see http_session.h).
class BeastSession final : public HttpSession, public std::enable_shared_from_this<BeastSession> {
 public:
  BeastSession(tcp::socket socket, HttpServerShared& server, std::string client)
      : stream_(std::move(socket)), server_(server), client_(std::move(client)) {}

  const std::string& client() const override { return client_; }

  void Start() override {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->WaitForRequest(); });
  }

  // The server drains: a connection waiting for its next request closes now;
  // one in the middle of a request closes after answering it.
  void Drain() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->waiting_) self->stream_.cancel();
    });
  }

  // Fires the cancel signal of the request the handler works on, if any.
  void CancelRequest() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->cancel_) self->cancel_->Cancel();
    });
  }

  // Only from Stop(), with no I/O thread running, or before Start.
  void CloseNow() override {
    beast::error_code ec;
    stream_.socket().close(ec);
  }

 private:
  // Until the first byte of a request, the idle timeout runs; then the
  // header timeout.
  void WaitForRequest() {
    if (server_.draining.load()) return Finish();
    if (buffer_.size() > 0) return ReadHeader();  // pipelined
    waiting_ = true;
    stream_.expires_after(std::chrono::milliseconds(server_.options.idle_timeout_ms));
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
    parser_->body_limit(server_.options.body_limit);
    parser_->header_limit(kHeaderLimit);
    stream_.expires_after(std::chrono::milliseconds(
        std::min(server_.options.header_timeout_ms, server_.options.idle_timeout_ms)));
    ReadHead();
  }

  // Reads until the buffer holds the whole request head, so that its raw
  // bytes are checked (CheckRequestHead: obs-fold, Transfer-Encoding)
  // before Beast parses it from the buffer.
  void ReadHead() {
    const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    const size_t end = data.find("\r\n\r\n");
    // A head ending in bare LFs goes to Beast as is, which refuses it (400).
    if (end == std::string_view::npos && data.find("\n\n") == std::string_view::npos) {
      if (data.size() > kHeaderLimit) return OnReadError(http::error::header_limit);
      stream_.async_read_some(buffer_.prepare(kReadChunk),
                              [self = shared_from_this()](beast::error_code ec, size_t n) {
                                self->buffer_.commit(n);
                                if (ec) return self->Finish();
                                self->ReadHead();
                              });
      return;
    }
    if (end != std::string_view::npos) {
      if (absl::Status s = CheckRequestHead(data.substr(0, end + 4)); !s.ok()) {
        return WriteError(ToHttpStatus(s.code()), s);
      }
    }
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&BeastSession::OnHeader, shared_from_this()));
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
    stream_.expires_after(std::chrono::milliseconds(server_.options.idle_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&BeastSession::OnRead, shared_from_this()));
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return WriteError(413, absl::OutOfRangeError(absl::StrCat(
                                 "request body exceeds ", server_.options.body_limit, " bytes")));
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
    cancel_ = std::make_shared<CancelSignal>();
    request.cancel = cancel_;
    request.client = client_;
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
    // Bytes already read belong to a pipelined request: the client is there.
    if (buffer_.size() == 0) WatchForClose();
    HttpResponder respond = MakeResponder();
    try {
      server_.handler.Handle(std::move(request), respond);
    } catch (const std::exception& e) {
      spdlog::error("http handler threw: {}", e.what());
      HttpResponse response;
      response.status = 500;
      response.body = common::ErrorJson(absl::InternalError(e.what()));
      respond(std::move(response));
    }
  }

  // While the handler works, a readable socket means the client closed it
  // (EOF or an error: the request is cancelled) or sent its next request
  // (pipelining: it is still there, stop watching). Write stops the watch.
  void WatchForClose() {
    watching_ = ++watch_generation_;
    stream_.socket().async_wait(tcp::socket::wait_read,
                                [self = shared_from_this(), generation = watching_](
                                    beast::error_code ec) { self->OnReadable(ec, generation); });
  }

  void OnReadable(beast::error_code ec, uint64_t generation) {
    if (watching_ != generation || ec == asio::error::operation_aborted) return;
    watching_ = 0;
    bool closed = static_cast<bool>(ec);
    if (!closed) {
      char byte = 0;
      const ssize_t n = ::recv(stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return WatchForClose();
      }
      closed = n <= 0;
    }
    if (closed && cancel_) cancel_->Cancel();
  }

  void StopWatching() {
    if (watching_ == 0) return;
    watching_ = 0;
    beast::error_code ignored;
    stream_.socket().cancel(ignored);  // only the wait is pending while the handler works
  }

  HttpResponder MakeResponder() {
    std::weak_ptr<BeastSession> weak = weak_from_this();
    std::shared_ptr<Lifeline> lifeline = server_.lifeline;
    auto called = std::make_shared<std::atomic<bool>>(false);
    return [weak, lifeline, called](HttpResponse response) {
      if (called->exchange(true)) {
        spdlog::warn("http responder called more than once; extra response dropped");
        return;
      }
      absl::ReaderMutexLock lock(&lifeline->mu);
      if (!lifeline->alive) return;
      std::shared_ptr<BeastSession> self = weak.lock();
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
    server_.requests_in_flight.fetch_add(1);
  }
  void EndRequest() {
    if (!in_request_) return;
    in_request_ = false;
    server_.requests_in_flight.fetch_sub(1);
  }

  void Write(HttpResponse in) {
    StopWatching();
    cancel_.reset();
    response_ = {};
    if (server_.draining.load()) keep_alive_ = false;
    response_.version(version_);
    if (in.status < 100 || in.status > 999) {
      spdlog::error("handler returned invalid HTTP status {}", in.status);
      in.status = 500;
      in.body = common::ErrorJson(absl::InternalError("handler returned an invalid status"));
    }
    response_.result(static_cast<unsigned>(in.status));
    response_.set(http::field::server, server_.options.server_name);
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
    stream_.expires_after(std::chrono::milliseconds(server_.options.idle_timeout_ms));
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&BeastSession::OnWrite, shared_from_this()));
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
    server_.forget(this);
  }

  beast::tcp_stream stream_;
  HttpServerShared& server_;
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
  // The signal of the request the handler works on (null between requests).
  std::shared_ptr<CancelSignal> cancel_;
  uint64_t watching_ = 0;  // the generation of the watch pending, 0: none
  uint64_t watch_generation_ = 0;
  std::array<char, 16 * 1024> drain_;
};

}  // namespace

std::shared_ptr<HttpSession> MakeHttpSession(tcp::socket socket, HttpServerShared& server,
                                             std::string client) {
  return std::make_shared<BeastSession>(std::move(socket), server, std::move(client));
}

}  // namespace stoa::common
