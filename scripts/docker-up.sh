#!/usr/bin/env bash
# Bring up a local Docker engine (idempotent): install docker.io and busybox-static if missing,
# start dockerd in the background if it is not answering, and wait (bounded) until it does.
# Usage: scripts/docker-up.sh            (env: DOCKER_UP_TIMEOUT=60, DOCKERD_LOG=/var/log/dockerd.log)
set -euo pipefail

TIMEOUT="${DOCKER_UP_TIMEOUT:-60}"
LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
SOCK=/var/run/docker.sock
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

step () { printf '[docker-up] %s\n' "$*"; }

apt_updated=0
apt_install () {
  if [ "$apt_updated" = 0 ]; then
    step "apt-get update"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
    apt_updated=1
  fi
  step "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! command -v dockerd >/dev/null 2>&1; then
  apt_install docker.io
else
  step "dockerd present: $(command -v dockerd)"
fi
if ! dpkg -s busybox-static >/dev/null 2>&1; then apt_install busybox-static; fi
step "busybox-static present"

# The plugin reads the node token and persists its agent registry here (mounted into the plugin).
$SUDO mkdir -p /run/econumi
$SUDO chmod 0755 /run/econumi

engine_ok () { docker info >/dev/null 2>&1; }

if engine_ok; then
  step "dockerd already answering on $SOCK"
  exit 0
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  step "starting dockerd (log: $LOG)"
  # setsid: keep dockerd alive after this script (and its caller's process group) exits.
  $SUDO setsid dockerd >"$LOG" 2>&1 < /dev/null &
else
  step "dockerd process exists but is not answering yet; waiting"
fi

deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
  if [ -S "$SOCK" ] && engine_ok; then break; fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    step "dockerd did not answer within ${TIMEOUT}s; last log lines:" >&2
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
  sleep 0.5
done
step "dockerd up: server $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null)"
