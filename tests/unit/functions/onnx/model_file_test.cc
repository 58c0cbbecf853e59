// ReadModelFile (issue 12 item 5): a model read from a file by walking its
// wire format must give the same weights as the bytes say, leave small and
// non-raw initializers to the parsed skeleton, honour the node limit before
// parsing, and refuse damaged files with a clear error rather than crash.
#include "functions/onnx/model_file.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"

namespace stoa::functions::onnx {
namespace {

namespace fs = std::filesystem;

class ModelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() /
             absl::StrCat("stoa_model_file_", getpid(), "_",
                          ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".onnx"))
                .string();
  }
  void TearDown() override { fs::remove(path_); }

  void Write(const std::string& bytes) {
    std::ofstream(path_, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  std::string path_;
};

::onnx::TensorProto Raw(const std::string& name, int32_t type, std::vector<int64_t> dims,
                        size_t element_bytes, uint8_t seed) {
  ::onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(type);
  size_t count = 1;
  for (int64_t d : dims) {
    t.add_dims(d);
    count *= static_cast<size_t>(d);
  }
  std::string raw(count * element_bytes, '\0');
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>((i * 31 + seed) & 0xFF);
  t.set_raw_data(raw);
  return t;
}

// A model whose graph is Add(x, w_big) → Mul(·, w_small) → Add(·, w_floats),
// with `extra_nodes` Identity nodes appended.
::onnx::ModelProto Model(int extra_nodes = 0) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  ::onnx::GraphProto* g = m.mutable_graph();
  g->set_name("g");
  *g->add_initializer() = Raw("w_big", ::onnx::TensorProto::FLOAT, {64, 64}, 4, 1);
  *g->add_initializer() = Raw("w_i64", ::onnx::TensorProto::INT64, {300}, 8, 2);
  *g->add_initializer() = Raw("w_u8", ::onnx::TensorProto::UINT8, {5000}, 1, 3);
  *g->add_initializer() = Raw("w_small", ::onnx::TensorProto::FLOAT, {2}, 4, 4);
  ::onnx::TensorProto* floats = g->add_initializer();
  floats->set_name("w_floats");
  floats->set_data_type(::onnx::TensorProto::FLOAT);
  floats->add_dims(3);
  for (float f : {1.5f, -2.f, 3.25f}) floats->add_float_data(f);
  ::onnx::NodeProto* n = g->add_node();
  n->set_op_type("Identity");
  n->add_input("x");
  n->add_output("y0");
  std::string last = "y0";
  for (int i = 0; i < extra_nodes; ++i) {
    ::onnx::NodeProto* e = g->add_node();
    e->set_op_type("Identity");
    e->add_input(last);
    last = absl::StrCat("y", i + 1);
    e->add_output(last);
  }
  return m;
}

TEST_F(ModelFileTest, LargeRawInitializersAreReadIntoTensorsByteForByte) {
  const ::onnx::ModelProto model = Model();
  Write(model.SerializeAsString());
  auto file = ReadModelFile(path_, /*min_weight_bytes=*/1024);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->file_bytes, model.ByteSizeLong());
  ASSERT_EQ(file->weights.size(), 3u);  // w_big, w_i64, w_u8: 16 KiB, 2400 B, 5000 B
  for (const ::onnx::TensorProto& init : model.graph().initializer()) {
    auto it = file->weights.find(init.name());
    if (init.raw_data().size() < 1024) {
      EXPECT_EQ(it, file->weights.end()) << init.name();
      continue;
    }
    ASSERT_NE(it, file->weights.end()) << init.name();
    const Tensor& t = it->second;
    ASSERT_EQ(t.rank(), init.dims_size()) << init.name();
    for (int i = 0; i < init.dims_size(); ++i) EXPECT_EQ(t.shape()[i], init.dims(i));
    EXPECT_EQ(std::memcmp(t.raw(), init.raw_data().data(), init.raw_data().size()), 0)
        << init.name() << ": the bytes differ";
  }
  EXPECT_EQ(file->weights.at("w_u8").type(), ElementType::kUInt8);
  EXPECT_EQ(file->weights.at("w_i64").type(), ElementType::kInt64);
  // The skeleton keeps every initializer; the large ones with a placeholder.
  const ::onnx::GraphProto& g = file->skeleton.graph();
  ASSERT_EQ(g.initializer_size(), model.graph().initializer_size());
  for (int i = 0; i < g.initializer_size(); ++i) {
    const ::onnx::TensorProto& s = g.initializer(i);
    const ::onnx::TensorProto& o = model.graph().initializer(i);
    EXPECT_EQ(s.name(), o.name());
    EXPECT_EQ(s.data_type(), o.data_type());
    if (file->weights.contains(s.name())) {
      EXPECT_EQ(s.raw_data().size(), 4u) << s.name();
    } else {
      EXPECT_EQ(s.SerializeAsString(), o.SerializeAsString()) << s.name();
    }
  }
  EXPECT_EQ(g.node_size(), 1);
}

TEST_F(ModelFileTest, NodeLimitIsCheckedBeforeParsing) {
  Write(Model(/*extra_nodes=*/50).SerializeAsString());
  ModelLimits limits;
  limits.max_nodes = 10;
  auto refused = ReadModelFile(path_, 1024, &limits);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_NE(refused.status().message().find("10"), std::string::npos) << refused.status();
  limits.max_nodes = 100;
  EXPECT_TRUE(ReadModelFile(path_, 1024, &limits).ok());
}

TEST_F(ModelFileTest, MissingFileIsNamed) {
  auto missing = ReadModelFile(path_ + ".none");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(".none"), std::string::npos) << missing.status();
}

TEST_F(ModelFileTest, TruncatedAndDamagedFilesAreRefusedNotCrashed) {
  const std::string bytes = Model().SerializeAsString();
  for (size_t cut : {size_t{1}, size_t{7}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 1}) {
    Write(bytes.substr(0, cut));
    auto r = ReadModelFile(path_, 1024);
    ASSERT_FALSE(r.ok()) << "cut at " << cut;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  }
  // Random damage: any outcome but a crash; an accepted file's weights are
  // inside the file.
  std::mt19937 rng(11);
  for (int round = 0; round < 300; ++round) {
    std::string damaged = bytes;
    for (int k = 0; k < 1 + round % 4; ++k) {
      damaged[rng() % damaged.size()] = static_cast<char>(rng() & 0xFF);
    }
    Write(damaged);
    auto r = ReadModelFile(path_, 1024);
    if (!r.ok()) continue;
    uint64_t total = 0;
    for (const auto& [name, t] : r->weights) total += static_cast<uint64_t>(t.size());
    EXPECT_LE(total, damaged.size());
  }
}

}  // namespace
}  // namespace stoa::functions::onnx
