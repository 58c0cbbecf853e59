#include "cluster/etcd_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/host_port.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace stoa::cluster {
namespace {

KeyValue FromProto(const mvccpb::KeyValue& kv) {
  return KeyValue{.key = kv.key(),
                  .value = kv.value(),
                  .create_revision = kv.create_revision(),
                  .mod_revision = kv.mod_revision(),
                  .version = kv.version(),
                  .lease = kv.lease()};
}

// The gRPC target for the endpoints: "ipv4:a:1,b:2" lets pick_first fail
// over between literal IPv4 addresses; otherwise the first name is resolved
// through DNS.
std::string ChannelTarget(const std::vector<std::string>& endpoints) {
  bool all_ipv4 = true;
  for (const std::string& e : endpoints) {
    auto hp = common::ParseHostPort(e);
    if (!hp.ok() || hp->host.find_first_not_of("0123456789.") != std::string::npos) {
      all_ipv4 = false;
    }
  }
  if (all_ipv4) return absl::StrCat("ipv4:", absl::StrJoin(endpoints, ","));
  return absl::StrCat("dns:///", endpoints.front());
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseEtcdUrl(const std::string& url) {
  constexpr std::string_view kScheme = "etcd://";
  if (url.rfind(kScheme, 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", url, "' is not an etcd URL: expected etcd://HOST:PORT[,HOST:PORT...]"));
  }
  std::vector<std::string> endpoints =
      absl::StrSplit(url.substr(kScheme.size()), ',', absl::SkipWhitespace());
  if (endpoints.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' names no etcd endpoint"));
  }
  for (const std::string& e : endpoints) {
    auto hp = common::ParseHostPort(e);
    if (!hp.ok() || hp->port == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd endpoint '", e, "' in '", url, "' is not HOST:PORT"));
    }
  }
  return endpoints;
}

std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Connect(const std::string& url,
                                                                Options options) {
  auto endpoints = ParseEtcdUrl(url);
  if (!endpoints.ok()) return endpoints.status();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  auto channel = grpc::CreateCustomChannel(ChannelTarget(*endpoints),
                                           grpc::InsecureChannelCredentials(), args);
  return std::unique_ptr<EtcdClient>(
      new EtcdClient(absl::StrJoin(*endpoints, ","), std::move(channel), options));
}

EtcdClient::EtcdClient(std::string endpoints, std::shared_ptr<grpc::Channel> channel,
                       Options options)
    : endpoints_(std::move(endpoints)),
      options_(options),
      channel_(std::move(channel)),
      kv_(etcdserverpb::KV::NewStub(channel_)),
      watch_(etcdserverpb::Watch::NewStub(channel_)),
      lease_(etcdserverpb::Lease::NewStub(channel_)) {}

void EtcdClient::SetDeadline(grpc::ClientContext& context) const {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options_.call_timeout_ms));
}

absl::Status EtcdClient::FromGrpc(const grpc::Status& status, const char* what) const {
  if (status.ok()) return absl::OkStatus();
  const std::string message =
      absl::StrCat("etcd (", endpoints_, ") ", what, ": ", status.error_message());
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return absl::UnavailableError(message);
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return absl::InvalidArgumentError(message);
    case grpc::StatusCode::NOT_FOUND:
      return absl::NotFoundError(message);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<RangeResult> EtcdClient::Range(const std::string& key,
                                              const std::string& range_end) {
  etcdserverpb::RangeRequest request;
  request.set_key(key);
  request.set_range_end(range_end);
  etcdserverpb::RangeResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  if (auto s = FromGrpc(kv_->Range(&context, request, &response), "range"); !s.ok()) return s;
  RangeResult out;
  out.revision = response.header().revision();
  out.kvs.reserve(response.kvs_size());
  for (const auto& kv : response.kvs()) out.kvs.push_back(FromProto(kv));
  return out;
}

absl::StatusOr<int64_t> EtcdClient::Put(const std::string& key, const std::string& value,
                                        int64_t lease) {
  etcdserverpb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_lease(lease);
  etcdserverpb::PutResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  if (auto s = FromGrpc(kv_->Put(&context, request, &response), "put"); !s.ok()) return s;
  return response.header().revision();
}

absl::StatusOr<int64_t> EtcdClient::Delete(const std::string& key, const std::string& range_end) {
  etcdserverpb::DeleteRangeRequest request;
  request.set_key(key);
  request.set_range_end(range_end);
  etcdserverpb::DeleteRangeResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  if (auto s = FromGrpc(kv_->DeleteRange(&context, request, &response), "delete"); !s.ok()) {
    return s;
  }
  return response.deleted();
}

absl::StatusOr<etcdserverpb::TxnResponse> EtcdClient::Txn(const etcdserverpb::TxnRequest& request) {
  etcdserverpb::TxnResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  if (auto s = FromGrpc(kv_->Txn(&context, request, &response), "txn"); !s.ok()) return s;
  return response;
}

namespace {

// A transaction whose success branch runs only while `key`'s mod_revision
// is `expected` (0: the key does not exist).
etcdserverpb::TxnRequest IfModRevision(const std::string& key, int64_t expected) {
  etcdserverpb::TxnRequest request;
  auto* compare = request.add_compare();
  compare->set_key(key);
  compare->set_result(etcdserverpb::Compare::EQUAL);
  compare->set_target(etcdserverpb::Compare::MOD);
  compare->set_mod_revision(expected);
  return request;
}

}  // namespace

absl::StatusOr<TxnResult> EtcdClient::Conditional(const etcdserverpb::TxnRequest& request) {
  auto response = Txn(request);
  if (!response.ok()) return response.status();
  return TxnResult{.succeeded = response->succeeded(), .revision = response->header().revision()};
}

absl::StatusOr<TxnResult> EtcdClient::PutIfModRevision(const std::string& key,
                                                       const std::string& value,
                                                       int64_t expected_mod_revision) {
  etcdserverpb::TxnRequest request = IfModRevision(key, expected_mod_revision);
  auto* put = request.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  return Conditional(request);
}

absl::StatusOr<TxnResult> EtcdClient::DeleteIfModRevision(const std::string& key,
                                                          int64_t expected_mod_revision,
                                                          const std::string& also_prefix) {
  etcdserverpb::TxnRequest request = IfModRevision(key, expected_mod_revision);
  request.add_success()->mutable_request_delete_range()->set_key(key);
  if (!also_prefix.empty()) {
    auto* range = request.add_success()->mutable_request_delete_range();
    range->set_key(also_prefix);
    range->set_range_end(PrefixEnd(also_prefix));
  }
  return Conditional(request);
}

absl::StatusOr<int64_t> EtcdClient::LeaseGrant(int64_t ttl_s) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl_s);
  etcdserverpb::LeaseGrantResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  if (auto s = FromGrpc(lease_->LeaseGrant(&context, request, &response), "lease grant"); !s.ok()) {
    return s;
  }
  if (!response.error().empty()) {
    return absl::UnavailableError(absl::StrCat("etcd lease grant: ", response.error()));
  }
  return response.id();
}

absl::Status EtcdClient::LeaseRevoke(int64_t id) {
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(id);
  etcdserverpb::LeaseRevokeResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  return FromGrpc(lease_->LeaseRevoke(&context, request, &response), "lease revoke");
}

}  // namespace stoa::cluster
