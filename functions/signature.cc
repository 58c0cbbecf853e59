#include "functions/signature.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace stoa::functions {
namespace {

std::span<const int64_t> Dims(const google::protobuf::RepeatedField<int64_t>& shape) {
  return {shape.data(), static_cast<size_t>(shape.size())};
}

bool ShapeMatches(const v1::TensorSignature& sig, const v1::Tensor& t) {
  if (sig.shape_size() != t.shape_size()) return false;
  for (int d = 0; d < sig.shape_size(); ++d) {
    if (t.shape(d) < 0 || (sig.shape(d) >= 0 && sig.shape(d) != t.shape(d))) return false;
  }
  return true;
}

// FP16 is accepted for FP32: the runtimes widen it (onnx/wire_tensor.h).
bool DatatypeMatches(v1::DataType declared, v1::DataType given) {
  return declared == v1::DATA_TYPE_UNSPECIFIED || declared == given ||
         (declared == v1::FP32 && given == v1::FP16);
}

// The declared input `t` names, or declared.size() when none.
size_t FindInput(const Signature& declared, const v1::Tensor& t, MatchOptions options) {
  for (int i = 0; i < declared.size(); ++i) {
    if (declared[i].name() == t.name()) return static_cast<size_t>(i);
  }
  if (options.unnamed_single_input && t.name().empty() && declared.size() == 1) return 0;
  return static_cast<size_t>(declared.size());
}

}  // namespace

InputMatch MatchInputs(const Signature& declared, std::span<const v1::Tensor> given,
                       MatchOptions options) {
  using Kind = SignatureMismatch::Kind;
  InputMatch match;
  match.by_input.assign(static_cast<size_t>(declared.size()), nullptr);
  for (size_t g = 0; g < given.size(); ++g) {
    const v1::Tensor& t = given[g];
    const size_t i = FindInput(declared, t, options);
    std::optional<Kind> kind;
    if (i == match.by_input.size()) {
      kind = Kind::kUnknownInput;
    } else if (match.by_input[i] != nullptr) {
      kind = Kind::kDuplicateInput;
    } else if (!DatatypeMatches(declared[i].datatype(), t.datatype())) {
      kind = Kind::kDatatype;
    } else if (!ShapeMatches(declared[i], t)) {
      kind = Kind::kShape;
    }
    if (kind.has_value()) {
      match.mismatch = SignatureMismatch{.kind = *kind, .given = g, .declared = i};
      return match;
    }
    match.by_input[i] = &t;
  }
  for (size_t i = 0; i < match.by_input.size(); ++i) {
    if (match.by_input[i] == nullptr) {
      match.mismatch = SignatureMismatch{.kind = Kind::kMissingInput, .declared = i};
      return match;
    }
  }
  return match;
}

absl::Status InputMismatchError(const SignatureMismatch& mismatch, const Signature& declared,
                                std::span<const v1::Tensor> given) {
  using Kind = SignatureMismatch::Kind;
  if (mismatch.kind == Kind::kUnknownInput) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected input '", given[mismatch.given].name(), "' (the function takes ",
                     InputNames(declared), ")"));
  }
  const v1::TensorSignature& sig = declared[static_cast<int>(mismatch.declared)];
  const std::string where = absl::StrCat("input '", sig.name(), "'");
  switch (mismatch.kind) {
    case Kind::kDuplicateInput:
      return absl::InvalidArgumentError(absl::StrCat(where, " is given twice"));
    case Kind::kMissingInput:
      return absl::InvalidArgumentError(absl::StrCat("missing ", where, " (",
                                                     v1::DataType_Name(sig.datatype()), " ",
                                                     ShapeString(Dims(sig.shape())), ")"));
    case Kind::kDatatype:
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected datatype ", v1::DataType_Name(sig.datatype()), ", got ",
                       v1::DataType_Name(given[mismatch.given].datatype())));
    case Kind::kUnknownInput:  // worded above
    case Kind::kShape:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(where, ": expected shape ",
                                                 ShapeString(Dims(sig.shape())), ", got ",
                                                 ShapeString(Dims(given[mismatch.given].shape()))));
}

std::string InputNames(const Signature& declared) {
  return absl::StrJoin(declared, ", ", [](std::string* out, const v1::TensorSignature& sig) {
    absl::StrAppend(out, "'", sig.name(), "'");
  });
}

std::string ShapeString(std::span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape.begin(), shape.end(), ","), "]");
}

}  // namespace stoa::functions
