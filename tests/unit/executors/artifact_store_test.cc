// ArtifactStore (executors/artifact_store.h): keys resolve strictly inside
// the store, to regular files whose bytes match the spec's sha256.
#include "executors/artifact_store.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/sha256.h"
#include "gtest/gtest.h"

namespace stoa::executors {
namespace {

namespace fs = std::filesystem;

class ArtifactStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("artifact_store_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "store" / "sha256");
    fs::create_directories(root_ / "outside");
    auto store = ArtifactStore::Open((root_ / "store").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_.emplace(*std::move(store));
  }
  void TearDown() override { fs::remove_all(root_); }

  static void Write(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  // Puts `bytes` in the store under their digest; returns the digest.
  std::string Put(const std::string& bytes) {
    const std::string sha = common::Sha256Hex(bytes);
    Write(root_ / "store" / "sha256" / sha, bytes);
    return sha;
  }

  fs::path root_;
  std::optional<ArtifactStore> store_;
};

TEST_F(ArtifactStoreTest, ResolvesAKeyToTheCanonicalFile) {
  const std::string sha = Put("model bytes");
  auto path = store_->Resolve(StoreKey(sha), sha);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, fs::canonical(root_ / "store" / "sha256" / sha).string());
}

TEST_F(ArtifactStoreTest, RefusesKeysThatAreNotStoreKeys) {
  const std::string sha = Put("x");
  Write(root_ / "outside" / sha, "x");
  for (const std::string& key :
       {std::string("../outside/") + sha, "sha256/../../outside/" + sha.substr(0, 52),
        (root_ / "store" / "sha256" / sha).string(), "sha256/" + sha + "/", "md5/" + sha,
        "sha256/" + std::string(64, 'A'), std::string("sha256/"), std::string()}) {
    auto path = store_->Resolve(key, sha);
    EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument) << key;
  }
}

TEST_F(ArtifactStoreTest, RefusesAKeyForAnotherDigest) {
  const std::string sha = Put("one");
  const std::string other = common::Sha256Hex("two");
  auto path = store_->Resolve(StoreKey(sha), other);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(path.status().message().find("does not name the spec's sha256"), std::string::npos)
      << path.status();
}

TEST_F(ArtifactStoreTest, RefusesASymbolicLinkEvenToAGoodFile) {
  const std::string bytes = "linked";
  const std::string sha = common::Sha256Hex(bytes);
  Write(root_ / "outside" / "real", bytes);
  fs::create_symlink(root_ / "outside" / "real", root_ / "store" / "sha256" / sha);
  auto path = store_->Resolve(StoreKey(sha), sha);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kPermissionDenied) << path.status();
}

TEST_F(ArtifactStoreTest, RefusesALinkedDirectoryLeadingOutside) {
  const std::string bytes = "escaped";
  const std::string sha = common::Sha256Hex(bytes);
  fs::remove_all(root_ / "store" / "sha256");
  fs::create_directories(root_ / "outside" / "sha256");
  Write(root_ / "outside" / "sha256" / sha, bytes);
  fs::create_directory_symlink(root_ / "outside" / "sha256", root_ / "store" / "sha256");
  auto path = store_->Resolve(StoreKey(sha), sha);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kPermissionDenied) << path.status();
  EXPECT_NE(path.status().message().find("outside"), std::string::npos) << path.status();
}

TEST_F(ArtifactStoreTest, RefusesCorruptedBytes) {
  const std::string sha = Put("original");
  Write(root_ / "store" / "sha256" / sha, "tampered");
  auto path = store_->Resolve(StoreKey(sha), sha);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss) << path.status();
}

TEST_F(ArtifactStoreTest, MissingFileAndDirectoryAreNotFoundAndNotRegular) {
  const std::string sha = common::Sha256Hex("absent");
  EXPECT_EQ(store_->Resolve(StoreKey(sha), sha).status().code(), absl::StatusCode::kNotFound);
  fs::create_directory(root_ / "store" / "sha256" / sha);
  EXPECT_EQ(store_->Resolve(StoreKey(sha), sha).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ArtifactStoreTest, OpenRefusesAMissingDirectory) {
  EXPECT_EQ(ArtifactStore::Open((root_ / "nope").string()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StoreKeyOfTest, NamesOnlyTheStoresFileOfThatDigest) {
  const std::string sha = common::Sha256Hex("a");
  EXPECT_EQ(StoreKeyOf("/srv/store", "/srv/store/sha256/" + sha, sha), "sha256/" + sha);
  EXPECT_EQ(StoreKeyOf("/srv/store/", "/srv/store//sha256/./" + sha, sha), "sha256/" + sha);
  EXPECT_EQ(StoreKeyOf("/srv/store", "/srv/other/sha256/" + sha, sha), std::nullopt);
  EXPECT_EQ(StoreKeyOf("/srv/store", "/srv/store/sha256/" + sha, common::Sha256Hex("b")),
            std::nullopt);
  EXPECT_EQ(StoreKeyOf("", "/srv/store/sha256/" + sha, sha), std::nullopt);
  EXPECT_EQ(StoreKeyOf("/srv/store", "/srv/store/sha256/" + sha, ""), std::nullopt);
}

}  // namespace
}  // namespace stoa::executors
