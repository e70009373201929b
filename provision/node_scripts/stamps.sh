#!/bin/bash
# stamps.sh: the stamps of the playbooks that converged on this node
# (provision/playbooks/converged.py). DIR is the stamps' directory; a stamp is the
# file DIR/PLAYBOOK holding "DIGEST UNIT,UNIT,".
#
#   stamps.sh read DIR UNIT...                  each stamp ("stamp PLAYBOOK DIGEST UNITS"),
#                                               then each unit's state ("unit UNIT STATE")
#   stamps.sh write DIR PLAYBOOK DIGEST UNIT... stamp PLAYBOOK with DIGEST and those of
#                                               the units that are running
#   stamps.sh remove DIR PLAYBOOK               remove PLAYBOOK's stamp
set -u

usage() {
  echo "usage: stamps.sh read DIR UNIT... | write DIR PLAYBOOK DIGEST UNIT... | remove DIR PLAYBOOK" >&2
  exit 2
}

[ $# -ge 2 ] || usage
action=$1 dir=$2
shift 2
case $action in
  read)
    for f in "$dir"/*.yml; do
      [ -f "$f" ] && printf 'stamp %s %s\n' "${f##*/}" "$(cat "$f")"
    done
    for u in "$@"; do
      printf 'unit %s %s\n' "$u" "$(systemctl is-active "$u" 2>/dev/null)"
    done
    exit 0
    ;;
  write)
    [ $# -ge 2 ] || usage
    playbook=$1 digest=$2
    shift 2
    case $playbook in */* | '' | . | ..) usage ;; esac
    units=
    for u in "$@"; do
      systemctl is-active --quiet "$u" 2>/dev/null && units="$units$u,"
    done
    install -d -m 0755 "$dir" &&
      printf '%s %s\n' "$digest" "$units" >"$dir/$playbook.part" &&
      mv "$dir/$playbook.part" "$dir/$playbook"
    ;;
  remove)
    [ $# -eq 1 ] || usage
    case $1 in */* | '' | . | ..) usage ;; esac
    rm -f -- "$dir/$1"
    ;;
  *) usage ;;
esac
