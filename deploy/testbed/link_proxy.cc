#include "deploy/testbed/link_proxy.h"

#include <chrono>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/co_spawn.hpp"
#include "boost/asio/detached.hpp"
#include "boost/asio/redirect_error.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "boost/asio/write.hpp"
#include "common/host_port.h"
#include "common/listen_socket.h"
#include "spdlog/spdlog.h"

namespace stoa::deploy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

// `status` with the flag it is about in front: "--listen: ...".
absl::Status WithFlag(const char* flag, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(flag, ": ", status.message()));
}

constexpr auto kBlackholePoll = std::chrono::milliseconds(10);

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

Clock::time_point AtMicros(int64_t us) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(us)));
}

// One connection: client <-> upstream, two independent directions.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket client, const LinkProxy::Options& options, LinkShaper& to_upstream,
          LinkShaper& to_client)
      : client_(std::move(client)),
        upstream_(client_.get_executor()),
        options_(options),
        up_(client_, upstream_, to_upstream),
        down_(upstream_, client_, to_client) {}

  // `self` keeps the session alive while it connects.
  awaitable<void> Run(std::shared_ptr<Session> self, tcp::endpoint upstream) {
    boost::system::error_code ec;
    co_await upstream_.async_connect(upstream, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      spdlog::warn("upstream {}:{} refused: {}", upstream.address().to_string(), upstream.port(),
                   ec.message());
      Close();
      co_return;
    }
    upstream_.set_option(tcp::no_delay(true), ec);
    client_.set_option(tcp::no_delay(true), ec);
    for (Pipe* pipe : {&up_, &down_}) {
      asio::co_spawn(client_.get_executor(), Read(self, *pipe), asio::detached);
      asio::co_spawn(client_.get_executor(), Write(self, *pipe), asio::detached);
    }
  }

 private:
  struct Chunk {
    std::vector<char> data;
    int64_t release_us;
  };
  // One direction: bytes read from `from`, released to `to`.
  struct Pipe {
    Pipe(tcp::socket& from_socket, tcp::socket& to_socket, LinkShaper& link_shaper)
        : from(from_socket),
          to(to_socket),
          shaper(link_shaper),
          wake(from_socket.get_executor()),
          space(from_socket.get_executor()),
          release(from_socket.get_executor()) {}
    tcp::socket& from;
    tcp::socket& to;
    LinkShaper& shaper;
    std::deque<Chunk> queue;
    size_t queued_bytes = 0;
    int64_t last_release_us = 0;
    bool eof = false;
    asio::steady_timer wake;     // the writer waits here for data
    asio::steady_timer space;    // the reader waits here for room
    asio::steady_timer release;  // the writer waits here for a release time
  };

  // Waits on `timer` until it is cancelled or expires.
  static awaitable<void> Sleep(asio::steady_timer& timer, Clock::time_point until) {
    boost::system::error_code ec;
    timer.expires_at(until);
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }

  // `self` keeps the session alive while this direction runs.
  awaitable<void> Read([[maybe_unused]] std::shared_ptr<Session> self, Pipe& pipe) {
    boost::system::error_code ec;
    for (;;) {
      while (!closed_ &&
             (pipe.shaper.Blackholed() || pipe.queued_bytes > options_.max_queued_bytes)) {
        if (pipe.shaper.Blackholed()) {
          co_await Sleep(pipe.space, Clock::now() + kBlackholePoll);
        } else {
          co_await Sleep(pipe.space, Clock::time_point::max());
        }
      }
      if (closed_) co_return;
      std::vector<char> data(options_.chunk_bytes);
      size_t n = co_await pipe.from.async_read_some(asio::buffer(data),
                                                    asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec != asio::error::eof) {
          Close();
          co_return;
        }
        pipe.eof = true;
        pipe.wake.cancel();
        co_return;
      }
      data.resize(n);
      pipe.last_release_us = pipe.shaper.Schedule(NowMicros(), n, pipe.last_release_us);
      pipe.queued_bytes += n;
      pipe.queue.push_back(Chunk{std::move(data), pipe.last_release_us});
      pipe.wake.cancel();
    }
  }

  awaitable<void> Write([[maybe_unused]] std::shared_ptr<Session> self, Pipe& pipe) {
    boost::system::error_code ec;
    while (!closed_) {
      if (pipe.queue.empty()) {
        if (pipe.eof) {
          pipe.to.shutdown(tcp::socket::shutdown_send, ec);
          co_return;
        }
        co_await Sleep(pipe.wake, Clock::time_point::max());
        continue;
      }
      const int64_t release_us = pipe.queue.front().release_us;
      if (release_us > NowMicros()) {
        co_await Sleep(pipe.release, AtMicros(release_us));
        continue;
      }
      co_await asio::async_write(pipe.to, asio::buffer(pipe.queue.front().data),
                                 asio::redirect_error(use_awaitable, ec));
      if (ec) {
        Close();
        co_return;
      }
      pipe.queued_bytes -= pipe.queue.front().data.size();
      pipe.queue.pop_front();
      pipe.space.cancel();
    }
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    client_.close(ec);
    upstream_.close(ec);
    for (Pipe* pipe : {&up_, &down_}) {
      pipe->wake.cancel();
      pipe->space.cancel();
      pipe->release.cancel();
    }
  }

  tcp::socket client_;
  tcp::socket upstream_;
  const LinkProxy::Options options_;
  Pipe up_;
  Pipe down_;
  bool closed_ = false;
};

}  // namespace

LinkProxy::LinkProxy(asio::io_context& io, const Options& options, LinkShaper& to_upstream,
                     LinkShaper& to_client)
    : io_(io), options_(options), to_upstream_(to_upstream), to_client_(to_client), acceptor_(io) {}

LinkProxy::~LinkProxy() = default;

absl::StatusOr<std::unique_ptr<LinkProxy>> LinkProxy::Create(asio::io_context& io,
                                                             const Options& options,
                                                             LinkShaper& to_upstream,
                                                             LinkShaper& to_client) {
  absl::StatusOr<common::HostPort> listen = common::ParseHostPort(options.listen);
  if (!listen.ok()) return WithFlag("--listen", listen.status());
  absl::StatusOr<common::HostPort> upstream = common::ParseHostPort(options.upstream);
  if (!upstream.ok()) return WithFlag("--upstream", upstream.status());
  if (options.chunk_bytes == 0) return absl::InvalidArgumentError("chunk_bytes: must be > 0");
  std::unique_ptr<LinkProxy> proxy(new LinkProxy(io, options, to_upstream, to_client));
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto upstreams = resolver.resolve(upstream->host, std::to_string(upstream->port), ec);
  if (ec || upstreams.empty()) {
    return absl::UnavailableError(
        absl::StrCat("--upstream: cannot resolve '", options.upstream, "': ", ec.message()));
  }
  proxy->upstream_ = upstreams.begin()->endpoint();
  if (auto s = common::ListenOn(proxy->acceptor_, *listen); !s.ok()) {
    return WithFlag("--listen", s);
  }
  return proxy;
}

void LinkProxy::Start() {
  asio::co_spawn(
      io_,
      [this]() -> awaitable<void> {
        for (;;) {
          boost::system::error_code ec;
          tcp::socket socket =
              co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
          if (ec == asio::error::operation_aborted) co_return;
          if (ec) {
            spdlog::warn("accept: {}", ec.message());
            continue;
          }
          auto session =
              std::make_shared<Session>(std::move(socket), options_, to_upstream_, to_client_);
          asio::co_spawn(io_, session->Run(session, upstream_), asio::detached);
        }
      },
      asio::detached);
}

std::string LinkProxy::address() const {
  const tcp::endpoint endpoint = acceptor_.local_endpoint();
  return common::FormatHostPort(endpoint.address().to_string(), endpoint.port());
}

}  // namespace stoa::deploy
