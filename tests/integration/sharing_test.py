"""Proves Apollo's "share can edit" with real OS accounts (useradd, runuser): the sequence's
owner shares it with a colleague, who may then change its contacts and activate it like the
owner but may not share it on; another user may only read (exit 4); an admin may share and
unshare too; `sequence show` lists who can edit; shares are kept across a restart, and
unsharing takes the right away again.
"""
import os
import unittest

import harness
from harness import Daemon, contacts_csv, ensure_account
from permissions_test import GROUP, OTHER, OWNED_SEQUENCE, OWNER, PERMISSIONS_YAML

EDITOR = "seqdtesteditor"  # the sequence gets shared with this user


class Sharing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        ensure_account(OWNER, [GROUP])
        ensure_account(OTHER, [GROUP])
        ensure_account(EDITOR, [GROUP])

    def setUp(self):
        self.d = Daemon(sequences={"two-emails": OWNED_SEQUENCE}, seqd_yaml=PERMISSIONS_YAML)
        self.addCleanup(self.d.cleanup)
        os.chmod(self.d.root, 0o755)
        self.d.start()
        self.csv = self.d.write_file("c.csv", contacts_csv(3))
        os.chmod(self.csv, 0o644)

    def code(self, user, *args):
        result = self.d.seqctl_as(user, *args)
        return result.returncode

    def test_owner_shares_editor_edits_other_reads_admin_unshares(self):
        d = self.d
        self.assertEqual(self.code(EDITOR, "add", "two-emails", "--csv", self.csv), 4)
        # Only the owner or an admin may share.
        denied = d.seqctl_as(OTHER, "sequence", "share", "two-emails", OTHER)
        self.assertEqual(denied.returncode, 4, denied.stderr)
        self.assertIn("permission denied", denied.stderr)
        shared = d.json_as(OWNER, "sequence", "share", "two-emails", EDITOR)
        self.assertEqual(shared["shared_with"], [EDITOR])
        show = d.json_as(OTHER, "sequence", "show", "two-emails")
        self.assertEqual(show["can_edit"], [OWNER, EDITOR])
        self.assertIn("can edit: %s, %s" % (OWNER, EDITOR),
                      d.seqctl_as(OTHER, "sequence", "show", "two-emails").stdout)

        # The shared editor may do what the owner may.
        self.assertEqual(self.code(EDITOR, "add", "two-emails", "--csv", self.csv), 0)
        self.assertEqual(self.code(EDITOR, "sequence", "activate", "two-emails"), 0)
        self.assertEqual(self.code(EDITOR, "pause", "two-emails", "person0@example.test"), 0)
        self.assertEqual(self.code(EDITOR, "resume", "two-emails", "person0@example.test"), 0)
        self.assertEqual(self.code(EDITOR, "event", "reply", "person1@example.test"), 0)
        # ... but may not share it on; the other user still only reads.
        self.assertEqual(self.code(EDITOR, "sequence", "share", "two-emails", OTHER), 4)
        self.assertEqual(self.code(OTHER, "pause", "two-emails", "person0@example.test"), 4)
        self.assertEqual(self.code(OTHER, "remove", "two-emails", "person2@example.test"), 4)
        self.assertEqual(self.code(OTHER, "status", "two-emails"), 0)

        d.stop()
        d.start()
        self.assertEqual(d.json("sequence", "show", "two-emails")["shared_with"], [EDITOR])
        self.assertEqual(self.code(EDITOR, "pause", "two-emails", "person2@example.test"), 0)
        # An admin (root) may unshare; the right is gone at once.
        unshared = d.json("sequence", "unshare", "two-emails", EDITOR)
        self.assertEqual(unshared["shared_with"], [])
        self.assertEqual(self.code(EDITOR, "resume", "two-emails", "person2@example.test"), 4)
        self.assertEqual(d.json("sequence", "show", "two-emails")["can_edit"], [OWNER])
        self.assertIn("by " + EDITOR, d.log())


if __name__ == "__main__":
    harness.main()
