#include "gateway/deadline_watchdog.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "absl/time/time.h"
#include "common/guarded.h"

namespace stoa::gateway {

DeadlineWatchdog::DeadlineWatchdog(const common::Clock& clock, Options options)
    : clock_(clock), options_(options), thread_([this] { Run(); }) {}

DeadlineWatchdog::~DeadlineWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

DeadlineWatchdog::Token DeadlineWatchdog::Watch(int64_t due_us, std::function<void()> on_due) {
  absl::MutexLock lock(&mu_);
  const Token token = next_token_++;
  entries_.emplace(token, Entry{due_.emplace(due_us, token), std::move(on_due)});
  return token;
}

void DeadlineWatchdog::Cancel(Token token) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(token);
  if (it == entries_.end()) return;
  due_.erase(it->second.due);
  entries_.erase(it);
}

size_t DeadlineWatchdog::pending() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

void DeadlineWatchdog::Run() {
  constexpr int64_t kIdleUs = 100'000;
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const int64_t now = clock_.NowMicros();
    std::vector<std::function<void()>> fired;
    while (!due_.empty() && due_.begin()->first <= now) {
      auto entry = entries_.find(due_.begin()->second);
      fired.push_back(std::move(entry->second.on_due));
      entries_.erase(entry);
      due_.erase(due_.begin());
    }
    if (!fired.empty()) {
      mu_.Unlock();
      for (auto& on_due : fired) common::RunLogged("deadline watchdog", on_due);
      mu_.Lock();
      continue;
    }
    int64_t wait_us = due_.empty() ? kIdleUs : due_.begin()->first - now;
    if (options_.recheck_us > 0) wait_us = std::min(wait_us, options_.recheck_us);
    const int64_t first_due =
        due_.empty() ? std::numeric_limits<int64_t>::max() : due_.begin()->first;
    // Wake early when stopping or when a watch due sooner is added.
    auto changed = [this, first_due]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || (!due_.empty() && due_.begin()->first < first_due);
    };
    mu_.AwaitWithTimeout(absl::Condition(&changed),
                         absl::Microseconds(std::max<int64_t>(wait_us, 1)));
  }
}

}  // namespace stoa::gateway
