// Registration from files (issue 12 item 5): the multipart parser that works
// on a spooled upload by offsets (ParseMultipartFile) must agree with the
// in-memory one (ParseMultipart) on every body, including parts and
// boundaries that straddle its 1 MiB read windows; and `"source":
// "file:///…"` must never escape the directories the operator allowed.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/artifact_file.h"
#include "gateway/artifact_source.h"
#include "gateway/multipart.h"
#include "gateway/multipart_file.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

namespace fs = std::filesystem;

class ArtifactFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("stoa_artifact_files_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& data) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary)
        .write(data.data(), static_cast<std::streamsize>(data.size()));
    return path;
  }

  // Parses `body` both ways; expects the same outcome.
  void ExpectAgree(const std::string& content_type, const std::string& body) {
    auto memory = ParseMultipart(content_type, body);
    const std::string path = Write("upload", body);
    auto file = ParseMultipartFile(content_type, path, body.size());
    ASSERT_EQ(memory.ok(), file.ok())
        << "memory: " << memory.status() << "\nfile: " << file.status();
    if (!memory.ok()) {
      EXPECT_EQ(memory.status(), file.status());
      return;
    }
    ASSERT_EQ(memory->size(), file->size());
    for (size_t i = 0; i < memory->size(); ++i) {
      const MultipartPart& m = (*memory)[i];
      const FilePart& f = (*file)[i];
      EXPECT_EQ(m.name, f.head.name);
      EXPECT_EQ(m.filename, f.head.filename);
      EXPECT_EQ(m.content_type, f.head.content_type);
      ASSERT_EQ(m.body.size(), f.length) << "part " << i + 1;
      auto bytes = common::ReadFileRange(path, f.offset, f.length);
      ASSERT_TRUE(bytes.ok()) << bytes.status();
      EXPECT_TRUE(*bytes == m.body) << "part " << i + 1 << " differs";
    }
  }

  fs::path dir_;
};

constexpr char kType[] = "multipart/form-data; boundary=XyZ";

std::string Part(const std::string& name, const std::string& body,
                 const std::string& extra_headers = "") {
  return absl::StrCat("--XyZ\r\nContent-Disposition: form-data; name=\"", name, "\"\r\n",
                      extra_headers, "\r\n", body, "\r\n");
}

TEST_F(ArtifactFilesTest, FileParserAgreesWithMemoryParserOnWellFormedBodies) {
  ExpectAgree(kType, Part("spec", "{}") + "--XyZ--\r\n");
  ExpectAgree(kType, "preamble\r\n" + Part("spec", "{}") + "--XyZ--");
  ExpectAgree(kType, Part("spec", "") +
                         Part("artifact", "\r\n--XyZ-not-quite\r\n--",
                              "Content-Type: application/octet-stream\r\n") +
                         "--XyZ--\r\n");
}

TEST_F(ArtifactFilesTest, FileParserAgreesOnMalformedBodies) {
  ExpectAgree(kType, "");                  // no boundary at all
  ExpectAgree(kType, Part("spec", "{}"));  // no closing boundary
  ExpectAgree(kType, "--XyZ\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n{}");
  ExpectAgree(kType, Part("spec", "a") + Part("spec", "b") + "--XyZ--");  // a repeated name
  ExpectAgree(kType, "--XyZ\r\nX-Other: 1\r\n\r\nbody\r\n--XyZ--");       // no disposition
  std::string many;
  for (int i = 0; i < 9; ++i) many += Part(absl::StrCat("p", i), "x");
  ExpectAgree(kType, many + "--XyZ--");                                // over kMaxMultipartParts
  ExpectAgree("multipart/form-data", Part("spec", "{}") + "--XyZ--");  // no boundary parameter
}

// The file is read in windows of common::kArtifactChunkBytes: a delimiter
// split across two windows, or a body that ends exactly at a window's end,
// must be found as in memory.
TEST_F(ArtifactFilesTest, DelimitersStraddlingReadWindowsAreFound) {
  const std::string head =
      Part("spec", "{}") + "--XyZ\r\nContent-Disposition: form-data; name=\"artifact\"\r\n\r\n";
  const uint64_t window = common::kArtifactChunkBytes;
  for (uint64_t shift : {0, 1, 2, 3, 4, 5, 6, 7, 8}) {
    // The artifact ends so that "\r\n--XyZ" starts `shift` bytes before the
    // first window ends.
    const uint64_t artifact_size = window - head.size() - shift;
    std::string artifact(artifact_size, 'a');
    ExpectAgree(kType, head + artifact + "\r\n--XyZ--\r\n");
  }
}

TEST_F(ArtifactFilesTest, RandomBinaryArtifactsAgree) {
  std::mt19937 rng(7);
  const std::string alphabet("-\r\nXyZ\0ab", 9);  // delimiter pieces, a NUL
  for (int round = 0; round < 40; ++round) {
    const size_t size = round < 30 ? rng() % 4096 : common::kArtifactChunkBytes + rng() % 4096;
    std::string artifact(size, '\0');
    for (char& c : artifact) c = alphabet[rng() % alphabet.size()];
    ExpectAgree(kType, Part("spec", "{\"name\":\"f\"}") + Part("artifact", artifact) + "--XyZ--");
  }
}

TEST_F(ArtifactFilesTest, FileSourceMustLieUnderAnAllowedDirectory) {
  fs::create_directories(dir_ / "models" / "sub");
  fs::create_directories(dir_ / "secret");
  const std::string model = Write("models/sub/m.onnx", "onnx");
  Write("secret/key", "k");
  const std::string allowed = (dir_ / "models").string();
  auto ok = ResolveFileSource("file://" + model, {allowed});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, fs::canonical(model).string());

  auto code = [&](const std::string& uri, std::vector<std::string> dirs) {
    return ResolveFileSource(uri, dirs).status().code();
  };
  using absl::StatusCode;
  // No --artifact-source-dir: every source is refused, naming the flag.
  auto none = ResolveFileSource("file://" + model, {});
  EXPECT_EQ(none.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(none.status().message().find("--artifact-source-dir"), std::string::npos)
      << none.status();
  // ".." and a symbolic link inside the allowed directory do not escape it.
  EXPECT_EQ(code("file://" + allowed + "/../secret/key", {allowed}), StatusCode::kPermissionDenied);
  fs::create_symlink(dir_ / "secret" / "key", dir_ / "models" / "link");
  EXPECT_EQ(code("file://" + allowed + "/link", {allowed}), StatusCode::kPermissionDenied);
  // A sibling whose name starts with the allowed one is not under it.
  fs::create_directories(dir_ / "models-evil");
  const std::string evil = Write("models-evil/m.onnx", "x");
  EXPECT_EQ(code("file://" + evil, {allowed}), StatusCode::kPermissionDenied);
  // Not a file URI, a host, percent-escapes, relative: refused as malformed.
  EXPECT_EQ(code("http://h" + model, {allowed}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("file://host" + model, {allowed}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("file://" + allowed + "/sub/m%2eonnx", {allowed}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("models/sub/m.onnx", {allowed}), StatusCode::kInvalidArgument);
  // Missing, and not a regular file.
  EXPECT_EQ(code("file://" + allowed + "/sub/none.onnx", {allowed}), StatusCode::kNotFound);
  EXPECT_EQ(code("file://" + allowed + "/sub", {allowed}), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stoa::gateway
