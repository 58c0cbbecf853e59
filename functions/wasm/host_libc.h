// The `stoa_libc` import module: C library routines a guest may take from
// the host instead of running its own copies compiled to Wasm. Debian's
// wasi-libc is musl, whose number parsing and formatting are several times
// slower than glibc's even natively and slower again as Wasm (docs/wasm.md:
// strtod ~12,000 instructions a number, printf of a double through software
// long double). A guest opts in with the header functions/wasm/guest/
// stoa_libc.h, which routes strtod/atof and the snprintf family here; a
// module that does not import `stoa_libc` is unchanged.
//
// Every function reads and writes guest memory only through WasiContext's
// memory, bounds-checked: a pointer outside memory ends the call with
// kWasiOutOfBounds, which the engines turn into the trap the guest's own
// load or store would have raised ("out of bounds memory access"). The host
// never runs unbounded work on a guest's behalf (its time is not under the
// deadline while it runs): inputs it would take long on are declined
// (kLibcDeclined), and the header then runs wasi-libc's own routine, inside
// the sandbox and under the deadline.
//
// Imports (all i32, the guest's types in brackets):
//   strtod(str [const char*], end [char**], out [double*]) -> i32
//     parses like strtod in the C locale; writes the value to *out and, when
//     end is not 0, the end pointer to *end; returns 0, ERANGE (WASI 68) on
//     overflow or underflow (for a subnormal result, as glibc: C leaves
//     that open), EINVAL (28) when nothing was converted (as musl, the
//     guest's own libc), or kLibcDeclined (an input over 64 KiB); a NaN
//     carries no payload, as in musl.
//   vsnprintf(buf [char*], size [size_t], fmt [const char*], ap [va_list]) -> i32
//     formats like C99 vsnprintf, reading the arguments from the wasm32
//     va_list (4-byte slots; double and 64-bit integers 8-byte aligned);
//     returns the length of the whole output, -1 when it passes INT_MAX
//     (the header sets EOVERFLOW), or kLibcDeclined for a conversion it
//     leaves to the guest: %n %p %a %A %m, L, wide %lc/%ls, positional
//     arguments, width or precision over 1 MiB, over 16 MiB of output, or a
//     malformed conversion.
#pragma once

#include <cstdint>
#include <string_view>

#include "functions/wasm/wasi_host.h"

namespace stoa::functions::wasm {

inline constexpr std::string_view kHostLibcModule = "stoa_libc";

// What a stoa_libc function returns (as i32) to have the guest run its own
// copy of the routine instead.
inline constexpr uint32_t kLibcDeclined = static_cast<uint32_t>(-2);

uint64_t HostLibcStrtod(WasiContext& context, const uint64_t* args);
uint64_t HostLibcVsnprintf(WasiContext& context, const uint64_t* args);

}  // namespace stoa::functions::wasm
