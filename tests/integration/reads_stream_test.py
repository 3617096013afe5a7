"""Proves `report`, `tasks` and `contacts` are answered off the engine thread: with the reader
made slow (SEQD_TEST_READ_DELAY_MS), a `ping` and a `time advance` that sends email are answered
while a report or a contacts answer is still being made, and the answer that follows is whole
and right; a `tasks` answer of thousands of open tasks streams in many small frames, every task
once and in order, while a slow client reads it and the engine thread goes on sending; and a
`contacts` answer, and the answers of an `add --where` or `add --list` and a `retry --all` of
many contacts, bigger than the 16 MiB reply cap, arrive whole instead of being refused."""
import json
import os
import select
import subprocess
import time
import unittest

import harness
from harness import Daemon, open_request, read_slowly_while_engine_goes_on

TASKS = 3000
CALLS_YAML = """\
id: calls
name: Calls
owner: alice
schedule: always
mailboxes: [alice@acme.test]
steps:
  - id: call
    type: call
    wait: 0m
    note: "Call {{first_name|them}} at {{company|their company}}"
"""
# Its email needs a field no contact here has: each one is not_sent when it comes due.
NICKNAME_YAML = """\
id: needs-nickname
name: Needs a nickname
owner: alice
schedule: always
mailboxes: [alice@acme.test]
steps:
  - id: hello
    type: auto_email
    wait: 0m
    subject: "Hello"
    body: "Hi {{nickname}}"
"""
CHUNK_BYTES = 4096
DELAY_MS = 6000
REPLY_CAP_BYTES = 16 * 1024 * 1024


def read_frames(s):
    """Every frame up to the reply."""
    frames, reader = [], s.makefile("rb")
    while True:
        line = reader.readline()
        if not line:
            return frames
        frames.append(json.loads(line))
        if "ok" in frames[-1]:
            return frames


def seqctl_peak(daemon, *args):
    """Runs seqctl: (the finished process, its peak resident memory in KiB). /usr/bin/time
    reports seqctl's own peak (a child forked from this test would carry the test's memory in
    its count)."""
    peak_path = os.path.join(daemon.root, "peak")
    result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", peak_path, harness.ARGS.seqctl,
                             "--socket", daemon.socket] + list(args),
                            capture_output=True, text=True, timeout=120)
    with open(peak_path) as f:
        return result, int(f.read().split()[-1])


def nothing_to_read(s):
    """True while no byte of an answer has come on s."""
    readable, _, _ = select.select([s], [], [], 0)
    return not readable


class Reads(unittest.TestCase):
    def start(self, **environment):
        for name, value in environment.items():
            os.environ[name] = str(value)
        self.d = Daemon(sequences={"two-emails": harness.TWO_EMAILS_YAML, "calls": CALLS_YAML,
                                   "needs-nickname": NICKNAME_YAML})
        self.addCleanup(self.d.cleanup)
        try:
            self.d.start()
        finally:
            for name in environment:
                del os.environ[name]

    def add_two_to_send(self):
        path = self.d.write_file("two.csv", harness.contacts_csv(2, start=TASKS))
        added = self.d.seqctl("add", "two-emails", "--csv", path)
        self.assertEqual(added.returncode, 0, added.stdout + added.stderr)
        self.d.json("sequence", "activate", "two-emails")

    def open_tasks(self, count):
        path = self.d.write_file("calls.csv", harness.contacts_csv(count))
        added = self.d.seqctl("add", "calls", "--csv", path)
        self.assertEqual(added.returncode, 0, added.stdout + added.stderr)
        self.d.json("sequence", "activate", "calls")
        self.d.json("time", "advance", "1m")

    def check_engine_goes_on(self, waiting):
        """While `waiting` has no answer yet: a ping and a time advance that sends are answered
        at once."""
        started = time.monotonic()
        self.assertEqual(self.d.seqctl("ping").returncode, 0)
        self.assertLess(time.monotonic() - started, 2.0)
        started = time.monotonic()
        advanced = self.d.seqctl("time", "advance", "2h")
        self.assertEqual(advanced.returncode, 0, advanced.stderr)
        self.assertLess(time.monotonic() - started, 2.5)
        self.assertEqual(len(self.d.messages()), 2)
        self.assertTrue(nothing_to_read(waiting), "answered before the reader's delay")

    def test_a_slow_report_or_contacts_answer_stalls_neither_clients_nor_sending(self):
        self.start(SEQD_TEST_READ_DELAY_MS=DELAY_MS)
        self.open_tasks(50)
        self.add_two_to_send()
        with open_request(self.d, 5, "report", {"sequence": "calls"}) as waiting:
            self.check_engine_goes_on(waiting)
            frames = read_frames(waiting)
        self.assertEqual(len(frames), 1)
        report = frames[0]["result"]
        self.assertEqual(report["sequence"], "calls")
        self.assertEqual(report["attention_total"], 50)
        self.assertEqual(sorted(row["contact"] for row in report["attention"]),
                         sorted("person%d@example.test" % i for i in range(50)))
        self.assertTrue(all(row["reason"].startswith("task ") for row in report["attention"]))
        with open_request(self.d, 6, "contacts", {"limit": 3}) as waiting:
            self.assertTrue(nothing_to_read(waiting))
            frames = read_frames(waiting)
        self.assertEqual(frames[-1]["result"]["matched"], 52)
        everyone = ["person%d@example.test" % i for i in list(range(50)) + [TASKS, TASKS + 1]]
        self.assertEqual([row["contact"] for row in frames[-1]["result"]["contacts"]],
                         sorted(everyone)[:3])

    def test_thousands_of_tasks_stream_while_a_slow_client_reads_and_sending_goes_on(self):
        self.start(SEQD_TEST_STATUS_CHUNK_BYTES=CHUNK_BYTES,
                   SEQD_TEST_STATUS_UNSENT_BYTES=2 * CHUNK_BYTES)
        self.open_tasks(TASKS)
        self.add_two_to_send()
        with open_request(self.d, 7, "tasks", {}) as slow:
            frames = read_slowly_while_engine_goes_on(self, self.d, slow)
        self.assertGreater(len(frames), 50)
        rows = []
        for frame in frames[:-1]:
            self.assertEqual((frame["id"], frame["event"]), (7, "rows"))
            self.assertLessEqual(len(json.dumps(frame, separators=(",", ":"))), CHUNK_BYTES)
            rows += frame["rows"]
        self.assertTrue(frames[-1]["ok"], frames[-1])
        rows += frames[-1]["result"]["tasks"]
        self.assertEqual(len(rows), TASKS)
        self.assertEqual({row["contact"] for row in rows},
                         {"person%d@example.test" % i for i in range(TASKS)})
        self.assertEqual(len({row["id"] for row in rows}), TASKS)
        self.assertTrue(all(row["state"] == "open" and row["type"] == "call" for row in rows))
        self.assertEqual(rows, sorted(rows, key=lambda row: row["due_at"]))
        # seqctl puts the streamed rows back together: the same document as one reply was.
        printed = self.d.seqctl("--json", "tasks")
        self.assertEqual(printed.returncode, 0, printed.stderr)
        self.assertEqual(printed.stdout, json.dumps({"tasks": rows}, separators=(",", ":")) + "\n")
        table = self.d.seqctl("tasks", "--seq", "calls")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertEqual(len(table.stdout.splitlines()), TASKS + 1)

    def test_contacts_over_the_reply_cap_arrive_whole(self):
        self.start()
        # About 700 bytes of JSON a contact: 26,000 of them make an answer over the cap.
        count = 26000
        notes = "n" * 560
        lines = ["email,first_name,company,notes"]
        lines += ["c%05d@example.test,C%d,Company %d,%s" % (i, i, i % 10, notes)
                  for i in range(count)]
        path = self.d.write_file("many.csv", "\n".join(lines) + "\n")
        imported = self.d.seqctl("import", path)
        self.assertEqual(imported.returncode, 0, imported.stdout + imported.stderr)
        result, peak_kib = seqctl_peak(self.d, "--json", "contacts")
        self.assertEqual(result.returncode, 0, result.stderr[-500:])
        printed = result.stdout
        self.assertGreater(len(printed), REPLY_CAP_BYTES)
        # seqctl prints the rows as they come: it holds a frame of them, not the answer (it
        # held ~4x the answer). Not under AddressSanitizer, whose fixed overhead is larger.
        print("seqctl peak RSS %d KiB for an answer of %d KiB" % (peak_kib, len(printed) // 1024))
        if os.environ.get("SEQD_SANITIZED") != "1":
            self.assertLess(peak_kib * 1024, len(printed) // 2)
        self.assertEqual(printed.count("\n"), 1)
        document = json.loads(printed)
        self.assertEqual(list(document.keys()), ["matched", "contacts"])
        self.assertEqual(printed, json.dumps(document, separators=(",", ":")) + "\n")
        self.assertEqual(document["matched"], count)
        keys = [row["contact"] for row in document["contacts"]]
        self.assertEqual(keys, ["c%05d@example.test" % i for i in range(count)])
        self.assertTrue(all(row["fields"]["notes"] == notes for row in document["contacts"]))
        self.assertNotIn("reply_too_large", self.d.log())
        # --limit returns what it asks for, the first by key, and still counts every match.
        limited = self.d.json("contacts", "--limit", "2", "--where", "company='company 3'")
        self.assertEqual(limited["matched"], count // 10)
        self.assertEqual([row["contact"] for row in limited["contacts"]],
                         ["c00003@example.test", "c00013@example.test"])

    def test_an_add_or_a_retry_over_the_reply_cap_is_answered_whole(self):
        self.start()
        # Keys of 240 bytes, each twice in an add's answer ("added" and "first_at"): 36,000 of
        # them make an answer over the cap, and each add below adds half of these.
        count = 72000
        keys = ["%s%06d@%s.example.test" % ("k" * 58, i, "d" * 60 + "." + "e" * 60 + "." + "f" * 40)
                for i in range(count)]
        self.assertEqual(len(keys[0]), 240)
        path = self.d.write_file("many.csv", "email,company\n" + "".join(
            "%s,%s\n" % (key, "Acme" if i % 2 == 0 else "Other") for i, key in enumerate(keys)))
        imported = self.d.seqctl("import", path, "--list", "everyone")
        self.assertEqual(imported.returncode, 0, imported.stdout + imported.stderr)
        self.d.json("sequence", "activate", "two-emails")

        added = self.d.seqctl("--json", "add", "two-emails", "--where", "company='acme'")
        self.assertEqual(added.returncode, 0, added.stderr[-500:])
        self.assertGreater(len(added.stdout), REPLY_CAP_BYTES)
        document = json.loads(added.stdout)
        acme = sorted(keys[0::2])
        self.assertEqual(document["added"], acme)
        self.assertEqual(document["skipped"], [])
        self.assertEqual(sorted(document["first_at"]), acme)
        self.assertTrue(all(at.startswith("2026-") for at in document["first_at"].values()))

        # --list adds the other half and skips the half already in: both lists in one answer.
        again = self.d.seqctl("--json", "add", "two-emails", "--list", "everyone")
        self.assertEqual(again.returncode, 3, again.stderr[-500:])  # some were skipped
        self.assertGreater(len(again.stdout), REPLY_CAP_BYTES)
        document = json.loads(again.stdout)
        self.assertEqual(document["added"], sorted(keys[1::2]))
        self.assertEqual([skip["contact"] for skip in document["skipped"]], acme)
        self.assertEqual(len(document["first_at"]), count // 2)

        status = self.d.json("status", "two-emails")
        self.assertEqual(len(status["contacts"]), count)
        self.assertEqual(self.d.log().count("command add by root sequence two-emails: ok"), 2)

        # A retry --all of them all: none has the field its email needs, so each is not_sent.
        # (Each is in two-emails too: --skip-validation adds them anyway.)
        plain = self.d.seqctl("add", "needs-nickname", "--list", "everyone", "--skip-validation")
        self.assertEqual(plain.returncode, 0, plain.stderr[-500:])
        self.assertEqual(plain.stdout, "added %d to needs-nickname\n" % count)
        self.d.json("sequence", "activate", "needs-nickname")
        self.d.json("time", "advance", "1m")
        status = self.d.json("status", "needs-nickname", "--status", "not_sent", "--limit", "1")
        self.assertEqual(status["contacts"][0]["not_sent_reason"], "missing_variable:nickname")
        retried = self.d.seqctl("--json", "retry", "needs-nickname", "--all")
        self.assertEqual(retried.returncode, 0, retried.stderr[-500:])
        self.assertGreater(len(retried.stdout), REPLY_CAP_BYTES)
        document = json.loads(retried.stdout)
        self.assertEqual(document["sequence"], "needs-nickname")
        self.assertEqual(sorted(document["done"]), sorted(keys))
        self.assertEqual(document["skipped"], [])
        self.assertEqual(document["may_duplicate"], [])
        self.assertNotIn("reply_too_large", self.d.log())


if __name__ == "__main__":
    harness.main()
