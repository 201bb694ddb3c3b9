#!/usr/bin/env bash
# CI check of the Debian package, as root on a Debian 12 machine: install it with apt, run the CLI, run a
# foreground devnet node on the packaged runtime until it produces a block, stop it, purge the package.
# Usage: test/install/deb-smoke.sh econumi_<version>_amd64.deb   (ECONUMI_DEB_SMOKE_IMAGES=1: also build
# the node and agent images from the installed package's build inputs, with no checkout)
set -euo pipefail
DEB="$(readlink -f "${1:?usage: deb-smoke.sh <econumi_*.deb>}")"
SMOKE=deb-smoke
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root (it installs a package)"
make_work

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
start_node econumi
exe="$(readlink -f "/proc/$NODE_PID/exe" 2>/dev/null || true)"
# the wrapper execs the packaged node, so the process is that runtime, not a system nodejs
[ "$exe" = /usr/lib/econumi/node/bin/node ] || die "the node runs on $exe, not the packaged runtime"
step "block produced: $(grep -m1 '"event":"block"' "$WORK/node.log")"
r="$(econumi --data-dir "$WORK/node" getblockreward)"
case "$r" in *ECO) step "econumi getblockreward (asks the node): $r" ;; *) die "getblockreward printed '$r'" ;; esac
stop_node econumi
wait "$NODE_PID" || die "the node exited with status $?"
NODE_PID=""
step "node stopped"

if [ "${ECONUMI_DEB_SMOKE_IMAGES:-0}" = 1 ]; then
  step "node image from the installed build inputs (no checkout): econumi build-image node"
  econumi build-image node --force || die "econumi build-image node failed"
  step "agent image from the installed build inputs: econumi build-image agent"
  econumi build-image agent || die "econumi build-image agent failed"
fi

step "apt-get purge -y econumi"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq econumi >/dev/null
[ ! -e /usr/bin/econumi ] && [ ! -e /usr/lib/econumi ] || die "purge left /usr/bin/econumi or /usr/lib/econumi behind"
step "ok"
