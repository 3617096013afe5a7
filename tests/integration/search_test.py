"""Proves Apollo's "add from search results" works through seqctl on a real seqd:
`contacts --where EXPR [--limit N]` lists what a search matches, `add SEQ --where EXPR` enrolls
it with the same warnings and `--dry-run` as any add, a syntax error names its position
(exit 2), an unknown sequence in `in_sequence` is exit 1, and `contact show` lists the
sequences a contact is in with status and step.
"""
import unittest

import harness
from harness import Daemon

CONTACTS = """\
email,first_name,last_name,company,score,stage,timezone
ada@example.test,Ada,Lovelace,Acme Corp,72,new,Asia/Tokyo
bob@example.test,Bob,Stone,Globex,65,won,
cy@example.test,Cy,Young,acme labs,40,new,
dee@example.test,Dee,Park,Initech,90,new,Europe/Berlin
"""


class Search(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.d.start()
        self.d.json("import", self.d.write_file("c.csv", CONTACTS))

    def keys(self, *where):
        return [c["contact"] for c in self.d.json("contacts", *where)["contacts"]]

    def test_contacts_where_and_limit(self):
        d = self.d
        self.assertEqual(self.keys(), ["ada@example.test", "bob@example.test", "cy@example.test",
                                       "dee@example.test"])
        self.assertEqual(self.keys("--where", "score>=60 and stage=new"),
                         ["ada@example.test", "dee@example.test"])
        self.assertEqual(self.keys("--where", "company~ACME or timezone=Europe/Berlin"),
                         ["ada@example.test", "cy@example.test", "dee@example.test"])
        limited = d.json("contacts", "--where", "stage=new", "--limit", "2")
        self.assertEqual(limited["matched"], 3)
        self.assertEqual(len(limited["contacts"]), 2)
        # --json uses the table's column names (NAME, COMPANY, ...), as SPEC §4 says.
        ada = limited["contacts"][0]
        self.assertEqual((ada["contact"], ada["name"], ada["company"], ada["score"],
                          ada["stage"], ada["timezone"]),
                         ("ada@example.test", "Ada Lovelace", "Acme Corp", 72, "new", "Asia/Tokyo"))
        table = d.seqctl("contacts", "--where", "stage=new", "--limit", "2").stdout
        self.assertIn("Ada Lovelace", table)
        self.assertIn("2 of 3 matching contacts shown", table)

        bad = d.seqctl("contacts", "--where", "score>=60 and")
        self.assertEqual(bad.returncode, 2, bad.stderr)
        self.assertIn("position 14: expected a field name at the end", bad.stderr)
        for command in (["contacts"], ["status", "two-emails"]):
            for limit in ("x", "-1", "3rows"):
                refused = d.seqctl(*command, "--limit", limit)
                self.assertEqual(refused.returncode, 2, (command, limit, refused.stderr))
                self.assertIn("--limit wants a number", refused.stderr)
        unknown = d.seqctl("contacts", "--where", "in_sequence=nope")
        self.assertEqual(unknown.returncode, 1, unknown.stderr)
        self.assertIn("unknown sequence 'nope'", unknown.stderr)

    def test_add_where_enrolls_the_matches_and_contact_show_lists_sequences(self):
        d = self.d
        preview = d.json("add", "two-emails", "--where", "score>=60 and stage=new", "--dry-run")
        self.assertEqual(sorted(preview["added"]), ["ada@example.test", "dee@example.test"])
        self.assertEqual(d.json("status", "two-emails")["contacts"], [])  # dry run: nothing

        added = d.json("add", "two-emails", "--where", "score>=60 and stage=new")
        self.assertEqual(sorted(added["added"]), ["ada@example.test", "dee@example.test"])
        self.assertEqual(self.keys("--where", "in_sequence=two-emails"),
                         ["ada@example.test", "dee@example.test"])
        self.assertEqual(self.keys("--where", "in_sequence!=two-emails and company~acme"),
                         ["cy@example.test"])
        # Adding the same search again skips those already in, with the usual warning (exit 3).
        again = d.seqctl("--json", "add", "two-emails", "--where", "stage=new")
        self.assertEqual(again.returncode, 3, again.stdout + again.stderr)

        d.json("sequence", "activate", "two-emails")
        d.json("time", "advance", "1h")
        # 15:00Z: Berlin's afternoon window is open (Tokyo's night is not).
        shown = d.json("contact", "show", "dee@example.test")
        self.assertEqual(len(shown["sequences"]), 1)
        row = shown["sequences"][0]
        self.assertEqual((row["sequence"], row["status"], row["step"], row["step_index"]),
                         ("two-emails", "scheduled", "again", 1))
        self.assertIsNotNone(row["next_at"])
        text = d.seqctl("contact", "show", "dee@example.test").stdout
        self.assertIn("two-emails", text)
        self.assertIn("again", text)
        self.assertEqual(d.json("contact", "show", "bob@example.test")["sequences"], [])

    def test_add_where_with_a_syntax_error_adds_nothing(self):
        d = self.d
        bad = d.seqctl("add", "two-emails", "--where", "score>>1")
        self.assertEqual(bad.returncode, 2, bad.stderr)
        self.assertIn("position 6", bad.stderr)
        self.assertEqual(d.json("status", "two-emails")["contacts"], [])


if __name__ == "__main__":
    harness.main()
