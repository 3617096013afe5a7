"""Proves `metrics_listen` serves the Prometheus text format at GET /metrics: the scrape parses
with the Prometheus client's own parser and passes `promtool check metrics`, and it carries
sends by mailbox and result, the due backlog, enrollments by status, the wheel's size, the
commit-latency and firing-lateness histograms, reload results and build info, with values
that follow what the daemon did. Other paths are 404, other methods 405."""
import http.client
import os
import subprocess
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

import harness
from harness import Daemon, always_open, contacts_csv, free_port

SEQUENCE_YAML = always_open(harness.TWO_EMAILS_YAML)
SNAPSHOT_WAIT_S = 10  # the snapshot is republished at most once a second


def request(port, method, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def samples(text):
    """{(sample name, frozenset of labels): value} and {family name: type}."""
    values, types = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return values, types


class MetricsEndpoint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.d = Daemon(sequences={"two-emails": SEQUENCE_YAML},
                       seqd_yaml=harness.seqd_yaml(top="metrics_listen: 127.0.0.1:%d\n" % cls.port))
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def scrape_until(self, predicate):
        deadline = time.time() + SNAPSHOT_WAIT_S
        while True:
            status, headers, body = request(self.port, "GET", "/metrics")
            self.assertEqual(status, 200, body)
            values, types = samples(body)
            if predicate(values) or time.time() > deadline:
                return headers, body, values, types
            time.sleep(0.2)

    def test_a_scrape_follows_what_the_daemon_did(self):
        d = self.d
        d.json("import", d.write_file("c.csv", contacts_csv(3)), expect=0)
        d.json("add", "two-emails", "--contact", "person0@example.test", "person1@example.test",
               "person2@example.test")
        d.json("sequence", "activate", "two-emails")
        d.json("time", "advance", "1m")
        sent = ("seqd_sends_total", frozenset({("mailbox", "alice@acme.test"),
                                               ("result", "sent")}))
        headers, body, values, types = self.scrape_until(lambda v: v.get(sent) == 3)
        self.assertEqual(values.get(sent), 3, body)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))

        self.assertEqual(types["seqd_sends"], "counter")
        self.assertEqual(types["seqd_store_commit_duration_seconds"], "histogram")
        self.assertEqual(types["seqd_step_firing_lateness_seconds"], "histogram")
        self.assertEqual(values[("seqd_build_info", frozenset({("version", "0.1.0")}))], 1)
        # Three contacts wait for their second email a day later: scheduled, none due.
        self.assertEqual(values[("seqd_enrollments", frozenset({("status", "scheduled")}))], 3)
        self.assertEqual(values[("seqd_enrollments", frozenset({("status", "finished")}))], 0)
        self.assertEqual(values[("seqd_due_backlog", frozenset())], 0)
        self.assertEqual(values[("seqd_timer_wheel_entries", frozenset())], 3)
        # Three steps fired, each within a tick of its due time under virtual time.
        lateness_count = values[("seqd_step_firing_lateness_seconds_count", frozenset())]
        self.assertEqual(lateness_count, 3)
        self.assertEqual(values[("seqd_step_firing_lateness_seconds_bucket",
                                 frozenset({("le", "+Inf")}))], 3)
        commits = values[("seqd_store_commit_duration_seconds_count", frozenset())]
        self.assertGreater(commits, 0)
        self.assertEqual(values[("seqd_store_commit_duration_seconds_bucket",
                                 frozenset({("le", "+Inf")}))], commits)
        self.assertGreater(values[("seqd_store_commit_duration_seconds_sum", frozenset())], 0)

        # A day later the second emails are out and every contact has finished.
        d.json("time", "advance", "1d")
        finished = ("seqd_enrollments", frozenset({("status", "finished")}))
        _, body, values, _ = self.scrape_until(lambda v: v.get(finished) == 3)
        self.assertEqual(values.get(finished), 3, body)
        self.assertEqual(values[sent], 6)
        self.assertEqual(values[("seqd_timer_wheel_entries", frozenset())], 0)

        promtool = subprocess.run(["promtool", "check", "metrics"], input=body, text=True,
                                  capture_output=True)
        self.assertEqual(promtool.returncode, 0, promtool.stdout + promtool.stderr)
        self.assertEqual(promtool.stdout + promtool.stderr, "")

    def test_reload_results_are_counted(self):
        d = self.d
        ok = ("seqd_reloads_total", frozenset({("result", "ok")}))
        rejected = ("seqd_reloads_total", frozenset({("result", "rejected")}))
        _, _, before, _ = self.scrape_until(lambda v: True)
        d.json("reload")
        path = os.path.join(d.root, "sequences", "broken.yaml")
        with open(path, "w") as f:
            f.write("id: broken\nsteps: [\n")
        try:
            self.assertEqual(d.seqctl("reload").returncode, 1)
        finally:
            os.remove(path)
        _, body, values, _ = self.scrape_until(
            lambda v: v.get(ok) == before[ok] + 1 and v.get(rejected) == before[rejected] + 1)
        self.assertEqual(values[ok], before[ok] + 1, body)
        self.assertEqual(values[rejected], before[rejected] + 1, body)

    def test_only_get_metrics_is_served(self):
        status, _, _ = request(self.port, "GET", "/")
        self.assertEqual(status, 404)
        status, _, _ = request(self.port, "GET", "/u/anything")
        self.assertEqual(status, 404)
        status, headers, _ = request(self.port, "POST", "/metrics")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET")
        status, _, _ = request(self.port, "DELETE", "/metrics")
        self.assertEqual(status, 405)

    def test_reads_are_not_logged_but_the_listener_is(self):
        request(self.port, "GET", "/metrics")
        log = self.d.log()
        self.assertIn("metrics_listen 127.0.0.1:%d" % self.port, log)
        self.assertNotIn("GET /metrics", log)


if __name__ == "__main__":
    harness.main()
