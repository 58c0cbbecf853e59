// The one way Stoa writes JSON text. nlohmann::json::dump() throws
// type_error 316 on a string that is not UTF-8, and such strings reach our
// documents from outside: a Wasm function's stderr in an error message, the
// names inside an ONNX model, bytes a client put in a URL. An exception there
// escaped callbacks and aborted the gateway. These writers never throw on
// content: every byte that is not part of a well-formed UTF-8 sequence
// becomes U+FFFD, so every document parses with a strict parser.
//
// Use DumpJson instead of .dump() for anything that leaves the process (REST
// bodies, files the registry writes); JsonString for hand-written renderers
// (gateway/kserve_response.cc).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace stoa::common {

// `value` as JSON text; compact by default, pretty with indent >= 0.
std::string DumpJson(const nlohmann::json& value, int indent = -1);

// `text` as a JSON string literal, quotes included, appended to `out`.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace stoa::common
