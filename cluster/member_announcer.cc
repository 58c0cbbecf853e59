#include "cluster/member_announcer.h"

#include <algorithm>
#include <chrono>

#include "common/backoff.h"
#include "spdlog/spdlog.h"

namespace stoa::cluster {

MemberAnnouncer::MemberAnnouncer(EtcdClient& client, Member member, Options options)
    : client_(client), member_(std::move(member)), options_(options) {}

MemberAnnouncer::~MemberAnnouncer() { Stop(); }

void MemberAnnouncer::Start() {
  thread_ = std::thread([this] { Run(); });
}

bool MemberAnnouncer::SleepUnlessStopped(int ms) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(ms));
  return !stopping_;
}

absl::StatusOr<int64_t> MemberAnnouncer::Announce() {
  auto lease = client_.LeaseGrant(options_.ttl_s);
  if (!lease.ok()) return lease.status();
  {
    absl::MutexLock lock(&mu_);
    lease_ = *lease;
    if (withdrawn_) return *lease;
  }
  auto put = client_.Put(MemberKey(member_), EncodeMember(member_), *lease);
  if (!put.ok()) return put.status();
  spdlog::info("announced {} in etcd ({}) under lease {:x} (ttl {} s)", MemberKey(member_),
               client_.endpoints(), *lease, options_.ttl_s);
  return *lease;
}

void MemberAnnouncer::Run() {
  common::Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
  int64_t lease = 0;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (lease == 0) {
      auto announced = Announce();
      if (!announced.ok()) {
        if (backoff.failures() == 0) {
          spdlog::warn("announce {}: {}; retrying", MemberKey(member_),
                       std::string(announced.status().message()));
        }
        if (!SleepUnlessStopped(static_cast<int>(backoff.Next().count()))) return;
        continue;
      }
      lease = *announced;
    }
    backoff.Reset();
    if (KeepAlive(lease)) {
      spdlog::warn("lease {:x} of {} expired; announcing again", lease, MemberKey(member_));
      lease = 0;
      continue;
    }
    if (!SleepUnlessStopped(static_cast<int>(backoff.Next().count()))) return;
  }
}

bool MemberAnnouncer::KeepAlive(int64_t lease) {
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
    stream_context_ = &context;
  }
  auto stream = client_.lease_stub().LeaseKeepAlive(&context);
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(lease);
  etcdserverpb::LeaseKeepAliveResponse response;
  const int interval_ms = std::max(200, options_.ttl_s * 1000 / 3);
  bool expired = false;
  while (stream->Write(request) && stream->Read(&response)) {
    if (response.ttl() <= 0) {
      expired = true;
      break;
    }
    if (!SleepUnlessStopped(interval_ms)) break;
  }
  context.TryCancel();
  stream->Finish().IgnoreError();
  absl::MutexLock lock(&mu_);
  stream_context_ = nullptr;
  return expired;
}

absl::Status MemberAnnouncer::Withdraw() {
  {
    absl::MutexLock lock(&mu_);
    withdrawn_ = true;
  }
  auto deleted = client_.Delete(MemberKey(member_));
  if (!deleted.ok()) return deleted.status();
  spdlog::info("withdrew {} from etcd", MemberKey(member_));
  return absl::OkStatus();
}

void MemberAnnouncer::Stop() {
  int64_t lease;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    if (stream_context_ != nullptr) stream_context_->TryCancel();
    lease = lease_;
  }
  if (thread_.joinable()) thread_.join();
  if (lease != 0) {
    if (auto s = client_.LeaseRevoke(lease); !s.ok()) {
      spdlog::warn("revoking lease of {}: {}", MemberKey(member_), std::string(s.message()));
    } else {
      spdlog::info("revoked lease {:x} of {}", lease, MemberKey(member_));
    }
  }
}

}  // namespace stoa::cluster
