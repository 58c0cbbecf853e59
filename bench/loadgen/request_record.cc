#include "bench/loadgen/request_record.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stoa::bench {
namespace {

std::string Clean(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    if (c == ',' || c == '"') c = ';';
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

std::string Num(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

}  // namespace

const char kCsvHeader[] =
    "device,seq,scheduled_s,sent_s,latency_ms,status,tier,predicted_ms,reason,"
    "server_latency_ms,cold_start,error";

std::string ToCsvRow(const RequestRecord& r) {
  return absl::StrCat(r.device, ",", r.seq, ",", Num(r.scheduled_s, 6), ",", Num(r.sent_s, 6), ",",
                      Num(r.latency_ms, 3), ",", r.status, ",", Clean(r.tier), ",",
                      Num(r.predicted_ms, 3), ",", Clean(r.reason), ",",
                      Num(r.server_latency_ms, 3), ",", r.cold_start ? 1 : 0, ",", Clean(r.error));
}

absl::StatusOr<RequestRecord> ParseCsvRow(const std::string& line) {
  std::vector<std::string> f = absl::StrSplit(line, ',');
  if (f.size() != 12) {
    return absl::InvalidArgumentError(
        absl::StrCat("CSV row has ", f.size(), " fields, expected 12: '", line, "'"));
  }
  RequestRecord r;
  int cold = 0;
  if (!absl::SimpleAtoi(f[0], &r.device) || !absl::SimpleAtoi(f[1], &r.seq) ||
      !absl::SimpleAtod(f[2], &r.scheduled_s) || !absl::SimpleAtod(f[3], &r.sent_s) ||
      !absl::SimpleAtod(f[4], &r.latency_ms) || !absl::SimpleAtoi(f[5], &r.status) ||
      !absl::SimpleAtod(f[7], &r.predicted_ms) || !absl::SimpleAtod(f[9], &r.server_latency_ms) ||
      !absl::SimpleAtoi(f[10], &cold)) {
    return absl::InvalidArgumentError(absl::StrCat("CSV row has a bad number: '", line, "'"));
  }
  r.tier = f[6];
  r.reason = f[8];
  r.cold_start = cold != 0;
  r.error = f[11];
  r.done = true;
  return r;
}

void WriteCsv(const std::vector<RequestRecord>& records, std::ostream& out) {
  out << kCsvHeader << "\n";
  for (const auto& r : records) {
    if (r.done) out << ToCsvRow(r) << "\n";
  }
}

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(q / 100.0 * static_cast<double>(sorted.size()));
  const size_t idx = static_cast<size_t>(std::clamp(rank, 1.0, double(sorted.size()))) - 1;
  return sorted[idx];
}

RunSummary Summarize(const std::vector<RequestRecord>& records, int64_t scheduled,
                     double elapsed_s) {
  RunSummary s;
  s.scheduled = scheduled;
  s.elapsed_s = elapsed_s;
  std::vector<double> lat;
  double sum = 0;
  for (const auto& r : records) {
    if (!r.done) continue;
    if (r.status == 0) {
      ++s.transport_errors;
      continue;
    }
    ++s.completed;
    if (!r.Ok()) {
      ++s.http_errors;
      continue;
    }
    ++s.ok;
    lat.push_back(r.latency_ms);
    sum += r.latency_ms;
    if (r.tier == "edge") ++s.edge;
    if (r.tier == "cloud") ++s.cloud;
  }
  std::sort(lat.begin(), lat.end());
  s.p50_ms = Percentile(lat, 50);
  s.p95_ms = Percentile(lat, 95);
  s.p99_ms = Percentile(lat, 99);
  s.max_ms = lat.empty() ? 0 : lat.back();
  s.mean_ms = lat.empty() ? 0 : sum / lat.size();
  s.throughput_per_s = elapsed_s > 0 ? s.ok / elapsed_s : 0;
  return s;
}

std::string FormatSummary(const RunSummary& s) {
  return absl::StrCat("requests ", s.scheduled, " scheduled, ", s.ok, " ok, ", s.http_errors,
                      " http errors, ", s.transport_errors, " transport errors in ",
                      Num(s.elapsed_s, 1), " s; throughput ", Num(s.throughput_per_s, 1),
                      " req/s\nlatency ms: p50 ", Num(s.p50_ms, 2), " p95 ", Num(s.p95_ms, 2),
                      " p99 ", Num(s.p99_ms, 2), " max ", Num(s.max_ms, 2), " mean ",
                      Num(s.mean_ms, 2), "\ntiers: edge ", s.edge, " cloud ", s.cloud, "\n");
}

}  // namespace stoa::bench
