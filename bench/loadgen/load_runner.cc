#include "bench/loadgen/load_runner.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"

namespace stoa::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double HeaderNumber(const tools::HttpResponse& res, const char* name) {
  double v = -1;
  const std::string h = res.Header(name);
  if (h.empty() || !absl::SimpleAtod(h, &v)) return -1;
  return v;
}

}  // namespace

LoadRunner::LoadRunner(LoadOptions options, std::vector<ScheduledRequest> schedule,
                       std::vector<std::string> payloads)
    : options_(std::move(options)),
      schedule_(std::move(schedule)),
      payloads_(std::move(payloads)),
      records_(schedule_.size()) {}

void LoadRunner::Worker() {
  tools::HttpConnection conn(options_.gateway, options_.timeout_ms);
  while (!stop_.load()) {
    const size_t i = next_.fetch_add(1);
    if (i >= schedule_.size()) break;
    const ScheduledRequest& s = schedule_[i];
    const auto when = start_ + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(s.offset_s));
    // Sleep in short steps so that Stop() is honoured promptly.
    while (!stop_.load() && Clock::now() < when) {
      std::this_thread::sleep_until(std::min(when, Clock::now() + std::chrono::milliseconds(50)));
    }
    if (stop_.load()) break;
    RequestRecord& r = records_[i];
    r.device = s.device;
    r.seq = s.seq;
    r.scheduled_s = s.offset_s;
    const auto sent = Clock::now();
    r.sent_s = Seconds(sent - start_);
    sent_.fetch_add(1);
    auto res = conn.Request("POST", options_.target, payloads_[i % payloads_.size()]);
    r.latency_ms = Seconds(Clock::now() - when) * 1e3;
    if (!res.ok()) {
      r.status = 0;
      r.error = std::string(res.status().message());
      errors_.fetch_add(1);
    } else {
      r.status = res->status;
      r.tier = res->Header("x-stoa-tier");
      r.reason = res->Header("x-stoa-reason");
      r.predicted_ms = HeaderNumber(*res, "x-stoa-predicted-ms");
      r.server_latency_ms = HeaderNumber(*res, "x-stoa-latency-ms");
      r.cold_start = res->Header("x-stoa-cold-start") == "true";
      if (!r.Ok()) {
        r.error = res->body.substr(0, 200);
        errors_.fetch_add(1);
      }
    }
    r.done = true;
    completed_.fetch_add(1);
  }
}

std::vector<RequestRecord> LoadRunner::Run(const std::function<void(const Progress&)>& on_progress,
                                           double* elapsed_s) {
  start_ = Clock::now() + std::chrono::milliseconds(100);
  std::vector<std::thread> workers;
  const int n = std::max(1, options_.connections);
  for (int i = 0; i < n; ++i) workers.emplace_back([this] { Worker(); });
  const int64_t total = static_cast<int64_t>(schedule_.size());
  auto next_progress = Clock::now() + std::chrono::seconds(1);
  while (completed_.load() < total && !stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (on_progress && Clock::now() >= next_progress) {
      next_progress += std::chrono::seconds(1);
      Progress p;
      p.elapsed_s = Seconds(Clock::now() - start_);
      p.sent = sent_.load();
      p.completed = completed_.load();
      p.errors = errors_.load();
      p.in_flight = p.sent - p.completed;
      on_progress(p);
    }
  }
  for (auto& w : workers) w.join();
  if (elapsed_s) *elapsed_s = Seconds(Clock::now() - start_);
  return std::move(records_);
}

}  // namespace stoa::bench
