// Issue 12 item 5, large models, against the real stoa-gateway and
// stoa-executor: a ~300 MiB ONNX model (one MatMul with a 76800×1024 FP32
// initializer) is written by the test, registered through the gateway by
// upload (multipart, spooled to disk) and by "source" (a file:/// path
// under --artifact-source-dir), and invoked on the edge (in-process, loaded
// from the registry's file) and on the cloud executor (LoadFunctionStream in
// 1 MiB chunks); the answers are checked against sums the test computes,
// and the gateway's peak RSS (VmHWM) against what holding the artifact twice
// would take. Refusals: an upload over --max-upload-mb (413, nothing left
// behind) and sources outside the allowed directories.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "onnx/onnx_pb.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr int64_t kRows = 76800;  // K: the input's length
constexpr int64_t kCols = 1024;   // N: the output's length
constexpr int kLongMs = 180000;

// Exact in FP32: multiples of 0.25, every partial sum far below 2^22.
float Weight(int64_t k, int64_t n) { return static_cast<float>((k * k + 7 * n) % 11) * 0.25f; }

struct LargeModel {
  std::string path;
  uint64_t bytes = 0;
  std::string sha256;
  std::vector<double> expected;  // y = ones(1,K) · W
};

LargeModel WriteModel(const std::string& dir) {
  ::onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  ::onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name("large");
  auto port = [](::onnx::ValueInfoProto* info, const char* name, int64_t a, int64_t b) {
    info->set_name(name);
    auto* tensor = info->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(::onnx::TensorProto::FLOAT);
    tensor->mutable_shape()->add_dim()->set_dim_value(a);
    tensor->mutable_shape()->add_dim()->set_dim_value(b);
  };
  port(graph->add_input(), "x", 1, kRows);
  port(graph->add_output(), "y", 1, kCols);
  ::onnx::NodeProto* node = graph->add_node();
  node->set_op_type("MatMul");
  node->add_input("x");
  node->add_input("W");
  node->add_output("y");
  ::onnx::TensorProto* w = graph->add_initializer();
  w->set_name("W");
  w->set_data_type(::onnx::TensorProto::FLOAT);
  w->add_dims(kRows);
  w->add_dims(kCols);
  LargeModel out;
  out.expected.assign(kCols, 0.0);
  std::string* raw = w->mutable_raw_data();
  raw->resize(static_cast<size_t>(kRows * kCols) * sizeof(float));
  float* values = reinterpret_cast<float*>(raw->data());
  for (int64_t k = 0; k < kRows; ++k) {
    for (int64_t n = 0; n < kCols; ++n) {
      values[k * kCols + n] = Weight(k, n);
      out.expected[n] += Weight(k, n);
    }
  }
  out.path = dir + "/large.onnx";
  std::ofstream file(out.path, std::ios::binary);
  EXPECT_TRUE(model.SerializeToOstream(&file));
  file.close();
  out.bytes = fs::file_size(out.path);
  return out;
}

std::string InvokeBody() {
  json data = json::array();
  for (int64_t k = 0; k < kRows; ++k) data.push_back(1);
  return json{
      {"inputs",
       json::array({{{"name", "x"}, {"shape", {1, kRows}}, {"datatype", "FP32"}, {"data", data}}})}}
      .dump();
}

// A multipart registration whose artifact part is the file's bytes.
Multipart UploadBody(const std::string& spec, const std::string& path) {
  const std::string boundary = "large-model-boundary-7f3a";
  Multipart m;
  m.content_type = "multipart/form-data; boundary=" + boundary;
  m.body = "--" + boundary +
           "\r\nContent-Disposition: form-data; name=\"spec\"\r\nContent-Type: "
           "application/json\r\n\r\n" +
           spec + "\r\n--" + boundary +
           "\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"large.onnx\"\r\n"
           "Content-Type: application/octet-stream\r\n\r\n";
  m.body += ReadFileOrDie(path);
  m.body += "\r\n--" + boundary + "--\r\n";
  return m;
}

void ExpectAnswer(HttpClient& client, const std::string& name, const std::string& tier,
                  const LargeModel& model) {
  HttpResult r = client.Request("POST", "/v1/functions/" + name + "/invoke?tier=" + tier,
                                InvokeBody(), "application/json", kLongMs);
  ASSERT_EQ(r.status, 200) << tier << ": " << r.body;
  EXPECT_EQ(r.Header("x-stoa-tier"), tier);
  json out = json::parse(r.body);
  const json& data = out["outputs"][0]["data"];
  ASSERT_EQ(data.size(), static_cast<size_t>(kCols));
  for (int64_t n = 0; n < kCols; ++n) {
    ASSERT_NEAR(data[n].get<double>(), model.expected[n], 1e-3) << tier << " column " << n;
  }
}

// Files under `dir`, waiting up to 5 s for it to reach `want`: an upload's
// spool file goes when the request is released, just after the answer.
size_t FilesIn(const std::string& dir, size_t want = 0);

size_t CountFiles(const std::string& dir) {
  size_t count = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file()) ++count;
  }
  return count;
}

size_t FilesIn(const std::string& dir, size_t want) {
  size_t count = CountFiles(dir);
  for (int i = 0; i < 50 && count != want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    count = CountFiles(dir);
  }
  return count;
}

TEST(LargeModelTest, RegistersByUploadAndSourceAndAnswersOnBothTiers) {
  const std::string source_dir = MakeTempDir("large-src");
  const std::string data_dir = MakeTempDir("large-data");
  const LargeModel model = WriteModel(source_dir);
  ASSERT_GT(model.bytes, 300'000'000u);
  const std::string bytes_sha = common::Sha256Hex(ReadFileOrDie(model.path));
  Platform p =
      StartPlatform("large", {"--data-dir", data_dir, "--artifact-source-dir", source_dir});
  ASSERT_NE(p.client, nullptr);

  {
    Multipart upload = UploadBody(
        R"({"name":"large","runtime":"onnx","limits":{"timeout_ms":60000}})", model.path);
    HttpResult r =
        p.client->Request("POST", "/v1/functions", upload.body, upload.content_type, kLongMs);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(json::parse(r.body)["sha256"], bytes_sha);
  }
  ExpectAnswer(*p.client, "large", "edge", model);
  ExpectAnswer(*p.client, "large", "cloud", model);
  EXPECT_EQ(FilesIn(data_dir + "/uploads"), 0u);

  // The same model named by source, once the first is gone (and unloaded).
  ASSERT_EQ(p.client->Delete("/v1/functions/large").status, 204);
  json spec = {{"name", "large-src"},
               {"runtime", "onnx"},
               {"limits", {{"timeout_ms", 60000}}},
               {"source", "file://" + model.path}};
  HttpResult r =
      p.client->Request("POST", "/v1/functions", spec.dump(), "application/json", kLongMs);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["sha256"], bytes_sha);
  ExpectAnswer(*p.client, "large-src", "edge", model);
  ExpectAnswer(*p.client, "large-src", "cloud", model);
  EXPECT_EQ(FilesIn(data_dir + "/uploads"), 0u);

  // The edge keeps the weights once (300 MiB); parsing, hashing, copying and
  // streaming the artifact must not add a second copy on top.
  const int64_t hwm_kib = ProcStatusKiB(p.gateway->pid(), "VmHWM");
  const int64_t twice_kib = static_cast<int64_t>(2 * model.bytes / 1024);
  std::printf("gateway VmHWM %lld KiB; the artifact is %llu KiB\n", static_cast<long long>(hwm_kib),
              static_cast<unsigned long long>(model.bytes / 1024));
  EXPECT_GT(hwm_kib, 0);
  EXPECT_LT(hwm_kib, twice_kib * 3 / 4) << "the gateway held the artifact twice";
}

TEST(LargeModelTest, UploadOverTheLimitIs413AndLeavesNothing) {
  const std::string data_dir = MakeTempDir("large-413");
  Platform p = StartPlatform("large-413", {"--data-dir", data_dir, "--max-upload-mb", "1"});
  ASSERT_NE(p.client, nullptr);
  Multipart upload =
      MakeRegistration(R"({"name":"big","runtime":"onnx"})", std::string(2 << 20, 'x'));
  HttpResult r =
      p.client->Request("POST", "/v1/functions", upload.body, upload.content_type, kLongMs);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_THAT(r.body, HasSubstr("1048576 bytes"));
  EXPECT_THAT(r.body, HasSubstr("upload limit: --max-upload-mb"));
  EXPECT_EQ(FilesIn(data_dir + "/uploads"), 0u);
  EXPECT_EQ(FilesIn(data_dir + "/functions"), 0u);
  EXPECT_EQ(p.client->Get("/v1/functions/big").status, 404);
  // The invoke body limit is not the upload limit: still 16 MiB.
  EXPECT_EQ(p.client->Get("/healthz").status, 200);
}

TEST(LargeModelTest, SourceOutsideTheAllowedDirectoriesIsRefused) {
  const std::string allowed = MakeTempDir("large-allowed");
  const std::string outside = MakeTempDir("large-outside");
  const std::string data_dir = MakeTempDir("large-refused");
  { std::ofstream(outside + "/m.onnx") << "not a model"; }
  fs::create_symlink(outside + "/m.onnx", allowed + "/link.onnx");

  Platform closed = StartPlatform("large-closed", {"--data-dir", MakeTempDir("large-closed")});
  ASSERT_NE(closed.client, nullptr);
  json spec = {{"name", "s"}, {"runtime", "onnx"}, {"source", "file://" + outside + "/m.onnx"}};
  HttpResult r = closed.client->Post("/v1/functions", spec.dump());
  EXPECT_THAT(ErrorMessage(r, 403, "PERMISSION_DENIED"), HasSubstr("--artifact-source-dir"));

  Platform p =
      StartPlatform("large-open", {"--data-dir", data_dir, "--artifact-source-dir", allowed});
  ASSERT_NE(p.client, nullptr);
  for (const std::string& escape :
       {allowed + "/../" + fs::path(outside).filename().string() + "/m.onnx",
        allowed + "/link.onnx"}) {
    spec["source"] = "file://" + escape;
    r = p.client->Post("/v1/functions", spec.dump());
    EXPECT_THAT(ErrorMessage(r, 403, "PERMISSION_DENIED"), HasSubstr("outside every")) << escape;
  }
  spec["source"] = "https://example.com/m.onnx";
  r = p.client->Post("/v1/functions", spec.dump());
  EXPECT_THAT(ErrorMessage(r, 400, "INVALID_ARGUMENT"), HasSubstr("file:///"));
  spec["source"] = "file://" + allowed + "/missing.onnx";
  r = p.client->Post("/v1/functions", spec.dump());
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(FilesIn(data_dir + "/uploads"), 0u);
  EXPECT_EQ(FilesIn(data_dir + "/functions"), 0u);
}

}  // namespace
}  // namespace stoa::testing
