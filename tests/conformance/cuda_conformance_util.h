// The CPU engine's conformance pass list (tests/conformance/pass_list.txt),
// filtered to the tests whose graphs the CUDA backend supports, with their
// data sets loaded: shared by the CUDA shape test (CPU) and device test (GPU).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "functions/cuda/cuda_plan.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/op_registry.h"
#include "functions/onnx/tensor_proto.h"

namespace stoa::functions::testing {

// $STOA_ONNX_TESTDATA when set (the GPU bundle carries its own copy), else
// Debian's libonnx-testdata.
inline std::string OnnxTestDataRoot() {
  const char* root = std::getenv("STOA_ONNX_TESTDATA");
  return root != nullptr && *root != '\0' ? root : "/usr/share/libonnx-testdata/data";
}

struct DataSet {
  std::vector<onnx::Tensor> inputs;
  std::vector<onnx::Tensor> outputs;
};

struct CudaConformanceCase {
  std::string name;  // "node/test_relu"
  std::unique_ptr<onnx::Graph> graph;
  std::vector<DataSet> sets;
};

inline bool ReadTensorFile(const std::filesystem::path& path, onnx::Tensor& out) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream bytes;
  bytes << f.rdbuf();
  ::onnx::TensorProto proto;
  if (!f || !proto.ParseFromString(bytes.str())) return false;
  absl::StatusOr<onnx::Tensor> t = onnx::TensorFromProto(proto);
  if (!t.ok()) return false;
  out = *std::move(t);
  return true;
}

// Pass-listed tests; `cuda_supported` counts those CheckCudaSupport accepts,
// which are returned with their data sets.
inline std::vector<CudaConformanceCase> LoadCudaConformanceCases(int* listed, int* cuda_supported) {
  namespace fs = std::filesystem;
  const char* source = std::getenv("STOA_SOURCE_DIR");
  std::ifstream list(fs::path(source ? source : ".") / "tests/conformance/pass_list.txt");
  std::vector<CudaConformanceCase> cases;
  const onnx::OpRegistry registry = onnx::DefaultOpRegistry();
  *listed = 0;
  *cuda_supported = 0;
  std::string line;
  while (std::getline(list, line)) {
    if (line.empty() || line[0] == '#') continue;
    ++*listed;
    const fs::path dir = fs::path(OnnxTestDataRoot()) / line;
    std::ifstream model_file(dir / "model.onnx", std::ios::binary);
    std::stringstream bytes;
    bytes << model_file.rdbuf();
    ::onnx::ModelProto model;
    if (!model_file || !model.ParseFromString(bytes.str())) continue;
    absl::StatusOr<onnx::Graph> graph = onnx::BuildGraph(model, registry);
    if (!graph.ok() || !cuda::CheckCudaSupport(*graph).ok()) continue;
    ++*cuda_supported;
    CudaConformanceCase c;
    c.name = line;
    c.graph = std::make_unique<onnx::Graph>(*std::move(graph));
    std::vector<fs::path> set_dirs;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) {
        set_dirs.push_back(e.path());
      }
    }
    std::sort(set_dirs.begin(), set_dirs.end());
    for (const fs::path& s : set_dirs) {
      DataSet set;
      for (size_t i = 0; fs::exists(s / ("input_" + std::to_string(i) + ".pb")); ++i) {
        ReadTensorFile(s / ("input_" + std::to_string(i) + ".pb"), set.inputs.emplace_back());
      }
      for (size_t i = 0; fs::exists(s / ("output_" + std::to_string(i) + ".pb")); ++i) {
        ReadTensorFile(s / ("output_" + std::to_string(i) + ".pb"), set.outputs.emplace_back());
      }
      c.sets.push_back(std::move(set));
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace stoa::functions::testing
