"""Proves a large `status` streams: with the test-only knobs making frames 4 KiB, a status of
4,000 enrollments comes as many frames, every row exactly once and in order, and
`seqctl status --json` prints the one document it always printed; while a client reads such
an answer slowly, another client's `ping` and a `time advance` that sends email are answered
at once (the engine thread is not held); and a client that stops reading is dropped, with a
log line, without stopping the daemon."""
import json
import os
import time
import unittest

import harness
from harness import Daemon

COUNT = 4000
BIG_YAML = harness.TWO_EMAILS_YAML.replace("id: two-emails", "id: big").replace(
    "wait: 0m", "wait: 30d")
CHUNK_BYTES = 4096
STALL_MS = 3000


def expected_order(daemon_rows):
    return sorted(daemon_rows, key=lambda row: (-row["score"], row["contact"]))


class StatusStream(unittest.TestCase):
    def setUp(self):
        os.environ["SEQD_TEST_STATUS_CHUNK_BYTES"] = str(CHUNK_BYTES)
        os.environ["SEQD_TEST_STATUS_UNSENT_BYTES"] = str(2 * CHUNK_BYTES)
        os.environ["SEQD_TEST_STATUS_STALL_MS"] = str(STALL_MS)
        self.d = Daemon(sequences={"two-emails": harness.TWO_EMAILS_YAML, "big": BIG_YAML})
        self.addCleanup(self.d.cleanup)
        self.d.start()
        for name in ("SEQD_TEST_STATUS_CHUNK_BYTES", "SEQD_TEST_STATUS_UNSENT_BYTES",
                     "SEQD_TEST_STATUS_STALL_MS"):
            del os.environ[name]
        path = self.d.write_file("big.csv", harness.contacts_csv(COUNT))
        added = self.d.seqctl("add", "big", "--csv", path)
        self.assertEqual(added.returncode, 0, added.stderr)

    def open_status(self, request_id=9):
        return harness.open_request(self.d, request_id, "status", {"sequence": "big"}, 30)

    def read_frames(self, s, pause_s=0.0):
        """Reads frames up to the reply; pause_s between reads makes a slow reader."""
        frames, data = [], b""
        while True:
            while b"\n" not in data:
                chunk = s.recv(2048 if pause_s else 65536)
                if not chunk:
                    return frames, False
                data += chunk
                if pause_s:
                    time.sleep(pause_s)
            line, data = data.split(b"\n", 1)
            frame = json.loads(line)
            frames.append(frame)
            if "ok" in frame:
                return frames, True

    def rows_of(self, frames, request_id=9):
        rows = []
        for frame in frames[:-1]:
            self.assertEqual(frame["id"], request_id)
            self.assertEqual(frame["event"], "rows")
            rows += frame["rows"]
        reply = frames[-1]
        self.assertEqual(reply["id"], request_id)
        self.assertTrue(reply["ok"], reply)
        self.assertEqual(reply["result"]["sequence"], "big")
        return rows + reply["result"]["contacts"]

    def check_rows(self, rows):
        self.assertEqual(len(rows), COUNT)
        self.assertEqual(len({row["contact"] for row in rows}), COUNT)
        self.assertEqual({row["contact"] for row in rows},
                         {"person%d@example.test" % i for i in range(COUNT)})
        self.assertEqual(rows, expected_order(rows))

    def test_every_row_arrives_once_in_order_in_many_frames(self):
        with self.open_status() as s:
            frames, complete = self.read_frames(s)
        self.assertTrue(complete)
        self.assertGreater(len(frames), 50)
        for frame in frames:
            self.assertLessEqual(len(json.dumps(frame, separators=(",", ":"))), CHUNK_BYTES)
        rows = self.rows_of(frames)
        self.check_rows(rows)
        # seqctl --json prints one document with the same rows.
        printed = self.d.seqctl("--json", "status", "big")
        self.assertEqual(printed.returncode, 0, printed.stderr)
        self.assertEqual(printed.stdout.count("\n"), 1)
        document = json.loads(printed.stdout)
        self.assertEqual(list(document.keys()), ["sequence", "contacts"])
        self.assertEqual(document["sequence"], "big")
        self.assertEqual(document["contacts"], rows)
        # --limit picks the first rows of the same order, in one frame.
        limited = self.d.json("status", "big", "--limit", "7")
        self.assertEqual(limited["contacts"], rows[:7])
        # The table prints a header and one line per row.
        table = self.d.seqctl("status", "big")
        self.assertEqual(table.returncode, 0, table.stderr)
        lines = table.stdout.splitlines()
        self.assertEqual(len(lines), COUNT + 1)
        self.assertTrue(lines[0].startswith("CONTACT"))
        self.assertEqual([line.split()[0] for line in lines[1:]],
                         [row["contact"] for row in rows])

    def test_a_slow_reader_stalls_neither_other_clients_nor_sending(self):
        path = self.d.write_file("two.csv", harness.contacts_csv(2, start=COUNT))
        added = self.d.seqctl("add", "two-emails", "--csv", path)
        self.assertEqual(added.returncode, 0, added.stdout + added.stderr)
        self.d.json("sequence", "activate", "two-emails")
        with self.open_status() as slow:
            frames = harness.read_slowly_while_engine_goes_on(self, self.d, slow)
        self.assertGreater(len(frames), 50)
        self.check_rows(self.rows_of(frames))

    def test_a_client_that_stops_reading_is_dropped_and_logged(self):
        with self.open_status() as stuck:
            time.sleep(STALL_MS / 1000.0 + 2.0)
            self.assertIn("dropped", self.d.log())
            # The daemon serves on, and the dropped connection ends without a reply.
            self.assertEqual(self.d.seqctl("ping").returncode, 0)
            frames, complete = self.read_frames(stuck)
        self.assertFalse(complete)
        self.assertIsNone(self.d.process.poll())
        with self.open_status(request_id=10) as s:
            frames, complete = self.read_frames(s)
        self.assertTrue(complete)
        self.check_rows(self.rows_of(frames, request_id=10))


if __name__ == "__main__":
    harness.main()
