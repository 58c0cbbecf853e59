// LSTM, GRU and RNN (kernels_rnn.cc) against the ONNX equations written out
// by hand for one hidden unit and one input feature, plus directions,
// sequence_lens, layout and refusals; and Resize cubic (kernels_resize.cc)
// against hand-computed Keys weights.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "functions/onnx/kernel_util.h"
#include "functions/onnx/op_registry.h"

namespace stoa::functions::onnx {
namespace {

using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

auto Near(std::vector<float> want) { return Pointwise(FloatNear(1e-5f), want); }

absl::StatusOr<std::vector<Tensor>> RunOp(const std::string& op,
                                          const std::vector<const Tensor*>& inputs,
                                          Attributes attrs, int outputs, int64_t opset = 14) {
  static const OpRegistry* registry = new OpRegistry(DefaultOpRegistry());
  const OpKernel* kernel = registry->Find(op);
  if (kernel == nullptr) return absl::NotFoundError(op);
  Node node;
  node.name = "t";
  node.op_type = op;
  node.opset = opset;
  node.attributes = std::move(attrs);
  node.kernel = *kernel;
  for (int i = 0; i < outputs; ++i) node.outputs.push_back(100 + i);
  for (size_t i = 0; i < inputs.size(); ++i) node.input_names.push_back("in" + std::to_string(i));
  node.declared_inputs = static_cast<int>(inputs.size());
  if (kernel->validate != nullptr) {
    absl::Status valid = kernel->validate(node);
    if (!valid.ok()) return valid;
  }
  return kernel->run(node, inputs);
}

Attributes Attrs(std::initializer_list<std::pair<std::string, Attributes::Value>> kv) {
  Attributes a;
  for (const auto& [k, v] : kv) a.Set(k, v);
  return a;
}

std::vector<float> F(const Tensor& t) { return {t.floats().begin(), t.floats().end()}; }
float Sig(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// One LSTM step of one unit: gates i, o, f, c in W/R/bias order.
void LstmStep(float x, const float w[4], const float r[4], const float b[4], float& h, float& c) {
  const float i = Sig(w[0] * x + r[0] * h + b[0]);
  const float o = Sig(w[1] * x + r[1] * h + b[1]);
  const float f = Sig(w[2] * x + r[2] * h + b[2]);
  const float g = std::tanh(w[3] * x + r[3] * h + b[3]);
  c = f * c + i * g;
  h = o * std::tanh(c);
}

const float kW[4] = {0.5f, 0.25f, -0.5f, 1.0f}, kR[4] = {0.1f, 0.2f, 0.3f, 0.4f};
const float kWb[4] = {0.01f, 0.02f, 0.03f, 0.04f}, kRb[4] = {0.1f, -0.1f, 0.2f, -0.2f};

TEST(LstmTest, ForwardMatchesTheEquations) {
  const Tensor x = Tensor::Float({3, 1, 1}, {1, -2, 0.5f});
  const Tensor w = Tensor::Float({1, 4, 1}, {kW[0], kW[1], kW[2], kW[3]});
  const Tensor r = Tensor::Float({1, 4, 1}, {kR[0], kR[1], kR[2], kR[3]});
  const Tensor b =
      Tensor::Float({1, 8}, {kWb[0], kWb[1], kWb[2], kWb[3], kRb[0], kRb[1], kRb[2], kRb[3]});
  const Tensor h0 = Tensor::Float({1, 1, 1}, {0.3f}), c0 = Tensor::Float({1, 1, 1}, {-0.7f});
  absl::StatusOr<std::vector<Tensor>> out =
      RunOp("LSTM", {&x, &w, &r, &b, nullptr, &h0, &c0}, Attrs({{"hidden_size", int64_t{1}}}), 3);
  ASSERT_TRUE(out.ok()) << out.status();
  float bias[4], h = 0.3f, c = -0.7f;
  for (int k = 0; k < 4; ++k) bias[k] = kWb[k] + kRb[k];
  std::vector<float> ys;
  for (float xt : {1.0f, -2.0f, 0.5f}) {
    LstmStep(xt, kW, kR, bias, h, c);
    ys.push_back(h);
  }
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 1, 1, 1}));
  EXPECT_THAT(F((*out)[0]), Near(ys));
  EXPECT_THAT(F((*out)[1]), Near({h}));
  EXPECT_THAT(F((*out)[2]), Near({c}));
}

TEST(LstmTest, BidirectionalRunsTheSecondDirectionBackwards) {
  const Tensor x = Tensor::Float({2, 1, 1}, {1, -2});
  const float w2[4] = {-0.3f, 0.6f, 0.2f, 0.9f};
  const Tensor w =
      Tensor::Float({2, 4, 1}, {kW[0], kW[1], kW[2], kW[3], w2[0], w2[1], w2[2], w2[3]});
  const Tensor r =
      Tensor::Float({2, 4, 1}, {kR[0], kR[1], kR[2], kR[3], kR[0], kR[1], kR[2], kR[3]});
  absl::StatusOr<std::vector<Tensor>> out =
      RunOp("LSTM", {&x, &w, &r},
            Attrs({{"hidden_size", int64_t{1}}, {"direction", std::string("bidirectional")}}), 2);
  ASSERT_TRUE(out.ok()) << out.status();
  const float zero[4] = {0, 0, 0, 0};
  float hf = 0, cf = 0, hb = 0, cb = 0;
  LstmStep(1, kW, kR, zero, hf, cf);
  const float yf0 = hf;
  LstmStep(-2, kW, kR, zero, hf, cf);
  LstmStep(-2, w2, kR, zero, hb, cb);
  const float yb1 = hb;
  LstmStep(1, w2, kR, zero, hb, cb);
  // Y [seq, dirs, batch, hidden]: the backward direction's step for x[1] comes first.
  EXPECT_THAT(F((*out)[0]), Near({yf0, hb, hf, yb1}));
  EXPECT_THAT(F((*out)[1]), Near({hf, hb}));
}

TEST(LstmTest, SequenceLensAndBatchFirstLayout) {
  // Batch 2, seq 2: row 1 has length 1.
  const Tensor w = Tensor::Float({1, 4, 1}, {kW[0], kW[1], kW[2], kW[3]});
  const Tensor r = Tensor::Float({1, 4, 1}, {kR[0], kR[1], kR[2], kR[3]});
  const Tensor lens = Tensor::Int32({2}, {2, 1});
  const Tensor x_seq_first = Tensor::Float({2, 2, 1}, {1, 3, -2, 4});  // [seq, batch, 1]
  absl::StatusOr<std::vector<Tensor>> out = RunOp("LSTM", {&x_seq_first, &w, &r, nullptr, &lens},
                                                  Attrs({{"hidden_size", int64_t{1}}}), 2);
  ASSERT_TRUE(out.ok()) << out.status();
  const float zero[4] = {0, 0, 0, 0};
  float h0 = 0, c0 = 0, h1 = 0, c1 = 0;
  LstmStep(1, kW, kR, zero, h0, c0);
  const float y00 = h0;
  LstmStep(-2, kW, kR, zero, h0, c0);
  LstmStep(3, kW, kR, zero, h1, c1);
  EXPECT_THAT(F((*out)[0]), Near({y00, h1, h0, 0.0f}));  // row 1's second step is zero
  EXPECT_THAT(F((*out)[1]), Near({h0, h1}));
  // The same data batch-first gives the same values, batch-first.
  const Tensor x_batch_first = Tensor::Float({2, 2, 1}, {1, -2, 3, 4});  // [batch, seq, 1]
  out = RunOp("LSTM", {&x_batch_first, &w, &r, nullptr, &lens},
              Attrs({{"hidden_size", int64_t{1}}, {"layout", int64_t{1}}}), 2);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 2, 1, 1}));
  EXPECT_THAT(F((*out)[0]), Near({y00, h0, h1, 0.0f}));
}

TEST(LstmTest, RefusesWhatItDoesNotImplementAndBadShapes) {
  const Tensor x = Tensor::Float({1, 1, 1}, {1});
  const Tensor w = Tensor::Float({1, 4, 1}, {1, 1, 1, 1});
  const Tensor r = Tensor::Float({1, 4, 1}, {1, 1, 1, 1});
  auto error = [&](Attributes a, std::vector<const Tensor*> in) {
    absl::StatusOr<std::vector<Tensor>> out = RunOp("LSTM", in, std::move(a), 1);
    EXPECT_FALSE(out.ok());
    return std::string(out.status().message());
  };
  EXPECT_THAT(error(Attrs({{"hidden_size", int64_t{1}},
                           {"activations", std::vector<std::string>{"Relu", "Tanh", "Tanh"}}}),
                    {&x, &w, &r}),
              HasSubstr("attribute 'activations' = 'Relu,Tanh,Tanh' is not supported"));
  EXPECT_THAT(
      error(Attrs({{"hidden_size", int64_t{1}}, {"input_forget", int64_t{1}}}), {&x, &w, &r}),
      HasSubstr("'input_forget'"));
  EXPECT_THAT(error(Attrs({}), {&x, &w, &r}), HasSubstr("'hidden_size'"));
  const Tensor bad_w = Tensor::Float({1, 3, 1}, {1, 1, 1});
  EXPECT_THAT(error(Attrs({{"hidden_size", int64_t{1}}}), {&x, &bad_w, &r}),
              HasSubstr("W (input #1) has shape [1,3,1]; expected [1,4,1]"));
}

// GRU gates z, r, h; `lbr` = linear_before_reset.
float GruStep(float x, float h, const float w[3], const float r[3], const float wb[3],
              const float rb[3], bool lbr) {
  const float z = Sig(w[0] * x + r[0] * h + wb[0] + rb[0]);
  const float rg = Sig(w[1] * x + r[1] * h + wb[1] + rb[1]);
  const float hh = lbr ? std::tanh(w[2] * x + rg * (r[2] * h + rb[2]) + wb[2])
                       : std::tanh(w[2] * x + r[2] * (rg * h) + rb[2] + wb[2]);
  return (1 - z) * hh + z * h;
}

TEST(GruTest, BothResetPlacementsMatchTheEquations) {
  const float w[3] = {0.5f, -0.4f, 0.8f}, r[3] = {0.3f, 0.6f, -0.7f};
  const float wb[3] = {0.1f, 0.2f, 0.3f}, rb[3] = {-0.2f, 0.1f, 0.5f};
  const Tensor x = Tensor::Float({2, 1, 1}, {1, -1.5f});
  const Tensor wt = Tensor::Float({1, 3, 1}, {w[0], w[1], w[2]});
  const Tensor rt = Tensor::Float({1, 3, 1}, {r[0], r[1], r[2]});
  const Tensor bt = Tensor::Float({1, 6}, {wb[0], wb[1], wb[2], rb[0], rb[1], rb[2]});
  const Tensor h0 = Tensor::Float({1, 1, 1}, {0.4f});
  for (bool lbr : {false, true}) {
    absl::StatusOr<std::vector<Tensor>> out =
        RunOp("GRU", {&x, &wt, &rt, &bt, nullptr, &h0},
              Attrs({{"hidden_size", int64_t{1}}, {"linear_before_reset", int64_t{lbr}}}), 2);
    ASSERT_TRUE(out.ok()) << out.status();
    const float h1 = GruStep(1, 0.4f, w, r, wb, rb, lbr);
    const float h2 = GruStep(-1.5f, h1, w, r, wb, rb, lbr);
    EXPECT_THAT(F((*out)[0]), Near({h1, h2})) << "linear_before_reset " << lbr;
    EXPECT_THAT(F((*out)[1]), Near({h2}));
  }
}

TEST(GruTest, ReverseDirectionReadsTheSequenceBackwards) {
  const float w[3] = {0.5f, -0.4f, 0.8f}, r[3] = {0.3f, 0.6f, -0.7f}, zero[3] = {0, 0, 0};
  const Tensor x = Tensor::Float({2, 1, 1}, {1, -1.5f});
  const Tensor wt = Tensor::Float({1, 3, 1}, {w[0], w[1], w[2]});
  const Tensor rt = Tensor::Float({1, 3, 1}, {r[0], r[1], r[2]});
  absl::StatusOr<std::vector<Tensor>> out =
      RunOp("GRU", {&x, &wt, &rt},
            Attrs({{"hidden_size", int64_t{1}}, {"direction", std::string("reverse")}}), 2);
  ASSERT_TRUE(out.ok()) << out.status();
  const float h1 = GruStep(-1.5f, 0, w, r, zero, zero, false);
  const float h2 = GruStep(1, h1, w, r, zero, zero, false);
  EXPECT_THAT(F((*out)[0]), Near({h2, h1}));
}

TEST(RnnTest, TanhRecurrence) {
  const Tensor x = Tensor::Float({2, 1, 1}, {1, 2});
  const Tensor w = Tensor::Float({1, 1, 1}, {0.5f});
  const Tensor r = Tensor::Float({1, 1, 1}, {-1.0f});
  const Tensor b = Tensor::Float({1, 2}, {0.1f, 0.2f});
  absl::StatusOr<std::vector<Tensor>> out =
      RunOp("RNN", {&x, &w, &r, &b}, Attrs({{"hidden_size", int64_t{1}}}), 2);
  ASSERT_TRUE(out.ok()) << out.status();
  const float h1 = std::tanh(0.5f + 0.3f);
  const float h2 = std::tanh(1.0f - h1 + 0.3f);
  EXPECT_THAT(F((*out)[0]), Near({h1, h2}));
}

// [1, 2, 3, 4] upsampled ×2 along the last axis, asymmetric: output 1 sits
// at 0.5, between inputs 0 and 1, with Keys weights (A = -0.75) at
// distances 1.5, 0.5, 0.5, 1.5: -0.09375, 0.59375, 0.59375, -0.09375 on
// inputs -1 (edge: 1), 0, 1, 2. exclude_outside drops input -1 and
// renormalizes by 1.09375.
TEST(ResizeCubicTest, KeysWeightsByHand) {
  const Tensor x = Tensor::Float({1, 4}, {1, 2, 3, 4});
  const Tensor scales = Tensor::Float({2}, {1, 2});
  auto run = [&](int64_t exclude) {
    absl::StatusOr<std::vector<Tensor>> out =
        RunOp("Resize", {&x, nullptr, &scales},
              Attrs({{"mode", std::string("cubic")},
                     {"coordinate_transformation_mode", std::string("asymmetric")},
                     {"exclude_outside", exclude}}),
              1, 13);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? F((*out)[0]) : std::vector<float>{};
  };
  std::vector<float> y = run(0);
  ASSERT_EQ(y.size(), 8u);
  EXPECT_NEAR(y[0], 1.0f, 1e-6);
  EXPECT_NEAR(y[1], -0.09375f * 1 + 0.59375f * 1 + 0.59375f * 2 - 0.09375f * 3, 1e-6);
  EXPECT_NEAR(y[2], 2.0f, 1e-6);
  y = run(1);
  EXPECT_NEAR(y[1], (0.59375f * 1 + 0.59375f * 2 - 0.09375f * 3) / 1.09375f, 1e-6);
}

}  // namespace
}  // namespace stoa::functions::onnx
