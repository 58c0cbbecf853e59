// Dynamic batching through the InProcessExecutor: with the real digits model
// (outputs equal to unbatched runs) and with a small recording runtime
// (max_batch, max_delay_us, error propagation). Time is only bounded from
// above with wide slack, or from below (a timer never fires early).
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "executors/in_process_executor.h"
#include "gtest/gtest.h"
#include "tests/fakes/executors/fake_runtime.h"

namespace stoa::executors {
namespace {

using ::stoa::executors::testing::Await;
using ::stoa::executors::testing::FloatValues;

v1::Tensor Matrix(const std::string& name, int64_t rows, int64_t cols,
                  const std::vector<float>& values) {
  v1::Tensor t;
  t.set_name(name);
  t.set_datatype(v1::FP32);
  t.add_shape(rows);
  t.add_shape(cols);
  t.set_raw(values.data(), values.size() * sizeof(float));
  return t;
}

// Runtime "rows": y = x; records the first dimension of every run. A
// negative input value fails the run with INVALID_ARGUMENT.
struct RowLog {
  absl::Mutex mu;
  std::vector<int64_t> runs ABSL_GUARDED_BY(mu);
  std::vector<int64_t> Runs() {
    absl::MutexLock lock(&mu);
    return runs;
  }
};

class RowsFunction final : public functions::LoadedFunction {
 public:
  RowsFunction(v1::FunctionSpec spec, RowLog* log) : spec_(std::move(spec)), log_(log) {}
  const v1::FunctionSpec& spec() const override { return spec_; }
  absl::StatusOr<functions::InvocationOutput> Invoke(
      const functions::InvocationInput& input) override {
    {
      absl::MutexLock lock(&log_->mu);
      log_->runs.push_back(input.tensors.at(0).shape(0));
    }
    for (float f : FloatValues(input.tensors[0])) {
      if (f < 0) return absl::InvalidArgumentError("negative input");
    }
    functions::InvocationOutput out;
    out.tensors.push_back(input.tensors[0]);
    out.tensors[0].set_name("y");
    return out;
  }

 private:
  const v1::FunctionSpec spec_;
  RowLog* log_;
};

class RowsRuntime final : public functions::FunctionRuntime {
 public:
  explicit RowsRuntime(RowLog* log) : log_(log) {}
  std::string_view name() const override { return "rows"; }
  absl::StatusOr<functions::LoadedFunctionPtr> Load(const v1::FunctionSpec& spec,
                                                    std::string_view) override {
    return std::make_unique<RowsFunction>(spec, log_);
  }

 private:
  RowLog* log_;
};

v1::LoadFunctionRequest LoadRequest(const std::string& name, const std::string& runtime,
                                    std::string artifact, uint32_t max_batch,
                                    uint32_t max_delay_us) {
  v1::LoadFunctionRequest load;
  load.mutable_spec()->set_name(name);
  load.mutable_spec()->set_runtime(runtime);
  load.mutable_spec()->mutable_batching()->set_max_batch(max_batch);
  load.mutable_spec()->mutable_batching()->set_max_delay_us(max_delay_us);
  load.set_artifact(std::move(artifact));
  return load;
}

using Future = std::future<absl::StatusOr<v1::InvokeResponse>>;

Future InvokeAsync(Executor& ex, const std::string& function, v1::Tensor input) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<v1::InvokeResponse>>>();
  Future f = promise->get_future();
  v1::InvokeRequest request;
  request.set_function(function);
  *request.add_inputs() = std::move(input);
  ex.Invoke(std::move(request),
            [promise](absl::StatusOr<v1::InvokeResponse> r) { promise->set_value(std::move(r)); });
  return f;
}

absl::StatusOr<v1::InvokeResponse> Get(Future& f) {
  if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return absl::DeadlineExceededError("test: no answer within 10 s");
  }
  return f.get();
}

class RowsExecutorTest : public ::testing::Test {
 protected:
  RowsExecutorTest() {
    runtimes_.Add(std::make_unique<RowsRuntime>(&log_));
    ex_ = std::make_unique<InProcessExecutor>(runtimes_, InProcessExecutor::Options{2, "cpu", ""},
                                              nullptr);
  }
  void Load(uint32_t max_batch, uint32_t max_delay_us) {
    auto r = Await<v1::LoadFunctionResponse>([&](auto done) {
      ex_->LoadFunction(LoadRequest("f", "rows", "a", max_batch, max_delay_us), done);
    });
    ASSERT_TRUE(r.ok()) << r.status();
  }
  RowLog log_;
  functions::RuntimeSet runtimes_;
  std::unique_ptr<InProcessExecutor> ex_;
};

TEST_F(RowsExecutorTest, MaxBatchIsRespectedAndEveryRequestGetsItsOwnRows) {
  Load(4, 300'000);
  std::vector<Future> futures;
  for (int i = 0; i < 10; ++i) {
    futures.push_back(InvokeAsync(*ex_, "f", Matrix("x", 1, 2, {float(i), float(i) + 0.5f})));
  }
  for (int i = 0; i < 10; ++i) {
    auto r = Get(futures[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(FloatValues(r->outputs(0)), (std::vector<float>{float(i), float(i) + 0.5f}));
    EXPECT_EQ(r->outputs(0).shape(0), 1);
  }
  std::vector<int64_t> runs = log_.Runs();
  int64_t total = 0;
  for (int64_t rows : runs) {
    EXPECT_LE(rows, 4);
    total += rows;
  }
  EXPECT_EQ(total, 10);
  EXPECT_LT(runs.size(), 10u) << "nothing was batched";
}

TEST_F(RowsExecutorTest, LoneRequestWaitsTheDelayButNotMuchLonger) {
  constexpr int64_t kDelayUs = 20'000;
  Load(64, kDelayUs);
  Future f = InvokeAsync(*ex_, "f", Matrix("x", 1, 1, {7}));
  auto r = Get(f);
  ASSERT_TRUE(r.ok()) << r.status();
  // The timer never fires early; the upper bound has generous slack.
  EXPECT_GE(static_cast<int64_t>(r->queue_us()), kDelayUs);
  EXPECT_LT(static_cast<int64_t>(r->queue_us()), kDelayUs + 2'000'000);
  EXPECT_EQ(log_.Runs(), (std::vector<int64_t>{1}));
}

TEST_F(RowsExecutorTest, MixedShapesAreNotStackedTogether) {
  Load(2, 200'000);
  Future a = InvokeAsync(*ex_, "f", Matrix("x", 1, 2, {1, 2}));
  Future b = InvokeAsync(*ex_, "f", Matrix("x", 1, 3, {3, 4, 5}));
  Future c = InvokeAsync(*ex_, "f", Matrix("x", 1, 2, {6, 7}));
  auto ra = Get(a), rb = Get(b), rc = Get(c);
  ASSERT_TRUE(ra.ok() && rb.ok() && rc.ok());
  EXPECT_EQ(FloatValues(ra->outputs(0)), (std::vector<float>{1, 2}));
  EXPECT_EQ(FloatValues(rb->outputs(0)), (std::vector<float>{3, 4, 5}));
  EXPECT_EQ(FloatValues(rc->outputs(0)), (std::vector<float>{6, 7}));
  std::vector<int64_t> runs = log_.Runs();
  std::sort(runs.begin(), runs.end());
  EXPECT_EQ(runs, (std::vector<int64_t>{1, 2}));
}

TEST_F(RowsExecutorTest, AnErrorReachesEveryMemberOfTheBatch) {
  Load(2, 1'000'000);
  Future good = InvokeAsync(*ex_, "f", Matrix("x", 1, 1, {1}));
  Future bad = InvokeAsync(*ex_, "f", Matrix("x", 1, 1, {-1}));
  auto rg = Get(good), rb = Get(bad);
  EXPECT_EQ(rg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rb.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log_.Runs(), (std::vector<int64_t>{2}));
}

TEST_F(RowsExecutorTest, UnloadWithPendingRequestsStillAnswersThem) {
  Load(8, 100'000);
  Future f = InvokeAsync(*ex_, "f", Matrix("x", 1, 1, {3}));
  auto u = Await<v1::UnloadFunctionResponse>([&](auto done) {
    v1::UnloadFunctionRequest req;
    req.set_function("f");
    ex_->UnloadFunction(req, done);
  });
  ASSERT_TRUE(u.ok());
  auto r = Get(f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(FloatValues(r->outputs(0)), (std::vector<float>{3}));
}

// The real example models: batched answers equal unbatched ones.
class BatchingExampleTest : public ::testing::TestWithParam<const char*> {};

TEST_P(BatchingExampleTest, BatchedOutputsEqualUnbatchedRuns) {
  const std::string model_name = GetParam();
  const char* source = std::getenv("STOA_SOURCE_DIR");
  const std::filesystem::path path = std::filesystem::path(source ? source : ".") /
                                     "functions/examples" / model_name / (model_name + ".onnx");
  std::ifstream model_file(path, std::ios::binary);
  if (!model_file) GTEST_SKIP() << "no " << path;
  functions::RuntimeSet runtimes = functions::DefaultRuntimes();
  if (runtimes.Find("onnx") == nullptr) GTEST_SKIP() << "no onnx runtime in this build";
  std::stringstream model;
  model << model_file.rdbuf();
  // Every request is sent at once: the unbatched ones queue past 4 per worker.
  InProcessExecutor ex(runtimes, InProcessExecutor::Options{2, "cpu", "", /*max_queue=*/1000},
                       nullptr);
  for (auto [name, max_batch] : {std::pair<const char*, uint32_t>{"plain", 0}, {"batched", 8}}) {
    auto r = Await<v1::LoadFunctionResponse>([&](auto done) {
      ex.LoadFunction(LoadRequest(name, "onnx", model.str(), max_batch, 500'000), done);
    });
    if (!r.ok() && model_name == "lenet") GTEST_SKIP() << "engine refuses lenet: " << r.status();
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // 16 images (two full batches) with varied pixels 0..16; digits takes
  // [1,64], lenet [1,1,8,8].
  auto image = [&](size_t i) {
    std::vector<float> px(64);
    for (size_t p = 0; p < 64; ++p) px[p] = static_cast<float>((i * 7 + p * 13) % 17);
    v1::Tensor t = Matrix("pixels", 1, 64, px);
    if (model_name == "lenet") {
      t.clear_shape();
      for (int64_t d : {1, 1, 8, 8}) t.add_shape(d);
    }
    return t;
  };
  std::vector<Future> batched;
  for (size_t i = 0; i < 16; ++i) batched.push_back(InvokeAsync(ex, "batched", image(i)));
  for (size_t i = 0; i < 16; ++i) {
    Future plain_f = InvokeAsync(ex, "plain", image(i));
    auto plain = Get(plain_f);
    auto got = Get(batched[i]);
    ASSERT_TRUE(plain.ok()) << plain.status();
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->outputs(0).shape_size(), 2);
    EXPECT_EQ(got->outputs(0).shape(0), 1);
    EXPECT_EQ(got->outputs(0).shape(1), 10);
    std::vector<float> a = FloatValues(plain->outputs(0));
    std::vector<float> b = FloatValues(got->outputs(0));
    ASSERT_EQ(a.size(), b.size());
    // A batch and a single image may take different GEMM kernels (a Conv
    // with few output positions runs ThinGemm at batch 1), which sum in
    // another order: equal to FP32 rounding, not bit for bit.
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_NEAR(a[k], b[k], 1e-5 * (1 + std::abs(a[k]))) << "image " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, BatchingExampleTest, ::testing::Values("digits", "lenet"));

}  // namespace
}  // namespace stoa::executors
