#include "executors/batching_queue.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "proto/stoa/v1/datatype.h"

namespace stoa::executors {
namespace {

const v1::Tensor* FindTensor(const functions::InvocationInput& input, const std::string& name) {
  for (const v1::Tensor& t : input.tensors) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

std::vector<int64_t> MemberRows(const Batch& batch) {
  std::vector<int64_t> rows;
  rows.reserve(batch.size());
  for (const BatchMember& m : batch) {
    rows.push_back(m.input.tensors.empty() || m.input.tensors[0].shape_size() == 0
                       ? 0
                       : m.input.tensors[0].shape(0));
  }
  return rows;
}

void RunAlone(BatchMember& member, const BatchRunFn& run, const common::Clock& clock) {
  BatchRunInfo info;
  info.start_us = clock.NowMicros();
  member.input.budget_us = functions::BudgetLeft(member.deadline_us, info.start_us);
  absl::StatusOr<functions::InvocationOutput> out = run(member.input);
  info.end_us = clock.NowMicros();
  info.members = 1;
  if (!member.input.tensors.empty() && member.input.tensors[0].shape_size() > 0) {
    info.rows = member.input.tensors[0].shape(0);
  }
  member.done(std::move(out), info);
}

}  // namespace

absl::StatusOr<BatchShape> GetBatchShape(const functions::InvocationInput& input) {
  if (!input.raw.empty()) return absl::InvalidArgumentError("the request has a raw body");
  if (input.tensors.empty()) return absl::InvalidArgumentError("the request has no tensors");
  std::vector<const v1::Tensor*> sorted;
  for (const v1::Tensor& t : input.tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const v1::Tensor* a, const v1::Tensor* b) { return a->name() < b->name(); });
  BatchShape shape;
  shape.rows = -1;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const v1::Tensor& t = *sorted[i];
    if (i > 0 && sorted[i - 1]->name() == t.name()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name(), "' is given twice"));
    }
    if (t.shape_size() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name(), "' is a scalar"));
    }
    const int64_t elem = static_cast<int64_t>(v1::DataTypeBytes(t.datatype()));
    if (elem == 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name(), "' has no datatype"));
    }
    int64_t count = 1;
    for (int64_t d : t.shape()) {
      if (d <= 0 || count > (int64_t{1} << 40) / d) {
        return absl::InvalidArgumentError(absl::StrCat("input '", t.name(), "' has a bad shape"));
      }
      count *= d;
    }
    if (static_cast<int64_t>(t.raw().size()) != count * elem) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", t.name(), "' has bytes that do not match its shape"));
    }
    if (shape.rows >= 0 && t.shape(0) != shape.rows) {
      return absl::InvalidArgumentError("inputs differ in their first dimension");
    }
    shape.rows = t.shape(0);
    absl::StrAppend(&shape.key, t.name().size(), ":", t.name(), "/", t.datatype(), "/");
    for (int d = 1; d < t.shape_size(); ++d) absl::StrAppend(&shape.key, t.shape(d), ",");
    absl::StrAppend(&shape.key, ";");
  }
  return shape;
}

absl::StatusOr<functions::InvocationInput> StackInputs(const Batch& batch, int64_t now_us) {
  if (batch.empty()) return absl::InvalidArgumentError("StackInputs: empty batch");
  functions::InvocationInput stacked;
  const functions::InvocationInput& first = batch[0].input;
  int64_t deadline_us = 0;
  bool unbounded = false;
  for (const BatchMember& m : batch) {
    if (m.deadline_us == 0) unbounded = true;
    deadline_us = std::max(deadline_us, m.deadline_us);
  }
  stacked.budget_us = unbounded ? 0 : functions::BudgetLeft(deadline_us, now_us);
  for (const v1::Tensor& proto : first.tensors) {
    v1::Tensor& out = stacked.tensors.emplace_back();
    out.set_name(proto.name());
    out.set_datatype(proto.datatype());
    int64_t rows = 0;
    size_t bytes = 0;
    std::vector<const v1::Tensor*> parts;
    for (const BatchMember& m : batch) {
      const v1::Tensor* t = FindTensor(m.input, proto.name());
      if (t == nullptr || t->shape_size() != proto.shape_size() ||
          t->datatype() != proto.datatype()) {
        return absl::InvalidArgumentError(
            absl::StrCat("StackInputs: members differ in input '", proto.name(), "'"));
      }
      parts.push_back(t);
      rows += t->shape(0);
      bytes += t->raw().size();
    }
    out.add_shape(rows);
    for (int d = 1; d < proto.shape_size(); ++d) out.add_shape(proto.shape(d));
    std::string* raw = out.mutable_raw();
    raw->reserve(bytes);
    for (const v1::Tensor* t : parts) raw->append(t->raw());
  }
  return stacked;
}

absl::StatusOr<std::vector<functions::InvocationOutput>> SplitOutput(
    const functions::InvocationOutput& output, const std::vector<int64_t>& rows) {
  int64_t total = 0;
  for (int64_t r : rows) total += r;
  std::vector<functions::InvocationOutput> parts(rows.size());
  for (const v1::Tensor& t : output.tensors) {
    if (t.shape_size() == 0 || t.shape(0) != total || total <= 0 ||
        t.raw().size() % static_cast<size_t>(total) != 0) {
      // The model cannot be batched: a property of the function, not of
      // the request (415 is FAILED_PRECONDITION's one meaning).
      return absl::UnimplementedError(
          absl::StrCat("batching is not supported for this model: output '", t.name(),
                       "' does not have one row per input row (", total, " rows in the batch)"));
    }
    const size_t row_bytes = t.raw().size() / static_cast<size_t>(total);
    size_t offset = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      v1::Tensor& part = parts[i].tensors.emplace_back();
      part.set_name(t.name());
      part.set_datatype(t.datatype());
      part.add_shape(rows[i]);
      for (int d = 1; d < t.shape_size(); ++d) part.add_shape(t.shape(d));
      const size_t n = row_bytes * static_cast<size_t>(rows[i]);
      part.set_raw(t.raw().data() + offset, n);
      offset += n;
    }
  }
  return parts;
}

void RunBatch(Batch batch, const BatchRunFn& run, const common::Clock& clock) {
  // Members past their deadline do not run (and do not hold up the others).
  const int64_t now_us = clock.NowMicros();
  Batch live;
  live.reserve(batch.size());
  for (BatchMember& m : batch) {
    if (m.deadline_us != 0 && now_us >= m.deadline_us) {
      BatchRunInfo info;
      info.start_us = info.end_us = now_us;
      m.done(absl::DeadlineExceededError(absl::StrCat("waited ", now_us - m.enqueued_us,
                                                      " us for a batch, past its deadline; it did "
                                                      "not run")),
             info);
      continue;
    }
    live.push_back(std::move(m));
  }
  if (live.empty()) return;
  if (live.size() == 1) {
    RunAlone(live[0], run, clock);
    return;
  }
  BatchRunInfo info;
  info.members = static_cast<int>(live.size());
  const std::vector<int64_t> rows = MemberRows(live);
  for (int64_t r : rows) info.rows += r;
  info.start_us = clock.NowMicros();
  absl::StatusOr<functions::InvocationInput> stacked = StackInputs(live, info.start_us);
  if (!stacked.ok()) {
    for (BatchMember& m : live) RunAlone(m, run, clock);
    return;
  }
  absl::StatusOr<functions::InvocationOutput> out = run(*stacked);
  info.end_us = clock.NowMicros();
  if (!out.ok()) {
    for (BatchMember& m : live) m.done(out.status(), info);
    return;
  }
  absl::StatusOr<std::vector<functions::InvocationOutput>> parts = SplitOutput(*out, rows);
  if (!parts.ok()) {
    for (BatchMember& m : live) RunAlone(m, run, clock);
    return;
  }
  for (size_t i = 0; i < live.size(); ++i) live[i].done(std::move((*parts)[i]), info);
}

BatchingQueue::BatchingQueue(BatchingOptions options, const common::Clock& clock)
    : options_{std::max<int64_t>(options.max_batch, 1), std::max<int64_t>(options.max_delay_us, 0)},
      clock_(clock) {}

std::vector<Batch> BatchingQueue::Add(BatchMember member, const BatchShape& shape) {
  std::vector<Batch> ready;
  const int64_t now_us = clock_.NowMicros();
  member.enqueued_us = now_us;
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(shape.key);
  if (it != groups_.end() && it->second.rows + shape.rows > options_.max_batch) {
    ready.push_back(std::move(it->second.members));
    groups_.erase(it);
    it = groups_.end();
  }
  if (it == groups_.end()) {
    it = groups_.emplace(shape.key, Group{}).first;
    it->second.oldest_us = now_us;
  }
  Group& group = it->second;
  group.members.push_back(std::move(member));
  group.rows += shape.rows;
  if (group.rows >= options_.max_batch) {
    ready.push_back(std::move(group.members));
    groups_.erase(it);
  }
  return ready;
}

std::vector<Batch> BatchingQueue::TakeExpired() {
  const int64_t now_us = clock_.NowMicros();
  std::vector<std::pair<int64_t, Batch>> expired;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = groups_.begin(); it != groups_.end();) {
      if (now_us - it->second.oldest_us >= options_.max_delay_us) {
        expired.emplace_back(it->second.oldest_us, std::move(it->second.members));
        it = groups_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::stable_sort(expired.begin(), expired.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Batch> batches;
  for (auto& [oldest, batch] : expired) batches.push_back(std::move(batch));
  return batches;
}

std::vector<Batch> BatchingQueue::TakeAll() {
  absl::MutexLock lock(&mu_);
  std::vector<Batch> batches;
  for (auto& [key, group] : groups_) batches.push_back(std::move(group.members));
  groups_.clear();
  return batches;
}

std::optional<int64_t> BatchingQueue::NextExpiryUs() const {
  absl::MutexLock lock(&mu_);
  std::optional<int64_t> next;
  for (const auto& [key, group] : groups_) {
    const int64_t at = group.oldest_us + options_.max_delay_us;
    if (!next.has_value() || at < *next) next = at;
  }
  return next;
}

size_t BatchingQueue::pending_members() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [key, group] : groups_) n += group.members.size();
  return n;
}

Batcher::Batcher(BatchingOptions options, BatchRunFn run, Dispatch dispatch,
                 const common::Clock& clock)
    : run_(std::move(run)),
      dispatch_(std::move(dispatch)),
      clock_(clock),
      queue_(options, clock),
      timer_([this] { TimerLoop(); }) {}

Batcher::~Batcher() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.Signal();
  }
  timer_.join();
  DispatchBatches(queue_.TakeAll());
}

void Batcher::DispatchBatches(std::vector<Batch> batches) {
  for (Batch& batch : batches) {
    // The work owns copies of what it needs: it may outlive this Batcher.
    dispatch_([batch = std::move(batch), run = run_, &clock = clock_]() mutable {
      RunBatch(std::move(batch), run, clock);
    });
  }
}

void Batcher::Submit(functions::InvocationInput input, int64_t deadline_us, BatchDone done) {
  BatchMember member;
  member.input = std::move(input);
  member.deadline_us = deadline_us;
  member.done = std::move(done);
  absl::StatusOr<BatchShape> shape = GetBatchShape(member.input);
  if (!shape.ok() || shape->rows > queue_.options().max_batch) {
    member.enqueued_us = clock_.NowMicros();
    Batch alone;
    alone.push_back(std::move(member));
    std::vector<Batch> one;
    one.push_back(std::move(alone));
    DispatchBatches(std::move(one));
    return;
  }
  const std::optional<int64_t> before = queue_.NextExpiryUs();
  DispatchBatches(queue_.Add(std::move(member), *shape));
  DispatchBatches(queue_.TakeExpired());
  const std::optional<int64_t> after = queue_.NextExpiryUs();
  if (after.has_value() && (!before.has_value() || *after < *before)) Poke();
}

void Batcher::Poke() {
  absl::MutexLock lock(&mu_);
  ++wakeups_;
  cv_.Signal();
}

void Batcher::TimerLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      const uint64_t seen = wakeups_;
      while (!stop_ && wakeups_ == seen) {
        const std::optional<int64_t> next = queue_.NextExpiryUs();
        if (!next.has_value()) {
          cv_.Wait(&mu_);
          continue;
        }
        const int64_t wait_us = *next - clock_.NowMicros();
        if (wait_us <= 0) break;
        cv_.WaitWithTimeout(&mu_, absl::Microseconds(wait_us));
      }
      if (stop_) return;
    }
    DispatchBatches(queue_.TakeExpired());
  }
}

}  // namespace stoa::executors
