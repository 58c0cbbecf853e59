#include "scheduler/placement_scheduler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "scheduler/exploration.h"
#include "scheduler/streaming_stats.h"

namespace stoa::scheduler {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Prediction-error buckets in seconds: 10 µs to 10 s.
std::vector<double> ErrorBuckets() {
  return {1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1, 3, 10};
}

}  // namespace

struct PlacementScheduler::FunctionState {
  struct PerTier {
    LatencyModel model;
    std::array<std::atomic<uint64_t>, kNumReasons> decisions{};
    std::atomic<double> predicted_ms{kNaN};
    std::atomic<double> last_request_kb{0.0};
    // Cached so the hot path never takes Family::Add's mutex; null without
    // a registry. Forget removes their series (these handles stay valid).
    std::array<common::metrics::CounterPtr, kNumReasons> placements{};
    std::array<common::metrics::HistogramPtr, kNumTerms> errors{};
    common::metrics::GaugePtr predicted_gauge;

    void Count(Reason r) {
      decisions[ReasonIndex(r)].fetch_add(1, std::memory_order_relaxed);
      if (const auto& c = placements[ReasonIndex(r)]) c->Increment();
    }
  };

  // The lowest last prediction of the tiers other than `tier` (infinity:
  // none).
  double OthersPredictedMs(Tier tier) const {
    double others = std::numeric_limits<double>::infinity();
    for (Tier t : AllTiers()) {
      double p = tiers[TierIndex(t)].predicted_ms.load(std::memory_order_relaxed);
      if (t != tier && std::isfinite(p)) others = std::min(others, p);
    }
    return others;
  }

  std::array<PerTier, kNumTiers> tiers;
  Exploration exploration;
  std::atomic<uint64_t> comparisons{0};
  std::atomic<uint64_t> correct{0};
  AtomicSum regret_ms;
  common::metrics::GaugePtr accuracy_gauge;
  common::metrics::CounterPtr regret_counter;
};

PlacementScheduler::PlacementScheduler(const common::Clock& clock,
                                       common::metrics::Registry* metrics, uint64_t seed,
                                       const PolicyConfig& policy, SchedulerOptions options)
    : clock_(clock), options_(options), rng_(seed) {
  SetPolicy(policy);
  if (metrics != nullptr) {
    placements_ = &metrics->AddCounter("stoa_placements_total",
                                       "Placement decisions by function, tier and reason.");
    predicted_ = &metrics->AddGauge("stoa_predicted_latency_seconds",
                                    "Latest predicted end-to-end latency by function and tier.");
    errors_ = &metrics->AddHistogram(
        "stoa_prediction_error_seconds",
        "Absolute one-step prediction error of each latency term by function and tier.",
        ErrorBuckets());
    accuracy_ = &metrics->AddGauge(
        "stoa_placement_accuracy_ratio",
        "Share of shadow-measured decisions whose tier had the lowest actual latency.");
    regret_ = &metrics->AddCounter(
        "stoa_placement_regret_seconds_total",
        "Latency lost against the fastest tier over shadow-measured decisions.");
  }
}

PlacementScheduler::~PlacementScheduler() = default;

PlacementScheduler::Shard& PlacementScheduler::ShardFor(std::string_view function) const {
  return shards_[std::hash<std::string_view>{}(function) % kShards];
}

std::shared_ptr<PlacementScheduler::FunctionState> PlacementScheduler::MakeFunctionState(
    std::string_view function) {
  auto state = std::make_shared<FunctionState>();
  if (placements_ == nullptr) return state;
  state->accuracy_gauge = accuracy_->Add({{"function", std::string(function)}});
  state->regret_counter = regret_->Add({{"function", std::string(function)}});
  for (Tier t : AllTiers()) {
    auto& tier = state->tiers[TierIndex(t)];
    common::metrics::Labels labels = {{"function", std::string(function)},
                                      {"tier", std::string(TierClassName(t))},
                                      {"target", std::string(TierName(t))}};
    tier.predicted_gauge = predicted_->Add(labels);
    for (Term term : kAllTerms) {
      common::metrics::Labels l = labels;
      l["term"] = std::string(TermName(term));
      tier.errors[TermIndex(term)] = errors_->Add(l);
    }
    for (Reason r : kPlacementReasons) {
      labels["reason"] = std::string(ReasonName(r));
      tier.placements[ReasonIndex(r)] = placements_->Add(labels);
    }
  }
  return state;
}

std::shared_ptr<PlacementScheduler::FunctionState> PlacementScheduler::FindOrCreate(
    std::string_view function) {
  Shard& shard = ShardFor(function);
  absl::string_view key(function.data(), function.size());
  for (;;) {
    uint64_t forgets;
    {
      absl::ReaderMutexLock lock(&shard.mu);
      auto it = shard.functions.find(key);
      if (it != shard.functions.end()) return it->second;
      forgets = shard.forgets;
    }
    // Built outside the lock: creating metric series takes the registry's mutex.
    std::shared_ptr<FunctionState> fresh = MakeFunctionState(function);
    absl::MutexLock lock(&shard.mu);
    // A Forget in between may have removed the series `fresh` holds: they
    // would update unexported series. Build it again.
    if (shard.forgets != forgets) continue;
    return shard.functions.try_emplace(std::string(function), std::move(fresh)).first->second;
  }
}

void PlacementScheduler::Forget(std::string_view function) {
  Shard& shard = ShardFor(function);
  absl::MutexLock lock(&shard.mu);
  shard.functions.erase(absl::string_view(function.data(), function.size()));
  ++shard.forgets;
  if (placements_ == nullptr) return;
  // Under the shard's lock, ordered with FindOrCreate's check of `forgets`.
  const std::string name(function);
  placements_->RemoveMatching("function", name);
  predicted_->RemoveMatching("function", name);
  errors_->RemoveMatching("function", name);
  accuracy_->RemoveMatching("function", name);
  regret_->RemoveMatching("function", name);
}

ModelInput PlacementScheduler::InputFor(Tier t, const Features& features) const {
  ModelInput in;
  in.warm = features.warm.Contains(t);
  in.networked = !options_.in_process.Contains(t);
  in.request_kb = features.request_bytes / 1000.0;
  in.batch = features.batch;
  in.ahead = features.queue_depth[TierIndex(t)] + features.in_flight[TierIndex(t)];
  in.link_rtt_ms = signals_.RttMs(t);
  in.overdue_ms = features.overdue_ms[TierIndex(t)];
  in.reported_faster_us = signals_.ReportedFasterUs(t);
  in.saturated = signals_.Saturated(t);
  in.steady_probe_us = signals_.SteadyProbeUs(t);
  return in;
}

void PlacementScheduler::Predict(FunctionState& state, const Features& features,
                                 Objective objective, PolicyInput& in) const {
  for (Tier t : AllTiers()) {
    if (!in.allowed.Contains(t)) continue;
    auto& tier = state.tiers[TierIndex(t)];
    Prediction p = tier.model.Predict(InputFor(t, features), objective);
    in.predictions[TierIndex(t)] = p;
    if (p.measured) {
      tier.predicted_ms.store(p.ms, std::memory_order_relaxed);
      if (tier.predicted_gauge != nullptr) tier.predicted_gauge->Set(p.ms / 1000.0);
    }
  }
}

double PlacementScheduler::PredictMs(std::string_view function, Tier tier,
                                     const Features& features) {
  std::shared_ptr<const ActivePolicy> active = PolicyFor(function);
  std::shared_ptr<FunctionState> state = FindOrCreate(function);
  Prediction p = state->tiers[TierIndex(tier)].model.Predict(InputFor(tier, features),
                                                             active->config.objective);
  return p.measured ? p.ms : 0.0;
}

absl::StatusOr<Decision> PlacementScheduler::Decide(std::string_view function, TierSet allowed,
                                                    const Features& features) {
  STOA_CHECK(!allowed.Empty(), "Decide needs at least one allowed tier");
  std::shared_ptr<const ActivePolicy> active = PolicyFor(function);
  const PolicyConfig& config = active->config;
  const int64_t now = clock_.NowMicros();

  PolicyInput in;
  in.allowed = allowed;
  in.features = &features;
  in.config = &config;
  in.rng = &rng_;
  for (Tier t : AllTiers()) {
    if (allowed.Contains(t) && circuits_[TierIndex(t)].Admits(now)) in.available.Add(t);
  }
  if (in.available.Empty()) return Unavailable(function, allowed, now, "");

  std::shared_ptr<FunctionState> state = FindOrCreate(function);
  Exploration& exploration = state->exploration;
  Predict(*state, features, config.objective, in);
  in.first_pending = exploration.FirstPending(allowed, in.predictions, now);
  const double best_ms = Exploration::BestMeanMs(in.available, in.predictions);
  const bool shadow_probes = config.stale_probe == StaleProbe::kShadow && UsesModel(config.policy);
  if (!shadow_probes) {
    in.explorable =
        exploration.Explorable(config.explore_budget, in.available, in.predictions, best_ms, now);
  }

  ASSIGN_OR_RETURN(Decision decision,
                   Admit(function, config, in, active->strategy->Choose(in), now));
  AddHedge(state->exploration, config, in, now, decision);
  AddBackup(config, in, decision);
  AddShadow(config, in, decision);
  if (shadow_probes) AddStaleShadows(state->exploration, config, in, best_ms, now, decision);

  auto& chosen = state->tiers[TierIndex(decision.tier)];
  chosen.Count(decision.reason);
  chosen.last_request_kb.store(features.request_bytes / 1000.0, std::memory_order_relaxed);
  exploration.Decided(decision.tier, decision.reason, in.predictions[TierIndex(decision.tier)],
                      best_ms, now);
  if (options_.trace != nullptr) {
    decision.trace_id = options_.trace->NextId();
    std::array<double, kNumTiers> rtt;
    for (Tier t : AllTiers()) rtt[TierIndex(t)] = InputFor(t, features).link_rtt_ms;
    options_.trace->RecordDecision(now, function, config, in, rtt, decision);
  }
  return decision;
}

void PlacementScheduler::Observe(std::string_view function, const Decision& decision,
                                 const Outcome& outcome) {
  std::shared_ptr<const ActivePolicy> active = PolicyFor(function);
  const PolicyConfig& config = active->config;
  CircuitBreaker& cb = circuits_[TierIndex(outcome.tier)];
  const int64_t now = clock_.NowMicros();
  if (options_.trace != nullptr) options_.trace->RecordOutcome(now, function, decision, outcome);
  if (!outcome.ok && outcome.tier_failure) {
    cb.RecordFailure(now, config.circuit.failures, int64_t{config.circuit.open_ms} * 1000);
  } else {
    cb.RecordSuccess(now);
  }
  const bool shadow = IsShadowRun(decision, outcome);
  const bool forced = decision.reason == Reason::kForced && !shadow;
  if (!outcome.ok && !forced) return;
  std::shared_ptr<FunctionState> state = FindOrCreate(function);
  if (forced) state->tiers[TierIndex(decision.tier)].Count(Reason::kForced);
  if (!outcome.ok) return;
  auto& tier = state->tiers[TierIndex(outcome.tier)];
  const int64_t sent = now - static_cast<int64_t>(std::max(0.0, outcome.latency_ms) * 1000.0);
  state->exploration.Observed(outcome.tier, sent);
  ModelInput in;
  in.networked = !options_.in_process.Contains(outcome.tier);
  in.link_rtt_ms = signals_.RttMs(outcome.tier);
  in.after_evidence = signals_.SentAfterEvidence(outcome.tier, sent);
  in.after_slower_evidence = signals_.SentAfterSlowerEvidence(outcome.tier, sent);
  in.saturated = signals_.Saturated(outcome.tier);
  in.now_us = now;
  in.request_kb = outcome.request_bytes / 1000.0;
  in.batch = outcome.batch;
  in.ahead = outcome.ahead;
  TermErrors errors = tier.model.Observe(in, outcome);
  if ((shadow || IsEvidenceRun(decision)) && config.stale_probe == StaleProbe::kShadow) {
    state->exploration.ShadowProbed(outcome.tier, outcome, errors, tier.model.Observations() == 1,
                                    state->OthersPredictedMs(outcome.tier), in.saturated);
  } else if ((decision.reason == Reason::kExplore || outcome.tier != decision.tier) && !shadow) {
    // An explore run, or a late backup or hedge that ran on another tier
    // than the chosen one: a probe of that tier (one much faster than
    // believed, e.g. the end of a slow spell, earns follow-ups at once).
    state->exploration.Probed(outcome.tier, outcome, errors, tier.model.Observations() == 1,
                              state->OthersPredictedMs(outcome.tier), in.saturated);
  } else if (!shadow && !forced && config.stale_probe == StaleProbe::kShadow &&
             UsesModel(config.policy) && config.explore_budget > 0.0) {
    state->exploration.Served(outcome.tier, outcome, errors);
  }
  for (int i = 0; i < kNumTerms; ++i) {
    if (tier.errors[i] != nullptr && std::isfinite(errors[i])) {
      tier.errors[i]->Observe(std::fabs(errors[i]) / 1000.0);
    }
  }
}

void PlacementScheduler::ObserveComparison(std::string_view function, Tier chosen,
                                           const std::array<double, kNumTiers>& latency_ms) {
  double mine = latency_ms[TierIndex(chosen)];
  if (!std::isfinite(mine)) return;
  double best = mine;
  int measured = 0;
  for (Tier t : AllTiers()) {
    const double v = latency_ms[TierIndex(t)];
    if (!std::isfinite(v)) continue;
    ++measured;
    best = std::min(best, v);
  }
  if (measured < 2) return;
  std::shared_ptr<FunctionState> state = FindOrCreate(function);
  uint64_t n = state->comparisons.fetch_add(1, std::memory_order_relaxed) + 1;
  uint64_t ok = state->correct.fetch_add(mine <= best ? 1 : 0, std::memory_order_relaxed) +
                (mine <= best ? 1 : 0);
  double regret = mine - best;
  state->regret_ms.Add(regret);
  if (state->accuracy_gauge != nullptr) state->accuracy_gauge->Set(double(ok) / double(n));
  if (state->regret_counter != nullptr && regret > 0)
    state->regret_counter->Increment(regret / 1e3);
}

void PlacementScheduler::ObserveCpuQuota(Tier tier, double cores) {
  const int64_t now = clock_.NowMicros();
  if (signals_.ObserveCpuQuota(tier, cores, now) && options_.trace != nullptr) {
    options_.trace->RecordQuota(now, tier, cores);
  }
}

void PlacementScheduler::ObserveCpuThrottle(Tier tier, double throttled, double used_cores) {
  const int64_t now = clock_.NowMicros();
  if (signals_.ObserveCpuThrottle(tier, throttled, used_cores, now) && options_.trace != nullptr) {
    options_.trace->RecordThrottle(now, tier, throttled, used_cores);
  }
}

void PlacementScheduler::ObserveLink(Tier tier, bool ok, double rtt_ms) {
  if (options_.trace != nullptr) options_.trace->RecordLink(clock_.NowMicros(), tier, ok, rtt_ms);
  if (ok) {
    signals_.ObserveLink(tier, rtt_ms, clock_.NowMicros());
    return;
  }
  const PolicyConfig config = GetPolicy();
  circuits_[TierIndex(tier)].RecordFailure(clock_.NowMicros(), config.circuit.failures,
                                           int64_t{config.circuit.open_ms} * 1000);
}

SchedulerSnapshot PlacementScheduler::Snapshot() const {
  const int64_t now = clock_.NowMicros();
  SchedulerSnapshot out;
  out.policy = GetPolicy();
  for (Tier t : AllTiers()) {
    const CircuitBreaker& cb = circuits_[TierIndex(t)];
    TierSnapshot& tier = out.tiers[TierIndex(t)];
    tier.circuit = cb.State(now);
    tier.consecutive_failures = cb.ConsecutiveFailures();
    tier.in_process = options_.in_process.Contains(t);
    tier.link_rtt_ms = signals_.RttMs(t);
  }
  std::vector<std::pair<std::string, std::shared_ptr<FunctionState>>> states;
  for (const Shard& shard : shards_) {
    absl::ReaderMutexLock lock(&shard.mu);
    for (const auto& [name, state] : shard.functions) states.emplace_back(name, state);
  }
  std::sort(states.begin(), states.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [name, state] : states) {
    out.functions.push_back(SnapshotOf(name, *state, out.policy.objective));
  }
  return out;
}

FunctionSnapshot PlacementScheduler::SnapshotOf(const std::string& name, const FunctionState& state,
                                                Objective global) const {
  FunctionSnapshot fn;
  fn.name = name;
  fn.policy_override = GetFunctionPolicy(name);
  const Objective objective = fn.policy_override ? fn.policy_override->objective : global;
  fn.accuracy.comparisons = state.comparisons.load(std::memory_order_relaxed);
  fn.accuracy.correct = state.correct.load(std::memory_order_relaxed);
  fn.accuracy.regret_ms = state.regret_ms.Value();
  for (Tier t : AllTiers()) {
    const auto& tier = state.tiers[TierIndex(t)];
    FunctionTierSnapshot& out = fn.tiers[TierIndex(t)];
    out.predicted_ms = tier.predicted_ms.load(std::memory_order_relaxed);
    out.model = tier.model.Snap();
    ModelInput idle_cold;
    idle_cold.warm = false;
    idle_cold.networked = !options_.in_process.Contains(t);
    idle_cold.request_kb = tier.last_request_kb.load(std::memory_order_relaxed);
    idle_cold.link_rtt_ms = signals_.RttMs(t);
    out.prediction = tier.model.Predict(idle_cold, objective);
    for (Reason r : kPlacementReasons) {
      out.decisions[ReasonIndex(r)] =
          tier.decisions[ReasonIndex(r)].load(std::memory_order_relaxed);
    }
  }
  return fn;
}

}  // namespace stoa::scheduler
