"""Proves the IMAP inbox works against a real IMAP server: a Dovecot of its own, started for
the test on loopback, serves a Maildir the test writes, and the real code (through the doctest
executable tests/io/imap_inbox_test.cpp, which reads SEQD_IMAP_* from its environment) fetches
oldest first, also past the first SEARCH window, marks a message handled without deleting it or
leaving anything \\Seen, returns a message over the size cap without its bytes, and reports a
wrong password, a missing folder, a closed port, a silent server and an untrusted certificate
as errors naming the URL, within the timeouts. A scripted server that understates a size shows
the download is cut off at the cap."""
import grp
import os
import pwd
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import free_port, wait_for_port

USER = "seqd-imap"
PASSWORD = "imap-test-password"
# What tests/io/imap_inbox_test.cpp expects: these subjects, oldest first, each file's mtime
# (Dovecot's INTERNALDATE for a Maildir) RECEIVED_S plus its index.
RECEIVED_S = 1796040000  # 2026-11-30T12:00:00Z
INBOX_ITEM_BYTES_MAX = 10 * 1024 * 1024  # kInboxItemBytesMax, io/inbox.hpp
SEARCH_WINDOW_MESSAGES_MAX = 4096  # imap::kSearchWindowMessagesMax, io/imap_inbox.hpp

DOVECOT_CONF = """\
# Written by tests/integration/imap_inbox_test.py: one user, plain IMAP on loopback.
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = seqd-imap-test
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
{ssl}
auth_mechanisms = plain
disable_plaintext_auth = no
auth_verbose = yes
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
"""


def grp_name(gid):
    return grp.getgrgid(gid).gr_name


def existing_user(*names):
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    raise AssertionError("none of these accounts exists: " + ", ".join(names))


class Dovecot:
    """One dovecot master (`dovecot -F`) over a temp dir, run as root; mail belongs to nobody.
    With tls, it also serves imaps:// with a self-signed certificate no client trusts."""

    def __init__(self, tls=False):
        harness.require_root()
        if shutil.which("dovecot") is None:
            raise AssertionError("dovecot is missing: run scripts/install-deps.sh "
                                 "(Debian's dovecot-imapd)")
        self.root = tempfile.mkdtemp(prefix="seqd-imap-", dir="/tmp")
        os.chmod(self.root, 0o755)  # the login and mail processes run as other users
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        ssl = "ssl = no"
        if tls:
            cert, key = os.path.join(self.root, "cert.pem"), os.path.join(self.root, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", cert], check=True, capture_output=True)
            ssl = "ssl = yes\nssl_cert = <%s\nssl_key = <%s" % (cert, key)
        self.mail_owner = existing_user("nobody")
        internal = existing_user("dovecot", "nobody")
        login = existing_user("dovenull", "nobody")
        self.maildir = os.path.join(self.root, "mail", USER)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub))
        self.chown_mail()
        with open(os.path.join(self.root, "users"), "w") as f:
            f.write("%s:{PLAIN}%s:%d:%d::%s::\n" % (USER, PASSWORD, self.mail_owner.pw_uid,
                                                    self.mail_owner.pw_gid, self.maildir))
        self.config = os.path.join(self.root, "dovecot.conf")
        with open(self.config, "w") as f:
            f.write(DOVECOT_CONF.format(
                root=self.root, port=self.port, tls_port=self.tls_port, ssl=ssl,
                internal_user=internal.pw_name,
                internal_group=grp_name(internal.pw_gid), login_user=login.pw_name))
        self.process = None

    def start(self):
        check = subprocess.run(["dovecot", "-n", "-c", self.config], capture_output=True,
                               text=True, timeout=60)
        if check.returncode != 0:
            raise AssertionError("dovecot -n refused the config:\n" + check.stderr)
        with open(os.path.join(self.root, "dovecot.out"), "w") as out:
            self.process = subprocess.Popen(["dovecot", "-F", "-c", self.config], stdout=out,
                                            stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, self.process)
        except AssertionError as error:
            raise AssertionError("%s\n--- dovecot output and log:\n%s" % (error, self.log()))

    def log(self):
        text = ""
        for name in ("dovecot.out", "dovecot.log"):
            path = os.path.join(self.root, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f.read()
        return text

    def chown_mail(self):
        for folder, dirs, files in os.walk(os.path.join(self.root, "mail")):
            os.chown(folder, self.mail_owner.pw_uid, self.mail_owner.pw_gid)
            for name in files:
                os.chown(os.path.join(folder, name), self.mail_owner.pw_uid,
                         self.mail_owner.pw_gid)

    def deliver(self, index, subject, body, flags=None):
        """Writes a message into new/ the way an MTA does (tmp/, then a rename), or into cur/
        with the given Maildir flags (letters a-z are keywords, see dovecot-keywords)."""
        name = "%d.M%dP%d.seqd-test" % (RECEIVED_S + index, index, os.getpid())
        text = ("From: Ann <ann@example.test>\r\nTo: alice@acme.test\r\n"
                "Message-ID: <%d.imap@example.test>\r\nSubject: %s\r\n\r\n" % (index, subject))
        data = text.encode() + body
        temporary = os.path.join(self.maildir, "tmp", name)
        with open(temporary, "wb") as f:
            f.write(data)
        os.utime(temporary, (RECEIVED_S + index, RECEIVED_S + index))
        os.chown(temporary, self.mail_owner.pw_uid, self.mail_owner.pw_gid)
        if flags is None:
            os.rename(temporary, os.path.join(self.maildir, "new", name))
        else:
            os.rename(temporary, os.path.join(self.maildir, "cur", name + ":2," + flags))

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def driver_path():
    path = os.path.join(os.path.dirname(os.path.abspath(harness.ARGS.seqd)), "tests",
                        "io_imap_inbox_test")
    if not os.path.exists(path):
        raise AssertionError("missing %s: build the target io_imap_inbox_test" % path)
    return path


def run_driver(test, test_case, url, password_file, server_log, **environment):
    """Runs one server case of io_imap_inbox_test; returns its output and how long it took."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQD_IMAP_")}
    env.update(SEQD_IMAP_URL=url, SEQD_IMAP_USER=USER, SEQD_IMAP_PASSWORD_FILE=password_file,
               **environment)
    start = time.monotonic()
    result = subprocess.run([driver_path(), "--test-case=" + test_case], env=env,
                            capture_output=True, text=True, timeout=180)
    elapsed_s = time.monotonic() - start
    output = result.stdout + result.stderr
    if result.returncode != 0:
        test.fail("io_imap_inbox_test exited %d:\n%s\n--- server:\n%s" % (
            result.returncode, output, server_log()))
    test.assertIn("imap: ", output, "the driver ran no server check:\n" + output)
    print("\n" + "\n".join(l for l in output.splitlines() if l.startswith("imap: ")))
    return output, elapsed_s


class AgainstDovecot(unittest.TestCase):
    def setUp(self):
        self.dovecot = Dovecot()
        self.addCleanup(self.dovecot.cleanup)
        self.dovecot.start()
        self.password_file = os.path.join(self.dovecot.root, "password")
        self.write_password(PASSWORD + "\n")

    def write_password(self, text):
        with open(self.password_file, "w") as f:
            f.write(text)
        os.chmod(self.password_file, 0o600)

    def url(self, port=None):
        return "imap://127.0.0.1:%d/INBOX" % (port or self.dovecot.port)

    def run_driver(self, test_case, url, **environment):
        return run_driver(self, test_case, url, self.password_file, self.dovecot.log,
                          **environment)

    def expect_error(self, url, expected):
        return self.run_driver("against a real server: a failing*", url,
                               SEQD_IMAP_EXPECT_ERROR=expected)

    def maildir_files(self):
        names = []
        for sub in ("new", "cur"):
            names += os.listdir(os.path.join(self.dovecot.maildir, sub))
        return names

    def test_fetch_mark_handled_and_fetch_again(self):
        self.dovecot.deliver(0, "first", b"Hello Alice, a reply.\r\n")
        self.dovecot.deliver(1, "second", b"Out of office until Monday.\r\n")
        line = b"x" * 998 + b"\r\n"
        self.dovecot.deliver(2, "large", line * (INBOX_ITEM_BYTES_MAX // len(line) + 100))
        output, _ = self.run_driver("against a real server: fetch*", self.url(),
                                    SEQD_IMAP_MAILDIR=self.dovecot.maildir)
        self.assertIn("checked fetch, markHandled and the size cap", output)
        names = self.maildir_files()
        self.assertEqual(len(names), 3, names)  # nothing deleted
        for name in names:
            self.assertNotIn("S", name.partition(":2,")[2], "a message was left \\Seen: " + name)
        log = self.dovecot.log()
        self.assertNotIn(PASSWORD, log)
        # Each fetch (a poll) opens one session, which the marks after it share: the driver's
        # three fetches log in three times.
        self.assertEqual(log.count("Login: user=<%s>" % USER), 3, log)

    def test_a_folder_larger_than_one_search_window(self):
        # Handled messages fill the first window; the two unhandled ones come after them.
        with open(os.path.join(self.dovecot.maildir, "dovecot-keywords"), "w") as f:
            f.write("0 $SeqdHandled\n")
        handled = SEARCH_WINDOW_MESSAGES_MAX + 10
        for index in range(handled):
            self.dovecot.deliver(index, "handled %d" % index, b"Done.\r\n", flags="a")
        self.dovecot.deliver(handled, "first", b"Hello Alice, a reply.\r\n", flags="")
        self.dovecot.deliver(handled + 1, "second", b"Out of office.\r\n", flags="")
        self.dovecot.chown_mail()
        self.run_driver("against a real server: a folder larger*", self.url(),
                        SEQD_IMAP_WINDOWED="1")

    def test_a_wrong_password_is_an_authentication_error(self):
        self.write_password("not-the-password\n")
        output, elapsed_s = self.expect_error(self.url(), "authentication failed")
        self.assertIn("AUTHENTICATIONFAILED", output)
        self.assertLess(elapsed_s, 30)

    def test_a_missing_folder_is_named_as_such(self):
        output, _ = self.expect_error(self.url().replace("INBOX", "Nowhere"),
                                      "cannot open the folder")
        self.assertNotIn("authentication", output)

    def test_a_closed_port_fails_at_once(self):
        output, elapsed_s = self.expect_error(self.url(free_port()), "connect")
        self.assertLess(elapsed_s, 10, output)

    def test_a_server_that_never_greets_fails_within_the_connect_timeout(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)  # never accepted: the kernel completes the handshake, nothing more
            output, elapsed_s = self.expect_error(self.url(silent.getsockname()[1]), "timed out")
        self.assertGreater(elapsed_s, 9, output)
        self.assertLess(elapsed_s, 30, output)


class AgainstDovecotOverTls(unittest.TestCase):
    def test_an_untrusted_certificate_is_refused(self):
        dovecot = Dovecot(tls=True)
        self.addCleanup(dovecot.cleanup)
        dovecot.start()
        password_file = os.path.join(dovecot.root, "password")
        with open(password_file, "w") as f:
            f.write(PASSWORD + "\n")
        url = "imaps://127.0.0.1:%d/INBOX" % dovecot.tls_port
        output, _ = run_driver(self, "against a real server: a failing*", url, password_file,
                               dovecot.log, SEQD_IMAP_EXPECT_ERROR="certificate")
        self.assertNotIn("Login: user=", dovecot.log())


class UnderstatingServer(socketserver.ThreadingTCPServer):
    """Just enough IMAP for libcurl and the inbox. Message 1 claims RFC822.SIZE 100 but its
    body is LIE_BYTES long, so only the client's own cap can stop the download."""

    LIE_BYTES = 64 * 1024 * 1024
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), UnderstatingHandler)
        self.lock = threading.Lock()
        self.commands = []
        self.big_body_cut_off = False

    def record(self, command):
        with self.lock:
            self.commands.append(command)

    def log(self):
        with self.lock:
            return "\n".join(self.commands)


class UnderstatingHandler(socketserver.StreamRequestHandler):
    SMALL = (b"From: Ann <ann@example.test>\r\nMessage-ID: <2.imap@example.test>\r\n"
             b"Subject: second\r\n\r\nOut of office.\r\n")

    def send(self, text):
        self.wfile.write(text if isinstance(text, bytes) else text.encode())

    def handle(self):
        self.send("* OK fake IMAP ready\r\n")
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            tag, _, rest = line.decode(errors="replace").rstrip("\r\n").partition(" ")
            command = rest.upper()
            if command.startswith("AUTHENTICATE"):
                if len(rest.split()) < 3:  # no initial response: ask for the credentials
                    self.send("+ \r\n")
                    self.rfile.readline(65536)
                rest = "AUTHENTICATE"  # never record credentials
            self.server.record(rest)
            if command == "CAPABILITY":
                self.send("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
            elif command.startswith("SELECT"):
                self.send("* 2 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n")
            elif command == "UID FETCH * (UID)":
                self.send("* 2 FETCH (UID 2)\r\n")
            elif command.startswith("UID SEARCH"):
                self.send("* SEARCH 1 2\r\n")
            elif command.startswith("UID FETCH 1,2 "):
                date = "30-Nov-2026 12:00:00 +0000"
                self.send('* 1 FETCH (UID 1 INTERNALDATE "%s" RFC822.SIZE 100 FLAGS ())\r\n'
                          '* 2 FETCH (UID 2 INTERNALDATE "%s" RFC822.SIZE %d FLAGS ())\r\n'
                          % (date, date, len(self.SMALL)))
            elif command == "UID FETCH 1 BODY[]":
                self.send("* 1 FETCH (UID 1 BODY[] {%d}\r\n" % UnderstatingServer.LIE_BYTES)
                chunk = b"x" * 65534 + b"\r\n"
                try:
                    for _ in range(UnderstatingServer.LIE_BYTES // len(chunk)):
                        self.send(chunk)
                except OSError:
                    self.server.big_body_cut_off = True
                return
            elif command == "UID FETCH 2 BODY[]":
                self.send(b"* 2 FETCH (UID 2 BODY[] {%d}\r\n" % len(self.SMALL) + self.SMALL +
                          b")\r\n")
            elif command == "LOGOUT":
                self.send("* BYE\r\n%s OK bye\r\n" % tag)
                return
            elif not command.startswith(("UID STORE", "AUTHENTICATE")):
                self.send("%s BAD unknown\r\n" % tag)
                continue
            self.send("%s OK done\r\n" % tag)


class AgainstAnUnderstatingServer(unittest.TestCase):
    def test_a_download_past_the_cap_is_cut_off_and_the_next_message_still_comes(self):
        server = UnderstatingServer()
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(lambda: (server.shutdown(), server.server_close()))
        root = tempfile.mkdtemp(prefix="seqd-imap-", dir="/tmp")
        self.addCleanup(shutil.rmtree, root, True)
        password_file = os.path.join(root, "password")
        with open(password_file, "w") as f:
            f.write(PASSWORD + "\n")
        url = "imap://127.0.0.1:%d/INBOX" % server.server_address[1]
        run_driver(self, "against a server that understates*", url, password_file, server.log,
                   SEQD_IMAP_UNDERSTATED="1")
        self.assertTrue(server.big_body_cut_off, "the client read the whole 64 MiB body")
        commands = server.log()
        # \Seen is taken back even after the cut-off download, on a new connection.
        self.assertIn("UID STORE 1 -FLAGS.SILENT (\\Seen)", commands)
        self.assertIn("UID STORE 2 -FLAGS.SILENT (\\Seen)", commands)
        self.assertEqual(commands.count("AUTHENTICATE"), 2, commands)


SEQD_WITH_IMAP = """\
state_dir: {{root}}/state
control_socket: {{root}}/ctl.sock
admins: [root, {{user}}]
workers: 2
tick: 100ms
delivery:
  maildir: {{{{dir: {{root}}/outbox}}}}
mailboxes:
  - address: alice@acme.test
    name: Alice Smith
    owner: alice
    transport: maildir
    inbox: {{{{imap: {{{{url: "{url}", username: {user}, password_file: {password_file}}}}}}}}}
"""


class ThroughTheDaemon(unittest.TestCase):
    """seqd itself reads the IMAP inbox: a reply finishes the contact, a DSN bounces one, and
    both are marked so that a restarted seqd does not read them again."""

    def test_a_reply_and_a_bounce_read_over_imap(self):
        import inbox_test
        dovecot = Dovecot()
        self.addCleanup(dovecot.cleanup)
        dovecot.start()
        password_file = os.path.join(dovecot.root, "password")
        with open(password_file, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(password_file, 0o600)
        seqd_yaml = SEQD_WITH_IMAP.format(url="imap://127.0.0.1:%d/INBOX" % dovecot.port,
                                          user=USER, password_file=password_file)
        d = harness.Daemon(sequences={"two-emails": harness.TWO_EMAILS_YAML},
                           seqd_yaml=seqd_yaml, schedules_yaml=inbox_test.ALWAYS_OPEN)
        self.addCleanup(d.cleanup)
        d.start()
        contacts = d.write_file("contacts.csv", inbox_test.CONTACTS)
        d.json("sequence", "activate", "two-emails")
        d.json("add", "two-emails", "--csv", contacts)
        d.json("time", "advance", "1m")
        ids = inbox_test.sent_ids(d)
        for index, text in enumerate([inbox_test.reply(ids["replier@example.test"]),
                                      inbox_test.bounce(ids["bouncer@example.test"])]):
            name = "%d.M%dP%d.seqd-daemon" % (RECEIVED_S + index, index, os.getpid())
            path = os.path.join(dovecot.maildir, "tmp", name)
            with open(path, "w") as f:
                f.write(text.replace("\n", "\r\n"))
            os.chown(path, dovecot.mail_owner.pw_uid, dovecot.mail_owner.pw_gid)
            os.rename(path, os.path.join(dovecot.maildir, "new", name))
        # Dovecot notices new/ changing by its mtime, in whole seconds: a poll within the
        # second of the previous one would not see these yet (a real poll is a minute apart).
        time.sleep(1.1)
        later = time.time() + 1
        os.utime(os.path.join(dovecot.maildir, "new"), (later, later))

        d.json("time", "advance", "1h")
        rows = {row["contact"]: row for row in d.json("status", "two-emails")["contacts"]}
        self.assertEqual(rows["replier@example.test"]["finish_reason"], "replied",
                         d.log() + dovecot.log())
        self.assertEqual(rows["bouncer@example.test"]["status"], "bounced")
        self.assertEqual(rows["quiet@example.test"]["status"], "scheduled")
        kinds = [m["kind"] for m in d.json("inbox")["messages"]]
        self.assertEqual(kinds, ["reply", "bounce"])

        # Marked with the keyword, not read: a restarted seqd fetches neither again.
        d.stop()
        d.start()
        d.json("time", "advance", "1m")
        self.assertEqual(d.json("inbox")["messages"], [])
        with open(os.path.join(dovecot.maildir, "dovecot-keywords")) as f:
            self.assertIn("$SeqdHandled", f.read())


if __name__ == "__main__":
    harness.main()
