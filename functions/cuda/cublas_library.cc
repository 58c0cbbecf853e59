#include "functions/cuda/cublas_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace stoa::functions::cuda {
namespace {

std::vector<std::string> Candidates() {
  const std::string soname = absl::StrCat("libcublas.so.", CUBLAS_VER_MAJOR);
  std::vector<std::string> paths;
  if (const char* env = std::getenv("STOA_CUBLAS_LIBRARY"); env != nullptr && *env != '\0') {
    paths.push_back(env);
  }
  paths.push_back(soname);
  for (const char* dir : {"/usr/local/cuda/lib64", "/usr/local/cuda/lib",
                          "/usr/local/cuda/targets/x86_64-linux/lib"}) {
    paths.push_back(absl::StrCat(dir, "/", soname));
  }
  return paths;
}

template <typename Fn>
bool Bind(void* lib, const char* name, Fn& fn) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  return fn != nullptr;
}

absl::StatusOr<CublasApi> Open() {
  const std::vector<std::string> paths = Candidates();
  void* lib = nullptr;
  std::string last_error, opened;
  for (const std::string& path : paths) {
    lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    opened = path;
    if (lib != nullptr) break;
    const char* e = dlerror();
    last_error = e != nullptr ? e : "unknown";
  }
  if (lib == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cuBLAS not found (tried ", absl::StrJoin(paths, ", "), "): ", last_error));
  }
  CublasApi api;
  for (auto [name, ok] :
       {std::pair<const char*, bool>{"cublasCreate_v2", Bind(lib, "cublasCreate_v2", api.create)},
        {"cublasDestroy_v2", Bind(lib, "cublasDestroy_v2", api.destroy)},
        {"cublasSetStream_v2", Bind(lib, "cublasSetStream_v2", api.set_stream)},
        {"cublasSgemm_v2", Bind(lib, "cublasSgemm_v2", api.sgemm)}}) {
    if (!ok) return absl::UnavailableError(absl::StrCat(opened, " lacks symbol ", name));
  }
  return api;
}

}  // namespace

absl::StatusOr<const CublasApi*> LoadCublas() {
  static const absl::StatusOr<CublasApi>* const api = new absl::StatusOr<CublasApi>(Open());
  if (!api->ok()) return api->status();
  return &**api;
}

}  // namespace stoa::functions::cuda
