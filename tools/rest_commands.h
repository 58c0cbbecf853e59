// The REST subcommands of the `stoa` CLI: each builds one request to the
// gateway, sends it over an HttpConnection and writes the response body to
// `out` (errors and placement headers to `err`).
//
// Every function returns the process exit code: 0 for a 2xx answer, 1 for
// any other HTTP status or a transport failure (with the gateway's error
// code and message on `err`, "stoa: HTTP 403: PERMISSION_DENIED: ...", and
// for a 401 a hint to pass a token), 2 for bad local input (an unreadable
// file).
#pragma once

#include <ostream>
#include <string>

#include "tools/http_client.h"

namespace stoa::tools {

// multipart/form-data body with a JSON `spec` part and a binary `artifact`
// part, delimited by `boundary`.
std::string MultipartBody(const std::string& boundary, const std::string& spec_json,
                          const std::string& artifact);

// "@path" reads the file, anything else is returned as is. Fails naming the
// path when the file cannot be read.
absl::StatusOr<std::string> InlineOrFile(const std::string& value);

int RegisterFunction(HttpConnection& conn, const std::string& spec,
                     const std::string& artifact_path, bool replace, std::ostream& out,
                     std::ostream& err);
int ListFunctions(HttpConnection& conn, std::ostream& out, std::ostream& err);
int GetFunction(HttpConnection& conn, const std::string& name, std::ostream& out,
                std::ostream& err);
int DeleteFunction(HttpConnection& conn, const std::string& name, std::ostream& out,
                   std::ostream& err);
// `tier` "" lets the scheduler choose; prints X-Stoa-* headers to err.
int Invoke(HttpConnection& conn, const std::string& name, const std::string& body,
           const std::string& tier, std::ostream& out, std::ostream& err);
// `function` "" addresses the global policy.
int GetPolicy(HttpConnection& conn, const std::string& function, std::ostream& out,
              std::ostream& err);
int SetPolicy(HttpConnection& conn, const std::string& function, const std::string& json,
              std::ostream& out, std::ostream& err);
int GetState(HttpConnection& conn, std::ostream& out, std::ostream& err);

}  // namespace stoa::tools
