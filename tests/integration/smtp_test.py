"""Proves seqd delivers over SMTP to real servers and sorts every outcome as SPEC §3 rule 10
says: 2xx sent, 5xx bounced, 4xx retried with bounded backoff then not_sent:
smtp_4xx_exhausted, and a send cut off after the message went out not_sent: interrupted,
never repeated until `seqctl retry`."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Daemon, contacts_csv, free_port, wait_for_port


def smtp_yaml(port, smtp_extra=""):
    """alice@acme.test over the relay on port, with seqd's default send limits."""
    return harness.smtp_seqd_yaml(port, smtp_extra=smtp_extra, daily_limit=None,
                                  hourly_limit=None)


ONE_EMAIL_YAML = """\
id: two-emails
name: One email over SMTP
owner: alice
schedule: business-hours
mailboxes: [alice@acme.test]
steps:
  - id: hello
    type: auto_email
    wait: 0m
    subject: "Hello {{first_name}}"
    body: "Hi {{first_name|there}}.\\n.a line that starts with a dot\\n"
"""


class SmtpDelivery(unittest.TestCase):
    def start_server(self, argv):
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (process.terminate(), process.wait(timeout=10)))
        return process

    def start_relay(self):
        port = free_port()
        out = os.path.join(self.tmp, "relay")
        os.makedirs(out)
        script = os.path.join(harness.ARGS.source_dir, "tests", "io", "smtp_server.py")
        process = self.start_server(["/usr/bin/python3", script, "--port", str(port),
                                     "--out", out])
        wait_for_port(port, process)
        return port, out

    def start_sink(self, *options):
        port = free_port()
        argv = ["/usr/sbin/smtp-sink"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        process = self.start_server(argv + list(options) + ["127.0.0.1:%d" % port, "10"])
        wait_for_port(port, process)
        return port

    def start_daemon(self, port):
        d = Daemon(sequences={"two-emails": ONE_EMAIL_YAML},
                   seqd_yaml=smtp_yaml(port))
        self.addCleanup(d.cleanup)
        d.start()
        return d

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="seqd-smtp-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def enroll(self, d, csv_text):
        d.json("add", "two-emails", "--csv", d.write_file("c.csv", csv_text))
        d.json("sequence", "activate", "two-emails")

    def statuses(self, d):
        return {c["contact"]: c for c in d.json("status", "two-emails")["contacts"]}

    def test_delivered_to_a_relay_and_5xx_bounces(self):
        port, out = self.start_relay()
        d = self.start_daemon(port)
        self.enroll(d, "email,first_name\nann@example.test,Ann\nunknown@example.test,Nobody\n")
        d.json("time", "advance", "1m")
        status = self.statuses(d)
        self.assertEqual(status["ann@example.test"]["status"], "finished")
        self.assertEqual(status["unknown@example.test"]["status"], "bounced")
        messages = sorted(name for name in os.listdir(out) if name.endswith(".eml"))
        self.assertEqual(len(messages), 1)
        with open(os.path.join(out, messages[0]), "rb") as f:
            raw = f.read()
        self.assertIn(b"Subject: Hello Ann\r\n", raw)
        self.assertIn(b"\r\n.a line that starts with a dot\r\n", raw)
        self.assertIn(b"Message-ID: <two-emails.hello.", raw)

    def test_each_send_is_one_log_line_and_the_password_is_never_logged(self):
        password = "s3cret-Relay-Pa55"
        port = free_port()
        out = os.path.join(self.tmp, "relay")
        os.makedirs(out)
        script = os.path.join(harness.ARGS.source_dir, "tests", "io", "smtp_server.py")
        process = self.start_server(["/usr/bin/python3", script, "--port", str(port),
                                     "--out", out, "--auth", "relayuser:" + password])
        wait_for_port(port, process)
        password_file = os.path.join(self.tmp, "smtp.pw")
        with open(password_file, "w") as f:
            f.write(password + "\n")
        yaml = smtp_yaml(port, ", username: relayuser, password_file: %s" % password_file)
        d = Daemon(sequences={"two-emails": ONE_EMAIL_YAML}, seqd_yaml=yaml)
        self.addCleanup(d.cleanup)
        d.start()
        self.enroll(d, "email,first_name\nann@example.test,Ann\n")
        d.json("time", "advance", "1m")
        self.assertEqual(self.statuses(d)["ann@example.test"]["status"], "finished")
        d.json("explain", "two-emails", "ann@example.test")  # reads are not logged
        log = d.log()
        sent = [line for line in log.splitlines() if "sent: " in line]
        self.assertEqual(len(sent), 1, log)
        self.assertRegex(sent[0], r"sent: sequence two-emails step hello contact "
                                  r"ann@example\.test mailbox alice@acme\.test "
                                  r"<two-emails\.hello\.[0-9a-f]{16}@acme\.test>$")
        self.assertNotIn(password, log)
        self.assertNotIn("explain", log)
        self.assertNotIn("command status", log)

    def test_4xx_is_retried_with_backoff_then_exhausted(self):
        port = self.start_sink("-r", "RCPT")
        d = self.start_daemon(port)
        self.enroll(d, "email,first_name\nann@example.test,Ann\n")
        d.json("time", "advance", "1m")
        row = self.statuses(d)["ann@example.test"]
        self.assertEqual(row["status"], "scheduled")  # first retry in 5 minutes
        self.assertEqual(row["next_at"], "2026-12-01T14:05:00Z")
        d.json("time", "advance", "3h")
        row = self.statuses(d)["ann@example.test"]
        self.assertEqual((row["status"], row["not_sent_reason"]),
                         ("not_sent", "smtp_4xx_exhausted"))
        self.assertEqual(d.log().count("delivery of <two-emails.hello."), 4)

    def test_cut_off_after_the_data_is_interrupted_and_never_repeated(self):
        port = self.start_sink("-q", ".")
        d = self.start_daemon(port)
        self.enroll(d, "email,first_name\nann@example.test,Ann\n")
        d.json("time", "advance", "1m")
        row = self.statuses(d)["ann@example.test"]
        self.assertEqual((row["status"], row["not_sent_reason"]), ("not_sent", "interrupted"))
        d.json("time", "advance", "1d")
        self.assertEqual(d.log().count("delivery of <two-emails.hello."), 1)
        d.json("retry", "two-emails", "ann@example.test")
        d.json("time", "advance", "1m")
        self.assertEqual(d.log().count("delivery of <two-emails.hello."), 2)

    def test_a_send_in_flight_at_a_crash_becomes_interrupted(self):
        port = self.start_sink("-W", ".:30")  # holds the final reply for 30 s
        d = self.start_daemon(port)
        self.enroll(d, "email,first_name\nann@example.test,Ann\n")
        advance = subprocess.Popen([harness.ARGS.seqctl, "--socket", d.socket, "time",
                                    "advance", "1m"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        self.addCleanup(advance.wait)
        time.sleep(1.5)  # the step commits and its send starts at once; the reply never comes
        self.assertIsNone(advance.poll(), "time advance returned before the send finished")
        d.kill(signal.SIGKILL)
        d.start()
        row = self.statuses(d)["ann@example.test"]
        self.assertEqual((row["status"], row["not_sent_reason"]), ("not_sent", "interrupted"))


if __name__ == "__main__":
    harness.main()
