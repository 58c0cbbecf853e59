// HttpReceiver: a tiny real HTTP/1.1 server on 127.0.0.1 (an ephemeral
// port) for tests that need the gateway to call them back (Stoa-Callback,
// docs/events.md). Every request is recorded; while Refuse(true) is set it
// answers 503, otherwise 200. One connection is served at a time,
// `Connection: close` after each answer (the gateway's callback sender
// opens one connection per POST).
//
// Thread safety: every method may be called concurrently. The destructor
// stops the server thread.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stoa::testing {

class HttpReceiver {
 public:
  struct Request {
    std::string method, target, body;
    std::string invocation_id;  // the Stoa-Invocation-Id header
    int answered = 0;           // the status it was answered with
  };

  HttpReceiver();
  ~HttpReceiver();
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  int port() const { return port_; }
  std::string Url(const std::string& path) const;
  void Refuse(bool refuse) { refuse_ = refuse; }
  std::vector<Request> requests() const;
  // Requests for `id` answered with `status` (0: any status).
  int Count(const std::string& id, int status = 0) const;

 private:
  void Serve();
  void Handle(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> refuse_{false};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;
};

}  // namespace stoa::testing
