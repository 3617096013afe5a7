"""Proves seqd runs end to end on its real parts: CSV in, Maildir out, LMDB across a SIGKILL,
and that bad input gets clear errors while the daemon keeps serving."""
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

import harness
from harness import TWO_EMAILS_YAML, Daemon, always_open, contacts_csv


class WalkingSkeleton(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon()
        self.addCleanup(self.daemon.cleanup)
        self.daemon.start()

    def test_two_emails_survive_sigkill_without_repeats(self):
        d = self.daemon
        csv_path = d.write_file("contacts.csv", contacts_csv(20))
        added = d.json("add", "two-emails", "--csv", csv_path)
        self.assertEqual(len(added["added"]), 20)
        self.assertEqual(added["skipped"], [])
        d.json("sequence", "activate", "two-emails")
        d.json("time", "advance", "1h")

        messages = d.messages()
        self.assertEqual(len(messages), 20)
        for message in messages:
            for header in ("From", "To", "Subject", "Date", "Message-ID"):
                self.assertIsNotNone(message[header], header)
            number = message["To"].addresses[0].username.replace("person", "")
            self.assertEqual(str(message["Subject"]), "Hello Name%s" % number)
            self.assertEqual(message["From"].addresses[0].addr_spec, "alice@acme.test")
            self.assertEqual(message["X-Seqd-Sequence"], "two-emails")
        status = d.json("status", "two-emails")
        self.assertEqual(len(status["contacts"]), 20)
        self.assertEqual({c["status"] for c in status["contacts"]}, {"scheduled"})
        self.assertEqual({c["step"] for c in status["contacts"]}, {"again"})
        scores = [c["score"] for c in status["contacts"]]
        self.assertEqual(scores, sorted(scores, reverse=True))

        self.assertEqual(d.kill(signal.SIGKILL), -signal.SIGKILL)
        d.start()
        self.assertEqual(d.json("time")["now"], "2026-12-01T15:00:00Z")
        d.json("time", "advance", "25h")

        messages = d.messages()
        self.assertEqual(len(messages), 40)
        ids = {m["Message-ID"] for m in messages}
        self.assertEqual(len(ids), 40)
        status = d.json("status", "two-emails")
        self.assertEqual([c["status"] for c in status["contacts"]], ["finished"] * 20)
        self.assertEqual({c["finish_reason"] for c in status["contacts"]}, {"completed"})

        # A further restart and a long advance send nothing more: no step runs twice.
        d.kill(signal.SIGKILL)
        d.start()
        d.json("time", "advance", "10d")
        self.assertEqual(len(d.messages()), 40)

    def test_bad_csv_rows_are_reported_by_line_and_good_rows_kept(self):
        d = self.daemon
        csv_path = d.write_file("bad.csv", "\n".join([
            "email,first_name,score",
            "good1@example.test,Good,50",
            "short@example.test,Short",
            "good2@example.test,Also,60",
            "nan@example.test,Bad,high",
            "good3@example.test,Third,70",
        ]) + "\n")
        result = d.seqctl("--json", "import", csv_path)
        self.assertEqual(result.returncode, 3, result.stderr)
        report = __import__("json").loads(result.stdout)
        self.assertEqual(report["imported"], 3)
        self.assertEqual([e["line"] for e in report["errors"]], [3, 5])
        self.assertIn("score", report["errors"][1]["reason"])
        human = d.seqctl("import", csv_path)
        self.assertEqual(human.returncode, 3)
        self.assertIn("line 3:", human.stdout)
        self.assertIn("line 5:", human.stdout)
        shown = d.json("contact", "show", "good3@example.test")
        self.assertEqual(shown["score"], 70)
        self.assertEqual(d.seqctl("contact", "show", "nan@example.test").returncode, 1)

    def test_malformed_socket_input_gets_error_and_daemon_keeps_serving(self):
        d = self.daemon
        replies = d.raw_exchange(b"{not json\n")
        self.assertFalse(replies[0]["ok"])
        self.assertEqual(replies[0]["error"]["code"], "bad_request")
        replies = d.raw_exchange(b'{"v":1,"id":3,"cmd":"frobnicate","args":{}}\n')
        self.assertEqual(replies[0]["id"], 3)
        self.assertFalse(replies[0]["ok"])
        self.assertEqual(replies[0]["error"]["code"], "unknown_command")
        # Same connection: a bad line, then a good one.
        replies = d.raw_exchange(b'[1,2]\n{"v":1,"id":4,"cmd":"ping","args":{}}\n', read_lines=2)
        self.assertFalse(replies[0]["ok"])
        self.assertTrue(replies[1]["ok"])
        self.assertEqual(d.seqctl("ping").returncode, 0)

    def test_unknown_sequence_and_usage_errors_exit_codes(self):
        d = self.daemon
        self.assertEqual(d.seqctl("status", "nope").returncode, 1)
        self.assertEqual(d.seqctl("frobnicate").returncode, 2)
        self.assertEqual(d.seqctl("time", "advance", "5w").returncode, 2)
        unreachable = subprocess.run([harness.ARGS.seqctl, "--socket", "/tmp/no-such.sock", "ping"],
                                     capture_output=True, text=True)
        self.assertEqual(unreachable.returncode, 5)

    def test_second_instance_on_same_state_dir_refuses(self):
        d = self.daemon
        second = subprocess.run([harness.ARGS.seqd, "--config", d.config, "--virtual-time",
                                 harness.VIRTUAL_START], capture_output=True, text=True, timeout=30)
        self.assertEqual(second.returncode, 1)
        self.assertIn("already running", second.stderr)
        self.assertEqual(d.seqctl("ping").returncode, 0)

    def test_seqctl_finds_a_dev_daemon_in_the_working_directory(self):
        d = self.daemon
        self.assertFalse(os.path.exists("/run/seqd/control.sock"), "a system seqd is running")
        os.makedirs(os.path.join(d.root, "dev", "var"))
        os.symlink(d.socket, os.path.join(d.root, "dev", "var", "control.sock"))
        env = {k: v for k, v in os.environ.items() if k != "SEQD_SOCKET"}
        here = subprocess.run([harness.ARGS.seqctl, "ping"], cwd=os.path.join(d.root, "dev"),
                              env=env, capture_output=True, text=True)
        self.assertEqual(here.returncode, 0, here.stderr)
        elsewhere = subprocess.run([harness.ARGS.seqctl, "ping"], cwd=d.root, env=env,
                                   capture_output=True, text=True)
        self.assertEqual(elsewhere.returncode, 5)

    def test_changes_are_logged_one_line_each(self):
        d = self.daemon
        d.json("sequence", "activate", "two-emails")
        d.seqctl("sequence", "activate", "nope")
        log = d.log()
        self.assertRegex(log, r"seqd: command sequence_activate by \S+ sequence two-emails: ok\n")
        self.assertRegex(log, r"seqd: command sequence_activate by \S+ sequence nope: not_found: ")
        self.assertNotIn("command status", log)

    def test_sigterm_exits_zero(self):
        self.assertEqual(self.daemon.kill(signal.SIGTERM), 0)

    def test_virtual_clock_never_moves_backwards_across_restart(self):
        d = self.daemon
        d.json("time", "advance", "2d")
        d.kill(signal.SIGKILL)
        d.start(virtual_time="2026-11-01T00:00:00Z")
        self.assertEqual(d.json("time")["now"], "2026-12-03T14:00:00Z")
        self.assertEqual(d.seqctl("time", "set", "2026-12-01T00:00:00Z").returncode, 1)


class RealClock(unittest.TestCase):
    """Without --virtual-time the wheel runs on the system clock: due steps go out by themselves
    within about a tick, and the clock cannot be moved."""

    def test_due_steps_go_out_on_the_real_clock(self):
        d = Daemon(sequences={"two-emails": always_open(TWO_EMAILS_YAML)})
        self.addCleanup(d.cleanup)
        d.start(virtual_time=None)
        clock = d.json("time")
        self.assertFalse(clock["virtual"])
        self.assertEqual(d.seqctl("time", "advance", "1h").returncode, 1)
        d.json("sequence", "activate", "two-emails")
        d.json("add", "two-emails", "--csv", d.write_file("c.csv", contacts_csv(5)))
        deadline = time.time() + 10
        while len(d.messages()) < 5 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(d.messages()), 5)
        status = d.json("status", "two-emails")["contacts"]
        self.assertEqual({c["status"] for c in status}, {"scheduled"})
        self.assertEqual({c["step"] for c in status}, {"again"})

    def test_each_thread_is_named_by_its_role(self):
        # top -H, ps -L and gdb show which thread is busy: each names itself
        # (io/thread_name.hpp); only the main thread keeps the program's name.
        d = Daemon(sequences={"two-emails": always_open(TWO_EMAILS_YAML)})
        self.addCleanup(d.cleanup)
        d.start(virtual_time=None)
        d.json("status", "two-emails")  # a streamed read starts the status thread if lazy
        pid = d.process.pid
        names = []
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                names.append(f.read().strip())
        self.assertEqual(names.count("seqd"), 1, names)
        for role in ("seqd-engine", "seqd-commit", "seqd-control", "seqd-deliver",
                     "seqd-status"):
            self.assertIn(role, names)


class Reload(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon()
        self.addCleanup(self.daemon.cleanup)
        self.daemon.start()

    def sequence_path(self):
        return os.path.join(self.daemon.root, "sequences", "two-emails.yaml")

    def test_reload_applies_a_good_config_and_rejects_a_bad_one_whole(self):
        d = self.daemon
        with open(self.sequence_path()) as f:
            text = f.read()
        with open(self.sequence_path(), "w") as f:
            f.write(text.replace("name: Two emails a day apart", "name: Renamed"))
        reloaded = d.seqctl("reload")
        self.assertEqual(reloaded.returncode, 0, reloaded.stderr)
        shown = d.json("sequence", "show", "two-emails")
        self.assertEqual(shown["name"], "Renamed")
        self.assertEqual([(step["step_index"], step["id"]) for step in shown["steps"]],
                         [(0, "hello"), (1, "again")])

        with open(self.sequence_path(), "w") as f:
            f.write(text.replace("name: Two emails a day apart", "name: Broken\nbogus: 1"))
        rejected = d.seqctl("reload")
        self.assertEqual(rejected.returncode, 1)
        self.assertRegex(rejected.stderr, r"two-emails\.yaml:\d+:\d+: .*unknown key 'bogus'")
        self.assertEqual(d.json("sequence", "show", "two-emails")["name"], "Renamed")
        self.assertEqual(d.seqctl("ping").returncode, 0)

    def test_sighup_reloads(self):
        d = self.daemon
        with open(self.sequence_path()) as f:
            text = f.read()
        with open(self.sequence_path(), "w") as f:
            f.write(text.replace("name: Two emails a day apart", "name: Via SIGHUP"))
        d.process.send_signal(signal.SIGHUP)
        for _ in range(100):
            if d.json("sequence", "show", "two-emails")["name"] == "Via SIGHUP":
                break
            time.sleep(0.05)
        self.assertEqual(d.json("sequence", "show", "two-emails")["name"], "Via SIGHUP")


class SystemdNotify(unittest.TestCase):
    """Type=notify: READY=1 once serving, RELOADING=1 + MONOTONIC_USEC then READY=1 around a
    reload, STOPPING=1 on SIGTERM, STATUS= with live counts when they change, sent to
    $NOTIFY_SOCKET (here an abstract socket)."""

    def test_notify_protocol(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        name = "seqd-notify-%d" % os.getpid()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(listener.close)
        listener.bind("\0" + name)
        listener.settimeout(20)
        os.environ["NOTIFY_SOCKET"] = "@" + name
        try:
            d.start()
        finally:
            del os.environ["NOTIFY_SOCKET"]

        statuses = []

        def receive():
            """The next datagram that is not a STATUS= update alone (those come whenever the
            counts change, between the others)."""
            while True:
                lines = listener.recv(4096).decode().splitlines()
                if all(line.startswith("STATUS=") for line in lines):
                    statuses.extend(lines)
                    continue
                return lines

        def wait_status(pattern):
            deadline = time.time() + 20
            while not any(re.search(pattern, line) for line in statuses):
                self.assertLess(time.time(), deadline, statuses)
                statuses.extend(listener.recv(4096).decode().splitlines())

        self.assertIn("READY=1", receive())
        wait_status(r"^STATUS=serving scheduled 0, active 0, paused 0, bounced 0, not_sent 0, "
                    r"due 0; 0 sent since start$")
        d.json("import", d.write_file("c.csv", "email,first_name\nann@example.test,Ann\n"))
        d.json("add", "two-emails", "--contact", "ann@example.test")
        d.json("sequence", "activate", "two-emails")
        d.json("time", "advance", "1m")
        # Ann's first email is out; she waits a day for the second.
        wait_status(r"^STATUS=serving scheduled 1, .* due 0; 1 sent since start$")
        d.process.send_signal(signal.SIGHUP)
        reloading = receive()
        self.assertIn("RELOADING=1", reloading)
        self.assertTrue(any(line.startswith("MONOTONIC_USEC=") for line in reloading), reloading)
        self.assertIn("READY=1", receive())
        d.process.send_signal(signal.SIGTERM)
        self.assertIn("STOPPING=1", receive())
        self.assertEqual(d.process.wait(timeout=30), 0)


class Watchdog(unittest.TestCase):
    """WATCHDOG=1 keeps coming while a long `time advance` holds the engine thread."""

    def test_watchdog_pings_during_a_long_advance(self):
        # Limits far above the work, so that each email added is one written in the advance.
        unlimited = ("  - address: alice@acme.test\n    name: Alice Smith\n    owner: alice\n"
                     "    transport: maildir\n    daily_limit: 10000000\n"
                     "    hourly_limit: 10000000\n")
        d = Daemon(sequences={"two-emails": harness.always_open(harness.TWO_EMAILS_YAML)},
                   seqd_yaml=harness.seqd_yaml(mailboxes=unlimited))
        self.addCleanup(d.cleanup)
        name = "seqd-watchdog-%d" % os.getpid()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(listener.close)
        listener.bind("\0" + name)
        listener.settimeout(0.05)
        os.environ.update(NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="200000")  # ping every 0.1 s
        try:
            d.start()
        finally:
            del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
        pings = []
        done = threading.Event()

        def collect():
            while not done.is_set():
                try:
                    datagram = listener.recv(4096).decode()
                except socket.timeout:
                    continue
                if "WATCHDOG=1" in datagram.splitlines():
                    pings.append(time.monotonic())

        collector = threading.Thread(target=collect)
        collector.start()
        self.addCleanup(collector.join)
        self.addCleanup(done.set)
        d.json("sequence", "activate", "two-emails")
        # An advance must last over a second to show a gap: each try adds twice the contacts
        # (two emails each) of the one before, from 5,000.
        added, count = 0, 5000
        for _ in range(4):
            path = d.write_file("c%d.csv" % added, harness.contacts_csv(count, start=added))
            d.json("add", "two-emails", "--csv", path)
            added += count
            count *= 2
            started = time.monotonic()
            d.json("time", "advance", "2d")  # every email of those added written to the Maildir
            ended = time.monotonic()
            if ended - started > 1.0:
                break
        self.assertGreater(ended - started, 1.0, "the advance was too short to show a gap")
        during = [started] + [t for t in pings if started <= t <= ended] + [ended]
        longest_gap = max(b - a for a, b in zip(during, during[1:]))
        self.assertLess(longest_gap, 1.0, "no WATCHDOG=1 for %.1f s of a %.1f s advance"
                        % (longest_gap, ended - started))


class CheckConfig(unittest.TestCase):
    def test_check_config_good_and_bad(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        good = subprocess.run([harness.ARGS.seqd, "--config", d.config, "--check-config"],
                              capture_output=True, text=True)
        self.assertEqual(good.returncode, 0, good.stderr)
        path = os.path.join(d.root, "sequences", "two-emails.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("type: auto_email\n    wait: 1d", "type: autoemail\n    wait: 1d"))
        bad = subprocess.run([harness.ARGS.seqd, "--config", d.config, "--check-config"],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1)
        self.assertRegex(bad.stderr, r"two-emails\.yaml:13:11: .*autoemail")


if __name__ == "__main__":
    harness.main()
