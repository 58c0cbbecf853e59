// The pipeline spec rules: JSON form, registration checks (stages exist,
// same tenant, no nesting, signatures that fit by position) and the rules
// for replacing and deleting stages, on a real registry in a temp dir.
#include "gateway/pipeline_spec.h"

#include <filesystem>
#include <map>

#include "gateway/function_registry.h"
#include "gateway/pipeline_lifecycle.h"
#include "gateway/spec_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::TensorSignature Sig(const std::string& name, v1::DataType type, std::vector<int64_t> shape) {
  v1::TensorSignature s;
  s.set_name(name);
  s.set_datatype(type);
  for (int64_t d : shape) s.add_shape(d);
  return s;
}

v1::FunctionSpec Onnx(const std::string& name, std::vector<v1::TensorSignature> in,
                      std::vector<v1::TensorSignature> out) {
  v1::FunctionSpec spec;
  spec.set_name(name);
  spec.set_runtime("onnx");
  for (auto& s : in) *spec.add_inputs() = s;
  for (auto& s : out) *spec.add_outputs() = s;
  return spec;
}

v1::FunctionSpec Wasm(const std::string& name) {
  v1::FunctionSpec spec;
  spec.set_name(name);
  spec.set_runtime("wasm");
  spec.set_content_type("application/json");
  return spec;
}

v1::FunctionSpec Pipeline(const std::string& name, std::vector<std::string> stages) {
  v1::FunctionSpec spec;
  spec.set_name(name);
  spec.set_runtime("pipeline");
  for (auto& s : stages) spec.add_stages()->set_function(s);
  return spec;
}

class PipelineSpecTest : public ::testing::Test {
 protected:
  void Add(v1::FunctionSpec spec) { functions_[spec.name()] = std::move(spec); }
  absl::Status Resolve(v1::FunctionSpec& pipeline) {
    return ResolvePipeline(pipeline,
                           [this](const std::string& n) -> absl::StatusOr<v1::FunctionSpec> {
                             auto it = functions_.find(n);
                             if (it == functions_.end())
                               return absl::NotFoundError("no such function");
                             return it->second;
                           });
  }
  void SetUp() override {
    Add(Wasm("pre"));
    Add(Onnx("digits", {Sig("pixels", v1::FP32, {-1, 64})},
             {Sig("probabilities", v1::FP32, {-1, 10})}));
    Add(Onnx("head", {Sig("x", v1::FP32, {-1, 10})}, {Sig("y", v1::FP32, {-1, 2})}));
    Add(Wasm("post"));
  }
  std::map<std::string, v1::FunctionSpec> functions_;
};

TEST_F(PipelineSpecTest, ParsesStagesFromJson) {
  auto spec = ParseFunctionSpec(
      R"({"name":"ocr","runtime":"pipeline","stages":[{"function":"pre"},{"function":"digits","tier":"cloud"}]})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->stages_size(), 2);
  EXPECT_EQ(spec->stages(1).function(), "digits");
  EXPECT_EQ(spec->stages(1).tier(), "cloud");
  EXPECT_EQ(FunctionSpecToJson(*spec)["stages"].dump(),
            R"([{"function":"pre"},{"function":"digits","tier":"cloud"}])");
}

TEST_F(PipelineSpecTest, RefusesBadStageLists) {
  auto refusal = [](const std::string& json) {
    auto spec = ParseFunctionSpec(json);
    return spec.ok() ? std::string("accepted") : std::string(spec.status().message());
  };
  EXPECT_THAT(refusal(R"({"name":"p","runtime":"pipeline"})"),
              HasSubstr("a pipeline needs 'stages'"));
  EXPECT_THAT(refusal(R"({"name":"p","runtime":"pipeline","stages":[]})"),
              HasSubstr("must be an array of 1 to 16 stages"));
  std::string seventeen = R"({"name":"p","runtime":"pipeline","stages":[)";
  for (int i = 0; i < 17; ++i) seventeen += std::string(i ? "," : "") + R"({"function":"pre"})";
  EXPECT_THAT(refusal(seventeen + "]}"), HasSubstr("1 to 16 stages {\"function\": NAME}, got 17"));
  EXPECT_THAT(refusal(R"({"name":"p","runtime":"pipeline","stages":[{"fn":"a"}]})"),
              HasSubstr("'stages[0]' has unknown field 'fn'"));
  EXPECT_THAT(
      refusal(R"({"name":"p","runtime":"pipeline","stages":[{"function":"a","tier":"moon"}]})"),
      HasSubstr("field 'tier' must be \"edge\" or \"cloud\", got \"moon\""));
  EXPECT_THAT(refusal(R"({"name":"p","runtime":"pipeline","stages":[{"function":"../x"}]})"),
              HasSubstr("'stages[0]': function name '../x'"));
  EXPECT_THAT(refusal(R"({"name":"p","runtime":"wasm","stages":[{"function":"a"}]})"),
              HasSubstr("only for runtime \"pipeline\""));
}

TEST_F(PipelineSpecTest, DerivesTheSignatureFromTheEnds) {
  v1::FunctionSpec p = Pipeline("ocr", {"pre", "digits", "post"});
  ASSERT_TRUE(Resolve(p).ok()) << Resolve(p);
  EXPECT_EQ(p.inputs_size(), 0);  // the first stage is wasm: bytes in
  EXPECT_EQ(p.outputs_size(), 0);
  EXPECT_EQ(p.content_type(), "application/json");
  EXPECT_FALSE(TakesTensors(p));
  v1::FunctionSpec q = Pipeline("q", {"digits", "head"});
  ASSERT_TRUE(Resolve(q).ok()) << Resolve(q);
  ASSERT_EQ(q.inputs_size(), 1);
  EXPECT_EQ(q.inputs(0).name(), "pixels");
  EXPECT_EQ(q.outputs(0).name(), "y");
  EXPECT_TRUE(TakesTensors(q));
  EXPECT_TRUE(AnswersTensors(q));
}

TEST_F(PipelineSpecTest, NamesTheStageThatDoesNotExistOrNests) {
  v1::FunctionSpec p = Pipeline("ocr", {"pre", "detect"});
  EXPECT_EQ(Resolve(p).message(),
            "stage 2 (detect): function 'detect' not found (register it first)");
  Add(Pipeline("inner", {"pre"}));
  v1::FunctionSpec nested = Pipeline("outer", {"inner"});
  EXPECT_THAT(Resolve(nested).message(),
              HasSubstr("stage 1 (inner): 'inner' is itself a pipeline"));
  v1::FunctionSpec self = Pipeline("self", {"pre", "self"});
  EXPECT_THAT(Resolve(self).message(),
              HasSubstr("stage 2 (self): a pipeline cannot be a stage of itself"));
}

TEST_F(PipelineSpecTest, StagesBelongToThePipelinesTenant) {
  v1::FunctionSpec theirs = Wasm("theirs");
  theirs.set_tenant("globex");
  Add(theirs);
  v1::FunctionSpec p = Pipeline("mine", {"theirs"});
  p.set_tenant("acme");
  // A tenant learns nothing of another's functions.
  EXPECT_EQ(Resolve(p).message(),
            "stage 1 (theirs): function 'theirs' not found (register it first)");
  v1::FunctionSpec q = Pipeline("shared", {"theirs"});
  EXPECT_THAT(Resolve(q).message(), HasSubstr("belongs to tenant 'globex'"));
  EXPECT_EQ(Resolve(p).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PipelineSpecTest, NamesTheMismatchBetweenStages) {
  v1::FunctionSpec p = Pipeline("bad", {"head", "digits"});
  EXPECT_EQ(Resolve(p).message(),
            "stage 2 (digits): does not take what stage 1 (head) produces: output 0 'y' FP32 "
            "[-1,2] does not fit input 0 'pixels' FP32 [-1,64]: dimension 1");
  Add(Onnx("ints", {Sig("x", v1::INT64, {-1, 10})}, {Sig("y", v1::FP32, {1})}));
  v1::FunctionSpec types = Pipeline("types", {"digits", "ints"});
  EXPECT_THAT(Resolve(types).message(), HasSubstr(": datatype"));
  Add(Onnx("rank", {Sig("x", v1::FP32, {10})}, {Sig("y", v1::FP32, {1})}));
  v1::FunctionSpec rank = Pipeline("rank-p", {"digits", "rank"});
  EXPECT_THAT(Resolve(rank).message(), HasSubstr(": rank"));
  Add(Onnx("two", {Sig("a", v1::FP32, {-1, 10}), Sig("b", v1::FP32, {-1, 10})},
           {Sig("y", v1::FP32, {1})}));
  v1::FunctionSpec count = Pipeline("count", {"digits", "two"});
  EXPECT_THAT(Resolve(count).message(),
              HasSubstr("'digits' has 1 outputs but 'two' takes 2 inputs"));
  // bytes into an input with two dynamic dimensions cannot be shaped
  Add(Onnx("dyn", {Sig("x", v1::FP32, {-1, -1})}, {Sig("y", v1::FP32, {1})}));
  v1::FunctionSpec dyn = Pipeline("dyn-p", {"pre", "dyn"});
  EXPECT_THAT(Resolve(dyn).message(), HasSubstr("stage 2 (dyn): does not take what stage 1 (pre)"));
  // anything feeds a wasm stage
  v1::FunctionSpec ok = Pipeline("ok", {"head", "post"});
  EXPECT_TRUE(Resolve(ok).ok());
}

TEST(PipelinesUsingTest, FindsThePipelinesOfAStage) {
  std::vector<v1::FunctionSpec> all = {Pipeline("b", {"x", "y"}), Wasm("x"), Pipeline("a", {"y"}),
                                       Pipeline("c", {"z"})};
  EXPECT_THAT(PipelinesUsing("y", all), ElementsAre("a", "b"));
  EXPECT_TRUE(PipelinesUsing("x2", all).empty());
}

class PipelineLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("stoa_pipeline_spec_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto registry = FunctionRegistry::Open(dir_.string());
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Put(v1::FunctionSpec spec) {
    const std::string artifact = IsPipeline(spec) ? PipelineArtifact(spec) : "artifact";
    ASSERT_TRUE(registry_->Put(std::move(spec), artifact, true).ok());
  }
  std::filesystem::path dir_;
  std::unique_ptr<FunctionRegistry> registry_;
};

TEST_F(PipelineLifecycleTest, DeletingAStageInUseIsRefusedNamingThePipeline) {
  Put(Wasm("pre"));
  Put(Onnx("digits", {Sig("pixels", v1::FP32, {-1, 64})}, {Sig("p", v1::FP32, {-1, 10})}));
  v1::FunctionSpec p = Pipeline("ocr", {"pre", "digits"});
  ASSERT_TRUE(ResolveStages(*registry_, p).ok());
  Put(p);
  absl::Status s = CheckNotAStage(*registry_, "digits");
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s.message(),
            "function 'digits' is a stage of pipeline 'ocr': delete or change the pipeline first");
  EXPECT_TRUE(CheckNotAStage(*registry_, "ocr").ok());
}

TEST_F(PipelineLifecycleTest, AReplacementMustKeepItsPipelinesWorking) {
  Put(Wasm("pre"));
  Put(Onnx("digits", {Sig("pixels", v1::FP32, {-1, 64})}, {Sig("p", v1::FP32, {-1, 10})}));
  v1::FunctionSpec p = Pipeline("ocr", {"digits", "pre"});
  ASSERT_TRUE(ResolveStages(*registry_, p).ok());
  Put(p);
  // Turning a stage into a pipeline would nest: refused.
  auto nested = DependentsAfter(*registry_, Pipeline("digits", {"pre"}));
  EXPECT_EQ(nested.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(nested.status().message(),
              HasSubstr("'digits' is a stage of pipeline 'ocr', which this version would break"));
  // A new signature that still fits: the pipeline is stored again with it.
  const v1::FunctionSpec renamed =
      Onnx("digits", {Sig("img", v1::FP32, {-1, 64})}, {Sig("p", v1::FP32, {-1, 10})});
  auto wider = DependentsAfter(*registry_, renamed);
  ASSERT_TRUE(wider.ok()) << wider.status();
  ASSERT_EQ(wider->size(), 1u);
  EXPECT_EQ((*wider)[0].inputs(0).name(), "img");
  Put(renamed);  // as FunctionLifecycle::Register stores the function, then them
  StoreDependents(*registry_, *std::move(wider));
  auto stored = registry_->Get("ocr");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->spec.version(), 2u);
  EXPECT_EQ(stored->spec.inputs(0).name(), "img");
  // The same signature: nothing to store.
  auto same = DependentsAfter(*registry_, Wasm("pre"));
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->empty());
}

}  // namespace
}  // namespace stoa::gateway
