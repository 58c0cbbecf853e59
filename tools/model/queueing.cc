#include "tools/model/queueing.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace stoa::tools::model {

absl::StatusOr<double> ErlangB(int c, double a) {
  if (c < 1) return absl::InvalidArgumentError(absl::StrCat("servers must be >= 1, got ", c));
  if (!(a >= 0) || !std::isfinite(a)) {
    return absl::InvalidArgumentError(absl::StrCat("offered load must be >= 0, got ", a));
  }
  // B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)): stable for large c, unlike
  // the factorial form.
  double b = 1.0;
  for (int k = 1; k <= c; ++k) b = a * b / (k + a * b);
  return b;
}

absl::StatusOr<double> ErlangC(int c, double a) {
  auto b = ErlangB(c, a);
  if (!b.ok()) return b.status();
  if (a >= c) {
    return absl::FailedPreconditionError(
        absl::StrCat("unstable queue: offered load ", a, " >= ", c, " servers"));
  }
  return c * *b / (c - a * (1.0 - *b));
}

absl::StatusOr<double> MmcMeanWait(int c, double lambda, double mu) {
  if (!(mu > 0)) return absl::InvalidArgumentError(absl::StrCat("service rate must be > 0"));
  if (!(lambda >= 0)) return absl::InvalidArgumentError("arrival rate must be >= 0");
  auto pw = ErlangC(c, lambda / mu);
  if (!pw.ok()) return pw.status();
  return *pw / (c * mu - lambda);
}

}  // namespace stoa::tools::model
