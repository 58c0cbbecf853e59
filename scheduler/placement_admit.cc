// PlacementScheduler's admission of a policy's choice: the circuit check,
// the failover to another tier, and the UNAVAILABLE message naming every
// tier's state (placement_scheduler.h).
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "scheduler/placement_scheduler.h"

namespace stoa::scheduler {

absl::Status PlacementScheduler::Unavailable(std::string_view function, TierSet allowed,
                                             int64_t now_us, const std::string& why) const {
  std::string msg = absl::StrCat("no tier available for '", std::string(function), "': ", why);
  for (Tier t : AllTiers()) {
    absl::StrAppend(&msg, why.empty() && t == AllTiers()[0] ? "" : "; ", std::string(TierName(t)),
                    ": ");
    const CircuitBreaker& cb = circuits_[TierIndex(t)];
    if (!allowed.Contains(t)) {
      absl::StrAppend(&msg, "not allowed for this function");
      continue;
    }
    switch (cb.State(now_us)) {
      case CircuitState::kClosed:
        absl::StrAppend(&msg, "available");
        break;
      case CircuitState::kOpen:
        absl::StrAppend(&msg, "circuit open after ", cb.ConsecutiveFailures(),
                        " consecutive failures, retry in ",
                        (cb.OpenRemainingUs(now_us) + 999) / 1000, " ms");
        break;
      case CircuitState::kHalfOpen:
        absl::StrAppend(&msg, "circuit half-open, probe in flight");
        break;
    }
  }
  return absl::UnavailableError(msg);
}

absl::StatusOr<Decision> PlacementScheduler::Admit(std::string_view function,
                                                   const PolicyConfig& config,
                                                   const PolicyInput& in, const Choice& choice,
                                                   int64_t now) {
  Tier tier = choice.tier;
  Reason reason = choice.reason;
  const int64_t open_us = int64_t{config.circuit.open_ms} * 1000;
  if (!in.allowed.Contains(tier) || !circuits_[TierIndex(tier)].TryAdmit(now, open_us)) {
    if (!choice.may_fail_over) {
      return Unavailable(
          function, in.allowed, now,
          absl::StrCat("policy ", std::string(PolicyKindName(config.policy)), " requires ",
                       std::string(TierName(tier)), " and does not fail over"));
    }
    bool found = false;
    for (Tier t : AllTiers()) {
      if (t != tier && in.available.Contains(t) && circuits_[TierIndex(t)].TryAdmit(now, open_us)) {
        tier = t;
        reason = Reason::kFailover;
        found = true;
        break;
      }
    }
    // Possible: a concurrent Decide took the half-open probe slot.
    if (!found) return Unavailable(function, in.allowed, now, "");
  }
  const Prediction& p = in.predictions[TierIndex(tier)];
  return Decision{tier, reason, p.measured ? p.ms : 0.0};
}

}  // namespace stoa::scheduler
