#!/usr/bin/env bash
# CI check of the npm package: `npm install -g` of the `npm pack` tarball into a fresh prefix gives a working
# `econumi` (version, a command, a foreground devnet node that produces a block), and the tarball carries
# dist/ and the image build inputs but no TypeScript sources or tests. Needs the npm registry (dependencies).
# Usage: test/install/npm-smoke.sh econumi-<version>.tgz
set -euo pipefail
TGZ="$(readlink -f "${1:?usage: npm-smoke.sh <econumi-*.tgz>}")"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SMOKE=npm-smoke
. "$ROOT/test/install/lib.sh"
make_work

tar -tzf "$TGZ" > "$WORK/files"
for f in package/bin/econumi.js package/dist/cli/entry.js package/dist/node/main.js package/dist/agent/main.js package/dist/plugin/main.js package/dist/native/econumi_vrf.node \
  package/Dockerfile.node package/Dockerfile.agent package/Dockerfile.plugin package/config.json package/agent/package.json package/plugin/package.json \
  package/scripts/build-node-image.sh package/scripts/build-agent.sh package/scripts/build-plugin.sh package/scripts/build-images.sh package/scripts/image-lib.sh; do
  grep -qx "$f" "$WORK/files" || die "the tarball lacks ${f#package/}"
done
if grep -E '\.ts$|^package/test/|^package/bench/|\.map$' "$WORK/files" | grep -v '\.d\.ts$' | head -n3 | grep -q .; then die "the tarball carries sources, tests or source maps: $(grep -E '\.ts$|^package/test/|\.map$' "$WORK/files" | head -n3 | tr '\n' ' ')"; fi
step "tarball: $(wc -l < "$WORK/files") files, $(du -h "$TGZ" | cut -f1)"

step "npm install -g --prefix <tmp> $(basename "$TGZ")"
npm install -g --prefix "$WORK/prefix" --no-audit --no-fund --loglevel=error "$TGZ" >/dev/null
BIN="$WORK/prefix/bin/econumi"
[ -x "$BIN" ] || die "no econumi on the prefix's PATH"
run () { env -i PATH="$WORK/prefix/bin:$PATH" HOME="$WORK/home" ECONUMI_HOME="$WORK/home/.econumi" "$BIN" "$@"; }
v="$(run --version)"
want="$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")"
[ "$v" = "$want" ] || die "econumi --version says '$v', wanted $want"
step "econumi --version: $v"
r="$(run getblockreward 0)"
case "$r" in *ECO) step "econumi getblockreward 0: $r" ;; *) die "getblockreward printed '$r'" ;; esac
start_node run
step "block produced by the installed package"
grep -q '"vrf":"native addon"' "$WORK/node.log" || die "the installed node does not verify through the VRF addon: $(grep -o '"vrf":"[^"]*"' "$WORK/node.log")"
step "the installed node verifies through the VRF addon"
stop_node run
status=0
wait "$NODE_PID" || status=$?
NODE_PID=""
[ "$status" = 0 ] || { cat "$WORK/node.log" >&2; die "the node exited with status $status after econumi stop"; }
step "node stopped (exit status 0)"
step "ok"
