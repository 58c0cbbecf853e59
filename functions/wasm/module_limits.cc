#include "functions/wasm/module_limits.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"

namespace stoa::functions::wasm {
namespace {

constexpr uint8_t kImportSection = 2;
constexpr uint8_t kFunctionSection = 3;
constexpr uint8_t kCodeSection = 10;

// A bounds-checked cursor over the module; every read returns nullopt at
// the end or on a malformed LEB128, and the scan then gives up quietly.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  size_t pos() const { return pos_; }
  bool done() const { return pos_ >= bytes_.size(); }

  std::optional<uint8_t> Byte() {
    if (done()) return std::nullopt;
    return static_cast<uint8_t>(bytes_[pos_++]);
  }
  std::optional<uint32_t> U32() {
    uint64_t value = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      std::optional<uint8_t> b = Byte();
      if (!b) return std::nullopt;
      value |= uint64_t{*b & 0x7fu} << shift;
      if ((*b & 0x80) == 0) {
        if (value > UINT32_MAX) return std::nullopt;
        return static_cast<uint32_t>(value);
      }
    }
    return std::nullopt;
  }
  bool Skip(uint64_t n) {
    if (n > bytes_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  // A sub-reader over the next n bytes, which this one skips.
  std::optional<Reader> Take(uint64_t n) {
    if (n > bytes_.size() - pos_) return std::nullopt;
    Reader sub(bytes_.substr(pos_, n));
    pos_ += n;
    return sub;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

bool SkipLimits(Reader& r) {
  std::optional<uint8_t> flags = r.Byte();
  if (!flags || !r.U32()) return false;
  return (*flags & 1) == 0 || r.U32().has_value();
}

// Function imports in the import section; nullopt when it cannot be followed.
std::optional<uint32_t> CountFunctionImports(Reader r) {
  std::optional<uint32_t> count = r.U32();
  if (!count) return std::nullopt;
  uint32_t functions = 0;
  for (uint32_t i = 0; i < *count; ++i) {
    for (int name = 0; name < 2; ++name) {
      std::optional<uint32_t> len = r.U32();
      if (!len || !r.Skip(*len)) return std::nullopt;
    }
    std::optional<uint8_t> kind = r.Byte();
    if (!kind) return std::nullopt;
    bool ok = false;
    switch (*kind) {
      case 0:  // function: type index
        ok = r.U32().has_value();
        ++functions;
        break;
      case 1:  // table: reference type, limits
        ok = r.Byte().has_value() && SkipLimits(r);
        break;
      case 2:  // memory
        ok = SkipLimits(r);
        break;
      case 3:  // global: value type, mutability
        ok = r.Byte().has_value() && r.Byte().has_value();
        break;
      case 4:  // tag: attribute, type index
        ok = r.Byte().has_value() && r.U32().has_value();
        break;
    }
    if (!ok) return std::nullopt;
  }
  return functions;
}

absl::Status LimitError(std::string what, uint64_t limit, std::string_view unit,
                        std::string_view name) {
  return absl::InvalidArgumentError(absl::StrCat(what, "; the limit is ", limit, std::string(unit),
                                                 " (wasm ", std::string(name), " limit)"));
}

// The code section: each body's size and declared locals.
absl::Status CheckBodies(Reader r, uint32_t first_index, const common::WasmLimits& limits) {
  std::optional<uint32_t> count = r.U32();
  if (!count) return absl::OkStatus();
  if (uint64_t{first_index} + *count > limits.max_functions) {  // no function section
    return LimitError(absl::StrCat("module defines ", uint64_t{first_index} + *count, " functions"),
                      limits.max_functions, " functions", "function count");
  }
  uint64_t total_locals = 0;
  for (uint32_t i = 0; i < *count; ++i) {
    const uint64_t index = uint64_t{first_index} + i;
    std::optional<uint32_t> size = r.U32();
    if (!size) return absl::OkStatus();
    if (*size > limits.max_function_bytes) {
      return LimitError(absl::StrCat("function ", index, " body is ", *size, " bytes"),
                        limits.max_function_bytes, " bytes", "function body size");
    }
    std::optional<Reader> body = r.Take(*size);
    if (!body) return absl::OkStatus();
    std::optional<uint32_t> decls = body->U32();
    if (!decls) return absl::OkStatus();
    // Each declaration takes at least two bytes, so `decls` is bounded by
    // the body size, and the sum of u32 counts fits in 64 bits; it is
    // compared after every declaration all the same.
    uint64_t locals = 0;
    for (uint32_t d = 0; d < *decls; ++d) {
      std::optional<uint32_t> n = body->U32();
      if (!n || !body->Byte()) return absl::OkStatus();
      locals += *n;
      if (locals > limits.max_locals) {
        return LimitError(absl::StrCat("function ", index, " declares ", locals, " locals"),
                          limits.max_locals, " locals per function", "locals");
      }
    }
    total_locals += locals;
    if (total_locals > limits.max_total_locals) {
      return absl::InvalidArgumentError(absl::StrCat("module declares more than ",
                                                     limits.max_total_locals,
                                                     " locals in all its functions (wasm total "
                                                     "locals limit)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckModuleLimits(std::string_view artifact, const common::WasmLimits& limits) {
  if (artifact.size() > limits.max_module_bytes) {
    return LimitError(absl::StrCat("module is ", artifact.size(), " bytes"),
                      limits.max_module_bytes, " bytes", "module size");
  }
  Reader r(artifact);
  if (!r.Skip(8)) return absl::OkStatus();  // magic and version: DecodeModule checks them
  uint32_t imported = 0;
  while (!r.done()) {
    std::optional<uint8_t> id = r.Byte();
    std::optional<uint32_t> size = id ? r.U32() : std::nullopt;
    std::optional<Reader> section = size ? r.Take(*size) : std::nullopt;
    if (!section) return absl::OkStatus();
    if (*id == kImportSection) {
      imported = CountFunctionImports(*section).value_or(0);
    } else if (*id == kFunctionSection) {
      std::optional<uint32_t> defined = section->U32();
      const uint64_t functions = uint64_t{imported} + defined.value_or(0);
      if (functions > limits.max_functions) {
        return LimitError(absl::StrCat("module declares ", functions, " functions"),
                          limits.max_functions, " functions", "function count");
      }
    } else if (*id == kCodeSection) {
      return CheckBodies(*section, imported, limits);
    }
  }
  return absl::OkStatus();
}

}  // namespace stoa::functions::wasm
