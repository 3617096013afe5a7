"""Starts a real seqd under virtual time in a temp dir and drives it with seqctl.

Used by the integration tests (tests/integration/*_test.py). Standard library only.
"""
import argparse
import atexit
import email
import email.policy
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None

def alice_mailbox(hourly_limit=1000, extra="", transport="maildir", daily_limit=1000):
    """The test mailbox alice@acme.test, with `extra` lines of its own keys; a limit of None
    leaves it out (seqd's default)."""
    limits = "".join("    %s: %d\n" % (key, value)
                     for key, value in (("daily_limit", daily_limit), ("hourly_limit", hourly_limit))
                     if value is not None)
    return ("  - address: alice@acme.test\n    name: Alice Smith\n    owner: alice\n"
            "    transport: %s\n%s%s" % (transport, limits, extra))


MAILDIR_DELIVERY = "  maildir: {{dir: {root}/outbox}}\n"


def seqd_yaml(top="", mailboxes=None, delivery=MAILDIR_DELIVERY):
    """A seqd.yaml template for Daemon ({root} and {user} are filled in there): the usual
    keys, `top` lines of other top-level keys, `delivery`'s lines, then `mailboxes`
    (default: alice_mailbox())."""
    return ("state_dir: {root}/state\ncontrol_socket: {root}/ctl.sock\nadmins: [root, {user}]\n"
            "workers: 2\ntick: 100ms\n" + top + "delivery:\n" + delivery + "mailboxes:\n" +
            (alice_mailbox() if mailboxes is None else mailboxes))


def smtp_seqd_yaml(port, timeout="5s", smtp_extra="", top="", daily_limit=100000,
                   hourly_limit=100000, mailbox_extra=""):
    """seqd_yaml() with alice@acme.test sending through the SMTP relay on 127.0.0.1:port
    (STARTTLS off, `timeout`; `smtp_extra` adds keys to delivery.smtp, as ", username: u");
    the mailbox's limits and `mailbox_extra` as alice_mailbox()'s."""
    smtp = ("  smtp: {{host: 127.0.0.1, port: %d, starttls: \"off\", timeout: %s%s}}\n"
            % (port, timeout, smtp_extra))
    return seqd_yaml(top=top, delivery=MAILDIR_DELIVERY + smtp,
                     mailboxes=alice_mailbox(hourly_limit, mailbox_extra, "smtp", daily_limit))


SEQD_YAML = seqd_yaml()

SCHEDULES_YAML = """\
business-hours:
  timezone: America/New_York
  windows:
    mon-fri: ["09:00-12:00", "13:00-17:00"]
always:
  timezone: UTC
  windows:
    mon-sun: ["00:00-24:00"]
"""

TWO_EMAILS_YAML = """\
id: two-emails
name: Two emails a day apart
owner: alice
schedule: business-hours
mailboxes: [alice@acme.test]
steps:
  - id: hello
    type: auto_email
    wait: 0m
    subject: "Hello {{first_name}}"
    body: "Hi {{first_name|there}}, a first note."
  - id: again
    type: auto_email
    wait: 1d
    subject: "Again, {{first_name}}"
    body: "Hi {{first_name|there}}, a second note."
"""

# Three steps: an email, a call task a day later, an email a day after that.
CALL_SEQUENCE_YAML = """\
id: with-call
name: Email then call
owner: alice
schedule: business-hours
mailboxes: [alice@acme.test]
steps:
  - id: hello
    type: auto_email
    wait: 0m
    subject: "Hello {{first_name}}"
    body: "Hi"
  - id: ring
    type: call
    wait: 1d
    note: "Call {{first_name}} at {{company}}"
  - id: after
    type: auto_email
    wait: 1d
    subject: "After our call, {{first_name}}"
    body: "Thanks"
"""

VIRTUAL_START = "2026-12-01T14:00:00Z"


def always_open(sequence_yaml):
    """sequence_yaml sending at any hour: tests on the real clock must not depend on when
    they run."""
    return sequence_yaml.replace("schedule: business-hours", "schedule: always")


def parse_args():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqd", required=True)
    parser.add_argument("--seqctl", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    return [sys.argv[0]] + rest


class Daemon:
    """One seqd process over one temp dir (kept across restarts)."""

    def __init__(self, sequences=None, seqd_yaml=None, schedules_yaml=None):
        # Short paths: a Unix socket path must stay under 108 bytes.
        self.root = tempfile.mkdtemp(prefix="seqd-", dir="/tmp")
        self.config = os.path.join(self.root, "seqd.yaml")
        self.process = None
        user = os.environ.get("USER") or "root"
        with open(self.config, "w") as f:
            f.write((seqd_yaml or SEQD_YAML).format(root=self.root, user=user))
        with open(os.path.join(self.root, "schedules.yaml"), "w") as f:
            f.write(schedules_yaml or SCHEDULES_YAML)
        os.mkdir(os.path.join(self.root, "sequences"))
        for name, text in (sequences or {"two-emails": TWO_EMAILS_YAML}).items():
            with open(os.path.join(self.root, "sequences", name + ".yaml"), "w") as f:
                f.write(text)
        self.socket = os.path.join(self.root, "ctl.sock")
        self.outbox = os.path.join(self.root, "outbox")
        self.log_path = os.path.join(self.root, "seqd.log")

    def start(self, virtual_time=VIRTUAL_START, expect_ready=True):
        """Starts seqd on a virtual clock at virtual_time, or on the real clock when None."""
        argv = [ARGS.seqd, "--config", self.config]
        if virtual_time is not None:
            argv += ["--virtual-time", virtual_time]
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=log)
        if expect_ready:
            self.wait_ready()
        return self.process

    def wait_ready(self, timeout_s=20):
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("seqd exited early: " + self.log())
            if self.seqctl("ping").returncode == 0:
                return
            time.sleep(0.05)
        raise AssertionError("seqd did not become ready: " + self.log())

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def seqctl(self, *args, input_text=None):
        return subprocess.run([ARGS.seqctl, "--socket", self.socket] + list(args),
                              capture_output=True, text=True, input=input_text, timeout=120)

    def seqctl_as(self, user, *args):
        """Runs seqctl as the OS account `user` (see ensure_account), so the daemon sees that
        user as the socket peer."""
        return subprocess.run(["runuser", "-u", user, "--", seqctl_for_others(), "--socket",
                               self.socket] + list(args), capture_output=True, text=True,
                              timeout=120)

    def json_as(self, user, *args, expect=0):
        result = self.seqctl_as(user, "--json", *args)
        if result.returncode != expect:
            raise AssertionError("seqctl %s as %s exited %d (expected %d): %s %s" % (
                " ".join(args), user, result.returncode, expect, result.stdout, result.stderr))
        return json.loads(result.stdout)

    def json(self, *args, expect=0):
        result = self.seqctl("--json", *args)
        if result.returncode != expect:
            raise AssertionError("seqctl %s exited %d (expected %d): %s %s" % (
                " ".join(args), result.returncode, expect, result.stdout, result.stderr))
        return json.loads(result.stdout)

    def kill(self, sig=signal.SIGKILL):
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def write_file(self, name, text):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def messages(self, mailbox="alice@acme.test"):
        new_dir = os.path.join(self.outbox, mailbox, "new")
        if not os.path.isdir(new_dir):
            return []
        parsed = []
        for name in sorted(os.listdir(new_dir)):
            with open(os.path.join(new_dir, name), "rb") as f:
                parsed.append(email.message_from_binary_file(f, policy=email.policy.default))
        return parsed

    def raw_exchange(self, payload, read_lines=1):
        """Sends raw bytes on the control socket and returns the reply lines."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.socket)
            s.sendall(payload)
            data = b""
            while data.count(b"\n") < read_lines:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return [json.loads(line) for line in data.decode().splitlines() if line]


_SEQCTL_FOR_OTHERS = None


def seqctl_for_others():
    """seqctl as another OS account can run it: the build dir may sit in a private directory
    (a clone made in `mktemp -d` is 0700), so a copy goes to a temp dir anyone may enter,
    removed when the test process exits."""
    global _SEQCTL_FOR_OTHERS
    if _SEQCTL_FOR_OTHERS is None:
        directory = tempfile.mkdtemp(prefix="seqctl-", dir="/tmp")
        os.chmod(directory, 0o755)
        _SEQCTL_FOR_OTHERS = os.path.join(directory, "seqctl")
        shutil.copy2(ARGS.seqctl, _SEQCTL_FOR_OTHERS)
        os.chmod(_SEQCTL_FOR_OTHERS, 0o755)
        atexit.register(shutil.rmtree, directory, True)
    return _SEQCTL_FOR_OTHERS


def require_root():
    if os.geteuid() != 0:
        raise AssertionError("this test makes OS accounts: run it as root, as CI does")


def ensure_group(group):
    try:
        grp.getgrnam(group)
    except KeyError:
        subprocess.run(["groupadd", "--system", group], check=True)


def ensure_account(user, groups=()):
    """Makes a system account (no home, no shell) in `groups` unless it exists."""
    for group in groups:
        ensure_group(group)
    try:
        pwd.getpwnam(user)
    except KeyError:
        command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        if groups:
            command += ["--groups", ",".join(groups)]
        subprocess.run(command + [user], check=True)


def proc_kib(path, field):
    """Bytes of a `field: N kB` line of a /proc file (status, smaps_rollup)."""
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s in %s" % (field, path))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, timeout_s=20):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError("server exited early with %d" % process.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on port %d" % port)


def open_request(daemon, request_id, cmd, args, timeout_s=60):
    """A raw connection to the daemon with one request sent on it, its answer unread."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    s.connect(daemon.socket)
    s.sendall((json.dumps({"v": 1, "id": request_id, "cmd": cmd, "args": args}) + "\n").encode())
    return s


def read_slowly_while_engine_goes_on(test, daemon, s):
    """Reads a streamed answer on s a line at a time, slowly, after checking that, with its
    first frame out and the rest waiting, ping answers and `time advance 2h` sends the two
    emails waiting (the test set them up). Returns every frame up to the reply."""
    reader = s.makefile("rb", buffering=4096)
    frames = [json.loads(reader.readline())]  # the answer has started; the rest waits
    test.assertEqual(frames[0]["event"], "rows")
    started = time.monotonic()
    test.assertEqual(daemon.seqctl("ping").returncode, 0)
    test.assertLess(time.monotonic() - started, 2.0)
    started = time.monotonic()
    advanced = daemon.seqctl("time", "advance", "2h")
    test.assertEqual(advanced.returncode, 0, advanced.stderr)
    test.assertLess(time.monotonic() - started, 5.0)
    test.assertEqual(len(daemon.messages()), 2)
    # The slow reader still gets every frame, in order, at its own pace.
    while "ok" not in frames[-1]:
        line = reader.readline()
        test.assertTrue(line, "the connection closed before the reply")
        frames.append(json.loads(line))
        time.sleep(0.001)
    reader.close()
    return frames


def contacts_csv(count, start=0):
    lines = ["email,first_name,last_name,company,score"]
    for i in range(start, start + count):
        lines.append("person%d@example.test,Name%d,Last%d,Company %d,%d" % (i, i, i, i, (i * 37) % 101))
    return "\n".join(lines) + "\n"


class _TimedResult(unittest.TextTestResult):
    """Prints how long each test took, so the slow ones are seen in ctest's output."""

    def startTest(self, test):
        self._started_s = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.stream.writeln("  (%.2f s) %s" % (time.monotonic() - self._started_s, test.id()))


def main():
    argv = parse_args()
    runner = unittest.TextTestRunner(verbosity=2, resultclass=_TimedResult)
    unittest.main(argv=argv, testRunner=runner)
