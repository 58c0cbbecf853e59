#include "executors/pool_executor.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "absl/cleanup/cleanup.h"
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
  std::string key;
  InvokeCallback done;
  CancelSignalPtr cancel;
  std::vector<bool> tried;
  absl::Status last_error;
  uint64_t load_us = 0;  // on-demand loads on the way
  bool reloaded = false;
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

std::optional<v1::LoadFunctionRequest> PoolExecutor::NeedsLoad(const std::string& key, size_t i) {
  absl::MutexLock lock(&known_mu_);
  auto it = known_.find(key);
  if (it == known_.end() || it->second.warm[i]) return std::nullopt;
  return it->second.load;
}

void PoolExecutor::SetWarm(const std::string& key, size_t i, bool warm) {
  absl::MutexLock lock(&known_mu_);
  auto it = known_.find(key);
  if (it != known_.end()) it->second.warm[i] = warm;
}

int PoolExecutor::Pick(const std::vector<bool>& tried, const std::string& key) {
  const int64_t now = health_.NowMicros();
  const size_t n = members_.size();
  std::vector<bool> warm(n, true);
  {
    absl::MutexLock lock(&known_mu_);
    if (auto it = known_.find(key); it != known_.end()) warm = it->second.warm;
  }
  const size_t start = next_.fetch_add(1, std::memory_order_relaxed) % n;
  int best = -1;
  double best_us = std::numeric_limits<double>::infinity();
  bool best_down = true;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (tried[i]) continue;
    const bool down = !health_.IsUp(i, now);
    const double us = health_.PredictUs(i, warm[i]);
    // Up members first; among them the lowest prediction; the rotation
    // breaks ties.
    if (best < 0 || (best_down && !down) || (down == best_down && us < best_us)) {
      best = static_cast<int>(i);
      best_us = us;
      best_down = down;
    }
  }
  return best;
}

void PoolExecutor::Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr cancel) {
  auto attempt = std::make_shared<Attempt>();
  attempt->key = KeyOf(request.function(), request.sha256());
  attempt->request = std::move(request);
  attempt->done = std::move(done);
  attempt->cancel = std::move(cancel);
  attempt->tried.assign(members_.size(), false);
  Try(std::move(attempt));
}

// The answer to a call made while the pool stops; given outside mu_ (a
// callback may call the pool again).
absl::Status PoolExecutor::ShuttingDown() const {
  return absl::UnavailableError(absl::StrCat(Describe(), " is shutting down"));
}

bool PoolExecutor::BeginStart() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  ++starting_;
  return true;
}

void PoolExecutor::EndStart() {
  absl::MutexLock lock(&mu_);
  --starting_;
}

void PoolExecutor::Try(std::shared_ptr<Attempt> attempt) {
  if (!BeginStart()) return attempt->done(ShuttingDown());
  absl::Cleanup started = [this] { EndStart(); };
  const int i = Pick(attempt->tried, attempt->key);
  if (i < 0) {
    attempt->done(absl::UnavailableError(
        absl::StrCat("every member of ", Describe(),
                     " is unavailable; last: ", std::string(attempt->last_error.message()))));
    return;
  }
  attempt->tried[i] = true;
  if (auto load = NeedsLoad(attempt->key, i)) return LoadThenRun(attempt, i, *std::move(load));
  Run(std::move(attempt), i);
}

void PoolExecutor::LoadThenRun(std::shared_ptr<Attempt> attempt, int i,
                               v1::LoadFunctionRequest load) {
  const int64_t start = health_.NowMicros();
  health_.CallStarted(i);
  members_[i]->LoadFunction(
      std::move(load), [this, attempt, i, start](absl::StatusOr<v1::LoadFunctionResponse> r) {
        health_.CallEnded(i);
        if (r.ok()) {
          const uint64_t us =
              r->load_us() > 0
                  ? r->load_us()
                  : static_cast<uint64_t>(std::max<int64_t>(0, health_.NowMicros() - start));
          if (!r->already_loaded()) {
            attempt->load_us += std::max<uint64_t>(1, us);
            health_.RecordLoad(i, static_cast<double>(us));
          }
          SetWarm(attempt->key, i, true);
          return Run(attempt, i);
        }
        if (absl::IsUnavailable(r.status()) && !(attempt->cancel && attempt->cancel->cancelled())) {
          health_.MarkDown(i, r.status());
          attempt->last_error = r.status();
          return Try(attempt);
        }
        attempt->done(absl::Status(
            r.status().code(),
            absl::StrCat("loading on ", members_[i]->Describe(), ": ", r.status().message())));
      });
}

void PoolExecutor::Run(std::shared_ptr<Attempt> attempt, int i) {
  // Also reached from a load's callback: the same guard as Try's.
  if (!BeginStart()) return attempt->done(ShuttingDown());
  absl::Cleanup started = [this] { EndStart(); };
  health_.CallStarted(i);
  members_[i]->Invoke(
      attempt->request,
      [this, attempt, i](absl::StatusOr<v1::InvokeResponse> result) mutable {
        health_.CallEnded(i);
        const bool cancelled = attempt->cancel && attempt->cancel->cancelled();
        if (absl::IsUnavailable(result.status())) {
          health_.MarkDown(i, result.status());
          attempt->last_error = result.status();
          if (!cancelled) return Try(std::move(attempt));
        } else if (absl::IsNotFound(result.status()) && !attempt->reloaded && !cancelled) {
          // The member lost a function the pool knows (it restarted): load it again, once.
          SetWarm(attempt->key, i, false);
          if (auto load = NeedsLoad(attempt->key, i)) {
            attempt->reloaded = true;
            return LoadThenRun(std::move(attempt), i, *std::move(load));
          }
        } else if (result.ok()) {
          health_.MarkUp(i);
          health_.RecordService(i, static_cast<double>(result->queue_us() + result->exec_us()));
          result->set_load_us(result->load_us() + attempt->load_us);
        }
        attempt->done(std::move(result));
      },
      attempt->cancel);
}

void PoolExecutor::LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) {
  std::vector<bool> none(members_.size(), false);
  std::string key = KeyOf(request.spec().name(), request.spec().sha256());
  if (request.spec().sha256().empty()) {
    // The version is the member's to derive: a known version of the name.
    absl::MutexLock lock(&known_mu_);
    auto it = known_.lower_bound(key);
    if (it != known_.end() && it->first.rfind(key, 0) == 0) key = it->first;
  }
  const int i = Pick(none, key);
  const int64_t start = health_.NowMicros();
  health_.CallStarted(i);
  v1::LoadFunctionRequest copy = request;
  members_[i]->LoadFunction(
      std::move(request), [this, i, start, copy = std::move(copy), done = std::move(done)](
                              absl::StatusOr<v1::LoadFunctionResponse> r) mutable {
        health_.CallEnded(i);
        if (r.ok()) {
          // Known under the version the member derived (the request may not name it).
          *copy.mutable_spec() = r->spec();
          const std::string key = KeyOf(r->spec().name(), r->spec().sha256());
          if (!r->already_loaded()) {
            const uint64_t us =
                r->load_us() > 0
                    ? r->load_us()
                    : static_cast<uint64_t>(std::max<int64_t>(0, health_.NowMicros() - start));
            health_.RecordLoad(i, static_cast<double>(us));
          }
          absl::MutexLock lock(&known_mu_);
          Known& known = known_[key];
          if (known.warm.empty()) known.warm.assign(members_.size(), false);
          known.load = std::move(copy);
          known.warm[i] = true;
        } else if (absl::IsUnavailable(r.status())) {
          health_.MarkDown(i, r.status());
        }
        done(std::move(r));
      });
}

void PoolExecutor::UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) {
  {
    absl::MutexLock lock(&known_mu_);
    const std::string prefix = request.function() + "@";
    for (auto it = known_.begin(); it != known_.end();) {
      const bool match = request.sha256().empty()
                             ? it->first.rfind(prefix, 0) == 0
                             : it->first == KeyOf(request.function(), request.sha256());
      it = match ? known_.erase(it) : std::next(it);
    }
  }
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
          {
            std::set<std::string> there;
            for (const auto& f : r->functions()) there.insert(KeyOf(f.function(), f.sha256()));
            absl::MutexLock lock(&known_mu_);
            for (auto& [key, known] : known_) known.warm[i] = there.count(key) > 0;
          }
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
