#!/usr/bin/env bash
# CI check of the Debian package, as root on a Debian 12 machine: install it with apt, run the CLI, run a
# foreground devnet node on the packaged runtime until it produces a block, stop it, purge the package.
# Usage: test/install/deb-smoke.sh econumi_<version>_amd64.deb   (ECONUMI_DEB_SMOKE_IMAGES=1: also build
# the node image from the installed package's build inputs, with no checkout)
set -euo pipefail
DEB="$(readlink -f "${1:?usage: deb-smoke.sh <econumi_*.deb>}")"
step () { printf '[deb-smoke] %s\n' "$*"; }
die () { printf 'deb-smoke: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it installs a package)"
WORK="$(mktemp -d /tmp/econumi-deb-smoke.XXXXXX)"
NODE_PID=""
cleanup () {
  if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then kill -9 "$NODE_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step "apt-get install -y $DEB"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$DEB" >/dev/null
[ -x /usr/bin/econumi ] && [ -x /usr/lib/econumi/node/bin/node ] || die "the package did not install /usr/bin/econumi and its runtime"
for f in Dockerfile.node Dockerfile.agent Dockerfile.plugin config.json scripts/build-node-image.sh scripts/build-agent.sh scripts/build-plugin.sh scripts/build-images.sh dist/cli/entry.js; do
  [ -e "/usr/lib/econumi/app/$f" ] || die "the package lacks /usr/lib/econumi/app/$f"
done
export HOME="$WORK/home" ECONUMI_HOME="$WORK/home/.econumi"
v="$(econumi --version)"
want="$(dpkg-query -W -f '${Version}' econumi)"
[ "$v" = "$want" ] || die "econumi --version says '$v', the package is $want"
step "econumi --version: $v (runtime $(/usr/lib/econumi/node/bin/node --version))"
r="$(econumi getblockreward 0)"
case "$r" in *ECO) step "econumi getblockreward 0: $r" ;; *) die "getblockreward 0 printed '$r'" ;; esac

step "foreground devnet node (offline, 1 s epochs, declared CU) until a block"
econumi --data-dir "$WORK/node" start --foreground --json --offline --epoch 1000 --dev-compute-units 100 > "$WORK/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 1 120); do
  grep -q '"event":"block"' "$WORK/node.log" && break
  kill -0 "$NODE_PID" 2>/dev/null || { cat "$WORK/node.log" >&2; die "the node exited before a block"; }
  sleep 0.5
done
grep -q '"event":"block"' "$WORK/node.log" || { cat "$WORK/node.log" >&2; die "no block within 60 s"; }
exe="$(readlink -f "/proc/$NODE_PID/exe" 2>/dev/null || true)"
# the wrapper execs the packaged node, so the process is that runtime, not a system nodejs
[ "$exe" = /usr/lib/econumi/node/bin/node ] || die "the node runs on $exe, not the packaged runtime"
step "block produced: $(grep -m1 '"event":"block"' "$WORK/node.log")"
r="$(econumi --data-dir "$WORK/node" getblockreward)"
case "$r" in *ECO) step "econumi getblockreward (asks the node): $r" ;; *) die "getblockreward printed '$r'" ;; esac
econumi --data-dir "$WORK/node" stop >/dev/null
for _ in $(seq 1 100); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$NODE_PID" 2>/dev/null; then die "the node still runs 20 s after econumi stop"; fi
wait "$NODE_PID" || die "the node exited with status $?"
NODE_PID=""
step "node stopped"

if [ "${ECONUMI_DEB_SMOKE_IMAGES:-0}" = 1 ]; then
  step "node image from the installed build inputs (no checkout): econumi build-image node"
  econumi build-image node --force || die "econumi build-image node failed"
fi

step "apt-get purge -y econumi"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq econumi >/dev/null
[ ! -e /usr/bin/econumi ] && [ ! -e /usr/lib/econumi ] || die "purge left /usr/bin/econumi or /usr/lib/econumi behind"
step "ok"
