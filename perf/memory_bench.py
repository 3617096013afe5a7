#!/usr/bin/env python3
"""Memory benchmark: seqd's RSS per enrollment, split into the heap (RssAnon) and LMDB's map
(RssFile), after N contacts went through 3 steps and again after a restart.

Usage: perf/memory_bench.py [N ...] [--settle S] [--seqd PATH --seqctl PATH] [--heaptrack OUT]

Per N: a fresh seqd under --virtual-time (perf/bench.py's daemon), its RSS empty, `import` and
`add --csv` of N contacts, `sequence activate`, `time advance 1m` (all 3N steps) and a `status`
of them all (RssAnon per enrollment after each of these phases: heap_per_enrollment_after), the
RSS at once and again after S seconds idle (default 10; from 60 on, the last read's buffers
are freed too, io/status_stream.hpp, though mimalloc keeps what is freed inside a segment in
large OS pages: daemon/seqd_main.cpp); then kill -9 and a restart, and the RSS once
it answers (what a daemon that has run for a while holds: the state as loaded, without the
garbage of the run). RssAnon is what the engine's model costs; RssFile is LMDB's pages the
process touched (shared with the page cache, dropped under memory pressure). With --heaptrack
OUT, the restarted seqd runs under `heaptrack -o OUT` and is stopped with SIGTERM once it
answers, so OUT.zst holds the heap of a loaded state (`heaptrack_print OUT.zst` reads it). seqd
links mimalloc, whose `operator new` does not go through the `malloc` heaptrack hooks: the
profile then holds only the C libraries' allocations, so use it on a build linked without
mimalloc.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def rss(pid):
    """(VmRSS, RssAnon, RssFile) in bytes."""
    values = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["RssAnon"], values["RssFile"]


def seqd_under(pid):
    """The seqd process among pid's descendants (heaptrack runs it as a child)."""
    for child in subprocess.check_output(["pgrep", "-P", str(pid)]).split():
        child = int(child)
        if os.path.basename(os.readlink("/proc/%d/exe" % child)) == "seqd":
            return child
        try:
            return seqd_under(child)
        except (RuntimeError, subprocess.CalledProcessError):
            pass
    raise RuntimeError("no seqd under %d" % pid)


def per(values, empty, n):
    return {"rss": round((values[0] - empty[0]) / n), "anon": round((values[1] - empty[1]) / n),
            "file": round((values[2] - empty[2]) / n)}


def run(args, n):
    daemon = bench.Seqd(args)
    try:
        daemon.start()
        empty = rss(daemon.process.pid)
        phases = {}

        def on_phase(name):
            phases[name] = per(rss(daemon.process.pid), empty, n)["anon"]

        advance_s = bench.run_workload(daemon, n, on_phase)["advance_s"]
        after_run = rss(daemon.process.pid)
        time.sleep(args.settle)
        after_settle = rss(daemon.process.pid)
        daemon.kill9()
        restart_s = daemon.start()
        after_restart = rss(daemon.process.pid)
        row = {"n": n, "advance_s": round(advance_s, 2), "steps_per_s": round(3 * n / advance_s),
               "restart_s": round(restart_s, 2), "empty": {"rss": empty[0], "anon": empty[1]},
               "heap_per_enrollment_after": phases,
               "per_enrollment_after_run": per(after_run, empty, n),
               "per_enrollment_after_settle": per(after_settle, empty, n),
               "per_enrollment_after_restart": per(after_restart, empty, n)}
        if args.heaptrack:
            daemon.stop()
            argv = ["heaptrack", "-o", args.heaptrack, args.seqd, "--config", daemon.config,
                    "--virtual-time", bench.VIRTUAL_START]
            log_file = open(os.path.join(daemon.root, "seqd.log"), "a")
            daemon.process = subprocess.Popen(argv, stdout=log_file, stderr=log_file)
            while daemon.seqctl("ping", check=False).returncode != 0:
                time.sleep(0.05)
            row["heaptrack_rss"] = per(rss(seqd_under(daemon.process.pid)), empty, n)
            # heaptrack is a shell script: stop seqd itself, then wait for the script.
            os.kill(seqd_under(daemon.process.pid), signal.SIGTERM)
            daemon.process.wait(timeout=600)
        return row
    finally:
        daemon.cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="*", type=int, default=[200000])
    parser.add_argument("--seqd", default=os.path.join(bench.ROOT, "build", "seqd"))
    parser.add_argument("--seqctl", default=os.path.join(bench.ROOT, "build", "seqctl"))
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds idle after the run before the second RSS reading")
    parser.add_argument("--heaptrack", help="profile the restarted daemon's heap into this file")
    args = parser.parse_args()
    print("load average %s" % " ".join(open("/proc/loadavg").read().split()[:3]), flush=True)
    for n in args.n:
        print(json.dumps(run(args, n)), flush=True)
    print("load average %s" % " ".join(open("/proc/loadavg").read().split()[:3]), flush=True)


if __name__ == "__main__":
    main()
