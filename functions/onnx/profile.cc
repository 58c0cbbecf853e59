#include "functions/onnx/profile.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace stoa::functions::onnx {
namespace {

struct Entry {
  int64_t nanos = 0;
  int64_t calls = 0;
};

int TopFromEnv() {
  const char* v = std::getenv("STOA_ONNX_PROFILE");
  if (v == nullptr) return 0;
  return std::max(0, std::atoi(v));
}

// Leaked on purpose: printed from an atexit handler, after which no
// destructor order can bite.
struct Table {
  absl::Mutex mu;
  std::map<std::string, Entry> by_op ABSL_GUARDED_BY(mu);
  std::map<std::string, Entry> by_node ABSL_GUARDED_BY(mu);
};

Table& TheTable() {
  static Table* table = [] {
    auto* t = new Table;
    std::atexit([] { PrintProfile(stderr); });
    return t;
  }();
  return *table;
}

std::vector<std::pair<std::string, Entry>> Sorted(const std::map<std::string, Entry>& m) {
  std::vector<std::pair<std::string, Entry>> v(m.begin(), m.end());
  std::sort(v.begin(), v.end(),
            [](const auto& a, const auto& b) { return a.second.nanos > b.second.nanos; });
  return v;
}

void PrintRows(std::FILE* out, const std::vector<std::pair<std::string, Entry>>& rows, size_t limit,
               double total) {
  for (size_t i = 0; i < rows.size() && i < limit; ++i) {
    const Entry& e = rows[i].second;
    std::fprintf(
        out, "  %6.1f%% %12.1f us %8lld calls %10.2f us/call  %s\n",
        total > 0 ? 100.0 * static_cast<double>(e.nanos) / total : 0.0,
        static_cast<double>(e.nanos) / 1e3, static_cast<long long>(e.calls),
        static_cast<double>(e.nanos) / 1e3 / static_cast<double>(std::max<int64_t>(1, e.calls)),
        rows[i].first.c_str());
  }
}

}  // namespace

bool ProfilingEnabled() {
  static const bool enabled = TopFromEnv() > 0;
  return enabled;
}

void RecordNodeTime(const Node& node, int64_t nanos) {
  Table& t = TheTable();
  absl::MutexLock lock(&t.mu);
  Entry& op = t.by_op[node.op_type];
  op.nanos += nanos;
  ++op.calls;
  Entry& n = t.by_node[node.Describe()];
  n.nanos += nanos;
  ++n.calls;
}

void PrintProfile(std::FILE* out, int top_nodes) {
  if (!ProfilingEnabled()) return;
  if (top_nodes <= 0) top_nodes = TopFromEnv();
  Table& t = TheTable();
  absl::MutexLock lock(&t.mu);
  if (t.by_op.empty()) return;
  double total = 0;
  for (const auto& [name, e] : t.by_op) total += static_cast<double>(e.nanos);
  std::fprintf(out, "STOA_ONNX_PROFILE: %.1f us in nodes; by op type:\n", total / 1e3);
  PrintRows(out, Sorted(t.by_op), t.by_op.size(), total);
  std::fprintf(out, "top %d nodes:\n", top_nodes);
  PrintRows(out, Sorted(t.by_node), static_cast<size_t>(top_nodes), total);
}

void ResetProfile() {
  Table& t = TheTable();
  absl::MutexLock lock(&t.mu);
  t.by_op.clear();
  t.by_node.clear();
}

}  // namespace stoa::functions::onnx
