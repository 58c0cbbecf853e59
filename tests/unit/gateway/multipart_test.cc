#include "gateway/multipart.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

using ::testing::HasSubstr;

TEST(MultipartTest, ParsesSpecAndBinaryArtifact) {
  // An artifact with CRLFs, dashes and NUL bytes inside, even a near-boundary.
  std::string artifact("\x08\x07\r\n--XyZ\r\n\0\xff--\r\n", 17);
  std::string body =
      "preamble\r\n--XyZ123\r\n"
      "Content-Disposition: form-data; name=\"spec\"\r\n"
      "Content-Type: application/json\r\n\r\n"
      "{\"name\":\"digits\"}\r\n"
      "--XyZ123\r\n"
      "content-disposition: form-data; name=artifact; filename=\"m;odel.onnx\"\r\n"
      "\r\n" +
      artifact + "\r\n--XyZ123--\r\n";
  auto parts = ParseMultipart("multipart/form-data; boundary=\"XyZ123\"", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "spec");
  EXPECT_EQ((*parts)[0].content_type, "application/json");
  EXPECT_EQ((*parts)[0].body, "{\"name\":\"digits\"}");
  const MultipartPart* a = FindPart(*parts, "artifact");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->filename, "m;odel.onnx");
  EXPECT_EQ(a->body, artifact);
  EXPECT_EQ(FindPart(*parts, "nope"), nullptr);
}

TEST(MultipartTest, BoundaryAtStartAndEmptyPart) {
  auto parts = ParseMultipart("multipart/form-data;boundary=b",
                              "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n\r\n--b--");
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].body, "");
}

void ExpectInvalid(std::string_view ct, std::string_view body, const std::string& needle) {
  auto parts = ParseMultipart(ct, body);
  ASSERT_FALSE(parts.ok());
  EXPECT_EQ(parts.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parts.status().message()), HasSubstr(needle));
}

TEST(MultipartTest, ErrorsNameTheProblem) {
  ExpectInvalid("multipart/form-data", "--b\r\n", "no boundary parameter");
  ExpectInvalid("multipart/form-data; charset=utf-8", "--b\r\n", "no boundary parameter");
  ExpectInvalid("application/json; boundary=b", "", "is not multipart");
  ExpectInvalid("multipart/form-data; boundary=b", "hello", "does not contain the boundary 'b'");
  ExpectInvalid("multipart/form-data; boundary=b",
                "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nabc",
                "part 1 ('x') is not terminated by a boundary");
  ExpectInvalid("multipart/form-data; boundary=b", "--b\r\nContent-Type: x\r\n\r\nabc\r\n--b--",
                "part 1 has no Content-Disposition header");
  ExpectInvalid("multipart/form-data; boundary=b",
                "--b\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--b--",
                "part 1 has no Content-Disposition name");
  ExpectInvalid("multipart/form-data; boundary=b",
                "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--b",
                "no closing boundary");
  ExpectInvalid("multipart/form-data; boundary=b", "--bXX\r\n", "not followed by CRLF");
  ExpectInvalid("multipart/form-data; boundary=" + std::string(71, 'a'), "", "longer than 70");
}

std::string Part(const std::string& name, const std::string& body) {
  return "--b\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + body + "\r\n";
}

TEST(MultipartTest, EachNameOnceAndABoundedNumberOfParts) {
  ExpectInvalid("multipart/form-data; boundary=b",
                Part("spec", "{}") + Part("artifact", "x") + Part("spec", "{}") + "--b--",
                "part 3 repeats the name 'spec' of part 1");
  std::string many;
  for (size_t i = 0; i <= kMaxMultipartParts; ++i) many += Part(absl::StrCat("p", i), "");
  ExpectInvalid("multipart/form-data; boundary=b", many + "--b--",
                "more than 8 parts (multipart part count limit)");
  std::string eight;
  for (size_t i = 0; i < kMaxMultipartParts; ++i) eight += Part(absl::StrCat("p", i), "");
  auto parts = ParseMultipart("multipart/form-data; boundary=b", eight + "--b--");
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->size(), kMaxMultipartParts);
  // A long name is not echoed whole.
  ExpectInvalid(
      "multipart/form-data; boundary=b",
      "--b\r\nContent-Disposition: form-data; name=\"" + std::string(10000, 'n') + "\"\r\n\r\nabc",
      "... (10000 bytes)");
}

}  // namespace
}  // namespace stoa::gateway
