#include "gateway/events/event_queue.h"

namespace stoa::gateway::events {

const char* EventStatusName(EventStatus status) {
  switch (status) {
    case EventStatus::kQueued:
      return "queued";
    case EventStatus::kRunning:
      return "running";
    case EventStatus::kSucceeded:
      return "succeeded";
    case EventStatus::kFailed:
      return "failed";
    case EventStatus::kExpired:
      return "expired";
  }
  return "unknown";
}

std::optional<EventStatus> ParseEventStatus(const std::string& name) {
  for (EventStatus s : {EventStatus::kQueued, EventStatus::kRunning, EventStatus::kSucceeded,
                        EventStatus::kFailed, EventStatus::kExpired}) {
    if (name == EventStatusName(s)) return s;
  }
  return std::nullopt;
}

}  // namespace stoa::gateway::events
