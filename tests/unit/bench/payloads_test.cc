#include "bench/loadgen/payloads.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace stoa::bench {
namespace {

std::string Source(const std::string& rel) {
  const char* root = std::getenv("STOA_SOURCE_DIR");
  return std::string(root ? root : ".") + "/" + rel;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("stoa_payloads_" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(PayloadsTest, DigitsRowsBecomeKServeRequests) {
  auto p = DigitsPayloads(Source("functions/examples/digits/test_split.csv"));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_GT(p->size(), 100u);
  const auto j = nlohmann::json::parse((*p)[0]);
  const auto& in = j["inputs"][0];
  EXPECT_EQ(in["name"], "pixels");
  EXPECT_EQ(in["datatype"], "FP32");
  EXPECT_EQ(in["shape"], nlohmann::json::array({1, 64}));
  ASSERT_EQ(in["data"].size(), 64u);
  // The first held-out row starts 0,0,2,13,16 (same as sample_request.json).
  EXPECT_EQ(in["data"][2].get<double>(), 2.0);
  EXPECT_EQ(in["data"][3].get<double>(), 13.0);
}

TEST(PayloadsTest, DigitsErrorsNameFileAndLine) {
  auto missing = DigitsPayloads("/nonexistent/digits.csv");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  auto bad = DigitsPayloads(WriteTemp("bad.csv", "h\n1,2,3\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(":2:"), std::string::npos) << bad.status();
}

TEST(PayloadsTest, JsonLinesAndSingleBodyFiles) {
  auto lines = FilePayloads(WriteTemp("l.jsonl", "{\"a\":1}\n\n{\"a\":2}\n"));
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[1], "{\"a\":2}");
  auto sample = FilePayloads(Source("functions/examples/digits/sample_request.json"));
  ASSERT_TRUE(sample.ok());
  ASSERT_EQ(sample->size(), 1u);
  EXPECT_NO_THROW(nlohmann::json::parse((*sample)[0]));
  auto pretty = FilePayloads(WriteTemp("p.json", "{\n  \"a\": 1\n}\n"));
  ASSERT_TRUE(pretty.ok());
  EXPECT_EQ(pretty->size(), 1u);
  EXPECT_FALSE(FilePayloads(WriteTemp("e.json", "  \n")).ok());
}

}  // namespace
}  // namespace stoa::bench
