#include "executors/in_process_executor.h"

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/executors/fake_runtime.h"

namespace stoa::executors {
namespace {

using ::stoa::executors::testing::Await;
using ::stoa::executors::testing::FakeLoadRequest;
using ::stoa::executors::testing::FakeRuntime;
using ::stoa::executors::testing::FakeRuntimes;
using ::stoa::executors::testing::FloatTensor;
using ::stoa::executors::testing::FloatValues;
using ::stoa::executors::testing::Later;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<v1::LoadFunctionResponse> Load(Executor& ex, v1::LoadFunctionRequest request) {
  return Await<v1::LoadFunctionResponse>(
      [&](auto done) { ex.LoadFunction(std::move(request), done); });
}

v1::InvokeRequest Request(const std::string& function, const std::string& sha,
                          const std::vector<float>& x, uint32_t timeout_ms = 0) {
  v1::InvokeRequest request;
  request.set_function(function);
  request.set_sha256(sha);
  *request.add_inputs() = FloatTensor("x", x);
  request.set_timeout_ms(timeout_ms);
  return request;
}

absl::StatusOr<v1::InvokeResponse> Invoke(Executor& ex, v1::InvokeRequest request) {
  return Await<v1::InvokeResponse>([&](auto done) { ex.Invoke(std::move(request), done); });
}

// Every test runs on a FakeClock that only the fake functions move ("sleep"
// advances it), so timings are exact and nothing sleeps.
class InProcessExecutorTest : public ::testing::Test {
 protected:
  InProcessExecutorTest() : runtimes_(FakeRuntimes(&fake_, &clock_)) {}

  InProcessExecutor::Options Options(size_t threads) {
    InProcessExecutor::Options options;
    options.threads = threads;
    options.device = "cpu";
    options.device_name = "test cpu";
    options.clock = &clock_;
    return options;
  }

  common::FakeClock clock_{1'000'000};
  FakeRuntime* fake_ = nullptr;
  functions::RuntimeSet runtimes_;
  common::metrics::Registry registry_;
};

TEST_F(InProcessExecutorTest, LoadThenInvokeComputesOutputsAndTimings) {
  InProcessExecutor ex(runtimes_, Options(2), &registry_);
  auto loaded = Load(ex, FakeLoadRequest("inc", "plain"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->already_loaded());
  EXPECT_EQ(loaded->spec().sha256(), common::Sha256Hex("plain"));
  ASSERT_EQ(loaded->spec().inputs_size(), 1);
  EXPECT_EQ(loaded->spec().inputs(0).name(), "x");

  auto out = Invoke(ex, Request("inc", loaded->spec().sha256(), {1.0f, -2.5f, 10.0f}));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->outputs_size(), 1);
  EXPECT_EQ(out->outputs(0).name(), "y");
  EXPECT_THAT(FloatValues(out->outputs(0)), ElementsAre(2.0f, -1.5f, 11.0f));
  EXPECT_EQ(out->device(), "cpu");
  EXPECT_EQ(out->load_us(), 0u);
  EXPECT_EQ(out->queue_us(), 0u);  // no time passed on the executor's clock
  EXPECT_EQ(out->exec_us(), 0u);

  // An empty sha256 means the latest loaded version.
  auto latest = Invoke(ex, Request("inc", "", {0.0f}));
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_THAT(FloatValues(latest->outputs(0)), ElementsAre(1.0f));

  const std::string text = registry_.Serialize();
  EXPECT_THAT(text,
              HasSubstr("stoa_executor_invocations_total{function=\"inc\",outcome=\"ok\"} 2"));
  EXPECT_THAT(text, HasSubstr("stoa_executor_exec_seconds_count{function=\"inc\"} 2"));
}

TEST_F(InProcessExecutorTest, SecondLoadOfSameBytesIsAlreadyLoaded) {
  InProcessExecutor ex(runtimes_, Options(1), nullptr);
  auto first = Load(ex, FakeLoadRequest("inc", "sleep=20"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->already_loaded());
  auto second = Load(ex, FakeLoadRequest("inc", "sleep=20"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->already_loaded());
  EXPECT_EQ(second->load_us(), 0u);
  EXPECT_EQ(second->spec().sha256(), first->spec().sha256());
  EXPECT_EQ(fake_->loads(), 1);

  // Different bytes are a new version, both stay loaded.
  auto other = Load(ex, FakeLoadRequest("inc", "plain"));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->already_loaded());
  EXPECT_EQ(fake_->loads(), 2);
  auto status = Await<v1::GetStatusResponse>([&](auto done) { ex.GetStatus(done); });
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->functions_size(), 2);
}

TEST_F(InProcessExecutorTest, InvokeBeforeLoadIsNotFound) {
  InProcessExecutor ex(runtimes_, Options(1), &registry_);
  auto out = Invoke(ex, Request("ghost", "abc123", {1.0f}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("function 'ghost' version abc123 is not loaded"));

  // Loaded, but another version asked for.
  ASSERT_TRUE(Load(ex, FakeLoadRequest("inc", "plain")).ok());
  auto wrong = Invoke(ex, Request("inc", "0000", {1.0f}));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(InProcessExecutorTest, ShaMismatchAndBadArtifactAreInvalidArgument) {
  InProcessExecutor ex(runtimes_, Options(1), nullptr);
  auto request = FakeLoadRequest("inc", "plain");
  request.mutable_spec()->set_sha256(common::Sha256Hex("something else"));
  auto mismatch = Load(ex, request);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mismatch.status().message()), HasSubstr("does not match spec.sha256"));
  EXPECT_EQ(fake_->loads(), 0);

  auto bad = Load(ex, FakeLoadRequest("inc", "bad"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("not a valid function"));

  auto unknown = FakeLoadRequest("inc", "plain");
  unknown.mutable_spec()->set_runtime("wasm");
  auto no_runtime = Load(ex, unknown);
  EXPECT_EQ(no_runtime.status().code(), absl::StatusCode::kInvalidArgument);

  // A correct sha256 is accepted.
  auto good = FakeLoadRequest("inc", "plain");
  good.mutable_spec()->set_sha256(common::Sha256Hex("plain"));
  EXPECT_TRUE(Load(ex, good).ok());
}

TEST_F(InProcessExecutorTest, QueuedPastTimeoutFailsWithoutRunning) {
  InProcessExecutor ex(runtimes_, Options(1), &registry_);
  auto slow = Load(ex, FakeLoadRequest("slow", "sleep=200"));
  auto fast = Load(ex, FakeLoadRequest("fast", "plain"));
  ASSERT_TRUE(slow.ok() && fast.ok());

  fake_->gate().Hold();
  auto slow_result = Later<v1::InvokeResponse>(
      [&](auto done) { ex.Invoke(Request("slow", slow->spec().sha256(), {1.0f}), done); });
  fake_->gate().WaitUntilArrived(1);  // the only worker is busy with "slow"
  auto queued = Later<v1::InvokeResponse>([&](auto done) {
    ex.Invoke(Request("fast", fast->spec().sha256(), {1.0f}, /*timeout_ms=*/1), done);
  });
  clock_.AdvanceMicros(2'000);  // "fast" waits past its deadline
  fake_->gate().Release();
  auto queued_done = queued.get();
  ASSERT_FALSE(queued_done.ok());
  EXPECT_EQ(queued_done.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(queued_done.status().message()), HasSubstr("did not run"));

  auto slow_done = slow_result.get();
  ASSERT_TRUE(slow_done.ok()) << slow_done.status();
  EXPECT_EQ(slow_done->exec_us(), 202'000u);  // held 2 ms, then "slept" 200 ms

  auto status = Await<v1::GetStatusResponse>([&](auto done) { ex.GetStatus(done); });
  ASSERT_TRUE(status.ok());
  for (const auto& f : status->functions()) {
    EXPECT_EQ(f.invocations(), f.function() == "slow" ? 1u : 0u) << f.function();
  }
  EXPECT_THAT(registry_.Serialize(),
              HasSubstr("stoa_executor_invocations_total{function=\"fast\",outcome="
                        "\"deadline_exceeded\"} 1"));
}

TEST_F(InProcessExecutorTest, CancelledWhileQueuedDoesNotRun) {
  InProcessExecutor ex(runtimes_, Options(1), &registry_);
  auto slow = Load(ex, FakeLoadRequest("slow", "sleep=200"));
  auto fast = Load(ex, FakeLoadRequest("fast", "plain"));
  ASSERT_TRUE(slow.ok() && fast.ok());
  fake_->gate().Hold();
  auto slow_result = Later<v1::InvokeResponse>(
      [&](auto done) { ex.Invoke(Request("slow", slow->spec().sha256(), {1.0f}), done); });
  fake_->gate().WaitUntilArrived(1);  // the only worker is busy with "slow"
  auto cancel = std::make_shared<CancelSignal>();
  auto queued = Later<v1::InvokeResponse>(
      [&](auto done) { ex.Invoke(Request("fast", fast->spec().sha256(), {1.0f}), done, cancel); });
  cancel->Cancel();
  fake_->gate().Release();
  auto result = queued.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("did not run"));
  ASSERT_TRUE(slow_result.get().ok());
  auto status = Await<v1::GetStatusResponse>([&](auto done) { ex.GetStatus(done); });
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->invocations(), 1u);  // only "slow" ran
  // A signal that was never cancelled changes nothing.
  auto fine = Await<v1::InvokeResponse>([&](auto done) {
    ex.Invoke(Request("fast", fast->spec().sha256(), {1.0f}), done,
              std::make_shared<CancelSignal>());
  });
  EXPECT_TRUE(fine.ok()) << fine.status();
}

TEST_F(InProcessExecutorTest, RunningPastTimeoutIsDeadlineExceeded) {
  InProcessExecutor ex(runtimes_, Options(1), nullptr);
  auto slow = Load(ex, FakeLoadRequest("slow", "sleep=300"));
  ASSERT_TRUE(slow.ok());
  const int64_t start_us = clock_.NowMicros();
  auto out = Invoke(ex, Request("slow", slow->spec().sha256(), {1.0f}, /*timeout_ms=*/50));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
  // The runtime got the 50 ms as its budget and stopped there, not after 300 ms.
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("budget ran out while running"));
  EXPECT_EQ(clock_.NowMicros() - start_us, 50'000);
}

TEST_F(InProcessExecutorTest, BudgetIsWhatIsLeftAfterQueueing) {
  InProcessExecutor ex(runtimes_, Options(1), nullptr);
  auto holder = Load(ex, FakeLoadRequest("holder", "plain"));
  auto slow = Load(ex, FakeLoadRequest("slow", "sleep=300"));
  ASSERT_TRUE(holder.ok() && slow.ok());
  fake_->gate().Hold();
  auto held = Later<v1::InvokeResponse>(
      [&](auto done) { ex.Invoke(Request("holder", holder->spec().sha256(), {1.0f}), done); });
  fake_->gate().WaitUntilArrived(1);
  const int64_t enqueued_us = clock_.NowMicros();
  auto queued = Later<v1::InvokeResponse>([&](auto done) {
    ex.Invoke(Request("slow", slow->spec().sha256(), {1.0f}, /*timeout_ms=*/100), done);
  });
  clock_.AdvanceMicros(30'000);  // 30 of its 100 ms pass in the queue
  fake_->gate().Release();
  ASSERT_TRUE(held.get().ok());
  auto out = queued.get();
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("budget ran out while running"));
  // It ran with the 70 ms left, so it stopped right at its deadline.
  EXPECT_EQ(clock_.NowMicros() - enqueued_us, 100'000);
}

TEST_F(InProcessExecutorTest, ConcurrentInvocationsAllSucceed) {
  InProcessExecutor ex(runtimes_, Options(4), &registry_);
  auto loaded = Load(ex, FakeLoadRequest("inc", "sleep=1"));  // each run advances the clock 1 ms
  ASSERT_TRUE(loaded.ok());
  const std::string sha = loaded->spec().sha256();
  constexpr int kCallers = 8;
  constexpr int kPerCaller = 50;
  std::atomic<int> ok{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int i = 0; i < kPerCaller; ++i) {
        const float x = static_cast<float>(c * 1000 + i);
        auto out = Invoke(ex, Request("inc", sha, {x}));
        if (out.ok() && FloatValues(out->outputs(0)) == std::vector<float>{x + 1}) {
          ok.fetch_add(1);
        } else {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok.load(), kCallers * kPerCaller);
  EXPECT_EQ(wrong.load(), 0);
  auto status = Await<v1::GetStatusResponse>([&](auto done) { ex.GetStatus(done); });
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->invocations(), uint64_t{kCallers * kPerCaller});
  EXPECT_EQ(status->threads(), 4u);
  EXPECT_EQ(status->queue_depth(), 0u);
  EXPECT_EQ(status->device(), "cpu");
  EXPECT_EQ(status->device_name(), "test cpu");
  EXPECT_GE(status->mean_service_us(), 1'000.0);
}

TEST_F(InProcessExecutorTest, UnloadRemovesAndBadInputIsInvalidArgument) {
  InProcessExecutor ex(runtimes_, Options(1), nullptr);
  auto loaded = Load(ex, FakeLoadRequest("inc", "plain"));
  ASSERT_TRUE(loaded.ok());
  v1::InvokeRequest bad = Request("inc", loaded->spec().sha256(), {1.0f});
  bad.mutable_inputs(0)->set_datatype(v1::INT64);
  EXPECT_EQ(Invoke(ex, bad).status().code(), absl::StatusCode::kInvalidArgument);

  v1::UnloadFunctionRequest unload;
  unload.set_function("inc");
  auto unloaded =
      Await<v1::UnloadFunctionResponse>([&](auto done) { ex.UnloadFunction(unload, done); });
  ASSERT_TRUE(unloaded.ok());
  EXPECT_TRUE(unloaded->unloaded());
  EXPECT_EQ(Invoke(ex, Request("inc", loaded->spec().sha256(), {1.0f})).status().code(),
            absl::StatusCode::kNotFound);
  auto again =
      Await<v1::UnloadFunctionResponse>([&](auto done) { ex.UnloadFunction(unload, done); });
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->unloaded());
}

// Sample lines of the exposition that name `function` (as a whole label value).
int SeriesOf(const std::string& text, const std::string& function) {
  int lines = 0;
  const std::string needle = "function=\"" + function + "\"";
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (text.compare(start, 1, "#") != 0 &&
        text.substr(start, end - start).find(needle) != std::string::npos) {
      ++lines;
    }
    start = end + 1;
  }
  return lines;
}

TEST_F(InProcessExecutorTest, UnknownNamesCreateNoSeries) {
  InProcessExecutor ex(runtimes_, Options(1), &registry_);
  for (int i = 0; i < 50; ++i) {
    const std::string ghost = absl::StrCat("ghost", i);
    EXPECT_EQ(Invoke(ex, Request(ghost, "", {1.0f})).status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(Load(ex, FakeLoadRequest(ghost, "bad")).status().code(),
              absl::StatusCode::kInvalidArgument);
    auto mismatch = FakeLoadRequest(ghost, "plain");
    mismatch.mutable_spec()->set_sha256(common::Sha256Hex("something else"));
    EXPECT_FALSE(Load(ex, mismatch).ok());
  }
  const std::string text = registry_.Serialize();
  EXPECT_THAT(text, Not(HasSubstr("ghost")));
  EXPECT_THAT(text,
              HasSubstr(R"(stoa_executor_invocations_total{function="",outcome="not_found"} 50)"));
  EXPECT_THAT(
      text, HasSubstr(R"(stoa_executor_loads_total{function="",outcome="invalid_argument"} 100)"));
  // The pending gauge and the two series above.
  EXPECT_EQ(registry_.series(), 3u);
}

TEST_F(InProcessExecutorTest, UnloadingTheLastVersionRemovesTheFunctionsSeries) {
  InProcessExecutor ex(runtimes_, Options(1), &registry_);
  auto v1 = Load(ex, FakeLoadRequest("inc", "plain"));
  auto v2 = Load(ex, FakeLoadRequest("inc", "sleep=1"));
  ASSERT_TRUE(v1.ok() && v2.ok());
  ASSERT_TRUE(Invoke(ex, Request("inc", v1->spec().sha256(), {1.0f})).ok());
  v1::InvokeRequest bad = Request("inc", v2->spec().sha256(), {1.0f});
  bad.mutable_inputs(0)->set_datatype(v1::INT64);
  EXPECT_FALSE(Invoke(ex, bad).ok());
  // A known name with an unknown version is counted under its name.
  EXPECT_FALSE(Invoke(ex, Request("inc", "0000", {1.0f})).ok());
  const std::string loaded = registry_.Serialize();
  EXPECT_THAT(loaded,
              HasSubstr(R"(stoa_executor_invocations_total{function="inc",outcome="ok"} 1)"));
  EXPECT_THAT(
      loaded,
      HasSubstr(R"(stoa_executor_invocations_total{function="inc",outcome="not_found"} 1)"));
  EXPECT_THAT(loaded, HasSubstr(R"(stoa_executor_loads_total{function="inc",outcome="ok"} 2)"));
  EXPECT_THAT(loaded, HasSubstr(R"(stoa_executor_load_seconds_count{function="inc"} 2)"));

  auto unload = [&](const std::string& sha) {
    v1::UnloadFunctionRequest request;
    request.set_function("inc");
    request.set_sha256(sha);
    auto r =
        Await<v1::UnloadFunctionResponse>([&](auto done) { ex.UnloadFunction(request, done); });
    return r.ok() && r->unloaded();
  };
  // One version left: the name's series stay (they are per name).
  ASSERT_TRUE(unload(v1->spec().sha256()));
  EXPECT_EQ(SeriesOf(registry_.Serialize(), "inc"), SeriesOf(loaded, "inc"));
  ASSERT_TRUE(unload(v2->spec().sha256()));
  const std::string gone = registry_.Serialize();
  EXPECT_EQ(SeriesOf(gone, "inc"), 0) << gone;
  EXPECT_THAT(gone, HasSubstr("stoa_executor_pending 0"));
  EXPECT_EQ(registry_.series(), 1u);  // the pending gauge

  // Loaded again: fresh series, from zero.
  auto again = Load(ex, FakeLoadRequest("inc", "plain"));
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(Invoke(ex, Request("inc", "", {1.0f})).ok());
  EXPECT_THAT(registry_.Serialize(),
              HasSubstr(R"(stoa_executor_invocations_total{function="inc",outcome="ok"} 1)"));
}

}  // namespace
}  // namespace stoa::executors

namespace stoa::executors {
namespace {

// A caller whose callback throws (the edge gateway's did, on a JSON error)
// must not take the worker thread, or the process, down with it.
TEST_F(InProcessExecutorTest, ACallbackThatThrowsLeavesTheWorkersServing) {
  InProcessExecutor ex(runtimes_, Options(1), &registry_);
  auto loaded = Load(ex, FakeLoadRequest("inc", "plain"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::atomic<int> thrown{0};
  for (int i = 0; i < 3; ++i) {
    ex.Invoke(Request("inc", loaded->spec().sha256(), {1.0f}),
              [&](absl::StatusOr<v1::InvokeResponse>) {
                thrown.fetch_add(1);
                throw std::runtime_error("caller's bug");
              });
  }
  auto out = Invoke(ex, Request("inc", loaded->spec().sha256(), {1.0f}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(FloatValues(out->outputs(0)), ElementsAre(2.0f));
  EXPECT_EQ(thrown.load(), 3);
}

}  // namespace
}  // namespace stoa::executors

namespace stoa::executors {
namespace {

// The operator's limits, enforced here for both tiers (docs/limits.md).
TEST_F(InProcessExecutorTest, LimitsOnTimeoutArtifactAndOutput) {
  InProcessExecutor::Options options = Options(1);
  options.max_timeout_ms = 1000;
  options.max_artifact_bytes = 8;
  options.max_output_bytes = 8;  // two floats
  InProcessExecutor ex(runtimes_, options, &registry_);

  auto too_long = FakeLoadRequest("inc", "plain");
  too_long.mutable_spec()->mutable_limits()->set_timeout_ms(1001);
  auto refused = Load(ex, too_long);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "spec field 'limits.timeout_ms' is 1001 ms; the limit is 1000 ms (maximum timeout_ms)");
  auto big = Load(ex, FakeLoadRequest("inc", "sleep=200"));  // 9 bytes
  EXPECT_EQ(big.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(big.status().message(),
            "the artifact is 9 bytes; the limit is 8 bytes (artifact size limit)");

  auto loaded = Load(ex, FakeLoadRequest("inc", "plain"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto late = Invoke(ex, Request("inc", "", {1.0f}, /*timeout_ms=*/1001));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(late.status().message(),
            "InvokeRequest.timeout_ms is 1001 ms; the limit is 1000 ms (maximum timeout_ms)");

  EXPECT_TRUE(Invoke(ex, Request("inc", "", {1.0f, 2.0f}, 1000)).ok());
  auto large = Invoke(ex, Request("inc", "", {1.0f, 2.0f, 3.0f}, 1000));
  EXPECT_EQ(large.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(large.status().message(),
            "function 'inc' output is 12 bytes; the limit is 8 bytes (output size limit)");
}

}  // namespace
}  // namespace stoa::executors
