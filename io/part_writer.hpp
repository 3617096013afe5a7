// PartWriter: writes the lists of a long answer to a command that changed something (an
// `add --where`/`--list`, a `retry --all`) in "part" events, then its reply, so that an
// answer listing millions of contacts arrives whole instead of over the reply cap:
//
//   {"id":7,"event":"part","result":{"added":[...],"first_at":{...}}}    one or more
//   {"id":7,"event":"part","result":{"skipped":[...]}}
//   {"id":7,"ok":true,"result":{"added":[],"skipped":[],"first_at":{},...}}
//
// A part holds entries of one list, and beside them, for an add, their members of one object
// (each added contact's first_at). The answer is the parts and the reply merged: arrays
// appended in order, objects' members together (io/control_protocol.hpp). Each frame is at
// most about chunk_bytes_max bytes (one entry longer than that goes alone).
//
// StreamedAnswer is such an answer as the engine thread leaves it (io/command_dispatch.cpp
// makes them): typed lists, turned into JSON by the reader thread after the commit
// (io/status_stream.hpp's streamedAnswer), so the engine thread pays for neither.
//
// Thread-safety: a PartWriter is one thread's; a StreamedAnswer is immutable once made.
#pragma once

#include <boost/json.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace seqd {

// Writes one frame, '\n'-terminated; false: stop (the connection is gone or stalled).
using FrameEmit = std::function<bool(std::string text, bool is_reply)>;

class PartWriter {
 public:
  PartWriter(const boost::json::value& id, std::size_t chunk_bytes_max, const FrameEmit& emit);

  // Adds an entry (its JSON text) to the array `list`; with `object`, also the member
  // entry: value (the entry a JSON string) to that object. false once a frame was refused:
  // stop adding.
  bool put(std::string_view list, std::string_view entry, std::string_view object = {},
           std::string_view value = {});
  // Sends the part being filled, then the reply with result `reply` (its lists empty).
  void finish(boost::json::object reply);

 private:
  bool sendPart();

  const FrameEmit& emit_;
  const boost::json::value& id_;
  std::size_t chunk_bytes_max_;
  std::string head_;  // {"id":ID,"event":"part","result":{
  std::string list_;  // the part's array and object, and their entries so far
  std::string object_;
  std::string entries_;
  std::string members_;
  bool stopped_ = false;
};

class StreamedAnswer {
 public:
  virtual ~StreamedAnswer() = default;
  // Writes the whole answer; stops early when the writer refuses an entry.
  virtual void write(PartWriter& writer) const = 0;
};

}  // namespace seqd
