#include "daemon/terminal_text.hpp"

#include <cstdint>
#include <streambuf>

#include "engine/utf8.hpp"

namespace seqd {
namespace {

constexpr char kHex[] = "0123456789abcdef";
// An escaping buffer writes what it holds at each line feed, at flush, or at this size.
constexpr std::size_t kPendingBytesMax = 64 * 1024;

void appendByteEscape(std::string& out, unsigned char c) {
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xF];
}

// Escapes everything it is given and writes it to `target` line by line.
class EscapingBuffer : public std::streambuf {
 public:
  explicit EscapingBuffer(std::streambuf* target) : target_(target) {}
  ~EscapingBuffer() override { sync(); }

 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return sync() == 0 ? 0 : c;
    pending_.push_back(traits_type::to_char_type(c));
    if (c == '\n' || pending_.size() >= kPendingBytesMax) emit();
    return c;
  }

  std::streamsize xsputn(const char* data, std::streamsize count) override {
    for (std::streamsize i = 0; i < count; ++i) overflow(traits_type::to_int_type(data[i]));
    return count;
  }

  int sync() override {
    emit();
    return target_->pubsync();
  }

 private:
  void emit() {
    if (pending_.empty()) return;
    const std::string escaped = escapeForTerminal(pending_);
    target_->sputn(escaped.data(), static_cast<std::streamsize>(escaped.size()));
    pending_.clear();
  }

  std::streambuf* target_;
  std::string pending_;
};

std::streambuf* original_stderr = nullptr;
std::streambuf* original_stdout = nullptr;

}  // namespace

std::string escapeForTerminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {  // each pass takes one character or one bad byte
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n' || (c >= 0x20 && c < 0x7F)) {
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\t') {
      out += "\\t";
      ++i;
    } else if (c == '\r') {
      out += "\\r";
      ++i;
    } else if (c < 0x80) {
      appendByteEscape(out, c);  // C0 controls and DEL
      ++i;
    } else {
      const auto [code, length] = decodeUtf8(text, i);
      if (length == 0) {
        appendByteEscape(out, c);
        ++i;
      } else if (code >= 0x80 && code <= 0x9F) {  // C1 controls (CSI is U+009B)
        out += "\\u00";
        out += kHex[code >> 4];
        out += kHex[code & 0xF];
        i += length;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
    }
  }
  return out;
}

struct TerminalStreams::Buffers {
  std::streambuf* cout_original = nullptr;
  std::streambuf* cerr_original = nullptr;
  std::unique_ptr<EscapingBuffer> cout_escaping;
  std::unique_ptr<EscapingBuffer> cerr_escaping;
};

TerminalStreams::TerminalStreams(bool escape_stdout) : buffers_(std::make_unique<Buffers>()) {
  buffers_->cerr_original = std::cerr.rdbuf();
  original_stderr = buffers_->cerr_original;
  buffers_->cerr_escaping = std::make_unique<EscapingBuffer>(buffers_->cerr_original);
  std::cerr.rdbuf(buffers_->cerr_escaping.get());
  if (escape_stdout) {
    buffers_->cout_original = std::cout.rdbuf();
    original_stdout = buffers_->cout_original;
    buffers_->cout_escaping = std::make_unique<EscapingBuffer>(buffers_->cout_original);
    std::cout.rdbuf(buffers_->cout_escaping.get());
  }
}

TerminalStreams::~TerminalStreams() {
  std::cout.flush();
  std::cerr.flush();
  if (buffers_->cout_original != nullptr) std::cout.rdbuf(buffers_->cout_original);
  std::cerr.rdbuf(buffers_->cerr_original);
  original_stderr = nullptr;
  original_stdout = nullptr;
}

std::ostream& rawStderr() {
  static std::ostream raw(nullptr);
  raw.rdbuf(original_stderr != nullptr ? original_stderr : std::cerr.rdbuf());
  return raw;
}

std::ostream& rawStdout() {
  static std::ostream raw(nullptr);
  raw.rdbuf(original_stdout != nullptr ? original_stdout : std::cout.rdbuf());
  return raw;
}

}  // namespace seqd
