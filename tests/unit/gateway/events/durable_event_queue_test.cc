#include "gateway/events/durable_event_queue.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fakes/gateway/fake_control_plane.h"
#include "tests/fakes/gateway/fake_invoker.h"

namespace stoa::gateway::events {
namespace {

namespace fs = std::filesystem;
using scheduler::Tier;

class DurableEventQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            absl::StrCat("stoa_event_queue_", getpid(), "_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    Register("echo", {});
  }
  void TearDown() override {
    queue_.reset();
    fs::remove_all(dir_);
  }

  void Register(const std::string& name, std::vector<std::string> tiers, uint32_t ttl_s = 0) {
    Registration reg;
    reg.spec.set_name(name);
    reg.spec.set_runtime("wasm");
    reg.spec.set_content_type("text/plain");
    for (auto& t : tiers) reg.spec.add_tiers(t);
    if (ttl_s > 0) reg.spec.mutable_events()->set_ttl_s(ttl_s);
    ASSERT_TRUE(control_.Register(reg, true).ok());
  }

  DurableEventQueueTest() {
    options_.backoff_initial = absl::Milliseconds(10);
    options_.backoff_max = absl::Milliseconds(50);
  }

  void Open(bool start = true) {
    queue_.reset();
    DurableEventQueue::Options options = options_;
    options.dir = dir_;
    auto q = DurableEventQueue::Open(options, control_, invoker_, metrics_);
    ASSERT_TRUE(q.ok()) << q.status();
    queue_ = *std::move(q);
    if (start) queue_->Start();
  }

  absl::StatusOr<Accepted> Submit(const std::string& function, const std::string& body,
                                  const std::string& key = "") {
    EventSubmission s;
    s.function = function;
    s.body = body;
    s.dedup_key = key;
    std::promise<absl::StatusOr<Accepted>> done;
    queue_->Submit(std::move(s), [&](absl::StatusOr<Accepted> a) { done.set_value(a); });
    return done.get_future().get();
  }

  // Waits up to 5 s for `id` to reach `status`.
  EventRecord WaitFor(const std::string& id, EventStatus status) {
    for (int i = 0; i < 500; ++i) {
      auto r = queue_->Get(id);
      if (r && r->status == status) return *r;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    auto r = queue_->Get(id);
    ADD_FAILURE() << id << " never became " << EventStatusName(status) << "; it is "
                  << (r ? EventStatusName(r->status) : "unknown");
    return r.value_or(EventRecord{});
  }

  std::string dir_;
  FakeControlPlane control_;
  FakeInvoker invoker_;
  common::metrics::Registry metrics_;
  DurableEventQueue::Options options_;
  std::unique_ptr<DurableEventQueue> queue_;
};

TEST_F(DurableEventQueueTest, AcceptedEventRunsAndKeepsItsResult) {
  Open();
  std::vector<std::string> finished;
  absl::Mutex mu;
  queue_->OnFinished([&](const EventRecord& r) {
    absl::MutexLock lock(&mu);
    finished.push_back(r.id);
  });
  auto a = Submit("echo", "hello");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->duplicate);
  EventRecord r = WaitFor(a->id, EventStatus::kSucceeded);
  EXPECT_EQ(r.result_body, "hello");
  EXPECT_EQ(r.result_content_type, "text/plain");
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_EQ(r.tier, "edge");
  EXPECT_GT(r.finished_at, r.accepted_at);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(finished, std::vector<std::string>{a->id});
}

TEST_F(DurableEventQueueTest, BadSubmissionsAreRefusedAndNothingIsStored) {
  options_.max_bytes = 4096;
  Open();
  auto unknown = Submit("nope", "x");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  auto big = Submit("echo", std::string(8192, 'b'));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(queue_->depth().pending, 0u);
  EXPECT_TRUE(invoker_.calls().empty());
}

TEST_F(DurableEventQueueTest, SameDedupKeySameIdRunsOnceAcrossRestart) {
  Open();
  auto first = Submit("echo", "one", "key-1");
  ASSERT_TRUE(first.ok());
  auto again = Submit("echo", "one", "key-1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, first->id);
  EXPECT_TRUE(again->duplicate);
  WaitFor(first->id, EventStatus::kSucceeded);
  Open();  // a restart: the key index comes back from the log
  auto after = Submit("echo", "one", "key-1");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->id, first->id);
  EXPECT_TRUE(after->duplicate);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(invoker_.calls().size(), 1u);
  EXPECT_EQ(queue_->Get(first->id)->result_body, "one");
}

// The MQTT bridge reads the queue back from its durable callback: every
// answer (new, duplicate of a durable event, refused for room) must come
// with the queue's lock released. A duplicate answered under the lock
// deadlocked the gateway after a SIGKILL (MqttGatewayTest's Sigkill test).
TEST_F(DurableEventQueueTest, DurableCallbackMayReadTheQueueBack) {
  options_.max_bytes = 8192;
  Open();
  auto submit_and_read = [&](const std::string& body, const std::string& key) {
    EventSubmission s;
    s.function = "echo";
    s.body = body;
    s.dedup_key = key;
    std::promise<std::pair<absl::StatusOr<Accepted>, bool>> done;
    queue_->Submit(std::move(s), [&](absl::StatusOr<Accepted> a) {
      const bool found = a.ok() && queue_->Get(a->id).has_value();
      (void)queue_->depth();
      done.set_value({a, found});
    });
    auto future = done.get_future();
    if (future.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      std::fprintf(stderr, "FAILED: the durable callback deadlocked on the queue's lock\n");
      std::_Exit(1);  // the queue cannot be destroyed with its lock held
    }
    return future.get();
  };
  auto [first, first_found] = submit_and_read("one", "k");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first_found);
  auto [dup, dup_found] = submit_and_read("one", "k");
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_TRUE(dup->duplicate);
  EXPECT_TRUE(dup_found);
  auto [full, full_found] = submit_and_read(std::string(16384, 'f'), "");
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(DurableEventQueueTest, QueuedEventsSurviveARestartAndRunThen) {
  Open(/*start=*/false);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto a = Submit("echo", absl::StrCat("e", i));
    ASSERT_TRUE(a.ok());
    ids.push_back(a->id);
  }
  Open();
  EXPECT_EQ(queue_->recovered().events, 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(WaitFor(ids[i], EventStatus::kSucceeded).result_body, absl::StrCat("e", i));
  }
}

TEST_F(DurableEventQueueTest, CloudOnlyEventsWaitWhileTheCloudIsDownThenRun) {
  Register("cloudy", {"cloud"});
  Register("anywhere", {"edge", "cloud"});
  invoker_.SetProbe(Tier::kCloud, TierHealth::Probe::kFailed);
  Open();
  auto cloud_only = Submit("cloudy", "c");
  auto flexible = Submit("anywhere", "f");
  ASSERT_TRUE(cloud_only.ok() && flexible.ok());
  // The flexible one is re-placed on the edge at once.
  EXPECT_EQ(WaitFor(flexible->id, EventStatus::kSucceeded).tier, "edge");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(queue_->Get(cloud_only->id)->status, EventStatus::kQueued);
  EXPECT_EQ(invoker_.calls().size(), 1u);
  invoker_.SetProbe(Tier::kCloud, TierHealth::Probe::kOk);
  // Placed by the scheduler now that every tier it may use answers.
  EXPECT_EQ(WaitFor(cloud_only->id, EventStatus::kSucceeded).result_body, "c");
  EXPECT_EQ(invoker_.calls().size(), 2u);
}

TEST_F(DurableEventQueueTest, UnreachableTierIsRetriedWithBackoff) {
  invoker_.SetError(absl::UnavailableError("cloud unreachable"));
  Open();
  auto a = Submit("echo", "r");
  ASSERT_TRUE(a.ok());
  for (int i = 0; i < 200 && queue_->Get(a->id)->attempts < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(queue_->Get(a->id)->attempts, 3u);
  invoker_.SetError(absl::OkStatus());
  EventRecord r = WaitFor(a->id, EventStatus::kSucceeded);
  EXPECT_EQ(r.result_body, "r");
}

TEST_F(DurableEventQueueTest, PermanentFailureIsADeadLetter) {
  invoker_.SetError(absl::InvalidArgumentError("bad input for the function"));
  Open();
  auto a = Submit("echo", "x");
  ASSERT_TRUE(a.ok());
  EventRecord r = WaitFor(a->id, EventStatus::kFailed);
  EXPECT_EQ(r.error_code, "INVALID_ARGUMENT");
  EXPECT_EQ(r.attempts, 1u);
  auto failed = queue_->List(EventStatus::kFailed, 10);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].id, a->id);
}

TEST_F(DurableEventQueueTest, EventNotRunWithinItsTtlExpires) {
  Register("short", {"cloud"}, /*ttl_s=*/1);
  options_.default_ttl = absl::Seconds(1);
  invoker_.SetProbe(Tier::kCloud, TierHealth::Probe::kFailed);
  Open();
  auto a = Submit("short", "x");
  ASSERT_TRUE(a.ok());
  EventRecord r = WaitFor(a->id, EventStatus::kExpired);
  EXPECT_EQ(r.error_code, "DEADLINE_EXCEEDED");
  EXPECT_EQ(queue_->List(EventStatus::kExpired, 10).size(), 1u);
  Open();  // the final state is durable
  EXPECT_EQ(queue_->Get(a->id)->status, EventStatus::kExpired);
}

absl::Status CancelSync(DurableEventQueue& queue, const std::string& id) {
  std::promise<absl::Status> done;
  queue.Cancel(id, [&](absl::Status s) { done.set_value(s); });
  return done.get_future().get();
}

// Every byte of the log's segments as they are on disk now.
std::string LogBytesOnDisk(const std::string& dir) {
  std::string all;
  for (const auto& f : fs::directory_iterator(dir)) {
    std::FILE* in = std::fopen(f.path().c_str(), "rb");
    if (in == nullptr) continue;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, in)) > 0;) all.append(buf, n);
    std::fclose(in);
  }
  return all;
}

TEST_F(DurableEventQueueTest, CancelQueuedOnly) {
  Open(/*start=*/false);
  auto a = Submit("echo", "x");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(CancelSync(*queue_, a->id).ok());
  EventRecord r = WaitFor(a->id, EventStatus::kFailed);
  EXPECT_EQ(r.error_code, "CANCELLED");
  EXPECT_EQ(CancelSync(*queue_, a->id).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CancelSync(*queue_, "ev-unknown").code(), absl::StatusCode::kNotFound);
  Open();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(invoker_.calls().empty());
  EXPECT_EQ(queue_->Get(a->id)->error_code, "CANCELLED");
}

// The answer to a cancel comes only once the cancelled state is in the
// files (a long group-commit delay makes an early answer visible).
TEST_F(DurableEventQueueTest, CancelAnswersOnlyOnceTheCancelledStateIsOnDisk) {
  options_.commit_delay = absl::Milliseconds(200);
  Open(/*start=*/false);
  auto a = Submit("echo", "x");
  ASSERT_TRUE(a.ok());
  std::promise<std::string> on_disk;
  queue_->Cancel(a->id, [&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    on_disk.set_value(LogBytesOnDisk(dir_));
  });
  EXPECT_NE(on_disk.get_future().get().find("CANCELLED"), std::string::npos);
}

// The outbox: a finished event with a reply_to whose delivery was never
// recorded is handed to the listeners again after a restart; once
// MarkDelivered, it is not (and the marker survives compaction's encoding).
TEST_F(DurableEventQueueTest, UndeliveredResultsAreDeliveredAgainAfterARestart) {
  std::vector<std::string> seen;
  absl::Mutex mu;
  auto listen = [&] {
    queue_->OnFinished([&](const EventRecord& r) {
      absl::MutexLock lock(&mu);
      seen.push_back(r.id);
    });
  };
  auto submit = [&](const std::string& body, const std::string& reply_to) {
    EventSubmission s;
    s.function = "echo";
    s.body = body;
    s.reply_to = reply_to;
    std::promise<absl::StatusOr<Accepted>> done;
    queue_->Submit(std::move(s), [&](absl::StatusOr<Accepted> a) { done.set_value(a); });
    return done.get_future().get();
  };
  Open(/*start=*/false);
  listen();
  queue_->Start();
  auto a = submit("a", "stoa/result/echo/a");
  auto b = submit("b", "stoa/result/echo/b");
  auto c = submit("c", "");  // nowhere to deliver
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  for (const auto* x : {&a, &b, &c}) WaitFor((*x)->id, EventStatus::kSucceeded);
  queue_->MarkDelivered(b->id);
  EXPECT_TRUE(queue_->Get(b->id)->delivered);
  Open(/*start=*/false);  // a crash after a's result, before its delivery
  {
    absl::MutexLock lock(&mu);
    seen.clear();
  }
  listen();
  queue_->Start();
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(seen, std::vector<std::string>{a->id});
  }
  EXPECT_EQ(queue_->Get(a->id)->result_body, "a");
  queue_->MarkDelivered(a->id);
  Open(/*start=*/false);
  listen();
  queue_->Start();
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(seen, std::vector<std::string>{a->id}) << "delivered again after MarkDelivered";
  }
  EXPECT_EQ(invoker_.calls().size(), 3u) << "an event ran again";
  EventEntry compacted;
  compacted.record = *queue_->Get(a->id);
  EventEntry back;
  ASSERT_TRUE(Apply(EncodeAccepted(compacted), back).ok());
  EXPECT_TRUE(back.record.delivered);
}

}  // namespace
}  // namespace stoa::gateway::events
