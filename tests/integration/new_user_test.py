"""Proves the defects a new user ran into, following Apollo's "add contacts to a sequence"
end to end, stay fixed: `--map` naming a column the file does not have is refused before
anything is imported; the status table and JSON show only the reason of the status a contact
has now (not a stale pause reason after a finish); `explain` numbers steps from 0 as `status`
does, and says a contact waits for mailbox capacity, not for a task, when that is what holds it.
"""
import unittest

import harness
from harness import Daemon, contacts_csv

LIMITED_YAML = harness.seqd_yaml(mailboxes=harness.alice_mailbox(hourly_limit=1))


class NewUser(unittest.TestCase):
    def start(self, **kwargs):
        d = Daemon(**kwargs)
        self.addCleanup(d.cleanup)
        d.start()
        return d

    def test_map_renames_columns_and_a_column_the_file_lacks_is_refused(self):
        d = self.start()
        path = d.write_file("apollo.csv", "E-mail Address,Given,Score\n"
                                          "ada@example.test,Ada,70\n")
        imported = d.seqctl("import", path, "--map", "E-mail Address=email",
                            "--map", "Given=first_name")
        self.assertEqual(imported.returncode, 0, imported.stderr)
        self.assertEqual(d.json("contact", "show", "ada@example.test")["first_name"], "Ada")

        path = d.write_file("typo.csv", "email,Given\ngrace@example.test,Grace\n")
        refused = d.seqctl("import", path, "--map", "Givn=first_name")
        self.assertEqual(refused.returncode, 1, refused.stdout + refused.stderr)
        self.assertIn("--map Givn=first_name", refused.stderr)
        self.assertIn("no column 'Givn'", refused.stderr)
        self.assertIn("email, Given", refused.stderr)
        self.assertEqual(d.seqctl("contact", "show", "grace@example.test").returncode, 1)
        # add --csv checks its header the same way, before anything is enrolled.
        refused = d.seqctl("add", "two-emails", "--csv", path, "--map", "Givn=first_name")
        self.assertEqual(refused.returncode, 1, refused.stdout + refused.stderr)
        self.assertEqual(d.json("status", "two-emails")["contacts"], [])

    def test_status_shows_only_the_reason_of_the_status_now(self):
        d = self.start()
        d.json("add", "two-emails", "--csv", d.write_file("c.csv", contacts_csv(3)))
        d.json("sequence", "activate", "two-emails")
        d.json("time", "advance", "1h")
        paused, finished, bounced = ["person%d@example.test" % i for i in range(3)]
        d.json("pause", "two-emails", paused, finished)
        d.json("finish", "two-emails", finished, "--reason", "won the deal")
        d.json("event", "bounce", bounced, "--seq", "two-emails")
        rows = {r["contact"]: r for r in d.json("status", "two-emails")["contacts"]}
        self.assertEqual((rows[paused]["status"], rows[paused]["paused_reason"]),
                         ("paused", "manual"))
        self.assertEqual(rows[finished]["status"], "finished")
        self.assertEqual(rows[finished]["finish_reason"], "manual:won the deal")
        self.assertIsNone(rows[finished]["paused_reason"], rows[finished])
        self.assertIsNone(rows[bounced]["paused_reason"], rows[bounced])
        table = d.seqctl("status", "two-emails").stdout
        line = next(l for l in table.splitlines() if l.startswith(finished))
        self.assertTrue(line.rstrip().endswith("manual:won the deal"), line)
        self.assertNotIn("  manual\n", line + "\n")

    def test_explain_numbers_steps_as_status_does(self):
        d = self.start()
        d.json("add", "two-emails", "--csv", d.write_file("c.csv", contacts_csv(1)))
        d.json("sequence", "activate", "two-emails")
        d.json("time", "advance", "1h")
        key = "person0@example.test"
        row = d.json("status", "two-emails")["contacts"][0]
        self.assertEqual((row["step"], row["step_index"]), ("again", 1))
        explained = d.seqctl("explain", "two-emails", key).stdout
        self.assertIn("step 'again' (step_index 1, auto_email)", explained)
        self.assertNotIn("step 2", explained)

    def test_explain_says_a_contact_waits_for_mailbox_capacity(self):
        d = self.start(seqd_yaml=LIMITED_YAML)
        d.json("add", "two-emails", "--csv", d.write_file("c.csv", contacts_csv(3)))
        d.json("sequence", "activate", "two-emails")
        d.json("time", "advance", "1m")
        self.assertEqual(len(d.messages()), 1)
        waiting = d.json("status", "two-emails", "--status", "active")["contacts"]
        self.assertEqual(len(waiting), 2, waiting)
        for row in waiting:
            explained = d.seqctl("explain", "two-emails", row["contact"]).stdout
            self.assertIn("waits for mailbox capacity until 2026-12-01T15:00:00Z", explained)
            self.assertNotIn("task", explained)


if __name__ == "__main__":
    harness.main()
