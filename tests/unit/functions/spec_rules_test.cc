#include "functions/spec_rules.h"

#include <cmath>
#include <string>

#include "gtest/gtest.h"

namespace stoa::functions {
namespace {

v1::FunctionSpec Valid() {
  v1::FunctionSpec spec;
  spec.set_name("digits");
  spec.set_runtime("onnx");
  return spec;
}

std::string Refusal(const v1::FunctionSpec& spec, const common::RequestLimits& limits = {}) {
  absl::Status s = ValidateFunctionSpec(spec, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  return std::string(s.message());
}

TEST(SpecRulesTest, DefaultsAndFullSpecsPass) {
  EXPECT_TRUE(ValidateFunctionSpec(Valid(), {}).ok());
  v1::FunctionSpec full = Valid();
  full.add_tiers("cloud");
  full.add_tiers("edge");
  full.set_slo_ms(12.5);
  full.mutable_batching()->set_max_batch(4096);
  full.mutable_batching()->set_max_delay_us(10'000'000);
  full.mutable_limits()->set_timeout_ms(60'000);
  full.mutable_limits()->set_memory_mb(1'048'576);
  full.mutable_limits()->set_max_concurrency(1'000'000);
  full.set_description(std::string(4096, 'd'));
  full.set_content_type("application/json");
  full.set_tenant("acme-1");
  EXPECT_TRUE(ValidateFunctionSpec(full, {}).ok());
}

TEST(SpecRulesTest, EachRuleNamesItsField) {
  auto with = [](auto change) {
    v1::FunctionSpec spec = Valid();
    change(spec);
    return spec;
  };
  EXPECT_EQ(Refusal(with([](auto& s) { s.set_name("../../x\n"); })),
            "function name '../../x\n' must start with [a-z0-9]; function names match "
            "[a-z0-9][a-z0-9_.-]{0,62}");
  EXPECT_EQ(Refusal(with([](auto& s) { s.set_runtime(""); })),
            "spec field 'runtime' must be onnx, wasm or pipeline, got ''");
  EXPECT_EQ(Refusal(with([](auto& s) { s.add_tiers("moon"); })),
            "spec field 'tiers' may contain only \"edge\" and \"cloud\", got \"moon\"");
  EXPECT_EQ(Refusal(with([](auto& s) {
              s.add_tiers("cloud");
              s.add_tiers("cloud");
            })),
            "spec field 'tiers' lists \"cloud\" twice");
  EXPECT_EQ(Refusal(with([](auto& s) { s.set_slo_ms(NAN); })),
            "spec field 'slo_ms' must be a number >= 0");
  EXPECT_EQ(Refusal(with([](auto& s) { s.mutable_batching()->set_max_batch(4097); })),
            "spec field 'batching.max_batch' must be between 1 and 4096");
  EXPECT_EQ(Refusal(with([](auto& s) { s.mutable_batching()->set_max_delay_us(10'000'001); })),
            "spec field 'batching.max_delay_us' must be between 0 and 10000000");
  EXPECT_EQ(Refusal(with([](auto& s) { s.mutable_limits()->set_timeout_ms(UINT32_MAX); })),
            "spec field 'limits.timeout_ms' is 4294967295 ms; the limit is 60000 ms (maximum "
            "timeout_ms)");
  EXPECT_EQ(Refusal(with([](auto& s) { s.mutable_limits()->set_memory_mb(UINT32_MAX); })),
            "spec field 'limits.memory_mb' must be between 0 and 1048576");
  EXPECT_EQ(Refusal(with([](auto& s) { s.mutable_limits()->set_max_concurrency(1'000'001); })),
            "spec field 'limits.max_concurrency' must be between 0 and 1000000");
  EXPECT_EQ(Refusal(with([](auto& s) { s.set_content_type("json"); })),
            "spec field 'content_type' must be a media type such as \"application/json\"");
  EXPECT_EQ(Refusal(with([](auto& s) { s.set_content_type("text/plain\r\nX: y"); })),
            "spec field 'content_type' must be a media type such as \"application/json\"");
  EXPECT_EQ(Refusal(with([](auto& s) { s.set_tenant("a/b"); })),
            "tenant name 'a/b' contains a character outside [a-z0-9_.-]; tenant names match "
            "[a-z0-9][a-z0-9_.-]{0,62}");
}

TEST(SpecRulesTest, OperatorLimitsApply) {
  common::RequestLimits limits;
  limits.max_timeout_ms = 1000;
  limits.max_description_bytes = 8;
  v1::FunctionSpec spec = Valid();
  spec.mutable_limits()->set_timeout_ms(1001);
  EXPECT_EQ(Refusal(spec, limits),
            "spec field 'limits.timeout_ms' is 1001 ms; the limit is 1000 ms (maximum timeout_ms)");
  spec.mutable_limits()->set_timeout_ms(1000);
  spec.set_description("123456789");
  EXPECT_EQ(Refusal(spec, limits),
            "spec field 'description' is 9 bytes; the limit is 8 bytes (description length limit)");
}

TEST(SpecRulesTest, NamesAndTenants) {
  EXPECT_TRUE(ValidateFunctionName(std::string(63, 'a')).ok());
  EXPECT_TRUE(ValidateFunctionName("0digits_v1.2-b").ok());
  EXPECT_FALSE(ValidateFunctionName(std::string(64, 'a')).ok());
  EXPECT_FALSE(ValidateFunctionName("").ok());
  EXPECT_FALSE(ValidateFunctionName("Digits").ok());
  EXPECT_TRUE(ValidateTenantName("acme").ok());
  EXPECT_EQ(ValidateTenantName("").message(),
            "empty tenant name; tenant names match [a-z0-9][a-z0-9_.-]{0,62}");
  EXPECT_EQ(ValidateTenantName(std::string(64, 't')).message(),
            "tenant name 'tttttttttttttttt...' is 64 characters long; tenant names match "
            "[a-z0-9][a-z0-9_.-]{0,62}");
}

}  // namespace
}  // namespace stoa::functions
