#!/bin/bash
# failed-units.sh MAX_BYTES: the node's failed systemd units, each with its status
# and last log lines (what makes `systemctl is-system-running` say "degraded"); the
# last MAX_BYTES bytes. Prints "no failed units" when there is none.
set -u
[ $# -eq 1 ] || { echo "usage: failed-units.sh MAX_BYTES" >&2; exit 2; }
max=$1
{
  echo "systemctl is-system-running: $(systemctl is-system-running 2>&1)"
  units=$(systemctl list-units --failed --plain --no-legend --no-pager | awk '{print $1}')
  if [ -z "$units" ]; then
    echo "no failed units"
  fi
  for unit in $units; do
    echo
    systemctl status --no-pager --full --lines=40 -- "$unit" 2>&1
  done
} | tail -c "$max"
