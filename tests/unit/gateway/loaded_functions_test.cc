#include "gateway/loaded_functions.h"

#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

using scheduler::Tier;
using scheduler::TierIndex;
using scheduler::TierSet;

TEST(LoadedFunctionsTest, TracksLoadedVersionsPerTier) {
  LoadedFunctions loaded;
  const std::string v1 = LoadedFunctions::Key("digits", "aaa");
  const std::string v2 = LoadedFunctions::Key("digits", "bbb");
  EXPECT_EQ(v1, "digits@aaa");
  loaded.SetLoaded(Tier::kEdge, v1, true);
  loaded.SetLoaded(Tier::kCloud, v2, true);
  EXPECT_TRUE(loaded.IsLoaded(Tier::kEdge, v1));
  EXPECT_FALSE(loaded.IsLoaded(Tier::kCloud, v1));
  EXPECT_EQ(loaded.WarmTiers(v1, TierSet::All()), TierSet::Of(Tier::kEdge));
  EXPECT_TRUE(loaded.WarmTiers(v1, TierSet::Of(Tier::kCloud)).Empty());
  loaded.SetLoaded(Tier::kEdge, v1, false);
  EXPECT_FALSE(loaded.IsLoaded(Tier::kEdge, v1));
}

TEST(LoadedFunctionsTest, CountsPerVersionAndTier) {
  LoadedFunctions loaded;
  const std::string key = LoadedFunctions::Key("f", "s");
  loaded.RecordColdStart(Tier::kCloud, key);
  loaded.RecordSuccess(Tier::kCloud, key, 10.0);
  loaded.RecordSuccess(Tier::kCloud, key, 20.0);
  loaded.RecordFailure(Tier::kEdge, key);
  loaded.SetLoaded(Tier::kCloud, key, true);
  FunctionStats stats = loaded.Stats(key);
  const TierStats& cloud = stats[TierIndex(Tier::kCloud)];
  EXPECT_TRUE(cloud.loaded);
  EXPECT_EQ(cloud.cold_starts, 1u);
  EXPECT_EQ(cloud.invocations, 2u);
  EXPECT_DOUBLE_EQ(cloud.mean_latency_ms, 15.0);
  EXPECT_EQ(stats[TierIndex(Tier::kEdge)].failures, 1u);
  EXPECT_FALSE(stats[TierIndex(Tier::kEdge)].loaded);
}

TEST(LoadedFunctionsTest, ForgetsOneVersionOrAll) {
  LoadedFunctions loaded;
  const std::string a = LoadedFunctions::Key("f", "a");
  const std::string b = LoadedFunctions::Key("f", "b");
  const std::string other = LoadedFunctions::Key("fx", "a");
  for (const auto& k : {a, b, other}) {
    loaded.SetLoaded(Tier::kEdge, k, true);
    loaded.RecordSuccess(Tier::kEdge, k, 1.0);
  }
  loaded.Forget("f", "a");
  EXPECT_FALSE(loaded.IsLoaded(Tier::kEdge, a));
  EXPECT_EQ(loaded.Stats(a)[0].invocations, 0u);
  EXPECT_TRUE(loaded.IsLoaded(Tier::kEdge, b));
  loaded.Forget("f", "");
  EXPECT_FALSE(loaded.IsLoaded(Tier::kEdge, b));
  // "fx" shares the prefix "f" but not "f@".
  EXPECT_TRUE(loaded.IsLoaded(Tier::kEdge, other));
  EXPECT_EQ(loaded.Stats(other)[0].invocations, 1u);
}

}  // namespace
}  // namespace stoa::gateway
