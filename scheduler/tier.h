// The tiers of the continuum Stoa places work on.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace stoa::scheduler {

enum class Tier : uint8_t { kEdge = 0, kCloud = 1 };
inline constexpr int kNumTiers = 2;
inline constexpr std::array<Tier, kNumTiers> kAllTiers = {Tier::kEdge, Tier::kCloud};

constexpr std::string_view TierName(Tier t) { return t == Tier::kEdge ? "edge" : "cloud"; }
constexpr int TierIndex(Tier t) { return static_cast<int>(t); }

// "edge" / "cloud"; nullopt otherwise.
constexpr std::optional<Tier> ParseTier(std::string_view s) {
  if (s == "edge") return Tier::kEdge;
  if (s == "cloud") return Tier::kCloud;
  return std::nullopt;
}

// A set of tiers (bit i = tier i).
class TierSet {
 public:
  constexpr TierSet() = default;
  static constexpr TierSet All() { return TierSet(0b11); }
  static constexpr TierSet Of(Tier t) { return TierSet(uint8_t{1} << TierIndex(t)); }
  constexpr bool Contains(Tier t) const { return (bits_ >> TierIndex(t)) & 1; }
  constexpr void Add(Tier t) { bits_ |= uint8_t{1} << TierIndex(t); }
  constexpr void Remove(Tier t) { bits_ &= ~(uint8_t{1} << TierIndex(t)); }
  constexpr bool Empty() const { return bits_ == 0; }
  constexpr bool operator==(const TierSet&) const = default;

 private:
  constexpr explicit TierSet(uint8_t bits) : bits_(bits) {}
  uint8_t bits_ = 0;
};

}  // namespace stoa::scheduler
