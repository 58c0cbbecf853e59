// stoa-bench-transport: what each transport adds to one tensor model's
// invocation. Times, back to back on one model and one input:
//   engine  OnnxRuntime::Invoke in this process (the engine's own time)
//   json    POST /v2/models/{name}/infer, KServe JSON in and out
//   binary  the same with the binary data extension in and out
//   grpc    inference.GRPCInferenceService/ModelInfer, raw contents
// and prints p50/p90 per request and the overhead over the engine.
//   stoa-bench-transport --model M.onnx --name NAME --http HOST:PORT
//                        [--grpc HOST:PORT] [--tier edge|cloud] [--n 30]
//                        [--token T] [--only PATHS] [--server-pids PID,PID]
//                        [--shape D,D,...] [--engine-cpu N] [--fixed-order 1]
// --only takes a comma-separated subset of json,binary,grpc (the engine is
// always timed): "json" alone times a gateway from before the binary
// extension; "binary,grpc" leaves out the slow JSON path when profiling.
// --server-pids (the gateway's and the executor's) adds the median CPU time
// per request: the engine's in this thread, each other path's in those
// processes (the whole server side: HTTP or gRPC, codec, dispatch, engine).
// The model has one FP32 input and one output (--shape fixes its symbolic
// dimensions; without it they are 1); the input is filled with a
// fixed pseudo-random pattern. Requests are built once, outside the timing
// (the gRPC stub still serializes its message per call).
// --engine-cpu N runs the engine row on CPU N (the servers' CPU) and the
// rest of this client where it was started: a device is not the edge box,
// so its own sending and receiving should not share the server's core and
// caches (the script starts the client on another CPU when there is one).
#include <grpcpp/grpcpp.h>
#include <sched.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "functions/onnx/onnx_runtime.h"
#include "inference/grpc_service.grpc.pb.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Stats {
  double p50_ms = 0, p90_ms = 0;
  double cpu_ms = 0;  // median CPU time per request (see CpuMs)
  // The median over rounds of (this row's time - the engine row's time in
  // the same round): what the path adds, with the machine's slow drift
  // (the engine row itself moves 20-26 ms between runs here) taken out.
  double paired_added_ms = 0;
};

// CPU time, in ms, the threads of `pids` have run so far (the sum of
// /proc/PID/task/*/schedstat's first field, in ns): exact, unlike the tick
// counts of /proc/PID/stat.
double ServerCpuMs(const std::vector<std::string>& pids) {
  double ns = 0;
  for (const std::string& pid : pids) {
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + pid + "/task", ec)) {
      std::ifstream in(task.path() / "schedstat");
      double run_ns = 0;
      if (in >> run_ns) ns += run_ns;
    }
  }
  return ns / 1e6;
}

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Round robin over the paths, so that the noise of a shared machine falls
// on all of them alike; 3 warm-up rounds first. Path 0 (the engine, in this
// thread) is charged this thread's CPU time; the others the CPU time of
// the server processes `pids` (nothing else calls them), which a busy
// machine's waits for a core do not inflate as they do wall time.
std::vector<Stats> TimeInterleaved(int n, const std::vector<std::function<bool()>>& paths,
                                   const std::vector<std::string>& pids, int engine_cpu,
                                   bool fixed_order) {
  std::vector<std::vector<double>> ms(paths.size()), cpu(paths.size());
  cpu_set_t started{};
  sched_getaffinity(0, sizeof started, &started);
  cpu_set_t engine{};
  CPU_ZERO(&engine);
  if (engine_cpu >= 0) CPU_SET(engine_cpu, &engine);
  // Each round starts one row later than the last, so that no row always
  // comes right after the same one (--fixed-order 1: the order of `paths`
  // every round; both orders timed alike here, 2026-11-30).
  for (int round = -3; round < n; ++round) {
    for (size_t k = 0; k < paths.size(); ++k) {
      const size_t p = fixed_order ? k : (k + static_cast<size_t>(round + 3)) % paths.size();
      if (engine_cpu >= 0) sched_setaffinity(0, sizeof(cpu_set_t), p == 0 ? &engine : &started);
      const double cpu_start = p == 0 ? ThreadCpuMs() : ServerCpuMs(pids);
      const auto start = Clock::now();
      if (!paths[p]()) return {};
      const double took = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      const double cpu_end = p == 0 ? ThreadCpuMs() : ServerCpuMs(pids);
      if (round >= 0) {
        ms[p].push_back(took);
        cpu[p].push_back(cpu_end - cpu_start);
      }
    }
  }
  std::vector<Stats> stats;
  for (size_t p = 0; p < paths.size(); ++p) {
    std::vector<double> added(ms[p].size());
    for (size_t r = 0; r < added.size(); ++r) added[r] = ms[p][r] - ms[0][r];
    std::sort(added.begin(), added.end());
    std::vector<double> v = ms[p];
    std::sort(v.begin(), v.end());
    std::sort(cpu[p].begin(), cpu[p].end());
    stats.push_back({v[v.size() / 2], v[v.size() * 9 / 10], cpu[p][cpu[p].size() / 2],
                     added[added.size() / 2]});
  }
  return stats;
}

class HttpConnection {
 public:
  using Request = http::request<http::string_body>;

  explicit HttpConnection(const std::string& address) : stream_(io_) {
    const size_t colon = address.rfind(':');
    tcp::resolver resolver(io_);
    stream_.connect(resolver.resolve(address.substr(0, colon), address.substr(colon + 1)));
    // Beast reads at most the buffer's free capacity (at least 512 bytes) a
    // time: an empty flat_buffer reads a 0.4 MB response 512 bytes per
    // system call (about 800 of them, 1.3 ms on this VM). A client that
    // reads in 64 KiB pieces, as curl and gRPC do, keeps that out of the
    // transport figures.
    buffer_.reserve(1 << 20);
  }
  // A request built once per path (its body is not copied per call).
  static Request Make(const std::string& target, std::string body,
                      const std::vector<std::pair<std::string, std::string>>& headers) {
    Request req{http::verb::post, target, 11};
    req.set(http::field::host, "bench");
    req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
  }
  // Status 200 expected; the body's size as a sanity check.
  bool Post(const Request& req) {
    http::write(stream_, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(1u << 30);
    http::read(stream_, buffer_, parser);
    if (parser.get().result_int() != 200) {
      std::fprintf(stderr, "HTTP %d: %.300s\n", parser.get().result_int(),
                   parser.get().body().c_str());
      return false;
    }
    return !parser.get().body().empty();
  }

 private:
  boost::asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::map<std::string, std::string> Args(int argc, char** argv) {
  std::map<std::string, std::string> args = {{"--tier", "edge"}, {"--n", "30"}};
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  return args;
}

void Print(const char* name, const Stats& s, const Stats& engine, bool cpu) {
  std::printf("%-9s %10.2f %10.2f %10.2f %9.1f%% %10.2f %9.1f%%", name, s.p50_ms, s.p90_ms,
              s.p50_ms - engine.p50_ms,
              engine.p50_ms > 0 ? 100.0 * (s.p50_ms / engine.p50_ms - 1) : 0.0, s.paired_added_ms,
              engine.p50_ms > 0 ? 100.0 * s.paired_added_ms / engine.p50_ms : 0.0);
  if (cpu) {
    std::printf(" %10.3f %9.1f%%", s.cpu_ms,
                engine.cpu_ms > 0 ? 100.0 * (s.cpu_ms / engine.cpu_ms - 1) : 0.0);
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  auto args = Args(argc, argv);
  const int n = std::stoi(args["--n"]);
  const std::string name = args["--name"];
  stoa::functions::OnnxRuntime runtime;
  stoa::v1::FunctionSpec spec;
  spec.set_name(name);
  auto fn = runtime.Load(spec, ReadFile(args["--model"]));
  if (!fn.ok()) {
    std::fprintf(stderr, "load: %s\n", fn.status().ToString().c_str());
    return 1;
  }
  const auto& sig = (*fn)->spec().inputs(0);
  std::vector<int64_t> shape(sig.shape().begin(), sig.shape().end());
  for (int64_t& d : shape) d = d < 0 ? 1 : d;
  if (args.count("--shape")) {  // for a model with symbolic dimensions (e.g. 1,3,320,320)
    shape.clear();
    for (absl::string_view d : absl::StrSplit(args["--shape"], ','))
      shape.push_back(std::stoll(std::string(d)));
  }
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  std::vector<float> values(static_cast<size_t>(count));
  uint32_t x = 12345;
  for (float& v : values) v = static_cast<float>((x = x * 1664525u + 1013904223u) >> 8) / (1 << 24);
  const std::string raw(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  std::string shape_json = "[";
  for (size_t i = 0; i < shape.size(); ++i) shape_json += (i ? "," : "") + std::to_string(shape[i]);
  shape_json += "]";

  stoa::functions::InvocationInput in;
  stoa::v1::Tensor t;
  t.set_name(sig.name());
  t.set_datatype(stoa::v1::FP32);
  for (int64_t d : shape) t.add_shape(d);
  t.set_raw(raw);
  in.tensors.push_back(t);
  std::vector<std::function<bool()>> paths = {[&] { return (*fn)->Invoke(in).ok(); }};

  std::string json = "{\"inputs\":[{\"name\":\"" + sig.name() + "\",\"shape\":" + shape_json +
                     ",\"datatype\":\"FP32\",\"data\":[";
  char buf[32];
  for (size_t i = 0; i < values.size(); ++i) {
    json += i ? "," : "";
    json.append(buf, std::snprintf(buf, sizeof(buf), "%.9g", values[i]));
  }
  json += "]}]}";
  const std::string header =
      "{\"inputs\":[{\"name\":\"" + sig.name() + "\",\"shape\":" + shape_json +
      ",\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":" + std::to_string(raw.size()) +
      "}}],\"parameters\":{\"binary_data_output\":true}}";
  const std::string binary = header + raw;
  const std::string target = "/v2/models/" + name + "/infer?tier=" + args["--tier"];
  HttpConnection connection(args["--http"]);
  std::vector<std::pair<std::string, std::string>> auth;
  if (args.count("--token")) auth.emplace_back("Authorization", "Bearer " + args["--token"]);
  const std::string only = args.count("--only") ? "," + args["--only"] + "," : "";
  auto wanted = [&](const std::string& path) {
    return only.empty() || only.find("," + path + ",") != std::string::npos;
  };
  std::vector<const char*> names = {"engine"};
  if (wanted("json")) {
    paths.push_back(
        [&, req = HttpConnection::Make(target, json, auth)] { return connection.Post(req); });
    names.push_back("json");
  }
  auto binary_headers = auth;
  binary_headers.emplace_back("Inference-Header-Content-Length", std::to_string(header.size()));
  if (wanted("binary")) {
    paths.push_back([&, req = HttpConnection::Make(target, binary, binary_headers)] {
      return connection.Post(req);
    });
    names.push_back("binary");
  }

  std::unique_ptr<inference::GRPCInferenceService::Stub> stub;
  inference::ModelInferRequest request;
  if (args.count("--grpc") && wanted("grpc")) {
    names.push_back("grpc");
    grpc::ChannelArguments channel_args;
    channel_args.SetMaxReceiveMessageSize(256 << 20);
    channel_args.SetMaxSendMessageSize(256 << 20);
    stub = inference::GRPCInferenceService::NewStub(grpc::CreateCustomChannel(
        args["--grpc"], grpc::InsecureChannelCredentials(), channel_args));
    request.set_model_name(name);
    auto* input = request.add_inputs();
    input->set_name(sig.name());
    input->set_datatype("FP32");
    for (int64_t d : shape) input->add_shape(d);
    request.add_raw_input_contents(raw);
    // Forced like ?tier= on HTTP: no scheduler exploration (a shadow run on
    // the other tier would double the server's CPU per request).
    (*request.mutable_parameters())["tier"].set_string_param(args["--tier"]);
    // The stub serializes the request on every call, as Triton's client
    // does (a request serialized once and sent as bytes timed the same:
    // 5.0-7.8 % against 5.6-7.5 % over the engine, 2026-11-30).
    paths.push_back([&] {
      grpc::ClientContext context;
      if (args.count("--token")) context.AddMetadata("authorization", "Bearer " + args["--token"]);
      inference::ModelInferResponse response;
      grpc::Status s = stub->ModelInfer(&context, request, &response);
      if (!s.ok()) std::fprintf(stderr, "gRPC: %s\n", s.error_message().c_str());
      return s.ok() && response.raw_output_contents_size() == 1;
    });
  }
  std::vector<std::string> pids;
  if (args.count("--server-pids")) pids = absl::StrSplit(args["--server-pids"], ',');
  const int engine_cpu = args.count("--engine-cpu") ? std::stoi(args["--engine-cpu"]) : -1;
  const std::vector<Stats> stats =
      TimeInterleaved(n, paths, pids, engine_cpu, args.count("--fixed-order") > 0);
  if (stats.empty()) return 1;
  std::printf("model %s, input %s FP32 (%zu bytes), JSON request %zu bytes, tier %s, n=%d\n",
              name.c_str(), shape_json.c_str(), raw.size(), json.size(), args["--tier"].c_str(), n);
  const bool cpu = !pids.empty();
  std::printf("%-9s %10s %10s %10s %10s %10s %10s%s\n", "path", "p50_ms", "p90_ms", "added_ms",
              "overhead", "paired_ms", "paired", cpu ? "     cpu_ms  cpu_over" : "");
  for (size_t p = 0; p < stats.size(); ++p) Print(names[p], stats[p], stats[0], cpu);
  return 0;
}
