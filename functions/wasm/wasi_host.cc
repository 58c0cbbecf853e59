#include "functions/wasm/wasi_host.h"

#include <sys/random.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "functions/wasm/host_libc.h"

namespace stoa::functions::wasm {
namespace {

using Values = const uint64_t*;
using Types = std::vector<ValType>;

struct HostSpec {
  std::string_view module;
  std::string_view name;
  Types params;
  Types results;
  WasiFn impl;
};

uint32_t U32(Values v, size_t i) { return static_cast<uint32_t>(v[i]); }

bool Put32(WasiContext& c, uint32_t addr, uint32_t value) {
  uint8_t* p = GuestSpan(c, addr, 4);
  if (p != nullptr) std::memcpy(p, &value, 4);
  return p != nullptr;
}

bool Put64(WasiContext& c, uint32_t addr, uint64_t value) {
  uint8_t* p = GuestSpan(c, addr, 8);
  if (p != nullptr) std::memcpy(p, &value, 8);
  return p != nullptr;
}

// Calls `fn(data, len)` for each iovec of the list at `iovs`; EFAULT when
// the list or a buffer lies outside memory. Stops early when fn returns false.
template <typename Fn>
uint64_t ForEachIovec(WasiContext& c, uint32_t iovs, uint32_t count, Fn fn) {
  const uint8_t* list = GuestSpan(c, iovs, static_cast<uint64_t>(count) * 8);
  if (list == nullptr) return kWasiEfault;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t buf = 0;
    uint32_t len = 0;
    std::memcpy(&buf, list + i * 8, 4);
    std::memcpy(&len, list + i * 8 + 4, 4);
    uint8_t* data = GuestSpan(c, buf, len);
    if (data == nullptr) return kWasiEfault;
    if (!fn(data, len)) break;
  }
  return kWasiSuccess;
}

uint64_t FdWrite(WasiContext& c, Values v) {
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

uint64_t FdRead(WasiContext& c, Values v) {
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

uint64_t FdClose(WasiContext&, Values v) { return U32(v, 0) <= 2 ? kWasiSuccess : kWasiEbadf; }

uint64_t FdSeek(WasiContext&, Values v) { return U32(v, 0) <= 2 ? kWasiEspipe : kWasiEbadf; }

// fdstat: u8 filetype, u16 flags (at 2), u64 rights_base (at 8), u64
// rights_inheriting (at 16). Filetype "unknown" (not a character device)
// tells wasi-libc stdio the streams are not ttys, so it buffers fully.
uint64_t FdFdstatGet(WasiContext& c, Values v) {
  const uint32_t fd = U32(v, 0);
  if (fd > 2) return kWasiEbadf;
  uint8_t* p = GuestSpan(c, U32(v, 1), 24);
  if (p == nullptr) return kWasiEfault;
  std::memset(p, 0, 24);
  const uint64_t rights = fd == 0 ? (1u << 1) /* fd_read */ : (1u << 6) /* fd_write */;
  std::memcpy(p + 8, &rights, 8);
  return kWasiSuccess;
}

uint64_t FdFdstatSetFlags(WasiContext&, Values v) {
  return U32(v, 0) <= 2 ? kWasiSuccess : kWasiEbadf;
}

uint64_t Ebadf(WasiContext&, Values) { return kWasiEbadf; }
uint64_t Enosys(WasiContext&, Values) { return kWasiEnosys; }
uint64_t Success(WasiContext&, Values) { return kWasiSuccess; }

uint64_t StringsSize(const std::vector<std::string>& strings) {
  uint64_t n = 0;
  for (const std::string& s : strings) n += s.size() + 1;
  return n;
}

uint64_t WriteStrings(WasiContext& c, const std::vector<std::string>& strings, uint32_t ptrs,
                      uint32_t buf) {
  for (size_t i = 0; i < strings.size(); ++i) {
    uint8_t* dst = GuestSpan(c, buf, strings[i].size() + 1);
    if (dst == nullptr || !Put32(c, ptrs + static_cast<uint32_t>(i) * 4, buf)) return kWasiEfault;
    std::memcpy(dst, strings[i].c_str(), strings[i].size() + 1);
    buf += static_cast<uint32_t>(strings[i].size() + 1);
  }
  return kWasiSuccess;
}

uint64_t ArgsSizesGet(WasiContext& c, Values v) {
  return Put32(c, U32(v, 0), static_cast<uint32_t>(c.args.size())) &&
                 Put32(c, U32(v, 1), static_cast<uint32_t>(StringsSize(c.args)))
             ? kWasiSuccess
             : kWasiEfault;
}

uint64_t ArgsGet(WasiContext& c, Values v) { return WriteStrings(c, c.args, U32(v, 0), U32(v, 1)); }

uint64_t EnvironSizesGet(WasiContext& c, Values v) {
  return Put32(c, U32(v, 0), 0) && Put32(c, U32(v, 1), 0) ? kWasiSuccess : kWasiEfault;
}

bool ClockId(uint32_t id, clockid_t* out) {
  static constexpr clockid_t kClocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
                                          CLOCK_THREAD_CPUTIME_ID};
  if (id >= 4) return false;
  *out = kClocks[id];
  return true;
}

uint64_t ClockResGet(WasiContext& c, Values v) {
  clockid_t id;
  timespec ts{};
  if (!ClockId(U32(v, 0), &id) || clock_getres(id, &ts) != 0) return kWasiEinval;
  const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000u + ts.tv_nsec;
  return Put64(c, U32(v, 1), ns) ? kWasiSuccess : kWasiEfault;
}

uint64_t ClockTimeGet(WasiContext& c, Values v) {
  clockid_t id;
  timespec ts{};
  if (!ClockId(U32(v, 0), &id) || clock_gettime(id, &ts) != 0) return kWasiEinval;
  const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000u + ts.tv_nsec;
  return Put64(c, U32(v, 2), ns) ? kWasiSuccess : kWasiEfault;
}

uint64_t RandomGet(WasiContext& c, Values v) {
  uint8_t* p = GuestSpan(c, U32(v, 0), U32(v, 1));
  if (p == nullptr) return kWasiEfault;
  // Touched from user space first: a lazily committed page of the AOT
  // engine's memory becomes read-write on a fault, which a system call
  // writing there would not raise (it fails with EFAULT instead).
  std::memset(p, 0, U32(v, 1));
  size_t done = 0;
  while (done < U32(v, 1)) {
    const ssize_t n = getrandom(p + done, U32(v, 1) - done, 0);
    if (n <= 0) return kWasiEinval;
    done += static_cast<size_t>(n);
  }
  return kWasiSuccess;
}

uint64_t ProcExit(WasiContext& c, Values v) {
  c.exit_code = U32(v, 0);
  return kWasiExited;
}

const std::vector<HostSpec>& HostSpecs() {
  const ValType i32 = ValType::kI32;
  const ValType i64 = ValType::kI64;
  static const auto* specs = new std::vector<HostSpec>{
      {kWasiModule, "fd_write", {i32, i32, i32, i32}, {i32}, &FdWrite},
      {kWasiModule, "fd_read", {i32, i32, i32, i32}, {i32}, &FdRead},
      {kWasiModule, "fd_close", {i32}, {i32}, &FdClose},
      {kWasiModule, "fd_seek", {i32, i64, i32, i32}, {i32}, &FdSeek},
      {kWasiModule, "fd_fdstat_get", {i32, i32}, {i32}, &FdFdstatGet},
      {kWasiModule, "fd_fdstat_set_flags", {i32, i32}, {i32}, &FdFdstatSetFlags},
      {kWasiModule, "fd_prestat_get", {i32, i32}, {i32}, &Ebadf},
      {kWasiModule, "fd_prestat_dir_name", {i32, i32, i32}, {i32}, &Ebadf},
      {kWasiModule, "args_sizes_get", {i32, i32}, {i32}, &ArgsSizesGet},
      {kWasiModule, "args_get", {i32, i32}, {i32}, &ArgsGet},
      {kWasiModule, "environ_sizes_get", {i32, i32}, {i32}, &EnvironSizesGet},
      {kWasiModule, "environ_get", {i32, i32}, {i32}, &Success},
      {kWasiModule, "clock_res_get", {i32, i32}, {i32}, &ClockResGet},
      {kWasiModule, "clock_time_get", {i32, i64, i32}, {i32}, &ClockTimeGet},
      {kWasiModule, "random_get", {i32, i32}, {i32}, &RandomGet},
      {kWasiModule, "sched_yield", {}, {i32}, &Success},
      {kWasiModule, "proc_exit", {i32}, {}, &ProcExit},
      {kHostLibcModule, "strtod", {i32, i32, i32}, {i32}, &HostLibcStrtod},
      {kHostLibcModule, "vsnprintf", {i32, i32, i32, i32}, {i32}, &HostLibcVsnprintf},
  };
  return *specs;
}

const HostSpec* FindSpec(std::string_view module, std::string_view name) {
  for (const HostSpec& s : HostSpecs()) {
    if (s.module == module && s.name == name) return &s;
  }
  return nullptr;
}

const char* TypeName(ValType t) {
  switch (t) {
    case ValType::kI32:
      return "i32";
    case ValType::kI64:
      return "i64";
    case ValType::kF32:
      return "f32";
    case ValType::kF64:
      return "f64";
    case ValType::kOther:
      break;
  }
  return "ref";
}

std::string TypesString(const Types& types) {
  std::string out = "(";
  for (size_t i = 0; i < types.size(); ++i)
    absl::StrAppend(&out, i ? ", " : "", TypeName(types[i]));
  return out + ")";
}

std::string SignatureString(const Types& params, const Types& results) {
  return absl::StrCat(TypesString(params), " -> ", TypesString(results));
}

}  // namespace

uint8_t* GuestSpan(WasiContext& c, uint64_t addr, uint64_t len) {
  if (c.memory == nullptr) return nullptr;
  const uint64_t size = c.memory->size();
  if (addr > size || len > size - addr) return nullptr;
  return c.memory->data() + addr;
}

absl::Status CheckWasiImport(const WasmImport& import) {
  const std::string where = absl::StrCat("import '", import.module, ".", import.name, "'");
  if (import.module != kWasiModule && import.module != kHostLibcModule) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is not allowed: a module may import only from ",
                     std::string(kWasiModule), " and ", std::string(kHostLibcModule)));
  }
  if (!import.is_function) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is not a function; the host offers only functions"));
  }
  const HostSpec* spec = FindSpec(import.module, import.name);
  if (spec != nullptr) {
    if (import.params != spec->params || import.results != spec->results) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " has signature ", SignatureString(import.params, import.results),
                       "; ", import.module == kWasiModule ? "WASI" : "the host", " defines ",
                       SignatureString(spec->params, spec->results)));
    }
    return absl::OkStatus();
  }
  if (import.module == kHostLibcModule) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is not allowed: ", std::string(kHostLibcModule),
                     " offers strtod and vsnprintf (functions/wasm/guest/stoa_libc.h)"));
  }
  if (import.results != Types{ValType::kI32}) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " has signature ", SignatureString(import.params, import.results),
                     "; an unsupported WASI function must return an i32 errno"));
  }
  return absl::OkStatus();
}

WasiFn BindWasi(const WasmImport& import) {
  if (const HostSpec* spec = FindSpec(import.module, import.name)) return spec->impl;
  const std::string_view name = import.name;
  return name.rfind("fd_", 0) == 0 || name.rfind("path_", 0) == 0 ? &Ebadf : &Enosys;
}

}  // namespace stoa::functions::wasm
