"""Proves the README's first command ends well: scripts/demo-run.sh (what scripts/demo.sh runs
once it has installed and built) enrolls the example contacts, sends every email of the
example sequence under the virtual clock, prints one of them and stops seqd, exit 0; and that
no script pipes into `head` under pipefail, which made the demo exit 141 now and then (head
closed the pipe while sort still wrote: SIGPIPE).
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness


class Demo(unittest.TestCase):
    def test_the_demo_runs_to_the_end(self):
        work = tempfile.mkdtemp(prefix="seqd-demo-")
        self.addCleanup(shutil.rmtree, work, True)
        shutil.copytree(os.path.join(harness.ARGS.source_dir, "examples"),
                        os.path.join(work, "examples"))
        script = os.path.join(harness.ARGS.source_dir, "scripts", "demo-run.sh")
        env = dict(os.environ)
        env.pop("SEQD_SOCKET", None)
        run = subprocess.run([script, harness.ARGS.seqd, harness.ARGS.seqctl], cwd=work, env=env,
                             capture_output=True, text=True, timeout=240)
        self.assertEqual(run.returncode, 0, run.stdout[-3000:] + run.stderr[-3000:])
        self.assertIn("seqd stopped cleanly", run.stdout)
        counts = [int(n) for n in re.findall(r"(\d+) messages in", run.stdout)]
        contacts = sum(1 for line in open(os.path.join(work, "examples", "contacts.csv"))) - 1
        self.assertEqual(sum(counts), 3 * contacts, run.stdout[-3000:])
        self.assertRegex(run.stdout, r"Message-ID: <[^>]+>")

    def test_no_script_pipes_into_head_under_pipefail(self):
        scripts = os.path.join(harness.ARGS.source_dir, "scripts")
        for name in sorted(os.listdir(scripts)):
            with open(os.path.join(scripts, name)) as f:
                text = f.read()
            if "pipefail" not in text:
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if line.lstrip().startswith("#"):
                    continue
                self.assertIsNone(re.search(r"\|\s*head\b", line),
                                  "scripts/%s:%d pipes into head: %s" % (name, number, line))


if __name__ == "__main__":
    harness.main()
