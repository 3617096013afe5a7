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
seqd="$build/seqd"
seqctl="$build/seqctl"
export SEQD_SOCKET=./var/control.sock

rm -rf ./var
mkdir -p ./var
"$seqd" --dev --virtual-time 2026-12-01T14:00:00Z 2>./var/seqd.log &
seqd_pid=$!
trap 'kill "$seqd_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  "$seqctl" ping >/dev/null 2>&1 && break
  sleep 0.1
done

step() { printf '\n\033[1m$ seqctl %s\033[0m\n' "$*"; "$seqctl" "$@"; }
step ping
step sequences
step sequence show q4-vp-eng
step add q4-vp-eng --csv examples/contacts.csv
step sequence activate q4-vp-eng
step time advance 1h
step status q4-vp-eng --limit 5
# 15:00Z is 07:00 in Los Angeles: this contact's first email waits for 09:00 there.
step explain q4-vp-eng leslie.wilson13@blackmesa.test
step time advance 2d
step time advance 5d
step status q4-vp-eng
step sequences

printf '\n\033[1mWhere the emails are\033[0m\n'
for mailbox in ./var/outbox/*/; do
  printf '%-32s %s messages in %snew/\n' "$(basename "$mailbox")" \
    "$(find "$mailbox/new" -type f | wc -l)" "$mailbox"
done
first=$(find ./var/outbox -path '*/new/*' -type f | sort | head -n 1)
printf '\n\033[1mOne of them (%s)\033[0m\n' "$first"
cat "$first"

kill -TERM "$seqd_pid"
wait "$seqd_pid"
trap - EXIT
printf '\nseqd stopped cleanly; its log is in ./var/seqd.log\n'
