// The audit trail of the gateway: every change to functions and policies
// (register, replace, delete, global and per-function policy), and every
// change refused for want of permission, with who asked, when, from where
// and what changed (docs/security.md § Audit).
//
// Each entry is one JSON line appended to a file under the data directory
// (written and fdatasync'ed before the change is answered, so an answered
// change is never missing from the trail after a crash) and logged at info
// level ("audit: ..."). The last `keep` entries are kept in memory for
// GET /v1/audit; Open reads them back from the file, so they survive a
// restart. A line that does not parse (a crash cut it short) is skipped.
// When the file passes `max_file_bytes` it is renamed to "<path>.1"
// (replacing an older one) and a new file is started.
//
// Thread safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace stoa::gateway {

struct AuditEntry {
  int64_t time_ms = 0;   // Unix time, milliseconds; Record fills it when 0
  std::string identity;  // the caller's name ("anonymous" when auth is off)
  std::string source;    // how it proved it: "token", "jwt", "certificate"; "" when auth is off
  std::string role;      // "" when auth is off
  std::string tenant;    // the caller's tenant, "" for none
  std::string client;    // the peer's IP address
  std::string action;    // "function.register", "function.replace", "function.delete",
                         // "policy.set", "function_policy.set", "function_policy.clear"
  std::string target;    // the function's name, or "" for the global policy
  std::string target_tenant;  // the tenant owning the target function, "" for none
  std::string outcome;        // "ok", "denied" (403) or "error" (refused otherwise)
  int status = 0;             // the HTTP status answered
  nlohmann::json details = nlohmann::json::object();  // what changed (before/after)
};

nlohmann::json AuditEntryToJson(const AuditEntry& entry);

class AuditLog {
 public:
  struct Options {
    size_t keep = 1000;                     // entries kept in memory for Last
    uint64_t max_file_bytes = 64ull << 20;  // then the file is rotated to <path>.1
  };
  // Opens (creating) the file at `path` and reads its last entries back.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(std::string path, Options options);
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(std::string path) {
    return Open(std::move(path), Options());
  }
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends and syncs the entry. A write error is logged and returned; the
  // entry is still kept in memory and in the log output.
  absl::Status Record(AuditEntry entry);
  // The newest `limit` entries, newest first; with `tenant` non-empty only
  // the entries whose caller or target belongs to it.
  std::vector<AuditEntry> Last(size_t limit, std::string_view tenant = "") const;

 private:
  AuditLog(std::string path, Options options, int fd);
  absl::Status AppendLocked(const std::string& line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RotateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const Options options_;
  mutable absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_);
  uint64_t file_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<AuditEntry> recent_ ABSL_GUARDED_BY(mu_);  // oldest first
};

}  // namespace stoa::gateway
