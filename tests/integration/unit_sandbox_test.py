"""Proves systemd/seqd.service keeps seqd's permission model: seqd started the way the unit
starts it (its user, that user's groups plus SupplementaryGroups= from a drop-in, and the unit's
namespaces, read-only file system, capability bounding set, umask and system call filter) sees
each operator as themselves, so a sequence's owner manages its contacts and another operator
gets exit 4, and it puts its socket at mode 0660 in a supplementary group that operators can
reach. It also checks the unit file: no PrivateUsers=yes, no IP address filter, every directive
SPEC §5 asks for, `systemd-analyze security` at 1.5 or lower and a silent `systemd-analyze verify`.

Without systemd as PID 1 the test starts seqd through its own launcher (this file run with
--sandbox-exec PLAN), which applies the unit's settings in systemd's order: supplementary groups
and gid, then namespaces (PrivateUsers= with systemd's uid/gid map when the unit asks for it,
mount, IPC, UTS), ProtectSystem=strict with the state and runtime directories writable,
PrivateTmp=, ProtectHome=, ProtectProc=/ProcSubset=, UMask=, CapabilityBoundingSet=,
NoNewPrivileges=, the uid, and last the SystemCallFilter= allow list (libseccomp), then exec.
Not reproduced: PrivateDevices=, DevicePolicy=, the cgroup and the seccomp-based Restrict*=,
MemoryDenyWriteExecute= and LockPersonality= settings; none of them touches the socket or
the peers' identities.
"""
import ctypes
import errno
import grp
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import harness

SERVICE_USER = "seqdunitsvc"     # plays the unit's User=seqd (with its own group)
SOCKET_GROUP = "seqdunitops"     # socket_group: not the service's own group
OWNER = "seqdunitowner"          # in SOCKET_GROUP, owns the sequence
OTHER = "seqdunitother"          # in SOCKET_GROUP, owns nothing
OUTSIDER = "nobody"              # in neither group

# What the README's deploy section tells an admin to put in `systemctl edit seqd`.
DROP_IN = "[Service]\nSupplementaryGroups={group}\n"

SCORE_MAX = 1.5

SEQD_YAML = """\
state_dir: {root}/state
control_socket: {root}/run/control.sock
socket_group: {group}
admins: [root]
delivery:
  maildir: {{dir: {root}/state/outbox}}
mailboxes:
  - address: alice@acme.test
    name: Alice Smith
    transport: maildir
    daily_limit: 1000
    hourly_limit: 1000
"""

CONTACTS_CSV = "email,first_name,score\nann@example.test,Ann,90\nbob@example.test,Bob,80\n"

# Directive values SPEC §5 requires of the unit (multi-valued keys: one of the assignments).
SPEC_DIRECTIVES = {
    "Type": "notify",
    "User": "seqd",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "NoNewPrivileges": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "SystemCallFilter": "@system-service",
    "CapabilityBoundingSet": "",
    "UMask": "0027",
    "StateDirectory": "seqd",
    "RuntimeDirectory": "seqd",
    "RuntimeDirectoryPreserve": "yes",
    "ConfigurationDirectory": "seqd",
}

# Settings whose assignments add up (an empty assignment clears the list); others: last wins.
LIST_KEYS = {"SupplementaryGroups", "SystemCallFilter", "IPAddressAllow", "IPAddressDeny"}


# ---------------------------------------------------------------------------------------------
# The unit file


def unit_assignments(text, section="Service"):
    """(key, value) pairs of one section, in order, as systemd reads them."""
    pairs, current, pending = [], None, ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            continue
        if current == section and "=" in line:
            key, value = line.split("=", 1)
            pairs.append((key.strip(), value.strip()))
    return pairs


def unit_settings(*texts):
    """The unit's [Service] settings with its drop-ins applied: key -> list of values."""
    settings = {}
    for text in texts:
        for key, value in unit_assignments(text):
            if key in LIST_KEYS and value == "":
                settings[key] = []
            elif key in LIST_KEYS:
                settings.setdefault(key, []).append(value)
            else:
                settings[key] = [value]
    return settings


def last(settings, key, default=""):
    values = settings.get(key)
    return values[-1] if values else default


def is_true(value):
    return value.lower() in ("yes", "true", "on", "1")


# ---------------------------------------------------------------------------------------------
# SystemCallFilter= as systemd 252 computes it


def syscall_groups():
    """@group -> members (syscall names and @groups), from `systemd-analyze syscall-filter`."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                         check=True).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith(" ") and current is not None and not line.strip().startswith("#"):
            current.append(line.strip())
        elif not line.strip():
            current = None
    return groups


def expand(name, groups, seen=None):
    if not name.startswith("@"):
        return {name}
    seen = seen if seen is not None else set()
    if name in seen:
        return set()
    seen.add(name)
    result = set()
    for member in groups[name]:
        result |= expand(member, groups, seen)
    return result


def allowed_syscalls(filters, groups):
    """The allow list the unit's SystemCallFilter= lines make, or None for no filter.

    The first line decides: an allow list (systemd adds @default to it); then a plain line adds
    to it and a `~` line removes from it. A deny list first is not used by our unit."""
    if not filters:
        return None
    if filters[0].startswith("~"):
        raise AssertionError("the test only models an allow-list SystemCallFilter=")
    allowed = expand("@default", groups)
    for entry in filters:
        deny = entry.startswith("~")
        names = set()
        for word in entry.lstrip("~").split():
            names |= expand(word, groups)
        allowed = allowed - names if deny else allowed | names
    return sorted(allowed)


# ---------------------------------------------------------------------------------------------
# The launcher: runs as root, applies the plan, becomes the service user, execs seqd

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER = 0x20000, 0x4000000, 0x8000000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE = 1024, 2048, 4096, 16384, 1 << 18
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
MOUNT_OPTION_FLAGS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV,
                      "noexec": MS_NOEXEC, "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME,
                      "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
SCMP_ACT_ALLOW, SCMP_ACT_KILL_PROCESS = 0x7FFF0000, 0x80000000
# Mounts ProtectSystem=strict leaves alone: other settings cover them.
API_FILE_SYSTEMS = ("/proc", "/sys", "/dev")

libc = ctypes.CDLL(None, use_errno=True)


def check(rc, what):
    if rc != 0:
        error = ctypes.get_errno()
        raise OSError(error, "%s: %s" % (what, os.strerror(error)))


def mount(source, target, fstype, flags, data=None):
    check(libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                     ctypes.c_ulong(flags), data and data.encode()), "mount " + target)


def mounts():
    """(mount point, per-mount flags) of this mount namespace, in mount order."""
    result = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            flags = 0
            for option in fields[5].split(","):
                flags |= MOUNT_OPTION_FLAGS.get(option, 0)
            result.append((point, flags))
    return result


def remount(point, readonly):
    """Sets or clears read-only on the mount at point, keeping its other (maybe locked) flags."""
    flags = [f for p, f in mounts() if p == point][-1]
    flags = (flags | MS_RDONLY) if readonly else (flags & ~MS_RDONLY)
    mount(None, point, None, MS_REMOUNT | MS_BIND | flags)


def enter_namespaces(plan):
    flags = CLONE_NEWNS
    if plan["private_ipc"]:
        flags |= CLONE_NEWIPC
    if plan["protect_hostname"]:
        flags |= CLONE_NEWUTS
    if not plan["private_users"]:
        check(libc.unshare(flags), "unshare")
        return
    # PrivateUsers=yes as systemd 252 sets it up for a system service: a user namespace that
    # maps root and the service's uid and gid to themselves, and nobody else. A process
    # cannot write the maps of its own new namespace with more than one line, so a helper
    # left outside writes them.
    ready_read, ready_write = os.pipe()
    helper = os.fork()
    if helper == 0:
        os.read(ready_read, 1)
        target = os.getppid()
        for name, own in (("uid_map", plan["uid"]), ("gid_map", plan["gid"])):
            with open("/proc/%d/%s" % (target, name), "w") as f:
                f.write("0 0 1\n%d %d 1\n" % (own, own))
        os._exit(0)
    check(libc.unshare(flags | CLONE_NEWUSER), "unshare")
    os.write(ready_write, b"x")
    _, status = os.waitpid(helper, 0)
    if status != 0:
        raise OSError("could not write the user namespace's maps")


def protect_file_system(plan):
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    if plan["protect_system"] == "strict":
        for point, flags in mounts():
            if flags & MS_RDONLY or any(point == api or point.startswith(api + "/")
                                        for api in API_FILE_SYSTEMS):
                continue
            remount(point, readonly=True)
        for path in plan["writable"]:
            mount(path, path, None, MS_BIND)
            remount(path, readonly=False)
    if plan["private_tmp"]:
        for path in ("/tmp", "/var/tmp"):
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    if plan["protect_home"]:
        for path in ("/home", "/root", "/run/user"):
            if os.path.isdir(path):
                mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=000")
    if plan["proc_options"] and not plan["private_users"]:
        # A new proc instance needs the pid namespace's owner, which a private user namespace
        # is not; systemd then leaves /proc as it is too.
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, plan["proc_options"])


def load_system_call_filter(plan):
    seccomp = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                         ctypes.c_uint]
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
    error_number = plan["syscall_errno"]
    default = (0x00050000 | error_number) if error_number else SCMP_ACT_KILL_PROCESS
    context = seccomp.seccomp_init(default)
    if not context:
        raise OSError("seccomp_init failed")
    for name in plan["syscalls"]:
        number = seccomp.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            continue  # not a system call of this architecture
        rc = seccomp.seccomp_rule_add(context, SCMP_ACT_ALLOW, number, 0)
        if rc != 0:
            raise OSError(-rc, "seccomp_rule_add " + name)
    rc = seccomp.seccomp_load(context)
    if rc != 0:
        raise OSError(-rc, "seccomp_load")


def sandbox_exec(plan_path):
    with open(plan_path) as f:
        plan = json.load(f)
    with open("/proc/sys/kernel/cap_last_cap") as f:  # before ProcSubset=pid hides it
        cap_last = int(f.read())
    # Groups first, while still root on the host, as systemd's enforce_groups() does.
    os.setgroups(plan["groups"])
    os.setresgid(plan["gid"], plan["gid"], plan["gid"])
    enter_namespaces(plan)
    protect_file_system(plan)
    os.umask(plan["umask"])
    for capability in range(cap_last + 1):
        if capability not in plan["capabilities"]:
            check(libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), "drop capability")
    if plan["no_new_privileges"]:
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    os.setresuid(plan["uid"], plan["uid"], plan["uid"])
    if plan["syscalls"] is not None:
        load_system_call_filter(plan)
    os.execve(plan["argv"][0], plan["argv"], plan["environment"])


# ---------------------------------------------------------------------------------------------
# Accounts


def ensure_group(name):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        subprocess.run(["groupadd", "--system", name], check=True)
        return grp.getgrnam(name).gr_gid


def ensure_user(name, user_group=False):
    try:
        pwd.getpwnam(name)
    except KeyError:
        command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        command += ["--user-group"] if user_group else []
        subprocess.run(command + [name], check=True)
    return pwd.getpwnam(name)


def set_member(user, group, member):
    """Makes user a member of group in /etc/group, or not, whatever an earlier run left."""
    if (user in grp.getgrnam(group).gr_mem) == member:
        return
    if member:
        subprocess.run(["usermod", "--append", "--groups", group, user], check=True)
    else:
        subprocess.run(["gpasswd", "--delete", user, group], check=True,
                       stdout=subprocess.DEVNULL)


def ensure_accounts():
    ensure_group(SOCKET_GROUP)
    ensure_user(SERVICE_USER, user_group=True)
    # Only SupplementaryGroups= may give the service the socket's group: that is what is tested.
    set_member(SERVICE_USER, SOCKET_GROUP, False)
    for user in (OWNER, OTHER):
        ensure_user(user)
        set_member(user, SOCKET_GROUP, True)


# ---------------------------------------------------------------------------------------------
# An installation in a temp dir, and seqd started from it the unit's way


def octal(value, default):
    return int(value, 8) if value else default


class Installation:
    """seqd installed under one directory, with the shipped unit pointing at it.

    The directory is not in /tmp (PrivateTmp= hides it from seqd) nor in /root or /home
    (ProtectHome=), so it lives in /var/lib beside the state directories systemd makes."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="seqd-unit-", dir="/var/lib")
        os.chmod(self.root, 0o755)
        self.bin = os.path.join(self.root, "bin")
        os.mkdir(self.bin, 0o755)
        for name, source in (("seqd", harness.ARGS.seqd), ("seqctl", harness.ARGS.seqctl)):
            shutil.copy(source, os.path.join(self.bin, name))
            os.chmod(os.path.join(self.bin, name), 0o755)
        with open(os.path.join(harness.ARGS.source_dir, "systemd", "seqd.service")) as f:
            self.shipped_unit = f.read()
        # The shipped unit, its paths moved under root; the directories systemd would make
        # for StateDirectory=, RuntimeDirectory= and ConfigurationDirectory= are root/state,
        # root/run and root/etc.
        self.unit = (self.shipped_unit.replace("/usr/local/bin/", self.bin + "/")
                     .replace("/etc/seqd/", self.root + "/etc/")
                     .replace("/run/seqd/", self.root + "/run/"))
        self.drop_in = DROP_IN.format(group=SOCKET_GROUP)
        self.socket = os.path.join(self.root, "run", "control.sock")
        self.log_path = os.path.join(self.root, "seqd.log")
        self.process = None

    def write_unit(self, name, *texts):
        """Writes seqd.service (the unit with these drop-ins folded in) in its own directory."""
        directory = os.path.join(self.root, name)
        os.mkdir(directory)
        path = os.path.join(directory, "seqd.service")
        with open(path, "w") as f:
            f.write("\n".join(texts))
        return path

    def configure(self, settings):
        service = pwd.getpwnam(SERVICE_USER)
        etc = os.path.join(self.root, "etc")
        os.makedirs(os.path.join(etc, "sequences"))
        for path in (etc, os.path.join(etc, "sequences")):  # as systemd/seqd.tmpfiles makes them
            os.chown(path, 0, service.pw_gid)
            os.chmod(path, 0o750)
        files = {"seqd.yaml": SEQD_YAML.format(root=self.root, group=SOCKET_GROUP),
                 "schedules.yaml": harness.SCHEDULES_YAML,
                 "sequences/two-emails.yaml":
                     harness.TWO_EMAILS_YAML.replace("owner: alice", "owner: " + OWNER)}
        for name, text in files.items():
            with open(os.path.join(etc, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(etc, name), 0o640)
            os.chown(os.path.join(etc, name), 0, service.pw_gid)
        for name, key in (("state", "StateDirectoryMode"), ("run", "RuntimeDirectoryMode")):
            path = os.path.join(self.root, name)
            os.mkdir(path)
            os.chown(path, service.pw_uid, service.pw_gid)
            os.chmod(path, octal(last(settings, key), 0o755))
        csv = os.path.join(self.root, "contacts.csv")
        with open(csv, "w") as f:
            f.write(CONTACTS_CSV)
        os.chmod(csv, 0o644)
        return csv

    def plan(self, settings):
        """What the launcher does, read from the unit's settings."""
        if last(settings, "User") != "seqd" or last(settings, "Group", "seqd") != "seqd":
            raise AssertionError("the test stands in for User=seqd Group=seqd")
        service = pwd.getpwnam(SERVICE_USER)
        groups = set(os.getgrouplist(SERVICE_USER, service.pw_gid))  # initgroups()
        for value in settings.get("SupplementaryGroups", []):
            groups |= {grp.getgrnam(name).gr_gid for name in value.split()}
        proc_options = []
        if last(settings, "ProtectProc") in ("invisible", "noaccess", "ptraceable"):
            proc_options.append("hidepid=" + last(settings, "ProtectProc"))
        if last(settings, "ProcSubset") == "pid":
            proc_options.append("subset=pid")
        error_name = last(settings, "SystemCallErrorNumber")
        bounding = last(settings, "CapabilityBoundingSet", None)
        if bounding not in ("", None):
            raise AssertionError("the test models an empty CapabilityBoundingSet= only")
        notify = os.path.join(self.root, "notify.sock")
        environment = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
                       "USER": "seqd", "LOGNAME": "seqd", "HOME": "/var/lib/seqd",
                       "SHELL": "/usr/sbin/nologin", "NOTIFY_SOCKET": notify}
        # The sanitizer build's options pass through, without LeakSanitizer: it needs ptrace(2),
        # which the unit's system call filter refuses (the other tests look for leaks).
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if name in os.environ:
                environment[name] = os.environ[name]
        environment["ASAN_OPTIONS"] = environment.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        return {
            "uid": service.pw_uid,
            "gid": service.pw_gid,
            "groups": sorted(groups),
            "private_users": is_true(last(settings, "PrivateUsers", "no")),
            "private_ipc": is_true(last(settings, "PrivateIPC", "no")),
            "protect_hostname": is_true(last(settings, "ProtectHostname", "no")),
            "protect_system": last(settings, "ProtectSystem", "no"),
            "writable": [os.path.join(self.root, "state"), os.path.join(self.root, "run")],
            "private_tmp": is_true(last(settings, "PrivateTmp", "no")),
            "protect_home": is_true(last(settings, "ProtectHome", "no")),
            "proc_options": ",".join(proc_options),
            "umask": octal(last(settings, "UMask"), 0o022),
            "capabilities": [] if bounding == "" else list(range(64)),
            "no_new_privileges": is_true(last(settings, "NoNewPrivileges", "no")),
            "syscalls": allowed_syscalls(settings.get("SystemCallFilter", []), syscall_groups()),
            "syscall_errno": getattr(errno, error_name) if error_name else 0,
            "argv": last(settings, "ExecStart").split(),
            "environment": environment,
        }

    def start(self, *drop_ins, expect_ready=True):
        """Starts seqd as the unit (plus drop_ins) would; returns once READY=1 or on exit."""
        settings = unit_settings(self.unit, *drop_ins)
        csv = self.configure(settings)
        plan = self.plan(settings)
        plan_path = os.path.join(self.root, "plan.json")
        with open(plan_path, "w") as f:
            json.dump(plan, f)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(plan["environment"]["NOTIFY_SOCKET"])
        os.chown(plan["environment"]["NOTIFY_SOCKET"], plan["uid"], plan["gid"])
        notify.settimeout(0.2)
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--sandbox-exec", plan_path],
                stdout=log, stderr=log)
        deadline = time.time() + 30
        try:
            while time.time() < deadline and self.process.poll() is None:
                try:
                    if "READY=1" in notify.recv(4096).decode().split("\n"):
                        return csv
                except socket.timeout:
                    pass
        finally:
            notify.close()
        if self.process.poll() is None:
            raise AssertionError("seqd sent no READY=1 within 30 s: " + self.log())
        if expect_ready:
            raise AssertionError("seqd exited with %d: %s" % (self.process.returncode, self.log()))
        return csv

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def as_user(self, user, *args):
        return subprocess.run(["runuser", "-u", user, "--", os.path.join(self.bin, "seqctl"),
                               "--socket", self.socket] + list(args),
                              capture_output=True, text=True, timeout=60)

    def cleanup(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def exposure(path):
    """The "Overall exposure level" systemd-analyze security gives the unit at path."""
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", path],
                            capture_output=True, text=True)
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    if not found:
        raise AssertionError("no exposure level in: %s %s" % (result.stdout, result.stderr))
    return float(found.group(1))


# ---------------------------------------------------------------------------------------------
# Tests


class UnitFile(unittest.TestCase):
    def setUp(self):
        self.install = Installation()
        self.addCleanup(self.install.cleanup)
        self.settings = unit_settings(self.install.shipped_unit)

    def test_peers_keep_their_identity_and_relays_stay_reachable(self):
        self.assertFalse(is_true(last(self.settings, "PrivateUsers", "no")),
                         "PrivateUsers= makes every operator but root and seqd 'nobody'")
        self.assertNotIn("IPAddressDeny", self.settings, "blocks any SMTP relay on another host")
        self.assertNotIn("IPAddressAllow", self.settings)
        self.assertIn("SupplementaryGroups", self.settings,
                      "the unit shows where socket_group's group goes")
        mode = octal(last(self.settings, "RuntimeDirectoryMode"), 0o755)
        self.assertEqual(mode & 0o001, 0o001, "operators must reach the socket in /run/seqd")
        allowed = allowed_syscalls(self.settings["SystemCallFilter"], syscall_groups())
        self.assertIn("chown", allowed, "seqd gives its socket to socket_group with chown(2)")

    def test_keeps_every_directive_spec_asks_for(self):
        for key, value in SPEC_DIRECTIVES.items():
            self.assertIn(value, self.settings.get(key, []), key)

    def test_security_exposure_is_ok(self):
        shipped = self.install.write_unit("shipped", self.install.shipped_unit)
        with_group = self.install.write_unit("with-group", self.install.shipped_unit,
                                             self.install.drop_in)
        for path in (shipped, with_group):
            level = exposure(path)
            print("%s: exposure %.1f" % (path, level))
            self.assertLessEqual(level, SCORE_MAX, path)

    def test_verify_prints_nothing(self):
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze is not installed")
        # verify wants ExecStart='s binaries where the unit says: the copies point at root/bin.
        for name, texts in (("verify", [self.install.unit]),
                            ("verify-group", [self.install.unit, self.install.drop_in])):
            path = self.install.write_unit(name, *texts)
            result = subprocess.run(["systemd-analyze", "verify", path], capture_output=True,
                                    text=True)
            self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""), path)


class StartedLikeTheUnit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("this test makes OS accounts: run it as root, as CI does")
        ensure_accounts()

    def setUp(self):
        self.install = Installation()
        self.addCleanup(self.install.cleanup)

    def test_owner_manages_own_contacts_others_are_refused(self):
        csv = self.install.start(self.install.drop_in)
        info = os.stat(self.install.socket)
        self.assertEqual(stat.S_IMODE(info.st_mode), 0o660)
        self.assertEqual(info.st_gid, grp.getgrnam(SOCKET_GROUP).gr_gid)
        added = self.install.as_user(OWNER, "add", "two-emails", "--csv", csv)
        self.assertEqual(added.returncode, 0, added.stderr + self.install.log())

        paused = self.install.as_user(OWNER, "pause", "two-emails", "ann@example.test")
        self.assertEqual(paused.returncode, 0, paused.stderr)
        self.assertEqual(self.status_of("ann@example.test"), "paused")
        for command in ("resume", "pause"):
            refused = self.install.as_user(OTHER, command, "two-emails", "ann@example.test",
                                           "bob@example.test")
            self.assertEqual(refused.returncode, 4, refused.stderr)
            self.assertIn("permission denied", refused.stderr)
        self.assertEqual(self.status_of("bob@example.test"), "scheduled")
        resumed = self.install.as_user(OWNER, "resume", "two-emails", "ann@example.test")
        self.assertEqual(resumed.returncode, 0, resumed.stderr)
        self.assertEqual(self.status_of("ann@example.test"), "scheduled")

        self.assertEqual(self.install.as_user(OUTSIDER, "ping").returncode, 5)
        log = self.install.log()
        self.assertIn("by " + OWNER, log)
        self.assertIn("by " + OTHER, log)
        self.assertNotIn("by nobody", log)
        # The unit's filter lets seqd stop the way SPEC §5 says: commit, exit 0.
        self.install.process.terminate()
        self.assertEqual(self.install.process.wait(timeout=60), 0, self.install.log())

    def test_without_the_supplementary_group_seqd_names_it_and_stops(self):
        self.install.start(expect_ready=False)
        self.assertEqual(self.install.process.wait(timeout=30), 1)
        log = self.install.log()
        self.assertIn("socket_group '%s'" % SOCKET_GROUP, log)
        self.assertIn("not a member of group '%s'" % SOCKET_GROUP, log)
        self.assertIn("SupplementaryGroups=", log)

    def status_of(self, contact):
        result = self.install.as_user(OTHER, "--json", "status", "two-emails")
        self.assertEqual(result.returncode, 0, result.stderr)
        for row in json.loads(result.stdout)["contacts"]:
            if row["contact"] == contact:
                return row["status"]
        raise AssertionError("%s is not in two-emails: %s" % (contact, result.stdout))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--sandbox-exec":
        sandbox_exec(sys.argv[2])
    else:
        harness.main()


if __name__ == "__main__":
    main()
