// Per-shape plans for graphs with symbolic inputs (plan_cache.h).
#include "functions/onnx/plan_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "functions/onnx/op_registry.h"
#include "tests/unit/functions/onnx/shape_chain_model.h"

namespace stoa::functions {
namespace {

using onnx::Graph;
using onnx::Shape;
using onnx::Tensor;
using testing::FlattenByShapeChain;
using testing::Iota;
using testing::RunOnce;

TEST(PlanCacheTest, SpecialisesPerShapeAndStaysBounded) {
  const ::onnx::ModelProto model = FlattenByShapeChain(-1);
  absl::StatusOr<Graph> g = onnx::BuildGraph(model, onnx::DefaultOpRegistry());
  ASSERT_TRUE(g.ok()) << g.status();
  auto base = std::make_shared<const Graph>(*std::move(g));
  ASSERT_TRUE(onnx::PlanCache::Worthwhile(*base));
  onnx::PlanCache cache(model, base, onnx::DefaultOpRegistry(), /*capacity=*/2);
  std::shared_ptr<const Graph> p2 = cache.ForShapes({{2, 3, 4}});
  EXPECT_EQ(p2->nodes.size(), 1u);  // the whole shape chain folded for batch 2
  EXPECT_EQ(cache.ForShapes({{2, 3, 4}}), p2);
  EXPECT_EQ(cache.builds(), 1);
  cache.ForShapes({{3, 3, 4}});
  cache.ForShapes({{4, 3, 4}});
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.ForShapes({{2, 3, 4}}), p2);  // evicted, rebuilt
  EXPECT_EQ(cache.builds(), 4);
  absl::StatusOr<std::vector<Tensor>> y = RunOnce(*cache.ForShapes({{4, 3, 4}}), Iota({4, 3, 4}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ((*y)[0].shape(), (Shape{4, 12}));

  absl::StatusOr<Graph> fixed = onnx::BuildGraph(FlattenByShapeChain(2), onnx::DefaultOpRegistry());
  ASSERT_TRUE(fixed.ok());
  EXPECT_FALSE(onnx::PlanCache::Worthwhile(*fixed));
}

}  // namespace
}  // namespace stoa::functions
