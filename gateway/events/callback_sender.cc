#include "gateway/events/callback_sender.h"

#include <algorithm>
#include <optional>

#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "spdlog/spdlog.h"

namespace stoa::gateway::events {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

struct Url {
  std::string host, port, target;
};

// http://HOST[:PORT][/PATH]; nullopt for anything else.
std::optional<Url> ParseUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return std::nullopt;
  std::string rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  Url out;
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string authority = rest.substr(0, slash);
  const size_t colon = authority.rfind(':');
  out.host = colon == std::string::npos ? authority : authority.substr(0, colon);
  out.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (out.host.empty()) return std::nullopt;
  return out;
}

}  // namespace

CallbackSender::CallbackSender(Options options) : options_(options) {
  thread_ = std::thread([this] { Loop(); });
}

CallbackSender::~CallbackSender() { Stop(); }

void CallbackSender::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
  }
  if (thread_.joinable()) thread_.join();
}

void CallbackSender::Send(std::string url, std::string id, std::string body, Done done) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  queue_.push_back(
      Delivery{std::move(url), std::move(id), std::move(body), 0, absl::Now(), std::move(done)});
}

void CallbackSender::Loop() {
  for (;;) {
    Delivery d;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](CallbackSender* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                 return s->stopping_ || (!s->queue_.empty() &&
                                                         s->queue_.front().next <= absl::Now());
                               },
                               this),
                           absl::Milliseconds(100));
      if (stopping_) return;
      if (queue_.empty() || queue_.front().next > absl::Now()) {
        // The head waits for its backoff; let the others go first.
        if (queue_.size() > 1) std::rotate(queue_.begin(), queue_.begin() + 1, queue_.end());
        continue;
      }
      d = std::move(queue_.front());
      queue_.pop_front();
    }
    const int status = Post(d);
    if (status >= 200 && status < 300) {
      if (d.done) d.done();
      continue;
    }
    if (++d.attempts >= options_.max_attempts) {
      spdlog::warn("callback for {} to {}: giving up after {} attempts (last status {})", d.id,
                   d.url, d.attempts, status);
      if (d.done) d.done();
      continue;
    }
    d.next = absl::Now() + std::min(absl::Seconds(30), absl::Milliseconds(500) * (1 << d.attempts));
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(d));
  }
}

int CallbackSender::Post(const Delivery& d) const {
  auto url = ParseUrl(d.url);
  if (!url) return 0;
  try {
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(absl::ToChronoMilliseconds(options_.timeout));
    tcp::resolver resolver(io);
    stream.connect(resolver.resolve(url->host, url->port));
    http::request<http::string_body> req(http::verb::post, url->target, 11);
    req.set(http::field::host, url->host);
    req.set(http::field::content_type, "application/json");
    req.set("Stoa-Invocation-Id", d.id);
    req.body() = d.body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return static_cast<int>(res.result_int());
  } catch (const std::exception& e) {
    spdlog::debug("callback for {} to {}: {}", d.id, d.url, e.what());
    return 0;
  }
}

}  // namespace stoa::gateway::events
