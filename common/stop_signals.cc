#include "common/stop_signals.h"

#include <pthread.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "spdlog/spdlog.h"

namespace stoa::common {
namespace {

// How often the watcher looks at done_ and the clock.
constexpr long kWatchSliceNs = 50'000'000;

[[noreturn]] void ExitNow(int code) {
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

}  // namespace

StopSignals::StopSignals() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  wait_signals_ = signals_;
  sigaddset(&wait_signals_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &wait_signals_, nullptr);
}

void StopSignals::OnReload(std::function<void()> callback) {
  on_reload_.push_back(std::move(callback));
}

StopSignals::~StopSignals() {
  done_.store(true);
  if (watcher_.joinable()) watcher_.join();
}

int StopSignals::Wait() {
  for (;;) {
    int signal_number = 0;
    if (sigwait(&wait_signals_, &signal_number) != 0) continue;
    if (signal_number != SIGHUP) return signal_number;
    spdlog::info("SIGHUP: reloading ({} reloadable parts)", on_reload_.size());
    for (const auto& reload : on_reload_) reload();
  }
}

void StopSignals::ExitAfter(std::chrono::milliseconds limit) {
  if (watcher_.joinable()) return;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  watcher_ = std::thread([this, deadline, limit] { Watch(deadline, limit); });
}

void StopSignals::Watch(std::chrono::steady_clock::time_point deadline,
                        std::chrono::milliseconds limit) {
  const timespec slice{0, kWatchSliceNs};
  while (!done_.load()) {
    siginfo_t info{};
    const int signal_number = sigtimedwait(&signals_, &info, &slice);
    if (signal_number > 0) {
      spdlog::warn("signal {} again: exiting now, without waiting for work in flight",
                   signal_number);
      ExitNow(128 + signal_number);
    }
    if (std::chrono::steady_clock::now() >= deadline && !done_.load()) {
      spdlog::warn(
          "shutdown still not done {} ms after the signal: exiting, abandoning the work "
          "still running",
          limit.count());
      ExitNow(0);
    }
  }
}

}  // namespace stoa::common
