"""Proves one connection cannot grow seqd's memory by pipelining requests it never reads the
answers to: the daemon stops reading that connection (at 64 unanswered requests, or 1 MiB of
unsent replies), so the client's sends stall on the socket while other clients are still served,
and once the client reads, every request it sent is answered, in order."""
import json
import os
import select
import socket
import time
import unittest

import harness
from harness import Daemon

SEND_BYTES_MAX = 64 * 1024 * 1024   # what the client tries to push without reading
STALLED_BYTES_MAX = 16 * 1024 * 1024
RSS_GROWTH_MAX = 32 * 1024 * 1024
# Under AddressSanitizer (scripts/test.sh's second pass sets SEQD_SANITIZED=1) freed memory is
# held in ASan's quarantine (256 MiB by default), so RSS grows with what was freed, not with
# what is kept; the bound on the bytes the client could send still holds exactly.
if os.environ.get("SEQD_SANITIZED") == "1":
    RSS_GROWTH_MAX += 320 * 1024 * 1024


def rss_bytes(pid):
    return harness.proc_kib("/proc/%d/status" % pid, "VmRSS")


class Pipelining(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def test_a_client_that_never_reads_stalls_and_others_are_served(self):
        rss_before = rss_bytes(self.d.process.pid)
        frames = bytearray()
        count = 0
        while len(frames) < SEND_BYTES_MAX:
            frames += (json.dumps({"id": count, "cmd": "ping", "args": {}}) + "\n").encode()
            count += 1
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(client.close)
        client.connect(self.d.socket)
        client.setblocking(False)
        view = memoryview(frames)
        sent = 0
        deadline = time.time() + 60
        while sent < len(frames) and time.time() < deadline:
            try:
                sent += client.send(view[sent:sent + 1024 * 1024])
                continue
            except BlockingIOError:
                pass
            # Stalled: nothing taken for a second.
            _, writable, _ = select.select([], [client], [], 1.0)
            if not writable:
                break
        rss_stalled = rss_bytes(self.d.process.pid)
        print("sent %d of %d bytes before the socket stalled; seqd RSS %d -> %d bytes"
              % (sent, len(frames), rss_before, rss_stalled))
        self.assertLess(sent, STALLED_BYTES_MAX)
        self.assertLess(rss_stalled - rss_before, RSS_GROWTH_MAX)

        # Another client is served while the first one is held.
        started = time.time()
        result = self.d.seqctl("ping")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertLess(time.time() - started, 10)
        self.assertIsNone(self.d.process.poll(), "seqd exited: " + self.d.log())

        # Reading now: the rest of the last frame goes out and every request sent is answered.
        end = frames.index(b"\n", max(sent - 1, 0)) + 1
        expected = frames.count(b"\n", 0, end)
        buffer = b""
        next_id = 0
        deadline = time.time() + 120
        while next_id < expected and time.time() < deadline:
            want_write = [client] if sent < end else []
            readable, writable, _ = select.select([client], want_write, [], 1.0)
            if writable:
                try:
                    sent += client.send(view[sent:end])
                except BlockingIOError:
                    pass
            if not readable:
                continue
            chunk = client.recv(1024 * 1024)
            self.assertTrue(chunk, "seqd closed the connection")
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                reply = json.loads(line)
                self.assertTrue(reply["ok"], reply)
                self.assertEqual(reply["id"], next_id)
                next_id += 1
        self.assertEqual(next_id, expected)
        self.assertLess(rss_bytes(self.d.process.pid) - rss_before, RSS_GROWTH_MAX)


if __name__ == "__main__":
    harness.main()
