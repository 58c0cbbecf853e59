// UTF-8 well-formedness. Bytes that reach a JSON document or a proto3
// string (a Wasm function's stderr, names inside an ONNX model) come from
// outside and may be anything; JSON writers replace what is not UTF-8
// (common/json_text.h), and registration refuses names that are not.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string_view>

namespace stoa::common {

// Whether `text` is well-formed UTF-8 (RFC 3629): no stray continuation
// bytes, no truncated or overlong sequences, no surrogates (U+D800–DFFF),
// nothing past U+10FFFF.
bool IsValidUtf8(std::string_view text);

// The byte offset of the first byte that makes `text` ill-formed, or
// std::string_view::npos when it is well-formed.
size_t InvalidUtf8Offset(std::string_view text);

}  // namespace stoa::common
