"""Runs a command and prints its output, then the bytes it wrote to storage
(/proc/PID/io write_bytes, read every 50 ms until it exits; the last reading counts).

Usage: python3 perf/write_bytes.py COMMAND [ARGS...]
"""
import subprocess
import sys
import time


def main():
    process = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, text=True)
    last = None
    while process.poll() is None:
        try:
            with open("/proc/%d/io" % process.pid) as f:
                last = dict(line.split(": ") for line in f.read().splitlines())
        except OSError:
            pass
        time.sleep(0.05)
    print(process.stdout.read().strip())
    if last is not None:
        print("write_bytes %.1f MB" % (int(last["write_bytes"]) / 1e6))


if __name__ == "__main__":
    main()
