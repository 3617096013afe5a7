// EnrollmentSnapshots: the enrollment snapshots a write batch carries to the store, in order.
//
// A batch holds a copy of each row it writes (the engine changes the rows while the store
// commits the batch). A round can hold very many: an activate starts every enrollment of its
// sequence in one round, a million rows for a million contacts. As EnrollmentRecords those
// were 88 bytes each, most of it a send out and extras that few rows have. Here each row is
// kept as its 48 bytes, and the send out and extras of the rows that have any beside them,
// by position: an activate of 1M rows holds 48 MB instead of 88.
//
// It reads as a sequence of EnrollmentRecords (by value: operator[] and the iterators build
// each record from its row and, for the few, its send and extras), so the store and the
// tests read it as they read a vector of them.
//
// Thread-safety: plain value.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <utility>
#include <vector>

#include "engine/assert.hpp"
#include "engine/enrollment.hpp"

namespace seqd {

class EnrollmentSnapshots {
 public:
  class const_iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = EnrollmentRecord;
    using difference_type = std::ptrdiff_t;
    using reference = EnrollmentRecord;
    using pointer = void;

    const_iterator() = default;
    EnrollmentRecord operator*() const { return snapshots_->recordAt(index_, rare_); }
    const_iterator& operator++() {
      ++index_;
      if (rare_ < snapshots_->rare_.size() && snapshots_->rare_[rare_].first < index_) ++rare_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator before = *this;
      ++*this;
      return before;
    }
    bool operator==(const const_iterator& other) const { return index_ == other.index_; }

   private:
    friend class EnrollmentSnapshots;
    const_iterator(const EnrollmentSnapshots* snapshots, std::size_t index, std::size_t rare)
        : snapshots_(snapshots), index_(index), rare_(rare) {}

    const EnrollmentSnapshots* snapshots_ = nullptr;
    std::size_t index_ = 0;
    std::size_t rare_ = 0;  // the first of snapshots_->rare_ at or after index_
  };
  using value_type = Enrollment;  // what each snapshot takes in the main vector

  EnrollmentSnapshots() = default;
  EnrollmentSnapshots(std::initializer_list<EnrollmentRecord> records) {
    assign(records.begin(), records.end());
  }

  void push_back(const EnrollmentRecord& record) {
    if (!(record.send == SendOut()) || !record.extras.empty()) {
      rare_.push_back({static_cast<std::uint32_t>(rows_.size()), Rare{record.send, record.extras}});
    }
    rows_.push_back(record.row);
  }
  template <typename Iterator>
  void assign(Iterator first, Iterator last) {
    clear();
    for (; first != last; ++first) push_back(*first);
  }

  EnrollmentRecord operator[](std::size_t index) const {
    SEQD_ASSERT(index < rows_.size());
    return recordAt(index, rareFrom(index));
  }
  const_iterator begin() const { return const_iterator(this, 0, 0); }
  const_iterator end() const { return const_iterator(this, rows_.size(), rare_.size()); }

  std::size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  // REQUIRES: count <= UINT32_MAX (positions are 32-bit).
  void reserve(std::size_t count) { rows_.reserve(count); }
  std::size_t capacity() const { return rows_.capacity(); }
  void clear() {
    rows_.clear();
    rare_.clear();
  }
  void swap(EnrollmentSnapshots& other) noexcept {
    rows_.swap(other.rows_);
    rare_.swap(other.rare_);
  }

 private:
  struct Rare {
    SendOut send;
    EnrollmentExtras extras;
  };

  // The first rare entry at or after `index`.
  std::size_t rareFrom(std::size_t index) const {
    const auto at = std::lower_bound(
        rare_.begin(), rare_.end(), index,
        [](const std::pair<std::uint32_t, Rare>& entry, std::size_t i) { return entry.first < i; });
    return static_cast<std::size_t>(at - rare_.begin());
  }
  // The record at `index`, given the first rare entry at or after it.
  EnrollmentRecord recordAt(std::size_t index, std::size_t rare) const {
    if (rare < rare_.size() && rare_[rare].first == index) {
      return EnrollmentRecord(rows_[index], rare_[rare].second.send, rare_[rare].second.extras);
    }
    return EnrollmentRecord(rows_[index]);
  }

  std::vector<Enrollment> rows_;
  // The rows with a send out or extras: their position in rows_, ascending, and those.
  std::vector<std::pair<std::uint32_t, Rare>> rare_;
};

}  // namespace seqd
