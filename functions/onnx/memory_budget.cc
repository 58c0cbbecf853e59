#include "functions/onnx/memory_budget.h"

#include "absl/strings/str_cat.h"

namespace stoa::functions::onnx {
namespace {

thread_local MemoryBudget* current_budget = nullptr;

}  // namespace

absl::Status MemoryBudget::Check(int64_t bytes, const std::string& what) const {
  if (bytes <= limit_ - used_) return absl::OkStatus();
  const int64_t left = used_ < limit_ ? limit_ - used_ : 0;
  return absl::InvalidArgumentError(
      absl::StrCat(what, " would take ", bytes, " bytes; ", left, " of the ", limit_,
                   "-byte budget are left (ONNX memory limit: ", source_, ")"));
}

absl::Status MemoryBudget::CheckUsed(const std::string& what) const {
  if (used_ <= limit_) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, " took the function to ", used_,
                                                 " bytes; the limit is ", limit_,
                                                 " bytes (ONNX memory limit: ", source_, ")"));
}

ScopedMemoryBudget::ScopedMemoryBudget(MemoryBudget* budget) : previous_(current_budget) {
  current_budget = budget;
}

ScopedMemoryBudget::~ScopedMemoryBudget() { current_budget = previous_; }

MemoryBudget* CurrentMemoryBudget() { return current_budget; }

int64_t TensorBytes(ElementType type, std::span<const int64_t> shape) {
  absl::StatusOr<int64_t> count = ElementCount(shape);
  int64_t bytes = 0;
  if (!count.ok() ||
      __builtin_mul_overflow(*count, static_cast<int64_t>(ElementSize(type)), &bytes)) {
    return count.ok() ? INT64_MAX : 0;
  }
  return bytes;
}

absl::Status CheckAllocation(ElementType type, std::span<const int64_t> shape) {
  absl::StatusOr<int64_t> count = ElementCount(shape);
  if (!count.ok()) return count.status();
  const MemoryBudget* budget = CurrentMemoryBudget();
  if (budget == nullptr) return absl::OkStatus();
  return budget->Check(
      TensorBytes(type, shape),
      absl::StrCat("output of shape ", ShapeString(shape), " (", ElementTypeName(type), ")"));
}

}  // namespace stoa::functions::onnx
