// RunGroup: the runs of one invocation that the scheduler asked to run on
// several tiers at once:
//   hedge   Decision::hedge: the same request also runs on the hedge tier;
//           the first success answers and cancels the other run (its
//           CancelSignal: a gRPC cancellation reaching the remote executor,
//           which skips the work if still queued); a failure waits for the
//           other run; neither fails over.
//   backup  Decision::backup: when the primary run has not answered
//           backup_after_ms after the start (the watchdog's timer), the
//           request also runs on the backup tier (reason backup,
//           stoa_backups_total); the first success answers. A backup that
//           loses is cancelled like a hedge; a late primary that loses is
//           not: it finishes, so the scheduler learns how late its tier
//           was. No backup is started once an answer is in or the client
//           has gone. When the backup's tier already runs a shadow, no
//           other run starts: the shadow is promoted to the backup (its
//           answer, already in or still to come, is the request's).
//   shadow  Decision::shadow: also runs on those tiers only to measure;
//           their answers are dropped unless promoted to a backup.
// A request whose own signal fires (its client went away) cancels every run,
// shadows included.
// When every run has finished, the latency of each tier that succeeded on
// its own tier goes to Scheduler::ObserveComparison (placement accuracy).
//
// Thread safety: runs finish on executor or watchdog threads; the group's
// state is under its mutex and `done` is called exactly once.
#pragma once

#include <memory>

#include "gateway/invocation.h"

namespace stoa::gateway {

class RunGroup {
 public:
  // Starts the primary run on `decision.tier` and one run per hedge or
  // shadow tier of `decision`.
  static void Start(DispatchContext& context, std::shared_ptr<const InvocationRequest> request,
                    const scheduler::Decision& decision, DispatchCallback done);

 private:
  struct State;
  // The watchdog's timer of a planned backup fired.
  static void StartBackup(DispatchContext& context, const std::shared_ptr<State>& state,
                          const std::shared_ptr<const InvocationRequest>& request,
                          const scheduler::Decision& decision);
  // The same timer, when the backup's tier runs a shadow: promote it.
  static void PromoteShadow(DispatchContext& context, const std::shared_ptr<State>& state);
  static void Finish(DispatchContext& context, const std::shared_ptr<State>& state,
                     scheduler::Tier tier, bool answers, absl::StatusOr<DispatchResult> result);
};

}  // namespace stoa::gateway
