// BasicHttpSession<Stream>: one connection of the HttpServer, over plain TCP
// (TcpStream, a beast::basic_stream) or TLS (TlsSocketStream over one); the
// behaviour is described in http_session.h and http_server.h. Internal to
// the server: only http_session.cc includes this.
//
// Thread safety: every member is touched only on the connection's strand,
// except that the server closes the socket after its I/O threads joined.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/read.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/core/detect_ssl.hpp"
#include "boost/beast/http.hpp"
#include "common/http_session.h"
#include "common/http_status.h"
#include "common/http_wire.h"
#include "common/tls_pem.h"
#include "common/tls_socket_stream.h"
#include "common/upload_reader.h"
#include "spdlog/spdlog.h"

namespace stoa::common::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
template <class Stream>
class BasicHttpSession final : public HttpSession,
                               public std::enable_shared_from_this<BasicHttpSession<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  // `context` (TLS only, else null) stays alive as long as the connection.
  BasicHttpSession(HttpSocket socket, HttpServerShared& server, std::string client,
                   std::shared_ptr<asio::ssl::context> context)
      : context_(std::move(context)),
        stream_(MakeStream<Stream>(std::move(socket), context_.get())),
        watch_timer_(stream_.get_executor()),
        server_(server),
        client_(std::move(client)) {}

  const std::string& client() const override { return client_; }

  void Start() override {
    asio::dispatch(stream_.get_executor(), [self = Self()] {
      if constexpr (kTls) {
        self->DetectTls();
      } else {
        self->WaitForRequest();
      }
    });
  }

  void Drain() override {
    asio::post(stream_.get_executor(), [self = Self()] {
      if (self->waiting_) self->Tcp().cancel();
    });
  }

  void CancelRequest() override {
    asio::post(stream_.get_executor(), [self = Self()] {
      if (self->cancel_) self->cancel_->Cancel();
    });
  }

  void CloseNow() override {
    beast::error_code ec;
    Tcp().socket().close(ec);
  }

 private:
  std::shared_ptr<BasicHttpSession> Self() { return this->shared_from_this(); }
  TcpStream& Tcp() { return beast::get_lowest_layer(stream_); }
  void Expire(int ms) { Tcp().expires_after(std::chrono::milliseconds(ms)); }
  int HeaderTimeoutMs() const {
    return std::min(server_.options.header_timeout_ms, server_.options.idle_timeout_ms);
  }

  // TLS: the first bytes tell a ClientHello from plaintext; detection and
  // handshake together are bounded by the header timeout.
  void DetectTls() {
    if (server_.draining.load()) return Finish();
    waiting_ = true;
    Expire(HeaderTimeoutMs());
    beast::async_detect_ssl(Tcp(), buffer_, [self = Self()](beast::error_code ec, bool tls) {
      self->waiting_ = false;
      if (ec) return self->Finish();  // gone (or silent) before its first byte
      if (!tls) return self->RefusePlaintext();
      self->Handshake();
    });
  }

  void Handshake() {
    if constexpr (kTls) {
      waiting_ = true;
      // The bytes read to detect TLS are the start of the ClientHello.
      stream_.Seed(
          std::string_view(static_cast<const char*>(buffer_.data().data()), buffer_.size()));
      buffer_.consume(buffer_.size());
      stream_.async_handshake([self = Self()](beast::error_code ec) {
        self->waiting_ = false;
        if (ec == asio::error::operation_aborted) return self->Finish();  // draining
        if (ec) {
          self->server_.NoteTlsFailure(self->client_,
                                       absl::StrCat("TLS handshake failed: ", ec.message()));
          return self->Finish();
        }
        self->handshake_done_ = true;
        self->peer_names_ = VerifiedPeerNames(self->stream_.native_handle());
        self->WaitForRequest();
      });
    }
  }

  // Plaintext HTTP on the TLS port: a plaintext 400 that says so, as nginx
  // does, rather than a handshake failure the client cannot explain.
  void RefusePlaintext() {
    server_.NoteTlsFailure(client_, "plaintext HTTP on the TLS port");
    refusal_ = PlaintextOnTlsResponse(
        std::string_view(static_cast<const char*>(buffer_.data().data()), buffer_.size()),
        server_.options.server_name);
    buffer_.consume(buffer_.size());
    Expire(server_.options.idle_timeout_ms);
    asio::async_write(Tcp(), asio::buffer(refusal_), [self = Self()](beast::error_code ec, size_t) {
      if (ec) return self->Finish();
      beast::error_code ignored;
      self->Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->Linger();
    });
  }

  // Until the first byte of a request, the idle timeout runs; then the
  // header timeout.
  void WaitForRequest() {
    if (server_.draining.load()) return Finish();
    if (buffer_.size() > 0) return ReadHeader();  // pipelined
    waiting_ = true;
    Expire(server_.options.idle_timeout_ms);
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = Self()](beast::error_code ec, size_t n) {
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
    Expire(HeaderTimeoutMs());
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
                              [self = Self()](beast::error_code ec, size_t n) {
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
    // Known before Beast checks Content-Length against the body limit.
    upload_limit_ = UploadLimit(server_.options, data);
    if (upload_limit_ > 0) parser_->body_limit(upload_limit_);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&BasicHttpSession::OnHeader, Self()));
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
                        [self = Self()](beast::error_code wec, size_t) {
                          if (wec) return self->Finish();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    Expire(server_.options.idle_timeout_ms);
    if (upload_limit_ > 0) return StartUpload();
    if (auto length = parser_->content_length(); length && !parser_->chunked()) {
      return ReadBodyDirect(static_cast<size_t>(*length));  // within the body limit already
    }
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&BasicHttpSession::OnRead, Self()));
  }

  // A Content-Length body goes straight into the message's string, sized once, in reads as
  // large as the socket gives (not 64 KiB reads through buffer_, each re-arming the timer).
  void ReadBodyDirect(size_t length) {
    std::string& body = parser_->get().body();
    body.resize(length);
    const size_t have = std::min(length, buffer_.size());
    asio::buffer_copy(asio::buffer(body.data(), have), buffer_.data());
    buffer_.consume(have);                     // what follows is a pipelined request
    if (have == length) return OnRead({}, 0);  // a zero-size read could wait on TLS
    asio::async_read(
        stream_, asio::buffer(body.data() + have, length - have),
        [left = length - have](const beast::error_code& ec, size_t done) -> size_t {
          return ec ? 0 : left - done;  // no 64 KiB cap per read (asio's transfer_all)
        },
        [self = Self()](beast::error_code ec, size_t) {
          if (ec == asio::error::eof) ec = http::error::partial_message;
          self->OnRead(ec, 0);
        });
  }

  // An upload route: the body goes to a file chunk by chunk, each chunk
  // within the idle timeout (a large upload may take long in all).
  void StartUpload() {
    auto reader =
        UploadReader::Start(std::move(*parser_), upload_limit_, server_.options.upload_dir);
    parser_.reset();
    if (!reader.ok()) return WriteError(ToHttpStatus(reader.status().code()), reader.status());
    upload_ = *std::move(reader);
    ReadUploadChunk();
  }

  void ReadUploadChunk() {
    Expire(server_.options.idle_timeout_ms);
    upload_->ReadSome(stream_, buffer_, [self = Self()](beast::error_code ec, size_t) {
      UploadReader::Step step = self->upload_->Take(ec);
      if (!step.read_error && !step.done) return self->ReadUploadChunk();
      http::request<http::buffer_body> msg = self->upload_->Release();
      self->upload_.reset();  // removes an unfinished file
      if (step.read_error) return self->OnReadError(step.read_error);
      if (!step.body.ok()) {
        return self->WriteError(ToHttpStatus(step.body.status().code()), step.body.status());
      }
      self->Dispatch(msg, std::string(), *std::move(step.body));
    });
  }

  void OnReadError(beast::error_code ec) {
    if (auto answer = ReadErrorAnswer(ec, upload_limit_, server_.options)) {
      return WriteError(answer->first, answer->second);
    }
    Finish();  // a client that goes away (or idles past the timeout) gets no answer
  }

  void OnRead(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    http::request<http::string_body> msg = parser_->release();
    parser_.reset();
    std::string body = std::move(msg.body());
    Dispatch(msg, std::move(body), nullptr);
  }

  // Hands a complete request to the handler.
  template <class Message>
  void Dispatch(const Message& msg, std::string body, std::shared_ptr<SpooledBody> upload) {
    BeginRequest();
    version_ = msg.version();
    keep_alive_ = msg.keep_alive();
    head_ = msg.method() == http::verb::head;

    HttpRequest request = RequestHead(msg);
    request.cancel = cancel_ = std::make_shared<CancelSignal>();
    request.body = std::move(body);
    request.upload = std::move(upload);
    request.tls = kTls;
    request.peer_names = peer_names_;
    request.client = client_;
    absl::Status parsed = ParseTarget(request.target, &request);
    if (!parsed.ok()) {
      return Write(ErrorResponse(400, parsed));
    }

    // No timeout while the handler runs: invocation deadlines are the
    // gateway's business, and the idle timer restarts on the next read.
    Tcp().expires_never();
    // Bytes already read belong to a pipelined request: the client is there.
    if (buffer_.size() == 0) WatchForClose();
    HttpResponder respond = MakeResponder();
    try {
      server_.handler.Handle(std::move(request), respond);
    } catch (const std::exception& e) {
      spdlog::error("http handler threw: {}", e.what());
      respond(ErrorResponse(500, absl::InternalError(e.what())));
    }
  }

  // While the handler works, a readable socket means the client closed it
  // (EOF or an error: the request is cancelled) or sent more bytes. Over
  // TCP those bytes are a pipelined request: the client is there, watching
  // stops. Over TLS they may be an alert (close_notify) as well, so the
  // connection is checked again every kTlsWatchEvery for the FIN
  // (POLLRDHUP) until the response is written. Write stops the watch.
  void WatchForClose() {
    watching_ = ++watch_generation_;
    Tcp().socket().async_wait(tcp::socket::wait_read,
                              [self = Self(), generation = watching_](beast::error_code ec) {
                                self->OnReadable(ec, generation);
                              });
  }

  void OnReadable(beast::error_code ec, uint64_t generation) {
    if (watching_ != generation || ec == asio::error::operation_aborted) return;
    watching_ = 0;
    bool closed = static_cast<bool>(ec);
    if (!closed) {
      const int fd = Tcp().socket().native_handle();
      pollfd p{fd, POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 0) < 0) return WatchForClose();
      closed = (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
      if (!closed && (p.revents & POLLIN) == 0) return WatchForClose();  // spurious
      if constexpr (!kTls) {
        // A pipelined request: the client is there (even if it half-closed).
        char byte = 0;
        if (closed) closed = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
      } else if (!closed) {
        watching_ = generation;
        watch_timer_.expires_after(kTlsWatchEvery);
        watch_timer_.async_wait([self = Self(), generation](beast::error_code wec) {
          self->OnReadable(wec, generation);
        });
        return;
      }
    }
    if (closed && cancel_) cancel_->Cancel();
  }

  void StopWatching() {
    if (watching_ == 0) return;
    watching_ = 0;
    watch_timer_.cancel();
    beast::error_code ignored;
    Tcp().socket().cancel(ignored);  // only the wait is pending while the handler works
  }

  HttpResponder MakeResponder() {
    std::weak_ptr<BasicHttpSession> weak = this->weak_from_this();
    std::shared_ptr<Lifeline> lifeline = server_.lifeline;
    auto called = std::make_shared<std::atomic<bool>>(false);
    return [weak, lifeline, called](HttpResponse response) {
      if (called->exchange(true)) {
        spdlog::warn("http responder called more than once; extra response dropped");
        return;
      }
      absl::ReaderMutexLock lock(&lifeline->mu);
      if (!lifeline->alive) return;
      std::shared_ptr<BasicHttpSession> self = weak.lock();
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
    Write(ErrorResponse(status, error));
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
    if (server_.draining.load()) keep_alive_ = false;
    BuildResponse(std::move(in), version_, keep_alive_, head_, server_.options.server_name,
                  response_);
    Expire(server_.options.idle_timeout_ms);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&BasicHttpSession::OnWrite, Self()));
  }

  void OnWrite(beast::error_code ec, size_t /*bytes*/) {
    EndRequest();
    if (ec) return Finish();
    if (keep_alive_) return WaitForRequest();
    if constexpr (kTls) return Finish();  // close_notify tells the client the end
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (linger_) return Linger();
    Finish();
  }

  void Linger() {
    Expire(kLingerMs);
    Tcp().async_read_some(asio::buffer(drain_), [self = Self()](beast::error_code ec, size_t) {
      if (ec) return self->Close();
      self->Linger();
    });
  }

  // Ends the connection: over TLS after a handshake, with a close_notify
  // exchange bounded by kLingerMs (a peer that already closed or broke the
  // session fails it at once).
  void Finish() {
    EndRequest();
    if constexpr (kTls) {
      if (handshake_done_ && !shutting_down_ && Tcp().socket().is_open()) {
        shutting_down_ = true;
        Expire(kLingerMs);
        stream_.async_shutdown([self = Self()](beast::error_code) { self->Close(); });
        return;
      }
    }
    Close();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    EndRequest();
    beast::error_code ignored;
    Tcp().socket().close(ignored);
    server_.forget(this);
  }

  const std::shared_ptr<asio::ssl::context> context_;  // before stream_, which uses it
  Stream stream_;
  asio::steady_timer watch_timer_;
  HttpServerShared& server_;
  const std::string client_;  // the peer's IP address
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  uint64_t upload_limit_ = 0;             // of the request being read; 0: not an upload
  std::unique_ptr<UploadReader> upload_;  // the upload being read
  http::response<http::string_body> response_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool linger_ = false;
  bool waiting_ = false;     // between requests (or before the handshake), nothing read yet
  bool in_request_ = false;  // counted in requests_in_flight_
  bool handshake_done_ = false;
  bool shutting_down_ = false;
  bool closed_ = false;
  std::vector<std::string> peer_names_;  // of a verified client certificate
  std::string refusal_;                  // the plaintext 400 being written
  // The signal of the request the handler works on (null between requests).
  std::shared_ptr<CancelSignal> cancel_;
  uint64_t watching_ = 0;  // the generation of the watch pending, 0: none
  uint64_t watch_generation_ = 0;
  std::array<char, 16 * 1024> drain_;
};

}  // namespace stoa::common::detail
