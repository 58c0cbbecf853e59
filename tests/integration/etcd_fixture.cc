#include "tests/integration/etcd_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/mosquitto_fixture.h"

namespace stoa::testing {

bool Etcd::Available() { return RunProgram({"sh", "-c", "command -v etcd"}) == 0; }

std::unique_ptr<Etcd> Etcd::Start() {
  std::unique_ptr<Etcd> etcd(new Etcd());
  etcd->dir_ = MakeTempDir("etcd");
  etcd->client_port_ = FreePort();
  etcd->peer_port_ = FreePort();
  if (!etcd->Launch()) {
    ADD_FAILURE() << "etcd did not start; see " << etcd->dir_ << "/etcd.log";
    return nullptr;
  }
  return etcd;
}

Etcd::~Etcd() { Stop(); }

std::string Etcd::endpoint() const { return absl::StrCat("127.0.0.1:", client_port_); }
std::string Etcd::url() const { return "etcd://" + endpoint(); }

bool Etcd::Launch() {
  const std::string client = "http://" + endpoint();
  const std::string peer = absl::StrCat("http://127.0.0.1:", peer_port_);
  pid_ = SpawnProgram({"etcd", "--name", "stoa-test", "--data-dir", dir_ + "/data",
                       "--listen-client-urls", client, "--advertise-client-urls", client,
                       "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                       "--initial-cluster", "stoa-test=" + peer, "--log-level", "warn"},
                      "", dir_ + "/etcd.log");
  if (pid_ <= 0) return false;
  for (int i = 0; i < 200; ++i) {
    if (RunProgram({"sh", "-c",
                    absl::StrCat("ETCDCTL_API=3 etcdctl --dial-timeout=200ms --endpoints ",
                                 endpoint(), " endpoint health >/dev/null 2>&1")}) == 0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void Etcd::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool Etcd::Restart() {
  Stop();
  return Launch();
}

std::string Etcd::GetPrefix(const std::string& prefix) const {
  const std::string out = dir_ + "/get.txt";
  RunProgram({"sh", "-c",
              absl::StrCat("ETCDCTL_API=3 etcdctl --endpoints ", endpoint(), " get --prefix '",
                           prefix, "' > ", out)});
  return ReadFileOrDie(out);
}

}  // namespace stoa::testing
