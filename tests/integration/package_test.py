"""Proves the Debian package installs a working service and goes away cleanly: `cpack -G DEB`
in the build dir makes the .deb; `dpkg -i` installs it on this machine (the seqd account and
group, /etc/seqd as root:seqd 0750, the conffiles, man pages, bash completion, a unit naming
/usr/bin/seqd); the installed `seqd --check-config` accepts the installed config as the seqd
user; the installed seqd starts as the unit would and an operator in the socket group reaches
it with the installed seqctl; an online `mdb_copy` backup restores; `dpkg -r` keeps the config and the state; `dpkg -P` leaves no
file behind but the state dir.

It changes the machine (it installs and purges the package, and leaves the `seqd` account as
Debian does), so it runs as root and refuses to start over an /etc/seqd the package did not
make.
"""
import glob
import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

import harness

OPERATOR = "seqd-pkg-operator"
# Where the package puts files, or the maintainer scripts and dpkg do. Compared before the
# install and after the purge: nothing new may remain.
WATCHED = ["/etc", "/usr/bin", "/usr/lib/systemd", "/usr/lib/sysusers.d", "/usr/lib/tmpfiles.d",
           "/usr/share/man", "/usr/share/bash-completion", "/usr/share/doc/seqd",
           "/var/lib/systemd", "/run/seqd"]
# Account databases and their backups change when the account is made; Debian keeps system
# accounts after a purge.
ACCOUNT_FILES = {"/etc/passwd", "/etc/passwd-", "/etc/group", "/etc/group-", "/etc/shadow",
                 "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/.pwd.lock",
                 "/etc/subuid", "/etc/subgid", "/etc/subuid-", "/etc/subgid-"}
DPKG_LOCK_WAIT_S = 120


def snapshot():
    paths = set()
    for top in WATCHED:
        if not os.path.lexists(top):
            continue
        paths.add(top)
        for directory, dirs, files in os.walk(top):
            for name in dirs + files:
                paths.add(os.path.join(directory, name))
    return paths


def dpkg(*arguments):
    """dpkg, waiting while another dpkg or apt holds the lock (other test runs share the
    machine)."""
    deadline = time.time() + DPKG_LOCK_WAIT_S
    while True:
        result = subprocess.run(["dpkg", *arguments], capture_output=True, text=True)
        locked = "lock" in result.stderr and ("held" in result.stderr or
                                              "locked" in result.stderr)
        if result.returncode == 0 or not locked or time.time() > deadline:
            return result
        time.sleep(1)


def run(command, user=None, **kwargs):
    if user is not None:
        command = ["runuser", "-u", user, "--"] + command
    return subprocess.run(command, capture_output=True, text=True, timeout=60, **kwargs)


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        if dpkg("-s", "seqd").returncode == 0:
            raise AssertionError("a seqd package is installed already: this test installs and "
                                 "purges its own; remove that one first (dpkg -P seqd)")
        if os.path.exists("/etc/seqd"):
            raise AssertionError("/etc/seqd exists and no seqd package owns it: the purge "
                                 "would remove it, so this test does not run over it")
        cls.state_existed = os.path.exists("/var/lib/seqd")
        cls.workdir = tempfile.mkdtemp(prefix="seqd-pkg-")
        build_dir = os.path.dirname(os.path.abspath(harness.ARGS.seqd))
        result = subprocess.run(
            ["cpack", "-G", "DEB", "--config", os.path.join(build_dir, "CPackConfig.cmake"),
             "-B", cls.workdir], capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise AssertionError("cpack failed:\n" + result.stdout + result.stderr)
        debs = glob.glob(os.path.join(cls.workdir, "seqd_*.deb"))
        if len(debs) != 1:
            raise AssertionError("expected one .deb, found %s" % debs)
        cls.deb = debs[0]
        harness.ensure_account(OPERATOR)

    @classmethod
    def tearDownClass(cls):
        # Whatever failed, the machine is left without the package.
        if dpkg("-s", "seqd").returncode == 0:
            dpkg("-P", "seqd")
        if not cls.state_existed:
            shutil.rmtree("/var/lib/seqd", ignore_errors=True)
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def start_installed_seqd(self):
        """/usr/bin/seqd as the unit starts it: user seqd, umask 0027, with the runtime
        directory systemd's RuntimeDirectory= would make."""
        seqd_user = pwd.getpwnam("seqd")
        os.makedirs("/run/seqd", exist_ok=True)
        os.chown("/run/seqd", seqd_user.pw_uid, seqd_user.pw_gid)
        os.chmod("/run/seqd", 0o755)
        process = subprocess.Popen(
            ["/usr/bin/seqd", "--config", "/etc/seqd/seqd.yaml"], user="seqd", group="seqd",
            extra_groups=[], umask=0o027, cwd="/var/lib/seqd",
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 20
        while not os.path.exists("/run/seqd/control.sock"):
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                self.fail("installed seqd did not start:\n" + process.communicate()[0])
            time.sleep(0.05)
        return process

    def test_install_run_remove_purge(self):
        before = snapshot()

        # --- install
        result = dpkg("-i", self.deb)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        for path in ["/usr/bin/seqd", "/usr/bin/seqctl", "/usr/lib/systemd/system/seqd.service",
                     "/usr/lib/sysusers.d/seqd.conf", "/usr/lib/tmpfiles.d/seqd.conf",
                     "/usr/share/man/man8/seqd.8.gz", "/usr/share/man/man1/seqctl.1.gz",
                     "/usr/share/man/man5/seqd.yaml.5.gz",
                     "/usr/share/bash-completion/completions/seqctl"]:
            self.assertTrue(os.path.isfile(path), path)
        conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "seqd"]).stdout
        for path in ["/etc/seqd/seqd.yaml", "/etc/seqd/schedules.yaml",
                     "/etc/seqd/sequences/example-outbound.yaml"]:
            self.assertIn(path, conffiles)
            self.assertTrue(os.path.isfile(path), path)
        with open("/usr/lib/systemd/system/seqd.service") as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/bin/seqd --config /etc/seqd/seqd.yaml", unit)
        self.assertIn("ExecReload=/usr/bin/seqctl ", unit)
        self.assertNotIn("/usr/local/", unit)
        seqd_user = pwd.getpwnam("seqd")
        seqd_group = grp.getgrnam("seqd")
        self.assertEqual(seqd_user.pw_gid, seqd_group.gr_gid)
        for directory in ["/etc/seqd", "/etc/seqd/sequences"]:
            info = os.stat(directory)
            self.assertEqual((info.st_uid, info.st_gid, info.st_mode & 0o777),
                             (0, seqd_group.gr_gid, 0o750), directory)
        self.assertEqual(os.stat("/var/lib/seqd").st_uid, seqd_user.pw_uid)
        man = run(["man", "-l", "/usr/share/man/man1/seqctl.1.gz"], env={**os.environ,
                                                                         "MANPAGER": "cat"})
        if man.returncode == 0:  # man-db is optional on a server; the page must parse if so
            self.assertIn("control the seqd sequence engine", man.stdout)
        completion = run(["bash", "-c", "source /usr/share/bash-completion/completions/seqctl "
                          "2>/dev/null; complete -p seqctl"])
        self.assertIn("_seqctl", completion.stdout)

        # --- the installed config is valid, read as the service reads it
        check = run(["/usr/bin/seqd", "--check-config"], user="seqd")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("/etc/seqd/seqd.yaml: ok (1 sequences, 1 schedules, 1 mailboxes)",
                      check.stdout)
        verify = run(["systemd-analyze", "verify", "/usr/lib/systemd/system/seqd.service"])
        self.assertEqual((verify.returncode, verify.stdout + verify.stderr), (0, ""))

        # --- it runs, and an operator in the socket group reaches it (README "Deploy")
        subprocess.run(["usermod", "--append", "--groups", "seqd", OPERATOR], check=True)
        try:
            daemon = self.start_installed_seqd()
            try:
                socket_info = os.stat("/run/seqd/control.sock")
                self.assertEqual((socket_info.st_gid, socket_info.st_mode & 0o777),
                                 (seqd_group.gr_gid, 0o660))
                ping = run(["/usr/bin/seqctl", "ping"], user=OPERATOR)
                self.assertEqual(ping.returncode, 0, ping.stderr)
                self.assertIn("pong", ping.stdout)
                listing = run(["/usr/bin/seqctl", "sequences"], user=OPERATOR)
                self.assertIn("example-outbound", listing.stdout)
                # The example config serves metrics on loopback (README "Deploy", health).
                with urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=10) as r:
                    self.assertIn('seqd_build_info{version="', r.read().decode())
                # An admin's import, then the online backup README "Deploy" gives.
                csv_path = os.path.join(self.workdir, "leads.csv")
                with open(csv_path, "w") as f:
                    f.write("email,first_name,score\nrita@example.test,Rita,80\n")
                imported = run(["/usr/bin/seqctl", "import", csv_path])
                self.assertEqual(imported.returncode, 0, imported.stdout + imported.stderr)
                backup = os.path.join(self.workdir, "backup")
                os.mkdir(backup)
                copy = run(["mdb_copy", "-c", "/var/lib/seqd", backup])
                self.assertEqual(copy.returncode, 0, copy.stderr)
                shutil.copy2("/var/lib/seqd/seqd.state", backup)
            finally:
                daemon.send_signal(signal.SIGTERM)
                output = daemon.communicate(timeout=30)[0]
            self.assertEqual(daemon.returncode, 0, output)
            self.assertTrue(os.path.isfile("/var/lib/seqd/data.mdb"))

            # Restore: the backup's two files in place of the state dir's, and seqd starts.
            os.rename("/var/lib/seqd/data.mdb", "/var/lib/seqd/data.mdb.old")
            for name in ("data.mdb", "seqd.state"):
                shutil.copy2(os.path.join(backup, name), "/var/lib/seqd/" + name)
                os.chown("/var/lib/seqd/" + name, seqd_user.pw_uid, seqd_group.gr_gid)
            os.remove("/var/lib/seqd/data.mdb.old")
            daemon = self.start_installed_seqd()
            try:
                shown = run(["/usr/bin/seqctl", "contact", "show", "rita@example.test"],
                            user=OPERATOR)
                self.assertEqual(shown.returncode, 0, shown.stderr)
                self.assertIn("Rita", shown.stdout)
            finally:
                daemon.send_signal(signal.SIGTERM)
                output = daemon.communicate(timeout=30)[0]
            self.assertEqual(daemon.returncode, 0, output)
        finally:
            subprocess.run(["gpasswd", "--delete", OPERATOR, "seqd"], stdout=subprocess.DEVNULL)

        # --- remove: the program goes, the configuration and the data stay
        result = dpkg("-r", "seqd")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertFalse(os.path.exists("/usr/bin/seqd"))
        self.assertFalse(os.path.exists("/usr/lib/systemd/system/seqd.service"))
        self.assertTrue(os.path.isfile("/etc/seqd/seqd.yaml"))
        self.assertTrue(os.path.isfile("/var/lib/seqd/data.mdb"))

        # --- purge: nothing is left but the state dir
        result = dpkg("-P", "seqd")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotEqual(dpkg("-s", "seqd").returncode, 0)
        left = sorted(path for path in snapshot() - before if path not in ACCOUNT_FILES)
        self.assertEqual(left, [])
        self.assertTrue(os.path.isfile("/var/lib/seqd/data.mdb"), "purge removed the data")


if __name__ == "__main__":
    harness.main()
