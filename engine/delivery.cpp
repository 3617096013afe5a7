// DeliveryIntent's reads of the snapshots it holds (engine/delivery.hpp).
#include "engine/delivery.hpp"

#include "engine/message.hpp"
#include "engine/render.hpp"

namespace seqd {

const std::string& DeliveryIntent::mailbox() const { return sender->address; }

std::string DeliveryIntent::recipient() const { return std::string(contact->email()); }

std::string DeliveryIntent::messageId() const {
  std::string message_id;
  messageIdTo(message_id);
  return message_id;
}

void DeliveryIntent::messageIdTo(std::string& out) const {
  out.clear();
  appendMessageId(out, sequence->id, sequence->steps[step_index].id, contact->key(),
                  sender->address);
}

}  // namespace seqd
