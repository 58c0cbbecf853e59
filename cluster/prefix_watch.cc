#include "cluster/prefix_watch.h"

#include <chrono>

#include "common/backoff.h"
#include "spdlog/spdlog.h"

namespace stoa::cluster {

PrefixWatch::PrefixWatch(EtcdClient& client, std::string prefix, UpdateCallback on_update)
    : client_(client), prefix_(std::move(prefix)), on_update_(std::move(on_update)) {}

PrefixWatch::~PrefixWatch() { Stop(); }

void PrefixWatch::Start() {
  thread_ = std::thread([this] { Run(); });
}

void PrefixWatch::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (stream_context_ != nullptr) stream_context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

bool PrefixWatch::SleepUnlessStopped(int ms) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(ms));
  return !stopping_;
}

void PrefixWatch::Run() {
  common::Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    auto listed = client_.RangePrefix(prefix_);
    if (!listed.ok()) {
      if (connected_.exchange(false) || backoff.failures() == 0) {
        spdlog::warn("etcd watch of {}: {}; retrying", prefix_,
                     std::string(listed.status().message()));
      }
      if (!SleepUnlessStopped(static_cast<int>(backoff.Next().count()))) return;
      continue;
    }
    if (!connected_.exchange(true) && backoff.failures() > 0) {
      spdlog::info("etcd watch of {}: reconnected at revision {}", prefix_, listed->revision);
    }
    backoff.Reset();
    KeySet keys;
    for (KeyValue& kv : listed->kvs) keys.emplace(kv.key, std::move(kv));
    on_update_(keys, listed->revision);
    WatchFrom(keys, listed->revision);
    connected_ = false;
    if (!SleepUnlessStopped(static_cast<int>(backoff.Next().count()))) return;
  }
}

void PrefixWatch::WatchFrom(KeySet& keys, int64_t revision) {
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stream_context_ = &context;
  }
  auto stream = client_.watch_stub().Watch(&context);
  etcdserverpb::WatchRequest request;
  auto* create = request.mutable_create_request();
  create->set_key(prefix_);
  create->set_range_end(PrefixEnd(prefix_));
  create->set_start_revision(revision + 1);
  etcdserverpb::WatchResponse response;
  if (stream->Write(request)) {
    while (stream->Read(&response)) {
      if (response.canceled()) {
        spdlog::warn("etcd watch of {} cancelled ({}); listing again", prefix_,
                     response.cancel_reason());
        break;
      }
      if (response.events_size() == 0) continue;
      for (const auto& event : response.events()) {
        const auto& kv = event.kv();
        if (event.type() == mvccpb::Event::DELETE) {
          keys.erase(kv.key());
        } else {
          keys[kv.key()] = KeyValue{.key = kv.key(),
                                    .value = kv.value(),
                                    .create_revision = kv.create_revision(),
                                    .mod_revision = kv.mod_revision(),
                                    .version = kv.version(),
                                    .lease = kv.lease()};
        }
      }
      on_update_(keys, response.header().revision());
    }
  }
  context.TryCancel();
  grpc::Status status = stream->Finish();
  {
    absl::MutexLock lock(&mu_);
    stream_context_ = nullptr;
    if (stopping_) return;
  }
  spdlog::warn("etcd watch of {} ended: {}", prefix_, client_.FromGrpc(status, "watch").ToString());
}

}  // namespace stoa::cluster
