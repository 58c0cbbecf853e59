#include "functions/wasm/wasm_runtime.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/clock.h"
#include "functions/wasm/wasi_host.h"
#include "wabt/binary-reader.h"
#include "wabt/error-formatter.h"
#include "wabt/interp/binary-reader-interp.h"
#include "wabt/interp/interp.h"

namespace stoa::functions {
namespace {

namespace interp = wabt::interp;
using wasm::WasiContext;

constexpr uint64_t kPageBytes = 64 * 1024;
constexpr uint64_t kPagesPerMiB = (1 << 20) / kPageBytes;

// wabt's Thread can run a bounded number of instructions (Run(n, trap)), but
// the only public way to enter a function (Func::Call) runs it to the end.
// Thread::PushCall is the private step Func::Call takes before running; an
// explicit template instantiation may name a private member (C++
// [temp.explicit]), which lets us enter _start and then run it in slices,
// checking the deadline in between. The signature is pinned by the type
// below, so a wabt upgrade that changes it fails to compile, not to run.
using PushCallFn = interp::RunResult (interp::Thread::*)(const interp::DefinedFunc&,
                                                         interp::Trap::Ptr*);
struct PushCallTag {
  friend PushCallFn GetPushCall(PushCallTag);
};
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-template-friend"
template <PushCallFn Fn>
struct PushCallAccess {
  friend PushCallFn GetPushCall(PushCallTag) { return Fn; }
};
#pragma GCC diagnostic pop
template struct PushCallAccess<&interp::Thread::PushCall>;

absl::Status NotWasm(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("artifact is not a WebAssembly module: ", why));
}

absl::Status CheckStart(const interp::ModuleDesc& desc) {
  if (!desc.starts.empty()) {
    return absl::InvalidArgumentError(
        "module has a start section; a WASI command runs from its exported _start function "
        "(a start section would run outside the deadline)");
  }
  for (const interp::ExportDesc& e : desc.exports) {
    if (e.type.name != "_start") continue;
    const auto* type = wabt::dyn_cast<interp::FuncType>(e.type.type.get());
    if (type == nullptr || !type->params.empty() || !type->results.empty()) {
      return absl::InvalidArgumentError("export '_start' must be a function of type () -> ()");
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "module exports no _start function (it must be a WASI command: build it as a program "
      "with a main(), e.g. clang --target=wasm32-wasi)");
}

// Caps every memory at `cap_pages`; INVALID_ARGUMENT when one needs more at start.
absl::Status CapMemories(interp::ModuleDesc& desc, uint64_t cap_pages, uint32_t memory_mb) {
  for (interp::MemoryDesc& m : desc.memories) {
    wabt::Limits& limits = m.type.limits;
    if (limits.is_64) return absl::InvalidArgumentError("64-bit memories are not supported");
    if (limits.initial > cap_pages) {
      return absl::InvalidArgumentError(
          absl::StrCat("module needs ", (limits.initial + kPagesPerMiB - 1) / kPagesPerMiB,
                       " MiB of linear memory at start; limits.memory_mb is ", memory_mb));
    }
    limits.max = limits.has_max ? std::min<uint64_t>(limits.max, cap_pages) : cap_pages;
    limits.has_max = true;
  }
  return absl::OkStatus();
}

std::string WithStderr(std::string message, const std::string& err) {
  const absl::string_view trimmed = absl::StripTrailingAsciiWhitespace(err);
  if (!trimmed.empty()) absl::StrAppend(&message, "; stderr: ", trimmed);
  return message;
}

class WasmFunction final : public LoadedFunction {
 public:
  WasmFunction(v1::FunctionSpec spec, std::shared_ptr<const interp::ModuleDesc> desc,
               uint32_t timeout_ms, uint64_t cap_pages, int slice)
      : spec_(std::move(spec)),
        desc_(std::move(desc)),
        timeout_ms_(timeout_ms),
        cap_pages_(cap_pages),
        slice_(slice) {}

  const v1::FunctionSpec& spec() const override { return spec_; }

  absl::StatusOr<InvocationOutput> Invoke(const InvocationInput& input) override {
    const common::Clock& clock = common::RealClock::Get();
    const int64_t start_us = clock.NowMicros();
    int64_t deadline_us = start_us + static_cast<int64_t>(timeout_ms_) * 1000;
    if (input.deadline_us != 0) deadline_us = std::min(deadline_us, input.deadline_us);

    WasiContext context;
    context.stdin_data = input.raw;
    context.args = {spec_.name().empty() ? std::string("function") : spec_.name()};

    interp::Store store;
    interp::Module::Ptr module = interp::Module::New(store, *desc_);
    interp::RefVec imports;
    for (const interp::ImportType& import : module->import_types()) {
      imports.push_back(wasm::MakeWasiFunction(store, import, &context).ref());
    }
    interp::Trap::Ptr trap;
    interp::Instance::Ptr instance =
        interp::Instance::Instantiate(store, module.ref(), imports, &trap);
    if (!instance) {
      return absl::InternalError(
          absl::StrCat("wasm instantiation failed: ", trap ? trap->message() : "unknown reason"));
    }
    interp::DefinedFunc::Ptr start;
    interp::Memory::Ptr memory;
    const auto& export_types = module->export_types();
    for (size_t i = 0; i < export_types.size(); ++i) {
      const interp::Ref ref = instance->exports()[i];
      if (export_types[i].name == "_start") start = store.UnsafeGet<interp::DefinedFunc>(ref);
      if (export_types[i].name == "memory" &&
          export_types[i].type->kind == wabt::ExternalKind::Memory) {
        memory = store.UnsafeGet<interp::Memory>(ref);
      }
    }
    if (!start) return absl::InternalError("_start is not a function defined by the module");
    context.memory = memory.get();

    interp::Thread thread(store);
    interp::RunResult result = (thread.*GetPushCall(PushCallTag{}))(*start, &trap);
    while (result == interp::RunResult::Ok) {
      if (clock.NowMicros() >= deadline_us) {
        return absl::DeadlineExceededError(
            absl::StrCat("wasm function '", spec_.name(), "' did not finish by its deadline (",
                         (deadline_us - start_us) / 1000, " ms) and was stopped"));
      }
      result = thread.Run(slice_, &trap);
    }
    return Finish(result, trap, context, memory.get());
  }

 private:
  absl::StatusOr<InvocationOutput> Finish(interp::RunResult result, const interp::Trap::Ptr& trap,
                                          WasiContext& context, interp::Memory* memory) const {
    if (result == interp::RunResult::Exception) {
      return absl::InternalError(WithStderr("wasm trap: uncaught exception", context.stderr_data));
    }
    const bool exited = result == interp::RunResult::Trap && context.exit_code.has_value() &&
                        trap && trap->message() == wasm::kProcExitTrap;
    if (result == interp::RunResult::Trap && !exited) {
      std::string message =
          absl::StrCat("wasm trap: ", trap ? trap->message() : std::string("unknown"));
      // memory.grow past the cap returns -1 without a trap; a program whose
      // allocation failed usually aborts, so say how close to the cap it was.
      if (memory != nullptr && memory->PageSize() * 10 >= cap_pages_ * 9) {
        absl::StrAppend(&message, " (linear memory is near its limit: ",
                        absl::StrFormat("%.1f", memory->PageSize() / double(kPagesPerMiB)), " of ",
                        cap_pages_ / kPagesPerMiB, " MiB; memory.grow beyond it fails)");
      }
      return absl::InternalError(WithStderr(std::move(message), context.stderr_data));
    }
    if (exited && *context.exit_code != 0) {
      return absl::InternalError(WithStderr(
          absl::StrCat("function exited with status ", *context.exit_code), context.stderr_data));
    }
    InvocationOutput out;
    out.raw = std::move(context.stdout_data);
    return out;
  }

  const v1::FunctionSpec spec_;
  const std::shared_ptr<const interp::ModuleDesc> desc_;
  const uint32_t timeout_ms_;
  const uint64_t cap_pages_;
  const int slice_;
};

}  // namespace

absl::StatusOr<LoadedFunctionPtr> WasmRuntime::Load(const v1::FunctionSpec& spec,
                                                    std::string_view artifact) {
  if (artifact.empty()) return NotWasm("the artifact is empty");
  if (artifact.size() < 8 || artifact.substr(0, 4) != std::string_view("\0asm", 4)) {
    return NotWasm("it does not start with the Wasm magic bytes \\0asm");
  }
  auto desc = std::make_shared<interp::ModuleDesc>();
  wabt::Errors errors;
  wabt::ReadBinaryOptions read_options;
  read_options.fail_on_custom_section_error = false;
  if (wabt::Failed(interp::ReadBinaryInterp("function.wasm", artifact.data(), artifact.size(),
                                            read_options, &errors, desc.get()))) {
    std::string why = wabt::FormatErrorsToString(errors, wabt::Location::Type::Binary);
    return absl::InvalidArgumentError(
        absl::StrCat("invalid WebAssembly module: ", absl::StripTrailingAsciiWhitespace(why)));
  }
  for (const interp::ImportDesc& import : desc->imports) {
    absl::Status s = wasm::CheckWasiImport(import.type);
    if (!s.ok()) return s;
  }
  absl::Status s = CheckStart(*desc);
  if (!s.ok()) return s;
  const uint32_t memory_mb =
      spec.limits().memory_mb() != 0 ? spec.limits().memory_mb() : options_.default_memory_mb;
  const uint64_t cap_pages = static_cast<uint64_t>(memory_mb) * kPagesPerMiB;
  s = CapMemories(*desc, cap_pages, memory_mb);
  if (!s.ok()) return s;

  v1::FunctionSpec loaded = spec;
  loaded.set_runtime("wasm");
  if (loaded.content_type().empty()) loaded.set_content_type("application/octet-stream");
  loaded.clear_inputs();
  loaded.clear_outputs();
  const uint32_t timeout_ms =
      spec.limits().timeout_ms() != 0 ? spec.limits().timeout_ms() : options_.default_timeout_ms;
  return std::make_unique<WasmFunction>(std::move(loaded), std::move(desc), timeout_ms, cap_pages,
                                        std::max(1, options_.instructions_per_slice));
}

}  // namespace stoa::functions
