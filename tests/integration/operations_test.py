"""Proves the operator commands and events work through seqctl on a real seqd: pause with
auto-resume, resume, finish, remove and re-add, retry, set-mailbox, events and explain, with
SPEC §4's exit codes (0 done, 1 unknown, 2 usage, 3 done in part)."""
import os
import unittest

import harness
from harness import Daemon, contacts_csv


class Operations(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.d.start()
        self.d.json("add", "two-emails", "--csv", self.d.write_file("c.csv", contacts_csv(3)))
        self.d.json("sequence", "activate", "two-emails")
        self.d.json("time", "advance", "1h")  # the first email went to all three

    def row(self, contact):
        rows = self.d.json("status", "two-emails", "--search", contact)["contacts"]
        self.assertEqual(len(rows), 1)
        return rows[0]

    def test_pause_with_resume_at_resumes_by_itself(self):
        d = self.d
        paused = d.json("pause", "two-emails", "person0@example.test", "--resume-at", "+2d")
        self.assertEqual(paused["done"], ["person0@example.test"])
        row = self.row("person0@")
        self.assertEqual((row["status"], row["paused_reason"]), ("paused", "manual"))
        self.assertEqual(row["resume_at"], "2026-12-03T15:00:00Z")
        listed = d.json("status", "two-emails", "--status", "paused", "--resume-scheduled", "yes")
        self.assertEqual([c["contact"] for c in listed["contacts"]], ["person0@example.test"])
        d.json("time", "advance", "25h")
        self.assertEqual(len(d.messages()), 5)  # two others got step 2, person0 did not
        d.json("time", "advance", "1d")
        self.assertEqual(len(d.messages()), 6)
        self.assertEqual(self.row("person0@")["status"], "finished")

    def test_resume_finish_and_partial_exit_codes(self):
        d = self.d
        d.json("pause", "two-emails", "person1@example.test")
        partial = d.seqctl("--json", "resume", "two-emails", "person1@example.test",
                           "person2@example.test")
        self.assertEqual(partial.returncode, 3)
        self.assertIn("not_paused", partial.stdout)
        self.assertEqual(self.row("person1@")["status"], "scheduled")
        d.json("finish", "two-emails", "person2@example.test", "--reason", "booked by phone")
        self.assertEqual(self.row("person2@")["finish_reason"], "manual:booked by phone")
        self.assertEqual(d.seqctl("finish", "two-emails", "nobody@example.test").returncode, 1)
        self.assertEqual(d.seqctl("pause", "nope", "person1@example.test").returncode, 1)
        self.assertEqual(d.seqctl("pause", "two-emails").returncode, 2)
        self.assertEqual(d.seqctl("pause", "two-emails", "x", "--bogus").returncode, 2)

    def test_remove_then_re_add_resumes_after_the_last_step_done(self):
        d = self.d
        d.json("remove", "two-emails", "person0@example.test")
        self.assertEqual(self.row("person0@")["status"], "removed")
        d.json("time", "advance", "2d")
        self.assertEqual(len(d.messages()), 5)
        added = d.json("add", "two-emails", "--contact", "person0@example.test")
        self.assertEqual(added["added"], ["person0@example.test"])
        d.json("time", "advance", "1d")
        self.assertEqual(len(d.messages()), 6)  # only step 2: step 1 is never repeated
        subjects = sorted(str(m["Subject"]) for m in d.messages()
                          if m["To"].addresses[0].addr_spec == "person0@example.test")
        self.assertEqual(subjects, ["Again, Name0", "Hello Name0"])

    def test_events_and_explain(self):
        d = self.d
        replied = d.json("event", "reply", "person0@example.test")
        self.assertEqual(replied["changed"], [{"sequence": "two-emails", "status": "finished"}])
        self.assertEqual(self.row("person0@")["finish_reason"], "replied")
        d.json("event", "ooo", "person1@example.test", "--until", "2026-12-10T00:00:00Z")
        row = self.row("person1@")
        self.assertEqual((row["paused_reason"], row["resume_at"]), ("ooo", "2026-12-10T00:00:00Z"))
        d.json("event", "bounce", "person2@example.test")
        self.assertEqual(self.row("person2@")["status"], "bounced")
        explained = d.seqctl("explain", "two-emails", "person2@example.test")
        self.assertEqual(explained.returncode, 0)
        self.assertIn("bounced", explained.stdout)
        retried = d.json("retry", "two-emails", "--all")
        self.assertEqual(retried["done"], ["person2@example.test"])
        d.json("time", "advance", "1m")
        self.assertEqual(self.row("person2@")["status"], "finished")
        self.assertEqual(d.seqctl("event", "reply", "nobody@example.test").returncode, 1)
        self.assertEqual(d.seqctl("event", "wave", "person1@example.test").returncode, 2)

    def test_clone_starts_over_under_a_new_id(self):
        d = self.d
        d.json("time", "advance", "2d")  # all three finished two-emails
        target = os.path.join(d.root, "sequences", "again-emails.yaml")
        cloned = d.json("sequence", "clone", "two-emails", "again-emails", "-o", target)
        self.assertEqual(cloned["file"], target)
        with open(target) as f:
            text = f.read()
        self.assertTrue(text.startswith("id: again-emails\n"))
        self.assertIn("name: Two emails a day apart", text)
        self.assertEqual(d.seqctl("sequence", "clone", "two-emails", "again-emails", "-o",
                                  target).returncode, 1)  # never overwrites
        self.assertEqual(d.seqctl("sequence", "clone", "two-emails", "bad id!").returncode, 2)
        self.assertEqual(d.seqctl("sequence", "clone", "nope", "x").returncode, 1)
        printed = d.seqctl("sequence", "clone", "two-emails", "other")
        self.assertTrue(printed.stdout.startswith("id: other\n"))
        d.json("reload")
        d.json("add", "again-emails", "--contact", "person0@example.test", "--force")
        d.json("sequence", "activate", "again-emails")
        d.json("time", "advance", "1m")
        self.assertEqual(len(d.messages()), 7)  # the clone sends step 1 again

    def test_set_mailbox(self):
        d = self.d
        self.assertEqual(
            d.seqctl("set-mailbox", "two-emails", "person0@example.test",
                     "--mailbox", "nobody@acme.test").returncode, 1)
        d.json("set-mailbox", "two-emails", "person0@example.test", "--mailbox", "alice@acme.test")
        self.assertEqual(d.seqctl("set-mailbox", "two-emails", "person0@example.test").returncode, 2)


class Tasks(unittest.TestCase):
    def test_call_step_task_flow(self):
        d = Daemon(sequences={"with-call": harness.CALL_SEQUENCE_YAML})
        self.addCleanup(d.cleanup)
        d.start()
        csv_path = d.write_file("c.csv", "email,first_name,company,owner,dnc\n"
                                "a@example.test,Ann,Initech,bob,false\n"
                                "b@example.test,Ben,Globex,,true\n")
        added = d.json("add", "with-call", "--csv", csv_path, "--force")
        self.assertEqual(len(added["added"]), 2)
        d.json("sequence", "activate", "with-call")
        d.json("time", "advance", "25h")
        tasks = d.json("tasks")["tasks"]
        self.assertEqual(len(tasks), 1)  # Ben is on the Do-Not-Call list: no task, moves on
        task = tasks[0]
        self.assertEqual({k: task[k] for k in ("sequence", "contact", "step", "type", "owner",
                                               "state")},
                         {"sequence": "with-call", "contact": "a@example.test", "step": "ring",
                          "type": "call", "owner": "bob", "state": "open"})
        self.assertEqual(task["due_at"], "2026-12-02T14:00:00Z")
        self.assertEqual(d.json("tasks", "--owner", "carol")["tasks"], [])
        self.assertEqual(len(d.json("tasks", "--due-before", "2026-12-03T00:00:00Z")["tasks"]), 1)
        status = {c["contact"]: c for c in d.json("status", "with-call")["contacts"]}
        self.assertEqual(status["a@example.test"]["status"], "active")
        self.assertEqual(status["b@example.test"]["step"], "after")
        self.assertEqual(d.seqctl("task", "complete", "999999").returncode, 1)
        self.assertEqual(d.seqctl("task", "complete", "x").returncode, 2)
        d.json("task", "complete", str(task["id"]))
        self.assertEqual(d.seqctl("task", "skip", str(task["id"])).returncode, 1)
        d.json("time", "advance", "1d")
        subjects = sorted(str(m["Subject"]) for m in d.messages())
        self.assertEqual(subjects, ["After our call, Ann", "After our call, Ben", "Hello Ann",
                                    "Hello Ben"])


LIMITED_YAML = """\
state_dir: {root}/state
control_socket: {root}/ctl.sock
admins: [root, {user}]
delivery:
  maildir: {{dir: {root}/outbox}}
mailboxes:
  - address: alice@acme.test
    name: Alice Smith
    transport: maildir
    daily_limit: 3
    hourly_limit: 2
"""


class SendLimits(unittest.TestCase):
    def test_limits_hold_across_a_restart_and_the_backlog_waits_active(self):
        import signal
        d = Daemon(seqd_yaml=LIMITED_YAML)
        self.addCleanup(d.cleanup)
        d.start()
        d.json("add", "two-emails", "--csv", d.write_file("c.csv", contacts_csv(5)))
        d.json("sequence", "activate", "two-emails")
        d.json("time", "advance", "1m")
        self.assertEqual(len(d.messages()), 2)
        status = d.json("status", "two-emails", "--status", "active")["contacts"]
        self.assertEqual(len(status), 3)
        self.assertEqual({c["next_at"] for c in status}, {"2026-12-01T15:00:00Z"})
        sent_first = {m["To"].addresses[0].addr_spec for m in d.messages()}
        scores = {c["contact"]: c["score"] for c in d.json("status", "two-emails")["contacts"]}
        self.assertEqual(sent_first, set(sorted(scores, key=scores.get, reverse=True)[:2]))
        mailbox = d.json("mailboxes")["mailboxes"][0]
        self.assertEqual((mailbox["address"], mailbox["sent_today"], mailbox["daily_limit"],
                          mailbox["sent_this_hour"], mailbox["hourly_limit"]),
                         ("alice@acme.test", 2, 3, 2, 2))
        self.assertEqual(mailbox["next_free"], "2026-12-01T15:00:00Z")
        self.assertIn("2/3", d.seqctl("mailboxes").stdout)

        d.kill(signal.SIGKILL)
        d.start()
        d.json("time", "advance", "30m")
        self.assertEqual(len(d.messages()), 2)  # the hour is still full after the restart
        d.json("time", "advance", "40m")
        self.assertEqual(len(d.messages()), 3)  # one more: the day allows 3
        d.json("time", "advance", "20h")
        self.assertEqual(len(d.messages()), 3)
        d.json("time", "advance", "3h")  # 14:11 the next day: the first two sends' slots free
        self.assertEqual(len(d.messages()), 5)


if __name__ == "__main__":
    harness.main()
