#include "functions/onnx/rnn_common.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "functions/onnx/memory_budget.h"

namespace stoa::functions::onnx::rnn {
namespace {

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

absl::Status ExpectShape(const Tensor& t, const Shape& want, const std::string& what) {
  if (t.shape() != want) {
    return Invalid(absl::StrCat(what, " has shape ", ShapeString(t.shape()), "; expected ",
                                ShapeString(want)));
  }
  return absl::OkStatus();
}

// [a, b, rest] → [b, a, rest] (layout 1 ↔ 0 for X and the states).
std::vector<float> SwapLeading(std::span<const float> v, int64_t a, int64_t b, int64_t rest) {
  std::vector<float> out(v.size());
  for (int64_t i = 0; i < a; ++i) {
    for (int64_t j = 0; j < b; ++j) {
      std::copy_n(v.data() + (i * b + j) * rest, rest, out.data() + (j * a + i) * rest);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<Config> ReadConfig(const Node& node,
                                  const std::vector<std::string>& default_activations) {
  Config c;
  ASSIGN_OR_RETURN(c.hidden, node.attributes.GetInt("hidden_size", 0));
  if (c.hidden <= 0 || c.hidden > (int64_t{1} << 24)) {
    return Invalid(absl::StrCat("attribute 'hidden_size' = ", c.hidden, " must be in 1..2^24"));
  }
  ASSIGN_OR_RETURN(std::string direction, node.attributes.GetString("direction", "forward"));
  if (direction == "bidirectional") {
    c.dirs = 2;
  } else if (direction == "reverse") {
    c.reverse = true;
  } else if (direction != "forward") {
    return Invalid(absl::StrCat("attribute 'direction' = '", direction,
                                "' is not one of forward, reverse, bidirectional"));
  }
  ASSIGN_OR_RETURN(int64_t layout, node.attributes.GetInt("layout", 0));
  if (layout != 0 && layout != 1) return Invalid("attribute 'layout' must be 0 or 1");
  c.batch_first = layout == 1;
  ASSIGN_OR_RETURN(c.clip, node.attributes.GetFloat("clip", 0.0f));
  if (c.clip < 0.0f) return Invalid("attribute 'clip' must not be negative");
  ASSIGN_OR_RETURN(std::vector<std::string> acts, node.attributes.GetStrings("activations"));
  for (size_t i = 0; i < acts.size(); ++i) {
    const std::string& want = default_activations[i % default_activations.size()];
    if (acts.size() != default_activations.size() * c.dirs ||
        !absl::EqualsIgnoreCase(acts[i], want)) {
      return Invalid(absl::StrCat("attribute 'activations' = '", absl::StrJoin(acts, ","),
                                  "' is not supported (only the defaults, ",
                                  absl::StrJoin(default_activations, ","), ")"));
    }
  }
  if (node.attributes.Has("activation_alpha") || node.attributes.Has("activation_beta")) {
    return Invalid("attributes 'activation_alpha' and 'activation_beta' are not supported");
  }
  return c;
}

absl::StatusOr<Sequence> ReadSequence(const Node& node, KernelInputs in, const Config& c,
                                      int gates) {
  for (int i = 0; i < 3; ++i) RETURN_IF_ERROR(ExpectFloat(node, in, i));
  const Tensor& x = *in[0];
  RETURN_IF_ERROR(ExpectRank(node, in, 0, 3));
  Sequence s;
  s.seq = x.shape()[c.batch_first ? 1 : 0];
  s.batch = x.shape()[c.batch_first ? 0 : 1];
  s.input = x.shape()[2];
  const int64_t g = gates * c.hidden;
  RETURN_IF_ERROR(ExpectShape(*in[1], {c.dirs, g, s.input}, "W (input #1)"));
  RETURN_IF_ERROR(ExpectShape(*in[2], {c.dirs, g, c.hidden}, "R (input #2)"));
  if (HasInput(in, 3)) {
    RETURN_IF_ERROR(ExpectFloat(node, in, 3));
    RETURN_IF_ERROR(ExpectShape(*in[3], {c.dirs, 2 * g}, "B (input #3)"));
  }
  s.lens.assign(s.batch, s.seq);
  if (HasInput(in, 4)) {
    ASSIGN_OR_RETURN(s.lens, ReadInts(node, in, 4));
    if (static_cast<int64_t>(s.lens.size()) != s.batch) {
      return Invalid(
          absl::StrCat("sequence_lens has ", s.lens.size(), " entries for batch ", s.batch));
    }
    for (int64_t len : s.lens) {
      if (len < 0 || len > s.seq) {
        return Invalid(absl::StrCat("sequence_lens entry ", len, " is outside 0..", s.seq));
      }
    }
  }
  s.x = c.batch_first ? SwapLeading(x.floats(), s.batch, s.seq, s.input)
                      : std::vector<float>(x.floats().begin(), x.floats().end());
  return s;
}

absl::StatusOr<std::vector<float>> ReadState(const Node& node, KernelInputs in, int i,
                                             const Config& c, const Sequence& s) {
  if (!HasInput(in, i)) return std::vector<float>(c.dirs * s.batch * c.hidden, 0.0f);
  RETURN_IF_ERROR(ExpectFloat(node, in, i));
  const Shape want =
      c.batch_first ? Shape{s.batch, c.dirs, c.hidden} : Shape{c.dirs, s.batch, c.hidden};
  RETURN_IF_ERROR(ExpectShape(*in[i], want, absl::StrCat("initial state (input #", i, ")")));
  std::span<const float> v = in[i]->floats();
  return c.batch_first ? SwapLeading(v, s.batch, c.dirs, c.hidden)
                       : std::vector<float>(v.begin(), v.end());
}

void ReadBias(KernelInputs in, int dir, int gates, int64_t hidden, std::vector<float>& wb,
              std::vector<float>& rb) {
  const int64_t g = gates * hidden;
  wb.assign(g, 0.0f);
  rb.assign(g, 0.0f);
  if (!HasInput(in, 3)) return;
  const float* b = in[3]->floats().data() + dir * 2 * g;
  std::copy_n(b, g, wb.begin());
  std::copy_n(b + g, g, rb.begin());
}

RowMajorMatrix ProjectInput(const Sequence& s, const Tensor& w, int dir, int gates, int64_t hidden,
                            const std::vector<float>& bias) {
  const int64_t g = gates * hidden;
  ConstMatrixMap x(s.x.data(), s.seq * s.batch, s.input);
  ConstMatrixMap wd(w.floats().data() + dir * g * s.input, g, s.input);
  RowMajorMatrix xw(s.seq * s.batch, g);
  xw.noalias() = x * wd.transpose();
  if (!bias.empty()) {
    xw.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias.data(), g);
  }
  return xw;
}

absl::Status CheckOutputs(const Config& c, const Sequence& s) {
  return CheckAllocation(ElementType::kFloat32, Shape{s.seq, c.dirs, s.batch, c.hidden});
}

std::vector<Tensor> MakeOutputs(const Node& node, const Config& c, const Sequence& s,
                                std::vector<float> y, std::vector<std::vector<float>> states) {
  std::vector<Tensor> out;
  const int64_t h = c.hidden;
  if (c.batch_first) {
    // [seq, dirs·batch·hidden] viewed as [seq, dirs, batch, h] → [batch, seq, dirs, h]
    std::vector<float> t(y.size());
    for (int64_t q = 0; q < s.seq; ++q) {
      for (int d = 0; d < c.dirs; ++d) {
        for (int64_t b = 0; b < s.batch; ++b) {
          std::copy_n(y.data() + ((q * c.dirs + d) * s.batch + b) * h, h,
                      t.data() + ((b * s.seq + q) * c.dirs + d) * h);
        }
      }
    }
    out.push_back(Tensor::Float({s.batch, s.seq, c.dirs, h}, std::move(t)));
  } else {
    out.push_back(Tensor::Float({s.seq, c.dirs, s.batch, h}, std::move(y)));
  }
  for (std::vector<float>& state : states) {
    if (out.size() >= node.outputs.size()) break;
    if (c.batch_first) {
      out.push_back(Tensor::Float({s.batch, c.dirs, h}, SwapLeading(state, c.dirs, s.batch, h)));
    } else {
      out.push_back(Tensor::Float({c.dirs, s.batch, h}, std::move(state)));
    }
  }
  return out;
}

}  // namespace stoa::functions::onnx::rnn
