// A FunctionRuntime turns a registered artifact (an ONNX model, a Wasm
// module) into a LoadedFunction that can be invoked. The gateway uses it to
// validate an artifact at registration (a bad artifact is refused before it
// is stored); executors use it to load and run functions.
//
// Data model: tensors, specs and signatures are the protobuf messages of
// proto/stoa/v1 (stoa::v1::Tensor, stoa::v1::FunctionSpec), so nothing is
// converted between the REST layer, the gRPC layer and the runtimes.
//
// Thread safety: FunctionRuntime::Load and LoadedFunction::Invoke may be
// called concurrently from any number of threads.
// Ownership: Load returns a LoadedFunction the caller owns; it keeps no
// reference to the artifact bytes passed in.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/cancel_signal.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "common/wasm_limits.h"
#include "stoa/v1/function.pb.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::functions {

// Split inference (docs/split.md): the part of an ONNX graph one call runs.
enum class GraphPart { kWhole, kPrefix, kSuffix };

struct InvocationInput {
  std::vector<v1::Tensor> tensors;  // ONNX functions
  std::string raw;                  // Wasm functions: the request body
  // How long the invocation may run, in microseconds from the moment Invoke
  // is called; 0 = no limit. A budget, not a deadline, so that caller and
  // runtime need not share a clock: each runtime turns it into a deadline
  // on its own injected clock (RuntimeOptions::clock) when Invoke starts.
  // A caller holding an absolute deadline passes BudgetLeft of it.
  int64_t budget_us = 0;
  // The caller's withdrawal (nullable; it outlives the Invoke): when it
  // fires, a runtime stops the run at its next safe point (ONNX between
  // nodes; Wasm at once, through its deadline mechanism) and Invoke returns
  // CANCELLED.
  const common::CancelSignal* cancel = nullptr;
  // The caller's output size limit (0: none). Runtimes that collect output
  // as it is written (Wasm stdout) keep at most max_output_bytes + 1 bytes,
  // so the caller sees that it was passed without holding all of it.
  uint64_t max_output_bytes = 0;
  // kPrefix: run inputs -> the tensor named split_cut (one of spec().split_cuts),
  // returned as the only output; kSuffix: `tensors` is that tensor alone and
  // the call returns the function's outputs. Only ONNX functions loaded with
  // spec.split accept a part other than kWhole (INVALID_ARGUMENT otherwise).
  GraphPart part = GraphPart::kWhole;
  std::string split_cut;
};

// What is left at now_us of a deadline on the same clock, as budget_us:
// 0 (no limit) for deadline_us 0, else at least 1 (a deadline already past
// leaves the smallest budget, not none).
inline int64_t BudgetLeft(int64_t deadline_us, int64_t now_us) {
  if (deadline_us == 0) return 0;
  return deadline_us > now_us ? deadline_us - now_us : 1;
}

struct InvocationOutput {
  std::vector<v1::Tensor> tensors;
  std::string raw;
};

class LoadedFunction {
 public:
  virtual ~LoadedFunction() = default;
  LoadedFunction(const LoadedFunction&) = delete;
  LoadedFunction& operator=(const LoadedFunction&) = delete;

  // The spec it was loaded with, with `inputs`/`outputs` filled in from the
  // artifact (dynamic dimensions are -1).
  virtual const v1::FunctionSpec& spec() const = 0;

  // Runs the function once. Errors:
  //  INVALID_ARGUMENT  inputs that do not match the signature (the message
  //                    names the input, expected and actual datatype/shape);
  //  DEADLINE_EXCEEDED input.budget_us ran out;
  //  INTERNAL          the function itself failed (message says how).
  virtual absl::StatusOr<InvocationOutput> Invoke(const InvocationInput& input) = 0;

 protected:
  LoadedFunction() = default;
};
using LoadedFunctionPtr = std::unique_ptr<LoadedFunction>;

class FunctionRuntime {
 public:
  virtual ~FunctionRuntime() = default;
  FunctionRuntime(const FunctionRuntime&) = delete;
  FunctionRuntime& operator=(const FunctionRuntime&) = delete;

  // "onnx" or "wasm": the `runtime` field of a FunctionSpec.
  virtual std::string_view name() const = 0;

  // Parses and validates `artifact`. INVALID_ARGUMENT with a message that
  // names the problem (e.g. "node 'n3' uses unsupported op 'Conv'",
  // "artifact is not a valid ONNX model: truncated").
  virtual absl::StatusOr<LoadedFunctionPtr> Load(const v1::FunctionSpec& spec,
                                                 std::string_view artifact) = 0;
  // Load from a file (a registry's artifact, a streamed LoadFunction's
  // spool file), for artifacts too large to hold twice. The default reads
  // the file and calls Load; a runtime that can parse from the file
  // directly (ONNX: weights read straight into their tensors) overrides it.
  // NOT_FOUND when the file is missing.
  // Inline, so that runtimes linked without function_runtime.cc (the Wasm
  // library in its own benchmark) still find it.
  virtual absl::StatusOr<LoadedFunctionPtr> LoadFile(const v1::FunctionSpec& spec,
                                                     const std::string& path) {
    absl::StatusOr<std::string> bytes = common::ReadFile(path);
    if (!bytes.ok()) return bytes.status();
    return Load(spec, *bytes);
  }

 protected:
  FunctionRuntime() = default;
};
using FunctionRuntimePtr = std::unique_ptr<FunctionRuntime>;

// The runtimes a process offers, by name.
class RuntimeSet {
 public:
  void Add(FunctionRuntimePtr runtime);
  // nullptr when no runtime has that name.
  FunctionRuntime* Find(std::string_view name) const;
  // Loads with the runtime named by spec.runtime(); INVALID_ARGUMENT naming
  // the runtime when there is none.
  absl::StatusOr<LoadedFunctionPtr> Load(const v1::FunctionSpec& spec,
                                         std::string_view artifact) const;
  // The same from a file (FunctionRuntime::LoadFile).
  absl::StatusOr<LoadedFunctionPtr> LoadFile(const v1::FunctionSpec& spec,
                                             const std::string& path) const;

 private:
  absl::StatusOr<FunctionRuntime*> For(const v1::FunctionSpec& spec) const;
  std::vector<FunctionRuntimePtr> runtimes_;
};

// Every runtime built into this binary: onnx and wasm.
struct RuntimeOptions {
  // Threads one ONNX invocation may use (Conv, Gemm/MatMul, pooling split
  // across them); 1 = the calling thread only. An executor's budget is
  // its worker threads × this.
  int intra_op_threads = 1;
  // Wasm engine: "auto" (ahead-of-time, falling back to the interpreter),
  // "aot" or "interp"; and the compiled-module cache ("" = the default, see
  // functions/wasm/wasm_runtime.h).
  std::string wasm_engine = "auto";
  std::string wasm_cache_dir;
  // Entries one Wasm table may have (WasmRuntimeOptions::max_table_entries).
  uint32_t wasm_max_table_entries = 100'000;
  // ONNX model limits (OnnxRuntimeOptions): nodes, decoded initializer
  // MiB, and the default (and largest) memory budget of a function in MiB.
  int64_t onnx_max_nodes = 100'000;
  int64_t onnx_max_initializer_mb = 2048;
  int64_t onnx_max_memory_mb = 1024;
  // Wasm module shape and compile sandbox limits
  // (WasmRuntimeOptions::limits).
  common::WasmLimits wasm_limits;
  // The user the AOT compiler runs as when the process is root ("": root).
  std::string wasm_compile_user = "nobody";
  // What the runtimes measure invocation budgets on (never null); it must
  // outlive the runtimes and every function they load.
  const common::Clock* clock = &common::RealClock::Get();
};

RuntimeSet DefaultRuntimes(const RuntimeOptions& options = {});

}  // namespace stoa::functions
