// The operator's limits on a Wasm module's shape (common::WasmLimits:
// size, functions, locals, function body size), checked by one linear scan
// of the binary before wabt decodes it: wabt, wasm2c and the C compiler all
// spend time and memory in proportion to what a few bytes can declare (a
// 55-byte module may declare 3,000,000 locals), so the refusal has to come
// first and cost O(1) memory.
//
// CheckModuleLimits reads only section headers, the import, function and
// code section counts and each body's local declarations. It is lenient
// about everything else: a module it cannot follow (truncated, bad LEB128)
// passes, so that DecodeModule reports the problem with wabt's words. It
// never reads outside `artifact`.
//
// Errors (INVALID_ARGUMENT), each naming its limit:
//  - "module is N bytes; the limit is M bytes (wasm module size limit)";
//  - "module declares N functions; the limit is M functions (wasm function
//    count limit)" (imported plus defined);
//  - "function I body is N bytes; the limit is M bytes (wasm function body
//    size limit)";
//  - "function I declares N locals; the limit is M locals per function
//    (wasm locals limit)" (N is at least the limit + 1: the scan stops
//    counting there);
//  - "module declares more than M locals in all its functions (wasm total
//    locals limit)".
// I is the function's index in the module's function index space.
//
// Thread safety: a pure function.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "common/wasm_limits.h"

namespace stoa::functions::wasm {

absl::Status CheckModuleLimits(std::string_view artifact, const common::WasmLimits& limits);

}  // namespace stoa::functions::wasm
