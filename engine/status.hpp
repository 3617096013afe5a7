// Status and Result: the value type for operating errors.
//
// A Status is the result of an operation. It is either ok, or carries a named kind
// (InvalidArgument, NotFound, IOError, Corruption, PermissionDenied, FailedPrecondition)
// and a message that says where (file:line:col, CSV line, the contact, the command).
// Operating errors are values; invariants are asserted (see engine/assert.hpp).
//
// Thread-safety: plain values; copy freely.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace seqd {

enum class StatusCode {
  kOk,
  kInvalidArgument,
  kNotFound,
  kIOError,
  kCorruption,
  kPermissionDenied,
  kFailedPrecondition,
};

class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status invalidArgument(std::string message) {
    return Status(StatusCode::kInvalidArgument, std::move(message));
  }
  static Status notFound(std::string message) {
    return Status(StatusCode::kNotFound, std::move(message));
  }
  static Status ioError(std::string message) {
    return Status(StatusCode::kIOError, std::move(message));
  }
  static Status corruption(std::string message) {
    return Status(StatusCode::kCorruption, std::move(message));
  }
  static Status permissionDenied(std::string message) {
    return Status(StatusCode::kPermissionDenied, std::move(message));
  }
  static Status failedPrecondition(std::string message) {
    return Status(StatusCode::kFailedPrecondition, std::move(message));
  }

  bool isOk() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Result<T> holds either a T or a non-ok Status.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}        // NOLINT: implicit by design.
  Result(Status status) : value_(std::move(status)) {  // NOLINT: implicit by design.
    assert(!std::get<Status>(value_).isOk());
  }

  bool isOk() const { return std::holds_alternative<T>(value_); }
  // REQUIRES: isOk().
  T& value() { return std::get<T>(value_); }
  const T& value() const { return std::get<T>(value_); }
  // REQUIRES: !isOk().
  const Status& status() const { return std::get<Status>(value_); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace seqd
