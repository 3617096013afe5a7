#!/usr/bin/env python3
"""Times `seqctl add SEQ --list NAME` of a list of N members through the real daemon (the
engine thread makes the add; nothing else is sent meanwhile). The add looked up each member in
the keys gathered so far, one by one: 2.75 s at 50k members and 41 s at 200k, during which
the engine thread sent nothing (perf/RESULTS.md, "add --list in linear time").
Usage: perf/list_add.py N [--seqd PATH] [--seqctl PATH]"""
import argparse, os, sys, time, types
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness
p = argparse.ArgumentParser()
p.add_argument("n", type=int)
p.add_argument("--seqd", default=os.path.join(HERE, "..", "build", "seqd"))
p.add_argument("--seqctl", default=os.path.join(HERE, "..", "build", "seqctl"))
a = p.parse_args()
harness.ARGS = types.SimpleNamespace(seqd=a.seqd, seqctl=a.seqctl, source_dir=os.path.join(HERE, ".."))
d = harness.Daemon()
try:
    d.start()
    path = d.write_file("members.csv", harness.contacts_csv(a.n))
    imported = d.seqctl("import", path, "--list", "members")
    assert imported.returncode == 0, imported.stderr
    started = time.monotonic()
    added = d.seqctl("add", "two-emails", "--list", "members")
    seconds = time.monotonic() - started
    assert added.returncode == 0, added.stderr
    print("add --list of %d members: %.2f s (%s)" % (a.n, seconds, added.stdout.strip()))
finally:
    d.cleanup()
