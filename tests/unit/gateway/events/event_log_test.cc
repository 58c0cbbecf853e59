#include "gateway/events/event_log.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gateway/events/crc32c.h"
#include "gtest/gtest.h"

namespace stoa::gateway::events {
namespace {

namespace fs = std::filesystem;

EventLog::Options At(const std::string& dir, absl::Duration delay = absl::Milliseconds(2)) {
  EventLog::Options options;
  options.dir = dir;
  options.commit_delay = delay;
  return options;
}

std::string TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / absl::StrCat("stoa_event_log_", name, "_", getpid());
  fs::remove_all(dir);
  return dir.string();
}

std::vector<std::string> ReplayAll(const std::string& dir, EventLog::OpenStats* stats = nullptr) {
  std::vector<std::string> out;
  auto log = EventLog::Open(
      At(dir), [&](RecordType, std::string_view p) { out.emplace_back(p); }, stats);
  EXPECT_TRUE(log.ok()) << log.status();
  return out;
}

std::string LastSegment(const std::string& dir) {
  std::string last;
  for (const auto& e : fs::directory_iterator(dir)) last = std::max(last, e.path().string());
  return last;
}

TEST(Crc32cTest, KnownValues) {
  // The check value of CRC-32C (RFC 3720 B.4).
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c("56789", Crc32c("1234")), Crc32c("123456789"));
}

TEST(EventLogTest, AppendsAreReplayedInOrderAfterReopen) {
  const std::string dir = TempDir("order");
  {
    auto log = EventLog::Open(At(dir), [](RecordType, std::string_view) {});
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE((*log)->AppendSync({RecordType::kAccepted, absl::StrCat("r", i)}).ok());
    }
  }
  std::vector<std::string> got = ReplayAll(dir);
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[i], absl::StrCat("r", i));
  fs::remove_all(dir);
}

TEST(EventLogTest, GroupCommitBatchesManyAppendsIntoFewSyncs) {
  const std::string dir = TempDir("group");
  auto log = EventLog::Open(At(dir, absl::Milliseconds(5)), [](RecordType, std::string_view) {});
  ASSERT_TRUE(log.ok());
  std::atomic<int> done{0};
  for (int i = 0; i < 1000; ++i) {
    (*log)->Append({RecordType::kAccepted, std::string(100, 'x')}, [&](absl::Status s) {
      EXPECT_TRUE(s.ok());
      done++;
    });
  }
  while (done.load() < 1000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_LT((*log)->syncs(), 100u) << "1000 appends queued at once took one fsync each";
  log->reset();
  EXPECT_EQ(ReplayAll(dir).size(), 1000u);
  fs::remove_all(dir);
}

TEST(EventLogTest, TornTailIsTruncatedNeverRead) {
  const std::string dir = TempDir("torn");
  {
    auto log = EventLog::Open(At(dir), [](RecordType, std::string_view) {});
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->AppendSync({RecordType::kAccepted, "first"}).ok());
    ASSERT_TRUE((*log)->AppendSync({RecordType::kState, "second"}).ok());
  }
  const std::string segment = LastSegment(dir);
  {
    // Half of a third record, as a crash in the middle of a write leaves it.
    std::string frame = EventLog::Frame({RecordType::kAccepted, "third, never finished"});
    std::ofstream out(segment, std::ios::binary | std::ios::app);
    out.write(frame.data(), static_cast<std::streamsize>(frame.size() / 2));
  }
  const auto size_torn = fs::file_size(segment);
  EventLog::OpenStats stats;
  std::vector<std::string> got = ReplayAll(dir, &stats);
  EXPECT_EQ(got, (std::vector<std::string>{"first", "second"}));
  EXPECT_GT(stats.truncated_bytes, 0u);
  EXPECT_LT(fs::file_size(segment), size_torn);
  fs::remove_all(dir);
}

TEST(EventLogTest, CorruptRecordEndsTheSegment) {
  const std::string dir = TempDir("corrupt");
  {
    auto log = EventLog::Open(At(dir), [](RecordType, std::string_view) {});
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->AppendSync({RecordType::kAccepted, "good"}).ok());
    ASSERT_TRUE((*log)->AppendSync({RecordType::kAccepted, "flipped"}).ok());
  }
  const std::string segment = LastSegment(dir);
  {
    std::fstream f(segment, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(-2, std::ios::end);
    f.put('#');  // inside "flipped": its CRC no longer matches
  }
  EXPECT_EQ(ReplayAll(dir), (std::vector<std::string>{"good"}));
  fs::remove_all(dir);
}

TEST(EventLogTest, CompactionReplacesOldSegmentsAndKeepsLaterAppends) {
  const std::string dir = TempDir("compact");
  {
    auto log = EventLog::Open(At(dir), [](RecordType, std::string_view) {});
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE((*log)->AppendSync({RecordType::kAccepted, std::string(1000, 'a')}).ok());
    }
    const uint64_t before = (*log)->bytes();
    std::promise<absl::Status> compacted;
    (*log)->Compact({{RecordType::kAccepted, "live-1"}, {RecordType::kAccepted, "live-2"}},
                    [&](absl::Status s) { compacted.set_value(s); });
    ASSERT_TRUE(compacted.get_future().get().ok());
    EXPECT_LT((*log)->bytes(), before / 10);
    ASSERT_TRUE((*log)->AppendSync({RecordType::kState, "after"}).ok());
  }
  EXPECT_EQ(ReplayAll(dir), (std::vector<std::string>{"live-1", "live-2", "after"}));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
  fs::remove_all(dir);
}

// A child appends from four threads and reports each record once durable;
// the parent SIGKILLs it at a random moment. Every reported record must be
// replayed intact, every replayed record must be one the child wrote, and
// the log must keep working after each crash. Many rounds, one directory.
std::string Payload(int round, int thread, int i) {
  return absl::StrCat("round ", round, " thread ", thread, " record ", i, " ",
                      std::string(static_cast<size_t>(i % 97), 'p'));
}

[[noreturn]] void ChildAppends(const std::string& dir, int round, int fd) {
  auto log = EventLog::Open(At(dir, absl::Milliseconds(1)), [](RecordType, std::string_view) {});
  if (!log.ok()) _exit(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        std::string p = Payload(round, t, i);
        if (!(*log)->AppendSync({RecordType::kAccepted, p}).ok()) _exit(4);
        p.push_back('\n');
        if (write(fd, p.data(), p.size()) != static_cast<ssize_t>(p.size())) _exit(5);
      }
    });
  }
  for (auto& t : threads) t.join();
  _exit(0);
}

TEST(EventLogCrashTest, EveryAcknowledgedRecordSurvivesSigkill) {
  const std::string dir = TempDir("crash");
  std::mt19937 rng(12345);
  std::set<std::string> acknowledged;
  for (int round = 0; round < 25; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      ChildAppends(dir, round, fds[1]);
    }
    close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 60));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child exited by itself: " << status;
    std::string reported;
    char buf[65536];
    for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) reported.append(buf, n);
    close(fds[0]);
    for (size_t start = 0, end; (end = reported.find('\n', start)) != std::string::npos;
         start = end + 1) {
      acknowledged.insert(reported.substr(start, end - start));
    }
    std::vector<std::string> replayed = ReplayAll(dir);
    std::set<std::string> found(replayed.begin(), replayed.end());
    EXPECT_EQ(found.size(), replayed.size()) << "a record was replayed twice";
    for (const std::string& a : acknowledged) {
      ASSERT_TRUE(found.contains(a)) << "round " << round << ": lost an acknowledged record: " << a;
    }
    for (const std::string& r : replayed) {
      ASSERT_EQ(r.rfind("round ", 0), 0u) << "garbage replayed: " << r.substr(0, 40);
    }
  }
  EXPECT_GT(acknowledged.size(), 100u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace stoa::gateway::events
