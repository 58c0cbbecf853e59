// A real Mosquitto broker for the MQTT tests (issue 13), started by the test
// on a free loopback port with a generated configuration: anonymous access,
// persistence in its own directory (so a broker restart keeps sessions and
// queued messages), room for many messages in flight. Plus the broker's own
// clients, mosquitto_pub and mosquitto_sub, as "devices": an implementation
// other than ours on the other side of every test.
//
// Thread safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace stoa::testing {

class Mosquitto {
 public:
  // Starts a broker (port 0: a free one); nullptr (and ADD_FAILURE) when it
  // does not come up. Needs mosquitto on PATH (deploy/setup-deps.sh).
  static std::unique_ptr<Mosquitto> Start(int port = 0);
  ~Mosquitto();
  Mosquitto(const Mosquitto&) = delete;
  Mosquitto& operator=(const Mosquitto&) = delete;

  int port() const { return port_; }
  std::string url() const;  // tcp://127.0.0.1:PORT
  // SIGTERM and wait (Mosquitto saves its persistence file on the way out).
  void Stop();
  // Starts it again on the same port and directory; false when it does not.
  bool Restart();
  bool running() const { return pid_ > 0; }

  // mosquitto_pub -V 5 -q 1 with `extra` args; its exit code.
  int Publish(const std::string& topic, const std::string& payload,
              const std::vector<std::string>& extra = {}) const;

 private:
  Mosquitto() = default;
  bool Launch();
  int port_ = 0;
  pid_t pid_ = -1;
  std::string dir_;
};

// mosquitto_sub -V 5 -q 1 on `filter`, printing "%t|%C|%D|%p" lines into a
// file; Lines() reads what has arrived.
class MosquittoSubscriber {
 public:
  static std::unique_ptr<MosquittoSubscriber> Start(const Mosquitto& broker,
                                                    const std::string& filter);
  ~MosquittoSubscriber();
  MosquittoSubscriber(const MosquittoSubscriber&) = delete;
  MosquittoSubscriber& operator=(const MosquittoSubscriber&) = delete;

  std::vector<std::string> Lines() const;
  // Waits up to timeout_ms for at least `count` lines; returns them.
  std::vector<std::string> WaitLines(size_t count, int timeout_ms) const;

 private:
  MosquittoSubscriber() = default;
  pid_t pid_ = -1;
  std::string out_;
};

// Runs a program with args (no shell); its exit code, or -1.
int RunProgram(const std::vector<std::string>& argv, const std::string& stdout_path = "");
// Spawns a program with args, stdout/stderr to files; its pid, or -1.
pid_t SpawnProgram(const std::vector<std::string>& argv, const std::string& stdout_path,
                   const std::string& stderr_path);
// A port nobody listens on now.
int FreeLoopbackPort();
// Whether something accepts TCP connections on 127.0.0.1:port.
bool PortOpen(int port);

}  // namespace stoa::testing
