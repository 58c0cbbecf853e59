// LoadRunner against a small in-test HTTP server (Boost.Beast) that answers
// like the gateway after a fixed service time.
#include "bench/loadgen/load_runner.h"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "gtest/gtest.h"

namespace stoa::bench {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

class FakeGateway {
 public:
  explicit FakeGateway(int service_ms) : service_ms_(service_ms) {
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~FakeGateway() {
    stop_ = true;
    boost::system::error_code ec;
    // Wake the blocking accept with a last connection.
    tcp::socket poke(io_);
    poke.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    accept_thread_.join();
    for (auto& t : conn_threads_) t.join();
  }
  tools::HttpUrl Url() const {
    return *tools::HttpUrl::Parse("127.0.0.1:" + std::to_string(port_));
  }
  int requests() const { return requests_.load(); }

 private:
  void AcceptLoop() {
    while (!stop_) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) return;
      conn_threads_.emplace_back([this, s = std::move(socket)]() mutable { Serve(std::move(s)); });
    }
  }
  void Serve(tcp::socket socket) {
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) return;
      requests_.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(service_ms_));
      const bool fail = std::string(req.target()).find("fail") != std::string::npos;
      http::response<http::string_body> res{
          fail ? http::status::service_unavailable : http::status::ok, 11};
      res.set("X-Stoa-Tier", "cloud");
      res.set("X-Stoa-Reason", "predicted-best");
      res.set("X-Stoa-Predicted-Ms", "1.5");
      res.set("X-Stoa-Latency-Ms", "2.25");
      res.set("X-Stoa-Cold-Start", "false");
      res.body() = fail ? "{\"error\":{\"code\":\"UNAVAILABLE\"}}" : req.body();
      res.keep_alive(true);
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec) return;
    }
  }

  int service_ms_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread accept_thread_;
  std::vector<std::thread> conn_threads_;
};

std::vector<ScheduledRequest> Burst(int n) {
  std::vector<ScheduledRequest> s;
  for (int i = 0; i < n; ++i) s.push_back({0, i, 0.001 * i});
  return s;
}

TEST(LoadRunnerTest, RecordsHeadersStatusAndEveryRequest) {
  FakeGateway gw(0);
  LoadRunner runner({gw.Url(), "/v1/functions/f/invoke", 4, 5000}, Burst(20), {"{\"x\":1}"});
  double elapsed = 0;
  auto records = runner.Run(nullptr, &elapsed);
  ASSERT_EQ(records.size(), 20u);
  EXPECT_EQ(gw.requests(), 20);
  for (const auto& r : records) {
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.tier, "cloud");
    EXPECT_EQ(r.reason, "predicted-best");
    EXPECT_DOUBLE_EQ(r.predicted_ms, 1.5);
    EXPECT_DOUBLE_EQ(r.server_latency_ms, 2.25);
    EXPECT_GE(r.sent_s, r.scheduled_s);
  }
}

TEST(LoadRunnerTest, LatencyCountsTheWaitForABusyConnection) {
  // One connection, 50 ms per request, 6 requests scheduled within 5 ms:
  // they are served one after another, so the k-th request cannot finish
  // before (k+1) * 50 ms after the first was scheduled. A closed-loop
  // generator measuring from the send time would report ~50 ms for all.
  FakeGateway gw(50);
  LoadRunner runner({gw.Url(), "/x", 1, 5000}, Burst(6), {"{}"});
  auto records = runner.Run(nullptr, nullptr);
  ASSERT_EQ(records.size(), 6u);
  for (int k = 0; k < 6; ++k) {
    EXPECT_GE(records[k].latency_ms + records[k].scheduled_s * 1e3, (k + 1) * 50.0 - 1)
        << "request " << k;
  }
  EXPECT_GE(records[5].latency_ms, 240.0);
}

TEST(LoadRunnerTest, HttpErrorsAndRefusedConnectionsAreRecorded) {
  FakeGateway gw(0);
  LoadRunner failing({gw.Url(), "/fail", 2, 5000}, Burst(3), {"{}"});
  for (const auto& r : failing.Run(nullptr, nullptr)) {
    EXPECT_EQ(r.status, 503);
    EXPECT_FALSE(r.Ok());
    EXPECT_NE(r.error.find("UNAVAILABLE"), std::string::npos);
  }
  LoadRunner refused({*tools::HttpUrl::Parse("127.0.0.1:1"), "/x", 1, 1000}, Burst(2), {"{}"});
  for (const auto& r : refused.Run(nullptr, nullptr)) {
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.error.find("refused"), std::string::npos) << r.error;
  }
}

TEST(LoadRunnerTest, StopKeepsWhatWasSentAndSendsNothingMore) {
  FakeGateway gw(0);
  std::vector<ScheduledRequest> s = {{0, 0, 0.0}, {0, 1, 0.01}, {0, 2, 30.0}, {0, 3, 31.0}};
  LoadRunner runner({gw.Url(), "/x", 2, 5000}, s, {"{}"});
  std::thread stopper([&] {
    while (gw.requests() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    runner.Stop();
  });
  auto records = runner.Run(nullptr, nullptr);
  stopper.join();
  ASSERT_EQ(records.size(), 4u);
  EXPECT_TRUE(records[0].done);
  EXPECT_TRUE(records[1].done);
  EXPECT_FALSE(records[2].done);
  EXPECT_FALSE(records[3].done);
  EXPECT_EQ(gw.requests(), 2);
}

}  // namespace
}  // namespace stoa::bench
