#include "functions/wasm/interp_engine.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/clock.h"
#include "wabt/binary-reader.h"
#include "wabt/error-formatter.h"
#include "wabt/interp/binary-reader-interp.h"
#include "wabt/interp/interp.h"

namespace stoa::functions::wasm {

class InterpModule {
 public:
  wabt::interp::ModuleDesc desc;
};

namespace {

namespace interp = wabt::interp;

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

// The trap message proc_exit unwinds with (exit_code tells the status).
constexpr std::string_view kProcExitTrap = "stoa: proc_exit";

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

// Caps every table's maximum at `max_entries`; INVALID_ARGUMENT when one
// needs more at start. An instance allocates its tables whole (8 bytes an
// entry here, 24 in AOT code), so the declaration alone could take
// gigabytes.
absl::Status CapTables(interp::ModuleDesc& desc, uint32_t max_entries) {
  for (size_t i = 0; i < desc.tables.size(); ++i) {
    wabt::Limits& limits = desc.tables[i].type.limits;
    if (limits.initial > max_entries) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", i, " declares ", limits.initial, " entries at start; the limit is ",
          max_entries, " entries per table (wasm table entries limit)"));
    }
    limits.max = limits.has_max ? std::min<uint64_t>(limits.max, max_entries) : max_entries;
    limits.has_max = true;
  }
  return absl::OkStatus();
}

ValType ToValType(wabt::Type t) {
  switch (t) {
    case wabt::Type::I32:
      return ValType::kI32;
    case wabt::Type::I64:
      return ValType::kI64;
    case wabt::Type::F32:
      return ValType::kF32;
    case wabt::Type::F64:
      return ValType::kF64;
    default:
      return ValType::kOther;
  }
}

WasmImport ToWasmImport(const interp::ImportType& import) {
  WasmImport out;
  out.module = import.module;
  out.name = import.name;
  const auto* type = wabt::dyn_cast<interp::FuncType>(import.type.get());
  out.is_function = type != nullptr;
  if (type != nullptr) {
    for (wabt::Type t : type->params) out.params.push_back(ToValType(t));
    for (wabt::Type t : type->results) out.results.push_back(ToValType(t));
  }
  return out;
}

class InterpMemory final : public WasiMemory {
 public:
  explicit InterpMemory(interp::Memory* memory) : memory_(memory) {}
  uint8_t* data() override { return memory_->UnsafeData(); }
  uint64_t size() override { return memory_->ByteSize(); }

 private:
  interp::Memory* const memory_;
};

// The wabt host function for an import that passed CheckWasiImport: the
// shared host (wasi_host.h) behind wabt's calling convention.
interp::HostFunc::Ptr MakeWasiFunction(interp::Store& store, const interp::ImportType& import,
                                       WasiContext* context) {
  const auto& type = *wabt::cast<interp::FuncType>(import.type.get());
  const WasiFn fn = BindWasi(ToWasmImport(import));
  return interp::HostFunc::New(
      store, type,
      [context, fn, types = type.params](interp::Thread& thread, const interp::Values& params,
                                         interp::Values& results, interp::Trap::Ptr* out_trap) {
        uint64_t args[16] = {};
        for (size_t i = 0; i < params.size() && i < 16; ++i) {
          args[i] = types[i] == wabt::Type::I64 ? params[i].Get<interp::u64>()
                                                : params[i].Get<interp::u32>();
        }
        const uint64_t r = fn(*context, args);
        if (r == kWasiExited) {
          *out_trap = interp::Trap::New(thread.store(), std::string(kProcExitTrap));
          return wabt::Result::Error;
        }
        if (r == kWasiOutOfBounds) {
          *out_trap = interp::Trap::New(thread.store(), "out of bounds memory access");
          return wabt::Result::Error;
        }
        results.resize(1);
        results[0] = interp::Value::Make(static_cast<interp::u32>(r));
        return wabt::Result::Ok;
      });
}

}  // namespace

absl::StatusOr<std::shared_ptr<const InterpModule>> DecodeModule(std::string_view artifact,
                                                                 uint32_t memory_mb,
                                                                 uint64_t cap_pages,
                                                                 uint32_t max_table_entries,
                                                                 ModuleInfo* info) {
  if (artifact.empty()) return NotWasm("the artifact is empty");
  if (artifact.size() < 8 || artifact.substr(0, 4) != std::string_view("\0asm", 4)) {
    return NotWasm("it does not start with the Wasm magic bytes \\0asm");
  }
  auto module = std::make_shared<InterpModule>();
  wabt::Errors errors;
  wabt::ReadBinaryOptions read_options;
  read_options.fail_on_custom_section_error = false;
  if (wabt::Failed(interp::ReadBinaryInterp("function.wasm", artifact.data(), artifact.size(),
                                            read_options, &errors, &module->desc))) {
    std::string why = wabt::FormatErrorsToString(errors, wabt::Location::Type::Binary);
    return absl::InvalidArgumentError(
        absl::StrCat("invalid WebAssembly module: ", absl::StripTrailingAsciiWhitespace(why)));
  }
  *info = ModuleInfo{};
  info->max_table_entries = max_table_entries;
  for (const interp::ImportDesc& import : module->desc.imports) {
    info->imports.push_back(ToWasmImport(import.type));
    absl::Status s = CheckWasiImport(info->imports.back());
    if (!s.ok()) return s;
  }
  for (const interp::ExportDesc& e : module->desc.exports) {
    if (e.type.name == "memory" && e.type.type->kind == wabt::ExternalKind::Memory) {
      info->exports_memory = true;
    }
  }
  absl::Status s = CheckStart(module->desc);
  if (!s.ok()) return s;
  s = CapMemories(module->desc, cap_pages, memory_mb);
  if (!s.ok()) return s;
  s = CapTables(module->desc, max_table_entries);
  if (!s.ok()) return s;
  return std::shared_ptr<const InterpModule>(std::move(module));
}

absl::StatusOr<InvocationOutput> RunInterp(const InterpModule& decoded,
                                           const InvocationInput& input, const CallLimits& limits,
                                           int instructions_per_slice) {
  WasiContext context;
  context.stdin_data = input.raw;
  if (input.max_output_bytes != 0) {
    context.max_stdout_bytes = input.max_output_bytes + 1;
  }
  context.args = {limits.function.empty() ? std::string("function") : std::string(limits.function)};

  interp::Store store;
  interp::Module::Ptr module = interp::Module::New(store, decoded.desc);
  interp::RefVec imports;
  for (const interp::ImportType& import : module->import_types()) {
    imports.push_back(MakeWasiFunction(store, import, &context).ref());
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
  std::unique_ptr<InterpMemory> view;
  if (memory) {
    view = std::make_unique<InterpMemory>(memory.get());
    context.memory = view.get();
  }

  interp::Thread thread(store);
  interp::RunResult result = (thread.*GetPushCall(PushCallTag{}))(*start, &trap);
  CallEnd end;
  while (result == interp::RunResult::Ok) {
    if (limits.clock->NowMicros() >= limits.deadline_us) {
      end.kind = CallEnd::Kind::kDeadline;
      return FinishCall(end, limits, context);
    }
    if (input.cancel != nullptr && input.cancel->cancelled()) {
      end.kind = CallEnd::Kind::kCancelled;
      return FinishCall(end, limits, context);
    }
    result = thread.Run(std::max(1, instructions_per_slice), &trap);
  }
  end.memory_pages = memory ? memory->PageSize() : 0;
  if (result == interp::RunResult::Exception) {
    end.kind = CallEnd::Kind::kUncaughtException;
  } else if (result == interp::RunResult::Trap) {
    const bool exited = context.exit_code.has_value() && trap && trap->message() == kProcExitTrap;
    end.kind = exited ? CallEnd::Kind::kExited : CallEnd::Kind::kTrapped;
    end.trap = trap ? trap->message() : std::string("unknown");
  }
  return FinishCall(end, limits, context);
}

}  // namespace stoa::functions::wasm
