// The ONNX backend tests through the API's codecs, so that the KServe
// codec and the engine cannot drift apart: each data set's inputs are
// encoded as a client would (KServe v2 JSON, and the binary data
// extension), parsed by the gateway's codec (gateway/kserve_binary.h),
// checked against the signature the runtime derived from the model
// (CheckAgainstSignature), run by OnnxRuntime through its wire tensors
// (functions/onnx/wire_tensor.h), rendered as the gateway renders the
// response (JSON, and binary outputs), decoded as a client would, and
// compared with the expected outputs (conformance_runner.h's Compare).
//
// JSON has no NaN or infinity: a data set with such an input is sent only
// in the binary form; NaN or infinite outputs come back as null and are
// read as NaN (so a test expecting an infinity is compared in binary only).
//
// Thread safety: reentrant.
#pragma once

#include <string>

#include "functions/onnx/op_registry.h"
#include "tests/conformance/conformance_runner.h"

namespace stoa::conformance {

// "" when every data set of the test in `dir` passes both ways, else why
// not (naming the data set, the form and the output).
std::string RunThroughKserve(const std::string& dir, const functions::onnx::OpRegistry& registry,
                             const Tolerance& tolerance = {});

}  // namespace stoa::conformance
