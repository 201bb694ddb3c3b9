#!/usr/bin/env bash
# Build the econumi Docker authorization plugin and (optionally) install / enable / remove it.
#
# Usage: scripts/build-plugin.sh [options]
#   (no option)        build only: npm run build, plugin image, plugin dir (config.json + rootfs/)
#   --create           build, then `docker plugin create NAME DIR` and enable it
#   --registry         build, push to the local registry 127.0.0.1:5000/NAME (Debian docker-registry,
#                      bound to 127.0.0.1 only, started if needed), then
#                      `docker plugin install --grant-all-permissions 127.0.0.1:5000/NAME --alias NAME`
#   --enable-authz     make dockerd use it: /etc/docker/daemon.json "authorization-plugins" + SIGHUP
#                      (alone: for an installed, enabled plugin)
#   --disable-authz    restore the engine: remove it from daemon.json + SIGHUP (no build)
#   --remove           --disable-authz, then disable and remove the plugin (no build)
#   --no-build         reuse the existing plugin dir (skip npm run build and the image build)
#   --set KEY=VALUE    `docker plugin set` before enabling (repeatable), e.g. state.source=/tmp/econumi-test
#   --name NAME        plugin name / alias (default econumi)
#   --dir DIR          plugin dir (default dist/docker-plugin)
#   --base IMAGE       base image for Dockerfile.plugin (default econumi/node-base:<this node's version>)
# Env: DAEMON_JSON (default /etc/docker/daemon.json), REGISTRY (default 127.0.0.1:5000).
#
# Why daemon.json: the --authorization-plugin CLI flag plus SIGHUP silently drops authz; an unknown
# plugin name in daemon.json kills dockerd; a configured but disabled plugin stops dockerd from starting.
# So: install + enable the plugin first, then add it to daemon.json; remove it from daemon.json before
# disabling / removing the plugin (the plugin itself refuses its own disable/rm/set/upgrade while active).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NAME=econumi
DIR="$ROOT/dist/docker-plugin"
BASE=""
MODE_CREATE=0; MODE_REGISTRY=0; ENABLE_AUTHZ=0; DISABLE_AUTHZ=0; REMOVE=0; BUILD=1
SETS=()
DAEMON_JSON="${DAEMON_JSON:-/etc/docker/daemon.json}"
REGISTRY="${REGISTRY:-127.0.0.1:5000}"

while [ $# -gt 0 ]; do
  case "$1" in
    --create) MODE_CREATE=1 ;;
    --registry) MODE_REGISTRY=1 ;;
    --enable-authz) ENABLE_AUTHZ=1 ;;
    --disable-authz) DISABLE_AUTHZ=1 ;;
    --remove) REMOVE=1 ;;
    --no-build) BUILD=0 ;;
    --set) SETS+=("${2:?--set needs KEY=VALUE}"); shift ;;
    --name) NAME="${2:?--name needs a value}"; shift ;;
    --dir) DIR="${2:?--dir needs a value}"; shift ;;
    --base) BASE="${2:?--base needs an image}"; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "build-plugin: unknown argument $1 (see --help) [E_USAGE]" >&2; exit 2 ;;
  esac
  shift
done
if [ "$MODE_CREATE" = 1 ] && [ "$MODE_REGISTRY" = 1 ]; then
  echo "build-plugin: --create and --registry are exclusive [E_USAGE]" >&2; exit 2
fi

step () { printf '[build-plugin] %s\n' "$*"; }
die () { printf 'build-plugin: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/image-lib.sh
. "$ROOT/scripts/image-lib.sh"

docker info >/dev/null 2>&1 || die "docker engine not answering; run scripts/docker-up.sh [E_NO_DOCKER]"
mkdir -p /run/econumi /run/lock
# One build-plugin.sh at a time per engine: two of them interleaving "add to daemon.json + SIGHUP" with
# "remove the plugin" would leave dockerd configured with a missing plugin, which kills it.
exec 9>/run/lock/econumi-build-plugin.lock
if ! flock -n 9; then
  step "waiting for another build-plugin.sh (lock /run/lock/econumi-build-plugin.lock)"
  flock -w 600 9 || die "another build-plugin.sh held the lock for 10 minutes [E_LOCKED]"
fi

dockerd_pid () { pgrep -x dockerd | head -n1; }
plugin_exists () { docker plugin inspect "$NAME" >/dev/null 2>&1; }
plugin_enabled () { [ "$(docker plugin inspect --format '{{.Enabled}}' "$NAME" 2>/dev/null)" = true ]; }
# `docker info` does not show authz plugins added by a reload: probe instead. Stopping a nonexistent
# agent is harmless: the plugin refuses it (E_AGENT_PROTECTED) when active, dockerd says "No such container" when not.
authz_active () {
  local out
  out="$(docker stop -t 0 "econumi-agent-probe-$$" 2>&1 || true)"
  case "$out" in *E_AGENT_PROTECTED*) return 0 ;; *) return 1 ;; esac
}
authz_configured () { [ -f "$DAEMON_JSON" ] && node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.exit((c["authorization-plugins"]||[]).some(n=>n===process.argv[2]||n===process.argv[2]+":latest")?0:1)' "$DAEMON_JSON" "$NAME"; }

# Rewrites daemon.json atomically, keeping every other key. $1 = add|remove
edit_daemon_json () {
  node -e '
    const fs = require("fs"), path = require("path")
    const [file, op, name] = process.argv.slice(1)
    let cfg = {}
    try { cfg = JSON.parse(fs.readFileSync(file, "utf8")) } catch (e) { if (e.code !== "ENOENT") throw e }
    const list = (cfg["authorization-plugins"] || []).filter((n) => n !== name && n !== name + ":latest")
    if (op === "add") list.push(name)
    if (list.length > 0) cfg["authorization-plugins"] = list; else delete cfg["authorization-plugins"]
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file + ".tmp", JSON.stringify(cfg, null, 2) + "\n")
    fs.renameSync(file + ".tmp", file)
  ' "$DAEMON_JSON" "$1" "$NAME"
}

# SIGHUP dockerd and wait (10 s) until `docker info` shows the wanted authz state ($1 = on|off).
reload_dockerd () {
  local want="$1" pid i
  pid="$(dockerd_pid)"
  [ -n "$pid" ] || die "no dockerd process to SIGHUP [E_NO_DOCKERD]"
  step "SIGHUP dockerd (pid $pid) to reload $DAEMON_JSON"
  kill -HUP "$pid"
  for i in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      step "dockerd died on reload: restoring daemon.json and restarting it" >&2
      edit_daemon_json remove
      "$ROOT/scripts/docker-up.sh" >&2 9>&- || true
      die "dockerd exited after SIGHUP (unknown or disabled plugin?); authz removed again [E_DOCKERD_RELOAD]"
    fi
    if [ "$want" = on ] && authz_active; then return 0; fi
    if [ "$want" = off ] && ! authz_active && docker info >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "dockerd did not apply authorization-plugins=$want within 10 s; see /var/log/dockerd.log [E_DOCKERD_RELOAD]"
}

disable_authz () {
  if authz_configured; then
    step "removing $NAME from $DAEMON_JSON authorization-plugins"
    edit_daemon_json remove
    reload_dockerd off
    step "authz off: dockerd no longer consults $NAME"
  elif authz_active; then
    reload_dockerd off
  else
    step "authz: $NAME not configured in $DAEMON_JSON (nothing to do)"
  fi
}

enable_authz () {
  plugin_exists || die "plugin $NAME is not installed; an unknown name in daemon.json kills dockerd [E_PLUGIN_MISSING]"
  plugin_enabled || die "plugin $NAME is disabled; dockerd would refuse to start with it configured [E_PLUGIN_DISABLED]"
  step "adding $NAME to $DAEMON_JSON authorization-plugins"
  edit_daemon_json add
  reload_dockerd on
  step "authz on: $NAME answers (a probe stop of a nonexistent agent is refused: E_AGENT_PROTECTED)"
}

remove_plugin () {
  local ref
  for ref in "$NAME" "$REGISTRY/$NAME"; do
    if docker plugin inspect "$ref" >/dev/null 2>&1; then
      step "removing plugin $ref"
      docker plugin disable -f "$ref" >/dev/null 2>&1 || true
      docker plugin rm -f "$ref" >/dev/null
    fi
  done
}

ensure_registry () {
  if curl -fsS -m 2 "http://$REGISTRY/v2/" >/dev/null 2>&1; then
    step "registry: $REGISTRY answers"
    return
  fi
  if ! command -v docker-registry >/dev/null 2>&1; then
    step "registry: apt-get install -y docker-registry"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
  fi
  local dir=/var/lib/econumi-registry
  mkdir -p "$dir"
  cat > "$dir/config.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
YML
  step "registry: starting docker-registry on $REGISTRY only (log /var/log/econumi-registry.log)"
  setsid docker-registry serve "$dir/config.yml" >/var/log/econumi-registry.log 2>&1 < /dev/null 9>&- &
  local i
  for i in $(seq 1 100); do
    if curl -fsS -m 1 "http://$REGISTRY/v2/" >/dev/null 2>&1; then step "registry: up"; return; fi
    sleep 0.2
  done
  die "registry did not answer on $REGISTRY within 20 s [E_REGISTRY]"
}

build () {
  local version tag ctx cid
  version="$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")"
  tag="econumi/plugin:$version"
  compile_part plugin
  ensure_base
  # A minimal build context (the repo root would send node_modules to the daemon).
  ctx="$(mktemp -d /tmp/econumi-plugin-ctx.XXXXXX)"
  mkdir -p "$ctx/dist" "$ctx/plugin"
  cp -r "$ROOT/dist/plugin" "$ctx/dist/plugin"
  cp "$ROOT/plugin/package.json" "$ctx/plugin/package.json"
  cp "$ROOT/Dockerfile.plugin" "$ctx/Dockerfile.plugin"
  step "docker build -f Dockerfile.plugin --build-arg BASE=$BASE -t $tag"
  DOCKER_BUILDKIT=0 docker build -q -f "$ctx/Dockerfile.plugin" --build-arg "BASE=$BASE" -t "$tag" "$ctx" >/dev/null 2>"$ctx/build.err" || { cat "$ctx/build.err" >&2; rm -rf "$ctx"; die "plugin image build failed [E_BUILD]"; }
  rm -rf "$ctx"
  step "exporting the image filesystem to $DIR/rootfs"
  rm -rf "$DIR"
  mkdir -p "$DIR/rootfs"
  cid="$(docker create "$tag" true)"
  docker export "$cid" | tar -x -C "$DIR/rootfs"
  docker rm "$cid" >/dev/null
  cp "$ROOT/config.json" "$DIR/config.json"
  step "plugin dir ready: $DIR ($(du -sh "$DIR/rootfs" | cut -f1))"
}

# A fresh build id: docker refuses a rootfs identical to one it already has.
stamp_build_id () {
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$$-$RANDOM$RANDOM" > "$DIR/rootfs/app/BUILD_ID"
}

configure_and_enable () {
  local kv
  if [ "$NAME" != econumi ]; then SETS+=("ECONUMI_PLUGIN_NAME=$NAME"); fi
  for kv in "${SETS[@]+"${SETS[@]}"}"; do
    step "docker plugin set $NAME $kv"
    docker plugin set "$NAME" "$kv"
  done
  step "docker plugin enable $NAME"
  docker plugin enable "$NAME" >/dev/null
}

# ---- main ----------------------------------------------------------------------------------------
if [ "$DISABLE_AUTHZ" = 1 ] || [ "$REMOVE" = 1 ]; then
  disable_authz
  if [ "$REMOVE" = 1 ]; then remove_plugin; fi
  step "done"
  exit 0
fi

if [ "$BUILD" = 1 ] && { [ "$MODE_CREATE" = 1 ] || [ "$MODE_REGISTRY" = 1 ] || [ "$ENABLE_AUTHZ" = 0 ]; }; then
  build
fi

if [ "$MODE_CREATE" = 1 ] || [ "$MODE_REGISTRY" = 1 ]; then
  [ -f "$DIR/config.json" ] && [ -d "$DIR/rootfs" ] || die "no plugin dir at $DIR (run without --no-build) [E_NO_PLUGIN_DIR]"
  disable_authz
  remove_plugin
  stamp_build_id
  if [ "$MODE_CREATE" = 1 ]; then
    step "docker plugin create $NAME $DIR"
    docker plugin create "$NAME" "$DIR" >/dev/null
  else
    ensure_registry
    step "docker plugin create $REGISTRY/$NAME $DIR"
    docker plugin create "$REGISTRY/$NAME" "$DIR" >/dev/null
    step "docker plugin push $REGISTRY/$NAME"
    docker plugin push "$REGISTRY/$NAME" >/dev/null
    docker plugin rm -f "$REGISTRY/$NAME" >/dev/null
    step "docker plugin install --grant-all-permissions --disable $REGISTRY/$NAME --alias $NAME"
    docker plugin install --grant-all-permissions --disable "$REGISTRY/$NAME" --alias "$NAME" >/dev/null
  fi
  configure_and_enable
  step "plugin $NAME installed and enabled ($(docker plugin inspect --format '{{.Id}}' "$NAME" | cut -c1-12))"
fi

if [ "$ENABLE_AUTHZ" = 1 ]; then
  enable_authz
fi
step "done"
