"""Proves seqd refuses to start on a damaged state dir: with data.mdb emptied, or 2,000 random
bytes written over its contact pages, it exits 1 saying the state dir is damaged instead of
starting with fewer contacts (or none) than were imported."""
import os
import random
import re
import time
import unittest

import harness
from harness import Daemon, contacts_csv

CONTACTS = 200
DAMAGE_BYTES = 2000
META_BYTES = 2 * 4096  # LMDB's two meta pages at the start of data.mdb
DAMAGED = re.compile(r"state dir \S+ is damaged: .+; restore from backup or move it away")


class DamagedStore(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon()
        self.addCleanup(self.daemon.cleanup)
        self.daemon.start()
        csv_path = self.daemon.write_file("contacts.csv", contacts_csv(CONTACTS))
        imported = self.daemon.seqctl("import", csv_path)
        self.assertEqual(imported.returncode, 0, imported.stdout + imported.stderr)
        self.daemon.stop()
        self.assertEqual(self.daemon.process.returncode, 0, self.daemon.log())
        self.data_file = os.path.join(self.daemon.root, "state", "data.mdb")

    def restart(self):
        """Starts seqd again; returns its exit code (None if it came up) and its new log."""
        log_start = len(self.daemon.log())
        process = self.daemon.start(expect_ready=False)
        deadline = time.time() + 20
        while time.time() < deadline and process.poll() is None:
            if self.daemon.seqctl("ping").returncode == 0:
                break
            time.sleep(0.05)
        return process.poll(), self.daemon.log()[log_start:]

    def test_intact_store_restarts_with_every_contact(self):
        code, log = self.restart()
        self.assertIsNone(code, log)
        self.assertIn("loaded %d contacts" % CONTACTS, log)

    def test_data_file_truncated_to_zero_is_refused(self):
        os.truncate(self.data_file, 0)
        code, log = self.restart()
        self.assertEqual(code, 1, log)
        self.assertRegex(log, DAMAGED)
        self.assertIn("data.mdb is empty", log)

    def test_random_bytes_over_contact_pages_are_refused(self):
        seed = int(os.environ.get("SEQD_SEED", time.time_ns()))
        print("seed %d (replay with SEQD_SEED=%d)" % (seed, seed))
        rng = random.Random(seed)
        with open(self.data_file, "rb") as f:
            data = bytearray(f.read())
        # Every copy of one contact's record, so the live page is hit whatever the free
        # pages still hold.
        needle = b"person17@example.test"
        hits = [m.start() for m in re.finditer(re.escape(needle), data)]
        self.assertTrue(hits, "contact record not found in data.mdb")
        for hit in hits:
            offset = max(META_BYTES, min(hit - rng.randrange(DAMAGE_BYTES - len(needle)),
                                         len(data) - DAMAGE_BYTES))
            data[offset:offset + DAMAGE_BYTES] = bytes(rng.randrange(256)
                                                       for _ in range(DAMAGE_BYTES))
        with open(self.data_file, "wb") as f:
            f.write(data)
        code, log = self.restart()
        self.assertEqual(code, 1, "seed %d: %s" % (seed, log))
        self.assertRegex(log, DAMAGED)


if __name__ == "__main__":
    harness.main()
