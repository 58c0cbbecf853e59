// cuBLAS, opened at run time (dlopen) instead of linked.
//
// Why: cuBLAS 13 with the cublasLt it needs is about 600 MB, far past what a
// self-contained GPU test bundle can carry (tests/gpu/make_bundle.sh, 64 MiB);
// and a machine with a CUDA driver but no toolkit should still start Stoa's
// binaries and run models on the CPU. The CUDA runtime (libcudart, 0.7 MB)
// stays linked; cuBLAS does not depend on it.
//
// Search order for the library: the path in $STOA_CUBLAS_LIBRARY when set;
// else "libcublas.so.<major>" (the major version Stoa was compiled against)
// through the dynamic loader (LD_LIBRARY_PATH, RUNPATH, ld.so.cache); else the
// toolkit's usual directories under /usr/local/cuda.
//
// Thread safety: LoadCublas may be called from any thread; the library is
// opened once per process (the first call decides) and never closed.
// Errors: UNAVAILABLE naming every place tried and the loader's last error, or
// naming the missing symbol; callers treat it like "no device" (CPU fallback).
#pragma once

#include <cublas_v2.h>

#include "absl/status/statusor.h"

namespace stoa::functions::cuda {

// The cuBLAS entry points Stoa uses.
struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
};

// The process-wide table; the pointer stays valid for the process's life.
absl::StatusOr<const CublasApi*> LoadCublas();

}  // namespace stoa::functions::cuda
