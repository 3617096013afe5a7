"""Proves done tasks leave seqd's memory past their bound and `seqctl tasks` still lists them,
read from the store, before and after a restart (the bound is lowered for the test through
SEQD_TEST_DONE_TASKS_IN_MEMORY_MAX)."""
import os
import unittest

import harness
from harness import Daemon, contacts_csv

CALLS_YAML = """\
id: calls
name: Calls
owner: alice
schedule: business-hours
mailboxes: [alice@acme.test]
steps:
  - id: call
    type: call
    wait: 0m
    note: "Call {{first_name}}"
  - id: after
    type: auto_email
    wait: 1h
    subject: "After the call, {{first_name}}"
    body: "Hi."
"""

BOUND = 2
CONTACTS = 5


class TasksArchive(unittest.TestCase):
    def test_done_tasks_past_the_bound_are_listed_from_the_store(self):
        os.environ["SEQD_TEST_DONE_TASKS_IN_MEMORY_MAX"] = str(BOUND)
        self.addCleanup(os.environ.pop, "SEQD_TEST_DONE_TASKS_IN_MEMORY_MAX", None)
        d = Daemon(sequences={"calls": CALLS_YAML})
        self.addCleanup(d.cleanup)
        d.start()
        d.json("add", "calls", "--csv", d.write_file("c.csv", contacts_csv(CONTACTS)))
        d.json("sequence", "activate", "calls")
        d.json("time", "advance", "1m")
        tasks = d.json("tasks")["tasks"]
        self.assertEqual(len(tasks), CONTACTS)
        for task in tasks:
            d.json("task", "complete", str(task["id"]))
        def listed():
            rows = d.json("tasks")["tasks"]
            self.assertEqual(sorted(t["id"] for t in rows), sorted(t["id"] for t in tasks))
            self.assertEqual({t["state"] for t in rows}, {"completed"})
            self.assertEqual({t["type"] for t in rows}, {"call"})
            return rows
        listed()
        oldest = min(t["id"] for t in tasks)
        again = d.seqctl("task", "complete", str(oldest))
        self.assertEqual(again.returncode, 1)
        self.assertIn("archived", again.stderr)
        d.json("time", "advance", "2h")  # every contact went on past its call
        self.assertEqual(len(d.messages()), CONTACTS)
        d.stop()
        d.start()
        listed()
        owned = d.json("tasks", "--seq", "calls")["tasks"]
        self.assertEqual(len(owned), CONTACTS)
        # --state: the to-do list is empty; every done one, archived or not, is completed.
        self.assertEqual(d.json("tasks", "--state", "open")["tasks"], [])
        done = d.json("tasks", "--seq", "calls", "--state", "completed")["tasks"]
        self.assertEqual(sorted(t["id"] for t in done), sorted(t["id"] for t in tasks))
        self.assertEqual(d.json("tasks", "--state", "skipped")["tasks"], [])
        bad = d.seqctl("tasks", "--state", "done")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--state: unknown task state 'done'", bad.stderr)


if __name__ == "__main__":
    harness.main()
