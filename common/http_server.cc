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
#include "common/http_session.h"
#include "common/http_status.h"
#include "common/listen_socket.h"
#include "spdlog/spdlog.h"

namespace stoa::common {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Accept errors (out of file descriptors) retry after 10 ms, doubling to 1 s.
constexpr std::chrono::milliseconds kAcceptBackoffMin(10);
constexpr std::chrono::milliseconds kAcceptBackoffMax(1000);
// Repeated warnings (refused connections, accept errors) at most this often.
constexpr std::chrono::seconds kWarnEvery(1);

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

}  // namespace

class HttpServer::Impl {
 public:
  Impl(Options options, HttpHandler& handler)
      : options_(std::move(options)),
        shared_(options_, handler, [this](HttpSession* session) { Forget(session); }),
        max_connections_(ResolveMaxConnections(shared_.options.max_connections)),
        ioc_(std::max(1, shared_.options.threads)),
        accept_strand_(asio::make_strand(ioc_)),
        acceptor_(accept_strand_),
        accept_retry_(accept_strand_) {}
  ~Impl() { Stop(); }

  absl::StatusOr<uint16_t> Start();
  void Stop();
  size_t Drain(int timeout_ms);
  size_t CancelInFlight();
  Stats stats() const;
  int max_connections() const { return max_connections_; }
  const std::string& address() const { return address_; }

 private:
  void DoAccept();
  void OnAccept(beast::error_code ec, HttpSocket socket);
  void OnAcceptError(beast::error_code ec);
  // Adds the session unless a cap refuses it; returns the refusal, else "".
  std::string Admit(const std::shared_ptr<HttpSession>& session);
  // Counts (and logs, rate-limited) a connection closed unserved.
  void Refuse(const std::string& client, const std::string& why);
  void Forget(HttpSession* session);

  const Options options_;
  HttpServerShared shared_;  // with every session
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
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> accept_errors_{0};
  std::vector<std::thread> threads_;
  bool running_ = false;
  bool stopped_ = false;
  std::string address_;  // set by Start

  // Owns every open connection, so a session waiting for its handler stays
  // alive without the responder owning it (a responder may outlive Stop).
  mutable absl::Mutex sessions_mu_;
  absl::flat_hash_map<HttpSession*, std::shared_ptr<HttpSession>> sessions_
      ABSL_GUARDED_BY(sessions_mu_);
  // Open connections per client IP address (only non-zero counts).
  absl::flat_hash_map<std::string, int> per_client_ ABSL_GUARDED_BY(sessions_mu_);
};

absl::StatusOr<uint16_t> HttpServer::Impl::Start() {
  if (running_ || stopped_) {
    return absl::FailedPreconditionError("http server already started (a server starts once)");
  }
  if (absl::Status s = ListenOn(acceptor_, HostPort{shared_.options.host, shared_.options.port});
      !s.ok()) {
    return s;
  }
  beast::error_code ec;
  const tcp::endpoint bound = acceptor_.local_endpoint(ec);
  if (ec) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", FormatHostPort(shared_.options.host, shared_.options.port),
        ": getsockname: ", ec.message()));
  }
  address_ = FormatHostPort(bound.address().to_string(), bound.port());

  work_.emplace(ioc_.get_executor());
  DoAccept();
  running_ = true;
  const int threads = std::max(1, shared_.options.threads);
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { ioc_.run(); });
  }
  return bound.port();
}

void HttpServer::Impl::DoAccept() {
  acceptor_.async_accept(asio::make_strand(ioc_), beast::bind_front_handler(&Impl::OnAccept, this));
}

void HttpServer::Impl::OnAccept(beast::error_code ec, HttpSocket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) return OnAcceptError(ec);
  accept_backoff_.Reset();
  beast::error_code endpoint_error;
  const tcp::endpoint peer = socket.remote_endpoint(endpoint_error);
  std::string client = endpoint_error ? std::string() : peer.address().to_string();
  if (shared_.draining.load()) {
    // Counted before the close, so whoever sees the close sees the count.
    Refuse(client, "the server is shutting down");
    beast::error_code ignored;
    socket.close(ignored);
    return DoAccept();
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto session = MakeHttpSession(std::move(socket), shared_, std::move(client));
  if (std::string why = Admit(session); !why.empty()) {
    Refuse(session->client(), why);
    session->CloseNow();
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

std::string HttpServer::Impl::Admit(const std::shared_ptr<HttpSession>& session) {
  absl::MutexLock lock(&sessions_mu_);
  if (sessions_.size() >= static_cast<size_t>(max_connections_)) {
    return absl::StrCat("over the connection limit (", max_connections_, ")");
  }
  const int per_client = shared_.options.max_connections_per_client;
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

void HttpServer::Impl::Forget(HttpSession* session) {
  std::shared_ptr<HttpSession> last;  // destroyed outside the lock
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
  if (!shared_.draining.exchange(true)) {
    std::promise<void> closed;
    asio::post(accept_strand_, [this, &closed] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      accept_retry_.cancel();
      closed.set_value();
    });
    closed.get_future().wait();
  }
  std::vector<std::shared_ptr<HttpSession>> sessions;
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

size_t HttpServer::Impl::CancelInFlight() {
  std::vector<std::shared_ptr<HttpSession>> sessions;
  {
    absl::MutexLock lock(&sessions_mu_);
    for (auto& [ptr, session] : sessions_) sessions.push_back(session);
  }
  // After Stop there are no sessions; a post to a stopped io_context never runs.
  for (const auto& session : sessions) session->CancelRequest();
  return sessions.size();
}

HttpServer::Stats HttpServer::Impl::stats() const {
  Stats stats;
  {
    absl::MutexLock lock(&sessions_mu_);
    stats.connections = sessions_.size();
  }
  stats.requests_in_flight =
      static_cast<size_t>(std::max<int64_t>(0, shared_.requests_in_flight.load()));
  stats.refused_connections = refused_.load();
  stats.accept_errors = accept_errors_.load();
  stats.tls_handshake_failures = shared_.tls_handshake_failures.load();
  return stats;
}

void HttpServer::Impl::Stop() {
  {
    absl::MutexLock lock(&shared_.lifeline->mu);
    shared_.lifeline->alive = false;
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
  absl::flat_hash_map<HttpSession*, std::shared_ptr<HttpSession>> sessions;
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

size_t HttpServer::CancelInFlight() { return impl_->CancelInFlight(); }

HttpServer::Stats HttpServer::stats() const { return impl_->stats(); }

int HttpServer::max_connections() const { return impl_->max_connections(); }

}  // namespace stoa::common
