// Team records: how lists and sequence shares are kept in the store, as opaque key/value pairs
// the store writes to its `teams` DB without looking inside (io/store.hpp).
//
// Keys start with a kind byte; names are length-prefixed so no name can run into the next
// field:
//   'O' u8 len | list name                          -> the list's owner (a list exists while
//                                                      this record does, members or none)
//   'M' u8 len | list name | FNV-1a 64 of the key   -> the member's contact key. The hash
//                                                      keeps the LMDB key under 511 bytes
//                                                      for contact keys up to 511 bytes; two
//                                                      members of one list with the same
//                                                      hash (odds 1 in 2^64 per pair) would
//                                                      share one record.
//   'S' u8 len | sequence id | user                 -> "" (the user may edit the sequence)
//   'W' u8 len | sequence id | u8 len | list name   -> a workflow's run: 5 x u64 LE (last
//                                                      run ms + 1, added and skipped in all,
//                                                      added and skipped by the last run)
//   'V' u8 len | sequence id | u8 len | list name | FNV-1a 64 of the key
//                                                   -> a member that workflow considered
//   'R' ...                                         -> a report counter (engine/report.hpp,
//                                                      which reads and writes its own keys)
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace seqd {

// List names: 1 to 64 bytes of letters, digits and . _ - (a name is typed on command lines
// and in sequence files).
inline constexpr std::size_t kListNameBytesMax = 64;
// A user a sequence is shared with: an OS user name (useradd allows 32 bytes).
inline constexpr std::size_t kShareUserBytesMax = 32;

struct TeamRecord {
  std::string key;
  std::string value;
  bool erase = false;  // delete the key instead of writing it
};

enum class TeamRecordKind : char {
  kListOwner = 'O',
  kListMember = 'M',
  kShare = 'S',
  kWorkflowRun = 'W',
  kWorkflowConsidered = 'V',
};

std::string listOwnerKey(std::string_view list);
std::string listMemberKey(std::string_view list, std::string_view contact_key);
std::string shareKey(std::string_view sequence_id, std::string_view user);
std::string workflowRunKey(std::string_view sequence_id, std::string_view list);
std::string workflowConsideredKey(std::string_view sequence_id, std::string_view list,
                                  std::string_view contact_key);
// The list name at the start of a workflow key's `rest` (what splitTeamKey leaves after the
// sequence id); false when it is cut short.
bool splitWorkflowRest(std::string_view rest, std::string_view& list);

// Splits a key made by the functions above: its kind, its first name and what follows it
// (the member hash or the user). False for a key none of them makes.
bool splitTeamKey(std::string_view key, TeamRecordKind& kind, std::string_view& name,
                  std::string_view& rest);

// "" when the name is a good list name, else what is wrong with it.
std::string listNameProblem(std::string_view name);

}  // namespace seqd
