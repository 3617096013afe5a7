"""Proves bad input never stops the daemon: a request carrying a value over one of the store's
limits (README "Limits") fails alone, with a message naming the contact, the field and the
limit, while seqd keeps running and keeps what the good rows of the same request brought.
Before these checks each case below made the store refuse the round's batch and seqd exit 1."""
import json
import unittest

import harness
from harness import Daemon

KEY_BYTES_MAX = 511
CUSTOM_FIELDS_MAX = 4096
FIELD_VALUE_BYTES_MAX = 65536


class Limits(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.d.start()
        self.d.write_file("ok.csv", "email,first_name\nann@example.test,Ann\n")
        self.assertEqual(self.d.seqctl("import", self.d.root + "/ok.csv").returncode, 0)
        self.assertEqual(self.d.seqctl("add", "two-emails", "--contact",
                                       "ann@example.test").returncode, 0)

    def assert_still_running(self):
        self.assertIsNone(self.d.process.poll(), "seqd exited: " + self.d.log())
        self.assertEqual(self.d.seqctl("ping").returncode, 0)
        self.assertNotIn("store commit failed", self.d.log())

    def refused(self, *args, expect=2, says=""):
        result = self.d.seqctl(*args)
        self.assertEqual(result.returncode, expect, result.stdout + result.stderr)
        self.assertIn(says, result.stderr)
        self.assert_still_running()

    def test_an_import_row_with_an_id_over_the_key_limit_is_a_row_error(self):
        long_id = "k" * (KEY_BYTES_MAX + 89)
        path = self.d.write_file("ids.csv", "id,email,first_name\n"
                                 "good1,g1@example.test,G1\n"
                                 "%s,long@example.test,Long\n"
                                 "good2,g2@example.test,G2\n" % long_id)
        result = self.d.json("import", path, expect=3)
        self.assertEqual(result["imported"], 2)
        self.assertEqual(len(result["errors"]), 1)
        self.assertEqual(result["errors"][0]["line"], 3)
        self.assertIn("is 600 bytes; at most 511", result["errors"][0]["reason"])
        human = self.d.seqctl("import", path)
        self.assertIn("line 3: contact key 'kkk", human.stdout)
        self.assertIn("...' is 600 bytes; at most 511", human.stdout)
        self.assert_still_running()
        # The good rows were committed: they are there after a restart.
        self.d.stop()
        self.d.start()
        self.assertEqual(self.d.json("contact", "show", "good2")["first_name"], "G2")

    def test_an_import_row_with_a_value_over_the_field_limit_is_a_row_error(self):
        # seqctl's CSV reader stops such a value first, so this talks to the socket directly:
        # the daemon holds every client to its limits.
        request = {"id": 1, "cmd": "import", "args": {"rows": [
            {"line": 2, "fields": {"email": "big@example.test",
                                   "notes": "n" * (FIELD_VALUE_BYTES_MAX + 1)}},
            {"line": 3, "fields": {"email": "small@example.test", "notes": "fine"}}]}}
        reply = self.d.raw_exchange((json.dumps(request) + "\n").encode())[0]
        self.assertTrue(reply["ok"], reply)
        self.assertEqual(reply["result"]["imported"], 1)
        self.assertEqual(reply["result"]["errors"], [{"line": 2, "reason": (
            "contact 'big@example.test': field 'notes' is 65537 bytes; at most 65536")}])
        self.assert_still_running()

    def test_contact_set_with_over_4096_fields_is_refused(self):
        fields = ["custom%d=v" % i for i in range(CUSTOM_FIELDS_MAX + 1)]
        self.refused("contact", "set", "ann@example.test", *fields,
                     says="contact 'ann@example.test': 4097 custom fields; at most 4096")
        self.assertEqual(self.d.json("contact", "show", "ann@example.test")["fields"], {})
        self.d.json("contact", "set", "ann@example.test", *fields[:CUSTOM_FIELDS_MAX])

    def test_send_from_sets_over_the_mailbox_limit_are_refused(self):
        rotate = ",".join(["alice@acme.test"] * 1025)
        self.refused("set-mailbox", "two-emails", "ann@example.test", "--rotate", rotate,
                     says="1025 mailboxes in a send-from set; at most 100")
        self.refused("add", "two-emails", "--contact", "ann@example.test", "--rotate", rotate,
                     says="at most 100")

    def test_free_text_over_its_limit_is_refused(self):
        self.refused("finish", "two-emails", "ann@example.test", "--reason", "r" * 5000,
                     says="--reason is 5000 bytes; at most 1024")
        self.refused("event", "stage", "ann@example.test", "s" * (FIELD_VALUE_BYTES_MAX + 1),
                     says="STAGE is 65537 bytes; at most 65536")
        self.refused("pause", "two-emails", "c" * 600, says="is 600 bytes; at most 511")
        self.refused("pause", "s" * 100, "ann@example.test", expect=1,
                     says="a sequence id is at most 64 bytes")
        self.assertEqual(self.d.json("status", "two-emails")["contacts"][0]["status"],
                         "scheduled")


if __name__ == "__main__":
    harness.main()
