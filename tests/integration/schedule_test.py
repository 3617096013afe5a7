"""Proves seqd sends every step inside its schedule's sending window, in the zone that counts
(the contact's, or the schedule's), across DST changes, holidays, fractional-offset zones and
windows that cross midnight; that `bd` waits count business days; and that status, explain and
add --dry-run tell the instant a step really goes out. Every expected instant is worked out
here, by hand or with Python's zoneinfo, never asked of seqd."""
import email.utils
import json
import unittest
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import harness
from harness import Daemon

UTC = timezone.utc
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # Python's weekday() order


def instant(text):
    """An RFC 3339 instant as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def rfc3339(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def opens_at(zone, day, clock):
    """The instant the zone's clock first reads `clock` ("HH:MM") on local date `day`.

    A repeated local time (fall back) gives the earlier instant. A local time the zone skips
    (spring forward) gives the first valid instant after it, the change itself, which neither
    fold of Python's zoneinfo gives: it is found by walking forward a minute at a time.
    """
    tz = ZoneInfo(zone)
    hour, minute = (int(part) for part in clock.split(":"))
    wall = datetime.combine(day, time(hour, minute))
    candidates = [wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    real = [c for c in candidates if c.astimezone(tz).replace(tzinfo=None) == wall]
    if real:
        return min(real)
    moment = min(candidates)
    while moment.astimezone(tz).replace(tzinfo=None) < wall:
        moment += timedelta(minutes=1)
    return moment


def local(zone, moment):
    return moment.astimezone(ZoneInfo(zone))


def schedule_yaml(name, zone, windows, holidays=()):
    lines = ["%s:" % name, "  timezone: %s" % zone, "  windows:"]
    for days, spans in windows.items():
        lines.append("    %s: [%s]" % (days, ", ".join('"%s"' % span for span in spans)))
    if holidays:
        lines.append("  holidays: [%s]" % ", ".join(holidays))
    return "\n".join(lines) + "\n"


def sequence_yaml(seq_id, schedule, zone_choice, steps):
    """A Maildir sequence of (step id, type, wait) steps."""
    lines = ["id: %s" % seq_id, "name: %s" % seq_id, "owner: alice",
             "schedule: %s" % schedule, "timezone: %s" % zone_choice,
             "mailboxes: [alice@acme.test]", "steps:"]
    for step_id, step_type, wait in steps:
        lines += ["  - id: %s" % step_id, "    type: %s" % step_type, "    wait: %s" % wait]
        if step_type == "auto_email":
            lines += ['    subject: "%s for {{first_name}}"' % step_id, '    body: "Hello."']
        else:
            lines += ['    note: "%s with {{first_name}}"' % step_id]
    return "\n".join(lines) + "\n"


def csv_text(header, rows):
    return "\n".join([",".join(header)] + [",".join(str(v) for v in row) for row in rows]) + "\n"


SEQD_LIMITED_YAML = harness.seqd_yaml(
    mailboxes=harness.alice_mailbox(hourly_limit=2, extra="    min_interval: 60s\n"))


class WindowCase(unittest.TestCase):
    """Starts one seqd per test and reads back who got which step when."""

    def start(self, schedules, sequences, at, seqd_yaml=None, activate=()):
        self.d = Daemon(sequences=sequences, schedules_yaml=schedules, seqd_yaml=seqd_yaml)
        self.addCleanup(self.d.cleanup)
        self.d.start(virtual_time=at)
        for seq_id in activate:
            self.d.json("sequence", "activate", seq_id)
        return self.d

    def import_rows(self, header, rows, name="contacts.csv"):
        path = self.d.write_file(name, csv_text(header, rows))
        return self.d.json("import", path)

    def add(self, seq_id, *keys):
        added = self.d.json("add", seq_id, "--contact", *keys)
        self.assertEqual(sorted(added["added"]), sorted(keys), added)
        return added

    def now(self):
        return instant(self.d.json("time")["now"])

    def run_until(self, target, chunk=timedelta(hours=6)):
        """Moves the virtual clock to `target` (RFC 3339) in steps of at most `chunk`."""
        goal = instant(target)
        moment = self.now()
        while moment < goal:
            moment = min(moment + chunk, goal)
            self.d.json("time", "set", rfc3339(moment))

    def sent(self):
        """{(contact, step): send instant} from each delivered message's headers."""
        result = {}
        for message in self.d.messages():
            key = (message["X-Seqd-Contact"], message["X-Seqd-Step"])
            self.assertNotIn(key, result, "a step went out twice")
            result[key] = email.utils.parsedate_to_datetime(str(message["Date"])).astimezone(UTC)
        return result

    def rows(self, seq_id):
        return {row["contact"]: row for row in self.d.json("status", seq_id)["contacts"]}

    def next_at(self, seq_id, contact):
        value = self.rows(seq_id)[contact]["next_at"]
        self.assertIsNotNone(value, "%s has no next_at in %s" % (contact, seq_id))
        return instant(value)

    def assertSentAt(self, expected):
        """expected: {(contact, step): RFC 3339 text}, every email sent so far; compared to the
        second, as the Date header carries it."""
        self.assertEqual({key: rfc3339(moment) for key, moment in self.sent().items()}, expected)


NY_HOLIDAY_SCHEDULE = schedule_yaml("ny-hours", "America/New_York",
                                    {"mon-fri": ["09:00-17:00"]}, holidays=["2026-03-09"])
TWO_STEP_BD = sequence_yaml("outreach", "ny-hours", "contact",
                            [("intro", "auto_email", "0m"), ("follow-up", "auto_email", "1bd")])


class DoneWhen(WindowCase):
    """Three contacts in three zones added on a Friday evening in New York before a Monday
    holiday and a DST change."""

    ZONES = {"ny@example.test": "America/New_York", "kolkata@example.test": "Asia/Kolkata",
             "tokyo@example.test": "Asia/Tokyo"}

    def test_each_email_in_the_recipients_own_window_never_on_the_holiday(self):
        d = self.start(NY_HOLIDAY_SCHEDULE, {"outreach": TWO_STEP_BD}, "2026-03-06T23:00:00Z",
                       activate=["outreach"])
        self.import_rows(["email", "first_name", "timezone"],
                         [(key, key.split("@")[0], zone) for key, zone in self.ZONES.items()])
        self.add("outreach", *self.ZONES)

        # Tuesday 09:00 local for each (Monday 2026-03-09 is the holiday in every zone that
        # counts); the follow-up one business day later at the same local time.
        first = {key: opens_at(zone, date(2026, 3, 10), "09:00")
                 for key, zone in self.ZONES.items()}
        second = {key: opens_at(zone, date(2026, 3, 11), "09:00")
                  for key, zone in self.ZONES.items()}
        self.assertEqual(rfc3339(first["ny@example.test"]), "2026-03-10T13:00:00Z")  # EDT
        self.assertEqual(rfc3339(first["kolkata@example.test"]), "2026-03-10T03:30:00Z")
        self.assertEqual(rfc3339(first["tokyo@example.test"]), "2026-03-10T00:00:00Z")
        self.assertEqual(rfc3339(second["ny@example.test"]), "2026-03-11T13:00:00Z")
        self.assertEqual(rfc3339(second["kolkata@example.test"]), "2026-03-11T03:30:00Z")
        self.assertEqual(rfc3339(second["tokyo@example.test"]), "2026-03-11T00:00:00Z")

        for key in self.ZONES:
            self.assertEqual(self.next_at("outreach", key), first[key], key)
        explained = d.seqctl("explain", "outreach", "ny@example.test")
        self.assertEqual(explained.returncode, 0, explained.stderr)
        self.assertTrue("holiday 2026-03-09" in explained.stdout
                        or "outside the window" in explained.stdout, explained.stdout)
        self.assertIn("next opens", explained.stdout)
        self.assertIn("2026-03-10T13:00:00Z", explained.stdout)

        self.run_until("2026-03-09T23:59:00Z")
        self.assertEqual(self.sent(), {})  # nothing over the weekend or on the holiday
        self.run_until("2026-03-11T14:00:00Z")

        sent = self.sent()
        expected = {}
        for key in self.ZONES:
            expected[(key, "intro")] = first[key]
            expected[(key, "follow-up")] = second[key]
        self.assertEqual({k: rfc3339(v) for k, v in sent.items()},
                         {k: rfc3339(v) for k, v in expected.items()})
        for (key, step), moment in sent.items():
            seen = local(self.ZONES[key], moment)
            self.assertLess(seen.weekday(), 5, (key, step, seen))
            self.assertTrue(time(9, 0) <= seen.time() < time(17, 0), (key, step, seen))
            self.assertNotEqual(seen.date(), date(2026, 3, 9), (key, step, seen))
        self.assertEqual(sent[("ny@example.test", "intro")], instant("2026-03-10T13:00:00Z"))

    def test_explain_names_the_holiday_that_holds_a_contact(self):
        d = self.start(NY_HOLIDAY_SCHEDULE, {"outreach": TWO_STEP_BD}, "2026-03-09T15:00:00Z",
                       activate=["outreach"])  # Monday 11:00 EDT, inside the hours, a holiday
        self.import_rows(["email", "first_name", "timezone"],
                         [("ny@example.test", "Ny", "America/New_York")])
        self.add("outreach", "ny@example.test")
        self.assertEqual(rfc3339(self.next_at("outreach", "ny@example.test")),
                         "2026-03-10T13:00:00Z")
        explained = d.seqctl("explain", "outreach", "ny@example.test")
        self.assertEqual(explained.returncode, 0, explained.stderr)
        self.assertIn("holiday 2026-03-09 in America/New_York", explained.stdout)
        self.assertIn("next opens", explained.stdout)
        self.assertIn("2026-03-10T13:00:00Z", explained.stdout)


class DaylightSaving(WindowCase):
    """New York springs forward on 2026-03-08 (02:00 EST -> 03:00 EDT at 07:00Z) and falls back
    on 2026-11-01 (02:00 EDT -> 01:00 EST at 06:00Z)."""

    SCHEDULES = (schedule_yaml("spring", "America/New_York", {"mon-sun": ["02:30-04:00"]})
                 + schedule_yaml("fall", "America/New_York", {"mon-sun": ["01:00-01:30"]}))
    SEQUENCES = {"spring-seq": sequence_yaml("spring-seq", "spring", "contact",
                                             [("only", "auto_email", "0m")]),
                 "fall-seq": sequence_yaml("fall-seq", "fall", "contact",
                                           [("only", "auto_email", "0m")])}

    def test_skipped_and_repeated_local_times(self):
        self.start(self.SCHEDULES, self.SEQUENCES, "2026-03-08T05:00:00Z",
                   activate=["spring-seq", "fall-seq"])
        keys = ["spring@example.test", "fall-early@example.test", "fall-late@example.test",
                "fall-repeat@example.test"]
        self.import_rows(["email", "first_name", "timezone"],
                         [(key, "X", "America/New_York") for key in keys])

        # 02:30 does not exist on 2026-03-08: the window opens at the change, 03:00 EDT.
        self.assertEqual(opens_at("America/New_York", date(2026, 3, 8), "02:30"),
                         instant("2026-03-08T07:00:00Z"))
        self.add("spring-seq", "spring@example.test")  # 00:00 EST
        self.assertEqual(rfc3339(self.next_at("spring-seq", "spring@example.test")),
                         "2026-03-08T07:00:00Z")
        self.run_until("2026-03-08T09:00:00Z", chunk=timedelta(hours=1))
        self.assertSentAt({("spring@example.test", "only"): "2026-03-08T07:00:00Z"})

        # 01:00-01:30 on 2026-11-01 opens once, at 01:00 EDT (05:00Z), not again at 01:00 EST.
        self.assertEqual(opens_at("America/New_York", date(2026, 11, 1), "01:00"),
                         instant("2026-11-01T05:00:00Z"))
        self.d.json("time", "set", "2026-11-01T04:00:00Z")  # 00:00 EDT
        self.add("fall-seq", "fall-early@example.test")
        self.assertEqual(rfc3339(self.next_at("fall-seq", "fall-early@example.test")),
                         "2026-11-01T05:00:00Z")
        self.run_until("2026-11-01T05:40:00Z", chunk=timedelta(minutes=20))  # 01:40 EDT
        self.add("fall-seq", "fall-late@example.test")
        self.run_until("2026-11-01T06:10:00Z", chunk=timedelta(minutes=10))  # 01:10 EST
        self.add("fall-seq", "fall-repeat@example.test")
        next_day = rfc3339(opens_at("America/New_York", date(2026, 11, 2), "01:00"))
        self.assertEqual(next_day, "2026-11-02T06:00:00Z")
        for key in ("fall-late@example.test", "fall-repeat@example.test"):
            self.assertEqual(rfc3339(self.next_at("fall-seq", key)), next_day, key)
        self.run_until("2026-11-01T12:00:00Z", chunk=timedelta(hours=1))
        self.assertEqual(sorted(self.sent()), [("fall-early@example.test", "only"),
                                               ("spring@example.test", "only")])
        self.run_until("2026-11-02T07:00:00Z")
        self.assertSentAt({("spring@example.test", "only"): "2026-03-08T07:00:00Z",
                           ("fall-early@example.test", "only"): "2026-11-01T05:00:00Z",
                           ("fall-late@example.test", "only"): next_day,
                           ("fall-repeat@example.test", "only"): next_day})


class FractionalZones(WindowCase):
    """Half-hour, 45-minute and 30-minute-DST zones, two of them leaving DST over the weekend."""

    ZONES = {"london@example.test": "Europe/London", "kolkata@example.test": "Asia/Kolkata",
             "kathmandu@example.test": "Asia/Kathmandu",
             "lordhowe@example.test": "Australia/Lord_Howe",
             "chatham@example.test": "Pacific/Chatham"}

    def test_each_contact_first_email_at_its_own_window_opening(self):
        schedules = schedule_yaml("weekdays", "America/New_York", {"mon-fri": ["09:00-17:00"]})
        sequences = {"world": sequence_yaml("world", "weekdays", "contact",
                                            [("intro", "auto_email", "0m")])}
        # Saturday 2026-04-04 12:00Z: a weekend day in every one of the zones.
        self.start(schedules, sequences, "2026-04-04T12:00:00Z", activate=["world"])
        self.import_rows(["email", "first_name", "timezone"],
                         [(key, "X", zone) for key, zone in self.ZONES.items()])
        self.add("world", *self.ZONES)
        expected = {key: opens_at(zone, date(2026, 4, 6), "09:00")
                    for key, zone in self.ZONES.items()}
        # Written out by hand too: Lord Howe leaves +11 for +10:30 and Chatham +13:45 for
        # +12:45 on Sunday 2026-04-05, London is on BST.
        self.assertEqual({key: rfc3339(moment) for key, moment in expected.items()},
                         {"london@example.test": "2026-04-06T08:00:00Z",
                          "kolkata@example.test": "2026-04-06T03:30:00Z",
                          "kathmandu@example.test": "2026-04-06T03:15:00Z",
                          "lordhowe@example.test": "2026-04-05T22:30:00Z",
                          "chatham@example.test": "2026-04-05T20:15:00Z"})
        for key in self.ZONES:
            self.assertEqual(self.next_at("world", key), expected[key], key)
        self.run_until("2026-04-06T09:00:00Z")
        self.assertSentAt({(key, "intro"): rfc3339(moment) for key, moment in expected.items()})


class MidnightWindows(WindowCase):
    """A window whose end is not after its start crosses midnight and belongs to the day it
    starts; 24:00 ends a window at midnight."""

    SCHEDULES = (schedule_yaml("late-friday", "America/New_York", {"fri": ["22:00-02:00"]})
                 + schedule_yaml("late-wednesday", "America/New_York", {"wed": ["20:00-24:00"]}))
    SEQUENCES = {"friday-seq": sequence_yaml("friday-seq", "late-friday", "contact",
                                             [("only", "auto_email", "0m")]),
                 "wednesday-seq": sequence_yaml("wednesday-seq", "late-wednesday", "contact",
                                                [("only", "auto_email", "0m")])}

    def test_windows_crossing_and_ending_at_midnight(self):
        # Saturday 2026-05-09 01:00 EDT: still inside Friday's 22:00-02:00.
        self.start(self.SCHEDULES, self.SEQUENCES, "2026-05-09T05:00:00Z",
                   activate=["friday-seq", "wednesday-seq"])
        keys = ["sat-0100@example.test", "sat-0300@example.test", "wed-2330@example.test",
                "thu-0000@example.test"]
        self.import_rows(["email", "first_name", "timezone"],
                         [(key, "X", "America/New_York") for key in keys])
        self.add("friday-seq", "sat-0100@example.test")
        self.run_until("2026-05-09T07:00:00Z", chunk=timedelta(hours=1))  # Saturday 03:00 EDT
        self.assertSentAt({("sat-0100@example.test", "only"): "2026-05-09T05:00:00Z"})
        self.add("friday-seq", "sat-0300@example.test")
        next_friday = opens_at("America/New_York", date(2026, 5, 15), "22:00")
        self.assertEqual(rfc3339(next_friday), "2026-05-16T02:00:00Z")
        self.assertEqual(self.next_at("friday-seq", "sat-0300@example.test"), next_friday)

        self.run_until("2026-05-14T03:30:00Z", chunk=timedelta(hours=12))  # Wed 23:30 EDT
        self.add("wednesday-seq", "wed-2330@example.test")
        self.run_until("2026-05-14T04:00:00Z", chunk=timedelta(minutes=10))  # Thu 00:00 EDT
        self.add("wednesday-seq", "thu-0000@example.test")
        next_wednesday = opens_at("America/New_York", date(2026, 5, 20), "20:00")
        self.assertEqual(rfc3339(next_wednesday), "2026-05-21T00:00:00Z")
        self.assertEqual(self.next_at("wednesday-seq", "thu-0000@example.test"), next_wednesday)

        self.run_until("2026-05-21T01:00:00Z", chunk=timedelta(hours=12))
        self.assertSentAt({("sat-0100@example.test", "only"): "2026-05-09T05:00:00Z",
                           ("sat-0300@example.test", "only"): "2026-05-16T02:00:00Z",
                           ("wed-2330@example.test", "only"): "2026-05-14T03:30:00Z",
                           ("thu-0000@example.test", "only"): "2026-05-21T00:00:00Z"})


BD_SCHEDULE = schedule_yaml("ny-split", "America/New_York",
                            {"mon-fri": ["09:00-12:00", "13:00-17:00"]}, holidays=["2026-05-25"])


class BusinessDays(WindowCase):
    """`Nbd` counts business days in the zone that counts and keeps the local time of day."""

    def test_bd_skips_the_weekend_and_a_holiday_and_d_is_elapsed_time(self):
        def two_emails(seq_id, wait):
            return sequence_yaml(seq_id, "ny-split", "contact",
                                 [("first", "auto_email", "0m"), ("second", "auto_email", wait)])

        sequences = {"bd-seq": two_emails("bd-seq", "1bd"), "d-seq": two_emails("d-seq", "1d")}
        # Friday 2026-05-15 10:20 EDT.
        self.start(BD_SCHEDULE, sequences, "2026-05-15T14:20:00Z", activate=["bd-seq", "d-seq"])
        self.import_rows(["email", "first_name", "timezone"],
                         [(key, "X", "America/New_York") for key in
                          ("weekend@example.test", "holiday@example.test", "day@example.test")])
        self.add("bd-seq", "weekend@example.test")
        self.add("d-seq", "day@example.test")
        self.run_until("2026-05-15T15:00:00Z", chunk=timedelta(minutes=20))
        expected = {("weekend@example.test", "first"): "2026-05-15T14:20:00Z",
                    ("day@example.test", "first"): "2026-05-15T14:20:00Z"}
        self.assertSentAt(expected)
        # 1bd: Monday at the same local time; 1d: Saturday 10:20, outside the window, so
        # Monday's first opening.
        self.assertEqual(rfc3339(self.next_at("bd-seq", "weekend@example.test")),
                         "2026-05-18T14:20:00Z")
        self.assertEqual(rfc3339(self.next_at("d-seq", "day@example.test")),
                         "2026-05-18T13:00:00Z")
        self.run_until("2026-05-18T15:00:00Z")
        expected[("weekend@example.test", "second")] = "2026-05-18T14:20:00Z"
        expected[("day@example.test", "second")] = "2026-05-18T13:00:00Z"
        self.assertSentAt(expected)

        # Friday 2026-05-22 10:20 EDT; Monday 2026-05-25 is a holiday: Tuesday 10:20.
        self.d.json("time", "set", "2026-05-22T14:20:00Z")
        self.add("bd-seq", "holiday@example.test")
        self.run_until("2026-05-22T15:00:00Z", chunk=timedelta(minutes=20))
        expected[("holiday@example.test", "first")] = "2026-05-22T14:20:00Z"
        self.assertSentAt(expected)
        self.assertEqual(rfc3339(self.next_at("bd-seq", "holiday@example.test")),
                         "2026-05-26T14:20:00Z")
        self.run_until("2026-05-26T15:00:00Z")
        expected[("holiday@example.test", "second")] = "2026-05-26T14:20:00Z"
        self.assertSentAt(expected)
        sent_on_holiday = [key for key, moment in self.sent().items()
                           if local("America/New_York", moment).date() == date(2026, 5, 25)]
        self.assertEqual(sent_on_holiday, [])

    def test_bd_after_a_task_done_outside_the_window(self):
        sequences = {"task-seq": sequence_yaml("task-seq", "ny-split", "contact",
                                               [("research", "task", "0m"),
                                                ("email", "auto_email", "1bd")])}
        # Tuesday 2026-05-12 10:00 EDT.
        d = self.start(BD_SCHEDULE, sequences, "2026-05-12T14:00:00Z", activate=["task-seq"])
        self.import_rows(["email", "first_name", "timezone"],
                         [(key, "X", "America/New_York") for key in
                          ("evening@example.test", "lunch@example.test")])
        self.add("task-seq", "evening@example.test", "lunch@example.test")
        self.run_until("2026-05-12T14:10:00Z", chunk=timedelta(minutes=10))
        tasks = {task["contact"]: task for task in d.json("tasks", "--seq", "task-seq")["tasks"]}
        self.assertEqual(sorted(tasks), ["evening@example.test", "lunch@example.test"])

        # Done at 12:30 EDT, between the two windows: the next business day's 13:00.
        self.run_until("2026-05-12T16:30:00Z", chunk=timedelta(hours=1))
        d.json("task", "complete", str(tasks["lunch@example.test"]["id"]))
        self.assertEqual(rfc3339(self.next_at("task-seq", "lunch@example.test")),
                         "2026-05-13T17:00:00Z")
        # Done at 18:30 EDT, after the last window: the next business day's 09:00.
        self.run_until("2026-05-12T22:30:00Z", chunk=timedelta(hours=1))
        d.json("task", "complete", str(tasks["evening@example.test"]["id"]))
        self.assertEqual(rfc3339(self.next_at("task-seq", "evening@example.test")),
                         "2026-05-13T13:00:00Z")
        self.run_until("2026-05-13T18:00:00Z")
        self.assertSentAt({("lunch@example.test", "email"): "2026-05-13T17:00:00Z",
                           ("evening@example.test", "email"): "2026-05-13T13:00:00Z"})


class ContactZones(WindowCase):
    """A contact without a zone takes the schedule's; unknown zones are refused where they
    enter; a zone change moves a waiting contact to its new local window at once."""

    def test_fallback_refused_zones_and_a_zone_change(self):
        schedules = schedule_yaml("tokyo-hours", "Asia/Tokyo", {"mon-fri": ["09:00-17:00"]})
        sequences = {"seq": sequence_yaml("seq", "tokyo-hours", "contact",
                                          [("intro", "auto_email", "0m")])}
        # Saturday 2026-06-06 12:00Z; every contact waits for Monday 2026-06-08 09:00 local.
        d = self.start(schedules, sequences, "2026-06-06T12:00:00Z", activate=["seq"])
        self.import_rows(["email", "first_name"], [("nozone@example.test", "Nozone")],
                         name="nozone.csv")

        path = d.write_file("zones.csv", csv_text(["email", "first_name", "timezone"], [
            ("paris@example.test", "Paris", "Europe/Paris"),
            ("mars@example.test", "Mars", "Mars/Base"),
            ("lima@example.test", "Lima", "America/Lima")]))
        imported = d.json("import", path, expect=3)
        self.assertEqual(imported["imported"], 2)
        self.assertEqual([e["line"] for e in imported["errors"]], [3])
        self.assertTrue(imported["errors"][0]["reason"].startswith(
            "unknown time zone 'Mars/Base' (expected an IANA name"), imported["errors"])
        human = d.seqctl("import", path)
        self.assertEqual(human.returncode, 3, human.stderr)
        self.assertIn("line 3: unknown time zone 'Mars/Base' (expected an IANA name", human.stdout)
        self.assertEqual(d.seqctl("contact", "show", "mars@example.test").returncode, 1)
        self.assertEqual(d.json("contact", "show", "lima@example.test")["timezone"],
                         "America/Lima")

        add_path = d.write_file("add.csv", csv_text(["email", "first_name", "timezone"], [
            ("chicago@example.test", "Chi", "America/Chicago"),
            ("typo@example.test", "Typo", "America/New_Yrok")]))
        result = d.seqctl("--json", "add", "seq", "--csv", add_path)
        self.assertEqual(result.returncode, 3, result.stdout + result.stderr)
        added = json.loads(result.stdout)
        self.assertEqual(added["added"], ["chicago@example.test"])
        self.assertEqual([e["line"] for e in added["errors"]], [3])
        self.assertTrue(added["errors"][0]["reason"].startswith(
            "unknown time zone 'America/New_Yrok' (expected an IANA name"), added["errors"])
        self.assertEqual(d.seqctl("contact", "show", "typo@example.test").returncode, 1)
        self.add("seq", "nozone@example.test", "paris@example.test")

        monday = date(2026, 6, 8)
        self.assertEqual(self.next_at("seq", "nozone@example.test"),
                         opens_at("Asia/Tokyo", monday, "09:00"))  # the schedule's zone
        self.assertEqual(self.next_at("seq", "paris@example.test"),
                         opens_at("Europe/Paris", monday, "09:00"))
        self.assertEqual(self.next_at("seq", "chicago@example.test"),
                         opens_at("America/Chicago", monday, "09:00"))

        refused = d.seqctl("contact", "set", "chicago@example.test", "timezone=Mars/Base")
        self.assertEqual(refused.returncode, 1, refused.stdout + refused.stderr)
        self.assertEqual(d.json("contact", "show", "chicago@example.test")["timezone"],
                         "America/Chicago")
        self.assertEqual(self.next_at("seq", "chicago@example.test"),
                         opens_at("America/Chicago", monday, "09:00"))

        d.json("contact", "set", "chicago@example.test", "timezone=Asia/Kolkata")
        self.assertEqual(self.next_at("seq", "chicago@example.test"),
                         opens_at("Asia/Kolkata", monday, "09:00"))

        self.run_until("2026-06-08T15:00:00Z")
        self.assertSentAt({("nozone@example.test", "intro"): "2026-06-08T00:00:00Z",
                           ("chicago@example.test", "intro"): "2026-06-08T03:30:00Z",
                           ("paris@example.test", "intro"): "2026-06-08T07:00:00Z"})


class ScheduleZone(WindowCase):
    """`timezone: schedule` uses the schedule's zone for windows, holidays and business days
    whatever the contact's own zone."""

    def test_schedule_zone_ignores_the_contact_zone(self):
        schedules = schedule_yaml("tokyo-hours", "Asia/Tokyo", {"mon-fri": ["09:00-17:00"]},
                                  holidays=["2026-06-10"])
        steps = [("intro", "auto_email", "0m"), ("follow-up", "auto_email", "1bd")]
        sequences = {"by-schedule": sequence_yaml("by-schedule", "tokyo-hours", "schedule", steps),
                     "by-contact": sequence_yaml("by-contact", "tokyo-hours", "contact", steps)}
        # Tuesday 2026-06-09 10:00 in Los Angeles, Wednesday 02:00 in Tokyo (a Tokyo holiday).
        self.start(schedules, sequences, "2026-06-09T17:00:00Z",
                   activate=["by-schedule", "by-contact"])
        self.import_rows(["email", "first_name", "timezone"],
                         [("la1@example.test", "La", "America/Los_Angeles"),
                          ("la2@example.test", "La", "America/Los_Angeles")])
        self.add("by-schedule", "la1@example.test")
        self.add("by-contact", "la2@example.test")
        self.assertEqual(rfc3339(self.next_at("by-schedule", "la1@example.test")),
                         "2026-06-11T00:00:00Z")  # Thursday 09:00 JST
        self.run_until("2026-06-12T01:00:00Z")
        self.assertSentAt({
            ("la1@example.test", "intro"): "2026-06-11T00:00:00Z",      # Thu 09:00 JST
            ("la1@example.test", "follow-up"): "2026-06-12T00:00:00Z",  # Fri 09:00 JST
            ("la2@example.test", "intro"): "2026-06-09T17:00:00Z",      # Tue 10:00 PDT
            # The holiday is a local date in the zone that counts: Wednesday in Los Angeles.
            ("la2@example.test", "follow-up"): "2026-06-11T17:00:00Z",  # Thu 10:00 PDT
        })


class NightActivation(WindowCase):
    """A sequence activated at night sends nothing until the window opens; then the backlog
    drains at the mailbox's limits, highest score first, into the next opening when the window
    closes first."""

    def test_backlog_waits_for_the_window_and_goes_best_score_first(self):
        schedules = schedule_yaml("mornings", "America/New_York", {"mon-fri": ["09:00-11:00"]})
        sequences = {"seq": sequence_yaml("seq", "mornings", "contact",
                                          [("intro", "auto_email", "0m")])}
        # Tuesday 2026-06-09 22:00 EDT; the sequence is activated at 23:00 EDT.
        d = self.start(schedules, sequences, "2026-06-10T02:00:00Z", seqd_yaml=SEQD_LIMITED_YAML)
        scores = [40, 90, 10, 70, 55, 85, 25]
        keys = ["p%d@example.test" % i for i in range(len(scores))]
        self.import_rows(["email", "first_name", "score"],
                         [(key, "P", score) for key, score in zip(keys, scores)])
        self.add("seq", *keys)
        d.json("time", "set", "2026-06-10T03:00:00Z")
        d.json("sequence", "activate", "seq")
        by_score = [key for _, key in sorted(zip(scores, keys), reverse=True)]
        self.assertEqual(rfc3339(self.next_at("seq", by_score[0])), "2026-06-10T13:00:00Z")

        self.run_until("2026-06-10T12:59:00Z", chunk=timedelta(hours=2))
        self.assertEqual(d.messages(), [])
        self.run_until("2026-06-11T15:00:00Z", chunk=timedelta(hours=1))

        sent = self.sent()
        self.assertEqual(sorted(contact for contact, _ in sent), sorted(keys))
        order = sorted(sent, key=lambda key: sent[key])
        self.assertEqual([contact for contact, _ in order], by_score)
        moments = [sent[key] for key in order]
        self.assertEqual(len(set(moments)), len(moments), "min_interval keeps sends apart")
        self.assertEqual(moments[0], instant("2026-06-10T13:00:00Z"))
        first_hour = [m for m in moments if m < instant("2026-06-10T14:00:00Z")]
        self.assertEqual(len(first_hour), 2)  # hourly_limit: 2
        for moment in moments:
            seen = local("America/New_York", moment)
            self.assertTrue(time(9, 0) <= seen.time() < time(11, 0), seen)
        # Four fit on Wednesday (13:00, 13:01, 14:00, 14:01); the rest wait for Thursday.
        self.assertEqual(sum(1 for m in moments if m.date() == date(2026, 6, 10)), 4)
        self.assertEqual(moments[4], instant("2026-06-11T13:00:00Z"))


class DryRun(WindowCase):
    """`add --dry-run` tells when each contact's first step would go out and stores nothing."""

    ZONES = {"tokyo@example.test": "Asia/Tokyo", "ny@example.test": "America/New_York",
             "kathmandu@example.test": "Asia/Kathmandu", "nozone@example.test": None}

    def test_first_at_matches_the_real_sends(self):
        schedules = schedule_yaml("ny-hours", "America/New_York", {"mon-fri": ["09:00-17:00"]})
        steps = [("intro", "auto_email", "0m")]
        sequences = {"seq": sequence_yaml("seq", "ny-hours", "contact", steps),
                     "idle": sequence_yaml("idle", "ny-hours", "contact", steps)}
        d = self.start(schedules, sequences, "2026-06-06T12:00:00Z", activate=["seq"])
        self.import_rows(["email", "first_name", "timezone"],
                         [(key, "X", zone) for key, zone in self.ZONES.items() if zone])
        self.import_rows(["email", "first_name"], [("nozone@example.test", "X")], name="b.csv")
        keys = list(self.ZONES)

        preview = d.json("add", "seq", "--contact", *keys, "--dry-run")
        self.assertEqual(sorted(preview["added"]), sorted(keys))
        self.assertIn("first_at", preview)
        expected = {key: opens_at(zone or "America/New_York", date(2026, 6, 8), "09:00")
                    for key, zone in self.ZONES.items()}
        self.assertEqual(set(preview["first_at"]), set(keys))
        for key in keys:
            self.assertIsNotNone(preview["first_at"][key], key)
            self.assertEqual(instant(preview["first_at"][key]), expected[key], key)
        self.assertEqual(d.json("status", "seq")["contacts"], [])

        human = d.seqctl("add", "seq", "--contact", *keys, "--dry-run")
        self.assertEqual(human.returncode, 0, human.stderr)
        lines = human.stdout.splitlines()
        for key in keys:
            self.assertIn("  %s: first step at %s" % (key, preview["first_at"][key]), lines)
        self.assertEqual(d.json("status", "seq")["contacts"], [])

        idle = d.json("add", "idle", "--contact", "tokyo@example.test", "--dry-run")
        self.assertEqual(idle["first_at"], {"tokyo@example.test": None})  # not active
        self.assertEqual(d.json("status", "idle")["contacts"], [])

        self.add("seq", *keys)
        self.run_until("2026-06-08T14:00:00Z")
        self.assertSentAt({(key, "intro"): rfc3339(instant(preview["first_at"][key]))
                           for key in keys})


if __name__ == "__main__":
    harness.main()
