#include "tests/conformance/conformance_runner.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/interpreter.h"
#include "functions/onnx/tensor_proto.h"
#include "onnx/onnx_pb.h"

namespace stoa::conformance {
namespace {

namespace fs = std::filesystem;
using functions::ShapeString;
using functions::onnx::ElementType;
using functions::onnx::ElementTypeName;
using functions::onnx::Tensor;

bool ReadFile(const fs::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

// input_0.pb, input_1.pb, ... in index order.
std::vector<fs::path> Numbered(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (int i = 0;; ++i) {
    fs::path p = dir / absl::StrCat(prefix, i, ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

}  // namespace

std::string LoadTensor(const fs::path& path, Tensor& out) {
  std::string bytes;
  if (!ReadFile(path, bytes)) return absl::StrCat("cannot read ", path.string());
  ::onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) return absl::StrCat("cannot parse ", path.string());
  absl::StatusOr<Tensor> t = functions::onnx::TensorFromProto(proto);
  if (!t.ok()) return std::string(t.status().message());
  out = *std::move(t);
  return "";
}

namespace {

double ValueAt(const Tensor& t, int64_t i) {
  switch (t.type()) {
    case ElementType::kFloat32:
      return t.floats()[i];
    case ElementType::kFloat64:
      return t.float64s()[i];
    case ElementType::kInt64:
      return static_cast<double>(t.int64s()[i]);
    case ElementType::kInt32:
      return t.int32s()[i];
    case ElementType::kBool:
      return t.bools()[i];
    case ElementType::kUInt8:
      return t.uint8s()[i];
    case ElementType::kInt8:
      return t.int8s()[i];
  }
  return 0;
}

}  // namespace

std::string Compare(const Tensor& got, const Tensor& want, const Tolerance& tol) {
  if (got.type() != want.type()) {
    return absl::StrCat("type ", ElementTypeName(got.type()), ", expected ",
                        ElementTypeName(want.type()));
  }
  if (got.shape() != want.shape()) {
    return absl::StrCat("shape ", ShapeString(got.shape()), ", expected ",
                        ShapeString(want.shape()));
  }
  const bool exact = want.type() != ElementType::kFloat32 && want.type() != ElementType::kFloat64;
  for (int64_t i = 0; i < want.size(); ++i) {
    const double g = ValueAt(got, i), w = ValueAt(want, i);
    if (std::isnan(w) && std::isnan(g)) continue;
    const bool ok =
        exact ? g == w : (g == w || std::abs(g - w) <= tol.atol + tol.rtol * std::abs(w));
    if (!ok) return absl::StrCat("element ", i, " is ", g, ", expected ", w);
  }
  return "";
}

TestResult RunConformanceTest(const std::string& suite, const std::string& dir,
                              const functions::onnx::OpRegistry& registry,
                              const Tolerance& tolerance) {
  const fs::path root(dir);
  TestResult r;
  r.name = absl::StrCat(suite, "/", root.filename().string());
  auto fail = [&r](Outcome o, std::string why) {
    r.outcome = o;
    r.reason = std::move(why);
    return r;
  };
  std::string bytes;
  if (!ReadFile(root / "model.onnx", bytes)) return fail(Outcome::kFailed, "no model.onnx");
  ::onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) return fail(Outcome::kFailed, "model.onnx does not parse");
  std::vector<std::string> missing;
  for (const auto& node : model.graph().node()) {
    const bool known = (node.domain().empty() || node.domain() == "ai.onnx") &&
                       registry.Find(node.op_type()) != nullptr;
    const std::string op =
        node.domain().empty() ? node.op_type() : absl::StrCat(node.domain(), ".", node.op_type());
    if (!known && std::find(missing.begin(), missing.end(), op) == missing.end()) {
      missing.push_back(op);
    }
  }
  if (!missing.empty()) {
    std::string ops;
    for (const std::string& op : missing) absl::StrAppend(&ops, ops.empty() ? "" : ", ", op);
    return fail(Outcome::kUnsupported, absl::StrCat("op ", ops));
  }
  absl::StatusOr<functions::onnx::Graph> graph;
  try {
    graph = functions::onnx::BuildGraph(model, registry);
  } catch (const std::exception& e) {
    return fail(Outcome::kFailed, absl::StrCat("load threw: ", e.what()));
  }
  if (!graph.ok()) {
    return fail(Outcome::kUnsupported,
                absl::StrCat("load: ", std::string(graph.status().message())));
  }
  std::vector<fs::path> sets;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) {
      sets.push_back(entry.path());
    }
  }
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return fail(Outcome::kFailed, "no test_data_set_*");
  for (const fs::path& set : sets) {
    const std::string where = set.filename().string();
    std::vector<fs::path> in_files = Numbered(set, "input_");
    std::vector<fs::path> out_files = Numbered(set, "output_");
    if (in_files.size() != graph->inputs.size()) {
      return fail(Outcome::kFailed, absl::StrCat(where, ": ", in_files.size(), " input files for ",
                                                 graph->inputs.size(), " graph inputs"));
    }
    std::vector<Tensor> inputs(in_files.size());
    for (size_t i = 0; i < in_files.size(); ++i) {
      std::string err = LoadTensor(in_files[i], inputs[i]);
      if (!err.empty()) return fail(Outcome::kUnsupported, absl::StrCat(where, ": ", err));
    }
    absl::StatusOr<std::vector<Tensor>> outputs = functions::onnx::RunGraph(
        *graph, std::move(inputs), common::RealClock::Get(), /*deadline_us=*/0);
    if (!outputs.ok()) {
      return fail(Outcome::kFailed,
                  absl::StrCat(where, ": ", std::string(outputs.status().message())));
    }
    if (out_files.size() != outputs->size()) {
      return fail(Outcome::kFailed, absl::StrCat(where, ": ", outputs->size(), " outputs, ",
                                                 out_files.size(), " expected"));
    }
    for (size_t i = 0; i < out_files.size(); ++i) {
      Tensor want;
      std::string err = LoadTensor(out_files[i], want);
      if (!err.empty()) return fail(Outcome::kUnsupported, absl::StrCat(where, ": ", err));
      std::string diff = Compare((*outputs)[i], want, tolerance);
      if (!diff.empty()) {
        return fail(Outcome::kFailed,
                    absl::StrCat(where, " output '", graph->outputs[i].name, "': ", diff));
      }
    }
  }
  r.outcome = Outcome::kPassed;
  return r;
}

std::vector<TestResult> RunConformanceSuite(const std::string& root, const std::string& suite,
                                            const functions::onnx::OpRegistry& registry,
                                            const Tolerance& tolerance) {
  std::vector<TestResult> results;
  const fs::path dir = fs::path(root) / suite;
  if (!fs::is_directory(dir)) return results;
  std::vector<fs::path> tests;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory()) tests.push_back(entry.path());
  }
  std::sort(tests.begin(), tests.end());
  for (const fs::path& t : tests) {
    results.push_back(RunConformanceTest(suite, t.string(), registry, tolerance));
  }
  return results;
}

std::vector<std::string> ReadPassList(const std::string& path) {
  std::vector<std::string> names;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    size_t start = 0;
    while (start < line.size() && std::isspace(static_cast<unsigned char>(line[start]))) ++start;
    if (start < line.size()) names.push_back(line.substr(start));
  }
  return names;
}

bool WritePassList(const std::string& path, const std::vector<TestResult>& results) {
  std::ofstream out(path);
  if (!out) return false;
  out << "# ONNX backend tests (libonnx-testdata) that the CPU engine passes.\n"
         "# A listed test that stops passing fails the conformance test.\n"
         "# Regenerate: STOA_CONFORMANCE_UPDATE=1 ctest -R onnx_conformance\n";
  for (const TestResult& r : results) {
    if (r.outcome == Outcome::kPassed) out << r.name << "\n";
  }
  return static_cast<bool>(out);
}

}  // namespace stoa::conformance
