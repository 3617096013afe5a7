#!/usr/bin/env bash
# Quick start, command 1: installs what is missing, builds, and runs the demo: seqd on the
# embedded default config (examples/) under a virtual clock. It enrolls 50 contacts in a
# three-email sequence, advances the clock through the whole sequence (each email inside
# business hours in the contact's own zone), and shows what happened. Demo state lives in ./var and is wiped at the start of each run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build=${BUILD_DIR:-build}
exec scripts/demo-run.sh "$build/seqd" "$build/seqctl"
