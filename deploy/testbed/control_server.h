// ControlServer: the HTTP/1.1 control endpoint of stoa-linkem, a handler on
// common::HttpServer (one I/O thread of its own).
//   GET /link  -> 200 {"delay_ms","jitter_ms","rate_mbit","loss"}
//   PUT /link  with a JSON object holding any of those fields -> the new
//              parameters are applied to both directions at once and
//              returned (200); a bad body is a 400
//              {"error":{"code":"INVALID_ARGUMENT","message":"<field>: ..."}}
//              and changes nothing.
// Other paths are 404, other methods 405 (with Allow: GET, PUT).
//
// Threading: requests are handled on the server's thread; the shapers lock.
// Ownership: the caller keeps the shapers and the clock alive longer than
// the server; the destructor stops the server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/http_server.h"
#include "common/http_types.h"
#include "deploy/testbed/link_shaper.h"

namespace stoa::deploy {

// Answers one request to the control endpoint (see the file comment).
common::HttpResponse HandleControlRequest(const common::HttpRequest& request, int64_t now_us,
                                          LinkShaper& to_upstream, LinkShaper& to_client);

class ControlServer final : public common::HttpHandler {
 public:
  // Serves HOST:PORT (port 0 picks one) from now on. INVALID_ARGUMENT for a
  // bad or unresolvable address, UNAVAILABLE when it cannot listen; both
  // name the --control flag.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Start(
      const std::string& listen, LinkShaper& to_upstream, LinkShaper& to_client,
      const common::Clock& clock = common::RealClock::Get());
  ~ControlServer() override;
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // The bound "HOST:PORT" ([v6] bracketed).
  std::string address() const { return server_->address(); }

  void Handle(common::HttpRequest request, common::HttpResponder respond) override;

 private:
  ControlServer(LinkShaper& to_upstream, LinkShaper& to_client, const common::Clock& clock);

  LinkShaper& to_upstream_;
  LinkShaper& to_client_;
  const common::Clock& clock_;
  std::unique_ptr<common::HttpServer> server_;
};

}  // namespace stoa::deploy
