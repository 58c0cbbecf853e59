#include "scheduler/scheduler.h"

namespace stoa::scheduler {

std::string_view ReasonName(Reason r) {
  switch (r) {
    case Reason::kPredictedBest:
      return "predicted_best";
    case Reason::kPolicy:
      return "policy";
    case Reason::kForced:
      return "forced";
    case Reason::kFailover:
      return "failover";
    case Reason::kExplore:
      return "explore";
  }
  return "unknown";
}

}  // namespace stoa::scheduler
