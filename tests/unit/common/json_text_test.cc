#include "common/json_text.h"

#include <string>

#include "common/http_status.h"
#include "common/utf8.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace stoa::common {
namespace {

using nlohmann::json;

// Stray continuation, truncated sequence, overlong, surrogate, past U+10FFFF.
const std::string kInvalid =
    "stderr: \xff\xfe \xc3\x28 \xe2\x82 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80.";

// Parses `text` strictly (nlohmann's parser refuses invalid UTF-8).
json ParseStrict(const std::string& text) {
  EXPECT_TRUE(IsValidUtf8(text)) << text;
  return json::parse(text);
}

TEST(JsonTextTest, PlainDumpThrowsOnInvalidUtf8) {
  // What the gateway did before: type_error 316 escaped a callback.
  EXPECT_THROW(json(kInvalid).dump(), json::type_error);
}

TEST(JsonTextTest, DumpJsonReplacesInvalidBytes) {
  json doc = {{"message", kInvalid}, {"names", {kInvalid, "ok"}}, {kInvalid, 1}};
  std::string text;
  ASSERT_NO_THROW(text = DumpJson(doc));
  json back = ParseStrict(text);
  const std::string message = back["message"];
  EXPECT_EQ(message.rfind("stderr: \xEF\xBF\xBD", 0), 0u) << message;
  EXPECT_NE(message.find(" \xEF\xBF\xBD("), std::string::npos) << message;  // \xc3 alone
  EXPECT_EQ(back["names"][1], "ok");
  EXPECT_EQ(back.size(), 3u);
}

TEST(JsonTextTest, DumpJsonKeepsValidUtf8AndIndents) {
  json doc = {{"name", "caf\xc3\xa9 \xf0\x9f\x98\x80"}};
  EXPECT_EQ(DumpJson(doc), "{\"name\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}");
  EXPECT_EQ(DumpJson(doc, 2), "{\n  \"name\": \"caf\xc3\xa9 \xf0\x9f\x98\x80\"\n}");
}

TEST(JsonTextTest, AppendJsonStringQuotesEscapesAndReplaces) {
  std::string out = "[";
  AppendJsonString(out, "a\"b\\c\n");
  out += ",";
  AppendJsonString(out, kInvalid);
  out += "]";
  json back = ParseStrict(out);
  EXPECT_EQ(back[0], "a\"b\\c\n");
  EXPECT_TRUE(IsValidUtf8(back[1].get<std::string>()));
}

TEST(JsonTextTest, ErrorJsonOfAnInvalidMessageIsValid) {
  std::string body;
  ASSERT_NO_THROW(body = ErrorJson(absl::InternalError(kInvalid)));
  json back = ParseStrict(body);
  EXPECT_EQ(back["error"]["code"], "INTERNAL");
  EXPECT_NE(back["error"]["message"].get<std::string>().find("stderr: "), std::string::npos);
  ASSERT_NO_THROW(body = ErrorJson(kInvalid, kInvalid));
  ParseStrict(body);
}

TEST(Utf8Test, ClassifiesSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"));
  EXPECT_EQ(InvalidUtf8Offset("ab\xff"), 2u);
  EXPECT_EQ(InvalidUtf8Offset("\xc3"), 0u);              // truncated
  EXPECT_EQ(InvalidUtf8Offset("x\xe2\x82"), 1u);         // truncated
  EXPECT_EQ(InvalidUtf8Offset("\xc0\xaf"), 0u);          // overlong
  EXPECT_EQ(InvalidUtf8Offset("\xe0\x80\xaf"), 0u);      // overlong
  EXPECT_EQ(InvalidUtf8Offset("\xed\xa0\x80"), 0u);      // surrogate
  EXPECT_EQ(InvalidUtf8Offset("\xf4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(InvalidUtf8Offset("\x80"), 0u);              // stray continuation
  EXPECT_EQ(InvalidUtf8Offset("ok\xc3\xa9"), std::string_view::npos);
}

}  // namespace
}  // namespace stoa::common
