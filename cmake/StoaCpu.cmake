# Instruction set of the ONNX engine's hot kernels.
#
# STOA_CPU_LEVEL: AUTO (default) compiles the kernel files listed in
# functions/CMakeLists.txt (STOA_KERNEL_CPU_OPTIONS) for the best level the
# configuring machine has: x86-64-v4 (AVX-512 F/BW/DQ/VL) or x86-64-v3
# (AVX2, FMA, F16C, BMI2); V4 and V3 force one; BASELINE keeps the
# compiler's default (binaries for older CPUs; build V3 or BASELINE for
# binaries that must run on another machine, e.g. the GPU bundle). Eigen's
# GEMM and the elementwise loops then run 16 (v4) or 8 (v3) floats per
# instruction with FMA instead of 4 without. The kernel files are built with
# EIGEN_MAX_ALIGN_BYTES=16, the alignment the rest of the tree uses, so that
# Eigen objects and allocations agree across files built with and without
# AVX.
set(STOA_CPU_LEVEL "AUTO" CACHE STRING "x86-64 level of the ONNX kernels: AUTO, V4, V3 or BASELINE")
set_property(CACHE STOA_CPU_LEVEL PROPERTY STRINGS AUTO V4 V3 BASELINE)
set(STOA_KERNEL_CPU_OPTIONS "")
set(_stoa_v3 OFF)
set(_stoa_v4 OFF)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  if(STOA_CPU_LEVEL STREQUAL "V4")
    set(_stoa_v4 ON)
  elseif(STOA_CPU_LEVEL STREQUAL "V3")
    set(_stoa_v3 ON)
  elseif(STOA_CPU_LEVEL STREQUAL "AUTO" AND EXISTS /proc/cpuinfo)
    file(STRINGS /proc/cpuinfo _stoa_flags REGEX "^flags" LIMIT_COUNT 1)
    if(_stoa_flags MATCHES " avx2" AND _stoa_flags MATCHES " fma" AND _stoa_flags MATCHES " f16c"
       AND _stoa_flags MATCHES " bmi2")
      set(_stoa_v3 ON)
      if(_stoa_flags MATCHES " avx512f" AND _stoa_flags MATCHES " avx512bw"
         AND _stoa_flags MATCHES " avx512dq" AND _stoa_flags MATCHES " avx512vl")
        set(_stoa_v4 ON)
      endif()
    endif()
  endif()
endif()
if(_stoa_v4)
  # GCC 12 reports the deliberately undefined vectors of its own AVX-512
  # intrinsics (avx512fintrin.h, _mm512_undefined_*) as maybe-uninitialized
  # when Eigen's packet code inlines them.
  set(STOA_KERNEL_CPU_OPTIONS -march=x86-64-v4 -DEIGEN_MAX_ALIGN_BYTES=16
      $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
  message(STATUS "stoa: ONNX kernels compiled for x86-64-v4 (AVX-512)")
elseif(_stoa_v3)
  set(STOA_KERNEL_CPU_OPTIONS -march=x86-64-v3 -DEIGEN_MAX_ALIGN_BYTES=16)
  message(STATUS "stoa: ONNX kernels compiled for x86-64-v3 (AVX2, FMA)")
endif()
