#!/usr/bin/env python3
"""Makes a state dir for restart measurements: N contacts x 3 steps through perf/bench.py's
workload (import, add, advance), then kill -9, and copies the state dir to OUT (and the config
beside it). Usage: perf/restart_state.py N OUT [--seqd PATH --seqctl PATH]"""
import os, sys, shutil, argparse
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench
p = argparse.ArgumentParser()
p.add_argument("n", type=int); p.add_argument("out")
p.add_argument("--seqd", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "seqd")); p.add_argument("--seqctl", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "seqctl"))
a = p.parse_args()
d = bench.Seqd(a)
try:
    d.start(); r = bench.run_workload(d, a.n); print(r, flush=True)
    d.kill9()
    shutil.copytree(d.state, a.out)
    shutil.copy(d.config, a.out + ".yaml")
finally:
    d.cleanup()
