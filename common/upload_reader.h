// UploadReader: the body of one upload-route request
// (HttpServer::Options::upload_limit), read chunk by chunk into an
// UploadSpool; BasicHttpSession's part of uploads. Internal to the server.
//
// Thread safety: one owner (the connection's strand).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http.hpp"
#include "common/http_wire.h"
#include "common/upload_spool.h"

namespace stoa::common::detail {

class UploadReader {
 public:
  // Takes over `parser` (its header read, its body not) and creates the
  // file in `dir`; an error says why no file could be made.
  static absl::StatusOr<std::unique_ptr<UploadReader>> Start(
      http::request_parser<http::string_body>&& parser, uint64_t limit, const std::string& dir) {
    auto spool = UploadSpool::Open(dir);
    if (!spool.ok()) return spool.status();
    return std::unique_ptr<UploadReader>(
        new UploadReader(std::move(parser), limit, *std::move(spool)));
  }

  // Reads the next chunk; `handler(error_code, size_t)` then calls Take.
  template <class Stream, class Handler>
  void ReadSome(Stream& stream, beast::flat_buffer& buffer, Handler&& handler) {
    auto& body = parser_.get().body();
    body.data = chunk_.get();
    body.size = kUploadChunk;
    http::async_read_some(stream, buffer, parser_, std::forward<Handler>(handler));
  }

  // What a read brought. `read_error`: the HTTP read failed (body limit,
  // malformed, client gone): the session handles it as any read error.
  // Otherwise `done` with `body` (the finished file) or with an error
  // status (the file could not be written); or neither: read again.
  struct Step {
    beast::error_code read_error;
    bool done = false;
    absl::StatusOr<std::shared_ptr<SpooledBody>> body;
  };
  Step Take(beast::error_code ec) {
    Step step;
    if (ec == http::error::need_buffer) ec = {};
    const size_t got = kUploadChunk - parser_.get().body().size;
    absl::Status written = got > 0 ? spool_->Write({chunk_.get(), got}) : absl::OkStatus();
    if (ec) {
      step.read_error = ec;
    } else if (!written.ok()) {
      step.done = true;
      step.body = written;
    } else if (parser_.is_done()) {
      step.done = true;
      step.body = spool_->Finish();
    }
    return step;
  }

  // The request (its body empty: the bytes are in the file).
  http::request<http::buffer_body> Release() { return parser_.release(); }

 private:
  UploadReader(http::request_parser<http::string_body>&& parser, uint64_t limit,
               std::unique_ptr<UploadSpool> spool)
      : parser_(std::move(parser)),
        spool_(std::move(spool)),
        chunk_(std::make_unique<char[]>(kUploadChunk)) {
    parser_.body_limit(limit);
  }

  http::request_parser<http::buffer_body> parser_;
  std::unique_ptr<UploadSpool> spool_;  // removes the file unless finished
  std::unique_ptr<char[]> chunk_;
};

}  // namespace stoa::common::detail
