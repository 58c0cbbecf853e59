#include "scheduler/decision.h"

#include "common/check.h"

namespace stoa::scheduler {

std::string_view ReasonName(Reason r) {
  switch (r) {
    case Reason::kPredictedBest:
      return "predicted-best";
    case Reason::kPolicy:
      return "policy";
    case Reason::kForced:
      return "forced";
    case Reason::kFailover:
      return "failover";
    case Reason::kExplore:
      return "explore";
    case Reason::kHedge:
      return "hedge";
    case Reason::kShadow:
      return "shadow";
    case Reason::kBackup:
      return "backup";
  }
  STOA_CHECK(false, "not a Reason");
}

Decision RunDecision(const Decision& request, Tier t) {
  if (t == request.tier) return request;
  const bool hedge = request.hedge.Contains(t);
  Decision run(t, hedge ? Reason::kHedge : Reason::kShadow);
  run.trace_id = request.trace_id;
  run.keep_hedge = hedge && request.keep_hedge;
  return run;
}

}  // namespace stoa::scheduler
