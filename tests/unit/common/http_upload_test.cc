// Upload routes of the HttpServer (HttpServer::Options::upload_limit,
// common/upload_spool.h): a body streamed to a file, not memory; its own
// limit; nothing left on disk by an upload refused or cut short.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/http_server.h"
#include "common/upload_spool.h"
#include "gtest/gtest.h"

namespace stoa::common {
namespace {

using namespace std::chrono_literals;

// Answers "<bytes in memory> <bytes on disk> <content of the file>" and
// remembers the upload's path.
class UploadHandler : public HttpHandler {
 public:
  void Handle(HttpRequest request, HttpResponder respond) override {
    HttpResponse response;
    response.content_type = "text/plain";
    std::string file;
    if (request.upload) {
      std::ifstream in(request.upload->path(), std::ios::binary);
      std::ostringstream all;
      all << in.rdbuf();
      file = all.str();
      absl::MutexLock lock(&mu_);
      last_path_ = request.upload->path();
    }
    response.body = absl::StrCat(request.body.size(), " ",
                                 request.upload ? request.upload->size() : 0, " ", file);
    respond(std::move(response));
  }
  std::string last_path() {
    absl::MutexLock lock(&mu_);
    return last_path_;
  }

 private:
  absl::Mutex mu_;
  std::string last_path_ ABSL_GUARDED_BY(mu_);
};

// A new connection that has sent `request`; -1 if it could not connect.
int SendOnNewConnection(uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  return fd;
}

// One request on a new connection; the raw response ("" if none came).
std::string Exchange(uint16_t port, const std::string& request) {
  const int fd = SendOnNewConnection(port, request);
  if (fd < 0) return "";
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buffer[65536];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) answer.append(buffer, n);
  ::close(fd);
  return answer;
}

std::string Post(const std::string& path, const std::string& body) {
  return absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
                      "Content-Length: ", body.size(), "\r\n\r\n", body);
}

size_t FilesIn(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

class HttpUploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/uploads-", ::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    HttpServer::Options options;
    options.host = "127.0.0.1";
    options.body_limit = 1024;
    options.upload_dir = dir_;
    options.upload_limit = [](std::string_view method, std::string_view path) -> uint64_t {
      return method == "POST" && path == "/upload" ? 8 * 1024 * 1024 : 0;
    };
    server_ = std::make_unique<HttpServer>(options, handler_);
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  UploadHandler handler_;  // outlives the server
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(HttpUploadTest, UploadRouteGetsItsBodyAsAFileAndTheFileGoesAfterward) {
  std::string body(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 131 % 251);
  const std::string answer = Exchange(port_, Post("/upload?x=1", body));
  ASSERT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer.substr(0, 200);
  const std::string expected = absl::StrCat("0 ", body.size(), " ", body);
  EXPECT_TRUE(answer.size() >= expected.size() &&
              answer.compare(answer.size() - expected.size(), expected.size(), expected) == 0);
  EXPECT_NE(handler_.last_path().find(dir_), std::string::npos);
  // The request (and its SpooledBody) is gone once answered.
  for (int i = 0; i < 100 && FilesIn(dir_) > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(FilesIn(dir_), 0u);
}

TEST_F(HttpUploadTest, OtherRoutesKeepTheBodyLimitInMemory) {
  EXPECT_NE(Exchange(port_, Post("/other", "small")).find("\r\n\r\n5 0 "), std::string::npos);
  const std::string answer = Exchange(port_, Post("/other", std::string(4096, 'x')));
  EXPECT_NE(answer.find("HTTP/1.1 413"), std::string::npos);
  EXPECT_NE(answer.find("request body exceeds 1024 bytes"), std::string::npos);
}

TEST_F(HttpUploadTest, OverTheUploadLimitIs413AndLeavesNoFile) {
  // Refused from the Content-Length alone, before a byte of the body.
  std::string head = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\n\r\n";
  std::string answer = Exchange(port_, head);
  EXPECT_NE(answer.find("HTTP/1.1 413"), std::string::npos) << answer;
  EXPECT_NE(answer.find("upload exceeds 8388608 bytes (the upload limit)"), std::string::npos);
  // Chunked: refused once the bytes pass the limit.
  std::string chunked = "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk(1 << 20, 'c');
  for (int i = 0; i < 9; ++i) absl::StrAppend(&chunked, "100000\r\n", chunk, "\r\n");
  absl::StrAppend(&chunked, "0\r\n\r\n");
  answer = Exchange(port_, chunked);
  EXPECT_NE(answer.find("HTTP/1.1 413"), std::string::npos) << answer.substr(0, 300);
  for (int i = 0; i < 100 && FilesIn(dir_) > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(FilesIn(dir_), 0u);
}

TEST_F(HttpUploadTest, ClientGoneMidUploadLeavesNoFile) {
  std::string partial = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n";
  partial.append(1000000, 'p');
  const int fd = SendOnNewConnection(port_, partial);
  ASSERT_GE(fd, 0);
  // The connection stays open until the server has begun spooling the body
  // (its file exists); only then does the client go, mid-body.
  for (int i = 0; i < 500 && FilesIn(dir_) == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(FilesIn(dir_), 1u) << "the server never spooled the partial upload";
  ::close(fd);
  for (int i = 0; i < 500 && FilesIn(dir_) > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(FilesIn(dir_), 0u);
  // The server goes on serving.
  EXPECT_NE(Exchange(port_, Post("/upload", "again")).find("\r\n\r\n0 5 again"), std::string::npos);
}

TEST(UploadSpoolTest, StaleUploadsAreRemovedAndOtherFilesKept) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/stale-", ::getpid());
  std::filesystem::create_directories(dir);
  {
    auto spool = UploadSpool::Open(dir);
    ASSERT_TRUE(spool.ok());
    ASSERT_TRUE((*spool)->Write("abc").ok());
    auto body = (*spool)->Finish();
    ASSERT_TRUE(body.ok());
    (*body)->Release();  // as if the process died holding it
  }
  std::ofstream(dir + "/keep.txt") << "x";
  EXPECT_EQ(RemoveStaleUploads(dir), 1u);
  EXPECT_EQ(FilesIn(dir), 1u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace stoa::common
