#!/usr/bin/env python3
"""End-to-end benchmark: seqd through the real daemon, beside BullMQ, pg-boss and graphile-worker.

Usage: perf/bench.py [N] [--peer-n M] [--rates R,R,...] [--duration S] [--no-peers]
                     [--no-real-clock] [--seqd PATH --seqctl PATH]
(perf/bench.sh installs what is missing, builds seqd and seqctl, then runs this.)

Workload everywhere: contacts x 3 auto_email steps due at once one after the other; a step
renders a ~630-byte message from the contact's fields, discards it, durably records
(contact, step, time, Message-ID) and schedules the contact's next step.

1. seqd under --virtual-time, driven by seqctl alone: import a generated CSV (import/s),
   `add --csv --skip-validation` (add/s), `sequence activate`, then `time advance 1m`, which
   returns once every due step is committed: durable steps/s = 3N / its wall time. Checked
   with `seqctl --json sequences` and `seqctl --json status --status S` (every contact
   finished, none in any other status, also after the restart). Then, once the daemon has been
   idle RSS_SETTLE_S (its committer drops the store's mapped pages 200 ms after its last
   commit, and the last checkpoint slices follow the advance: io/store.hpp), VmRSS - the empty
   daemon's VmRSS, the state dir's size (apparent and allocated), and the time from exec to the first
   good `seqctl ping` after kill -9.
2. The peers on their own servers (redis-server, PostgreSQL 15 via initdb/pg_ctl as the
   postgres account), each in a temp dir on a free loopback port: every first step added in
   bulk, then timed until every step is recorded. A small sweep of each one's
   concurrency/batch knob; the best run is reported, with its server's disk (and for Redis
   its RSS) per enrollment and its restart time after kill -9.
3. Real clock, constant offered rate: first steps due evenly at R contacts/s (3R steps/s) for
   S seconds; per rate, each first step's lateness (durable time - due time). seqd: added
   ahead with `at` = due time (one add request per 10 ms of due times, over the control
   socket as seqctl sends them), delivery to a Maildir on tmpfs: a message file is written
   after its step's record is committed, so the time it was written is an upper bound of the
   durable time. A new file's mtime may be read off the kernel's coarse clock, up to its
   resolution (a jiffy: 4 ms at HZ=250) before the write, so the bench takes mtime + that
   resolution (mtime_lag_ns) as the time of the write: an upper bound again.
   Peers: delayed jobs / run_at / startAfter; durable = when the record's commit returned.
   A rate is sustained when every step is recorded within 2 s of the last due time and the
   first steps' p99 lateness is under 1 s.
Prints one table; ratios are seqd / peer.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.join(HERE, "peers")
PG_BIN = "/usr/lib/postgresql/15/bin"
VIRTUAL_START = "2026-12-01T14:00:00Z"
SUSTAIN_DRAIN_S = 2.0
SUSTAIN_P99_MS = 1000.0

# The same three steps as perf/peers/common.js.
SEQUENCE_YAML = """\
id: bench
name: Three emails
owner: root
schedule: always
mailboxes: [bench@acme.test]
steps:
  - id: intro
    type: auto_email
    wait: 0m
    subject: "Quick question, {{first_name}}"
    body: "Hi {{first_name|there}}, teams like {{company|yours}} spend hours every week on follow-ups that nobody reads. We built a small tool that sends the right note at the right time and stops the moment someone replies. Worth a look?\\n\\nAlice\\n"
  - id: bump
    type: auto_email
    wait: 0m
    subject: "Re: quick question, {{first_name}}"
    body: "Hi {{first_name|there}}, bumping this up in case it got buried. A short call this week to see whether it fits {{company|your team}}? Fifteen minutes is enough, and I will keep it to the point.\\n\\nAlice\\n"
  - id: breakup
    type: auto_email
    wait: 0m
    subject: "Last note, {{first_name}}"
    body: "Hi {{first_name|there}}, I will stop writing after this one. If follow-ups at {{company|your company}} ever become a problem worth fixing, reply to this and I will send a short overview with prices.\\n\\nAlice\\n"
"""

SCHEDULES_YAML = """\
always:
  timezone: UTC
  windows:
    mon-sun: ["00:00-24:00"]
"""


def log(text):
    print(text, file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid):
    """(VmRSS, RssAnon) of pid in bytes: all it has resident, and its heap alone (VmRSS also
    counts the pages of mapped files, such as seqd's store, which come and go with reads)."""
    values = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                values[key] = int(rest.split()[0]) * 1024
    if len(values) != 2:
        raise RuntimeError("no VmRSS or RssAnon for %d" % pid)
    return values["VmRSS"], values["RssAnon"]


def du_bytes(path):
    """(apparent bytes, allocated bytes) of a tree, as du --apparent-size -sb and du -sB1."""
    apparent = int(subprocess.check_output(["du", "-sb", "--apparent-size", path]).split()[0])
    allocated = int(subprocess.check_output(["du", "-sB1", path]).split()[0])
    return apparent, allocated


def write_csv(path, n):
    with open(path, "w") as f:
        f.write("email,first_name,last_name,company,score\n")
        for i in range(n):
            f.write("c%d@ex%d.test,First%d,Last%d,Company %d,%d\n" % (i, i % 97, i, i, i % 500,
                                                                     i % 100))


def rfc3339_ms(epoch_ms):
    seconds, millis = divmod(int(epoch_ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%03dZ" % millis


def parse_rfc3339_ms(text):
    import datetime
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


# ---------------------------------------------------------------------------------------------
# seqd


class Seqd:
    """One seqd over a temp dir; `transport` discard (virtual time) or maildir (real clock)."""

    def __init__(self, args, transport="discard", outbox=None):
        self.args = args
        self.root = tempfile.mkdtemp(prefix="seqd-bench-", dir="/tmp")
        self.config = os.path.join(self.root, "seqd.yaml")
        self.socket = os.path.join(self.root, "ctl.sock")
        self.state = os.path.join(self.root, "state")
        self.process = None
        delivery = "delivery:\n  maildir: {dir: %s}\n" % outbox if outbox else ""
        with open(self.config, "w") as f:
            f.write("state_dir: %s\ncontrol_socket: %s\nadmins: [root, %s]\nworkers: 2\n"
                    "tick: %s\n%smailboxes:\n  - address: bench@acme.test\n"
                    "    name: Bench Sender\n    owner: root\n    transport: %s\n"
                    "    daily_limit: 1000000000\n    hourly_limit: 1000000000\n"
                    % (self.state, self.socket, os.environ.get("USER") or "root",
                       getattr(args, "tick", "100ms"), delivery, transport))
        with open(os.path.join(self.root, "schedules.yaml"), "w") as f:
            f.write(SCHEDULES_YAML)
        os.mkdir(os.path.join(self.root, "sequences"))
        with open(os.path.join(self.root, "sequences", "bench.yaml"), "w") as f:
            f.write(SEQUENCE_YAML)

    def start(self, virtual_time=VIRTUAL_START):
        """Starts seqd; returns seconds from exec to the first successful `seqctl ping`."""
        argv = [self.args.seqd, "--config", self.config]
        if virtual_time:
            argv += ["--virtual-time", virtual_time]
        log_file = open(os.path.join(self.root, "seqd.log"), "a")
        started = time.monotonic()
        self.process = subprocess.Popen(argv, stdout=log_file, stderr=log_file)
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("seqd exited: see %s/seqd.log" % self.root)
            if self.seqctl("ping", check=False).returncode == 0:
                return time.monotonic() - started
            if time.monotonic() - started > 600:
                raise RuntimeError("seqd did not answer ping")
            time.sleep(0.005)

    def seqctl(self, *words, check=True):
        result = subprocess.run([self.args.seqctl, "--socket", self.socket] + list(words),
                                capture_output=True, timeout=3600)
        if check and result.returncode != 0:
            raise RuntimeError("seqctl %s: exit %d: %s" % (" ".join(words), result.returncode,
                                                          result.stderr.decode()[-2000:]))
        return result

    def timed(self, *words):
        started = time.monotonic()
        result = self.seqctl(*words)
        return time.monotonic() - started, result

    def request(self, connection, cmd, args):
        """One request over the control protocol (JSON lines), as seqctl sends it."""
        connection.sendall((json.dumps({"v": 1, "id": 1, "cmd": cmd, "args": args}) + "\n")
                           .encode())
        buffer = b""
        while True:
            chunk = connection.recv(1 << 20)
            if not chunk:
                raise RuntimeError("seqd closed the control socket")
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                reply = json.loads(line)
                if "ok" in reply:
                    if not reply["ok"]:
                        raise RuntimeError("%s: %s" % (cmd, reply["error"]))
                    return reply["result"]

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


UNFINISHED = ("scheduled", "active", "paused", "bounced", "not_sent", "removed")


def finished_count(daemon):
    """Contacts `finished` in bench, checked two ways: `seqctl --json sequences` counts, and
    `seqctl --json status bench --status S` listing nobody for every other status. (A whole
    `status` of a million contacts is over the daemon's 64 MiB reply limit for a connection.)"""
    sequences = json.loads(daemon.seqctl("--json", "sequences").stdout)["sequences"]
    counts = [s["counts"] for s in sequences if s["id"] == "bench"][0]
    for status in UNFINISHED:
        listed = json.loads(daemon.seqctl("--json", "status", "bench", "--status", status,
                                          "--limit", "10").stdout)["contacts"]
        if listed or counts.get(status):
            raise RuntimeError("%s contacts left: %s" % (status, listed[:3] or counts))
    return counts.get("finished", 0)


# Seconds the daemon is left idle after the workload before its RSS is read (above).
RSS_SETTLE_S = 1.0


def run_workload(daemon, n, on_phase=lambda name: None):
    """The virtual-time workload on a started daemon: n contacts written to a CSV, imported,
    added to `bench` and run to the end by one `time advance 1m` (3 steps each). Checks that
    every contact finished (a `status` of them all); returns the CSV's path and the seconds each
    phase took. on_phase(name) is called after each: import, add, activate, advance, status."""
    csv_path = os.path.join(daemon.root, "contacts.csv")
    write_csv(csv_path, n)
    import_s, result = daemon.timed("--json", "import", csv_path)
    imported = json.loads(result.stdout)
    if imported["imported"] != n or imported["errors"]:
        raise RuntimeError("import: %s" % result.stdout[:500])
    on_phase("import")
    add_s, result = daemon.timed("--json", "add", "bench", "--csv", csv_path,
                                 "--skip-validation")
    added = json.loads(result.stdout)
    if len(added["added"]) != n:
        raise RuntimeError("add: %d added of %d" % (len(added["added"]), n))
    on_phase("add")
    daemon.seqctl("sequence", "activate", "bench")
    on_phase("activate")
    advance_s, _ = daemon.timed("time", "advance", "1m")
    on_phase("advance")
    finished = finished_count(daemon)
    if finished != n:
        raise RuntimeError("after the advance: %d of %d contacts finished" % (finished, n))
    on_phase("status")
    return {"csv_path": csv_path, "import_s": import_s, "add_s": add_s, "advance_s": advance_s}


def seqd_virtual(args, n):
    log("seqd: %d contacts x 3 steps under --virtual-time" % n)
    daemon = Seqd(args)
    try:
        daemon.start()
        rss_empty, anon_empty = rss_bytes(daemon.process.pid)
        run = run_workload(daemon, n)
        time.sleep(RSS_SETTLE_S)
        rss, anon = rss_bytes(daemon.process.pid)
        apparent, allocated = du_bytes(daemon.state)
        daemon.kill9()
        restart_s = daemon.start()
        finished = finished_count(daemon)
        if finished != n:
            raise RuntimeError("after restart: %d of %d contacts finished" % (finished, n))
        row = {"n": n, "import_per_s": n / run["import_s"], "add_per_s": n / run["add_s"],
               "steps_per_s": 3 * n / run["advance_s"], "advance_s": run["advance_s"],
               "rss_per_enrollment": (rss - rss_empty) / n, "rss_empty": rss_empty,
               "rss_anon_per_enrollment": (anon - anon_empty) / n,
               "disk_apparent_per_enrollment": apparent / n,
               "disk_allocated_per_enrollment": allocated / n, "restart_s": restart_s}
        log("  " + json.dumps(row))
        with open(os.path.join(daemon.root, "seqd.log")) as f:
            log("  seqd.log: " + " | ".join(line.strip() for line in f if "loaded" in line))
        return row
    finally:
        daemon.cleanup()


CLOCK_REALTIME_COARSE = 5  # Linux's clockid (the time module does not name it)


def mtime_lag_ns():
    """How far a new file's mtime can be before the moment it was written: the kernel may
    stamp it with its coarse clock, whose reading lags by up to its resolution (a jiffy: 4 ms
    at HZ=250; seen here: files written after their due time stamped up to ~5 ms before it)."""
    return int(round(time.clock_getres(CLOCK_REALTIME_COARSE) * 1e9))


def seqd_rate(args, contacts_per_s, duration_s, deliveries=None):
    """Real clock: first steps due evenly at contacts_per_s for duration_s; lateness of each
    first step = when its message file was written (after its record's commit: the file's
    mtime + mtime_lag_ns) - due time. `deliveries`, a list, gets (contact, step, due ms,
    written ms) per first step."""
    n = int(round(contacts_per_s * duration_s))
    outbox = tempfile.mkdtemp(prefix="seqd-outbox-", dir="/dev/shm")
    daemon = Seqd(args, transport="maildir", outbox=outbox)
    try:
        daemon.start(virtual_time=None)
        csv_path = os.path.join(daemon.root, "contacts.csv")
        write_csv(csv_path, n)
        daemon.seqctl("import", csv_path)
        daemon.seqctl("sequence", "activate", "bench")
        groups = max(1, int(duration_s * 100))  # one add request per 10 ms of due times
        # Room to add them all first: each add request is a commit of its own.
        start_ms = time.time() * 1000 + 3000 + n / 2.0 + 10.0 * groups
        due = {}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(daemon.socket)
            first = 0
            for g in range(groups):
                last = int(round(n * (g + 1) / groups))
                if last <= first:
                    continue
                keys = ["c%d@ex%d.test" % (i, i % 97) for i in range(first, last)]
                at_ms = start_ms + first * 1000.0 / contacts_per_s
                result = daemon.request(connection, "add", {
                    "sequence": "bench", "contacts": keys, "at": rfc3339_ms(at_ms),
                    "skip_validation": True})
                if len(result["added"]) != len(keys):
                    raise RuntimeError("add at %s: %s" % (rfc3339_ms(at_ms), result))
                for key in keys:
                    due[key] = parse_rfc3339_ms(result["first_at"][key])
                first = last
        if time.time() * 1000 > start_ms:
            raise RuntimeError("adding took past the first due time")
        new_dir = os.path.join(outbox, "bench@acme.test", "new")
        end_ms = start_ms + duration_s * 1000
        deadline = end_ms + 30000
        # Not counted while steps fall due: a listing of tens of thousands of files every
        # 50 ms would take CPU from the daemon it measures.
        time.sleep(max(0.0, (end_ms - time.time() * 1000) / 1000.0))
        while time.time() * 1000 < deadline:
            count = len(os.listdir(new_dir)) if os.path.isdir(new_dir) else 0
            if count >= 3 * n:
                break
            time.sleep(0.05)
        done_ms = time.time() * 1000
        lag_ns = mtime_lag_ns()
        lateness = []
        files = 0
        for entry in os.scandir(new_dir):
            files += 1
            with open(entry.path, "rb") as f:
                head = f.read(1024).decode("utf-8", "replace")
            fields = dict(line.split(": ", 1) for line in head.split("\n")[:14] if ": " in line)
            if fields.get("X-Seqd-Step") == "intro":
                contact = fields["X-Seqd-Contact"]
                written_ms = (entry.stat().st_mtime_ns + lag_ns) / 1e6
                lateness.append(written_ms - due[contact])
                if deliveries is not None:
                    deliveries.append((contact, "intro", due[contact], written_ms))
        row = {"system": "seqd", "n": n, "steps": files, "offered_steps_per_s": 3 * contacts_per_s,
               "done_after_last_due_s": (done_ms - end_ms) / 1000.0, "mtime_lag_ms": lag_ns / 1e6}
        row.update(lateness_summary(lateness))
        return row
    finally:
        daemon.cleanup()
        shutil.rmtree(outbox, ignore_errors=True)


def lateness_summary(lateness):
    lateness = sorted(lateness)
    if not lateness:
        return {"p50_ms": None, "p99_ms": None, "p999_ms": None, "max_ms": None}
    pick = lambda p: lateness[min(len(lateness) - 1, int(p * len(lateness)))]
    return {"p50_ms": pick(0.5), "p99_ms": pick(0.99), "p999_ms": pick(0.999),
            "max_ms": lateness[-1]}


# ---------------------------------------------------------------------------------------------
# Peer servers


def wait_tcp(port, process, probe, timeout_s=600):
    """Seconds until probe(port) succeeds; raises if the process dies first."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if process is not None and process.poll() is not None:
            raise RuntimeError("server exited with %d" % process.returncode)
        try:
            if probe(port):
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError("server on port %d did not answer" % port)


def redis_ping(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"PING\r\n")
        return s.recv(64).startswith(b"+PONG")


class Redis:
    def __init__(self, fsync):
        self.dir = tempfile.mkdtemp(prefix="redis-bench-", dir="/tmp")
        self.port = free_port()
        self.fsync = fsync
        self.process = None

    def start(self):
        """Returns seconds from exec to the first PONG (after loading the AOF)."""
        started = time.monotonic()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", self.fsync, "--save", "",
             "--logfile", os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_tcp(self.port, self.process, redis_ping)
        return time.monotonic() - started

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def as_postgres(argv, **kwargs):
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    return subprocess.run(argv, check=True, capture_output=True, **kwargs)


class Postgres:
    """A PostgreSQL 15 cluster of its own in a temp dir, owned by the postgres account."""

    SETTINGS = ["-c", "listen_addresses=127.0.0.1", "-c", "shared_buffers=1GB",
                "-c", "max_wal_size=4GB", "-c", "synchronous_commit=on", "-c", "fsync=on",
                "-c", "max_connections=200"]

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pg-bench-", dir="/tmp")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        as_postgres([PG_BIN + "/initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                     "-E", "UTF8", "--no-sync"])
        self.process = None

    def start(self):
        """Runs postgres in the foreground; returns seconds from exec to the first SELECT 1
        (crash recovery included)."""
        argv = [PG_BIN + "/postgres", "-D", self.data, "-p", str(self.port), "-k", self.dir]
        argv += self.SETTINGS
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        started = time.monotonic()
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                        stderr=open(os.path.join(self.dir, "log"), "a"))
        wait_tcp(self.port, self.process, self.ready)
        return time.monotonic() - started

    def ready(self, port):
        return subprocess.run([PG_BIN + "/psql", "-h", "127.0.0.1", "-p", str(port), "-U",
                               "postgres", "-tAc", "SELECT 1"], capture_output=True,
                              timeout=10).returncode == 0

    def sql(self, text, db="postgres"):
        return subprocess.run([PG_BIN + "/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U",
                               "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", text],
                              check=True, capture_output=True, text=True).stdout.strip()

    def url(self, db):
        return "postgres://postgres@127.0.0.1:%d/%s" % (self.port, db)

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def kill9(self):
        """kill -9 of the postmaster and then of its backends (as a crash takes them all)."""
        pid = self.postmaster_pid()
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                            children.append(int(entry))
                except (OSError, ValueError, IndexError):
                    pass
        os.kill(pid, signal.SIGKILL)
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        for child in children:
            while os.path.exists("/proc/%d" % child):
                time.sleep(0.01)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.kill(self.postmaster_pid(), signal.SIGINT)  # fast shutdown (runuser passes none)
            self.process.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def node(script, *options):
    argv = ["node", os.path.join(PEERS, script)] + [str(o) for o in options]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=PEERS, timeout=7200)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), result.returncode,
                                                  result.stderr[-3000:]))
    row = json.loads(lines[-1])
    if row["steps"] < row["n"] * 3 or row["stored_records"] < row["n"] * 3:
        if row.get("mode") == "burst":
            raise RuntimeError("%s: only %d of %d steps" % (script, row["steps"], 3 * row["n"]))
    return row


# Each peer: (row name, script, server kind, fsync, sweep of knob option lists).
PEER_SYSTEMS = [
    ("BullMQ AOF always", "bullmq.js", "redis", "always",
     [["--concurrency", 100], ["--concurrency", 200], ["--concurrency", 400]]),
    ("BullMQ AOF everysec", "bullmq.js", "redis", "everysec",
     [["--concurrency", 100], ["--concurrency", 200], ["--concurrency", 400]]),
    ("pg-boss", "pgboss.js", "postgres", None,
     [["--loops", 4, "--batch", 500], ["--loops", 4, "--batch", 1000],
      ["--loops", 4, "--batch", 2000]]),
    ("graphile-worker", "graphile.js", "postgres", None,
     [["--concurrency", 10, "--local", 100], ["--concurrency", 30, "--local", 100],
      ["--concurrency", 60, "--local", 200]]),
]


def knob_text(knobs):
    return " ".join("%s=%s" % (knobs[i].lstrip("-"), knobs[i + 1]) for i in range(0, len(knobs), 2))


def peer_burst(name, script, kind, fsync, sweep, n, pg):
    """Runs the sweep; keeps the best run's server data for disk, RSS and restart figures."""
    log("%s: %d contacts x 3 steps, sweep %s" % (name, n, [knob_text(k) for k in sweep]))
    best = None
    runs = []
    for index, knobs in enumerate(sweep):
        if kind == "redis":
            server = Redis(fsync)
            server.start()
            rss_empty, anon_empty = rss_bytes(server.process.pid)
            url = server.url()
        else:
            db = "b%d_%d" % (os.getpid(), len(pg.databases))
            pg.sql("CREATE DATABASE %s" % db)
            pg.databases.append(db)
            url = pg.url(db)
            size_empty = int(pg.sql("SELECT pg_database_size('%s')" % db))
        row = node(script, "--url", url, "--n", n, *knobs)
        row["knobs"] = knob_text(knobs)
        if kind == "redis":
            rss, anon = rss_bytes(server.process.pid)
            row["rss_per_enrollment"] = (rss - rss_empty) / n
            row["rss_anon_per_enrollment"] = (anon - anon_empty) / n
            apparent, allocated = du_bytes(server.dir)
            row["disk_apparent_per_enrollment"] = apparent / n
            row["disk_allocated_per_enrollment"] = allocated / n
        else:
            pg.sql("CHECKPOINT")
            size = int(pg.sql("SELECT pg_database_size('%s')" % db)) - size_empty
            row["disk_apparent_per_enrollment"] = size / n
            row["disk_allocated_per_enrollment"] = size / n
        log("  %s: %.0f steps/s" % (row["knobs"], row["steps_per_s"]))
        runs.append(row)
        if best is None or row["steps_per_s"] > best[0]["steps_per_s"]:
            if best is not None and kind == "redis":
                best[1].cleanup()
            best = (row, server if kind == "redis" else None)
        elif kind == "redis":
            server.cleanup()
    row, server = best
    # Restart after kill -9 with the best run's data as left.
    if kind == "redis":
        server.kill9()
        row["restart_s"] = server.start()
        server.cleanup()
    row["sweep"] = [(r["knobs"], round(r["steps_per_s"])) for r in runs]
    return row


def pg_restart(pg):
    pg.kill9()
    return pg.start()


# ---------------------------------------------------------------------------------------------
# Table


def fmt(value, digits=0):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if digits == 0:
        return "{:,.0f}".format(value)
    return "{:,.{}f}".format(value, digits)


def ratio(a, b):
    if a is None or b is None or isinstance(a, str) or isinstance(b, str) or a <= 0 or b <= 0:
        return "-"
    return "{:.2f}x".format(a / b)


def best_sustained(rows):
    sustained = [r for r in rows if r.get("sustained")]
    return max(sustained, key=lambda r: r["offered_steps_per_s"]) if sustained else None


def table(seqd, peers, rate_rows):
    names = [name for name, *_ in PEER_SYSTEMS if name in peers]
    metrics = [
        ("import contacts/s", "import_per_s", 0, "higher"),
        ("add (first steps)/s", "add_per_s", 0, "higher"),
        ("durable steps/s, all due at once", "steps_per_s", 0, "higher"),
        ("RSS bytes/enrollment", "rss_per_enrollment", 0, "lower"),
        ("  of it heap (RssAnon)", "rss_anon_per_enrollment", 0, "lower"),
        ("disk bytes/enrollment, apparent", "disk_apparent_per_enrollment", 0, "lower"),
        ("disk bytes/enrollment, du", "disk_allocated_per_enrollment", 0, "lower"),
        ("restart after kill -9, s", "restart_s", 3, "lower"),
    ]
    header = ["metric", "better", "seqd"]
    for name in names:
        header += [name, "seqd/" + name.split()[0]]
    lines = [header]
    for label, key, digits, better in metrics:
        line = [label, better, fmt(seqd.get(key) if seqd else None, digits)]
        for name in names:
            value = peers[name].get(key)
            line += [fmt(value, digits), ratio(seqd.get(key) if seqd else None, value)]
        lines.append(line)
    if rate_rows:
        best = {system: best_sustained(rows) for system, rows in rate_rows.items()}
        line = ["max sustained steps/s, real clock", "higher", fmt((best.get("seqd") or {})
                                                                   .get("offered_steps_per_s"))]
        for name in names:
            value = (best.get(name) or {}).get("offered_steps_per_s")
            line += [fmt(value), ratio((best.get("seqd") or {}).get("offered_steps_per_s"), value)]
        lines.append(line)
        for p in ("p50_ms", "p99_ms", "p999_ms"):
            label = "lateness %s at that rate, ms" % p.split("_")[0]
            seqd_value = (best.get("seqd") or {}).get(p)
            line = [label, "lower", fmt(seqd_value)]
            for name in names:
                value = (best.get(name) or {}).get(p)
                line += [fmt(value), ratio(seqd_value, value)]
            lines.append(line)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        cells = [str(c).ljust(widths[i]) if i < 2 else str(c).rjust(widths[i])
                 for i, c in enumerate(line)]
        out.append("  ".join(cells).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def rate_table(rate_rows):
    lines = ["%-22s %12s %9s %9s %9s %9s %10s %s" % ("system", "offered/s", "p50 ms", "p99 ms",
                                                   "p999 ms", "max ms", "drain s", "sustained")]
    for system, rows in rate_rows.items():
        for r in rows:
            lines.append("%-22s %12s %9s %9s %9s %9s %10s %s" % (
                system, fmt(r["offered_steps_per_s"]), fmt(r["p50_ms"]), fmt(r["p99_ms"]),
                fmt(r["p999_ms"]), fmt(r["max_ms"]), fmt(r["done_after_last_due_s"], 2),
                "yes" if r["sustained"] else "no (%d/%d steps)" % (r["steps"], 3 * r["n"])
                if r["steps"] < 3 * r["n"] else "no"))
    return "\n".join(lines)


def judge(row):
    row["sustained"] = (row["steps"] >= 3 * row["n"] and row["p99_ms"] is not None and
                        row["done_after_last_due_s"] <= SUSTAIN_DRAIN_S and
                        row["p99_ms"] < SUSTAIN_P99_MS)
    return row


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=200000, help="seqd contacts")
    parser.add_argument("--peer-n", type=int, default=20000, help="peer contacts per run")
    parser.add_argument("--rates", default="150,600,1500,3000,6000,12000,24000,48000",
                        help="offered steps/s on the real clock (3 per contact)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    parser.add_argument("--tick", default="100ms",
                        help="seqd's wheel tick (seqd.yaml `tick`; SPEC's default is 100ms)")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-real-clock", action="store_true")
    parser.add_argument("--seqd", default=os.path.join(ROOT, "build", "seqd"))
    parser.add_argument("--seqctl", default=os.path.join(ROOT, "build", "seqctl"))
    args = parser.parse_args()

    started = time.time()
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]
    seqd = seqd_virtual(args, args.n)
    peers = {}
    rate_rows = {}
    pg = None
    try:
        if not args.no_peers:
            pg = Postgres()
            pg.start()
            pg.databases = []
            for name, script, kind, fsync, sweep in PEER_SYSTEMS:
                peers[name] = peer_burst(name, script, kind, fsync, sweep, args.peer_n, pg)
                if kind == "postgres":
                    peers[name]["restart_s"] = pg_restart(pg)
        if not args.no_real_clock:
            rates = [int(r) for r in args.rates.split(",") if r]
            rate_rows["seqd"] = []
            for rate in rates:
                log("seqd real clock: %d steps/s offered" % rate)
                rate_rows["seqd"].append(judge(seqd_rate(args, rate / 3.0, args.duration)))
                log("  " + json.dumps(rate_rows["seqd"][-1]))
                if not rate_rows["seqd"][-1]["sustained"]:
                    break
            for name, script, kind, fsync, sweep in PEER_SYSTEMS if not args.no_peers else []:
                knobs = peers[name]["knobs"].split()
                options = []
                for knob in knobs:
                    key, value = knob.split("=")
                    options += ["--" + key, value]
                rate_rows[name] = []
                for rate in rates:
                    log("%s real clock: %d steps/s offered (%s)" % (name, rate, " ".join(knobs)))
                    if kind == "redis":
                        server = Redis(fsync)
                        server.start()
                        url = server.url()
                    else:
                        db = "r%d_%d" % (os.getpid(), len(pg.databases))
                        pg.sql("CREATE DATABASE %s" % db)
                        pg.databases.append(db)
                        url = pg.url(db)
                    try:
                        row = node(script, "--url", url, "--mode", "rate", "--rate",
                                   rate / 3.0, "--duration", args.duration, *options)
                    finally:
                        if kind == "redis":
                            server.cleanup()
                    rate_rows[name].append(judge(row))
                    log("  " + json.dumps(row))
                    if not row["sustained"]:
                        break  # higher rates only take longer to fail
    finally:
        if pg:
            pg.cleanup()

    with open("/proc/loadavg") as f:
        load_after = f.read().split()[:3]
    print("seqd end to end vs peers, %s, %s, %d CPUs; load average %s before, %s after; %.0f s"
          % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)), platform.platform(),
             os.cpu_count(), "/".join(load_before), "/".join(load_after), time.time() - started))
    print("seqd: N=%d contacts x 3 steps, virtual time, transport discard" % args.n)
    if peers:
        print("peers: N=%d contacts x 3 steps each run; best of a sweep:" % args.peer_n)
        for name in peers:
            print("  %-20s best %s; sweep steps/s: %s" % (
                name, peers[name]["knobs"],
                ", ".join("%s: %d" % (k, v) for k, v in peers[name]["sweep"])))
    print()
    print(table(seqd, peers, rate_rows))
    if rate_rows:
        print()
        print("Real clock, first steps due evenly for %.0f s at each offered rate (3 steps per "
              "contact); lateness = durable - due of first steps; sustained = all steps "
              "durable within %.0f s of the last due time and p99 < %.0f ms:"
              % (args.duration, SUSTAIN_DRAIN_S, SUSTAIN_P99_MS))
        print(rate_table(rate_rows))


if __name__ == "__main__":
    main()
