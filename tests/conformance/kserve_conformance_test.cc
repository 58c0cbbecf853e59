// Every pass-listed ONNX backend test also through the KServe codecs (JSON
// and binary, tests/conformance/kserve_path.h): the API and the engine
// agree on every datatype the pass list covers.
#include <cstdlib>
#include <filesystem>

#include "functions/onnx/op_registry.h"
#include "gtest/gtest.h"
#include "tests/conformance/conformance_runner.h"
#include "tests/conformance/kserve_path.h"

namespace stoa::conformance {
namespace {

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

TEST(KserveConformanceTest, PassListThroughTheApiCodecs) {
  const std::string root = Env("STOA_ONNX_TESTDATA", "/usr/share/libonnx-testdata/data");
  if (!std::filesystem::is_directory(root)) GTEST_SKIP() << "no ONNX test data under " << root;
  const std::vector<std::string> listed =
      ReadPassList(Env("STOA_SOURCE_DIR", ".") + "/tests/conformance/pass_list.txt");
  ASSERT_FALSE(listed.empty());
  const functions::onnx::OpRegistry registry = functions::onnx::DefaultOpRegistry();
  int passed = 0;
  for (const std::string& name : listed) {
    const std::string why = RunThroughKserve(root + "/" + name, registry);
    if (why.empty()) {
      ++passed;
    } else {
      ADD_FAILURE() << name << " through the KServe codec: " << why;
    }
  }
  std::cout << passed << " of " << listed.size() << " pass-listed tests agree through the API\n";
}

}  // namespace
}  // namespace stoa::conformance
