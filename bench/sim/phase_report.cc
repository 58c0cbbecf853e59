#include "bench/sim/phase_report.h"

#include <algorithm>

namespace stoa::sim {
namespace {

PhaseScore Score(const std::vector<Scored>& run, size_t begin, size_t end, double start_s) {
  PhaseScore s;
  s.start_s = start_s;
  s.requests = static_cast<int>(end - begin);
  if (begin >= end) return s;
  int correct = 0;
  double chosen = 0, best = 0;
  for (size_t i = begin; i < end; ++i) {
    correct += run[i].correct;
    chosen += run[i].chosen_ms;
    best += run[i].best_ms;
  }
  s.accuracy = static_cast<double>(correct) / s.requests;
  s.regret_pct = best > 0 ? 100.0 * (chosen / best - 1.0) : 0.0;
  for (size_t k = begin; k < end; ++k) {
    const size_t stop = std::min(end, k + kAdaptWindow);
    int wrong = 0;
    for (size_t i = k; i < stop; ++i) wrong += !run[i].correct;
    if (wrong <= kAdaptSlack) {
      s.adapt_s = run[k].t_s - start_s;
      s.adapt_requests = static_cast<int>(k - begin);
      break;
    }
  }
  return s;
}

}  // namespace

std::vector<PhaseScore> ScorePhases(const std::vector<Scored>& run,
                                    const std::vector<std::pair<double, std::string>>& phases) {
  std::vector<std::pair<double, std::string>> ps = phases;
  if (ps.empty()) ps.emplace_back(0.0, "all");
  std::vector<PhaseScore> out;
  size_t begin = 0;
  for (size_t p = 0; p < ps.size(); ++p) {
    const double end_s = p + 1 < ps.size() ? ps[p + 1].first : 1e300;
    size_t end = begin;
    while (end < run.size() && run[end].t_s < end_s) ++end;
    PhaseScore s = Score(run, begin, end, ps[p].first);
    s.name = ps[p].second;
    out.push_back(s);
    begin = end;
  }
  return out;
}

PhaseScore ScoreTotal(const std::vector<PhaseScore>& phases, const std::vector<Scored>& run) {
  PhaseScore total = Score(run, 0, run.size(), 0.0);
  total.name = "all";
  total.adapt_s = 0;
  total.adapt_requests = 0;
  for (const PhaseScore& p : phases) {
    if (p.adapt_s < 0) {
      total.adapt_s = -1;
      total.adapt_requests = -1;
      break;
    }
    total.adapt_s = std::max(total.adapt_s, p.adapt_s);
    total.adapt_requests = std::max(total.adapt_requests, p.adapt_requests);
  }
  return total;
}

}  // namespace stoa::sim
