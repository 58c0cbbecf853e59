// EventLog: the durable, append-only log under <data-dir>/events/ that the
// event queue keeps its state in (issue 13 item 3).
//
// On disk: segment files "seg-<20-digit number>.log", read in number order.
// Each record is framed as
//     u32 length (of type + payload, little endian)
//     u32 CRC-32C (of type + payload)
//     u8  type
//     payload (opaque to the log)
// A crash can leave the last segment with a torn tail (a short frame, or
// one whose CRC does not match): Open stops there and truncates the file at
// the last whole record, so a partial record is never read back as data.
//
//   Open      replays every whole record in order through `replay`, then
//             opens a new segment for appends. INTERNAL when the directory
//             cannot be created or read.
//   Append    queues one record; `done` is called exactly once, from the
//             writer thread, after the record is on disk (written and
//             fdatasync'ed), or with the error that prevented it. Group
//             commit: one writer thread collects the records appended within
//             `commit_delay` of the first one waiting (or until
//             `max_batch_bytes`), writes them with one write and makes them
//             durable with one fdatasync, then completes all of them.
//             After a disk error every later append fails UNAVAILABLE.
//   Compact   replaces the whole log by `live` (records that restate the
//             state): they are written to a temporary file, fsynced,
//             renamed to the next segment number, the directory fsynced,
//             and only then the older segments are deleted; appends queued
//             after Compact follow the compacted records. A crash at any
//             point leaves either the old segments, or both (replaying the
//             old ones and then the compacted records, which must restate
//             the state completely, gives the same state).
//   bytes     the log's size on disk.
//
// Thread safety: every method may be called concurrently. Callbacks run on
// the writer thread: they may Append (it only queues) but never AppendSync.
// Ownership: the destructor makes everything queued durable, completes it,
// and joins the writer.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace stoa::gateway::events {

enum class RecordType : uint8_t { kAccepted = 1, kState = 2, kForget = 3 };

struct LogRecord {
  RecordType type = RecordType::kAccepted;
  std::string payload;
};

class EventLog {
 public:
  struct Options {
    std::string dir;  // <data-dir>/events
    absl::Duration commit_delay = absl::Milliseconds(2);
    size_t max_batch_bytes = 4 << 20;
    uint64_t segment_bytes = 64ull << 20;  // a new segment past this size
  };
  using Replay = std::function<void(RecordType, std::string_view payload)>;
  using Done = std::function<void(absl::Status)>;

  struct OpenStats {
    size_t records = 0;
    size_t segments = 0;
    uint64_t truncated_bytes = 0;  // a torn tail dropped
  };

  static absl::StatusOr<std::unique_ptr<EventLog>> Open(Options options, const Replay& replay,
                                                        OpenStats* stats = nullptr);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  void Append(LogRecord record, Done done);
  // Appends and waits for durability (tests, tools).
  absl::Status AppendSync(LogRecord record);
  void Compact(std::vector<LogRecord> live, Done done);
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  // fdatasync calls so far (group commit's effect, for the benchmark).
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }

  // Frames one record (exposed for the tests that tear records).
  static std::string Frame(const LogRecord& record);

 private:
  struct Pending {
    LogRecord record;
    Done done;
    bool compact = false;
    std::vector<LogRecord> live;  // when compact
  };

  explicit EventLog(Options options);
  absl::Status ReplayAll(const Replay& replay, OpenStats* stats);
  absl::Status OpenSegment(uint64_t number);
  void WriterLoop();
  // Writes and syncs `batch` (records, and at most one compaction last).
  absl::Status WriteBatch(std::vector<Pending>& batch);
  absl::Status WriteAndSync(const std::string& data);
  absl::Status DoCompact(const std::vector<LogRecord>& live);

  const Options options_;
  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The writer thread's own.
  int fd_ = -1;
  uint64_t segment_number_ = 0;
  uint64_t segment_size_ = 0;
  absl::Status failed_;             // sticky disk error
  std::vector<uint64_t> segments_;  // numbers of the segments on disk
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> syncs_{0};
  std::thread writer_;
};

}  // namespace stoa::gateway::events
