// A real etcd (Debian's etcd-server) for the cluster tests (issue 15),
// started by the test on free loopback ports with its own data directory,
// so Stop() and Restart() keep what was stored. Skip the test (GTEST_SKIP)
// when Available() is false.
//
// Thread safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

namespace stoa::testing {

class Etcd {
 public:
  // Whether an etcd binary is on PATH (deploy/setup-deps.sh installs it).
  static bool Available();
  // Starts etcd; nullptr (and ADD_FAILURE) when it does not answer.
  static std::unique_ptr<Etcd> Start();
  ~Etcd();
  Etcd(const Etcd&) = delete;
  Etcd& operator=(const Etcd&) = delete;

  std::string url() const;       // etcd://127.0.0.1:PORT
  std::string endpoint() const;  // 127.0.0.1:PORT
  // SIGKILL and wait: an etcd that vanished.
  void Stop();
  // Starts it again on the same ports and directory; false when it does not.
  bool Restart();
  // etcdctl get --prefix `prefix` (keys and values, one a line).
  std::string GetPrefix(const std::string& prefix) const;

 private:
  Etcd() = default;
  bool Launch();
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
  std::string dir_;
};

}  // namespace stoa::testing
