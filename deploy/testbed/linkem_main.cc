// stoa-linkem: a TCP proxy that emulates a network link (one-way delay with
// normal jitter, a bandwidth limit and loss, each direction separately),
// changeable at run time through a small HTTP control endpoint.
//
//   stoa-linkem --listen HOST:PORT --upstream HOST:PORT
//               [--preset 4g|5g|edge|lan] [--delay-ms D] [--jitter-ms J]
//               [--rate-mbit R] [--loss P] [--control HOST:PORT]
//               [--seed N] [--sched fifo|other] [--log-level LEVEL]
//
// Flags override the preset's fields (no preset: lan, i.e. no shaping).
// stdout: first line "stoa-linkem listening on HOST:PORT" (the bound port
// when 0 was asked); with --control a second line
// "stoa-linkem control on HOST:PORT"; both flushed. Logs go to stderr. Bad
// flags exit 2, a failure to start 1; SIGINT/SIGTERM stop cleanly (exit 0).
// --sched fifo (the default) runs the proxy thread SCHED_FIFO (priority 10)
// so a link's timing does not absorb the CPU contention of the tiers it
// connects (on a loaded 2-core machine a normal thread wakes tens of ms
// late); where that is not permitted it warns and runs as a normal thread.
// Its CPU use is small, and the kernel's RT throttling still bounds it.
// See docs/testbed.md for the link model.
#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <string>

#include "CLI/CLI.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/signal_set.hpp"
#include "common/logging.h"
#include "deploy/testbed/control_server.h"
#include "deploy/testbed/link_params.h"
#include "deploy/testbed/link_proxy.h"
#include "deploy/testbed/link_shaper.h"

namespace {

constexpr int kExitBadFlags = 2;

struct Flags {
  stoa::deploy::LinkProxy::Options proxy;
  stoa::deploy::LinkFlags link;
  std::string control;
  uint64_t seed = 0;
  std::string sched = "fifo";
  std::string log_level = "info";
};

constexpr int kFifoPriority = 10;

// -1: go on; otherwise the exit code.
int ParseFlags(int argc, char** argv, Flags& flags) {
  CLI::App app{"stoa-linkem: emulates a network link in front of a TCP server"};
  double delay = 0, jitter = 0, rate = 0, loss = 0;
  app.add_option("--listen", flags.proxy.listen, "HOST:PORT (port 0 picks a free port)")
      ->capture_default_str();
  app.add_option("--upstream", flags.proxy.upstream, "HOST:PORT of the server behind the link")
      ->required();
  app.add_option("--preset", flags.link.preset, "4g, 5g, edge or lan");
  auto* delay_opt = app.add_option("--delay-ms", delay, "one-way delay, ms (each direction)");
  auto* jitter_opt = app.add_option("--jitter-ms", jitter, "standard deviation of the delay, ms");
  auto* rate_opt = app.add_option("--rate-mbit", rate, "bandwidth per direction, Mbit/s (0: none)");
  auto* loss_opt = app.add_option("--loss", loss, "fraction of chunks lost, 0..1 (1: blackhole)");
  app.add_option("--control", flags.control, "HOST:PORT of the control endpoint (PUT /link)");
  app.add_option("--seed", flags.seed, "random seed (0: from the system)");
  app.add_option("--sched", flags.sched, "fifo (real-time, default) or other")
      ->check(CLI::IsMember({"fifo", "other"}));
  app.add_option("--log-level", flags.log_level, "trace|debug|info|warn|error|off");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitBadFlags;
  }
  if (delay_opt->count()) flags.link.delay_ms = delay;
  if (jitter_opt->count()) flags.link.jitter_ms = jitter;
  if (rate_opt->count()) flags.link.rate_mbit = rate;
  if (loss_opt->count()) flags.link.loss = loss;
  if (flags.seed == 0) flags.seed = std::random_device{}();
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (int code = ParseFlags(argc, argv, flags); code >= 0) return code;
  stoa::common::InitLogging("stoa-linkem", flags.log_level);
  auto params = stoa::deploy::ResolveLinkFlags(flags.link);
  if (!params.ok()) {
    std::cerr << "stoa-linkem: " << params.status().message() << "\n";
    return kExitBadFlags;
  }

  {
    // "other" resets a policy inherited from a real-time parent.
    const bool fifo = flags.sched == "fifo";
    sched_param param{};
    param.sched_priority = fifo ? kFifoPriority : 0;
    if (sched_setscheduler(0, fifo ? SCHED_FIFO : SCHED_OTHER, &param) != 0) {
      spdlog::warn("--sched {}: {} (not root?); link timing will suffer under CPU load",
                   flags.sched, std::strerror(errno));
    }
  }

  boost::asio::io_context io(1);
  stoa::deploy::LinkShaper to_upstream(*params, flags.seed);
  stoa::deploy::LinkShaper to_client(*params, flags.seed * 2654435761u + 1);
  auto proxy = stoa::deploy::LinkProxy::Create(io, flags.proxy, to_upstream, to_client);
  if (!proxy.ok()) {
    std::cerr << "stoa-linkem: " << proxy.status().message() << "\n";
    return proxy.status().code() == absl::StatusCode::kInvalidArgument ? kExitBadFlags : 1;
  }
  std::unique_ptr<stoa::deploy::ControlServer> control;
  if (!flags.control.empty()) {
    auto server = stoa::deploy::ControlServer::Start(flags.control, to_upstream, to_client);
    if (!server.ok()) {
      std::cerr << "stoa-linkem: " << server.status().message() << "\n";
      return server.status().code() == absl::StatusCode::kInvalidArgument ? kExitBadFlags : 1;
    }
    control = std::move(*server);
  }

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const boost::system::error_code&, int) { io.stop(); });
  (*proxy)->Start();
  std::printf("stoa-linkem listening on %s\n", (*proxy)->address().c_str());
  if (control) std::printf("stoa-linkem control on %s\n", control->address().c_str());
  std::fflush(stdout);
  spdlog::info("upstream {}, link {}", flags.proxy.upstream,
               stoa::deploy::LinkParamsToJson(*params));
  io.run();
  spdlog::info("stopped");
  return 0;
}
