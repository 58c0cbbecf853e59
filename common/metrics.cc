#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/check.h"

namespace stoa::common::metrics {
namespace {

void AtomicAdd(std::atomic<double>& a, double by) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + by, std::memory_order_relaxed)) {
  }
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// Renders {k="v",...}; `extra` is appended last (used for `le`).
std::string FormatLabels(const Labels& labels, const std::pair<std::string, std::string>* extra) {
  if (labels.empty() && extra == nullptr) return "";
  std::string out = "{";
  bool first = true;
  auto add = [&](const std::string& k, const std::string& v) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += EscapeLabelValue(v);
    out += '"';
  };
  for (const auto& [k, v] : labels) add(k, v);
  if (extra != nullptr) add(extra->first, extra->second);
  out += '}';
  return out;
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

const char* TypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void Counter::Increment(double by) {
  if (by < 0) return;  // counters only go up
  AtomicAdd(value_, by);
}

void Gauge::Increment(double by) { AtomicAdd(value_, by); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  STOA_CHECK(std::is_sorted(bounds_.begin(), bounds_.end()), "histogram bounds must be sorted");
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0, 30.0};
}

template <typename T>
Family<T>::Family(std::string name, std::string help, MetricType type, std::vector<double> bounds,
                  Registry* registry)
    : FamilyBase(std::move(name), std::move(help), type),
      bounds_(std::move(bounds)),
      registry_(registry) {}

template <>
std::shared_ptr<Counter> Family<Counter>::Make() const {
  return std::make_shared<Counter>();
}
template <>
std::shared_ptr<Gauge> Family<Gauge>::Make() const {
  return std::make_shared<Gauge>();
}
template <>
std::shared_ptr<Histogram> Family<Histogram>::Make() const {
  return std::make_shared<Histogram>(bounds_);
}

template <typename T>
std::shared_ptr<T> Family<T>::Add(const Labels& labels) {
  std::shared_ptr<T> sink;
  {
    absl::MutexLock lock(&mu_);
    auto it = metrics_.find(labels);
    if (it != metrics_.end()) return it->second;
    if (registry_ == nullptr || registry_->Reserve()) {
      return metrics_.emplace(labels, Make()).first->second;
    }
    if (sink_ == nullptr) sink_ = Make();
    sink = sink_;
  }
  registry_->CountDropped(name_);
  return sink;
}

template <typename T>
bool Family<T>::Remove(const Labels& labels) {
  size_t removed;
  {
    absl::MutexLock lock(&mu_);
    removed = metrics_.erase(labels);
  }
  if (removed > 0 && registry_ != nullptr) registry_->Release(removed);
  return removed > 0;
}

template <typename T>
size_t Family<T>::RemoveMatching(const std::string& label, const std::string& value) {
  size_t removed;
  {
    absl::MutexLock lock(&mu_);
    removed = std::erase_if(metrics_, [&](const auto& series) {
      auto it = series.first.find(label);
      return it != series.first.end() && it->second == value;
    });
  }
  if (removed > 0 && registry_ != nullptr) registry_->Release(removed);
  return removed;
}

template <typename T>
size_t Family<T>::size() const {
  absl::MutexLock lock(&mu_);
  return metrics_.size();
}

template <typename T>
void Family<T>::Serialize(std::string& out) const {
  out += "# HELP " + name_ + " " + EscapeHelp(help_) + "\n";
  out += "# TYPE " + name_ + " " + TypeName(type_) + "\n";
  absl::MutexLock lock(&mu_);
  for (const auto& [labels, metric] : metrics_) {
    if constexpr (std::is_same_v<T, Histogram>) {
      uint64_t cumulative = 0;
      const auto& bounds = metric->Bounds();
      for (size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += metric->BucketCount(i);
        std::pair<std::string, std::string> le{"le",
                                               i < bounds.size() ? FormatValue(bounds[i]) : "+Inf"};
        out +=
            name_ + "_bucket" + FormatLabels(labels, &le) + " " + std::to_string(cumulative) + "\n";
      }
      out +=
          name_ + "_sum" + FormatLabels(labels, nullptr) + " " + FormatValue(metric->Sum()) + "\n";
      out += name_ + "_count" + FormatLabels(labels, nullptr) + " " + std::to_string(cumulative) +
             "\n";
    } else {
      out += name_ + FormatLabels(labels, nullptr) + " " + FormatValue(metric->Value()) + "\n";
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <typename T>
Family<T>& Registry::AddFamily(const std::string& name, const std::string& help, MetricType type,
                               std::vector<double> bounds) {
  // The dropped-series family is uncapped: counting a refusal never refuses.
  Registry* capped_by = name == kSeriesDroppedFamily ? nullptr : this;
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    auto* family = dynamic_cast<Family<T>*>(it->second.get());
    STOA_CHECK(family != nullptr, name.c_str());
    return *family;
  }
  auto family = std::make_unique<Family<T>>(name, help, type, std::move(bounds), capped_by);
  Family<T>& ref = *family;
  families_.emplace(name, std::move(family));
  return ref;
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help) {
  return AddFamily<Counter>(name, help, MetricType::kCounter, {});
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help) {
  return AddFamily<Gauge>(name, help, MetricType::kGauge, {});
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<double> bounds) {
  return AddFamily<Histogram>(name, help, MetricType::kHistogram, std::move(bounds));
}

bool Registry::Reserve() {
  size_t current = series_.load(std::memory_order_relaxed);
  while (current < max_series_) {
    if (series_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

void Registry::CountDropped(const std::string& family) {
  AddCounter(kSeriesDroppedFamily,
             "Series not created because the registry was at its cap (--metrics-max-series), by "
             "family; each refused Add counts once.")
      .Add({{"family", family}})
      ->Increment();
}

size_t Registry::RemoveMatching(const std::string& label, const std::string& value) {
  absl::MutexLock lock(&mu_);
  size_t removed = 0;
  for (const auto& [name, family] : families_) removed += family->RemoveMatching(label, value);
  return removed;
}

std::string Registry::Serialize() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, family] : families_) family->Serialize(out);
  return out;
}

}  // namespace stoa::common::metrics
