#!/usr/bin/env bash
# Build econumi's local images with no registry reachable:
#   econumi/node-base:<node version> (+ :<major>)  the machine's own Node binary + the libraries ldd lists
#   econumi/busybox:test                           busybox-static rootfs (applet links, /tmp) for test workloads
# Both via `docker import` of a rootfs tarball. An image that already exists is skipped unless --force.
# Usage: scripts/build-images.sh [--force] [--only node-base|busybox]
# (Real users build FROM a public image instead: docker build --build-arg BASE=node:20-bookworm-slim ...)
set -euo pipefail

SCRIPT=build-images
# shellcheck source=scripts/script-lib.sh
. "$(dirname "$0")/script-lib.sh"
FORCE=0
ONLY=""
parse_args '2,8p' --force=FORCE --only:ONLY -- "$@"

exists () { docker image inspect "$1" >/dev/null 2>&1; }

require_docker

WORK="$(mktemp -d /tmp/econumi-images.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# --- econumi/node-base ------------------------------------------------------------------------------
build_node_base () {
  local node version major tag root lib
  node="$(readlink -f "$(command -v node)")"
  version="$("$node" -p process.versions.node)"
  major="${version%%.*}"
  tag="econumi/node-base:$version"
  if exists "$tag" && [ "$FORCE" = 0 ]; then
    step "node-base: $tag exists, skipped (use --force to rebuild)"
    docker tag "$tag" "econumi/node-base:$major"
    return
  fi
  step "node-base: rootfs from $node (v$version)"
  root="$WORK/node-root"
  mkdir -p "$root/usr/local/bin" "$root/tmp" "$root/etc" "$root/app"
  chmod 1777 "$root/tmp"
  cp -L "$node" "$root/usr/local/bin/node"
  # every library ldd lists, at the same path (symlinks resolved), plus the loader
  for lib in $(ldd "$node" | awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(/{print $1}'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  # rocksdb-native and friends also need libatomic.so.1
  lib="$(ldconfig -p 2>/dev/null | awk '/libatomic\.so\.1 .*x86-64|libatomic\.so\.1 \(libc6,x86-64\)/{print $NF; exit}')"
  if [ -z "$lib" ]; then lib="$(ls /usr/lib/x86_64-linux-gnu/libatomic.so.1 /lib/x86_64-linux-gnu/libatomic.so.1 2>/dev/null | head -n1 || true)"; fi
  if [ -n "$lib" ] && [ -e "$lib" ]; then
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
    step "node-base: added $lib"
  else
    step "node-base: no libatomic.so.1 on this machine (skipped)"
  fi
  printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
  step "node-base: smoke test the rootfs (chroot node -v)"
  env -i "$(command -v chroot)" "$root" /usr/local/bin/node -e 'process.stdout.write("node " + process.version + " ok in rootfs\n")' || {
    echo "build-images: node does not run in its rootfs (missing library?) [E_NODE_BASE]" >&2; exit 1; }
  step "node-base: docker import -> $tag ($(du -sh "$root" | cut -f1))"
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'WORKDIR /app' \
    --change 'CMD ["/usr/local/bin/node"]' \
    --message "econumi node-base from the host's node v$version" - "$tag" >/dev/null
  docker tag "$tag" "econumi/node-base:$major"
  step "node-base: built $tag and econumi/node-base:$major"
}

# --- econumi/busybox:test --------------------------------------------------------------------------
build_busybox () {
  local tag=econumi/busybox:test bb root applet
  if exists "$tag" && [ "$FORCE" = 0 ]; then
    step "busybox: $tag exists, skipped (use --force to rebuild)"
    return
  fi
  bb=/bin/busybox
  if [ ! -x "$bb" ]; then
    echo "build-images: no $bb; apt-get install -y busybox-static (scripts/docker-up.sh does) [E_NO_BUSYBOX_STATIC]" >&2; exit 1
  fi
  step "busybox: rootfs from $bb"
  root="$WORK/busybox-root"
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root"
  chmod 1777 "$root/tmp"
  cp "$bb" "$root/bin/busybox"
  for applet in $("$bb" --list-full); do
    [ "$applet" = "bin/busybox" ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
  step "busybox: smoke test the rootfs (chroot sh -c true: busybox must be static)"
  env -i "$(command -v chroot)" "$root" /bin/sh -c true || {
    echo "build-images: $bb does not run alone in a rootfs; apt-get install -y busybox-static (scripts/docker-up.sh does) [E_NO_BUSYBOX_STATIC]" >&2; exit 1; }
  step "busybox: docker import -> $tag ($("$bb" --list | wc -l) applets)"
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]' \
    --message 'econumi busybox-static test workload' - "$tag" >/dev/null
  step "busybox: built $tag"
}

if [ -z "$ONLY" ] || [ "$ONLY" = node-base ]; then build_node_base; fi
if [ -z "$ONLY" ] || [ "$ONLY" = busybox ]; then build_busybox; fi
step "done"
