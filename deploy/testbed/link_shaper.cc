#include "deploy/testbed/link_shaper.h"

#include <algorithm>
#include <cmath>

namespace stoa::deploy {
namespace {

double BytesPerSecond(double rate_mbit) { return rate_mbit * 1e6 / 8; }

}  // namespace

LinkShaper::LinkShaper(const LinkParams& params, uint64_t seed)
    : params_(params), bucket_(BytesPerSecond(params.rate_mbit), kBurstBytes), rng_(seed) {}

void LinkShaper::Set(int64_t now_us, const LinkParams& params) {
  absl::MutexLock lock(&mu_);
  params_ = params;
  bucket_.SetRate(now_us, BytesPerSecond(params.rate_mbit));
}

LinkParams LinkShaper::params() const {
  absl::MutexLock lock(&mu_);
  return params_;
}

bool LinkShaper::Blackholed() const {
  absl::MutexLock lock(&mu_);
  return params_.loss >= 1.0;
}

double LinkShaper::RtoMs(const LinkParams& p) {
  return std::max(kMinRtoMs, 2 * p.delay_ms + 4 * p.jitter_ms);
}

int64_t LinkShaper::Schedule(int64_t now_us, size_t bytes, int64_t prev_release_us) {
  absl::MutexLock lock(&mu_);
  const int64_t sent_us = bucket_.Take(now_us, bytes);
  double delay_ms = params_.delay_ms;
  if (params_.jitter_ms > 0) {
    delay_ms = std::normal_distribution<double>(params_.delay_ms, params_.jitter_ms)(rng_);
    delay_ms = std::max(0.0, delay_ms);
  }
  if (params_.loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < params_.loss) {
    delay_ms += RtoMs(params_);
  }
  const int64_t release_us = sent_us + static_cast<int64_t>(std::llround(delay_ms * 1000));
  return std::max({release_us, prev_release_us, now_us});
}

}  // namespace stoa::deploy
