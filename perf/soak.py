#!/usr/bin/env python3
"""Soak: seqd's memory under a steady mix of commands and sends on the real clock.

Usage: perf/soak.py [--minutes M] [--rate R] [--sample S] [--seqd PATH --seqctl PATH]
(default 60 minutes: the long mode of issue 10's "RSS flat under a steady mix").

The workload is steady from the first minute, so memory should be too:
- Every contact is imported and enrolled before the clock starts, each with its own `--at`
  spread evenly over the whole run (R contacts a second), so no enrollment row is created
  during the measured part. A contact then runs four steps: an email at once, a call task
  2 minutes later, two more emails 2 minutes apart; discard transport, sending window open
  all week, limits far above the rate.
- Each second the driver, as an operator would: lists `status` (limit 50), `contacts`
  (limit 20), the open `tasks` (`--state open`: every task ever done is not a steady read,
  its answer grows by 20 tasks a second), `mailboxes`; completes or skips every open task (over the socket,
  one connection a second: a seqctl process per task could not keep up); pauses a few running
  contacts and resumes those paused before; finishes one, removes one and adds it back;
  re-imports 50 known contacts with new scores; every minute it reloads the config (SIGHUP).
- Every S seconds it samples seqd's VmRSS, RssAnon and RssFile from /proc, and the size of
  the store's data file.

It prints one JSON line a sample and a summary: the median of each of the second and the last
tenth of the run (the first tenth is a warm-up), and whether the process's own memory,
RssAnon, is within 10% in the last tenth of what it was in the second. Exit 1 when it is not.
RssFile is mostly the store's pages mapped in (LMDB reads and writes through its map): it
follows the data file, which grows by design while a day's sends and every task done are
added (the rolling send limits keep 24 h of sends; done tasks are archived there), so it is
reported beside the file's size, not held to the bound.
"""
import argparse
import csv
import datetime
import json
import os
import random
import signal
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

SEQUENCE_YAML = """\
id: soak
name: Soak
owner: root
schedule: always
mailboxes: [bench@acme.test]
steps:
  - id: intro
    type: auto_email
    wait: 0m
    subject: "Quick question, {{first_name}}"
    body: "Hi {{first_name|there}}, a short note about {{company|your team}}.\\n\\nAlice\\n"
  - id: call
    type: call
    wait: 2m
    note: "Call {{first_name}} at {{company|their company}}"
  - id: bump
    type: auto_email
    wait: 2m
    subject: "Re: quick question, {{first_name}}"
    body: "Hi {{first_name|there}}, bumping this up.\\n\\nAlice\\n"
  - id: breakup
    type: auto_email
    wait: 2m
    subject: "Last note, {{first_name}}"
    body: "Hi {{first_name|there}}, I will stop here.\\n\\nAlice\\n"
"""


def rss(pid):
    values = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["RssAnon"], values["RssFile"]


def rfc3339(epoch_s):
    return datetime.datetime.fromtimestamp(epoch_s, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def jsonc(daemon, *words):
    return json.loads(daemon.seqctl("--json", *words).stdout)


def enroll(daemon, n, rate, start_s):
    """Imports n contacts and adds them with their own --at, rate a second from start_s."""
    path = os.path.join(daemon.root, "contacts.csv")
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["email", "first_name", "company", "score"])
        for i in range(n):
            out.writerow(["s%d@example.test" % i, "S%d" % i, "Co %d" % (i % 97), i % 101])
    daemon.seqctl("import", path)
    per_second = max(1, int(rate))
    for second in range(0, (n + per_second - 1) // per_second):
        keys = ["s%d@example.test" % i
                for i in range(second * per_second, min(n, (second + 1) * per_second))]
        daemon.seqctl("add", "soak", "--skip-validation", "--at", rfc3339(start_s + second),
                      "--contact", *keys)
    return path


def operate(daemon, rng, n, paused, minute_marks, started):
    """One second's mix of reads and changes."""
    status = jsonc(daemon, "status", "soak", "--status", "scheduled", "--limit", "50")
    jsonc(daemon, "contacts", "--limit", "20")
    jsonc(daemon, "mailboxes")
    # One request each over one connection, as seqctl sends it: a seqctl process per task
    # (~30 ms) cannot keep up with R tasks a second, and the open tasks would pile up.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(daemon.socket)
        for task in jsonc(daemon, "tasks", "--seq", "soak", "--state", "open")["tasks"]:
            if task["state"] == "open":
                try:
                    daemon.request(connection, rng.choice(["task_complete", "task_skip"]),
                                   {"id": task["id"]})
                except RuntimeError:
                    pass
    if paused:
        daemon.seqctl("resume", "soak", *paused, check=False)
        paused.clear()
    running = [row["contact"] for row in status["contacts"]]
    rng.shuffle(running)
    if len(running) >= 5:
        paused.extend(running[:3])
        daemon.seqctl("pause", "soak", *paused, check=False)
        daemon.seqctl("finish", "soak", running[3], "--reason", "soak", check=False)
        daemon.seqctl("remove", "soak", running[4], check=False)
        daemon.seqctl("add", "soak", "--skip-validation", "--contact", running[4], check=False)
    path = os.path.join(daemon.root, "update.csv")
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["email", "score"])
        for i in rng.sample(range(n), 50):
            out.writerow(["s%d@example.test" % i, rng.randrange(101)])
    daemon.seqctl("import", path)
    minute = int((time.monotonic() - started) // 60)
    if minute not in minute_marks:
        minute_marks.add(minute)
        daemon.process.send_signal(signal.SIGHUP)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--rate", type=float, default=20, help="contacts entering a second")
    parser.add_argument("--sample", type=float, default=10, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--seqd", default=os.path.join(bench.ROOT, "build", "seqd"))
    parser.add_argument("--seqctl",
                        default=os.path.join(bench.ROOT, "build", "seqctl"))
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print("soak: seed %d, %.0f minutes, %g contacts/s; load average %s" %
          (seed, args.minutes, args.rate, " ".join(open("/proc/loadavg").read().split()[:3])),
          flush=True)
    rng = random.Random(seed)
    daemon = bench.Seqd(args)
    with open(os.path.join(daemon.root, "sequences", "soak.yaml"), "w") as f:
        f.write(SEQUENCE_YAML)
    duration_s = args.minutes * 60
    n = int(duration_s * args.rate)
    samples = []
    try:
        daemon.start(virtual_time=None)
        setup_started = time.time()
        # Adds take ~30 ms a call here; the first contact falls due once all are in.
        enroll(daemon, n, args.rate, time.time() + 30 + 0.06 * n / args.rate)
        daemon.seqctl("sequence", "activate", "soak")
        print("soak: %d contacts enrolled in %.0f s" % (n, time.time() - setup_started),
              flush=True)
        started = time.monotonic()
        next_sample = started
        paused, minute_marks = [], set()
        while time.monotonic() - started < duration_s:
            operate(daemon, rng, n, paused, minute_marks, started)
            if time.monotonic() >= next_sample:
                vm, anon, mapped = rss(daemon.process.pid)
                store_bytes = os.path.getsize(os.path.join(daemon.state, "data.mdb"))
                counts = [s["counts"] for s in jsonc(daemon, "sequences")["sequences"]
                          if s["id"] == "soak"][0]
                sent = sum(m["sent_today"] for m in jsonc(daemon, "mailboxes")["mailboxes"])
                sample = {"t_s": round(time.monotonic() - started), "rss": vm, "anon": anon,
                          "file": mapped, "store": store_bytes, "sent_today": sent,
                          "counts": counts}
                samples.append(sample)
                print(json.dumps(sample), flush=True)
                next_sample += args.sample
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started) % 1.0))
    finally:
        daemon.cleanup()
    tenth = max(1, len(samples) // 10)
    first = samples[tenth:2 * tenth]
    last = samples[-tenth:]
    summary = {"seed": seed, "samples": len(samples)}
    for key in ("rss", "anon", "file", "store"):
        a = statistics.median(s[key] for s in first)
        b = statistics.median(s[key] for s in last)
        summary[key] = {"second_tenth_median": a, "last_tenth_median": b,
                        "change_percent": round(100.0 * (b - a) / a, 1)}
    flat = abs(summary["anon"]["change_percent"]) <= 10.0
    summary["flat"] = flat
    print("soak summary: " + json.dumps(summary), flush=True)
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
