// EventEntry: one event as the durable queue keeps it (in memory and, as
// CBOR, in the log's records), and the codec of those records.
//
//   EncodeAccepted  every field, the body included (the accepted record, and
//                   what compaction writes: it restates the event whole).
//   EncodeState     the fields a run changes (status, tier, attempts, times,
//                   result, error, delivered).
//   EncodeDelivered the delivered marker of a finished event (its id and
//                   "dlv": true only; the outbox, docs/events.md).
//   Apply           decodes either into `entry` (only the fields present);
//                   INVALID_ARGUMENT for a payload that is not such CBOR.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/events/event_queue.h"
#include "scheduler/tier.h"

namespace stoa::gateway::events {

struct EventEntry {
  EventRecord record;
  uint64_t seq = 0;  // acceptance order
  std::string body;
  std::string content_type;
  std::string inference_header_length;
  std::string dedup_key;
  std::string forced_tier;
  bool ordered = false;  // the function's "ordered": events of one device in order
  // Not stored: the dispatcher's own.
  absl::Time next_attempt_at = absl::InfinitePast();
  bool durable = false;
  // Where it may run (its function's tiers, or its forced tier, ∩ the
  // configured ones), and whether it is counted as waiting there in the
  // scheduler's queue term (QueuedWork): the same set is added and removed.
  scheduler::TierSet targets;
  bool waiting = false;
  // The final state being made durable (what compaction must write).
  std::optional<EventRecord> finishing;
};

std::string EncodeAccepted(const EventEntry& entry);
std::string EncodeState(const EventEntry& entry);
std::string EncodeDelivered(const std::string& id);
absl::Status Apply(std::string_view payload, EventEntry& entry);
// The id inside a payload ("" if it cannot be read).
std::string PayloadId(std::string_view payload);

}  // namespace stoa::gateway::events
