#include "tools/http_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/host_port.h"

namespace stoa::tools {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

}  // namespace

absl::StatusOr<HttpUrl> HttpUrl::Parse(const std::string& url) {
  std::string rest = url;
  HttpUrl out;
  if (absl::StartsWith(rest, "http://")) {
    rest = rest.substr(7);
  } else if (absl::StartsWith(rest, "https://")) {
    rest = rest.substr(8);
    out.tls = true;
  } else if (rest.find("://") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("gateway URL '", url, "': only http:// and https:// are supported"));
  }
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) out.prefix = rest.substr(slash);
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  absl::StatusOr<common::HostPort> address = common::ParseHostPort(authority);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gateway URL '", url, "': ", address.status().message()));
  }
  if (address->port == 0) {
    return absl::InvalidArgumentError(absl::StrCat("gateway URL '", url, "': port 0"));
  }
  out.host = std::move(address->host);
  out.port = address->port;
  return out;
}

std::string HttpUrl::HostPort() const { return common::FormatHostPort(host, port); }

std::string HttpResponse::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

class HttpConnection::Impl {
 public:
  Impl(HttpUrl url, int timeout_ms, const common::TlsClientFiles& tls)
      : url_(std::move(url)), timeout_ms_(timeout_ms) {
    if (!url_.tls) return;
    auto context = common::MakeTlsClientContext(tls);
    if (context.ok()) {
      context_ = *std::move(context);
    } else {
      setup_ = context.status();
    }
  }
  ~Impl() { Disconnect(); }

  const absl::Status& status() const { return setup_; }

  void SetHeader(const std::string& name, const std::string& value) {
    if (name.find_first_of("\r\n:") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      return;
    }
    std::erase_if(headers_, [&](const auto& h) { return absl::EqualsIgnoreCase(h.first, name); });
    if (!value.empty()) headers_.emplace_back(name, value);
  }

  absl::StatusOr<HttpResponse> Request(const std::string& method, const std::string& target,
                                       const std::string& body, const std::string& content_type) {
    if (!setup_.ok()) return setup_;
    // A kept-alive connection may have been closed by the server since the
    // last call: retry once on a fresh connection in that case.
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = Socket().is_open();
      if (!reused) {
        absl::Status s = Connect();
        if (!s.ok()) return s;
      }
      HttpResponse out;
      if (RoundTrip(method, target, body, content_type, out)) return out;
      Disconnect();
      if (!reused || ec_kind_ == Kind::kTimeout) break;
    }
    if (ec_kind_ == Kind::kTimeout) {
      return absl::DeadlineExceededError(
          absl::StrCat(method, " ", target, ": no response within ", timeout_ms_, " ms"));
    }
    return absl::UnavailableError(absl::StrCat(method, " ", target, ": ", last_error_));
  }

 private:
  enum class Kind { kNone, kTimeout, kOther };

  tcp::socket& Socket() { return tls_ ? tls_->next_layer() : socket_; }

  absl::Status Connect() {
    beast::error_code ec;
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(url_.host, std::to_string(url_.port), ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("resolve ", url_.HostPort(), ": ", ec.message()));
    }
    if (url_.tls) tls_ = std::make_unique<ssl::stream<tcp::socket>>(io_, *context_);
    asio::connect(Socket(), endpoints, ec);
    if (ec) {
      const std::string why = ec.message();  // Disconnect below resets ec
      Disconnect();
      return absl::UnavailableError(absl::StrCat("connect ", url_.HostPort(), ": ", why));
    }
    Socket().set_option(tcp::no_delay(true), ec);
    timeval tv{};
    tv.tv_sec = timeout_ms_ / 1000;
    tv.tv_usec = (timeout_ms_ % 1000) * 1000;
    ::setsockopt(Socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(Socket().native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    buffer_.clear();
    return url_.tls ? Handshake() : absl::OkStatus();
  }

  absl::Status Handshake() {
    if (absl::Status s = common::ConfigureClientConnection(tls_->native_handle(), url_.host);
        !s.ok()) {
      Disconnect();
      return s;
    }
    beast::error_code ec;
    tls_->handshake(ssl::stream_base::client, ec);
    if (!ec) return absl::OkStatus();
    const bool unverified = SSL_get_verify_result(tls_->native_handle()) != X509_V_OK;
    const std::string why =
        common::DescribeClientHandshakeError(tls_->native_handle(), ec.message());
    tls_->next_layer().close(ec);
    tls_.reset();
    const std::string message =
        absl::StrCat("TLS handshake with ", url_.HostPort(), " failed: ", why);
    if (unverified) {
      return absl::FailedPreconditionError(
          absl::StrCat(message,
                       " (--cacert FILE or STOA_CACERT names the CA that signed the server's "
                       "certificate)"));
    }
    return absl::UnavailableError(message);
  }

  // Closes the connection, over TLS with a close_notify (not waited for).
  void Disconnect() {
    beast::error_code ec;
    if (tls_) {
      if (tls_->next_layer().is_open() && SSL_is_init_finished(tls_->native_handle())) {
        SSL_shutdown(tls_->native_handle());
      }
      tls_->next_layer().close(ec);
      tls_.reset();
    }
    socket_.close(ec);
  }

  bool RoundTrip(const std::string& method, const std::string& target, const std::string& body,
                 const std::string& content_type, HttpResponse& out) {
    ec_kind_ = Kind::kNone;
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(url_.prefix + target);
    req.version(11);
    req.set(http::field::host, url_.HostPort());
    req.set(http::field::user_agent, "stoa-client");
    for (const auto& [name, value] : headers_) req.set(name, value);
    if (!body.empty() || method == "POST" || method == "PUT") {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.prepare_payload();
    return tls_ ? RoundTripOn(*tls_, req, out) : RoundTripOn(socket_, req, out);
  }

  template <class Stream>
  bool RoundTripOn(Stream& stream, http::request<http::string_body>& req, HttpResponse& out) {
    beast::error_code ec;
    http::write(stream, req, ec);
    if (ec) return Fail(ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    http::read(stream, buffer_, parser, ec);
    if (ec) return Fail(ec);
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (const auto& field : res) {
      out.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
          std::string(field.value());
    }
    if (!res.keep_alive()) Disconnect();
    return true;
  }

  bool Fail(const beast::error_code& ec) {
    const bool timeout = ec == asio::error::would_block || ec == asio::error::try_again ||
                         ec == asio::error::timed_out;
    ec_kind_ = timeout ? Kind::kTimeout : Kind::kOther;
    last_error_ = ec.message();
    return false;
  }

  HttpUrl url_;
  int timeout_ms_;
  absl::Status setup_;
  std::shared_ptr<ssl::context> context_;  // https only
  std::vector<std::pair<std::string, std::string>> headers_;
  asio::io_context io_;
  tcp::socket socket_{io_};                        // http
  std::unique_ptr<ssl::stream<tcp::socket>> tls_;  // https, while connected
  beast::flat_buffer buffer_;
  Kind ec_kind_ = Kind::kNone;
  std::string last_error_;
};

HttpConnection::HttpConnection(HttpUrl url, int timeout_ms, common::TlsClientFiles tls)
    : impl_(std::make_unique<Impl>(std::move(url), timeout_ms, tls)) {}
HttpConnection::~HttpConnection() = default;

absl::StatusOr<HttpResponse> HttpConnection::Request(const std::string& method,
                                                     const std::string& target,
                                                     const std::string& body,
                                                     const std::string& content_type) {
  return impl_->Request(method, target, body, content_type);
}

absl::Status HttpConnection::status() const { return impl_->status(); }

void HttpConnection::SetHeader(const std::string& name, const std::string& value) {
  impl_->SetHeader(name, value);
}

}  // namespace stoa::tools
