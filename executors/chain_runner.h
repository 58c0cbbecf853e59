// RunChain serves an Invoke that carries a pipeline chain (InvokeRequest.
// chain, docs/pipelines.md § Chains): the gateway placed consecutive stages
// of a pipeline on this executor and sends them as one call, so the data
// between them stays in this process instead of crossing the link twice
// per stage.
//
// One chained call:
//   1. every stage (the named function, then each ChainStage) must be
//      loaded: else NOT_FOUND naming the first missing one, before any
//      stage runs (the gateway loads what is missing and retries);
//   2. the named function runs on the request's inputs/raw through
//      `executor` like a plain call (its queue, its batching rules, its
//      cancellation), then each chained stage runs on the previous answer,
//      converted in memory by functions::StageRequest/AsNextInput (the
//      gateway's own rule), with what remains of request.timeout_ms;
//   3. the answer is the last stage's outputs/raw, with the first stage's
//      queue_us/exec_us/load_us at the top and every stage's in `stages`.
// An error in chained stage K keeps its code; its message starts with the
// stage's label ("stage 3 (digits-post): …") so the gateway can name it.
// The first stage's errors are returned as they are (the gateway labels
// them as for a plain call).
//
// Thread safety: calls are independent; `done` is called exactly once, on
// the executor's thread. Ownership: `executor` and `clock` must outlive the
// call.
#pragma once

#include "common/clock.h"
#include "executors/executor.h"

namespace stoa::executors {

void RunChain(Executor& executor, const common::Clock& clock, v1::InvokeRequest request,
              InvokeCallback done, CancelSignalPtr cancel);

}  // namespace stoa::executors
