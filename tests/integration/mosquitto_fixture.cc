#include "tests/integration/mosquitto_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

extern char** environ;

namespace stoa::testing {
namespace {

bool WaitFor(const std::function<bool()>& done, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

void StopPid(pid_t& pid, int sig) {
  if (pid <= 0) return;
  kill(pid, sig);
  int status = 0;
  for (int i = 0; i < 250 && waitpid(pid, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (waitpid(pid, &status, WNOHANG) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  pid = -1;
}

}  // namespace

pid_t SpawnProgram(const std::vector<std::string>& argv, const std::string& stdout_path,
                   const std::string& stderr_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string out = stdout_path.empty() ? "/dev/null" : stdout_path;
  const std::string err = stderr_path.empty() ? "/dev/null" : stderr_path;
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

int RunProgram(const std::vector<std::string>& argv, const std::string& stdout_path) {
  pid_t pid = SpawnProgram(argv, stdout_path, "");
  if (pid < 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

bool PortOpen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool open = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return open;
}

std::unique_ptr<Mosquitto> Mosquitto::Start(int port) {
  std::unique_ptr<Mosquitto> broker(new Mosquitto());
  broker->dir_ = MakeTempDir("mosquitto");
  // Started as root, Mosquitto drops to its own user, which must be able to
  // write its persistence file here.
  chmod(broker->dir_.c_str(), 0777);
  for (int attempt = 0; attempt < 3; ++attempt) {
    broker->port_ = port != 0 ? port : FreeLoopbackPort();
    if (broker->Launch()) return broker;
  }
  ADD_FAILURE() << "mosquitto did not start; see " << broker->dir_ << "/mosquitto.log";
  return nullptr;
}

bool Mosquitto::Launch() {
  const std::string conf = dir_ + "/mosquitto.conf";
  std::ofstream(conf) << "listener " << port_ << " 127.0.0.1\n"
                      << "allow_anonymous true\n"
                      << "persistence true\n"
                      << "persistence_location " << dir_ << "/\n"
                      << "max_inflight_messages 1000\n"
                      << "max_queued_messages 100000\n"
                      << "set_tcp_nodelay true\n"
                      << "log_dest stderr\n"
                      << "log_type error\nlog_type warning\nlog_type notice\n";
  pid_ = SpawnProgram({"mosquitto", "-c", conf}, "", dir_ + "/mosquitto.log");
  if (pid_ < 0) return false;
  if (WaitFor([this] { return PortOpen(port_); }, 5000)) return true;
  StopPid(pid_, SIGKILL);
  return false;
}

Mosquitto::~Mosquitto() { Stop(); }

std::string Mosquitto::url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

void Mosquitto::Stop() { StopPid(pid_, SIGTERM); }

bool Mosquitto::Restart() {
  Stop();
  return Launch();
}

int Mosquitto::Publish(const std::string& topic, const std::string& payload,
                       const std::vector<std::string>& extra) const {
  std::vector<std::string> argv = {"mosquitto_pub",
                                   "-V",
                                   "5",
                                   "-h",
                                   "127.0.0.1",
                                   "-p",
                                   std::to_string(port_),
                                   "-q",
                                   "1",
                                   "-t",
                                   topic,
                                   "-m",
                                   payload};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return RunProgram(argv);
}

std::unique_ptr<MosquittoSubscriber> MosquittoSubscriber::Start(const Mosquitto& broker,
                                                                const std::string& filter) {
  std::unique_ptr<MosquittoSubscriber> sub(new MosquittoSubscriber());
  sub->out_ = MakeTempDir("mosquitto-sub") + "/lines";
  std::ofstream(sub->out_).flush();
  const std::string log = sub->out_ + ".log";
  // -d prints the SUBACK, so the test knows the subscription is in place.
  sub->pid_ = SpawnProgram(
      {"stdbuf", "-oL", "mosquitto_sub", "-V", "5", "-h", "127.0.0.1", "-p",
       std::to_string(broker.port()), "-q", "1", "-t", filter, "-F", "%t|%C|%D|%p", "-d"},
      sub->out_, log);
  if (sub->pid_ < 0 || !WaitFor(
                           [&] {
                             std::ifstream in(sub->out_);
                             std::stringstream s;
                             s << in.rdbuf();
                             return s.str().find("SUBACK") != std::string::npos;
                           },
                           5000)) {
    ADD_FAILURE() << "mosquitto_sub did not subscribe";
    return nullptr;
  }
  return sub;
}

MosquittoSubscriber::~MosquittoSubscriber() { StopPid(pid_, SIGTERM); }

std::vector<std::string> MosquittoSubscriber::Lines() const {
  std::ifstream in(out_);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    // -d's own lines ("Client ... received PUBLISH ...") are not messages.
    if (line.rfind("Client ", 0) == 0 || line.rfind("Subscribed", 0) == 0) continue;
    if (line.find('|') != std::string::npos) lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> MosquittoSubscriber::WaitLines(size_t count, int timeout_ms) const {
  WaitFor([&] { return Lines().size() >= count; }, timeout_ms);
  return Lines();
}

}  // namespace stoa::testing
