// Model limits (model_limits.h): node count read from the serialized bytes,
// opset range, decoded initializer bytes; and BuildGraph applying them.
#include "functions/onnx/model_limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "functions/onnx/graph.h"
#include "functions/onnx/op_registry.h"
#include "tests/fakes/functions/onnx_builders.h"

namespace stoa::functions {
namespace {

using onnx::ModelLimits;
using ::testing::HasSubstr;

ModelLimits NodeLimit(int64_t nodes) {
  ModelLimits limits;
  limits.max_nodes = nodes;
  return limits;
}

TEST(ModelLimitsTest, CountsNodesInTheSerializedModel) {
  const std::string bytes = testing::ReluChainModel(50).SerializeAsString();
  EXPECT_TRUE(onnx::CheckNodeCount(bytes, NodeLimit(50)).ok());
  absl::Status s = onnx::CheckNodeCount(bytes, NodeLimit(49));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "model has 50 nodes; the limit is 49 nodes (ONNX graph node limit: --onnx-max-nodes)");
}

TEST(ModelLimitsTest, BytesThatAreNotAModelAreLeftToTheParser) {
  EXPECT_TRUE(onnx::CheckNodeCount("", NodeLimit(1)).ok());
  EXPECT_TRUE(onnx::CheckNodeCount("\x3a\xff\xff\xff\xff\x0f garbage", NodeLimit(1)).ok());
  std::string truncated = testing::ReluChainModel(5).SerializeAsString();
  truncated.resize(truncated.size() / 2);
  EXPECT_TRUE(onnx::CheckNodeCount(truncated, NodeLimit(1)).ok());
}

TEST(ModelLimitsTest, BuildGraphAppliesTheNodeLimitToo) {
  absl::StatusOr<onnx::Graph> g =
      onnx::BuildGraph(testing::ReluChainModel(3), onnx::DefaultOpRegistry(), NodeLimit(2));
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(), HasSubstr("model has 3 nodes; the limit is 2 nodes"));
}

TEST(ModelLimitsTest, OpsetOutsideWhatTheEngineSupportsIsRefused) {
  EXPECT_GE(onnx::MaxSupportedOpset(), 13);
  EXPECT_TRUE(onnx::CheckOpset(13).ok());
  EXPECT_TRUE(onnx::CheckOpset(onnx::MaxSupportedOpset()).ok());
  for (int64_t opset : {int64_t{0}, onnx::MaxSupportedOpset() + 1, int64_t{99}}) {
    absl::StatusOr<onnx::Graph> g =
        onnx::BuildGraph(testing::ReluChainModel(1, opset), onnx::DefaultOpRegistry());
    EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument) << opset;
    EXPECT_THAT(g.status().message(),
                HasSubstr(absl::StrCat("model imports opset ", opset,
                                       " of the default ONNX domain; this engine supports "
                                       "opsets 1 to ",
                                       onnx::MaxSupportedOpset(), " (ONNX opset limit)")));
  }
}

TEST(ModelLimitsTest, InitializerBytesAreCountedFromTheirDeclaredShape) {
  ModelLimits limits;
  limits.max_initializer_bytes = 4000;
  EXPECT_TRUE(onnx::CheckInitializerBytes(testing::BigInitializerModel(1000).graph(), limits).ok());
  absl::Status s = onnx::CheckInitializerBytes(testing::BigInitializerModel(1001).graph(), limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("model's initializers take more than 4000 bytes (at "
                                     "initializer 'w'); the limit is 4000 bytes (ONNX initializer "
                                     "size limit: --onnx-max-initializer-mb)"));
  // Declared dims decide, not the bytes present: 2^40 floats claimed in a
  // tiny message are refused before decoding.
  ::onnx::ModelProto m = testing::BigInitializerModel(1);
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, int64_t{1} << 40);
  EXPECT_FALSE(onnx::CheckInitializerBytes(m.graph(), ModelLimits{}).ok());
}

}  // namespace
}  // namespace stoa::functions
