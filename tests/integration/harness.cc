#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include "common/host_port.h"
#include "common/tls_context.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace stoa::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

std::string BinaryPath(const std::string& name) {
  const char* dir = std::getenv("STOA_BIN_DIR");
  return std::string(dir != nullptr ? dir : ".") + "/" + name;
}

std::string SourcePath(const std::string& relative) {
  const char* dir = std::getenv("STOA_SOURCE_DIR");
  return std::string(dir != nullptr ? dir : ".") + "/" + relative;
}

namespace {

constexpr std::string_view kTempRootPrefix = "stoa-test-";

// Removes the roots of test processes that are gone (a crashed or killed
// test binary never ran its exit-time cleanup).
void RemoveStaleTempRoots(const std::filesystem::path& parent) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kTempRootPrefix, 0) != 0) continue;
    const std::string pid_text = name.substr(kTempRootPrefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::filesystem::remove_all(entry.path(), ec);
  }
}

// Every directory MakeTempDir hands out lies under one root per test
// process, removed when the process exits (unless STOA_KEEP_TEST_DIRS is
// set, to look at what a failed test left). etcd preallocates 60+ MB per
// data dir, so leaving them behind fills a disk within a few hundred runs.
class TempRoot {
 public:
  TempRoot() : owner_(::getpid()) {
    const std::filesystem::path parent = ::testing::TempDir();
    RemoveStaleTempRoots(parent);
    path_ = (parent / (std::string(kTempRootPrefix) + std::to_string(owner_))).string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempRoot() {
    if (::getpid() != owner_ || std::getenv("STOA_KEEP_TEST_DIRS") != nullptr) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  pid_t owner_;
  std::string path_;
};

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  static TempRoot root;
  static std::atomic<int> counter{0};
  std::string dir = root.path() + "/" + prefix + "-" + std::to_string(counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Platform StartPlatform(const std::string& name, const std::vector<std::string>& gateway_args,
                       const std::vector<std::string>& executor_args) {
  Platform platform;
  std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--threads", "2"};
  args.insert(args.end(), executor_args.begin(), executor_args.end());
  platform.executor = Process::Start(BinaryPath("stoa-executor"), args);
  if (platform.executor == nullptr) return platform;
  args = {"--listen",       "127.0.0.1:0",
          "--data-dir",     MakeTempDir(name),
          "--cloud",        platform.executor->address(),
          "--edge-threads", "2"};
  args.insert(args.end(), gateway_args.begin(), gateway_args.end());
  platform.gateway = Process::Start(BinaryPath("stoa-gateway"), args);
  if (platform.gateway == nullptr) return platform;
  platform.client = std::make_unique<HttpClient>(platform.gateway->address());
  return platform;
}

std::string DigitsModel() {
  return ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"));
}

std::string WasmExample(const std::string& name) {
  std::ifstream in(BinaryPath("../functions/examples/wasm/" + name + ".wasm"), std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "no free port";
  }
  if (fd >= 0) ::close(fd);
  return ntohs(addr.sin_port);
}

int RegisterDigits(HttpClient& client, const std::string& name) {
  Multipart digits =
      MakeRegistration(R"({"name":")" + name + R"(","runtime":"onnx"})", DigitsModel());
  return client.Post("/v1/functions", digits.body, digits.content_type).status;
}

std::string ErrorMessage(const HttpResult& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(r.body);  // throws on invalid UTF-8
  } catch (const nlohmann::json::exception& e) {
    ADD_FAILURE() << "error body is not valid JSON (" << e.what() << "): " << r.body.substr(0, 200);
    return "";
  }
  if (!body.is_object() || !body["error"].is_object()) {
    ADD_FAILURE() << "not an error body: " << r.body.substr(0, 200);
    return "";
  }
  EXPECT_EQ(body["error"]["code"], code) << r.body;
  return body["error"]["message"].is_string() ? body["error"]["message"].get<std::string>() : "";
}

int64_t ProcStatusKiB(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  const std::string prefix = field + ":";
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stoll(line.substr(prefix.size()));
  }
  return -1;
}

std::unique_ptr<Process> Process::Start(const std::string& binary,
                                        const std::vector<std::string>& args, int timeout_ms) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::unique_ptr<Process> p(new Process());
  int rc = ::posix_spawn(&p->pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  p->stdout_fd_ = pipe_fds[0];
  if (rc != 0) {
    ADD_FAILURE() << "cannot spawn " << binary << ": " << std::strerror(rc);
    p->exited_ = true;
    return nullptr;
  }
  // Read the first line.
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (line.find('\n') == std::string::npos) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) break;
    pollfd pfd{p->stdout_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, left) <= 0) break;
    char buf[256];
    ssize_t n = ::read(p->stdout_fd_, buf, sizeof(buf));
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  size_t nl = line.find('\n');
  const std::string marker = " listening on ";
  size_t at = line.find(marker);
  if (nl == std::string::npos || at == std::string::npos || at > nl) {
    ADD_FAILURE() << binary << " did not print its address; got: '" << line << "'";
    return nullptr;  // the destructor kills it
  }
  p->address_ = line.substr(at + marker.size(), nl - at - marker.size());
  p->pending_ = line.substr(nl + 1);
  return p;
}

std::string Process::ReadLine(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (pending_.find('\n') == std::string::npos) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) return "";
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, left) <= 0) return "";
    char buf[256];
    ssize_t n = ::read(stdout_fd_, buf, sizeof(buf));
    if (n <= 0) return "";
    pending_.append(buf, static_cast<size_t>(n));
  }
  const size_t nl = pending_.find('\n');
  std::string line = pending_.substr(0, nl);
  pending_.erase(0, nl + 1);
  return line;
}

Process::~Process() {
  if (!exited_ && pid_ > 0) Signal(SIGKILL);
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

int Process::port() const {
  absl::StatusOr<common::HostPort> parsed = common::ParseHostPort(address_);
  return parsed.ok() ? parsed->port : -1;
}

int Process::Signal(int sig) {
  if (exited_) return 0;
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  exited_ = true;
  return status;
}

bool Process::Running() {
  if (exited_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) exited_ = true;
  return !exited_;
}

std::optional<int> Process::WaitExit(int timeout_ms) {
  if (exited_) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return status;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string HttpResult::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

class HttpClient::Impl {
 public:
  Impl(std::string address, HttpClientOptions options) : options_(std::move(options)) {
    absl::StatusOr<common::HostPort> parsed = common::ParseHostPort(address);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (parsed.ok()) {
      host_ = parsed->host;
      port_ = std::to_string(parsed->port);
    }
    if (host_ == "0.0.0.0") host_ = "127.0.0.1";
    if (options_.ca_file.empty()) return;
    auto context =
        common::MakeTlsClientContext({options_.ca_file, options_.cert_file, options_.key_file});
    EXPECT_TRUE(context.ok()) << context.status();
    if (context.ok()) context_ = *context;
  }

  void SetHeader(const std::string& name, const std::string& value) {
    std::erase_if(options_.headers, [&](const auto& h) { return h.first == name; });
    if (!value.empty()) options_.headers.emplace_back(name, value);
  }
  const std::string& last_error() const { return last_error_; }

  HttpResult Request(const std::string& method, const std::string& target, const std::string& body,
                     const std::string& content_type,
                     const std::vector<std::pair<std::string, std::string>>& extra,
                     int timeout_ms) {
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host_);
    req.keep_alive(true);
    for (const auto& [name, value] : options_.headers) req.set(name, value);
    for (const auto& [name, value] : extra) req.set(name, value);
    if (!body.empty() || method == "POST" || method == "PUT") {
      req.set(http::field::content_type, content_type);
      req.body() = body;
      req.prepare_payload();
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!Connected() && !Connect(timeout_ms)) return {};
      beast::error_code ec;
      HttpResult result =
          tls_ ? RoundTrip(*tls_, req, timeout_ms, ec) : RoundTrip(*stream_, req, timeout_ms, ec);
      if (!ec) return result;
      Disconnect();
      if (attempt == 0 && ec != beast::error::timeout) continue;  // stale keep-alive
      return {};
    }
    return {};
  }

 private:
  bool Connected() const { return stream_ != nullptr || tls_ != nullptr; }

  bool Connect(int timeout_ms) {
    beast::error_code ec;
    asio::ip::tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(host_, port_, ec);
    if (ec) return false;
    if (options_.ca_file.empty()) {
      stream_ = std::make_unique<beast::tcp_stream>(ioc_);
    } else {
      if (!context_) return false;
      tls_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc_, *context_);
    }
    beast::tcp_stream& tcp = tls_ ? beast::get_lowest_layer(*tls_) : *stream_;
    tcp.expires_after(std::chrono::milliseconds(timeout_ms));
    tcp.connect(endpoints, ec);
    if (!ec && tls_) {
      absl::Status s = common::ConfigureClientConnection(tls_->native_handle(), host_);
      if (!s.ok()) ec = asio::error::invalid_argument;
      if (!ec) tls_->handshake(asio::ssl::stream_base::client, ec);
      if (ec) {
        last_error_ = common::DescribeClientHandshakeError(tls_->native_handle(), ec.message());
      }
    }
    if (ec) {
      if (last_error_.empty()) last_error_ = ec.message();
      Disconnect();
      return false;
    }
    last_error_.clear();
    return true;
  }

  // As before TLS came: Beast's timer bounds asynchronous operations only,
  // so these blocking calls wait for the server's answer.
  template <class Stream>
  HttpResult RoundTrip(Stream& stream, http::request<http::string_body>& req, int timeout_ms,
                       beast::error_code& ec) {
    HttpResult result;
    beast::get_lowest_layer(stream).expires_after(std::chrono::milliseconds(timeout_ms));
    http::write(stream, req, ec);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    if (!ec) http::read(stream, buffer, parser, ec);
    if (ec) return result;
    auto& res = parser.get();
    result.status = res.result_int();
    result.body = res.body();
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      result.headers[name] = std::string(field.value());
    }
    if (!res.keep_alive()) Disconnect();
    return result;
  }

  void Disconnect() {
    if (tls_) {
      beast::error_code ignored;
      if (SSL_is_init_finished(tls_->native_handle())) SSL_shutdown(tls_->native_handle());
      beast::get_lowest_layer(*tls_).socket().close(ignored);
    }
    tls_.reset();
    stream_.reset();
  }

  HttpClientOptions options_;
  asio::io_context ioc_;
  std::shared_ptr<asio::ssl::context> context_;  // HTTPS only
  std::unique_ptr<beast::tcp_stream> stream_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
  std::string host_, port_;
  std::string last_error_;
};

HttpClient::HttpClient(std::string address, HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(address), std::move(options))) {}
HttpClient::~HttpClient() = default;

HttpResult HttpClient::Get(const std::string& target) { return Request("GET", target, "", ""); }
HttpResult HttpClient::Delete(const std::string& target) {
  return Request("DELETE", target, "", "");
}
HttpResult HttpClient::Post(const std::string& target, const std::string& body,
                            const std::string& content_type) {
  return Request("POST", target, body, content_type);
}
HttpResult HttpClient::Put(const std::string& target, const std::string& body,
                           const std::string& content_type) {
  return Request("PUT", target, body, content_type);
}
HttpResult HttpClient::Request(const std::string& method, const std::string& target,
                               const std::string& body, const std::string& content_type,
                               int timeout_ms) {
  return impl_->Request(method, target, body, content_type, {}, timeout_ms);
}
HttpResult HttpClient::Send(const std::string& method, const std::string& target,
                            const std::string& body, const std::string& content_type,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            int timeout_ms) {
  return impl_->Request(method, target, body, content_type, headers, timeout_ms);
}
void HttpClient::SetHeader(const std::string& name, const std::string& value) {
  impl_->SetHeader(name, value);
}
std::string HttpClient::last_error() const { return impl_->last_error(); }

Multipart MakeRegistration(const std::string& spec_json, const std::string& artifact) {
  const std::string boundary = "----stoa-test-boundary-7d1f3a";
  Multipart m;
  m.content_type = "multipart/form-data; boundary=" + boundary;
  m.body = "--" + boundary +
           "\r\nContent-Disposition: form-data; name=\"spec\"\r\nContent-Type: "
           "application/json\r\n\r\n" +
           spec_json + "\r\n--" + boundary +
           "\r\nContent-Disposition: form-data; name=\"artifact\"; "
           "filename=\"model.onnx\"\r\nContent-Type: application/octet-stream\r\n\r\n" +
           artifact + "\r\n--" + boundary + "--\r\n";
  return m;
}

}  // namespace stoa::testing
