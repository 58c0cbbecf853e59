#include "gateway/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/json_text.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway {
namespace {

using nlohmann::json;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat("audit log ", path, ": ", what, ": ", std::strerror(errno)));
}

// The entry of one line, or false when it does not parse.
bool EntryFromJson(const std::string& line, AuditEntry& entry) {
  json doc = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return false;
  try {
    entry.time_ms = doc.value("time_ms", int64_t{0});
    entry.identity = doc.value("identity", "");
    entry.source = doc.value("source", "");
    entry.role = doc.value("role", "");
    entry.tenant = doc.value("tenant", "");
    entry.client = doc.value("client", "");
    entry.action = doc.value("action", "");
    entry.target = doc.value("target", "");
    entry.target_tenant = doc.value("target_tenant", "");
    entry.outcome = doc.value("outcome", "");
    entry.status = doc.value("status", 0);
    entry.details = doc.value("details", json::object());
  } catch (const json::exception&) {
    return false;
  }
  return true;
}

std::string TimeText(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

json AuditEntryToJson(const AuditEntry& e) {
  return json{{"time", TimeText(e.time_ms)},
              {"time_ms", e.time_ms},
              {"identity", e.identity},
              {"source", e.source},
              {"role", e.role},
              {"tenant", e.tenant},
              {"client", e.client},
              {"action", e.action},
              {"target", e.target},
              {"target_tenant", e.target_tenant},
              {"outcome", e.outcome},
              {"status", e.status},
              {"details", e.details}};
}

AuditLog::AuditLog(std::string path, Options options, int fd)
    : path_(std::move(path)), options_(options), fd_(fd) {}

AuditLog::~AuditLog() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(std::string path, Options options) {
  if (options.keep == 0) options.keep = 1;
  std::deque<AuditEntry> recent;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      AuditEntry entry;
      if (!EntryFromJson(line, entry)) continue;
      recent.push_back(std::move(entry));
      if (recent.size() > options.keep) recent.pop_front();
    }
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Errno("stat", path);
  }
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(path), options, fd));
  absl::MutexLock lock(&log->mu_);
  log->file_bytes_ = static_cast<uint64_t>(st.st_size);
  log->recent_ = std::move(recent);
  return log;
}

absl::Status AuditLog::RotateLocked() {
  const std::string old = path_ + ".1";
  if (::rename(path_.c_str(), old.c_str()) != 0) return Errno("rotate", path_);
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("open", path_);
  ::close(fd_);
  fd_ = fd;
  file_bytes_ = 0;
  return absl::OkStatus();
}

absl::Status AuditLog::AppendLocked(const std::string& line) {
  if (fd_ < 0) return absl::UnavailableError(absl::StrCat("audit log ", path_, " is not open"));
  if (file_bytes_ + line.size() > options_.max_file_bytes && file_bytes_ > 0) {
    if (absl::Status s = RotateLocked(); !s.ok()) return s;
  }
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("write", path_);
    done += static_cast<size_t>(n);
  }
  file_bytes_ += line.size();
  if (::fdatasync(fd_) != 0) return Errno("fdatasync", path_);
  return absl::OkStatus();
}

absl::Status AuditLog::Record(AuditEntry entry) {
  if (entry.time_ms == 0) entry.time_ms = NowMs();
  json doc = AuditEntryToJson(entry);
  doc.erase("time");
  const std::string line = common::DumpJson(doc) + "\n";
  spdlog::info("audit: {} {} {} {} by {} (role {}, tenant '{}', from {}): {}", entry.outcome,
               entry.action, entry.target.empty() ? "(global)" : entry.target, entry.status,
               entry.identity, entry.role.empty() ? "-" : entry.role, entry.tenant, entry.client,
               common::DumpJson(entry.details));
  absl::MutexLock lock(&mu_);
  absl::Status written = AppendLocked(line);
  if (!written.ok()) spdlog::error("{}", std::string(written.message()));
  recent_.push_back(std::move(entry));
  if (recent_.size() > options_.keep) recent_.pop_front();
  return written;
}

std::vector<AuditEntry> AuditLog::Last(size_t limit, std::string_view tenant) const {
  std::vector<AuditEntry> out;
  absl::MutexLock lock(&mu_);
  for (auto it = recent_.rbegin(); it != recent_.rend() && out.size() < limit; ++it) {
    if (!tenant.empty() && it->tenant != tenant && it->target_tenant != tenant) continue;
    out.push_back(*it);
  }
  return out;
}

}  // namespace stoa::gateway
