// TlsSocketStream: the server side of a TLS connection for the HTTP server
// (BasicHttpSession), built for a low cost per request.
//
// Boost's ssl::stream runs OpenSSL against a pair of memory BIOs and moves
// every record through them with composed operations on top of the socket's
// own; Beast's ssl_stream adds a flattening layer for writes. Per small
// request that is several extra handler allocations, executor hops and
// copies. Here OpenSSL talks to one BIO of ours (tls_socket_bio) that
//  - reads from `input`, the bytes this stream received from the socket
//    (one asynchronous read on the Beast stream when OpenSSL wants more:
//    its timeout, expires_after on next_layer(), applies as for plain TCP);
//  - writes straight to the socket (send, MSG_DONTWAIT | MSG_NOSIGNAL); what
//    the kernel does not take at once goes to `output`, which the operation
//    then writes asynchronously before it completes.
// So a request is one socket read, SSL_read and SSL_write, and one send.
//
// It models Asio's AsyncReadStream and AsyncWriteStream (what Beast's HTTP
// read and write need) plus async_handshake / async_shutdown (server only).
// Completion follows Asio's rules: a handler never runs inside the
// initiating call (an operation done at once is posted).
//
// Errors: a close_notify from the peer reads as asio::error::eof; the peer
// closing without one as asio::ssl::error::stream_truncated; an OpenSSL
// failure as an error of asio::error::get_ssl_category() (its message is
// OpenSSL's reason); a socket error as itself.
//
// Thread safety: one operation at a time (HTTP/1.1 on one connection never
// reads and writes at once), from the connection's strand. Not movable once constructed
// (OpenSSL's BIO points at its channel).
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "boost/asio/compose.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/ssl/error.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/basic_stream.hpp"
#include "boost/beast/core/buffers_prefix.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "common/http_session.h"

namespace stoa::common::detail {

// What OpenSSL's BIO and the stream share (tls_socket_bio.cc).
struct TlsChannel {
  int fd = -1;
  boost::beast::flat_buffer input;  // received, not yet taken by OpenSSL
  std::string output;               // encrypted, not yet sent
  bool eof = false;                 // the peer closed its side
  int send_errno = 0;               // a send that failed for good
};

// A BIO over `channel` (which must outlive it); null if OpenSSL fails.
BIO* NewTlsChannelBio(TlsChannel* channel);

// The error of a failed SSL_* call that returned `result`, given what the
// channel saw; see the header comment. Clears OpenSSL's error queue.
boost::system::error_code TlsCallError(SSL* ssl, int result, const TlsChannel& channel);

class TlsSocketStream {
 public:
  using executor_type = HttpSocket::executor_type;
  using next_layer_type = boost::beast::basic_stream<boost::asio::ip::tcp, executor_type>;

  TlsSocketStream(HttpSocket&& socket, boost::asio::ssl::context& context);
  ~TlsSocketStream();
  TlsSocketStream(const TlsSocketStream&) = delete;
  TlsSocketStream& operator=(const TlsSocketStream&) = delete;

  executor_type get_executor() { return tcp_.get_executor(); }
  next_layer_type& next_layer() { return tcp_; }
  SSL* native_handle() { return ssl_; }

  // Bytes already read from the socket (the first bytes, read to tell TLS
  // from plaintext): OpenSSL reads them before anything else.
  void Seed(std::string_view bytes);

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    const boost::asio::mutable_buffer first = FirstBuffer(buffers);
    return Run<Token>(
        [first](SSL* ssl) { return SSL_read(ssl, first.data(), ClampSize(first.size())); },
        first.size() == 0, std::forward<Token>(token));
  }

  // Writes at most kMaxWrite bytes per call, gathered into one buffer so a
  // response head and body leave in one TLS record (up to 16 KiB each).
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    const size_t size = boost::asio::buffer_copy(
        boost::asio::buffer(Gather(boost::asio::buffer_size(buffers))), buffers);
    return Run<Token>(
        [this, size](SSL* ssl) { return SSL_write(ssl, gather_.data(), static_cast<int>(size)); },
        size == 0, std::forward<Token>(token));
  }

  // Handler: void(error_code).
  template <class Token>
  auto async_handshake(Token&& token) {
    return RunVoid<Token>([](SSL* ssl) { return SSL_do_handshake(ssl); },
                          std::forward<Token>(token));
  }

  // Sends close_notify and waits for the peer's (bound it with
  // next_layer().expires_after). Handler: void(error_code).
  template <class Token>
  auto async_shutdown(Token&& token) {
    return RunVoid<Token>(
        [](SSL* ssl) {
          const int result = SSL_shutdown(ssl);  // 0: ours sent, theirs not yet read
          return result == 0 ? SSL_shutdown(ssl) : result;
        },
        std::forward<Token>(token));
  }

 private:
  static constexpr size_t kMaxWrite = 64 * 1024;
  static constexpr size_t kReadChunk = 16 * 1024 + 64;  // one full record

  static int ClampSize(size_t n) { return static_cast<int>(n < kMaxWrite ? n : kMaxWrite); }

  template <class MutableBuffers>
  static boost::asio::mutable_buffer FirstBuffer(const MutableBuffers& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::mutable_buffer b(*it);
      if (b.size() > 0) return b;
    }
    return {};
  }

  boost::asio::mutable_buffer Gather(size_t total) {
    gather_.resize(total < kMaxWrite ? total : kMaxWrite);
    return boost::asio::buffer(gather_);
  }

  // One SSL call retried until it succeeds or fails for good: OpenSSL
  // wanting input gets one socket read; output it could not send at once is
  // written before the next try or the completion. kWithSize: the handler
  // takes (error_code, size_t), else (error_code).
  template <class Call, bool kWithSize>
  struct Op {
    enum class State { kStart, kRead, kWrite, kDone };
    Op(TlsSocketStream& s, Call c, bool e) : stream(s), call(std::move(c)), empty(e) {}

    TlsSocketStream& stream;
    Call call;
    bool empty;  // nothing to do: complete at once with 0
    State state = State::kStart;
    bool done_after_write = false;
    boost::system::error_code result_ec;
    size_t result_n = 0;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, size_t n = 0) {
      switch (state) {
        case State::kStart:
          if (stream.ssl_ == nullptr) {  // SSL_new failed
            return Finish(self, boost::asio::error::no_memory, 0, /*posted=*/false);
          }
          if (empty) return Finish(self, {}, 0, /*posted=*/false);
          return Try(self, /*posted=*/false);
        case State::kRead:
          if (ec == boost::asio::error::eof) {
            stream.channel_->eof = true;  // OpenSSL sees the end on its next read
          } else if (ec) {
            return Complete(self, ec, 0);
          }
          stream.channel_->input.commit(n);
          return Try(self, /*posted=*/true);
        case State::kWrite:
          stream.sending_.clear();
          if (ec) return Complete(self, ec, 0);
          if (done_after_write) return Complete(self, {}, result_n);
          return Try(self, /*posted=*/true);
        case State::kDone:
          return Complete(self, result_ec, result_n);
      }
    }

    template <class Self>
    void Try(Self& self, bool posted) {
      TlsChannel& channel = *stream.channel_;
      // SSL_get_error needs an empty error queue before the call. It is
      // nearly always empty already (TlsCallError clears it), and peeking is
      // far cheaper than ERR_clear_error's sweep of every slot (callgrind:
      // ~550 instructions per call, three calls per keep-alive request).
      if (ERR_peek_error() != 0) ERR_clear_error();
      const int result = call(stream.ssl_);
      const int error = result > 0 ? SSL_ERROR_NONE : SSL_get_error(stream.ssl_, result);
      if (!channel.output.empty() && error != SSL_ERROR_SSL && error != SSL_ERROR_SYSCALL) {
        done_after_write = error == SSL_ERROR_NONE;
        result_n = done_after_write ? static_cast<size_t>(result) : 0;
        stream.sending_.swap(channel.output);
        state = State::kWrite;
        return boost::asio::async_write(stream.tcp_, boost::asio::buffer(stream.sending_),
                                        std::move(self));
      }
      if (error == SSL_ERROR_NONE) return Finish(self, {}, static_cast<size_t>(result), posted);
      if (error == SSL_ERROR_WANT_READ && !channel.eof) {
        state = State::kRead;
        return stream.tcp_.async_read_some(channel.input.prepare(kReadChunk), std::move(self));
      }
      return Finish(self, TlsCallError(stream.ssl_, result, channel), 0, posted);
    }

    // Completes now if this operation already waited (so the handler does
    // not run inside the initiating call), else after a post.
    template <class Self>
    void Finish(Self& self, boost::system::error_code ec, size_t n, bool posted) {
      if (posted) return Complete(self, ec, n);
      state = State::kDone;
      result_ec = ec;
      result_n = n;
      boost::asio::post(stream.tcp_.get_executor(), std::move(self));
    }

    template <class Self>
    static void Complete(Self& self, boost::system::error_code ec, size_t n) {
      if constexpr (kWithSize) {
        self.complete(ec, n);
      } else {
        self.complete(ec);
      }
    }
  };

  template <class Token, class Call>
  auto Run(Call call, bool empty, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, size_t)>(
        Op<Call, true>{*this, std::move(call), empty}, token, tcp_);
  }

  template <class Token, class Call>
  auto RunVoid(Call call, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        Op<Call, false>{*this, std::move(call), false}, token, tcp_);
  }

  next_layer_type tcp_;
  std::unique_ptr<TlsChannel> channel_;
  SSL* ssl_ = nullptr;
  std::string gather_;   // the plaintext of the write in progress
  std::string sending_;  // the ciphertext being written asynchronously
};

// The streams of an HTTP server connection: plain TCP (with Beast's
// timeouts) and TLS over it.
using TcpStream = TlsSocketStream::next_layer_type;
using TlsStream = TlsSocketStream;

template <class Stream>
Stream MakeStream(HttpSocket&& socket, boost::asio::ssl::context* context) {
  if constexpr (std::is_same_v<Stream, TcpStream>) {
    return Stream(std::move(socket));
  } else {
    return Stream(std::move(socket), *context);
  }
}

}  // namespace stoa::common::detail
