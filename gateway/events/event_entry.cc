#include "gateway/events/event_entry.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace stoa::gateway::events {
namespace {

using nlohmann::json;

json Binary(const std::string& bytes) {
  return json::binary(std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

std::string FromBinary(const json& value) {
  if (value.is_binary()) {
    const auto& b = value.get_binary();
    return std::string(b.begin(), b.end());
  }
  return value.get<std::string>();
}

int64_t Micros(absl::Time t) {
  if (t == absl::InfinitePast()) return INT64_MIN;
  if (t == absl::InfiniteFuture()) return INT64_MAX;
  return absl::ToUnixMicros(t);
}

absl::Time FromMicros(int64_t us) {
  if (us == INT64_MIN) return absl::InfinitePast();
  if (us == INT64_MAX) return absl::InfiniteFuture();
  return absl::FromUnixMicros(us);
}

json StateJson(const EventEntry& e) {
  const EventRecord& r = e.record;
  return json{{"id", r.id},
              {"st", static_cast<int>(r.status)},
              {"tier", r.tier},
              {"att", r.attempts},
              {"fin", Micros(r.finished_at)},
              {"rb", Binary(r.result_body)},
              {"rct", r.result_content_type},
              {"ec", r.error_code},
              {"em", r.error_message},
              {"dlv", r.delivered}};
}

}  // namespace

std::string EncodeState(const EventEntry& entry) {
  std::vector<uint8_t> out = json::to_cbor(StateJson(entry));
  return std::string(out.begin(), out.end());
}

std::string EncodeDelivered(const std::string& id) {
  std::vector<uint8_t> out = json::to_cbor(json{{"id", id}, {"dlv", true}});
  return std::string(out.begin(), out.end());
}

std::string EncodeAccepted(const EventEntry& e) {
  const EventRecord& r = e.record;
  json j = StateJson(e);
  j.update(json{{"fn", r.function},
                {"acc", Micros(r.accepted_at)},
                {"exp", Micros(r.expires_at)},
                {"src", static_cast<int>(r.origin.source)},
                {"dev", r.origin.device_id},
                {"pr", r.origin.principal},
                {"ten", r.origin.tenant},
                {"rt", r.reply_to},
                {"cd", Binary(r.correlation_data)},
                {"seq", e.seq},
                {"body", Binary(e.body)},
                {"ct", e.content_type},
                {"ihl", e.inference_header_length},
                {"dk", e.dedup_key},
                {"ft", e.forced_tier},
                {"ord", e.ordered}});
  std::vector<uint8_t> out = json::to_cbor(j);
  return std::string(out.begin(), out.end());
}

absl::Status Apply(std::string_view payload, EventEntry& e) {
  try {
    const json j = json::from_cbor(payload.begin(), payload.end());
    EventRecord& r = e.record;
    auto str = [&j](const char* key, std::string& out) {
      if (j.contains(key)) out = j[key].get<std::string>();
    };
    auto bin = [&j](const char* key, std::string& out) {
      if (j.contains(key)) out = FromBinary(j[key]);
    };
    auto time = [&j](const char* key, absl::Time& out) {
      if (j.contains(key)) out = FromMicros(j[key].get<int64_t>());
    };
    str("id", r.id);
    if (j.contains("st")) r.status = static_cast<EventStatus>(j["st"].get<int>());
    str("tier", r.tier);
    if (j.contains("att")) r.attempts = j["att"].get<uint32_t>();
    time("fin", r.finished_at);
    bin("rb", r.result_body);
    str("rct", r.result_content_type);
    str("ec", r.error_code);
    str("em", r.error_message);
    if (j.contains("dlv")) r.delivered = j["dlv"].get<bool>();
    str("fn", r.function);
    time("acc", r.accepted_at);
    time("exp", r.expires_at);
    if (j.contains("src")) r.origin.source = static_cast<EventOrigin::Source>(j["src"].get<int>());
    str("dev", r.origin.device_id);
    str("pr", r.origin.principal);
    str("ten", r.origin.tenant);
    str("rt", r.reply_to);
    bin("cd", r.correlation_data);
    if (j.contains("seq")) e.seq = j["seq"].get<uint64_t>();
    bin("body", e.body);
    str("ct", e.content_type);
    str("ihl", e.inference_header_length);
    str("dk", e.dedup_key);
    str("ft", e.forced_tier);
    if (j.contains("ord")) e.ordered = j["ord"].get<bool>();
  } catch (const std::exception& ex) {
    return absl::InvalidArgumentError(absl::StrCat("event record: ", ex.what()));
  }
  return absl::OkStatus();
}

std::string PayloadId(std::string_view payload) {
  try {
    const json j = json::from_cbor(payload.begin(), payload.end());
    return j.value("id", "");
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace stoa::gateway::events
