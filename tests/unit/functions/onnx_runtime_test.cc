// OnnxRuntime on small models built here with libonnx's protobuf schema:
// what Load refuses, how Invoke validates its inputs, deadlines, threads.
#include "functions/onnx/onnx_runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "common/clock.h"
#include "tests/unit/functions/onnx_test_util.h"

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
  ::onnx::ModelProto m =
      MakeModel({MakeNode("Relu", "r", {"x"}, {"h"}), MakeNode("LSTM", "lstm1", {"h", "W"}, {"y"})},
                {ValueInfo("x", {1, 1, 4, 4})}, {ValueInfo("y", {1, 1, 3, 3})},
                {FloatInit("W", {1, 1, 2, 2}, {1, 1, 1, 1})});
  EXPECT_EQ(LoadError(m), "node 'lstm1' (#1) uses unsupported op 'LSTM'");
  ::onnx::ModelProto custom = DenseModel();
  custom.mutable_graph()->mutable_node(1)->set_domain("com.example");
  EXPECT_THAT(LoadError(custom), HasSubstr("unsupported op 'com.example.Relu'"));
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

TEST(OnnxRuntimeTest, RefusesNonFp32InputsAndOutputs) {
  ::onnx::ModelProto m = MakeModel({MakeNode("Identity", "id", {"ids"}, {"y"})},
                                   {ValueInfo("ids", {2}, ::onnx::TensorProto::INT64)},
                                   {ValueInfo("y", {2}, ::onnx::TensorProto::INT64)});
  EXPECT_THAT(LoadError(m), HasSubstr("input 'ids' has data type INT64"));
  ::onnx::ModelProto out =
      MakeModel({MakeNode("Identity", "id", {"x"}, {"y"})}, {ValueInfo("x", {2})},
                {ValueInfo("y", {2}, ::onnx::TensorProto::DOUBLE)});
  EXPECT_THAT(LoadError(out), HasSubstr("output 'y' has data type FP64; only FP32"));
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

TEST(OnnxRuntimeTest, Deadline) {
  absl::StatusOr<LoadedFunctionPtr> f = LoadModel(DenseModel());
  ASSERT_TRUE(f.ok()) << f.status();
  InvocationInput in;
  in.tensors.push_back(FloatTensor("x", {1, 2}, {1, 2}));
  in.deadline_us = common::RealClock::Get().NowMicros() - 1;
  absl::StatusOr<InvocationOutput> late = (*f)->Invoke(in);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
  in.deadline_us = common::RealClock::Get().NowMicros() + 60'000'000;
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

}  // namespace
}  // namespace stoa::functions
