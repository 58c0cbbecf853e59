#include "common/request_limits.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/http_types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::common {
namespace {

using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(CheckJsonDepthTest, CountsArraysAndObjectsButNotBracketsInStrings) {
  EXPECT_TRUE(CheckJsonDepth(R"({"a":[[1,2],{"b":[]}]})", 4, "body").ok());
  EXPECT_FALSE(CheckJsonDepth(R"({"a":[[1,2],{"b":[]}]})", 3, "body").ok());
  // Brackets in strings, escaped quotes and backslashes do not count.
  EXPECT_TRUE(CheckJsonDepth(R"(["[[[[", "\"[[[[", "\\", ["x"]])", 2, "body").ok());
  EXPECT_FALSE(CheckJsonDepth(R"(["\\", [["x"]]])", 2, "body").ok());
  // Siblings do not add up.
  EXPECT_TRUE(CheckJsonDepth("[[],[],[],[]]", 2, "body").ok());
}

TEST(CheckJsonDepthTest, NamesTheLimitAndTheOffset) {
  const std::string deep(16 * 1024 * 1024, '[');
  absl::Status s = CheckJsonDepth(deep, 64, "the request body");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(s),
            "the request body nests deeper than 64 levels at byte 64; the limit is 64 levels "
            "(JSON depth limit)");
}

TEST(CheckJsonDepthTest, LeavesMalformedJsonToTheParser) {
  EXPECT_TRUE(CheckJsonDepth("]]]}}{", 2, "body").ok());
  EXPECT_TRUE(CheckJsonDepth("\"unterminated [[[[", 2, "body").ok());
  EXPECT_TRUE(CheckJsonDepth("", 2, "body").ok());
}

TEST(CheckTimeoutMsTest, RefusesAboveTheMaximum) {
  EXPECT_TRUE(CheckTimeoutMs(60000, 60000, "x").ok());
  EXPECT_TRUE(CheckTimeoutMs(0, 60000, "x").ok());
  absl::Status s = CheckTimeoutMs(4294967295u, 60000, "InvokeRequest.timeout_ms");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(s),
            "InvokeRequest.timeout_ms is 4294967295 ms; the limit is 60000 ms (maximum "
            "timeout_ms)");
}

TEST(CheckArtifactSizeTest, IsOutOfRange) {
  EXPECT_TRUE(CheckArtifactSize(10, 10).ok());
  absl::Status s = CheckArtifactSize(11, 10);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(Message(s), HasSubstr("(artifact size limit)"));
}

TEST(OutputTooLargeTest, IsResourceExhaustedAnd507NotARetryable429) {
  absl::Status s = OutputTooLarge("f", "output", 100, 10, true);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Message(s),
            "function 'f' output is more than 100 bytes; the limit is 10 bytes (output size "
            "limit)");
  EXPECT_TRUE(IsOutputTooLarge(s));
  EXPECT_EQ(ToHttpStatus(s), 507);
  // The gateway puts the tier first; the marker at the end still tells it.
  absl::Status remote(s.code(), absl::StrCat("tier cloud (grpc:h:1): ", s.message()));
  EXPECT_TRUE(IsOutputTooLarge(remote));
  EXPECT_EQ(ToHttpStatus(remote), 507);
  // Other RESOURCE_EXHAUSTED (rate and concurrency limits) stay 429.
  absl::Status rate = absl::ResourceExhaustedError("rate limit of k exceeded");
  EXPECT_FALSE(IsOutputTooLarge(rate));
  EXPECT_EQ(ToHttpStatus(rate), 429);
  EXPECT_FALSE(IsOutputTooLarge(absl::InternalError(s.message())));
}

TEST(GrpcMessageBytesTest, FitsTheLargestLimit) {
  RequestLimits limits;
  EXPECT_EQ(GrpcMessageBytes(limits), 64 * 1024 * 1024);
  limits.max_output_bytes = 100 * kMiB;
  EXPECT_EQ(GrpcMessageBytes(limits), 101 * 1024 * 1024);
  // Artifacts are streamed (LoadFunctionStream): their limit sizes no message.
  limits.max_artifact_bytes = 4096 * kMiB;
  EXPECT_EQ(GrpcMessageBytes(limits), 101 * 1024 * 1024);
  limits.max_output_bytes = 4096 * kMiB;
  EXPECT_EQ(GrpcMessageBytes(limits), INT32_MAX);
}

TEST(CheckRequestHeadTest, AcceptsPlainHeadsAndChunked) {
  EXPECT_TRUE(CheckRequestHead("GET / HTTP/1.1\r\nHost: x\r\nTE: gzip, chunked\r\n\r\n").ok());
  EXPECT_TRUE(
      CheckRequestHead("POST / HTTP/1.1\r\nHost: x\r\ntransfer-encoding:  Chunked \r\n\r\n").ok());
}

TEST(CheckRequestHeadTest, RefusesObsFold) {
  absl::Status s = CheckRequestHead("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("header line 3 is folded (obs-fold"));
  EXPECT_FALSE(CheckRequestHead("GET / HTTP/1.1\r\n Host: x\r\n\r\n").ok());
}

TEST(CheckRequestHeadTest, RefusesTransferCodingsOtherThanOneChunked) {
  for (const char* head : {
           "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       }) {
    absl::Status s = CheckRequestHead(head);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << head;
    EXPECT_THAT(Message(s), HasSubstr("is not supported")) << head;
  }
}

}  // namespace
}  // namespace stoa::common
