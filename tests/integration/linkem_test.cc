// stoa-linkem end to end: an echo server behind the real binary shows the
// configured delay and rate (within 10 %), a live PUT /link, the blackhole
// (loss 1), and a gateway reaching a stoa-executor over gRPC through the proxy.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/host_port.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

extern char** environ;

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// A TCP echo server on 127.0.0.1 (one thread per connection).
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "echo server: cannot listen";
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] {
      for (;;) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::thread([c] {
          char buf[65536];
          for (ssize_t n; (n = read(c, buf, sizeof buf)) > 0;) {
            for (ssize_t off = 0; off < n;) {
              ssize_t w = write(c, buf + off, n - off);
              if (w <= 0) break;
              off += w;
            }
          }
          close(c);
        }).detach();
      }
    });
  }
  ~EchoServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    if (acceptor_.joinable()) acceptor_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
};

// stoa-linkem with its two stdout lines read (the harness reads only one).
class Linkem {
 public:
  explicit Linkem(std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("stoa-linkem"));
    args.insert(args.end(), {"--control", "127.0.0.1:0", "--log-level", "warn"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    std::string out;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (pid_ > 0 && std::count(out.begin(), out.end(), '\n') < 2 && Clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, n);
    }
    close(fds[0]);
    size_t first = out.find('\n');
    if (first == std::string::npos || out.find('\n', first + 1) == std::string::npos) {
      ADD_FAILURE() << "stoa-linkem did not print two lines: '" << out << "'";
      return;
    }
    address_ = out.substr(out.rfind(" on ", first) + 4, first - out.rfind(" on ", first) - 4);
    std::string second = out.substr(first + 1, out.find('\n', first + 1) - first - 1);
    EXPECT_THAT(second, HasSubstr("stoa-linkem control on "));
    control_ = second.substr(second.rfind(' ') + 1);
  }
  ~Linkem() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    }
  }
  const std::string& address() const { return address_; }
  const std::string& control() const { return control_; }

 private:
  pid_t pid_ = -1;
  std::string address_, control_;
};

int Connect(const std::string& address) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(common::ParseHostPort(address).value().port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// The timed tests measure the link, not this machine's run queue: like
// stoa-linkem (--sched fifo), the test's client and echo threads run
// real-time where permitted, so a loaded CI machine does not add its
// scheduling delays to the measurement.
void RunRealtimeIfPermitted() {
  sched_param param{};
  param.sched_priority = 5;
  sched_setscheduler(0, SCHED_FIFO, &param);  // best effort
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Median round-trip time of a 1-byte echo, in ms.
double MedianRttMs(int fd, int rounds = 5) {
  std::vector<double> rtts;
  for (int i = 0; i < rounds; ++i) {
    char c = 'x';
    auto start = Clock::now();
    if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) return -1;
    rtts.push_back(Seconds(Clock::now() - start) * 1000);
  }
  std::sort(rtts.begin(), rtts.end());
  return rtts[rtts.size() / 2];
}

TEST(LinkemTest, DelayAndLivePut) {
  RunRealtimeIfPermitted();
  EchoServer echo;
  Linkem linkem({"--listen", "127.0.0.1:0", "--upstream", echo.address(), "--delay-ms", "50"});
  ASSERT_FALSE(linkem.address().empty());
  int fd = Connect(linkem.address());
  ASSERT_GE(fd, 0);
  // 50 ms each way: a round trip is 100 ms.
  EXPECT_NEAR(MedianRttMs(fd), 100, 10);

  HttpClient control(linkem.control());
  HttpResult r = control.Put("/link", R"({"delay_ms": 20})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["delay_ms"], 20.0);
  EXPECT_NEAR(MedianRttMs(fd), 40, 4);  // the open connection sees it at once

  r = control.Put("/link", R"({"delay_ms": 5, "bandwidth": 3})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("bandwidth"));
  r = control.Get("/link");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["delay_ms"], 20.0);  // the bad PUT changed nothing
  close(fd);
}

TEST(LinkemTest, BlackholeStallsAndLosesNothing) {
  EchoServer echo;
  Linkem linkem({"--listen", "127.0.0.1:0", "--upstream", echo.address()});
  int fd = Connect(linkem.address());
  ASSERT_GE(fd, 0);
  HttpClient control(linkem.control());
  ASSERT_EQ(control.Put("/link", R"({"loss": 1})").status, 200);
  ASSERT_EQ(write(fd, "abc", 3), 3);
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 300), 0) << "a blackholed link delivered data";
  ASSERT_EQ(control.Put("/link", R"({"loss": 0})").status, 200);
  std::string got;
  while (got.size() < 3) {
    p = {fd, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1) << "the link did not resume";
    char buf[8];
    ssize_t n = read(fd, buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, n);
  }
  EXPECT_EQ(got, "abc");
  close(fd);
}

TEST(LinkemTest, Rate) {
  RunRealtimeIfPermitted();
  EchoServer echo;
  Linkem linkem({"--listen", "127.0.0.1:0", "--upstream", echo.address(), "--rate-mbit", "8"});
  int fd = Connect(linkem.address());
  ASSERT_GE(fd, 0);
  // 500 kB at 8 Mbit/s (both directions limited, pipelined): 0.5 s.
  const size_t total = 500000;
  std::string data(total, 'y');
  auto start = Clock::now();
  std::thread sender([&] {
    for (size_t off = 0; off < total;) {
      ssize_t n = write(fd, data.data() + off, total - off);
      if (n <= 0) return;
      off += n;
    }
  });
  size_t got = 0;
  char buf[65536];
  while (got < total) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got += n;
  }
  const double seconds = Seconds(Clock::now() - start);
  sender.join();
  EXPECT_EQ(got, total);
  EXPECT_NEAR(seconds, 0.5, 0.05);
  close(fd);
}

// Runs stoa-linkem with `args`; returns its exit code and stdout+stderr.
int RunLinkem(const std::string& args, std::string& output) {
  FILE* pipe = popen((BinaryPath("stoa-linkem") + " " + args + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[512];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) output.append(buf, n);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(LinkemTest, BadFlagsExit2NamingTheFlag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--upstream 127.0.0.1:1 --delay-ms -5", "--delay-ms"},
      {"--upstream 127.0.0.1:1 --loss 2", "--loss"},
      {"--upstream 127.0.0.1:1 --preset 3g", "--preset"},
      {"--upstream nowhere", "--upstream"},
      {"--upstream 127.0.0.1:1 --listen 127.0.0.1", "--listen"},
      {"--upstream 127.0.0.1:1 --control localhost", "--control"},
      {"--delay-ms 5", "--upstream"},
  };
  for (const auto& [args, flag] : cases) {
    std::string output;
    EXPECT_EQ(RunLinkem(args, output), 2) << args << ": " << output;
    EXPECT_THAT(output, HasSubstr(flag)) << args;
  }
}

TEST(LinkemTest, GatewayReachesExecutorOverGrpcThroughTheLink) {
  auto executor = Process::Start(BinaryPath("stoa-executor"),
                                 {"--listen", "127.0.0.1:0", "--threads", "1", "--device", "cpu"});
  ASSERT_NE(executor, nullptr);
  Linkem linkem({"--listen", "127.0.0.1:0", "--upstream", executor->address(), "--preset", "edge",
                 "--delay-ms", "10", "--jitter-ms", "0"});
  ASSERT_FALSE(linkem.address().empty());
  auto gateway = Process::Start(BinaryPath("stoa-gateway"),
                                {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("linkem"),
                                 "--cloud", linkem.address(), "--edge", "none"});
  ASSERT_NE(gateway, nullptr);
  HttpClient client(gateway->address());
  Multipart reg =
      MakeRegistration(R"({"name":"digits","runtime":"onnx","description":"digits MLP"})",
                       ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx")));
  HttpResult r = client.Post("/v1/functions", reg.body, reg.content_type);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string request =
      ReadFileOrDie(SourcePath("functions/examples/digits/sample_request.json"));
  for (int i = 0; i < 3; ++i) {
    r = client.Post("/v1/functions/digits/invoke?tier=cloud", request);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), "cloud");
    EXPECT_THAT(r.body, HasSubstr("probabilities"));
    // 10 ms each way (the flags override the preset's delay and jitter):
    // no call through the link is faster than one round trip.
    EXPECT_GE(std::stod(r.Header("x-stoa-latency-ms")), 20.0);
  }
}

}  // namespace
}  // namespace stoa::testing
