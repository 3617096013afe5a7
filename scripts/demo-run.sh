#!/usr/bin/env bash
# The demo's run, after scripts/demo.sh installed and built: seqd SEQD_BINARY on the embedded
# default config (examples/) under a virtual clock, driven with SEQCTL_BINARY. Run from the
# repository root (or a directory holding its examples/); state goes to ./var, wiped first.
# Usage: scripts/demo-run.sh SEQD_BINARY SEQCTL_BINARY
set -euo pipefail
seqd=$1
seqctl=$2
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
# sed reads to the end (head would close the pipe early: sort gets SIGPIPE, exit 141).
first=$(find ./var/outbox -path '*/new/*' -type f | sort | sed -n 1p)
printf '\n\033[1mOne of them (%s)\033[0m\n' "$first"
cat "$first"

kill -TERM "$seqd_pid"
wait "$seqd_pid"
trap - EXIT
printf '\nseqd stopped cleanly; its log is in ./var/seqd.log\n'
