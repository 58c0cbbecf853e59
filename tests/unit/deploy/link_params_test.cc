#include "deploy/testbed/link_params.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace stoa::deploy {
namespace {

using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(LinkParamsTest, PresetsAreContinuumsFigures) {
  EXPECT_EQ(*PresetParams("4g"), (LinkParams{45, 5, 7.21, 0}));
  EXPECT_EQ(*PresetParams("5g"), (LinkParams{45, 5, 29.66, 0}));
  EXPECT_EQ(*PresetParams("edge"), (LinkParams{7.5, 2.5, 1000, 0}));
  EXPECT_EQ(*PresetParams("lan"), LinkParams{});
  auto bad = PresetParams("3g");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Message(bad.status()), HasSubstr("'3g'"));
}

TEST(LinkParamsTest, FlagsOverrideThePreset) {
  LinkFlags flags;
  flags.preset = "4g";
  flags.rate_mbit = 2;
  flags.delay_ms = 150;
  EXPECT_EQ(*ResolveLinkFlags(flags), (LinkParams{150, 5, 2, 0}));
  EXPECT_EQ(*ResolveLinkFlags(LinkFlags{}), LinkParams{});
}

TEST(LinkParamsTest, BadFlagsNameTheFlag) {
  LinkFlags flags;
  flags.jitter_ms = -1;
  EXPECT_THAT(Message(ResolveLinkFlags(flags).status()), HasSubstr("--jitter-ms"));
  flags = {};
  flags.loss = 1.5;
  EXPECT_THAT(Message(ResolveLinkFlags(flags).status()), HasSubstr("--loss"));
  flags = {};
  flags.preset = "wifi";
  EXPECT_THAT(Message(ResolveLinkFlags(flags).status()), HasSubstr("--preset"));
  flags = {};
  flags.rate_mbit = std::nan("");
  EXPECT_THAT(Message(ResolveLinkFlags(flags).status()), HasSubstr("--rate-mbit"));
}

TEST(LinkParamsTest, JsonUpdateChangesOnlyTheGivenFields) {
  const LinkParams current{45, 5, 7.21, 0};
  EXPECT_EQ(*ApplyLinkJson(current, R"({"rate_mbit": 2, "delay_ms": 150})"),
            (LinkParams{150, 5, 2, 0}));
  EXPECT_EQ(*ApplyLinkJson(current, "{}"), current);
  EXPECT_EQ(*ApplyLinkJson(current, R"({"loss": 1})"), (LinkParams{45, 5, 7.21, 1}));
}

TEST(LinkParamsTest, JsonErrorsNameTheField) {
  const LinkParams current;
  EXPECT_THAT(Message(ApplyLinkJson(current, R"({"delay": 1})").status()), HasSubstr("delay"));
  EXPECT_THAT(Message(ApplyLinkJson(current, R"({"rate_mbit": "fast"})").status()),
              HasSubstr("rate_mbit: expected a number"));
  EXPECT_THAT(Message(ApplyLinkJson(current, R"({"jitter_ms": -3})").status()),
              HasSubstr("jitter_ms"));
  EXPECT_THAT(Message(ApplyLinkJson(current, R"({"loss": 1.01})").status()), HasSubstr("loss"));
  EXPECT_THAT(Message(ApplyLinkJson(current, "[1]").status()), HasSubstr("JSON object"));
  EXPECT_THAT(Message(ApplyLinkJson(current, "{").status()), HasSubstr("malformed JSON"));
  EXPECT_EQ(ApplyLinkJson(current, R"({"delay_ms": null})").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LinkParamsTest, JsonRoundTrip) {
  const LinkParams p{7.5, 2.5, 1000, 0.01};
  EXPECT_EQ(*ApplyLinkJson(LinkParams{}, LinkParamsToJson(p)), p);
  auto doc = nlohmann::json::parse(LinkParamsToJson(p));
  EXPECT_EQ(doc.size(), 4u);
  EXPECT_DOUBLE_EQ(doc["rate_mbit"].get<double>(), 1000);
}

}  // namespace
}  // namespace stoa::deploy
