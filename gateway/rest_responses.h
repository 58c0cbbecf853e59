// Small answers shared by the REST API's translation units (rest_api.cc,
// rest_api_changes.cc). Internal to the REST layer.
#pragma once

#include <string>

#include "common/http_types.h"
#include "gateway/access_control.h"

namespace stoa::gateway::rest {

inline common::HttpResponse Json(int status, std::string body) {
  common::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

inline common::HttpResponse Error(const absl::Status& status) { return ErrorResponse(status); }

inline common::HttpResponse NoContent() {
  common::HttpResponse r;
  r.status = 204;
  r.content_type = "";
  return r;
}

}  // namespace stoa::gateway::rest
