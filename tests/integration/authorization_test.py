"""Proves SPEC §3 rule 11 on every command that changes something, with real OS accounts made by
useradd: the sequence's owner (who also owns its contacts), another user who may connect, and an
admin named in the config's `admins`. For each command the other user gets exit 4 and `permission
denied`, and nothing changes (status, contacts, tasks, sequences and clock read the same before
and after); the owner and the admin succeed. Among them the bugs this fixed: a refused
`add --csv` and any `add --csv --dry-run` stored their contacts; anyone could `contact set` or
re-import another user's contact, send events to sequences they cannot edit, `reload` and move
the virtual clock."""
import json
import os
import unittest

import harness
from harness import Daemon, ensure_account

GROUP = "seqdtest"
OWNER = "seqdtestowner"    # owns the sequences and the contacts
OTHER = "seqdtestother"    # may connect, owns nothing
ADMIN = "seqdtestadmin"    # in the config's admins

AUTHZ_YAML = """\
state_dir: {root}/state
control_socket: {root}/ctl.sock
socket_group: seqdtest
admins: [root, seqdtestadmin]
delivery:
  maildir: {{dir: {root}/outbox}}
mailboxes:
  - address: alice@acme.test
    name: Alice Smith
    transport: maildir
    daily_limit: 1000
    hourly_limit: 1000
  - address: alice2@acme.test
    name: Alice Smith
    transport: maildir
    daily_limit: 1000
    hourly_limit: 1000
"""

# The first email waits a day, so nothing is sent while the tests run.
OUTREACH_YAML = """\
id: outreach
name: Outreach
owner: seqdtestowner
schedule: business-hours
mailboxes: [alice@acme.test]
rules:
  block_stages: [disqualified]
  finish_on: [reply, meeting_booked, unsubscribe]
  pause_on_ooo: true
steps:
  - id: hello
    type: auto_email
    wait: 1d
    subject: "Hello {{first_name}}"
    body: "Hi {{first_name|there}}."
  - id: again
    type: auto_email
    wait: 1d
    subject: "Again, {{first_name}}"
    body: "Hi again."
"""

CALLS_YAML = """\
id: calls
name: Calls
owner: seqdtestowner
schedule: business-hours
mailboxes: [alice@acme.test]
steps:
  - id: call
    type: task
    wait: 0m
    note: "Call {{first_name}}"
"""

# The same sequence, owned by the other user.
THEIRS_YAML = OUTREACH_YAML.replace("id: outreach", "id: theirs").replace(
    "owner: seqdtestowner", "owner: seqdtestother")

ENROLLED = ["p%d@example.test" % i for i in range(4)]
NEW = ["n%d@example.test" % i for i in range(4)]   # never imported in setUp
UNOWNED = "u0@example.test"


def csv_text(emails, owner=OWNER, email_status=""):
    lines = ["email,first_name,owner,email_status"]
    for address in emails:
        lines.append("%s,%s,%s,%s" % (address, address.split("@")[0].upper(), owner, email_status))
    return "\n".join(lines) + "\n"


class Authorization(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        for user in (OWNER, OTHER, ADMIN):
            ensure_account(user, [GROUP])

    def setUp(self):
        self.d = Daemon(sequences={"outreach": OUTREACH_YAML, "calls": CALLS_YAML,
                                   "theirs": THEIRS_YAML}, seqd_yaml=AUTHZ_YAML)
        self.addCleanup(self.d.cleanup)
        os.chmod(self.d.root, 0o755)
        self.d.start()
        self.done(OWNER, "import", self.csv("setup.csv", csv_text(ENROLLED)))
        self.done(OWNER, "import", self.csv("unowned.csv", csv_text([UNOWNED], owner="")))
        self.done(OWNER, "add", "outreach", "--contact", *ENROLLED)
        self.done(OWNER, "add", "calls", "--contact", ENROLLED[0], ENROLLED[1], "--force")
        self.done(OWNER, "sequence", "activate", "outreach")
        self.done(OWNER, "sequence", "activate", "calls")
        self.done("root", "time", "advance", "1m")  # the calls' tasks fall due

    def csv(self, name, text):
        path = self.d.write_file(name, text)
        os.chmod(path, 0o644)
        return path

    def done(self, user, *args, expect=0):
        result = self.d.seqctl_as(user, *args)
        self.assertEqual(result.returncode, expect, "%s %s: %s %s" % (
            user, " ".join(args), result.stdout, result.stderr))
        return result

    def snapshot(self):
        """Everything a command could change, as the daemon reports it."""
        d = self.d
        contacts = {}
        for key in ENROLLED + NEW + [UNOWNED]:
            shown = d.seqctl("--json", "contact", "show", key)
            contacts[key] = (shown.returncode, shown.stdout)
        return {"status": {seq: d.json("status", seq) for seq in ("outreach", "calls", "theirs")},
                "contacts": contacts, "tasks": d.json("tasks"), "sequences": d.json("sequences"),
                "time": d.json("time")}

    def refused(self, user, *args):
        before = self.snapshot()
        result = self.d.seqctl_as(user, *args)
        self.assertEqual(result.returncode, 4, "%s %s: %s %s" % (
            user, " ".join(args), result.stdout, result.stderr))
        self.assertIn("permission denied", result.stderr)
        self.assertEqual(self.snapshot(), before, "%s %s changed something" % (user, args))

    def status_of(self, sequence, contact):
        for row in self.d.json("status", sequence)["contacts"]:
            if row["contact"] == contact:
                return row
        return None

    def contact(self, key):
        return self.d.json("contact", "show", key)

    # --- contacts -------------------------------------------------------------------------

    def test_import_of_an_existing_contact_needs_its_owner_or_an_admin(self):
        path = self.csv("change.csv", "email,first_name\n%s,Hijacked\n%s,Fresh\n" % (
            ENROLLED[0], NEW[0]))
        result = self.d.seqctl_as(OTHER, "import", path)
        self.assertEqual(result.returncode, 3, result.stdout + result.stderr)
        self.assertIn("line 2: permission denied: contact '%s' is owned by '%s'" % (
            ENROLLED[0], OWNER), result.stdout)
        self.assertEqual(self.contact(ENROLLED[0])["first_name"], "P0")
        self.assertEqual(self.contact(NEW[0])["first_name"], "Fresh")  # new rows go in
        result = self.d.json_as(OTHER, "import", path, expect=3)
        self.assertEqual(result["errors"], [{"line": 2, "reason": "permission denied: contact '%s'"
                                             " is owned by '%s'" % (ENROLLED[0], OWNER)}])
        self.done(OWNER, "import", path)
        self.assertEqual(self.contact(ENROLLED[0])["first_name"], "Hijacked")
        self.done(ADMIN, "import", self.csv("admin.csv", "email,first_name\n%s,ByAdmin\n" %
                                            ENROLLED[0]))
        self.assertEqual(self.contact(ENROLLED[0])["first_name"], "ByAdmin")

    def test_a_contact_without_owner_may_be_edited_by_anyone(self):
        self.done(OTHER, "contact", "set", UNOWNED, "title=CTO")
        self.done(OTHER, "import", self.csv("u.csv", "email,company\n%s,Acme\n" % UNOWNED))
        self.assertEqual((self.contact(UNOWNED)["title"], self.contact(UNOWNED)["company"]),
                         ("CTO", "Acme"))

    def test_contact_set_needs_the_contacts_owner_or_an_admin(self):
        self.refused(OTHER, "contact", "set", ENROLLED[0], "email=thief@evil.test")
        self.refused(OTHER, "contact", "set", ENROLLED[0], "owner=" + OTHER)
        self.done(OWNER, "contact", "set", ENROLLED[0], "title=VP")
        self.done(ADMIN, "contact", "set", ENROLLED[0], "company=Acme")
        self.assertEqual((self.contact(ENROLLED[0])["title"], self.contact(ENROLLED[0])["company"]),
                         ("VP", "Acme"))
        # The owner may hand the contact over; then it is the new owner's to edit.
        self.done(OWNER, "contact", "set", ENROLLED[0], "owner=" + OTHER)
        self.done(OTHER, "contact", "set", ENROLLED[0], "title=CEO")
        self.refused(OWNER, "contact", "set", ENROLLED[0], "title=VP")

    # --- adding ---------------------------------------------------------------------------

    def test_add_contacts_needs_the_sequences_owner_or_an_admin(self):
        self.done(OWNER, "import", self.csv("new.csv", csv_text(NEW)))
        self.refused(OTHER, "add", "outreach", "--contact", NEW[0])
        self.done(OWNER, "add", "outreach", "--contact", NEW[0])
        self.done(ADMIN, "add", "outreach", "--contact", NEW[1], "--force")
        self.assertEqual(self.status_of("outreach", NEW[0])["status"], "scheduled")
        self.assertEqual(self.status_of("outreach", NEW[1])["status"], "scheduled")

    def test_refused_add_csv_stores_no_contact(self):
        path = self.csv("new.csv", csv_text(NEW[:2]))
        self.refused(OTHER, "add", "outreach", "--csv", path)
        self.refused(OTHER, "add", "outreach", "--csv", path, "--dry-run")
        self.done(OWNER, "add", "outreach", "--csv", path)
        self.assertEqual(self.status_of("outreach", NEW[0])["status"], "scheduled")
        self.done(ADMIN, "add", "outreach", "--csv", self.csv("admin.csv", csv_text(NEW[2:])),
                  "--force")
        self.assertEqual(self.status_of("outreach", NEW[3])["status"], "scheduled")

    def test_add_csv_dry_run_stores_nothing_and_previews_the_rows(self):
        path = self.csv("new.csv", csv_text(NEW[:2]) + "%s,N2,%s,unverified\n" % (NEW[2], OWNER))
        for user in (OWNER, ADMIN):
            before = self.snapshot()
            preview = self.d.json_as(user, "add", "outreach", "--csv", path, "--dry-run",
                                     expect=3)
            self.assertEqual(self.snapshot(), before, user + "'s dry run changed something")
            self.assertEqual(preview["added"], NEW[:2] if user == OWNER else [])
            warnings = {skip["contact"]: skip["warnings"] for skip in preview["skipped"]}
            # Warnings come from the rows as the file would leave them, not yet stored.
            self.assertIn("unverified_email", warnings[NEW[2]])
            if user == ADMIN:
                self.assertEqual(warnings[NEW[0]], ["owner_mismatch"])

    # --- operator commands ----------------------------------------------------------------

    def operator_matrix(self, command, *flags, expect_status=None, prepare=None):
        if prepare:
            prepare()
        self.refused(OTHER, command, "outreach", ENROLLED[0], *flags)
        self.done(OWNER, command, "outreach", ENROLLED[0], *flags)
        self.done(ADMIN, command, "outreach", ENROLLED[1], *flags)
        if expect_status:
            for contact in ENROLLED[:2]:
                self.assertEqual(self.status_of("outreach", contact)["status"], expect_status)

    def test_remove(self):
        self.operator_matrix("remove", expect_status="removed")

    def test_pause(self):
        self.operator_matrix("pause", expect_status="paused")

    def test_resume(self):
        self.operator_matrix("resume", expect_status="scheduled", prepare=lambda: self.done(
            "root", "pause", "outreach", *ENROLLED[:2]))

    def test_finish(self):
        self.operator_matrix("finish", "--reason", "met at a conference",
                             expect_status="finished")

    def test_retry(self):
        def bounce():
            for contact in ENROLLED[:2]:
                self.done("root", "event", "bounce", contact, "--seq", "outreach")
        self.operator_matrix("retry", expect_status="scheduled", prepare=bounce)

    def test_set_mailbox(self):
        self.operator_matrix("set-mailbox", "--rotate", "alice@acme.test,alice2@acme.test")

    def test_activate_and_deactivate(self):
        self.refused(OTHER, "sequence", "deactivate", "outreach")
        self.done(OWNER, "sequence", "deactivate", "outreach")
        self.refused(OTHER, "sequence", "activate", "outreach")
        self.done(ADMIN, "sequence", "activate", "outreach")
        self.done(ADMIN, "sequence", "deactivate", "outreach")
        self.done(OWNER, "sequence", "activate", "outreach")
        self.assertTrue(self.d.json("sequence", "show", "outreach")["active"])

    # --- events ---------------------------------------------------------------------------

    def event_matrix(self, kind, *extra, expect_status):
        self.refused(OTHER, "event", kind, ENROLLED[0], *extra)
        self.done(OWNER, "event", kind, ENROLLED[0], *extra)
        self.done(ADMIN, "event", kind, ENROLLED[1], *extra)
        for contact in ENROLLED[:2]:
            self.assertEqual(self.status_of("outreach", contact)["status"], expect_status)

    def test_event_reply(self):
        self.event_matrix("reply", expect_status="finished")

    def test_event_meeting_booked(self):
        self.event_matrix("meeting_booked", expect_status="finished")

    def test_event_unsubscribe(self):
        self.event_matrix("unsubscribe", expect_status="finished")
        self.assertTrue(self.contact(ENROLLED[0])["email_opt_out"])

    def test_event_bounce(self):
        self.event_matrix("bounce", expect_status="bounced")

    def test_event_ooo(self):
        self.event_matrix("ooo", expect_status="paused")

    def test_event_stage(self):
        self.event_matrix("stage", "disqualified", expect_status="not_sent")
        self.assertEqual(self.contact(ENROLLED[0])["stage"], "disqualified")

    def test_an_event_is_refused_whole_when_one_sequence_it_changes_is_not_the_callers(self):
        self.done(ADMIN, "add", "theirs", "--contact", ENROLLED[0], "--force")
        self.done(ADMIN, "sequence", "activate", "theirs")
        # A reply would finish the contact in outreach (not OTHER's) and theirs (OTHER's).
        self.refused(OTHER, "event", "reply", ENROLLED[0])
        self.refused(OTHER, "event", "unsubscribe", ENROLLED[0])
        self.done(OTHER, "event", "reply", ENROLLED[0], "--seq", "theirs")
        self.assertEqual(self.status_of("theirs", ENROLLED[0])["status"], "finished")
        self.assertEqual(self.status_of("outreach", ENROLLED[0])["status"], "scheduled")

    # --- tasks ----------------------------------------------------------------------------

    def task_matrix(self, action, state):
        tasks = sorted(self.d.json("tasks")["tasks"], key=lambda task: task["contact"])
        self.assertEqual([task["owner"] for task in tasks], [OWNER, OWNER])
        self.refused(OTHER, "task", action, str(tasks[0]["id"]))
        self.done(OWNER, "task", action, str(tasks[0]["id"]))
        self.done(ADMIN, "task", action, str(tasks[1]["id"]))
        self.assertEqual([task["state"] for task in self.d.json("tasks")["tasks"]], [state] * 2)

    def test_task_complete(self):
        self.task_matrix("complete", "completed")

    def test_task_skip(self):
        self.task_matrix("skip", "skipped")

    # --- the daemon -----------------------------------------------------------------------

    def test_reload_needs_an_admin(self):
        self.refused(OTHER, "reload")
        self.refused(OWNER, "reload")
        self.done(ADMIN, "reload")
        self.assertNotIn("reload by " + OTHER + ": ok", self.d.log())

    def test_time_advance_and_set_need_an_admin(self):
        for user in (OTHER, OWNER):
            self.refused(user, "time", "advance", "2d")
            self.refused(user, "time", "set", "2026-12-09T00:00:00Z")
        self.done(OTHER, "time")  # reading the clock stays open
        self.done(ADMIN, "time", "advance", "1h")
        self.done(ADMIN, "time", "set", "2026-12-01T16:00:00Z")
        self.assertEqual(self.d.json("time")["now"], "2026-12-01T16:00:00Z")


if __name__ == "__main__":
    harness.main()
