#include "gateway/scheduler_state_json.h"

#include <cmath>

#include "common/json_text.h"
#include "nlohmann/json.hpp"
#include "scheduler/policy_config.h"

namespace stoa::gateway {
namespace {

using Json = nlohmann::json;
using scheduler::AllTiers;
using scheduler::FunctionSnapshot;
using scheduler::FunctionTierSnapshot;
using scheduler::kAllTerms;
using scheduler::TierIndex;
using scheduler::TierName;

Json NumberOrNull(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

Json PolicyJson(const scheduler::PolicyConfig& policy) {
  return Json::parse(scheduler::PolicyToJson(policy));
}

Json TierJson(const scheduler::TierSnapshot& tier) {
  return {
      {"circuit", std::string(scheduler::CircuitStateName(tier.circuit))},
      {"consecutive_failures", tier.consecutive_failures},
      {"in_process", tier.in_process},
      {"link_rtt_ms", NumberOrNull(tier.link_rtt_ms)},
  };
}

Json FunctionTierJson(const FunctionTierSnapshot& tier) {
  const scheduler::Prediction& p = tier.prediction;
  const scheduler::LatencyModel::Snapshot& model = tier.model;
  Json terms = Json::object();
  Json errors = Json::object();
  for (scheduler::Term term : kAllTerms) {
    const int i = scheduler::TermIndex(term);
    std::string key(scheduler::TermName(term));
    terms[key] = {{"mean_ms", p.terms[i].mean_ms}, {"p95_ms", p.terms[i].p95_ms}};
    errors[key] = {{"mean_abs_ms", model.mean_abs_error[i]},
                   {"last_ms", model.last_error[i]},
                   {"count", model.term_observations[i]}};
  }
  Json decisions = Json::object();
  for (scheduler::Reason r : scheduler::kPlacementReasons) {
    decisions[std::string(scheduler::ReasonName(r))] = tier.decisions[scheduler::ReasonIndex(r)];
  }
  return {
      {"observations", model.observations},
      {"predicted_ms", NumberOrNull(tier.predicted_ms)},
      {"last_latency_ms", NumberOrNull(model.last_latency_ms)},
      {"recent_ms", model.recent_ms},
      {"prediction", p.measured
                         ? Json{{"mean_ms", p.mean_ms}, {"p95_ms", p.p95_ms}, {"terms", terms}}
                         : Json(nullptr)},
      {"model",
       {{"rtt_ms", model.rtt_ms},
        {"ms_per_kb", model.ms_per_kb},
        {"service_ms", model.service_ms},
        {"cold_window", model.cold_measured ? Json(model.cold_window) : Json(nullptr)},
        {"exec", model.exec_coefficients}}},
      {"errors", std::move(errors)},
      {"decisions", std::move(decisions)},
  };
}

Json FunctionJson(const FunctionSnapshot& fn) {
  Json out = Json::object();
  out["policy_override"] = fn.policy_override ? PolicyJson(*fn.policy_override) : Json(nullptr);
  const uint64_t n = fn.accuracy.comparisons;
  const uint64_t ok = fn.accuracy.correct;
  out["accuracy"] = {{"comparisons", n},
                     {"correct", ok},
                     {"ratio", n > 0 ? Json(double(ok) / double(n)) : Json(nullptr)},
                     {"regret_ms", fn.accuracy.regret_ms}};
  for (scheduler::Tier t : AllTiers()) {
    out[std::string(TierName(t))] = FunctionTierJson(fn.tiers[TierIndex(t)]);
  }
  return out;
}

}  // namespace

std::string SchedulerStateJson(const scheduler::SchedulerSnapshot& snapshot) {
  Json doc;
  doc["policy"] = PolicyJson(snapshot.policy);
  Json tiers = Json::object();
  for (scheduler::Tier t : AllTiers()) {
    Json tier = TierJson(snapshot.tiers[TierIndex(t)]);
    // What the target is: its tier and device class (scheduler/tier.h).
    tier["tier"] = std::string(scheduler::TierClassName(t));
    tier["device"] = std::string(scheduler::DeviceClassText(scheduler::Targets().at(t).device));
    tiers[std::string(TierName(t))] = std::move(tier);
  }
  doc["tiers"] = std::move(tiers);
  Json functions = Json::object();
  for (const FunctionSnapshot& fn : snapshot.functions) functions[fn.name] = FunctionJson(fn);
  doc["functions"] = std::move(functions);
  return common::DumpJson(doc);
}

}  // namespace stoa::gateway
