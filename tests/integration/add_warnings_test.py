"""Proves the add-time warnings as Apollo shows them, through seqctl on a real seqd:
`invalid_email` (not an RFC 5322 addr-spec) is enrolled only with --force, not with
--skip-validation; `in_other_sequence` names the other sequences; `mailbox_owner` comes when
the add sends from a mailbox another user owns; a bare `--rotate` rotates every mailbox the
caller may use (its own and unowned ones); and `add --dry-run` changes nothing at all:
contacts, lists and enrollments are the same before and after.
"""
import json
import os
import pwd
import unittest

import harness
from harness import Daemon

ME = pwd.getpwuid(os.geteuid()).pw_name

MAILBOXES = harness.alice_mailbox() + """\
  - address: team@acme.test
    name: Team
    transport: maildir
    daily_limit: 1000
    hourly_limit: 1000
  - address: mine@acme.test
    name: Mine
    owner: %s
    transport: maildir
    daily_limit: 1000
    hourly_limit: 1000
""" % ME

OTHER_YAML = harness.always_open(harness.TWO_EMAILS_YAML).replace(
    "id: two-emails", "id: other").replace("owner: alice", "owner: " + ME)
MAIN_YAML = harness.always_open(harness.TWO_EMAILS_YAML).replace("owner: alice", "owner: " + ME)

CONTACTS = """\
email,first_name,score
ada@example.test,Ada,70
bad..dots@example.test,Bad,60
cy@example.test,Cy,50
dee@example.test,Dee,40
"""


class AddWarnings(unittest.TestCase):
    def setUp(self):
        self.d = Daemon(sequences={"two-emails": MAIN_YAML, "other": OTHER_YAML},
                        seqd_yaml=harness.seqd_yaml(mailboxes=MAILBOXES))
        self.addCleanup(self.d.cleanup)
        self.d.start()
        self.d.json("import", self.d.write_file("c.csv", CONTACTS))

    def add(self, *args, expect=0):
        result = self.d.seqctl("--json", "add", "two-emails", *args)
        self.assertEqual(result.returncode, expect, result.stdout + result.stderr)
        return json.loads(result.stdout)

    def test_invalid_email_and_in_other_sequence(self):
        d = self.d
        d.json("add", "other", "--contact", "ada@example.test")
        result = self.add("--contact", "ada@example.test", "bad..dots@example.test", expect=3)
        self.assertEqual(result["added"], [])
        self.assertEqual(result["skipped"], [
            {"contact": "ada@example.test", "warnings": ["in_other_sequence"],
             "other_sequences": ["other"]},
            {"contact": "bad..dots@example.test", "warnings": ["invalid_email"]}])
        human = d.seqctl("add", "two-emails", "--contact", "ada@example.test")
        self.assertIn("skipped ada@example.test: in_other_sequence (in other)", human.stdout)
        skipped = self.add("--contact", "bad..dots@example.test", "--skip-validation", expect=3)
        self.assertEqual(skipped["added"], [])
        forced = self.add("--contact", "bad..dots@example.test", "ada@example.test", "--force")
        self.assertEqual(sorted(forced["added"]), ["ada@example.test", "bad..dots@example.test"])

    def test_mailbox_owner_and_bare_rotate(self):
        d = self.d
        owned = self.add("--contact", "ada@example.test", "--mailbox", "alice@acme.test",
                         expect=3)
        self.assertEqual(owned["skipped"], [{"contact": "ada@example.test",
                                             "warnings": ["mailbox_owner"]}])
        self.add("--contact", "ada@example.test", "--mailbox", "team@acme.test")
        # Bare --rotate: mine@ (owned by the caller) and team@ (nobody's), never alice@.
        rotated = self.add("--contact", "cy@example.test", "dee@example.test", "--rotate")
        self.assertEqual(sorted(rotated["added"]), ["cy@example.test", "dee@example.test"])
        d.json("sequence", "activate", "two-emails")
        d.json("time", "advance", "1m")
        self.assertEqual(d.messages("alice@acme.test"), [])
        senders = {m["To"].addresses[0].addr_spec: str(m["From"]) for box in ("team@acme.test", "mine@acme.test")
                   for m in d.messages(box)}
        self.assertEqual(sorted(senders), ["ada@example.test", "cy@example.test",
                                           "dee@example.test"])
        self.assertEqual({senders["cy@example.test"], senders["dee@example.test"]},
                         {"Team <team@acme.test>", "Mine <mine@acme.test>"})

    def test_dry_run_changes_nothing_at_all(self):
        d = self.d
        d.json("list", "add", "inbound", "ada@example.test", "cy@example.test")
        new_rows = d.write_file("n.csv", "email,first_name,score\nada@example.test,Changed,99\n"
                                         "zed@example.test,Zed,80\n")

        def snapshot():
            return (d.json("contacts"), d.json("lists"), d.json("list", "show", "inbound"),
                    d.json("status", "two-emails"), d.json("status", "other"))

        before = snapshot()
        preview = self.add("--csv", new_rows, "--list", "inbound", "--where", "score>=50",
                           "--dry-run", expect=3)  # bad..dots matches: invalid_email
        self.assertIn("zed@example.test", preview["added"])
        self.assertEqual(snapshot(), before)


if __name__ == "__main__":
    harness.main()
