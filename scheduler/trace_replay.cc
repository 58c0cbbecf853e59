#include "scheduler/trace_replay.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "nlohmann/json.hpp"
#include "scheduler/placement_scheduler.h"

namespace stoa::scheduler {
namespace {

using nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double Num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : kNaN;
}

TierSet TiersOf(const json& j, const char* key) {
  TierSet out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const json& v : *it) {
    if (auto t = v.is_string() ? ParseTier(v.get<std::string>()) : std::nullopt) out.Add(*t);
  }
  return out;
}

std::optional<Reason> ParseReason(const std::string& name) {
  for (int i = 0; i < kNumReasons; ++i) {
    if (ReasonName(static_cast<Reason>(i)) == name) return static_cast<Reason>(i);
  }
  return std::nullopt;
}

absl::StatusOr<Tier> TierField(const json& j, const char* key) {
  auto it = j.find(key);
  std::optional<Tier> t =
      it != j.end() && it->is_string() ? ParseTier(it->get<std::string>()) : std::nullopt;
  if (!t) return absl::InvalidArgumentError(absl::StrCat("field '", key, "' is not a tier"));
  return *t;
}

Prediction ParsePrediction(const json& j) {
  Prediction p;
  p.measured = j.value("measured", false);
  p.mean_ms = Num(j, "mean_ms");
  p.p95_ms = Num(j, "p95_ms");
  p.uncertainty_ms = Num(j, "unc_ms");
  p.ms = p.mean_ms;
  if (auto terms = j.find("terms"); terms != j.end() && terms->is_object()) {
    for (Term t : kAllTerms) {
      auto it = terms->find(std::string(TermName(t)));
      if (it == terms->end() || !it->is_array() || it->size() != 2) continue;
      TermEstimate& e = p.terms[TermIndex(t)];
      e.mean_ms = (*it)[0].is_number() ? (*it)[0].get<double>() : 0.0;
      e.p95_ms = (*it)[1].is_number() ? (*it)[1].get<double>() : 0.0;
    }
  }
  return p;
}

absl::Status ParseDecision(const json& j, TraceEvent& ev) {
  ev.kind = TraceEvent::Kind::kDecision;
  ev.features.request_bytes = j.value("bytes", uint64_t{0});
  ev.features.batch = j.value("batch", uint32_t{1});
  ev.features.warm = TiersOf(j, "warm");
  ev.allowed = TiersOf(j, "allowed");
  ev.available = TiersOf(j, "available");
  if (ev.allowed.Empty()) return absl::InvalidArgumentError("decision without allowed tiers");
  if (auto tiers = j.find("tiers"); tiers != j.end() && tiers->is_object()) {
    for (Tier t : AllTiers()) {
      auto it = tiers->find(std::string(TierName(t)));
      if (it == tiers->end()) continue;
      ev.predictions[TierIndex(t)] = ParsePrediction(*it);
      ev.features.queue_depth[TierIndex(t)] = it->value("queue_depth", uint32_t{0});
      ev.features.in_flight[TierIndex(t)] = it->value("in_flight", uint32_t{0});
      ev.features.overdue_ms[TierIndex(t)] = it->value("overdue_ms", 0.0);
    }
  }
  auto tier = TierField(j, "tier");
  if (!tier.ok()) return tier.status();
  ev.decision.tier = *tier;
  ev.decision.reason = ParseReason(j.value("reason", "")).value_or(Reason::kPredictedBest);
  ev.decision.hedge = TiersOf(j, "hedge");
  ev.decision.keep_hedge = j.value("keep_hedge", false);
  ev.decision.shadow = TiersOf(j, "shadow");
  ev.decision.trace_id = ev.id;
  return absl::OkStatus();
}

absl::Status ParseOutcome(const json& j, TraceEvent& ev) {
  ev.kind = TraceEvent::Kind::kOutcome;
  auto tier = TierField(j, "tier");
  if (!tier.ok()) return tier.status();
  Outcome& o = ev.outcome;
  o.tier = *tier;
  o.shadow = j.value("shadow", false);
  o.ok = j.value("ok", true);
  o.tier_failure = j.value("tier_failure", false);
  o.latency_ms = Num(j, "latency_ms");
  o.server_ms = Num(j, "server_ms");
  o.load_ms = Num(j, "load_ms");
  o.queue_ms = Num(j, "queue_ms");
  o.exec_ms = Num(j, "exec_ms");
  o.request_bytes = j.value("bytes", uint64_t{0});
  o.response_bytes = j.value("resp_bytes", uint64_t{0});
  o.batch = j.value("batch", uint32_t{1});
  o.ahead = j.value("ahead", uint32_t{0});
  ev.decision = Decision(*tier, ParseReason(j.value("reason", "")).value_or(Reason::kForced));
  ev.decision.trace_id = ev.id;
  return absl::OkStatus();
}

// The start event's "targets" (absent in traces written before targets):
// installed as the process's table so the trace's names resolve.
absl::Status InstallTraceTargets(const json& j) {
  auto it = j.find("targets");
  if (it == j.end()) return absl::OkStatus();
  if (!it->is_array()) return absl::InvalidArgumentError("field 'targets' is not an array");
  std::vector<TargetInfo> targets;
  for (const json& t : *it) {
    if (!t.is_object()) return absl::InvalidArgumentError("a target is not an object");
    auto tier = ParseTierClass(t.value("tier", ""));
    auto device = ParseDeviceClass(t.value("device", "cpu"));
    if (!tier || !device) {
      return absl::InvalidArgumentError("a target's tier or device is not known");
    }
    targets.push_back({t.value("name", ""), *tier, *device});
  }
  auto table = TargetTable::Make(std::move(targets));
  if (!table.ok()) return table.status();
  InstallTargets(*std::move(table));
  return absl::OkStatus();
}

absl::Status ParseLine(const json& j, Trace& trace) {
  const std::string kind = j.value("ev", "");
  if (kind == "start") {
    if (auto s = InstallTraceTargets(j); !s.ok()) return s;
    trace.seed = j.value("seed", uint64_t{0});
    trace.in_process = TiersOf(j, "in_process");
    if (auto p = j.find("policy"); p != j.end()) {
      auto parsed = ParsePolicyJson(p->dump());
      if (!parsed.ok()) return parsed.status();
      trace.policy = *parsed;
    }
    return absl::OkStatus();
  }
  TraceEvent ev;
  ev.t_us = j.value("t_us", int64_t{0});
  ev.id = j.value("id", uint64_t{0});
  ev.function = j.value("fn", "");
  if (kind == "decision") {
    if (auto s = ParseDecision(j, ev); !s.ok()) return s;
  } else if (kind == "outcome") {
    if (auto s = ParseOutcome(j, ev); !s.ok()) return s;
  } else if (kind == "link" || kind == "quota" || kind == "throttle") {
    // What a status probe of one tier said.
    auto tier = TierField(j, "tier");
    if (!tier.ok()) return tier.status();
    ev.tier = *tier;
    if (kind == "link") {
      ev.kind = TraceEvent::Kind::kLink;
      ev.link_ok = j.value("ok", true);
      ev.rtt_ms = Num(j, "rtt_ms");
    } else if (kind == "quota") {
      ev.kind = TraceEvent::Kind::kQuota;
      ev.cpu_quota_cores = Num(j, "cores");
    } else {
      ev.kind = TraceEvent::Kind::kThrottle;
      ev.cpu_throttled = Num(j, "throttled");
      ev.cpu_used_cores = Num(j, "used_cores");
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown event '", kind, "'"));
  }
  trace.events.push_back(std::move(ev));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Trace> ParseTrace(const std::string& text) {
  Trace trace;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    absl::Status s =
        j.is_object() ? ParseLine(j, trace) : absl::InvalidArgumentError("not a JSON object");
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("trace line ", n, ": ", s.message()));
    }
  }
  return trace;
}

absl::StatusOr<Trace> LoadTrace(const std::vector<std::string>& paths) {
  std::string text;
  for (const std::string& path : paths) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return absl::NotFoundError(absl::StrCat("cannot read trace file '", path, "'"));
    std::ostringstream ss;
    ss << f.rdbuf();
    text += ss.str();
    if (!text.empty() && text.back() != '\n') text.push_back('\n');
  }
  return ParseTrace(text);
}

namespace {

// Per decision id: the latency of each tier's successful run of that
// request (NaN: none), and which tiers have any recorded outcome.
struct Samples {
  Samples() { ms.fill(kNaN); }
  std::array<double, kNumTiers> ms;
  TierSet recorded;
};

absl::flat_hash_map<uint64_t, Samples> CollectSamples(const Trace& trace) {
  absl::flat_hash_map<uint64_t, Samples> out;
  for (const TraceEvent& ev : trace.events) {
    if (ev.kind != TraceEvent::Kind::kOutcome || ev.id == 0) continue;
    Samples& s = out[ev.id];
    const int i = TierIndex(ev.outcome.tier);
    s.recorded.Add(ev.outcome.tier);
    if (ev.outcome.ok && std::isfinite(ev.outcome.latency_ms) && !std::isfinite(s.ms[i])) {
      s.ms[i] = ev.outcome.latency_ms;
    }
  }
  return out;
}

// Scores one decision for `tier` (+ `hedge`: the first to answer).
void Score(const TraceEvent& ev, const Samples* samples, Tier tier, TierSet hedge,
           ReplayScore& score) {
  ++score.decisions;
  ++score.placed[TierIndex(tier)];
  score.agree += tier == ev.decision.tier;
  std::array<double, kNumTiers> ms;
  ms.fill(kNaN);
  std::array<bool, kNumTiers> sampled{};
  int known = 0;
  for (Tier t : AllTiers()) {
    const int i = TierIndex(t);
    if (!ev.allowed.Contains(t)) continue;
    if (samples != nullptr && std::isfinite(samples->ms[i])) {
      ms[i] = samples->ms[i];
      sampled[i] = true;
    } else if (ev.predictions[i].measured && std::isfinite(ev.predictions[i].mean_ms)) {
      ms[i] = ev.predictions[i].mean_ms;
    }
    known += std::isfinite(ms[i]);
  }
  double mine = ms[TierIndex(tier)];
  bool mine_sampled = sampled[TierIndex(tier)];
  for (Tier t : AllTiers()) {
    if (hedge.Contains(t) && std::isfinite(ms[TierIndex(t)]) && !(mine <= ms[TierIndex(t)])) {
      mine = ms[TierIndex(t)];
      mine_sampled = sampled[TierIndex(t)];
    }
  }
  if (known < 2 || !std::isfinite(mine)) return;
  double best = mine;
  for (double v : ms) {
    if (std::isfinite(v)) best = std::min(best, v);
  }
  ++score.scored;
  score.correct += mine <= best;
  bool all_sampled = true;
  for (Tier t : AllTiers()) {
    if (ev.allowed.Contains(t) && !sampled[TierIndex(t)]) all_sampled = false;
  }
  if (all_sampled) {
    ++score.all_sampled;
    score.all_sampled_correct += mine <= best;
  }
  score.regret_ms += mine - best;
  score.latency_ms += mine;
  score.best_ms += best;
  (mine_sampled ? score.from_samples : score.modelled)++;
}

// What the live model expected of `tier` at decision `ev`, as an outcome.
std::optional<Outcome> Modelled(const TraceEvent& ev, Tier tier) {
  const Prediction& p = ev.predictions[TierIndex(tier)];
  if (!p.measured || !std::isfinite(p.mean_ms)) return std::nullopt;
  Outcome o;
  o.tier = tier;
  o.queue_ms = p.terms[TermIndex(Term::kQueue)].mean_ms;
  o.load_ms = ev.features.warm.Contains(tier) ? 0.0 : p.terms[TermIndex(Term::kCold)].mean_ms;
  o.exec_ms = p.terms[TermIndex(Term::kExec)].mean_ms;
  o.server_ms = o.queue_ms + o.load_ms + o.exec_ms;
  o.latency_ms = p.mean_ms;
  o.request_bytes = ev.features.request_bytes;
  o.batch = ev.features.batch;
  o.ahead = ev.features.queue_depth[TierIndex(tier)] + ev.features.in_flight[TierIndex(tier)];
  return o;
}

struct Replayed {
  const TraceEvent* live = nullptr;  // the decision event
  Decision decision;
  TierSet fed;
};

TierSet Runs(const Decision& d) {
  TierSet runs = TierSet::Of(d.tier);
  for (Tier t : AllTiers()) {
    if (d.hedge.Contains(t) || d.shadow.Contains(t)) runs.Add(t);
  }
  return runs;
}

// Feeds `outcome` for run `tier` of replayed decision `r`.
void Feed(PlacementScheduler& sched, const std::string& fn, Replayed& r, Tier tier,
          Outcome outcome) {
  const Decision d = RunDecision(r.decision, tier);
  outcome.tier = tier;
  outcome.shadow = d.reason == Reason::kShadow;
  sched.Observe(fn, d, outcome);
  r.fed.Add(tier);
}

void ReplayOutcome(PlacementScheduler& sched, const TraceEvent& ev,
                   absl::flat_hash_map<uint64_t, Replayed>& replayed,
                   const absl::flat_hash_map<uint64_t, Samples>& samples) {
  auto it = ev.id == 0 ? replayed.end() : replayed.find(ev.id);
  if (it == replayed.end()) {
    // Not from a traced decision (?tier=, a failover's retry): as recorded.
    sched.Observe(ev.function, ev.decision, ev.outcome);
    return;
  }
  Replayed& r = it->second;
  const Tier tier = ev.outcome.tier;
  const TierSet runs = Runs(r.decision);
  if (runs.Contains(tier) && !r.fed.Contains(tier)) Feed(sched, ev.function, r, tier, ev.outcome);
  if (ev.outcome.shadow) return;
  // The live answer is back: the replay's runs the live run never made
  // answer now, as the live model expected them to.
  auto s = samples.find(ev.id);
  for (Tier t : AllTiers()) {
    if (!runs.Contains(t) || r.fed.Contains(t)) continue;
    if (s != samples.end() && s->second.recorded.Contains(t)) continue;  // comes later
    if (auto o = Modelled(*r.live, t)) Feed(sched, ev.function, r, t, *o);
  }
}

}  // namespace

ReplayScore ScoreLive(const Trace& trace) {
  const auto samples = CollectSamples(trace);
  ReplayScore score;
  score.policy = absl::StrCat("live (", std::string(PolicyKindName(trace.policy.policy)), ")");
  for (const TraceEvent& ev : trace.events) {
    if (ev.kind != TraceEvent::Kind::kDecision) continue;
    auto s = samples.find(ev.id);
    Score(ev, s == samples.end() ? nullptr : &s->second, ev.decision.tier, ev.decision.hedge,
          score);
  }
  return score;
}

ReplayScore Replay(const Trace& trace, const PolicyConfig& policy, std::optional<uint64_t> seed) {
  const auto samples = CollectSamples(trace);
  common::FakeClock clock;
  SchedulerOptions options;
  options.in_process = trace.in_process;
  PlacementScheduler sched(clock, nullptr, seed.value_or(trace.seed), policy, options);
  absl::flat_hash_map<uint64_t, Replayed> replayed;
  ReplayScore score;
  score.policy = std::string(PolicyKindName(policy.policy));
  for (const TraceEvent& ev : trace.events) {
    clock.SetMicros(ev.t_us);
    switch (ev.kind) {
      case TraceEvent::Kind::kLink:
        sched.ObserveLink(ev.tier, ev.link_ok, ev.rtt_ms);
        break;
      case TraceEvent::Kind::kQuota:
        sched.ObserveCpuQuota(ev.tier, ev.cpu_quota_cores);
        break;
      case TraceEvent::Kind::kThrottle:
        sched.ObserveCpuThrottle(ev.tier, ev.cpu_throttled, ev.cpu_used_cores);
        break;
      case TraceEvent::Kind::kDecision: {
        auto d = sched.Decide(ev.function, ev.allowed, ev.features);
        if (!d.ok()) {
          ++score.unavailable;
          break;
        }
        auto s = samples.find(ev.id);
        Score(ev, s == samples.end() ? nullptr : &s->second, d->tier, d->hedge, score);
        replayed[ev.id] = Replayed{&ev, *d, TierSet()};
        break;
      }
      case TraceEvent::Kind::kOutcome:
        ReplayOutcome(sched, ev, replayed, samples);
        break;
    }
  }
  return score;
}

std::string FormatScores(const std::vector<ReplayScore>& scores) {
  // Placements per target, named as the trace named them ("edge/cloud").
  std::string names;
  for (Tier t : AllTiers())
    absl::StrAppend(&names, names.empty() ? "" : "/", std::string(TierName(t)));
  std::string out = absl::StrCat(
      "| policy | decisions | scored | accuracy | mean regret ms | regret | mean ms | "
      "same tier as live | scored from samples / model | ",
      names,
      " | accuracy (sampled) |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const ReplayScore& s : scores) {
    const double n = s.scored ? static_cast<double>(s.scored) : 1.0;
    std::string placed;
    for (Tier t : AllTiers()) {
      absl::StrAppend(&placed, placed.empty() ? "" : "/", s.placed[TierIndex(t)]);
    }
    absl::StrAppendFormat(
        &out,
        "| %s | %d | %d | %.1f %% | %.2f | %+.1f %% | %.2f | %.1f %% | %d / %d | %s | "
        "%.1f %% of %d |\n",
        s.policy, s.decisions, s.scored, 100 * s.Accuracy(), s.regret_ms / n, s.RegretPct(),
        s.latency_ms / n, s.decisions ? 100.0 * s.agree / s.decisions : 0.0, s.from_samples,
        s.modelled, placed, s.all_sampled ? 100.0 * s.all_sampled_correct / s.all_sampled : 0.0,
        s.all_sampled);
  }
  return out;
}

}  // namespace stoa::scheduler
