#!/usr/bin/env bash
# Build the econumi agent image econumi/agent:<package version> (also tagged :latest) from Dockerfile.agent.
# Usage: scripts/build-agent.sh [--base IMAGE] [--force]
#   --base IMAGE  base image (default econumi/node-base:<this node's version>, built by build-images.sh if missing)
#   --force       rebuild even if the tag exists
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRIPT=build-agent
# shellcheck source=scripts/script-lib.sh
. "$ROOT/scripts/script-lib.sh"
BASE=""
FORCE=0
parse_args '2,5p' --base:BASE --force=FORCE -- "$@"
# shellcheck source=scripts/image-lib.sh
. "$ROOT/scripts/image-lib.sh"

require_docker
version="$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")"
tag="econumi/agent:$version"
if [ "$FORCE" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1 && [ "${ECONUMI_AGENT_REBUILD:-1}" = 0 ]; then
  step "$tag exists (ECONUMI_AGENT_REBUILD=0): skipped"; exit 0
fi
compile_part agent
ensure_base
ctx="$(mktemp -d /tmp/econumi-agent-ctx.XXXXXX)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/dist" "$ctx/agent"
cp -r "$ROOT/dist/agent" "$ctx/dist/agent"
cp -r "$ROOT/dist/protocol" "$ctx/dist/protocol"
find "$ctx/dist" -name '*.map' -delete
cp "$ROOT/agent/package.json" "$ctx/agent/package.json"
cp "$ROOT/Dockerfile.agent" "$ctx/Dockerfile.agent"
step "docker build -f Dockerfile.agent --build-arg BASE=$BASE -t $tag"
DOCKER_BUILDKIT=0 docker build -q -f "$ctx/Dockerfile.agent" --build-arg "BASE=$BASE" -t "$tag" "$ctx" >/dev/null 2>"$ctx/build.err" || { cat "$ctx/build.err" >&2; die "agent image build failed [E_BUILD]"; }
docker tag "$tag" econumi/agent:latest
step "built $tag ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
