"""Proves Apollo's "automate adding" through seqctl on a real seqd under virtual time: a
sequence's `workflows:` enrolls the list's members that pass min_score and the `where` EXPR
every `every`, as the owner would (contacts with warnings skipped and counted, never forced),
each member once; `seqctl workflows` shows the last run, added and skipped counts; the counts
and what was considered survive a restart; a workflow naming a list that does not exist is a
config error with file:line:col (reload rejected, the running config stays).
"""
import json
import os
import unittest

import harness
from harness import Daemon

WORKFLOW = """\
workflows:
  - {from_list: inbound, min_score: 60, where: "company!~test", every: 15m}
"""
SEQUENCE = harness.TWO_EMAILS_YAML + WORKFLOW

CONTACTS = """\
email,first_name,company,score,email_status
ada@example.test,Ada,Acme,72,verified
bob@example.test,Bob,Globex,65,unverified
cy@example.test,Cy,Initech,40,verified
dee@example.test,Dee,Test Corp,90,verified
"""


class Workflows(unittest.TestCase):
    def setUp(self):
        # The list must exist before the workflow that names it: start without it, then reload.
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.d.start()
        self.seq_path = os.path.join(self.d.root, "sequences", "two-emails.yaml")

    def workflow(self):
        rows = self.d.json("workflows")["workflows"]
        self.assertEqual(len(rows), 1)
        return rows[0]

    def status(self):
        return sorted(c["contact"] for c in self.d.json("status", "two-emails")["contacts"])

    def test_unknown_list_and_bad_where_are_config_errors(self):
        d = self.d
        with open(self.seq_path, "w") as f:
            f.write(SEQUENCE.replace("company!~test", "company!~test corp"))
        rejected = d.seqctl("reload")
        self.assertEqual(rejected.returncode, 1, rejected.stderr)
        self.assertIn("two-emails.yaml:18:48: workflow 1: where: position 15: expected 'and'",
                      rejected.stderr)
        with open(self.seq_path, "w") as f:
            f.write(SEQUENCE)
        rejected = d.seqctl("reload")
        self.assertEqual(rejected.returncode, 1, rejected.stderr)
        self.assertIn("two-emails.yaml:18:17: workflow: from_list", rejected.stderr)
        self.assertIn("from_list 'inbound' is not a list", rejected.stderr)
        self.assertEqual(d.json("workflows")["workflows"], [])

    def test_runs_every_interval_adds_passing_members_once(self):
        d = self.d
        d.json("import", d.write_file("c.csv", CONTACTS), "--list", "inbound")
        with open(self.seq_path, "w") as f:
            f.write(SEQUENCE)
        d.json("reload")
        self.assertIsNone(self.workflow()["last_run"])
        d.json("time", "advance", "1m")  # the first run: at the first advance after the load
        run = self.workflow()
        self.assertEqual(run["last_run"], "2026-12-01T14:00:00Z")
        self.assertEqual(run["next_run"], "2026-12-01T14:15:00Z")
        # ada passes; bob passes the filter but is unverified (skipped, never forced); cy is
        # under 60; dee fails the where.
        self.assertEqual(self.status(), ["ada@example.test"])
        self.assertEqual((run["added"], run["skipped"]), (1, 1))
        self.assertIn("inbound", d.seqctl("workflows").stdout)

        # New members join the list; nothing runs before the interval is up.
        d.json("import", d.write_file("m.csv", "email,first_name,score\neve@example.test,Eve,80\n"
                                               "fay@example.test,Fay,61\n"), "--list", "inbound")
        d.json("contact", "set", "cy@example.test", "score=70")
        d.json("time", "advance", "10m")
        self.assertEqual(self.workflow()["added"], 1)
        d.json("time", "advance", "5m")
        run = self.workflow()
        self.assertEqual(self.status(), ["ada@example.test", "cy@example.test",
                                         "eve@example.test", "fay@example.test"])
        # bob was considered once: not skipped again.
        self.assertEqual((run["added"], run["skipped"], run["last_added"]), (4, 1, 3))

        d.stop()
        d.start(virtual_time="2026-12-01T14:15:00Z")
        run = self.workflow()
        self.assertEqual((run["added"], run["skipped"]), (4, 1))
        self.assertEqual(run["next_run"], "2026-12-01T14:30:00Z")
        d.json("time", "advance", "20m")
        run = self.workflow()
        self.assertEqual((run["added"], run["skipped"], run["last_added"]), (4, 1, 0))
        self.assertEqual(run["last_run"], "2026-12-01T14:30:00Z")


if __name__ == "__main__":
    harness.main()
