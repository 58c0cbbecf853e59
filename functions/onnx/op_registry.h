// The table of ops the engine runs: op type → OpKernel. The engine knows
// nothing about individual ops; adding one is a kernel file plus one
// Register call in a Register*Kernels function (see kernels.h).
//
// Thread safety: build the registry, then share it const; Find is then safe
// from any thread. The registry is a value: each OnnxRuntime owns one.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "functions/onnx/node.h"

namespace stoa::functions::onnx {

class OpRegistry {
 public:
  // Registering an op type twice is a broken invariant (STOA_CHECK).
  void Register(std::string op_type, OpKernel kernel);
  // nullptr when the op is not supported.
  const OpKernel* Find(std::string_view op_type) const;
  std::vector<std::string> OpTypes() const;  // sorted

 private:
  std::map<std::string, OpKernel, std::less<>> kernels_;
};

// Every op the engine implements on the CPU.
OpRegistry DefaultOpRegistry();

}  // namespace stoa::functions::onnx
