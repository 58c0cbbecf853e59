#include "common/file_util.h"

#include <filesystem>

#include "common/sha256.h"
#include "gtest/gtest.h"

namespace stoa::common {
namespace {

TEST(FileUtilTest, AtomicWriteReplacesContentsAndLeavesNoTemporary) {
  std::string dir = ::testing::TempDir() + "/atomic";
  ASSERT_TRUE(MakeDirs(dir).ok());
  std::string path = dir + "/f";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "new contents").ok());
  EXPECT_EQ(*ReadFile(path), "new contents");
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(FileUtilTest, WriteIntoMissingDirectoryFails) {
  EXPECT_FALSE(WriteFileAtomically("/nonexistent-dir/x", "y").ok());
}

TEST(Sha256Test, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace stoa::common
