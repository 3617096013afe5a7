#!/usr/bin/env python3
"""`seqctl report`, `tasks` and `contacts` over a big sequence through a real daemon, end to end.

Starts a fresh seqd (virtual time, the discard transport, state under /tmp; the setup of
perf/import_bench.py), adds N contacts to a sequence whose one step is a call, activates it
and advances the clock a minute, so N tasks are open and N contacts wait on them. Then times
each read as one seqctl command, twice:

  report --json         seqctl --json report calls        (N contacts need attention)
  status --json         seqctl --json status calls        (N contacts)
  tasks --json          seqctl --json tasks               (N open tasks)
  contacts --json       seqctl --json contacts            (N contacts)
  contacts --limit 3    seqctl contacts --limit 3

While each runs, another connection pings the daemon every 10 ms: the longest ping is how
long the engine thread (which answers ping, and sends) was held. Each line also gives the CPU
seqd and seqctl spent on the read. Standard library only.

With --call-wait 3d the call is three days off after the minute: no task is open, no
contact needs attention, and every row is scheduled (a large sequence mid-way, as most are).

  perf/reads_e2e.py [--build DIR] [--rows N] [--call-wait 3d]
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import import_bench  # noqa: E402
from status_e2e import ping_loop  # noqa: E402

CALLS = """\
id: calls
name: Calls
owner: {user}
schedule: always
mailboxes: [bench@acme.test]
steps:
  - id: call
    type: call
    wait: {wait}
    note: "Call {{{{first_name}}}} at {{{{company}}}}"
"""


def timed_read(build, daemon, label, args):
    stop = threading.Event()
    latencies = []
    pinger = threading.Thread(target=ping_loop, args=(daemon.socket, stop, latencies))
    pinger.start()
    time.sleep(0.3)
    daemon_cpu = daemon.cpu_s()
    client_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with open(os.devnull, "w") as devnull:
        read = subprocess.run([os.path.join(build, "seqctl"), "--socket", daemon.socket] + args,
                              stdout=devnull, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - started
    daemon_cpu = daemon.cpu_s() - daemon_cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = after.ru_utime + after.ru_stime - client_cpu.ru_utime - client_cpu.ru_stime
    time.sleep(0.2)
    stop.set()
    pinger.join()
    print("%-20s %6.2f s wall (cpu: seqd %5.2f s, seqctl %5.2f s), longest ping %6.1f ms, "
          "exit %d %s" % (label, wall, daemon_cpu, client_cpu, 1000 * max(latencies),
                          read.returncode, read.stderr.strip()[:90]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    parser.add_argument("--rows", type=int, default=200000)
    parser.add_argument("--call-wait", default="0m", help="the call step's wait (default 0m)")
    args = parser.parse_args()
    user = os.environ.get("USER") or "root"
    root = tempfile.mkdtemp(prefix="seqd-reads-", dir="/tmp")
    try:
        import_bench.write_config(root, user)
        with open(os.path.join(root, "sequences", "calls.yaml"), "w") as f:
            f.write(CALLS.format(user=user, wait=args.call_wait))
        csv_path = os.path.join(root, "contacts.csv")
        import_bench.write_csv(csv_path, args.rows, user)
        daemon = import_bench.Daemon(args.build, root)
        for setup in (["add", "calls", "--csv", csv_path], ["sequence", "activate", "calls"],
                      ["time", "advance", "1m"]):
            wall, cpu, _, _ = daemon.timed(*setup)
            print("%-20s %8.2f s wall %8.2f s seqd cpu (setup)" % (setup[0], wall, cpu))
        for attempt in ("first", "second"):
            print("-- %s run, %d rows" % (attempt, args.rows))
            timed_read(args.build, daemon, "report --json", ["--json", "report", "calls"])
            timed_read(args.build, daemon, "status --json", ["--json", "status", "calls"])
            timed_read(args.build, daemon, "tasks --json", ["--json", "tasks"])
            timed_read(args.build, daemon, "contacts --json", ["--json", "contacts"])
            timed_read(args.build, daemon, "contacts --limit 3", ["contacts", "--limit", "3"])
        daemon.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
