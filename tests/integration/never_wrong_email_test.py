"""Proves, on the real daemon with real SMTP peers, the trust rules of SPEC §3 rules 1 and 10:
a late delivery result never overrides the operator; a crash marks as interrupted only the
sends that had started (at most one per worker), never the queue; SIGTERM stops sending and
exits in bounded time; SIGTERM in the middle of the rounds (a commit in flight) exits cleanly
and neither loses nor repeats a message; editing a running sequence never re-sends a step; a
sequence removed by a reload and restored fires again; a contact waiting on a task never
gets a second task; and a `time advance` over many rounds of sends sends each step once."""
import collections
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness
from harness import (Daemon, alice_mailbox, always_open, contacts_csv, free_port, seqd_yaml,
                     wait_for_port)


TWO_EMAILS_0M_YAML = """\
id: seq
name: Two emails, no wait
owner: alice
schedule: business-hours
mailboxes: [alice@acme.test]
steps:
  - id: first
    type: auto_email
    wait: 0m
    subject: "First {{first_name}}"
    body: "One."
  - id: second
    type: auto_email
    wait: 0m
    subject: "Second {{first_name}}"
    body: "Two."
"""


def sequence_yaml(steps, seq_id="seq"):
    """A Maildir sequence with the given (id, type, wait) steps."""
    lines = ["id: %s" % seq_id, "name: Edited", "owner: alice", "schedule: business-hours",
             "mailboxes: [alice@acme.test]", "steps:"]
    for step_id, step_type, wait in steps:
        lines += ["  - id: %s" % step_id, "    type: %s" % step_type, "    wait: %s" % wait]
        if step_type == "auto_email":
            lines += ['    subject: "%s {{first_name}}"' % step_id, '    body: "Body."']
        else:
            lines += ['    note: "Do %s"' % step_id]
    return "\n".join(lines) + "\n"


class SmtpTiming(unittest.TestCase):
    """Odd timing against postfix's smtp-sink: late answers, crashes and SIGTERM mid-send."""

    def start_sink(self, *options):
        port = free_port()
        argv = ["/usr/sbin/smtp-sink"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        process = subprocess.Popen(argv + list(options) + ["127.0.0.1:%d" % port, "100"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (process.terminate(), process.wait(timeout=10)))
        wait_for_port(port, process)
        return port

    def start_daemon(self, port, timeout="5s"):
        d = Daemon(sequences={"seq": TWO_EMAILS_0M_YAML},
                   seqd_yaml=harness.smtp_seqd_yaml(port, timeout=timeout))
        self.addCleanup(d.cleanup)
        d.start()
        return d

    def enroll(self, d, count):
        d.json("add", "seq", "--csv", d.write_file("c.csv", contacts_csv(count)))
        d.json("sequence", "activate", "seq")

    def advance_in_background(self, d, duration="1m"):
        advance = subprocess.Popen([harness.ARGS.seqctl, "--socket", d.socket, "time",
                                    "advance", duration], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        self.addCleanup(advance.wait)
        return advance

    def statuses(self, d):
        return {c["contact"]: c for c in d.json("status", "seq")["contacts"]}

    def test_late_results_never_override_pause_remove_finish_or_reply(self):
        # On the real clock, MAIL waits 3 s and RCPT is answered 4xx (or 5xx): the sends have
        # begun when the operator acts, and their results arrive after that.
        for reject in ("-r", "-f"):
            port = self.start_sink(reject, "RCPT", "-W", "MAIL:3")
            d = Daemon(sequences={"seq": always_open(TWO_EMAILS_0M_YAML)},
                       seqd_yaml=harness.smtp_seqd_yaml(port, timeout="10s"))
            d.start(virtual_time=None)
            d.json("add", "seq", "--csv", d.write_file("c.csv", contacts_csv(4)))
            contacts = sorted(self.statuses(d))
            d.json("sequence", "activate", "seq")
            time.sleep(1.0)  # two sends are out (two workers), waiting for the late answer
            d.json("pause", "seq", contacts[0], contacts[1])
            d.json("remove", "seq", contacts[2])
            d.json("event", "reply", contacts[3], "--seq", "seq")
            time.sleep(6.0)  # every late answer has come back
            self.assertGreaterEqual(d.log().count("delivery of"), 2, d.log())
            status = self.statuses(d)
            self.assertEqual(status[contacts[0]]["status"], "paused", (reject, status))
            self.assertEqual(status[contacts[1]]["status"], "paused", (reject, status))
            self.assertEqual(status[contacts[2]]["status"], "removed", (reject, status))
            self.assertEqual((status[contacts[3]]["status"], status[contacts[3]]["finish_reason"]),
                             ("finished", "replied"), (reject, status))
            d.cleanup()

    def test_a_crash_marks_only_started_sends_interrupted(self):
        port = self.start_sink("-W", ".:30")  # the final reply never comes in time
        d = self.start_daemon(port, timeout="60s")
        self.enroll(d, 300)
        self.advance_in_background(d)
        time.sleep(2.0)  # the sends started; the queue behind them waits
        d.kill(signal.SIGKILL)
        d.start()
        rows = self.statuses(d).values()
        interrupted = [r for r in rows if r["not_sent_reason"] == "interrupted"]
        self.assertLessEqual(len(interrupted), 2, "at most one uncertain send per worker")
        self.assertGreaterEqual(len(interrupted), 1)
        waiting = [r for r in rows if r["status"] == "scheduled" and r["step"] == "first"]
        self.assertEqual(len(waiting) + len(interrupted), 300)
        # retry --all touches only the uncertain ones, and says they may be duplicates.
        result = d.json("retry", "seq", "--all")
        self.assertEqual(sorted(result["done"]), sorted(r["contact"] for r in interrupted))
        self.assertEqual(sorted(result["may_duplicate"]), sorted(result["done"]))

    def test_sigterm_stops_sending_and_exits_in_bounded_time(self):
        port = self.start_sink("-W", ".:60")  # a relay that does not answer
        d = self.start_daemon(port, timeout="3s")
        self.enroll(d, 100)
        self.advance_in_background(d)
        time.sleep(1.5)
        started = time.time()
        d.process.send_signal(signal.SIGTERM)
        code = d.process.wait(timeout=30)
        elapsed = time.time() - started
        self.assertEqual(code, 0, d.log())
        self.assertLess(elapsed, 15, "SMTP timeout 3 s + grace 5 s")
        log = d.log()
        stopped_at = log.index("stopped; state committed")
        self.assertNotIn("delivery of", log[stopped_at:], "nothing is sent after the last commit")
        self.assertLessEqual(log.count("delivery of"), 2, "only the messages the workers were on")
        d.start()
        rows = list(self.statuses(d).values())
        uncertain = [r for r in rows if r["status"] != "scheduled"]
        self.assertLessEqual(len(uncertain), 2, uncertain)

    def test_a_4xx_on_the_first_of_two_0m_steps_retries_it_and_the_second_waits(self):
        port = self.start_sink("-r", "RCPT")
        d = self.start_daemon(port)
        self.enroll(d, 1)
        d.json("time", "advance", "1m")
        (row,) = self.statuses(d).values()
        self.assertEqual((row["status"], row["step"]), ("scheduled", "first"))
        self.assertEqual(row["next_at"], "2026-12-01T14:05:00Z")
        d.json("time", "advance", "3h")
        (row,) = self.statuses(d).values()
        self.assertEqual((row["status"], row["not_sent_reason"], row["step"]),
                         ("not_sent", "smtp_4xx_exhausted", "first"))
        self.assertNotIn("seq.second.", d.log())


class SigtermMidRound(unittest.TestCase):
    """SIGTERM while rounds stream through (a 5 ms tick, Maildir delivery on the real clock),
    so a round's commit is often in flight when the signal comes: each stop exits 0 after
    "stopped; state committed", and over the stops and restarts every step reaches every
    contact exactly once."""

    # Enough that a restart's first burst (seqd sends at once what fell due while it was
    # stopped) leaves most of the stream for the next stop.
    CONTACTS = 2000

    def test_sigterm_mid_round_exits_cleanly_and_sends_each_step_once(self):
        seed = int(os.environ.get("SEQD_TEST_SEED", random.randrange(1 << 30)))
        print("seed", seed)
        rng = random.Random(seed)
        total = 2 * self.CONTACTS
        mailbox = alice_mailbox(hourly_limit=total).replace("daily_limit: 1000",
                                                            "daily_limit: %d" % total)
        d = Daemon(sequences={"seq": always_open(TWO_EMAILS_0M_YAML)},
                   seqd_yaml=seqd_yaml(mailboxes=mailbox).replace("tick: 100ms", "tick: 5ms"))
        self.addCleanup(d.cleanup)
        d.start(virtual_time=None)
        d.json("add", "seq", "--csv", d.write_file("c.csv", contacts_csv(self.CONTACTS)))
        d.json("sequence", "activate", "seq")
        new_dir = os.path.join(d.outbox, "alice@acme.test", "new")
        sent = 0
        for stop in range(3):
            # Stop once sending is under way again: 20-120 more messages than at the last stop.
            at_least = min(sent + rng.randrange(20, 120), total - 1)
            deadline = time.time() + 30
            while (not os.path.isdir(new_dir) or len(os.listdir(new_dir)) < at_least) and \
                    time.time() < deadline:
                time.sleep(0.002)
            code = d.kill(signal.SIGTERM)
            log = d.log()
            self.assertEqual(code, 0, "stop %d, seed %d: %s" % (stop, seed, log[-3000:]))
            self.assertEqual(log.count("stopped; state committed"), stop + 1, (seed, log[-3000:]))
            sent = len(os.listdir(new_dir))
            print("stop %d: at %d messages or more, %d when seqd had stopped" % (stop, at_least,
                                                                               sent))
            self.assertLess(sent, total, "seed %d: the stop came after the last send" % seed)
            d.start(virtual_time=None)
        deadline = time.time() + 60
        while len(os.listdir(new_dir)) < total and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a repeat would arrive after the last expected message
        sent = collections.Counter(
            (m["To"].addresses[0].addr_spec, str(m["Subject"]).split()[0]) for m in d.messages())
        repeated = {key: n for key, n in sent.items() if n != 1}
        self.assertEqual(repeated, {}, "seed %d" % seed)
        self.assertEqual(len(sent), total, "seed %d: every step reached every contact" % seed)
        rows = d.json("status", "seq")["contacts"]
        self.assertEqual(collections.Counter(r["status"] for r in rows),
                         {"finished": self.CONTACTS}, "seed %d" % seed)


class AdvanceTurns(unittest.TestCase):
    """`time advance` over many rounds of Maildir sends: a round releases at most 4,096, and a
    turn's sends are delivered while the next turn's commit is written (two rounds out)."""

    CONTACTS = 6000  # two steps each: 12,000 sends, three rounds and more

    def test_an_advance_over_many_rounds_sends_each_step_once_and_keeps_every_result(self):
        total = 2 * self.CONTACTS
        mailbox = alice_mailbox(hourly_limit=total, daily_limit=total)
        d = Daemon(sequences={"seq": always_open(TWO_EMAILS_0M_YAML)},
                   seqd_yaml=seqd_yaml(mailboxes=mailbox))
        self.addCleanup(d.cleanup)
        d.start()
        d.json("add", "seq", "--csv", d.write_file("c.csv", contacts_csv(self.CONTACTS)))
        d.json("sequence", "activate", "seq")
        d.json("time", "advance", "1h")

        def check(when):
            sent = collections.Counter(
                (m["To"].addresses[0].addr_spec, str(m["Subject"]).split()[0])
                for m in d.messages())
            self.assertEqual({key: n for key, n in sent.items() if n != 1}, {}, when)
            self.assertEqual(len(sent), total, when + ": every step reached every contact")
            rows = d.json("status", "seq")["contacts"]
            self.assertEqual(collections.Counter(r["status"] for r in rows),
                             {"finished": self.CONTACTS}, when)
            report = d.json("report", "seq")
            self.assertEqual((report["totals"]["sent"], report["totals"]["delivered"]),
                             (total, total), when)

        check("after the advance")
        # Every result the advance applied is committed by its answer: a kill -9 now loses none
        # (a lost one would leave its send out, delivered again at the start).
        d.kill()
        d.start()
        check("after kill -9 and a start")
        d.json("time", "advance", "1h")
        check("after another advance")


class EditsAndTasks(unittest.TestCase):
    """Maildir: reloads with edited steps, removed and restored sequences, and tasks."""

    def start(self, steps):
        d = Daemon(sequences={"seq": sequence_yaml(steps)})
        self.addCleanup(d.cleanup)
        d.start()
        return d

    def rewrite(self, d, steps, seq_id="seq"):
        d.write_file(os.path.join("sequences", seq_id + ".yaml"), sequence_yaml(steps, seq_id))

    def subjects(self, d):
        return sorted(str(m["Subject"]) for m in d.messages())

    def test_inserting_a_step_before_a_sent_one_never_resends_it(self):
        d = self.start([("a", "auto_email", "0m"), ("b", "auto_email", "1d")])
        d.json("add", "seq", "--csv", d.write_file("c.csv", contacts_csv(3)))
        d.json("sequence", "activate", "seq")
        d.json("time", "advance", "1h")
        self.assertEqual(len(self.subjects(d)), 3)
        self.rewrite(d, [("new", "auto_email", "0m"), ("a", "auto_email", "0m"),
                         ("b", "auto_email", "1d")])
        plan = d.json("reload", "--dry-run")
        self.assertEqual(plan["needs_force"], [])
        d.json("reload")
        d.json("time", "advance", "2d")
        subjects = self.subjects(d)
        self.assertEqual(len(subjects), 6, subjects)
        self.assertEqual(sum(s.startswith("a ") for s in subjects), 3)
        self.assertEqual(sum(s.startswith("b ") for s in subjects), 3)

    def test_removing_a_step_contacts_wait_on_needs_force(self):
        d = self.start([("a", "auto_email", "0m"), ("b", "auto_email", "1d"),
                        ("c", "auto_email", "1d")])
        d.json("add", "seq", "--csv", d.write_file("c.csv", contacts_csv(2)))
        d.json("sequence", "activate", "seq")
        d.json("time", "advance", "1h")
        self.rewrite(d, [("a", "auto_email", "0m"), ("c", "auto_email", "1d")])
        plan = d.json("reload", "--dry-run")
        self.assertEqual(len(plan["needs_force"]), 1)
        self.assertIn("'b'", plan["needs_force"][0])
        self.assertEqual(plan["moves"], [{"sequence": "seq", "from": "b", "to": "c",
                                          "contacts": 2}])
        refused = d.seqctl("reload")
        self.assertEqual(refused.returncode, 1, refused.stderr)
        self.assertIn("--force", refused.stderr)
        self.assertEqual({r["step"] for r in d.json("status", "seq")["contacts"]}, {"b"})
        d.json("reload", "--force")
        self.assertEqual({r["step"] for r in d.json("status", "seq")["contacts"]}, {"c"})
        d.json("time", "advance", "3d")
        subjects = self.subjects(d)
        self.assertEqual(sorted(s.split()[0] for s in subjects), ["a", "a", "c", "c"])

    def test_a_sequence_removed_and_restored_fires_without_a_restart(self):
        d = self.start([("a", "auto_email", "0m"), ("b", "auto_email", "1d")])
        d.json("add", "seq", "--csv", d.write_file("c.csv", contacts_csv(2)))
        d.json("sequence", "activate", "seq")
        d.json("time", "advance", "1h")
        path = os.path.join(d.root, "sequences", "seq.yaml")
        os.rename(path, path + ".off")
        self.assertEqual(d.seqctl("reload").returncode, 1)  # live contacts: needs --force
        d.json("reload", "--force")
        d.json("time", "advance", "2d")
        self.assertEqual(len(self.subjects(d)), 2)  # nothing while it is gone
        os.rename(path + ".off", path)
        d.json("reload")
        d.json("time", "advance", "1h")
        self.assertEqual(len(self.subjects(d)), 4)

    def test_a_contact_waiting_on_a_task_never_gets_a_second_one(self):
        d = self.start([("call", "task", "0m"), ("after", "auto_email", "0m")])
        d.json("add", "seq", "--csv", d.write_file("c.csv", contacts_csv(1)))
        d.json("sequence", "activate", "seq")
        d.json("time", "advance", "1m")
        (contact,) = [r["contact"] for r in d.json("status", "seq")["contacts"]]
        (task,) = d.json("tasks")["tasks"]
        d.json("pause", "seq", contact)
        d.json("resume", "seq", contact)
        d.json("remove", "seq", contact)
        tasks = d.json("tasks")["tasks"]
        self.assertEqual([(t["id"], t["state"]) for t in tasks], [(task["id"], "skipped")])
        d.json("add", "seq", "--contact", contact, "--force")
        d.json("time", "advance", "1m")
        tasks = d.json("tasks")["tasks"]
        self.assertEqual([(t["id"], t["state"]) for t in tasks], [(task["id"], "open")])
        d.json("task", "complete", str(task["id"]))
        d.json("time", "advance", "1m")
        self.assertEqual([s.split()[0] for s in self.subjects(d)], ["after"])
        (row,) = d.json("status", "seq")["contacts"]
        self.assertEqual((row["status"], row["finish_reason"]), ("finished", "completed"))


if __name__ == "__main__":
    harness.main()
