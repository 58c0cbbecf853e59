// LoadCublas (CUDA builds only): either every entry point Stoa calls is
// bound, or UNAVAILABLE names what was tried; the first answer sticks.
#include "functions/cuda/cublas_library.h"

#include "gtest/gtest.h"

namespace stoa::functions::cuda {
namespace {

TEST(CublasLibraryTest, BindsEveryEntryPointOrNamesWhatItTried) {
  absl::StatusOr<const CublasApi*> api = LoadCublas();
  if (api.ok()) {
    EXPECT_NE((*api)->create, nullptr);
    EXPECT_NE((*api)->destroy, nullptr);
    EXPECT_NE((*api)->set_stream, nullptr);
    EXPECT_NE((*api)->sgemm, nullptr);
  } else {
    EXPECT_EQ(api.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(api.status().message().find("libcublas.so."), std::string::npos) << api.status();
  }
}

TEST(CublasLibraryTest, OpensOncePerProcess) {
  absl::StatusOr<const CublasApi*> first = LoadCublas();
  absl::StatusOr<const CublasApi*> second = LoadCublas();
  ASSERT_EQ(first.ok(), second.ok());
  if (first.ok()) {
    EXPECT_EQ(*first, *second);
  }
}

}  // namespace
}  // namespace stoa::functions::cuda
