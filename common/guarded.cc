#include "common/guarded.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace stoa::common {

std::string CurrentExceptionMessage() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

absl::Status InternalFromException(std::string_view where) {
  const std::string what = CurrentExceptionMessage();
  spdlog::error("{}: exception caught at a thread or callback boundary: {}", where, what);
  return absl::InternalError(absl::StrCat(std::string(where), ": ", what));
}

}  // namespace stoa::common
