"""Proves a state dir written by an earlier seqd is read back whole by this one: every contact,
enrollment, status and step done survives, and no done step is sent again.

tests/data/store-v2/ holds a state dir of store schema 2 (the format of the first release)
and expected-status.json, what `seqctl --json status two-emails` printed when it was made.
tests/data/store-v3/ holds one of schema 3 (progress log kept whole, tasks and applied inbox
messages rebuilt from it at each start): two sequences, one with a call step (an open task and
a completed one), and a reply read from the inbox. Its expected.json has what that seqd printed
(status of both sequences, tasks) and what it sent in the two days after (`after`), read back
by the same seqd from a copy of the state dir.
When the store format changes, this test is where the conversion proves itself: the fixture
stays as it was written. To make the fixture again (only for a new format, kept beside the
old one): SEQD_MAKE_STORE_FIXTURE=DIR python3 store_upgrade_test.py --seqd ... --seqctl ...
(SEQD_MAKE_STORE_FIXTURE_SCHEMA=3 for the schema 3 one).
"""
import json
import os
import shutil
import sys
import unittest

import harness
from harness import Daemon, contacts_csv

FIXTURE_SCHEMA = 2
FIXTURE_CONTACTS = 7

V3_SEQD_YAML = harness.seqd_yaml(
    top="inbox_poll: 1s\n",
    mailboxes=harness.alice_mailbox(extra="    inbox: {{maildir: {root}/inbox}}\n"))

V3_SEQUENCES = {"two-emails": harness.TWO_EMAILS_YAML, "with-call": harness.CALL_SEQUENCE_YAML}


def fixture_dir(schema=FIXTURE_SCHEMA):
    return os.path.join(harness.ARGS.source_dir, "tests", "data", "store-v%d" % schema)


def deliver(d, name, text):
    """Puts a message into the inbox Maildir the way an MTA does (tmp, then new)."""
    for folder in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(d.root, "inbox", folder), exist_ok=True)
    tmp = os.path.join(d.root, "inbox", "tmp", name)
    with open(tmp, "w") as f:
        f.write(text.replace("\n", "\r\n"))
    os.rename(tmp, os.path.join(d.root, "inbox", "new", name))


def reply_to(message_id):
    return ("From: Name0 <person0@example.test>\nTo: alice@acme.test\n"
            "Subject: Re: Hello Name0\nMessage-ID: <person0-reply-1@example.test>\n"
            "In-Reply-To: %s\nReferences: %s\nDate: Tue, 01 Dec 2026 15:00:00 +0000\n\n"
            "Thanks, let's talk.\n" % (message_id, message_id))


def sent(d):
    return sorted((str(m["To"]), str(m["Subject"])) for m in d.messages())


def status_as_recorded(d, sequence):
    """status --json without the fields added after the fixtures were recorded (variant,
    bounce_reason): what the fixtures' expected statuses hold."""
    status = d.json("status", sequence)
    for row in status["contacts"]:
        row.pop("variant", None)
        row.pop("bounce_reason", None)
    return status


def v3_snapshot(d):
    return {"two-emails": status_as_recorded(d, "two-emails"),
            "with-call": status_as_recorded(d, "with-call"),
            "tasks": d.json("tasks")}


def make_fixture_v3(dest):
    """Schema 3: two sequences, a call step's tasks (one open, one completed) and a reply
    applied from the inbox; then what the same seqd sends in the next two days."""
    d = Daemon(sequences=V3_SEQUENCES, seqd_yaml=V3_SEQD_YAML)
    d.start()
    d.json("import", d.write_file("c.csv", contacts_csv(6)))
    keys = ["person%d@example.test" % i for i in range(6)]
    d.json("add", "two-emails", "--contact", *keys)
    d.json("add", "with-call", "--contact", *keys[:3], "--force")
    d.json("sequence", "activate", "two-emails")
    d.json("sequence", "activate", "with-call")
    d.json("time", "advance", "1m")  # every "hello" goes out
    first = [m["Message-ID"] for m in d.messages()
             if "person0@" in str(m["To"]) and m["X-Seqd-Sequence"] == "two-emails"]
    deliver(d, "1.reply", reply_to(first[0]))
    d.json("time", "advance", "1m")  # the reply finishes person0
    d.json("pause", "two-emails", keys[1])
    d.json("remove", "two-emails", keys[4])
    d.json("time", "advance", "1d")  # "again" for 2, 3 and 5; tasks for 1 and 2
    tasks = {t["contact"]: t for t in d.json("tasks")["tasks"]}
    d.json("task", "complete", str(tasks[keys[2]]["id"]))
    d.json("add", "two-emails", "--csv", d.write_file("late.csv", contacts_csv(1, start=6)))
    d.json("time", "advance", "1m")  # "hello" for 6, who waits a day for "again"
    expected = v3_snapshot(d)
    d.stop()
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(os.path.join(d.root, "state"), os.path.join(dest, "state"),
                    ignore=shutil.ignore_patterns("seqd.lock", "lock.mdb"))
    # What this seqd does next, from the same state: the upgraded one must do the same.
    before = sent(d)
    d.start()  # the clock goes on from the stored one
    d.json("time", "advance", "2d")
    after = sent(d)
    for message in before:
        after.remove(message)
    expected["after"] = after
    expected["after_status"] = v3_snapshot(d)
    d.stop()
    with open(os.path.join(dest, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    d.cleanup()


def make_fixture(dest):
    """Writes the fixture with the seqd under test: seven contacts in every state."""
    d = Daemon()
    d.start()
    d.json("import", d.write_file("c.csv", contacts_csv(6)))
    keys = ["person%d@example.test" % i for i in range(6)]
    d.json("add", "two-emails", "--contact", *keys)
    d.json("sequence", "activate", "two-emails")
    d.json("time", "advance", "1m")  # every "hello" goes out
    d.json("pause", "two-emails", keys[1])
    d.json("event", "reply", keys[0], "--seq", "two-emails")
    d.json("remove", "two-emails", keys[4])
    d.json("time", "advance", "1d")  # "again" for 2, 3 and 5: completed
    d.json("add", "two-emails", "--csv", d.write_file("late.csv", contacts_csv(1, start=6)))
    d.json("time", "advance", "1m")  # "hello" for 6, who waits a day for "again"
    status = d.json("status", "two-emails")
    d.stop()
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(os.path.join(d.root, "state"), os.path.join(dest, "state"),
                    ignore=shutil.ignore_patterns("seqd.lock", "lock.mdb"))
    with open(os.path.join(dest, "expected-status.json"), "w") as f:
        json.dump(status, f, indent=1, sort_keys=True)
        f.write("\n")
    d.cleanup()


class StoreUpgrade(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon()
        self.addCleanup(self.daemon.cleanup)
        shutil.copytree(os.path.join(fixture_dir(), "state"),
                        os.path.join(self.daemon.root, "state"))
        with open(os.path.join(fixture_dir(), "expected-status.json")) as f:
            self.expected = json.load(f)

    def test_every_contact_enrollment_and_done_step_survives(self):
        d = self.daemon
        d.start()
        self.assertEqual(status_as_recorded(d, "two-emails"), self.expected)
        statuses = {c["contact"]: (c["status"], c["finish_reason"])
                    for c in self.expected["contacts"]}
        self.assertEqual(len(statuses), FIXTURE_CONTACTS)
        self.assertEqual(sorted(s for s, _ in statuses.values()),
                         ["finished", "finished", "finished", "finished", "paused", "removed",
                          "scheduled"])
        for i in range(FIXTURE_CONTACTS):
            contact = d.json("contact", "show", "person%d@example.test" % i)
            self.assertEqual(contact["first_name"], "Name%d" % i, contact)
        # The store as it was, kept before the conversion, still opens as schema 2.
        backup = os.path.join(d.root, "state", "backup-schema-2", "data.mdb")
        self.assertTrue(os.path.getsize(backup) > 0)

    def test_no_done_step_is_sent_again(self):
        d = self.daemon
        d.start()
        d.json("time", "advance", "2d")
        sent = [(m["To"].addresses[0].addr_spec, m["Subject"]) for m in d.messages()]
        self.assertEqual(sent, [("person6@example.test", "Again, Name6")])
        status = {c["contact"]: c for c in d.json("status", "two-emails")["contacts"]}
        self.assertEqual(status["person6@example.test"]["finish_reason"], "completed")
        self.assertEqual(status["person1@example.test"]["status"], "paused")


class StoreUpgradeFromSchema3(unittest.TestCase):
    """Schema 3 to 4: the tasks and the inbox messages applied move from the log into their
    own tables; the schema 3 seqd's own output is the reference."""

    def setUp(self):
        self.daemon = Daemon(sequences=V3_SEQUENCES, seqd_yaml=V3_SEQD_YAML)
        self.addCleanup(self.daemon.cleanup)
        shutil.copytree(os.path.join(fixture_dir(3), "state"),
                        os.path.join(self.daemon.root, "state"))
        with open(os.path.join(fixture_dir(3), "expected.json")) as f:
            self.expected = json.load(f)

    def test_contacts_statuses_done_steps_and_tasks_survive(self):
        d = self.daemon
        d.start()
        snapshot = v3_snapshot(d)
        for key in ("two-emails", "with-call", "tasks"):
            self.assertEqual(snapshot[key], self.expected[key], key)
        open_tasks = [t for t in snapshot["tasks"]["tasks"] if t["state"] == "open"]
        self.assertEqual([(t["contact"], t["step"]) for t in open_tasks],
                         [("person1@example.test", "ring")])
        for i in range(FIXTURE_CONTACTS):
            contact = d.json("contact", "show", "person%d@example.test" % i)
            self.assertEqual(contact["first_name"], "Name%d" % i, contact)
        backup = os.path.join(d.root, "state", "backup-schema-3", "data.mdb")
        self.assertTrue(os.path.getsize(backup) > 0)
        # The open task is still the one to complete, under the same id.
        d.json("task", "complete", str(open_tasks[0]["id"]))
        self.assertEqual(d.seqctl("task", "complete", str(open_tasks[0]["id"])).returncode, 1)

    def test_no_done_step_is_sent_again_and_the_reply_is_not_applied_twice(self):
        d = self.daemon
        d.start()
        # The reply read before the conversion, back in new/ (a lost mark): applied before.
        explained = d.seqctl("explain", "two-emails", "person0@example.test").stdout
        self.assertIn("<person0-reply-1@example.test>", explained)
        deliver(d, "1.reply", reply_to("<any@acme.test>"))
        d.json("time", "advance", "2d")
        self.assertEqual([list(m) for m in sent(d)], self.expected["after"])
        after = v3_snapshot(d)
        for key in ("two-emails", "with-call", "tasks"):
            self.assertEqual(after[key], self.expected["after_status"][key], key)
        self.assertEqual(d.json("inbox")["messages"][0]["action"], "applied before")


if __name__ == "__main__":
    argv = harness.parse_args()
    destination = os.environ.get("SEQD_MAKE_STORE_FIXTURE")
    if destination:
        if os.environ.get("SEQD_MAKE_STORE_FIXTURE_SCHEMA") == "3":
            make_fixture_v3(destination)
        else:
            make_fixture(destination)
        sys.exit(0)
    unittest.main(argv=argv, verbosity=2)
