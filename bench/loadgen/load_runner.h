// Runs an arrival schedule against the gateway: the open-loop engine of
// stoa-loadgen.
//
// `connections` worker threads each own one keep-alive HTTP connection
// (Boost.Beast). Workers take the next scheduled request in time order,
// sleep until its scheduled time, send it and record the outcome; latency
// is measured from the scheduled time, so when every connection is busy the
// wait for one is part of the latency (no coordinated omission). Payloads
// are used round-robin by request index.
//
// Thread safety: Run blocks; Stop() may be called from any thread (e.g. a
// signal watcher): no new request is sent after it, in-flight ones finish,
// and the records of sent requests are kept (done = true).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "bench/loadgen/arrivals.h"
#include "bench/loadgen/request_record.h"
#include "tools/http_client.h"

namespace stoa::bench {

struct LoadOptions {
  tools::HttpUrl gateway;
  std::string target;  // "/v1/functions/NAME/invoke"
  int connections = 16;
  int timeout_ms = 10000;
};

struct Progress {
  double elapsed_s = 0;
  int64_t sent = 0, completed = 0, errors = 0, in_flight = 0;
};

class LoadRunner {
 public:
  LoadRunner(LoadOptions options, std::vector<ScheduledRequest> schedule,
             std::vector<std::string> payloads);

  // Runs to the end of the schedule (or Stop), calling `on_progress` about
  // once a second from the calling thread. Returns one record per scheduled
  // request (done = false for those never sent) and sets *elapsed_s.
  std::vector<RequestRecord> Run(const std::function<void(const Progress&)>& on_progress,
                                 double* elapsed_s);
  void Stop() { stop_.store(true); }

 private:
  void Worker();

  LoadOptions options_;
  std::vector<ScheduledRequest> schedule_;
  std::vector<std::string> payloads_;
  std::vector<RequestRecord> records_;
  std::atomic<size_t> next_{0};
  std::atomic<int64_t> sent_{0}, completed_{0}, errors_{0};
  std::atomic<bool> stop_{false};
  std::chrono::steady_clock::time_point start_;
};

}  // namespace stoa::bench
