// PoolExecutor over real members (two in-process executors with the fake
// runtime, a gRPC member whose server is gone) and over scripted members on a
// fake clock, for the down marks.
#include "executors/pool_executor.h"

#include <future>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "executors/grpc_executor.h"
#include "executors/in_process_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/executors/fake_executor.h"
#include "tests/fakes/executors/fake_runtime.h"

namespace stoa::executors {
namespace {

using ::stoa::executors::testing::Await;
using ::stoa::executors::testing::ClosedLoopbackAddress;
using ::stoa::executors::testing::FakeLoadRequest;
using ::stoa::executors::testing::FakeRuntimes;
using ::stoa::executors::testing::FloatTensor;
using ::stoa::executors::testing::FloatValues;
using ::stoa::executors::testing::Later;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::InvokeRequest Request(const std::string& sha, float x) {
  v1::InvokeRequest request;
  request.set_function("inc");
  request.set_sha256(sha);
  *request.add_inputs() = FloatTensor("x", {x});
  return request;
}

class PoolExecutorTest : public ::testing::Test {
 protected:
  PoolExecutorTest() : runtimes_(FakeRuntimes()) {}

  // Two in-process members (one worker each), plus extra ones.
  std::unique_ptr<PoolExecutor> MakePool(std::vector<ExecutorPtr> extra = {}) {
    std::vector<ExecutorPtr> members;
    for (int i = 0; i < 2; ++i) {
      auto e = std::make_unique<InProcessExecutor>(
          runtimes_, InProcessExecutor::Options{1, "cpu", "member"}, nullptr);
      in_process_.push_back(e.get());
      members.push_back(std::move(e));
    }
    for (auto& e : extra) members.push_back(std::move(e));
    PoolExecutor::Options options;
    options.down_ms = 60000;
    return std::make_unique<PoolExecutor>(std::move(members), options, clock_);
  }

  // A pool of scripted members "a", "b", ... (down marks of 1 s on clock_).
  std::unique_ptr<PoolExecutor> MakeScriptedPool(int n, std::vector<FakeExecutor*>& out) {
    std::vector<ExecutorPtr> members;
    for (int i = 0; i < n; ++i) {
      FakeExecutor::Options scripted;
      scripted.require_loaded = false;
      auto e = std::make_unique<FakeExecutor>(std::string(1, static_cast<char>('a' + i)), scripted);
      out.push_back(e.get());
      members.push_back(std::move(e));
    }
    PoolExecutor::Options options;
    options.down_ms = 1000;
    return std::make_unique<PoolExecutor>(std::move(members), options, clock_);
  }

  // `n` invocations, each expected to succeed.
  static void InvokeOk(PoolExecutor& pool, int n) {
    for (int i = 0; i < n; ++i) {
      auto r = Await<v1::InvokeResponse>([&](auto done) { pool.Invoke(Request("abc", 1), done); });
      ASSERT_TRUE(r.ok()) << "call " << i << ": " << r.status();
    }
  }

  uint64_t MemberInvocations(int i) {
    auto s = Await<v1::GetStatusResponse>([&](auto done) { in_process_[i]->GetStatus(done); });
    return s.ok() ? s->invocations() : 0;
  }

  common::FakeClock clock_{1'000'000};
  functions::RuntimeSet runtimes_;
  std::vector<InProcessExecutor*> in_process_;
};

TEST_F(PoolExecutorTest, LoadsOnDemandAndSpreadsInvocations) {
  auto pool = MakePool();
  EXPECT_EQ(pool->Describe(), "pool[in-process,in-process]");
  auto loaded = Await<v1::LoadFunctionResponse>(
      [&](auto done) { pool->LoadFunction(FakeLoadRequest("inc", "sleep=30"), done); });
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->already_loaded());
  auto again = Await<v1::LoadFunctionResponse>(
      [&](auto done) { pool->LoadFunction(FakeLoadRequest("inc", "sleep=30"), done); });
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_loaded());
  const std::string sha = loaded->spec().sha256();

  // One call teaches the pool the service time; then eight concurrent calls
  // of 30 ms each: a queue on the warm member soon predicts worse than a
  // load on the other, so both are used.
  auto first = Await<v1::InvokeResponse>([&](auto done) { pool->Invoke(Request(sha, 0), done); });
  ASSERT_TRUE(first.ok()) << first.status();
  std::vector<std::future<absl::StatusOr<v1::InvokeResponse>>> calls;
  for (int i = 0; i < 8; ++i) {
    calls.push_back(
        Later<v1::InvokeResponse>([&](auto done) { pool->Invoke(Request(sha, i), done); }));
  }
  for (int i = 0; i < 8; ++i) {
    auto r = calls[i].get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_THAT(FloatValues(r->outputs(0)), ElementsAre(i + 1.0f));
  }
  EXPECT_EQ(MemberInvocations(0) + MemberInvocations(1), 9u);
  EXPECT_GE(MemberInvocations(0), 2u);
  EXPECT_GE(MemberInvocations(1), 2u);

  auto status = Await<v1::GetStatusResponse>([&](auto done) { pool->GetStatus(done); });
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->threads(), 2u);
  EXPECT_EQ(status->invocations(), 9u);
  ASSERT_EQ(status->functions_size(), 1);  // the same version on both: listed once
  EXPECT_EQ(status->functions(0).function(), "inc");

  auto unloaded = Await<v1::UnloadFunctionResponse>([&](auto done) {
    v1::UnloadFunctionRequest u;
    u.set_function("inc");
    pool->UnloadFunction(u, done);
  });
  ASSERT_TRUE(unloaded.ok());
  EXPECT_TRUE(unloaded->unloaded());
  auto gone = Await<v1::InvokeResponse>([&](auto done) { pool->Invoke(Request(sha, 1), done); });
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);  // passed through
}

// Sequential calls: the member that has the function is predicted faster
// than one that would load it first, so the other never gets it.
TEST_F(PoolExecutorTest, AMemberNeverCalledNeverLoadsTheFunction) {
  auto pool = MakePool();
  auto loaded = Await<v1::LoadFunctionResponse>(
      [&](auto done) { pool->LoadFunction(FakeLoadRequest("inc", "sleep=2"), done); });
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string sha = loaded->spec().sha256();
  auto functions_on = [&](int i) {
    auto s = Await<v1::GetStatusResponse>([&](auto done) { in_process_[i]->GetStatus(done); });
    return s.ok() ? s->functions_size() : -1;
  };
  EXPECT_EQ(functions_on(0) + functions_on(1), 1);  // loaded on one member only
  for (int i = 0; i < 10; ++i) {
    auto r = Await<v1::InvokeResponse>([&](auto done) { pool->Invoke(Request(sha, i), done); });
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->load_us(), 0u) << "call " << i << " paid a load";
  }
  EXPECT_EQ(functions_on(0) + functions_on(1), 1);
  EXPECT_EQ(MemberInvocations(0) + MemberInvocations(1), 10u);
  EXPECT_TRUE(MemberInvocations(0) == 0 || MemberInvocations(1) == 0);
}

// A member that lost the function (restarted) gets it again from the pool's
// copy of the load request, and the call's answer carries that load.
TEST_F(PoolExecutorTest, AMemberMissingAKnownFunctionLoadsItOnDemand) {
  auto pool = MakePool();
  auto loaded = Await<v1::LoadFunctionResponse>(
      [&](auto done) { pool->LoadFunction(FakeLoadRequest("inc", "plain"), done); });
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string sha = loaded->spec().sha256();
  // Unload behind the pool's back on both members.
  for (int i = 0; i < 2; ++i) {
    v1::UnloadFunctionRequest u;
    u.set_function("inc");
    auto r = Await<v1::UnloadFunctionResponse>(
        [&](auto done) { in_process_[i]->UnloadFunction(u, done); });
    ASSERT_TRUE(r.ok());
  }
  auto r = Await<v1::InvokeResponse>([&](auto done) { pool->Invoke(Request(sha, 4), done); });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(FloatValues(r->outputs(0)), ElementsAre(5.0f));
  EXPECT_GT(r->load_us(), 0u);
  std::vector<MemberStatus> members = pool->Members();
  EXPECT_GT(members[0].load_ms + members[1].load_ms, 0.0);
}

// A pipeline chain (InvokeRequest.chain) goes to one member, which first
// gets every stage it lacks: the first function and the later stages alike.
TEST_F(PoolExecutorTest, AChainLoadsEveryStageOnTheMemberItRuns) {
  auto pool = MakePool();
  std::vector<std::string> shas;
  for (const char* name : {"inc", "second", "third"}) {
    auto loaded = Await<v1::LoadFunctionResponse>(
        [&](auto done) { pool->LoadFunction(FakeLoadRequest(name, "plain"), done); });
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    shas.push_back(loaded->spec().sha256());
  }
  v1::InvokeRequest request = Request(shas[0], 1);
  for (int k = 1; k < 3; ++k) {
    v1::ChainStage* stage = request.add_chain();
    stage->set_function(k == 1 ? "second" : "third");
    stage->set_sha256(shas[k]);
  }
  auto r = Await<v1::InvokeResponse>([&](auto done) { pool->Invoke(request, done); });
  ASSERT_TRUE(r.ok()) << r.status();
  const int ran = MemberInvocations(0) == 1 ? 0 : 1;
  ASSERT_EQ(MemberInvocations(ran), 1u);
  auto status = Await<v1::GetStatusResponse>([&](auto done) { in_process_[ran]->GetStatus(done); });
  ASSERT_TRUE(status.ok());
  std::vector<std::string> names;
  for (const auto& f : status->functions()) names.push_back(f.function());
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("inc", "second", "third"));

  // Both members lose everything (restarted): the chain's NOT_FOUND reloads
  // every stage on the member, not only the first function.
  for (InProcessExecutor* member : in_process_) {
    for (const char* name : {"inc", "second", "third"}) {
      v1::UnloadFunctionRequest u;
      u.set_function(name);
      ASSERT_TRUE(Await<v1::UnloadFunctionResponse>([&](auto done) {
                    member->UnloadFunction(u, done);
                  }).ok());
    }
  }
  const uint64_t before = MemberInvocations(0) + MemberInvocations(1);
  r = Await<v1::InvokeResponse>([&](auto done) { pool->Invoke(request, done); });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->load_us(), 0u);
  for (int i = 0; i < 2; ++i) {
    status = Await<v1::GetStatusResponse>([&](auto done) { in_process_[i]->GetStatus(done); });
    ASSERT_TRUE(status.ok());
    if (status->functions().empty()) continue;
    names.clear();
    for (const auto& f : status->functions()) names.push_back(f.function());
    EXPECT_THAT(names, ::testing::UnorderedElementsAre("inc", "second", "third")) << "member " << i;
  }
  EXPECT_EQ(MemberInvocations(0) + MemberInvocations(1), before + 1);
}

TEST_F(PoolExecutorTest, ADeadMemberIsSkippedAndCallsStillSucceed) {
  GrpcExecutor::Options fast;
  fast.connect_timeout_ms = 200;
  std::vector<ExecutorPtr> extra;
  extra.push_back(std::make_unique<GrpcExecutor>(ClosedLoopbackAddress(), fast));
  auto pool = MakePool(std::move(extra));
  // Loading succeeds on the live members; the dead one is left out.
  auto loaded = Await<v1::LoadFunctionResponse>(
      [&](auto done) { pool->LoadFunction(FakeLoadRequest("inc", "plain"), done); });
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  for (int i = 0; i < 12; ++i) {
    auto r = Await<v1::InvokeResponse>(
        [&](auto done) { pool->Invoke(Request(loaded->spec().sha256(), 1), done); });
    ASSERT_TRUE(r.ok()) << "call " << i << ": " << r.status();
  }
  EXPECT_EQ(MemberInvocations(0) + MemberInvocations(1), 12u);
  auto status = Await<v1::GetStatusResponse>([&](auto done) { pool->GetStatus(done); });
  ASSERT_TRUE(status.ok()) << status.status();  // two of three answered
  EXPECT_EQ(status->threads(), 2u);
}

TEST_F(PoolExecutorTest, ADownMemberIsSkippedUntilItsMarkExpires) {
  std::vector<FakeExecutor*> m;
  auto pool = MakeScriptedPool(2, m);
  m[0]->SetInvokeStatus(absl::UnavailableError("a is gone"));
  // The first call tries "a" (the rotation starts there), which marks it
  // down, and moves on to "b": the caller sees no error.
  InvokeOk(*pool, 1);
  EXPECT_EQ(m[0]->counts()->invoke, 1);
  std::vector<MemberStatus> members = pool->Members();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].name, "a");
  EXPECT_FALSE(members[0].up);
  EXPECT_EQ(members[0].down_until_us, clock_.NowMicros() + 1'000'000);
  EXPECT_THAT(members[0].last_error, HasSubstr("a is gone"));
  EXPECT_TRUE(members[1].up);

  // Recovered but still marked: skipped for the whole second.
  m[0]->SetInvokeStatus(absl::OkStatus());
  InvokeOk(*pool, 4);
  clock_.AdvanceMicros(999'999);
  InvokeOk(*pool, 4);
  EXPECT_EQ(m[0]->counts()->invoke, 1);
  EXPECT_EQ(m[1]->counts()->invoke, 9);

  // The mark expires: round robin over both again.
  clock_.AdvanceMicros(1);
  EXPECT_TRUE(pool->Members()[0].up);
  InvokeOk(*pool, 4);
  EXPECT_EQ(m[0]->counts()->invoke, 3);
  EXPECT_EQ(m[1]->counts()->invoke, 11);
}

// Membership changes in place: a member that stays keeps its down mark
// across another member's join and another's removal.
TEST_F(PoolExecutorTest, ADownMarkSurvivesOtherMembersJoiningAndLeaving) {
  std::vector<FakeExecutor*> m;
  auto pool = MakeScriptedPool(2, m);
  m[0]->SetInvokeStatus(absl::UnavailableError("a is gone"));
  InvokeOk(*pool, 1);
  ASSERT_FALSE(pool->Members()[0].up);
  const int64_t down_until = pool->Members()[0].down_until_us;
  m[0]->SetInvokeStatus(absl::OkStatus());

  FakeExecutor::Options scripted;
  scripted.require_loaded = false;
  auto c = std::make_unique<FakeExecutor>("c", scripted);
  std::shared_ptr<const FakeExecutor::Counts> c_counts = c->counts();
  pool->AddMember(std::move(c));
  std::vector<MemberStatus> members = pool->Members();
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].name, "a");
  EXPECT_FALSE(members[0].up);
  EXPECT_EQ(members[0].down_until_us, down_until);
  EXPECT_THAT(members[0].last_error, HasSubstr("a is gone"));
  EXPECT_EQ(members[2].name, "c");
  EXPECT_TRUE(members[2].up);

  EXPECT_TRUE(pool->RemoveMember("b"));
  EXPECT_FALSE(pool->RemoveMember("b"));
  EXPECT_EQ(pool->size(), 2u);
  EXPECT_EQ(pool->Describe(), "pool[a,c]");
  EXPECT_FALSE(pool->Members()[0].up);
  InvokeOk(*pool, 6);  // all to c: a is still marked down
  EXPECT_EQ(m[0]->counts()->invoke, 1);
  EXPECT_EQ(c_counts->invoke, 6);

  clock_.AdvanceMicros(1'000'000);  // the mark expires as it would have
  InvokeOk(*pool, 4);
  EXPECT_EQ(m[0]->counts()->invoke, 3);
}

// A removed member's call in flight finishes; its slot is given to a new
// member only once that call is over.
TEST_F(PoolExecutorTest, ARemovedMembersCallFinishesBeforeItsSlotIsReused) {
  std::vector<FakeExecutor*> m;
  auto pool = MakeScriptedPool(1, m);
  m[0]->Hold();
  std::promise<absl::StatusOr<v1::InvokeResponse>> parked;
  pool->Invoke(Request("abc", 1), [&](auto r) { parked.set_value(std::move(r)); });
  ASSERT_EQ(m[0]->held(), 1);
  EXPECT_TRUE(pool->RemoveMember("a"));
  EXPECT_EQ(pool->size(), 0u);
  auto none = Await<v1::InvokeResponse>([&](auto done) { pool->Invoke(Request("abc", 1), done); });
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable);

  FakeExecutor::Options scripted;
  scripted.require_loaded = false;
  pool->AddMember(std::make_unique<FakeExecutor>("c", scripted));  // a's slot is busy
  ASSERT_EQ(pool->Members().size(), 1u);
  EXPECT_EQ(pool->Describe(), "pool[c]");
  m[0]->Release();
  ASSERT_TRUE(parked.get_future().get().ok());                     // answered by the removed member
  pool->AddMember(std::make_unique<FakeExecutor>("d", scripted));  // a is reaped: d takes slot 0
  EXPECT_EQ(pool->Describe(), "pool[d,c]");
  std::vector<MemberStatus> members = pool->Members();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].name, "d");
  EXPECT_TRUE(members[0].up);
  EXPECT_EQ(members[0].in_flight, 0);
  InvokeOk(*pool, 4);
}

// A joining member gets the functions the pool knows loaded before it is
// chosen for them, so it takes its share of calls at once.
TEST_F(PoolExecutorTest, AJoiningMemberIsWarmedUpWithTheKnownFunctions) {
  std::vector<FakeExecutor*> m;
  auto pool = MakeScriptedPool(1, m);
  auto loaded = Await<v1::LoadFunctionResponse>(
      [&](auto done) { pool->LoadFunction(FakeLoadRequest("inc", "abc"), done); });
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  InvokeOk(*pool, 2);

  FakeExecutor::Options scripted;
  scripted.require_loaded = false;
  auto b = std::make_unique<FakeExecutor>("b", scripted);
  std::shared_ptr<const FakeExecutor::Counts> b_counts = b->counts();
  pool->AddMember(std::move(b));
  EXPECT_EQ(b_counts->load, 1);  // warmed up (the fake answers on the caller's thread)
  EXPECT_EQ(b_counts->invoke, 0);
  EXPECT_EQ(m[0]->counts()->load, 1);  // the member already there is not asked again
}

TEST_F(PoolExecutorTest, StatusAnswerClearsTheMarkAndRecordsQueueDepth) {
  std::vector<FakeExecutor*> m;
  auto pool = MakeScriptedPool(3, m);
  m[0]->SetInvokeStatus(absl::UnavailableError("a is gone"));
  InvokeOk(*pool, 1);
  ASSERT_FALSE(pool->Members()[0].up);
  m[0]->SetStatusDepth(3);
  m[1]->SetStatusDepth(5);
  m[2]->SetStatusStatus(absl::UnavailableError("c is gone"));
  auto status = Await<v1::GetStatusResponse>([&](auto done) { pool->GetStatus(done); });
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->queue_depth(), 3u);  // the smallest: where the next call goes
  std::vector<MemberStatus> members = pool->Members();
  EXPECT_TRUE(members[0].up);  // it answered, so it is back before its mark ends
  EXPECT_EQ(members[0].queue_depth, 3);
  EXPECT_EQ(members[1].queue_depth, 5);
  EXPECT_EQ(members[2].queue_depth, -1);  // never answered
}

TEST_F(PoolExecutorTest, EveryMemberDownIsUnavailableNamingThePool) {
  GrpcExecutor::Options fast;
  fast.connect_timeout_ms = 200;
  std::vector<ExecutorPtr> members;
  members.push_back(std::make_unique<GrpcExecutor>(ClosedLoopbackAddress(), fast));
  members.push_back(std::make_unique<GrpcExecutor>(ClosedLoopbackAddress(), fast));
  PoolExecutor pool(std::move(members));
  auto r = Await<v1::InvokeResponse>([&](auto done) { pool.Invoke(Request("abc", 1), done); });
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("every member of pool[grpc:"));
  auto loaded = Await<v1::LoadFunctionResponse>(
      [&](auto done) { pool.LoadFunction(FakeLoadRequest("inc", "plain"), done); });
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kUnavailable);
  auto status = Await<v1::GetStatusResponse>([&](auto done) { pool.GetStatus(done); });
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace stoa::executors
