#include "engine/team_records.hpp"

#include "engine/assert.hpp"

namespace seqd {
namespace {

std::string prefixed(TeamRecordKind kind, std::string_view name) {
  SEQD_ASSERT(name.size() <= 255);
  std::string key(1, static_cast<char>(kind));
  key += static_cast<char>(name.size());
  key += name;
  return key;
}

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const char byte : text) {
    hash ^= static_cast<unsigned char>(byte);
    hash *= 1099511628211ull;
  }
  return hash;
}

void appendHash(std::string& key, std::string_view contact_key) {
  const std::uint64_t hash = fnv1a64(contact_key);
  for (int shift = 56; shift >= 0; shift -= 8) key += static_cast<char>((hash >> shift) & 0xff);
}

}  // namespace

std::string listOwnerKey(std::string_view list) {
  return prefixed(TeamRecordKind::kListOwner, list);
}

std::string listMemberKey(std::string_view list, std::string_view contact_key) {
  std::string key = prefixed(TeamRecordKind::kListMember, list);
  appendHash(key, contact_key);
  return key;
}

std::string workflowRunKey(std::string_view sequence_id, std::string_view list) {
  SEQD_ASSERT(list.size() <= 255);
  std::string key = prefixed(TeamRecordKind::kWorkflowRun, sequence_id);
  key += static_cast<char>(list.size());
  key += list;
  return key;
}

std::string workflowConsideredKey(std::string_view sequence_id, std::string_view list,
                                  std::string_view contact_key) {
  std::string key = workflowRunKey(sequence_id, list);
  key[0] = static_cast<char>(TeamRecordKind::kWorkflowConsidered);
  appendHash(key, contact_key);
  return key;
}

bool splitWorkflowRest(std::string_view rest, std::string_view& list) {
  if (rest.empty()) return false;
  const std::size_t length = static_cast<unsigned char>(rest[0]);
  if (rest.size() < 1 + length) return false;
  list = rest.substr(1, length);
  return true;
}

std::string shareKey(std::string_view sequence_id, std::string_view user) {
  return prefixed(TeamRecordKind::kShare, sequence_id) + std::string(user);
}

bool splitTeamKey(std::string_view key, TeamRecordKind& kind, std::string_view& name,
                  std::string_view& rest) {
  if (key.size() < 2) return false;
  const char first = key[0];
  if (first != 'O' && first != 'M' && first != 'S' && first != 'W' && first != 'V') return false;
  kind = static_cast<TeamRecordKind>(first);
  const std::size_t length = static_cast<unsigned char>(key[1]);
  if (key.size() < 2 + length) return false;
  name = key.substr(2, length);
  rest = key.substr(2 + length);
  return true;
}

std::string listNameProblem(std::string_view name) {
  if (name.empty()) return "a list name cannot be empty";
  if (name.size() > kListNameBytesMax) {
    return "a list name is at most " + std::to_string(kListNameBytesMax) + " bytes";
  }
  for (const char c : name) {
    const bool good = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    if (!good) return "a list name has only letters, digits, '.', '_' and '-'";
  }
  return "";
}

}  // namespace seqd
