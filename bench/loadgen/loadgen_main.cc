// stoa-loadgen: an open-loop IoT fleet posting to the Stoa gateway.
//
//   stoa-loadgen --gateway URL --function NAME [--devices N] [--rate R]
//                [--arrivals constant|poisson] [--duration S]
//                [--payload FILE|digits] [--out CSV] [--connections C]
//                [--timeout-ms T] [--seed S] [--config FILE]
//
// N devices each send R requests/s for S seconds (see arrivals.h); every
// request's scheduled time, latency (from the scheduled time), status and
// X-Stoa-* placement headers go to the CSV (request_record.h). While it
// runs, a progress line per second goes to stderr; at the end the summary
// (first line "stoa-loadgen: done", then totals, p50/p95/p99, tiers) goes
// to stdout. SIGINT/SIGTERM stop sending, wait for in-flight requests and
// still write the CSV and summary of what was sent (exit 130).
// Exit codes: 0 done, 1 the run could not start (payload, CSV), 2 bad
// flags, 130 interrupted.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "bench/loadgen/arrivals.h"
#include "bench/loadgen/load_runner.h"
#include "bench/loadgen/payloads.h"
#include "common/cli.h"

#ifndef STOA_DEFAULT_SOURCE_DIR
#define STOA_DEFAULT_SOURCE_DIR "."
#endif

namespace {

struct Flags {
  std::string gateway = "http://127.0.0.1:8080";
  std::string function;
  int devices = 10;
  double rate = 1;
  std::string arrivals = "poisson";
  double duration = 10;
  std::string payload = "digits";
  std::string out;
  int connections = 32;
  int timeout_ms = 10000;
  uint64_t seed = 1;
};

std::string DigitsCsv() {
  const char* src = std::getenv("STOA_SOURCE_DIR");
  std::string root = src ? src : STOA_DEFAULT_SOURCE_DIR;
  return root + "/functions/examples/digits/test_split.csv";
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app("stoa-loadgen: open-loop IoT fleet against the Stoa gateway");
  app.add_option("--gateway", f.gateway, "gateway URL")->capture_default_str();
  app.add_option("--function", f.function, "function to invoke")->required();
  app.add_option("--devices", f.devices, "simulated devices")->capture_default_str();
  app.add_option("--rate", f.rate, "requests/s per device")->capture_default_str();
  app.add_option("--arrivals", f.arrivals, "constant|poisson")->capture_default_str();
  app.add_option("--duration", f.duration, "seconds of load")->capture_default_str();
  app.add_option("--payload", f.payload, "digits, or a file of request bodies (JSON lines)")
      ->capture_default_str();
  app.add_option("--out", f.out, "CSV of every request (none when empty)");
  app.add_option("--connections", f.connections, "concurrent HTTP connections")
      ->capture_default_str();
  app.add_option("--timeout-ms", f.timeout_ms, "per-request timeout")->capture_default_str();
  app.add_option("--seed", f.seed, "seed of the arrival schedule")->capture_default_str();
  if (auto code = stoa::common::ParseCommandLine(app, argc, argv)) return *code;

  auto url = stoa::tools::HttpUrl::Parse(f.gateway);
  auto process = stoa::bench::ParseArrivalProcess(f.arrivals);
  if (!url.ok() || !process.ok() || f.connections < 1) {
    std::cerr << "stoa-loadgen: "
              << (!url.ok()       ? url.status().message()
                  : !process.ok() ? process.status().message()
                                  : "--connections must be >= 1")
              << "\n";
    return 2;
  }
  auto schedule = stoa::bench::BuildSchedule(f.devices, f.rate, *process, f.duration, f.seed);
  if (!schedule.ok()) {
    std::cerr << "stoa-loadgen: " << schedule.status().message() << "\n";
    return 2;
  }
  auto payloads = f.payload == "digits" ? stoa::bench::DigitsPayloads(DigitsCsv())
                                        : stoa::bench::FilePayloads(f.payload);
  if (!payloads.ok()) {
    std::cerr << "stoa-loadgen: " << payloads.status().message() << "\n";
    return 1;
  }
  std::ofstream csv;
  if (!f.out.empty()) {
    csv.open(f.out);
    if (!csv) {
      std::cerr << "stoa-loadgen: cannot write '" << f.out << "'\n";
      return 1;
    }
  }

  // Signals go to a watcher thread that stops the runner.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const int64_t scheduled = static_cast<int64_t>(schedule->size());
  stoa::bench::LoadOptions options{*url, "/v1/functions/" + f.function + "/invoke", f.connections,
                                   f.timeout_ms};
  stoa::bench::LoadRunner runner(options, std::move(*schedule), std::move(*payloads));
  std::atomic<bool> finished{false}, interrupted{false};
  std::thread watcher([&] {
    timespec tick{0, 200 * 1000 * 1000};
    while (!finished.load()) {
      if (sigtimedwait(&signals, nullptr, &tick) > 0) {
        interrupted.store(true);
        runner.Stop();
      }
    }
  });
  double elapsed = 0;
  auto records = runner.Run(
      [&](const stoa::bench::Progress& p) {
        std::fprintf(stderr,
                     "stoa-loadgen: t=%.0fs/%.0fs sent %lld/%lld done %lld errors %lld "
                     "in-flight %lld\n",
                     p.elapsed_s, f.duration, static_cast<long long>(p.sent),
                     static_cast<long long>(scheduled), static_cast<long long>(p.completed),
                     static_cast<long long>(p.errors), static_cast<long long>(p.in_flight));
      },
      &elapsed);
  finished.store(true);
  watcher.join();

  if (csv.is_open()) {
    stoa::bench::WriteCsv(records, csv);
    csv.close();
  }
  const auto summary = stoa::bench::Summarize(records, scheduled, elapsed);
  std::cout << "stoa-loadgen: " << (interrupted.load() ? "interrupted" : "done") << "\n"
            << stoa::bench::FormatSummary(summary) << std::flush;
  return interrupted.load() ? 130 : 0;
}
