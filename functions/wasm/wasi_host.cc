#include "functions/wasm/wasi_host.h"

#include <sys/random.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace stoa::functions::wasm {
namespace {

using wabt::Result;
using wabt::Type;
using wabt::interp::FuncType;
using wabt::interp::HostFunc;
using wabt::interp::Thread;
using wabt::interp::Trap;
using wabt::interp::Values;
using wabt::interp::ValueTypes;

// Returns a WASI errno.
using HostImpl = uint32_t (*)(WasiContext&, const Values&);

struct HostSpec {
  std::string_view name;
  ValueTypes params;
  ValueTypes results;
  HostImpl impl;  // null for proc_exit, which unwinds instead of returning
};

uint32_t U32(const Values& v, size_t i) { return v[i].Get<wabt::interp::u32>(); }

uint8_t* Span(WasiContext& c, uint64_t addr, uint64_t len) {
  if (c.memory == nullptr || !c.memory->IsValidAccess(addr, 0, len)) return nullptr;
  return c.memory->UnsafeData() + addr;
}

bool Put32(WasiContext& c, uint32_t addr, uint32_t value) {
  uint8_t* p = Span(c, addr, 4);
  if (p != nullptr) std::memcpy(p, &value, 4);
  return p != nullptr;
}

bool Put64(WasiContext& c, uint32_t addr, uint64_t value) {
  uint8_t* p = Span(c, addr, 8);
  if (p != nullptr) std::memcpy(p, &value, 8);
  return p != nullptr;
}

// Calls `fn(data, len)` for each iovec of the list at `iovs`; EFAULT when
// the list or a buffer lies outside memory. Stops early when fn returns false.
template <typename Fn>
uint32_t ForEachIovec(WasiContext& c, uint32_t iovs, uint32_t count, Fn fn) {
  const uint8_t* list = Span(c, iovs, static_cast<uint64_t>(count) * 8);
  if (list == nullptr) return kWasiEfault;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t buf = 0;
    uint32_t len = 0;
    std::memcpy(&buf, list + i * 8, 4);
    std::memcpy(&len, list + i * 8 + 4, 4);
    uint8_t* data = Span(c, buf, len);
    if (data == nullptr) return kWasiEfault;
    if (!fn(data, len)) break;
  }
  return kWasiSuccess;
}

uint32_t FdWrite(WasiContext& c, const Values& v) {
  const uint32_t fd = U32(v, 0);
  if (fd != 1 && fd != 2) return kWasiEbadf;
  std::string& out = fd == 1 ? c.stdout_data : c.stderr_data;
  const size_t cap = fd == 1 ? c.max_stdout_bytes : c.max_stderr_bytes;
  uint64_t written = 0;
  bool too_big = false;
  const uint32_t err = ForEachIovec(c, U32(v, 1), U32(v, 2), [&](uint8_t* data, uint32_t len) {
    if (out.size() + len > cap) {
      too_big = fd == 1;
      out.append(reinterpret_cast<char*>(data), cap - out.size());  // stderr: keep the head
      written += len;
      return false;
    }
    out.append(reinterpret_cast<char*>(data), len);
    written += len;
    return true;
  });
  if (err != kWasiSuccess) return err;
  if (too_big) return kWasiEfbig;
  return Put32(c, U32(v, 3), static_cast<uint32_t>(written)) ? kWasiSuccess : kWasiEfault;
}

uint32_t FdRead(WasiContext& c, const Values& v) {
  if (U32(v, 0) != 0) return kWasiEbadf;
  uint64_t read = 0;
  const uint32_t err = ForEachIovec(c, U32(v, 1), U32(v, 2), [&](uint8_t* data, uint32_t len) {
    const size_t n = std::min<size_t>(len, c.stdin_data.size() - c.stdin_pos);
    std::memcpy(data, c.stdin_data.data() + c.stdin_pos, n);
    c.stdin_pos += n;
    read += n;
    return n == len;
  });
  if (err != kWasiSuccess) return err;
  return Put32(c, U32(v, 3), static_cast<uint32_t>(read)) ? kWasiSuccess : kWasiEfault;
}

uint32_t FdClose(WasiContext&, const Values& v) {
  return U32(v, 0) <= 2 ? kWasiSuccess : kWasiEbadf;
}

uint32_t FdSeek(WasiContext&, const Values& v) { return U32(v, 0) <= 2 ? kWasiEspipe : kWasiEbadf; }

// fdstat: u8 filetype, u16 flags (at 2), u64 rights_base (at 8), u64
// rights_inheriting (at 16). Filetype "unknown" (not a character device)
// tells wasi-libc stdio the streams are not ttys, so it buffers fully.
uint32_t FdFdstatGet(WasiContext& c, const Values& v) {
  const uint32_t fd = U32(v, 0);
  if (fd > 2) return kWasiEbadf;
  uint8_t* p = Span(c, U32(v, 1), 24);
  if (p == nullptr) return kWasiEfault;
  std::memset(p, 0, 24);
  const uint64_t rights = fd == 0 ? (1u << 1) /* fd_read */ : (1u << 6) /* fd_write */;
  std::memcpy(p + 8, &rights, 8);
  return kWasiSuccess;
}

uint32_t FdFdstatSetFlags(WasiContext&, const Values& v) {
  return U32(v, 0) <= 2 ? kWasiSuccess : kWasiEbadf;
}

uint32_t Ebadf(WasiContext&, const Values&) { return kWasiEbadf; }
uint32_t Enosys(WasiContext&, const Values&) { return kWasiEnosys; }
uint32_t Success(WasiContext&, const Values&) { return kWasiSuccess; }

uint64_t StringsSize(const std::vector<std::string>& strings) {
  uint64_t n = 0;
  for (const std::string& s : strings) n += s.size() + 1;
  return n;
}

uint32_t WriteStrings(WasiContext& c, const std::vector<std::string>& strings, uint32_t ptrs,
                      uint32_t buf) {
  for (size_t i = 0; i < strings.size(); ++i) {
    uint8_t* dst = Span(c, buf, strings[i].size() + 1);
    if (dst == nullptr || !Put32(c, ptrs + static_cast<uint32_t>(i) * 4, buf)) return kWasiEfault;
    std::memcpy(dst, strings[i].c_str(), strings[i].size() + 1);
    buf += static_cast<uint32_t>(strings[i].size() + 1);
  }
  return kWasiSuccess;
}

uint32_t ArgsSizesGet(WasiContext& c, const Values& v) {
  return Put32(c, U32(v, 0), static_cast<uint32_t>(c.args.size())) &&
                 Put32(c, U32(v, 1), static_cast<uint32_t>(StringsSize(c.args)))
             ? kWasiSuccess
             : kWasiEfault;
}

uint32_t ArgsGet(WasiContext& c, const Values& v) {
  return WriteStrings(c, c.args, U32(v, 0), U32(v, 1));
}

uint32_t EnvironSizesGet(WasiContext& c, const Values& v) {
  return Put32(c, U32(v, 0), 0) && Put32(c, U32(v, 1), 0) ? kWasiSuccess : kWasiEfault;
}

bool ClockId(uint32_t id, clockid_t* out) {
  static constexpr clockid_t kClocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
                                          CLOCK_THREAD_CPUTIME_ID};
  if (id >= 4) return false;
  *out = kClocks[id];
  return true;
}

uint32_t ClockResGet(WasiContext& c, const Values& v) {
  clockid_t id;
  timespec ts{};
  if (!ClockId(U32(v, 0), &id) || clock_getres(id, &ts) != 0) return kWasiEinval;
  const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000u + ts.tv_nsec;
  return Put64(c, U32(v, 1), ns) ? kWasiSuccess : kWasiEfault;
}

uint32_t ClockTimeGet(WasiContext& c, const Values& v) {
  clockid_t id;
  timespec ts{};
  if (!ClockId(U32(v, 0), &id) || clock_gettime(id, &ts) != 0) return kWasiEinval;
  const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000u + ts.tv_nsec;
  return Put64(c, U32(v, 2), ns) ? kWasiSuccess : kWasiEfault;
}

uint32_t RandomGet(WasiContext& c, const Values& v) {
  uint8_t* p = Span(c, U32(v, 0), U32(v, 1));
  if (p == nullptr) return kWasiEfault;
  size_t done = 0;
  while (done < U32(v, 1)) {
    const ssize_t n = getrandom(p + done, U32(v, 1) - done, 0);
    if (n <= 0) return kWasiEinval;
    done += static_cast<size_t>(n);
  }
  return kWasiSuccess;
}

const std::vector<HostSpec>& HostSpecs() {
  const Type i32 = Type::I32;
  const Type i64 = Type::I64;
  static const auto* specs = new std::vector<HostSpec>{
      {"fd_write", {i32, i32, i32, i32}, {i32}, &FdWrite},
      {"fd_read", {i32, i32, i32, i32}, {i32}, &FdRead},
      {"fd_close", {i32}, {i32}, &FdClose},
      {"fd_seek", {i32, i64, i32, i32}, {i32}, &FdSeek},
      {"fd_fdstat_get", {i32, i32}, {i32}, &FdFdstatGet},
      {"fd_fdstat_set_flags", {i32, i32}, {i32}, &FdFdstatSetFlags},
      {"fd_prestat_get", {i32, i32}, {i32}, &Ebadf},
      {"fd_prestat_dir_name", {i32, i32, i32}, {i32}, &Ebadf},
      {"args_sizes_get", {i32, i32}, {i32}, &ArgsSizesGet},
      {"args_get", {i32, i32}, {i32}, &ArgsGet},
      {"environ_sizes_get", {i32, i32}, {i32}, &EnvironSizesGet},
      {"environ_get", {i32, i32}, {i32}, &Success},
      {"clock_res_get", {i32, i32}, {i32}, &ClockResGet},
      {"clock_time_get", {i32, i64, i32}, {i32}, &ClockTimeGet},
      {"random_get", {i32, i32}, {i32}, &RandomGet},
      {"sched_yield", {}, {i32}, &Success},
      {"proc_exit", {i32}, {}, nullptr},
  };
  return *specs;
}

const HostSpec* FindSpec(std::string_view name) {
  for (const HostSpec& s : HostSpecs()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string TypesString(const ValueTypes& types) {
  std::string out = "(";
  for (size_t i = 0; i < types.size(); ++i) {
    absl::StrAppend(&out, i ? ", " : "", types[i].GetName());
  }
  return out + ")";
}

std::string SignatureString(const ValueTypes& params, const ValueTypes& results) {
  return absl::StrCat(TypesString(params), " -> ", TypesString(results));
}

}  // namespace

absl::Status CheckWasiImport(const wabt::interp::ImportType& import) {
  const std::string where = absl::StrCat("import '", import.module, ".", import.name, "'");
  if (import.module != kWasiModule) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " is not allowed: a module may import only from ", std::string(kWasiModule)));
  }
  const auto* type = wabt::dyn_cast<FuncType>(import.type.get());
  if (type == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is not a function; the host offers only WASI functions"));
  }
  if (const HostSpec* spec = FindSpec(import.name)) {
    if (type->params != spec->params || type->results != spec->results) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " has signature ", SignatureString(type->params, type->results),
                       "; WASI defines ", SignatureString(spec->params, spec->results)));
    }
    return absl::OkStatus();
  }
  if (type->results != ValueTypes{Type::I32}) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " has signature ", SignatureString(type->params, type->results),
                     "; an unsupported WASI function must return an i32 errno"));
  }
  return absl::OkStatus();
}

HostFunc::Ptr MakeWasiFunction(wabt::interp::Store& store, const wabt::interp::ImportType& import,
                               WasiContext* context) {
  const auto& type = *wabt::cast<FuncType>(import.type.get());
  const HostSpec* spec = FindSpec(import.name);
  if (spec != nullptr && spec->impl == nullptr) {  // proc_exit
    return HostFunc::New(
        store, type, [context](Thread& thread, const Values& params, Values&, Trap::Ptr* out_trap) {
          context->exit_code = U32(params, 0);
          *out_trap = Trap::New(thread.store(), std::string(kProcExitTrap));
          return Result::Error;
        });
  }
  HostImpl impl = spec != nullptr ? spec->impl
                  : absl::StartsWith(import.name, "fd_") || absl::StartsWith(import.name, "path_")
                      ? &Ebadf
                      : &Enosys;
  return HostFunc::New(store, type,
                       [context, impl](Thread&, const Values& params, Values& results, Trap::Ptr*) {
                         results.resize(1);
                         results[0] = wabt::interp::Value::Make(impl(*context, params));
                         return Result::Ok;
                       });
}

}  // namespace stoa::functions::wasm
