// The JSON document of one asynchronous invocation, as GET
// /v1/invocations/{id} answers it and callbacks receive it (docs/events.md):
// {"id","function","status","tier","attempts","accepted_at","finished_at",
//  "expires_at","result","result_content_type","error":{"code","message"}}.
// `result` is a JSON body as JSON, any other body as a string, or null with
// "result_base64" when the body is not UTF-8.
//
// Thread safety: a pure function.
#pragma once

#include "gateway/events/event_queue.h"
#include "nlohmann/json.hpp"

namespace stoa::gateway::events {

nlohmann::json EventRecordJson(const EventRecord& record);

}  // namespace stoa::gateway::events
