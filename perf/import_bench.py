#!/usr/bin/env python3
"""Bulk import and add through a real daemon, measured end to end from seqctl's side.

For each N it starts a fresh seqd (virtual time, the discard transport, a state dir under
/tmp), writes an N-row contacts CSV and times, each as one seqctl command:

  import (new)        seqctl import FILE            N new contacts
  import (update)     seqctl import FILE            the same N again: every row an update
  add --csv           seqctl add SEQ --csv FILE     upserts the N rows and enrolls them
  add --contact       seqctl add SEQ2 --contact ID...   as many names as one command line holds

It prints rows/s (wall clock, seqctl started to seqctl exited), the daemon's CPU time for the
command and seqctl's peak RSS (from /usr/bin/time). Standard library only.

  perf/import_bench.py [--build DIR] [--rows N ...] [--runs R]
"""
import argparse
import os
import shutil
import subprocess
import tempfile
import time

SEQUENCE = """\
id: {id}
name: Bench {id}
owner: {user}
schedule: always
mailboxes: [bench@acme.test]
steps:
  - id: hello
    type: auto_email
    wait: 1d
    subject: "Hello {{{{first_name}}}}"
    body: "Hi {{{{first_name|there}}}}"
"""

# Names of one `add --contact` command: the command line holds about 2 MiB of arguments.
CONTACT_NAMES_MAX = 50000


def write_config(root, user):
    with open(os.path.join(root, "seqd.yaml"), "w") as f:
        f.write("state_dir: {r}/state\ncontrol_socket: {r}/ctl.sock\nadmins: [root, {u}]\n"
                "workers: 2\ntick: 100ms\ndelivery:\n  maildir: {{dir: {r}/outbox}}\n"
                "mailboxes:\n  - address: bench@acme.test\n    name: Bench\n    owner: {u}\n"
                "    transport: discard\n    daily_limit: 10000000\n"
                "    hourly_limit: 10000000\n".format(r=root, u=user))
    with open(os.path.join(root, "schedules.yaml"), "w") as f:
        f.write('always:\n  timezone: UTC\n  windows:\n    mon-sun: ["00:00-24:00"]\n')
    os.mkdir(os.path.join(root, "sequences"))
    for sequence_id in ("bench", "bench2"):
        with open(os.path.join(root, "sequences", sequence_id + ".yaml"), "w") as f:
            f.write(SEQUENCE.format(id=sequence_id, user=user))


def write_csv(path, rows, user):
    with open(path, "w") as f:
        f.write("email,first_name,last_name,company,title,score,owner,timezone\n")
        for i in range(rows):
            f.write("person%d@example.test,Name%d,Last%d,Company %d,Engineer,%d,%s,UTC\n"
                    % (i, i, i, i % 1000, (i * 37) % 101, user))


class Daemon:
    def __init__(self, build, root):
        self.build = build
        self.root = root
        self.socket = os.path.join(root, "ctl.sock")
        log = open(os.path.join(root, "seqd.log"), "w")
        self.process = subprocess.Popen([os.path.join(build, "seqd"), "--config",
                                         os.path.join(root, "seqd.yaml"), "--virtual-time",
                                         "2026-12-01T14:00:00Z"], stdout=log, stderr=log)
        deadline = time.time() + 30
        while self.seqctl("ping").returncode != 0:
            if time.time() > deadline or self.process.poll() is not None:
                raise SystemExit("seqd did not start; see " + root + "/seqd.log")
            time.sleep(0.05)

    def seqctl(self, *args):
        return subprocess.run([os.path.join(self.build, "seqctl"), "--socket", self.socket] +
                              list(args), capture_output=True, text=True)

    def cpu_s(self):
        with open("/proc/%d/stat" % self.process.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def timed(self, *args):
        """Runs seqctl under /usr/bin/time: (wall s, daemon cpu s, seqctl peak KiB, result)."""
        peak_path = os.path.join(self.root, "peak")
        cpu_before = self.cpu_s()
        started = time.monotonic()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", peak_path,
                                 os.path.join(self.build, "seqctl"), "--socket", self.socket] +
                                list(args), capture_output=True, text=True)
        wall = time.monotonic() - started
        cpu = self.cpu_s() - cpu_before
        if result.returncode not in (0, 3):
            raise SystemExit("seqctl %s failed: %s" % (" ".join(args[:3]), result.stderr))
        with open(peak_path) as f:
            peak = int(f.read().split()[-1])
        return wall, cpu, peak, result

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=120)


def run_once(build, rows, user):
    root = tempfile.mkdtemp(prefix="seqd-bench-", dir="/tmp")
    try:
        write_config(root, user)
        csv_path = os.path.join(root, "contacts.csv")
        write_csv(csv_path, rows, user)
        daemon = Daemon(build, root)
        names = ["person%d@example.test" % i for i in range(min(rows, CONTACT_NAMES_MAX))]
        cases = [("import (new)", rows, ["import", csv_path]),
                 ("import (update)", rows, ["import", csv_path]),
                 ("add --csv", rows, ["add", "bench", "--csv", csv_path]),
                 ("add --contact", len(names), ["add", "bench2", "--contact"] + names)]
        figures = []
        for name, count, args in cases:
            wall, cpu, peak, _ = daemon.timed(*args)
            figures.append((name, count, wall, cpu, peak))
        daemon.stop()
        return figures, os.path.getsize(csv_path)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    parser.add_argument("--rows", type=int, nargs="+", default=[200000, 1000000])
    parser.add_argument("--runs", type=int, default=1, help="runs per N; the best is shown")
    args = parser.parse_args()
    user = os.environ.get("USER") or "root"
    print("%-16s %9s %9s %10s %12s %14s" % ("command", "rows", "wall s", "rows/s",
                                              "seqd cpu s", "seqctl peak"))
    for rows in args.rows:
        best = None
        for _ in range(args.runs):
            figures, size = run_once(args.build, rows, user)
            if best is None:
                best = figures
            else:
                best = [min(a, b, key=lambda f: f[2]) for a, b in zip(best, figures)]
        for name, count, wall, cpu, peak in best:
            print("%-16s %9d %9.2f %10.0f %12.2f %11d KiB" % (name, count, wall, count / wall,
                                                              cpu, peak))
        print("(file: %d rows, %.1f MiB)" % (rows, size / 1048576.0))


if __name__ == "__main__":
    main()
