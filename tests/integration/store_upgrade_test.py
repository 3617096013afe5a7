"""Proves a state dir written by an earlier seqd is read back whole by this one: every contact,
enrollment, status and step done survives, and no done step is sent again.

tests/data/store-v2/ holds a state dir of store schema 2 (the format of the first release)
and expected-status.json, what `seqctl --json status two-emails` printed when it was made.
When the store format changes, this test is where the conversion proves itself: the fixture
stays as it was written. To make the fixture again (only for a new format, kept beside the
old one): SEQD_MAKE_STORE_FIXTURE=DIR python3 store_upgrade_test.py --seqd ... --seqctl ...
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


def fixture_dir():
    return os.path.join(harness.ARGS.source_dir, "tests", "data", "store-v%d" % FIXTURE_SCHEMA)


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
        self.assertEqual(d.json("status", "two-emails"), self.expected)
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


if __name__ == "__main__":
    argv = harness.parse_args()
    destination = os.environ.get("SEQD_MAKE_STORE_FIXTURE")
    if destination:
        make_fixture(destination)
        sys.exit(0)
    unittest.main(argv=argv, verbosity=2)
