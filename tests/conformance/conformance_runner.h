// Runs ONNX's own backend test cases (Debian's libonnx-testdata layout:
// <root>/<suite>/<test>/model.onnx and test_data_set_*/{input,output}_*.pb
// as TensorProto) through the CPU engine and classifies each test:
//  - kUnsupported: the model uses an op the registry lacks, or a datatype
//    or attribute value the engine refuses at load (reason says which);
//  - kPassed: every data set's outputs match in type, shape and values
//    (|got - want| <= atol + rtol * |want|, NaN matches NaN; integers and
//    BOOL exactly);
//  - kFailed: anything else (reason names the data set, output and the
//    first mismatch, or the run error).
//
// Thread safety: RunConformanceTest is reentrant.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "functions/onnx/op_registry.h"
#include "functions/onnx/tensor.h"

namespace stoa::conformance {

enum class Outcome { kPassed, kFailed, kUnsupported };

struct TestResult {
  std::string name;  // "<suite>/<test>", e.g. "node/test_relu"
  Outcome outcome = Outcome::kFailed;
  std::string reason;  // empty when passed
};

struct Tolerance {
  double rtol = 1e-3;
  double atol = 1e-7;
};

// One test directory.
TestResult RunConformanceTest(const std::string& suite, const std::string& dir,
                              const functions::onnx::OpRegistry& registry,
                              const Tolerance& tolerance = {});

// Every test directory under <root>/<suite>, sorted by name; empty when the
// suite does not exist.
std::vector<TestResult> RunConformanceSuite(const std::string& root, const std::string& suite,
                                            const functions::onnx::OpRegistry& registry,
                                            const Tolerance& tolerance = {});

// A TensorProto file (input_0.pb, ...) as an engine tensor; "" or why not.
std::string LoadTensor(const std::filesystem::path& path, functions::onnx::Tensor& out);
// "" when `got` equals `want` in type, shape and values within `tol`, else
// the first difference.
std::string Compare(const functions::onnx::Tensor& got, const functions::onnx::Tensor& want,
                    const Tolerance& tol);

// Pass list file: one "<suite>/<test>" per line; '#' starts a comment.
std::vector<std::string> ReadPassList(const std::string& path);
bool WritePassList(const std::string& path, const std::vector<TestResult>& results);

}  // namespace stoa::conformance
