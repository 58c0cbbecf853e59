// The load-time fusion pass (fusion.h) and the kernels it relies on: the
// direct depthwise Conv (conv_depthwise.h) against a naive convolution, a
// fused graph against the same graph unfused, and the cases that must not
// fuse. Also the broadcast runs and Max/Min of kernels_elementwise.cc.
#include "functions/onnx/fusion.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "functions/onnx/conv_depthwise.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/op_registry.h"
#include "tests/unit/functions/onnx/shape_chain_model.h"

namespace stoa::functions {
namespace {

using onnx::Graph;
using onnx::Tensor;
using testing::FloatInit;
using testing::MakeModel;
using testing::MakeNode;
using testing::RunOnce;
using testing::SetFloatAttr;
using testing::SetIntAttr;
using testing::ValueInfo;

std::vector<float> Random(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

void SetInts(::onnx::NodeProto& n, const std::string& name, std::vector<int64_t> v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

struct DwCase {
  int64_t channels, multiplier, h, w, k, stride, pad, dilation;
};

// y[n][m][oh][ow] = b[m] + sum_kh,kw x[n][m/mult][ih][iw] * w[m][0][kh][kw].
std::vector<float> NaiveDepthwise(const DwCase& c, const std::vector<float>& x,
                                  const std::vector<float>& w, const std::vector<float>& b,
                                  int64_t oh_n, int64_t ow_n) {
  const int64_t maps = c.channels * c.multiplier;
  std::vector<float> y(static_cast<size_t>(maps * oh_n * ow_n));
  for (int64_t m = 0; m < maps; ++m) {
    for (int64_t oh = 0; oh < oh_n; ++oh) {
      for (int64_t ow = 0; ow < ow_n; ++ow) {
        double acc = b[m];
        for (int64_t kh = 0; kh < c.k; ++kh) {
          for (int64_t kw = 0; kw < c.k; ++kw) {
            const int64_t ih = oh * c.stride - c.pad + kh * c.dilation;
            const int64_t iw = ow * c.stride - c.pad + kw * c.dilation;
            if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w) continue;
            acc += x[((m / c.multiplier) * c.h + ih) * c.w + iw] * w[(m * c.k + kh) * c.k + kw];
          }
        }
        y[(m * oh_n + oh) * ow_n + ow] = static_cast<float>(acc);
      }
    }
  }
  return y;
}

TEST(DepthwiseConvTest, MatchesNaiveConvolution) {
  const std::vector<DwCase> cases = {{8, 1, 12, 17, 3, 1, 1, 1}, {5, 1, 9, 9, 5, 2, 2, 1},
                                     {4, 2, 10, 7, 3, 1, 0, 1},  {6, 1, 11, 13, 3, 2, 1, 2},
                                     {3, 3, 6, 5, 3, 1, 2, 1},   {7, 1, 4, 4, 5, 1, 2, 1}};
  for (const DwCase& c : cases) {
    const int64_t maps = c.channels * c.multiplier;
    const int64_t ext = (c.k - 1) * c.dilation + 1;
    const int64_t oh = (c.h + 2 * c.pad - ext) / c.stride + 1;
    const int64_t ow = (c.w + 2 * c.pad - ext) / c.stride + 1;
    const std::vector<float> x = Random(c.channels * c.h * c.w, 1);
    const std::vector<float> w = Random(maps * c.k * c.k, 2);
    const std::vector<float> b = Random(maps, 3);
    ::onnx::NodeProto conv = MakeNode("Conv", "dw", {"x", "w", "b"}, {"y"});
    SetIntAttr(conv, "group", c.channels);
    SetInts(conv, "strides", {c.stride, c.stride});
    SetInts(conv, "pads", {c.pad, c.pad, c.pad, c.pad});
    SetInts(conv, "dilations", {c.dilation, c.dilation});
    absl::StatusOr<Graph> g = onnx::BuildGraph(
        MakeModel({conv}, {ValueInfo("x", {1, c.channels, c.h, c.w})},
                  {ValueInfo("y", {1, maps, oh, ow})},
                  {FloatInit("w", {maps, 1, c.k, c.k}, w), FloatInit("b", {maps}, b)}),
        onnx::DefaultOpRegistry());
    ASSERT_TRUE(g.ok()) << g.status();
    absl::StatusOr<std::vector<Tensor>> y =
        RunOnce(*g, Tensor::Float({1, c.channels, c.h, c.w}, x));
    ASSERT_TRUE(y.ok()) << y.status();
    const std::vector<float> want = NaiveDepthwise(c, x, w, b, oh, ow);
    ASSERT_EQ((*y)[0].size(), static_cast<int64_t>(want.size()));
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR((*y)[0].floats()[i], want[i], 1e-5)
          << "case k=" << c.k << " s=" << c.stride << " element " << i;
    }
  }
}

// x -> Conv -> BatchNormalization -> Relu -> Conv -> [Add 3, Clip 0..6, Div 6, Mul] -> y
// with the second Conv's output also read by the Mul (HardSwish).
::onnx::ModelProto ConvBnReluHardSwishModel(bool tap_bn_output) {
  const int64_t c = 4;
  ::onnx::NodeProto conv1 = MakeNode("Conv", "conv1", {"x", "w1"}, {"c1"});
  SetInts(conv1, "pads", {1, 1, 1, 1});
  ::onnx::NodeProto bn =
      MakeNode("BatchNormalization", "bn", {"c1", "scale", "beta", "mean", "var"}, {"bn1"});
  SetFloatAttr(bn, "epsilon", 1e-3f);
  ::onnx::NodeProto conv2 = MakeNode("Conv", "conv2", {"r1", "w2", "b2"}, {"c2"});
  SetIntAttr(conv2, "group", c);
  SetInts(conv2, "pads", {1, 1, 1, 1});
  std::vector<::onnx::ValueInfoProto> outputs = {ValueInfo("y", {1, c, 6, 6})};
  if (tap_bn_output) outputs.push_back(ValueInfo("bn1", {1, c, 6, 6}));
  return MakeModel(
      {conv1, bn, MakeNode("Relu", "relu", {"bn1"}, {"r1"}), conv2,
       MakeNode("Add", "add", {"c2", "three"}, {"a"}),
       MakeNode("Clip", "clip", {"a", "zero", "six"}, {"cl"}),
       MakeNode("Div", "div", {"cl", "six"}, {"d"}), MakeNode("Mul", "mul", {"c2", "d"}, {"y"})},
      {ValueInfo("x", {1, 3, 6, 6})}, outputs,
      {FloatInit("w1", {c, 3, 3, 3}, Random(c * 27, 4)), FloatInit("scale", {c}, Random(c, 5)),
       FloatInit("beta", {c}, Random(c, 6)), FloatInit("mean", {c}, Random(c, 7)),
       FloatInit("var", {c}, Random(c, 8, 0.5f, 2.0f)),
       FloatInit("w2", {c, 1, 3, 3}, Random(c * 9, 9, -2, 2)), FloatInit("b2", {c}, Random(c, 10)),
       FloatInit("three", {}, {3.0f}), FloatInit("zero", {}, {0.0f}),
       FloatInit("six", {}, {6.0f})});
}

std::vector<Tensor> RunModel(const Graph& g, const Tensor& x) {
  absl::StatusOr<std::vector<Tensor>> y = RunOnce(g, x);
  EXPECT_TRUE(y.ok()) << y.status();
  return y.ok() ? *std::move(y) : std::vector<Tensor>{};
}

TEST(FusionTest, FoldsBatchNormAndFusesActivationsWithTheSameResults) {
  absl::StatusOr<Graph> plain =
      onnx::BuildGraph(ConvBnReluHardSwishModel(false), onnx::DefaultOpRegistry());
  ASSERT_TRUE(plain.ok()) << plain.status();
  Graph fused = *plain;
  const onnx::FusionStats stats = onnx::OptimizeForCpu(fused);
  EXPECT_EQ(stats.batch_norms_folded, 1);
  EXPECT_EQ(stats.activations_fused, 1);
  EXPECT_EQ(stats.hard_swishes_fused, 1);
  ASSERT_EQ(fused.nodes.size(), 2u);
  EXPECT_EQ(fused.nodes[0].name, "conv1");
  EXPECT_EQ(fused.nodes[1].name, "conv2");
  const Tensor x = Tensor::Float({1, 3, 6, 6}, Random(108, 11, -3, 3));
  const std::vector<Tensor> want = RunModel(*plain, x), got = RunModel(fused, x);
  ASSERT_EQ(want.size(), 1u);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].shape(), want[0].shape());
  float max_diff = 0;
  for (int64_t i = 0; i < want[0].size(); ++i) {
    max_diff = std::max(max_diff, std::abs(got[0].floats()[i] - want[0].floats()[i]));
  }
  EXPECT_LT(max_diff, 1e-4f);
  // The HardSwish really is non-trivial here: some outputs saturate, some are 0.
  int zeros = 0;
  for (float v : want[0].floats()) zeros += v == 0.0f;
  EXPECT_GT(zeros, 0);
}

TEST(FusionTest, KeepsAnIntermediateThatIsAlsoAGraphOutput) {
  absl::StatusOr<Graph> plain =
      onnx::BuildGraph(ConvBnReluHardSwishModel(true), onnx::DefaultOpRegistry());
  ASSERT_TRUE(plain.ok()) << plain.status();
  Graph fused = *plain;
  const onnx::FusionStats stats = onnx::OptimizeForCpu(fused);
  // The BN's output is read by the graph: the BN still folds into conv1
  // (the Conv's own output had one reader), which then produces that
  // output itself, so the Relu must stay a node of its own; conv2's
  // HardSwish still fuses.
  EXPECT_EQ(stats.batch_norms_folded, 1);
  EXPECT_EQ(stats.activations_fused, 0);
  EXPECT_EQ(stats.hard_swishes_fused, 1);
  const Tensor x = Tensor::Float({1, 3, 6, 6}, Random(108, 12, -3, 3));
  const std::vector<Tensor> want = RunModel(*plain, x), got = RunModel(fused, x);
  ASSERT_EQ(got.size(), 2u);
  for (size_t o = 0; o < 2; ++o) {
    for (int64_t i = 0; i < want[o].size(); ++i) {
      ASSERT_NEAR(got[o].floats()[i], want[o].floats()[i], 1e-4) << "output " << o;
    }
  }
}

TEST(FusionTest, HardSwishOnAGraphInputBecomesOneNode) {
  absl::StatusOr<Graph> plain =
      onnx::BuildGraph(MakeModel({MakeNode("Add", "add", {"three", "x"}, {"a"}),
                                  MakeNode("Clip", "clip", {"a", "zero", "six"}, {"cl"}),
                                  MakeNode("Div", "div", {"cl", "six"}, {"d"}),
                                  MakeNode("Mul", "mul", {"d", "x"}, {"y"})},
                                 {ValueInfo("x", {2, 50})}, {ValueInfo("y", {2, 50})},
                                 {FloatInit("three", {}, {3.0f}), FloatInit("zero", {}, {0.0f}),
                                  FloatInit("six", {}, {6.0f})}),
                       onnx::DefaultOpRegistry());
  ASSERT_TRUE(plain.ok()) << plain.status();
  Graph fused = *plain;
  EXPECT_EQ(onnx::OptimizeForCpu(fused).hard_swishes_fused, 1);
  ASSERT_EQ(fused.nodes.size(), 1u);
  EXPECT_EQ(fused.nodes[0].op_type, "HardSwish");
  const Tensor x = Tensor::Float({2, 50}, Random(100, 15, -5, 5));
  const std::vector<Tensor> want = RunModel(*plain, x), got = RunModel(fused, x);
  ASSERT_EQ(got.size(), 1u);
  for (int64_t i = 0; i < 100; ++i) {
    const float v = x.floats()[i];
    ASSERT_NEAR(want[0].floats()[i], v * std::clamp(v + 3.0f, 0.0f, 6.0f) / 6.0f, 1e-6);
    ASSERT_NEAR(got[0].floats()[i], want[0].floats()[i], 1e-5);
  }
}

TEST(FusionTest, FoldsAffinesAroundTheActivationAndTheMulFirstHardSwish) {
  // Conv -> *2 -> +[per map] -> HardSwish (Mul before Div) -> *0.5 -> +1:
  // all one Conv.
  const int64_t c = 3;
  ::onnx::NodeProto conv = MakeNode("Conv", "conv", {"x", "w"}, {"c0"});
  SetInts(conv, "pads", {1, 1, 1, 1});
  absl::StatusOr<Graph> plain = onnx::BuildGraph(
      MakeModel(
          {conv, MakeNode("Mul", "m0", {"two", "c0"}, {"c1"}),
           MakeNode("Add", "a0", {"c1", "per_map"}, {"c2"}),
           MakeNode("Add", "a3", {"c2", "three"}, {"h0"}),
           MakeNode("Clip", "clip", {"h0", "zero", "six"}, {"h1"}),
           MakeNode("Mul", "hm", {"c2", "h1"}, {"h2"}),
           MakeNode("Div", "hd", {"h2", "six"}, {"h3"}),
           MakeNode("Mul", "m1", {"h3", "half"}, {"p0"}),
           MakeNode("Add", "a1", {"one", "p0"}, {"y"})},
          {ValueInfo("x", {1, 2, 5, 5})}, {ValueInfo("y", {1, c, 5, 5})},
          {FloatInit("w", {c, 2, 3, 3}, Random(c * 18, 20)), FloatInit("two", {}, {2.0f}),
           FloatInit("per_map", {1, c, 1, 1}, {-1.0f, 0.5f, 2.0f}), FloatInit("three", {}, {3.0f}),
           FloatInit("zero", {}, {0.0f}), FloatInit("six", {}, {6.0f}),
           FloatInit("half", {1}, {0.5f}), FloatInit("one", {}, {1.0f})}),
      onnx::DefaultOpRegistry());
  ASSERT_TRUE(plain.ok()) << plain.status();
  Graph fused = *plain;
  const onnx::FusionStats stats = onnx::OptimizeForCpu(fused);
  EXPECT_EQ(stats.hard_swishes_fused, 1);
  EXPECT_EQ(stats.affines_folded, 4);
  ASSERT_EQ(fused.nodes.size(), 1u);
  const Tensor x = Tensor::Float({1, 2, 5, 5}, Random(50, 21, -2, 2));
  const std::vector<Tensor> want = RunModel(*plain, x), got = RunModel(fused, x);
  ASSERT_EQ(got.size(), 1u);
  for (int64_t i = 0; i < want[0].size(); ++i) {
    ASSERT_NEAR(got[0].floats()[i], want[0].floats()[i], 1e-4) << i;
  }
}

TEST(FusionTest, FoldsAClampByConstantsAfterTheActivation) {
  // openWakeWord's embedding: Conv -> LeakyRelu -> Max(-0.4); here also a
  // Min(0.3) after it, then an Add that must stay (an affine after a clamp).
  const int64_t c = 4;
  ::onnx::NodeProto conv = MakeNode("Conv", "conv", {"x", "w", "b"}, {"c0"});
  SetInts(conv, "pads", {0, 1, 0, 1});
  ::onnx::NodeProto leaky = MakeNode("LeakyRelu", "lr", {"c0"}, {"c1"});
  SetFloatAttr(leaky, "alpha", 0.2f);
  absl::StatusOr<Graph> plain =
      onnx::BuildGraph(MakeModel({conv, leaky, MakeNode("Max", "mx", {"c1", "lo"}, {"c2"}),
                                  MakeNode("Min", "mn", {"hi", "c2"}, {"c3"}),
                                  MakeNode("Add", "ad", {"c3", "one"}, {"y"})},
                                 {ValueInfo("x", {1, 3, 6, 5})}, {ValueInfo("y", {1, c, 6, 5})},
                                 {FloatInit("w", {c, 3, 1, 3}, Random(c * 9, 30)),
                                  FloatInit("b", {c}, {0.1f, -0.2f, 0.3f, -0.4f}),
                                  FloatInit("lo", {1, 1, 1, 1}, {-0.4f}),
                                  FloatInit("hi", {}, {0.3f}), FloatInit("one", {}, {1.0f})}),
                       onnx::DefaultOpRegistry());
  ASSERT_TRUE(plain.ok()) << plain.status();
  Graph fused = *plain;
  const onnx::FusionStats stats = onnx::OptimizeForCpu(fused);
  EXPECT_EQ(stats.activations_fused, 1);
  ASSERT_EQ(fused.nodes.size(), 2u);  // the Conv with everything up to Min, and the Add
  EXPECT_EQ(fused.nodes[1].op_type, "Add");
  const Tensor x = Tensor::Float({1, 3, 6, 5}, Random(90, 31, -4, 4));
  const std::vector<Tensor> want = RunModel(*plain, x), got = RunModel(fused, x);
  ASSERT_EQ(got.size(), 1u);
  int low = 0, high = 0;
  for (int64_t i = 0; i < want[0].size(); ++i) {
    ASSERT_NEAR(got[0].floats()[i], want[0].floats()[i], 1e-5) << i;
    low += std::abs(want[0].floats()[i] - 0.6f) < 1e-6f;
    high += std::abs(want[0].floats()[i] - 1.3f) < 1e-6f;
  }
  EXPECT_GT(low, 0);  // both bounds really clamp something
  EXPECT_GT(high, 0);
}

TEST(FusionTest, AnEmptyConvFollowedByBatchNormAndMulLoadsAndRuns) {
  // A hostile model: zero output maps. Folding must not divide by zero.
  absl::StatusOr<Graph> g = onnx::BuildGraph(
      MakeModel({MakeNode("Conv", "conv", {"x", "w"}, {"c"}),
                 MakeNode("BatchNormalization", "bn", {"c", "s", "b", "m", "v"}, {"d"}),
                 MakeNode("Mul", "mul", {"d", "two"}, {"y"})},
                {ValueInfo("x", {1, 1, 3, 3})}, {ValueInfo("y", {1, 0, 3, 3})},
                {FloatInit("w", {0, 1, 1, 1}, {}), FloatInit("s", {0}, {}), FloatInit("b", {0}, {}),
                 FloatInit("m", {0}, {}), FloatInit("v", {0}, {}), FloatInit("two", {}, {2.0f})}),
      onnx::DefaultOpRegistry());
  if (!g.ok()) {
    GTEST_SKIP() << "refused at load, also fine: " << g.status();
  }
  const onnx::FusionStats stats = onnx::OptimizeForCpu(*g);
  EXPECT_EQ(stats.batch_norms_folded, 0);
  EXPECT_EQ(stats.affines_folded, 0);
  absl::StatusOr<std::vector<Tensor>> y = RunOnce(*g, Tensor::Float({1, 1, 3, 3}, Random(9, 30)));
  if (y.ok()) {
    EXPECT_EQ((*y)[0].size(), 0);
  }
}

TEST(FusionTest, LeavesAClipWithRuntimeBoundsAlone) {
  ::onnx::NodeProto conv = MakeNode("Conv", "conv", {"x", "w"}, {"c"});
  absl::StatusOr<Graph> g = onnx::BuildGraph(
      MakeModel({conv, MakeNode("Clip", "clip", {"c", "lo"}, {"y"})},
                {ValueInfo("x", {1, 1, 3, 3}), ValueInfo("lo", {})}, {ValueInfo("y", {1, 1, 3, 3})},
                {FloatInit("w", {1, 1, 1, 1}, {2.0f})}),
      onnx::DefaultOpRegistry());
  ASSERT_TRUE(g.ok()) << g.status();
  const onnx::FusionStats stats = onnx::OptimizeForCpu(*g);
  EXPECT_EQ(stats.activations_fused, 0);
  EXPECT_EQ(g->nodes.size(), 2u);
}

absl::StatusOr<Tensor> RunBinary(const std::string& op, const Tensor& a, const Tensor& b) {
  static const onnx::OpRegistry* registry = new onnx::OpRegistry(onnx::DefaultOpRegistry());
  onnx::Node node;
  node.op_type = op;
  node.opset = 13;
  node.kernel = *registry->Find(op);
  node.input_names = {"a", "b"};
  node.outputs = {0};
  std::vector<const Tensor*> args = {&a, &b};
  absl::StatusOr<std::vector<Tensor>> y = node.kernel.run(node, args);
  if (!y.ok()) return y.status();
  return (*y)[0];
}

TEST(BroadcastRunsTest, PerChannelRowAndColumnOperandsMatchTheDefinition) {
  const Tensor x = Tensor::Float({2, 3, 4, 5}, Random(120, 13));
  for (const onnx::Shape& bshape : std::vector<onnx::Shape>{
           {1, 3, 1, 1}, {3, 1, 1}, {5}, {4, 1}, {2, 1, 4, 1}, {1, 3, 4, 5}, {2, 1, 1, 5}}) {
    int64_t n = 1;
    for (int64_t d : bshape) n *= d;
    const Tensor b = Tensor::Float(bshape, Random(static_cast<size_t>(n), 14));
    absl::StatusOr<Tensor> y = RunBinary("Mul", x, b);
    absl::StatusOr<Tensor> z = RunBinary("Sub", b, x);  // the operand that runs is on the right
    ASSERT_TRUE(y.ok() && z.ok());
    const std::vector<int64_t> bs =
        onnx::BroadcastStrides(bshape, std::vector<int64_t>{2, 3, 4, 5});
    for (int64_t i = 0; i < 120; ++i) {
      const int64_t idx[4] = {i / 60, (i / 20) % 3, (i / 5) % 4, i % 5};
      int64_t bo = 0;
      for (int d = 0; d < 4; ++d) bo += idx[d] * bs[d];
      ASSERT_FLOAT_EQ(y->floats()[i], x.floats()[i] * b.floats()[bo]) << i;
      ASSERT_FLOAT_EQ(z->floats()[i], b.floats()[bo] - x.floats()[i]) << i;
    }
  }
}

TEST(BroadcastRunsTest, MaxAndMinBroadcastAndRefuseMixedTypes) {
  const Tensor a = Tensor::Float({2, 2}, {1, -5, 3, 0});
  const Tensor b = Tensor::Float({2}, {2, -6});
  absl::StatusOr<Tensor> mx = RunBinary("Max", a, b);
  absl::StatusOr<Tensor> mn = RunBinary("Min", a, b);
  ASSERT_TRUE(mx.ok() && mn.ok());
  EXPECT_THAT(mx->floats(), ::testing::ElementsAre(2, -5, 3, 0));
  EXPECT_THAT(mn->floats(), ::testing::ElementsAre(1, -6, 2, -6));
  absl::StatusOr<Tensor> bad = RunBinary("Max", a, Tensor::Int64({1}, {1}));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("INT64"));
}

}  // namespace
}  // namespace stoa::functions
