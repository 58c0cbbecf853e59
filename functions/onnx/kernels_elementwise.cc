// Elementwise ops with numpy broadcasting (broadcast.h): arithmetic (Add,
// Sub, Mul, Div on FP32/FP64/INT64/INT32; Pow on FP32), unary math and
// activations on FP32 (Sqrt, Exp, Log, Neg, Abs, Erf, Relu, LeakyRelu, PRelu, Sigmoid, HardSigmoid,
// Tanh, Clip, Elu, Selu, Softplus, Softsign, Reciprocal, Floor, Ceil), Dropout (inference:
// identity) and Cast.
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/broadcast.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/narrow_int.h"
#include "functions/onnx/tensor_proto.h"

namespace stoa::functions::onnx {
namespace {

enum class Arith { kAdd, kSub, kMul, kDiv };

template <Arith kOp>
absl::StatusOr<std::vector<Tensor>> RunArith(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(SameType(node, in));
  if (in[0]->type() == ElementType::kBool) {
    return absl::InvalidArgumentError("arithmetic on BOOL tensors is not supported");
  }
  const ElementType type = in[0]->type();
  absl::StatusOr<Tensor> y = VisitType(type, [&](auto zero) -> absl::StatusOr<Tensor> {
    using T = decltype(zero);
    return Broadcast2<T, T>(*in[0], *in[1], type, [](T a, T b) -> T {
      if constexpr (kOp == Arith::kAdd) return a + b;
      if constexpr (kOp == Arith::kSub) return a - b;
      if constexpr (kOp == Arith::kMul) return a * b;
      if constexpr (kOp == Arith::kDiv) {
        if constexpr (std::is_integral_v<T>) return b == 0 ? T{0} : a / b;
        return a / b;
      }
    });
  });
  if (!y.ok()) return y.status();
  return One(*std::move(y));
}

// Pow: the result has the base's type (FP32, FP64, INT64, INT32); the
// exponent may have another numeric type. Integer bases compute in double.
absl::StatusOr<std::vector<Tensor>> RunPow(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  RETURN_IF_ERROR(ExpectPresent(in, 1));
  (void)node;
  if (in[0]->type() == ElementType::kBool || in[1]->type() == ElementType::kBool) {
    return absl::InvalidArgumentError("Pow on BOOL is not supported");
  }
  auto as_double = [](const Tensor& t) {
    std::vector<double> v(static_cast<size_t>(t.size()));
    VisitType(t.type(), [&](auto zero) {
      using T = decltype(zero);
      std::span<const T> src = View<T>(t);
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(src[i]);
      return 0;
    });
    return Tensor::Float64(t.shape(), std::move(v));
  };
  const ElementType type = in[0]->type();
  if (type == ElementType::kFloat32 && in[1]->type() == ElementType::kFloat32 &&
      in[1]->size() == 1 && (in[1]->floats()[0] == 2.0f || in[1]->floats()[0] == 0.5f)) {
    // Squares (power spectra, variances) and square roots: no std::pow.
    const bool square = in[1]->floats()[0] == 2.0f;
    ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(in[0]->shape(), in[1]->shape()));
    RETURN_IF_ERROR(CheckAllocation(type, shape));
    Tensor y = Tensor::Zeros(shape);
    ConstArrayMap x(in[0]->floats().data(), in[0]->size());
    ArrayMap out(y.mutable_floats().data(), y.size());
    if (square) {
      out = x.square();
    } else {
      out = x.sqrt();
    }
    return One(std::move(y));
  }
  if (type == ElementType::kFloat32 && in[1]->type() == ElementType::kFloat32) {
    ASSIGN_OR_RETURN(Tensor y,
                     (Broadcast2<float, float>(*in[0], *in[1], type,
                                               [](float a, float b) { return std::pow(a, b); })));
    return One(std::move(y));
  }
  ASSIGN_OR_RETURN(Tensor wide, (Broadcast2<double, double>(
                                    as_double(*in[0]), as_double(*in[1]), ElementType::kFloat64,
                                    [](double a, double b) { return std::pow(a, b); })));
  Tensor y = Tensor::Empty(type, wide.shape());
  VisitType(type, [&](auto zero) {
    using T = decltype(zero);
    std::span<T> dst = MutableView<T>(y);
    std::span<const double> src = wide.float64s();
    for (size_t i = 0; i < dst.size(); ++i) dst[i] = static_cast<T>(src[i]);
    return 0;
  });
  return One(std::move(y));
}

template <typename ArrayOp>
absl::StatusOr<std::vector<Tensor>> UnaryFloat(const Node& node, KernelInputs in, ArrayOp op) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  const Tensor& x = *in[0];
  Tensor y = Tensor::Uninitialized(x.shape());
  ArrayMap(y.mutable_floats().data(), y.size()) = op(ConstArrayMap(x.floats().data(), x.size()));
  return One(std::move(y));
}

// Neg and Abs also on integers.
template <bool kNeg>
absl::StatusOr<std::vector<Tensor>> RunSignOp(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  (void)node;
  Tensor y = *in[0];
  if (y.type() == ElementType::kBool) return absl::InvalidArgumentError("BOOL is not supported");
  VisitType(y.type(), [&](auto zero) {
    using T = decltype(zero);
    for (T& v : MutableView<T>(y)) {
      if constexpr (kNeg) {
        v = static_cast<T>(-v);
      } else {
        v = v < T{0} ? static_cast<T>(-v) : v;
      }
    }
    return 0;
  });
  return One(std::move(y));
}

absl::StatusOr<std::vector<Tensor>> RunSqrt(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in, [](const auto& x) { return x.sqrt(); });
}
absl::StatusOr<std::vector<Tensor>> RunExp(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in, [](const auto& x) { return x.exp(); });
}
absl::StatusOr<std::vector<Tensor>> RunLog(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in, [](const auto& x) { return x.log(); });
}
absl::StatusOr<std::vector<Tensor>> RunErf(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in,
                    [](const auto& x) { return x.unaryExpr([](float v) { return std::erf(v); }); });
}
absl::StatusOr<std::vector<Tensor>> RunRelu(const Node& node, KernelInputs in) {
  if (HasInput(in, 0) && IsNarrowInteger(in[0]->type())) return RunWidened(node, in, RunRelu);
  return UnaryFloat(node, in, [](const auto& x) { return x.max(0.0f); });
}
absl::StatusOr<std::vector<Tensor>> RunSigmoid(const Node& node, KernelInputs in) {
  // exp(-x) overflows to inf for very negative x, giving exactly 0: no NaN.
  return UnaryFloat(node, in, [](const auto& x) { return 1.0f / (1.0f + (-x).exp()); });
}
absl::StatusOr<std::vector<Tensor>> RunTanh(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in, [](const auto& x) { return x.tanh(); });
}

absl::StatusOr<std::vector<Tensor>> RunReciprocal(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in, [](const auto& x) { return x.inverse(); });
}
absl::StatusOr<std::vector<Tensor>> RunFloor(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in, [](const auto& x) { return x.floor(); });
}
absl::StatusOr<std::vector<Tensor>> RunCeil(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in, [](const auto& x) { return x.ceil(); });
}
absl::StatusOr<std::vector<Tensor>> RunSoftsign(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in, [](const auto& x) { return x / (1.0f + x.abs()); });
}
// log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|)).
absl::StatusOr<std::vector<Tensor>> RunSoftplus(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in, [](const auto& x) { return x.max(0.0f) + (-x.abs()).exp().log1p(); });
}

absl::Status ValidateAlphaBeta(const Node& node) {
  RETURN_IF_ERROR(node.attributes.GetFloat("alpha", 0.0f).status());
  return node.attributes.GetFloat("beta", 0.0f).status();
}

absl::StatusOr<std::vector<Tensor>> RunLeakyRelu(const Node& node, KernelInputs in) {
  ASSIGN_OR_RETURN(float alpha, node.attributes.GetFloat("alpha", 0.01f));
  // x or alpha * x exactly, vectorised (Eigen 3.4's select is not).
  return UnaryFloat(node, in, [alpha](const auto& x) { return x.max(0.0f) + alpha * x.min(0.0f); });
}

absl::StatusOr<std::vector<Tensor>> RunElu(const Node& node, KernelInputs in) {
  ASSIGN_OR_RETURN(float alpha, node.attributes.GetFloat("alpha", 1.0f));
  return UnaryFloat(
      node, in, [alpha](const auto& x) { return (x < 0.0f).select(alpha * (x.exp() - 1.0f), x); });
}

absl::StatusOr<std::vector<Tensor>> RunSelu(const Node& node, KernelInputs in) {
  ASSIGN_OR_RETURN(float alpha, node.attributes.GetFloat("alpha", 1.67326319217681884765625f));
  ASSIGN_OR_RETURN(float gamma, node.attributes.GetFloat("gamma", 1.05070102214813232421875f));
  return UnaryFloat(node, in, [=](const auto& x) {
    return gamma * (x <= 0.0f).select(alpha * (x.exp() - 1.0f), x);
  });
}

absl::Status ValidateSelu(const Node& node) {
  RETURN_IF_ERROR(node.attributes.GetFloat("alpha", 0.0f).status());
  return node.attributes.GetFloat("gamma", 0.0f).status();
}

absl::StatusOr<std::vector<Tensor>> RunHardSigmoid(const Node& node, KernelInputs in) {
  ASSIGN_OR_RETURN(float alpha, node.attributes.GetFloat("alpha", 0.2f));
  ASSIGN_OR_RETURN(float beta, node.attributes.GetFloat("beta", 0.5f));
  return UnaryFloat(node, in,
                    [=](const auto& x) { return (alpha * x + beta).max(0.0f).min(1.0f); });
}

// PRelu: slope broadcasts (unidirectionally) to X. Before opset 7 a 1-D
// slope of X.shape[1] values is per channel (axis 1).
absl::StatusOr<std::vector<Tensor>> RunPRelu(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  RETURN_IF_ERROR(ExpectFloat(node, in, 1));
  Tensor slope = *in[1];
  const Tensor& x = *in[0];
  if (node.opset < 7 && slope.rank() == 1 && x.rank() >= 2 && slope.size() == x.shape()[1] &&
      slope.size() > 1) {
    Shape s(x.rank() - 1, 1);
    s[0] = slope.size();
    slope = std::move(slope).Reshaped(std::move(s));
  }
  absl::StatusOr<Shape> shape = BroadcastShapes(x.shape(), slope.shape());
  if (!shape.ok() || *shape != x.shape()) {
    return absl::InvalidArgumentError(absl::StrCat("slope ", ShapeString(in[1]->shape()),
                                                   " does not broadcast to X ",
                                                   ShapeString(x.shape())));
  }
  ASSIGN_OR_RETURN(
      Tensor y, (Broadcast2<float, float>(x, slope, ElementType::kFloat32,
                                          [](float v, float s) { return v < 0.0f ? s * v : v; })));
  return One(std::move(y));
}

// Clip: min/max attributes before opset 11, optional scalar inputs from 11.
absl::StatusOr<std::vector<Tensor>> RunClip(const Node& node, KernelInputs in) {
  if (HasInput(in, 0) && IsNarrowInteger(in[0]->type())) return RunWidened(node, in, RunClip);
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
  if (node.opset < 11) {
    ASSIGN_OR_RETURN(lo, node.attributes.GetFloat("min", lo));
    ASSIGN_OR_RETURN(hi, node.attributes.GetFloat("max", hi));
  } else {
    for (int i = 1; i <= 2; ++i) {
      if (!HasInput(in, i)) continue;
      RETURN_IF_ERROR(ExpectFloat(node, in, i));
      if (in[i]->size() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("input #", i, " must be a scalar, got ", ShapeString(in[i]->shape())));
      }
      (i == 1 ? lo : hi) = in[i]->floats()[0];
    }
  }
  return UnaryFloat(node, in, [=](const auto& x) { return x.max(lo).min(hi); });
}

// Dropout at inference: Y = X; the optional mask is all true. An explicit
// training_mode input that is true is refused unless the ratio is 0.
absl::StatusOr<std::vector<Tensor>> RunDropout(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  if (HasInput(in, 2)) {
    if (in[2]->type() != ElementType::kBool || in[2]->size() != 1) {
      return absl::InvalidArgumentError("training_mode must be a BOOL scalar");
    }
    // Training with ratio 0 drops nothing: the same identity (ONNX's reference).
    const bool zero_ratio = HasInput(in, 1) && in[1]->type() == ElementType::kFloat32 &&
                            in[1]->size() == 1 && in[1]->floats()[0] == 0.0f;
    if (in[2]->bools()[0] != 0 && !zero_ratio) {
      return absl::InvalidArgumentError(
          "training_mode true with a non-zero ratio is not supported (inference only)");
    }
  }
  std::vector<Tensor> out;
  out.push_back(*in[0]);
  if (node.outputs.size() > 1) {
    Tensor mask = Tensor::Empty(ElementType::kBool, in[0]->shape());
    for (uint8_t& b : mask.mutable_bools()) b = 1;
    out.push_back(std::move(mask));
  }
  return out;
}

absl::Status ValidateCast(const Node& node) {
  ASSIGN_OR_RETURN(int64_t to, node.attributes.GetInt("to", -1));
  if (to < 0) return absl::InvalidArgumentError("attribute 'to' is required");
  absl::Status ok = ElementTypeFromOnnx(static_cast<int32_t>(to)).status();
  if (!ok.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("attribute 'to': ", std::string(ok.message())));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> RunCast(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  ASSIGN_OR_RETURN(int64_t to, node.attributes.GetInt("to", -1));
  ASSIGN_OR_RETURN(ElementType type, ElementTypeFromOnnx(static_cast<int32_t>(to)));
  const Tensor& x = *in[0];
  Tensor y = Tensor::Empty(type, x.shape());
  VisitType(x.type(), [&](auto from_zero) {
    using From = decltype(from_zero);
    std::span<const From> xv = View<From>(x);
    return VisitType(type, [&](auto to_zero) {
      using To = decltype(to_zero);
      std::span<To> yv = MutableView<To>(y);
      for (size_t i = 0; i < yv.size(); ++i) {
        if (type == ElementType::kBool) {
          yv[i] = xv[i] != From{0};
        } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
          // Out-of-range and NaN conversions are undefined in C++; saturate.
          const From v = xv[i];
          if (std::isnan(v)) {
            yv[i] = 0;
          } else if (v >= static_cast<From>(std::numeric_limits<To>::max())) {
            yv[i] = std::numeric_limits<To>::max();
          } else if (v <= static_cast<From>(std::numeric_limits<To>::min())) {
            yv[i] = std::numeric_limits<To>::min();
          } else {
            yv[i] = static_cast<To>(v);
          }
        } else {
          yv[i] = static_cast<To>(xv[i]);
        }
      }
      return 0;
    });
  });
  return One(std::move(y));
}

OpKernel Simple(int inputs, absl::StatusOr<std::vector<Tensor>> (*run)(const Node&, KernelInputs),
                absl::Status (*validate)(const Node&) = nullptr) {
  return {.min_inputs = inputs,
          .max_inputs = inputs,
          .max_outputs = 1,
          .validate = validate,
          .run = run};
}

}  // namespace

void RegisterElementwiseKernels(OpRegistry& registry) {
  registry.Register("Add", Simple(2, RunArith<Arith::kAdd>));
  registry.Register("Sub", Simple(2, RunArith<Arith::kSub>));
  registry.Register("Mul", Simple(2, RunArith<Arith::kMul>));
  registry.Register("Div", Simple(2, RunArith<Arith::kDiv>));
  registry.Register("Pow", Simple(2, RunPow));
  registry.Register("Neg", Simple(1, RunSignOp<true>));
  registry.Register("Abs", Simple(1, RunSignOp<false>));
  registry.Register("Sqrt", Simple(1, RunSqrt));
  registry.Register("Exp", Simple(1, RunExp));
  registry.Register("Log", Simple(1, RunLog));
  registry.Register("Erf", Simple(1, RunErf));
  registry.Register("Relu", Simple(1, RunRelu));
  registry.Register("Sigmoid", Simple(1, RunSigmoid));
  registry.Register("Tanh", Simple(1, RunTanh));
  registry.Register("LeakyRelu", Simple(1, RunLeakyRelu, ValidateAlphaBeta));
  registry.Register("HardSigmoid", Simple(1, RunHardSigmoid, ValidateAlphaBeta));
  registry.Register("PRelu", Simple(2, RunPRelu));
  registry.Register("Elu", Simple(1, RunElu, ValidateAlphaBeta));
  registry.Register("Selu", Simple(1, RunSelu, ValidateSelu));
  registry.Register("Softplus", Simple(1, RunSoftplus));
  registry.Register("Softsign", Simple(1, RunSoftsign));
  registry.Register("Reciprocal", Simple(1, RunReciprocal));
  registry.Register("Floor", Simple(1, RunFloor));
  registry.Register("Ceil", Simple(1, RunCeil));
  registry.Register(
      "Clip",
      {.min_inputs = 1, .max_inputs = 3, .max_outputs = 1, .validate = nullptr, .run = RunClip});
  registry.Register(
      "Dropout",
      {.min_inputs = 1, .max_inputs = 3, .max_outputs = 2, .validate = nullptr, .run = RunDropout});
  registry.Register("Cast", Simple(1, RunCast, ValidateCast));
  RegisterCompareKernels(registry);
}

}  // namespace stoa::functions::onnx
