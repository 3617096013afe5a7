// The Symbol table (engine/symbol.hpp) at a restart's scale, engine only: N new contact-like
// keys interned under SymbolBatch locks of 256 (as a restart's contacts load does), then all N
// looked up again in another order (as its rows' contact keys are), each both one string at a
// time and with the many-string forms that ask for a window of strings' lines ahead.
//
//   build/perf/symbol_bench [N [RUNS]]     (default 10000000 and 2)
//
// The Symbol table is process-wide and never forgets, so each run interns keys of its own
// (a run number in them); the one-string and many-string passes of a run take turns being
// first. The keys are made before the clock starts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/symbol.hpp"

namespace {

using seqd::Symbol;
using seqd::SymbolBatch;

constexpr std::size_t kBatch = 256;  // as io/lmdb_store.cpp's kInternBatchMax

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Interns texts a batch at a time; returns ns a key.
double internAll(const std::vector<std::string_view>& texts, bool many, std::vector<Symbol>& out) {
  out.resize(texts.size());
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t at = 0; at < texts.size(); at += kBatch) {
    const std::size_t count = std::min(kBatch, texts.size() - at);
    const SymbolBatch batch;
    if (many) {
      batch(std::span(texts.data() + at, count), std::span(out.data() + at, count));
    } else {
      for (std::size_t i = at; i < at + count; ++i) out[i] = batch(texts[i]);
    }
  }
  return secondsSince(start) * 1e9 / static_cast<double>(texts.size());
}

// Looks every text up in `order`; returns ns a key, and counts the ones not found.
double findAll(const std::vector<std::string_view>& texts, const std::vector<std::size_t>& order,
               bool many, std::size_t& missing) {
  std::vector<std::string_view> batch_texts(kBatch);
  std::optional<Symbol> found[kBatch];
  missing = 0;
  const auto start = std::chrono::steady_clock::now();
  const SymbolBatch batch;
  for (std::size_t at = 0; at < order.size(); at += kBatch) {
    const std::size_t count = std::min(kBatch, order.size() - at);
    for (std::size_t i = 0; i < count; ++i) batch_texts[i] = texts[order[at + i]];
    if (many) {
      batch.find(std::span(batch_texts.data(), count), std::span(found, count));
    } else {
      for (std::size_t i = 0; i < count; ++i) found[i] = batch.find(batch_texts[i]);
    }
    for (std::size_t i = 0; i < count; ++i) missing += found[i] ? 0 : 1;
  }
  return secondsSince(start) * 1e9 / static_cast<double>(order.size());
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 2;
  std::printf("%zu keys, %d runs; ns a key\n", count, runs);
  std::printf("%-5s %-13s %12s %12s\n", "run", "forms", "intern", "find");
  std::mt19937_64 random(42);
  for (int run = 0; run < runs; ++run) {
    for (int turn = 0; turn < 2; ++turn) {
      const bool many = (run + turn) % 2 == 1;
      // Keys like a bench contact's (perf/bench.py): ~20 bytes, sorted, as the contacts DB
      // hands them to a load.
      std::vector<std::string> keys(count);
      for (std::size_t i = 0; i < count; ++i) {
        keys[i] = "c" + std::to_string(run * 2 + turn) + "-" + std::to_string(i) + "@bench.example";
      }
      std::sort(keys.begin(), keys.end());
      const std::vector<std::string_view> texts(keys.begin(), keys.end());
      std::vector<std::size_t> order(count);
      for (std::size_t i = 0; i < count; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), random);
      Symbol::reserve(count);
      std::vector<Symbol> interned;
      const double intern_ns = internAll(texts, many, interned);
      std::size_t missing = 0;
      const double find_ns = findAll(texts, order, many, missing);
      std::printf("%-5d %-13s %12.1f %12.1f%s\n", run, many ? "many-string" : "one-string",
                  intern_ns, find_ns, missing == 0 ? "" : "  (some not found!)");
    }
  }
  return 0;
}
