#!/usr/bin/env bash
# Install what the benchmarks need beyond the venv: wrk (Debian) as the load generator, FreeRADIUS and radclient
# (Debian) for the RADIUS benchmark, the Stoplight Prism mock (npm) as a reference server, and py-spy (PyPI, venv
# only) for profiles; iperf3, nftables, iproute2 and curl (Debian) for the data plane benchmark, hping3 and conntrack
# (Debian) for the firewall benchmark's new flows.
# Idempotent: each tool is installed only when missing. Called by bench/api.py; safe to run by hand.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$HERE/.work"
VENV_BIN="${VENV_BIN:-$HERE/../.venv/bin}"
mkdir -p "$WORK"

if ! command -v wrk >/dev/null 2>&1; then
  echo "setup: installing wrk (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

if ! command -v radclient >/dev/null 2>&1 || ! command -v freeradius >/dev/null 2>&1; then
  echo "setup: installing FreeRADIUS and radclient (apt): the RADIUS benchmark's reference and load"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq freeradius freeradius-utils >/dev/null
fi

if ! command -v iperf3 >/dev/null 2>&1 || ! command -v nft >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1 \
  || ! command -v ip >/dev/null 2>&1; then
  echo "setup: installing iperf3, nftables, iproute2, curl (apt): the data plane benchmark"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iperf3 nftables iproute2 curl >/dev/null
fi

if ! command -v hping3 >/dev/null 2>&1 || ! command -v conntrack >/dev/null 2>&1; then
  echo "setup: installing hping3, conntrack (apt): new flows for the firewall benchmark"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq hping3 conntrack >/dev/null
fi

if [ ! -x "$WORK/node_modules/.bin/prism" ]; then
  echo "setup: installing @stoplight/prism-cli (npm) into bench/.work"
  npm install --silent --no-audit --no-fund --prefix "$WORK" @stoplight/prism-cli >/dev/null
fi

if [ ! -x "$VENV_BIN/py-spy" ]; then
  echo "setup: installing py-spy into the venv (bench only)"
  "$VENV_BIN/pip" install -q py-spy
fi

echo "setup: wrk $(command -v wrk), prism $WORK/node_modules/.bin/prism, py-spy $VENV_BIN/py-spy"
