// stoa-vad-check: runs silero VAD v4 (If, LSTM state, an INT64 scalar
// input) on Stoa's CPU engine over a stream of audio chunks, carrying the
// recurrent state (hn, cn → h, c) from one chunk to the next as a caller
// would, and prints what bench/models/check_vad.sh compares with ONNX
// Runtime:
//
//   stoa-vad-check MODEL CHUNKS_F32 CHUNK_SAMPLES [PASSES]
//
// CHUNKS_F32 holds the audio as raw little-endian FP32 samples (written by
// vad_ort.mjs, so both engines read the same bytes). Output, one JSON
// object: {"engine":"stoa","probs":[...one per chunk...],"hn":[...],
// "cn":[...],"p50_us":...}; p50_us is the median time of one chunk (one
// RunGraph call) over PASSES passes (default 20) of the whole stream.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/clock.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/interpreter.h"
#include "functions/onnx/op_registry.h"

namespace {

using stoa::functions::onnx::Tensor;

bool ReadFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

void PrintFloats(const char* name, std::span<const float> v) {
  std::printf("\"%s\":[", name);
  for (size_t i = 0; i < v.size(); ++i) std::printf("%s%.9g", i ? "," : "", v[i]);
  std::printf("]");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: stoa-vad-check MODEL CHUNKS_F32 CHUNK_SAMPLES [PASSES]\n");
    return 2;
  }
  const int64_t chunk = std::atoll(argv[3]);
  const int passes = argc > 4 ? std::atoi(argv[4]) : 20;
  std::string model_bytes, audio_bytes;
  if (!ReadFile(argv[1], model_bytes) || !ReadFile(argv[2], audio_bytes) || chunk <= 0) {
    std::fprintf(stderr, "cannot read %s or %s\n", argv[1], argv[2]);
    return 2;
  }
  ::onnx::ModelProto model;
  if (!model.ParseFromString(model_bytes)) {
    std::fprintf(stderr, "%s does not parse\n", argv[1]);
    return 1;
  }
  const auto registry = stoa::functions::onnx::DefaultOpRegistry();
  auto graph = stoa::functions::onnx::BuildGraph(model, registry);
  if (!graph.ok()) {
    std::fprintf(stderr, "load: %s\n", std::string(graph.status().message()).c_str());
    return 1;
  }
  std::vector<float> audio(audio_bytes.size() / sizeof(float));
  std::copy_n(audio_bytes.data(), audio.size() * sizeof(float),
              reinterpret_cast<char*>(audio.data()));
  const int64_t n_chunks = static_cast<int64_t>(audio.size()) / chunk;
  std::vector<float> probs;
  std::vector<double> times_us;
  Tensor h, c;
  for (int pass = 0; pass < passes; ++pass) {
    probs.clear();
    h = Tensor::Zeros({2, 1, 64});
    c = Tensor::Zeros({2, 1, 64});
    for (int64_t k = 0; k < n_chunks; ++k) {
      std::vector<Tensor> in;
      in.push_back(Tensor::Float({1, chunk}, std::vector<float>(audio.begin() + k * chunk,
                                                                audio.begin() + (k + 1) * chunk)));
      in.push_back(Tensor::Int64({}, {16000}));
      in.push_back(h);
      in.push_back(c);
      const auto start = std::chrono::steady_clock::now();
      auto out =
          stoa::functions::onnx::RunGraph(*graph, std::move(in), stoa::common::RealClock::Get(), 0);
      const auto end = std::chrono::steady_clock::now();
      if (!out.ok()) {
        std::fprintf(stderr, "chunk %lld: %s\n", static_cast<long long>(k),
                     std::string(out.status().message()).c_str());
        return 1;
      }
      times_us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
      probs.push_back((*out)[0].floats()[0]);
      h = (*out)[1];
      c = (*out)[2];
    }
  }
  std::sort(times_us.begin(), times_us.end());
  std::printf("{\"engine\":\"stoa\",");
  PrintFloats("probs", probs);
  std::printf(",");
  PrintFloats("hn", h.floats());
  std::printf(",");
  PrintFloats("cn", c.floats());
  std::printf(",\"p50_us\":%.2f}\n", times_us.empty() ? 0.0 : times_us[times_us.size() / 2]);
  return 0;
}
