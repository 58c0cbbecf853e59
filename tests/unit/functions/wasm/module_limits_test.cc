// The module shape limits (functions/wasm/module_limits.h) on hand-built
// binaries: each limit refuses naming itself, counts do not overflow, and a
// module the scan cannot follow is left to the decoder.
#include "functions/wasm/module_limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/fakes/functions/wasm_builders.h"

namespace stoa::functions::wasm {
namespace {

using ::testing::HasSubstr;

using functions::testing::Leb;
using functions::testing::Section;

// A module of `functions` functions () -> (); function 0 has the local
// declarations `decls` (count, i64 each), the others none.
std::string Module(uint32_t functions, const std::vector<uint64_t>& decls, bool import = false) {
  std::string out("\0asm\1\0\0\0", 8);
  out += Section(1, Leb(1) + std::string("\x60\x00\x00", 3));
  if (import) {
    out += Section(2, Leb(1) + Leb(4) + "wasi" + Leb(1) + "f" + std::string("\0", 1) + Leb(0));
  }
  out += Section(3, Leb(functions) + std::string(functions, '\0'));
  std::string bodies;
  for (uint32_t i = 0; i < functions; ++i) {
    std::string body;
    if (i == 0) {
      body += Leb(decls.size());
      for (uint64_t n : decls) body += Leb(n) + "\x7e";
    } else {
      body += Leb(0);
    }
    body += "\x0b";
    bodies += Leb(body.size()) + body;
  }
  out += Section(10, Leb(functions) + bodies);
  return out;
}

TEST(ModuleLimitsTest, AModuleWithinTheLimitsPasses) {
  EXPECT_TRUE(CheckModuleLimits(Module(3, {10, 20}), common::WasmLimits{}).ok());
}

TEST(ModuleLimitsTest, ThreeMillionLocalsAreRefusedNamingTheLimit) {
  absl::Status s = CheckModuleLimits(Module(1, {3'000'000}), common::WasmLimits{});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "function 0 declares 3000000 locals; the limit is 50000 locals per function (wasm "
            "locals limit)");
}

TEST(ModuleLimitsTest, LocalCountsDoNotOverflow) {
  common::WasmLimits limits;
  limits.max_locals = UINT32_MAX;
  limits.max_total_locals = uint64_t{1} << 40;
  // Two declarations of 2^32-1 each: their sum passes the u32 limit.
  absl::Status s = CheckModuleLimits(Module(1, {UINT32_MAX, UINT32_MAX}), limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("declares 8589934590 locals"));
}

TEST(ModuleLimitsTest, ImportsCountInTheFunctionIndex) {
  common::WasmLimits limits;
  limits.max_locals = 5;
  absl::Status s = CheckModuleLimits(Module(1, {6}, /*import=*/true), limits);
  EXPECT_THAT(s.message(), HasSubstr("function 1 declares 6 locals"));
}

TEST(ModuleLimitsTest, TotalLocals) {
  common::WasmLimits limits;
  limits.max_total_locals = 100;
  absl::Status s = CheckModuleLimits(Module(1, {60, 60}), limits);
  EXPECT_EQ(s.message(),
            "module declares more than 100 locals in all its functions (wasm total locals limit)");
}

TEST(ModuleLimitsTest, ModuleSize) {
  common::WasmLimits limits;
  limits.max_module_bytes = 20;
  const std::string module = Module(2, {});
  absl::Status s = CheckModuleLimits(module, limits);
  EXPECT_EQ(s.message(), "module is " + std::to_string(module.size()) +
                             " bytes; the limit is 20 bytes (wasm module size limit)");
}

TEST(ModuleLimitsTest, FunctionCount) {
  common::WasmLimits limits;
  limits.max_functions = 10;
  absl::Status s = CheckModuleLimits(Module(11, {}), limits);
  EXPECT_EQ(s.message(),
            "module declares 11 functions; the limit is 10 functions (wasm function count limit)");
  EXPECT_TRUE(CheckModuleLimits(Module(10, {}), limits).ok());
}

TEST(ModuleLimitsTest, FunctionBodySize) {
  common::WasmLimits limits;
  limits.max_function_bytes = 8;
  absl::Status s = CheckModuleLimits(Module(1, {1, 1, 1, 1, 1}), limits);
  EXPECT_EQ(s.message(),
            "function 0 body is 12 bytes; the limit is 8 bytes (wasm function body size limit)");
}

TEST(ModuleLimitsTest, WhatTheScanCannotFollowIsLeftToTheDecoder) {
  std::string module = Module(1, {3'000'000});
  EXPECT_TRUE(CheckModuleLimits("", common::WasmLimits{}).ok());
  EXPECT_TRUE(CheckModuleLimits(module.substr(0, 20), common::WasmLimits{}).ok());
  EXPECT_TRUE(CheckModuleLimits(std::string(40, '\xff'), common::WasmLimits{}).ok());
}

}  // namespace
}  // namespace stoa::functions::wasm
