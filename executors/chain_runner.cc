#include "executors/chain_runner.h"

#include <algorithm>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "functions/stage_data.h"

namespace stoa::executors {
namespace {

// One chained call in flight; owned by the pending stage's callback.
struct Chain {
  Chain(Executor& e, const common::Clock& c) : executor(e), clock(c) {}
  Executor& executor;
  const common::Clock& clock;
  std::string first;  // the named function
  google::protobuf::RepeatedPtrField<v1::ChainStage> stages;
  InvokeCallback done;
  CancelSignalPtr cancel;
  int64_t deadline_us = 0;  // 0: none
  uint32_t timeout_ms = 0;
  int finished = 0;  // stages answered so far (0: the named function is running)
  v1::InvokeResponse answer;
};
using ChainPtr = std::shared_ptr<Chain>;

absl::Status Labelled(const v1::ChainStage& stage, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(stage.label(), ": ", status.message()));
}

uint64_t Bytes(const v1::InvokeResponse& response) {
  uint64_t bytes = response.raw().size();
  for (const v1::Tensor& t : response.outputs()) bytes += t.raw().size();
  return bytes;
}

// NOT_FOUND naming the first stage `loaded` lacks; OK when all are there.
absl::Status CheckLoaded(const v1::GetStatusResponse& loaded, const v1::InvokeRequest& request) {
  std::set<std::pair<std::string, std::string>> have;
  for (const v1::LoadedFunction& f : loaded.functions()) have.emplace(f.function(), f.sha256());
  auto missing = [&](const std::string& function, const std::string& sha256) {
    return have.count({function, sha256}) == 0;
  };
  if (missing(request.function(), request.sha256())) {
    return absl::NotFoundError(absl::StrCat("function '", request.function(), "' version ",
                                            request.sha256(), " is not loaded"));
  }
  for (const v1::ChainStage& stage : request.chain()) {
    if (missing(stage.function(), stage.sha256())) {
      return absl::NotFoundError(absl::StrCat(stage.label(), ": function '", stage.function(),
                                              "' version ", stage.sha256(), " is not loaded"));
    }
  }
  return absl::OkStatus();
}

void RunStage(ChainPtr chain, v1::InvokeRequest request);

void StageDone(const ChainPtr& chain, absl::StatusOr<v1::InvokeResponse> result) {
  const int index = chain->finished;  // 0: the named function; k: stages[k-1]
  if (!result.ok()) {
    return chain->done(index == 0 ? result.status()
                                  : Labelled(chain->stages[index - 1], result.status()));
  }
  v1::StageTiming* timing = chain->answer.add_stages();
  timing->set_function(index == 0 ? chain->first : chain->stages[index - 1].function());
  timing->set_queue_us(result->queue_us());
  timing->set_exec_us(result->exec_us());
  timing->set_load_us(result->load_us());
  timing->set_output_bytes(Bytes(*result));
  if (index == 0) {
    chain->answer.set_queue_us(result->queue_us());
    chain->answer.set_exec_us(result->exec_us());
    chain->answer.set_load_us(result->load_us());
    chain->answer.set_device(result->device());
  }
  chain->finished = index + 1;
  if (index == chain->stages.size()) {
    chain->answer.set_queue_depth(result->queue_depth());
    *chain->answer.mutable_outputs() = std::move(*result->mutable_outputs());
    chain->answer.set_raw(std::move(*result->mutable_raw()));
    return chain->done(std::move(chain->answer));
  }
  const v1::ChainStage& next = chain->stages[index];
  absl::StatusOr<v1::InvokeRequest> request =
      functions::StageRequest(functions::AsNextInput(*std::move(result)), functions::ShapeOf(next));
  if (!request.ok()) return chain->done(Labelled(next, request.status()));
  request->set_function(next.function());
  request->set_sha256(next.sha256());
  RunStage(chain, *std::move(request));
}

void RunStage(ChainPtr chain, v1::InvokeRequest request) {
  const int index = chain->finished;
  auto fail = [&](absl::Status status) {
    chain->done(index == 0 ? status : Labelled(chain->stages[index - 1], status));
  };
  if (chain->cancel && chain->cancel->cancelled()) {
    return fail(absl::CancelledError("not started: the call was cancelled"));
  }
  if (chain->deadline_us > 0) {
    const int64_t left_us = chain->deadline_us - chain->clock.NowMicros();
    if (left_us <= 0) {
      return fail(absl::DeadlineExceededError(absl::StrCat(
          "not started: the chained call's deadline of ", chain->timeout_ms, " ms passed")));
    }
    request.set_timeout_ms(static_cast<uint32_t>(std::max<int64_t>(1, left_us / 1000)));
  }
  CancelSignalPtr cancel = chain->cancel;
  Executor& executor = chain->executor;
  executor.Invoke(
      std::move(request),
      [chain = std::move(chain)](absl::StatusOr<v1::InvokeResponse> result) {
        StageDone(chain, std::move(result));
      },
      std::move(cancel));
}

}  // namespace

void RunChain(Executor& executor, const common::Clock& clock, v1::InvokeRequest request,
              InvokeCallback done, CancelSignalPtr cancel) {
  auto chain = std::make_shared<Chain>(executor, clock);
  chain->done = std::move(done);
  chain->cancel = std::move(cancel);
  chain->timeout_ms = request.timeout_ms();
  if (chain->timeout_ms > 0) {
    chain->deadline_us = clock.NowMicros() + int64_t{chain->timeout_ms} * 1000;
  }
  executor.GetStatus(
      [chain, request = std::move(request)](absl::StatusOr<v1::GetStatusResponse> loaded) mutable {
        if (!loaded.ok()) return chain->done(loaded.status());
        if (absl::Status s = CheckLoaded(*loaded, request); !s.ok()) return chain->done(s);
        chain->first = request.function();
        chain->stages = std::move(*request.mutable_chain());
        request.clear_chain();
        RunStage(chain, std::move(request));
      });
}

}  // namespace stoa::executors
