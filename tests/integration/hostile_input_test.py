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

    def test_a_reply_over_the_reply_cap_is_refused_clearly_and_the_connection_serves_on(self):
        rows = ["id,email,notes"]
        for i in range(300):
            rows.append("c%d,c%d@example.test,%s" % (i, i, "n" * 60000))
        path = self.d.write_file("big.csv", "\n".join(rows) + "\n")
        self.assertEqual(self.d.json("import", path)["imported"], 300)
        result = self.d.seqctl("contacts")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("over the 16777216 bytes one reply may have", result.stderr)
        self.assertIn("--limit", result.stderr)
        self.assertEqual(len(self.d.json("contacts", "--limit", "5")["contacts"]), 5)


if __name__ == "__main__":
    harness.main()
