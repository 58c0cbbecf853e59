// stoa-bench-grpc-link: the cost of the gateway–executor link as the gateway
// sees it (GrpcExecutor), plaintext or mutual TLS, against a running
// stoa-executor. Loads the digits example, then:
//   - invocations: `--concurrency` closed-loop callers for `--seconds`:
//     invocations/s and latency p50/p90/p99 (client side, one call each);
//   - connections: `--connections` new channels, each doing one GetStatus
//     (a TCP connect, plus the TLS handshake with TLS): connections/s.
//
//   stoa-bench-grpc-link --target 127.0.0.1:50051 --model digits.onnx
//       [--ca ca.crt --cert gateway.crt --key gateway.key]
//       [--seconds 5] [--concurrency 8] [--connections 200]
//
// A program, not a test: it reports numbers and asserts nothing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/file_util.h"
#include "common/sha256.h"
#include "executors/grpc_executor.h"
#include "executors/grpc_tls.h"

namespace {

using stoa::executors::GrpcExecutor;
using Clock = std::chrono::steady_clock;

template <typename T, typename Start>
absl::StatusOr<T> Call(Start start) {
  std::promise<absl::StatusOr<T>> promise;
  auto future = promise.get_future();
  start([&promise](absl::StatusOr<T> result) { promise.set_value(std::move(result)); });
  return future.get();
}

stoa::v1::InvokeRequest DigitsRequest(const std::string& sha256) {
  stoa::v1::InvokeRequest request;
  request.set_function("digits");
  request.set_sha256(sha256);
  request.set_timeout_ms(5000);
  stoa::v1::Tensor* t = request.add_inputs();
  t->set_name("pixels");
  t->set_datatype(stoa::v1::FP32);
  t->add_shape(1);
  t->add_shape(64);
  std::vector<float> pixels(64, 8.0f);
  t->set_raw(std::string(reinterpret_cast<const char*>(pixels.data()), 64 * sizeof(float)));
  return request;
}

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

void RunInvocations(GrpcExecutor& client, const std::string& sha256, int concurrency,
                    double seconds) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
  std::atomic<int> errors{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < concurrency; ++c) {
    callers.emplace_back([&, c] {
      const stoa::v1::InvokeRequest request = DigitsRequest(sha256);
      while (Clock::now() < end) {
        const auto start = Clock::now();
        auto r = Call<stoa::v1::InvokeResponse>(
            [&](auto done) { client.Invoke(request, std::move(done)); });
        if (!r.ok()) ++errors;
        latencies[static_cast<size_t>(c)].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      }
    });
  }
  for (std::thread& t : callers) t.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::printf("invocations: %zu in %.1f s = %.0f/s, concurrency %d, errors %d\n", all.size(),
              seconds, static_cast<double>(all.size()) / seconds, concurrency, errors.load());
  const double p50 = Percentile(all, 0.50), p90 = Percentile(all, 0.90),
               p99 = Percentile(all, 0.99);
  std::printf("latency ms: p50 %.3f p90 %.3f p99 %.3f\n", p50, p90, p99);
}

void RunConnections(const std::string& target, const GrpcExecutor::Options& options, int count) {
  int errors = 0;
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    GrpcExecutor fresh(target, options);  // a new channel: a new connection
    if (!Call<stoa::v1::GetStatusResponse>([&](auto done) {
           fresh.GetStatus(std::move(done));
         }).ok()) {
      ++errors;
    }
  }
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("connections: %d in %.2f s = %.0f/s (new channel + GetStatus), errors %d\n", count, s,
              count / s, errors);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("stoa-bench-grpc-link: invocation and connection cost of the executor link");
  std::string target, model, ca, cert, key;
  double seconds = 5;
  int concurrency = 8, connections = 200;
  app.add_option("--target", target, "executor address")->required();
  app.add_option("--model", model, "digits.onnx")->required();
  app.add_option("--ca", ca, "mutual TLS: CA of the executor's certificate");
  app.add_option("--cert", cert, "mutual TLS: client certificate");
  app.add_option("--key", key, "mutual TLS: client key");
  app.add_option("--seconds", seconds)->check(CLI::Range(0.1, 3600.0));
  app.add_option("--concurrency", concurrency)->check(CLI::Range(1, 1024));
  app.add_option("--connections", connections)->check(CLI::Range(0, 1000000));
  CLI11_PARSE(app, argc, argv);

  GrpcExecutor::Options options;
  if (!ca.empty()) {
    auto credentials = stoa::executors::ExecutorChannelCredentials({ca, cert, key});
    if (!credentials.ok()) {
      std::fprintf(stderr, "%s\n", std::string(credentials.status().message()).c_str());
      return 2;
    }
    options.credentials = *credentials;
  }
  auto artifact = stoa::common::ReadFile(model);
  if (!artifact.ok()) {
    std::fprintf(stderr, "%s\n", std::string(artifact.status().message()).c_str());
    return 2;
  }
  GrpcExecutor client(target, options);
  stoa::v1::LoadFunctionRequest load;
  load.mutable_spec()->set_name("digits");
  load.mutable_spec()->set_runtime("onnx");
  load.mutable_spec()->set_sha256(stoa::common::Sha256Hex(*artifact));
  load.set_artifact(*artifact);
  auto loaded = Call<stoa::v1::LoadFunctionResponse>(
      [&](auto done) { client.LoadFunction(load, std::move(done)); });
  if (!loaded.ok()) {
    std::fprintf(stderr, "load: %s\n", std::string(loaded.status().message()).c_str());
    return 1;
  }
  std::printf("%s, %s\n", target.c_str(), ca.empty() ? "plaintext" : "mutual TLS");
  RunInvocations(client, load.spec().sha256(), concurrency, seconds);
  if (connections > 0) RunConnections(target, options, connections);
  return 0;
}
