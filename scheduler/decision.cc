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

}  // namespace stoa::scheduler
