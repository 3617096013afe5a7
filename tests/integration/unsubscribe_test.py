"""Proves one-click unsubscribe end to end (RFC 8058; SPEC §2.1, §3 rules 7 and 9): emails carry
the signed HTTPS link before the mailto: link with List-Unsubscribe-Post, the token is the
HMAC-SHA256 the README describes (recomputed here with Python's hmac), a GET changes nothing,
a POST unsubscribes and is committed before its 200, forged tokens change nothing, and without
unsubscribe_url there is no List-Unsubscribe-Post."""
import base64
import hashlib
import hmac
import os
import re
import signal
import unittest
import urllib.error
import urllib.request

import harness
from harness import Daemon, free_port

SECRET = "integration-test-secret-0123456789"

# A harness template ({root} and {user} filled by Daemon); PORT is filled by unsubscribe_yaml.
UNSUBSCRIBE_YAML = harness.SEQD_YAML + """\
http_listen: 127.0.0.1:PORT
unsubscribe_url: "https://acme.test/u/{{token}}"
unsubscribe_secret_file: {root}/unsubscribe.key
"""


def unsubscribe_yaml(port):
    return UNSUBSCRIBE_YAML.replace("PORT", str(port))

# Finishes on replies only: an unsubscribe leaves its enrollments running, but the contact's
# email_opt_out stops its emails.
REPLY_ONLY_YAML = harness.TWO_EMAILS_YAML.replace(
    "id: two-emails", "id: reply-only").replace(
    "mailboxes: [alice@acme.test]", "mailboxes: [alice@acme.test]\nrules:\n  finish_on: [reply]")

CONTACTS = """\
email,first_name,last_name,score
bob@example.test,Bob,Jones,50
carol@example.test,Carol,King,60
"""

MAILTO = "<mailto:alice@acme.test?subject=unsubscribe>"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def expected_token(contact, sequence, secret=SECRET):
    payload = b64url(contact.encode()) + "." + b64url(sequence.encode())
    mac = hmac.new(secret.encode(), ("seqd unsubscribe v1:" + payload).encode(),
                   hashlib.sha256).digest()[:16]
    return payload + "." + b64url(mac)


def raw_headers(path):
    """The message's headers as written, unfolded, in order: [(name, value)]."""
    with open(path, "rb") as f:
        head = f.read().decode().split("\n\n", 1)[0]
    headers = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t"):
            name, value = headers[-1]
            headers[-1] = (name, value + line)
        else:
            name, value = line.split(": ", 1)
            headers.append((name, value))
    return headers


def request(port, method, path, body=None):
    """(status, headers, body) of one HTTP request to seqd."""
    data = body.encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


class OneClickUnsubscribe(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.daemon = Daemon(
            sequences={"two-emails": harness.TWO_EMAILS_YAML, "reply-only": REPLY_ONLY_YAML},
            seqd_yaml=unsubscribe_yaml(self.port))
        self.addCleanup(self.daemon.cleanup)
        self.daemon.write_file("unsubscribe.key", SECRET + "\n")
        self.daemon.start()
        d = self.daemon
        d.json("import", d.write_file("contacts.csv", CONTACTS))
        for sequence in ("two-emails", "reply-only"):
            d.json("add", sequence, "--contact", "bob@example.test", "carol@example.test",
                   "--force")
            d.json("sequence", "activate", sequence)
        d.json("time", "advance", "1h")

    def message_files(self, recipient):
        new_dir = os.path.join(self.daemon.outbox, "alice@acme.test", "new")
        found = []
        for name in sorted(os.listdir(new_dir)):
            path = os.path.join(new_dir, name)
            headers = dict(raw_headers(path))
            if recipient in headers["To"]:
                found.append((path, headers))
        return found

    def states(self):
        """{(sequence, contact): (status, finish_reason, not_sent_reason)}, and opt-outs."""
        result = {}
        for sequence in ("two-emails", "reply-only"):
            for c in self.daemon.json("status", sequence)["contacts"]:
                result[(sequence, c["contact"])] = (c["status"], c["finish_reason"],
                                                    c["not_sent_reason"])
        for contact in ("bob@example.test", "carol@example.test"):
            result[contact] = self.daemon.json("contact", "show", contact)["email_opt_out"]
        return result

    def test_get_shows_a_form_post_unsubscribes_and_forgeries_change_nothing(self):
        d = self.daemon
        bob = self.message_files("bob@example.test")
        self.assertEqual(len(bob), 2)  # one per sequence
        headers = {h["X-Seqd-Sequence"]: h for _, h in bob}
        token = expected_token("bob@example.test", "two-emails")
        self.assertEqual(headers["two-emails"]["List-Unsubscribe"],
                         "<https://acme.test/u/%s>, %s" % (token, MAILTO))
        self.assertEqual(headers["two-emails"]["List-Unsubscribe-Post"],
                         "List-Unsubscribe=One-Click")
        self.assertEqual(headers["reply-only"]["List-Unsubscribe"],
                         "<https://acme.test/u/%s>, %s" % (
                             expected_token("bob@example.test", "reply-only"), MAILTO))
        url = re.match(r"<https://acme\.test(/u/[A-Za-z0-9_.-]+)>, <mailto:",
                       headers["two-emails"]["List-Unsubscribe"]).group(1)
        before = self.states()
        self.assertEqual(before[("two-emails", "bob@example.test")], ("scheduled", None, None))
        self.assertFalse(before["bob@example.test"])

        # A GET (a scanner, a preview, a person clicking) changes nothing: it shows a form.
        status, response_headers, body = request(self.port, "GET", url)
        self.assertEqual(status, 200)
        self.assertTrue(response_headers["Content-Type"].startswith("text/html"))
        self.assertIn('<form method="post">', body)
        self.assertEqual(self.states(), before)

        # Forged tokens: one character changed; bob's MAC under carol's name. Refused, no change.
        last = url[-3]
        forged = url[:-3] + ("B" if last == "A" else "A") + url[-2:]
        carol_named = "/u/" + b64url(b"carol@example.test") + url[url.index("."):]
        for path in (forged, carol_named):
            for method in ("GET", "POST"):
                status, _, _ = request(self.port, method, path, "List-Unsubscribe=One-Click"
                                       if method == "POST" else None)
                self.assertEqual(status, 404, (method, path))
        self.assertEqual(self.states(), before)
        status, _, _ = request(self.port, "POST", "/other", "x")
        self.assertEqual(status, 404)
        status, response_headers, _ = request(self.port, "PUT", url, "x")
        self.assertEqual(status, 405)
        self.assertEqual(response_headers["Allow"], "GET, POST")

        # The POST an RFC 8058 client sends: unsubscribed, committed before the 200.
        status, response_headers, body = request(self.port, "POST", url,
                                                 "List-Unsubscribe=One-Click")
        self.assertEqual(status, 200)
        self.assertEqual(body, "You are unsubscribed.\n")
        self.assertEqual(response_headers["Connection"], "close")
        d.kill(signal.SIGKILL)
        d.start()
        after = self.states()
        self.assertEqual(after[("two-emails", "bob@example.test")],
                         ("finished", "unsubscribed", None))
        self.assertEqual(after[("reply-only", "bob@example.test")], ("scheduled", None, None))
        self.assertTrue(after["bob@example.test"])
        self.assertEqual(after[("two-emails", "carol@example.test")], ("scheduled", None, None))
        self.assertFalse(after["carol@example.test"])
        shown = d.json("contact", "show", "bob@example.test")
        self.assertTrue(shown["email_opt_out"])

        # No further email to bob in either sequence; carol gets her second ones.
        d.json("time", "advance", "2d")
        self.assertEqual(len(self.message_files("bob@example.test")), 2)
        self.assertEqual(len(self.message_files("carol@example.test")), 4)
        final = self.states()
        self.assertEqual(final[("reply-only", "bob@example.test")],
                         ("not_sent", None, "email_opt_out"))

        # A second POST is harmless; the log has one line per POST and never the secret or token.
        status, _, _ = request(self.port, "POST", url, "List-Unsubscribe=One-Click")
        self.assertEqual(status, 200)
        log = d.log()
        self.assertEqual(log.count("unsubscribe link: contact bob@example.test opted out"), 2)
        self.assertIn("unsubscribe link refused", log)
        self.assertNotIn(SECRET, log)
        self.assertNotIn(url[3:], log)


class Reload(unittest.TestCase):
    def test_reload_rereads_the_secret_and_refuses_a_new_http_listen(self):
        port = free_port()
        d = Daemon(seqd_yaml=unsubscribe_yaml(port))
        self.addCleanup(d.cleanup)
        d.write_file("unsubscribe.key", SECRET)
        d.start()
        d.json("import", d.write_file("contacts.csv", CONTACTS))
        old_path = "/u/" + expected_token("bob@example.test", "two-emails")
        status, _, _ = request(port, "GET", old_path)
        self.assertEqual(status, 200)

        new_secret = "a-new-secret-after-rotation-0123"
        d.write_file("unsubscribe.key", new_secret)
        d.json("reload")
        status, _, _ = request(port, "POST", old_path, "List-Unsubscribe=One-Click")
        self.assertEqual(status, 404)
        self.assertFalse(d.json("contact", "show", "bob@example.test")["email_opt_out"])
        new_path = "/u/" + expected_token("bob@example.test", "two-emails", new_secret)
        status, _, _ = request(port, "POST", new_path, "List-Unsubscribe=One-Click")
        self.assertEqual(status, 200)
        self.assertTrue(d.json("contact", "show", "bob@example.test")["email_opt_out"])

        # A too-short secret or a new http_listen: rejected whole, the running config stays.
        d.write_file("unsubscribe.key", "short")
        rejected = d.seqctl("reload")
        self.assertEqual(rejected.returncode, 1)
        self.assertIn("unsubscribe.key holds 5 bytes", rejected.stderr)
        d.write_file("unsubscribe.key", new_secret)
        d.write_file("seqd.yaml", unsubscribe_yaml(free_port()).format(
            root=d.root, user=os.environ.get("USER") or "root"))
        rejected = d.seqctl("reload")
        self.assertEqual(rejected.returncode, 1)
        self.assertIn("http_listen is read at start", rejected.stderr)
        status, _, _ = request(port, "GET", new_path)
        self.assertEqual(status, 200)


class WithoutUnsubscribeUrl(unittest.TestCase):
    def test_only_the_mailto_link_and_no_list_unsubscribe_post(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        d.start()
        d.json("import", d.write_file("contacts.csv", CONTACTS))
        d.json("add", "two-emails", "--contact", "bob@example.test")
        d.json("sequence", "activate", "two-emails")
        d.json("time", "advance", "1h")
        new_dir = os.path.join(d.outbox, "alice@acme.test", "new")
        names = os.listdir(new_dir)
        self.assertEqual(len(names), 1)
        headers = raw_headers(os.path.join(new_dir, names[0]))
        self.assertIn(("List-Unsubscribe", MAILTO), headers)
        self.assertNotIn("List-Unsubscribe-Post", [name for name, _ in headers])


class BadSecretFile(unittest.TestCase):
    def test_a_short_secret_stops_the_start_with_the_file_named(self):
        d = Daemon(seqd_yaml=unsubscribe_yaml(free_port()))
        self.addCleanup(d.cleanup)
        d.write_file("unsubscribe.key", "too-short\n")
        process = d.start(expect_ready=False)
        self.assertNotEqual(process.wait(timeout=30), 0)
        log = d.log()
        self.assertIn(os.path.join(d.root, "unsubscribe.key") + " holds 9 bytes", log)
        self.assertNotIn("too-short", log)


if __name__ == "__main__":
    harness.main()
