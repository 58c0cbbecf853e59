#include "scheduler/tier.h"

#include <atomic>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace stoa::scheduler {
namespace {

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

const TargetTable* DefaultTable() {
  static const TargetTable* table = new TargetTable(TargetTable::Default());
  return table;
}

std::atomic<const TargetTable*>& Installed() {
  static std::atomic<const TargetTable*> installed{nullptr};
  return installed;
}

}  // namespace

std::optional<TierClass> ParseTierClass(std::string_view s) {
  if (s == "edge") return TierClass::kEdge;
  if (s == "cloud") return TierClass::kCloud;
  return std::nullopt;
}

std::optional<DeviceClass> ParseDeviceClass(std::string_view s) {
  if (s == "cpu") return DeviceClass::kCpu;
  if (s == "cuda") return DeviceClass::kCuda;
  return std::nullopt;
}

TierSet TierSet::All() {
  TierSet all;
  for (Tier t : AllTiers()) all.Add(t);
  return all;
}

TargetTable TargetTable::Default() {
  return *Make({{"edge", TierClass::kEdge, DeviceClass::kCpu},
                {"cloud", TierClass::kCloud, DeviceClass::kCpu}});
}

absl::StatusOr<TargetTable> TargetTable::Make(std::vector<TargetInfo> targets) {
  if (targets.empty()) return absl::InvalidArgumentError("no targets");
  if (targets.size() > kMaxTargets) {
    return absl::InvalidArgumentError(
        absl::StrCat(targets.size(), " targets; at most ", kMaxTargets, " are supported"));
  }
  absl::flat_hash_set<std::string> names;
  for (const TargetInfo& t : targets) {
    if (!ValidName(t.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("target name '", t.name, "' must be 1 to 64 characters of [A-Za-z0-9._-]"));
    }
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate target name '", t.name, "'"));
    }
  }
  TargetTable table;
  table.targets_ = std::move(targets);
  for (int i = 0; i < kMaxTargets; ++i) table.order_[i] = TierAt(i);
  return table;
}

std::optional<Tier> TargetTable::Find(std::string_view name) const {
  for (int i = 0; i < size(); ++i) {
    if (targets_[i].name == name) return TierAt(i);
  }
  return std::nullopt;
}

TierSet TargetTable::OfClass(TierClass c) const {
  TierSet out;
  for (int i = 0; i < size(); ++i) {
    if (targets_[i].tier == c) out.Add(TierAt(i));
  }
  return out;
}

const TargetTable& Targets() {
  const TargetTable* t = Installed().load(std::memory_order_acquire);
  return t != nullptr ? *t : *DefaultTable();
}

void InstallTargets(TargetTable table) {
  // Never freed: string_views into earlier tables may still be held.
  Installed().store(new TargetTable(std::move(table)), std::memory_order_release);
}

std::string_view TierName(Tier t) {
  const TargetTable& table = Targets();
  if (TierIndex(t) >= table.size()) return "unknown";
  return table.at(t).name;
}

std::string_view TierClassName(Tier t) {
  const TargetTable& table = Targets();
  if (TierIndex(t) >= table.size()) return "unknown";
  return TierClassText(table.at(t).tier);
}

std::optional<Tier> ParseTier(std::string_view s) { return Targets().Find(s); }

TierSet ParseTierOrClass(std::string_view s) {
  if (auto t = ParseTier(s)) return TierSet::Of(*t);
  if (auto c = ParseTierClass(s)) return Targets().OfClass(*c);
  return {};
}

}  // namespace stoa::scheduler
