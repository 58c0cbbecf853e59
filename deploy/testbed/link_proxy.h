// LinkProxy: the data path of stoa-linkem. Accepts TCP connections, opens
// one upstream connection for each, and copies bytes both ways, each chunk
// held until its LinkShaper release time. Byte-transparent (HTTP/2, gRPC and
// anything else pass unchanged); half-closes are forwarded once the data
// before them is delivered; an error on either side closes both.
//
// Memory is bounded: a direction stops reading while more than
// `max_queued_bytes` wait for release, so TCP flow control pushes back on
// the sender. A blackholed shaper (loss = 1) stops reading too.
//
// Threading: everything runs on the given io_context (run it on one thread);
// the shapers may be changed from other threads (they lock). Ownership: the
// caller keeps io_context and shapers alive longer than the proxy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "deploy/testbed/link_shaper.h"

namespace stoa::deploy {

class LinkProxy {
 public:
  struct Options {
    std::string listen = "127.0.0.1:0";  // HOST:PORT, port 0 picks one
    std::string upstream;                // HOST:PORT, resolved once at Create
    size_t chunk_bytes = 16 * 1024;      // largest read, so one "packet"
    size_t max_queued_bytes = 4 << 20;   // per direction and connection
  };

  // Binds the listener and resolves the upstream; InvalidArgument for a bad
  // address, Unavailable when binding or resolving fails. Accepts once
  // Start() is called.
  static absl::StatusOr<std::unique_ptr<LinkProxy>> Create(boost::asio::io_context& io,
                                                           const Options& options,
                                                           LinkShaper& to_upstream,
                                                           LinkShaper& to_client);
  ~LinkProxy();
  LinkProxy(const LinkProxy&) = delete;
  LinkProxy& operator=(const LinkProxy&) = delete;

  void Start();
  std::string address() const;  // the bound "HOST:PORT"

 private:
  LinkProxy(boost::asio::io_context& io, const Options& options, LinkShaper& to_upstream,
            LinkShaper& to_client);

  boost::asio::io_context& io_;
  Options options_;
  LinkShaper& to_upstream_;
  LinkShaper& to_client_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint upstream_;
};

}  // namespace stoa::deploy
