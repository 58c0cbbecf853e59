// CRC-32C (Castagnoli, the polynomial of iSCSI, ext4 and leveldb), for the
// event log's records. Table driven, one byte at a time: the log fsyncs, so
// the checksum is never what limits it.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace stoa::gateway::events {

// The CRC-32C of `data`, continuing from `crc` (0 to start).
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace stoa::gateway::events
