// PoolExecutor's membership: slots, AddMember/RemoveMember in place, and
// the views of the members now (pool_executor.h).
#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "executors/pool_executor.h"
#include "spdlog/spdlog.h"

namespace stoa::executors {

void PoolExecutor::AddMember(ExecutorPtr member) {
  std::string name = member->Describe();
  std::vector<MemberRef> idle;
  size_t slot;
  {
    absl::MutexLock lock(&members_mu_);
    idle = Reap();
    slot = slots_.size();
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].executor == nullptr) {
        slot = i;
        break;
      }
    }
    if (slot == slots_.size()) {
      const size_t added = health_.Add();
      slots_.emplace_back();
      (void)added;  // == slot: both grow only here, under members_mu_
    } else {
      health_.Reset(slot);
    }
    {
      // Nothing is warm on a newcomer.
      absl::MutexLock known_lock(&known_mu_);
      for (auto& [key, known] : known_) {
        if (slot < known.warm.size()) known.warm[slot] = false;
      }
    }
    slots_[slot] = Slot{.executor = std::move(member),
                        .calls = std::make_shared<std::atomic<int>>(0),
                        .name = std::move(name),
                        .active = true};
  }
  idle.clear();  // destroyed outside the lock: each waits for its callbacks
  auto loads = std::make_shared<std::vector<v1::LoadFunctionRequest>>();
  {
    absl::MutexLock lock(&known_mu_);
    for (const auto& [key, known] : known_) loads->push_back(known.load);
  }
  std::reverse(loads->begin(), loads->end());  // WarmUp takes from the back
  WarmUp(slot, std::move(loads));
}

void PoolExecutor::WarmUp(size_t i, std::shared_ptr<std::vector<v1::LoadFunctionRequest>> loads) {
  if (loads->empty() || !BeginStart()) return;
  absl::Cleanup started = [this] { EndStart(); };
  std::optional<Use> use = MemberAt(i);
  if (!use) return;  // it left meanwhile
  v1::LoadFunctionRequest load = std::move(loads->back());
  loads->pop_back();
  const std::string key = KeyOf(load.spec().name(), load.spec().sha256());
  health_.CallStarted(i);
  use->executor->LoadFunction(std::move(load), [this, i, key, loads, calls = use->calls](
                                                   absl::StatusOr<v1::LoadFunctionResponse> r) {
    if (r.ok()) {
      if (!r->already_loaded() && r->load_us() > 0) {
        health_.RecordLoad(i, static_cast<double>(r->load_us()));
      }
      SetWarm(key, i, true);
    } else {
      spdlog::warn("warming up pool member {}: {}", i, std::string(r.status().message()));
    }
    health_.CallEnded(i);
    calls->fetch_sub(1);
    WarmUp(i, loads);
  });
}

bool PoolExecutor::RemoveMember(const std::string& name) {
  std::vector<MemberRef> idle;
  bool found = false;
  {
    absl::MutexLock lock(&members_mu_);
    for (Slot& s : slots_) {
      if (s.active && s.name == name) {
        s.active = false;
        found = true;
        break;
      }
    }
    idle = Reap();
  }
  idle.clear();
  return found;
}

std::vector<PoolExecutor::MemberRef> PoolExecutor::Reap() {
  std::vector<MemberRef> idle;
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    // No call whose callback may write slot i, and no Use about to start
    // one: the member is idle for good.
    if (!s.active && s.executor != nullptr && s.calls->load() == 0 && s.executor.use_count() == 1) {
      idle.push_back(std::move(s.executor));
      s = Slot();
    }
  }
  return idle;
}

std::optional<PoolExecutor::Use> PoolExecutor::MemberAt(size_t i) const {
  absl::ReaderMutexLock lock(&members_mu_);
  if (i >= slots_.size() || !slots_[i].active) return std::nullopt;
  slots_[i].calls->fetch_add(1);
  return Use{.slot = i, .executor = slots_[i].executor, .calls = slots_[i].calls};
}

std::vector<PoolExecutor::Use> PoolExecutor::ActiveMembers() const {
  absl::ReaderMutexLock lock(&members_mu_);
  std::vector<Use> out;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].active) continue;
    slots_[i].calls->fetch_add(1);
    out.push_back(Use{.slot = i, .executor = slots_[i].executor, .calls = slots_[i].calls});
  }
  return out;
}

size_t PoolExecutor::size() const {
  absl::ReaderMutexLock lock(&members_mu_);
  size_t n = 0;
  for (const Slot& s : slots_) n += s.active ? 1 : 0;
  return n;
}

std::string PoolExecutor::Describe() const {
  absl::ReaderMutexLock lock(&members_mu_);
  std::string out = "pool[";
  bool first = true;
  for (const Slot& s : slots_) {
    if (!s.active) continue;
    absl::StrAppend(&out, first ? "" : ",", s.name);
    first = false;
  }
  return out + "]";
}

std::vector<MemberStatus> PoolExecutor::Members() const {
  std::vector<std::pair<size_t, std::string>> names;
  {
    absl::ReaderMutexLock lock(&members_mu_);
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].active) names.emplace_back(i, slots_[i].name);
    }
  }
  std::vector<MemberStatus> out;
  for (auto& [i, name] : names) {
    out.push_back(health_.Status(i));
    out.back().name = std::move(name);
  }
  return out;
}

}  // namespace stoa::executors
