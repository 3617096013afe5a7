"""Proves the caller is the OS user on the other end of the control socket (SO_PEERCRED), with
real accounts made by useradd: anyone in the socket's group may read, only the sequence's owner
or an admin may change its contacts or activate it (exit 4 otherwise), and the socket file is
mode 0660 in the configured group."""
import grp
import os
import stat
import unittest

import harness
from harness import Daemon, contacts_csv, ensure_account

GROUP = "seqdtest"
OWNER = "seqdtestowner"    # owns the sequence
OTHER = "seqdtestother"    # may connect, owns nothing
OUTSIDER = "seqdtestout"   # not in the socket's group

PERMISSIONS_YAML = """\
state_dir: {root}/state
control_socket: {root}/ctl.sock
socket_group: seqdtest
admins: [root]
delivery:
  maildir: {{dir: {root}/outbox}}
mailboxes:
  - address: alice@acme.test
    name: Alice Smith
    transport: maildir
    daily_limit: 1000
    hourly_limit: 1000
"""

OWNED_SEQUENCE = harness.TWO_EMAILS_YAML.replace("owner: alice", "owner: " + OWNER)


class Permissions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        ensure_account(OWNER, [GROUP])
        ensure_account(OTHER, [GROUP])
        ensure_account(OUTSIDER, [])

    def setUp(self):
        self.d = Daemon(sequences={"two-emails": OWNED_SEQUENCE}, seqd_yaml=PERMISSIONS_YAML)
        self.addCleanup(self.d.cleanup)
        os.chmod(self.d.root, 0o755)
        self.d.start()
        self.csv = self.d.write_file("c.csv", contacts_csv(2))
        os.chmod(self.csv, 0o644)

    def as_user(self, user, *args):
        return self.d.seqctl_as(user, *args)

    def test_socket_file_is_0660_in_the_configured_group(self):
        info = os.stat(self.d.socket)
        self.assertEqual(stat.S_IMODE(info.st_mode), 0o660)
        self.assertEqual(info.st_gid, grp.getgrnam(GROUP).gr_gid)
        self.assertEqual(self.as_user(OUTSIDER, "ping").returncode, 5)

    def test_owner_may_change_others_may_only_read(self):
        denied = self.as_user(OTHER, "add", "two-emails", "--csv", self.csv)
        self.assertEqual(denied.returncode, 4, denied.stderr)
        self.assertIn("permission denied", denied.stderr)
        self.assertEqual(self.as_user(OTHER, "sequence", "activate", "two-emails").returncode, 4)
        added = self.as_user(OWNER, "add", "two-emails", "--csv", self.csv)
        self.assertEqual(added.returncode, 0, added.stderr)
        self.assertEqual(self.as_user(OWNER, "sequence", "activate", "two-emails").returncode, 0)
        self.assertEqual(self.as_user(OTHER, "status", "two-emails").returncode, 0)
        self.assertEqual(self.as_user(OTHER, "pause", "two-emails",
                                      "person0@example.test").returncode, 4)
        # root is an admin.
        self.assertEqual(self.d.seqctl("pause", "two-emails", "person0@example.test").returncode,
                         0)
        self.assertIn("by " + OTHER, self.d.log())


if __name__ == "__main__":
    harness.main()
