// What registering, replacing and deleting functions must respect of the
// pipelines stored in a FunctionStore (gateway/pipeline_spec.h):
//
//   ResolveStages        a pipeline being registered: its stages exist, are
//                        the pipeline's tenant's, are not pipelines, and fit
//                        one another; derives its signature.
//   DependentsAfter      a function being registered or replaced: every
//                        pipeline that has it as a stage must still fit with
//                        the new version (else ALREADY_EXISTS, 409, naming
//                        the pipeline and the mismatch); returns the
//                        pipelines whose derived signature changes, to store
//                        again (StoreDependents) with the new function.
//   CheckNotAStage       a function being deleted: ALREADY_EXISTS (409)
//                        naming the pipelines that use it.
//
// Thread safety: the caller serializes changes (FunctionLifecycle's lock);
// the registry's own reads are thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/function_store.h"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway {

absl::Status ResolveStages(const FunctionStore& registry, v1::FunctionSpec& pipeline);

absl::StatusOr<std::vector<v1::FunctionSpec>> DependentsAfter(const FunctionStore& registry,
                                                              const v1::FunctionSpec& changed);

// Stores each re-derived pipeline as a new version (best effort: a failure
// is logged; the pipeline keeps working, its stored signature stale).
void StoreDependents(FunctionStore& registry, std::vector<v1::FunctionSpec> pipelines);

absl::Status CheckNotAStage(const FunctionStore& registry, const std::string& function);

}  // namespace stoa::gateway
