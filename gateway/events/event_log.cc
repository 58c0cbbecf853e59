#include "gateway/events/event_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gateway/events/crc32c.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway::events {
namespace {

namespace fs = std::filesystem;

constexpr size_t kHeaderBytes = 9;              // length, CRC, type
constexpr uint32_t kMaxRecordBytes = 1u << 30;  // a larger length is a torn tail

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string SegmentName(uint64_t number) { return absl::StrFormat("seg-%020d.log", number); }

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

absl::Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Errno(absl::StrCat("opening ", dir));
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : Errno(absl::StrCat("fsync ", dir));
}

absl::Status WriteAll(int fd, const std::string& data, const std::string& what) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(absl::StrCat("writing ", what));
    off += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// The segment numbers in `dir`, ascending.
std::vector<uint64_t> ListSegments(const std::string& dir) {
  std::vector<uint64_t> numbers;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 28 || name.rfind("seg-", 0) != 0 || name.substr(24) != ".log") continue;
    numbers.push_back(std::stoull(name.substr(4, 20)));
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

// Replays the whole records of `data`; the offset just past the last one.
size_t ReplayBuffer(const std::string& data, const EventLog::Replay& replay, size_t& records) {
  size_t off = 0;
  while (data.size() - off >= kHeaderBytes) {
    const uint32_t length = GetU32(data.data() + off);
    const uint32_t crc = GetU32(data.data() + off + 4);
    if (length == 0 || length > kMaxRecordBytes || data.size() - off - 8 < length) break;
    std::string_view body(data.data() + off + 8, length);
    if (Crc32c(body) != crc) break;
    const auto type = static_cast<RecordType>(static_cast<uint8_t>(body[0]));
    replay(type, body.substr(1));
    ++records;
    off += 8 + length;
  }
  return off;
}

}  // namespace

std::string EventLog::Frame(const LogRecord& record) {
  std::string body;
  body.reserve(record.payload.size() + 1);
  body.push_back(static_cast<char>(record.type));
  body.append(record.payload);
  std::string out;
  out.reserve(body.size() + 8);
  PutU32(out, static_cast<uint32_t>(body.size()));
  PutU32(out, Crc32c(body));
  out.append(body);
  return out;
}

EventLog::EventLog(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<EventLog>> EventLog::Open(Options options, const Replay& replay,
                                                         OpenStats* stats) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("creating the event log directory ", options.dir, ": ", ec.message()));
  }
  std::unique_ptr<EventLog> log(new EventLog(std::move(options)));
  OpenStats local;
  if (absl::Status s = log->ReplayAll(replay, stats ? stats : &local); !s.ok()) return s;
  const uint64_t next = log->segments_.empty() ? 1 : log->segments_.back() + 1;
  if (absl::Status s = log->OpenSegment(next); !s.ok()) return absl::InternalError(s.message());
  log->writer_ = std::thread([raw = log.get()] { raw->WriterLoop(); });
  return log;
}

absl::Status EventLog::ReplayAll(const Replay& replay, OpenStats* stats) {
  std::vector<uint64_t> numbers;
  try {
    numbers = ListSegments(options_.dir);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("reading ", options_.dir, ": ", e.what()));
  }
  // A compaction's temporary file that never got its name.
  std::error_code ignored;
  fs::remove(fs::path(options_.dir) / "compact.tmp", ignored);
  for (uint64_t number : numbers) {
    const std::string path = (fs::path(options_.dir) / SegmentName(number)).string();
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return absl::InternalError(absl::StrCat("reading ", path));
    const size_t whole = ReplayBuffer(data, replay, stats->records);
    if (whole < data.size()) {
      // A torn tail: never read again as data.
      spdlog::warn("event log: {}: dropping {} bytes after the last whole record", path,
                   data.size() - whole);
      stats->truncated_bytes += data.size() - whole;
      if (::truncate(path.c_str(), static_cast<off_t>(whole)) != 0) {
        return absl::InternalError(absl::StrCat("truncating ", path, ": ", std::strerror(errno)));
      }
    }
    bytes_ += whole;
    segments_.push_back(number);
  }
  stats->segments = numbers.size();
  return absl::OkStatus();
}

absl::Status EventLog::OpenSegment(uint64_t number) {
  const std::string path = (fs::path(options_.dir) / SegmentName(number)).string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(absl::StrCat("opening ", path));
  if (absl::Status s = SyncDir(options_.dir); !s.ok()) {
    ::close(fd);
    return s;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  segment_number_ = number;
  segment_size_ = static_cast<uint64_t>(::lseek(fd, 0, SEEK_END));
  if (segments_.empty() || segments_.back() != number) segments_.push_back(number);
  return absl::OkStatus();
}

EventLog::~EventLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
  if (fd_ >= 0) ::close(fd_);
}

void EventLog::Append(LogRecord record, Done done) {
  const size_t size = record.payload.size() + kHeaderBytes;
  absl::MutexLock lock(&mu_);
  queued_bytes_ += size;
  queue_.push_back(Pending{std::move(record), std::move(done), false, {}});
}

absl::Status EventLog::AppendSync(LogRecord record) {
  std::promise<absl::Status> result;
  Append(std::move(record), [&result](absl::Status s) { result.set_value(std::move(s)); });
  return result.get_future().get();
}

void EventLog::Compact(std::vector<LogRecord> live, Done done) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(Pending{LogRecord{}, std::move(done), true, std::move(live)});
}

void EventLog::WriterLoop() {
  for (;;) {
    std::vector<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](EventLog* log)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return log->stopping_ || !log->queue_.empty(); },
          this));
      if (queue_.empty() && stopping_) return;
      // Group commit: let more records join the batch, for at most the delay.
      if (options_.commit_delay > absl::ZeroDuration() && !stopping_) {
        mu_.AwaitWithTimeout(absl::Condition(
                                 +[](EventLog* log) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                   return log->stopping_ ||
                                          log->queued_bytes_ >= log->options_.max_batch_bytes;
                                 },
                                 this),
                             options_.commit_delay);
      }
      // A compaction ends a batch: it must see exactly the records before it.
      while (!queue_.empty()) {
        const bool compact = queue_.front().compact;
        if (compact && !batch.empty()) break;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
        if (compact) break;
      }
      queued_bytes_ = 0;
      for (const Pending& p : queue_) queued_bytes_ += p.record.payload.size() + kHeaderBytes;
    }
    absl::Status s = WriteBatch(batch);
    for (Pending& p : batch) {
      if (p.done) p.done(s);
    }
  }
}

absl::Status EventLog::WriteBatch(std::vector<Pending>& batch) {
  if (!failed_.ok()) return failed_;
  if (batch.size() == 1 && batch[0].compact) {
    absl::Status s = DoCompact(batch[0].live);
    if (!s.ok()) spdlog::error("event log: compaction failed: {}", std::string(s.message()));
    return s;
  }
  std::string data;
  for (const Pending& p : batch) data += Frame(p.record);
  if (segment_size_ > 0 && segment_size_ + data.size() > options_.segment_bytes) {
    if (absl::Status s = OpenSegment(segment_number_ + 1); !s.ok()) {
      failed_ = s;
      return s;
    }
  }
  absl::Status s = WriteAndSync(data);
  if (!s.ok()) {
    spdlog::error("event log: {}; refusing further appends", std::string(s.message()));
    failed_ = s;
  }
  return s;
}

absl::Status EventLog::WriteAndSync(const std::string& data) {
  const std::string what = SegmentName(segment_number_);
  if (absl::Status s = WriteAll(fd_, data, what); !s.ok()) return s;
  if (::fdatasync(fd_) != 0) return Errno(absl::StrCat("fdatasync ", what));
  syncs_.fetch_add(1, std::memory_order_relaxed);
  segment_size_ += data.size();
  bytes_ += data.size();
  return absl::OkStatus();
}

absl::Status EventLog::DoCompact(const std::vector<LogRecord>& live) {
  const fs::path dir(options_.dir);
  const std::string tmp = (dir / "compact.tmp").string();
  std::string data;
  for (const LogRecord& r : live) data += Frame(r);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(absl::StrCat("opening ", tmp));
  absl::Status s = WriteAll(fd, data, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Errno(absl::StrCat("fsync ", tmp));
  ::close(fd);
  if (!s.ok()) return s;
  const uint64_t number = segment_number_ + 1;
  const std::string target = (dir / SegmentName(number)).string();
  if (::rename(tmp.c_str(), target.c_str()) != 0) return Errno(absl::StrCat("renaming ", tmp));
  if (s = SyncDir(options_.dir); !s.ok()) return s;
  // The compacted records restate everything: the older segments can go.
  const std::vector<uint64_t> old = segments_;
  segments_.clear();
  if (s = OpenSegment(number); !s.ok()) {
    failed_ = s;
    return s;
  }
  for (uint64_t n : old) {
    std::error_code ec;
    fs::remove(dir / SegmentName(n), ec);
  }
  bytes_ = data.size();
  return SyncDir(options_.dir);
}

}  // namespace stoa::gateway::events
