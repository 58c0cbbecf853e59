// stoa-mqtt-load: MQTT publishers against the gateway's bridge (issue 13
// item 7). N publisher connections each keep `window` invocations in flight
// on {prefix}/invoke/{function}/{request_id}; one subscriber takes every
// result from {prefix}/result/{function}/+ and times publish -> result.
// Prints one JSON line: results/s over the measured interval and latency
// percentiles.
//
//   stoa-mqtt-load --broker tcp://127.0.0.1:1883 [--publishers 64] [--window 4]
//                  [--duration-s 10] [--function echo] [--prefix stoa]
//                  [--payload '{"x":1}'] [--in-process-bridge] [--drain-s 10]
//
// After the measured interval no new invocation is issued, and those in
// flight get --drain-s to answer: in_flight_at_stop and drain_ms say how
// many and how long; unanswered_at_end counts those never answered (lost,
// or slower than the drain). Request ids carry the process id, so repeated
// runs against one gateway are not deduplicated as the same requests.
//
// --in-process-bridge runs the bridge in this process on an in-memory queue
// that accepts at once and answers with the body (no disk, no executor): the
// ceiling of the MQTT path (broker + codec + bridge), not a durable figure.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "gateway/events/mqtt_bridge.h"
#include "gateway/events/mqtt_client.h"
#include "spdlog/spdlog.h"

namespace {

using stoa::gateway::events::EventQueue;
using stoa::gateway::events::EventRecord;
using stoa::gateway::events::EventSubmission;
using stoa::gateway::events::MqttClient;
using Clock = std::chrono::steady_clock;

// Accepts at once, finishes at once with the body as the result.
class ImmediateQueue final : public EventQueue {
 public:
  void Submit(EventSubmission s, DurableCallback on_durable) override {
    const std::string id = absl::StrCat("ev", next_.fetch_add(1));
    on_durable(stoa::gateway::events::Accepted{.id = id, .duplicate = false});
    EventRecord r;
    r.id = id;
    r.function = s.function;
    r.status = stoa::gateway::events::EventStatus::kSucceeded;
    r.result_body = std::move(s.body);
    r.result_content_type = "application/json";
    r.origin = s.origin;
    r.reply_to = s.reply_to;
    r.correlation_data = s.correlation_data;
    for (const auto& listener : listeners_) listener(r);
  }
  std::optional<EventRecord> Get(const std::string&) const override { return std::nullopt; }
  void Cancel(const std::string&, CancelCallback done) override { done(absl::OkStatus()); }
  void MarkDelivered(const std::string&) override {}
  Depth depth() const override { return {}; }
  std::vector<EventRecord> List(stoa::gateway::events::EventStatus, size_t) const override {
    return {};
  }
  void OnFinished(FinishedListener l) override { listeners_.push_back(std::move(l)); }

 private:
  std::atomic<uint64_t> next_{1};
  std::vector<FinishedListener> listeners_;
};

struct Flags {
  std::string broker = "tcp://127.0.0.1:1883";
  int publishers = 64;
  int window = 4;
  int duration_s = 10;
  int drain_s = 10;  // after the run: how long in-flight invocations may take to answer
  std::string function = "echo";
  std::string prefix = "stoa";
  std::string payload = "{\"x\":1}";
  bool in_process_bridge = false;
};

struct Load {
  Flags flags;
  std::vector<std::unique_ptr<MqttClient>> publishers;
  std::vector<std::atomic<uint64_t>> next;
  absl::Mutex mu;
  std::unordered_map<std::string, Clock::time_point> sent ABSL_GUARDED_BY(mu);
  std::vector<double> latency_ms ABSL_GUARDED_BY(mu);
  std::atomic<bool> measuring{false}, issuing{true};
  std::atomic<uint64_t> results{0};
  const std::string tag;

  // `tag` (this process) makes request ids unique across runs against one
  // gateway: a repeated id is a duplicate there, answered at once with the
  // earlier run's result instead of running.
  Load(Flags f, std::string run_tag)
      : flags(std::move(f)), next(flags.publishers), tag(std::move(run_tag)) {}

  void Send(int p) {
    const std::string id = absl::StrCat("p", p, "-", tag, "-", next[p].fetch_add(1));
    {
      absl::MutexLock lock(&mu);
      sent[id] = Clock::now();
    }
    publishers[p]->Publish(
        {.topic = absl::StrCat(flags.prefix, "/invoke/", flags.function, "/", id),
         .payload = flags.payload,
         .content_type = "application/json",
         .correlation_data = "",
         .on_delivered = nullptr});
  }

  void OnResult(const std::string& topic) {
    const std::string id = topic.substr(topic.rfind('/') + 1);
    Clock::time_point start;
    {
      absl::MutexLock lock(&mu);
      auto it = sent.find(id);
      if (it == sent.end()) return;
      start = it->second;
      sent.erase(it);
      if (measuring) {
        latency_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        results.fetch_add(1);
      }
    }
    if (issuing) Send(std::stoi(id.substr(1, id.find('-') - 1)));
  }
};

std::unique_ptr<MqttClient> Client(const Flags& f, const std::string& id,
                                   const std::string& subscription) {
  auto c = MqttClient::Create({.broker = f.broker,
                               .client_id = id,
                               .username = "",
                               .password = "",
                               .ca_file = "",
                               .cert_file = "",
                               .key_file = "",
                               .subscription = subscription,
                               .keep_alive_s = 30,
                               .session_expiry_s = 0,
                               .receive_maximum = 1024,
                               .max_packet_bytes = 0,
                               .retry_min = std::chrono::milliseconds(100),
                               .retry_max = std::chrono::milliseconds(1000)});
  if (!c.ok()) {
    std::fprintf(stderr, "stoa-mqtt-load: %s\n", std::string(c.status().message()).c_str());
    std::exit(2);
  }
  return *std::move(c);
}

bool WaitConnected(const std::vector<MqttClient*>& clients) {
  for (int i = 0; i < 500; ++i) {
    if (std::all_of(clients.begin(), clients.end(), [](auto* c) { return c->connected(); })) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app("stoa-mqtt-load: MQTT publishers against the gateway's bridge");
  app.add_option("--broker", flags.broker);
  app.add_option("--publishers", flags.publishers)->check(CLI::Range(1, 1024));
  app.add_option("--window", flags.window)->check(CLI::Range(1, 1000));
  app.add_option("--duration-s", flags.duration_s)->check(CLI::Range(1, 3600));
  app.add_option("--drain-s", flags.drain_s,
                 "after the run, how long in-flight invocations may "
                 "take to answer before they count as unanswered")
      ->check(CLI::Range(0, 600));
  app.add_option("--function", flags.function);
  app.add_option("--prefix", flags.prefix);
  app.add_option("--payload", flags.payload);
  app.add_flag("--in-process-bridge", flags.in_process_bridge);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  const std::string tag = std::to_string(getpid());
  ImmediateQueue queue;
  stoa::common::metrics::Registry metrics;
  std::unique_ptr<MqttClient> bridge_client;
  std::unique_ptr<stoa::gateway::events::MqttBridge> bridge;
  if (flags.in_process_bridge) {
    bridge_client = Client(flags, "bench-bridge-" + tag,
                           stoa::gateway::events::MqttBridge::InvokeFilter(flags.prefix));
    bridge = std::make_unique<stoa::gateway::events::MqttBridge>(
        queue, *bridge_client,
        stoa::gateway::events::MqttBridge::Options{.topic_prefix = flags.prefix}, metrics);
    auto* b = bridge.get();
    bridge_client->Start([b](auto m) { b->HandleMessage(std::move(m)); }, [](bool) {});
  }
  Load load(flags, tag);
  auto results = Client(flags, "bench-results-" + tag,
                        absl::StrCat(flags.prefix, "/result/", flags.function, "/+"));
  MqttClient* r = results.get();
  results->Start(
      [&load, r](stoa::gateway::events::MqttInbound m) {
        r->Acknowledge(m.ack);
        load.OnResult(m.topic);
      },
      [](bool) {});
  std::vector<MqttClient*> all = {r};
  if (bridge_client) all.push_back(bridge_client.get());
  for (int p = 0; p < flags.publishers; ++p) {
    load.publishers.push_back(
        Client(flags, absl::StrCat("bench-pub-", p, "-", tag), absl::StrCat("bench/idle/", tag)));
    load.publishers.back()->Start([](auto) {}, [](bool) {});
    all.push_back(load.publishers.back().get());
  }
  if (!WaitConnected(all)) {
    std::fprintf(stderr, "stoa-mqtt-load: could not connect to %s\n", flags.broker.c_str());
    return 1;
  }
  for (int p = 0; p < flags.publishers; ++p) {
    for (int w = 0; w < flags.window; ++w) load.Send(p);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // warm-up
  auto cpu_s = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  const double cpu_start = cpu_s();
  load.measuring = true;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(flags.duration_s));
  load.measuring = false;
  const double cpu_used = cpu_s() - cpu_start;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  load.issuing = false;
  // Drain: what is in flight when issuing stops is answered later (not
  // lost); only what is still unanswered after --drain-s is reported as
  // unanswered_at_end.
  const auto stopped = Clock::now();
  size_t in_flight_at_stop = 0;
  {
    absl::MutexLock lock(&load.mu);
    in_flight_at_stop = load.sent.size();
    load.mu.AwaitWithTimeout(
        absl::Condition(
            +[](Load* l) ABSL_EXCLUSIVE_LOCKS_REQUIRED(l->mu) { return l->sent.empty(); }, &load),
        absl::Seconds(flags.drain_s));
  }
  const double drain_ms = std::chrono::duration<double, std::milli>(Clock::now() - stopped).count();
  std::vector<double> lat;
  size_t unanswered = 0;
  {
    absl::MutexLock lock(&load.mu);
    lat = load.latency_ms;
    unanswered = load.sent.size();
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&lat](double q) {
    return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<size_t>(q * lat.size()))];
  };
  std::printf(
      "{\"publishers\":%d,\"window\":%d,\"results\":%zu,\"results_per_s\":%.0f,\"p50_ms\":%.2f,"
      "\"p99_ms\":%.2f,\"max_ms\":%.2f,\"cpu_us_per_result\":%.1f,\"in_flight_at_stop\":%zu,"
      "\"drain_ms\":%.0f,\"unanswered_at_end\":%zu,\"in_process_bridge\":%s}\n",
      flags.publishers, flags.window, lat.size(), lat.size() / seconds, pct(0.5), pct(0.99),
      lat.empty() ? 0.0 : lat.back(), lat.empty() ? 0.0 : cpu_used * 1e6 / lat.size(),
      in_flight_at_stop, drain_ms, unanswered, flags.in_process_bridge ? "true" : "false");
  for (auto& p : load.publishers) p->Stop();
  results->Stop();
  if (bridge_client) bridge_client->Stop();
  return 0;
}
