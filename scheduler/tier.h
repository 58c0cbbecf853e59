// The targets Stoa places work on. A target is a named place that runs
// invocations — the in-process edge, a cloud CPU pool, a cloud GPU pool —
// with a tier (edge or cloud), a device class (cpu or cuda) and, in the
// gateway, an executor (one process or a pool of them).
//
// `Tier` is a target's index: the scheduler, the dispatcher and their
// per-target arrays are indexed by TierIndex. Indexes 0 and 1 are the
// default targets `edge` (tier edge) and `cloud` (tier cloud) that the
// `--edge` / `--cloud` shorthands produce; `stoa-gateway --target` may name
// up to kMaxTargets others (gateway/target_spec.h).
//
// The process's TargetTable is immutable once installed: InstallTargets is
// called once by the gateway's main (or by a test) before any thread reads
// Targets(); until then the default table {edge, cloud} is in effect.
// Installed tables are never freed, so the string_views TierName returns
// stay valid for the life of the process. Reads are lock-free.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::scheduler {

enum class Tier : uint8_t { kEdge = 0, kCloud = 1 };
inline constexpr int kMaxTargets = 8;
// Per-target arrays are this long (indexed by TierIndex).
inline constexpr int kNumTiers = kMaxTargets;
constexpr int TierIndex(Tier t) { return static_cast<int>(t); }
constexpr Tier TierAt(int i) { return static_cast<Tier>(i); }

// The tier of a target: where it is, as X-Stoa-Tier and the `tier` metric
// label report it.
enum class TierClass : uint8_t { kEdge = 0, kCloud = 1 };
enum class DeviceClass : uint8_t { kCpu = 0, kCuda = 1 };
constexpr std::string_view TierClassText(TierClass c) {
  return c == TierClass::kEdge ? "edge" : "cloud";
}
constexpr std::string_view DeviceClassText(DeviceClass d) {
  return d == DeviceClass::kCpu ? "cpu" : "cuda";
}
std::optional<TierClass> ParseTierClass(std::string_view s);
std::optional<DeviceClass> ParseDeviceClass(std::string_view s);

struct TargetInfo {
  std::string name;
  TierClass tier = TierClass::kEdge;
  DeviceClass device = DeviceClass::kCpu;
};

// A set of targets (bit i = target i).
class TierSet {
 public:
  constexpr TierSet() = default;
  // Every target of the installed table.
  static TierSet All();
  static constexpr TierSet Of(Tier t) { return TierSet(uint8_t{1} << TierIndex(t)); }
  constexpr bool Contains(Tier t) const { return (bits_ >> TierIndex(t)) & 1; }
  constexpr void Add(Tier t) { bits_ |= uint8_t{1} << TierIndex(t); }
  constexpr void Remove(Tier t) { bits_ &= ~(uint8_t{1} << TierIndex(t)); }
  constexpr bool Empty() const { return bits_ == 0; }
  constexpr TierSet Intersect(TierSet o) const { return TierSet(bits_ & o.bits_); }
  constexpr bool operator==(const TierSet&) const = default;

 private:
  constexpr explicit TierSet(uint8_t bits) : bits_(bits) {}
  uint8_t bits_ = 0;
};

// The targets of one gateway, in index order.
class TargetTable {
 public:
  // {edge: edge/cpu, cloud: cloud/cpu}.
  static TargetTable Default();
  // INVALID_ARGUMENT for no targets, more than kMaxTargets, an empty or
  // duplicate name, or a name that is not [A-Za-z0-9._-]+.
  static absl::StatusOr<TargetTable> Make(std::vector<TargetInfo> targets);

  int size() const { return static_cast<int>(targets_.size()); }
  const TargetInfo& at(Tier t) const { return targets_[TierIndex(t)]; }
  std::optional<Tier> Find(std::string_view name) const;
  TierSet OfClass(TierClass c) const;
  std::span<const Tier> all() const { return {order_.data(), targets_.size()}; }

 private:
  std::vector<TargetInfo> targets_;
  std::array<Tier, kMaxTargets> order_{};
};

// The installed table (TargetTable::Default() until InstallTargets).
const TargetTable& Targets();
// Installs `table` for the rest of the process (see the file comment).
void InstallTargets(TargetTable table);

// Every target of the installed table, in index order.
inline std::span<const Tier> AllTiers() { return Targets().all(); }
// The target's name ("edge", "cloud", "cloud-gpu", …).
std::string_view TierName(Tier t);
// The target's tier: "edge" or "cloud".
std::string_view TierClassName(Tier t);
// A target by name; nullopt otherwise.
std::optional<Tier> ParseTier(std::string_view s);
// What a function spec's `tiers` entry or a `?tier=` names: the target of
// that name, else every target of that tier ("edge"/"cloud"); empty when
// neither.
TierSet ParseTierOrClass(std::string_view s);

}  // namespace stoa::scheduler
