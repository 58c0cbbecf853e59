// The AOT sandbox's fault containment: a fault while generated code runs
// (here simulated by a body that enters Wasm and then faults) becomes a
// trap of that call, whatever its address or signal; the thread keeps
// serving calls afterwards.
#include "functions/wasm/aot_sandbox.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace stoa::functions::wasm {
namespace {

constexpr int64_t kBudgetUs = 5'000'000;

// An address outside the linear memory and the stack guard, hidden from
// the compiler's bounds warnings.
volatile uintptr_t g_wild = 16;

void WildWrite(AotCall*) {
  EnterWasm(ThisSandbox());
  *reinterpret_cast<volatile int*>(g_wild) = 1;
}

volatile int g_zero = 0;

void DivideByZero(AotCall*) {
  EnterWasm(ThisSandbox());
  volatile int x = 7 / g_zero;
  (void)x;
}

void Returns(AotCall*) { EnterWasm(ThisSandbox()); }

TEST(AotSandboxTest, AnyFaultInGeneratedCodeIsATrapOfThatCall) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "sanitizers own the fault signals";
#endif
  InstallSandboxHandlers();
  absl::StatusOr<SandboxThread*> t = CurrentSandbox();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(RunInSandbox(*t, &WildWrite, kBudgetUs), kTrapFault);
  EXPECT_EQ(RunInSandbox(*t, &DivideByZero, kBudgetUs), kTrapFault);
  EXPECT_EQ(RunInSandbox(*t, &Returns, kBudgetUs), 0);  // the thread still runs calls
  EXPECT_EQ(RunInSandbox(*t, &WildWrite, kBudgetUs), kTrapFault);
}

}  // namespace
}  // namespace stoa::functions::wasm
