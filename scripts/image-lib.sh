# Shared by the image build scripts (sourced after they set ROOT, BASE, step and die).

# BASE defaults to econumi/node-base:<this node's version>; a missing node-base is built, anything else is an error.
ensure_base () {
  if [ -z "$BASE" ]; then BASE="econumi/node-base:$(node -p process.versions.node)"; fi
  if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    case "$BASE" in
      econumi/node-base:*) step "base $BASE missing: scripts/build-images.sh --only node-base"; "$ROOT/scripts/build-images.sh" --only node-base ;;
      *) die "base image $BASE not present and no registry to pull from [E_NO_BASE]" ;;
    esac
  fi
}

# npm run build; if another part of the tree does not compile, compile only <part>/main.ts and what it imports.
# An installed package (npm -g, the .deb) has dist/ but no TypeScript sources: nothing to compile.
installed_package () { [ ! -f "$ROOT/tsconfig.json" ]; }

compile_part () {
  local part="$1"
  if installed_package; then
    [ -f "$ROOT/dist/$part/main.js" ] || die "dist/$part/main.js missing from the installed package [E_BUILD]"
    return
  fi
  step "npm run build"
  if ! (cd "$ROOT" && npm run build --silent); then
    step "npm run build failed elsewhere in the tree; compiling $part/ alone"
    (cd "$ROOT" && npx tsc --target ES2022 --module NodeNext --moduleResolution NodeNext --strict --skipLibCheck \
      --types node --sourceMap --rootDir . --outDir dist "$part/main.ts") || die "$part does not compile [E_BUILD]"
  fi
  [ -f "$ROOT/dist/$part/main.js" ] || die "dist/$part/main.js missing after the build [E_BUILD]"
}
