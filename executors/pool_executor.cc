#include "executors/pool_executor.h"

#include <algorithm>
#include <cmath>
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

// Starts `call(member, done)` on every member of `uses` (PoolExecutor::Use)
// and hands the slots and the answers, in that order, to `finish`; the
// members' call counts drop once `finish` has run. The executors are held
// only while the calls start.
template <typename Response, typename Uses, typename Call, typename Finish>
void Broadcast(Uses uses, Call call, Finish finish) {
  const size_t n = uses.size();
  std::vector<size_t> slots;
  std::vector<std::shared_ptr<std::atomic<int>>> counts;
  for (const auto& u : uses) {
    slots.push_back(u.slot);
    counts.push_back(u.calls);
  }
  auto fan = std::make_shared<FanOut<Response>>(
      n, [slots = std::move(slots), counts = std::move(counts),
          finish = std::move(finish)](std::vector<absl::StatusOr<Response>> results) mutable {
        finish(slots, std::move(results));
        for (const auto& c : counts) c->fetch_sub(1);
      });
  if (n == 0) return fan->finish({});
  for (size_t k = 0; k < n; ++k) {
    call(*uses[k].executor, [fan, k](absl::StatusOr<Response> r) { fan->Set(k, std::move(r)); });
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
  // key, then those of a pipeline chain's later stages (InvokeRequest.chain):
  // all must be loaded on the member the call goes to.
  std::vector<std::string> keys;
  InvokeCallback done;
  CancelSignalPtr cancel;
  std::vector<bool> tried;
  absl::Status last_error;
  uint64_t load_us = 0;  // on-demand loads on the way
  bool reloaded = false;
};

PoolExecutor::PoolExecutor(std::vector<ExecutorPtr> members, Options options,
                           const common::Clock& clock)
    : health_(0, int64_t{options.down_ms} * 1000, clock) {
  for (ExecutorPtr& m : members) AddMember(std::move(m));
}

PoolExecutor::~PoolExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &starting_));
  }
  // The members go first: each waits for its callbacks, which use the rest.
  std::vector<Slot> slots;
  {
    absl::MutexLock lock(&members_mu_);
    slots.swap(slots_);
  }
  slots.clear();
}

std::optional<v1::LoadFunctionRequest> PoolExecutor::NeedsLoad(const std::string& key, size_t i) {
  absl::MutexLock lock(&known_mu_);
  auto it = known_.find(key);
  if (it == known_.end() || (i < it->second.warm.size() && it->second.warm[i])) {
    return std::nullopt;
  }
  return it->second.load;
}

void PoolExecutor::SetWarm(const std::string& key, size_t i, bool warm) {
  absl::MutexLock lock(&known_mu_);
  auto it = known_.find(key);
  if (it == known_.end()) return;
  if (it->second.warm.size() <= i) it->second.warm.resize(i + 1, false);
  it->second.warm[i] = warm;
}

int PoolExecutor::Pick(const std::vector<bool>& tried, const std::string& key) {
  const int64_t now = health_.NowMicros();
  std::vector<size_t> candidates;
  {
    absl::ReaderMutexLock lock(&members_mu_);
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].active && (i >= tried.size() || !tried[i])) candidates.push_back(i);
    }
  }
  if (candidates.empty()) return -1;
  std::vector<bool> warm;
  bool known = false;
  {
    absl::MutexLock lock(&known_mu_);
    if (auto it = known_.find(key); it != known_.end()) {
      warm = it->second.warm;
      known = true;
    }
  }
  const size_t n = candidates.size();
  const size_t start = next_.fetch_add(1, std::memory_order_relaxed) % n;
  int best = -1;
  double best_us = std::numeric_limits<double>::infinity();
  bool best_down = true;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = candidates[(start + k) % n];
    const bool down = !health_.IsUp(i, now);
    const double us = health_.PredictUs(i, !known || (i < warm.size() && warm[i]));
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
  attempt->keys = {attempt->key};
  for (const v1::ChainStage& stage : request.chain()) {
    attempt->keys.push_back(KeyOf(stage.function(), stage.sha256()));
  }
  attempt->request = std::move(request);
  attempt->done = std::move(done);
  attempt->cancel = std::move(cancel);
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
  if (attempt->tried.size() <= static_cast<size_t>(i)) attempt->tried.resize(i + 1, false);
  attempt->tried[i] = true;
  LoadNextOrRun(std::move(attempt), i);
}

// Loads the first of the attempt's functions member i lacks, then the next,
// and runs the call once none is missing.
void PoolExecutor::LoadNextOrRun(std::shared_ptr<Attempt> attempt, int i) {
  for (const std::string& key : attempt->keys) {
    if (auto load = NeedsLoad(key, i))
      return LoadThenRun(std::move(attempt), i, key, *std::move(load));
  }
  Run(std::move(attempt), i);
}

void PoolExecutor::LoadThenRun(std::shared_ptr<Attempt> attempt, int i, const std::string& key,
                               v1::LoadFunctionRequest load) {
  if (!BeginStart()) return attempt->done(ShuttingDown());
  absl::Cleanup started = [this] { EndStart(); };
  std::optional<Use> use = MemberAt(i);
  if (!use) return Try(std::move(attempt));  // it left meanwhile
  const int64_t start = health_.NowMicros();
  health_.CallStarted(i);
  const std::string name = use->executor->Describe();
  use->executor->LoadFunction(
      std::move(load), [this, attempt, i, key, start, name,
                        calls = use->calls](absl::StatusOr<v1::LoadFunctionResponse> r) {
        // Slot i is written before the counts drop (Reap may then free it).
        if (r.ok()) {
          const uint64_t us =
              r->load_us() > 0
                  ? r->load_us()
                  : static_cast<uint64_t>(std::max<int64_t>(0, health_.NowMicros() - start));
          if (!r->already_loaded()) {
            attempt->load_us += std::max<uint64_t>(1, us);
            health_.RecordLoad(i, static_cast<double>(us));
          }
          SetWarm(key, i, true);
          health_.CallEnded(i);
          calls->fetch_sub(1);
          return LoadNextOrRun(attempt, i);
        }
        const bool retry =
            absl::IsUnavailable(r.status()) && !(attempt->cancel && attempt->cancel->cancelled());
        if (retry) health_.MarkDown(i, r.status());
        health_.CallEnded(i);
        calls->fetch_sub(1);
        if (retry) {
          attempt->last_error = r.status();
          return Try(attempt);
        }
        attempt->done(absl::Status(r.status().code(),
                                   absl::StrCat("loading on ", name, ": ", r.status().message())));
      });
}

void PoolExecutor::Run(std::shared_ptr<Attempt> attempt, int i) {
  // Also reached from a load's callback: the same guard as Try's.
  if (!BeginStart()) return attempt->done(ShuttingDown());
  absl::Cleanup started = [this] { EndStart(); };
  std::optional<Use> use = MemberAt(i);
  if (!use) return Try(std::move(attempt));  // it left meanwhile
  health_.CallStarted(i);
  use->executor->Invoke(
      attempt->request,
      [this, attempt, i, calls = use->calls](absl::StatusOr<v1::InvokeResponse> result) mutable {
        // Slot i is written before the counts drop: an idle removed member's
        // slot may be given to another one (Reap).
        const bool cancelled = attempt->cancel && attempt->cancel->cancelled();
        bool reload = false;
        if (absl::IsUnavailable(result.status())) {
          health_.MarkDown(i, result.status());
          attempt->last_error = result.status();
        } else if (absl::IsNotFound(result.status()) && !attempt->reloaded && !cancelled) {
          // The member lost a function the pool knows (it restarted): load
          // them again, once (a chain: every stage).
          for (const std::string& key : attempt->keys) SetWarm(key, i, false);
          for (const std::string& key : attempt->keys) reload = reload || NeedsLoad(key, i);
        } else if (result.ok()) {
          health_.MarkUp(i);
          health_.RecordService(i, static_cast<double>(result->queue_us() + result->exec_us()));
          result->set_load_us(result->load_us() + attempt->load_us);
        }
        health_.CallEnded(i);
        calls->fetch_sub(1);
        if (absl::IsUnavailable(result.status()) && !cancelled) return Try(std::move(attempt));
        if (reload) {
          attempt->reloaded = true;
          return LoadNextOrRun(std::move(attempt), i);
        }
        attempt->done(std::move(result));
      },
      attempt->cancel);
}

void PoolExecutor::LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) {
  std::string key = KeyOf(request.spec().name(), request.spec().sha256());
  if (request.spec().sha256().empty()) {
    // The version is the member's to derive: a known version of the name.
    absl::MutexLock lock(&known_mu_);
    auto it = known_.lower_bound(key);
    if (it != known_.end() && it->first.rfind(key, 0) == 0) key = it->first;
  }
  if (!BeginStart()) return done(ShuttingDown());
  absl::Cleanup started = [this] { EndStart(); };
  const int i = Pick({}, key);
  std::optional<Use> use;
  if (i >= 0) use = MemberAt(i);
  if (!use) return done(absl::UnavailableError(absl::StrCat(Describe(), " has no member")));
  const int64_t start = health_.NowMicros();
  health_.CallStarted(i);
  v1::LoadFunctionRequest copy = request;
  use->executor->LoadFunction(
      std::move(request),
      [this, i, start, copy = std::move(copy), calls = use->calls,
       done = std::move(done)](absl::StatusOr<v1::LoadFunctionResponse> r) mutable {
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
          known.load = std::move(copy);
          if (known.warm.size() <= static_cast<size_t>(i)) known.warm.resize(i + 1, false);
          known.warm[i] = true;
        } else if (absl::IsUnavailable(r.status())) {
          health_.MarkDown(i, r.status());
        }
        health_.CallEnded(i);
        calls->fetch_sub(1);
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
      ActiveMembers(),
      [&request](Executor& e, UnloadCallback cb) { e.UnloadFunction(request, std::move(cb)); },
      [done = std::move(done)](const std::vector<size_t>& /*slots*/,
                               std::vector<absl::StatusOr<v1::UnloadFunctionResponse>> results) {
        bool any_ok = false;
        v1::UnloadFunctionResponse merged;
        for (auto& r : results) {
          if (!r.ok()) continue;
          any_ok = true;
          merged.set_unloaded(merged.unloaded() || r->unloaded());
        }
        if (any_ok) {
          done(std::move(merged));
        } else if (results.empty()) {
          done(absl::UnavailableError("the pool has no member"));
        } else {
          done(FirstError(results));
        }
      });
}

void PoolExecutor::GetStatus(StatusCallback done) {
  Broadcast<v1::GetStatusResponse>(
      ActiveMembers(), [](Executor& e, StatusCallback cb) { e.GetStatus(std::move(cb)); },
      [this, done = std::move(done)](const std::vector<size_t>& slots,
                                     std::vector<absl::StatusOr<v1::GetStatusResponse>> results) {
        std::optional<v1::GetStatusResponse> merged;
        std::set<std::pair<std::string, std::string>> seen;
        double service_sum = 0.0;
        double quota_sum = 0.0;
        bool every_quota = true;  // every member that answered has a quota
        double least_throttled = std::numeric_limits<double>::infinity();
        double least_throttled_used = 0.0;
        int answered = 0;
        for (size_t k = 0; k < results.size(); ++k) {
          auto& r = results[k];
          if (!r.ok()) continue;
          const size_t i = slots[k];
          health_.RecordStatus(i, r->queue_depth());
          {
            std::set<std::string> there;
            for (const auto& f : r->functions()) there.insert(KeyOf(f.function(), f.sha256()));
            absl::MutexLock lock(&known_mu_);
            for (auto& [key, known] : known_) {
              if (known.warm.size() <= i) known.warm.resize(i + 1, false);
              known.warm[i] = there.count(key) > 0;
            }
          }
          ++answered;
          service_sum += r->mean_service_us();
          quota_sum += r->cpu_quota_cores();
          if (r->cpu_throttled() < least_throttled) {
            least_throttled = r->cpu_throttled();
            least_throttled_used = r->cpu_used_cores();
          }
          every_quota = every_quota && r->cpu_quota_cores() > 0.0;
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
          done(results.empty() ? absl::UnavailableError("the pool has no member")
                               : FirstError(results));
          return;
        }
        merged->set_mean_service_us(service_sum / answered);
        merged->set_cpu_quota_cores(every_quota ? quota_sum : 0.0);
        merged->set_cpu_throttled(std::isfinite(least_throttled) ? least_throttled : 0.0);
        merged->set_cpu_used_cores(least_throttled_used);
        done(std::move(*merged));
      });
}

}  // namespace stoa::executors
