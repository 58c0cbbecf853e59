#include "executors/executor_tls_flags.h"

#include "absl/strings/str_cat.h"
#include "executors/grpc_tls.h"

namespace stoa::executors {

void AddExecutorTlsFlags(CLI::App& app, ExecutorTlsFlags& flags) {
  app.add_option("--executor-tls-cert", flags.cert_file,
                 "PEM client certificate presented to executors (mutual TLS; with "
                 "--executor-tls-key and --executor-tls-ca)");
  app.add_option("--executor-tls-key", flags.key_file, "PEM private key of --executor-tls-cert");
  app.add_option("--executor-tls-ca", flags.ca_file,
                 "PEM CA certificate(s) that signed the executors' certificates");
  app.add_option("--executor-tls-server-name", flags.server_name,
                 "name the executors' certificates must carry (default: each address's host)");
}

absl::Status ApplyExecutorTlsFlags(const ExecutorTlsFlags& flags, GrpcExecutor::Options& options) {
  const int given = !flags.cert_file.empty() + !flags.key_file.empty() + !flags.ca_file.empty();
  if (given == 0) {
    if (!flags.server_name.empty()) {
      return absl::InvalidArgumentError(
          "--executor-tls-server-name needs --executor-tls-cert, --executor-tls-key and "
          "--executor-tls-ca");
    }
    return absl::OkStatus();
  }
  if (given != 3) {
    return absl::InvalidArgumentError(
        "--executor-tls-cert, --executor-tls-key and --executor-tls-ca go together (executors "
        "with --tls-client-ca let in only clients with a certificate their CA signed)");
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ExecutorChannelCredentials({flags.ca_file, flags.cert_file, flags.key_file});
  if (!credentials.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--executor-tls-*: ", credentials.status().message()));
  }
  options.credentials = std::move(*credentials);
  options.tls_server_name = flags.server_name;
  return absl::OkStatus();
}

}  // namespace stoa::executors
