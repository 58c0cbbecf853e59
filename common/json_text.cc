#include "common/json_text.h"

namespace stoa::common {

std::string DumpJson(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

void AppendJsonString(std::string& out, std::string_view text) {
  out.append(DumpJson(nlohmann::json(std::string(text))));
}

}  // namespace stoa::common
