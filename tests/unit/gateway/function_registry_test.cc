#include "gateway/function_registry.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FunctionRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("stoa_registry_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<FunctionRegistry> OpenRegistry() {
    auto registry = FunctionRegistry::Open(dir_.string());
    EXPECT_TRUE(registry.ok()) << registry.status();
    return registry.ok() ? *std::move(registry) : nullptr;
  }

  static v1::FunctionSpec Spec(const std::string& name) {
    v1::FunctionSpec spec;
    spec.set_name(name);
    spec.set_runtime("onnx");
    spec.add_tiers("edge");
    spec.set_slo_ms(25);
    auto* input = spec.add_inputs();
    input->set_name("pixels");
    input->set_datatype(v1::FP32);
    input->add_shape(-1);
    input->add_shape(64);
    return spec;
  }

  fs::path FunctionDir(const std::string& name) const { return dir_ / "functions" / name; }

  std::vector<std::string> FilesIn(const fs::path& dir) const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

TEST_F(FunctionRegistryTest, PutGetListDelete) {
  auto registry = OpenRegistry();
  ASSERT_NE(registry, nullptr);
  auto stored = registry->Put(Spec("digits"), "model-bytes", /*replace=*/false);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->version(), 1u);
  EXPECT_EQ(stored->sha256(), common::Sha256Hex("model-bytes"));
  ASSERT_TRUE(registry->Put(Spec("adder"), "wasm-bytes", false).ok());

  auto got = registry->Get("digits");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got->ReadArtifact(), "model-bytes");
  EXPECT_EQ(got->spec.runtime(), "onnx");
  EXPECT_EQ(got->spec.inputs(0).shape(1), 64);

  auto list = registry->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name(), "adder");
  EXPECT_EQ(list[1].name(), "digits");

  EXPECT_THAT(FilesIn(FunctionDir("digits")),
              ::testing::ElementsAre(common::Sha256Hex("model-bytes") + ".artifact", "spec.json"));

  ASSERT_TRUE(registry->Delete("digits").ok());
  auto missing = registry->Get("digits");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("function 'digits' not found"));
  EXPECT_FALSE(fs::exists(FunctionDir("digits")));
  EXPECT_EQ(registry->List().size(), 1u);

  absl::Status again = registry->Delete("digits");
  EXPECT_EQ(again.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(again.message()), HasSubstr("'digits'"));
}

TEST_F(FunctionRegistryTest, DuplicateIsRefusedAndChangesNothing) {
  auto registry = OpenRegistry();
  ASSERT_TRUE(registry->Put(Spec("digits"), "v1", false).ok());
  const auto files_before = FilesIn(FunctionDir("digits"));
  const auto spec_before = common::ReadFile((FunctionDir("digits") / "spec.json").string());

  auto dup = registry->Put(Spec("digits"), "other bytes", /*replace=*/false);
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(std::string(dup.status().message()), "function 'digits' already exists");

  auto got = registry->Get("digits");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got->ReadArtifact(), "v1");
  EXPECT_EQ(got->spec.version(), 1u);
  EXPECT_EQ(FilesIn(FunctionDir("digits")), files_before);
  EXPECT_EQ(*common::ReadFile((FunctionDir("digits") / "spec.json").string()), *spec_before);
}

TEST_F(FunctionRegistryTest, ReplaceBumpsVersionAndShaAndDropsOldArtifact) {
  auto registry = OpenRegistry();
  ASSERT_TRUE(registry->Put(Spec("digits"), "v1", false).ok());
  auto v2 = registry->Put(Spec("digits"), "v2", /*replace=*/true);
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version(), 2u);
  EXPECT_EQ(v2->sha256(), common::Sha256Hex("v2"));
  EXPECT_EQ(*registry->Get("digits")->ReadArtifact(), "v2");
  EXPECT_THAT(FilesIn(FunctionDir("digits")),
              ::testing::ElementsAre(common::Sha256Hex("v2") + ".artifact", "spec.json"));

  // Same bytes again: a new version that keeps the artifact file.
  auto v3 = registry->Put(Spec("digits"), "v2", true);
  ASSERT_TRUE(v3.ok()) << v3.status();
  EXPECT_EQ(v3->version(), 3u);
  EXPECT_EQ(*registry->Get("digits")->ReadArtifact(), "v2");
  EXPECT_TRUE(fs::exists(FunctionDir("digits") / (common::Sha256Hex("v2") + ".artifact")));

  // replace=true on a new name creates version 1.
  auto fresh = registry->Put(Spec("fresh"), "x", true);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->version(), 1u);
}

TEST_F(FunctionRegistryTest, InvalidNamesAreRefused) {
  auto registry = OpenRegistry();
  for (const std::string& name :
       {std::string(""), std::string("../x"), std::string("A"), std::string(64, 'a'),
        std::string(".hidden"), std::string("a/b"), std::string("caf\xc3\xa9")}) {
    auto put = registry->Put(Spec(name), "bytes", false);
    EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument) << "name: " << name;
    EXPECT_THAT(std::string(put.status().message()), HasSubstr("[a-z0-9][a-z0-9_.-]{0,62}"));
  }
  EXPECT_TRUE(registry->List().empty());
  EXPECT_TRUE(FilesIn(dir_ / "functions").empty());
  EXPECT_TRUE(FunctionRegistry::ValidateName(std::string(63, 'a')).ok());
  EXPECT_TRUE(FunctionRegistry::ValidateName("0digits_v1.2-b").ok());
}

TEST_F(FunctionRegistryTest, ReopenSeesEverything) {
  {
    auto registry = OpenRegistry();
    ASSERT_TRUE(registry->Put(Spec("a"), "aaa", false).ok());
    ASSERT_TRUE(registry->Put(Spec("b"), "bbb", false).ok());
    ASSERT_TRUE(registry->Put(Spec("b"), "bbb2", true).ok());
    ASSERT_TRUE(registry->Put(Spec("c"), "ccc", false).ok());
    ASSERT_TRUE(registry->Delete("c").ok());
  }
  auto registry = OpenRegistry();
  auto list = registry->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name(), "a");
  EXPECT_EQ(list[1].name(), "b");
  EXPECT_EQ(list[1].version(), 2u);
  EXPECT_EQ(list[1].sha256(), common::Sha256Hex("bbb2"));
  EXPECT_EQ(list[1].slo_ms(), 25);
  EXPECT_EQ(list[1].inputs(0).name(), "pixels");
  EXPECT_EQ(*registry->Get("b")->ReadArtifact(), "bbb2");
  EXPECT_FALSE(registry->Get("c").ok());
  // Versions continue from the persisted one.
  EXPECT_EQ(registry->Put(Spec("b"), "bbb3", true)->version(), 3u);
}

TEST_F(FunctionRegistryTest, OpenIgnoresCrashLeftovers) {
  {
    auto registry = OpenRegistry();
    ASSERT_TRUE(registry->Put(Spec("good"), "good-bytes", false).ok());
    ASSERT_TRUE(registry->Put(Spec("orphan"), "orphan-bytes", false).ok());
    ASSERT_TRUE(registry->Put(Spec("corrupt"), "corrupt-bytes", false).ok());
  }
  // A temporary from an interrupted write, beside a committed function.
  const fs::path tmp = FunctionDir("good") / "spec.json.tmp.12345";
  std::ofstream(tmp) << "{half";
  // A spec whose artifact is gone.
  fs::remove(FunctionDir("orphan") / (common::Sha256Hex("orphan-bytes") + ".artifact"));
  // An artifact whose bytes no longer match the spec's sha256.
  std::ofstream(FunctionDir("corrupt") / (common::Sha256Hex("corrupt-bytes") + ".artifact"))
      << "flipped";
  // A Put that crashed before its spec was committed.
  fs::create_directories(FunctionDir("uncommitted"));
  std::ofstream(FunctionDir("uncommitted") / "abc.artifact") << "x";
  // A stale artifact of a replaced version.
  std::ofstream(FunctionDir("good") / "deadbeef.artifact") << "old";
  // Garbage that is not a function directory.
  std::ofstream(dir_ / "functions" / "README") << "hi";
  std::ofstream(dir_ / "policy.json.tmp.999") << "{";

  auto registry = OpenRegistry();
  auto list = registry->List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name(), "good");
  EXPECT_EQ(*registry->Get("good")->ReadArtifact(), "good-bytes");
  EXPECT_EQ(registry->Get("orphan").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry->Get("corrupt").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_FALSE(fs::exists(FunctionDir("good") / "deadbeef.artifact"));
  EXPECT_FALSE(fs::exists(FunctionDir("uncommitted")));
  EXPECT_FALSE(fs::exists(dir_ / "policy.json.tmp.999"));
  EXPECT_FALSE(registry->LoadPolicy().has_value());
  // The name of a skipped function can be registered again.
  EXPECT_TRUE(registry->Put(Spec("orphan"), "orphan-bytes", /*replace=*/true).ok());
}

TEST_F(FunctionRegistryTest, PolicyRoundTrip) {
  auto registry = OpenRegistry();
  EXPECT_FALSE(registry->LoadPolicy().has_value());
  const std::string policy = R"({"policy":"edge_only","slo_ms":50})";
  ASSERT_TRUE(registry->SavePolicy(policy).ok());
  EXPECT_EQ(registry->LoadPolicy().value_or(""), policy);
  ASSERT_TRUE(registry->SavePolicy(R"({"policy":"predictive"})").ok());
  auto reopened = OpenRegistry();
  EXPECT_EQ(reopened->LoadPolicy().value_or(""), R"({"policy":"predictive"})");
}

TEST_F(FunctionRegistryTest, FailedWriteLeavesMemoryAndDiskUnchanged) {
  auto registry = OpenRegistry();
  ASSERT_TRUE(registry->Put(Spec("digits"), "v1", false).ok());

  // We run as root, so permissions do not stop writes: make the function's
  // directory a regular file instead.
  fs::remove_all(FunctionDir("digits"));
  std::ofstream(FunctionDir("digits")) << "not a directory";
  auto replaced = registry->Put(Spec("digits"), "v2", /*replace=*/true);
  EXPECT_FALSE(replaced.ok());
  auto got = registry->Get("digits");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->spec.version(), 1u);
  // The test removed the file itself; the registry still names version 1's.
  EXPECT_EQ(got->artifact_size, 2u);
  EXPECT_EQ(fs::path(got->artifact_path).filename(), common::Sha256Hex("v1") + ".artifact");
  EXPECT_TRUE(fs::is_regular_file(FunctionDir("digits")));

  std::ofstream(FunctionDir("newfn")) << "blocks the directory";
  auto created = registry->Put(Spec("newfn"), "bytes", false);
  EXPECT_FALSE(created.ok());
  EXPECT_EQ(registry->Get("newfn").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry->List().size(), 1u);
  EXPECT_EQ(*common::ReadFile(FunctionDir("newfn").string()), "blocks the directory");
}

TEST_F(FunctionRegistryTest, FailedSpecCommitRemovesNewArtifact) {
  auto registry = OpenRegistry();
  ASSERT_TRUE(registry->Put(Spec("digits"), "v1", false).ok());
  // A directory where the spec's temporary file must go makes the commit fail
  // after the artifact was written.
  const fs::path blocker = FunctionDir("digits") / ("spec.json.tmp." + std::to_string(::getpid()));
  fs::create_directories(blocker / "x");
  auto replaced = registry->Put(Spec("digits"), "v2", true);
  EXPECT_FALSE(replaced.ok());
  fs::remove_all(blocker);
  EXPECT_EQ(*registry->Get("digits")->ReadArtifact(), "v1");
  EXPECT_THAT(FilesIn(FunctionDir("digits")),
              ::testing::ElementsAre(common::Sha256Hex("v1") + ".artifact", "spec.json"));
  auto reopened = OpenRegistry();
  EXPECT_EQ(reopened->Get("digits")->spec.version(), 1u);
}

TEST_F(FunctionRegistryTest, ConcurrentPutsAndReads) {
  auto registry = OpenRegistry();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const std::string name = "fn" + std::to_string(t);
        EXPECT_TRUE(registry->Put(Spec(name), "bytes" + std::to_string(i), true).ok());
        EXPECT_TRUE(registry->Get(name).ok());
        registry->List();
      }
    });
  }
  for (auto& t : threads) t.join();
  auto list = registry->List();
  ASSERT_EQ(list.size(), 4u);
  for (const auto& spec : list) EXPECT_EQ(spec.version(), 10u);
}

}  // namespace
}  // namespace stoa::gateway
