// DeadlineWatchdog: runs a callback when a deadline passes and nobody
// cancelled it first. The dispatcher arms one per invocation, so a caller
// never waits much past its deadline whatever an executor does (a stalled
// link, a wedged process).
//
//   auto token = watchdog.Watch(deadline_us + grace_us, [weak] { ... });
//   ...
//   watchdog.Cancel(token);   // the call finished in time
//
// Time comes from the injected clock. The watchdog's thread sleeps until
// the next due time; with Options::recheck_us > 0 it also re-reads the
// clock at least that often, which a FakeClock that tests advance needs
// (production leaves it 0).
//
// Thread safety: every method may be called concurrently. Callbacks run
// on the watchdog's thread, without its lock held, at most once each; a
// callback may call Watch and Cancel. Cancel does not wait for a callback
// that is already running.
// Ownership: the clock must outlive the watchdog. The destructor stops
// the thread; callbacks not yet due are dropped without running.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"

namespace stoa::gateway {

class DeadlineWatchdog {
 public:
  struct Options {
    // 0: sleep until the next due time (a real clock); > 0: re-read the
    // clock at least this often (a fake clock).
    int64_t recheck_us = 0;
  };
  using Token = uint64_t;

  DeadlineWatchdog(const common::Clock& clock, Options options);
  ~DeadlineWatchdog();
  DeadlineWatchdog(const DeadlineWatchdog&) = delete;
  DeadlineWatchdog& operator=(const DeadlineWatchdog&) = delete;

  // Runs `on_due` once the clock reaches `due_us`, unless cancelled first.
  Token Watch(int64_t due_us, std::function<void()> on_due);
  // Drops a watch that has not fired; a no-op for one that has.
  void Cancel(Token token);
  // Watches armed and not yet fired or cancelled.
  size_t pending() const;

 private:
  struct Entry {
    std::multimap<int64_t, Token>::iterator due;
    std::function<void()> on_due;
  };
  void Run();

  const common::Clock& clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  std::multimap<int64_t, Token> due_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Token, Entry> entries_ ABSL_GUARDED_BY(mu_);
  Token next_token_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace stoa::gateway
