"""Proves seqctl teaches: `seqctl help` lists the commands with the accepted values;
`seqctl help COMMAND` and `COMMAND --help` print the same text, with a usage line, the
options, the values and an example, for every command; a usage error is one line naming the
command as typed plus a pointer to its help (exit 2), not the whole usage; errors from the
daemon name the command as typed (`contact show:`); tables line up by display width with CJK
and emoji in them, and `status` shows resume_at and the reason."""
import re
import subprocess
import unicodedata
import unittest

import harness
from harness import Daemon

COMMANDS = ["ping", "version", "reload", "help", "sequences", "sequence", "import", "contact",
            "contacts", "add", "remove", "pause", "resume", "finish", "retry", "set-mailbox",
            "status", "explain", "event", "tasks", "task", "mailboxes", "inbox", "report", "time",
            "lists", "list", "workflows"]


def seqctl(*args):
    return subprocess.run([harness.ARGS.seqctl, "--socket", "/tmp/seqd-help-none.sock", *args],
                          capture_output=True, text=True, timeout=30)


def width(text):
    """Terminal columns, as a terminal draws them (East Asian Wide/Fullwidth: 2)."""
    total = 0
    for char in text:
        if unicodedata.combining(char) or char in "\u200d\ufe0f":
            continue
        total += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return total


class Help(unittest.TestCase):
    def test_overview_names_every_command_and_the_values(self):
        result = seqctl("help")
        self.assertEqual(result.returncode, 0)
        for command in COMMANDS:
            self.assertRegex(result.stdout, r"\n  [^\n]*(?<![\w-])%s(?![\w-])" % re.escape(command))
        self.assertIn("TIME: RFC 3339", result.stdout)
        self.assertIn("DURATION: an integer and a unit", result.stdout)
        self.assertIn("STATUS: scheduled, active, paused, finished, bounced, not_sent, removed",
                      result.stdout)
        self.assertEqual(seqctl("--help").stdout, result.stdout)

    def test_every_command_has_help_with_an_example(self):
        for command in COMMANDS:
            with self.subTest(command=command):
                result = seqctl("help", command)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertTrue(result.stdout.startswith("Usage: seqctl " + command),
                                result.stdout)
                self.assertIn("\nExample:\n  seqctl ", result.stdout)
                self.assertEqual(seqctl(command, "--help").stdout, result.stdout)

    def test_values_are_spelled_out(self):
        self.assertIn("STATUS: scheduled, active, paused", seqctl("help", "status").stdout)
        add = seqctl("help", "add").stdout
        for warning in ["in_other_sequence", "unverified_email", "owner_mismatch",
                        "invalid_email", "mailbox_owner",
                        "stage_blocked", "already_finished"]:
            self.assertIn(warning, add)
        self.assertIn("TIME: RFC 3339", add)
        self.assertIn("DURATION: an integer and a unit s, m, h or d", seqctl("help", "time").stdout)
        contact = seqctl("contact", "set", "--help").stdout
        for field in ["email_status (verified|unverified|unknown)", "timezone (IANA)",
                      "score (0-100)", "owner", "dnc"]:
            self.assertIn(field, contact)

    def test_a_usage_error_is_one_line_and_a_pointer(self):
        result = seqctl("status")
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stderr.splitlines(),
                         ["seqctl: status: missing sequence id",
                          "Run 'seqctl help status' for its options and an example."])
        self.assertEqual(result.stdout, "")
        result = seqctl("contact", "set", "rita@example.test")
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stderr.splitlines()[0],
                         "seqctl: contact set: no field=value given")
        self.assertEqual(len(result.stderr.splitlines()), 2)
        result = seqctl("frobnicate")
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stderr.splitlines(),
                         ["seqctl: unknown command 'frobnicate'",
                          "Run 'seqctl help' for the commands."])
        self.assertEqual(seqctl("help", "frobnicate").returncode, 2)


class Tables(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(sequences={"two-emails": harness.TWO_EMAILS_YAML})
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_errors_name_the_command_as_typed(self):
        result = self.d.seqctl("contact", "show", "nobody@example.test")
        self.assertEqual(result.returncode, 1)
        self.assertTrue(result.stderr.startswith("seqctl: contact show: "), result.stderr)

    def test_status_lines_up_with_cjk_and_emoji_and_shows_resume_at_and_reason(self):
        d = self.d
        csv = ("id,email,first_name,score\n"
               "\u7530\u4e2d\u592a\u90ce,tanaka@example.test,\u592a\u90ce,90\n"
               "rocket\U0001F680,rocket@example.test,Rocket,80\n"
               "ann,ann@example.test,Ann,70\n")
        d.json("import", d.write_file("c.csv", csv))
        d.json("add", "two-emails", "--contact", "\u7530\u4e2d\u592a\u90ce", "rocket\U0001F680",
               "ann")
        d.json("sequence", "activate", "two-emails")
        d.json("pause", "two-emails", "ann", "--resume-at", "2026-12-20T15:00:00Z")
        d.json("finish", "two-emails", "rocket\U0001F680", "--reason", "won")
        result = d.seqctl("status", "two-emails")
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        header = lines[0]
        self.assertEqual(header.split(), ["CONTACT", "SCORE", "STATUS", "STEP", "NEXT_AT",
                                          "RESUME_AT", "MAILBOX", "REASON"])
        # Each column starts at the same display column on every row.
        starts = [width(header[:header.index(name)]) for name in header.split()]
        for line in lines[1:]:
            cells = line.split()
            position = 0
            for index, cell in enumerate(cells):
                found = line.index(cell, position)
                self.assertEqual(width(line[:found]), starts[index], (line, cell))
                position = found + len(cell)
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        self.assertEqual(rows["ann"][2], "paused")
        self.assertEqual(rows["ann"][5], "2026-12-20T15:00:00Z")
        self.assertEqual(rows["ann"][7], "manual")
        self.assertEqual(rows["rocket\U0001F680"][7], "manual:won")


if __name__ == "__main__":
    harness.main()
