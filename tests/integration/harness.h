// Test harness for integration tests: start the real binaries on loopback
// and talk HTTP to them.
//
// Process: spawns a binary from STOA_BIN_DIR with stdout on a pipe, reads the
// first line ("<name> listening on HOST:PORT") to learn the bound address,
// and kills the process (SIGKILL unless stopped before) when destroyed.
// HttpClient: a blocking HTTP/1.1 keep-alive client (Boost.Beast) for one
// host:port, plaintext or HTTPS (HttpClientOptions::ca_file); reconnects
// when the server closed the connection.
// Certificates for TLS tests: stoa::testing::WriteDevCerts(dir) in
// tests/fakes/common/dev_certs.h (runs deploy/tls/make-dev-certs.sh).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace stoa::testing {

// $STOA_BIN_DIR/<name>
std::string BinaryPath(const std::string& name);
// $STOA_SOURCE_DIR/<relative>
std::string SourcePath(const std::string& relative);
// A fresh empty directory under this test process's own root in the temp
// dir; the root is removed when the process exits (kept when
// STOA_KEEP_TEST_DIRS is set).
std::string MakeTempDir(const std::string& prefix);

class Process {
 public:
  // Starts `binary` with `args`; stderr goes to <log_path> (or is inherited
  // when empty). Waits up to timeout_ms for the first stdout line.
  // Fails the current test (ADD_FAILURE) and returns nullptr when it does not start.
  static std::unique_ptr<Process> Start(const std::string& binary,
                                        const std::vector<std::string>& args,
                                        int timeout_ms = 20000);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  const std::string& address() const { return address_; }  // "127.0.0.1:PORT"
  // The next line of stdout after the address line (stoa-linkem prints its
  // control address there), without the newline; "" when none comes within
  // timeout_ms.
  std::string ReadLine(int timeout_ms = 20000);
  int port() const;
  pid_t pid() const { return pid_; }
  // Sends `sig` and waits for exit; returns the wait status.
  int Signal(int sig);
  bool Running();
  // Waits up to timeout_ms for the process to exit: its wait status, or
  // nullopt while it still runs.
  std::optional<int> WaitExit(int timeout_ms);

 private:
  Process() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool exited_ = false;
  std::string address_;
  std::string pending_;  // stdout read past the last line returned
};

struct HttpResult {
  int status = 0;  // 0: no response (connection failed)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string Header(const std::string& name) const;
};

struct HttpClientOptions {
  // Non-empty: speak HTTPS and verify the server against this CA (PEM); the
  // server's certificate must be valid for the address's host.
  std::string ca_file;
  std::string cert_file, key_file;  // optional client certificate (HTTPS only)
  // Sent with every request (e.g. {"Authorization", "Bearer <token>"}).
  std::vector<std::pair<std::string, std::string>> headers;
};

class HttpClient {
 public:
  explicit HttpClient(std::string address, HttpClientOptions options = {});
  ~HttpClient();
  HttpResult Get(const std::string& target);
  HttpResult Delete(const std::string& target);
  HttpResult Post(const std::string& target, const std::string& body,
                  const std::string& content_type = "application/json");
  HttpResult Put(const std::string& target, const std::string& body,
                 const std::string& content_type = "application/json");
  HttpResult Request(const std::string& method, const std::string& target, const std::string& body,
                     const std::string& content_type, int timeout_ms = 30000);
  // One request with `headers` added to (and overriding) the default ones.
  HttpResult Send(const std::string& method, const std::string& target, const std::string& body,
                  const std::string& content_type,
                  const std::vector<std::pair<std::string, std::string>>& headers,
                  int timeout_ms = 30000);
  // Sets (empty value: removes) a header sent with every request from now on.
  void SetHeader(const std::string& name, const std::string& value);
  // HTTPS: why the last connection failed ("" when it did not): the
  // handshake or verification error, for tests of refusals.
  std::string last_error() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// multipart/form-data with a JSON `spec` part and a binary `artifact` part.
struct Multipart {
  std::string content_type;
  std::string body;
};
Multipart MakeRegistration(const std::string& spec_json, const std::string& artifact);

std::string ReadFileOrDie(const std::string& path);

// An executor and a gateway that uses it as its cloud tier, on loopback:
// the set-up of most integration tests.
struct Platform {
  std::unique_ptr<Process> executor;
  std::unique_ptr<Process> gateway;
  std::unique_ptr<HttpClient> client;  // to the gateway
};
// Starts `stoa-executor --listen 127.0.0.1:0 --threads 2 <executor_args>`
// and `stoa-gateway --listen 127.0.0.1:0 --data-dir <fresh dir named after
// name> --cloud <executor> --edge-threads 2 <gateway_args>` (a later flag
// wins). Fails the current test and leaves the fields that did not start
// null.
Platform StartPlatform(const std::string& name, const std::vector<std::string>& gateway_args = {},
                       const std::vector<std::string>& executor_args = {});
// The ONNX example functions/examples/digits/digits.onnx.
std::string DigitsModel();
// A Wasm example built into $STOA_BIN_DIR/../functions/examples/wasm/
// (name without ".wasm"); "" when it was not built (callers skip).
std::string WasmExample(const std::string& name);
// Registers DigitsModel() as `name` (POST /v1/functions): the HTTP status.
// A loopback TCP port free at the time of the call (for listeners that do
// not print the port they bound: --metrics-listen, --grpc-listen, etcd).
int FreePort();

int RegisterDigits(HttpClient& client, const std::string& name = "digits");

// The error body {"error":{"code","message"}} of `r`, strictly parsed (a
// body that is not valid JSON, invalid UTF-8 included, fails the test);
// checks `status` and `code` and returns the message ("" when there is none).
std::string ErrorMessage(const HttpResult& r, int status, const std::string& code);

// A field of /proc/<pid>/status in KiB ("VmRSS": resident now, "VmHWM": the
// peak resident since start); -1 when unreadable.
int64_t ProcStatusKiB(pid_t pid, const std::string& field);

}  // namespace stoa::testing
