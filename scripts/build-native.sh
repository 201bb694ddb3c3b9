#!/usr/bin/env bash
# Build dist/native/econumi_vrf.node, the VRF verification addon (native/vrf.c over libsodium's vendored ref10
# code), with the system C compiler against Node's own headers; `npm run build` runs this after tsc.
# Usage: scripts/build-native.sh [--force]
#   --force   rebuild even when the addon is newer than its sources
# Without a C compiler or Node's headers, econumi verifies through sodium-native instead (same results, about
# 3x the CPU per block: see protocol/vrf.ts); this then warns and exits 0, except under CI=true or
# ECONUMI_REQUIRE_NATIVE=1, where CI must build and test the addon (E_NATIVE_BUILD).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRIPT=build-native
# shellcheck source=scripts/script-lib.sh
. "$ROOT/scripts/script-lib.sh"
FORCE=0
parse_args '2,8p' --force=FORCE -- "$@"

out="$ROOT/dist/native/econumi_vrf.node"
src="$ROOT/native"
required () { [ "${CI:-}" = true ] || [ "${ECONUMI_REQUIRE_NATIVE:-0}" = 1 ]; }
skip () {
  if required; then die "$1 [E_NATIVE_BUILD]"; fi
  printf '%s: %s; VRF verification falls back to sodium-native (slower)\n' "$SCRIPT" "$1" >&2
  exit 0
}

if [ "$FORCE" = 0 ] && [ -f "$out" ] && [ -z "$(find "$src" -newer "$out" -type f -print -quit)" ]; then exit 0; fi
cc="${CC:-cc}"
command -v "$cc" >/dev/null 2>&1 || skip "no C compiler ($cc)"
inc="$(node -p "require('node:path').join(process.execPath, '..', '..', 'include', 'node')")"
[ -f "$inc/node_api.h" ] || skip "no Node headers at $inc"

# 5x51-bit limbs where the compiler has 128-bit integers (x86-64, arm64), as libsodium's own build chooses
defs=(-DNODE_GYP_MODULE_NAME=econumi_vrf)
macros="$("$cc" -dM -E - </dev/null)"
if grep -q '__SIZEOF_INT128__' <<<"$macros"; then defs+=(-DHAVE_TI_MODE); fi
if grep -q '__BYTE_ORDER__ __ORDER_LITTLE_ENDIAN__' <<<"$macros"; then defs+=(-DNATIVE_LITTLE_ENDIAN); fi

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$cc" -O2 -fPIC -shared -fvisibility=hidden -fno-strict-aliasing "${defs[@]}" \
  -I "$src/libsodium" -I "$src/libsodium/include/sodium" -I "$inc" \
  "$src/vrf.c" -o "$tmp" || skip "the compiler failed"
mv "$tmp" "$out"
step "built dist/native/econumi_vrf.node"
