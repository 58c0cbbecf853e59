// Thread and callback boundaries. An exception that leaves a thread's
// function, or a callback that gRPC or Beast calls, ends the process
// (std::terminate) or, inside gRPC's callback API, vanishes and leaves the
// call unanswered. Stoa code returns Status (STYLE.md rule 3), but library
// code under it may still throw (nlohmann, protobuf, std::bad_alloc); each
// boundary catches what escapes, logs it, and answers the caller INTERNAL.
//
// Thread safety: GuardedAnswer's wrapped callback may be called from any
// thread, once; later calls are dropped.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"

namespace stoa::common {

// The exception in flight (what() or "unknown exception"). Call it only
// inside a catch block.
std::string CurrentExceptionMessage();

// Logs the exception in flight at error level, naming `where`, and returns
// INTERNAL "<where>: <what>". Call it only inside a catch block.
absl::Status InternalFromException(std::string_view where);

// Runs work(answer), where `answer` forwards its first call to `done` and
// drops later ones. When work throws before answering, `done` gets
// INTERNAL naming `where` (and the exception is logged); when it throws
// after, the exception is only logged. Nothing escapes. Result is what
// `done` takes: absl::Status or an absl::StatusOr<T>.
template <typename Result, typename Work>
void GuardedAnswer(std::string_view where, std::function<void(Result)> done, Work&& work) noexcept {
  struct State {
    std::function<void(Result)> done;
    std::atomic<bool> answered{false};
  };
  auto state = std::make_shared<State>();
  state->done = std::move(done);
  std::function<void(Result)> answer = [state](Result result) {
    if (!state->answered.exchange(true)) state->done(std::move(result));
  };
  try {
    std::forward<Work>(work)(std::move(answer));
  } catch (...) {
    absl::Status status = InternalFromException(where);
    if (state->answered.exchange(true)) return;
    try {
      state->done(Result(std::move(status)));
    } catch (...) {
      InternalFromException(where).IgnoreError();
    }
  }
}

// Runs fn(); an exception escaping it is logged naming `where` and
// swallowed. For the loops of threads that have no caller to answer.
template <typename Fn>
void RunLogged(std::string_view where, Fn&& fn) noexcept {
  try {
    std::forward<Fn>(fn)();
  } catch (...) {
    InternalFromException(where).IgnoreError();
  }
}

}  // namespace stoa::common
