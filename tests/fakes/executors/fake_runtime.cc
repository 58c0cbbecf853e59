#include "tests/fakes/executors/fake_runtime.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"

namespace stoa::executors::testing {
namespace {

class FakeFunction final : public functions::LoadedFunction {
 public:
  FakeFunction(v1::FunctionSpec spec, int sleep_ms, common::FakeClock* clock,
               std::shared_ptr<FakeGate> gate)
      : spec_(std::move(spec)), sleep_ms_(sleep_ms), clock_(clock), gate_(std::move(gate)) {}

  const v1::FunctionSpec& spec() const override { return spec_; }

  absl::StatusOr<functions::InvocationOutput> Invoke(
      const functions::InvocationInput& input) override {
    if (input.tensors.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected 1 input, got ", input.tensors.size()));
    }
    const v1::Tensor& x = input.tensors[0];
    if (x.datatype() != v1::FP32) {
      return absl::InvalidArgumentError("input 'x' must be FP32");
    }
    gate_->Pass();
    if (absl::Status slept = Sleep(input.budget_us); !slept.ok()) return slept;
    std::vector<float> values = FloatValues(x);
    for (float& v : values) v += 1.0f;
    functions::InvocationOutput output;
    output.tensors.push_back(FloatTensor("y", values));
    return output;
  }

 private:
  absl::Status Sleep(int64_t budget_us) {
    const int64_t sleep_us = int64_t{sleep_ms_} * 1000;
    if (sleep_us == 0) return absl::OkStatus();
    const bool overrun = budget_us != 0 && budget_us < sleep_us;
    if (clock_ != nullptr) {
      clock_->AdvanceMicros(overrun ? budget_us : sleep_us);
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(overrun ? budget_us : sleep_us));
    }
    if (overrun) return absl::DeadlineExceededError("fake function: budget ran out while running");
    return absl::OkStatus();
  }

  v1::FunctionSpec spec_;
  int sleep_ms_;
  common::FakeClock* const clock_;
  const std::shared_ptr<FakeGate> gate_;
};

}  // namespace

absl::StatusOr<functions::LoadedFunctionPtr> FakeRuntime::Load(const v1::FunctionSpec& spec,
                                                               std::string_view artifact) {
  loads_.fetch_add(1);
  if (artifact == "bad") {
    return absl::InvalidArgumentError("fake runtime: artifact 'bad' is not a valid function");
  }
  const std::string text(artifact);
  int sleep_ms = 0;
  if (absl::StartsWith(text, "sleep=") && !absl::SimpleAtoi(text.substr(6), &sleep_ms)) {
    return absl::InvalidArgumentError("fake runtime: bad sleep value");
  }
  v1::FunctionSpec derived = spec;
  derived.clear_inputs();
  derived.clear_outputs();
  auto* in = derived.add_inputs();
  in->set_name("x");
  in->set_datatype(v1::FP32);
  in->add_shape(-1);
  auto* out = derived.add_outputs();
  out->set_name("y");
  out->set_datatype(v1::FP32);
  out->add_shape(-1);
  return std::make_unique<FakeFunction>(std::move(derived), sleep_ms, clock_, gate_);
}

void FakeGate::Hold() {
  absl::MutexLock lock(&mu_);
  held_ = true;
}

void FakeGate::Release() {
  absl::MutexLock lock(&mu_);
  held_ = false;
  cv_.SignalAll();
}

void FakeGate::WaitUntilArrived(int n) {
  absl::MutexLock lock(&mu_);
  while (arrived_ < n) cv_.Wait(&mu_);
}

void FakeGate::Pass() {
  absl::MutexLock lock(&mu_);
  ++arrived_;
  cv_.SignalAll();
  while (held_) cv_.Wait(&mu_);
}

functions::RuntimeSet FakeRuntimes(FakeRuntime** runtime, common::FakeClock* clock,
                                   const std::string& name) {
  functions::RuntimeSet set;
  auto fake = std::make_unique<FakeRuntime>(clock, name);
  if (runtime != nullptr) *runtime = fake.get();
  set.Add(std::move(fake));
  return set;
}

v1::Tensor FloatTensor(const std::string& name, const std::vector<float>& values) {
  v1::Tensor t;
  t.set_name(name);
  t.set_datatype(v1::FP32);
  t.add_shape(static_cast<int64_t>(values.size()));
  t.set_raw(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return t;
}

std::vector<float> FloatValues(const v1::Tensor& tensor) {
  std::vector<float> values(tensor.raw().size() / sizeof(float));
  std::memcpy(values.data(), tensor.raw().data(), values.size() * sizeof(float));
  return values;
}

v1::LoadFunctionRequest FakeLoadRequest(const std::string& name, const std::string& artifact,
                                        const std::string& runtime) {
  v1::LoadFunctionRequest request;
  request.mutable_spec()->set_name(name);
  request.mutable_spec()->set_runtime(runtime);
  request.set_artifact(artifact);
  return request;
}

std::string ClosedLoopbackAddress() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

}  // namespace stoa::executors::testing
