// The real example model (functions/examples/digits) through the real
// runtimes and the InProcessExecutor; skipped when the model is absent.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "executors/in_process_executor.h"
#include "gtest/gtest.h"
#include "tests/fakes/executors/fake_runtime.h"

namespace stoa::executors {
namespace {

using ::stoa::executors::testing::Await;
using ::stoa::executors::testing::FloatTensor;
using ::stoa::executors::testing::FloatValues;

// The real example model through the real runtimes, when both exist.
TEST(InProcessExecutorDigitsTest, DigitsModelClassifiesHeldOutImages) {
  const char* source = std::getenv("STOA_SOURCE_DIR");
  const std::filesystem::path dir =
      std::filesystem::path(source ? source : ".") / "functions/examples/digits";
  std::ifstream model_file(dir / "digits.onnx", std::ios::binary);
  if (!model_file) GTEST_SKIP() << "no " << (dir / "digits.onnx");
  functions::RuntimeSet runtimes = functions::DefaultRuntimes();
  if (runtimes.Find("onnx") == nullptr) GTEST_SKIP() << "no onnx runtime in this build";
  std::stringstream model;
  model << model_file.rdbuf();

  InProcessExecutor ex(runtimes, InProcessExecutor::Options{2, "cpu", ""}, nullptr);
  v1::LoadFunctionRequest load;
  load.mutable_spec()->set_name("digits");
  load.mutable_spec()->set_runtime("onnx");
  load.set_artifact(model.str());
  auto loaded = Await<v1::LoadFunctionResponse>([&](auto done) { ex.LoadFunction(load, done); });
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_GT(loaded->load_us(), 0u);

  // test_split.csv: 64 pixel values then the label, one image per line.
  std::ifstream csv(dir / "test_split.csv");
  ASSERT_TRUE(csv) << "no test_split.csv";
  std::string line;
  int total = 0;
  int correct = 0;
  while (std::getline(csv, line)) {
    std::vector<float> values;
    std::stringstream fields(line);
    std::string field;
    while (std::getline(fields, field, ',')) {
      char* end = nullptr;
      const float v = std::strtof(field.c_str(), &end);
      if (end == field.c_str()) break;  // header line
      values.push_back(v);
    }
    if (values.size() != 65) continue;
    const int label = static_cast<int>(values.back());
    values.pop_back();
    v1::InvokeRequest request;
    request.set_function("digits");
    request.set_sha256(loaded->spec().sha256());
    v1::Tensor* t = request.add_inputs();
    *t = FloatTensor("pixels", values);
    t->clear_shape();
    t->add_shape(1);
    t->add_shape(64);
    auto out = Await<v1::InvokeResponse>([&](auto done) { ex.Invoke(request, done); });
    ASSERT_TRUE(out.ok()) << out.status();
    std::vector<float> probs = FloatValues(out->outputs(0));
    ASSERT_EQ(probs.size(), 10u);
    int best = 0;
    for (int i = 1; i < 10; ++i) {
      if (probs[i] > probs[best]) best = i;
    }
    ++total;
    if (best == label) ++correct;
  }
  ASSERT_GT(total, 0);
  EXPECT_GE(correct * 100, total * 95) << correct << " of " << total << " correct";
}

}  // namespace
}  // namespace stoa::executors
