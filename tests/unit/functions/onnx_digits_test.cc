// The digits example model through OnnxRuntime::Load + Invoke: signature,
// held-out accuracy, batch vs single-image agreement, bad inputs, and
// corrupt or truncated artifacts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "functions/onnx/onnx_runtime.h"
#include "tests/unit/functions/onnx_test_util.h"

namespace stoa::functions {
namespace {

using ::testing::ElementsAre;
using testing::Floats;
using testing::FloatTensor;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string DigitsDir() {
  const char* src = std::getenv("STOA_SOURCE_DIR");
  return std::string(src != nullptr ? src : ".") + "/functions/examples/digits/";
}

std::string ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Split {
  std::vector<float> pixels;  // rows × 64
  std::vector<int> labels;
};

Split ReadSplit() {
  Split s;
  std::ifstream f(DigitsDir() + "test_split.csv");
  std::string line;
  std::getline(f, line);  // header p0,…,p63,label
  while (std::getline(f, line)) {
    std::stringstream row(line);
    std::string cell;
    std::vector<int> v;
    while (std::getline(row, cell, ',')) v.push_back(std::stoi(cell));
    if (v.size() != 65) continue;
    for (int i = 0; i < 64; ++i) s.pixels.push_back(static_cast<float>(v[i]));
    s.labels.push_back(v[64]);
  }
  return s;
}

class DigitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    artifact_ = ReadBytes(DigitsDir() + "digits.onnx");
    ASSERT_FALSE(artifact_.empty()) << "cannot read " << DigitsDir() << "digits.onnx";
    split_ = ReadSplit();
    ASSERT_EQ(split_.labels.size(), 360u);
    v1::FunctionSpec spec;
    spec.set_name("digits");
    spec.set_runtime("onnx");
    absl::StatusOr<LoadedFunctionPtr> f = runtime_.Load(spec, artifact_);
    ASSERT_TRUE(f.ok()) << f.status();
    fn_ = *std::move(f);
  }

  absl::StatusOr<InvocationOutput> Invoke(v1::Tensor t) {
    InvocationInput in;
    in.tensors.push_back(std::move(t));
    return fn_->Invoke(in);
  }

  OnnxRuntime runtime_;
  std::string artifact_;
  Split split_;
  LoadedFunctionPtr fn_;
};

int ArgMax(const float* p) {
  int best = 0;
  for (int c = 1; c < 10; ++c) {
    if (p[c] > p[best]) best = c;
  }
  return best;
}

TEST_F(DigitsTest, Signature) {
  const v1::FunctionSpec& spec = fn_->spec();
  EXPECT_EQ(spec.name(), "digits");
  ASSERT_EQ(spec.inputs_size(), 1);
  EXPECT_EQ(spec.inputs(0).name(), "pixels");
  EXPECT_EQ(spec.inputs(0).datatype(), v1::FP32);
  EXPECT_THAT(spec.inputs(0).shape(), ElementsAre(-1, 64));
  ASSERT_EQ(spec.outputs_size(), 1);
  EXPECT_EQ(spec.outputs(0).name(), "probabilities");
  EXPECT_EQ(spec.outputs(0).datatype(), v1::FP32);
  EXPECT_THAT(spec.outputs(0).shape(), ElementsAre(-1, 10));
}

TEST_F(DigitsTest, WholeBatchAccuracyAndProbabilities) {
  const int64_t n = static_cast<int64_t>(split_.labels.size());
  absl::StatusOr<InvocationOutput> out = Invoke(FloatTensor("pixels", {n, 64}, split_.pixels));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->tensors.size(), 1u);
  EXPECT_EQ(out->tensors[0].name(), "probabilities");
  EXPECT_THAT(out->tensors[0].shape(), ElementsAre(n, 10));
  const std::vector<float> probs = Floats(out->tensors[0]);
  ASSERT_EQ(probs.size(), static_cast<size_t>(n * 10));
  int correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int c = 0; c < 10; ++c) {
      const float p = probs[i * 10 + c];
      EXPECT_TRUE(p >= 0.0f && p <= 1.0f) << "row " << i;
      sum += p;
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << i;
    correct += ArgMax(&probs[i * 10]) == split_.labels[i];
  }
  const double accuracy = static_cast<double>(correct) / static_cast<double>(n);
  EXPECT_GE(accuracy, 0.95);
  RecordProperty("accuracy", std::to_string(accuracy));
}

TEST_F(DigitsTest, BatchOfOneMatchesWholeBatch) {
  const int64_t n = static_cast<int64_t>(split_.labels.size());
  absl::StatusOr<InvocationOutput> all = Invoke(FloatTensor("pixels", {n, 64}, split_.pixels));
  ASSERT_TRUE(all.ok()) << all.status();
  const std::vector<float> batch = Floats(all->tensors[0]);
  int correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> image(split_.pixels.begin() + i * 64, split_.pixels.begin() + (i + 1) * 64);
    absl::StatusOr<InvocationOutput> one = Invoke(FloatTensor("pixels", {1, 64}, image));
    ASSERT_TRUE(one.ok()) << one.status();
    EXPECT_THAT(one->tensors[0].shape(), ElementsAre(1, 10));
    const std::vector<float> p = Floats(one->tensors[0]);
    for (int c = 0; c < 10; ++c) ASSERT_NEAR(p[c], batch[i * 10 + c], 1e-5) << i;
    correct += ArgMax(p.data()) == split_.labels[i];
  }
  EXPECT_GE(static_cast<double>(correct) / static_cast<double>(n), 0.95);
}

TEST_F(DigitsTest, RejectsWrongShapeAndDatatypeNamingPixels) {
  absl::StatusOr<InvocationOutput> short_row =
      Invoke(FloatTensor("pixels", {1, 63}, std::vector<float>(63, 0)));
  EXPECT_EQ(short_row.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(short_row.status().message(), "input 'pixels': expected shape [-1,64], got [1,63]");
  v1::Tensor ints = FloatTensor("pixels", {1, 64}, std::vector<float>(64, 0));
  ints.set_datatype(v1::INT64);
  ints.set_raw(std::string(64 * 8, '\0'));
  absl::StatusOr<InvocationOutput> wrong_type = Invoke(ints);
  EXPECT_EQ(wrong_type.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wrong_type.status().message(), "input 'pixels': expected datatype FP32, got INT64");
  absl::StatusOr<InvocationOutput> wrong_name =
      Invoke(FloatTensor("image", {1, 64}, std::vector<float>(64, 0)));
  EXPECT_THAT(wrong_name.status().message(), HasSubstr("the function takes 'pixels'"));
}

TEST_F(DigitsTest, EmptyBatch) {
  absl::StatusOr<InvocationOutput> out = Invoke(FloatTensor("pixels", {0, 64}, {}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->tensors[0].shape(), ElementsAre(0, 10));
}

TEST_F(DigitsTest, CorruptArtifactIsRefused) {
  std::string corrupt = artifact_;
  for (int i = 0; i < 16; ++i) corrupt[i] = '\xff';
  absl::StatusOr<LoadedFunctionPtr> f = runtime_.Load({}, corrupt);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(f.status().message()),
              StartsWith("artifact is not a valid ONNX model: "));
}

TEST_F(DigitsTest, EveryTruncationIsRefused) {
  // Cut points across the file, including inside and right after each field.
  for (size_t len = 0; len < artifact_.size(); len += (len < 256 ? 1 : 509)) {
    absl::StatusOr<LoadedFunctionPtr> f =
        runtime_.Load({}, std::string_view(artifact_).substr(0, len));
    ASSERT_FALSE(f.ok()) << "truncated to " << len << " bytes loaded";
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << len << ": " << f.status();
  }
  absl::StatusOr<LoadedFunctionPtr> half =
      runtime_.Load({}, std::string_view(artifact_).substr(0, artifact_.size() / 2));
  EXPECT_THAT(std::string(half.status().message()),
              StartsWith("artifact is not a valid ONNX model: "));
}

}  // namespace
}  // namespace stoa::functions
