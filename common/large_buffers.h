// KeepLargeBuffers: lets glibc's malloc reuse the megabyte-sized buffers a
// tensor request goes through (the request's bytes, the copy the engine
// computes on, the response) instead of handing each back to the kernel
// when it is freed and taking fresh zeroed pages for the next request.
//
// Why: with glibc's defaults a freed block above the mmap threshold, or a
// free top of heap above the trim threshold (2× the largest block freed so
// far), goes back to the kernel; for a 1.2 MB tensor the next request then
// page-faults its buffers in again: measured under the transport bench
// (bench/http/transport_bench.sh), clear_page/page-fault work was about a
// quarter of the gateway's CPU per gRPC ModelInfer beyond the engine.
// What it costs: up to `trim_mib` of freed memory per malloc arena stays
// mapped (it is reused by the next request; RSS does not grow with the
// number of requests). Blocks of more than 32 MiB are still mapped and
// unmapped one by one.
//
// Call once, early in main, before threads start. Thread safety: as
// mallopt (not with concurrent allocation).
#pragma once

#include <malloc.h>

namespace stoa::common {

inline void KeepLargeBuffers(int trim_mib = 64) {
  constexpr int kMiB = 1 << 20;
  // Fixed thresholds (setting them turns glibc's dynamic adjustment off):
  // 32 MiB is the largest mmap threshold glibc accepts on 64-bit.
  mallopt(M_MMAP_THRESHOLD, 32 * kMiB);
  mallopt(M_TRIM_THRESHOLD, trim_mib * kMiB);
}

}  // namespace stoa::common
