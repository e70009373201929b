#!/bin/bash
# provision restore, steps 1-5 of provision/backup/put.py's docstring, on the
# control plane: $1 node name, $2 its IP, $3 running|fresh|moved (moved: a running
# control plane at addresses other than the backup's, as an upgrade rehearsal's
# copy: the certificates that name an address and every kubeconfig are made again
# from the restored CA by kubeadm, for this node's address). Safe to run again.
set -euo pipefail
shopt -s nullglob
D=/var/lib/provision/restore
M=/etc/kubernetes/manifests
S=/etc/kubernetes/manifests.provision-stopped
NAME=$1 IP=$2 MODE=$3
exec >>"$D/restore.log" 2>&1
echo "== $(date -u +%FT%TZ) restore on $NAME ($MODE)"
listening() { ss -Hltn '( sport = :2379 or sport = :6443 )' | grep -q .; }

mkdir -p "$S" "$D/before" "$M"
for f in "$M"/*.yaml; do mv "$f" "$S/"; done
for _ in $(seq 90); do listening || break; sleep 2; done
if listening; then
  echo "etcd or the API server still listens 180 s after its manifest moved"; exit 1
fi
echo "static pods stopped"

if [ ! -e "$D/before/pki.tar.gz" ]; then
  tar -C /etc/kubernetes --ignore-failed-read -czf "$D/before/pki.tar.gz.part" \
    pki admin.conf super-admin.conf controller-manager.conf scheduler.conf kubelet.conf
  mv "$D/before/pki.tar.gz.part" "$D/before/pki.tar.gz"
fi

if [ ! -e "$D/etcd-swapped" ]; then
  rm -rf /var/lib/etcd.provision-restoring
  etcdutl snapshot restore "$D/snapshot.db" --data-dir /var/lib/etcd.provision-restoring \
    --name "$NAME" --initial-cluster "$NAME=https://$IP:2380" \
    --initial-advertise-peer-urls "https://$IP:2380"
  if [ -e "$D/before/etcd" ]; then rm -rf /var/lib/etcd
  elif [ -e /var/lib/etcd ]; then mv /var/lib/etcd "$D/before/etcd"; fi
  mv /var/lib/etcd.provision-restoring /var/lib/etcd
  chmod 0700 /var/lib/etcd
  touch "$D/etcd-swapped"
  echo "etcd's data dir is the snapshot's"
fi

if [ "$MODE" = running ]; then tar -C /etc/kubernetes -xzf "$D/pki.tar.gz"
else tar -C /etc/kubernetes -xzf "$D/pki.tar.gz" pki; fi
echo "PKI in place"

if [ "$MODE" = moved ]; then
  # every run extracts the backup's PKI again, so these are made again each time
  CFG=/etc/kubernetes/provision/kubeadm-config.yaml
  K=/etc/kubernetes
  rm -f "$K"/pki/apiserver.crt "$K"/pki/apiserver.key "$K"/pki/etcd/server.crt \
    "$K"/pki/etcd/server.key "$K"/pki/etcd/peer.crt "$K"/pki/etcd/peer.key \
    "$K"/admin.conf "$K"/super-admin.conf "$K"/controller-manager.conf \
    "$K"/scheduler.conf "$K"/kubelet.conf
  for cert in apiserver etcd-server etcd-peer; do
    kubeadm init phase certs "$cert" --config "$CFG"
  done
  kubeadm init phase kubeconfig all --config "$CFG"
  # the kubelet's rotated client certificate is the other CA's: it takes the one
  # kubelet.conf now carries when it restarts
  rm -f /var/lib/kubelet/pki/kubelet-client-*.pem
  echo "certificates and kubeconfigs made again for $IP from the restored CA"
fi

for f in "$S"/*.yaml; do mv "$f" "$M/"; done
rmdir "$S"
echo "== done"
