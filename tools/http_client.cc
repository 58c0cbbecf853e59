#include "tools/http_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/host_port.h"

namespace stoa::tools {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

}  // namespace

absl::StatusOr<HttpUrl> HttpUrl::Parse(const std::string& url) {
  std::string rest = url;
  const std::string scheme = "http://";
  if (rest.rfind(scheme, 0) == 0) {
    rest = rest.substr(scheme.size());
  } else if (rest.find("://") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("gateway URL '", url, "': only http:// is supported"));
  }
  HttpUrl out;
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
  Impl(HttpUrl url, int timeout_ms) : url_(std::move(url)), timeout_ms_(timeout_ms) {}

  absl::StatusOr<HttpResponse> Request(const std::string& method, const std::string& target,
                                       const std::string& body, const std::string& content_type) {
    // A kept-alive connection may have been closed by the server since the
    // last call: retry once on a fresh connection in that case.
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = socket_.is_open();
      if (!reused) {
        absl::Status s = Connect();
        if (!s.ok()) return s;
      }
      beast::error_code ec;
      HttpResponse out;
      if (RoundTrip(method, target, body, content_type, out, ec)) return out;
      socket_.close(ec);
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

  absl::Status Connect() {
    beast::error_code ec;
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(url_.host, std::to_string(url_.port), ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("resolve ", url_.HostPort(), ": ", ec.message()));
    }
    asio::connect(socket_, endpoints, ec);
    if (ec) {
      const std::string why = ec.message();  // close() below resets ec
      socket_.close(ec);
      return absl::UnavailableError(absl::StrCat("connect ", url_.HostPort(), ": ", why));
    }
    socket_.set_option(tcp::no_delay(true), ec);
    timeval tv{};
    tv.tv_sec = timeout_ms_ / 1000;
    tv.tv_usec = (timeout_ms_ % 1000) * 1000;
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    buffer_.clear();
    return absl::OkStatus();
  }

  bool RoundTrip(const std::string& method, const std::string& target, const std::string& body,
                 const std::string& content_type, HttpResponse& out, beast::error_code& ec) {
    ec_kind_ = Kind::kNone;
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(url_.prefix + target);
    req.version(11);
    req.set(http::field::host, url_.HostPort());
    req.set(http::field::user_agent, "stoa-client");
    if (!body.empty() || method == "POST" || method == "PUT") {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.prepare_payload();
    http::write(socket_, req, ec);
    if (ec) return Fail(ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    http::read(socket_, buffer_, parser, ec);
    if (ec) return Fail(ec);
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (const auto& field : res) {
      out.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
          std::string(field.value());
    }
    if (!res.keep_alive()) socket_.close(ec);
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
  asio::io_context io_;
  tcp::socket socket_{io_};
  beast::flat_buffer buffer_;
  Kind ec_kind_ = Kind::kNone;
  std::string last_error_;
};

HttpConnection::HttpConnection(HttpUrl url, int timeout_ms)
    : impl_(std::make_unique<Impl>(std::move(url), timeout_ms)) {}
HttpConnection::~HttpConnection() = default;

absl::StatusOr<HttpResponse> HttpConnection::Request(const std::string& method,
                                                     const std::string& target,
                                                     const std::string& body,
                                                     const std::string& content_type) {
  return impl_->Request(method, target, body, content_type);
}

}  // namespace stoa::tools
