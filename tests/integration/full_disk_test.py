"""Proves seqd on a full disk, on a real small filesystem (a tmpfs mounted over the state dir, as
root): a change that needs room fails with "no space left on device" naming the state dir and
what was being written, nothing of it is kept, the daemon keeps answering reads, and writes work
again as soon as space comes back, with nothing acknowledged lost across a restart. Also: a
missing schedules.yaml is named as missing, not reported as an unknown schedule."""
import os
import subprocess
import unittest

import harness
from harness import Daemon, contacts_csv

TMPFS_BYTES = 4 << 20


def fill(path):
    """Writes zeros to path until the filesystem refuses; returns the bytes written."""
    written = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                written += f.write(chunk)
            except OSError:
                break
        # The last partial page too: tmpfs may take a smaller write after refusing 64 KiB.
        while True:
            try:
                written += f.write(b"\0" * 512)
            except OSError:
                return written


class FullDisk(unittest.TestCase):
    def setUp(self):
        harness.require_root()
        self.daemon = Daemon()
        self.addCleanup(self.daemon.cleanup)
        self.state = os.path.join(self.daemon.root, "state")
        os.mkdir(self.state, 0o750)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0750" % TMPFS_BYTES,
                        "tmpfs", self.state], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.state], check=True)
        self.filler = os.path.join(self.state, "filler")

    def import_lines(self, outcome):
        """Log lines of import commands that end with outcome (":ok") or hold it."""
        return sum(1 for line in self.daemon.log().splitlines()
                   if "command import by " in line and
                   (line.endswith(outcome) if outcome == ": ok" else outcome in line))

    def contacts(self):
        return {c["contact"] for c in self.daemon.json("contacts")["contacts"]}

    def test_full_disk_refuses_writes_serves_reads_and_recovers(self):
        d = self.daemon
        d.start()
        first = d.write_file("first.csv", contacts_csv(20))
        self.assertEqual(d.seqctl("import", first).returncode, 0)
        d.json("add", "two-emails", "--csv", first)
        d.json("sequence", "activate", "two-emails")
        before = self.contacts()
        self.assertEqual(len(before), 20)
        self.assertGreater(fill(self.filler), 0)

        # A change that needs pages LMDB does not have free: refused, with the error.
        big = d.write_file("big.csv", contacts_csv(3000, start=1000))
        logged_ok = self.import_lines(": ok")
        refused = d.seqctl("import", big)
        self.assertEqual(refused.returncode, 1, refused.stdout + refused.stderr)
        self.assertIn("no space left on device: state dir " + self.state, refused.stderr)
        self.assertIn("commit of", refused.stderr)
        self.assertNotIn("Input/output error", refused.stderr.split("(")[0])
        # The log tells the outcome after the commit: the refused import is never "ok".
        self.assertEqual(self.import_lines(": ok"), logged_ok)
        self.assertGreater(self.import_lines(": failed: no space left on device"), 0, d.log())

        # Reads go on, and show the last committed state: nothing of the refused import.
        self.assertEqual(d.seqctl("ping").returncode, 0)
        self.assertEqual(self.contacts(), before)
        status = d.json("status", "two-emails")
        self.assertEqual(len(status["contacts"]), 20)
        self.assertIn("refuses changes until there is room", d.log())

        # Space comes back: the same import goes through, at once.
        os.unlink(self.filler)
        imported = d.json("import", big)
        self.assertEqual(imported["imported"], 3000)
        self.assertEqual(len(self.contacts()), 3020)
        d.json("time", "advance", "1m")  # sending resumes too
        self.assertGreater(len(d.messages()), 0)

        # Nothing acknowledged is lost; the store opens clean.
        d.stop()
        self.assertEqual(d.process.returncode, 0, d.log())
        d.start()
        self.assertEqual(len(self.contacts()), 3020)

    def test_full_disk_at_a_due_send_keeps_serving_and_sends_once_room_returns(self):
        d = self.daemon
        d.start()
        csv_path = d.write_file("c.csv", contacts_csv(200))
        d.json("add", "two-emails", "--csv", csv_path)
        d.json("sequence", "activate", "two-emails")
        fill(self.filler)
        advance = d.seqctl("time", "advance", "1d")  # 200 sends: more than LMDB's free pages
        self.assertEqual(advance.returncode, 1, advance.stderr)
        self.assertIn("no space left on device", advance.stderr)
        self.assertIn("time advance stopped at", advance.stderr)
        self.assertEqual(d.seqctl("status", "two-emails").returncode, 0)
        os.unlink(self.filler)
        d.json("time", "advance", "1d")
        d.json("time", "advance", "2d")
        status = d.json("status", "two-emails")["contacts"]
        # Every contact got both emails exactly once (Maildir names are Message-IDs).
        self.assertEqual(len(d.messages()), 400, [c["status"] for c in status][:5])


class MissingSchedules(unittest.TestCase):
    def test_a_missing_schedules_yaml_is_named_as_missing(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        os.unlink(os.path.join(d.root, "schedules.yaml"))
        checked = subprocess.run([harness.ARGS.seqd, "--check-config", "--config", d.config],
                                 capture_output=True, text=True)
        self.assertEqual(checked.returncode, 1)
        self.assertIn("schedules.yaml", checked.stderr)
        self.assertRegex(checked.stderr.lower(), r"does not exist")
        self.assertNotIn("unknown schedule", checked.stderr)


if __name__ == "__main__":
    harness.main()
