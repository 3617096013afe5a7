"""`seqctl report` counts exactly what happened, per step, A/B variant and mailbox, and keeps
those counts across a restart and the progress log's trim; `--html` draws the same numbers.

One sequence over SMTP (the test relay refuses unknown@ with 550) with a Maildir inbox: an A/B
first email, a call step, a second email. The contacts: one replies (a message in the inbox),
one bounces (5xx), one cannot be sent (a missing variable), one has a meeting booked, one's call
task is completed, one's skipped, one's left open, one unsubscribes after the second email.
The variant of each email is read back from its X-Seqd-Variant header at the relay and from
`status --json`, and the report's numbers are checked against what the relay received. Then
the virtual clock moves three days (the log keeps about one: its records of these sends are
deleted, which mdb_stat shows), seqd restarts, and the report is the same. Last, the HTML
page is rendered by headless Chromium and the numbers in its DOM equal `report --json`.
"""
import email
import email.policy
import html.parser
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import free_port, wait_for_port  # noqa: E402


SEQUENCE_YAML = """\
id: rep
name: Report <test> & co
owner: alice
schedule: always
mailboxes: [alice@acme.test]
rules:
  finish_on: [reply, meeting_booked, unsubscribe]
steps:
  - id: intro
    type: auto_email
    wait: 0m
    subject: "Hello {{first_name}}"
    body: "Hi {{first_name}}, a first note."
    variants:
      - {id: a, weight: 50}
      - {id: b, weight: 50, subject: "A question, {{first_name}}"}
  - id: call-1
    type: call
    wait: 1h
    note: "Call {{first_name|them}}"
  - id: bump
    type: auto_email
    wait: 1d
    subject: "Again, {{first_name}}"
    body: "Bumping this, {{first_name}}."
  - id: breakup
    type: auto_email
    wait: 7d
    thread: previous
    body: "Last note, {{first_name}}."
"""

CONTACTS = """\
email,first_name,score
ann@example.test,Ann,90
ben@example.test,Ben,80
cat@example.test,Cat,70
dan@example.test,Dan,60
eve@example.test,Eve,50
unknown@example.test,Nobody,40
gus@example.test,,30
"""

COUNTS = ("sent", "delivered", "bounced", "replied", "meetings", "unsubscribed", "not_sent",
          "tasks_done", "tasks_skipped")


def reply(to_id):
    return ("From: Ann <ann@example.test>\nTo: alice@acme.test\nSubject: Re: Hello Ann\n"
            "Message-ID: <ann-reply-1@example.test>\nIn-Reply-To: %s\nReferences: %s\n"
            "Date: Tue, 01 Dec 2026 15:00:00 +0000\n\nYes, Thursday works.\n" % (to_id, to_id))


def deliver(root, name, text):
    """Puts a message into the inbox Maildir the way an MTA does (tmp, then new)."""
    for folder in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(root, "inbox", folder), exist_ok=True)
    tmp = os.path.join(root, "inbox", "tmp", name)
    with open(tmp, "w") as f:
        f.write(text.replace("\n", "\r\n"))
    os.rename(tmp, os.path.join(root, "inbox", "new", name))


def counts_only(report):
    """The report without what moves with the clock (when it was made, the last day's sends)."""
    kept = dict(report)
    kept.pop("generated_at")
    kept["mailboxes"] = [{k: v for k, v in m.items() if k != "sent_by_hour"}
                         for m in report["mailboxes"]]
    return kept


def progress_entries(state_dir):
    out = subprocess.run(["mdb_stat", "-s", "progress", state_dir], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("Entries:"):
            return int(line.split(":")[1])
    raise AssertionError("no Entries line in mdb_stat output: " + out)


class DomCounts(html.parser.HTMLParser):
    """Collects the numbers the page marks with data-* attributes."""

    def __init__(self):
        super().__init__()
        self.values = {}
        self.attention = []
        self._open = None
        self.sequence = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-attention" in a:
            self.attention.append(a["data-attention"])
        if "data-sequence" in a:
            self.sequence = a["data-sequence"]
        key = None
        if "data-total" in a:
            key = ("total", a["data-total"])
        elif "data-hour" in a:
            key = ("hour", a["data-mailbox"], int(a["data-hour"]))
            self.values[key] = int(a["data-value"])
            return
        elif "data-count" in a and "data-variant" in a:
            key = ("variant", a["data-step"], a["data-variant"], a["data-count"])
        elif "data-count" in a and "data-step" in a:
            key = ("step", a["data-step"], a["data-count"])
        elif "data-count" in a and "data-mailbox" in a:
            key = ("mailbox", a["data-mailbox"], a["data-count"])
        elif "data-count" in a:
            key = ("report", a["data-count"])
        if key is not None:
            self._open = key
            self.values[key] = ""

    def handle_data(self, data):
        if self._open is not None:
            self.values[self._open] += data

    def handle_endtag(self, tag):
        self._open = None


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="seqd-report-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        port = free_port()
        self.relay = os.path.join(self.tmp, "relay")
        os.makedirs(self.relay)
        script = os.path.join(harness.ARGS.source_dir, "tests", "io", "smtp_server.py")
        relay = subprocess.Popen(["/usr/bin/python3", script, "--port", str(port), "--out",
                                  self.relay], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (relay.terminate(), relay.wait(timeout=10)))
        wait_for_port(port, relay)
        schedules = harness.SCHEDULES_YAML
        self.d = harness.Daemon(sequences={"rep": SEQUENCE_YAML},
                                seqd_yaml=harness.smtp_seqd_yaml(
                                    port, top="inbox_poll: 1s\n", daily_limit=500, hourly_limit=40,
                                    mailbox_extra="    inbox: {{maildir: {root}/inbox}}\n"),
                                schedules_yaml=schedules)
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def relayed(self):
        """(step, variant header or None, recipient, Message-ID) of every email the relay got."""
        found = []
        for name in sorted(os.listdir(self.relay)):
            if not name.endswith(".eml"):
                continue
            with open(os.path.join(self.relay, name), "rb") as f:
                message = email.message_from_binary_file(f, policy=email.policy.default)
            found.append((message["X-Seqd-Step"], message["X-Seqd-Variant"],
                          str(message["To"]).split("<")[-1].rstrip(">").strip(),
                          message["Message-ID"]))
        return found

    def statuses(self):
        return {row["contact"]: row for row in self.d.json("status", "rep")["contacts"]}

    def tasks(self):
        return {t["contact"]: t for t in self.d.json("tasks", "--seq", "rep")["tasks"]}

    def test_counts_survive_restart_and_trim_and_the_html_page_shows_them(self):
        d = self.d
        d.json("add", "rep", "--csv", d.write_file("c.csv", CONTACTS), "--force")
        # Before it starts, status --json shows each contact's step and the variant it gets.
        before = self.statuses()
        self.assertTrue(all(row["step"] == "intro" for row in before.values()))
        self.assertEqual({row["variant"] for row in before.values()}, {"a", "b"})
        d.json("sequence", "activate", "rep")
        d.json("time", "advance", "1m")

        # The variant of each first email, in its header, is the one status showed. (The relay
        # writes a message's file after it answered: wait for the last one to land.)
        deadline = time.time() + 20
        while True:
            intro = {to: (variant, message_id) for step, variant, to, message_id
                     in self.relayed() if step == "intro"}
            if len(intro) >= 5 or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(sorted(intro), ["ann@example.test", "ben@example.test",
                                         "cat@example.test", "dan@example.test",
                                         "eve@example.test"])
        while True:  # and for the engine to take the last results
            rows = self.statuses()
            if (all(rows[c]["step"] == "call-1" for c in intro) and
                    rows["unknown@example.test"]["status"] == "bounced") or time.time() > deadline:
                break
            time.sleep(0.1)
        for contact, (variant, _) in intro.items():
            self.assertEqual(variant, before[contact]["variant"], contact)
            self.assertEqual(rows[contact]["step"], "call-1")
            self.assertIsNone(rows[contact]["variant"])  # a call step has no variants
        self.assertEqual(rows["unknown@example.test"]["status"], "bounced")
        self.assertEqual(rows["unknown@example.test"]["bounce_reason"], "smtp_550")
        self.assertEqual(rows["unknown@example.test"]["step"], "intro")
        self.assertEqual(rows["unknown@example.test"]["variant"],
                         before["unknown@example.test"]["variant"])
        self.assertEqual(rows["gus@example.test"]["status"], "not_sent")
        self.assertEqual(rows["gus@example.test"]["not_sent_reason"],
                         "missing_variable:first_name")
        variant_of = {c: v for c, (v, _) in intro.items()}
        variant_of["unknown@example.test"] = rows["unknown@example.test"]["variant"]

        # The human status table names the bounce's reason.
        table = d.seqctl("status", "rep").stdout
        bounced_line = [line for line in table.splitlines() if line.startswith("unknown@")]
        self.assertEqual(len(bounced_line), 1, table)
        self.assertIn("smtp_550", bounced_line[0])

        # Ann replies to her first email; the inbox is read as the clock moves.
        deliver(d.root, "1.reply", reply(intro["ann@example.test"][1]))
        d.json("time", "advance", "1m")
        self.assertEqual(self.statuses()["ann@example.test"]["finish_reason"], "replied")

        # An hour on, the call tasks: Ben's completed, Cat's skipped, Dan's meeting is booked
        # (his task closes), Eve's stays open.
        d.json("time", "advance", "1h")
        tasks = self.tasks()
        self.assertEqual(sorted(tasks), ["ben@example.test", "cat@example.test",
                                         "dan@example.test", "eve@example.test"])
        d.json("task", "complete", str(tasks["ben@example.test"]["id"]))
        d.json("task", "skip", str(tasks["cat@example.test"]["id"]))
        d.json("event", "meeting_booked", "dan@example.test")

        # A day on, the second email goes to Ben and Cat; Cat unsubscribes.
        d.json("time", "advance", "1d")
        deadline = time.time() + 20
        while len([1 for step, _, _, _ in self.relayed() if step == "bump"]) < 2:
            self.assertLess(time.time(), deadline, "the relay got fewer than two bumps")
            time.sleep(0.1)
        while any(self.statuses()[c]["step"] != "breakup"
                  for c in ("ben@example.test", "cat@example.test")):
            self.assertLess(time.time(), deadline, "the bumps' results were not taken")
            time.sleep(0.1)
        bump = sorted(to for step, _, to, _ in self.relayed() if step == "bump")
        self.assertEqual(bump, ["ben@example.test", "cat@example.test"])
        self.assertTrue(all(v is None for step, v, _, _ in self.relayed() if step == "bump"))
        d.json("event", "unsubscribe", "cat@example.test")

        def variant_counts(variant):
            members = [c for c, v in variant_of.items() if v == variant]
            sent = len(members)
            bounced = sum(1 for c in members if c == "unknown@example.test")
            return {"variant": variant, "sent": sent, "delivered": sent - bounced,
                    "bounced": bounced, "replied": int("ann@example.test" in members),
                    "meetings": int("dan@example.test" in members), "unsubscribed": 0,
                    "not_sent": 0, "tasks_done": 0, "tasks_skipped": 0}

        expected_steps = [
            dict(step="intro", step_index=0, type="auto_email", sent=6, delivered=5, bounced=1,
                 replied=1, meetings=1, unsubscribed=0, not_sent=1, tasks_done=0,
                 tasks_skipped=0, variants=[variant_counts("a"), variant_counts("b")]),
            dict(step="call-1", step_index=1, type="call", sent=0, delivered=0, bounced=0,
                 replied=0, meetings=0, unsubscribed=0, not_sent=0, tasks_done=1,
                 tasks_skipped=1, variants=[]),
            dict(step="bump", step_index=2, type="auto_email", sent=2, delivered=2, bounced=0,
                 replied=0, meetings=0, unsubscribed=1, not_sent=0, tasks_done=0,
                 tasks_skipped=0, variants=[]),
            dict(step="breakup", step_index=3, type="auto_email", sent=0, delivered=0,
                 bounced=0, replied=0, meetings=0, unsubscribed=0, not_sent=0, tasks_done=0,
                 tasks_skipped=0, variants=[]),
        ]
        report = d.json("report", "rep")
        self.assertEqual(report["sequence"], "rep")
        self.assertEqual(report["steps"], expected_steps)
        self.assertEqual(report["totals"], {name: sum(s[name] for s in expected_steps)
                                            for name in COUNTS})
        self.assertEqual(len(report["mailboxes"]), 1)
        mailbox = report["mailboxes"][0]
        self.assertEqual((mailbox["mailbox"], mailbox["sent"], mailbox["bounced"],
                          mailbox["daily_limit"], mailbox["hourly_limit"]),
                         ("alice@acme.test", 8, 1, 500, 40))
        self.assertEqual(len(mailbox["sent_by_hour"]), 24)
        self.assertEqual(sum(mailbox["sent_by_hour"]), 2)  # the last day: the two bumps
        self.assertEqual(report["attention_total"], 3)
        self.assertEqual([(a["contact"], a["status"], a["step"]) for a in report["attention"]],
                         [("eve@example.test", "active", "call-1"),
                          ("gus@example.test", "not_sent", "intro"),
                          ("unknown@example.test", "bounced", "intro")])
        self.assertEqual(report["attention"][1]["reason"], "missing_variable:first_name")
        self.assertEqual(report["attention"][2]["reason"], "smtp_550")
        self.assertTrue(report["attention"][0]["reason"].startswith("task "))

        # The human table: one row per step and the totals, rates of sent.
        human = d.seqctl("report", "rep")
        self.assertEqual(human.returncode, 0, human.stderr)
        intro_line = [line for line in human.stdout.splitlines()
                      if line.startswith("intro ") and "auto_email" in line]
        self.assertEqual(len(intro_line), 1, human.stdout)
        self.assertRegex(intro_line[0], r"^intro\s+auto_email\s+6\s+5 \(83\.3%\)\s+1 \(16\.7%\)")
        self.assertIn("3 contacts need attention", human.stdout)

        # Three days on the log's records of all this are gone (it keeps about a day); after a
        # restart the report is the same.
        entries_before = progress_entries(os.path.join(d.root, "state"))
        d.json("time", "advance", "3d")
        d.stop()
        entries_after = progress_entries(os.path.join(d.root, "state"))
        self.assertLess(entries_after, entries_before // 2, (entries_before, entries_after))
        d.start()  # the clock resumes where it was
        again = d.json("report", "rep")
        self.assertEqual(counts_only(again), counts_only(report))
        self.assertEqual(sum(again["mailboxes"][0]["sent_by_hour"]), 0)  # none in the last day

        # The HTML page, rendered by Chromium: its numbers are the JSON's.
        page = os.path.join(self.tmp, "report.html")
        written = d.seqctl("report", "rep", "--html", page)
        self.assertEqual(written.returncode, 0, written.stderr)
        self.check_html(page, again)

    def check_html(self, page, report):
        with open(page) as f:
            source = f.read()
        for forbidden in ("<script", "http://", "https://", "<link", "@import", "url("):
            self.assertNotIn(forbidden, source)
        self.assertIn("Report &lt;test&gt; &amp; co", source)  # the name, escaped
        chromium = shutil.which("chromium")
        self.assertIsNotNone(chromium, "chromium is not installed (scripts/install-deps.sh)")
        profile = os.path.join(self.tmp, "chromium-profile")
        base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--user-data-dir=" + profile]
        dumped = subprocess.run(base + ["--dump-dom", "file://" + page], capture_output=True,
                                text=True, timeout=120)
        self.assertEqual(dumped.returncode, 0, dumped.stderr[-2000:])
        dom = DomCounts()
        dom.feed(dumped.stdout)
        values = dom.values
        self.assertEqual(dom.sequence, "rep")
        for step in report["steps"]:
            for name in COUNTS:
                self.assertEqual(values[("step", step["step"], name)], str(step[name]),
                                 (step["step"], name))
            for variant in step["variants"]:
                for name in COUNTS[:6]:
                    self.assertEqual(values[("variant", step["step"], variant["variant"], name)],
                                     str(variant[name]))
        for name in COUNTS:
            self.assertEqual(values[("total", name)], str(report["totals"][name]))
        for mailbox in report["mailboxes"]:
            for name in ("sent", "bounced", "daily_limit", "hourly_limit"):
                self.assertEqual(values[("mailbox", mailbox["mailbox"], name)],
                                 str(mailbox[name]))
            hours = mailbox["sent_by_hour"]
            for back in range(len(hours)):
                self.assertEqual(values[("hour", mailbox["mailbox"], back)],
                                 hours[len(hours) - 1 - back])
        self.assertEqual(values[("report", "attention_total")], str(report["attention_total"]))
        self.assertEqual(dom.attention, [a["contact"] for a in report["attention"]])

        shot = os.path.join(self.tmp, "report.png")
        taken = subprocess.run(base + ["--screenshot=" + shot, "--window-size=1280,2400",
                                       "file://" + page], capture_output=True, text=True,
                               timeout=120)
        self.assertEqual(taken.returncode, 0, taken.stderr[-2000:])
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertGreater(os.path.getsize(shot), 10000)


if __name__ == "__main__":
    harness.main()
