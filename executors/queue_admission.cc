#include "executors/queue_admission.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/overload.h"

namespace stoa::executors {

namespace {
constexpr size_t kQueuePerWorker = 4;
}  // namespace

size_t QueueLimit(const QueueState& state) {
  if (state.max_queue > 0) return state.max_queue;
  return kQueuePerWorker * std::max<size_t>(1, state.workers);
}

absl::Status AdmitToQueue(const QueueState& state, const std::string& function, int64_t budget_us) {
  const size_t limit = QueueLimit(state);
  const int64_t queued = std::max<int64_t>(0, state.queued);
  const std::string who = absl::StrCat("function '", common::EchoLimited(function), "'");
  if (static_cast<size_t>(queued) >= limit) {
    return absl::ResourceExhaustedError(absl::StrCat(who, ": the executor is saturated: ", queued,
                                                     " queued; the limit is ", limit, " queued ",
                                                     common::kExecutorQueueLimit));
  }
  const int64_t workers = static_cast<int64_t>(std::max<size_t>(1, state.workers));
  const int64_t ahead = std::max<int64_t>(0, state.running) + queued - workers;
  if (ahead < 0 || budget_us <= 0 || state.mean_service_us <= 0) return absl::OkStatus();
  const double rounds = std::ceil(static_cast<double>(ahead + 1) / static_cast<double>(workers));
  const double wait_us = rounds * state.mean_service_us;
  if (wait_us + state.mean_service_us <= static_cast<double>(budget_us)) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      who, ": the executor is saturated: ", ahead, " queued ahead for ", workers,
      " workers: a predicted wait of ", static_cast<int64_t>(wait_us / 1000), " ms plus a run of ",
      static_cast<int64_t>(state.mean_service_us / 1000), " ms exceeds the ", budget_us / 1000,
      " ms left of its deadline ", common::kExecutorQueueWait));
}

}  // namespace stoa::executors
