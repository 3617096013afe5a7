#!/usr/bin/env python3
"""Where seqd's threads spend the `time advance` (or, with --phase add, the `add --csv`) of
perf/bench.py's workload: CPU seconds and
context switches (voluntary: the thread slept; involuntary: it was preempted) per thread, read
from /proc before and after the advance. On a machine shared with other work the CPU seconds
and the switch counts move much less than wall time does.

Usage: perf/advance_threads.py [--seqd BUILD/seqd --seqctl BUILD/seqctl] [--perf-record OUT]
                               [--phase advance|add] [--states] [N]
(default N 200000). Prints one JSON object: wall seconds, the per-thread deltas (the delivery
workers summed), their totals per step (with --phase add: per first step added, and seqctl's
own CPU seconds), and the thread ids by role. With --states, each thread's share of samples
(every millisecond) running or runnable (R), sleeping (S: waiting for work) or in an
uninterruptible wait (D: the committer's fdatasync), by role, a list with one entry a
thread; the sampling takes CPU, so the phase runs a little slower. With --perf-record,
linux perf samples seqd (`perf record -g --call-graph dwarf`) for the length of the phase
only, into OUT (and seqctl, for the add, into OUT.seqctl); read it per thread with
`perf report -i OUT --sort tid,sym` and the tids printed."""
import argparse
import collections
import json
import os
import resource
import signal
import subprocess
import threading
import time

import bench


def thread_counters(pid):
    """{tid: (name, cpu_ticks, voluntary, involuntary)} for every thread of pid."""
    counters = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "stat") as f:
                stat = f.read()
            with open(base + "status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except FileNotFoundError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        cpu_ticks = int(fields[11]) + int(fields[12])  # utime + stime
        counters[int(tid)] = (status["Name"].strip(), cpu_ticks,
                              int(status["voluntary_ctxt_switches"]),
                              int(status["nonvoluntary_ctxt_switches"]))
    return counters


class StateSampler:
    """Reads each thread's scheduler state (R running or runnable, S sleeping, D in
    uninterruptible wait: an fdatasync) from /proc every millisecond while it runs; the
    sampling takes CPU itself, so it slows the phase a little."""

    def __init__(self, pid):
        self.fds = {}
        for tid in os.listdir("/proc/%d/task" % pid):
            self.fds[int(tid)] = os.open("/proc/%d/task/%s/stat" % (pid, tid), os.O_RDONLY)
        self.counts = {tid: collections.Counter() for tid in self.fds}
        self.stopping = False
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stopping:
            for tid, fd in self.fds.items():
                try:
                    stat = os.pread(fd, 512, 0).decode()
                except OSError:
                    continue
                self.counts[tid][stat[stat.rindex(")") + 2]] += 1
            time.sleep(0.001)

    def stop(self):
        """{tid: {state: share of the samples}}."""
        self.stopping = True
        self.thread.join()
        for fd in self.fds.values():
            os.close(fd)
        return {tid: {state: round(count / max(1, sum(counts.values())), 3)
                      for state, count in sorted(counts.items())}
                for tid, counts in self.counts.items()}


def main():
    parser = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--seqd", default=os.path.join(here, "..", "build", "seqd"))
    parser.add_argument("--seqctl", default=os.path.join(here, "..", "build", "seqctl"))
    parser.add_argument("--perf-record", metavar="OUT",
                        help="sample the advance with linux perf into OUT")
    parser.add_argument("--phase", choices=["advance", "add"], default="advance",
                        help="what to measure: the advance (3 steps a contact) or the add")
    parser.add_argument("--tick", default="100ms", help="seqd's wheel tick, as perf/bench.py")
    parser.add_argument("--perf-frequency", type=int, default=499,
                        help="samples a second for --perf-record (perf record -F)")
    parser.add_argument("--states", action="store_true",
                        help="also sample each thread's state (running, sleeping, in a sync)")
    parser.add_argument("n", nargs="?", type=int, default=200000)
    args = parser.parse_args()
    ticks = os.sysconf("SC_CLK_TCK")
    daemon = bench.Seqd(args)
    try:
        daemon.start()
        csv_path = os.path.join(daemon.root, "contacts.csv")
        bench.write_csv(csv_path, args.n)
        daemon.seqctl("import", csv_path)
        add = ["add", "bench", "--csv", csv_path, "--skip-validation"]
        if args.phase == "advance":
            daemon.seqctl(*add)
            daemon.seqctl("sequence", "activate", "bench")
        recorder = None
        if args.perf_record:
            recorder = subprocess.Popen(["perf", "record", "-q", "-F", str(args.perf_frequency), "-g",
                                         "--call-graph", "dwarf,16384", "-o", args.perf_record,
                                         "-p", str(daemon.process.pid)],
                                        stdout=subprocess.DEVNULL)
            time.sleep(1)  # perf attaches to every thread
        sampler = StateSampler(daemon.process.pid) if args.states else None
        before = thread_counters(daemon.process.pid)
        client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        if args.phase == "advance":
            phase_s, _ = daemon.timed("time", "advance", "1m")
        else:
            argv = [args.seqctl, "--socket", daemon.socket, "--json"] + add
            if args.perf_record:  # seqctl sampled the same way, into OUT.seqctl
                argv = ["perf", "record", "-q", "-F", str(args.perf_frequency), "-g", "--call-graph",
                        "dwarf,16384", "-o", args.perf_record + ".seqctl", "--"] + argv
            started = time.monotonic()
            result = subprocess.run(argv, check=True, capture_output=True)
            phase_s = time.monotonic() - started
            if len(json.loads(result.stdout)["added"]) != args.n:
                raise RuntimeError("add: not every contact added")
        client = resource.getrusage(resource.RUSAGE_CHILDREN)
        after = thread_counters(daemon.process.pid)
        states = sampler.stop() if sampler else {}
        if recorder:
            recorder.send_signal(signal.SIGINT)
            recorder.wait()
        if args.phase == "advance":
            steps = 3 * args.n
            if bench.finished_count(daemon) != args.n:
                raise RuntimeError("not every contact finished")
        else:
            steps = args.n
        # Each seqd thread names itself by its role (io/thread_name.hpp).
        roles = {"seqd": "main", "seqd-deliver": "workers", "seqd-engine": "engine",
                 "seqd-control": "asio", "seqd-commit": "committer", "seqd-status": "status",
                 "seqd-inbox": "inbox"}
        tids = sorted(after)
        names = [roles.get(after[t][0], after[t][0]) for t in tids]
        threads = {}
        for tid, name in zip(tids, names):
            _, cpu, voluntary, involuntary = after[tid]
            _, cpu0, voluntary0, involuntary0 = before.get(tid, (name, 0, 0, 0))
            row = threads.setdefault(name, {"threads": 0, "cpu_s": 0.0, "voluntary": 0,
                                            "involuntary": 0})
            row["threads"] += 1
            row["cpu_s"] += (cpu - cpu0) / ticks
            row["voluntary"] += voluntary - voluntary0
            row["involuntary"] += involuntary - involuntary0
            if tid in states:
                row.setdefault("states", []).append(states[tid])
        cpu_s = sum(row["cpu_s"] for row in threads.values())
        switches = sum(row["voluntary"] + row["involuntary"] for row in threads.values())
        client_s = (client.ru_utime + client.ru_stime - client_before.ru_utime -
                    client_before.ru_stime)
        print(json.dumps({"n": args.n, "phase": args.phase, "steps": steps,
                          "phase_s": round(phase_s, 3), "seqctl_cpu_s": round(client_s, 2),
                          "cpu_s": round(cpu_s, 2), "cpu_us_per_step": round(cpu_s * 1e6 / steps, 2),
                          "switches_per_1000_steps": round(switches * 1000 / steps, 2),
                          "load": open("/proc/loadavg").read().split()[:3],
                          "threads": threads,
                          "tids": {name: [tid for tid, n in zip(tids, names) if n == name]
                                   for name in threads}}))
    finally:
        daemon.cleanup()


if __name__ == "__main__":
    main()
