// Loads the example models into onnx::Graphs for the CUDA backend tests.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/op_registry.h"

namespace stoa::functions::testing {

// functions/examples/<relative>, parsed and built with the CPU op registry.
inline absl::StatusOr<onnx::Graph> LoadExampleGraph(const std::string& relative) {
  const char* source = std::getenv("STOA_SOURCE_DIR");
  const std::filesystem::path path =
      std::filesystem::path(source ? source : ".") / "functions/examples" / relative;
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError("no " + path.string());
  std::stringstream bytes;
  bytes << file.rdbuf();
  ::onnx::ModelProto model;
  if (!model.ParseFromString(bytes.str())) return absl::InvalidArgumentError("bad model");
  return onnx::BuildGraph(model, onnx::DefaultOpRegistry());
}

}  // namespace stoa::functions::testing
