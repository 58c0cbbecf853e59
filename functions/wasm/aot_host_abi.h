// The host ABI of the Wasm AOT engine: the table of host functions the glue
// compiled into every module (aot_compiler.cc, C) calls and the engine
// (aot_engine.cc, C++) provides. One list, STOA_AOT_HOST_FUNCTIONS, makes
// both sides: the C++ struct AotHostTable and the C declaration
// kAotHostTableC that GlueSource writes into the glue, so they cannot
// drift apart.
//
// Versions: the cache key of a compiled module (aot_compiler.h) hashes the
// whole glue source, this table included, so any change to the glue or the
// table compiles modules anew by itself. kAotAbiVersion is for a change in
// what a host function does with its declaration unchanged: bump it then.
// The compiled object exports it (stoa_abi_version) and LoadAot refuses an
// object with another.
//
// Types are those of <wasm-rt.h> (wabt 1.0.32), which both sides include.
#pragma once

#include <wasm-rt.h>

#include <cstdint>
#include <string_view>
#include <type_traits>

// X(return type, name, (parameters)), in table order after abi_version.
#define STOA_AOT_HOST_FUNCTIONS(X)                                                            \
  X(void, trap, (uint32_t code))                                                              \
  X(uint32_t, register_func_type, (uint32_t params, uint32_t results, const uint32_t* types)) \
  X(void, allocate_memory,                                                                    \
    (wasm_rt_memory_t * memory, uint32_t initial_pages, uint32_t max_pages))                  \
  X(uint32_t, grow_memory, (wasm_rt_memory_t * memory, uint32_t delta))                       \
  X(void, free_memory, (wasm_rt_memory_t * memory))                                           \
  X(void*, alloc_zeroed, (uint64_t bytes))                                                    \
  X(void*, realloc_bytes, (void* p, uint64_t bytes))                                          \
  X(void, free_bytes, (void* p))                                                              \
  X(uint64_t, wasi, (void* context, uint32_t import_index, const uint64_t* args))

namespace stoa::functions::wasm {

inline constexpr uint32_t kAotAbiVersion = 1;

#define STOA_AOT_HOST_FIELD(type, name, params) type(*name) params;
// Standard layout, as the C side (struct stoa_wasm_host) sees it.
struct AotHostTable {
  uint32_t abi_version;
  STOA_AOT_HOST_FUNCTIONS(STOA_AOT_HOST_FIELD)
};
#undef STOA_AOT_HOST_FIELD
static_assert(std::is_standard_layout_v<AotHostTable>);

#define STOA_AOT_HOST_FIELD_C(type, name, params) "  " #type " (*" #name ")" #params ";\n"
// The same table in C, for the glue.
inline constexpr std::string_view kAotHostTableC =
    "struct stoa_wasm_host {\n"
    "  uint32_t abi_version;\n" STOA_AOT_HOST_FUNCTIONS(STOA_AOT_HOST_FIELD_C) "};\n";
#undef STOA_AOT_HOST_FIELD_C

}  // namespace stoa::functions::wasm
