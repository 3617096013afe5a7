#!/usr/bin/env bash
# End-to-end benchmark: seqd through the real daemon beside BullMQ, pg-boss and
# graphile-worker, one table of seqd/peer ratios (see perf/bench.py for what is measured).
#
# Usage: perf/bench.sh [N] [bench.py options]     N: seqd contacts (default 200000)
# Installs what is missing (redis-server and PostgreSQL 15 from Debian, the peers' npm
# packages from perf/peers/package-lock.json), builds seqd and seqctl (RelWithDebInfo), then
# runs perf/bench.py. Every server runs in a temp dir on a free loopback port and is stopped
# at the end; no system-wide service is started or touched. Run as root (PostgreSQL runs as
# the postgres account) on an otherwise quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || missing+=(postgresql-15)
command -v node >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
  echo "bench.sh: pg-boss 10 needs Node.js 20 or later, found $(node --version)" >&2
  exit 1
fi
if [[ ! -d perf/peers/node_modules ]]; then
  (cd perf/peers && npm ci --no-audit --no-fund --loglevel=error)
fi

build_dir=${BUILD_DIR:-build}
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
if ! grep -q '^CMAKE_BUILD_TYPE:STRING=RelWithDebInfo$' "$build_dir/CMakeCache.txt"; then
  echo "bench.sh: $build_dir is not a RelWithDebInfo build (set BUILD_DIR)" >&2
  exit 1
fi
cmake --build "$build_dir" --target seqd seqctl -j"$(nproc)" >/dev/null

exec python3 perf/bench.py --seqd "$build_dir/seqd" --seqctl "$build_dir/seqctl" "$@"
