#include "gateway/loaded_functions.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace stoa::gateway {

using scheduler::Tier;
using scheduler::TierIndex;

std::string LoadedFunctions::Key(const std::string& function, const std::string& sha256) {
  return absl::StrCat(function, "@", sha256);
}

bool LoadedFunctions::IsLoaded(Tier tier, const std::string& key) const {
  absl::ReaderMutexLock lock(&mu_);
  return loaded_[TierIndex(tier)].contains(key);
}

scheduler::TierSet LoadedFunctions::WarmTiers(const std::string& key,
                                              scheduler::TierSet among) const {
  scheduler::TierSet warm;
  absl::ReaderMutexLock lock(&mu_);
  for (Tier t : scheduler::AllTiers()) {
    if (among.Contains(t) && loaded_[TierIndex(t)].contains(key)) warm.Add(t);
  }
  return warm;
}

void LoadedFunctions::SetLoaded(Tier tier, const std::string& key, bool loaded) {
  absl::MutexLock lock(&mu_);
  if (loaded) {
    loaded_[TierIndex(tier)].insert(key);
  } else {
    loaded_[TierIndex(tier)].erase(key);
  }
}

void LoadedFunctions::RecordColdStart(Tier tier, const std::string& key) {
  absl::MutexLock lock(&mu_);
  stats_[key][TierIndex(tier)].cold_starts++;
}

void LoadedFunctions::RecordSuccess(Tier tier, const std::string& key, double latency_ms) {
  absl::MutexLock lock(&mu_);
  TierStats& s = stats_[key][TierIndex(tier)];
  s.invocations++;
  s.mean_latency_ms += (latency_ms - s.mean_latency_ms) / s.invocations;
}

void LoadedFunctions::RecordFailure(Tier tier, const std::string& key) {
  absl::MutexLock lock(&mu_);
  stats_[key][TierIndex(tier)].failures++;
}

FunctionStats LoadedFunctions::Stats(const std::string& key) const {
  FunctionStats out{};
  absl::ReaderMutexLock lock(&mu_);
  if (auto it = stats_.find(key); it != stats_.end()) out = it->second;
  for (Tier t : scheduler::AllTiers())
    out[TierIndex(t)].loaded = loaded_[TierIndex(t)].contains(key);
  return out;
}

void LoadedFunctions::Forget(const std::string& function, const std::string& sha256) {
  const std::string prefix = absl::StrCat(function, "@");
  const std::string exact = Key(function, sha256);
  auto matches = [&](const std::string& key) {
    return sha256.empty() ? absl::StartsWith(key, prefix) : key == exact;
  };
  absl::MutexLock lock(&mu_);
  for (auto& set : loaded_) absl::erase_if(set, matches);
  absl::erase_if(stats_, [&](const auto& kv) { return matches(kv.first); });
}

}  // namespace stoa::gateway
