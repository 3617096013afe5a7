#!/usr/bin/env python3
"""Where a step's lateness goes: the real-clock run of perf/bench.py at one rate, with seqd's
lateness trace on (SEQD_LATENESS_TRACE, io/lateness_trace.hpp), split stage by stage.

Usage: perf/lateness_breakdown.py --seqd PATH --seqctl PATH [--tick 1ms] [--rate 9600]
                                  [--duration 10] [--runs 1] [--keep-trace FILE]
                                  [--slowest N] [--trace FILE]

For every first step (as perf/bench.py measures lateness: the message file's mtime - the due
time), the trace says which round released it and when it passed each point; the stages,
which add up to the whole:

  to the round        due -> the engine thread woke for the round that fired it (the wait for
                      the tick and for the engine thread, busy or blocked in the round before)
  deciding            the round: results, commands, the due steps fired
  previous commit     the wait for the round before it to be durable (RoundPipeline::end)
  own commit          its batch handed over -> its commit returned
  to the release      its commit returned -> its intents handed to delivery
  delivery queue      handed over -> a worker took it (the worker's batch)
  to the file         taken -> the file's mtime (rendering, the batch's earlier messages,
                      writing it)

Prints p50/p99/p999 per stage (each its own percentile: they do not add up) and of the whole,
and the load average at the start and end of each run. Also "durable": due -> its own commit
returned, issue 8's lateness (durable time - due time) read off seqd's trace, the system
clock in microseconds; the bench's figure ends at the file's mtime, which the kernel may take
from its coarse clock (perf/bench.py adds that clock's resolution, a jiffy, to be an upper
bound).

--slowest N also lists the N rounds that took longest deciding, and the N whose own commit
took longest, each with the name=value fields of its R line (io/lateness_trace.hpp: the
phases of the round on the engine thread, what its batch held, and the thread's CPU time,
page faults and context switches), so one can see what slow rounds have in common.
--trace FILE reads a trace kept before (--keep-trace) instead of running seqd: --slowest only.
"""
import argparse
import collections
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

STAGES = ["to the round", "deciding", "previous commit", "own commit", "to the release",
          "delivery queue", "to the file"]


def read_trace(path, fields=None):
    """Rounds, released intents and taken deliveries; each round's name=value fields (after
    its 8 positional ones) go into `fields` by round number when given."""
    rounds, released, taken = {}, {}, {}
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words or words[0] == "#":
                continue
            if words[0] == "R":
                number, now_ms, *times = (int(w) for w in words[1:9])
                rounds[number] = [now_ms] + times
                if fields is not None:
                    fields[number] = dict((name, int(value)) for name, _, value in
                                          (w.partition("=") for w in words[9:] if "=" in w))
            elif words[0] == "I":
                released[(words[2], int(words[3]))] = int(words[1])
            elif words[0] == "D":
                taken[(words[1], int(words[2]))] = (int(words[3]), int(words[4]))
    return rounds, released, taken


def stages_of(delivery, rounds, released, taken):
    contact, _, due_ms, mtime_ms = delivery
    key = (contact, 0)
    if key not in released or key not in taken:
        return None
    _, woke, decided, submitted, commit_done, released_us, _ = rounds[released[key]]
    taken_us, _ = taken[key]
    points = [due_ms * 1000, woke, decided, submitted, commit_done, released_us, taken_us,
              mtime_ms * 1000]
    return [(b - a) / 1000.0 for a, b in zip(points, points[1:])]


def print_slowest(rounds, fields, count):
    """The `count` rounds slowest to decide, then the `count` whose own commit was slowest."""
    if not rounds:
        return
    start = min(r[1] for r in rounds.values())

    def show(number):
        _, woke, decided, submitted, commit_done, _, intents = rounds[number]
        extra = " ".join("%s=%d" % item for item in fields.get(number, {}).items())
        print("    round %d at %.3f s: deciding %.2f, to submitted %.2f, own commit %.2f ms, "
              "%d intents; %s" % (number, (woke - start) / 1e6, (decided - woke) / 1e3,
                                  (submitted - decided) / 1e3, (commit_done - submitted) / 1e3,
                                  intents, extra))

    for title, key in (("deciding", lambda n: rounds[n][2] - rounds[n][1]),
                       ("own commit", lambda n: rounds[n][4] - rounds[n][3])):
        print("  the %d slowest rounds by %s (at: seconds since the first round):" %
              (count, title))
        for number in sorted(rounds, key=key, reverse=True)[:count]:
            show(number)


def pick(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seqd")
    parser.add_argument("--seqctl")
    parser.add_argument("--tick", default="1ms")
    parser.add_argument("--rate", type=int, default=9600, help="offered steps/s (3 per contact)")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keep-trace", help="copy the last run's trace here")
    parser.add_argument("--slowest", type=int, default=0, metavar="N",
                        help="list the N slowest rounds (deciding; own commit) with their fields")
    parser.add_argument("--trace", help="read this kept trace instead of running seqd")
    args = parser.parse_args()
    if args.trace:
        fields = {}
        rounds, _, _ = read_trace(args.trace, fields)
        print_slowest(rounds, fields, args.slowest or 10)
        return
    if not args.seqd or not args.seqctl:
        parser.error("--seqd and --seqctl are needed to run seqd")
    for run in range(args.runs):
        trace = tempfile.mktemp(prefix="seqd-lateness-", suffix=".trace", dir="/tmp")
        os.environ["SEQD_LATENESS_TRACE"] = trace
        load_before = os.getloadavg()[0]
        deliveries = []
        row = bench.seqd_rate(args, args.rate / 3.0, args.duration, deliveries)
        load_after = os.getloadavg()[0]
        fields = {}
        rounds, released, taken = read_trace(trace, fields)
        per_stage = collections.defaultdict(list)
        whole = []
        durable = []  # due -> own commit returned
        missing = 0
        for delivery in deliveries:
            stages = stages_of(delivery, rounds, released, taken)
            if stages is None:
                missing += 1
                continue
            for name, value in zip(STAGES, stages):
                per_stage[name].append(value)
            whole.append(sum(stages))
            durable.append(sum(stages[:4]))
        if args.keep_trace:
            os.replace(trace, args.keep_trace)
        else:
            os.unlink(trace)
        intents = [r[-1] for r in rounds.values()]
        print("run %d: %s steps/s offered, tick %s, load average %.2f -> %.2f; %d first steps "
              "(%d not in the trace); %d rounds released intents, %.1f intents a round" %
              (run + 1, args.rate, args.tick, load_before, load_after, len(whole), missing,
               len(rounds), sum(intents) / max(1, len(intents))))
        print("  bench: p50 %.1f p99 %.1f p999 %.1f ms, sustained: %s" %
              (row["p50_ms"], row["p99_ms"], row["p999_ms"],
               row["done_after_last_due_s"] <= bench.SUSTAIN_DRAIN_S))
        print("  %-18s %8s %8s %8s" % ("stage (ms)", "p50", "p99", "p999"))
        for name in STAGES + ["whole", "durable"]:
            values = {"whole": whole, "durable": durable}.get(name) or per_stage[name]
            if values:
                print("  %-18s %8.2f %8.2f %8.2f" % (name, pick(values, 0.5), pick(values, 0.99),
                                                    pick(values, 0.999)))
        if args.slowest:
            print_slowest(rounds, fields, args.slowest)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
