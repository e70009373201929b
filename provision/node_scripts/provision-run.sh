#!/bin/bash
# provision-run.sh: one command, given as argv, run on a node for provision (its
# Python side over SSH, and the roles' tasks that talk to the API server): the one
# place where a node command is tried again, fed its input and carried as bytes.
#
#   provision-run.sh [--tries N] [--delay S] [--stdin] [--input FILE]... [--text TEXT]
#                    [--base64] -- COMMAND [ARG]...
#
#   --tries N   try COMMAND up to N times (1) while it fails with one of the API
#               server's transient errors below; any other failure, or the last try,
#               ends with COMMAND's exit code
#   --delay S   seconds between tries (10)
#   --stdin     COMMAND reads this script's stdin (kept, so that every try gets it all)
#   --input F   COMMAND reads file F on its stdin (several: one after another)
#   --text T    COMMAND reads T and a newline on its stdin (after any --input; never
#               a secret: it is on the command line)
#   --base64    COMMAND's stdout is printed as base64 (bytes over a text channel)
#
# Only the last try's stdout and stderr are printed; each earlier failure is told on
# stderr. Without --stdin or --input, COMMAND's stdin is /dev/null.
set -u -o pipefail

# What kubectl and kubeadm say while the API server restarts or is too busy to
# answer. Measured: a TLS handshake timeout 30 s after kube-system restarted with two
# labs on 2 cores; on an emulated VM's control plane, while the add-ons phase applied
# its first manifest, and a `kubectl exec` stream reset by its API server's restart
# in the join phase's probe; etcd too slow to answer the API server while an emulated
# VM's join phase started the probe pods; the API server's own 60 s deadline
# ("request did not complete within requested timeout") on an emulated VM's control
# plane when the join phase's probe deleted its namespace; kubectl's own words for
# a refused connection ("The connection to the server H:6443 was refused") when an
# emulated VM's API server restarted as the add-ons phase applied its first manifest.
TRANSIENT=(
  "TLS handshake timeout"
  "Unable to connect to the server"
  "connection refused"
  "The connection to the server"
  "error dialing backend"
  "the server is currently unable to handle the request"
  "i/o timeout"
  "connection reset by peer"
  "etcdserver: request timed out"
  "request did not complete within requested timeout"
)

usage() {
  echo "provision-run.sh: $1" >&2
  exit 2
}

tries=1 delay=10 stdin=0 base64=0
inputs=() texts=()
while [ $# -gt 0 ]; do
  case $1 in
    --tries) [ $# -ge 2 ] || usage "--tries takes a number"; tries=$2; shift 2 ;;
    --delay) [ $# -ge 2 ] || usage "--delay takes a number"; delay=$2; shift 2 ;;
    --stdin) stdin=1; shift ;;
    --input) [ $# -ge 2 ] || usage "--input takes a file"; inputs+=("$2"); shift 2 ;;
    --text) [ $# -ge 2 ] || usage "--text takes a text"; texts+=("$2"); shift 2 ;;
    --base64) base64=1; shift ;;
    --) shift; break ;;
    *) usage "unknown option: $1" ;;
  esac
done
[ $# -gt 0 ] || usage "no command after --"
case $tries in '' | *[!0-9]* | 0) usage "--tries takes a number above 0, not '$tries'" ;; esac
case $delay in '' | *[!0-9]*) usage "--delay takes a number of seconds, not '$delay'" ;; esac

work=$(mktemp -d) || exit 1
trap 'rm -rf -- "$work"' EXIT
if [ "$stdin" = 1 ]; then
  cat >"$work/in" || exit 1
  inputs+=("$work/in")
fi
if [ ${#texts[@]} -gt 0 ]; then
  printf '%s\n' "${texts[@]}" >"$work/text"
  inputs+=("$work/text")
fi

transient() {
  local pattern
  for pattern in "${TRANSIENT[@]}"; do
    grep -qF -- "$pattern" "$work/err" && return 0
  done
  return 1
}

try=1
while :; do
  if [ ${#inputs[@]} -gt 0 ]; then
    cat -- "${inputs[@]}" | "$@" >"$work/out" 2>"$work/err"
  else
    "$@" </dev/null >"$work/out" 2>"$work/err"
  fi
  rc=$?
  if [ "$rc" -eq 0 ] || [ "$try" -ge "$tries" ] || ! transient; then
    break
  fi
  echo "provision-run: $1 failed (try $try of $tries), again in $delay s: $(tail -n 1 "$work/err")" >&2
  try=$((try + 1))
  sleep "$delay"
done
if [ "$base64" = 1 ]; then
  base64 -w0 "$work/out"
else
  cat "$work/out"
fi
cat "$work/err" >&2
exit "$rc"
