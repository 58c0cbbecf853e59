#include "scheduler/decision_trace.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace stoa::scheduler {
namespace {

using nlohmann::json;

json Num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json Tiers(TierSet set) {
  json out = json::array();
  for (Tier t : AllTiers()) {
    if (set.Contains(t)) out.push_back(std::string(TierName(t)));
  }
  return out;
}

json TierJson(const Prediction& p, double link_rtt_ms, uint32_t depth, uint32_t in_flight,
              double overdue_ms) {
  json terms = json::object();
  for (Term term : kAllTerms) {
    const TermEstimate& e = p.terms[TermIndex(term)];
    terms[std::string(TermName(term))] = {Num(e.mean_ms), Num(e.p95_ms)};
  }
  json j = {{"measured", p.measured},    {"mean_ms", Num(p.mean_ms)},
            {"p95_ms", Num(p.p95_ms)},   {"unc_ms", Num(p.uncertainty_ms)},
            {"terms", std::move(terms)}, {"link_rtt_ms", Num(link_rtt_ms)},
            {"queue_depth", depth},      {"in_flight", in_flight}};
  if (overdue_ms > 0.0) j["overdue_ms"] = Num(overdue_ms);
  if (p.late_ms > 0.0) j["late_ms"] = Num(p.late_ms);
  return j;
}

// The installed targets, so that `stoa replay` can rebuild the table.
json TargetsJson() {
  json out = json::array();
  for (Tier t : AllTiers()) {
    const TargetInfo& info = Targets().at(t);
    out.push_back({{"name", info.name},
                   {"tier", std::string(TierClassText(info.tier))},
                   {"device", std::string(DeviceClassText(info.device))}});
  }
  return out;
}

absl::Status OpenError(const std::string& path, int err) {
  std::string msg = absl::StrCat("trace file '", path, "': ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::StatusOr<std::unique_ptr<DecisionTrace>> DecisionTrace::Open(const std::string& path,
                                                                   uint64_t max_bytes) {
  if (path.empty()) return absl::InvalidArgumentError("trace file: empty path");
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return OpenError(path, errno);
  return std::unique_ptr<DecisionTrace>(new DecisionTrace(path, max_bytes, f));
}

DecisionTrace::DecisionTrace(std::string path, uint64_t max_bytes, std::FILE* file)
    : path_(std::move(path)), max_bytes_(max_bytes), file_(file) {}

DecisionTrace::~DecisionTrace() {
  absl::MutexLock lock(&mu_);
  if (file_ != nullptr) std::fclose(file_);
}

uint64_t DecisionTrace::NextId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

void DecisionTrace::RecordStart(uint64_t seed, TierSet in_process, int64_t now_us,
                                const PolicyConfig& policy) {
  json j = {{"ev", "start"},
            {"t_us", now_us},
            {"seed", seed},
            {"in_process", Tiers(in_process)},
            {"targets", TargetsJson()},
            {"policy", json::parse(PolicyToJson(policy))}};
  std::string line = j.dump();
  {
    absl::MutexLock lock(&mu_);
    start_line_ = line;
  }
  Write(std::move(line));
}

void DecisionTrace::RecordDecision(int64_t now_us, std::string_view function,
                                   const PolicyConfig& config, const PolicyInput& in,
                                   const std::array<double, kNumTiers>& link_rtt_ms,
                                   const Decision& decision) {
  json tiers = json::object();
  const Features& f = *in.features;
  for (Tier t : AllTiers()) {
    if (!in.allowed.Contains(t)) continue;
    const int i = TierIndex(t);
    tiers[std::string(TierName(t))] = TierJson(in.predictions[i], link_rtt_ms[i], f.queue_depth[i],
                                               f.in_flight[i], f.overdue_ms[i]);
  }
  json j = {{"ev", "decision"},
            {"t_us", now_us},
            {"id", decision.trace_id},
            {"fn", std::string(function)},
            {"policy", std::string(PolicyKindName(config.policy))},
            {"bytes", f.request_bytes},
            {"batch", f.batch},
            {"warm", Tiers(f.warm)},
            {"allowed", Tiers(in.allowed)},
            {"available", Tiers(in.available)},
            {"explorable", Tiers(in.explorable)},
            {"tiers", std::move(tiers)},
            {"tier", std::string(TierName(decision.tier))},
            {"reason", std::string(ReasonName(decision.reason))},
            {"predicted_ms", Num(decision.predicted_ms)},
            {"hedge", Tiers(decision.hedge)},
            {"shadow", Tiers(decision.shadow)}};
  if (decision.keep_hedge) j["keep_hedge"] = true;
  if (!decision.backup.Empty()) {
    j["backup"] = Tiers(decision.backup);
    j["backup_after_ms"] = Num(decision.backup_after_ms);
  }
  Write(j.dump());
}

void DecisionTrace::RecordOutcome(int64_t now_us, std::string_view function,
                                  const Decision& decision, const Outcome& o) {
  json j = {{"ev", "outcome"},
            {"t_us", now_us},
            {"id", decision.trace_id},
            {"fn", std::string(function)},
            {"tier", std::string(TierName(o.tier))},
            {"reason", std::string(ReasonName(decision.reason))},
            {"shadow", IsShadowRun(decision, o)},
            {"ok", o.ok},
            {"tier_failure", o.tier_failure},
            {"latency_ms", Num(o.latency_ms)},
            {"server_ms", Num(o.server_ms)},
            {"load_ms", Num(o.load_ms)},
            {"queue_ms", Num(o.queue_ms)},
            {"exec_ms", Num(o.exec_ms)},
            {"bytes", o.request_bytes},
            {"resp_bytes", o.response_bytes},
            {"batch", o.batch},
            {"ahead", o.ahead}};
  Write(j.dump());
}

void DecisionTrace::RecordLink(int64_t now_us, Tier tier, bool ok, double rtt_ms) {
  json j = {{"ev", "link"},
            {"t_us", now_us},
            {"tier", std::string(TierName(tier))},
            {"ok", ok},
            {"rtt_ms", Num(rtt_ms)}};
  Write(j.dump());
}

void DecisionTrace::RecordQuota(int64_t now_us, Tier tier, double cores) {
  json j = {{"ev", "quota"},
            {"t_us", now_us},
            {"tier", std::string(TierName(tier))},
            {"cores", Num(cores)}};
  Write(j.dump());
}

void DecisionTrace::RecordThrottle(int64_t now_us, Tier tier, double throttled, double used_cores) {
  json j = {{"ev", "throttle"},
            {"t_us", now_us},
            {"tier", std::string(TierName(tier))},
            {"throttled", Num(throttled)},
            {"used_cores", Num(used_cores)}};
  Write(j.dump());
}

void DecisionTrace::Write(std::string line) {
  line.push_back('\n');
  absl::MutexLock lock(&mu_);
  if (file_ == nullptr) return;
  if (max_bytes_ > 0 && bytes_ > 0 && bytes_ + line.size() > max_bytes_ && !RotateLocked()) return;
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) {
    if (errors_++ == 0) spdlog::error("trace file {}: write failed; tracing stops", path_);
    std::fclose(file_);
    file_ = nullptr;
    return;
  }
  std::fflush(file_);  // a crash loses no recorded event
  bytes_ += line.size();
  ++lines_;
}

bool DecisionTrace::RotateLocked() {
  std::fclose(file_);
  file_ = nullptr;
  const std::string old = path_ + ".1";
  if (std::rename(path_.c_str(), old.c_str()) != 0 ||
      (file_ = std::fopen(path_.c_str(), "w")) == nullptr) {
    if (errors_++ == 0) {
      spdlog::error("trace file {}: rotation failed ({}); tracing stops", path_,
                    std::strerror(errno));
    }
    return false;
  }
  ++rotations_;
  bytes_ = 0;
  if (!start_line_.empty()) {
    const std::string line = start_line_ + "\n";
    if (std::fwrite(line.data(), 1, line.size(), file_) == line.size()) bytes_ += line.size();
  }
  return true;
}

uint64_t DecisionTrace::Lines() const {
  absl::MutexLock lock(&mu_);
  return lines_;
}

uint64_t DecisionTrace::Rotations() const {
  absl::MutexLock lock(&mu_);
  return rotations_;
}

uint64_t DecisionTrace::WriteErrors() const {
  absl::MutexLock lock(&mu_);
  return errors_;
}

void DecisionTrace::Flush() {
  absl::MutexLock lock(&mu_);
  if (file_ != nullptr) std::fflush(file_);
}

}  // namespace stoa::scheduler
