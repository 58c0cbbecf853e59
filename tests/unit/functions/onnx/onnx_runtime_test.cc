// OnnxRuntime on small models built here with libonnx's protobuf schema
// (what Load refuses, how Invoke validates its inputs, budgets, threads),
// then end to end on the digits example model.
#include "functions/onnx/onnx_runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "functions/onnx/model_names.h"
#include "tests/fakes/functions/onnx_builders.h"

namespace stoa::functions {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace ::stoa::functions::testing;  // NOLINT(build/namespaces)

absl::StatusOr<LoadedFunctionPtr> LoadModel(const ::onnx::ModelProto& model) {
  OnnxRuntime runtime;
  v1::FunctionSpec spec;
  spec.set_name("test");
  return runtime.Load(spec, model.SerializeAsString());
}

std::string LoadError(const ::onnx::ModelProto& model) {
  absl::StatusOr<LoadedFunctionPtr> f = LoadModel(model);
  EXPECT_FALSE(f.ok());
  if (f.ok()) return "";
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  return std::string(f.status().message());
}

// y = relu(x · W + b), W and b in float_data; x is [N,2].
::onnx::ModelProto DenseModel() {
  return MakeModel(
      {MakeNode("Gemm", "fc", {"x", "W", "b"}, {"h"}), MakeNode("Relu", "act", {"h"}, {"y"})},
      {ValueInfo("x", {-1, 2})}, {ValueInfo("y", {-1, 2})},
      {FloatInit("W", {2, 2}, {1, -1, 2, 1}), FloatInit("b", {2}, {0.5f, -10})});
}

TEST(OnnxRuntimeTest, LoadsFillsSignatureAndRuns) {
  absl::StatusOr<LoadedFunctionPtr> f = LoadModel(DenseModel());
  ASSERT_TRUE(f.ok()) << f.status();
  const v1::FunctionSpec& spec = (*f)->spec();
  EXPECT_EQ(spec.name(), "test");
  EXPECT_EQ(spec.runtime(), "onnx");
  ASSERT_EQ(spec.inputs_size(), 1);
  EXPECT_EQ(spec.inputs(0).name(), "x");
  EXPECT_EQ(spec.inputs(0).datatype(), v1::FP32);
  EXPECT_THAT(spec.inputs(0).shape(), ElementsAre(-1, 2));
  ASSERT_EQ(spec.outputs_size(), 1);
  EXPECT_THAT(spec.outputs(0).shape(), ElementsAre(-1, 2));

  InvocationInput in;
  in.tensors.push_back(FloatTensor("x", {2, 2}, {1, 2, 3, 4}));
  absl::StatusOr<InvocationOutput> out = (*f)->Invoke(in);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->tensors.size(), 1u);
  EXPECT_EQ(out->tensors[0].name(), "y");
  EXPECT_THAT(out->tensors[0].shape(), ElementsAre(2, 2));
  // [1,2]·W = [5,1] + b = [5.5,-9] → relu; [3,4]·W = [11,1] → [11.5,0].
  EXPECT_THAT(Floats(out->tensors[0]), ElementsAre(5.5f, 0, 11.5f, 0));
}

TEST(OnnxRuntimeTest, RunsNodesListedOutOfOrder) {
  // relu comes first in the file but consumes the Gemm's output.
  ::onnx::ModelProto m = MakeModel(
      {MakeNode("Relu", "act", {"h"}, {"y"}), MakeNode("Gemm", "fc", {"x", "W", "b"}, {"h"})},
      {ValueInfo("x", {-1, 2})}, {ValueInfo("y", {-1, 2})},
      {FloatInit("W", {2, 2}, {1, -1, 2, 1}), FloatInit("b", {2}, {0.5f, -10})});
  absl::StatusOr<LoadedFunctionPtr> f = LoadModel(m);
  ASSERT_TRUE(f.ok()) << f.status();
  InvocationInput in;
  in.tensors.push_back(FloatTensor("x", {1, 2}, {1, 2}));
  absl::StatusOr<InvocationOutput> out = (*f)->Invoke(in);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Floats(out->tensors[0]), ElementsAre(5.5f, 0));
}

TEST(OnnxRuntimeTest, InitializersListedAsInputsAreNotInTheSignature) {
  ::onnx::ModelProto m = DenseModel();
  *m.mutable_graph()->add_input() = ValueInfo("W", {2, 2});
  *m.mutable_graph()->add_input() = ValueInfo("b", {2});
  absl::StatusOr<LoadedFunctionPtr> f = LoadModel(m);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ((*f)->spec().inputs_size(), 1);
  EXPECT_EQ((*f)->spec().inputs(0).name(), "x");
}

TEST(OnnxRuntimeTest, RefusesUnsupportedOpNamingOpAndNode) {
  ::onnx::ModelProto m = MakeModel(
      {MakeNode("Relu", "r", {"x"}, {"h"}), MakeNode("StringNormalizer", "sn1", {"h", "W"}, {"y"})},
      {ValueInfo("x", {1, 1, 4, 4})}, {ValueInfo("y", {1, 1, 3, 3})},
      {FloatInit("W", {1, 1, 2, 2}, {1, 1, 1, 1})});
  EXPECT_EQ(LoadError(m), "node 'sn1' (#1) uses unsupported op 'StringNormalizer'");
  ::onnx::ModelProto custom = DenseModel();
  custom.mutable_graph()->mutable_node(1)->set_domain("com.example");
  EXPECT_THAT(LoadError(custom), HasSubstr("unsupported op 'com.example.Relu'"));
}

// Names become the signature and appear in messages: UTF-8 and bounded.
TEST(OnnxRuntimeTest, RefusesNamesThatAreNotUtf8OrTooLong) {
  const std::string bad = "y\xff\xfe";
  ::onnx::ModelProto output = MakeModel({MakeNode("Relu", "act", {"x"}, {bad})},
                                        {ValueInfo("x", {-1, 2})}, {ValueInfo(bad, {-1, 2})});
  EXPECT_THAT(LoadError(output),
              HasSubstr("graph output #0 name is not valid UTF-8 (byte 1 is 0xff)"));
  ::onnx::ModelProto input = MakeModel({MakeNode("Relu", "act", {"x\xc3("}, {"y"})},
                                       {ValueInfo("x\xc3(", {-1, 2})}, {ValueInfo("y", {-1, 2})});
  EXPECT_THAT(LoadError(input), HasSubstr("graph input #0 name is not valid UTF-8"));
  ::onnx::ModelProto node = MakeModel({MakeNode("Relu", "act\x80", {"x"}, {"y"})},
                                      {ValueInfo("x", {-1, 2})}, {ValueInfo("y", {-1, 2})});
  EXPECT_THAT(LoadError(node), HasSubstr("node #0 name is not valid UTF-8"));
  ::onnx::ModelProto op = MakeModel({MakeNode("Relu\xff", "act", {"x"}, {"y"})},
                                    {ValueInfo("x", {-1, 2})}, {ValueInfo("y", {-1, 2})});
  EXPECT_THAT(LoadError(op), HasSubstr("node #0 op_type is not valid UTF-8"));
  const std::string long_name(onnx::kMaxOnnxNameBytes + 1, 'n');
  ::onnx::ModelProto too_long = MakeModel({MakeNode("Relu", long_name, {"x"}, {"y"})},
                                          {ValueInfo("x", {-1, 2})}, {ValueInfo("y", {-1, 2})});
  EXPECT_THAT(LoadError(too_long), HasSubstr("node #0 name is 1025 bytes long; the limit is 1024"));
  // At the limit, and valid UTF-8 beyond ASCII, is fine.
  const std::string at_limit(onnx::kMaxOnnxNameBytes, 'n');
  EXPECT_TRUE(LoadModel(MakeModel({MakeNode("Relu", at_limit, {"x"}, {"\xc3\xa9"})},
                                  {ValueInfo("x", {-1, 2})}, {ValueInfo("\xc3\xa9", {-1, 2})}))
                  .ok());
}

TEST(OnnxRuntimeTest, RefusesCycle) {
  ::onnx::ModelProto m =
      MakeModel({MakeNode("Add", "a", {"x", "q"}, {"p"}), MakeNode("Relu", "b", {"p"}, {"q"}),
                 MakeNode("Identity", "c", {"p"}, {"y"})},
                {ValueInfo("x", {2})}, {ValueInfo("y", {2})});
  EXPECT_THAT(LoadError(m), HasSubstr("graph has a cycle through node 'a' (#0, Add)"));
}

TEST(OnnxRuntimeTest, RefusesMissingValueAndDoubleProducer) {
  ::onnx::ModelProto missing = MakeModel({MakeNode("Add", "sum", {"x", "nowhere"}, {"y"})},
                                         {ValueInfo("x", {2})}, {ValueInfo("y", {2})});
  EXPECT_THAT(LoadError(missing),
              HasSubstr("node 'sum' (#0, Add) input 'nowhere' is not a graph input"));
  ::onnx::ModelProto twice =
      MakeModel({MakeNode("Relu", "r1", {"x"}, {"y"}), MakeNode("Tanh", "r2", {"x"}, {"y"})},
                {ValueInfo("x", {2})}, {ValueInfo("y", {2})});
  EXPECT_THAT(LoadError(twice), HasSubstr("node 'r2' (#1, Tanh) output 'y' is already produced"));
  ::onnx::ModelProto no_output = MakeModel({MakeNode("Relu", "r", {"x"}, {"h"})},
                                           {ValueInfo("x", {2})}, {ValueInfo("y", {2})});
  EXPECT_THAT(LoadError(no_output), HasSubstr("output 'y' is not produced by any node"));
}

v1::Tensor RawTensor(std::string name, v1::DataType type, std::vector<int64_t> shape,
                     std::string raw) {
  v1::Tensor t;
  t.set_name(std::move(name));
  t.set_datatype(type);
  for (int64_t d : shape) t.add_shape(d);
  t.set_raw(std::move(raw));
  return t;
}

template <typename T>
std::string Bytes(std::vector<T> values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// Every element type the engine computes with is a model input and output
// (issue 12: INT64 ids, BOOL masks, FP64 outputs), unchanged both ways.
TEST(OnnxRuntimeTest, EveryEngineDatatypeIsAnInputAndAnOutput) {
  const std::vector<std::pair<::onnx::TensorProto::DataType, v1::DataType>> types = {
      {::onnx::TensorProto::FLOAT, v1::FP32},
      {::onnx::TensorProto::DOUBLE, v1::FP64},
      {::onnx::TensorProto::INT64, v1::INT64},
      {::onnx::TensorProto::INT32, v1::INT32},
      {::onnx::TensorProto::BOOL, v1::BOOL}};
  for (const auto& [onnx_type, wire_type] : types) {
    SCOPED_TRACE(v1::DataType_Name(wire_type));
    absl::StatusOr<LoadedFunctionPtr> f =
        LoadModel(MakeModel({MakeNode("Identity", "id", {"x"}, {"y"})},
                            {ValueInfo("x", {3}, onnx_type)}, {ValueInfo("y", {3}, onnx_type)}));
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ((*f)->spec().inputs(0).datatype(), wire_type);
    EXPECT_EQ((*f)->spec().outputs(0).datatype(), wire_type);
    const size_t size = wire_type == v1::BOOL                             ? 1
                        : wire_type == v1::FP64 || wire_type == v1::INT64 ? 8
                                                                          : 4;
    std::string raw(3 * size, '\0');
    for (size_t i = 0; i < raw.size(); i += size) raw[i] = static_cast<char>(1 + i / size % 2);
    if (wire_type == v1::BOOL) raw = std::string("\1\0\1", 3);
    InvocationInput in;
    in.tensors.push_back(RawTensor("x", wire_type, {3}, raw));
    absl::StatusOr<InvocationOutput> out = (*f)->Invoke(in);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->tensors[0].datatype(), wire_type);
    EXPECT_EQ(out->tensors[0].raw(), raw);
    in.tensors[0].set_raw(raw.substr(1));
    EXPECT_THAT((*f)->Invoke(in).status().message(),
                HasSubstr("needs " + std::to_string(raw.size())));
  }
}

// FP16 has no kernels: given for an FP32 input it is widened exactly.
TEST(OnnxRuntimeTest, Fp16InputIsWidenedToFp32) {
  absl::StatusOr<LoadedFunctionPtr> f = LoadModel(MakeModel(
      {MakeNode("Relu", "r", {"x"}, {"y"})}, {ValueInfo("x", {4})}, {ValueInfo("y", {4})}));
  ASSERT_TRUE(f.ok()) << f.status();
  InvocationInput in;
  // 1.0, -2.0, 0.5, 65504 (the largest half).
  in.tensors.push_back(
      RawTensor("x", v1::FP16, {4}, Bytes<uint16_t>({0x3c00, 0xc000, 0x3800, 0x7bff})));
  absl::StatusOr<InvocationOutput> out = (*f)->Invoke(in);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->tensors[0].datatype(), v1::FP32);
  EXPECT_THAT(Floats(out->tensors[0]), ElementsAre(1.0f, 0.0f, 0.5f, 65504.0f));
  in.tensors[0].set_datatype(v1::UINT8);
  EXPECT_EQ((*f)->Invoke(in).status().message(), "input 'x': expected datatype FP32, got UINT8");
}

TEST(OnnxRuntimeTest, RefusesBadAttributesAndArity) {
  ::onnx::ModelProto m = DenseModel();
  SetIntAttr(*m.mutable_graph()->mutable_node(0), "transA", 2);
  EXPECT_THAT(LoadError(m), HasSubstr("node 'fc' (#0, Gemm): attribute 'transA' must be 0 or 1"));
  ::onnx::ModelProto arity = MakeModel({MakeNode("Add", "sum", {"x"}, {"y"})},
                                       {ValueInfo("x", {2})}, {ValueInfo("y", {2})});
  EXPECT_THAT(LoadError(arity), HasSubstr("node 'sum' (#0, Add) has 1 inputs; Add takes 2 to 2"));
}

TEST(OnnxRuntimeTest, RefusesBadInitializer) {
  ::onnx::ModelProto m = DenseModel();
  m.mutable_graph()->mutable_initializer(0)->add_float_data(7);  // 5 values for dims [2,2]
  EXPECT_THAT(LoadError(m), HasSubstr("tensor 'W' has 5 values, dims need 4"));
  ::onnx::ModelProto d = DenseModel();
  d.mutable_graph()->mutable_initializer(1)->set_data_type(::onnx::TensorProto::FLOAT16);
  EXPECT_THAT(LoadError(d), HasSubstr("tensor 'b' has data type FLOAT16"));
}

TEST(OnnxRuntimeTest, RefusesModelsThatAreNotModels) {
  OnnxRuntime runtime;
  absl::StatusOr<LoadedFunctionPtr> empty = runtime.Load({}, "");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(empty.status().message()),
              StartsWith("artifact is not a valid ONNX model: "));
  absl::StatusOr<LoadedFunctionPtr> junk = runtime.Load({}, "\xff\xff\xff\xff this is not onnx");
  EXPECT_THAT(std::string(junk.status().message()),
              StartsWith("artifact is not a valid ONNX model: "));
  ::onnx::ModelProto no_ir = DenseModel();
  no_ir.clear_ir_version();
  EXPECT_THAT(LoadError(no_ir), HasSubstr("ir_version is not set"));
  ::onnx::ModelProto no_opset = DenseModel();
  no_opset.clear_opset_import();
  EXPECT_THAT(LoadError(no_opset), StartsWith("artifact is not a valid ONNX model: "));
}

TEST(OnnxRuntimeTest, InvokeValidatesInputs) {
  absl::StatusOr<LoadedFunctionPtr> f = LoadModel(DenseModel());
  ASSERT_TRUE(f.ok()) << f.status();
  auto error = [&](std::vector<v1::Tensor> tensors) {
    InvocationInput in;
    in.tensors = std::move(tensors);
    absl::StatusOr<InvocationOutput> out = (*f)->Invoke(in);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
    return std::string(out.status().message());
  };
  EXPECT_EQ(error({}), "missing input 'x' (FP32 [-1,2])");
  EXPECT_EQ(error({FloatTensor("x", {1, 3}, {1, 2, 3})}),
            "input 'x': expected shape [-1,2], got [1,3]");
  EXPECT_EQ(error({FloatTensor("x", {2}, {1, 2})}), "input 'x': expected shape [-1,2], got [2]");
  EXPECT_EQ(error({FloatTensor("x", {-1, 2}, {1, 2})}),
            "input 'x': expected shape [-1,2], got [-1,2]");
  EXPECT_EQ(error({FloatTensor("x", {2, 2}, {1, 2, 3})}),
            "input 'x': shape [2,2] needs 16 bytes of FP32 data, got 12");
  v1::Tensor int_tensor = FloatTensor("x", {1, 2}, {1, 2});
  int_tensor.set_datatype(v1::INT32);
  EXPECT_EQ(error({int_tensor}), "input 'x': expected datatype FP32, got INT32");
  EXPECT_EQ(error({FloatTensor("x", {1, 2}, {1, 2}), FloatTensor("z", {1}, {1})}),
            "unexpected input 'z' (the function takes 'x')");
  EXPECT_EQ(error({FloatTensor("x", {1, 2}, {1, 2}), FloatTensor("x", {1, 2}, {1, 2})}),
            "input 'x' is given twice");
  // A single unnamed tensor feeds a single-input model.
  InvocationInput unnamed;
  unnamed.tensors.push_back(FloatTensor("", {1, 2}, {1, 2}));
  EXPECT_TRUE((*f)->Invoke(unnamed).ok());
}

TEST(OnnxRuntimeTest, KernelErrorNamesNode) {
  ::onnx::ModelProto m =
      MakeModel({MakeNode("MatMul", "mm", {"a", "b"}, {"y"})},
                {ValueInfo("a", {-1, -1}), ValueInfo("b", {-1, -1})}, {ValueInfo("y", {-1, -1})});
  absl::StatusOr<LoadedFunctionPtr> f = LoadModel(m);
  ASSERT_TRUE(f.ok()) << f.status();
  InvocationInput in;
  in.tensors = {FloatTensor("a", {1, 2}, {1, 2}), FloatTensor("b", {3, 1}, {1, 2, 3})};
  absl::StatusOr<InvocationOutput> out = (*f)->Invoke(in);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()),
              StartsWith("node 'mm' (#0, MatMul): inner dimensions differ"));
}

// Every read moves it 1 ms, so time passes between a graph's nodes.
class SteppingClock final : public common::Clock {
 public:
  int64_t NowMicros() const override { return now_us_.fetch_add(1000) + 1000; }

 private:
  mutable std::atomic<int64_t> now_us_{0};
};

TEST(OnnxRuntimeTest, BudgetIsMeasuredOnTheInjectedClock) {
  SteppingClock clock;
  OnnxRuntime runtime(OnnxRuntime::Options{.clock = &clock});
  v1::FunctionSpec spec;
  spec.set_name("test");
  absl::StatusOr<LoadedFunctionPtr> f = runtime.Load(spec, DenseModel().SerializeAsString());
  ASSERT_TRUE(f.ok()) << f.status();
  InvocationInput in;
  in.tensors.push_back(FloatTensor("x", {1, 2}, {1, 2}));
  in.budget_us = 500;  // less than one tick: spent before the first node
  absl::StatusOr<InvocationOutput> late = (*f)->Invoke(in);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
  EXPECT_THAT(std::string(late.status().message()), HasSubstr("after 0 of 2 nodes"));
  in.budget_us = 1500;  // one tick: the first node runs, the second does not
  late = (*f)->Invoke(in);
  EXPECT_THAT(std::string(late.status().message()), HasSubstr("after 1 of 2 nodes"));
  in.budget_us = 60'000'000;
  EXPECT_TRUE((*f)->Invoke(in).ok());
  in.budget_us = 0;  // none
  EXPECT_TRUE((*f)->Invoke(in).ok());
}

TEST(OnnxRuntimeTest, ReshapeFromInitializerAndFromComputedTensor) {
  // x [2,3] → Reshape(initializer [-1]) → Reshape(Identity(initializer [3,-1])).
  ::onnx::ModelProto m = MakeModel({MakeNode("Reshape", "flat", {"x", "s1"}, {"f"}),
                                    MakeNode("Identity", "sid", {"s2"}, {"s2c"}),
                                    MakeNode("Reshape", "back", {"f", "s2c"}, {"y"})},
                                   {ValueInfo("x", {2, 3})}, {ValueInfo("y", {3, 2})},
                                   {Int64Init("s1", {-1}), Int64Init("s2", {3, -1})});
  absl::StatusOr<LoadedFunctionPtr> f = LoadModel(m);
  ASSERT_TRUE(f.ok()) << f.status();
  InvocationInput in;
  in.tensors.push_back(FloatTensor("x", {2, 3}, {1, 2, 3, 4, 5, 6}));
  absl::StatusOr<InvocationOutput> out = (*f)->Invoke(in);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->tensors[0].shape(), ElementsAre(3, 2));
  EXPECT_THAT(Floats(out->tensors[0]), ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST(OnnxRuntimeTest, OutputShapeMismatchIsInternal) {
  // The model declares y as [4] but Identity of [2] yields [2].
  ::onnx::ModelProto m = MakeModel({MakeNode("Identity", "id", {"x"}, {"y"})},
                                   {ValueInfo("x", {2})}, {ValueInfo("y", {4})});
  absl::StatusOr<LoadedFunctionPtr> f = LoadModel(m);
  ASSERT_TRUE(f.ok()) << f.status();
  InvocationInput in;
  in.tensors.push_back(FloatTensor("x", {2}, {1, 2}));
  EXPECT_EQ((*f)->Invoke(in).status().code(), absl::StatusCode::kInternal);
}

TEST(OnnxRuntimeTest, ConcurrentInvocationsAgree) {
  absl::StatusOr<LoadedFunctionPtr> f = LoadModel(DenseModel());
  ASSERT_TRUE(f.ok()) << f.status();
  LoadedFunction* fn = f->get();
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([fn, t, &failures] {
      for (int i = 0; i < 500; ++i) {
        const float v = static_cast<float>(t * 1000 + i);
        InvocationInput in;
        in.tensors.push_back(FloatTensor("x", {1, 2}, {v, 0}));
        absl::StatusOr<InvocationOutput> out = fn->Invoke(in);
        // [v,0]·W + b = [v + 0.5, -v - 10] → relu.
        if (!out.ok() || Floats(out->tensors[0]) != std::vector<float>{v + 0.5f, 0.0f}) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_THAT(failures, ElementsAre(0, 0, 0, 0));
}

TEST(RuntimeSetTest, DefaultRuntimesOfferOnnx) {
  RuntimeSet set = DefaultRuntimes();
  ASSERT_NE(set.Find("onnx"), nullptr);
  EXPECT_EQ(set.Find("onnx")->name(), "onnx");
  v1::FunctionSpec spec;
  spec.set_runtime("onnx");
  EXPECT_TRUE(set.Load(spec, DenseModel().SerializeAsString()).ok());
  spec.set_runtime("cobol");
  EXPECT_THAT(set.Load(spec, "x").status().message(),
              HasSubstr("runtime 'cobol' is not supported"));
}

TEST(OnnxRuntimeThreadsTest, MultiThreadedConvMatchesSingleThread) {
  std::vector<float> w(2 * 3 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 7) - 3.0f;
  ::onnx::ModelProto m = MakeModel(
      {MakeNode("Conv", "conv", {"x", "W"}, {"h"}), MakeNode("Relu", "relu", {"h"}, {"y"})},
      {ValueInfo("x", {-1, 3, 16, 16})}, {ValueInfo("y", {-1, 2, 14, 14})},
      {FloatInit("W", {2, 3, 3, 3}, w)});
  std::vector<float> x(2 * 3 * 16 * 16);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 11) / 5.0f - 1.0f;
  std::vector<std::vector<float>> results;
  for (int threads : {1, 3}) {
    OnnxRuntime runtime(OnnxRuntime::Options{.intra_op_threads = threads});
    v1::FunctionSpec spec;
    spec.set_name("conv");
    absl::StatusOr<LoadedFunctionPtr> f = runtime.Load(spec, m.SerializeAsString());
    ASSERT_TRUE(f.ok()) << f.status();
    InvocationInput in;
    in.tensors.push_back(testing::FloatTensor("x", {2, 3, 16, 16}, x));
    for (int round = 0; round < 2; ++round) {  // the second run reuses pooled buffers
      absl::StatusOr<InvocationOutput> out = (*f)->Invoke(in);
      ASSERT_TRUE(out.ok()) << out.status();
      results.push_back(testing::Floats(out->tensors[0]));
    }
  }
  ASSERT_EQ(results[0].size(), 2u * 2 * 14 * 14);
  for (size_t r = 1; r < results.size(); ++r) EXPECT_EQ(results[r], results[0]) << r;
}

// ---- end to end on the digits example model: signature, held-out
// accuracy, batch vs single-image agreement, bad inputs, and corrupt or
// truncated artifacts.

std::string DigitsDir() {
  const char* src = std::getenv("STOA_SOURCE_DIR");
  return std::string(src != nullptr ? src : ".") + "/functions/examples/digits/";
}

std::string ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Split {
  std::vector<float> pixels;  // rows × 64
  std::vector<int> labels;
};

Split ReadSplit() {
  Split s;
  std::ifstream f(DigitsDir() + "test_split.csv");
  std::string line;
  std::getline(f, line);  // header p0,…,p63,label
  while (std::getline(f, line)) {
    std::stringstream row(line);
    std::string cell;
    std::vector<int> v;
    while (std::getline(row, cell, ',')) v.push_back(std::stoi(cell));
    if (v.size() != 65) continue;
    for (int i = 0; i < 64; ++i) s.pixels.push_back(static_cast<float>(v[i]));
    s.labels.push_back(v[64]);
  }
  return s;
}

class DigitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    artifact_ = ReadBytes(DigitsDir() + "digits.onnx");
    ASSERT_FALSE(artifact_.empty()) << "cannot read " << DigitsDir() << "digits.onnx";
    split_ = ReadSplit();
    ASSERT_EQ(split_.labels.size(), 360u);
    v1::FunctionSpec spec;
    spec.set_name("digits");
    spec.set_runtime("onnx");
    absl::StatusOr<LoadedFunctionPtr> f = runtime_.Load(spec, artifact_);
    ASSERT_TRUE(f.ok()) << f.status();
    fn_ = *std::move(f);
  }

  absl::StatusOr<InvocationOutput> Invoke(v1::Tensor t) {
    InvocationInput in;
    in.tensors.push_back(std::move(t));
    return fn_->Invoke(in);
  }

  OnnxRuntime runtime_;
  std::string artifact_;
  Split split_;
  LoadedFunctionPtr fn_;
};

int ArgMax(const float* p) {
  int best = 0;
  for (int c = 1; c < 10; ++c) {
    if (p[c] > p[best]) best = c;
  }
  return best;
}

TEST_F(DigitsTest, Signature) {
  const v1::FunctionSpec& spec = fn_->spec();
  EXPECT_EQ(spec.name(), "digits");
  ASSERT_EQ(spec.inputs_size(), 1);
  EXPECT_EQ(spec.inputs(0).name(), "pixels");
  EXPECT_EQ(spec.inputs(0).datatype(), v1::FP32);
  EXPECT_THAT(spec.inputs(0).shape(), ElementsAre(-1, 64));
  ASSERT_EQ(spec.outputs_size(), 1);
  EXPECT_EQ(spec.outputs(0).name(), "probabilities");
  EXPECT_EQ(spec.outputs(0).datatype(), v1::FP32);
  EXPECT_THAT(spec.outputs(0).shape(), ElementsAre(-1, 10));
}

TEST_F(DigitsTest, WholeBatchAccuracyAndProbabilities) {
  const int64_t n = static_cast<int64_t>(split_.labels.size());
  absl::StatusOr<InvocationOutput> out = Invoke(FloatTensor("pixels", {n, 64}, split_.pixels));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->tensors.size(), 1u);
  EXPECT_EQ(out->tensors[0].name(), "probabilities");
  EXPECT_THAT(out->tensors[0].shape(), ElementsAre(n, 10));
  const std::vector<float> probs = Floats(out->tensors[0]);
  ASSERT_EQ(probs.size(), static_cast<size_t>(n * 10));
  int correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int c = 0; c < 10; ++c) {
      const float p = probs[i * 10 + c];
      EXPECT_TRUE(p >= 0.0f && p <= 1.0f) << "row " << i;
      sum += p;
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << i;
    correct += ArgMax(&probs[i * 10]) == split_.labels[i];
  }
  const double accuracy = static_cast<double>(correct) / static_cast<double>(n);
  EXPECT_GE(accuracy, 0.95);
  RecordProperty("accuracy", std::to_string(accuracy));
}

TEST_F(DigitsTest, BatchOfOneMatchesWholeBatch) {
  const int64_t n = static_cast<int64_t>(split_.labels.size());
  absl::StatusOr<InvocationOutput> all = Invoke(FloatTensor("pixels", {n, 64}, split_.pixels));
  ASSERT_TRUE(all.ok()) << all.status();
  const std::vector<float> batch = Floats(all->tensors[0]);
  int correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> image(split_.pixels.begin() + i * 64, split_.pixels.begin() + (i + 1) * 64);
    absl::StatusOr<InvocationOutput> one = Invoke(FloatTensor("pixels", {1, 64}, image));
    ASSERT_TRUE(one.ok()) << one.status();
    EXPECT_THAT(one->tensors[0].shape(), ElementsAre(1, 10));
    const std::vector<float> p = Floats(one->tensors[0]);
    for (int c = 0; c < 10; ++c) ASSERT_NEAR(p[c], batch[i * 10 + c], 1e-5) << i;
    correct += ArgMax(p.data()) == split_.labels[i];
  }
  EXPECT_GE(static_cast<double>(correct) / static_cast<double>(n), 0.95);
}

TEST_F(DigitsTest, RejectsWrongShapeAndDatatypeNamingPixels) {
  absl::StatusOr<InvocationOutput> short_row =
      Invoke(FloatTensor("pixels", {1, 63}, std::vector<float>(63, 0)));
  EXPECT_EQ(short_row.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(short_row.status().message(), "input 'pixels': expected shape [-1,64], got [1,63]");
  v1::Tensor ints = FloatTensor("pixels", {1, 64}, std::vector<float>(64, 0));
  ints.set_datatype(v1::INT64);
  ints.set_raw(std::string(64 * 8, '\0'));
  absl::StatusOr<InvocationOutput> wrong_type = Invoke(ints);
  EXPECT_EQ(wrong_type.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wrong_type.status().message(), "input 'pixels': expected datatype FP32, got INT64");
  absl::StatusOr<InvocationOutput> wrong_name =
      Invoke(FloatTensor("image", {1, 64}, std::vector<float>(64, 0)));
  EXPECT_THAT(wrong_name.status().message(), HasSubstr("the function takes 'pixels'"));
}

TEST_F(DigitsTest, EmptyBatch) {
  absl::StatusOr<InvocationOutput> out = Invoke(FloatTensor("pixels", {0, 64}, {}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->tensors[0].shape(), ElementsAre(0, 10));
}

TEST_F(DigitsTest, CorruptArtifactIsRefused) {
  std::string corrupt = artifact_;
  for (int i = 0; i < 16; ++i) corrupt[i] = '\xff';
  absl::StatusOr<LoadedFunctionPtr> f = runtime_.Load({}, corrupt);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(f.status().message()),
              StartsWith("artifact is not a valid ONNX model: "));
}

TEST_F(DigitsTest, EveryTruncationIsRefused) {
  // Cut points across the file, including inside and right after each field.
  for (size_t len = 0; len < artifact_.size(); len += (len < 256 ? 1 : 509)) {
    absl::StatusOr<LoadedFunctionPtr> f =
        runtime_.Load({}, std::string_view(artifact_).substr(0, len));
    ASSERT_FALSE(f.ok()) << "truncated to " << len << " bytes loaded";
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << len << ": " << f.status();
  }
  absl::StatusOr<LoadedFunctionPtr> half =
      runtime_.Load({}, std::string_view(artifact_).substr(0, artifact_.size() / 2));
  EXPECT_THAT(std::string(half.status().message()),
              StartsWith("artifact is not a valid ONNX model: "));
}

TEST(OnnxRuntimeTest, TheSpecsMemoryLimitMayLowerTheBudgetNotRaiseIt) {
  OnnxRuntimeOptions options;
  options.max_memory_mb = 64;
  v1::FunctionSpec spec;
  onnx::ModelLimits limits = OnnxLimitsFor(spec, options);
  EXPECT_EQ(limits.memory_bytes, int64_t{64} << 20);
  EXPECT_EQ(limits.memory_source, "--onnx-max-memory-mb");
  spec.mutable_limits()->set_memory_mb(16);
  limits = OnnxLimitsFor(spec, options);
  EXPECT_EQ(limits.memory_bytes, int64_t{16} << 20);
  EXPECT_EQ(limits.memory_source, "limits.memory_mb of the spec");
  spec.mutable_limits()->set_memory_mb(128);
  limits = OnnxLimitsFor(spec, options);
  EXPECT_EQ(limits.memory_bytes, int64_t{64} << 20);
  EXPECT_EQ(limits.memory_source,
            "limits.memory_mb 128 of the spec, capped at --onnx-max-memory-mb 64");
}

TEST(OnnxRuntimeTest, EachInvocationIsBoundedByTheFunctionsBudget) {
  OnnxRuntime runtime;
  v1::FunctionSpec spec;
  spec.set_name("fill");
  spec.mutable_limits()->set_memory_mb(1);
  absl::StatusOr<LoadedFunctionPtr> f =
      runtime.Load(spec, CastConstantOfShapeModel().SerializeAsString());
  ASSERT_TRUE(f.ok()) << f.status();
  auto invoke = [&](float n) {
    InvocationInput in;
    in.tensors.push_back(FloatTensor("n", {1}, {n}));
    return (*f)->Invoke(in);
  };
  EXPECT_TRUE(invoke(1000).ok());
  absl::StatusOr<InvocationOutput> refused = invoke(1e12f);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("1048568 of the 1048576-byte budget are left (ONNX memory limit: "
                        "limits.memory_mb of the spec)"));
  EXPECT_TRUE(invoke(1000).ok()) << "a refusal leaves the function as it was";
}

TEST(OnnxRuntimeTest, AGraphOverTheNodeLimitIsRefusedBeforeParsing) {
  OnnxRuntimeOptions options;
  options.max_nodes = 10;
  OnnxRuntime runtime(options);
  v1::FunctionSpec spec;
  spec.set_name("chain");
  EXPECT_TRUE(runtime.Load(spec, ReluChainModel(10).SerializeAsString()).ok());
  absl::StatusOr<LoadedFunctionPtr> f = runtime.Load(spec, ReluChainModel(11).SerializeAsString());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(f.status().message(), HasSubstr("model has 11 nodes; the limit is 10 nodes"));
}

}  // namespace
}  // namespace stoa::functions
