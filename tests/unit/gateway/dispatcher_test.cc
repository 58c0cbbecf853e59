#include "gateway/dispatcher.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

using scheduler::Reason;
using scheduler::Tier;
using ::testing::HasSubstr;

// A small real executor: keeps a loaded set, answers NOT_FOUND for functions
// it lacks, runs callbacks on its own thread after a scripted latency; a
// cancelled call ends at once with CANCELLED.
class FakeExecutor final : public executors::Executor {
 public:
  // Call counts; shared, so a test can read them after the dispatcher (which
  // owns the executor) is gone.
  struct Counts {
    std::atomic<int> load{0}, invoke{0}, unload{0}, cancelled{0};
  };

  explicit FakeExecutor(std::string name) : name_(std::move(name)), pool_(2) {}
  std::shared_ptr<const Counts> counts() const { return counts_; }

  using Executor::Invoke;
  void Invoke(v1::InvokeRequest request, executors::InvokeCallback done,
              executors::CancelSignalPtr cancel) override {
    pool_.Schedule([this, request = std::move(request), done = std::move(done), cancel] {
      absl::Status fail;
      int latency_ms;
      bool loaded;
      {
        absl::MutexLock lock(&mu_);
        ++counts_->invoke;
        last_timeout_ms_ = request.timeout_ms();
        fail = invoke_status_;
        latency_ms = invoke_latency_ms_;
        loaded = loaded_.contains(absl::StrCat(request.function(), "@", request.sha256()));
      }
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(latency_ms);
      while (std::chrono::steady_clock::now() < until) {
        if (cancel && cancel->cancelled()) {
          absl::MutexLock lock(&mu_);
          ++counts_->cancelled;
          return done(absl::CancelledError("cancelled by the caller"));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (!fail.ok()) return done(fail);
      if (!loaded) return done(absl::NotFoundError("function not loaded"));
      v1::InvokeResponse response;
      for (const auto& in : request.inputs()) *response.add_outputs() = in;  // echo
      response.set_exec_us(100);
      response.set_queue_us(10);
      response.set_queue_depth(3);
      response.set_device("fake");
      done(std::move(response));
    });
  }
  void LoadFunction(v1::LoadFunctionRequest request, executors::LoadCallback done) override {
    pool_.Schedule([this, request = std::move(request), done = std::move(done)] {
      absl::Status fail;
      v1::LoadFunctionResponse response;
      {
        absl::MutexLock lock(&mu_);
        ++counts_->load;
        fail = load_status_;
        std::string key = absl::StrCat(request.spec().name(), "@", request.spec().sha256());
        response.set_already_loaded(!loaded_.insert(key).second);
      }
      if (!fail.ok()) return done(fail);
      response.set_load_us(response.already_loaded() ? 0 : 777);
      done(std::move(response));
    });
  }
  void UnloadFunction(v1::UnloadFunctionRequest request, executors::UnloadCallback done) override {
    pool_.Schedule([this, request = std::move(request), done = std::move(done)] {
      absl::MutexLock lock(&mu_);
      ++counts_->unload;
      absl::erase_if(
          loaded_, [&](const std::string& k) { return k.rfind(request.function() + "@", 0) == 0; });
      v1::UnloadFunctionResponse r;
      r.set_unloaded(true);
      done(r);
    });
  }
  void GetStatus(executors::StatusCallback done) override {
    pool_.Schedule([this, done = std::move(done)] {
      absl::Status fail;
      {
        absl::MutexLock lock(&mu_);
        fail = status_status_;
      }
      if (!fail.ok()) return done(fail);
      v1::GetStatusResponse r;
      r.set_queue_depth(5);
      done(r);
    });
  }
  void SetStatusFailure(absl::Status s) {
    absl::MutexLock lock(&mu_);
    status_status_ = std::move(s);
  }
  std::string Describe() const override { return name_; }

  void Restart() {
    absl::MutexLock lock(&mu_);
    loaded_.clear();
  }
  void SetInvokeStatus(absl::Status s) {
    absl::MutexLock lock(&mu_);
    invoke_status_ = std::move(s);
  }
  void SetInvokeLatencyMs(int ms) {
    absl::MutexLock lock(&mu_);
    invoke_latency_ms_ = ms;
  }
  int load_calls() const { return counts_->load; }
  int invoke_calls() const { return counts_->invoke; }
  int unload_calls() const { return counts_->unload; }
  uint32_t last_timeout_ms() const {
    absl::MutexLock lock(&mu_);
    return last_timeout_ms_;
  }

 private:
  const std::string name_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> loaded_ ABSL_GUARDED_BY(mu_);
  absl::Status invoke_status_ ABSL_GUARDED_BY(mu_);
  absl::Status load_status_ ABSL_GUARDED_BY(mu_);
  absl::Status status_status_ ABSL_GUARDED_BY(mu_);
  int invoke_latency_ms_ ABSL_GUARDED_BY(mu_) = 0;
  const std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
  uint32_t last_timeout_ms_ ABSL_GUARDED_BY(mu_) = 0;
  common::ThreadPool pool_;  // last: joined first
};

// A scheduler that picks `preferred` when allowed and records what it sees.
class FakeScheduler final : public scheduler::Scheduler {
 public:
  struct Observation {
    scheduler::Decision decision;
    scheduler::Outcome outcome;
  };

  absl::StatusOr<scheduler::Decision> Decide(std::string_view, scheduler::TierSet allowed,
                                             const scheduler::Features& features) override {
    absl::MutexLock lock(&mu_);
    last_features_ = features;
    Tier t = allowed.Contains(preferred_)    ? preferred_
             : allowed.Contains(Tier::kEdge) ? Tier::kEdge
                                             : Tier::kCloud;
    scheduler::Decision d{t, Reason::kPredictedBest, 4.5};
    d.hedge = hedge_;
    d.shadow = shadow_;
    if (!hedge_.Empty()) d.reason = Reason::kHedge;
    return d;
  }
  double PredictMs(std::string_view, Tier tier, const scheduler::Features&) override {
    return tier == Tier::kEdge ? 1.5 : 7.25;
  }
  void SetExtras(scheduler::TierSet hedge, scheduler::TierSet shadow) {
    absl::MutexLock lock(&mu_);
    hedge_ = hedge;
    shadow_ = shadow;
  }
  std::vector<std::pair<Tier, std::array<double, scheduler::kNumTiers>>> comparisons() const {
    absl::MutexLock lock(&mu_);
    return comparisons_;
  }
  void Observe(std::string_view, const scheduler::Decision& d,
               const scheduler::Outcome& o) override {
    absl::MutexLock lock(&mu_);
    observations_.push_back({d, o});
  }
  void Forget(std::string_view function) override {
    absl::MutexLock lock(&mu_);
    forgotten_.emplace_back(function);
  }
  void ObserveComparison(std::string_view, Tier chosen,
                         const std::array<double, scheduler::kNumTiers>& latency_ms) override {
    absl::MutexLock lock(&mu_);
    comparisons_.push_back({chosen, latency_ms});
  }
  void ObserveLink(Tier tier, bool ok, double rtt_ms) override {
    absl::MutexLock lock(&mu_);
    links_.push_back({tier, ok, rtt_ms});
  }
  struct Link {
    Tier tier;
    bool ok;
    double rtt_ms;
  };
  std::vector<Link> links() const {
    absl::MutexLock lock(&mu_);
    return links_;
  }
  void SetPolicy(const scheduler::PolicyConfig&) override {}
  scheduler::PolicyConfig GetPolicy() const override { return {}; }
  void SetFunctionPolicy(std::string_view, const scheduler::PolicyConfig&) override {}
  void ClearFunctionPolicy(std::string_view) override {}
  std::optional<scheduler::PolicyConfig> GetFunctionPolicy(std::string_view) const override {
    return std::nullopt;
  }
  std::string StateJson() const override { return "{}"; }

  void Prefer(Tier t) {
    absl::MutexLock lock(&mu_);
    preferred_ = t;
  }
  std::vector<Observation> observations() const {
    absl::MutexLock lock(&mu_);
    return observations_;
  }
  std::vector<std::string> forgotten() const {
    absl::MutexLock lock(&mu_);
    return forgotten_;
  }
  scheduler::Features last_features() const {
    absl::MutexLock lock(&mu_);
    return last_features_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Link> links_ ABSL_GUARDED_BY(mu_);
  Tier preferred_ ABSL_GUARDED_BY(mu_) = Tier::kEdge;
  std::vector<Observation> observations_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> forgotten_ ABSL_GUARDED_BY(mu_);
  scheduler::Features last_features_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<Tier, std::array<double, scheduler::kNumTiers>>> comparisons_
      ABSL_GUARDED_BY(mu_);
  scheduler::TierSet hedge_ ABSL_GUARDED_BY(mu_);
  scheduler::TierSet shadow_ ABSL_GUARDED_BY(mu_);
};

StoredFunction MakeFunction(std::vector<std::string> tiers = {"edge", "cloud"},
                            uint32_t timeout_ms = 0) {
  StoredFunction f;
  f.spec.set_name("digits");
  f.spec.set_runtime("onnx");
  f.spec.set_sha256("abc123");
  f.spec.set_version(1);
  for (auto& t : tiers) f.spec.add_tiers(t);
  f.spec.mutable_limits()->set_timeout_ms(timeout_ms);
  f.artifact = std::make_shared<const std::string>("model-bytes");
  return f;
}

v1::InvokeRequest MakeRequest() {
  v1::InvokeRequest r;
  v1::Tensor* t = r.add_inputs();
  t->set_name("pixels");
  t->set_datatype(v1::FP32);
  t->add_shape(2);
  t->add_shape(1);
  t->set_raw(std::string(8, 'x'));
  return r;
}

// The tests script queue depths through responses: no background polling
// unless a test asks for it.
Dispatcher::Options NoPolling() {
  Dispatcher::Options o;
  o.status_interval_ms = 0;
  return o;
}

class DispatcherTest : public ::testing::Test {
 protected:
  void Make(bool with_edge, bool with_cloud, Dispatcher::Options options = NoPolling()) {
    std::array<executors::ExecutorPtr, scheduler::kNumTiers> executors;
    if (with_edge) {
      auto e = std::make_unique<FakeExecutor>("fake-edge");
      edge_ = e.get();
      edge_counts_ = e->counts();
      executors[0] = std::move(e);
    }
    if (with_cloud) {
      auto c = std::make_unique<FakeExecutor>("fake-cloud");
      cloud_ = c.get();
      cloud_counts_ = c->counts();
      executors[1] = std::move(c);
    }
    dispatcher_ = std::make_unique<Dispatcher>(std::move(executors), scheduler_,
                                               common::RealClock::Get(), metrics_, options);
  }

  absl::StatusOr<DispatchResult> Run(const StoredFunction& f,
                                     std::optional<Tier> forced = std::nullopt) {
    std::promise<absl::StatusOr<DispatchResult>> promise;
    auto future = promise.get_future();
    dispatcher_->Invoke(f, MakeRequest(), forced,
                        [&promise](absl::StatusOr<DispatchResult> r) { promise.set_value(r); });
    return future.get();
  }

  double Counter(const std::string& name, const common::metrics::Labels& labels) {
    return metrics_.AddCounter(name, "").Add(labels).Value();
  }

  common::metrics::Registry metrics_;
  FakeScheduler scheduler_;
  // Owned by the dispatcher: valid until dispatcher_.reset(); the counts
  // stay readable after it.
  FakeExecutor* edge_ = nullptr;
  FakeExecutor* cloud_ = nullptr;
  std::shared_ptr<const FakeExecutor::Counts> edge_counts_;
  std::shared_ptr<const FakeExecutor::Counts> cloud_counts_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherTest, ColdStartPushesOnceThenWarm) {
  Make(true, true);
  auto f = MakeFunction();
  auto first = Run(f);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->tier, Tier::kEdge);
  EXPECT_EQ(first->reason, Reason::kPredictedBest);
  EXPECT_DOUBLE_EQ(first->predicted_ms, 4.5);
  EXPECT_TRUE(first->cold_start);
  EXPECT_EQ(first->response.load_us(), 777u);
  ASSERT_EQ(first->response.outputs_size(), 1);
  EXPECT_EQ(first->response.outputs(0).raw(), std::string(8, 'x'));
  EXPECT_FALSE(scheduler_.last_features().warm.Contains(Tier::kEdge));
  EXPECT_EQ(scheduler_.last_features().request_bytes, 8u);
  EXPECT_EQ(scheduler_.last_features().batch, 2u);

  auto second = Run(f);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->cold_start);
  EXPECT_EQ(second->response.load_us(), 0u);
  EXPECT_TRUE(scheduler_.last_features().warm.Contains(Tier::kEdge));
  EXPECT_EQ(edge_->load_calls(), 1);
  EXPECT_EQ(edge_->invoke_calls(), 2);
  EXPECT_EQ(cloud_->load_calls(), 0);

  EXPECT_EQ(Counter("stoa_cold_starts_total", {{"function", "digits"}, {"tier", "edge"}}), 1);
  EXPECT_EQ(Counter("stoa_invocations_total",
                    {{"function", "digits"}, {"tier", "edge"}, {"outcome", "ok"}}),
            2);
  EXPECT_EQ(metrics_.AddGauge("stoa_executor_queue_depth", "").Add({{"tier", "edge"}}).Value(), 3);
  EXPECT_EQ(metrics_.AddHistogram("stoa_invocation_duration_seconds", "")
                .Add({{"function", "digits"}, {"tier", "edge"}})
                .Count(),
            2u);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 2u);
  EXPECT_TRUE(obs[0].outcome.ok);
  EXPECT_DOUBLE_EQ(obs[0].outcome.load_ms, 0.777);
  EXPECT_DOUBLE_EQ(obs[0].outcome.server_ms, (10 + 777 + 100) / 1000.0);
  EXPECT_DOUBLE_EQ(obs[1].outcome.load_ms, 0.0);

  auto stats = dispatcher_->Stats("digits", "abc123");
  EXPECT_TRUE(stats[0].loaded);
  EXPECT_EQ(stats[0].invocations, 2u);
  EXPECT_EQ(stats[0].cold_starts, 1u);
  EXPECT_FALSE(stats[1].loaded);
}

TEST_F(DispatcherTest, NotFoundAfterExecutorRestartReloadsAndRetries) {
  Make(true, false);
  auto f = MakeFunction();
  ASSERT_TRUE(Run(f).ok());
  edge_->Restart();
  auto r = Run(f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->cold_start);
  EXPECT_EQ(r->response.load_us(), 777u);
  EXPECT_EQ(edge_->load_calls(), 2);
  EXPECT_EQ(edge_->invoke_calls(), 3);  // ok, NOT_FOUND, ok
  EXPECT_EQ(Counter("stoa_cold_starts_total", {{"function", "digits"}, {"tier", "edge"}}), 2);
}

TEST_F(DispatcherTest, FailsOverToEdgeWhenCloudIsUnavailable) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  cloud_->SetInvokeStatus(absl::UnavailableError("connection refused"));
  auto r = Run(MakeFunction());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kEdge);
  EXPECT_EQ(r->reason, Reason::kFailover);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 2u);
  EXPECT_EQ(obs[0].decision.tier, Tier::kCloud);
  EXPECT_FALSE(obs[0].outcome.ok);
  EXPECT_TRUE(obs[0].outcome.tier_failure);
  EXPECT_EQ(obs[1].decision.tier, Tier::kEdge);
  EXPECT_EQ(obs[1].decision.reason, Reason::kFailover);
  EXPECT_TRUE(obs[1].outcome.ok);
  EXPECT_EQ(Counter("stoa_invocations_total",
                    {{"function", "digits"}, {"tier", "cloud"}, {"outcome", "unavailable"}}),
            1);
  EXPECT_EQ(Counter("stoa_invocations_total",
                    {{"function", "digits"}, {"tier", "edge"}, {"outcome", "ok"}}),
            1);
}

TEST_F(DispatcherTest, HedgeAnswersWithTheFirstSuccess) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  scheduler_.SetExtras(scheduler::TierSet::Of(Tier::kEdge), {});
  // Warm on both tiers first, so the losing run reaches its executor.
  ASSERT_TRUE(Run(MakeFunction(), Tier::kEdge).ok());
  ASSERT_TRUE(Run(MakeFunction(), Tier::kCloud).ok());
  cloud_->SetInvokeLatencyMs(3000);  // the chosen tier is the slow one
  const auto start = std::chrono::steady_clock::now();
  auto r = Run(MakeFunction());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kEdge);
  EXPECT_EQ(r->reason, Reason::kHedge);
  dispatcher_.reset();  // waits for the cloud run, which the edge's answer cancelled
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000));
  EXPECT_EQ(edge_counts_->invoke, 2);
  EXPECT_EQ(cloud_counts_->invoke, 2);
  EXPECT_EQ(cloud_counts_->cancelled, 1);
  EXPECT_EQ(Counter("stoa_hedge_cancelled_total", {{"function", "digits"}, {"tier", "cloud"}}), 1);
  EXPECT_EQ(Counter("stoa_invocations_total",
                    {{"function", "digits"}, {"tier", "cloud"}, {"outcome", "cancelled"}}),
            1);
  // Only the winner teaches the model: the loser's latency is censored.
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 3u);  // two forced runs, then the hedge's winner
  EXPECT_EQ(obs[2].outcome.tier, Tier::kEdge);
  EXPECT_TRUE(obs[2].outcome.ok);
  auto cmp = scheduler_.comparisons();
  ASSERT_EQ(cmp.size(), 1u);
  EXPECT_EQ(cmp[0].first, Tier::kCloud);
  EXPECT_TRUE(std::isnan(cmp[0].second[1]));
}

TEST_F(DispatcherTest, StatusPollingFeedsQueueDepthAndLinkRoundTrips) {
  Dispatcher::Options options;
  options.status_interval_ms = 20;
  Make(true, true, options);
  for (int i = 0; i < 200 && scheduler_.links().size() < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto links = scheduler_.links();
  ASSERT_GE(links.size(), 6u);  // both tiers, several rounds
  int cloud = 0;
  for (const auto& l : links) {
    EXPECT_TRUE(l.ok);
    EXPECT_GE(l.rtt_ms, 0.0);
    cloud += l.tier == Tier::kCloud;
  }
  EXPECT_GE(cloud, 2);
  // A failing tier's probes report failures (they count towards its circuit).
  cloud_->SetStatusFailure(absl::UnavailableError("down"));
  const size_t seen = scheduler_.links().size();
  bool failure = false;
  for (int i = 0; i < 200 && !failure; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto now = scheduler_.links();
    for (size_t j = seen; j < now.size(); ++j) failure |= now[j].tier == Tier::kCloud && !now[j].ok;
  }
  EXPECT_TRUE(failure);
  // The reported queue depth reaches the scheduler's features.
  auto r = Run(MakeFunction());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(scheduler_.last_features().queue_depth[TierIndex(Tier::kEdge)], 5u);
}

TEST_F(DispatcherTest, HedgeWaitsForTheOtherRunWhenOneFails) {
  Make(true, true);
  scheduler_.SetExtras(scheduler::TierSet::Of(Tier::kCloud), {});
  edge_->SetInvokeStatus(absl::UnavailableError("down"));
  cloud_->SetInvokeLatencyMs(50);
  auto r = Run(MakeFunction());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kCloud);
  dispatcher_.reset();
  EXPECT_EQ(edge_counts_->invoke, 1);  // no failover inside a hedge
  EXPECT_EQ(cloud_counts_->invoke, 1);
}

TEST_F(DispatcherTest, ShadowRunsOnEveryOtherTierAndReportsAComparison) {
  Make(true, true);
  scheduler_.SetExtras({}, scheduler::TierSet::Of(Tier::kCloud));
  auto r = Run(MakeFunction());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kEdge);
  EXPECT_EQ(r->reason, Reason::kPredictedBest);
  dispatcher_.reset();
  EXPECT_EQ(cloud_counts_->invoke, 1);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 2u);
  int shadows = 0;
  for (const auto& o : obs) shadows += o.outcome.shadow && o.outcome.tier == Tier::kCloud;
  EXPECT_EQ(shadows, 1);
  auto cmp = scheduler_.comparisons();
  ASSERT_EQ(cmp.size(), 1u);
  EXPECT_EQ(cmp[0].first, Tier::kEdge);
  EXPECT_TRUE(std::isfinite(cmp[0].second[0]));
  EXPECT_TRUE(std::isfinite(cmp[0].second[1]));
}

TEST_F(DispatcherTest, ReportsQueueAndExecTimesAndInFlight) {
  Make(true, false);
  ASSERT_TRUE(Run(MakeFunction()).ok());
  ASSERT_TRUE(Run(MakeFunction()).ok());
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 2u);
  EXPECT_DOUBLE_EQ(obs[1].outcome.exec_ms, 0.1);
  EXPECT_DOUBLE_EQ(obs[1].outcome.queue_ms, 0.01);
  EXPECT_EQ(obs[1].outcome.batch, 2u);
  EXPECT_EQ(obs[1].outcome.ahead, 3u);  // the depth the first response reported
  EXPECT_EQ(scheduler_.last_features().queue_depth[0], 3u);
  EXPECT_EQ(scheduler_.last_features().in_flight[0], 0u);
}

TEST_F(DispatcherTest, CloudOnlyFunctionIsUnavailableWhenCloudFails) {
  Make(true, true);
  cloud_->SetInvokeStatus(absl::UnavailableError("connection refused"));
  auto r = Run(MakeFunction({"cloud"}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("tier cloud (fake-cloud)"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("connection refused"));
  EXPECT_EQ(edge_->invoke_calls(), 0);
}

TEST_F(DispatcherTest, FunctionErrorsDoNotFailOver) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  cloud_->SetInvokeStatus(absl::InvalidArgumentError("input 'pixels' has shape [3]"));
  auto r = Run(MakeFunction());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(edge_->invoke_calls(), 0);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_FALSE(obs[0].outcome.tier_failure);
}

TEST_F(DispatcherTest, DeadlineIsRespectedWhenTheExecutorHangs) {
  Make(true, true);
  cloud_->SetInvokeLatencyMs(1500);  // ignores timeout_ms, like a stalled link
  auto start = std::chrono::steady_clock::now();
  auto r = Run(MakeFunction({"cloud"}, /*timeout_ms=*/150));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("deadline of 150 ms"));
  EXPECT_LT(elapsed, std::chrono::milliseconds(600));
  EXPECT_LE(cloud_->last_timeout_ms(), 150u);
  EXPECT_GE(cloud_->last_timeout_ms(), 100u);
  EXPECT_EQ(Counter("stoa_invocations_total",
                    {{"function", "digits"}, {"tier", "cloud"}, {"outcome", "timeout"}}),
            1);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_TRUE(obs[0].outcome.tier_failure);
}

TEST_F(DispatcherTest, NoFailoverPastTheDeadline) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  cloud_->SetInvokeLatencyMs(120);
  cloud_->SetInvokeStatus(absl::DeadlineExceededError("deadline"));
  auto r = Run(MakeFunction({"edge", "cloud"}, /*timeout_ms=*/100));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(edge_->invoke_calls(), 0);
}

TEST_F(DispatcherTest, ForcedTierIsCheckedAndNeverFailsOver) {
  Make(true, false);
  auto r = Run(MakeFunction({"edge"}), Tier::kCloud);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("does not run on tier cloud"));
  r = Run(MakeFunction(), Tier::kCloud);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("tier cloud is not configured"));
  r = Run(MakeFunction({"cloud"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no tier available"));

  r = Run(MakeFunction(), Tier::kEdge);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->reason, Reason::kForced);
  // A forced tier still carries the model's prediction for it.
  EXPECT_DOUBLE_EQ(r->predicted_ms, 1.5);
}

TEST_F(DispatcherTest, ForcedTierFailureIsReturned) {
  Make(true, true);
  cloud_->SetInvokeStatus(absl::UnavailableError("down"));
  auto r = Run(MakeFunction(), Tier::kCloud);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(edge_->invoke_calls(), 0);
}

TEST_F(DispatcherTest, ForgetUnloadsAndForgets) {
  Make(true, true);
  auto f = MakeFunction();
  ASSERT_TRUE(Run(f).ok());
  dispatcher_->Forget("digits", "");
  EXPECT_THAT(scheduler_.forgotten(), ::testing::ElementsAre("digits"));
  auto stats = dispatcher_->Stats("digits", "abc123");
  EXPECT_FALSE(stats[0].loaded);
  EXPECT_EQ(stats[0].invocations, 0u);
  for (int i = 0; i < 200 && (edge_->unload_calls() < 1 || cloud_->unload_calls() < 1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(edge_->unload_calls(), 1);
  EXPECT_EQ(cloud_->unload_calls(), 1);
  // The next call is a cold start again.
  auto again = Run(f);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->cold_start);
}

TEST_F(DispatcherTest, ConcurrentInvocations) {
  Make(true, true);
  auto f = MakeFunction();
  constexpr int kCalls = 200;
  std::atomic<int> ok{0};
  std::promise<void> all_done;
  std::atomic<int> remaining{kCalls};
  for (int i = 0; i < kCalls; ++i) {
    dispatcher_->Invoke(f, MakeRequest(), i % 2 ? Tier::kEdge : Tier::kCloud,
                        [&](absl::StatusOr<DispatchResult> r) {
                          if (r.ok()) ok++;
                          if (--remaining == 0) all_done.set_value();
                        });
  }
  all_done.get_future().wait();
  EXPECT_EQ(ok.load(), kCalls);
  EXPECT_EQ(Counter("stoa_invocations_total",
                    {{"function", "digits"}, {"tier", "cloud"}, {"outcome", "ok"}}),
            kCalls / 2);
}

}  // namespace
}  // namespace stoa::gateway
