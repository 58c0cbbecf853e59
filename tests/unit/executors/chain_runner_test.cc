// RunChain over a small real Executor that appends the function's name to
// the bytes it gets (or answers its tensors back): the stages run in order
// on the previous answer, converted by the data-passing rule; the answer
// carries every stage's times; an error is labelled with its stage; a
// missing stage is NOT_FOUND before anything runs; a passed deadline stops
// the chain.
#include "executors/chain_runner.h"

#include <map>
#include <set>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::executors {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class AppendingExecutor final : public Executor {
 public:
  explicit AppendingExecutor(common::FakeClock& clock) : clock_(clock) {}
  using Executor::Invoke;
  void Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr) override {
    ran.push_back(request.function());
    timeouts.push_back(request.timeout_ms());
    clock_.AdvanceMicros(2000);
    if (auto it = errors.find(request.function()); it != errors.end()) return done(it->second);
    v1::InvokeResponse response;
    response.set_queue_us(10 * ran.size());
    response.set_exec_us(100 * ran.size());
    response.set_queue_depth(4);
    response.set_device("cpu");
    if (request.inputs_size() > 0) {
      *response.mutable_outputs() = request.inputs();  // an onnx-like stage: tensors back
    } else {
      response.set_raw(request.raw() + "|" + request.function());
    }
    done(std::move(response));
  }
  void LoadFunction(v1::LoadFunctionRequest, LoadCallback done) override {
    done(absl::UnimplementedError("not here"));
  }
  void UnloadFunction(v1::UnloadFunctionRequest, UnloadCallback done) override {
    done(absl::UnimplementedError("not here"));
  }
  void GetStatus(StatusCallback done) override {
    v1::GetStatusResponse status;
    for (const std::string& f : loaded) {
      v1::LoadedFunction* l = status.add_functions();
      l->set_function(f);
      l->set_sha256("sha-" + f);
    }
    done(std::move(status));
  }
  std::string Describe() const override { return "appending"; }

  std::set<std::string> loaded{"a", "b", "c", "m"};
  std::map<std::string, absl::Status> errors;
  std::vector<std::string> ran;
  std::vector<uint32_t> timeouts;

 private:
  common::FakeClock& clock_;
};

v1::ChainStage Wasm(const std::string& name, int index) {
  v1::ChainStage s;
  s.set_function(name);
  s.set_sha256("sha-" + name);
  s.set_label("stage " + std::to_string(index) + " (" + name + ")");
  s.set_runtime("wasm");
  return s;
}

class ChainRunnerTest : public ::testing::Test {
 protected:
  ChainRunnerTest() : executor_(clock_) {
    request_.set_function("a");
    request_.set_sha256("sha-a");
    request_.set_raw("in");
    *request_.add_chain() = Wasm("b", 2);
    *request_.add_chain() = Wasm("c", 3);
  }
  absl::StatusOr<v1::InvokeResponse> Run() {
    absl::StatusOr<v1::InvokeResponse> out = absl::UnknownError("not answered");
    RunChain(
        executor_, clock_, request_, [&out](absl::StatusOr<v1::InvokeResponse> r) { out = r; },
        nullptr);
    return out;
  }

  common::FakeClock clock_;
  AppendingExecutor executor_;
  v1::InvokeRequest request_;
};

TEST_F(ChainRunnerTest, RunsTheStagesInOrderOnThePreviousAnswer) {
  absl::StatusOr<v1::InvokeResponse> r = Run();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->raw(), "in|a|b|c");
  EXPECT_EQ(executor_.ran, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(r->stages_size(), 3);
  EXPECT_EQ(r->stages(0).function(), "a");
  EXPECT_EQ(r->stages(2).function(), "c");
  EXPECT_EQ(r->stages(1).exec_us(), 200u);
  EXPECT_EQ(r->stages(0).output_bytes(), std::string("in|a").size());
  EXPECT_EQ(r->exec_us(), 100u);  // the first stage's own at the top
  EXPECT_EQ(r->queue_us(), 10u);
  EXPECT_EQ(r->queue_depth(), 4u);
}

TEST_F(ChainRunnerTest, BytesBecomeTheOnnxStagesSingleInput) {
  request_.set_raw(std::string(14, '\0'));  // + "|a": 16 bytes, four FP32
  v1::ChainStage model;
  model.set_function("m");
  model.set_sha256("sha-m");
  model.set_label("stage 2 (m)");
  model.set_runtime("onnx");
  v1::TensorSignature* input = model.add_inputs();
  input->set_name("x");
  input->set_datatype(v1::FP32);
  input->add_shape(-1);
  input->add_shape(2);
  request_.clear_chain();
  *request_.add_chain() = model;
  absl::StatusOr<v1::InvokeResponse> r = Run();
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->outputs_size(), 1);
  EXPECT_EQ(r->outputs(0).name(), "x");
  EXPECT_THAT(r->outputs(0).shape(), ::testing::ElementsAre(2, 2));
  // 9 bytes do not make FP32 [-1,2]: the stage is named.
  request_.set_raw("1234567");
  r = Run();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), StartsWith("stage 2 (m): got 9 bytes"));
}

TEST_F(ChainRunnerTest, AnErrorIsLabelledWithItsStage) {
  executor_.errors["b"] = absl::InternalError("trap");
  absl::StatusOr<v1::InvokeResponse> r = Run();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(r.status().message(), "stage 2 (b): trap");
  EXPECT_EQ(executor_.ran, (std::vector<std::string>{"a", "b"}));
  // The first stage's errors are left for the caller to label.
  executor_.errors = {{"a", absl::InvalidArgumentError("bad input")}};
  EXPECT_EQ(Run().status().message(), "bad input");
}

TEST_F(ChainRunnerTest, AMissingStageIsNotFoundBeforeAnythingRuns) {
  executor_.loaded.erase("c");
  absl::StatusOr<v1::InvokeResponse> r = Run();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("stage 3 (c): function 'c'"));
  EXPECT_TRUE(executor_.ran.empty());
}

TEST_F(ChainRunnerTest, EachStageGetsWhatRemainsOfTheTimeoutAndAPassedOneStops) {
  request_.set_timeout_ms(5);  // each stage takes 2 ms of the fake clock
  absl::StatusOr<v1::InvokeResponse> r = Run();
  EXPECT_EQ(executor_.timeouts, (std::vector<uint32_t>{5, 3, 1}));
  ASSERT_TRUE(r.ok()) << r.status();
  request_.set_timeout_ms(3);
  executor_.ran.clear();
  r = Run();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(r.status().message()), StartsWith("stage 3 (c): not started"));
}

}  // namespace
}  // namespace stoa::executors
