#include "gateway/events/mqtt_client.h"

#include <deque>
#include <map>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "boost/asio/co_spawn.hpp"
#include "boost/asio/connect.hpp"
#include "boost/asio/detached.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/redirect_error.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "boost/asio/write.hpp"
#include "common/backoff.h"
#include "common/host_port.h"
#include "common/tls_context.h"
#include "gateway/events/mqtt_codec.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway::events {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::awaitable;
using boost::system::error_code;

namespace {
constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr auto kStopWait = absl::Seconds(2);
constexpr uint16_t kSubscribePacketId = 1;
auto Redirect(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }
}  // namespace

// Everything but the atomics and the handlers lives on the I/O thread.
struct MqttClient::Impl {
  Options options;
  common::HostPort broker;
  bool tls = false;
  std::shared_ptr<asio::ssl::context> tls_context;
  asio::io_context io;
  std::thread thread;
  absl::Notification finished;
  MessageHandler on_message;
  StateHandler on_state;
  std::atomic<bool> up{false};  // connected and subscribed

  bool stopping = false;
  uint64_t generation = 0;  // the current connection's number
  bool live = false;        // that connection is open
  uint64_t write_epoch = 0;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> stream;
  std::string in;
  std::deque<std::string> out;
  bool writing = false;
  // A result to publish and what to call on its PUBACK.
  struct Outgoing {
    mqtt::Publish publish;
    std::function<void()> on_delivered;
  };
  std::map<uint16_t, Outgoing> unacked;  // sent, awaiting PUBACK
  std::deque<Outgoing> waiting;          // not sent yet
  uint16_t next_packet_id = 1;
  uint16_t broker_receive_maximum = 65535;
  std::chrono::steady_clock::time_point last_rx;
  asio::steady_timer retry_timer{io};
  asio::steady_timer ping_timer{io};
  asio::steady_timer connect_timer{io};

  void Enqueue(std::string bytes) {
    out.push_back(std::move(bytes));
    WriteNext();
  }
  void WriteNext();
  void Close() {
    error_code ignored;
    if (stream) stream->next_layer().close(ignored);
  }
  void Flush();
  void Down();
  awaitable<absl::StatusOr<mqtt::Frame>> ReadFrame();
  awaitable<absl::Status> Open();
  awaitable<absl::Status> Session();
  awaitable<void> Ping(uint64_t connection);
  awaitable<void> Run();
  absl::Status Dispatch(mqtt::Frame frame);
};

void MqttClient::Impl::WriteNext() {
  if (writing || out.empty() || !live) return;
  writing = true;
  auto batch = std::make_shared<std::string>();
  for (std::string& packet : out) *batch += packet;
  out.clear();
  auto done = [this, batch, epoch = write_epoch](error_code ec, size_t) {
    if (epoch != write_epoch) return;  // a closed connection's write
    writing = false;
    if (ec || (stopping && out.empty())) {
      Close();
      return;
    }
    WriteNext();
  };
  if (tls) {
    asio::async_write(*stream, asio::buffer(*batch), done);
  } else {
    asio::async_write(stream->next_layer(), asio::buffer(*batch), done);
  }
}

void MqttClient::Impl::Flush() {
  while (up && !waiting.empty() && unacked.size() < broker_receive_maximum) {
    while (next_packet_id == 0 || unacked.contains(next_packet_id)) ++next_packet_id;
    Outgoing o = std::move(waiting.front());
    waiting.pop_front();
    o.publish.packet_id = next_packet_id++;
    Enqueue(mqtt::EncodePublish(o.publish));
    const uint16_t id = o.publish.packet_id;
    unacked.emplace(id, std::move(o));
  }
}

void MqttClient::Impl::Down() {
  live = false;
  ++write_epoch;
  writing = false;
  out.clear();
  in.clear();
  ping_timer.cancel();
  Close();
  if (up.exchange(false) && on_state) on_state(false);
}

awaitable<absl::StatusOr<mqtt::Frame>> MqttClient::Impl::ReadFrame() {
  char chunk[16384];
  for (;;) {
    absl::StatusOr<std::optional<mqtt::Frame>> frame =
        mqtt::TakeFrame(in, options.max_packet_bytes);
    if (!frame.ok()) co_return frame.status();
    if (frame->has_value()) co_return std::move(**frame);
    error_code ec;
    size_t n =
        tls ? co_await stream->async_read_some(asio::buffer(chunk), Redirect(ec))
            : co_await stream->next_layer().async_read_some(asio::buffer(chunk), Redirect(ec));
    if (ec) co_return absl::UnavailableError(absl::StrCat("connection lost: ", ec.message()));
    last_rx = std::chrono::steady_clock::now();
    in.append(chunk, n);
  }
}

// TCP (and TLS) up, CONNECT sent and CONNACK read, within kConnectTimeout.
awaitable<absl::Status> MqttClient::Impl::Open() {
  error_code ec;
  tcp::resolver resolver(io);
  auto endpoints =
      co_await resolver.async_resolve(broker.host, std::to_string(broker.port), Redirect(ec));
  if (ec) co_return absl::UnavailableError(absl::StrCat("resolving: ", ec.message()));
  stream = std::make_unique<asio::ssl::stream<tcp::socket>>(io, *tls_context);
  in.clear();
  connect_timer.expires_after(kConnectTimeout);
  connect_timer.async_wait([this, s = stream.get()](error_code e) {
    if (!e && s == stream.get()) Close();
  });
  co_await asio::async_connect(stream->next_layer(), endpoints, Redirect(ec));
  if (ec) co_return absl::UnavailableError(absl::StrCat("connecting: ", ec.message()));
  // Writes are batched here already; Nagle would hold a PUBACK or a result
  // back until the previous segment's ACK (up to the delayed-ACK 40 ms).
  stream->next_layer().set_option(tcp::no_delay(true), ec);
  if (tls) {
    if (absl::Status s = common::ConfigureClientConnection(stream->native_handle(), broker.host);
        !s.ok()) {
      co_return s;
    }
    co_await stream->async_handshake(asio::ssl::stream_base::client, Redirect(ec));
    if (ec) {
      co_return absl::UnavailableError(absl::StrCat(
          "TLS handshake: ",
          common::DescribeClientHandshakeError(stream->native_handle(), ec.message())));
    }
  }
  ++generation;
  live = true;
  ++write_epoch;
  Enqueue(mqtt::EncodeConnect({.client_id = options.client_id,
                               .username = options.username,
                               .password = options.password,
                               .clean_start = false,
                               .keep_alive_s = options.keep_alive_s,
                               .session_expiry_s = options.session_expiry_s,
                               .receive_maximum = options.receive_maximum,
                               .maximum_packet_size = static_cast<uint32_t>(
                                   std::min<size_t>(options.max_packet_bytes, UINT32_MAX))}));
  absl::StatusOr<mqtt::Frame> frame = co_await ReadFrame();
  connect_timer.cancel();
  if (!frame.ok()) co_return frame.status();
  if (frame->type != mqtt::kConnack) co_return absl::UnavailableError("no CONNACK");
  absl::StatusOr<mqtt::Connack> connack = mqtt::DecodeConnack(frame->body);
  if (!connack.ok()) co_return connack.status();
  if (connack->reason_code != 0) {
    co_return absl::PermissionDeniedError(
        absl::StrCat("broker refused the connection: ", mqtt::ReasonName(connack->reason_code), " ",
                     connack->reason_string));
  }
  broker_receive_maximum = std::max<uint16_t>(connack->receive_maximum, 1);
  if (connack->server_keep_alive_s != 0) options.keep_alive_s = connack->server_keep_alive_s;
  spdlog::info("mqtt: connected to {} as '{}' (session {})",
               common::FormatHostPort(broker.host, broker.port), options.client_id,
               connack->session_present ? "resumed" : "new");
  co_return absl::OkStatus();
}

absl::Status MqttClient::Impl::Dispatch(mqtt::Frame frame) {
  switch (frame.type) {
    case mqtt::kPublish: {
      absl::StatusOr<mqtt::Publish> p = mqtt::DecodePublish(frame.flags, frame.body);
      if (!p.ok()) return p.status();
      on_message(MqttInbound{
          .topic = std::move(p->topic),
          .payload = std::move(p->payload),
          .content_type = std::move(p->content_type),
          .response_topic = std::move(p->response_topic),
          .correlation_data = std::move(p->correlation_data),
          .user_properties = std::move(p->user_properties),
          .duplicate_delivery = p->dup,
          .ack = {.connection = p->qos == 1 ? generation : 0, .packet_id = p->packet_id}});
      return absl::OkStatus();
    }
    case mqtt::kSuback: {
      absl::StatusOr<mqtt::Suback> s = mqtt::DecodeSuback(frame.body);
      if (!s.ok()) return s.status();
      if (s->reason_codes.empty() || s->reason_codes[0] >= 0x80) {
        return absl::PermissionDeniedError(
            absl::StrCat("broker refused the subscription to ", options.subscription, ": ",
                         mqtt::ReasonName(s->reason_codes.empty() ? 0x80 : s->reason_codes[0])));
      }
      up = true;
      if (on_state) on_state(true);
      for (auto& [id, o] : unacked) {
        o.publish.dup = true;
        Enqueue(mqtt::EncodePublish(o.publish));
      }
      Flush();
      return absl::OkStatus();
    }
    case mqtt::kPuback: {
      absl::StatusOr<std::pair<uint16_t, uint8_t>> ack = mqtt::DecodePuback(frame.body);
      if (!ack.ok()) return ack.status();
      auto it = unacked.find(ack->first);
      if (ack->second >= 0x80) {
        spdlog::warn("mqtt: broker refused a result on {}: {}",
                     it != unacked.end() ? it->second.publish.topic : "?",
                     mqtt::ReasonName(ack->second));
      }
      if (it != unacked.end()) {
        std::function<void()> delivered = std::move(it->second.on_delivered);
        unacked.erase(it);
        if (delivered) delivered();
      }
      Flush();
      return absl::OkStatus();
    }
    case mqtt::kPingresp:
      return absl::OkStatus();
    case mqtt::kDisconnect:
      return absl::UnavailableError(absl::StrCat(
          "broker disconnected: ",
          mqtt::ReasonName(frame.body.empty() ? 0 : static_cast<uint8_t>(frame.body[0]))));
    default:
      return absl::UnavailableError(absl::StrCat("unexpected MQTT packet type ", frame.type));
  }
}

awaitable<absl::Status> MqttClient::Impl::Session() {
  if (absl::Status s = co_await Open(); !s.ok()) co_return s;
  Enqueue(mqtt::EncodeSubscribe(kSubscribePacketId, options.subscription));
  asio::co_spawn(io, Ping(generation), asio::detached);
  for (;;) {
    absl::StatusOr<mqtt::Frame> frame = co_await ReadFrame();
    if (!frame.ok()) co_return frame.status();
    if (absl::Status s = Dispatch(*std::move(frame)); !s.ok()) co_return s;
  }
}

awaitable<void> MqttClient::Impl::Ping(uint64_t connection) {
  const auto period = std::chrono::seconds(std::max<int>(options.keep_alive_s, 1));
  while (!stopping && live && connection == generation) {
    ping_timer.expires_after(period);
    error_code ec;
    co_await ping_timer.async_wait(Redirect(ec));
    if (ec || stopping || !live || connection != generation) co_return;
    if (std::chrono::steady_clock::now() - last_rx > period * 2) {
      spdlog::warn("mqtt: broker silent for {} s; reconnecting", 2 * period.count());
      Close();
      co_return;
    }
    Enqueue(mqtt::EncodePingreq());
  }
}

awaitable<void> MqttClient::Impl::Run() {
  common::Backoff backoff(options.retry_min, options.retry_max);
  while (!stopping) {
    absl::Status s = co_await Session();
    const bool was_up = up.load();
    Down();
    if (stopping) break;
    if (was_up) backoff.Reset();
    const std::chrono::milliseconds delay = backoff.Next();
    spdlog::warn("mqtt: {}: {}; retrying in {} ms",
                 common::FormatHostPort(broker.host, broker.port), std::string(s.message()),
                 delay.count());
    retry_timer.expires_after(delay);
    error_code ec;
    co_await retry_timer.async_wait(Redirect(ec));
  }
}

absl::StatusOr<std::unique_ptr<MqttClient>> MqttClient::Create(Options options) {
  auto impl = std::make_unique<Impl>();
  absl::string_view address = options.broker;
  if (absl::ConsumePrefix(&address, "ssl://") || absl::ConsumePrefix(&address, "mqtts://")) {
    impl->tls = true;
  } else if (!absl::ConsumePrefix(&address, "tcp://") &&
             !absl::ConsumePrefix(&address, "mqtt://")) {
    return absl::InvalidArgumentError(absl::StrCat("--mqtt-broker: '", options.broker,
                                                   "' must be tcp://HOST:PORT or ssl://HOST:PORT"));
  }
  absl::StatusOr<common::HostPort> broker = common::ParseHostPort(std::string(address));
  if (!broker.ok() || broker->port == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--mqtt-broker: '", options.broker,
        "': ", broker.ok() ? "the port must not be 0" : std::string(broker.status().message())));
  }
  impl->broker = *broker;
  if (impl->tls) {
    auto context = common::MakeTlsClientContext(
        {.ca_file = options.ca_file, .cert_file = options.cert_file, .key_file = options.key_file});
    if (!context.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--mqtt-tls-*: ", context.status().message()));
    }
    impl->tls_context = *context;
  } else {
    impl->tls_context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  }
  if (options.client_id.empty() || options.client_id.size() > 65535) {
    return absl::InvalidArgumentError("--mqtt-client-id: must be 1 to 65535 bytes");
  }
  impl->options = std::move(options);
  return std::unique_ptr<MqttClient>(new MqttClient(std::move(impl)));
}

MqttClient::MqttClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MqttClient::~MqttClient() { Stop(); }

void MqttClient::Start(MessageHandler on_message, StateHandler on_state) {
  Impl* d = impl_.get();
  d->on_message = std::move(on_message);
  d->on_state = std::move(on_state);
  asio::co_spawn(d->io, d->Run(), [](std::exception_ptr e) {
    if (e) spdlog::error("mqtt: the connection loop stopped on an exception");
  });
  d->thread = std::thread([d] {
    d->io.run();
    d->finished.Notify();
  });
}

void MqttClient::Stop() {
  Impl* d = impl_.get();
  if (!d->thread.joinable()) return;
  asio::post(d->io, [d] {
    d->stopping = true;
    d->retry_timer.cancel();
    d->ping_timer.cancel();
    d->connect_timer.cancel();
    if (d->live && d->up) {
      d->Enqueue(mqtt::EncodeDisconnect());  // closes once written
    } else {
      d->Close();
    }
  });
  if (!d->finished.WaitForNotificationWithTimeout(kStopWait)) d->io.stop();
  d->thread.join();
}

void MqttClient::Acknowledge(AckToken token) {
  if (token.packet_id == 0 || token.connection == 0) return;
  Impl* d = impl_.get();
  asio::post(d->io, [d, token] {
    if (d->live && token.connection == d->generation) {
      d->Enqueue(mqtt::EncodePuback(token.packet_id));
    }
  });
}

void MqttClient::Publish(MqttOutbound message) {
  Impl* d = impl_.get();
  asio::post(d->io, [d, m = std::move(message)]() mutable {
    d->waiting.push_back(
        Impl::Outgoing{.publish = mqtt::Publish{.topic = std::move(m.topic),
                                                .payload = std::move(m.payload),
                                                .qos = 1,
                                                .dup = false,
                                                .retain = false,
                                                .packet_id = 0,
                                                .content_type = std::move(m.content_type),
                                                .response_topic = "",
                                                .correlation_data = std::move(m.correlation_data),
                                                .user_properties = {}},
                       .on_delivered = std::move(m.on_delivered)});
    d->Flush();
  });
}

bool MqttClient::connected() const { return impl_->up.load(); }

}  // namespace stoa::gateway::events
