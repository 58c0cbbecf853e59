// The real-model mode of stoa-bench-onnx: one ONNX model file, fixed inputs
// read from raw little-endian files, a chosen intra-op thread budget.
//
//   stoa-bench-onnx --model NAME --model-file FILE --input NAME=TYPE:D0xD1:FILE ...
//                   [--threads N] [--min-seconds S] [--outputs DIR]
//
// Loads the model with OnnxRuntime (the executor's path), warms up, then
// times LoadedFunction::Invoke until S seconds (default 2) have passed and
// prints one line
//   RESULT engine=stoa model=NAME threads=N p50_us=... cpu_p50_us=... runs=...
// (cpu_p50_us: median process CPU time per call, robust to other load)
// or, when the engine refuses the model or a call fails,
//   UNSUPPORTED engine=stoa model=NAME reason=<the engine's message>
// With --outputs it writes the last call's outputs to DIR/<i>.bin (raw) and
// DIR/outputs.tsv (name, datatype, shape), for bench/ort/ort_models.mjs to
// compare with ONNX Runtime. With STOA_ONNX_PROFILE=N set, the engine's
// per-node profile of the timed runs is printed to stderr.
#pragma once

namespace stoa::bench {

// True when argv asks for the real-model mode (has --model-file).
bool WantsModelMode(int argc, char** argv);

// Runs the mode; returns the process exit code (0 also for UNSUPPORTED,
// which is a result; 2 for bad flags or unreadable files).
int RunModelMode(int argc, char** argv);

}  // namespace stoa::bench
