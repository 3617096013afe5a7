"""Proves the daemon and seqctl stay correct and clear under hostile or unlucky input (issue
10): strict JSON out whatever numbers come in, a clock that cannot leave the years RFC 3339
writes, exit codes that say what happened (a request seqctl refuses is a usage error, a reply
too large is a failure, never "unreachable"), and replies bounded in size."""
import json
import socket
import unittest

import harness
from harness import Daemon


def strict_json(line):
    """json.loads that refuses what RFC 8259 does not allow (Python takes Infinity and NaN)."""
    def refuse(constant):
        raise ValueError("not JSON: " + constant)
    return json.loads(line, parse_constant=refuse)


class HostileInput(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def raw(self, payload):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.d.socket)
            s.sendall(payload)
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def test_numbers_out_of_range_are_refused_and_every_reply_is_strict_json(self):
        for payload in (b'{"id":1e400,"cmd":"ping"}\n', b'{"id":-1e400,"cmd":"nope"}\n',
                        b'{"id":1,"cmd":"contacts","args":{"limit":1e999}}\n'):
            reply = strict_json(self.raw(payload))
            self.assertFalse(reply["ok"])
            self.assertEqual(reply["error"]["code"], "bad_request")
            self.assertIn("out of range", reply["error"]["message"])
        self.assertEqual(self.d.seqctl("ping").returncode, 0)

    def test_the_clock_stops_at_year_9999_and_relative_times_cannot_overflow(self):
        last = "9999-12-31T23:59:59Z"
        self.assertEqual(self.d.seqctl("time", "set", last).returncode, 0)
        result = self.d.seqctl("time", "advance", "1d")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("goes past 9999-12-31T23:59:59.999Z", result.stderr)
        self.assertEqual(self.d.json("time")["now"], last)

    def test_a_huge_relative_time_is_a_clear_error(self):
        for args in (("time", "set", "+106751991167d"), ("time", "advance", "106751991167d"),
                     ("pause", "two-emails", "nobody", "--resume-at", "+106751991167d")):
            result = self.d.seqctl(*args)
            self.assertEqual(result.returncode, 2, args)
            self.assertIn("goes past 9999", result.stderr)
        self.assertEqual(self.d.json("time")["now"], harness.VIRTUAL_START)

    def test_time_set_backwards_is_refused_with_exit_1(self):
        result = self.d.seqctl("time", "set", "2026-01-01T00:00:00Z")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("never moves backwards", result.stderr)

    def test_a_request_seqctl_refuses_to_send_is_a_usage_error_not_unreachable(self):
        names = ["n%d-" % i + "x" * 100000 for i in range(12)]  # 1.2 MB: over one frame
        result = self.d.seqctl("pause", "two-emails", *names)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("a frame is at most 1048576", result.stderr)

    def test_an_answer_over_the_reply_cap_streams_whole_and_the_connection_serves_on(self):
        rows = ["id,email,notes"]
        for i in range(300):
            rows.append("c%d,c%d@example.test,%s" % (i, i, "n" * 60000))
        path = self.d.write_file("big.csv", "\n".join(rows) + "\n")
        self.assertEqual(self.d.json("import", path)["imported"], 300)
        # 18 MB of contacts: streamed in frames (io/status_stream.hpp), not refused.
        result = self.d.json("contacts")
        self.assertEqual(len(result["contacts"]), 300)
        self.assertEqual(len(self.d.json("contacts", "--limit", "5")["contacts"]), 5)

    def test_terminal_escapes_in_keys_and_names_print_escaped_in_tables(self):
        path = self.d.write_file("esc.csv", "id,email,first_name,company\n"
                                 "k\x1b]0;owned\x07,e@x.test,\x1b[2JAnn,\x1b[31mRed\u009b\n")
        self.assertEqual(self.d.seqctl("import", path).returncode, 0)
        self.d.json("add", "two-emails", "--contact", "k\x1b]0;owned\x07")
        for args in (("contacts",), ("status", "two-emails"),
                     ("contact", "show", "k\x1b]0;owned\x07"), ("contact", "show", "\x1b[1m")):
            result = self.d.seqctl(*args)
            for stream in (result.stdout, result.stderr):
                self.assertNotIn("\x1b", stream, args)
                self.assertNotIn("\x07", stream, args)
                self.assertNotIn("\u009b", stream, args)
        table = self.d.seqctl("contacts").stdout
        self.assertIn("k\\x1b]0;owned\\x07", table)
        self.assertIn("\\x1b[31mRed\\u009b", table)
        # --json stays exact: the JSON encoder escapes control characters itself.
        shown = self.d.json("contact", "show", "k\x1b]0;owned\x07")
        self.assertEqual(shown["first_name"], "\x1b[2JAnn")


class HostileCsv(unittest.TestCase):
    """seqctl import of files an unlucky operator gets: every good row imported, every bad row
    reported by line, nothing half-done."""

    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def write(self, name, data):
        path = self.d.root + "/" + name
        with open(path, "wb") as f:
            f.write(data)
        return path

    def import_json(self, path, expect=3):
        return self.d.json("import", path, expect=expect)

    def keys(self):
        return sorted(c["contact"] for c in self.d.json("contacts")["contacts"])

    def test_a_row_that_is_not_utf8_is_a_row_error_and_the_others_are_imported(self):
        path = self.write("latin1.csv", b"email,first_name\na@x.test,Ann\nb@x.test,B\xf6b\n"
                                        b"c@x.test,Cy\n")
        result = self.import_json(path)
        self.assertEqual(result["imported"], 2)
        self.assertEqual(result["errors"], [{"line": 3, "reason": "not UTF-8 (column 2)"}])
        self.assertEqual(self.keys(), ["a@x.test", "c@x.test"])

    def test_utf16_is_refused_up_front_and_nothing_is_imported(self):
        text = "email,first_name\na@x.test,Ann\n"
        for data in (text.encode("utf-16"), text.encode("utf-16-le")):
            result = self.d.seqctl("import", self.write("u16.csv", data))
            self.assertEqual(result.returncode, 1, result.stderr)
            self.assertIn("UTF-16", result.stderr)
            self.assertIn("save it as UTF-8", result.stderr)
        self.assertEqual(self.keys(), [])

    def test_a_nul_byte_is_a_row_error(self):
        path = self.write("nul.csv", b"email,first_name\na@x.test,A\x00nn\nb@x.test,Bo\n")
        result = self.import_json(path)
        self.assertEqual(result["errors"], [{"line": 2, "reason": "NUL byte (column 2)"}])
        self.assertEqual(self.keys(), ["b@x.test"])

    def test_every_good_row_is_imported_past_a_thousand_bad_ones(self):
        rows = ["email,score"] + ["bad%d@x.test,999" % i for i in range(1500)]
        rows += ["good%d@x.test,5" % i for i in range(200)]
        path = self.write("many.csv", ("\n".join(rows) + "\n").encode())
        result = self.import_json(path)
        self.assertEqual(result["imported"], 200)
        self.assertEqual(len(result["errors"]), 1000)
        self.assertEqual(result["errors_unlisted"], 500)
        human = self.d.seqctl("import", path)
        self.assertEqual(human.returncode, 3)
        self.assertIn("and 500 more bad rows, not listed", human.stdout)

    def test_an_empty_score_is_empty_not_an_error(self):
        path = self.write("score.csv", b"email,score\na@x.test,\nb@x.test,40\n")
        result = self.import_json(path, expect=0)
        self.assertEqual(result["imported"], 2)
        self.assertEqual(self.d.json("contact", "show", "a@x.test")["score"], 0)

    def test_duplicate_keys_in_one_file_are_reported_and_the_first_row_kept(self):
        path = self.write("dup.csv", b"email,first_name\na@x.test,First\nb@x.test,B\n"
                                     b"A@X.test,Second\n")
        result = self.import_json(path)
        self.assertEqual(result["imported"], 2)
        self.assertEqual(len(result["errors"]), 1)
        self.assertEqual(result["errors"][0]["line"], 4)
        self.assertIn("duplicate contact (same id or email as line 2)",
                      result["errors"][0]["reason"])
        self.assertEqual(self.d.json("contact", "show", "a@x.test")["first_name"], "First")

    def test_two_headers_for_one_field_are_refused_before_any_row(self):
        path = self.write("two.csv", b"Email,Email Address,first_name\na@x.test,b@x.test,A\n")
        result = self.d.seqctl("import", path)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("columns 'Email' and 'Email Address' both map to field 'email'",
                      result.stderr)
        self.assertEqual(self.keys(), [])

    def test_display_names_and_lists_are_refused_per_row_and_never_reach_to(self):
        path = self.write("evil.csv", b'id,email,first_name\n'
                                      b'1,"""evil"" <evil@evil.test>",E\n'
                                      b'2,"a@x.test, evil@evil.test",L\n'
                                      b'3,good@x.test,G\n')
        result = self.import_json(path)
        self.assertEqual(result["imported"], 1)
        self.assertEqual([e["line"] for e in result["errors"]], [2, 3])
        for error in result["errors"]:
            self.assertIn("is not one address", error["reason"])
        self.d.json("sequence", "activate", "two-emails")
        self.d.json("add", "two-emails", "--contact", "3")
        self.d.json("time", "advance", "1d")
        recipients = {str(m["To"]) for m in self.d.messages()}
        self.assertEqual(len(recipients), 1)
        self.assertIn("good@x.test", recipients.pop())
        refused = self.d.seqctl("contact", "set", "3", "email=a@x.test, evil@evil.test")
        self.assertNotEqual(refused.returncode, 0)
        self.assertEqual(self.d.json("contact", "show", "3")["email"], "good@x.test")


if __name__ == "__main__":
    harness.main()
