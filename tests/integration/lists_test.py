"""Proves Apollo's "add from list" through seqctl on a real seqd: `import --list` puts the good
rows' contacts in a list and never takes anyone out, `lists` and `list show` show it, `list
add|remove` change it (unknown contacts and non-members skipped, exit 3; an unknown list exit
1), `add SEQ --list NAME...` enrolls the members with the usual warnings and `--dry-run`, and
lists survive a restart.
"""
import json
import os
import pwd
import unittest

import harness
from harness import Daemon

CONTACTS = """\
email,first_name,company,score,email_status
ada@example.test,Ada,Acme,72,verified
bob@example.test,Bob,Globex,65,unverified
cy@example.test,Cy,Initech,40,verified
"""

MORE = """\
email,first_name,company,score
dee@example.test,Dee,Hooli,90
ada@example.test,Ada,Acme,75
bad-row-without-email,,,
"""


class Lists(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def members(self, name):
        return [c["contact"] for c in self.d.json("list", "show", name)["contacts"]]

    def test_import_list_show_add_remove_and_restart(self):
        d = self.d
        imported = d.json("import", d.write_file("c.csv", CONTACTS), "--list", "inbound")
        self.assertEqual(imported["imported"], 3)
        self.assertEqual(imported["list_added"], 3)
        # A second file adds its good rows' contacts; nobody leaves the list.
        more = d.seqctl("--json", "import", d.write_file("m.csv", MORE), "--list", "inbound")
        self.assertEqual(more.returncode, 3, more.stderr)
        self.assertEqual(self.members("inbound"), ["ada@example.test", "bob@example.test",
                                                   "cy@example.test", "dee@example.test"])
        lists = d.json("lists")["lists"]
        me = pwd.getpwuid(os.geteuid()).pw_name
        self.assertEqual(lists, [{"name": "inbound", "owner": me, "contacts": 4}])
        self.assertIn("inbound", d.seqctl("lists").stdout)

        removed = d.seqctl("--json", "list", "remove", "inbound", "cy@example.test", "zed@x.test")
        self.assertEqual(removed.returncode, 3, removed.stderr)
        self.assertIn('"reason":"unknown_contact"', removed.stdout)
        again = d.seqctl("list", "remove", "inbound", "cy@example.test")
        self.assertEqual(again.returncode, 3, again.stderr)
        self.assertIn("skipped cy@example.test: not_in_list", again.stdout)
        added = d.seqctl("list", "add", "vip", "dee@example.test", "nobody@example.test")
        self.assertEqual(added.returncode, 3, added.stderr)
        self.assertIn("skipped nobody@example.test: unknown_contact", added.stdout)
        self.assertEqual(self.members("vip"), ["dee@example.test"])
        self.assertEqual(d.seqctl("list", "show", "nope").returncode, 1)
        self.assertEqual(d.seqctl("list", "remove", "nope", "ada@example.test").returncode, 1)
        bad_name = d.seqctl("list", "add", "no spaces")
        self.assertEqual(bad_name.returncode, 2, bad_name.stderr)
        self.assertIn("letters, digits", bad_name.stderr)

        d.stop()
        d.start()
        self.assertEqual(self.members("inbound"), ["ada@example.test", "bob@example.test",
                                                   "dee@example.test"])
        self.assertEqual(self.members("vip"), ["dee@example.test"])

    def test_add_from_list_with_warnings_and_dry_run(self):
        d = self.d
        d.json("import", d.write_file("c.csv", CONTACTS), "--list", "inbound")
        d.json("list", "add", "vip", "cy@example.test")
        preview = d.seqctl("--json", "add", "two-emails", "--list", "inbound", "vip", "--dry-run")
        self.assertEqual(preview.returncode, 3, preview.stderr)
        self.assertEqual(d.json("status", "two-emails")["contacts"], [])  # dry run: nothing
        result = d.seqctl("--json", "add", "two-emails", "--list", "inbound", "vip")
        self.assertEqual(result.returncode, 3, result.stderr)
        added = json.loads(result.stdout)
        self.assertEqual(sorted(added["added"]), ["ada@example.test", "cy@example.test"])
        self.assertEqual(added["skipped"], [{"contact": "bob@example.test",
                                             "warnings": ["unverified_email"]}])
        self.assertEqual(len(d.json("status", "two-emails")["contacts"]), 2)
        unknown = d.seqctl("add", "two-emails", "--list", "nope")
        self.assertEqual(unknown.returncode, 1, unknown.stderr)
        self.assertIn("unknown list 'nope'", unknown.stderr)


if __name__ == "__main__":
    harness.main()
