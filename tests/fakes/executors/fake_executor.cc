#include "tests/fakes/executors/fake_executor.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace stoa::executors {

FakeExecutor::FakeExecutor(std::string name, Options options)
    : name_(std::move(name)), options_(options) {
  if (options_.threads > 0) pool_ = std::make_unique<common::ThreadPool>(options_.threads);
}

FakeExecutor::~FakeExecutor() {
  Release(absl::UnavailableError("the fake executor is gone"));
  pool_.reset();
}

void FakeExecutor::Answer(std::function<void()> answer) {
  if (pool_) {
    pool_->Schedule(std::move(answer));
  } else {
    answer();
  }
}

void FakeExecutor::Finish(v1::InvokeRequest request, InvokeCallback done, absl::Status status) {
  bool loaded;
  {
    absl::MutexLock lock(&mu_);
    loaded = !options_.require_loaded ||
             loaded_.contains(absl::StrCat(request.function(), "@", request.sha256()));
    answered_ok_ += status.ok() && loaded;
  }
  if (!status.ok()) return done(status);
  if (!loaded) return done(absl::NotFoundError("function not loaded"));
  v1::InvokeResponse response;
  for (const auto& in : request.inputs()) *response.add_outputs() = in;  // echo
  response.set_exec_us(100);
  response.set_queue_us(10);
  response.set_queue_depth(3);
  response.set_device("fake");
  done(std::move(response));
}

void FakeExecutor::Invoke(v1::InvokeRequest request, InvokeCallback done, CancelSignalPtr cancel) {
  absl::Status status;
  std::shared_ptr<Held> held;
  {
    absl::MutexLock lock(&mu_);
    ++counts_->invoke;
    last_timeout_ms_ = request.timeout_ms();
    status = invoke_status_;
    if (holding_) {
      held = std::make_shared<Held>(Held{std::move(request), std::move(done), cancel});
      held_.push_back(held);
    }
  }
  if (!held) {
    Answer([this, request = std::move(request), done = std::move(done), status]() mutable {
      Finish(std::move(request), std::move(done), status);
    });
    return;
  }
  if (!cancel) return;
  // Outside mu_: the hook runs under the signal's lock and takes mu_.
  cancel->SetHook([this, held] {
    {
      absl::MutexLock lock(&mu_);
      auto it = std::find(held_.begin(), held_.end(), held);
      if (it == held_.end()) return;  // released meanwhile
      held_.erase(it);
      ++counts_->cancelled;
    }
    // Not inline: the caller's callback reads the signal.
    cancel_pool_.Schedule([held] { held->done(absl::CancelledError("cancelled by the caller")); });
  });
}

void FakeExecutor::LoadFunction(v1::LoadFunctionRequest request, LoadCallback done) {
  absl::Status status;
  v1::LoadFunctionResponse response;
  {
    absl::MutexLock lock(&mu_);
    ++counts_->load;
    status = load_status_;
    if (status.ok()) {
      std::string key = absl::StrCat(request.spec().name(), "@", request.spec().sha256());
      response.set_already_loaded(!loaded_.insert(key).second);
    }
  }
  response.set_load_us(response.already_loaded() ? 0 : 777);
  Answer([done = std::move(done), status, response]() mutable {
    if (!status.ok()) return done(status);
    done(std::move(response));
  });
}

void FakeExecutor::UnloadFunction(v1::UnloadFunctionRequest request, UnloadCallback done) {
  {
    absl::MutexLock lock(&mu_);
    ++counts_->unload;
    absl::erase_if(loaded_, [&](const std::string& k) {
      return absl::StartsWith(k, request.function() + "@");
    });
  }
  Answer([done = std::move(done)] {
    v1::UnloadFunctionResponse r;
    r.set_unloaded(true);
    done(r);
  });
}

void FakeExecutor::GetStatus(StatusCallback done) {
  absl::Status status;
  v1::GetStatusResponse r;
  {
    absl::MutexLock lock(&mu_);
    ++counts_->status;
    status = status_status_;
    r.set_queue_depth(status_depth_);
    r.set_threads(1);
    r.set_invocations(answered_ok_);
  }
  if (options_.clock) options_.clock->AdvanceMicros(options_.status_rtt_us);
  Answer([done = std::move(done), status, r] {
    if (!status.ok()) return done(status);
    done(r);
  });
}

void FakeExecutor::SetInvokeStatus(absl::Status s) {
  absl::MutexLock lock(&mu_);
  invoke_status_ = std::move(s);
}

void FakeExecutor::SetLoadStatus(absl::Status s) {
  absl::MutexLock lock(&mu_);
  load_status_ = std::move(s);
}

void FakeExecutor::SetStatusStatus(absl::Status s) {
  absl::MutexLock lock(&mu_);
  status_status_ = std::move(s);
}

void FakeExecutor::SetStatusDepth(uint32_t depth) {
  absl::MutexLock lock(&mu_);
  status_depth_ = depth;
}

void FakeExecutor::Hold() {
  absl::MutexLock lock(&mu_);
  holding_ = true;
}

void FakeExecutor::Release(absl::Status status) {
  std::vector<std::shared_ptr<Held>> held;
  {
    absl::MutexLock lock(&mu_);
    holding_ = false;
    held.swap(held_);
  }
  for (auto& h : held) {
    if (h->cancel) h->cancel->ClearHook();
    Answer([this, h, status] { Finish(std::move(h->request), std::move(h->done), status); });
  }
}

int FakeExecutor::held() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(held_.size());
}

void FakeExecutor::Restart() {
  absl::MutexLock lock(&mu_);
  loaded_.clear();
}

uint32_t FakeExecutor::last_timeout_ms() const {
  absl::MutexLock lock(&mu_);
  return last_timeout_ms_;
}

}  // namespace stoa::executors
