// Queueing formulas for the analytical model (`stoa model`).
//
// M/M/c: Poisson arrivals at rate lambda, exponential service at rate mu per
// server, c identical servers. The offered load is a = lambda / mu (Erlangs)
// and the utilisation rho = a / c. Every function is pure and thread-safe;
// inputs out of range (c < 1, negative rates) or an unstable queue
// (rho >= 1) return INVALID_ARGUMENT / FAILED_PRECONDITION.
#pragma once

#include "absl/status/statusor.h"

namespace stoa::tools::model {

// Erlang B: probability that an arrival finds all c servers busy in a loss
// system with offered load a. Defined for any a >= 0.
absl::StatusOr<double> ErlangB(int c, double a);

// Erlang C: probability that an arrival has to wait in an M/M/c queue with
// offered load a (requires a < c).
absl::StatusOr<double> ErlangC(int c, double a);

// Mean time spent waiting in the queue (not served) in an M/M/c system,
// in the unit of 1/mu: Wq = C(c, a) / (c * mu - lambda).
absl::StatusOr<double> MmcMeanWait(int c, double lambda, double mu);

}  // namespace stoa::tools::model
