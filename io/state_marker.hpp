// StateMarker: the file `dir`/seqd.state that says a state dir holds a store that was used.
//
// LMDB makes a new, empty store out of a data.mdb that is missing or 0 bytes long, so without
// a record kept outside data.mdb an emptied store would start as a new one, all history gone.
// The store writes this marker once, right after the commit that created it, and never
// changes it. It is text, so an operator can read it:
//
//   seqd state dir: data.mdb here holds a store; if it is gone or empty, restore it
//   format 1
//   schema 2
//   store 5f0c...                (32 hex digits: the store_id in data.mdb's meta DB)
//   crc32c 1a2b3c4d              (CRC32C of everything above this line, in hex)
//
// Writing is durable and atomic: a temp file, fsync, rename over, fsync of the directory.
//
// Thread-safety: plain functions; one writer per directory (the store holds its lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "engine/status.hpp"

namespace seqd {

inline constexpr const char* kStateMarkerFileName = "seqd.state";
inline constexpr std::uint32_t kStateMarkerFormat = 1;
inline constexpr std::size_t kStateMarkerBytesMax = 4096;

struct StateMarker {
  std::uint32_t format = kStateMarkerFormat;
  std::uint32_t schema = 0;
  std::string store_id;  // hex
};

// The file's text for `marker`.
std::string stateMarkerText(const StateMarker& marker);

// Reads `dir`/seqd.state: nullopt when there is none. A file that does not parse, is over
// kStateMarkerBytesMax or fails its checksum gives Corruption ("seqd.state is unreadable:
// ..."); a marker of another format comes back with only `format` set, for the caller to
// refuse. Failing reads give IOError or PermissionDenied.
Result<std::optional<StateMarker>> readStateMarker(const std::string& dir);

// REQUIRES: marker.store_id is 32 hex digits.
Status writeStateMarker(const std::string& dir, const StateMarker& marker);

}  // namespace seqd
