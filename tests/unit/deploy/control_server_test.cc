#include "deploy/testbed/control_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace stoa::deploy {
namespace {

using ::testing::HasSubstr;

class ControlTest : public ::testing::Test {
 protected:
  common::HttpResponse Call(const std::string& method, const std::string& target,
                            const std::string& body = "") {
    common::HttpRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    EXPECT_TRUE(common::ParseTarget(target, &request).ok()) << target;
    return HandleControlRequest(request, 0, up_, down_);
  }
  LinkShaper up_{LinkParams{45, 5, 7.21, 0}, 1};
  LinkShaper down_{LinkParams{45, 5, 7.21, 0}, 2};
};

TEST_F(ControlTest, GetReturnsTheParameters) {
  common::HttpResponse r = Call("GET", "/link");
  EXPECT_EQ(r.status, 200);
  auto doc = nlohmann::json::parse(r.body);
  EXPECT_DOUBLE_EQ(doc["delay_ms"].get<double>(), 45);
  EXPECT_DOUBLE_EQ(doc["rate_mbit"].get<double>(), 7.21);
}

TEST_F(ControlTest, PutChangesBothDirections) {
  common::HttpResponse r = Call("PUT", "/link", R"({"delay_ms":150,"rate_mbit":2})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(up_.params(), (LinkParams{150, 5, 2, 0}));
  EXPECT_EQ(down_.params(), (LinkParams{150, 5, 2, 0}));
  EXPECT_EQ(nlohmann::json::parse(r.body)["delay_ms"].get<double>(), 150);
}

TEST_F(ControlTest, BadPutIs400NamingTheFieldAndChangesNothing) {
  common::HttpResponse r = Call("PUT", "/link", R"({"delay_ms":10,"rate":2})");
  EXPECT_EQ(r.status, 400);
  auto doc = nlohmann::json::parse(r.body);
  EXPECT_EQ(doc["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_THAT(doc["error"]["message"].get<std::string>(), HasSubstr("rate"));
  EXPECT_EQ(up_.params(), (LinkParams{45, 5, 7.21, 0}));
  EXPECT_EQ(Call("PUT", "/link", "not json").status, 400);
}

TEST_F(ControlTest, OtherRoutesAndMethods) {
  EXPECT_EQ(Call("GET", "/links").status, 404);
  common::HttpResponse r = Call("DELETE", "/link");
  EXPECT_EQ(r.status, 405);
  EXPECT_THAT(r.headers,
              ::testing::Contains(std::pair<std::string, std::string>("Allow", "GET, PUT")));
  EXPECT_EQ(Call("GET", "/link?verbose=1").status, 200);
}

}  // namespace
}  // namespace stoa::deploy
