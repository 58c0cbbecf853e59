// The stoa-executor binary over real gRPC, with the generated stub only:
// LoadFunction is idempotent by sha256, Invoke before load is NOT_FOUND,
// and responses carry the server-side timings and device.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstring>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "stoa/v1/executor.grpc.pb.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

class ExecutorGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    executor_ =
        Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0", "--threads", "2"});
    ASSERT_NE(executor_, nullptr);
    stub_ = v1::Executor::NewStub(
        grpc::CreateChannel(executor_->address(), grpc::InsecureChannelCredentials()));
    model_ = ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"));
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  v1::LoadFunctionRequest LoadRequest() {
    v1::LoadFunctionRequest req;
    req.mutable_spec()->set_name("digits");
    req.mutable_spec()->set_runtime("onnx");
    req.mutable_spec()->set_sha256(common::Sha256Hex(model_));
    req.set_artifact(model_);
    return req;
  }

  v1::InvokeRequest InvokeRequest() {
    v1::InvokeRequest req;
    req.set_function("digits");
    req.set_sha256(common::Sha256Hex(model_));
    req.set_timeout_ms(5000);
    v1::Tensor* t = req.add_inputs();
    t->set_name("pixels");
    t->set_datatype(v1::FP32);
    t->add_shape(1);
    t->add_shape(64);
    std::vector<float> pixels(64, 8.0f);
    t->set_raw(std::string(reinterpret_cast<const char*>(pixels.data()), 64 * sizeof(float)));
    return req;
  }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<v1::Executor::Stub> stub_;
  std::string model_;
};

TEST_F(ExecutorGrpcTest, InvokeBeforeLoadIsNotFoundThenLoadIsIdempotent) {
  v1::InvokeResponse invoke_response;
  grpc::Status s = stub_->Invoke(Context().get(), InvokeRequest(), &invoke_response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();

  v1::LoadFunctionResponse first, second;
  s = stub_->LoadFunction(Context().get(), LoadRequest(), &first);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(first.already_loaded());
  EXPECT_GT(first.load_us(), 0u);
  s = stub_->LoadFunction(Context().get(), LoadRequest(), &second);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(second.already_loaded());
  EXPECT_EQ(second.load_us(), 0u);

  s = stub_->Invoke(Context().get(), InvokeRequest(), &invoke_response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(invoke_response.outputs_size(), 1);
  const v1::Tensor& out = invoke_response.outputs(0);
  EXPECT_EQ(out.name(), "probabilities");
  ASSERT_EQ(out.raw().size(), 10 * sizeof(float));
  float sum = 0;
  for (int i = 0; i < 10; ++i) {
    float v;
    std::memcpy(&v, out.raw().data() + i * sizeof(float), sizeof(float));
    sum += v;
  }
  EXPECT_NEAR(sum, 1.0f, 1e-5);
  EXPECT_GT(invoke_response.exec_us(), 0u);
  EXPECT_EQ(invoke_response.device(), "cpu");

  v1::GetStatusResponse status;
  s = stub_->GetStatus(Context().get(), v1::GetStatusRequest(), &status);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(status.device(), "cpu");
  ASSERT_EQ(status.functions_size(), 1);
  EXPECT_EQ(status.functions(0).function(), "digits");
}

TEST_F(ExecutorGrpcTest, CorruptArtifactAndShaMismatchAreInvalidArgument) {
  v1::LoadFunctionRequest req = LoadRequest();
  req.set_artifact(model_.substr(0, 100));
  req.mutable_spec()->set_sha256(common::Sha256Hex(req.artifact()));
  v1::LoadFunctionResponse resp;
  grpc::Status s = stub_->LoadFunction(Context().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();

  req = LoadRequest();
  req.mutable_spec()->set_sha256(std::string(64, '0'));
  s = stub_->LoadFunction(Context().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();

  // Still serving.
  s = stub_->LoadFunction(Context().get(), LoadRequest(), &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace stoa::testing
