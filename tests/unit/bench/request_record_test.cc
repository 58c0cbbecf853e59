#include "bench/loadgen/request_record.h"

#include <sstream>

#include "gtest/gtest.h"

namespace stoa::bench {
namespace {

TEST(PercentileTest, NearestRank) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(Percentile(v, 50), 50);
  EXPECT_EQ(Percentile(v, 95), 95);
  EXPECT_EQ(Percentile(v, 99), 99);
  EXPECT_EQ(Percentile(v, 100), 100);
  EXPECT_EQ(Percentile(v, 0), 1);
  EXPECT_EQ(Percentile({7.0}, 99), 7.0);
  EXPECT_EQ(Percentile({}, 50), 0.0);
  EXPECT_EQ(Percentile({1, 2, 3, 4}, 50), 2);
}

TEST(RequestRecordTest, CsvRoundTripAndSanitisedText) {
  RequestRecord r;
  r.device = 3;
  r.seq = 17;
  r.scheduled_s = 1.25;
  r.sent_s = 1.2501;
  r.latency_ms = 12.5;
  r.status = 503;
  r.tier = "cloud";
  r.predicted_ms = 9.75;
  r.reason = "explore";
  r.server_latency_ms = 11.0;
  r.cold_start = true;
  r.error = "no tier, \"cloud\" down\nretry";
  const std::string row = ToCsvRow(r);
  EXPECT_EQ(row.find('\n'), std::string::npos);
  auto back = ParseCsvRow(row);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->device, 3);
  EXPECT_EQ(back->seq, 17);
  EXPECT_DOUBLE_EQ(back->scheduled_s, 1.25);
  EXPECT_DOUBLE_EQ(back->latency_ms, 12.5);
  EXPECT_EQ(back->status, 503);
  EXPECT_EQ(back->tier, "cloud");
  EXPECT_DOUBLE_EQ(back->predicted_ms, 9.75);
  EXPECT_EQ(back->reason, "explore");
  EXPECT_TRUE(back->cold_start);
  EXPECT_EQ(back->error, "no tier; ;cloud; down retry");
}

TEST(RequestRecordTest, WriteCsvSkipsUnsentRequests) {
  std::vector<RequestRecord> records(3);
  records[0].done = true;
  records[2].done = true;
  records[2].seq = 2;
  std::ostringstream out;
  WriteCsv(records, out);
  std::istringstream in(out.str());
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, kCsvHeader);
  int rows = 0;
  while (std::getline(in, line)) {
    ASSERT_TRUE(ParseCsvRow(line).ok());
    ++rows;
  }
  EXPECT_EQ(rows, 2);
}

TEST(RequestRecordTest, RejectsMalformedRows) {
  EXPECT_FALSE(ParseCsvRow("1,2,3").ok());
  EXPECT_FALSE(ParseCsvRow("x,0,0,0,0,200,edge,1,r,1,0,").ok());
}

TEST(SummaryTest, CountsErrorsSeparatelyAndPercentilesOnlyOverSuccesses) {
  std::vector<RequestRecord> rs;
  for (int i = 1; i <= 10; ++i) {
    RequestRecord r;
    r.done = true;
    r.status = 200;
    r.latency_ms = i;
    r.tier = i <= 7 ? "edge" : "cloud";
    rs.push_back(r);
  }
  RequestRecord http_err;
  http_err.done = true;
  http_err.status = 503;
  http_err.latency_ms = 1000;
  rs.push_back(http_err);
  RequestRecord transport;
  transport.done = true;
  transport.status = 0;
  rs.push_back(transport);
  rs.push_back(RequestRecord{});  // never sent
  const RunSummary s = Summarize(rs, 13, 2.0);
  EXPECT_EQ(s.scheduled, 13);
  EXPECT_EQ(s.ok, 10);
  EXPECT_EQ(s.completed, 11);
  EXPECT_EQ(s.http_errors, 1);
  EXPECT_EQ(s.transport_errors, 1);
  EXPECT_EQ(s.p50_ms, 5);
  EXPECT_EQ(s.p99_ms, 10);
  EXPECT_EQ(s.max_ms, 10);
  EXPECT_DOUBLE_EQ(s.mean_ms, 5.5);
  EXPECT_DOUBLE_EQ(s.throughput_per_s, 5.0);
  EXPECT_EQ(s.edge, 7);
  EXPECT_EQ(s.cloud, 3);
  EXPECT_NE(FormatSummary(s).find("p99 10.00"), std::string::npos);
}

}  // namespace
}  // namespace stoa::bench
