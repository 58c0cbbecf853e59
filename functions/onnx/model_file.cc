#include "functions/onnx/model_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/tensor_proto.h"

namespace stoa::functions::onnx {
namespace {

constexpr uint32_t kModelGraph = 7;        // ModelProto.graph
constexpr uint32_t kGraphInitializer = 5;  // GraphProto.initializer
constexpr uint32_t kTensorRawData = 9;     // TensorProto.raw_data
constexpr char kPlaceholder[4] = {0, 0, 0, 0};

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("artifact is not a valid ONNX model: ", std::string(what)));
}

absl::Status FileError(std::string_view what, const std::string& path, int error) {
  std::string message = absl::StrCat(std::string(what), " ", path, ": ", std::strerror(error));
  return error == ENOENT ? absl::NotFoundError(message) : absl::InternalError(message);
}

// Where one initializer's raw_data lies in the file.
struct WeightRange {
  int initializer = 0;  // index in the main graph
  uint64_t offset = 0;
  uint64_t length = 0;
};

class Rewriter {
 public:
  Rewriter(const uint8_t* base, uint64_t min_bytes) : base_(base), min_bytes_(min_bytes) {}
  std::vector<WeightRange>& ranges() { return ranges_; }

  // `level`: 0 ModelProto, 1 GraphProto, 2 TensorProto (an initializer).
  absl::Status Message(const uint8_t* p, const uint8_t* end, int level, std::string& out) {
    while (p < end) {
      const uint8_t* field = p;
      uint64_t tag = 0;
      if (!Varint(p, end, tag)) return Malformed("truncated field tag");
      const uint32_t number = static_cast<uint32_t>(tag >> 3);
      switch (tag & 7) {
        case 0: {
          uint64_t ignored = 0;
          if (!Varint(p, end, ignored)) return Malformed("truncated varint");
          break;
        }
        case 1:
        case 5: {
          const uint64_t n = (tag & 7) == 1 ? 8 : 4;
          if (static_cast<uint64_t>(end - p) < n) return Malformed("truncated fixed field");
          p += n;
          break;
        }
        case 2: {
          uint64_t len = 0;
          if (!Varint(p, end, len) || len > static_cast<uint64_t>(end - p)) {
            return Malformed("a length-delimited field runs past its message");
          }
          const uint8_t* payload = p;
          p += len;
          absl::Status nested = Nested(payload, p, number, level, out);
          if (nested.ok()) continue;  // rewritten into `out`
          if (!absl::IsCancelled(nested)) return nested;
          break;
        }
        default:
          return Malformed(absl::StrCat("unsupported wire type ", tag & 7));
      }
      out.append(reinterpret_cast<const char*>(field), static_cast<size_t>(p - field));
    }
    return absl::OkStatus();
  }

 private:
  static bool Varint(const uint8_t*& p, const uint8_t* end, uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64 && p < end; shift += 7) {
      const uint8_t byte = *p++;
      value |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  static void PutVarint(uint64_t value, std::string& out) {
    while (value >= 0x80) {
      out.push_back(static_cast<char>((value & 0x7f) | 0x80));
      value >>= 7;
    }
    out.push_back(static_cast<char>(value));
  }
  static void PutField(uint32_t number, std::string_view payload, std::string& out) {
    PutVarint((uint64_t{number} << 3) | 2, out);
    PutVarint(payload.size(), out);
    out.append(payload);
  }

  // Rewrites a length-delimited field that leads to weights; CANCELLED
  // means "not one of those: copy it as it is".
  absl::Status Nested(const uint8_t* payload, const uint8_t* end, uint32_t number, int level,
                      std::string& out) {
    if (level == 0 && number == kModelGraph) {
      std::string graph;
      RETURN_IF_ERROR(Message(payload, end, 1, graph));
      PutField(number, graph, out);
      ++graphs_;
      return absl::OkStatus();
    }
    if (level == 1 && number == kGraphInitializer && graphs_ == 0) {
      std::string tensor;
      RETURN_IF_ERROR(Message(payload, end, 2, tensor));
      PutField(number, tensor, out);
      ++initializers_;
      return absl::OkStatus();
    }
    if (level == 2 && number == kTensorRawData &&
        static_cast<uint64_t>(end - payload) >= min_bytes_) {
      ranges_.push_back({.initializer = initializers_,
                         .offset = static_cast<uint64_t>(payload - base_),
                         .length = static_cast<uint64_t>(end - payload)});
      PutField(number, std::string_view(kPlaceholder, sizeof(kPlaceholder)), out);
      return absl::OkStatus();
    }
    return absl::CancelledError();
  }

  const uint8_t* const base_;
  const uint64_t min_bytes_;
  int graphs_ = 0;        // a second graph field would merge; weights come from the first only
  int initializers_ = 0;  // seen so far in the main graph
  std::vector<WeightRange> ranges_;
};

template <typename T>
absl::StatusOr<std::vector<T>> ReadVector(int fd, const std::string& path, const WeightRange& r,
                                          int64_t count) {
  std::vector<T> data(static_cast<size_t>(count));
  char* dst = reinterpret_cast<char*>(data.data());
  for (uint64_t done = 0; done < r.length;) {
    const ssize_t n = ::pread(fd, dst + done, r.length - done, static_cast<off_t>(r.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError("cannot read", path, errno);
    if (n == 0) return Malformed("file ended inside an initializer");
    done += static_cast<uint64_t>(n);
  }
  return data;
}

absl::StatusOr<Tensor> ReadWeight(int fd, const std::string& path, const ::onnx::TensorProto& proto,
                                  const WeightRange& r) {
  ASSIGN_OR_RETURN(ElementType type, ElementTypeFromOnnx(proto.data_type()));
  Shape shape(proto.dims().begin(), proto.dims().end());
  const int64_t bytes = TensorBytes(type, shape);
  if (bytes < 0 || static_cast<uint64_t>(bytes) != r.length) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': raw_data has ",
                                                   r.length, " bytes, dims need ", bytes));
  }
  const int64_t count = bytes / static_cast<int64_t>(ElementSize(type));
  switch (type) {
    case ElementType::kFloat32: {
      ASSIGN_OR_RETURN(auto v, ReadVector<float>(fd, path, r, count));
      return Tensor::Float(std::move(shape), std::move(v));
    }
    case ElementType::kFloat64: {
      ASSIGN_OR_RETURN(auto v, ReadVector<double>(fd, path, r, count));
      return Tensor::Float64(std::move(shape), std::move(v));
    }
    case ElementType::kInt64: {
      ASSIGN_OR_RETURN(auto v, ReadVector<int64_t>(fd, path, r, count));
      return Tensor::Int64(std::move(shape), std::move(v));
    }
    case ElementType::kInt32: {
      ASSIGN_OR_RETURN(auto v, ReadVector<int32_t>(fd, path, r, count));
      return Tensor::Int32(std::move(shape), std::move(v));
    }
    case ElementType::kBool: {
      ASSIGN_OR_RETURN(auto v, ReadVector<uint8_t>(fd, path, r, count));
      return Tensor::Bool(std::move(shape), std::move(v));
    }
    case ElementType::kUInt8: {
      ASSIGN_OR_RETURN(auto v, ReadVector<uint8_t>(fd, path, r, count));
      return Tensor::UInt8(std::move(shape), std::move(v));
    }
    case ElementType::kInt8: {
      ASSIGN_OR_RETURN(auto v, ReadVector<int8_t>(fd, path, r, count));
      return Tensor::Int8(std::move(shape), std::move(v));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': unsupported type"));
}

// The skeleton and the weight ranges, from the mapped file.
absl::StatusOr<std::vector<WeightRange>> Skeleton(const uint8_t* data, uint64_t size,
                                                  uint64_t min_bytes, ModelFile& out) {
  Rewriter rewriter(data, min_bytes);
  std::string skeleton;
  RETURN_IF_ERROR(rewriter.Message(data, data + size, 0, skeleton));
  if (skeleton.size() > static_cast<size_t>(INT_MAX) ||
      !out.skeleton.ParseFromArray(skeleton.data(), static_cast<int>(skeleton.size()))) {
    return Malformed(
        absl::StrCat("protobuf parsing failed (corrupt or truncated, ", size, " bytes)"));
  }
  return std::move(rewriter.ranges());
}

}  // namespace

absl::StatusOr<ModelFile> ReadModelFile(const std::string& path, uint64_t min_weight_bytes,
                                        const ModelLimits* limits) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError("cannot open", path, errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return FileError("cannot stat", path, errno);
  ModelFile out;
  out.file_bytes = static_cast<uint64_t>(st.st_size);
  if (out.file_bytes == 0) return Malformed("the artifact is empty");
  void* mapped = ::mmap(nullptr, out.file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  if (mapped == MAP_FAILED) return FileError("cannot map", path, errno);
  if (limits != nullptr) {
    absl::Status nodes =
        CheckNodeCount(std::string_view(static_cast<const char*>(mapped), out.file_bytes), *limits);
    if (!nodes.ok()) {
      ::munmap(mapped, out.file_bytes);
      return nodes;
    }
  }
  ::madvise(mapped, out.file_bytes, MADV_RANDOM);  // no read-ahead into the weights
  absl::StatusOr<std::vector<WeightRange>> ranges =
      Skeleton(static_cast<const uint8_t*>(mapped), out.file_bytes, min_weight_bytes, out);
  ::munmap(mapped, out.file_bytes);
  if (!ranges.ok()) return ranges.status();
  const auto& inits = out.skeleton.graph().initializer();
  for (const WeightRange& r : *ranges) {
    if (r.initializer >= inits.size()) return Malformed("initializer index out of range");
    const ::onnx::TensorProto& proto = inits.Get(r.initializer);
    absl::StatusOr<Tensor> tensor = ReadWeight(fd, path, proto, r);
    if (!tensor.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("initializer: ", std::string(tensor.status().message())));
    }
    out.weights.insert_or_assign(proto.name(), *std::move(tensor));
  }
  return out;
}

}  // namespace stoa::functions::onnx
