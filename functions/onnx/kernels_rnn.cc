// LSTM (opset 7/14), GRU (opset 7/14) and RNN (opset 7/14) on FP32:
// directions forward, reverse and bidirectional, layout 0 and 1,
// sequence_lens, initial states, LSTM peepholes, GRU linear_before_reset,
// clip. Only the default activations (LSTM Sigmoid/Tanh/Tanh, GRU
// Sigmoid/Tanh, RNN Tanh) and input_forget = 0 are supported; anything else
// is refused at load. See rnn_common.h for how the work is laid out.
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/rnn_common.h"

namespace stoa::functions::onnx {
namespace {

using Array = Eigen::Map<Eigen::ArrayXf>;

inline void Sigmoid(Array a) { a = (1.0f + (-a).exp()).inverse(); }
inline void Tanh(Array a) { a = a.tanh(); }
inline void Clip(float* g, int64_t n, float clip) {
  if (clip > 0.0f) Array(g, n) = Array(g, n).max(-clip).min(clip);
}

absl::Status ValidateLstm(const Node& node) {
  RETURN_IF_ERROR(rnn::ReadConfig(node, {"Sigmoid", "Tanh", "Tanh"}).status());
  ASSIGN_OR_RETURN(int64_t input_forget, node.attributes.GetInt("input_forget", 0));
  if (input_forget != 0)
    return absl::InvalidArgumentError("attribute 'input_forget' is not supported");
  return absl::OkStatus();
}

absl::Status ValidateGru(const Node& node) {
  return rnn::ReadConfig(node, {"Sigmoid", "Tanh"}).status();
}

absl::Status ValidateRnn(const Node& node) { return rnn::ReadConfig(node, {"Tanh"}).status(); }

// One direction of an LSTM; h, c: that direction's [batch, hidden] states.
void LstmDirection(const rnn::Config& cfg, const rnn::Sequence& s, KernelInputs in, int dir,
                   float* h, float* c, std::vector<float>& y) {
  const int64_t hs = cfg.hidden, g = 4 * hs;
  std::vector<float> wb, rb;
  rnn::ReadBias(in, dir, 4, hs, wb, rb);
  for (int64_t i = 0; i < g; ++i) wb[i] += rb[i];
  const RowMajorMatrix xw = rnn::ProjectInput(s, *in[1], dir, 4, hs, wb);
  ConstMatrixMap r(in[2]->floats().data() + dir * g * hs, g, hs);
  const float* p = HasInput(in, 7) ? in[7]->floats().data() + dir * 3 * hs : nullptr;
  MatrixMap hm(h, s.batch, hs);
  RowMajorMatrix hr(s.batch, g);
  std::vector<float> gates(g);
  for (int64_t t = 0; t < s.seq; ++t) {
    hr.noalias() = hm * r.transpose();
    for (int64_t b = 0; b < s.batch; ++b) {
      const int64_t tt = rnn::TimeIndex(cfg, dir, s, t, b);
      if (tt < 0) continue;
      Eigen::Map<Eigen::RowVectorXf>(gates.data(), g) = xw.row(tt * s.batch + b) + hr.row(b);
      Clip(gates.data(), g, cfg.clip);
      Array i(gates.data(), hs), o(gates.data() + hs, hs), f(gates.data() + 2 * hs, hs),
          cand(gates.data() + 3 * hs, hs), cb(c + b * hs, hs), hb(h + b * hs, hs);
      if (p != nullptr) {
        i += Eigen::Map<const Eigen::ArrayXf>(p, hs) * cb;
        f += Eigen::Map<const Eigen::ArrayXf>(p + 2 * hs, hs) * cb;
      }
      Sigmoid(i);
      Sigmoid(f);
      Tanh(cand);
      cb = f * cb + i * cand;
      if (p != nullptr) o += Eigen::Map<const Eigen::ArrayXf>(p + hs, hs) * cb;
      Sigmoid(o);
      hb = o * cb.tanh();
      std::copy_n(h + b * hs, hs, y.data() + ((tt * cfg.dirs + dir) * s.batch + b) * hs);
    }
  }
}

absl::StatusOr<std::vector<Tensor>> RunLstm(const Node& node, KernelInputs in) {
  ASSIGN_OR_RETURN(rnn::Config cfg, rnn::ReadConfig(node, {"Sigmoid", "Tanh", "Tanh"}));
  ASSIGN_OR_RETURN(rnn::Sequence s, rnn::ReadSequence(node, in, cfg, 4));
  ASSIGN_OR_RETURN(std::vector<float> h, rnn::ReadState(node, in, 5, cfg, s));
  ASSIGN_OR_RETURN(std::vector<float> c, rnn::ReadState(node, in, 6, cfg, s));
  if (HasInput(in, 7)) {
    RETURN_IF_ERROR(ExpectFloat(node, in, 7));
    if (in[7]->shape() != Shape{cfg.dirs, 3 * cfg.hidden}) {
      return absl::InvalidArgumentError(absl::StrCat("P (input #7) has shape ",
                                                     ShapeString(in[7]->shape()), "; expected ",
                                                     ShapeString(Shape{cfg.dirs, 3 * cfg.hidden})));
    }
  }
  RETURN_IF_ERROR(rnn::CheckOutputs(cfg, s));
  std::vector<float> y(s.seq * cfg.dirs * s.batch * cfg.hidden, 0.0f);
  const int64_t state = s.batch * cfg.hidden;
  for (int d = 0; d < cfg.dirs; ++d) {
    LstmDirection(cfg, s, in, d, h.data() + d * state, c.data() + d * state, y);
  }
  return rnn::MakeOutputs(node, cfg, s, std::move(y), {std::move(h), std::move(c)});
}

// One direction of a GRU (gates z, r, h); h: that direction's state.
void GruDirection(const rnn::Config& cfg, bool linear_before_reset, const rnn::Sequence& s,
                  KernelInputs in, int dir, float* h, std::vector<float>& y) {
  const int64_t hs = cfg.hidden, g = 3 * hs;
  std::vector<float> wb, rb;
  rnn::ReadBias(in, dir, 3, hs, wb, rb);
  for (int64_t i = 0; i < (linear_before_reset ? 2 * hs : g); ++i) wb[i] += rb[i];
  const RowMajorMatrix xw = rnn::ProjectInput(s, *in[1], dir, 3, hs, wb);
  const float* rd = in[2]->floats().data() + dir * g * hs;
  ConstMatrixMap r_zr(rd, 2 * hs, hs), r_h(rd + 2 * hs * hs, hs, hs);
  const Eigen::Map<const Eigen::ArrayXf> rb_h(rb.data() + 2 * hs, hs);
  MatrixMap hm(h, s.batch, hs);
  RowMajorMatrix zr(s.batch, 2 * hs), hh(s.batch, hs), gated(s.batch, hs);
  for (int64_t t = 0; t < s.seq; ++t) {
    zr.noalias() = hm * r_zr.transpose();
    for (int64_t b = 0; b < s.batch; ++b) {
      const int64_t tt = rnn::TimeIndex(cfg, dir, s, t, b);
      if (tt < 0) continue;
      zr.row(b) += xw.row(tt * s.batch + b).head(2 * hs);
      Clip(zr.row(b).data(), 2 * hs, cfg.clip);
      Sigmoid(Array(zr.row(b).data(), 2 * hs));
    }
    if (linear_before_reset) {
      hh.noalias() = hm * r_h.transpose();
    } else {
      gated = zr.rightCols(hs).cwiseProduct(hm);
      hh.noalias() = gated * r_h.transpose();
    }
    for (int64_t b = 0; b < s.batch; ++b) {
      const int64_t tt = rnn::TimeIndex(cfg, dir, s, t, b);
      if (tt < 0) continue;
      Array z(zr.row(b).data(), hs), rg(zr.row(b).data() + hs, hs), cand(hh.row(b).data(), hs),
          hb(h + b * hs, hs);
      const Eigen::Map<const Eigen::ArrayXf> xh(xw.row(tt * s.batch + b).data() + 2 * hs, hs);
      if (linear_before_reset) {
        cand = xh + rg * (cand + rb_h);
      } else {
        cand += xh;
      }
      Clip(cand.data(), hs, cfg.clip);
      Tanh(cand);
      hb = (1.0f - z) * cand + z * hb;
      std::copy_n(h + b * hs, hs, y.data() + ((tt * cfg.dirs + dir) * s.batch + b) * hs);
    }
  }
}

absl::StatusOr<std::vector<Tensor>> RunGru(const Node& node, KernelInputs in) {
  ASSIGN_OR_RETURN(rnn::Config cfg, rnn::ReadConfig(node, {"Sigmoid", "Tanh"}));
  ASSIGN_OR_RETURN(int64_t lbr, node.attributes.GetInt("linear_before_reset", 0));
  ASSIGN_OR_RETURN(rnn::Sequence s, rnn::ReadSequence(node, in, cfg, 3));
  ASSIGN_OR_RETURN(std::vector<float> h, rnn::ReadState(node, in, 5, cfg, s));
  RETURN_IF_ERROR(rnn::CheckOutputs(cfg, s));
  std::vector<float> y(s.seq * cfg.dirs * s.batch * cfg.hidden, 0.0f);
  for (int d = 0; d < cfg.dirs; ++d) {
    GruDirection(cfg, lbr != 0, s, in, d, h.data() + d * s.batch * cfg.hidden, y);
  }
  return rnn::MakeOutputs(node, cfg, s, std::move(y), {std::move(h)});
}

void RnnDirection(const rnn::Config& cfg, const rnn::Sequence& s, KernelInputs in, int dir,
                  float* h, std::vector<float>& y) {
  const int64_t hs = cfg.hidden;
  std::vector<float> wb, rb;
  rnn::ReadBias(in, dir, 1, hs, wb, rb);
  for (int64_t i = 0; i < hs; ++i) wb[i] += rb[i];
  const RowMajorMatrix xw = rnn::ProjectInput(s, *in[1], dir, 1, hs, wb);
  ConstMatrixMap r(in[2]->floats().data() + dir * hs * hs, hs, hs);
  MatrixMap hm(h, s.batch, hs);
  RowMajorMatrix hr(s.batch, hs);
  for (int64_t t = 0; t < s.seq; ++t) {
    hr.noalias() = hm * r.transpose();
    for (int64_t b = 0; b < s.batch; ++b) {
      const int64_t tt = rnn::TimeIndex(cfg, dir, s, t, b);
      if (tt < 0) continue;
      hr.row(b) += xw.row(tt * s.batch + b);
      Clip(hr.row(b).data(), hs, cfg.clip);
      Array hb(h + b * hs, hs);
      hb = Array(hr.row(b).data(), hs).tanh();
      std::copy_n(h + b * hs, hs, y.data() + ((tt * cfg.dirs + dir) * s.batch + b) * hs);
    }
  }
}

absl::StatusOr<std::vector<Tensor>> RunRnn(const Node& node, KernelInputs in) {
  ASSIGN_OR_RETURN(rnn::Config cfg, rnn::ReadConfig(node, {"Tanh"}));
  ASSIGN_OR_RETURN(rnn::Sequence s, rnn::ReadSequence(node, in, cfg, 1));
  ASSIGN_OR_RETURN(std::vector<float> h, rnn::ReadState(node, in, 5, cfg, s));
  RETURN_IF_ERROR(rnn::CheckOutputs(cfg, s));
  std::vector<float> y(s.seq * cfg.dirs * s.batch * cfg.hidden, 0.0f);
  for (int d = 0; d < cfg.dirs; ++d) {
    RnnDirection(cfg, s, in, d, h.data() + d * s.batch * cfg.hidden, y);
  }
  return rnn::MakeOutputs(node, cfg, s, std::move(y), {std::move(h)});
}

}  // namespace

void RegisterRnnKernels(OpRegistry& registry) {
  registry.Register("LSTM", {.min_inputs = 3,
                             .max_inputs = 8,
                             .max_outputs = 3,
                             .validate = ValidateLstm,
                             .run = RunLstm});
  registry.Register(
      "GRU",
      {.min_inputs = 3, .max_inputs = 6, .max_outputs = 2, .validate = ValidateGru, .run = RunGru});
  registry.Register(
      "RNN",
      {.min_inputs = 3, .max_inputs = 6, .max_outputs = 2, .validate = ValidateRnn, .run = RunRnn});
}

}  // namespace stoa::functions::onnx
