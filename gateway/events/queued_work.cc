#include "gateway/events/queued_work.h"

#include <cmath>

#include "common/json_text.h"
#include "gateway/invoker.h"
#include "nlohmann/json.hpp"

namespace stoa::gateway::events {

using scheduler::Tier;
using scheduler::TierIndex;

void QueuedWork::Change(scheduler::TierSet targets, int64_t sign) {
  int64_t n = 0;
  for (Tier t : scheduler::AllTiers()) n += targets.Contains(t) ? 1 : 0;
  if (n == 0) return;
  const int64_t share = sign * (kUnit / n);
  for (Tier t : scheduler::AllTiers()) {
    if (targets.Contains(t)) units_[TierIndex(t)].fetch_add(share, std::memory_order_relaxed);
  }
  events_.fetch_add(sign, std::memory_order_relaxed);
}

double QueuedWork::Share(Tier target) const {
  const int64_t units = units_[TierIndex(target)].load(std::memory_order_relaxed);
  return units <= 0 ? 0.0 : static_cast<double>(units) / kUnit;
}

uint32_t QueuedWork::Depth(Tier target) const {
  return static_cast<uint32_t>(std::llround(Share(target)));
}

uint64_t QueuedWork::events() const {
  const int64_t n = events_.load(std::memory_order_relaxed);
  return n <= 0 ? 0 : static_cast<uint64_t>(n);
}

std::string WithQueuedAsync(std::string state_json, const Invoker& invoker) {
  nlohmann::json doc = nlohmann::json::parse(state_json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.contains("tiers") || !doc["tiers"].is_object()) {
    return state_json;
  }
  const scheduler::TierSet configured = invoker.configured_tiers();
  for (Tier t : scheduler::AllTiers()) {
    const std::string name(scheduler::TierName(t));
    if (!configured.Contains(t) || !doc["tiers"].contains(name)) continue;
    doc["tiers"][name]["queued_async"] = invoker.Health(t).queued_async;
  }
  return common::DumpJson(doc);
}

}  // namespace stoa::gateway::events
