// ONNX's backend test suite (Debian's libonnx-testdata) against the CPU
// engine. Every test in the checked-in pass list must still pass; tests
// not on the list are reported, not failed. STOA_CONFORMANCE_UPDATE=1
// rewrites the pass list from this run; STOA_CONFORMANCE_REPORT=<file>
// writes every result (name, outcome, reason) as a tab-separated file.
// STOA_ONNX_TESTDATA overrides the data root.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "functions/onnx/op_registry.h"
#include "gtest/gtest.h"
#include "tests/conformance/conformance_runner.h"

namespace stoa::conformance {
namespace {

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPassed:
      return "passed";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kUnsupported:
      return "unsupported";
  }
  return "?";
}

TEST(OnnxConformanceTest, PassListStillPasses) {
  const std::string root = Env("STOA_ONNX_TESTDATA", "/usr/share/libonnx-testdata/data");
  const std::string source = Env("STOA_SOURCE_DIR", ".");
  const std::string pass_list = source + "/tests/conformance/pass_list.txt";
  const functions::onnx::OpRegistry registry = functions::onnx::DefaultOpRegistry();

  std::vector<TestResult> results;
  for (const char* suite : {"node", "pytorch-converted"}) {
    std::vector<TestResult> r = RunConformanceSuite(root, suite, registry);
    std::map<Outcome, int> count;
    for (const TestResult& t : r) ++count[t.outcome];
    std::cout << suite << ": " << count[Outcome::kPassed] << " passed, " << count[Outcome::kFailed]
              << " failed, " << count[Outcome::kUnsupported] << " unsupported, of " << r.size()
              << "\n";
    results.insert(results.end(), r.begin(), r.end());
  }
  if (results.empty()) GTEST_SKIP() << "no ONNX test data under " << root;

  if (const char* report = std::getenv("STOA_CONFORMANCE_REPORT")) {
    std::ofstream out(report);
    for (const TestResult& r : results) {
      out << r.name << "\t" << OutcomeName(r.outcome) << "\t" << r.reason << "\n";
    }
  }
  if (Env("STOA_CONFORMANCE_UPDATE", "") == "1") {
    ASSERT_TRUE(WritePassList(pass_list, results)) << "cannot write " << pass_list;
    std::cout << "wrote " << pass_list << "\n";
    return;
  }

  std::map<std::string, const TestResult*> by_name;
  for (const TestResult& r : results) by_name[r.name] = &r;
  const std::vector<std::string> expected = ReadPassList(pass_list);
  ASSERT_FALSE(expected.empty()) << "pass list " << pass_list << " is missing or empty";
  std::set<std::string> listed(expected.begin(), expected.end());
  for (const std::string& name : expected) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      ADD_FAILURE() << name << ": listed as passing but not found in " << root;
    } else if (it->second->outcome != Outcome::kPassed) {
      ADD_FAILURE() << name << ": regressed (" << OutcomeName(it->second->outcome)
                    << "): " << it->second->reason;
    }
  }
  for (const TestResult& r : results) {
    if (r.outcome == Outcome::kPassed && listed.count(r.name) == 0) {
      std::cout << "newly passing (add to the pass list): " << r.name << "\n";
    }
  }
}

}  // namespace
}  // namespace stoa::conformance
