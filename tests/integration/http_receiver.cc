#include "tests/integration/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace stoa::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The value of header `name` (lower case) in `head`, "" when absent.
std::string HeaderValue(const std::string& head, const std::string& name) {
  const std::string lower = Lower(head);
  const size_t at = lower.find("\r\n" + name + ":");
  if (at == std::string::npos) return "";
  size_t begin = at + 3 + name.size();
  const size_t end = head.find("\r\n", begin);
  while (begin < end && head[begin] == ' ') ++begin;
  return head.substr(begin, end - begin);
}

}  // namespace

HttpReceiver::HttpReceiver() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 16) != 0) {
    throw std::runtime_error("HttpReceiver: cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

HttpReceiver::~HttpReceiver() {
  stopping_ = true;
  thread_.join();
  close(listen_fd_);
}

std::string HttpReceiver::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<HttpReceiver::Request> HttpReceiver::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

int HttpReceiver::Count(const std::string& id, int status) const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const Request& r : requests_) {
    if (r.invocation_id == id && (status == 0 || r.answered == status)) ++n;
  }
  return n;
}

void HttpReceiver::Serve() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Handle(fd);
    close(fd);
  }
}

void HttpReceiver::Handle(int fd) {
  std::string data;
  char buf[4096];
  size_t head_end = std::string::npos;
  size_t want = 0;
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return;  // a client that stalls: dropped
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return;
    data.append(buf, static_cast<size_t>(n));
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end == std::string::npos) continue;
      want = head_end + 4 +
             std::strtoul(HeaderValue(data.substr(0, head_end), "content-length").c_str(), nullptr,
                          10);
    }
    if (data.size() >= want) break;
  }
  const std::string head = data.substr(0, head_end);
  Request r;
  const size_t sp1 = head.find(' ');
  const size_t sp2 = head.find(' ', sp1 + 1);
  r.method = head.substr(0, sp1);
  r.target = head.substr(sp1 + 1, sp2 - sp1 - 1);
  r.body = data.substr(head_end + 4, want - head_end - 4);
  r.invocation_id = HeaderValue(head, "stoa-invocation-id");
  r.answered = refuse_ ? 503 : 200;
  const std::string answer =
      r.answered == 200 ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        : "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: "
                          "close\r\n\r\nbusy";
  {
    // Recorded before the answer leaves: once the sender sees it, so does the test.
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(std::move(r));
  }
  (void)!write(fd, answer.data(), answer.size());
}

}  // namespace stoa::testing
