#include "gateway/run_group.h"

#include <array>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace stoa::gateway {

using scheduler::Reason;
using scheduler::Tier;
using scheduler::TierIndex;

namespace {

// A promoted shadow's result, answering as the backup it became (no
// prediction, as a started backup's).
absl::StatusOr<DispatchResult> AsBackup(absl::StatusOr<DispatchResult> result) {
  if (result.ok()) {
    result->reason = Reason::kBackup;
    result->predicted_ms = 0.0;
  }
  return result;
}

}  // namespace

struct RunGroup::State {
  std::string function;
  Tier chosen = Tier::kEdge;
  scheduler::TierSet shadow;  // never withdrawn when another run answers
  // Decision::keep_hedge: neither hedged run is withdrawn either.
  bool keep_hedge = false;
  // A planned backup's tier (Decision::backup); the primary is then never
  // withdrawn either (its lateness is what the scheduler must learn).
  std::optional<Tier> backup;
  // The backup's tier already runs a shadow of the request: when the
  // primary is late, that run is promoted to the backup (its answer is the
  // request's) instead of starting another one.
  bool backup_is_shadow = false;
  DispatchCallback done;
  // Per tier, the cancel signal of its run: answering runs of hedged
  // groups, and every run when the request has a signal of its own.
  std::array<executors::CancelSignalPtr, scheduler::kNumTiers> cancel;
  // The request's signal and the id of the hook that cancels every run.
  executors::CancelSignalPtr client_cancel;
  uint64_t client_hook = 0;

  absl::Mutex mu;
  std::array<double, scheduler::kNumTiers> latency_ms ABSL_GUARDED_BY(mu);
  int pending ABSL_GUARDED_BY(mu) = 0;
  int answering ABSL_GUARDED_BY(mu) = 0;  // primary + hedge runs not finished
  bool answered ABSL_GUARDED_BY(mu) = false;
  DeadlineWatchdog::Token backup_watch ABSL_GUARDED_BY(mu) = 0;  // 0: none armed
  // backup_is_shadow: the shadow's result when it ended before the due time
  // (kept in case it is promoted), and whether it has been promoted.
  std::optional<absl::StatusOr<DispatchResult>> shadow_result ABSL_GUARDED_BY(mu);
  bool promoted ABSL_GUARDED_BY(mu) = false;
};

void RunGroup::Start(DispatchContext& context, std::shared_ptr<const InvocationRequest> request,
                     const scheduler::Decision& decision, DispatchCallback done) {
  struct Run {
    scheduler::Decision decision;
    Invocation::Role role;
  };
  const bool hedged = !decision.hedge.Empty();
  std::vector<Run> runs = {
      {decision, hedged ? Invocation::Role::kHedge : Invocation::Role::kPrimary}};
  for (Tier t : scheduler::AllTiers()) {
    if (t == decision.tier) continue;
    const scheduler::Decision other = scheduler::RunDecision(decision, t);
    if (decision.hedge.Contains(t)) {
      runs.push_back({other, Invocation::Role::kHedge});
    } else if (decision.shadow.Contains(t)) {
      runs.push_back({other, Invocation::Role::kShadow});
    }
  }
  auto state = std::make_shared<State>();
  state->function = request->name;
  state->chosen = decision.tier;
  state->keep_hedge = decision.keep_hedge;
  const int64_t backup_due_us =
      context.clock.NowMicros() + static_cast<int64_t>(decision.backup_after_ms * 1000.0);
  if (!hedged && !request->forced && decision.backup_after_ms > 0.0 &&
      backup_due_us < request->deadline_us) {
    for (Tier t : scheduler::AllTiers()) {
      if (decision.backup.Contains(t) && t != decision.tier && request->allowed.Contains(t)) {
        state->backup = t;
        state->backup_is_shadow = decision.shadow.Contains(t);
      }
    }
  }
  for (const Run& run : runs) {
    if (run.role == Invocation::Role::kShadow) state->shadow.Add(run.decision.tier);
  }
  state->done = std::move(done);
  {
    absl::MutexLock lock(&state->mu);
    state->latency_ms.fill(std::numeric_limits<double>::quiet_NaN());
    state->pending = static_cast<int>(runs.size());
    for (const Run& run : runs) state->answering += run.role != Invocation::Role::kShadow;
  }
  state->client_cancel = request->client_cancel;
  for (const Run& run : runs) {
    const Tier tier = run.decision.tier;
    const bool answers = run.role != Invocation::Role::kShadow;
    if ((answers && hedged) || state->client_cancel)
      state->cancel[TierIndex(tier)] = std::make_shared<executors::CancelSignal>();
  }
  if (state->backup && !state->backup_is_shadow) {
    state->cancel[TierIndex(*state->backup)] = std::make_shared<executors::CancelSignal>();
  }
  if (state->client_cancel) {
    // The client went away: withdraw every run. The hook touches only the
    // signals, fixed from here on.
    state->client_hook = state->client_cancel->AddHook([state = state.get()] {
      for (const auto& cancel : state->cancel) {
        if (cancel) cancel->Cancel();
      }
    });
  }
  for (const Run& run : runs) {
    const Tier tier = run.decision.tier;
    const bool answers = run.role != Invocation::Role::kShadow;
    Invocation::Start(context, request, run.decision, run.role, state->cancel[TierIndex(tier)],
                      [&context, state, tier, answers](absl::StatusOr<DispatchResult> result) {
                        Finish(context, state, tier, answers, std::move(result));
                      });
  }
  if (state->backup) {
    scheduler::Decision backup(*state->backup, Reason::kBackup);
    backup.trace_id = decision.trace_id;
    const DeadlineWatchdog::Token watch =
        context.watchdog.Watch(backup_due_us, [&context, state, request, backup] {
          if (state->backup_is_shadow) {
            PromoteShadow(context, state);
          } else {
            StartBackup(context, state, request, backup);
          }
        });
    bool drop = false;
    {
      absl::MutexLock lock(&state->mu);
      drop = state->answered;
      if (!drop) state->backup_watch = watch;
    }
    if (drop) context.watchdog.Cancel(watch);
  }
}

void RunGroup::StartBackup(DispatchContext& context, const std::shared_ptr<State>& state,
                           const std::shared_ptr<const InvocationRequest>& request,
                           const scheduler::Decision& decision) {
  const Tier tier = decision.tier;
  {
    absl::MutexLock lock(&state->mu);
    state->backup_watch = 0;
    if (state->answered || state->answering == 0) return;
    if (state->client_cancel && state->client_cancel->cancelled()) return;
    ++state->pending;
    ++state->answering;
  }
  context.metrics.backups.Add(InvocationMetrics::Labels(state->function, tier))->Increment();
  Invocation::Start(context, request, decision, Invocation::Role::kHedge,
                    state->cancel[TierIndex(tier)],
                    [&context, state, tier](absl::StatusOr<DispatchResult> result) {
                      Finish(context, state, tier, true, std::move(result));
                    });
}

void RunGroup::PromoteShadow(DispatchContext& context, const std::shared_ptr<State>& state) {
  const Tier tier = *state->backup;
  std::optional<absl::StatusOr<DispatchResult>> answer;
  {
    absl::MutexLock lock(&state->mu);
    state->backup_watch = 0;
    if (state->answered || state->answering == 0) return;
    if (state->client_cancel && state->client_cancel->cancelled()) return;
    if (state->shadow_result) {
      // The shadow ended before the due time: a failure has nothing to give.
      if (!state->shadow_result->ok()) return;
      answer = std::exchange(state->shadow_result, std::nullopt);
      state->answered = true;
    } else {
      // Still running: from now on it answers like a backup.
      state->promoted = true;
      ++state->answering;
    }
  }
  context.metrics.backups.Add(InvocationMetrics::Labels(state->function, tier))->Increment();
  if (answer) state->done(AsBackup(*std::move(answer)));
}

void RunGroup::Finish(DispatchContext& context, const std::shared_ptr<State>& state, Tier tier,
                      bool answers, absl::StatusOr<DispatchResult> result) {
  bool deliver = false;
  bool compare = false;
  DeadlineWatchdog::Token watch = 0;
  std::array<double, scheduler::kNumTiers> latency{};
  {
    absl::MutexLock lock(&state->mu);
    --state->pending;
    // A run that failed over reports the tier it ended on.
    if (result.ok() && result->tier == tier)
      state->latency_ms[TierIndex(tier)] = result->latency_ms;
    if (!answers && state->backup_is_shadow && tier == *state->backup) {
      if (state->promoted) {
        answers = true;
        result = AsBackup(std::move(result));
      } else if (!state->answered) {
        state->shadow_result = std::move(result);
      }
    }
    if (answers) {
      --state->answering;
      if (!state->answered && (result.ok() || state->answering == 0)) {
        state->answered = true;
        deliver = true;
        watch = std::exchange(state->backup_watch, 0);
        state->shadow_result.reset();
      }
    }
    if (state->pending == 0) {
      compare = true;
      latency = state->latency_ms;
    }
  }
  if (watch != 0) context.watchdog.Cancel(watch);
  if (deliver && result.ok()) {
    // The other answering runs lost: withdraw them.
    // Shadow runs go on: they measure (with a client signal they have one),
    // and so do a late primary that its backup beat and an evidence hedge.
    for (Tier t : scheduler::AllTiers()) {
      const bool keep =
          state->keep_hedge || state->shadow.Contains(t) || (state->backup && t == state->chosen);
      if (t != tier && !keep && state->cancel[TierIndex(t)]) state->cancel[TierIndex(t)]->Cancel();
    }
  }
  if (compare && state->client_cancel) state->client_cancel->RemoveHook(state->client_hook);
  if (compare) context.scheduler.ObserveComparison(state->function, state->chosen, latency);
  if (deliver) state->done(std::move(result));
}

}  // namespace stoa::gateway
