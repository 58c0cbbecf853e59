#include "scheduler/placement_scheduler.h"

#include <algorithm>
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

constexpr std::array<Reason, kNumReasons> kAllReasons = {Reason::kPredictedBest, Reason::kPolicy,
                                                         Reason::kForced,        Reason::kFailover,
                                                         Reason::kExplore,       Reason::kHedge};
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int ReasonIndex(Reason r) { return static_cast<int>(r); }

// The lowest predicted mean among the available measured tiers (0: none).
double BestMeanMs(const PolicyInput& in) {
  double best = std::numeric_limits<double>::infinity();
  for (Tier t : kAllTiers) {
    const Prediction& p = in.predictions[TierIndex(t)];
    if (in.available.Contains(t) && p.measured) best = std::min(best, p.mean_ms);
  }
  return std::isfinite(best) ? best : 0.0;
}

void AddTo(std::atomic<double>& sum, double v) {
  double old = sum.load(std::memory_order_relaxed);
  while (!sum.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

// What sending a request to a tier predicted at `p` is expected to cost over
// the best tier.
double ProbeCostMs(const Prediction& p, double best_ms) {
  return p.measured ? std::max(0.0, p.mean_ms - best_ms) : 0.0;
}

nlohmann::json NumberOrNull(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

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
    std::atomic<int64_t> last_used_us{std::numeric_limits<int64_t>::min() / 2};
    // Last successful outcome here, shadow runs included.
    std::atomic<int64_t> last_observed_us{std::numeric_limits<int64_t>::min() / 2};
    std::atomic<double> last_request_kb{0.0};
    // Probes still owed to this tier because the last probe found its
    // conditions changed (bounded: kFollowUps per detected change).
    std::atomic<int> follow_ups{0};
    // Cached so the hot path never takes Family::Add's mutex.
    std::array<common::metrics::Counter*, kNumReasons> placements{};
    std::array<common::metrics::Histogram*, kNumTerms> errors{};
    common::metrics::Gauge* predicted_gauge = nullptr;

    void Count(Reason r) {
      decisions[ReasonIndex(r)].fetch_add(1, std::memory_order_relaxed);
      if (auto* c = placements[ReasonIndex(r)]) c->Increment();
    }
  };
  std::array<PerTier, kNumTiers> tiers;
  std::atomic<uint64_t> decisions{0};
  std::atomic<uint64_t> explores{0};
  // Exploration's cost budget: the predicted extra latency of the probes
  // made, and the best tier's predicted latency summed over decisions.
  std::atomic<double> explore_cost_ms{0.0};
  std::atomic<double> best_ms_sum{0.0};
  std::atomic<uint64_t> comparisons{0};
  std::atomic<uint64_t> correct{0};
  std::atomic<double> regret_ms{0.0};
  common::metrics::Gauge* accuracy_gauge = nullptr;
  common::metrics::Counter* regret_counter = nullptr;
};

PlacementScheduler::PlacementScheduler(const common::Clock& clock,
                                       common::metrics::Registry* metrics, uint64_t seed,
                                       const PolicyConfig& policy, SchedulerOptions options)
    : clock_(clock), options_(options), rng_(seed) {
  for (auto& rtt : link_rtt_ms_) rtt.store(kNaN, std::memory_order_relaxed);
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

std::shared_ptr<const PlacementScheduler::ActivePolicy> PlacementScheduler::MakeActive(
    const PolicyConfig& policy) const {
  auto active = std::make_shared<ActivePolicy>();
  active->config = policy;
  active->strategy = MakePlacementPolicy(policy, options_.figures);
  return active;
}

void PlacementScheduler::SetPolicy(const PolicyConfig& policy) {
  std::atomic_store(&policy_, MakeActive(policy));
}

PolicyConfig PlacementScheduler::GetPolicy() const { return std::atomic_load(&policy_)->config; }

void PlacementScheduler::SetFunctionPolicy(std::string_view function, const PolicyConfig& policy) {
  auto active = MakeActive(policy);
  Shard& shard = ShardFor(function);
  absl::MutexLock lock(&shard.mu);
  shard.overrides[std::string(function)] = std::move(active);
}

void PlacementScheduler::ClearFunctionPolicy(std::string_view function) {
  Shard& shard = ShardFor(function);
  absl::MutexLock lock(&shard.mu);
  shard.overrides.erase(absl::string_view(function.data(), function.size()));
}

std::optional<PolicyConfig> PlacementScheduler::GetFunctionPolicy(std::string_view function) const {
  Shard& shard = ShardFor(function);
  absl::ReaderMutexLock lock(&shard.mu);
  auto it = shard.overrides.find(absl::string_view(function.data(), function.size()));
  if (it == shard.overrides.end()) return std::nullopt;
  return it->second->config;
}

std::shared_ptr<const PlacementScheduler::ActivePolicy> PlacementScheduler::PolicyFor(
    std::string_view function) const {
  Shard& shard = ShardFor(function);
  {
    absl::ReaderMutexLock lock(&shard.mu);
    if (!shard.overrides.empty()) {
      auto it = shard.overrides.find(absl::string_view(function.data(), function.size()));
      if (it != shard.overrides.end()) return it->second;
    }
  }
  return std::atomic_load(&policy_);
}

PlacementScheduler::Shard& PlacementScheduler::ShardFor(std::string_view function) const {
  return shards_[std::hash<std::string_view>{}(function) % kShards];
}

std::shared_ptr<PlacementScheduler::FunctionState> PlacementScheduler::MakeFunctionState(
    std::string_view function) {
  auto state = std::make_shared<FunctionState>();
  if (placements_ == nullptr) return state;
  state->accuracy_gauge = &accuracy_->Add({{"function", std::string(function)}});
  state->regret_counter = &regret_->Add({{"function", std::string(function)}});
  for (Tier t : kAllTiers) {
    auto& tier = state->tiers[TierIndex(t)];
    common::metrics::Labels labels = {{"function", std::string(function)},
                                      {"tier", std::string(TierName(t))}};
    tier.predicted_gauge = &predicted_->Add(labels);
    for (Term term : kAllTerms) {
      common::metrics::Labels l = labels;
      l["term"] = std::string(TermName(term));
      tier.errors[TermIndex(term)] = &errors_->Add(l);
    }
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

ModelInput PlacementScheduler::InputFor(Tier t, const Features& features) const {
  ModelInput in;
  in.warm = features.warm.Contains(t);
  in.networked = !options_.in_process.Contains(t);
  in.request_kb = features.request_bytes / 1000.0;
  in.batch = features.batch;
  in.ahead = features.queue_depth[TierIndex(t)] + features.in_flight[TierIndex(t)];
  in.link_rtt_ms = link_rtt_ms_[TierIndex(t)].load(std::memory_order_relaxed);
  return in;
}

TierSet PlacementScheduler::Explorable(const FunctionState& state, const PolicyConfig& config,
                                       const PolicyInput& in, double best_ms, int64_t now) const {
  TierSet out;
  if (config.explore_budget <= 0.0) return out;
  for (Tier t : kAllTiers) {
    if (in.available.Contains(t) &&
        state.tiers[TierIndex(t)].follow_ups.load(std::memory_order_relaxed) > 0) {
      out.Add(t);
    }
  }
  double spent = static_cast<double>(state.explores.load(std::memory_order_relaxed)) + 1.0;
  double allowance =
      config.explore_budget * static_cast<double>(state.decisions.load(std::memory_order_relaxed));
  if (spent > allowance) return out;
  const double cost_allowance =
      config.explore_budget * state.best_ms_sum.load(std::memory_order_relaxed);
  const double cost_spent = state.explore_cost_ms.load(std::memory_order_relaxed);
  for (Tier t : kAllTiers) {
    if (!in.available.Contains(t)) continue;
    const auto& tier = state.tiers[TierIndex(t)];
    int64_t last = std::max(tier.last_used_us.load(std::memory_order_relaxed),
                            tier.last_observed_us.load(std::memory_order_relaxed));
    if (now - last < kStaleUs) continue;
    const Prediction& p = in.predictions[TierIndex(t)];
    if (!p.measured || cost_spent + ProbeCostMs(p, best_ms) <= cost_allowance) out.Add(t);
  }
  return out;
}

void PlacementScheduler::AddExtras(FunctionState& state, const PolicyConfig& config,
                                   const PolicyInput& in, int64_t now, Decision& decision) {
  const int64_t open_us = int64_t{config.circuit.open_ms} * 1000;
  if (config.hedge && decision.reason == Reason::kPredictedBest) {
    const Prediction& best = in.predictions[TierIndex(decision.tier)];
    for (Tier t : kAllTiers) {
      if (t == decision.tier || !in.available.Contains(t)) continue;
      const Prediction& other = in.predictions[TierIndex(t)];
      if (!other.measured) continue;
      double gap = std::fabs(other.ms - best.ms);
      double uncertainty = std::hypot(best.uncertainty_ms, other.uncertainty_ms);
      if (gap < uncertainty && circuits_[TierIndex(t)].TryAdmit(now, open_us)) {
        decision.hedge.Add(t);
        decision.reason = Reason::kHedge;
        state.tiers[TierIndex(t)].last_used_us.store(now, std::memory_order_relaxed);
        break;
      }
    }
  }
  if (config.shadow_rate > 0.0 && rng_.Uniform() < config.shadow_rate) {
    for (Tier t : kAllTiers) {
      if (t != decision.tier && !decision.hedge.Contains(t) && in.available.Contains(t)) {
        decision.shadow.Add(t);
      }
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
  if (allowed.Empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no tiers allowed for function '", std::string(function), "'"));
  }
  std::shared_ptr<const ActivePolicy> active = PolicyFor(function);
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
    Prediction p = tier.model.Predict(InputFor(t, features), config.objective);
    in.predictions[TierIndex(t)] = p;
    if (!p.measured && now - tier.last_used_us.load(std::memory_order_relaxed) < kStaleUs) {
      in.first_pending.Add(t);
    }
    if (p.measured) {
      tier.predicted_ms.store(p.ms, std::memory_order_relaxed);
      if (tier.predicted_gauge != nullptr) tier.predicted_gauge->Set(p.ms / 1000.0);
    }
  }
  const double best_ms = BestMeanMs(in);
  in.explorable = Explorable(*state, config, in, best_ms, now);

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
  const Prediction& p = in.predictions[TierIndex(tier)];
  Decision decision{tier, reason, p.measured ? p.ms : 0.0};
  AddExtras(*state, config, in, now, decision);

  auto& chosen = state->tiers[TierIndex(tier)];
  chosen.Count(decision.reason);
  chosen.last_used_us.store(now, std::memory_order_relaxed);
  chosen.last_request_kb.store(features.request_bytes / 1000.0, std::memory_order_relaxed);
  state->decisions.fetch_add(1, std::memory_order_relaxed);
  AddTo(state->best_ms_sum, best_ms);
  // Any run on the tier pays off a follow-up probe owed to it; follow-ups
  // are bounded per detected change and do not draw on the routine budget.
  int owed = chosen.follow_ups.load(std::memory_order_relaxed);
  while (owed > 0 &&
         !chosen.follow_ups.compare_exchange_weak(owed, owed - 1, std::memory_order_relaxed)) {
  }
  if (decision.reason == Reason::kExplore && owed == 0) {
    state->explores.fetch_add(1, std::memory_order_relaxed);
    AddTo(state->explore_cost_ms, ProbeCostMs(p, best_ms));
  }
  return decision;
}

void PlacementScheduler::Observe(std::string_view function, const Decision& decision,
                                 const Outcome& outcome) {
  std::shared_ptr<const ActivePolicy> active = PolicyFor(function);
  const PolicyConfig& config = active->config;
  CircuitBreaker& cb = circuits_[TierIndex(outcome.tier)];
  const int64_t now = clock_.NowMicros();
  if (!outcome.ok && outcome.tier_failure) {
    cb.RecordFailure(now, config.circuit.failures, int64_t{config.circuit.open_ms} * 1000);
  } else {
    cb.RecordSuccess(now);
  }
  bool forced = decision.reason == Reason::kForced && !outcome.shadow;
  if (!outcome.ok && !forced) return;
  std::shared_ptr<FunctionState> state = FindOrCreate(function);
  if (forced) state->tiers[TierIndex(decision.tier)].Count(Reason::kForced);
  if (!outcome.ok) return;
  auto& tier = state->tiers[TierIndex(outcome.tier)];
  tier.last_observed_us.store(now, std::memory_order_relaxed);
  ModelInput in;
  in.networked = !options_.in_process.Contains(outcome.tier);
  in.link_rtt_ms = link_rtt_ms_[TierIndex(outcome.tier)].load(std::memory_order_relaxed);
  in.request_kb = outcome.request_bytes / 1000.0;
  in.batch = outcome.batch;
  in.ahead = outcome.ahead;
  TermErrors errors = tier.model.Observe(in, outcome);
  if (decision.reason == Reason::kExplore && !outcome.shadow) {
    double total = 0.0;
    for (double e : errors) total += std::isfinite(e) ? e : 0.0;
    // The probe found the tier much faster than believed (or it was the
    // first measurement: nothing was believed): probe again soon, so the
    // model settles in a few requests instead of a few budgets. A tier
    // found slower needs no more probes: the model already moved away.
    bool first = tier.model.Observations() == 1;
    // A first measurement earns follow-ups (so the regressions see more than
    // one request size) only if the tier may compete: its warm latency
    // within twice the best other tier's last prediction.
    double others = std::numeric_limits<double>::infinity();
    for (Tier t : kAllTiers) {
      double p = state->tiers[TierIndex(t)].predicted_ms.load(std::memory_order_relaxed);
      if (t != outcome.tier && std::isfinite(p)) others = std::min(others, p);
    }
    bool competitive = outcome.latency_ms - outcome.load_ms <= 2.0 * others;
    bool changed = (first && competitive) || -total > 0.2 * outcome.latency_ms + 5.0;
    if (changed && tier.follow_ups.load(std::memory_order_relaxed) == 0) {
      tier.follow_ups.store(kFollowUps, std::memory_order_relaxed);
    }
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
  for (double v : latency_ms) {
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
  AddTo(state->regret_ms, regret);
  if (state->accuracy_gauge != nullptr) state->accuracy_gauge->Set(double(ok) / double(n));
  if (state->regret_counter != nullptr && regret > 0)
    state->regret_counter->Increment(regret / 1e3);
}

void PlacementScheduler::ObserveLink(Tier tier, bool ok, double rtt_ms) {
  if (!ok) {
    const PolicyConfig config = GetPolicy();
    circuits_[TierIndex(tier)].RecordFailure(clock_.NowMicros(), config.circuit.failures,
                                             int64_t{config.circuit.open_ms} * 1000);
    return;
  }
  if (!std::isfinite(rtt_ms) || rtt_ms < 0.0) return;
  absl::MutexLock lock(&link_mu_);
  std::atomic<double>& smoothed = link_rtt_ms_[TierIndex(tier)];
  LinkTrack& track = link_track_[TierIndex(tier)];
  const double old = smoothed.load(std::memory_order_relaxed);
  if (!std::isfinite(old)) {
    smoothed.store(rtt_ms, std::memory_order_relaxed);
    return;
  }
  const double dev = rtt_ms - old;
  const double threshold = 4.0 * track.mean_abs_dev + 0.1 * old + 1.0;
  double next = old + kLinkWeight * dev;
  if (track.step.Add(dev, threshold)) {
    next = rtt_ms;  // a step, not a spike
  } else if (std::fabs(dev) <= threshold) {
    track.mean_abs_dev += kLinkWeight * (std::fabs(dev) - track.mean_abs_dev);
  }
  smoothed.store(next, std::memory_order_relaxed);
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
        {"in_process", options_.in_process.Contains(t)},
        {"link_rtt_ms", NumberOrNull(link_rtt_ms_[TierIndex(t)].load(std::memory_order_relaxed))},
    };
  }
  doc["tiers"] = std::move(tiers);

  std::vector<std::pair<std::string, std::shared_ptr<FunctionState>>> snapshot;
  for (const Shard& shard : shards_) {
    absl::ReaderMutexLock lock(&shard.mu);
    for (const auto& [name, state] : shard.functions) snapshot.emplace_back(name, state);
  }
  const PolicyConfig global = GetPolicy();
  Json functions = Json::object();
  for (const auto& [name, state] : snapshot) {
    Json fn = Json::object();
    std::optional<PolicyConfig> override = GetFunctionPolicy(name);
    fn["policy_override"] = override ? Json::parse(PolicyToJson(*override)) : Json(nullptr);
    const Objective objective = override ? override->objective : global.objective;
    uint64_t n = state->comparisons.load(std::memory_order_relaxed);
    uint64_t ok = state->correct.load(std::memory_order_relaxed);
    fn["accuracy"] = {{"comparisons", n},
                      {"correct", ok},
                      {"ratio", n > 0 ? Json(double(ok) / double(n)) : Json(nullptr)},
                      {"regret_ms", state->regret_ms.load(std::memory_order_relaxed)}};
    for (Tier t : kAllTiers) {
      const auto& tier = state->tiers[TierIndex(t)];
      Json decisions = Json::object();
      for (Reason r : kAllReasons) {
        decisions[std::string(ReasonName(r))] =
            tier.decisions[ReasonIndex(r)].load(std::memory_order_relaxed);
      }
      LatencyModel::Snapshot snap = tier.model.Snap();
      ModelInput probe;
      probe.warm = false;
      probe.networked = !options_.in_process.Contains(t);
      probe.request_kb = tier.last_request_kb.load(std::memory_order_relaxed);
      probe.link_rtt_ms = link_rtt_ms_[TierIndex(t)].load(std::memory_order_relaxed);
      Prediction p = tier.model.Predict(probe, objective);
      Json terms = Json::object();
      Json errors = Json::object();
      for (Term term : kAllTerms) {
        const int i = TermIndex(term);
        std::string key(TermName(term));
        terms[key] = {{"mean_ms", p.terms[i].mean_ms}, {"p95_ms", p.terms[i].p95_ms}};
        errors[key] = {{"mean_abs_ms", snap.mean_abs_error[i]},
                       {"last_ms", snap.last_error[i]},
                       {"count", snap.term_observations[i]}};
      }
      fn[std::string(TierName(t))] = {
          {"observations", snap.observations},
          {"predicted_ms", NumberOrNull(tier.predicted_ms.load(std::memory_order_relaxed))},
          {"last_latency_ms", NumberOrNull(snap.last_latency_ms)},
          {"recent_ms", snap.recent_ms},
          {"prediction", p.measured
                             ? Json{{"mean_ms", p.mean_ms}, {"p95_ms", p.p95_ms}, {"terms", terms}}
                             : Json(nullptr)},
          {"model",
           {{"rtt_ms", snap.rtt_ms},
            {"ms_per_kb", snap.ms_per_kb},
            {"service_ms", snap.service_ms},
            {"cold_window", snap.cold_measured ? Json(snap.cold_window) : Json(nullptr)},
            {"exec", snap.exec_coefficients}}},
          {"errors", std::move(errors)},
          {"decisions", std::move(decisions)},
      };
    }
    functions[name] = std::move(fn);
  }
  doc["functions"] = std::move(functions);
  return doc.dump();
}

}  // namespace stoa::scheduler
