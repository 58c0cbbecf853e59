// The one matching of request tensors against declared inputs, used by the
// gateway's KServe check and by the ONNX runtimes.
#include "functions/signature.h"

#include <gtest/gtest.h>

#include <vector>

namespace stoa::functions {
namespace {

using Kind = SignatureMismatch::Kind;

Signature Declared() {
  Signature inputs;
  v1::TensorSignature* pixels = inputs.Add();
  pixels->set_name("pixels");
  pixels->set_datatype(v1::FP32);
  pixels->add_shape(-1);
  pixels->add_shape(64);
  v1::TensorSignature* any = inputs.Add();
  any->set_name("mask");  // any datatype, rank 1
  any->add_shape(-1);
  return inputs;
}

v1::Tensor Given(const std::string& name, v1::DataType type, std::vector<int64_t> shape) {
  v1::Tensor t;
  t.set_name(name);
  t.set_datatype(type);
  for (int64_t d : shape) t.add_shape(d);
  return t;
}

std::optional<SignatureMismatch> Mismatch(const std::vector<v1::Tensor>& given,
                                          MatchOptions options = {}) {
  return MatchInputs(Declared(), given, options).mismatch;
}

TEST(SignatureTest, BindsByNameInDeclaredOrder) {
  const std::vector<v1::Tensor> given = {Given("mask", v1::BOOL, {3}),
                                         Given("pixels", v1::FP32, {3, 64})};
  const Signature declared = Declared();
  InputMatch match = MatchInputs(declared, given);
  ASSERT_FALSE(match.mismatch.has_value());
  ASSERT_EQ(match.by_input.size(), 2u);
  EXPECT_EQ(match.by_input[0], &given[1]);
  EXPECT_EQ(match.by_input[1], &given[0]);
}

TEST(SignatureTest, FindsEachKindOfMismatch) {
  auto kind = [](const std::vector<v1::Tensor>& given) {
    std::optional<SignatureMismatch> m = Mismatch(given);
    return m.has_value() ? m->kind : static_cast<Kind>(-1);
  };
  EXPECT_EQ(kind({Given("img", v1::FP32, {1, 64})}), Kind::kUnknownInput);
  EXPECT_EQ(kind({Given("mask", v1::FP32, {1}), Given("mask", v1::FP32, {1})}),
            Kind::kDuplicateInput);
  EXPECT_EQ(kind({Given("pixels", v1::FP64, {1, 64})}), Kind::kDatatype);
  EXPECT_EQ(kind({Given("pixels", v1::FP32, {1, 63})}), Kind::kShape);
  EXPECT_EQ(kind({Given("pixels", v1::FP32, {64})}), Kind::kShape);
  EXPECT_EQ(kind({Given("pixels", v1::FP32, {-1, 64})}), Kind::kShape);
  EXPECT_EQ(kind({Given("pixels", v1::FP32, {1, 64})}), Kind::kMissingInput);

  std::optional<SignatureMismatch> m =
      Mismatch({Given("mask", v1::INT8, {2}), Given("pixels", v1::FP32, {2, 8})});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->given, 1u);
  EXPECT_EQ(m->declared, 0u);
}

TEST(SignatureTest, UnnamedTensorOnlyForASingleInputWhenAsked) {
  Signature one;
  one.Add()->set_name("x");
  const std::vector<v1::Tensor> unnamed = {Given("", v1::FP32, {})};
  EXPECT_EQ(MatchInputs(one, unnamed).mismatch->kind, Kind::kUnknownInput);
  EXPECT_FALSE(MatchInputs(one, unnamed, {.unnamed_single_input = true}).mismatch.has_value());
  EXPECT_EQ(Mismatch(unnamed, {.unnamed_single_input = true})->kind, Kind::kUnknownInput);
}

TEST(SignatureTest, RuntimeWording) {
  const Signature declared = Declared();
  auto message = [&](const std::vector<v1::Tensor>& given) {
    InputMatch match = MatchInputs(declared, given);
    EXPECT_TRUE(match.mismatch.has_value());
    absl::Status s = InputMismatchError(*match.mismatch, declared, given);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    return std::string(s.message());
  };
  EXPECT_EQ(message({Given("img", v1::FP32, {1})}),
            "unexpected input 'img' (the function takes 'pixels', 'mask')");
  EXPECT_EQ(message({Given("mask", v1::FP32, {1}), Given("mask", v1::FP32, {1})}),
            "input 'mask' is given twice");
  EXPECT_EQ(message({Given("mask", v1::FP32, {1})}), "missing input 'pixels' (FP32 [-1,64])");
  EXPECT_EQ(message({Given("pixels", v1::INT64, {1, 64})}),
            "input 'pixels': expected datatype FP32, got INT64");
  EXPECT_EQ(message({Given("pixels", v1::FP32, {1, 63})}),
            "input 'pixels': expected shape [-1,64], got [1,63]");
}

TEST(SignatureTest, ShapeString) {
  EXPECT_EQ(ShapeString(std::vector<int64_t>{}), "[]");
  EXPECT_EQ(ShapeString(std::vector<int64_t>{-1, 64}), "[-1,64]");
}

}  // namespace
}  // namespace stoa::functions
