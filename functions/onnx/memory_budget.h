// The memory an ONNX function may hold: its budget in bytes
// (limits.memory_mb of its spec, else the operator's --onnx-max-memory-mb),
// charged with its constants (initializers and folded values) and the
// tensors one call or one load holds alive.
//
// A MemoryBudget is put in scope on a thread (ScopedMemoryBudget), like a
// BufferPool: kernels call CheckAllocation with the shape of an output
// before they allocate it, so an output whose size a request decides
// (ConstantOfShape, Expand, broadcasting, Resize, ...) is refused before a
// byte of it exists; the interpreter charges every tensor it keeps and
// credits it when released. Without a budget in scope CheckAllocation only
// checks the shape (ElementCount).
//
// Refusals are INVALID_ARGUMENT (the model or the request decided the size)
// and name the limit: "output of shape [1073741824] (FP32) would take
// 4294967296 bytes; 1073741812 of the 1073741824-byte budget are left (ONNX
// memory limit: --onnx-max-memory-mb)".
//
// Thread safety: none; a budget serves one call or one load, on one thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "functions/onnx/tensor.h"

namespace stoa::functions::onnx {

class MemoryBudget {
 public:
  // `source` says where the limit comes from, for messages
  // ("--onnx-max-memory-mb", "limits.memory_mb of the spec").
  MemoryBudget(int64_t limit_bytes, std::string source, int64_t used_bytes = 0)
      : limit_(limit_bytes), used_(used_bytes), source_(std::move(source)) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  int64_t limit() const { return limit_; }
  int64_t used() const { return used_; }
  const std::string& source() const { return source_; }
  void Charge(int64_t bytes) { used_ += bytes; }
  void Credit(int64_t bytes) { used_ -= bytes; }

  // OK when `bytes` more fit; else INVALID_ARGUMENT: "<what> would take N
  // bytes; L of the M-byte budget are left (ONNX memory limit: <source>)".
  absl::Status Check(int64_t bytes, const std::string& what) const;
  // OK while used() is within the limit; else the same error for `what`.
  absl::Status CheckUsed(const std::string& what) const;

 private:
  const int64_t limit_;
  int64_t used_;
  const std::string source_;
};

// Makes `budget` (may be null) the current thread's budget until destruction.
class ScopedMemoryBudget {
 public:
  explicit ScopedMemoryBudget(MemoryBudget* budget);
  ~ScopedMemoryBudget();
  ScopedMemoryBudget(const ScopedMemoryBudget&) = delete;
  ScopedMemoryBudget& operator=(const ScopedMemoryBudget&) = delete;

 private:
  MemoryBudget* previous_;
};

// The current thread's budget, or null.
MemoryBudget* CurrentMemoryBudget();

// Bytes a tensor of this type and shape holds (0 for an invalid shape).
int64_t TensorBytes(ElementType type, std::span<const int64_t> shape);
inline int64_t TensorBytes(const Tensor& t) { return TensorBytes(t.type(), t.shape()); }

// Before a kernel allocates an output: ElementCount(shape)'s errors, then,
// with a budget in scope, whether the output fits what is left of it.
absl::Status CheckAllocation(ElementType type, std::span<const int64_t> shape);

}  // namespace stoa::functions::onnx
