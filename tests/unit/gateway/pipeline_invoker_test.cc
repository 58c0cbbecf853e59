// PipelineInvoker over a small scripted Invoker (echo, per-function errors,
// a fake clock that advances per stage): stage order, data between stages,
// forced and pinned tiers, errors naming the stage, the headers, the
// pipeline's own deadline and the metrics.
#include "gateway/pipeline_invoker.h"

#include <map>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

using scheduler::Tier;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Echoes the request's bytes (with the function's name appended) after
// advancing the clock by 1 ms; placed on the edge unless forced.
class ScriptedStages final : public Invoker {
 public:
  explicit ScriptedStages(common::FakeClock& clock) : clock_(clock) {}
  void Invoke(const StoredFunction& function, v1::InvokeRequest request, std::optional<Tier> forced,
              DispatchCallback done, common::CancelSignalPtr /*cancel*/) override {
    calls.push_back({function.spec.name(), forced});
    clock_.AdvanceMicros(1000);
    if (auto it = errors.find(function.spec.name()); it != errors.end()) return done(it->second);
    DispatchResult r;
    r.tier = forced.value_or(Tier::kEdge);
    r.latency_ms = 1.0;
    r.predicted_ms = 0.5;
    *r.response.mutable_outputs() = request.inputs();
    r.response.set_raw(request.raw() + "|" + function.spec.name());
    done(std::move(r));
  }
  void Forget(const std::string&, const std::string&) override {}
  scheduler::TierSet configured_tiers() const override { return scheduler::TierSet::All(); }
  TierHealth Health(Tier) const override { return {}; }
  FunctionStats Stats(const std::string&, const std::string&) const override { return {}; }

  std::vector<std::pair<std::string, std::optional<Tier>>> calls;
  std::map<std::string, absl::Status> errors;

 private:
  common::FakeClock& clock_;
};

class PipelineInvokerTest : public ::testing::Test {
 protected:
  PipelineInvokerTest()
      : stages_(clock_),
        invoker_(
            stages_,
            [this](const std::string& name) -> absl::StatusOr<StoredFunction> {
              auto it = functions_.find(name);
              if (it == functions_.end()) {
                return absl::NotFoundError("function '" + name + "' not found");
              }
              return it->second;
            },
            clock_, metrics_) {
    for (const char* name : {"a", "b", "c"}) {
      StoredFunction f;
      f.spec.set_name(name);
      f.spec.set_runtime("wasm");
      functions_[name] = f;
    }
    pipeline_.spec.set_name("p");
    pipeline_.spec.set_runtime("pipeline");
    for (const char* name : {"a", "b", "c"}) pipeline_.spec.add_stages()->set_function(name);
  }

  absl::StatusOr<DispatchResult> Run(std::optional<Tier> forced = std::nullopt) {
    v1::InvokeRequest request;
    request.set_raw("in");
    absl::StatusOr<DispatchResult> out = absl::UnknownError("not answered");
    invoker_.Invoke(pipeline_, request, forced,
                    [&out](absl::StatusOr<DispatchResult> r) { out = std::move(r); });
    return out;
  }

  static std::string Header(const DispatchResult& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return "<none>";
  }

  common::FakeClock clock_;
  common::metrics::Registry metrics_;
  ScriptedStages stages_;
  std::map<std::string, StoredFunction> functions_;
  PipelineInvoker invoker_;
  StoredFunction pipeline_;
};

TEST_F(PipelineInvokerTest, RunsTheStagesInOrderPassingTheBytes) {
  auto r = Run();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->response.raw(), "in|a|b|c");
  EXPECT_EQ(Header(*r, "X-Stoa-Stage-Timings"), "a=edge:1.000ms,b=edge:1.000ms,c=edge:1.000ms");
  EXPECT_EQ(Header(*r, "X-Stoa-Pipeline-Overhead-Ms"), "0.000");
  EXPECT_DOUBLE_EQ(r->latency_ms, 3.0);
  EXPECT_DOUBLE_EQ(r->predicted_ms, 1.5);
  const std::string text = metrics_.Serialize();
  EXPECT_THAT(text, HasSubstr(R"(stoa_pipeline_invocations_total{outcome="ok",pipeline="p"} 1)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(stoa_pipeline_stage_duration_seconds_count{pipeline="p",stage="b",tier="edge"} 1)"));
}

TEST_F(PipelineInvokerTest, ForcedTierAppliesToAllStagesAndPinsToTheirs) {
  pipeline_.spec.mutable_stages(1)->set_tier("cloud");
  ASSERT_TRUE(Run().ok());
  ASSERT_EQ(stages_.calls.size(), 3u);
  EXPECT_EQ(stages_.calls[0].second, std::nullopt);
  EXPECT_EQ(stages_.calls[1].second, Tier::kCloud);
  EXPECT_EQ(stages_.calls[2].second, std::nullopt);
  stages_.calls.clear();
  auto r = Run(Tier::kEdge);
  ASSERT_TRUE(r.ok());
  for (const auto& call : stages_.calls) EXPECT_EQ(call.second, Tier::kEdge) << call.first;
}

TEST_F(PipelineInvokerTest, AFailingStageIsNamedAndEndsThePipeline) {
  stages_.errors["b"] = absl::ResourceExhaustedError("over limits.max_concurrency");
  auto r = Run();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status().message(), "stage 2 (b): over limits.max_concurrency");
  ASSERT_EQ(stages_.calls.size(), 2u);  // c never ran
  EXPECT_THAT(
      metrics_.Serialize(),
      HasSubstr(R"(stoa_pipeline_invocations_total{outcome="resource_exhausted",pipeline="p"} 1)"));
}

TEST_F(PipelineInvokerTest, AStageDeletedOrNestedSinceRegistrationIsNamed) {
  functions_.erase("c");
  EXPECT_EQ(Run().status().message(), "stage 3 (c): function 'c' not found");
  functions_["c"].spec.set_name("c");
  functions_["c"].spec.set_runtime("pipeline");
  EXPECT_THAT(Run().status().message(), HasSubstr("stage 3 (c): is now itself a pipeline"));
}

TEST_F(PipelineInvokerTest, ThePipelinesOwnDeadlineStopsBeforeTheNextStage) {
  pipeline_.spec.mutable_limits()->set_timeout_ms(2);  // each stage takes 1 ms here
  auto r = Run();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(),
            "stage 3 (c): not started: pipeline 'p' passed its deadline of 2 ms");
}

TEST_F(PipelineInvokerTest, OtherFunctionsGoStraightThrough) {
  v1::InvokeRequest request;
  request.set_raw("x");
  absl::StatusOr<DispatchResult> out = absl::UnknownError("not answered");
  invoker_.Invoke(functions_["a"], request, std::nullopt,
                  [&out](absl::StatusOr<DispatchResult> r) { out = std::move(r); });
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->response.raw(), "x|a");
  EXPECT_TRUE(out->headers.empty());
}

TEST_F(PipelineInvokerTest, BytesBecomeTensorsForAnOnnxStage) {
  StoredFunction model;
  model.spec.set_name("m");
  model.spec.set_runtime("onnx");
  auto* in = model.spec.add_inputs();
  in->set_name("x");
  in->set_datatype(v1::UINT8);
  in->add_shape(-1);
  functions_["m"] = model;
  pipeline_.spec.clear_stages();
  pipeline_.spec.add_stages()->set_function("a");
  pipeline_.spec.add_stages()->set_function("m");
  auto r = Run();
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->response.outputs_size(), 1);
  EXPECT_EQ(r->response.outputs(0).name(), "x");
  EXPECT_EQ(r->response.outputs(0).raw(), "in|a");
  EXPECT_THAT(r->response.outputs(0).shape(), ElementsAre(4));
}

}  // namespace
}  // namespace stoa::gateway
