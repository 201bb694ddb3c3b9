#!/usr/bin/env bash
# Build the node image econumi/econumi-node:<package version> (also :latest) from Dockerfile.node.
# Usage: scripts/build-node-image.sh [--base IMAGE] [--force] [--no-compile]
#   --base IMAGE   base image (default econumi/node-base:<this node's version>, built by build-images.sh if missing)
#   --force        rebuild even when the tag exists and ECONUMI_NODE_REBUILD=0
#   --no-compile   use the existing dist/ (skip npm run build)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRIPT=build-node-image
# shellcheck source=scripts/script-lib.sh
. "$ROOT/scripts/script-lib.sh"
BASE=""
FORCE=0
NO_COMPILE=0
parse_args '2,6p' --base:BASE --force=FORCE --no-compile=NO_COMPILE -- "$@"
COMPILE=1
if [ "$NO_COMPILE" = 1 ]; then COMPILE=0; fi
# shellcheck source=scripts/image-lib.sh
. "$ROOT/scripts/image-lib.sh"

require_docker
version="$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")"
tag="econumi/econumi-node:$version"
if [ "$FORCE" = 0 ] && [ "${ECONUMI_NODE_REBUILD:-1}" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  step "$tag exists (ECONUMI_NODE_REBUILD=0): skipped"; exit 0
fi
if installed_package; then COMPILE=0; fi
if [ "$COMPILE" = 1 ]; then
  step "npm run build"
  (cd "$ROOT" && npm run build --silent) || die "npm run build failed [E_BUILD]"
fi
[ -f "$ROOT/dist/cli/entry.js" ] && [ -f "$ROOT/dist/node/main.js" ] || die "dist/ is incomplete; run npm run build [E_BUILD]"
ensure_base

ctx="$(mktemp -d /tmp/econumi-node-ctx.XXXXXX)"
trap 'rm -rf "$ctx"' EXIT
step "context: dist/, bin/, package.json"
mkdir -p "$ctx/dist"
for d in cli node protocol agent plugin; do cp -r "$ROOT/dist/$d" "$ctx/dist/$d"; done
# the VRF addon, where it was built (without it the node verifies through sodium-native: same results, slower)
if [ -d "$ROOT/dist/native" ]; then cp -r "$ROOT/dist/native" "$ctx/dist/native"; fi
find "$ctx/dist" -name '*.map' -delete
cp -r "$ROOT/bin" "$ctx/bin"
cp "$ROOT/package.json" "$ROOT/Dockerfile.node" "$ctx/"
# Production dependencies only (no registry: copied from the local node_modules, not reinstalled).
if installed_package; then
  # an installed package's node_modules holds its production dependencies only
  step "context: node_modules of the installed package"
  cp -a "$ROOT/node_modules" "$ctx/node_modules"
else
step "context: production node_modules (npm ls --omit=dev)"
(cd "$ROOT" && npm ls --omit=dev --parseable --all 2>/dev/null) | while read -r dir; do
  rel="${dir#"$ROOT"/}"
  case "$rel" in node_modules/*) ;; *) continue ;; esac
  mkdir -p "$ctx/$(dirname "$rel")"
  [ -e "$ctx/$rel" ] || cp -a "$dir" "$ctx/$rel"
done
fi
# Prebuilt native addons for other platforms are dead weight in a linux-x64 image.
find "$ctx/node_modules" -type d -path '*/prebuilds/*' -prune ! -name 'linux-x64*' -exec rm -rf {} + 2>/dev/null || true
step "context: $(du -sh "$ctx" | cut -f1)"
step "docker build -f Dockerfile.node --build-arg BASE=$BASE -t $tag"
DOCKER_BUILDKIT=0 docker build -q -f "$ctx/Dockerfile.node" --build-arg "BASE=$BASE" -t "$tag" "$ctx" >/dev/null 2>"$ctx/build.err" || { cat "$ctx/build.err" >&2; die "node image build failed [E_BUILD]"; }
docker tag "$tag" econumi/econumi-node:latest
step "smoke test: node --version inside the image"
docker run --rm --entrypoint /usr/local/bin/node "$tag" /app/bin/econumi.js --version >/dev/null || die "the image does not run econumi [E_BUILD]"
step "built $tag ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
