// The gateway's own cost per pipeline stage (docs/pipelines.md): a
// PipelineInvoker over an Invoker that answers at once (an echo), with the
// stage specs read from a real FunctionRegistry in a temp dir, as in the
// gateway. What is left is the pipeline's work per stage: the registry
// lookup, fitting the data (functions/stage_data.h), the callback, the per-stage
// histogram and the header text. The dispatcher's own per-invocation cost
// (placement, admission, the executor call) comes on top for every stage
// exactly as for a direct invocation; stoa-bench-scheduler measures it.
//
//   stoa-bench-pipeline [--benchmark_filter=...]
// BM_Direct: the same echo invoked as a plain function (the baseline).
// BM_Bytes/N: N wasm stages, 256 bytes passed along.
// BM_Tensors/N: N onnx stages, one FP32 [1,64] tensor passed along.
// BM_BytesPlanned/N: as BM_Bytes with chain planning on (a PlacementScheduler
//   that has observed every stage on both targets; the cloud is no single
//   gRPC executor here, so every stage is still dispatched alone): the cost
//   of planning (gateway/pipeline_chain.h) per request.
// BM_BytesChained/N: ?tier=cloud on a cloud that is one gRPC executor: the
//   N stages go as one chained call (the echo answers it).
#include <unistd.h>

#include <filesystem>

#include "benchmark/benchmark.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "gateway/function_registry.h"
#include "gateway/pipeline_invoker.h"
#include "gateway/pipeline_spec.h"
#include "scheduler/placement_scheduler.h"

namespace stoa::gateway {
namespace {

class Echo final : public Invoker {
 public:
  explicit Echo(bool remote_cloud) : remote_cloud_(remote_cloud) {}
  void Invoke(const StoredFunction&, v1::InvokeRequest request, std::optional<scheduler::Tier>,
              DispatchCallback done, common::CancelSignalPtr) override {
    DispatchResult r;
    r.latency_ms = 0.01;
    *r.response.mutable_outputs() = std::move(*request.mutable_inputs());
    r.response.set_raw(std::move(*request.mutable_raw()));
    done(std::move(r));
  }
  void Forget(const std::string&, const std::string&) override {}
  scheduler::TierSet configured_tiers() const override { return scheduler::TierSet::All(); }
  TierHealth Health(scheduler::Tier t) const override {
    TierHealth h;
    h.configured = remote_cloud_;
    h.executor = t == scheduler::Tier::kCloud ? "grpc:bench" : "in-process";
    return h;
  }
  FunctionStats Stats(const std::string&, const std::string&) const override { return {}; }

 private:
  const bool remote_cloud_;
};

struct Fixture {
  Fixture() {
    dir = std::filesystem::temp_directory_path() /
          ("stoa_pipeline_bench_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    registry = *FunctionRegistry::Open(dir.string());
    v1::FunctionSpec wasm;
    wasm.set_name("w");
    wasm.set_runtime("wasm");
    (void)registry->Put(wasm, "wasm bytes", false);
    v1::FunctionSpec onnx;
    onnx.set_name("o");
    onnx.set_runtime("onnx");
    for (auto* s : {onnx.add_inputs(), onnx.add_outputs()}) {
      s->set_name("x");
      s->set_datatype(v1::FP32);
      s->add_shape(-1);
      s->add_shape(64);
    }
    (void)registry->Put(onnx, "onnx bytes", false);
    auto lookup = [this](const std::string& name) { return registry->Get(name); };
    invoker = std::make_unique<PipelineInvoker>(echo, lookup, common::RealClock::Get(), metrics);
    for (const char* f : {"w", "o"}) {
      for (scheduler::Tier t : {scheduler::Tier::kEdge, scheduler::Tier::kCloud}) {
        scheduler::Outcome o;
        o.tier = t;
        o.latency_ms = o.exec_ms = t == scheduler::Tier::kEdge ? 1.0 : 3.0;
        o.request_bytes = 256;
        for (int i = 0; i < 20; ++i)
          placement.Observe(f, scheduler::Decision(t, scheduler::Reason::kForced), o);
      }
    }
    planned = std::make_unique<PipelineInvoker>(echo, lookup, common::RealClock::Get(),
                                                planned_metrics, &placement);
    chained = std::make_unique<PipelineInvoker>(remote_echo, lookup, common::RealClock::Get(),
                                                chained_metrics, &placement);
  }
  ~Fixture() { std::filesystem::remove_all(dir); }

  StoredFunction Pipeline(const std::string& stage, int n) {
    StoredFunction p;
    p.spec.set_name("p");
    p.spec.set_runtime(kPipelineRuntime);
    for (int i = 0; i < n; ++i) p.spec.add_stages()->set_function(stage);
    return p;
  }

  std::filesystem::path dir;
  std::unique_ptr<FunctionRegistry> registry;
  common::metrics::Registry metrics, planned_metrics, chained_metrics, scheduler_metrics;
  scheduler::PlacementScheduler placement{common::RealClock::Get(), &scheduler_metrics, 1};
  Echo echo{false};
  Echo remote_echo{true};
  std::unique_ptr<PipelineInvoker> invoker, planned, chained;
};

Fixture& TheFixture() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

void Drive(benchmark::State& state, const StoredFunction& function, const v1::InvokeRequest& in,
           PipelineInvoker* invoker = nullptr,
           std::optional<scheduler::Tier> forced = std::nullopt) {
  Fixture& f = TheFixture();
  if (invoker == nullptr) invoker = f.invoker.get();
  for (auto _ : state) {
    bool ok = false;
    invoker->Invoke(function, in, forced, [&ok](absl::StatusOr<DispatchResult> r) { ok = r.ok(); });
    if (!ok) state.SkipWithError("pipeline failed");
  }
}

v1::InvokeRequest Bytes() {
  v1::InvokeRequest in;
  in.set_raw(std::string(256, 'x'));
  return in;
}

v1::InvokeRequest Tensor() {
  v1::InvokeRequest in;
  auto* t = in.add_inputs();
  t->set_name("x");
  t->set_datatype(v1::FP32);
  t->add_shape(1);
  t->add_shape(64);
  t->set_raw(std::string(256, '\0'));
  return in;
}

void BM_Direct(benchmark::State& state) { Drive(state, *TheFixture().registry->Get("w"), Bytes()); }
BENCHMARK(BM_Direct);

void BM_Bytes(benchmark::State& state) {
  Drive(state, TheFixture().Pipeline("w", static_cast<int>(state.range(0))), Bytes());
}
BENCHMARK(BM_Bytes)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(16);

void BM_Tensors(benchmark::State& state) {
  Drive(state, TheFixture().Pipeline("o", static_cast<int>(state.range(0))), Tensor());
}
BENCHMARK(BM_Tensors)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(16);

void BM_BytesPlanned(benchmark::State& state) {
  Drive(state, TheFixture().Pipeline("w", static_cast<int>(state.range(0))), Bytes(),
        TheFixture().planned.get());
}
BENCHMARK(BM_BytesPlanned)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(16);

void BM_BytesChained(benchmark::State& state) {
  Drive(state, TheFixture().Pipeline("w", static_cast<int>(state.range(0))), Bytes(),
        TheFixture().chained.get(), scheduler::Tier::kCloud);
}
BENCHMARK(BM_BytesChained)->Arg(2)->Arg(4)->Arg(8)->Arg(16);

}  // namespace
}  // namespace stoa::gateway

BENCHMARK_MAIN();
