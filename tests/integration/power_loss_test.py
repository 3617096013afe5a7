"""Proves seqd keeps what it acknowledged through a power cut: a real seqd runs a workload (adds,
activation, SMTP sends to a relay, task completions, a clean stop) with the power-loss shim
(tests/powerloss/powerloss_shim.c) LD_PRELOADed, which at a chosen write or sync of the state dir
leaves on disk only what was synced (mode `drop`) or that plus half of the last unsynced page
(mode `tear`) and kills seqd. The real seqd then opens the state dir clean or refuses with the
damaged-store message, and every acknowledged command is still there: contacts added,
the sequence active, tasks completed, steps done stay done; finishing the workload then never
sends a (contact, step) a second email at the relay.

Crash points (every write to and every sync of a file in the state dir) are drawn, seeded,
from those a run without a crash counts, each in both modes. Refusing as damaged is accepted
only before anything was acknowledged (a power cut in a new store's first commit can leave a
data.mdb LMDB does not recognise, and no marker). The default run takes 50 crash points (20
with a sanitized seqd);
SEQD_POWERLOSS_POINTS=500 SEQD_POWERLOSS_BATCHES=8 is the long mode; SEQD_SEED replays a draw
and SEQD_POWERLOSS_POINT=MODE:N runs one crash point."""
import concurrent.futures
import email
import email.policy
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Daemon, free_port


SEQUENCE_YAML = """\
id: seq
name: Power loss
owner: alice
schedule: always
mailboxes: [alice@acme.test]
steps:
  - id: e1
    type: auto_email
    wait: 0m
    subject: "e1 {{first_name}}"
    body: "One."
  - id: t1
    type: task
    wait: 0m
    note: "Call {{first_name}}"
  - id: e2
    type: auto_email
    wait: 1h
    subject: "e2 {{first_name}}"
    body: "Two."
"""

STEPS = ["e1", "t1", "e2"]
CONTACTS_PER_BATCH = 3
PARALLEL_RUNS = 4
DAMAGED = re.compile(r"state dir \S+ is damaged: .+; restore from backup or move it away")


def batch_csv(run, batch):
    lines = ["email,first_name"]
    for k in range(CONTACTS_PER_BATCH):
        lines.append("p%d.%d@run%d.test,R%dB%dP%d" % (batch, k, run, run, batch, k))
    return "\n".join(lines) + "\n"


def call(d, cmd, **args):
    """One request on the control socket (seqctl costs ~40 ms a run, most of this test's
    time); the result, or None when seqd failed it or was gone."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(d.socket)
            s.sendall((json.dumps({"v": 1, "id": 1, "cmd": cmd, "args": args}) + "\n").encode())
            buffer = b""
            while True:
                while b"\n" not in buffer:
                    chunk = s.recv(65536)
                    if not chunk:
                        return None
                    buffer += chunk
                line, buffer = buffer.split(b"\n", 1)
                frame = json.loads(line)
                if "event" in frame:
                    continue
                return frame["result"] if frame.get("ok") else None
    except OSError:
        return None


class PowerLoss(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.shim = os.path.join(os.path.dirname(harness.ARGS.seqd), "tests",
                                "libseqd_powerloss.so")
        if not os.path.exists(cls.shim):
            raise AssertionError("the power-loss shim is not built: " + cls.shim)
        cls.relay_dir = tempfile.mkdtemp(prefix="seqd-relay-", dir="/tmp")
        cls.port = free_port()
        script = os.path.join(harness.ARGS.source_dir, "tests", "io", "smtp_server.py")
        cls.relay = subprocess.Popen(["/usr/bin/python3", script, "--port", str(cls.port),
                                      "--out", cls.relay_dir], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        if cls.relay.stdout.readline().strip() != "READY":
            raise AssertionError("the SMTP relay did not start")
        cls.extra_env = {}
        linked = subprocess.run(["ldd", harness.ARGS.seqd], capture_output=True, text=True)
        if "libasan" in linked.stdout:  # the shim is not instrumented; ASan must allow it
            cls.extra_env["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                             ":verify_asan_link_order=0").lstrip(":")

    @classmethod
    def tearDownClass(cls):
        cls.relay.terminate()
        cls.relay.wait(timeout=10)
        shutil.rmtree(cls.relay_dir, ignore_errors=True)

    # -- the relay ------------------------------------------------------------------------

    def received(self, run):
        """(contact, step) -> emails the relay accepted for this run."""
        counts = {}
        suffix = "@run%d.test" % run
        for name in os.listdir(self.relay_dir):
            if not name.endswith(".eml"):
                continue
            with open(os.path.join(self.relay_dir, name), "rb") as f:
                message = email.message_from_binary_file(f, policy=email.policy.default)
            to = str(message["To"]).strip("<> ")
            if not to.endswith(suffix):
                continue
            key = (to, str(message["Subject"]).split(" ")[0])
            counts[key] = counts.get(key, 0) + 1
        return counts

    # -- one run --------------------------------------------------------------------------

    def daemon(self):
        d = Daemon(sequences={"seq": SEQUENCE_YAML}, seqd_yaml=harness.smtp_seqd_yaml(self.port, timeout="10s"))
        self.addCleanup(d.cleanup)
        return d

    def start_with_shim(self, d, crash_at, mode, count_file):
        state = os.path.join(d.root, "state")
        env = dict(os.environ, LD_PRELOAD=self.shim, SEQD_POWERLOSS_DIR=state,
                   SEQD_POWERLOSS_CRASH_AT=str(crash_at), SEQD_POWERLOSS_MODE=mode,
                   SEQD_POWERLOSS_COUNT_FILE=count_file, **self.extra_env)
        with open(d.log_path, "a") as log:
            d.process = subprocess.Popen([harness.ARGS.seqd, "--config", d.config,
                                          "--virtual-time", harness.VIRTUAL_START],
                                         stdout=log, stderr=log, env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if d.process.poll() is not None:
                return False  # power was lost while it started
            if call(d, "ping") is not None:
                return True
            time.sleep(0.01)
        raise AssertionError("seqd did not become ready: " + d.log())

    def workload(self, d, run, batches, acked):
        """Runs the workload while seqd lives; notes every acknowledged change in `acked`."""
        if call(d, "sequence_activate", sequence="seq") is None:
            return
        acked["active"] = True
        for batch in range(batches):
            path = d.write_file("b%d.csv" % batch, batch_csv(run, batch))
            if d.seqctl("add", "seq", "--csv", path).returncode != 0:
                return
            acked["added"].update("p%d.%d@run%d.test" % (batch, k, run)
                                  for k in range(CONTACTS_PER_BATCH))
            for advance in ("1m", "2h"):
                if call(d, "time_advance", duration=advance) is None:
                    return
                status = d.seqctl("--json", "status", "seq")
                if status.returncode != 0:
                    return
                acked["status"] = {c["contact"]: c for c in
                                   json.loads(status.stdout)["contacts"]}
                tasks = call(d, "tasks", sequence="seq")
                if tasks is None:
                    return
                for task in tasks["tasks"]:
                    if task["state"] == "open":
                        if call(d, "task_complete", id=task["id"]) is None:
                            return
                        acked["completed"].add(task["id"])
        d.stop()

    def check_acknowledged(self, d, acked, where):
        status = {c["contact"]: c for c in d.json("status", "seq")["contacts"]}
        for contact in acked["added"]:
            self.assertIn(contact, status, where + ": an acknowledged add was lost")
        if acked["active"]:
            sequences = call(d, "sequences")["sequences"]
            self.assertTrue([s for s in sequences if s["id"] == "seq" and s["active"]],
                            where + ": the acknowledged activation was lost")
        tasks = {t["id"]: t for t in call(d, "tasks", sequence="seq")["tasks"]}
        for task_id in acked["completed"]:
            self.assertEqual(tasks[task_id]["state"], "completed",
                             where + ": an acknowledged task completion was lost")
        for contact, before in acked["status"].items():
            after = status[contact]
            if before["status"] == "finished":
                self.assertEqual(after["status"], "finished", where + ": " + contact)
            else:
                self.assertGreaterEqual(after["step_index"], before["step_index"],
                                        where + ": %s went back from step %s to %s" % (
                                            contact, before["step"], after["step"]))

    def finish(self, d):
        """Drives every contact to the end on the restarted daemon."""
        for _ in range(3):
            for task in call(d, "tasks", sequence="seq")["tasks"]:
                if task["state"] == "open":
                    self.assertIsNotNone(call(d, "task_complete", id=task["id"]))
            self.assertIsNotNone(call(d, "time_advance", duration="2h"))
        d.stop()
        self.assertEqual(d.process.returncode, 0, d.log())

    def run_point(self, run, batches, mode, crash_at):
        where = "crash point %s:%d" % (mode, crash_at)
        d = self.daemon()
        count_file = os.path.join(d.root, "crash-points")
        acked = {"active": False, "added": set(), "completed": set(), "status": {}}
        if self.start_with_shim(d, crash_at, mode, count_file):
            self.workload(d, run, batches, acked)
        code = d.process.wait(timeout=60)
        if "power lost" not in d.log():
            return "no crash"  # the workload ended before this crash point
        self.assertEqual(code, -signal.SIGKILL, where + ": " + d.log())
        sent_before = self.received(run)
        log_start = len(d.log())
        process = d.start(expect_ready=False)
        deadline = time.time() + 20
        while time.time() < deadline and process.poll() is None:
            if call(d, "ping") is not None:
                break
            time.sleep(0.01)
        if process.poll() is not None:
            restart_log = d.log()[log_start:]
            self.assertEqual(process.returncode, 1, where + ": " + restart_log)
            self.assertRegex(restart_log, DAMAGED, where)
            # Refusing is the safe answer to damage, but a durable store is never damaged by
            # a power cut once it holds something acknowledged.
            self.assertFalse(acked["active"] or acked["added"],
                             where + ": acknowledged changes were made, then the store was "
                             "refused after the power cut")
            print("%s: refused: %s" % (where, DAMAGED.search(restart_log).group(0)), flush=True)
            return "refused as damaged"
        self.check_acknowledged(d, acked, where)
        self.finish(d)
        for key, count in self.received(run).items():
            self.assertEqual(count, 1, "%s: %s got %d emails for step %s (%d before the crash)"
                             % (where, key[0], count, key[1], sent_before.get(key, 0)))
        return "opened clean"

    def count_crash_points(self, batches):
        d = self.daemon()
        count_file = os.path.join(d.root, "crash-points")
        acked = {"active": False, "added": set(), "completed": set(), "status": {}}
        self.assertTrue(self.start_with_shim(d, 0, "drop", count_file))
        self.workload(d, 0, batches, acked)
        self.assertEqual(d.process.wait(timeout=60), 0, d.log())
        received = self.received(0)
        self.assertEqual(len(received), 2 * CONTACTS_PER_BATCH * batches, received)
        with open(count_file) as f:
            return int(f.read())

    def test_every_acknowledged_change_survives_power_loss(self):
        batches = int(os.environ.get("SEQD_POWERLOSS_BATCHES", "1"))
        # A sanitized seqd starts several times slower: the test command's ASan pass takes 20.
        wanted = int(os.environ.get("SEQD_POWERLOSS_POINTS",
                                    "20" if self.extra_env else "50"))
        seed = int(os.environ.get("SEQD_SEED", time.time_ns() % 2**32))
        print("seed %d (replay with SEQD_SEED=%d)" % (seed, seed), flush=True)
        started = time.time()
        points_total = self.count_crash_points(batches)
        if "SEQD_POWERLOSS_POINT" in os.environ:
            mode, at = os.environ["SEQD_POWERLOSS_POINT"].split(":")
            points = [(mode, int(at))]
        else:
            all_points = [(mode, at) for at in range(1, points_total + 1) for mode in ("drop", "tear")]
            rng = random.Random(seed)
            points = [rng.choice(all_points) for _ in range(wanted)] \
                if wanted > len(all_points) else rng.sample(all_points, wanted)
        # Runs mostly wait on seqd and the relay: a few at once keep 2 cores busy.
        with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
            futures = [pool.submit(self.run_point, run, batches, mode, at)
                       for run, (mode, at) in enumerate(points, start=1)]
            outcomes, failures = {}, []
            for future in futures:
                try:
                    outcome = future.result()
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
                except AssertionError as error:
                    failures.append(str(error))
        for failure in failures:
            print("FAILED " + failure, flush=True)
        self.assertEqual(failures, [], "seed %d" % seed)
        print("%d crash points in the workload (%d batches); %d crash points in %.1f s: %s" % (
            points_total, batches, len(points), time.time() - started,
            ", ".join("%s %d" % item for item in sorted(outcomes.items()))), flush=True)


if __name__ == "__main__":
    harness.main()
