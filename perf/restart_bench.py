#!/usr/bin/env python3
"""Restart benchmark: how long seqd takes to come back after kill -9, and what the state dir
holds, once N contacts have gone through 3 steps.

Usage: perf/restart_bench.py [N ...] [--later H] [--settle S] [--clean]
                             [--seqd PATH --seqctl PATH]

Per N: a fresh seqd under --virtual-time (perf/bench.py's daemon: discard transport, one
mailbox with limits that never bind), `import` and `add --csv` of N contacts, `sequence
activate`, `time advance 1m` (all 3N steps), then `time advance H h` (default 26: the sends
are older than the send limits' 24 h, as a day later in real life; 0 keeps them inside it),
S seconds idle (default 10: seqd deletes history past what it keeps in idle rounds too), then
kill -9 and a timed restart (exec to the first good `seqctl ping`), twice. With
--clean, a SIGTERM stop and a timed start follow as well. Prints, per N, the restarts'
seconds, the phases seqd logged for each (store open and walk, load, engine restore), and the
state dir's bytes per enrollment (apparent and allocated) before the kill. LMDB's file does
not shrink when records are deleted (freed pages are reused by later writes), so at the end,
with seqd stopped, it also prints the size of `mdb_copy -c` (a compacted copy: the pages in
use) per enrollment, and the contacts' CSV bytes per contact for comparison.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def phases(daemon):
    """The phases of the last start, from seqd.log's "loaded ..." line."""
    with open(os.path.join(daemon.root, "seqd.log")) as f:
        lines = [line.strip() for line in f if " loaded " in line or line.startswith("loaded")]
    return lines[-1] if lines else ""


def run(args, n):
    daemon = bench.Seqd(args)
    try:
        daemon.start()
        run = bench.run_workload(daemon, n)
        csv_path, advance_s = run["csv_path"], run["advance_s"]
        if args.later:
            daemon.seqctl("time", "advance", "%dh" % args.later)
            finished = bench.finished_count(daemon)
            if finished != n:
                raise RuntimeError("%d of %d contacts finished" % (finished, n))
        time.sleep(args.settle)
        apparent, allocated = bench.du_bytes(daemon.state)
        row = {"n": n, "advance_s": round(advance_s, 1), "later_h": args.later,
               "settle_s": args.settle,
               "disk_apparent_per_enrollment": round(apparent / n),
               "disk_allocated_per_enrollment": round(allocated / n), "restarts": []}
        for _ in range(2):
            daemon.kill9()
            restart_s = daemon.start()
            row["restarts"].append({"kill9_restart_s": round(restart_s, 3),
                                    "log": phases(daemon)})
        if bench.finished_count(daemon) != n:
            raise RuntimeError("after restart: not every contact finished")
        if args.clean:
            started = time.monotonic()
            daemon.stop()
            stop_s = time.monotonic() - started
            start_s = daemon.start()
            row["clean"] = {"stop_s": round(stop_s, 3), "start_s": round(start_s, 3),
                            "log": phases(daemon)}
            with open(os.path.join(daemon.root, "seqd.log")) as f:
                row["clean"]["shutdown"] = [line.strip() for line in f
                                            if re.search("checkpoint|stopped", line)][-2:]
        apparent, allocated = bench.du_bytes(daemon.state)
        row["disk_apparent_per_enrollment_after"] = round(apparent / n)
        daemon.stop()
        compact = os.path.join(daemon.root, "compact")
        os.mkdir(compact)
        subprocess.run(["mdb_copy", "-c", daemon.state, compact], check=True)
        row["compacted_per_enrollment"] = round(
            os.path.getsize(os.path.join(compact, "data.mdb")) / n)
        row["csv_bytes_per_contact"] = round(os.path.getsize(csv_path) / n)
        print(json.dumps(row, indent=1), flush=True)
        return row
    finally:
        daemon.cleanup()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="*", type=int, default=[200000])
    parser.add_argument("--later", type=int, default=26)
    parser.add_argument("--settle", type=float, default=10)
    parser.add_argument("--clean", action="store_true")
    parser.add_argument("--seqd", default=os.path.join(bench.ROOT, "build", "seqd"))
    parser.add_argument("--seqctl", default=os.path.join(bench.ROOT, "build", "seqctl"))
    args = parser.parse_args()
    for n in args.n:
        run(args, n)


if __name__ == "__main__":
    main()
