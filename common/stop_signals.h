// SIGINT and SIGTERM for a server's main thread: the first asks for a
// graceful stop, a second one exits at once, and the graceful stop has a
// hard limit, so that work that cannot be interrupted (a function looping
// on a worker thread until a far deadline) never keeps the process alive.
//
//   int main() {
//     StopSignals signals;             // before any thread starts
//     ... start serving ...
//     int sig = signals.Wait();
//     signals.ExitAfter(grace + kMargin);
//     ... stop accepting, drain for `grace`, cancel, tear down ...
//     return 0;
//   }
//
// After ExitAfter, a watcher thread waits for the next SIGINT/SIGTERM: it
// logs and exits at once with 128 + the signal's number (what a shell
// reports for a process killed by that signal). When the limit passes first,
// it logs that the shutdown is abandoned and exits with 0: the operator
// asked for the stop, and what was still running is cancelled by the exit.
// Either exit is std::_Exit: no destructors run, the logs are flushed.
//
// SIGHUP is taken too: Wait calls the OnReload callbacks (certificates, the
// auth file) and goes on waiting; it never stops the process.
//
// Thread safety: construct, OnReload, Wait and ExitAfter from the main
// thread; the callbacks run on it, inside Wait.
// Ownership: the destructor stops the watcher (when the graceful stop ended
// in time).
#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

namespace stoa::common {

class StopSignals {
 public:
  // Blocks SIGINT, SIGTERM and SIGHUP in the calling thread; threads it
  // starts later inherit the mask, so only Wait and the watcher take them.
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Called on each SIGHUP, in the order added, from Wait.
  void OnReload(std::function<void()> callback);
  // Waits for the first SIGINT or SIGTERM; returns its number. Each SIGHUP
  // meanwhile runs the OnReload callbacks.
  int Wait();
  // Arms the second-signal and the time-limit exits (above). Once.
  void ExitAfter(std::chrono::milliseconds limit);

 private:
  void Watch(std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds limit);

  sigset_t signals_;       // SIGINT, SIGTERM
  sigset_t wait_signals_;  // and SIGHUP
  std::vector<std::function<void()>> on_reload_;
  std::atomic<bool> done_{false};
  std::thread watcher_;
};

}  // namespace stoa::common
