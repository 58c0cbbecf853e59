#include "scheduler/placement_scheduler.h"

#include <cmath>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace stoa::scheduler {
namespace {

constexpr int kNumReasons = 5;
constexpr std::array<Reason, kNumReasons> kAllReasons = {
    Reason::kPredictedBest, Reason::kPolicy, Reason::kForced, Reason::kFailover, Reason::kExplore};
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int ReasonIndex(Reason r) { return static_cast<int>(r); }

nlohmann::json NumberOrNull(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

struct PlacementScheduler::FunctionState {
  struct PerTier {
    TierEstimate estimate;
    std::array<std::atomic<uint64_t>, kNumReasons> decisions{};
    std::atomic<double> predicted_ms{kNaN};
    // Cached so the hot path never takes Family::Add's mutex.
    std::array<common::metrics::Counter*, kNumReasons> placements{};
    common::metrics::Gauge* predicted_gauge = nullptr;

    void Count(Reason r) {
      decisions[ReasonIndex(r)].fetch_add(1, std::memory_order_relaxed);
      if (auto* c = placements[ReasonIndex(r)]) c->Increment();
    }
  };
  std::array<PerTier, kNumTiers> tiers;
};

PlacementScheduler::PlacementScheduler(const common::Clock& clock,
                                       common::metrics::Registry* metrics, uint64_t seed,
                                       const PolicyConfig& policy)
    : clock_(clock), rng_(seed) {
  SetPolicy(policy);
  if (metrics != nullptr) {
    placements_ = &metrics->AddCounter("stoa_placements_total",
                                       "Placement decisions by function, tier and reason.");
    predicted_ = &metrics->AddGauge("stoa_predicted_latency_seconds",
                                    "Latest predicted end-to-end latency by function and tier.");
  }
}

PlacementScheduler::~PlacementScheduler() = default;

void PlacementScheduler::SetPolicy(const PolicyConfig& policy) {
  auto active = std::make_shared<ActivePolicy>();
  active->config = policy;
  active->strategy = MakePlacementPolicy(policy);
  std::atomic_store(&policy_, std::shared_ptr<const ActivePolicy>(std::move(active)));
}

PolicyConfig PlacementScheduler::GetPolicy() const { return std::atomic_load(&policy_)->config; }

PlacementScheduler::Shard& PlacementScheduler::ShardFor(std::string_view function) const {
  return shards_[std::hash<std::string_view>{}(function) % kShards];
}

std::shared_ptr<PlacementScheduler::FunctionState> PlacementScheduler::MakeFunctionState(
    std::string_view function) {
  auto state = std::make_shared<FunctionState>();
  if (placements_ == nullptr) return state;
  for (Tier t : kAllTiers) {
    auto& tier = state->tiers[TierIndex(t)];
    common::metrics::Labels labels = {{"function", std::string(function)},
                                      {"tier", std::string(TierName(t))}};
    tier.predicted_gauge = &predicted_->Add(labels);
    for (Reason r : kAllReasons) {
      labels["reason"] = std::string(ReasonName(r));
      tier.placements[ReasonIndex(r)] = &placements_->Add(labels);
    }
  }
  return state;
}

std::shared_ptr<PlacementScheduler::FunctionState> PlacementScheduler::FindOrCreate(
    std::string_view function) {
  Shard& shard = ShardFor(function);
  absl::string_view key(function.data(), function.size());
  {
    absl::ReaderMutexLock lock(&shard.mu);
    auto it = shard.functions.find(key);
    if (it != shard.functions.end()) return it->second;
  }
  // Built outside the lock: creating metric series takes the registry's mutex.
  std::shared_ptr<FunctionState> fresh = MakeFunctionState(function);
  absl::MutexLock lock(&shard.mu);
  return shard.functions.try_emplace(std::string(function), std::move(fresh)).first->second;
}

void PlacementScheduler::Forget(std::string_view function) {
  Shard& shard = ShardFor(function);
  absl::MutexLock lock(&shard.mu);
  shard.functions.erase(absl::string_view(function.data(), function.size()));
}

absl::Status PlacementScheduler::Unavailable(std::string_view function, TierSet allowed,
                                             int64_t now_us, const std::string& why) const {
  std::string msg = absl::StrCat("no tier available for '", std::string(function), "': ", why);
  for (Tier t : kAllTiers) {
    absl::StrAppend(&msg, why.empty() && t == kAllTiers[0] ? "" : "; ", std::string(TierName(t)),
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

absl::StatusOr<Decision> PlacementScheduler::Decide(std::string_view function, TierSet allowed,
                                                    const Features& features) {
  if (allowed.Empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no tiers allowed for function '", std::string(function), "'"));
  }
  std::shared_ptr<const ActivePolicy> active = std::atomic_load(&policy_);
  const PolicyConfig& config = active->config;
  const int64_t now = clock_.NowMicros();

  PolicyInput in;
  in.allowed = allowed;
  in.features = &features;
  in.config = &config;
  in.rng = &rng_;
  for (Tier t : kAllTiers) {
    if (allowed.Contains(t) && circuits_[TierIndex(t)].Admits(now)) in.available.Add(t);
  }
  if (in.available.Empty()) return Unavailable(function, allowed, now, "");

  std::shared_ptr<FunctionState> state = FindOrCreate(function);
  for (Tier t : kAllTiers) {
    if (!allowed.Contains(t)) continue;
    auto& tier = state->tiers[TierIndex(t)];
    Prediction p = tier.estimate.Predict(features.warm.Contains(t), config.objective);
    in.predictions[TierIndex(t)] = p;
    if (p.measured) {
      tier.predicted_ms.store(p.ms, std::memory_order_relaxed);
      if (tier.predicted_gauge != nullptr) tier.predicted_gauge->Set(p.ms / 1000.0);
    }
  }

  Choice choice = active->strategy->Choose(in);
  Tier tier = choice.tier;
  Reason reason = choice.reason;
  const int64_t open_us = int64_t{config.circuit.open_ms} * 1000;
  if (!allowed.Contains(tier) || !circuits_[TierIndex(tier)].TryAdmit(now, open_us)) {
    if (!choice.may_fail_over) {
      return Unavailable(
          function, allowed, now,
          absl::StrCat("policy ", std::string(PolicyKindName(config.policy)), " requires ",
                       std::string(TierName(tier)), " and does not fail over"));
    }
    bool found = false;
    for (Tier t : kAllTiers) {
      if (t != tier && in.available.Contains(t) && circuits_[TierIndex(t)].TryAdmit(now, open_us)) {
        tier = t;
        reason = Reason::kFailover;
        found = true;
        break;
      }
    }
    if (!found) return Unavailable(function, allowed, now, "");
  }
  state->tiers[TierIndex(tier)].Count(reason);
  const Prediction& p = in.predictions[TierIndex(tier)];
  return Decision{tier, reason, p.measured ? p.ms : 0.0};
}

void PlacementScheduler::Observe(std::string_view function, const Decision& decision,
                                 const Outcome& outcome) {
  std::shared_ptr<const ActivePolicy> active = std::atomic_load(&policy_);
  const PolicyConfig& config = active->config;
  CircuitBreaker& cb = circuits_[TierIndex(outcome.tier)];
  const int64_t now = clock_.NowMicros();
  if (!outcome.ok && outcome.tier_failure) {
    cb.RecordFailure(now, config.circuit.failures, int64_t{config.circuit.open_ms} * 1000);
  } else {
    cb.RecordSuccess(now);
  }
  bool forced = decision.reason == Reason::kForced;
  if (!outcome.ok && !forced) return;
  std::shared_ptr<FunctionState> state = FindOrCreate(function);
  if (forced) state->tiers[TierIndex(decision.tier)].Count(Reason::kForced);
  if (outcome.ok) state->tiers[TierIndex(outcome.tier)].estimate.Record(outcome, config.smoothing);
}

std::string PlacementScheduler::StateJson() const {
  using Json = nlohmann::json;
  const int64_t now = clock_.NowMicros();
  Json doc;
  doc["policy"] = Json::parse(PolicyToJson(GetPolicy()));
  Json tiers = Json::object();
  for (Tier t : kAllTiers) {
    const CircuitBreaker& cb = circuits_[TierIndex(t)];
    tiers[std::string(TierName(t))] = {
        {"circuit", std::string(CircuitStateName(cb.State(now)))},
        {"consecutive_failures", cb.ConsecutiveFailures()},
    };
  }
  doc["tiers"] = std::move(tiers);

  std::vector<std::pair<std::string, std::shared_ptr<FunctionState>>> snapshot;
  for (const Shard& shard : shards_) {
    absl::ReaderMutexLock lock(&shard.mu);
    for (const auto& [name, state] : shard.functions) snapshot.emplace_back(name, state);
  }
  Json functions = Json::object();
  for (const auto& [name, state] : snapshot) {
    Json fn = Json::object();
    for (Tier t : kAllTiers) {
      const auto& tier = state->tiers[TierIndex(t)];
      Json decisions = Json::object();
      for (Reason r : kAllReasons) {
        decisions[std::string(ReasonName(r))] =
            tier.decisions[ReasonIndex(r)].load(std::memory_order_relaxed);
      }
      fn[std::string(TierName(t))] = {
          {"observations", tier.estimate.Observations()},
          {"warm_ms", NumberOrNull(tier.estimate.warm().Mean())},
          {"cold_ms", NumberOrNull(tier.estimate.cold().Mean())},
          {"predicted_ms", NumberOrNull(tier.predicted_ms.load(std::memory_order_relaxed))},
          {"last_latency_ms", NumberOrNull(tier.estimate.LastLatencyMs())},
          {"decisions", std::move(decisions)},
      };
    }
    functions[name] = std::move(fn);
  }
  doc["functions"] = std::move(functions);
  return doc.dump();
}

}  // namespace stoa::scheduler
