// LoadFunctionStream (issue 12 item 5) against a real stoa-executor: a model
// sent in chunks loads and answers; every protocol violation (data before
// the header, a second header, an oversized chunk, more or fewer bytes than
// declared, a wrong digest, a size over the limit) is refused with a status
// naming it, and the executor's spool directory is left empty every time.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "stoa/v1/executor.grpc.pb.h"
#include "tests/fakes/functions/onnx_builders.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;
namespace builders = ::stoa::functions::testing;

class LoadStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_ = MakeTempDir("load-stream-spool");
    executor_ = Process::Start(
        BinaryPath("stoa-executor"),
        {"--listen", "127.0.0.1:0", "--spool-dir", spool_, "--max-artifact-mb", "4"});
    ASSERT_NE(executor_, nullptr);
    stub_ = v1::Executor::NewStub(
        grpc::CreateChannel(executor_->address(), grpc::InsecureChannelCredentials()));
    artifact_ = builders::ReluChainModel(3).SerializeAsString();
  }

  v1::LoadFunctionChunk Header(const std::string& name, const std::string& sha, uint64_t size) {
    v1::LoadFunctionChunk c;
    v1::FunctionSpec* spec = c.mutable_header()->mutable_spec();
    spec->set_name(name);
    spec->set_runtime("onnx");
    spec->set_sha256(sha);
    c.mutable_header()->set_size(size);
    return c;
  }
  static v1::LoadFunctionChunk Data(const std::string& bytes) {
    v1::LoadFunctionChunk c;
    c.set_data(bytes);
    return c;
  }

  // Sends `chunks` (stopping at the first refused write) and finishes.
  grpc::Status Send(const std::vector<v1::LoadFunctionChunk>& chunks,
                    v1::LoadFunctionResponse* response = nullptr) {
    v1::LoadFunctionResponse local;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    auto writer = stub_->LoadFunctionStream(&ctx, response ? response : &local);
    for (const v1::LoadFunctionChunk& c : chunks) {
      if (!writer->Write(c)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  // Files in the spool directory once the executor is done with the load
  // (the file is removed just after the answer is sent: wait up to 2 s).
  size_t SpoolFiles() {
    size_t n = 0;
    for (int i = 0; i < 100; ++i) {
      n = 0;
      for ([[maybe_unused]] const auto& e : fs::directory_iterator(spool_)) ++n;
      if (n == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return n;
  }

  std::string spool_;
  std::unique_ptr<Process> executor_;
  std::unique_ptr<v1::Executor::Stub> stub_;
  std::string artifact_;
};

TEST_F(LoadStreamTest, ChunkedModelLoadsAndIsListed) {
  std::vector<v1::LoadFunctionChunk> chunks = {
      Header("relu", common::Sha256Hex(artifact_), artifact_.size())};
  for (size_t at = 0; at < artifact_.size(); at += 37)
    chunks.push_back(Data(artifact_.substr(at, 37)));
  v1::LoadFunctionResponse response;
  grpc::Status s = Send(chunks, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(response.already_loaded());
  EXPECT_GT(response.spec().inputs_size(), 0) << "the executor derived no signature";
  grpc::ClientContext ctx;
  v1::GetStatusResponse status;
  ASSERT_TRUE(stub_->GetStatus(&ctx, v1::GetStatusRequest(), &status).ok());
  EXPECT_THAT(status.DebugString(), HasSubstr("relu"));
  EXPECT_EQ(SpoolFiles(), 0u);
}

TEST_F(LoadStreamTest, ProtocolViolationsAreRefusedAndLeaveNothing) {
  const std::string sha = common::Sha256Hex(artifact_);
  const uint64_t size = artifact_.size();
  struct Case {
    std::string what;
    std::vector<v1::LoadFunctionChunk> chunks;
    grpc::StatusCode code;
    std::string message;
  };
  std::string wrong = artifact_;
  wrong[wrong.size() / 2] ^= 0x5A;
  const std::vector<Case> cases = {
      {"data first",
       {Data(artifact_)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "the first message must be the header"},
      {"two headers",
       {Header("a", sha, size), Header("a", sha, size)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "a second header"},
      {"short digest",
       {Header("a", "abc", size), Data(artifact_)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "64 hex"},
      {"chunk too big",
       {Header("a", sha, 3u << 20), Data(std::string((1u << 20) + 1, 'x'))},
       grpc::StatusCode::INVALID_ARGUMENT,
       "chunks are at most 1048576 bytes"},
      {"more than declared",
       {Header("a", sha, size - 1), Data(artifact_)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "bytes the header declared"},
      {"ended early",
       {Header("a", sha, size), Data(artifact_.substr(0, size / 2))},
       grpc::StatusCode::INVALID_ARGUMENT,
       "ended after"},
      {"wrong digest",
       {Header("a", sha, size), Data(wrong)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "does not match"},
      {"over the limit",
       {Header("a", sha, 5u << 20)},
       grpc::StatusCode::OUT_OF_RANGE,
       "artifact size limit"},
  };
  for (const Case& c : cases) {
    grpc::Status s = Send(c.chunks);
    EXPECT_EQ(s.error_code(), c.code) << c.what << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message)) << c.what;
    EXPECT_EQ(SpoolFiles(), 0u) << c.what << " left a spool file";
  }
  // The executor still serves, and nothing was loaded.
  grpc::ClientContext ctx;
  v1::GetStatusResponse status;
  ASSERT_TRUE(stub_->GetStatus(&ctx, v1::GetStatusRequest(), &status).ok());
  EXPECT_THAT(status.DebugString(), ::testing::Not(HasSubstr("name: \"a\"")));
}

}  // namespace
}  // namespace stoa::testing
