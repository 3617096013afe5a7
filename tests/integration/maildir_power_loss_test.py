"""Proves a Maildir batch cut short before its one fsync of new/ (io/maildir.hpp, "Batches")
loses no email and writes none twice: a real seqd delivers a two-step sequence to Maildir with
the power-loss shim (tests/powerloss/powerloss_shim.c) LD_PRELOADed and killed at the Nth
fsync of a new/ folder, before it takes effect. Each crash point runs twice: killed with the
batch's files left in new/ (a crash of the process), and with the renames into new/ since its
last fsync moved back to tmp/ (a power cut: those directory entries never reached the disk).
The restarted seqd then delivers again what it had released without a result, and in the end
every contact has each step's email exactly once and every contact finished.

The crash points are counted by a run without a crash (how the two workers split the sends
into batches varies, so a later point may not be reached in every run); at least one run of
each kind must have crashed, and some power cut must have moved files back to tmp/, so the
test cannot pass without crashing where it means to. SEQD_POWERLOSS_POINT=KIND:N runs one."""
import concurrent.futures
import email
import email.policy
import os
import re
import signal
import subprocess
import time
import unittest

import harness
from harness import Daemon

SEQUENCE_YAML = """\
id: seq
name: Maildir power loss
owner: alice
schedule: always
mailboxes: [alice@acme.test]
steps:
  - id: e1
    type: auto_email
    wait: 0m
    subject: "e1 {{first_name}}"
    body: "One."
  - id: e2
    type: auto_email
    wait: 1h
    subject: "e2 {{first_name}}"
    body: "Two."
"""

SEQD_YAML = harness.seqd_yaml(mailboxes=harness.alice_mailbox(hourly_limit=1000))
CONTACTS = 12
STEPS = ("e1", "e2")
MAILBOX = "alice@acme.test"
# "keep": the process dies, the renames stay; "undo": the power goes, they are moved back.
KINDS = ("keep", "undo")
PARALLEL_RUNS = 4
MOVED_BACK = re.compile(r"power lost, (\d+) renames moved back")


def contacts_csv():
    lines = ["email,first_name"]
    lines += ["m%d@example.test,M%d" % (i, i) for i in range(CONTACTS)]
    return "\n".join(lines) + "\n"


class MaildirPowerLoss(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.shim = os.path.join(os.path.dirname(harness.ARGS.seqd), "tests",
                                "libseqd_powerloss.so")
        if not os.path.exists(cls.shim):
            raise AssertionError("the power-loss shim is not built: " + cls.shim)
        cls.extra_env = {}
        linked = subprocess.run(["ldd", harness.ARGS.seqd], capture_output=True, text=True)
        if "libasan" in linked.stdout:  # the shim is not instrumented; ASan must allow it
            cls.extra_env["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                             ":verify_asan_link_order=0").lstrip(":")

    def daemon(self):
        d = Daemon(sequences={"seq": SEQUENCE_YAML}, seqd_yaml=SEQD_YAML,
                   schedules_yaml=harness.SCHEDULES_YAML)
        self.addCleanup(d.cleanup)
        return d

    def folder(self, d, name):
        return os.path.join(d.outbox, MAILBOX, name)

    def files(self, d, name):
        path = self.folder(d, name)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def delivered(self, d):
        """(recipient, step) -> emails in new/ and cur/."""
        counts = {}
        for name in ("new", "cur"):
            for file_name in self.files(d, name):
                with open(os.path.join(self.folder(d, name), file_name), "rb") as f:
                    message = email.message_from_binary_file(f, policy=email.policy.default)
                key = (str(message["X-Seqd-Contact"]), str(message["X-Seqd-Step"]))
                counts[key] = counts.get(key, 0) + 1
        return counts

    def start_with_shim(self, d, crash_at, kind, count_file):
        env = dict(os.environ, LD_PRELOAD=self.shim, SEQD_POWERLOSS_DIR=d.root,
                   SEQD_POWERLOSS_CRASH_AT=str(crash_at), SEQD_POWERLOSS_SYNC_SUFFIX="/new",
                   SEQD_POWERLOSS_COUNT_FILE=count_file, **self.extra_env)
        if kind == "undo":
            env["SEQD_POWERLOSS_RENAMES"] = "undo"
        with open(d.log_path, "a") as log:
            d.process = subprocess.Popen([harness.ARGS.seqd, "--config", d.config,
                                          "--virtual-time", harness.VIRTUAL_START],
                                         stdout=log, stderr=log, env=env)
        d.wait_ready()

    def wait_for(self, d, files, timeout_s=20):
        """Waits until new/ holds `files` files or seqd is gone; True when it is gone."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if d.process.poll() is not None:
                return True
            if len(self.files(d, "new")) >= files:
                return False
            time.sleep(0.01)
        raise AssertionError("seqd delivered %d of %d: %s" % (len(self.files(d, "new")), files,
                                                               d.log()))

    def workload(self, d):
        """Both steps for every contact, while seqd lives (each command may meet it gone)."""
        if d.seqctl("sequence", "activate", "seq").returncode != 0:
            return
        path = d.write_file("contacts.csv", contacts_csv())
        if d.seqctl("add", "seq", "--csv", path).returncode != 0:
            return
        for advance, files in (("1m", CONTACTS), ("2h", 2 * CONTACTS)):
            if d.seqctl("time", "advance", advance).returncode != 0:
                return
            if self.wait_for(d, files):
                return
        d.stop()

    def run_point(self, kind, crash_at):
        """One crash point; the outcome, or how the run ended without one."""
        where = "crash point %s:%d" % (kind, crash_at)
        d = self.daemon()
        self.start_with_shim(d, crash_at, kind, os.path.join(d.root, "crash-points"))
        self.workload(d)
        code = d.process.wait(timeout=60)
        if "power lost" not in d.log():
            self.assertEqual(code, 0, where + ": " + d.log())
            return "not reached"
        self.assertEqual(code, -signal.SIGKILL, where + ": " + d.log())
        moved_back = int(MOVED_BACK.search(d.log()).group(1))
        if kind == "keep":
            self.assertEqual(moved_back, 0, where + ": renames moved back though they stay")
        d.start()
        for advance in ("1m", "2h", "2h"):
            self.assertEqual(d.seqctl("time", "advance", advance).returncode, 0, d.log())
        self.wait_for(d, 2 * CONTACTS)
        d.stop()
        self.assertEqual(d.process.returncode, 0, where + ": " + d.log())
        delivered = self.delivered(d)
        for i in range(CONTACTS):
            for step in STEPS:
                key = ("m%d@example.test" % i, step)
                self.assertEqual(delivered.get(key, 0), 1, "%s: %s got %d emails for step %s" % (
                    where, key[0], delivered.get(key, 0), step))
        self.assertEqual(len(delivered), CONTACTS * len(STEPS), where + ": %s" % delivered)
        self.assertEqual(self.files(d, "tmp"), [], where + ": left in tmp/")
        d.start()
        status = d.json("status", "seq")["contacts"]
        d.stop()
        self.assertEqual(sorted(c["status"] for c in status), ["finished"] * CONTACTS,
                         where + ": %s" % status)
        return "moved back" if moved_back > 0 else "crashed"

    def count_crash_points(self):
        d = self.daemon()
        count_file = os.path.join(d.root, "crash-points")
        self.start_with_shim(d, 0, "keep", count_file)
        self.workload(d)
        self.assertEqual(d.process.wait(timeout=60), 0, d.log())
        self.assertEqual(len(self.delivered(d)), CONTACTS * len(STEPS))
        with open(count_file) as f:
            return int(f.read())

    def test_a_batch_cut_before_its_fsync_of_new_is_delivered_once(self):
        started = time.time()
        if "SEQD_POWERLOSS_POINT" in os.environ:
            kind, at = os.environ["SEQD_POWERLOSS_POINT"].split(":")
            points = [(kind, int(at))]
        else:
            points_total = self.count_crash_points()
            self.assertGreater(points_total, 0, "no fsync of new/ in the workload")
            points = [(kind, at) for at in range(1, points_total + 1) for kind in KINDS]
        with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
            futures = {pool.submit(self.run_point, kind, at): (kind, at) for kind, at in points}
            outcomes = {}
            for future, (kind, at) in futures.items():
                outcome = future.result()
                outcomes[(kind, outcome)] = outcomes.get((kind, outcome), 0) + 1
        print("%d crash points in %.1f s: %s" % (
            len(points), time.time() - started,
            ", ".join("%s %s: %d" % (kind, outcome, count)
                      for (kind, outcome), count in sorted(outcomes.items()))), flush=True)
        for kind in set(kind for kind, _ in points):
            crashed = sum(count for (k, outcome), count in outcomes.items()
                          if k == kind and outcome != "not reached")
            self.assertGreater(crashed, 0, "no %s run crashed at an fsync of new/" % kind)
        if "SEQD_POWERLOSS_POINT" not in os.environ:
            self.assertGreater(outcomes.get(("undo", "moved back"), 0), 0,
                               "no power cut moved a batch's files back to tmp/")


if __name__ == "__main__":
    harness.main()
