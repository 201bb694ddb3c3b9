# Sourced by the package smoke tests (deb-smoke.sh, npm-smoke.sh), which set SMOKE to their name first.
# shellcheck shell=bash
step () { printf '[%s] %s\n' "$SMOKE" "$*"; }
die () { printf '%s: %s\n' "$SMOKE" "$*" >&2; exit 1; }

# $WORK: a fresh directory, removed on exit, when the node ($NODE_PID, if it still runs) is killed too.
make_work () {
  WORK="$(mktemp -d "/tmp/econumi-$SMOKE.XXXXXX")"
  NODE_PID=""
  trap cleanup EXIT
}
cleanup () {
  if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then kill -9 "$NODE_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}

# start_node <econumi>: a foreground devnet node (offline, 1 s epochs, declared CU) in $WORK/node, its log in
# $WORK/node.log, its pid in $NODE_PID; returns once it has produced a block (60 s at most).
start_node () {
  "$1" --data-dir "$WORK/node" start --foreground --json --offline --epoch 1000 --dev-compute-units 100 > "$WORK/node.log" 2>&1 &
  NODE_PID=$!
  for _ in $(seq 1 120); do
    grep -q '"event":"block"' "$WORK/node.log" && break
    kill -0 "$NODE_PID" 2>/dev/null || { cat "$WORK/node.log" >&2; die "the node exited before a block"; }
    sleep 0.5
  done
  grep -q '"event":"block"' "$WORK/node.log" || { cat "$WORK/node.log" >&2; die "no block within 60 s"; }
}

# stop_node <econumi>: `econumi stop`, and the node's process is gone within 20 s (the caller waits for its status).
stop_node () {
  "$1" --data-dir "$WORK/node" stop >/dev/null
  for _ in $(seq 1 100); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$NODE_PID" 2>/dev/null; then die "the node still runs 20 s after econumi stop"; fi
}
