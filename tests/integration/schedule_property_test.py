"""Proves, on the real daemon under virtual time, that for randomly made schedules, sequences,
mailboxes and contacts over about two months (across a DST change, with restarts and contacts
added midway) every email goes out inside its recipient's sending window and not on a holiday,
no mailbox goes over a limit, each step goes once, in order and after its wait, and contacts
due together go out highest score first when capacity is short.

The checker shares no code with seqd: windows, business days and due times are worked out here
with Python's zoneinfo over the same system tz database.

Seeds: a fixed list by default, so CI is deterministic. SEQD_SCHEDULE_SEED=N replays one seed,
SEQD_SCHEDULE_SEEDS=K runs K random seeds, SEQD_SCHEDULE_KEEP=1 keeps the temp dir of a
failing seed. Every run prints its seed and a summary.
"""
import collections
import datetime as dt
import email
import email.policy
import email.utils
import os
import random
import time
import unittest
import zoneinfo

import harness
from harness import Daemon

# Chosen so that, between them, they send after midnight in crossing windows, on DST change
# dates in both periods, and after bd waits checked exactly.
DEFAULT_SEEDS = [20261203, 20261209, 20261213]

ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Asia/Kathmandu",
         "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Tokyo", "America/Sao_Paulo"]
# Both periods cross DST changes: March (US 03-08, EU 03-29, Lord Howe and Chatham 04-05) and
# late October (EU 10-25, US 11-01).
START_DATES = [dt.date(2026, 3, 1), dt.date(2026, 10, 20)]
SIMULATED_DAYS = 60
WAITS = ["0m", "30m", "3h", "1d", "2d", "1bd", "2bd"]
DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
ADVANCE_MINUTES_MIN = 20
ADVANCE_MINUTES_MAX = 9 * 60
# Score order (d) compares only when the higher-scored contact was due at least this long before
# the other was sent: Date headers have one-second precision and a step due "now" (a 0m wait)
# is fired only after the previous send's result is in, later in the same virtual instant.
ORDER_MARGIN_S = 5
SCAN_DAYS_MAX = 800
# With advances of at most 9 h, checks at least 12 h apart are at most 21 h apart: under a day.
GOVERNOR_CHECK_EVERY_S = 12 * 3600
REPORT_LINES_MAX = 25

SEQD_YAML_HEAD = harness.seqd_yaml(mailboxes="")


def seeds_to_run():
    if os.environ.get("SEQD_SCHEDULE_SEED"):
        return [int(os.environ["SEQD_SCHEDULE_SEED"])]
    if os.environ.get("SEQD_SCHEDULE_SEEDS"):
        count = int(os.environ["SEQD_SCHEDULE_SEEDS"])
        return [random.SystemRandom().randrange(1, 2**31) for _ in range(count)]
    return DEFAULT_SEEDS


def parse_wait(text):
    """'30m' -> ('s', 1800); '2bd' -> ('bd', 2)."""
    if text.endswith("bd"):
        return ("bd", int(text[:-2]))
    amount, unit = int(text[:-1]), text[-1]
    return ("s", amount * {"m": 60, "h": 3600, "d": 86400}[unit])


def clock(minutes):
    return "%02d:%02d" % (minutes // 60 % 24 if minutes != 1440 else 24, minutes % 60)


def rfc3339(ts):
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sunday_index(day):
    return (day.weekday() + 1) % 7


# ---------------------------------------------------------------------------------------
# The independent calendar: the decided window rules, in Python


class Calendar:
    """Open intervals of a schedule in a zone, as epoch seconds, by the rules in the README:
    a window of local date D opens when the zone's clock first reads D HH:MM (a skipped time
    opens at the DST change, a repeated one takes the earlier instant) and closes when it first
    reads the end; a window whose end is not after its start belongs to the day it starts."""

    def __init__(self):
        self.zones = {}
        self.day_cache = {}

    def zone(self, name):
        if name not in self.zones:
            self.zones[name] = zoneinfo.ZoneInfo(name)
        return self.zones[name]

    def local(self, zone_name, ts):
        return dt.datetime.fromtimestamp(ts, self.zone(zone_name)).replace(tzinfo=None)

    def instant_of(self, zone_name, naive):
        """The first instant at which the zone's clock reads naive (or later, in a gap)."""
        zone = self.zone(zone_name)
        stamps = [int(naive.replace(tzinfo=zone, fold=fold).timestamp()) for fold in (0, 1)]
        valid = [ts for ts in stamps if self.local(zone_name, ts) == naive]
        if valid:
            return min(valid)
        low, high = min(stamps), max(stamps)  # clock reads before naive at low, after at high
        while high - low > 1:
            middle = (low + high) // 2
            if self.local(zone_name, middle) >= naive:
                high = middle
            else:
                low = middle
        return high

    def midnight(self, zone_name, day):
        return self.instant_of(zone_name, dt.datetime(day.year, day.month, day.day))

    def has_dst_change(self, zone_name, day):
        """True when the local date is not exactly 24 hours long."""
        following = day + dt.timedelta(days=1)
        return self.midnight(zone_name, following) - self.midnight(zone_name, day) != 86400

    def day_intervals(self, schedule, zone_name, day):
        key = (schedule.name, zone_name, day)
        if key not in self.day_cache:
            intervals = []
            if day not in schedule.holidays:
                base = dt.datetime(day.year, day.month, day.day)
                for start, end in schedule.week[sunday_index(day)]:
                    opens = self.instant_of(zone_name, base + dt.timedelta(minutes=start))
                    closes = self.instant_of(zone_name, base + dt.timedelta(minutes=end))
                    if closes > opens:
                        intervals.append((opens, closes, day))
            self.day_cache[key] = intervals
        return self.day_cache[key]

    def window_at(self, schedule, zone_name, ts):
        """The (opens, closes, start day) interval holding ts, or None."""
        today = self.local(zone_name, ts).date()
        for back in (2, 1, 0):
            day = today - dt.timedelta(days=back)
            for interval in self.day_intervals(schedule, zone_name, day):
                if interval[0] <= ts < interval[1]:
                    return interval
        return None

    def is_open(self, schedule, zone_name, ts):
        return self.window_at(schedule, zone_name, ts) is not None

    def next_open(self, schedule, zone_name, ts):
        today = self.local(zone_name, ts).date()
        best = None
        for offset in range(-2, SCAN_DAYS_MAX):
            day = today + dt.timedelta(days=offset)
            if best is not None and self.midnight(zone_name, day) > best:
                break
            for opens, closes, _ in self.day_intervals(schedule, zone_name, day):
                if closes > ts:
                    candidate = max(opens, ts)
                    best = candidate if best is None else min(best, candidate)
        return best

    def is_business_day(self, schedule, day):
        return bool(schedule.week[sunday_index(day)]) and day not in schedule.holidays

    def business_day_due(self, schedule, zone_name, from_ts, days, lower_bound=False):
        """(due, exact): `days` business days after the local date of from_ts, at its local
        time of day when inside a window starting that day, else at the next opening that day
        after it, else at that day's first opening. On a date with a DST change the rule can
        be read more than one way, so exact is False and due is only a lower bound: that day's
        first opening, which no reading goes before. lower_bound asks for that bound always."""
        start = self.local(zone_name, from_ts)
        day, counted = start.date(), 0
        for _ in range(SCAN_DAYS_MAX):
            if counted == days:
                break
            day += dt.timedelta(days=1)
            counted += self.is_business_day(schedule, day)
        windows = sorted(schedule.week[sunday_index(day)])
        base = dt.datetime(day.year, day.month, day.day)
        first_opening = min(self.instant_of(zone_name, base + dt.timedelta(minutes=s))
                            for s, _ in windows)
        if lower_bound or self.has_dst_change(zone_name, start.date()) or \
                self.has_dst_change(zone_name, day):
            return first_opening, False
        second_of_day = start.hour * 3600 + start.minute * 60 + start.second
        for window_start, window_end in windows:
            if window_start * 60 <= second_of_day < window_end * 60:
                return self.instant_of(zone_name, base + dt.timedelta(seconds=second_of_day)), True
        for window_start, _ in windows:
            if window_start * 60 > second_of_day:
                return self.instant_of(zone_name, base + dt.timedelta(minutes=window_start)), True
        return first_opening, True


# ---------------------------------------------------------------------------------------
# A random scenario


class Schedule:
    def __init__(self, name, zone, keyed_windows, holidays):
        self.name = name
        self.zone = zone
        self.keyed_windows = keyed_windows  # [(day key, [(start, end as written)])]
        self.holidays = set(holidays)
        self.week = [[] for _ in range(7)]  # Sunday first; end after start, > 1440 crossing
        for key, windows in keyed_windows:
            first, _, last = key.partition("-")
            day = DAY_NAMES.index(first)
            days = [day]
            while last and DAY_NAMES[day] != last:
                day = (day + 1) % 7
                days.append(day)
            for start, end in windows:
                for d in days:
                    self.week[d].append((start, end if end > start else end + 1440))

    def yaml(self):
        lines = ["%s:" % self.name, "  timezone: %s" % self.zone, "  windows:"]
        for key, windows in self.keyed_windows:
            texts = ", ".join('"%s-%s"' % (clock(s), clock(e)) for s, e in windows)
            lines.append("    %s: [%s]" % (key, texts))
        if self.holidays:
            lines.append("  holidays: [%s]" % ", ".join(str(d) for d in sorted(self.holidays)))
        return "\n".join(lines) + "\n"


class Sequence:
    def __init__(self, name, schedule, timezone_mode, mailboxes, waits):
        self.name = name
        self.schedule = schedule
        self.timezone_mode = timezone_mode
        self.mailboxes = mailboxes
        self.steps = ["st%d" % (i + 1) for i in range(len(waits))]
        self.waits = [parse_wait(w) for w in waits]
        self.wait_texts = waits

    def yaml(self):
        lines = ["id: %s" % self.name, "name: Sequence %s" % self.name, "owner: alice",
                 "schedule: %s" % self.schedule.name, "timezone: %s" % self.timezone_mode,
                 "mailboxes: [%s]" % ", ".join(m["address"] for m in self.mailboxes), "steps:"]
        for step, wait in zip(self.steps, self.wait_texts):
            lines += ["  - id: %s" % step, "    type: auto_email", "    wait: %s" % wait,
                      '    subject: "%s %s {{first_name}}"' % (self.name, step),
                      '    body: "Hello {{first_name|there}}."']
        return "\n".join(lines) + "\n"


def random_day_windows(rng, style):
    """Windows of one day, ascending and apart: 1-3 between 06:00 and 22:00, and sometimes a
    last one ending 24:00 or crossing midnight, or a first one in the small hours where DST
    changes happen. A crossing window ends by 03:00 and only schedules without small-hours
    windows have one, so windows of consecutive days never overlap."""
    count = rng.choice([1, 1, 2, 2, 3])
    points = sorted(rng.sample(range(6 * 4, 22 * 4 + 1), 2 * count))
    windows = [(points[2 * i] * 15, points[2 * i + 1] * 15) for i in range(count)]
    roll = rng.random()
    if roll < 0.2:
        windows[-1] = (windows[-1][0], 1440)
    elif roll < 0.7 and style == "crossing":
        start = rng.randrange(max(windows[-1][1], 22 * 60), 23 * 60 + 46, 15)
        windows.append((start, rng.randrange(60, 3 * 60 + 1, 15)))
    if style == "small-hours" and rng.random() < 0.6:
        start = rng.randrange(0, 3 * 60 + 1, 15)
        windows.insert(0, (start, rng.randrange(start + 15, min(start + 150, 6 * 60) + 1, 15)))
    return windows


def random_schedule(rng, name, first_day):
    style = rng.choice(["plain", "crossing", "crossing", "small-hours", "small-hours"])
    first = rng.randrange(7)
    days = [(first + i) % 7 for i in range(7)]
    keyed = []
    index = 0
    while index < 7:
        size = rng.randint(1, min(5, 7 - index))
        group = days[index:index + size]
        index += size
        if rng.random() < 0.25 and keyed:
            continue  # closed days
        key = DAY_NAMES[group[0]] if size == 1 else DAY_NAMES[group[0]] + "-" + DAY_NAMES[group[-1]]
        keyed.append((key, random_day_windows(rng, style)))
    holidays = [first_day + dt.timedelta(days=rng.randrange(-1, SIMULATED_DAYS + 2))
                for _ in range(rng.randint(2, 5))]
    return Schedule(name, rng.choice(ZONES), keyed, holidays)


class Scenario:
    def __init__(self, seed):
        rng = random.Random(seed)
        self.rng = rng
        self.first_day = rng.choice(START_DATES)
        self.start_ts = int(dt.datetime(self.first_day.year, self.first_day.month,
                                        self.first_day.day, tzinfo=dt.timezone.utc).timestamp())
        self.start_ts += rng.randrange(0, 24 * 60) * 60
        self.end_ts = self.start_ts + SIMULATED_DAYS * 86400
        self.mailboxes = []
        for i in range(rng.randint(1, 3)):
            self.mailboxes.append({
                # One domain per mailbox: a Message-ID names the sending mailbox's domain, so a
                # step sent twice from two mailboxes makes two files.
                "address": "m%d@mail%d.test" % (i + 1, i + 1),
                "daily_limit": rng.randint(4, 12),
                "hourly_limit": rng.randint(1, 4),
                "min_interval_s": rng.choice([0, 30, 60, 300]),
                "jitter_s": rng.choice([0, 0, 20, 90])})
        self.schedules = [random_schedule(rng, "sch%d" % (i + 1), self.first_day)
                          for i in range(rng.randint(1, 3))]
        self.sequences = []
        for i in range(rng.randint(1, 3)):
            mailboxes = rng.sample(self.mailboxes, rng.randint(1, len(self.mailboxes)))
            waits = [rng.choice(WAITS) for _ in range(rng.randint(2, 4))]
            self.sequences.append(Sequence("seq%d" % (i + 1), rng.choice(self.schedules),
                                           rng.choice(["contact", "schedule"]), mailboxes, waits))
        self.contacts = {}  # key -> {"zone", "score", "sequence", "batch"}
        total = rng.randint(30, 80)
        self.batches = []  # [(at_ts or None for the start, [keys])]
        first_batch = max(1, int(total * rng.uniform(0.55, 0.8)))
        self.batches.append((None, self.make_contacts(first_batch, 0)))
        later = total - first_batch
        cuts = sorted(rng.sample(range(3 * 86400, 45 * 86400, 600), rng.randint(1, 2)))
        for n, cut in enumerate(cuts):
            size = later // len(cuts) if n < len(cuts) - 1 else later - (later // len(cuts)) * n
            if size > 0:
                self.batches.append((self.start_ts + cut, self.make_contacts(size, n + 1)))
        self.restarts = sorted(self.start_ts + rng.randrange(86400, (SIMULATED_DAYS - 1) * 86400)
                               for _ in range(rng.randint(2, 3)))

    def make_contacts(self, count, batch):
        keys = []
        for _ in range(count):
            key = "c%d@example.test" % len(self.contacts)
            zone = self.rng.choice(ZONES + ["", ""])
            self.contacts[key] = {"zone": zone, "score": self.rng.randint(0, 100),
                                  "sequence": self.rng.choice(self.sequences), "batch": batch,
                                  "added_at": None}
            keys.append(key)
        return keys

    def seqd_yaml(self):
        text = SEQD_YAML_HEAD
        for i, m in enumerate(self.mailboxes):
            text += ("  - address: %s\n    name: Mailbox %d\n    owner: alice\n"
                     "    transport: maildir\n    daily_limit: %d\n    hourly_limit: %d\n"
                     "    min_interval: %ds\n    jitter: %ds\n" % (
                         m["address"], i + 1, m["daily_limit"], m["hourly_limit"],
                         m["min_interval_s"], m["jitter_s"]))
        return text

    def schedules_yaml(self):
        return "".join(s.yaml() for s in self.schedules)

    def zone_of(self, key):
        contact = self.contacts[key]
        sequence = contact["sequence"]
        if sequence.timezone_mode == "contact" and contact["zone"]:
            return contact["zone"]
        return sequence.schedule.zone

    def describe(self):
        lines = ["start %s, %d days" % (rfc3339(self.start_ts), SIMULATED_DAYS)]
        for m in self.mailboxes:
            lines.append("mailbox %(address)s daily %(daily_limit)d hourly %(hourly_limit)d "
                         "min_interval %(min_interval_s)ds jitter %(jitter_s)ds" % m)
        for s in self.schedules:
            lines.append(s.yaml().rstrip())
        for q in self.sequences:
            lines.append("sequence %s: schedule %s, timezone %s, mailboxes %s, waits %s" % (
                q.name, q.schedule.name, q.timezone_mode,
                ",".join(m["address"] for m in q.mailboxes), ",".join(q.wait_texts)))
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Driving seqd


class Run:
    """One seed: the scenario, played on a real seqd."""

    def __init__(self, test, seed):
        self.test = test
        self.seed = seed
        self.scenario = Scenario(seed)
        self.restarts_done = 0
        self.mismatches = []  # governor count vs outbox, per advance
        self.outbox_cache = {}
        self.d = Daemon(sequences={q.name: q.yaml() for q in self.scenario.sequences},
                        seqd_yaml=self.scenario.seqd_yaml(),
                        schedules_yaml=self.scenario.schedules_yaml())

    def now(self):
        return int(dt.datetime.fromisoformat(
            self.d.json("time")["now"].replace("Z", "+00:00")).timestamp())

    def add_batch(self, keys):
        lines = ["email,first_name,score,timezone"]
        by_sequence = {}
        for key in keys:
            contact = self.scenario.contacts[key]
            lines.append("%s,N%s,%d,%s" % (key, key.split("@")[0], contact["score"],
                                           contact["zone"]))
            by_sequence.setdefault(contact["sequence"].name, []).append(key)
        self.d.json("import", self.d.write_file("batch.csv", "\n".join(lines) + "\n"))
        at = self.now()
        for sequence, members in sorted(by_sequence.items()):
            result = self.d.json("add", sequence, "--contact", *members)
            self.test.assertEqual(sorted(result["added"]), sorted(members), result)
            for key in members:
                self.scenario.contacts[key]["added_at"] = at

    def restart(self, at):
        self.d.stop()
        self.test.assertEqual(self.d.process.returncode, 0, self.d.log()[-2000:])
        # Sometimes the daemon stays down a while: overdue steps go when it is back.
        down_s = self.scenario.rng.choice([0, 0, 0, 3600, 4 * 3600])
        self.d.start(virtual_time=rfc3339(at + down_s))
        self.restarts_done += 1
        return at + down_s

    def compare_governor(self, now):
        """seqd's own count of sends in the rolling day must match the outbox: Maildir delivery
        of a repeated Message-ID is a no-op, so this is how a step sent twice from one mailbox
        shows. Called at most GOVERNOR_CHECK_EVERY_S apart, so every send is inside the rolling
        day of some call."""
        files = read_outbox(self.d.outbox, self.outbox_cache)
        for row in self.d.json("mailboxes")["mailboxes"]:
            stamps = [m["ts"] for m in files if m["mailbox"] == row["address"]]
            strict = sum(now - 86400 < ts <= now for ts in stamps)
            loose = sum(now - 86400 <= ts <= now for ts in stamps)
            if not strict <= row["sent_today"] <= loose:
                self.mismatches.append("%s at %s: seqd counts %d sends in the last 24 h, the "
                                       "outbox has %d" % (row["address"], rfc3339(now),
                                                          row["sent_today"], strict))

    def play(self):
        s = self.scenario
        self.d.start(virtual_time=rfc3339(s.start_ts))
        for q in s.sequences:
            self.d.json("sequence", "activate", q.name)
        batches = list(s.batches)
        restarts = list(s.restarts)
        self.add_batch(batches.pop(0)[1])
        now = checked_at = s.start_ts
        while now < s.end_ts:
            step_s = s.rng.randint(ADVANCE_MINUTES_MIN, ADVANCE_MINUTES_MAX) * 60
            step_s = min(step_s, s.end_ts - now)
            reply = self.d.json("time", "advance", "%ds" % step_s)
            now += step_s
            self.test.assertEqual(reply["now"], rfc3339(now))
            if now - checked_at >= GOVERNOR_CHECK_EVERY_S or now >= s.end_ts:
                self.compare_governor(now)
                checked_at = now
            if batches and batches[0][0] <= now:
                self.add_batch(batches.pop(0)[1])
            if restarts and restarts[0] <= now:
                restarts.pop(0)
                now = self.restart(now)
                self.test.assertEqual(self.now(), now)
        self.end_ts = now
        self.d.stop()
        self.test.assertEqual(self.d.process.returncode, 0, self.d.log()[-2000:])
        return read_outbox(self.d.outbox, self.outbox_cache)


def read_outbox(outbox, cache=None):
    """Every message in the Maildir outbox; cache (file path -> message) skips files read
    before, which never change."""
    cache = {} if cache is None else cache
    messages = []
    if not os.path.isdir(outbox):
        return messages
    for mailbox in sorted(os.listdir(outbox)):
        new_dir = os.path.join(outbox, mailbox, "new")
        if not os.path.isdir(new_dir):
            continue
        for name in sorted(os.listdir(new_dir)):
            path = os.path.join(new_dir, name)
            if path in cache:
                messages.append(cache[path])
                continue
            with open(path, "rb") as f:
                parsed = email.message_from_binary_file(f, policy=email.policy.default)
            cache[path] = {
                "mailbox": mailbox,
                "ts": int(email.utils.parsedate_to_datetime(str(parsed["Date"])).timestamp()),
                "sequence": str(parsed["X-Seqd-Sequence"]),
                "step": str(parsed["X-Seqd-Step"]),
                "contact": str(parsed["X-Seqd-Contact"])}
            messages.append(cache[path])
    return messages


# ---------------------------------------------------------------------------------------
# The checker


class Checker:
    def __init__(self, scenario, messages):
        self.s = scenario
        self.messages = sorted(messages, key=lambda m: (m["ts"], m["contact"], m["step"]))
        self.calendar = Calendar()
        self.failures = {"a": [], "b": [], "c": [], "d": []}
        self.order_pairs = 0
        self.sent = {}  # contact -> {step index: ts}
        self.disordered = set()  # contacts (c) failed on: (d) leaves them out
        self.coverage = collections.Counter()

    def fail(self, check, text):
        self.failures[check].append(text)

    def local_text(self, zone, ts):
        return "%s %s (%s)" % (self.calendar.local(zone, ts).strftime("%a %Y-%m-%d %H:%M:%S"),
                               zone, rfc3339(ts))

    def check_windows(self):
        """(a) Each send is inside a window of the schedule in the zone that counts, and the
        window's start day is not a holiday (holidays have no intervals). Windows are compared
        as instants, by the rule, rather than as wall-clock readings: on the night clocks go
        back, 01:45-03:00 also holds the second pass through 01:00-01:45, which the rule
        allows and a wall-clock check would call outside."""
        for m in self.messages:
            contact = self.s.contacts.get(m["contact"])
            if contact is None:
                self.fail("a", "unknown contact %s" % m)
                continue
            schedule = contact["sequence"].schedule
            zone = self.s.zone_of(m["contact"])
            window = self.calendar.window_at(schedule, zone, m["ts"])
            if window is None:
                self.fail("a", "%s %s %s sent %s: outside every window of %s (contact zone %r)" % (
                    m["sequence"], m["step"], m["contact"], self.local_text(zone, m["ts"]),
                    schedule.name, contact["zone"]))
                continue
            local_date = self.calendar.local(zone, m["ts"]).date()
            self.coverage["sent after midnight in a window of the day before"] += \
                window[2] != local_date
            self.coverage["sent on a DST change date"] += \
                self.calendar.has_dst_change(zone, local_date)

    def check_limits(self):
        """(b) Per mailbox, at most hourly_limit sends in any rolling hour, daily_limit in any
        rolling day, and min_interval between two sends. Two Date headers less than W seconds
        apart are two sends less than W apart, so no false alarm comes from the rounding."""
        for mailbox in self.s.mailboxes:
            stamps = sorted(m["ts"] for m in self.messages if m["mailbox"] == mailbox["address"])
            for window_s, limit, name in ((3600, mailbox["hourly_limit"], "hourly"),
                                          (86400, mailbox["daily_limit"], "daily")):
                last = 0
                for i, ts in enumerate(stamps):
                    while last < len(stamps) and stamps[last] - ts < window_s:
                        last += 1
                    if last - i > limit:
                        self.fail("b", "%s: %d sends from %s within %d s (%s limit %d)" % (
                            mailbox["address"], last - i, rfc3339(ts), window_s, name, limit))
                        break
            for earlier, later in zip(stamps, stamps[1:]):
                if later - earlier < mailbox["min_interval_s"]:
                    self.fail("b", "%s: sends at %s and %s, min_interval %d s" % (
                        mailbox["address"], rfc3339(earlier), rfc3339(later),
                        mailbox["min_interval_s"]))

    def step_due(self, key, index, from_ts):
        """(due, exact) of step `index` counted from from_ts (the previous send, or the add).
        A first step's bd wait is only bounded below: the add is not a send, and SPEC §3
        rule 2 ("the next open time ... plus its wait") may also count from the next opening."""
        sequence = self.s.contacts[key]["sequence"]
        kind, amount = sequence.waits[index]
        if kind == "s":
            return from_ts + amount, True
        return self.calendar.business_day_due(sequence.schedule, self.s.zone_of(key), from_ts,
                                              amount, lower_bound=index == 0)

    def check_steps(self):
        """(c) Each step at most once, in order, from a mailbox of the sequence's set, and not
        before its wait: after the previous send plus an elapsed wait, on or after the
        business-day due time for bd. A first step counts from the add."""
        seen = {}
        for m in self.messages:
            contact = self.s.contacts.get(m["contact"])
            if contact is None:
                continue
            sequence = contact["sequence"]
            if m["sequence"] != sequence.name or m["step"] not in sequence.steps:
                self.fail("c", "%s got %s %s: not its sequence or step" % (
                    m["contact"], m["sequence"], m["step"]))
                continue
            if m["mailbox"] not in [x["address"] for x in sequence.mailboxes]:
                self.fail("c", "%s %s %s went from %s, not in the set" % (
                    m["sequence"], m["step"], m["contact"], m["mailbox"]))
            seen.setdefault(m["contact"], []).append((m["ts"], sequence.steps.index(m["step"])))
        for key, sends in sorted(seen.items()):
            sends.sort()
            indexes = [index for _, index in sends]
            if indexes != list(range(len(indexes))):
                self.fail("c", "%s got steps %s in this order (or twice)" % (key, indexes))
                self.disordered.add(key)
                continue
            self.sent[key] = {index: ts for ts, index in sends}
            zone = self.s.zone_of(key)
            for ts, index in sends:
                if index > 0:
                    from_ts = self.sent[key][index - 1]
                else:
                    from_ts = self.s.contacts[key]["added_at"]
                due, exact = self.step_due(key, index, from_ts)
                kind = self.s.contacts[key]["sequence"].wait_texts[index]
                if kind.endswith("bd"):
                    self.coverage["bd sends checked %s" % ("exactly" if exact else
                                                           "against the first opening")] += 1
                if ts < due:
                    self.fail("c", "%s step %d (wait %s) sent %s, before it was due %s%s; "
                              "counted from %s" % (
                                  key, index + 1, kind, self.local_text(zone, ts),
                                  self.local_text(zone, due), "" if exact else " (lower bound)",
                                  self.local_text(zone, from_ts)))
                sent_date = self.calendar.local(zone, ts).date()
                if kind.endswith("bd") and sent_date <= self.calendar.local(zone, from_ts).date():
                    self.fail("c", "%s step %d (wait %s) sent %s, not on a later date than %s" % (
                        key, index + 1, kind, self.local_text(zone, ts),
                        self.local_text(zone, from_ts)))

    def pending_due(self, key, at_ts):
        """(step index, due) of the step a contact waits on at at_ts, or None when that is not
        known for sure. Conservative on purpose, so that (d) raises no false alarm:
         - a first step counts from the add; SPEC §3 rule 2 may also be read as "the next open
           time, plus the wait", so the later of both readings is taken (the next open time),
           and a first step with a bd wait is skipped;
         - a bd step whose dates see a DST change is skipped (the rule reads more than one way);
         - a contact added less than ORDER_MARGIN_S before at_ts is skipped.
        A step sent in the same second as at_ts counts as still pending: its order against a
        send in that second is decided by the caller."""
        contact = self.s.contacts[key]
        if key in self.disordered or contact["added_at"] is None or \
                contact["added_at"] + ORDER_MARGIN_S > at_ts:
            return None
        sent = self.sent.get(key, {})
        index = sum(1 for ts in sent.values() if ts < at_ts)
        sequence = contact["sequence"]
        if index >= len(sequence.steps):
            return None
        if index == 0:
            kind, amount = sequence.waits[0]
            opens = self.calendar.next_open(sequence.schedule, self.s.zone_of(key),
                                            contact["added_at"])
            if kind != "s" or opens is None:
                return None
            return index, opens + amount
        due, exact = self.step_due(key, index, sent[index - 1])
        return (index, due) if exact else None

    def check_score_order(self):
        """(d) When B was sent at s, no contact A of the same sequence (so the same mailbox set)
        with a higher score whose pending step was due at least ORDER_MARGIN_S before s, and
        whose own window was open at s, may get that step later than s. Had A been due and
        open, it was on the wheel at or before s; mailbox capacity frees no earlier than a
        waiting contact was told, so A was tried no later than B, and contacts due in the same
        tick are fired highest score first. The pairs the other way round (the higher score
        went while a due, open, lower one waited) are counted to show the check had work."""
        by_sequence = {}
        for key, contact in self.s.contacts.items():
            by_sequence.setdefault(contact["sequence"].name, []).append(key)
        for m in self.messages:
            b = m["contact"]
            if b not in self.sent:
                continue
            b_score = self.s.contacts[b]["score"]
            for a in by_sequence[self.s.contacts[b]["sequence"].name]:
                if a == b or self.s.contacts[a]["score"] == b_score:
                    continue
                pending = self.pending_due(a, m["ts"])
                if pending is None:
                    continue
                index, due = pending
                a_sent = self.sent.get(a, {}).get(index)
                if due + ORDER_MARGIN_S > m["ts"] or (a_sent is not None and a_sent <= m["ts"]):
                    continue
                schedule = self.s.contacts[a]["sequence"].schedule
                zone = self.s.zone_of(a)
                if not self.calendar.is_open(schedule, zone, m["ts"]):
                    continue
                if self.s.contacts[a]["score"] < b_score:
                    self.order_pairs += 1
                    continue
                self.fail("d", "%s (score %d, zone %s) step %d due %s and open, but %s (score %d) "
                          "step %s went first at %s; %s step %d went %s" % (
                              a, self.s.contacts[a]["score"], zone, index + 1, rfc3339(due), b,
                              b_score, m["step"], rfc3339(m["ts"]), a, index + 1,
                              rfc3339(a_sent) if a_sent else "never"))

    def run(self):
        self.check_windows()
        self.check_limits()
        self.check_steps()
        self.check_score_order()
        return self.failures


class CheckerCalendar(unittest.TestCase):
    """The checker's own calendar on cases worked out by hand, so a wrong checker shows here
    rather than as an alarm about seqd."""

    def setUp(self):
        self.calendar = Calendar()

    def instant(self, zone, *fields):
        return rfc3339(self.calendar.instant_of(zone, dt.datetime(*fields)))

    def test_skipped_times_open_at_the_change_and_repeated_ones_take_the_earlier_instant(self):
        self.assertEqual(self.instant("America/New_York", 2026, 3, 8, 2, 30),
                         "2026-03-08T07:00:00Z")
        self.assertEqual(self.instant("America/New_York", 2026, 11, 1, 1, 30),
                         "2026-11-01T05:30:00Z")
        # Lord Howe moves 30 minutes; Chatham changes at 02:45/03:45 local.
        self.assertEqual(self.instant("Australia/Lord_Howe", 2026, 4, 5, 1, 45),
                         "2026-04-04T14:45:00Z")
        self.assertEqual(self.instant("Australia/Lord_Howe", 2026, 10, 4, 2, 15),
                         "2026-10-03T15:30:00Z")
        self.assertEqual(self.instant("Pacific/Chatham", 2026, 4, 5, 3, 0), "2026-04-04T13:15:00Z")
        self.assertEqual(self.instant("Pacific/Chatham", 2026, 9, 27, 3, 0), "2026-09-26T14:00:00Z")
        self.assertEqual(self.instant("Asia/Kathmandu", 2026, 3, 2, 9, 0), "2026-03-02T03:15:00Z")

    def test_windows_crossing_midnight_belong_to_the_day_they_start(self):
        schedule = Schedule("s", "America/New_York", [("sat", [(22 * 60, 2 * 60)])],
                            [dt.date(2026, 12, 12)])
        zone = "America/New_York"
        at = lambda *fields: self.calendar.instant_of(zone, dt.datetime(*fields))
        self.assertTrue(self.calendar.is_open(schedule, zone, at(2026, 12, 6, 1, 59)))
        self.assertFalse(self.calendar.is_open(schedule, zone, at(2026, 12, 6, 2, 0)))
        self.assertFalse(self.calendar.is_open(schedule, zone, at(2026, 12, 5, 21, 59)))
        # Saturday 12-12 is a holiday: its window, Sunday morning included, stays shut.
        self.assertFalse(self.calendar.is_open(schedule, zone, at(2026, 12, 13, 1, 0)))
        self.assertEqual(self.calendar.next_open(schedule, zone, at(2026, 12, 12, 23, 0)),
                         at(2026, 12, 19, 22, 0))

    def test_business_days(self):
        zone = "America/New_York"
        schedule = Schedule("s", zone, [("mon-fri", [(9 * 60, 12 * 60), (13 * 60, 17 * 60)])],
                            [dt.date(2026, 12, 8)])
        at = lambda *fields: self.calendar.instant_of(zone, dt.datetime(*fields))
        due = lambda start, days: self.calendar.business_day_due(schedule, zone, start, days)
        self.assertEqual(due(at(2026, 12, 4, 10, 30), 1), (at(2026, 12, 7, 10, 30), True))
        self.assertEqual(due(at(2026, 12, 4, 12, 30), 1), (at(2026, 12, 7, 13, 0), True))
        self.assertEqual(due(at(2026, 12, 4, 18, 0), 1), (at(2026, 12, 7, 9, 0), True))
        self.assertEqual(due(at(2026, 12, 7, 10, 0), 1), (at(2026, 12, 9, 10, 0), True))
        # Across the DST change only the day's first opening is sure.
        self.assertEqual(due(at(2026, 3, 6, 10, 0), 1), (at(2026, 3, 9, 10, 0), True))
        self.assertEqual(due(at(2026, 3, 8, 10, 0), 1), (at(2026, 3, 9, 9, 0), False))


class CheckerCatches(unittest.TestCase):
    """Each check fails on a hand-made outbox with one fault in it."""

    MONDAY_9_TOKYO = int(dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc).timestamp())

    def failures(self, sends, hourly_limit=5):
        scenario = Scenario(1)
        scenario.mailboxes = [{"address": "m1@mail1.test", "daily_limit": 10,
                               "hourly_limit": hourly_limit, "min_interval_s": 0,
                               "jitter_s": 0}]
        schedule = Schedule("s", "Asia/Tokyo", [("mon-fri", [(9 * 60, 17 * 60)])], [])
        sequence = Sequence("q", schedule, "schedule", scenario.mailboxes, ["0m", "1h"])
        scenario.sequences = [sequence]
        scenario.contacts = {key: {"zone": "", "score": score, "sequence": sequence, "batch": 0,
                                   "added_at": self.MONDAY_9_TOKYO}
                             for key, score in (("a", 90), ("b", 10))}
        messages = [{"mailbox": "m1@mail1.test", "ts": self.MONDAY_9_TOKYO + minutes * 60,
                     "sequence": "q", "step": step, "contact": key}
                    for key, step, minutes in sends]
        checker = Checker(scenario, messages)
        return checker.run(), checker.order_pairs

    def test_a_clean_outbox_passes(self):
        failures, pairs = self.failures([("a", "st1", 1), ("b", "st1", 10), ("a", "st2", 61),
                                         ("b", "st2", 70)])
        self.assertEqual(failures, {"a": [], "b": [], "c": [], "d": []})
        self.assertEqual(pairs, 1)  # b was due and open at 09:01 and waited while a went

    def test_each_fault_is_found(self):
        self.assertTrue(self.failures([("a", "st1", -1)])[0]["a"])  # 08:59 in Tokyo
        self.assertTrue(self.failures([("a", "st1", 0), ("b", "st1", 30)], hourly_limit=1)[0]["b"])
        self.assertTrue(self.failures([("a", "st1", 0), ("a", "st2", 30)])[0]["c"])
        self.assertTrue(self.failures([("a", "st2", 60)])[0]["c"])
        self.assertTrue(self.failures([("b", "st1", 10), ("a", "st1", 20)])[0]["d"])


class ScheduleProperty(unittest.TestCase):
    def test_random_schedules_over_two_months(self):
        for seed in seeds_to_run():
            with self.subTest(seed=seed):
                self.run_seed(seed)

    def run_seed(self, seed):
        print("\nschedule property seed %d (replay: SEQD_SCHEDULE_SEED=%d)" % (seed, seed),
              flush=True)
        started = time.time()
        run = Run(self, seed)
        keep = False
        try:
            messages = run.play()
            checker = Checker(run.scenario, messages)
            failures = checker.run()
            failures["b"] += run.mismatches
            days = (run.end_ts - run.scenario.start_ts) / 86400
            print("seed %d: %d sends, %d contacts, %d restarts, %.0f simulated days from %s, "
                  "%d times a due, open contact waited for a higher score, %.1f s" % (
                      seed, len(messages), len(run.scenario.contacts), run.restarts_done, days,
                      rfc3339(run.scenario.start_ts), checker.order_pairs,
                      time.time() - started), flush=True)
            print("  " + ", ".join("%s: %d" % item for item in sorted(checker.coverage.items())),
                  flush=True)
            report = []
            for check in "abcd":
                if failures[check]:
                    report.append("(%s) %d failures:" % (check, len(failures[check])))
                    report += ["  " + line for line in failures[check][:REPORT_LINES_MAX]]
            if report:
                keep = bool(os.environ.get("SEQD_SCHEDULE_KEEP"))
                self.fail("seed %d (replay with SEQD_SCHEDULE_SEED=%d)%s\n%s\n%s" % (
                    seed, seed, ", state kept in " + run.d.root if keep else "",
                    run.scenario.describe(), "\n".join(report)))
            self.assertGreater(len(messages), 0, "seed %d sent nothing" % seed)
        finally:
            if keep:
                run.d.stop()
            else:
                run.d.cleanup()


if __name__ == "__main__":
    harness.main()
