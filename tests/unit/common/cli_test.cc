#include "common/cli.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace stoa::common {
namespace {

struct Parsed {
  std::optional<int> code;
  std::string listen = "default";
  int threads = 1;
  std::string wasm_engine = "auto";
  std::string wasm_cache_dir;
};

Parsed Parse(std::vector<std::string> argv_strings) {
  Parsed p;
  CLI::App app("test");
  app.add_option("--listen", p.listen);
  app.add_option("--threads", p.threads)->check(CLI::Range(1, 8));
  AddWasmFlags(app, p.wasm_engine, p.wasm_cache_dir);
  std::vector<const char*> argv;
  for (const auto& s : argv_strings) argv.push_back(s.c_str());
  p.code = ParseCommandLine(app, static_cast<int>(argv.size()), argv.data());
  return p;
}

TEST(CliTest, ConfigFileSetsFlagsAndTheCommandLineWins) {
  std::string path = ::testing::TempDir() + "/cli.yaml";
  std::ofstream(path) << "listen: 127.0.0.1:9000\nthreads: 4\n";
  Parsed p = Parse({"bin", "--config", path, "--threads", "2"});
  EXPECT_FALSE(p.code.has_value());
  EXPECT_EQ(p.listen, "127.0.0.1:9000");
  EXPECT_EQ(p.threads, 2);
}

TEST(CliTest, BadFlagValueIsExitCode2) {
  EXPECT_EQ(Parse({"bin", "--threads", "99"}).code, kExitBadFlags);
  EXPECT_EQ(Parse({"bin", "--no-such-flag"}).code, kExitBadFlags);
  EXPECT_EQ(Parse({"bin", "--config", "/nonexistent.yaml"}).code, kExitBadFlags);
}

TEST(CliTest, BadValueInConfigFileIsExitCode2) {
  std::string path = ::testing::TempDir() + "/cli-bad.yaml";
  std::ofstream(path) << "threads: 0\n";
  EXPECT_EQ(Parse({"bin", "--config", path}).code, kExitBadFlags);
}

TEST(CliTest, WasmFlags) {
  Parsed p = Parse({"bin", "--wasm-engine", "interp", "--wasm-cache-dir", "/var/cache/x"});
  EXPECT_FALSE(p.code.has_value());
  EXPECT_EQ(p.wasm_engine, "interp");
  EXPECT_EQ(p.wasm_cache_dir, "/var/cache/x");
  EXPECT_EQ(Parse({"bin"}).wasm_engine, "auto");
  EXPECT_EQ(Parse({"bin", "--wasm-engine", "jit"}).code, kExitBadFlags);
}

TEST(CliTest, HelpIsExitCode0) { EXPECT_EQ(Parse({"bin", "--help"}).code, 0); }

}  // namespace
}  // namespace stoa::common
