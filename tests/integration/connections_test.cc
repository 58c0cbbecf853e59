// Connection limits of the real stoa-gateway, set through a YAML config file
// (every flag is a key): the per-client cap, the header timeout (slowloris),
// and hundreds of half-sent requests that no longer starve other clients.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A loopback TCP connection from `from` (another loopback address is another
// client to the server), for trickling bytes and noticing the close.
class RawSocket {
 public:
  RawSocket(int port, const char* from = "127.0.0.1") : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, from, &local.sin_addr);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    connected_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0 &&
                 connect(fd_, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0;
  }
  ~RawSocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // True once the peer closed (EOF or reset); never blocks.
  bool Closed() {
    char byte;
    ssize_t n = recv(fd_, &byte, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }
  // Polls Closed() every 10 ms for up to `timeout`.
  bool ClosedWithin(milliseconds timeout) {
    for (auto end = Clock::now() + timeout; Clock::now() < end;) {
      if (Closed()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return Closed();
  }
  // What arrives within `timeout` (up to 4 KiB).
  std::string Receive(milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::unique_ptr<Process> StartGateway(const std::string& yaml) {
  const std::string dir = MakeTempDir("connections");
  const std::string config = dir + "/gateway.yaml";
  std::ofstream(config) << yaml;
  return Process::Start(BinaryPath("stoa-gateway"),
                        {"--listen", "127.0.0.1:0", "--data-dir", dir + "/data", "--edge", "none",
                         "--config", config});
}

// An answered GET /healthz from `from`.
bool Healthy(int port, const char* from) {
  RawSocket s(port, from);
  return s.connected() && s.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n") &&
         s.Receive(milliseconds(3000)).rfind("HTTP/1.1 200", 0) == 0;
}

TEST(ConnectionsTest, PerClientCapAndHeaderTimeoutFromTheConfigFile) {
  auto gateway = StartGateway(
      "max-connections-per-client: 2\nheader-timeout-ms: 400\nidle-timeout-ms: 5000\n");
  ASSERT_NE(gateway, nullptr);
  RawSocket loris(gateway->port());
  RawSocket second(gateway->port());
  ASSERT_TRUE(loris.connected() && second.connected());
  std::this_thread::sleep_for(milliseconds(100));
  RawSocket third(gateway->port());
  EXPECT_TRUE(third.ClosedWithin(milliseconds(1000))) << "over the per-client cap";
  EXPECT_FALSE(second.Closed());
  EXPECT_TRUE(Healthy(gateway->port(), "127.0.0.2")) << "another client is served";

  // A header line every 50 ms: never idle, never complete.
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(loris.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n"));
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    closed = loris.Closed() || !loris.Send("X-" + std::to_string(i) + ": y\r\n");
  }
  const auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  EXPECT_TRUE(closed);
  EXPECT_GE(ms, 350);
  EXPECT_LT(ms, 2500);
  // Its slot is free again.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_TRUE(Healthy(gateway->port(), "127.0.0.1"));
  EXPECT_TRUE(gateway->Running());
}

// The attack: hundreds of half-sent requests from one address. With
// the default per-client cap (256) the rest are refused at once, and other
// clients are served promptly.
TEST(ConnectionsTest, HalfSentRequestsFromOneClientDoNotStarveOthers) {
  auto gateway = StartGateway("http-threads: 1\n");
  ASSERT_NE(gateway, nullptr);
  std::vector<std::unique_ptr<RawSocket>> attackers;
  for (int i = 0; i < 400; ++i) {
    auto s = std::make_unique<RawSocket>(gateway->port());
    if (s->connected()) s->Send("POST /v1/functions HTTP/1.1\r\nHost: t\r\nContent-Le");
    attackers.push_back(std::move(s));
  }
  std::this_thread::sleep_for(milliseconds(300));
  int refused = 0;
  for (auto& s : attackers) refused += s->Closed() ? 1 : 0;
  EXPECT_EQ(refused, 400 - 256);
  const Clock::time_point start = Clock::now();
  EXPECT_TRUE(Healthy(gateway->port(), "127.0.0.2"));
  const auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  EXPECT_LT(ms, 500);
  std::printf(
      "400 half-sent requests from one address: %d refused at once; /healthz from "
      "another answered in %ld ms\n",
      refused, static_cast<long>(ms));
}

}  // namespace
}  // namespace stoa::testing
