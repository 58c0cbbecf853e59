// A Prometheus metrics registry with the API shape of prometheus-cpp (which
// Debian 12 does not package): a Registry owns Families; a Family owns one
// series (a metric) per label set; Serialize() renders the text exposition
// format 0.0.4.
//
//   Registry registry;
//   auto& calls = registry.AddCounter("stoa_invocations_total", "Invocations.");
//   CounterPtr ok = calls.Add({{"function", "digits"}, {"outcome", "ok"}});
//   ok->Increment();           // hot path: lock-free
//
// Thread safety: everything is thread-safe. Updating a metric is a relaxed
// atomic operation; Family::Add takes a mutex, so callers on a hot path keep
// the returned handle. Registries are injected (no global instance).
//
// Ownership and removal. A series is shared by its family and the handles
// (std::shared_ptr) Add returned. Family::Remove / RemoveMatching and
// Registry::RemoveMatching drop the family's share: the series leaves the
// exposition at once, and is freed when the last handle goes. A handle kept
// across a removal therefore never dangles; its updates go to a detached
// series that is no longer exported, and a later Add with the same labels
// starts a new series from zero (a counter reset, as Prometheus expects).
// So an owner that caches handles (a loaded function's counters) removes its
// series when it drops the thing they describe, and drops its handles with
// it; a one-shot `family.Add(labels)->Increment()` racing a removal is safe
// and may re-create the series.
//
// Cardinality. A registry holds at most `max_series` series (one label set
// of one family; a histogram's buckets, sum and count are one series). Past
// the cap, Add with a new label set returns the family's sink: a series that
// is never exported, shared by every refused label set, so callers never get
// null. Each refused Add counts once in
// stoa_metrics_series_dropped_total{family} (that family is exempt from the
// cap: it has at most one series per family). Removing series frees room.
// Families themselves are few and fixed (names in code) and not capped.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace stoa::common::metrics {

using Labels = std::map<std::string, std::string>;

// The cap a Registry gets when its owner sets none (--metrics-max-series).
inline constexpr size_t kDefaultMaxSeries = 10000;
// The family counting Add calls refused at the cap.
inline constexpr char kSeriesDroppedFamily[] = "stoa_metrics_series_dropped_total";

class Counter {
 public:
  void Increment(double by = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Increment(double by = 1.0);
  void Decrement(double by = 1.0) { Increment(-by); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds` are the upper bounds of the buckets, strictly increasing; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& Bounds() const { return bounds_; }
  // Non-cumulative count of bucket i (i == Bounds().size() is the +Inf bucket).
  uint64_t BucketCount(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

using CounterPtr = std::shared_ptr<Counter>;
using GaugePtr = std::shared_ptr<Gauge>;
using HistogramPtr = std::shared_ptr<Histogram>;

// Buckets for latencies in seconds, 100 µs to 30 s.
std::vector<double> LatencyBuckets();

enum class MetricType { kCounter, kGauge, kHistogram };

class Registry;

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type)
      : name_(std::move(name)), help_(std::move(help)), type_(type) {}
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  // Appends this family in text exposition format.
  virtual void Serialize(std::string& out) const = 0;
  // Drops every series whose label `label` has the value `value` (see the
  // file comment for handles still held); returns how many.
  virtual size_t RemoveMatching(const std::string& label, const std::string& value) = 0;
  // Series exported (the sink is not one).
  virtual size_t size() const = 0;

 protected:
  std::string name_;
  std::string help_;
  MetricType type_;
};

template <typename T>
class Family final : public FamilyBase {
 public:
  // `registry` holds the series cap; nullptr: uncapped. Families are made by
  // Registry::Add*.
  Family(std::string name, std::string help, MetricType type, std::vector<double> bounds,
         Registry* registry);

  // The series for `labels`, created on first use; never null. At the
  // registry's cap a new label set gets the unexported sink.
  std::shared_ptr<T> Add(const Labels& labels);
  // Drops the series with exactly `labels`; false when there is none.
  bool Remove(const Labels& labels);
  size_t RemoveMatching(const std::string& label, const std::string& value) override;
  size_t size() const override;
  void Serialize(std::string& out) const override;

 private:
  std::shared_ptr<T> Make() const;

  const std::vector<double> bounds_;
  Registry* const registry_;
  mutable absl::Mutex mu_;
  std::map<Labels, std::shared_ptr<T>> metrics_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<T> sink_ ABSL_GUARDED_BY(mu_);  // made on the first refusal
};

class Registry {
 public:
  // `max_series`: the cap on series across this registry's families.
  explicit Registry(size_t max_series = kDefaultMaxSeries) : max_series_(max_series) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Adding a family whose name exists returns the existing one (same type
  // expected; a mismatch is a programming error and CHECK-fails).
  Family<Counter>& AddCounter(const std::string& name, const std::string& help);
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help);
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds = LatencyBuckets());

  // Drops, in every family, the series whose label `label` is `value`
  // (e.g. function="digits" when digits is deleted); returns how many.
  size_t RemoveMatching(const std::string& label, const std::string& value);

  // Series held now against max_series() (stoa_metrics_series_dropped_total,
  // uncapped, is not counted).
  size_t series() const { return series_.load(std::memory_order_relaxed); }
  size_t max_series() const { return max_series_; }

  // Text exposition format, version 0.0.4, families sorted by name.
  std::string Serialize() const;

 private:
  template <typename T>
  friend class Family;

  template <typename T>
  Family<T>& AddFamily(const std::string& name, const std::string& help, MetricType type,
                       std::vector<double> bounds);
  // Takes room for one series; false at the cap.
  bool Reserve();
  void Release(size_t n) { series_.fetch_sub(n, std::memory_order_relaxed); }
  // Counts one Add refused by `family`. Called without the family's lock
  // (it takes the registry's, which Serialize holds while taking families').
  void CountDropped(const std::string& family);

  const size_t max_series_;
  std::atomic<size_t> series_{0};
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
};

// Escapes a label value for the text format (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& v);

}  // namespace stoa::common::metrics
