"""`seqctl status` of one big sequence through a real daemon, end to end.

Starts a fresh seqd (virtual time, the discard transport, state under /tmp; the setup of
perf/import_bench.py), enrolls N contacts with `seqctl add bench --csv`, activates the sequence,
then times:

  activate              seqctl sequence activate bench
  status --json         seqctl --json status bench > /dev/null   (every row)
  status --limit 3      seqctl status bench --limit 3

`status --json` runs twice (the first one also finds each enrollment's contact entry and
faults the snapshot's buffer in). While it runs, another connection pings the daemon every 10 ms (the longest ping
is how long the engine thread was held) and seqd's resident memory is sampled every 10 ms
(peak VmRSS during the status, and before it). Standard library only.

  perf/status_e2e.py [--build DIR] [--rows N] [--perf-activate FILE]

--perf-activate FILE records seqd with `perf record -g` while the sequence is activated
(`perf report -i FILE --no-children --sort symbol` shows where the time goes).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import import_bench  # noqa: E402


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def ping_loop(socket_path, stop, latencies):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(socket_path)
        reader = s.makefile("rb")
        request = 0
        while not stop.is_set():
            request += 1
            started = time.monotonic()
            s.sendall((json.dumps({"id": request, "cmd": "ping"}) + "\n").encode())
            json.loads(reader.readline())
            latencies.append(time.monotonic() - started)
            time.sleep(0.01)


def status_run(build, daemon, attempt):
    pid = daemon.process.pid
    rss_before = rss_kib(pid)
    stop = threading.Event()
    latencies = []
    pinger = threading.Thread(target=ping_loop, args=(daemon.socket, stop, latencies))
    pinger.start()
    time.sleep(0.3)
    rss_peak = rss_before
    started = time.monotonic()
    with open(os.devnull, "w") as devnull:
        status = subprocess.Popen([os.path.join(build, "seqctl"), "--socket", daemon.socket,
                                   "--json", "status", "bench"],
                                  stdout=devnull, stderr=subprocess.PIPE, text=True)
        while status.poll() is None:
            rss_peak = max(rss_peak, rss_kib(pid))
            time.sleep(0.01)
    wall = time.monotonic() - started
    time.sleep(0.2)
    stop.set()
    pinger.join()
    print("status --json, %-7s %9.2f s wall, exit %d %s" % (attempt, wall, status.returncode,
                                                           status.stderr.read().strip()))
    print("  ping during it       %9.1f ms longest, %d pings" % (1000 * max(latencies),
                                                                len(latencies)))
    print("  seqd VmRSS           %9.1f MiB before, %.1f MiB peak during it" %
          (rss_before / 1024.0, rss_peak / 1024.0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    parser.add_argument("--rows", type=int, default=1000000)
    parser.add_argument("--perf-activate", metavar="FILE")
    args = parser.parse_args()
    user = os.environ.get("USER") or "root"
    root = tempfile.mkdtemp(prefix="seqd-status-", dir="/tmp")
    try:
        import_bench.write_config(root, user)
        csv_path = os.path.join(root, "contacts.csv")
        import_bench.write_csv(csv_path, args.rows, user)
        daemon = import_bench.Daemon(args.build, root)
        wall, cpu, _, _ = daemon.timed("add", "bench", "--csv", csv_path)
        print("%-22s %9.2f s wall %8.2f s seqd cpu" % ("add --csv (setup)", wall, cpu))
        recorder = None
        if args.perf_activate:
            recorder = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o",
                                         args.perf_activate, "-p", str(daemon.process.pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        wall, cpu, _, _ = daemon.timed("sequence", "activate", "bench")
        if recorder:
            recorder.send_signal(signal.SIGINT)
            recorder.wait()
        print("%-22s %9.2f s wall %8.2f s seqd cpu" % ("sequence activate", wall, cpu))
        for attempt in ("first", "second"):
            status_run(args.build, daemon, attempt)
        wall, cpu, _, result = daemon.timed("status", "bench", "--limit", "3")
        print("%-22s %9.2f s wall %8.2f s seqd cpu (%d lines)" %
              ("status --limit 3", wall, cpu, result.stdout.count("\n")))
        daemon.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
