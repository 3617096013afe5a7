// Fuzz target: the IMAP inbox's parsers of server answers (io/imap_inbox: parseSearchResponse,
// parseFetchResponse, parseInternalDate) and its checks of configured values (checkFolderUrl,
// passwordFromFileContents): the pure pieces, separable from libcurl. The input's first byte
// picks which one reads the rest ('0' SEARCH, '1' FETCH, '2' INTERNALDATE, '3' folder URL,
// '4' password file).
// Checked: a parsed INTERNALDATE is an instant between years 0000 and 9999; a FETCH answer's
// attributes say RFC822.SIZE only when it was there; a folder URL that passes holds no
// credentials, ';', '?', '#' or control characters; a password that passes holds no line
// break or NUL.
#include <string>

#include "fuzz_input.hpp"
#include "io/imap_inbox.hpp"

using namespace seqd;

namespace {

void checkUrl(std::string_view url) {
  if (!imap::checkFolderUrl(url).isOk()) return;
  FUZZ_CHECK(url.rfind("imap://", 0) == 0 || url.rfind("imaps://", 0) == 0);
  std::string_view authority = url.substr(url.find("://") + 3);
  authority = authority.substr(0, authority.find('/'));
  FUZZ_CHECK(authority.find('@') == std::string_view::npos);
  for (char c : url) {
    FUZZ_CHECK(c != ';' && c != '?' && c != '#');
    FUZZ_CHECK(static_cast<unsigned char>(c) >= ' ' && c != 0x7f);
  }
  FUZZ_CHECK(imap::messageUrl(url, 7).rfind(std::string(url), 0) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = fuzz::asText(data, size);
  switch (fuzz::takeChoice(input, 5)) {
    case 0:
      imap::parseSearchResponse(input).isOk();  // any answer: UIDs or Corruption
      break;
    case 1: {
      Result<std::vector<imap::FetchedAttributes>> fetched = imap::parseFetchResponse(input);
      if (!fetched.isOk()) break;
      for (const imap::FetchedAttributes& attributes : fetched.value()) {
        if (!attributes.has_size) FUZZ_CHECK(attributes.size_bytes == 0);
        FUZZ_CHECK(attributes.received_ms >= kTimeMsMin && attributes.received_ms <= kTimeMsMax);
      }
      break;
    }
    case 2: {
      Result<TimeMs> at = imap::parseInternalDate(input);
      if (at.isOk()) FUZZ_CHECK(at.value() >= kTimeMsMin && at.value() <= kTimeMsMax);
      break;
    }
    case 3:
      checkUrl(input);
      break;
    default: {
      Result<std::string> password = imap::passwordFromFileContents(std::string(input));
      if (!password.isOk()) break;
      FUZZ_CHECK(!password.value().empty());
      FUZZ_CHECK(password.value().find_first_of(std::string_view("\r\n\0", 3)) ==
                 std::string::npos);
      break;
    }
  }
  return 0;
}
