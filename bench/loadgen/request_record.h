// One request of a load run, its CSV form, and the run's summary.
//
// CSV columns (header line first):
//   device,seq,scheduled_s,sent_s,latency_ms,status,tier,predicted_ms,
//   reason,server_latency_ms,cold_start,error
// scheduled_s/sent_s are seconds since the start of the run; latency_ms is
// measured from scheduled_s (so it includes any wait for a free connection);
// status is the HTTP status, 0 when no response came (then `error` says
// why); tier/reason/predicted_ms/server_latency_ms/cold_start are the
// gateway's X-Stoa-* headers ("" / -1 when absent). Text fields never
// contain commas, quotes or newlines (they are replaced by ';' / ' ').
//
// Pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::bench {

struct RequestRecord {
  int device = 0;
  int64_t seq = 0;
  double scheduled_s = 0;
  double sent_s = 0;
  double latency_ms = 0;
  int status = 0;
  std::string tier;
  double predicted_ms = -1;
  std::string reason;
  double server_latency_ms = -1;
  bool cold_start = false;
  std::string error;
  bool done = false;  // not written: false for requests never sent (a stopped run)
  bool Ok() const { return status >= 200 && status < 300; }
};

extern const char kCsvHeader[];
std::string ToCsvRow(const RequestRecord& r);
absl::StatusOr<RequestRecord> ParseCsvRow(const std::string& line);
// Header plus one row per done record.
void WriteCsv(const std::vector<RequestRecord>& records, std::ostream& out);

// Nearest-rank percentile (q in [0, 100]) of `sorted` (ascending);
// 0 for an empty vector.
double Percentile(const std::vector<double>& sorted, double q);

struct RunSummary {
  int64_t scheduled = 0;
  int64_t completed = 0;    // got an HTTP response
  int64_t ok = 0;           // 2xx
  int64_t http_errors = 0;  // non-2xx response
  int64_t transport_errors = 0;
  double elapsed_s = 0;
  double throughput_per_s = 0;  // 2xx per second of elapsed time
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;  // over 2xx
  int64_t edge = 0, cloud = 0;                                         // 2xx per tier
};

RunSummary Summarize(const std::vector<RequestRecord>& records, int64_t scheduled,
                     double elapsed_s);
std::string FormatSummary(const RunSummary& s);

}  // namespace stoa::bench
