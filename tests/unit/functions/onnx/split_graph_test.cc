// Split inference in the engine (split_graph.h, split_invoke.h): which cuts
// are found, and prefix + suffix outputs equal the unsplit run for every cut
// of the example models (and of any model listed in STOA_SPLIT_MODELS,
// colon-separated, e.g. the published models bench/models/fetch.sh caches).
#include "functions/onnx/split_graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_split.h"
#include "functions/onnx/onnx_runtime.h"
#include "tests/fakes/functions/onnx_builders.h"

namespace stoa::functions {
namespace {

using ::testing::ElementsAre;
using testing::Floats;
using testing::FloatTensor;
using ::testing::HasSubstr;
using testing::MakeModel;
using testing::MakeNode;
using testing::ValueInfo;

std::string Serialized(const ::onnx::ModelProto& m) { return m.SerializeAsString(); }

v1::FunctionSpec SplitSpec(const std::string& name) {
  v1::FunctionSpec spec;
  spec.set_name(name);
  spec.set_runtime("onnx");
  spec.set_split(true);
  return spec;
}

// x → a=Relu → (b=Relu(a), c=Sigmoid(a)) → d=Add(b,c) → e=Relu(d): single
// tensors cross only after a and after d.
::onnx::ModelProto Diamond(bool reads_input_late) {
  std::vector<::onnx::NodeProto> nodes = {
      MakeNode("Relu", "na", {"x"}, {"a"}), MakeNode("Relu", "nb", {"a"}, {"b"}),
      MakeNode("Sigmoid", "nc", {"a"}, {"c"}), MakeNode("Add", "nd", {"b", "c"}, {"d"}),
      MakeNode("Relu", "ne", {"d"}, {"e"})};
  if (reads_input_late) nodes.back() = MakeNode("Add", "ne", {"d", "x"}, {"e"});
  return MakeModel(nodes, {ValueInfo("x", {1, 4})}, {ValueInfo("e", {1, 4})});
}

TEST(SplitGraphTest, FindsOnlySingleTensorCuts) {
  OnnxRuntime rt;
  absl::StatusOr<LoadedFunctionPtr> fn = rt.Load(SplitSpec("diamond"), Serialized(Diamond(false)));
  ASSERT_TRUE(fn.ok()) << fn.status();
  std::vector<std::string> names;
  for (const v1::SplitCut& c : (*fn)->spec().split_cuts()) names.push_back(c.tensor());
  EXPECT_THAT(names, ElementsAre("a", "d"));
  EXPECT_EQ((*fn)->spec().split_cuts(0).bytes(), 16);
  EXPECT_THAT((*fn)->spec().split_cuts(0).shape(), ElementsAre(1, 4));
  EXPECT_GT((*fn)->spec().split_cuts(1).prefix_cost(), (*fn)->spec().split_cuts(0).prefix_cost());
}

TEST(SplitGraphTest, ASuffixThatReadsAGraphInputIsNoCut) {
  OnnxRuntime rt;
  absl::StatusOr<LoadedFunctionPtr> fn = rt.Load(SplitSpec("late"), Serialized(Diamond(true)));
  ASSERT_FALSE(fn.ok());
  EXPECT_THAT(fn.status().message(), HasSubstr("split: the model has no cut point"));
  v1::FunctionSpec plain = SplitSpec("late");
  plain.set_split(false);
  EXPECT_TRUE(rt.Load(plain, Serialized(Diamond(true))).ok());
}

TEST(SplitGraphTest, BadPartsAreRefusedByName) {
  OnnxRuntime rt;
  v1::FunctionSpec plain = SplitSpec("diamond");
  plain.set_split(false);
  absl::StatusOr<LoadedFunctionPtr> unsplit = rt.Load(plain, Serialized(Diamond(false)));
  absl::StatusOr<LoadedFunctionPtr> fn = rt.Load(SplitSpec("diamond"), Serialized(Diamond(false)));
  ASSERT_TRUE(fn.ok() && unsplit.ok());
  InvocationInput in;
  in.tensors.push_back(FloatTensor("x", {1, 4}, {1, -2, 3, -4}));
  in.part = GraphPart::kPrefix;
  in.split_cut = "a";
  EXPECT_THAT((*unsplit)->Invoke(in).status().message(), HasSubstr("not registered with"));
  in.split_cut = "b";
  absl::StatusOr<InvocationOutput> bad = (*fn)->Invoke(in);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("no cut point 'b'; its cuts are: a, d"));
  in.part = GraphPart::kSuffix;
  in.split_cut = "d";
  in.tensors = {FloatTensor("d", {1, 3}, {1, 2, 3})};
  EXPECT_THAT((*fn)->Invoke(in).status().message(), HasSubstr("expected shape [1,4]"));
}

// Inputs for a function's declared FP32 inputs, symbolic dims as 1; false
// when an input is not FP32.
bool RandomInputs(const v1::FunctionSpec& spec, std::mt19937& rng, InvocationInput& in) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (const v1::TensorSignature& s : spec.inputs()) {
    if (s.datatype() != v1::FP32) return false;
    std::vector<int64_t> shape;
    int64_t n = 1;
    for (int64_t d : s.shape()) shape.push_back(d < 0 ? 1 : d), n *= shape.back();
    std::vector<float> values(n);
    for (float& v : values) v = dist(rng);
    in.tensors.push_back(FloatTensor(s.name(), shape, values));
  }
  return true;
}

// Runs every cut of `model` as prefix then suffix and compares with the
// unsplit run; returns how many cuts were checked.
// With `lenient`, an unsplit run that fails on the synthetic inputs (a
// symbolic dimension of 1 the model cannot take) checks nothing.
int CheckEveryCut(const std::string& name, const std::string& bytes, bool lenient = false) {
  OnnxRuntime rt;
  absl::StatusOr<LoadedFunctionPtr> fn = rt.Load(SplitSpec(name), bytes);
  EXPECT_TRUE(fn.ok()) << name << ": " << fn.status();
  if (!fn.ok()) return 0;
  std::mt19937 rng(7);
  InvocationInput whole;
  if (!RandomInputs((*fn)->spec(), rng, whole)) return 0;
  absl::StatusOr<InvocationOutput> expected = (*fn)->Invoke(whole);
  if (lenient && !expected.ok()) {
    std::cout << name << ": unsplit run fails on synthetic inputs: " << expected.status() << "\n";
    return 0;
  }
  EXPECT_TRUE(expected.ok()) << name << ": " << expected.status();
  if (!expected.ok()) return 0;
  int checked = 0;
  for (const v1::SplitCut& cut : (*fn)->spec().split_cuts()) {
    InvocationInput prefix = whole;
    prefix.part = GraphPart::kPrefix;
    prefix.split_cut = cut.tensor();
    absl::StatusOr<InvocationOutput> mid = (*fn)->Invoke(prefix);
    EXPECT_TRUE(mid.ok()) << name << " cut " << cut.tensor() << ": " << mid.status();
    if (!mid.ok()) continue;
    EXPECT_EQ(mid->tensors.size(), 1u);
    EXPECT_EQ(mid->tensors[0].name(), cut.tensor());
    if (cut.bytes() >= 0) {
      EXPECT_EQ(static_cast<int64_t>(mid->tensors[0].raw().size()), cut.bytes());
    }
    InvocationInput suffix;
    suffix.part = GraphPart::kSuffix;
    suffix.split_cut = cut.tensor();
    suffix.tensors = std::move(mid->tensors);
    absl::StatusOr<InvocationOutput> got = (*fn)->Invoke(suffix);
    EXPECT_TRUE(got.ok()) << name << " cut " << cut.tensor() << ": " << got.status();
    if (!got.ok()) continue;
    EXPECT_EQ(got->tensors.size(), expected->tensors.size());
    for (size_t o = 0; o < got->tensors.size() && o < expected->tensors.size(); ++o) {
      EXPECT_EQ(got->tensors[o].name(), expected->tensors[o].name());
      if (expected->tensors[o].datatype() != v1::FP32) {
        EXPECT_EQ(got->tensors[o].raw(), expected->tensors[o].raw());
        continue;
      }
      const std::vector<float> a = Floats(got->tensors[o]), b = Floats(expected->tensors[o]);
      EXPECT_EQ(a.size(), b.size()) << name << " cut " << cut.tensor();
      if (a.size() != b.size()) continue;
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_NEAR(a[i], b[i], 1e-5 * std::max(1.0f, std::fabs(b[i])))
            << name << " cut " << cut.tensor() << " output " << o << " [" << i << "]";
      }
    }
    ++checked;
  }
  return checked;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string SourceDir() {
  const char* src = std::getenv("STOA_SOURCE_DIR");
  return src != nullptr ? src : ".";
}

TEST(SplitGraphTest, EveryCutOfTheExampleModelsMatchesTheUnsplitRun) {
  EXPECT_GE(CheckEveryCut("diamond", Serialized(Diamond(false))), 2);
  for (const char* model :
       {"/functions/examples/lenet/lenet.onnx", "/functions/examples/digits/digits.onnx"}) {
    const std::string bytes = ReadBytes(SourceDir() + model);
    ASSERT_FALSE(bytes.empty()) << model;
    EXPECT_GE(CheckEveryCut(model, bytes), 1) << model;
  }
}

TEST(SplitGraphTest, EveryCutOfPublishedModelsMatchesTheUnsplitRun) {
  const char* list = std::getenv("STOA_SPLIT_MODELS");
  if (list == nullptr) GTEST_SKIP() << "STOA_SPLIT_MODELS not set";
  for (absl::string_view path : absl::StrSplit(list, ':', absl::SkipEmpty())) {
    const std::string bytes = ReadBytes(std::string(path));
    ASSERT_FALSE(bytes.empty()) << path;
    OnnxRuntime rt;
    if (!rt.Load(SplitSpec("m"), bytes).ok()) continue;  // no cut, or not loadable
    std::cout << path << ": " << CheckEveryCut(std::string(path), bytes, /*lenient=*/true)
              << " cuts checked\n";
  }
}

}  // namespace
}  // namespace stoa::functions
