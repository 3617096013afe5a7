#!/usr/bin/env python3
"""Times one start of seqd on a fresh copy of a state dir made by perf/restart_state.py: seconds
from exec to the first good `seqctl ping`, seqd's CPU time until then, the load average, the
phases seqd logged, its heap (RssAnon) and all it has resident (VmRSS) once ready, and the
most it had resident until then (VmHWM: the heap and the store's pages the walk and the load
read). --perf OUT runs it under perf record (dwarf call graphs).
Usage: perf/restart_copy.py STATE [--bin DIR_WITH_SEQD_AND_SEQCTL] [--runs N] [--perf OUT]"""
import os, sys, shutil, argparse, time, subprocess, tempfile, re
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench
p = argparse.ArgumentParser()
p.add_argument("state"); p.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))
p.add_argument("--perf", default=None); p.add_argument("--runs", type=int, default=1)
a = p.parse_args()
a.seqd = os.path.join(a.bin, "seqd"); a.seqctl = os.path.join(a.bin, "seqctl"); a.tick="100ms"
for i in range(a.runs):
    d = bench.Seqd(a)
    try:
        shutil.copytree(a.state, d.state)
        subprocess.run(["sync"])
        if a.perf:
            real = a.seqd
            wrapper = os.path.join(d.root, "wrap.sh")
            with open(wrapper, "w") as f:
                f.write("#!/bin/sh\nexec perf record -F 1999 --call-graph dwarf,16384 -o %s %s \"$@\"\n" % (a.perf, real))
            os.chmod(wrapper, 0o755)
            d.args.seqd = wrapper
        s = d.start()
        load = os.getloadavg()
        pid = d.process.pid
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        with open(os.path.join(d.root, "seqd.log")) as f:
            line = [l.strip() for l in f if "loaded" in l][-1]
        rss, anon = bench.rss_bytes(pid) if not a.perf else (0, 0)
        with open("/proc/%d/status" % pid) as f:  # the most it had resident, the store's pages too
            peak = int([l for l in f if l.startswith("VmHWM:")][0].split()[1]) * 1024
        print("%.3f s  cpu %.2f s  load %.2f  heap %.1f MB  RSS %.1f MB  peak RSS %.1f MB  %s" % (s, cpu, load[0], anon / 1e6, rss / 1e6, peak / 1e6,
              re.sub(r".*loaded", "loaded", line)), flush=True)
        if a.perf:
            d.process.send_signal(2)  # SIGINT to perf: stops seqd too
            d.process.wait()
            d.args.seqd = real
    except RuntimeError:
        with open(os.path.join(d.root, "seqd.log")) as f:  # the log goes with the copy
            sys.stderr.write(f.read()[-2000:])
        raise
    finally:
        d.cleanup()
