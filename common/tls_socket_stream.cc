#include "common/tls_socket_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace stoa::common::detail {
namespace {

namespace asio = boost::asio;

TlsChannel* ChannelOf(BIO* bio) { return static_cast<TlsChannel*>(BIO_get_data(bio)); }

// OpenSSL reads what the stream received; none yet: retry later (the stream
// reads the socket), unless the peer closed (0: end of file).
int ChannelRead(BIO* bio, char* out, int size) {
  TlsChannel* channel = ChannelOf(bio);
  BIO_clear_retry_flags(bio);
  const size_t have = channel->input.size();
  if (have == 0) {
    if (channel->eof) return 0;
    BIO_set_retry_read(bio);
    return -1;
  }
  const size_t n = have < static_cast<size_t>(size) ? have : static_cast<size_t>(size);
  std::memcpy(out, channel->input.data().data(), n);
  channel->input.consume(n);
  return static_cast<int>(n);
}

// Straight to the socket while nothing waits before it; the rest queues in
// `output` for the stream to write asynchronously. Never asks OpenSSL to
// retry: a write is taken whole or fails.
int ChannelWrite(BIO* bio, const char* data, int size) {
  TlsChannel* channel = ChannelOf(bio);
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  size_t sent = 0;
  if (channel->output.empty()) {
    while (sent < static_cast<size_t>(size)) {
      const ssize_t n = ::send(channel->fd, data + sent, static_cast<size_t>(size) - sent,
                               MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        channel->send_errno = n < 0 ? errno : EPIPE;
        return -1;
      }
    }
  }
  channel->output.append(data + sent, static_cast<size_t>(size) - sent);
  return size;
}

long ChannelCtrl(BIO* /*bio*/, int cmd, long /*num*/, void* /*ptr*/) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // flushing is the stream's business
}

int ChannelCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int ChannelDestroy(BIO* bio) { return bio != nullptr ? 1 : 0; }

BIO_METHOD* ChannelMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "stoa-tls-channel");
    if (m == nullptr) return m;
    BIO_meth_set_read(m, ChannelRead);
    BIO_meth_set_write(m, ChannelWrite);
    BIO_meth_set_ctrl(m, ChannelCtrl);
    BIO_meth_set_create(m, ChannelCreate);
    BIO_meth_set_destroy(m, ChannelDestroy);
    return m;
  }();
  return method;
}

}  // namespace

BIO* NewTlsChannelBio(TlsChannel* channel) {
  BIO_METHOD* method = ChannelMethod();
  if (method == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio != nullptr) BIO_set_data(bio, channel);
  return bio;
}

boost::system::error_code TlsCallError(SSL* ssl, int result, const TlsChannel& channel) {
  const int error = SSL_get_error(ssl, result);
  boost::system::error_code ec;
  if (error == SSL_ERROR_ZERO_RETURN) {
    ec = asio::error::eof;
  } else if (error == SSL_ERROR_SSL) {
    const unsigned long code = ERR_peek_last_error();  // NOLINT(runtime/int): OpenSSL's type
    ec = boost::system::error_code(static_cast<int>(code), asio::error::get_ssl_category());
  } else if (channel.send_errno != 0) {
    ec = boost::system::error_code(channel.send_errno, asio::error::get_system_category());
  } else if (channel.eof) {
    ec = asio::ssl::error::stream_truncated;
  } else {
    ec = asio::error::connection_reset;
  }
  ERR_clear_error();
  return ec;
}

TlsSocketStream::TlsSocketStream(HttpSocket&& socket, asio::ssl::context& context)
    : tcp_(std::move(socket)), channel_(std::make_unique<TlsChannel>()) {
  channel_->fd = tcp_.socket().native_handle();
  ssl_ = SSL_new(context.native_handle());
  BIO* bio = ssl_ != nullptr ? NewTlsChannelBio(channel_.get()) : nullptr;
  if (bio == nullptr) {
    // Out of memory: the handshake fails at once and the session closes.
    if (ssl_ != nullptr) SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  SSL_set_bio(ssl_, bio, bio);  // one reference, owned by ssl_
  SSL_set_accept_state(ssl_);
  SSL_set_read_ahead(ssl_, 1);  // a whole received chunk per BIO read
}

TlsSocketStream::~TlsSocketStream() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

void TlsSocketStream::Seed(std::string_view bytes) {
  auto space = channel_->input.prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  channel_->input.commit(bytes.size());
}

}  // namespace stoa::common::detail
