// The one conversion between absl::Status and grpc::Status (STYLE.md rule 3),
// used on both sides of the executor's gRPC boundary.
//
// Codes map 1:1 (absl::StatusCode and grpc::StatusCode share their values);
// the message is kept as is. So a NOT_FOUND raised by the server's executor
// reaches the client as NOT_FOUND, and the transport's UNAVAILABLE (dead
// peer) and DEADLINE_EXCEEDED (client deadline) stay what they are.
// A code outside the known range becomes UNKNOWN.
//
// Thread safety: pure functions.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace stoa::executors {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace stoa::executors
