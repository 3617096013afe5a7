#!/usr/bin/env bash
# Installs the Debian 12 packages seqd builds and tests with, only those still missing.
# Run as root (it calls apt-get). Safe to run again: does nothing when all are present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git clang-format ccache
  libboost1.81-dev libboost-program-options1.81-dev libboost-json1.81-dev
  liblmdb-dev lmdb-utils libyaml-cpp-dev libmimalloc-dev doctest-dev
  libhowardhinnant-date-dev tzdata libcurl4-openssl-dev libcsv-dev libfmt-dev
  libgmime-3.0-dev
  python3
  # test-only: real SMTP peers
  postfix python3-aiosmtpd
  # test-only: the fuzz targets (scripts/fuzz.sh): clang 14 and its libFuzzer and sanitizer
  # runtimes
  clang libclang-rt-14-dev
  # test-only: OpenSSL's libcrypto, the reference engine/sha256 is checked against
  libssl-dev
  # test-only: a real IMAP server (the test starts its own dovecot) and its TLS certificate
  dovecot-imapd openssl
  # test-only: the unit test (systemd-analyze, the system call filter, OS accounts, runuser)
  systemd libseccomp2 passwd util-linux
  # test-only: GNU time, which measures seqctl's own peak memory in the integration tests
  # (priority "standard": a minimal Debian, such as its container image, lacks it)
  time
  # test-only: the metrics test parses /metrics with the Prometheus client's parser and checks
  # it with promtool (from the prometheus package; its service is not used)
  python3-prometheus-client prometheus
  # test-only: the HTML report test renders `seqctl report --html` in headless Chromium
  chromium
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # postfix asks how it should be set up; the tests only use its smtp-sink, so: no config.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The IMAP test runs a dovecot of its own on free loopback ports; a system dovecot that the
  # package just set up to start (where services start at all) is stopped and disabled.
  if [[ " ${missing[*]} " == *" dovecot-imapd "* ]]; then
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
    elif [[ -x /etc/init.d/dovecot ]]; then
      /etc/init.d/dovecot stop >/dev/null 2>&1 || true
      update-rc.d dovecot disable >/dev/null 2>&1 || true
    fi
  fi
fi
