// CudaGraphRunner on the CUDA runtime and cuBLAS (host code; the kernels
// are in cuda_kernels.cu).
#include "functions/cuda/cuda_graph_runner.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstring>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "functions/cuda/cublas_library.h"
#include "functions/cuda/cuda_kernels.h"
#include "functions/cuda/cuda_plan.h"
#include "functions/cuda/device_memory_pool.h"
#include "functions/onnx/conv_geometry.h"
#include "functions/onnx/kernel_util.h"

namespace stoa::functions::cuda {
namespace {

using kernels::Activation;
using onnx::Graph;
using onnx::Node;
using onnx::Shape;
using onnx::Tensor;

absl::Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  cudaGetLastError();  // clear the sticky error of this thread
  std::string msg = absl::StrCat(what, ": ", cudaGetErrorString(err));
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(msg);
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

absl::Status CublasStatus(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": cuBLAS status ", static_cast<int>(st)));
}

#define CUDA_RETURN_IF_ERROR(expr, what) RETURN_IF_ERROR(CudaStatus((expr), what))

class CudaMallocAllocator final : public RawAllocator {
 public:
  absl::StatusOr<void*> Allocate(size_t bytes) override {
    void* p = nullptr;
    CUDA_RETURN_IF_ERROR(cudaMalloc(&p, bytes), "cudaMalloc");
    return p;
  }
  void Free(void* ptr) override { cudaFree(ptr); }
};

int64_t Count(const Shape& s) { return onnx::DimProduct(s, 0, s.size()); }

// The per-input-shape part of a run: shapes, buffer offsets in the arena.
struct RunPlan {
  std::vector<Shape> shapes;     // by value id
  std::vector<int64_t> offsets;  // by value id; -1 for constants / no buffer
  std::vector<int> alias_of;     // by value id: value whose buffer it shares, or -1
  int64_t arena_bytes = 0;
};

class StreamGraphRunner final : public CudaGraphRunner {
 public:
  explicit StreamGraphRunner(const Graph& graph)
      : graph_(graph), fused_(PlanFusion(graph)), pool_(raw_, size_t{256} << 20) {}

  ~StreamGraphRunner() override {
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    for (PoolBlock& b : weights_) pool_.Release(b);
    pool_.Trim();
    if (pinned_ != nullptr) cudaFreeHost(pinned_);
    if (cublas_ != nullptr) blas_->destroy(cublas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  absl::Status Init() {
    CUDA_RETURN_IF_ERROR(cudaSetDevice(0), "cudaSetDevice");
    CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
                         "cudaStreamCreate");
    ASSIGN_OR_RETURN(blas_, LoadCublas());
    RETURN_IF_ERROR(CublasStatus(blas_->create(&cublas_), "cublasCreate"));
    RETURN_IF_ERROR(CublasStatus(blas_->set_stream(cublas_, stream_), "cublasSetStream"));
    // Weights: uploaded once, kept for the runner's life.
    weight_ptr_.assign(graph_.value_names.size(), nullptr);
    for (size_t v = 0; v < graph_.constants.size(); ++v) {
      if (!graph_.constants[v].has_value()) continue;
      const Tensor& t = *graph_.constants[v];
      if (t.type() != onnx::ElementType::kFloat32) continue;  // e.g. Reshape's shape
      ASSIGN_OR_RETURN(PoolBlock block, pool_.Allocate(t.floats().size_bytes()));
      weights_.push_back(block);
      weight_ptr_[v] = static_cast<float*>(block.ptr);
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(block.ptr, t.floats().data(), t.floats().size_bytes(),
                                           cudaMemcpyHostToDevice, stream_),
                           "upload weights");
    }
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "upload weights");
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs) override {
    std::vector<Shape> input_shapes;
    for (const Tensor& t : inputs) {
      if (t.type() != onnx::ElementType::kFloat32) {
        return absl::InvalidArgumentError("the CUDA backend takes FP32 inputs only");
      }
      input_shapes.push_back(t.shape());
    }
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(const RunPlan* plan, PlanFor(input_shapes));
    ASSIGN_OR_RETURN(PoolBlock arena, pool_.Allocate(static_cast<size_t>(plan->arena_bytes)));
    absl::StatusOr<std::vector<Tensor>> out = RunLocked(*plan, inputs, arena);
    if (!out.ok()) cudaStreamSynchronize(stream_);  // nothing may still use the arena
    pool_.Release(arena);
    return out;
  }

 private:
  absl::StatusOr<const RunPlan*> PlanFor(const std::vector<Shape>& input_shapes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string key;
    for (const Shape& s : input_shapes) absl::StrAppend(&key, ShapeString(s), ";");
    auto it = plans_.find(key);
    if (it != plans_.end()) return &it->second;
    RunPlan plan;
    ASSIGN_OR_RETURN(plan.shapes, InferShapes(graph_, input_shapes));
    const size_t values = graph_.value_names.size();
    plan.offsets.assign(values, -1);
    plan.alias_of.assign(values, -1);
    // Values that need a buffer: graph inputs and node outputs. A fused
    // Relu and the alias ops reuse their input's buffer.
    std::vector<int> first(values, -2), last(values, -1);
    for (const onnx::GraphPort& p : graph_.inputs) first[p.value] = -1;
    for (size_t i = 0; i < graph_.nodes.size(); ++i) {
      const Node& node = graph_.nodes[i];
      for (int v : node.inputs) {
        if (v >= 0) last[v] = static_cast<int>(i);
      }
      if (node.outputs.empty() || node.outputs[0] < 0) continue;
      const int out = node.outputs[0];
      const bool alias = fused_[i] >= 0 || node.op_type == "Flatten" || node.op_type == "Reshape" ||
                         node.op_type == "Identity" || node.op_type == "Dropout";
      if (alias && !graph_.constants[node.inputs[0]].has_value()) {
        int root = node.inputs[0];
        while (plan.alias_of[root] >= 0) root = plan.alias_of[root];
        plan.alias_of[out] = root;
      } else {
        first[out] = static_cast<int>(i);
      }
    }
    const int end = static_cast<int>(graph_.nodes.size());
    for (const onnx::GraphPort& p : graph_.outputs) last[p.value] = end;
    // An alias keeps its root alive as long as itself.
    for (size_t v = 0; v < values; ++v) {
      if (plan.alias_of[v] >= 0) {
        last[plan.alias_of[v]] = std::max(last[plan.alias_of[v]], last[v]);
      }
    }
    std::vector<BufferRequest> requests;
    std::vector<int> request_value;
    for (size_t v = 0; v < values; ++v) {
      if (first[v] < -1 || plan.alias_of[v] >= 0) continue;
      requests.push_back({Count(plan.shapes[v]) * static_cast<int64_t>(sizeof(float)), first[v],
                          std::max(last[v], first[v])});
      request_value.push_back(static_cast<int>(v));
    }
    MemoryPlan memory = PlanMemory(requests);
    for (size_t r = 0; r < requests.size(); ++r) plan.offsets[request_value[r]] = memory.offsets[r];
    plan.arena_bytes = std::max<int64_t>(memory.arena_bytes, 256);
    return &plans_.emplace(std::move(key), std::move(plan)).first->second;
  }

  float* Ptr(const RunPlan& plan, const PoolBlock& arena, int v) const {
    if (weight_ptr_[v] != nullptr) return weight_ptr_[v];
    while (plan.alias_of[v] >= 0) v = plan.alias_of[v];
    return reinterpret_cast<float*>(static_cast<char*>(arena.ptr) + plan.offsets[v]);
  }

  absl::Status EnsurePinned(size_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (bytes <= pinned_bytes_) return absl::OkStatus();
    if (pinned_ != nullptr) cudaFreeHost(pinned_);
    pinned_ = nullptr;
    pinned_bytes_ = 0;
    CUDA_RETURN_IF_ERROR(cudaMallocHost(&pinned_, bytes), "cudaMallocHost");
    pinned_bytes_ = bytes;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Tensor>> RunLocked(const RunPlan& plan,
                                                const std::vector<Tensor>& inputs,
                                                const PoolBlock& arena)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t in_bytes = 0, out_bytes = 0;
    for (const Tensor& t : inputs) in_bytes += t.floats().size_bytes();
    for (const onnx::GraphPort& p : graph_.outputs) {
      out_bytes += static_cast<size_t>(Count(plan.shapes[p.value])) * sizeof(float);
    }
    RETURN_IF_ERROR(EnsurePinned(std::max(in_bytes, out_bytes)));
    char* staging = static_cast<char*>(pinned_);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto bytes = inputs[i].floats().size_bytes();
      std::memcpy(staging, inputs[i].floats().data(), bytes);
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(Ptr(plan, arena, graph_.inputs[i].value), staging, bytes,
                                           cudaMemcpyHostToDevice, stream_),
                           "copy input to device");
      staging += bytes;
    }
    for (size_t i = 0; i < graph_.nodes.size(); ++i) {
      absl::Status st = Launch(plan, arena, i);
      if (!st.ok()) {
        return absl::Status(
            st.code(), absl::StrCat(graph_.nodes[i].Describe(), ": ", std::string(st.message())));
      }
    }
    // Inputs are on the device once the stream passes the uploads; the
    // staging buffer is reused for the outputs after the sync below.
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "run graph");
    staging = static_cast<char*>(pinned_);
    std::vector<size_t> sizes;
    for (const onnx::GraphPort& p : graph_.outputs) {
      const size_t bytes = static_cast<size_t>(Count(plan.shapes[p.value])) * sizeof(float);
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(staging, Ptr(plan, arena, p.value), bytes,
                                           cudaMemcpyDeviceToHost, stream_),
                           "copy output to host");
      staging += bytes;
      sizes.push_back(bytes);
    }
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "copy outputs");
    std::vector<Tensor> outputs;
    staging = static_cast<char*>(pinned_);
    for (size_t o = 0; o < graph_.outputs.size(); ++o) {
      std::vector<float> data(sizes[o] / sizeof(float));
      std::memcpy(data.data(), staging, sizes[o]);
      staging += sizes[o];
      outputs.push_back(Tensor::Float(plan.shapes[graph_.outputs[o].value], std::move(data)));
    }
    return outputs;
  }

  // The activation a fused Relu adds to node i's epilogue.
  Activation EpilogueOf(size_t i) const {
    for (size_t j = i + 1; j < fused_.size(); ++j) {
      if (fused_[j] == static_cast<int>(i)) return Activation::kRelu;
    }
    return Activation::kNone;
  }

  absl::Status Launch(const RunPlan& plan, const PoolBlock& arena, size_t i) {
    const Node& node = graph_.nodes[i];
    const std::string& op = node.op_type;
    if (node.outputs.empty() || node.outputs[0] < 0) return absl::OkStatus();
    const int out_v = node.outputs[0];
    const Shape& out_shape = plan.shapes[out_v];
    float* out = Ptr(plan, arena, out_v);
    auto in = [&](int k) { return Ptr(plan, arena, node.inputs[k]); };
    const Activation act = EpilogueOf(i);
    if (fused_[i] >= 0) return absl::OkStatus();  // applied by the producer
    if (op == "Flatten" || op == "Reshape" || op == "Identity" || op == "Dropout") {
      float* src = in(0);
      if (src == out) return absl::OkStatus();
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out, src, Count(out_shape) * sizeof(float),
                                           cudaMemcpyDeviceToDevice, stream_),
                           "copy");
      return absl::OkStatus();
    }
    if (op == "Gemm" || op == "MatMul") return LaunchGemm(plan, node, in, out, act);
    if (op == "Conv") return LaunchConv(plan, node, in, out, act);
    if (op == "MaxPool" || op == "AveragePool") return LaunchPool(plan, node, in, out);
    if (op == "GlobalAveragePool") {
      const Shape& x = plan.shapes[node.inputs[0]];
      CUDA_RETURN_IF_ERROR(
          kernels::GlobalAveragePool(in(0), out, x[0] * x[1], x[2] * x[3], stream_),
          "GlobalAveragePool");
      return absl::OkStatus();
    }
    if (op == "Relu" || op == "Sigmoid" || op == "Tanh") {
      const Activation a = op == "Relu"      ? Activation::kRelu
                           : op == "Sigmoid" ? Activation::kSigmoid
                                             : Activation::kTanh;
      CUDA_RETURN_IF_ERROR(kernels::Activate(in(0), out, Count(out_shape), a, stream_), op.c_str());
      return absl::OkStatus();
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
      return LaunchBinary(plan, node, in, out, act);
    }
    if (op == "Softmax") {
      const int64_t cols = out_shape.empty() ? 1 : out_shape.back();
      CUDA_RETURN_IF_ERROR(
          kernels::SoftmaxLastAxis(in(0), out, Count(out_shape) / cols, cols, stream_), "Softmax");
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError("no CUDA kernel for this op");
  }

  template <typename In>
  absl::Status LaunchConv(const RunPlan& plan, const Node& node, const In& in, float* out,
                          Activation act) {
    const Shape& x = plan.shapes[node.inputs[0]];
    const Shape& w = plan.shapes[node.inputs[1]];
    ASSIGN_OR_RETURN(kernels::Window2d p, Window(node, x, {w[2], w[3]}));
    ASSIGN_OR_RETURN(p.group, node.attributes.GetInt("group", 1));
    p.k = w[0];
    const float* bias = node.inputs.size() > 2 && node.inputs[2] >= 0 ? in(2) : nullptr;
    CUDA_RETURN_IF_ERROR(kernels::Conv2d(in(0), in(1), bias, out, p, act, stream_), "Conv2d");
    return absl::OkStatus();
  }

  template <typename In>
  absl::Status LaunchPool(const RunPlan& plan, const Node& node, const In& in, float* out) {
    ASSIGN_OR_RETURN(std::vector<int64_t> kernel, node.attributes.GetInts("kernel_shape"));
    ASSIGN_OR_RETURN(kernels::Window2d p, Window(node, plan.shapes[node.inputs[0]], kernel));
    if (node.op_type == "MaxPool") {
      CUDA_RETURN_IF_ERROR(kernels::MaxPool2d(in(0), out, p, stream_), "MaxPool2d");
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(int64_t include_pad, node.attributes.GetInt("count_include_pad", 0));
    p.count_include_pad = include_pad != 0;
    CUDA_RETURN_IF_ERROR(kernels::AveragePool2d(in(0), out, p, stream_), "AveragePool2d");
    return absl::OkStatus();
  }

  // Add, Sub, Mul, Div with broadcasting (and a fused activation).
  template <typename In>
  absl::Status LaunchBinary(const RunPlan& plan, const Node& node, const In& in, float* out,
                            Activation act) {
    const std::string& op = node.op_type;
    const Shape& out_shape = plan.shapes[node.outputs[0]];
    const Shape& a = plan.shapes[node.inputs[0]];
    const Shape& b = plan.shapes[node.inputs[1]];
    if (out_shape.size() > static_cast<size_t>(kernels::kMaxRank)) {
      return absl::InvalidArgumentError("rank above 6");
    }
    kernels::BroadcastDims d;
    d.rank = static_cast<int>(out_shape.size());
    const std::vector<int64_t> as = onnx::BroadcastStrides(a, out_shape);
    const std::vector<int64_t> bs = onnx::BroadcastStrides(b, out_shape);
    for (int k = 0; k < d.rank; ++k) {
      d.out[k] = out_shape[k];
      d.a_stride[k] = as[k];
      d.b_stride[k] = bs[k];
    }
    const kernels::BinaryOp bop = op == "Add"   ? kernels::BinaryOp::kAdd
                                  : op == "Sub" ? kernels::BinaryOp::kSub
                                  : op == "Mul" ? kernels::BinaryOp::kMul
                                                : kernels::BinaryOp::kDiv;
    CUDA_RETURN_IF_ERROR(kernels::Binary(in(0), in(1), out, d, Count(out_shape), bop, act, stream_),
                         op.c_str());
    return absl::OkStatus();
  }

  template <typename In>
  absl::Status LaunchGemm(const RunPlan& plan, const Node& node, const In& in, float* out,
                          Activation act) {
    const Shape& a = plan.shapes[node.inputs[0]];
    const Shape& b = plan.shapes[node.inputs[1]];
    const bool gemm = node.op_type == "Gemm";
    int64_t trans_a = 0, trans_b = 0;
    float alpha = 1.0f, beta = 1.0f;
    if (gemm) {
      ASSIGN_OR_RETURN(trans_a, node.attributes.GetInt("transA", 0));
      ASSIGN_OR_RETURN(trans_b, node.attributes.GetInt("transB", 0));
      ASSIGN_OR_RETURN(alpha, node.attributes.GetFloat("alpha", 1.0f));
      ASSIGN_OR_RETURN(beta, node.attributes.GetFloat("beta", 1.0f));
    }
    const int m = static_cast<int>(trans_a ? a[1] : a[0]);
    const int k = static_cast<int>(trans_a ? a[0] : a[1]);
    const int n = static_cast<int>(trans_b ? b[0] : b[1]);
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
    const float one = 1.0f, zero = 0.0f;
    RETURN_IF_ERROR(
        CublasStatus(blas_->sgemm(cublas_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                  trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one, in(1),
                                  trans_b ? k : n, in(0), trans_a ? m : k, &zero, out, n),
                     "cublasSgemm"));
    const float* bias = nullptr;
    int64_t rs = 0, cs = 0;
    if (gemm && node.inputs.size() > 2 && node.inputs[2] >= 0) {
      const Shape& c = plan.shapes[node.inputs[2]];
      const std::vector<int64_t> strides = onnx::BroadcastStrides(c, Shape{m, n});
      rs = strides[0];
      cs = strides[1];
      bias = in(2);
    }
    if (bias == nullptr && alpha == 1.0f && act == Activation::kNone) return absl::OkStatus();
    CUDA_RETURN_IF_ERROR(kernels::GemmEpilogue(out, m, n, alpha, bias, beta, rs, cs, act, stream_),
                         "GemmEpilogue");
    return absl::OkStatus();
  }

  absl::StatusOr<kernels::Window2d> Window(const Node& node, const Shape& x,
                                           std::vector<int64_t> kernel) const {
    ASSIGN_OR_RETURN(int64_t ceil_mode, node.attributes.GetInt("ceil_mode", 0));
    ASSIGN_OR_RETURN(onnx::WindowGeometry g,
                     onnx::ResolveWindow(node, {x[2], x[3]}, std::move(kernel), ceil_mode != 0));
    kernels::Window2d p;
    p.n = x[0];
    p.c = x[1];
    p.h = x[2];
    p.w = x[3];
    p.k = x[1];
    p.oh = g.out[0];
    p.ow = g.out[1];
    p.kh = g.kernel[0];
    p.kw = g.kernel[1];
    p.stride_h = g.stride[0];
    p.stride_w = g.stride[1];
    p.dil_h = g.dilation[0];
    p.dil_w = g.dilation[1];
    p.pad_top = g.pad_begin[0];
    p.pad_left = g.pad_begin[1];
    p.pad_bottom = g.pad_end[0];
    p.pad_right = g.pad_end[1];
    return p;
  }

  const Graph& graph_;
  const std::vector<int> fused_;
  CudaMallocAllocator raw_;
  DeviceMemoryPool pool_;
  std::vector<PoolBlock> weights_;
  std::vector<float*> weight_ptr_;  // by value id
  cudaStream_t stream_ = nullptr;
  const CublasApi* blas_ = nullptr;  // set by Init before cublas_
  cublasHandle_t cublas_ = nullptr;

  absl::Mutex mu_;
  std::map<std::string, RunPlan> plans_ ABSL_GUARDED_BY(mu_);
  void* pinned_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t pinned_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CudaGraphRunner>> CudaGraphRunner::Create(const Graph& graph) {
  RETURN_IF_ERROR(CheckCudaSupport(graph));
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    return absl::UnavailableError(absl::StrCat(
        "no CUDA device: ", err != cudaSuccess ? cudaGetErrorString(err) : "device count is 0"));
  }
  auto runner = std::make_unique<StreamGraphRunner>(graph);
  RETURN_IF_ERROR(runner->Init());
  return std::unique_ptr<CudaGraphRunner>(std::move(runner));
}

}  // namespace stoa::functions::cuda
