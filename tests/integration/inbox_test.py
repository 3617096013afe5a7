"""The inbox: with only `inbox:` configured, seqd reads the sending mailbox's Maildir itself.

A reply to the first email finishes the contact before the second goes out; an auto-reply
with a return date pauses it until then and it resumes; a DSN with 5.1.1 marks it bounced;
a mailed "unsubscribe" opts it out; a mailing-list message is left alone. Each message is
applied once: read again after a lost mark (the window a crash leaves between the commit
and the mark), it changes nothing. On the real clock the poller thread does the same by
itself every inbox_poll.
"""
import email
import email.policy
import os
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SEQD_YAML = harness.seqd_yaml(
    top="inbox_poll: 1s\n",
    mailboxes=harness.alice_mailbox(extra="    inbox: {{maildir: {root}/inbox}}\n"))

ALWAYS_OPEN = """\
business-hours:
  timezone: America/New_York
  windows:
    mon-sun: ["00:00-24:00"]
"""

CONTACTS = """\
email,first_name,score
replier@example.test,Rita,90
away@example.test,Otto,80
bouncer@example.test,Bo,70
leaver@example.test,Lee,60
quiet@example.test,Quinn,50
"""


def sent_ids(d):
    """contact email -> Message-ID of the first email it got."""
    ids = {}
    for message in d.messages():
        if message["X-Seqd-Step"] == "hello":
            ids[str(message["To"]).split("<")[-1].rstrip(">").strip()] = message["Message-ID"]
    return ids


def deliver(d, name, text):
    """Delivers a message into the inbox Maildir the way an MTA does (tmp, then new)."""
    for folder in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(d.root, "inbox", folder), exist_ok=True)
    tmp = os.path.join(d.root, "inbox", "tmp", name)
    with open(tmp, "w") as f:
        f.write(text.replace("\n", "\r\n"))
    os.rename(tmp, os.path.join(d.root, "inbox", "new", name))


def reply(to_id):
    return ("From: Rita <replier@example.test>\nTo: alice@acme.test\n"
            "Subject: Re: Hello Rita\nMessage-ID: <rita-reply-1@example.test>\n"
            "In-Reply-To: %s\nReferences: %s\nDate: Tue, 01 Dec 2026 15:00:00 +0000\n\n"
            "Sure, let's talk on Thursday.\n" % (to_id, to_id))


def out_of_office(to_id):
    return ("From: Otto <away@example.test>\nTo: alice@acme.test\n"
            "Subject: Automatic reply: Hello Otto\nMessage-ID: <otto-ooo-1@example.test>\n"
            "In-Reply-To: %s\nAuto-Submitted: auto-replied\n"
            "Date: Tue, 01 Dec 2026 15:00:00 +0000\n\n"
            "I am out of the office and back on December 10, 2026.\n" % to_id)


def bounce(to_id):
    return ("From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\n"
            "To: alice@acme.test\nSubject: Undelivered Mail Returned to Sender\n"
            "Message-ID: <dsn-1@mx.example.test>\nDate: Tue, 01 Dec 2026 15:00:00 +0000\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\n"
            "--b1\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
            "--b1\nContent-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx.example.test\n\n"
            "Final-Recipient: rfc822; bouncer@example.test\nAction: failed\nStatus: 5.1.1\n"
            "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n"
            "--b1\nContent-Type: text/rfc822-headers\n\n"
            "From: Alice Smith <alice@acme.test>\nTo: bouncer@example.test\n"
            "Message-ID: %s\nSubject: Hello Bo\n\n--b1--\n" % to_id)


UNSUBSCRIBE = ("From: leaver@example.test\nTo: alice@acme.test\nSubject: unsubscribe\n"
               "Message-ID: <lee-unsub@example.test>\nDate: Tue, 01 Dec 2026 15:00:00 +0000\n\n\n")

MAILING_LIST = ("From: news@lists.example.test\nTo: alice@acme.test\nSubject: Weekly digest\n"
                "List-Id: <weekly.lists.example.test>\nPrecedence: list\n"
                "Message-ID: <digest-1@lists.example.test>\n\nNews.\n")


class InboxTest(unittest.TestCase):
    def start(self, virtual=True):
        self.d = harness.Daemon(sequences={"two-emails": harness.TWO_EMAILS_YAML},
                                seqd_yaml=SEQD_YAML, schedules_yaml=ALWAYS_OPEN)
        self.addCleanup(self.d.cleanup)
        self.d.start(virtual_time=harness.VIRTUAL_START if virtual else None)
        path = self.d.write_file("contacts.csv", CONTACTS)
        self.d.json("sequence", "activate", "two-emails")
        self.d.json("add", "two-emails", "--csv", path)

    def statuses(self):
        rows = self.d.json("status", "two-emails")["contacts"]
        return {row["contact"]: row for row in rows}

    def test_reply_ooo_bounce_unsubscribe_each_applied_once(self):
        self.start()
        d = self.d
        d.json("time", "advance", "1m")
        ids = sent_ids(d)
        self.assertEqual(len(ids), 5, ids)
        deliver(d, "1.reply", reply(ids["replier@example.test"]))
        deliver(d, "2.ooo", out_of_office(ids["away@example.test"]))
        deliver(d, "3.dsn", bounce(ids["bouncer@example.test"]))
        deliver(d, "4.unsub", UNSUBSCRIBE)
        deliver(d, "5.list", MAILING_LIST)

        d.json("time", "advance", "1h")
        rows = self.statuses()
        self.assertEqual(rows["replier@example.test"]["status"], "finished")
        self.assertEqual(rows["replier@example.test"]["finish_reason"], "replied")
        self.assertEqual(rows["away@example.test"]["status"], "paused")
        self.assertEqual(rows["away@example.test"]["paused_reason"], "ooo")
        self.assertEqual(rows["away@example.test"]["resume_at"], "2026-12-10T00:00:00Z")
        self.assertEqual(rows["bouncer@example.test"]["status"], "bounced")
        self.assertEqual(rows["leaver@example.test"]["status"], "finished")
        self.assertEqual(rows["leaver@example.test"]["finish_reason"], "unsubscribed")
        self.assertEqual(rows["quiet@example.test"]["status"], "scheduled")
        self.assertTrue(d.json("contact", "show", "leaver@example.test")["email_opt_out"])

        explained = d.seqctl("explain", "two-emails", "replier@example.test").stdout
        self.assertIn("<rita-reply-1@example.test>", explained)
        inbox = d.json("inbox")["messages"]
        self.assertEqual([m["kind"] for m in inbox],
                         ["reply", "auto_reply", "bounce", "unsubscribe", "other"], inbox)
        self.assertEqual(inbox[4]["action"], "left alone")
        self.assertIn("inbox alice@acme.test: reply from replier@example.test", d.log())

        # Handled messages went to cur/ unread; the list message stays in new/.
        self.assertEqual(sorted(os.listdir(os.path.join(d.root, "inbox", "cur"))),
                         ["1.reply:2,", "2.ooo:2,", "3.dsn:2,", "4.unsub:2,"])
        self.assertEqual(os.listdir(os.path.join(d.root, "inbox", "new")), ["5.list"])

        # The next day only the quiet contact gets the second email.
        d.json("time", "advance", "1d")
        second = [str(m["To"]) for m in d.messages() if m["X-Seqd-Step"] == "again"]
        self.assertEqual(len(second), 1, second)
        self.assertIn("quiet@example.test", second[0])

        # The out-of-office contact resumes on its return date and gets the second email.
        d.json("time", "set", "2026-12-10T01:00:00Z")
        second = [str(m["To"]) for m in d.messages() if m["X-Seqd-Step"] == "again"]
        self.assertEqual(len(second), 2, second)
        self.assertTrue(any("away@example.test" in to for to in second))

    def test_a_message_read_again_after_a_lost_mark_changes_nothing(self):
        self.start()
        d = self.d
        d.json("time", "advance", "1m")
        ids = sent_ids(d)
        deliver(d, "ooo", out_of_office(ids["away@example.test"]))
        d.json("time", "advance", "1m")
        self.assertEqual(self.statuses()["away@example.test"]["status"], "paused")
        d.json("resume", "two-emails", "away@example.test")
        # A crash after the commit and before the mark leaves the message in new/; the
        # restarted seqd reads it again.
        d.kill()
        cur = os.path.join(d.root, "inbox", "cur", "ooo:2,")
        shutil.move(cur, os.path.join(d.root, "inbox", "new", "ooo"))
        d.start(virtual_time=harness.VIRTUAL_START)
        d.json("time", "advance", "1m")
        self.assertEqual(self.statuses()["away@example.test"]["status"], "scheduled")
        self.assertEqual(d.json("inbox")["messages"][0]["action"], "applied before")
        self.assertTrue(os.path.exists(cur))

    def test_on_the_real_clock_the_poller_reads_by_itself(self):
        self.start(virtual=False)
        d = self.d
        deadline = time.time() + 20
        while time.time() < deadline and len(sent_ids(d)) < 5:
            time.sleep(0.1)
        ids = sent_ids(d)
        self.assertEqual(len(ids), 5)
        deliver(d, "reply", reply(ids["replier@example.test"]))
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.statuses()["replier@example.test"]["status"] == "finished":
                break
            time.sleep(0.2)
        self.assertEqual(self.statuses()["replier@example.test"]["finish_reason"], "replied")
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(
                os.path.join(d.root, "inbox", "cur", "reply:2,")):
            time.sleep(0.1)
        self.assertTrue(os.path.exists(os.path.join(d.root, "inbox", "cur", "reply:2,")))


if __name__ == "__main__":
    harness.main()
