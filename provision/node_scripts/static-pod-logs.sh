#!/bin/bash
# static-pod-logs.sh PODS_DIR COMPONENT NODE MAX_BYTES NO_POD: what the control
# plane's static pod COMPONENT (etcd, kube-apiserver, ...) on NODE wrote, read from
# the kubelet's log files under PODS_DIR (/var/log/pods), so that it is there when the
# API server itself does not answer: each of its container's log files (N.log, one
# per start of the container, the first first) with a header, the last MAX_BYTES
# bytes in all. NO_POD is printed instead when the node has no such pod (a worker).
set -u
[ $# -eq 5 ] || { echo "usage: static-pod-logs.sh PODS_DIR COMPONENT NODE MAX_BYTES NO_POD" >&2; exit 2; }
pods=$1 component=$2 node=$3 max=$4 no_pod=$5
# the newest pod directory (a static pod that kubeadm rewrote gets a new one)
dir=
for candidate in "$pods/kube-system_$component-${node}_"*/"$component"; do
  [ -d "$candidate" ] || continue
  if [ -z "$dir" ] || [ "$candidate" -nt "$dir" ]; then dir=$candidate; fi
done
if [ -z "$dir" ]; then
  echo "$no_pod"
  exit 0
fi
starts=()
for file in "$dir"/*.log; do
  [ -f "$file" ] && starts+=("$(basename -- "$file" .log)")
done
{
  echo "$dir: ${#starts[@]} log file(s), one per start of the container"
  for n in $(printf '%s\n' "${starts[@]}" | sort -n); do
    echo "=== $n.log (last written $(stat -c %y -- "$dir/$n.log"))"
    tail -n 400 -- "$dir/$n.log"
  done
} | tail -c "$max"
