#include "io/part_writer.hpp"

#include "io/control_protocol.hpp"

namespace seqd {

namespace json = boost::json;

PartWriter::PartWriter(const json::value& id, std::size_t chunk_bytes_max, const FrameEmit& emit)
    : emit_(emit),
      id_(id),
      chunk_bytes_max_(chunk_bytes_max),
      head_(R"({"id":)" + json::serialize(id) + R"(,"event":"part","result":{)") {}

bool PartWriter::put(std::string_view list, std::string_view entry, std::string_view object,
                     std::string_view value) {
  if (stopped_) return false;
  const std::size_t bytes = head_.size() + list_.size() + object_.size() + entries_.size() +
                            members_.size() + 16 + entry.size() +
                            (object.empty() ? 0 : entry.size() + value.size() + 2);
  if (!entries_.empty() && (list != list_ || object != object_ || bytes > chunk_bytes_max_) &&
      !sendPart()) {
    return false;
  }
  list_ = list;
  object_ = object;
  if (!entries_.empty()) entries_ += ',';
  entries_ += entry;
  if (!object.empty()) {
    if (!members_.empty()) members_ += ',';
    members_.append(entry).append(":").append(value);
  }
  return true;
}

bool PartWriter::sendPart() {
  if (entries_.empty()) return true;
  std::string part = head_ + '"' + list_ + R"(":[)" + entries_ + ']';
  if (!object_.empty()) part += ",\"" + object_ + R"(":{)" + members_ + '}';
  part += "}}\n";
  entries_.clear();
  members_.clear();
  if (emit_(std::move(part), false)) return true;
  stopped_ = true;
  return false;
}

void PartWriter::finish(json::object reply) {
  if (!sendPart()) return;
  emit_(toFrame(makeOkReply(id_, std::move(reply))), true);
}

}  // namespace seqd
