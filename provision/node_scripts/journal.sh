#!/bin/bash
# journal.sh UNIT SINCE MAX_BYTES NO_UNIT: the journal of UNIT (a systemd unit name
# without .service) since SINCE (seconds since the epoch), its last MAX_BYTES bytes;
# NO_UNIT is printed instead when the node has no such unit. An alias is read under
# the unit's own name (Debian's sshd.service is ssh.service: its journal is ssh's).
set -u
[ $# -eq 4 ] || { echo "usage: journal.sh UNIT SINCE MAX_BYTES NO_UNIT" >&2; exit 2; }
unit=$1 since=$2 max=$3 no_unit=$4
if [ "$(systemctl show -p LoadState --value -- "$unit.service")" = not-found ]; then
  echo "$no_unit"
  exit 0
fi
id=$(systemctl show -p Id --value -- "$unit.service")
journalctl -u "$id" --since "@$since" --no-pager -o short-iso 2>&1 | tail -c "$max"
