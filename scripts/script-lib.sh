# Shared by econumi's build scripts, sourced first (after SCRIPT=<name>): their messages, and their argument
# parsing from a table instead of a case statement written again in every script.

step () { printf '[%s] %s\n' "$SCRIPT" "$*"; }
die () { printf '%s: %s\n' "$SCRIPT" "$*" >&2; exit 1; }

# parse_args HELP SPEC... -- "$@"
#   HELP: the sed range of the script's usage lines (printed by -h/--help, exit 0)
#   SPEC: --flag=VAR sets VAR=1 when the flag is given; --opt:VAR sets VAR to the argument after it
# An unknown argument exits 2 (E_USAGE), as a missing value does.
parse_args () {
  local help="$1" arg s matched
  shift
  local specs=()
  while [ "$1" != -- ]; do specs+=("$1"); shift; done
  shift
  while [ $# -gt 0 ]; do
    arg="$1"
    if [ "$arg" = -h ] || [ "$arg" = --help ]; then sed -n "$help" "$0"; exit 0; fi
    matched=0
    for s in "${specs[@]}"; do
      case "$s" in
        "$arg="*) printf -v "${s#*=}" 1; matched=1 ;;
        "$arg:"*)
          if [ $# -lt 2 ] || [ -z "$2" ]; then echo "$SCRIPT: $arg needs a value [E_USAGE]" >&2; exit 2; fi
          printf -v "${s#*:}" '%s' "$2"; shift; matched=1 ;;
      esac
      if [ "$matched" = 1 ]; then break; fi
    done
    if [ "$matched" = 0 ]; then echo "$SCRIPT: unknown argument $arg [E_USAGE]" >&2; exit 2; fi
    shift
  done
}

require_docker () {
  docker info >/dev/null 2>&1 || die "docker engine not answering; run scripts/docker-up.sh [E_NO_DOCKER]"
}
