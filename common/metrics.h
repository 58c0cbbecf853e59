// A Prometheus metrics registry with the API shape of prometheus-cpp (which
// Debian 12 does not package): a Registry owns Families; a Family owns one
// metric per label set; Serialize() renders the text exposition format 0.0.4.
//
//   Registry registry;
//   auto& calls = registry.AddCounter("stoa_invocations_total", "Invocations.");
//   Counter& ok = calls.Add({{"function", "digits"}, {"outcome", "ok"}});
//   ok.Increment();            // hot path: lock-free
//
// Thread safety: everything is thread-safe. Updating a metric is a relaxed
// atomic operation; Family::Add takes a mutex, so callers on a hot path keep
// the returned reference, which stays valid for the registry's lifetime.
// Registries are injected (no global instance).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace stoa::common::metrics {

using Labels = std::map<std::string, std::string>;

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

// Buckets for latencies in seconds, 100 µs to 30 s.
std::vector<double> LatencyBuckets();

enum class MetricType { kCounter, kGauge, kHistogram };

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

 protected:
  std::string name_;
  std::string help_;
  MetricType type_;
};

template <typename T>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, MetricType type, std::vector<double> bounds = {})
      : FamilyBase(std::move(name), std::move(help), type), bounds_(std::move(bounds)) {}

  // Returns the metric for `labels`, creating it on first use.
  T& Add(const Labels& labels) {
    absl::MutexLock lock(&mu_);
    auto it = metrics_.find(labels);
    if (it == metrics_.end()) it = metrics_.emplace(labels, Make()).first;
    return *it->second;
  }
  void Serialize(std::string& out) const override;

 private:
  std::unique_ptr<T> Make() const;

  std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::map<Labels, std::unique_ptr<T>> metrics_ ABSL_GUARDED_BY(mu_);
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Adding a family whose name exists returns the existing one (same type
  // expected; a mismatch is a programming error and CHECK-fails).
  Family<Counter>& AddCounter(const std::string& name, const std::string& help);
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help);
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds = LatencyBuckets());

  // Text exposition format, version 0.0.4, families sorted by name.
  std::string Serialize() const;

 private:
  template <typename T>
  Family<T>& AddFamily(const std::string& name, const std::string& help, MetricType type,
                       std::vector<double> bounds);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
};

// Escapes a label value for the text format (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& v);

}  // namespace stoa::common::metrics
