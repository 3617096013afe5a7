"""Proves idle or hostile clients cannot lock others out of seqd (README "Limits"): a user who
opens 256 connections and never sends gets kConnectionsPerUserMax (32) of them, the rest are
told busy, and seqctl still works for everyone else and for admins; a connection that sends
nothing for the idle bound is closed. Real OS accounts made by useradd, real sockets."""
import json
import os
import select
import socket
import subprocess
import sys
import time
import unittest

import harness
from harness import Daemon, ensure_account

GROUP = "seqdtest"
HOG = "seqdtesthog"      # opens every connection it can and never sends
OTHER = "seqdtestother"  # a second user, not an admin
PER_USER_MAX = 32

YAML = harness.seqd_yaml().replace("admins: [root, {user}]",
                                   "admins: [root, {user}]\nsocket_group: seqdtest")

# Run as HOG: opens `count` connections, reports how many were refused at once (a busy frame),
# then holds the rest open until its stdin closes.
HOG_SCRIPT = r"""
import json, select, socket, sys
path, count = sys.argv[1], int(sys.argv[2])
held, refusals = [], []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    held.append(s)
waiting = list(held)
while waiting:
    readable, _, _ = select.select(waiting, [], [], 2.0)
    if not readable:
        break  # the rest were admitted: they hear nothing
    for s in readable:
        waiting.remove(s)
        data = s.recv(65536)
        if data:
            refusals.append(json.loads(data.decode().splitlines()[0])["error"])
print(json.dumps({"refused": len(refusals), "first": refusals[0] if refusals else None}),
      flush=True)
sys.stdin.read()
"""


class Connections(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        ensure_account(HOG, [GROUP])
        ensure_account(OTHER, [GROUP])

    def start(self, idle_ms=None):
        if idle_ms is not None:
            os.environ["SEQD_TEST_CONNECTION_IDLE_MS"] = str(idle_ms)
            self.addCleanup(os.environ.pop, "SEQD_TEST_CONNECTION_IDLE_MS", None)
        self.d = Daemon(seqd_yaml=YAML)
        self.addCleanup(self.d.cleanup)
        os.chmod(self.d.root, 0o755)
        self.d.start()

    def hog(self, count):
        process = subprocess.Popen(
            ["runuser", "-u", HOG, "--", sys.executable, "-c", HOG_SCRIPT, self.d.socket,
             str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(process.wait, 10)
        self.addCleanup(process.stdin.close)
        line = process.stdout.readline()
        self.assertTrue(line, "the hog printed nothing")
        return json.loads(line)

    def test_256_idle_connections_of_one_user_lock_nobody_out(self):
        self.start()
        report = self.hog(256)
        self.assertEqual(report["refused"], 256 - PER_USER_MAX)
        self.assertEqual(report["first"]["code"], "busy")
        self.assertIn("already has 32 connections", report["first"]["message"])
        for user in (OTHER, "root"):
            result = self.d.seqctl_as(user, "sequences")
            self.assertEqual(result.returncode, 0, user + ": " + result.stderr)
        self.assertEqual(self.d.seqctl_as("root", "reload").returncode, 0)

    def test_an_idle_connection_is_closed_after_the_idle_bound(self):
        self.start(idle_ms=300)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.d.socket)
            started = time.monotonic()
            readable, _, _ = select.select([s], [], [], 10)
            self.assertTrue(readable, "the idle connection was not closed")
            self.assertEqual(s.recv(1), b"")
            self.assertGreaterEqual(time.monotonic() - started, 0.25)
        self.assertIn("idle for 300 ms", self.d.log())
        self.assertEqual(self.d.seqctl("time", "advance", "1h").returncode, 0)


if __name__ == "__main__":
    harness.main()
