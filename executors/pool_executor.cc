#include "executors/pool_executor.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace stoa::executors {
namespace {

// Collects the answers of a fan-out to every member and calls `finish`
// with all of them once the last one arrived.
template <typename Response>
struct FanOut {
  FanOut(size_t n, std::function<void(std::vector<absl::StatusOr<Response>>)> finish)
      : results(n, absl::UnknownError("no answer")), remaining(n), finish(std::move(finish)) {}

  void Set(size_t i, absl::StatusOr<Response> r) {
    bool last;
    {
      absl::MutexLock lock(&mu);
      results[i] = std::move(r);
      last = --remaining == 0;
    }
    if (last) finish(std::move(results));
  }

  absl::Mutex mu;
  std::vector<absl::StatusOr<Response>> results ABSL_GUARDED_BY(mu);
  size_t remaining ABSL_GUARDED_BY(mu);
  const std::function<void(std::vector<absl::StatusOr<Response>>)> finish;
};

// Starts `call(member, done)` on every member and hands the answers, in
// member order, to `finish`.
template <typename Response, typename Members, typename Call, typename Finish>
void Broadcast(const Members& members, Call call, Finish finish) {
  auto fan = std::make_shared<FanOut<Response>>(members.size(), std::move(finish));
  for (size_t i = 0; i < members.size(); ++i) {
    call(*members[i], [fan, i](absl::StatusOr<Response> r) { fan->Set(i, std::move(r)); });
  }
}

template <typename Response>
absl::Status FirstError(const std::vector<absl::StatusOr<Response>>& results) {
  for (const auto& r : results) {
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

}  // namespace

struct PoolExecutor::Attempt {
  v1::InvokeRequest request;
  InvokeCallback done;
  CancelSignalPtr cancel;
  std::vector<bool> tried;
  absl::Status last_error;
};

PoolExecutor::PoolExecutor(std::vector<ExecutorPtr> members, Options options,
                           const common::Clock& clock)
    : members_(std::move(members)),
      health_(members_.size(), int64_t{options.down_ms} * 1000, clock) {
  STOA_CHECK(!members_.empty(), "a PoolExecutor needs at least one member");
}

PoolExecutor::~PoolExecutor() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &starting_));
}

std::string PoolExecutor::Describe() const {
  std::string out = "pool[";
  for (size_t i = 0; i < members_.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", members_[i]->Describe());
  }
  return out + "]";
}

std::vector<MemberStatus> PoolExecutor::Members() const {
  std::vector<MemberStatus> out = health_.Snapshot();
  for (size_t i = 0; i < out.size(); ++i) out[i].name = members_[i]->Describe();
  return out;
}

int PoolExecutor::Pick(const std::vector<bool>& tried) {
  const int64_t now = health_.NowMicros();
  const size_t n = members_.size();
  const size_t start = next_.fetch_add(1, std::memory_order_relaxed) % n;
  int best = -1;
  int best_load = std::numeric_limits<int>::max();
  bool best_down = true;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (tried[i]) continue;
    const bool down = !health_.IsUp(i, now);
    const int load = health_.InFlight(i);
    // Up members first; among them the least loaded; the rotation breaks ties.
    if (best < 0 || (best_down && !down) || (down == best_down && load < best_load)) {
      best = static_cast<int>(i);
      best_load = load;
      best_down = down;
    }
  }
  return best;
}

void PoolExecutor::Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr cancel) {
  auto attempt = std::make_shared<Attempt>();
  attempt->request = std::move(request);
  attempt->done = std::move(done);
  attempt->cancel = std::move(cancel);
  attempt->tried.assign(members_.size(), false);
  Try(std::move(attempt));
}

void PoolExecutor::Try(std::shared_ptr<Attempt> attempt) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      attempt->done(absl::UnavailableError(absl::StrCat(Describe(), " is shutting down")));
      return;
    }
    ++starting_;
  }
  struct Started {
    PoolExecutor* pool;
    ~Started() {
      absl::MutexLock lock(&pool->mu_);
      --pool->starting_;
    }
  } started{this};
  const int i = Pick(attempt->tried);
  if (i < 0) {
    attempt->done(absl::UnavailableError(
        absl::StrCat("every member of ", Describe(),
                     " is unavailable; last: ", std::string(attempt->last_error.message()))));
    return;
  }
  attempt->tried[i] = true;
  health_.CallStarted(i);
  members_[i]->Invoke(
      attempt->request,
      [this, attempt, i](absl::StatusOr<v1::InvokeResponse> result) mutable {
        health_.CallEnded(i);
        if (absl::IsUnavailable(result.status())) {
          health_.MarkDown(i, result.status());
          attempt->last_error = result.status();
          if (!(attempt->cancel && attempt->cancel->cancelled())) {
            Try(std::move(attempt));
            return;
          }
        } else if (result.ok()) {
          health_.MarkUp(i);
        }
        attempt->done(std::move(result));
      },
      attempt->cancel);
}

void PoolExecutor::LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) {
  Broadcast<v1::LoadFunctionResponse>(
      members_,
      [&request](Executor& e, LoadCallback cb) { e.LoadFunction(request, std::move(cb)); },
      [done = std::move(done)](std::vector<absl::StatusOr<v1::LoadFunctionResponse>> results) {
        std::optional<v1::LoadFunctionResponse> merged;
        for (auto& r : results) {
          if (!r.ok()) continue;
          if (!merged) {
            merged = std::move(*r);
            continue;
          }
          merged->set_already_loaded(merged->already_loaded() && r->already_loaded());
          merged->set_load_us(std::max(merged->load_us(), r->load_us()));
        }
        if (merged) {
          done(std::move(*merged));
        } else {
          done(FirstError(results));
        }
      });
}

void PoolExecutor::UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) {
  Broadcast<v1::UnloadFunctionResponse>(
      members_,
      [&request](Executor& e, UnloadCallback cb) { e.UnloadFunction(request, std::move(cb)); },
      [done = std::move(done)](std::vector<absl::StatusOr<v1::UnloadFunctionResponse>> results) {
        bool any_ok = false;
        v1::UnloadFunctionResponse merged;
        for (auto& r : results) {
          if (!r.ok()) continue;
          any_ok = true;
          merged.set_unloaded(merged.unloaded() || r->unloaded());
        }
        if (any_ok) {
          done(std::move(merged));
        } else {
          done(FirstError(results));
        }
      });
}

void PoolExecutor::GetStatus(StatusCallback done) {
  Broadcast<v1::GetStatusResponse>(
      members_, [](Executor& e, StatusCallback cb) { e.GetStatus(std::move(cb)); },
      [this, done = std::move(done)](std::vector<absl::StatusOr<v1::GetStatusResponse>> results) {
        std::optional<v1::GetStatusResponse> merged;
        std::set<std::pair<std::string, std::string>> seen;
        double service_sum = 0.0;
        int answered = 0;
        for (size_t i = 0; i < results.size(); ++i) {
          auto& r = results[i];
          if (!r.ok()) continue;
          health_.RecordStatus(i, r->queue_depth());
          ++answered;
          service_sum += r->mean_service_us();
          if (!merged) {
            merged.emplace();
            merged->set_device(r->device());
            merged->set_device_name(r->device_name());
            merged->set_queue_depth(r->queue_depth());
          }
          merged->set_queue_depth(std::min(merged->queue_depth(), r->queue_depth()));
          merged->set_threads(merged->threads() + r->threads());
          merged->set_invocations(merged->invocations() + r->invocations());
          for (const auto& f : r->functions()) {
            if (seen.emplace(f.function(), f.sha256()).second) *merged->add_functions() = f;
          }
        }
        if (!merged) {
          done(FirstError(results));
          return;
        }
        merged->set_mean_service_us(service_sum / answered);
        done(std::move(*merged));
      });
}

}  // namespace stoa::executors
